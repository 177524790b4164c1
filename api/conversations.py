"""Record inbound messages and hand them to their ConversationWorkflow (signal-with-start)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

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
from workflows.conversation import ConversationWorkflow, conversation_search_attributes

logger = logging.getLogger(__name__)

PROVIDER = "whatsapp"


@dataclass
class Recorded:
    """An inbound message written to Postgres, ready to be signalled."""

    event_id: object
    workflow_id: str
    ref: ConversationRef
    signal: InboundSignal
    # Who answers if this message starts a new run: a hand-off outlives an idle close.
    owner: Owner = Owner.BOT


def _recorded(event_id: object, conversation: Conversation, message_id: UUID) -> Recorded:
    return Recorded(
        event_id=event_id,
        workflow_id=conversation.workflow_id,
        ref=ConversationRef(
            tenant_id=conversation.tenant_id,
            customer_id=conversation.customer_id,
            conversation_id=conversation.id,
            channel=conversation.channel,
        ),
        signal=InboundSignal(message_id=message_id, received_at=utcnow()),
        owner=Owner.BOT if conversation.owner == Owner.CLOSED.value else Owner(conversation.owner),
    )


class InboundRecorder:
    """Writes each message under its wamid, then signals its conversation.

    Args:
        sessions: database session factory.
        client: Temporal client (pydantic converter).
        task_queue: the workers' task queue.
        idle_close_s: how long a conversation waits for the next message before closing.
        turns_per_run: turns before a conversation continues as new.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: Client,
        *,
        task_queue: str,
        idle_close_s: int,
        turns_per_run: int,
    ) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._client = client
        self._task_queue = task_queue
        self._idle_close_s = idle_close_s
        self._turns_per_run = turns_per_run

    async def record(self, tenant: Tenant, message: InboundMessage) -> Recorded | None:
        """Record the message once.

        Returns:
            What to signal, or ``None`` for a duplicate that was already signalled.
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
            return _recorded(event.id, conversation, stored.id)

    async def _redelivered(self, session: AsyncSession, wamid: str) -> Recorded | None:
        """A wamid seen before: signal again only if the first delivery never got through."""
        event = await repo.get_inbound_event(session, provider=PROVIDER, event_key=wamid)
        if event is None or event.signalled_at is not None or event.message_id is None:
            return None
        message = await session.get_one(Message, event.message_id)
        conversation = await session.get_one(Conversation, message.conversation_id)
        return _recorded(event.id, conversation, message.id)

    async def signal(self, recorded: Recorded) -> None:
        """Signal-with-start the conversation, then mark the event signalled.

        Raises:
            temporalio.service.RPCError: Temporal is unreachable; the caller answers 503 so
                Meta redelivers, and the redelivery signals again.
        """
        data = ConversationInput(
            conversation=recorded.ref,
            owner=recorded.owner,
            idle_close_s=self._idle_close_s,
            turns_per_run=self._turns_per_run,
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
