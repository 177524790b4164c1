"""Sending one rendered mail over SMTP (aiosmtplib), with errors sorted by what to do next.

Nothing here logs or raises with the recipient's address, the body or the server's free text
(a server's reply often echoes the address): only SMTP reply codes.
"""

from __future__ import annotations

import logging
import ssl
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import ClassVar

import aiosmtplib

from tendero.errors import AppError
from tendero.mail.templates import RenderedMail
from tendero.settings import Settings

logger = logging.getLogger(__name__)

FALLBACK_DOMAIN = "tendero.localhost"


class MailError(AppError):
    """Root of the mail errors."""

    code: ClassVar[str] = "mail_error"


class MailNotConfigured(MailError):
    """``SMTP_HOST`` is not set: no mail can be sent until an operator configures one."""

    code: ClassVar[str] = "MailNotConfigured"


class MailRefused(MailError):
    """The server refused the sender, the recipient or the message for good (5xx).

    Attributes:
        smtp_code: the server's reply code (e.g. 550).
    """

    code: ClassVar[str] = "MailRefused"

    def __init__(self, smtp_code: int) -> None:
        """Keep the reply code; the server's text is dropped (it may echo the address)."""
        super().__init__(f"the SMTP server refused the mail ({smtp_code})")
        self.smtp_code = smtp_code


class MailUnavailable(MailError):
    """Connection refused or lost, timeout, a 4xx reply, or a server-side problem: retry.

    Attributes:
        smtp_code: the server's reply code when there was one.
    """

    code: ClassVar[str] = "MailUnavailable"
    retryable: ClassVar[bool] = True

    def __init__(self, message: str, *, smtp_code: int | None = None) -> None:
        """Keep the reply code when the server gave one."""
        super().__init__(message)
        self.smtp_code = smtp_code


def make_message_id(row_id: uuid.UUID, mail_from: str) -> str:
    """The ``Message-ID`` of the outbound row ``row_id``: ``<{row_id}@{domain of mail_from}>``.

    Args:
        row_id: the ``OutboundEmail`` id (stable across retries).
        mail_from: the ``From`` address, bare or with a display name.

    Returns:
        An RFC 5322 message id; the domain is ``tendero.localhost`` when ``mail_from`` has none.
    """
    _, address = parseaddr(mail_from)
    domain = address.rpartition("@")[2].strip().strip(".") if "@" in address else ""
    return f"<{row_id}@{domain or FALLBACK_DOMAIN}>"


def build_message(
    *,
    sender: str,
    to: str,
    rendered: RenderedMail,
    message_id: str,
    date: datetime,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message: text/plain first, then text/html.

    ``headers`` are added as they are (e.g. ``List-Unsubscribe``, RFC 8058).
    """
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(date.astimezone(UTC))
    message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


class Mailer:
    """Sends rendered mails through the SMTP server of the settings.

    Args:
        settings: ``SMTP_*`` and ``MAIL_FROM``.
        tls_context: the TLS context for STARTTLS / implicit TLS; ``None`` uses the system's
            trust store (tests pass one that trusts their self-signed certificate).
    """

    def __init__(self, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> None:
        """Keep the SMTP settings; nothing connects until ``send``."""
        self._settings = settings
        self._tls_context = tls_context

    @property
    def mail_from(self) -> str:
        """The default ``From`` (``MAIL_FROM``)."""
        return self._settings.mail_from

    @property
    def configured(self) -> bool:
        """Whether an SMTP server is configured."""
        return self._settings.smtp_host is not None

    async def send(
        self,
        *,
        to: str,
        rendered: RenderedMail,
        message_id: str,
        sender: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Send one mail; one connection per mail.

        Args:
            to: the recipient's address.
            rendered: subject and bodies.
            message_id: the ``Message-ID`` header (stable across retries of the same mail).
            sender: the ``From`` header; ``MAIL_FROM`` when ``None``.
            headers: extra headers, e.g. ``List-Unsubscribe``.

        Raises:
            MailNotConfigured: ``SMTP_HOST`` is not set.
            MailRefused: a 5xx for the sender, the recipient or the data.
            MailUnavailable: connection, timeout, TLS, authentication, or 4xx problems.
        """
        settings = self._settings
        if settings.smtp_host is None:
            raise MailNotConfigured("SMTP_HOST is not set: mail is not configured")
        message = build_message(
            sender=sender or settings.mail_from,
            to=to,
            rendered=rendered,
            message_id=message_id,
            date=datetime.now(UTC),
            headers=headers,
        )
        password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                use_tls=settings.smtp_ssl,
                # STARTTLS makes no sense inside implicit TLS; False (not None) means "never".
                start_tls=settings.smtp_starttls and not settings.smtp_ssl,
                timeout=settings.smtp_timeout_s,
                tls_context=self._tls_context,
            )
        except aiosmtplib.SMTPException as err:
            raise _classify(err) from None
        except OSError as err:  # refused, reset, timeouts, TLS handshake failures
            raise MailUnavailable(f"SMTP connection failed ({type(err).__name__})") from None
        logger.info("mail %s accepted by the SMTP server", message_id)


def _classify(err: aiosmtplib.SMTPException) -> MailRefused | MailUnavailable:
    """Map an aiosmtplib error to refused (5xx about this mail) or unavailable (the rest).

    ``from None`` at the call site: the original exception's text can carry the address.
    """
    name = type(err).__name__
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in err.recipients]
        # A 4xx for any recipient (greylisting, mailbox busy) is worth another try.
        if codes and min(codes) >= 500:
            return MailRefused(min(codes))
        return MailUnavailable(
            f"SMTP recipient deferred ({min(codes) if codes else '?'})",
            smtp_code=min(codes) if codes else None,
        )
    if isinstance(
        err,
        aiosmtplib.SMTPAuthenticationError
        | aiosmtplib.SMTPHeloError
        | aiosmtplib.SMTPConnectResponseError,
    ):
        # Our configuration or the server is at fault, not this mail: never mark it refused.
        return MailUnavailable(f"SMTP {name} ({err.code})", smtp_code=err.code)
    if isinstance(err, aiosmtplib.SMTPResponseException):
        if err.code >= 500:
            return MailRefused(err.code)
        return MailUnavailable(f"SMTP {name} ({err.code})", smtp_code=err.code)
    return MailUnavailable(f"SMTP {name}")
