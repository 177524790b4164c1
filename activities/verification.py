"""Activities of the VerificationWorkflow: send the code, check an order, record outcomes."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tendero.agent.presets import get_preset
from tendero.agent.texts import t
from tendero.db.base import utcnow
from tendero.db.models import Conversation, Tenant, Verification
from tendero.db.repos import orders as orders_repo
from tendero.db.repos.conversations import add_outbound_replies
from tendero.domain.conversation import ConversationRef
from tendero.domain.messages import Reply
from tendero.domain.money import Money, format_money, money_locale
from tendero.domain.verification import (
    IssueCodeInput,
    IssueCodeResult,
    OutcomeInput,
    OutcomeResult,
    SimpleCheckInput,
    VerificationOutcome,
)
from tendero.identity import code_for, code_hash, known_address, mask_email, order_matches_email
from tendero.mail.outbox import send_once
from tendero.mail.smtp import Mailer, MailNotConfigured, MailUnavailable
from tendero.settings import Settings

logger = logging.getLogger(__name__)


class VerificationActivities:
    """I/O of identity verification.

    Args:
        sessions: database session factory.
        mailer: the SMTP sender.
        settings: the secret key (``otp`` purpose key) and the verification limits.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], mailer: Mailer, settings: Settings
    ) -> None:
        """Inject clients and settings."""
        self._sessions = sessions
        self._mailer = mailer
        self._settings = settings
        self._key = settings.derived_key("otp")

    async def _row(
        self, session: AsyncSession, ref: ConversationRef, verification_id: object
    ) -> Verification:
        found = await session.execute(
            select(Verification)
            .where(
                Verification.id == verification_id,
                Verification.tenant_id == ref.tenant_id,
                Verification.conversation_id == ref.conversation_id,
            )
            .with_for_update()
        )
        row = found.scalar_one_or_none()
        if row is None:
            raise ApplicationError("verification not found", type="NotFound", non_retryable=True)
        return row

    @activity.defn(name="send_verification_code")
    async def send_verification_code(self, data: IssueCodeInput) -> IssueCodeResult:
        """E-mail the request's code to a known address; return only the code's hash.

        Unknown addresses get a hash too (of a code nobody receives), so the workflow and
        the customer see the same thing either way. The code is derived, not stored
        (``tendero.identity.code_for``): a retry sends the same code under the same
        ``Message-ID``. A refused recipient is reported in ``outbound_emails`` and treated
        like a sent mail (the answer must not reveal anything); no SMTP configured at all
        returns ``mail_failed``.

        Raises:
            ApplicationError: ``NotFound`` (not retried); ``MailUnavailable`` (retried).
        """
        ref = data.conversation
        async with self._sessions() as session, session.begin():
            row = await self._row(session, ref, data.verification_id)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            known = await known_address(session, tenant_id=tenant.id, email=row.email)
            email, shop = row.email, tenant.name
            language = conversation.language or tenant.language
        code = code_for(self._key, data.verification_id)
        hashed = code_hash(self._key, data.verification_id, code)
        if self._settings.smtp_host is None:
            return IssueCodeResult(code_hash=hashed, sent_at=utcnow(), mail_failed=True)
        if known:
            try:
                await send_once(
                    self._sessions,
                    self._mailer,
                    tenant_id=ref.tenant_id,
                    key=f"verification:{data.verification_id}",
                    to=email,
                    template="verification_code",
                    language=language,
                    values={
                        "shop": shop,
                        "code": code,
                        "minutes": str(self._settings.verification_code_ttl_s // 60),
                    },
                    keep_body=False,
                )
            except MailNotConfigured:
                return IssueCodeResult(code_hash=hashed, sent_at=utcnow(), mail_failed=True)
            except MailUnavailable as err:
                raise ApplicationError(
                    "the mail server is unavailable", type="MailUnavailable"
                ) from err
        now = utcnow()
        async with self._sessions() as session, session.begin():
            row = await self._row(session, ref, data.verification_id)
            if row.status == "pending":
                row.status = "code_sent"
                row.code_hash = hashed
                row.code_sent_at = now
                row.expires_at = now + timedelta(seconds=self._settings.verification_code_ttl_s)
        return IssueCodeResult(code_hash=hashed, sent_at=now)

    @activity.defn(name="check_order_email")
    async def check_order_email(self, data: SimpleCheckInput) -> bool:
        """True when the request's e-mail and order number belong together in the tenant."""
        ref = data.conversation
        async with self._sessions() as session:
            row = await self._row(session, ref, data.verification_id)
            if row.order_number is None:
                return False
            return await order_matches_email(
                session, tenant_id=ref.tenant_id, order_number=row.order_number, email=row.email
            )

    @activity.defn(name="record_verification_outcome")
    async def record_verification_outcome(self, data: OutcomeInput) -> OutcomeResult:
        """Store the outcome on the request and the customer's reply (idempotent by key).

        Verified: the conversation may see private data of the address until
        ``verified_until`` (``VERIFICATION_VALID_S``); the reply includes the answer the
        customer asked for (their orders by e-mail). Locked: the address and the
        conversation get no new request for ``VERIFICATION_LOCK_S``.
        """
        ref = data.conversation
        settings = self._settings
        async with self._sessions() as session, session.begin():
            row = await self._row(session, ref, data.verification_id)
            tenant = await session.get_one(Tenant, ref.tenant_id)
            conversation = await session.get_one(Conversation, ref.conversation_id)
            language = conversation.language or tenant.language
            now = utcnow()
            outcome = data.outcome
            row.attempts = data.attempts
            texts: list[str] = []
            if outcome is VerificationOutcome.VERIFIED:
                if row.status != "verified":
                    row.status, row.verified_at = "verified", now
                    row.verified_until = now + timedelta(seconds=settings.verification_valid_s)
                texts.append(t(language, "verify_done", email=mask_email(row.email)))
                texts.append(await self._orders_text(session, tenant, row.email, language))
            elif outcome is VerificationOutcome.LOCKED:
                if row.status != "locked":
                    row.status = "locked"
                    row.locked_until = now + timedelta(seconds=settings.verification_lock_s)
                texts.append(
                    t(language, "verify_locked", minutes=settings.verification_lock_s // 60)
                )
            elif outcome is VerificationOutcome.WRONG_CODE:
                texts.append(t(language, "verify_wrong_code", left=data.attempts_left))
            elif outcome is VerificationOutcome.MISMATCH:
                row.status = "mismatch"
                texts.append(t(language, "verify_mismatch"))
            elif outcome is VerificationOutcome.EXPIRED:
                if row.status in ("pending", "code_sent"):
                    row.status = "expired"
                texts.append(t(language, "verify_expired"))
            elif outcome is VerificationOutcome.MAIL_FAILED:
                row.status = "mail_failed"
                texts.append(t(language, "verify_mail_failed"))
            elif outcome is VerificationOutcome.SUPERSEDED and row.status in (
                "pending",
                "code_sent",
            ):
                row.status = "superseded"
            if not data.reply:
                texts = []
            outbound_ids = await add_outbound_replies(
                session,
                conversation_id=ref.conversation_id,
                tenant_id=ref.tenant_id,
                replies=[Reply.text(body) for body in texts],
                key_prefix=f"verify:{data.verification_id}:{data.key}",
            )
        return OutcomeResult(outbound_ids=outbound_ids)

    async def _orders_text(
        self, session: AsyncSession, tenant: Tenant, email: str, language: str
    ) -> str:
        orders = await orders_repo.list_email_orders(
            session,
            tenant_id=tenant.id,
            email=email,
            business_type=get_preset(tenant.preset).name,
        )
        if not orders:
            return t(language, "email_orders_none", email=mask_email(email))
        locale = money_locale(tenant.locale, language)
        lines = "\n".join(
            t(
                language,
                "orders_line",
                number=order.number,
                status=_status(language, order.status),
                total=format_money(Money(amount=order.total, currency=order.currency), locale),
            )
            for order in orders
        )
        return t(language, "email_orders", email=mask_email(email), lines=lines)


def _status(language: str, status: str) -> str:
    try:
        return t(language, f"status_{status}")
    except KeyError:
        return status
