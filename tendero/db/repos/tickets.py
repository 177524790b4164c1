"""Support tickets: create and read them, always as one customer of one tenant."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import Message, Order, Ticket, TicketNumberCounter
from tendero.db.repos.numbers import next_number


class TicketView(BaseModel):
    """A ticket as its customer may see it."""

    number: str
    category: str
    subject: str
    priority: str
    status: str
    order_number: str | None
    created_at: datetime


async def create_ticket(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    prefix: str,
    business_type: str,
    customer_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    order_id: uuid.UUID | None,
    category: str,
    subject: str,
    description: str,
    priority: str,
    source: str,
    now: datetime,
    media_ids: list[str] | None = None,
) -> Ticket:
    """Number and insert a new ``open`` ticket (the caller owns the transaction).

    ``media_ids`` are WhatsApp media ids of photos the customer sent for it. The ticket's
    TicketWorkflow (started by the caller) sets its SLA deadlines and records ``created``.
    """
    number = await next_number(
        session, TicketNumberCounter, tenant_id=tenant_id, prefix=prefix, year=now.year
    )
    ticket = Ticket(
        tenant_id=tenant_id,
        number=number,
        business_type=business_type,
        customer_id=customer_id,
        conversation_id=conversation_id,
        order_id=order_id,
        category=category,
        subject=subject,
        description=description,
        priority=priority,
        status="open",
        source=source,
        media_ids=list(media_ids or []),
    )
    session.add(ticket)
    await session.flush()
    return ticket


async def list_customer_tickets(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    business_type: str,
    number: str | None = None,
    limit: int = 5,
) -> list[TicketView]:
    """The customer's tickets of this business type, newest first (one when ``number``).

    Another customer's ticket number finds nothing, exactly like a missing one.
    """
    query = (
        select(Ticket, Order.number)
        .outerjoin(Order, Order.id == Ticket.order_id)
        .where(
            Ticket.tenant_id == tenant_id,
            Ticket.customer_id == customer_id,
            Ticket.business_type == business_type,
        )
    )
    if number is not None:
        query = query.where(Ticket.number == number.strip().upper())
    rows = await session.execute(
        query.order_by(Ticket.created_at.desc(), Ticket.number.desc()).limit(limit)
    )
    return [
        TicketView(
            number=ticket.number,
            category=ticket.category,
            subject=ticket.subject,
            priority=ticket.priority,
            status=ticket.status,
            order_number=order_number,
            created_at=ticket.created_at,
        )
        for ticket, order_number in rows.all()
    ]


async def recent_media_ids(
    session: AsyncSession, *, conversation_id: uuid.UUID, since: datetime
) -> list[str]:
    """WhatsApp media ids of the photos (and other media) the customer sent since ``since``."""
    found = await session.execute(
        select(Message.content["media_id"].astext)
        .where(
            Message.conversation_id == conversation_id,
            Message.direction == "in",
            Message.kind == "media",
            Message.created_at >= since,
        )
        .order_by(Message.created_at)
    )
    return [media_id for media_id in found.scalars() if media_id]
