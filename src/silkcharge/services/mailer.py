"""Mail to drivers: through an SMTP server when one is configured, else into the server log.

The demo and development runs have no mail server, so without ``SILKCHARGE_SMTP_URL`` a
message is written to the log (logger ``silkcharge.mail``, level WARNING) where whoever runs
the server can read it. In production that would put live reset links in the log: set an
SMTP server.

Sending uses the standard library's `smtplib` in a worker thread: one short connection per
message, which is all that password resets need, and no extra dependency.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol
from urllib.parse import unquote, urlsplit

from silkcharge.settings import Settings

log = logging.getLogger("silkcharge.mail")

DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailNotSent(RuntimeError):
    """The SMTP server could not be reached or refused the message; the message says why."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str


class Mailer(Protocol):
    async def send(self, email: Email) -> None: ...


class LogMailer:
    """Writes each message to the server log: for the demo, which has no mail server. At
    WARNING, so that it shows at the demo's log level, and because no mail left."""

    async def send(self, email: Email) -> None:
        log.warning("no SMTP server is configured (SILKCHARGE_SMTP_URL), so this mail to %s is "
                 "written here instead:\nSubject: %s\n\n%s", email.to, email.subject, email.text)


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to deliver, read from an ``smtp://``, ``smtp+starttls://`` or
    ``smtps://`` URL; a user and password in the URL are used to log in."""

    scheme: str
    host: str
    port: int
    user: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"not an SMTP server URL: {parts.scheme}://{parts.hostname or ''}; "
                             f"use smtp://, smtp+starttls:// or smtps:// and a host")
        return cls(parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS[parts.scheme],
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


class SmtpMailer:
    def __init__(self, server: SmtpServer, sender: str, timeout: float = 20.0) -> None:
        self._server = server
        self._sender = sender
        self._timeout = timeout

    async def send(self, email: Email) -> None:
        """Deliver one message; raises `MailNotSent` saying why the server did not take it."""
        message = self._message(email)
        try:
            await asyncio.to_thread(self._deliver, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailNotSent(f"mail to {email.to} was not sent through "
                              f"{self._server.host}:{self._server.port}: {exc}") from exc

    def _message(self, email: Email) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(usegmt=True)
        domain = parseaddr(self._sender)[1].rpartition("@")[2] or None
        message["Message-ID"] = make_msgid(domain=domain)
        message.set_content(email.text)
        return message

    def _deliver(self, message: EmailMessage) -> None:
        server = self._server
        context = ssl.create_default_context()
        if server.scheme == "smtps":
            connection: smtplib.SMTP = smtplib.SMTP_SSL(
                server.host, server.port, timeout=self._timeout, context=context)
        else:
            connection = smtplib.SMTP(server.host, server.port, timeout=self._timeout)
        with connection:
            if server.scheme == "smtp+starttls":
                connection.starttls(context=context)
            if server.user:
                connection.login(server.user, server.password or "")
            connection.send_message(message)


def mailer_for(settings: Settings) -> Mailer:
    """The SMTP mailer the settings name, or the log when they name none."""
    if not settings.smtp_url:
        return LogMailer()
    return SmtpMailer(SmtpServer.from_url(settings.smtp_url), settings.mail_from)
