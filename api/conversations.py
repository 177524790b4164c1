"""Record inbound messages and hand them to their ConversationWorkflow (signal-with-start).

Every message is recorded, then counted against the customer's and the tenant's inbound
limits (``tendero.ratelimit.check_inbound``). A message over a limit keeps its row (status
``throttled``, inbound event outcome ``throttled``) but is not signalled, so it never
reaches the engine, the model or the workflow's history; the first one of a window is
signalled marked throttled (event outcome ``throttled_notified``) and gets one slow-down
notice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from tendero.db.base import utcnow
from tendero.db.models import Conversation, InboundEvent, Message, Tenant
from tendero.db.repos import conversations as repo
from tendero.domain.conversation import (
    ConversationInput,
    ConversationRef,
    InboundSignal,
    Owner,
)
from tendero.domain.inbound import message_content
from tendero.domain.messages import InboundMessage
from tendero.domain.phone import to_e164
from tendero.ratelimit import THROTTLED, InboundLimits, check_inbound
from workflows.conversation import ConversationWorkflow, conversation_search_attributes

logger = logging.getLogger(__name__)

PROVIDER = "whatsapp"

# ``inbound_events.outcome`` of a message over an inbound limit (``THROTTLED``, as its
# ``messages.status``), and of the one that carries the slow-down notice.
THROTTLED_NOTIFIED = "throttled_notified"


@dataclass
class Recorded:
    """An inbound message written to Postgres, ready to be signalled."""

    event_id: object
    workflow_id: str
    ref: ConversationRef
    signal: InboundSignal
    # Who answers if this message starts a new run: a hand-off outlives an idle close.
    owner: Owner = Owner.BOT
    # Over an inbound limit: kept, but signalled only when ``signal.throttled`` (the notice).
    throttled: bool = False

    @property
    def to_signal(self) -> bool:
        """True when the conversation must get this message (accepted, or the notice)."""
        return not self.throttled or self.signal.throttled


def _recorded(
    event_id: object,
    conversation: Conversation,
    message: Message,
    *,
    throttled: bool = False,
    notify: bool = False,
) -> Recorded:
    return Recorded(
        event_id=event_id,
        workflow_id=conversation.workflow_id,
        ref=ConversationRef(
            tenant_id=conversation.tenant_id,
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            channel=conversation.channel,
        ),
        signal=InboundSignal(
            message_id=message.id,
            received_at=utcnow(),
            kind=None if throttled else message.kind,
            throttled=notify,
        ),
        owner=Owner.BOT if conversation.owner == Owner.CLOSED.value else Owner(conversation.owner),
        throttled=throttled,
    )


class InboundRecorder:
    """Writes each message under its wamid, then signals its conversation.

    Args:
        sessions: database session factory.
        client: Temporal client (pydantic converter).
        task_queue: the workers' task queue.
        idle_close_s: how long a conversation waits for the next message before closing.
        turns_per_run: turns before a conversation continues as new.
        limits: inbound rate limits (per customer, per tenant).
        burst_merge_window_ms: passed to new conversation runs (``ConversationInput``).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: Client,
        *,
        task_queue: str,
        idle_close_s: int,
        turns_per_run: int,
        limits: InboundLimits,
        burst_merge_window_ms: int = 0,
    ) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._client = client
        self._task_queue = task_queue
        self._idle_close_s = idle_close_s
        self._turns_per_run = turns_per_run
        self._limits = limits
        self._burst_merge_window_ms = burst_merge_window_ms

    async def record(self, tenant: Tenant, message: InboundMessage) -> Recorded | None:
        """Record the message once, then count it against the inbound limits.

        Returns:
            What to signal (``Recorded.to_signal``: a throttled message is kept but only
            the first of its window is signalled), or ``None`` for a duplicate that was
            already signalled or was throttled.
        """
        async with self._sessions() as session, session.begin():
            event = await repo.record_inbound_event(
                session,
                provider=PROVIDER,
                event_key=message.provider_message_id,
                tenant_id=tenant.id,
            )
            if event is None:
                return await self._redelivered(session, message.provider_message_id)
            phone = to_e164(message.from_phone) if message.from_phone else None
            customer = await repo.get_or_create_customer(
                session,
                tenant_id=tenant.id,
                phone_e164=phone,
                wa_user_id=message.user_id,
                name=message.profile_name,
            )
            conversation = await repo.get_or_create_conversation(
                session, tenant_id=tenant.id, customer_id=customer.id, channel="whatsapp"
            )
            stored = await repo.add_inbound_message(
                session,
                conversation=conversation,
                provider_message_id=message.provider_message_id,
                kind=message.kind.value,
                text=message.text,
                content=message_content(message),
                sent_at=message.sent_at,
            )
            event.message_id = stored.id
            event.workflow_id = conversation.workflow_id
            verdict = await check_inbound(
                session,
                self._limits,
                tenant_id=tenant.id,
                customer_id=customer.id,
                now=utcnow(),
            )
            if not verdict.allowed:
                stored.status = THROTTLED
                event.outcome = THROTTLED_NOTIFIED if verdict.notify else THROTTLED
                logger.info(
                    "inbound message %s of customer %s throttled (window ends in %d s)",
                    stored.id,
                    customer.id,
                    verdict.retry_after_s,
                )
            return _recorded(
                event.id,
                conversation,
                stored,
                throttled=not verdict.allowed,
                notify=verdict.notify,
            )

    async def _redelivered(self, session: AsyncSession, wamid: str) -> Recorded | None:
        """A wamid seen before: signal again only if the first delivery never got through.

        A throttled message that was not meant for the conversation never is.
        """
        event = await repo.get_inbound_event(session, provider=PROVIDER, event_key=wamid)
        if event is None or event.signalled_at is not None or event.message_id is None:
            return None
        if event.outcome == THROTTLED:
            return None
        message = await session.get_one(Message, event.message_id)
        conversation = await session.get_one(Conversation, message.conversation_id)
        notify = event.outcome == THROTTLED_NOTIFIED
        return _recorded(event.id, conversation, message, throttled=notify, notify=notify)

    async def signal(self, recorded: Recorded) -> None:
        """Signal-with-start the conversation, then mark the event signalled.

        Only for ``recorded.to_signal``; the caller skips the other throttled messages.

        Raises:
            temporalio.service.RPCError: Temporal is unreachable; the caller answers 503 so
                Meta redelivers, and the redelivery signals again.
        """
        data = ConversationInput(
            conversation=recorded.ref,
            owner=recorded.owner,
            idle_close_s=self._idle_close_s,
            turns_per_run=self._turns_per_run,
            burst_merge_window_ms=self._burst_merge_window_ms,
        )
        await self._client.start_workflow(
            ConversationWorkflow.run,
            data,
            id=recorded.workflow_id,
            task_queue=self._task_queue,
            start_signal="inbound",
            start_signal_args=[recorded.signal],
            search_attributes=conversation_search_attributes(data),
            static_summary="WhatsApp conversation",
            static_details=f"Customer `{recorded.ref.customer_id}`",
        )
        async with self._sessions() as session, session.begin():
            event = await session.get_one(InboundEvent, recorded.event_id)
            event.signalled_at = utcnow()
