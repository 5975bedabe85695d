"""The mailer: SMTP URLs, delivery to a real SMTP server with a login, a clear error when the
server is not there, and the log when no server is configured."""

from __future__ import annotations

import logging

import pytest

from silkcharge.services.mailer import (
    Email,
    LogMailer,
    MailNotSent,
    SmtpMailer,
    SmtpServer,
    mailer_for,
)
from silkcharge.settings import Settings
from tests.api.mailbox import PASSWORD, USER, running_mailbox
from tests.e2e.server_process import free_port

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
HELLO = Email("aigerim@example.kz", "Сәлем", "Зарядтау станциясы дайын.\n")


@pytest.mark.parametrize("url, expected", [
    ("smtp://mail.example.kz", SmtpServer("smtp", "mail.example.kz", 25)),
    ("smtp+starttls://user%40example.kz:p%40ss@mail.example.kz",
     SmtpServer("smtp+starttls", "mail.example.kz", 587, "user@example.kz", "p@ss")),
    ("smtps://relay:secret@10.0.0.5:2465", SmtpServer("smtps", "10.0.0.5", 2465, "relay", "secret")),
])
def test_an_smtp_url_names_the_server_port_and_login(url, expected):
    assert SmtpServer.from_url(url) == expected


@pytest.mark.parametrize("url", ["https://mail.example.kz", "smtp://", "mail.example.kz:25"])
def test_settings_refuse_a_url_that_names_no_smtp_server(url):
    with pytest.raises(ValueError, match="smtp_url must start with one of .* and name a host"):
        Settings(smtp_url=url)


async def test_a_message_reaches_a_real_smtp_server_after_logging_in():
    with running_mailbox() as box:
        mailer = mailer_for(Settings(smtp_url=box.url, mail_from="silkcharge <no-reply@example.kz>"))
        await mailer.send(HELLO)
        message = await box.next_message()
    assert box.envelopes == [("no-reply@example.kz", ["aigerim@example.kz"])]
    assert message["Subject"] == "Сәлем" and message["From"] == "silkcharge <no-reply@example.kz>"
    assert message.get_content().replace("\r\n", "\n") == "Зарядтау станциясы дайын.\n"
    assert message["Message-ID"].endswith("@example.kz>") and message["Date"]


async def test_a_wrong_login_or_a_missing_server_raises_a_reason():
    with running_mailbox() as box:
        wrong = SmtpMailer(SmtpServer("smtp", box.host, box.port, USER, PASSWORD + "x"), "a@b.kz")
        with pytest.raises(MailNotSent, match="Authentication credentials invalid") as caught:
            await wrong.send(HELLO)
        assert f"was not sent through {box.host}:{box.port}" in str(caught.value)
        assert box.received == []
    nobody = SmtpMailer(SmtpServer("smtp", "127.0.0.1", free_port()), "a@b.kz", timeout=2)
    with pytest.raises(MailNotSent, match="refused"):
        await nobody.send(HELLO)


async def test_without_a_server_the_message_is_written_to_the_log(caplog):
    mailer = mailer_for(Settings())
    assert isinstance(mailer, LogMailer)
    with caplog.at_level(logging.WARNING, logger="silkcharge.mail"):
        await mailer.send(HELLO)
    [record] = caplog.records
    assert "no SMTP server is configured" in record.getMessage()
    assert "Subject: Сәлем" in record.getMessage() and "станциясы дайын" in record.getMessage()
