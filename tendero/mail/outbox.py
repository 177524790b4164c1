"""Send a mail at most once per (tenant, key): a row is written before the SMTP hand-off.

The row's ``Message-ID`` is fixed when it is created, so when an attempt's outcome is
unknown (a crash or a timeout after the server took the mail) the retry carries the same id
and receiving systems can de-duplicate. The SMTP conversation happens with no database
connection held: a slow server must not pin a pool slot.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.base import utcnow
from tendero.db.models.mail import OutboundEmail
from tendero.mail.smtp import Mailer, MailRefused, make_message_id
from tendero.mail.templates import render

logger = logging.getLogger(__name__)

SENDING = "sending"
SENT = "sent"
REFUSED = "refused"


class MailOutcome(BaseModel):
    """What ``send_once`` did.

    Attributes:
        email_id: the ``OutboundEmail`` row.
        status: ``sent`` now, ``already_sent`` by an earlier call, or ``refused`` by the
            server (now or earlier; never retried).
        message_id: the mail's ``Message-ID``.
    """

    email_id: uuid.UUID
    status: Literal["sent", "already_sent", "refused"]
    message_id: str


async def send_once(
    sessions: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    *,
    tenant_id: uuid.UUID,
    key: str,
    to: str,
    template: str,
    language: str,
    values: Mapping[str, str],
    keep_body: bool = True,
    now: datetime | None = None,
    headers: Mapping[str, str] | None = None,
) -> MailOutcome:
    """Render and send a mail unless the mail with this key was already sent or refused.

    Args:
        sessions: database session factory.
        mailer: the SMTP sender.
        tenant_id: the shop the mail is for.
        key: the caller's idempotency key, unique per tenant.
        to: the recipient's address.
        template: template name (see ``tendero.mail.templates``).
        language: the template language (falls back to English).
        values: the template's values.
        keep_body: store the text body; ``False`` for mails carrying a secret (codes).
        now: the time recorded as ``sent_at`` (default: now, aware UTC).
        headers: extra headers of the mail (``List-Unsubscribe``...), the same on a resend.

    Returns:
        The row id, the outcome and the ``Message-ID``.

    Raises:
        MailUnavailable: the server could not be reached or deferred the mail; the row
            stays ``sending`` and a later call resends it with the same ``Message-ID``.
        MailNotConfigured: no SMTP server is configured (the row stays ``sending``).
        UnknownTemplate: no such template (nothing is written).
        jinja2.UndefinedError: a template value is missing (nothing is written).
    """
    # Rendering first: a template error must not leave a row behind.
    rendered = render(template, language, values)
    new_id = uuid.uuid4()
    async with sessions() as session, session.begin():
        await session.execute(
            insert(OutboundEmail)
            .values(
                id=new_id,
                tenant_id=tenant_id,
                key=key,
                template=template,
                language=language,
                to_address=to,
                subject=rendered.subject[:300],
                body_text=rendered.text if keep_body else None,
                message_id=make_message_id(new_id, mailer.mail_from),
                status=SENDING,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
        )
        row = (
            await session.execute(
                select(OutboundEmail)
                .where(OutboundEmail.tenant_id == tenant_id, OutboundEmail.key == key)
                .with_for_update()
            )
        ).scalar_one()
        email_id, message_id, status = row.id, row.message_id, row.status
        if status == SENT:
            return MailOutcome(email_id=email_id, status="already_sent", message_id=message_id)
        if status == REFUSED:
            return MailOutcome(email_id=email_id, status="refused", message_id=message_id)
        row.attempts += 1
        # A row marked ``failed`` (retries ran out) is sent again when asked again.
        row.status = SENDING

    try:
        await mailer.send(to=to, rendered=rendered, message_id=message_id, headers=headers)
    except MailRefused as err:
        async with sessions() as session, session.begin():
            await session.execute(
                update(OutboundEmail)
                .where(OutboundEmail.id == email_id, OutboundEmail.status == SENDING)
                .values(status=REFUSED, error=f"smtp {err.smtp_code}")
            )
        logger.warning("mail %s refused by the SMTP server (%s)", email_id, err.smtp_code)
        return MailOutcome(email_id=email_id, status="refused", message_id=message_id)

    async with sessions() as session, session.begin():
        await session.execute(
            update(OutboundEmail)
            .where(OutboundEmail.id == email_id)
            .values(status=SENT, sent_at=now or utcnow(), error=None)
        )
    return MailOutcome(email_id=email_id, status="sent", message_id=message_id)
