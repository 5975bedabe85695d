"""A real SMTP server for tests (aiosmtpd on a free local port) that keeps what it receives.

Mail is the one true external boundary of driver accounts, so tests deliver to a running SMTP
server over a socket instead of replacing the mailer. The server demands a login, so a test
also proves the credentials in ``SILKCHARGE_SMTP_URL`` are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.e2e.server_process import free_port

USER, PASSWORD = "silkcharge", "p@ss word"
RESET_LINK = re.compile(r"https?://\S+/#/driver/reset/([A-Za-z0-9_-]+)")


@dataclass
class Mailbox:
    host: str
    port: int
    received: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"smtp://{USER}:p%40ss%20word@{self.host}:{self.port}"

    async def next_message(self, timeout: float = 10.0) -> EmailMessage:
        """The oldest message not yet taken, waiting for it to arrive."""
        async with asyncio.timeout(timeout):
            while not self.received:
                await asyncio.sleep(0.02)
        return self.received.pop(0)

    # aiosmtpd calls these from its own thread and event loop.
    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.received.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


def _authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        USER.encode(), PASSWORD.encode())
    return AuthResult(success=good, handled=False)  # not handled: the server answers 535


@contextlib.contextmanager
def running_mailbox() -> Iterator[Mailbox]:
    box = Mailbox("127.0.0.1", free_port())
    controller = Controller(box, hostname=box.host, port=box.port, auth_required=True,
                            auth_require_tls=False, authenticator=_authenticate)
    with warnings.catch_warnings():  # AUTH without TLS is what a loopback test server wants
        warnings.simplefilter("ignore", UserWarning)
        controller.start()
    try:
        yield box
    finally:
        controller.stop()


def reset_token(message: EmailMessage) -> str:
    """The token in the reset link of a mail."""
    found = RESET_LINK.search(message.get_content())
    assert found, message.get_content()
    return found.group(1)
