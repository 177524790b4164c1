"""Customers, conversations, messages and the inbound event log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, case, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.base import utcnow
from tendero.db.models import Conversation, Customer, InboundEvent, Message, Tenant
from tendero.domain.ids import conversation_workflow_id
from tendero.domain.messages import DeliveryStatus, Reply, StatusUpdate


async def get_tenant_by_phone_number_id(
    session: AsyncSession, phone_number_id: str
) -> Tenant | None:
    """The tenant whose WhatsApp business number has this ``phone_number_id``."""
    found = await session.execute(
        select(Tenant).where(Tenant.whatsapp_phone_number_id == phone_number_id)
    )
    return found.scalar_one_or_none()


async def get_or_create_customer(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    phone_e164: str | None,
    wa_user_id: str | None,
    name: str | None,
) -> Customer:
    """Find the customer by business-scoped user id, then by phone; create if neither.

    The customer row is locked (``FOR UPDATE``) until the caller commits, so one customer's
    messages are recorded one at a time and a privacy erasure (which locks the row too and
    clears its phone and user id) either waits for this message and erases it with the
    rest, or finishes first, and then the message goes to a new customer instead of the
    erased one's tombstone.

    Raises:
        ValueError: neither a phone nor a user id was given.
    """
    if phone_e164 is None and wa_user_id is None:
        raise ValueError("a customer needs a phone number or a WhatsApp user id")
    if wa_user_id is not None:
        found = await session.execute(
            select(Customer)
            .where(Customer.tenant_id == tenant_id, Customer.wa_user_id == wa_user_id)
            .with_for_update()
        )
        customer = found.scalar_one_or_none()
        if customer is not None:
            return customer
    if phone_e164 is not None:
        # Twice at most: a row erased while we waited for its lock no longer matches.
        for _ in range(2):
            stmt = (
                insert(Customer)
                .values(
                    id=uuid.uuid4(),
                    tenant_id=tenant_id,
                    phone_e164=phone_e164,
                    wa_user_id=wa_user_id,
                    name=name,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "phone_e164"])
            )
            await session.execute(stmt)
            match = await session.execute(
                select(Customer)
                .where(Customer.tenant_id == tenant_id, Customer.phone_e164 == phone_e164)
                .with_for_update()
            )
            customer = match.scalar_one_or_none()
            if customer is not None:
                if wa_user_id is not None and customer.wa_user_id is None:
                    customer.wa_user_id = wa_user_id
                return customer
        raise RuntimeError("the customer row could not be found or created")
    customer = Customer(tenant_id=tenant_id, wa_user_id=wa_user_id, name=name)
    session.add(customer)
    await session.flush()
    return customer


async def get_or_create_conversation(
    session: AsyncSession, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, channel: str
) -> Conversation:
    """The customer's conversation on ``channel`` (one per tenant, channel and customer)."""
    await session.execute(
        insert(Conversation)
        .values(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            customer_id=customer_id,
            channel=channel,
            workflow_id=conversation_workflow_id(tenant_id, channel, customer_id),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "channel", "customer_id"])
    )
    found = await session.execute(
        select(Conversation).where(
            Conversation.tenant_id == tenant_id,
            Conversation.customer_id == customer_id,
            Conversation.channel == channel,
        )
    )
    return found.scalar_one()


async def record_inbound_event(
    session: AsyncSession,
    *,
    provider: str,
    event_key: str,
    tenant_id: uuid.UUID | None,
    outcome: str = "recorded",
) -> InboundEvent | None:
    """Insert the event under its unique key.

    Returns:
        The new event, or ``None`` when ``(provider, event_key)`` was already recorded.
    """
    event_id = uuid.uuid4()
    inserted = await session.execute(
        insert(InboundEvent)
        .values(
            id=event_id,
            provider=provider,
            event_key=event_key,
            tenant_id=tenant_id,
            received_at=utcnow(),
            outcome=outcome,
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_key"])
        .returning(InboundEvent.id)
    )
    if inserted.scalar_one_or_none() is None:
        return None
    return await session.get(InboundEvent, event_id)


async def get_inbound_event(
    session: AsyncSession, *, provider: str, event_key: str
) -> InboundEvent | None:
    """An already recorded event by its key."""
    found = await session.execute(
        select(InboundEvent).where(
            InboundEvent.provider == provider, InboundEvent.event_key == event_key
        )
    )
    return found.scalar_one_or_none()


async def add_inbound_message(
    session: AsyncSession,
    *,
    conversation: Conversation,
    provider_message_id: str,
    kind: str,
    text: str | None,
    content: dict[str, Any],
    sent_at: datetime,
) -> Message:
    """Store an inbound message and move the conversation's window clock."""
    message = Message(
        tenant_id=conversation.tenant_id,
        conversation_id=conversation.id,
        direction="in",
        kind=kind,
        provider_message_id=provider_message_id,
        text=text,
        content=content,
        status="received",
        status_at=sent_at,
    )
    session.add(message)
    if conversation.last_inbound_at is None or sent_at > conversation.last_inbound_at:
        conversation.last_inbound_at = sent_at
    await session.flush()
    return message


async def add_outbound_replies(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    tenant_id: uuid.UUID,
    replies: list[Reply],
    key_prefix: str,
) -> list[uuid.UUID]:
    """Store replies to send, idempotently: key ``{key_prefix}:{index}`` is unique per chat.

    Returns:
        The ids of the stored rows in reply order (existing rows when called again).
    """
    ids: list[uuid.UUID] = []
    for index, reply in enumerate(replies):
        key = f"{key_prefix}:{index}"
        await session.execute(
            insert(Message)
            .values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                conversation_id=conversation_id,
                direction="out",
                kind=reply.kind,
                outbound_key=key,
                text=reply.body,
                content=reply.model_dump(mode="json"),
                status=DeliveryStatus.PENDING.value,
            )
            .on_conflict_do_nothing(index_elements=["conversation_id", "outbound_key"])
        )
        found = await session.execute(
            select(Message.id).where(
                Message.conversation_id == conversation_id, Message.outbound_key == key
            )
        )
        ids.append(found.scalar_one())
    return ids


async def apply_status(
    session: AsyncSession, status: StatusUpdate, *, tenant_id: uuid.UUID
) -> bool:
    """Record a delivery status on the outbound message it belongs to.

    Statuses arrive out of order and more than once: a status never moves a message back
    (``read`` is not undone by a late ``delivered``); ``failed`` is terminal.

    Returns:
        True when a message of ours was updated.
    """
    rank = case(
        {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4},
        value=Message.status,
        else_=0,
    )
    result = await session.execute(
        update(Message)
        .where(
            Message.tenant_id == tenant_id,
            Message.direction == "out",
            Message.provider_message_id == status.provider_message_id,
            rank < status.status.rank,
        )
        .values(
            status=status.status.value,
            status_at=status.timestamp,
            error_code=status.error_code,
            error_title=status.error_title,
        )
    )
    return bool(cast(CursorResult[Any], result).rowcount)


async def get_inbound_message(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    lock: bool = False,
) -> Message | None:
    """An inbound message of this conversation and tenant (``None`` for anything else).

    Args:
        session: open session.
        tenant_id: the shop.
        conversation_id: the conversation it must belong to.
        message_id: the message.
        lock: ``SELECT ... FOR UPDATE`` (the turn activity serialises on it).
    """
    query = select(Message).where(
        Message.id == message_id,
        Message.conversation_id == conversation_id,
        Message.tenant_id == tenant_id,
        Message.direction == "in",
    )
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()
