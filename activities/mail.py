"""Sending e-mails (SMTP) at most once per idempotency key."""

from __future__ import annotations

import logging

import jinja2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tendero.domain.mail import SendEmailInput, SendEmailResult
from tendero.mail.outbox import send_once
from tendero.mail.smtp import Mailer, MailNotConfigured, MailUnavailable
from tendero.mail.templates import UnknownTemplate

logger = logging.getLogger(__name__)


class MailActivities:
    """Sends templated mails through the outbox (``outbound_emails``).

    Args:
        sessions: database session factory.
        mailer: the SMTP sender (``SMTP_*`` settings).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], mailer: Mailer) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._mailer = mailer

    @activity.defn(name="send_email")
    async def send_email(self, data: SendEmailInput) -> SendEmailResult:
        """Send ``data.template`` to ``data.to`` unless the mail with ``data.key`` went out.

        A refusal by the server (5xx) is reported as ``status="refused"``, not raised:
        retrying cannot help and the workflow decides what to tell whom.

        Raises:
            ApplicationError: retryable ``MailUnavailable`` (server down, timeout, 4xx);
                non-retryable ``MailNotConfigured`` (no ``SMTP_HOST``) and
                ``MailTemplateError`` (unknown template or a missing value).
        """
        try:
            outcome = await send_once(
                self._sessions,
                self._mailer,
                tenant_id=data.tenant_id,
                key=data.key,
                to=data.to,
                template=data.template,
                language=data.language,
                values=data.values,
                keep_body=True,
            )
        except MailUnavailable as err:
            raise ApplicationError(str(err), type=err.code) from None
        except MailNotConfigured as err:
            raise ApplicationError(str(err), type=err.code, non_retryable=True) from None
        except (UnknownTemplate, jinja2.UndefinedError) as err:
            # A code bug, not a transient failure: retrying would only fill the history.
            raise ApplicationError(str(err), type="MailTemplateError", non_retryable=True) from None
        logger.info("mail %s: %s", outcome.email_id, outcome.status)
        return SendEmailResult(status=outcome.status, message_id=outcome.message_id)
