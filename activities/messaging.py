"""Delivery of stored outbound messages through the channel's provider (WhatsApp Graph API)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tendero.channels.whatsapp.builders import build_message
from tendero.channels.whatsapp.graph import (
    GraphClient,
    GraphError,
    InvalidTokenError,
    WindowClosedError,
)
from tendero.crypto import Keyring, decrypt_secret
from tendero.db.base import utcnow
from tendero.db.models import Conversation, Customer, Message, Tenant
from tendero.domain.activities import DeliverInput, DeliverResult
from tendero.domain.messages import DeliveryStatus, Reply

logger = logging.getLogger(__name__)

# A message being sent right now; never shown to Meta's status ranking (see apply_status).
SENDING = "sending"
CLAIM_LEASE = timedelta(seconds=90)


class MessagingActivities:
    """Sends replies that a turn or a checkout stored as ``pending`` messages.

    Args:
        sessions: database session factory.
        graph: the Graph API client (its base URL is ``WHATSAPP_GRAPH_URL``).
        secret_key: the keyring that decrypts tenants' access tokens.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], graph: GraphClient, secret_key: Keyring
    ) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._graph = graph
        self._secret_key = secret_key

    @activity.defn(name="deliver_messages")
    async def deliver_messages(self, data: DeliverInput) -> DeliverResult:
        """Send the given stored messages in order; each is sent at most once.

        A message that already has a provider id is skipped, so a retried activity resumes
        where it stopped. Meta's errors (notes/whatsapp.md section 2): 131047 (window
        closed) and other permanent errors mark the message ``failed`` and are not retried;
        190 (bad token) also flags the conversation for operators; rate limits (130429,
        131056) and 5xx raise a retryable error, with Meta's suggested delay.

        Raises:
            ApplicationError: retryable ``RateLimited`` / ``GraphUnavailable``.
        """
        result = DeliverResult()
        ref = data.conversation
        async with self._sessions() as session:
            tenant = await session.get_one(Tenant, ref.tenant_id)
            customer = await session.get_one(Customer, ref.customer_id)
        recipient = (customer.phone_e164 or "").lstrip("+") or customer.wa_user_id or ""
        token = (
            decrypt_secret(
                tenant.whatsapp_access_token_enc, self._secret_key, context=tenant.slug.encode()
            )
            if tenant.whatsapp_access_token_enc
            else ""
        )
        for outbound_id in data.outbound_ids:
            activity.heartbeat(str(outbound_id))
            content = await self._claim(outbound_id, ref.conversation_id)
            if content is None:
                result.already_sent += 1
                continue
            if tenant.whatsapp_phone_number_id is None or not token:
                await self._mark_failed(outbound_id, None, "tenant has no WhatsApp number")
                result.failed += 1
                continue
            body = build_message(recipient, Reply.model_validate(content))
            try:
                wamid = await self._graph.send(tenant.whatsapp_phone_number_id, token, body)
            except InvalidTokenError as err:
                await self._mark_failed(outbound_id, err.code, err.title)
                await self._flag(ref.conversation_id, "whatsapp_invalid_token")
                logger.error("tenant %s: WhatsApp access token rejected (190)", tenant.id)
                result.failed += 1
                continue
            except WindowClosedError as err:
                await self._mark_failed(outbound_id, err.code, err.title)
                result.failed += 1
                continue
            except GraphError as err:
                if err.retryable:
                    await self._release(outbound_id)
                    delay = timedelta(seconds=err.retry_after_s) if err.retry_after_s else None
                    raise ApplicationError(
                        str(err),
                        type="RateLimited" if err.code else "GraphUnavailable",
                        next_retry_delay=delay,
                    ) from err
                await self._mark_failed(outbound_id, err.code, err.title)
                result.failed += 1
                continue
            await self._mark_sent(outbound_id, wamid)
            result.sent += 1
        return result

    async def _claim(self, message_id: UUID, conversation_id: UUID) -> dict[str, Any] | None:
        """Take a pending message for sending; ``None`` if sent, failed or being sent.

        A claim older than ``CLAIM_LEASE`` is taken over: the attempt that held it died
        (a worker crash) or timed out, and at-least-once beats never.
        """
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                update(Message)
                .where(
                    Message.id == message_id,
                    Message.conversation_id == conversation_id,
                    Message.direction == "out",
                    or_(
                        Message.status == DeliveryStatus.PENDING.value,
                        and_(
                            Message.status == SENDING,
                            Message.status_at < func.now() - CLAIM_LEASE,
                        ),
                    ),
                )
                .values(status=SENDING, status_at=func.now())
                .returning(Message.content)
            )
            content: dict[str, Any] | None = claimed.scalar_one_or_none()
            return content

    async def _release(self, message_id: UUID) -> None:
        async with self._sessions() as session, session.begin():
            message = await session.get_one(Message, message_id)
            if message.status == SENDING:
                message.status = DeliveryStatus.PENDING.value

    async def _mark_sent(self, message_id: UUID, wamid: str) -> None:
        async with self._sessions() as session, session.begin():
            message = await session.get_one(Message, message_id)
            message.provider_message_id = wamid
            if message.status in {DeliveryStatus.PENDING.value, SENDING}:
                message.status = DeliveryStatus.SENT.value
                message.status_at = utcnow()

    async def _mark_failed(self, message_id: UUID, code: int | None, title: str | None) -> None:
        async with self._sessions() as session, session.begin():
            message = await session.get_one(Message, message_id)
            message.status = DeliveryStatus.FAILED.value
            message.status_at = utcnow()
            message.error_code = code
            message.error_title = (title or "")[:300]

    async def _flag(self, conversation_id: UUID, reason: str) -> None:
        async with self._sessions() as session, session.begin():
            conversation = await session.get_one(Conversation, conversation_id)
            conversation.channel_error = reason
