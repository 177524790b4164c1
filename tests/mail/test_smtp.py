"""Mailer against a real SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import ssl
import time
import uuid
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from tendero.mail.smtp import (
    Mailer,
    MailNotConfigured,
    MailRefused,
    MailUnavailable,
    make_message_id,
)
from tendero.settings import Settings
from tests.fakes.smtp import SmtpSink, free_port
from tests.mail.helpers import MAIL_FROM, rendered, self_signed, server_context, smtp_settings

TO = "customer@example.com"


async def test_send_arrives_once_with_headers_and_both_parts() -> None:
    with SmtpSink() as smtp:
        mailer = Mailer(smtp_settings(smtp.port))
        message_id = make_message_id(uuid.uuid4(), MAIL_FROM)
        await mailer.send(to=TO, rendered=rendered("Your order"), message_id=message_id)
        (message,) = smtp.wait_for(1)
        time.sleep(0.1)
        assert len(smtp.messages) == 1
        assert smtp.envelopes == [("no-reply@corner.example", [TO])]

    assert message["From"] == MAIL_FROM
    assert message["To"] == TO
    assert message["Subject"] == "Your order"
    assert message["Message-ID"] == message_id
    date = parsedate_to_datetime(message["Date"])
    assert date.utcoffset() is not None and date.utcoffset().total_seconds() == 0
    assert message.get_content_type() == "multipart/alternative"
    # Bodies travel with CRLF line ends (RFC 5321).
    assert message.get_body(("plain",)).get_content() == "plain body\r\n"
    assert message.get_body(("html",)).get_content() == "<p>html body</p>\r\n"


async def test_sender_overrides_mail_from_and_non_ascii_subject() -> None:
    with SmtpSink() as smtp:
        mailer = Mailer(smtp_settings(smtp.port))
        await mailer.send(
            to=TO,
            rendered=rendered("Tu código de verificación"),
            message_id="<x@corner.example>",
            sender="Tienda <tienda@corner.example>",
        )
        (message,) = smtp.wait_for(1)
    assert message["From"] == "Tienda <tienda@corner.example>"
    assert message["Subject"] == "Tu código de verificación"


async def test_refused_recipient_raises_mail_refused_without_the_address() -> None:
    with SmtpSink() as smtp:
        smtp.refuse(TO)
        mailer = Mailer(smtp_settings(smtp.port))
        with pytest.raises(MailRefused) as caught:
            await mailer.send(to=TO, rendered=rendered(), message_id="<r@corner.example>")
        assert smtp.messages == []
    err = caught.value
    assert err.smtp_code == 550
    assert not err.retryable
    assert TO not in str(err) and err.__cause__ is None


async def test_server_down_raises_mail_unavailable() -> None:
    mailer = Mailer(smtp_settings(free_port()))
    with pytest.raises(MailUnavailable) as caught:
        await mailer.send(to=TO, rendered=rendered(), message_id="<d@corner.example>")
    assert caught.value.retryable
    assert TO not in str(caught.value)


async def test_not_configured() -> None:
    mailer = Mailer(Settings(_env_file=None, smtp_host=None))  # type: ignore[call-arg]
    assert not mailer.configured
    with pytest.raises(MailNotConfigured) as caught:
        await mailer.send(to=TO, rendered=rendered(), message_id="<n@corner.example>")
    assert not caught.value.retryable


def test_make_message_id() -> None:
    row = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert make_message_id(row, MAIL_FROM) == f"<{row}@corner.example>"
    assert make_message_id(row, "bare@shop.example") == f"<{row}@shop.example>"
    assert make_message_id(row, "no address") == f"<{row}@tendero.localhost>"


async def test_starttls_with_a_trusted_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    client = ssl.create_default_context(cafile=str(cert))
    with SmtpSink(tls_context=server_context(cert, key)) as smtp:
        mailer = Mailer(smtp_settings(smtp.port, smtp_starttls=True), tls_context=client)
        await mailer.send(to=TO, rendered=rendered(), message_id="<t@corner.example>")
        smtp.wait_for(1)
        assert smtp.tls_used == [True]


async def test_starttls_refuses_an_untrusted_certificate(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    with SmtpSink(tls_context=server_context(cert, key)) as smtp:
        # The system trust store does not know this self-signed certificate.
        mailer = Mailer(smtp_settings(smtp.port, smtp_starttls=True))
        with pytest.raises(MailUnavailable):
            await mailer.send(to=TO, rendered=rendered(), message_id="<u@corner.example>")
        assert smtp.messages == []


async def test_starttls_required_but_not_offered() -> None:
    with SmtpSink() as smtp:
        mailer = Mailer(smtp_settings(smtp.port, smtp_starttls=True))
        with pytest.raises(MailUnavailable):
            await mailer.send(to=TO, rendered=rendered(), message_id="<p@corner.example>")
        assert smtp.messages == []
