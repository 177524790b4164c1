"""Shopify's mandatory privacy requests, done (not just logged): redact and export.

``customers/redact`` and ``shop/redact`` erase what we hold about the customer(s) of that
store in this tenant: name, e-mail, phone, WhatsApp user id and external id on the customer
row; delivery addresses on their orders; the text and content of their messages; ticket
descriptions. Order totals and line items stay (the shop's accounting), no longer linked to
a person. ``customers/data_request`` builds the document of what we hold about the customer
for the shop to hand over (notes/store-apis.md §1.7).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import any_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import Conversation, Customer, Message, Order, Ticket
from tendero.db.sql import text_array, uuid_array
from tendero.domain.phone import to_e164

REDACTED = "[redacted]"


async def find_customers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    external_ids: Sequence[str] = (),
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
) -> list[uuid.UUID]:
    """Ids of the tenant's customers with any of these store ids, e-mails or phones."""
    emails = [e.strip().lower() for e in emails if e and e.strip()]
    phones = [p for p in (to_e164(raw) for raw in phones if raw) if p]
    external_ids = [e for e in external_ids if e]
    if not (emails or phones or external_ids):
        return []
    rows = await session.execute(
        select(Customer.id).where(
            Customer.tenant_id == tenant_id,
            or_(
                Customer.external_id == any_(text_array(external_ids)),
                Customer.email == any_(text_array(emails)),
                Customer.phone_e164 == any_(text_array(phones)),
            ),
        )
    )
    return list(rows.scalars())


async def redact_customers(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> int:
    """Erase the personal data of these customers everywhere we keep it; caller commits.

    Returns:
        How many customers were redacted.
    """
    if not customer_ids:
        return 0
    ids = uuid_array(customer_ids)
    await session.execute(
        update(Order)
        .where(Order.tenant_id == tenant_id, Order.customer_id == any_(ids))
        .values(address=None)
    )
    conversations = select(Conversation.id).where(
        Conversation.tenant_id == tenant_id, Conversation.customer_id == any_(ids)
    )
    await session.execute(
        update(Message)
        .where(Message.tenant_id == tenant_id, Message.conversation_id.in_(conversations))
        .values(text=REDACTED, content={})
    )
    await session.execute(
        update(Conversation)
        .where(Conversation.tenant_id == tenant_id, Conversation.customer_id == any_(ids))
        .values(summary=None, ui_state={})
    )
    await session.execute(
        update(Ticket)
        .where(Ticket.tenant_id == tenant_id, Ticket.customer_id == any_(ids))
        .values(description=REDACTED)
    )
    result = await session.execute(
        update(Customer)
        .where(Customer.tenant_id == tenant_id, Customer.id == any_(ids))
        .values(name=None, email=None, phone_e164=None, wa_user_id=None, external_id=None)
        .returning(Customer.id)
    )
    return len(result.all())


async def redact_store_customers(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """``shop/redact``: erase every customer the store gave us (they carry its ids)."""
    ids = list(
        (
            await session.execute(
                select(Customer.id).where(
                    Customer.tenant_id == tenant_id, Customer.external_id.is_not(None)
                )
            )
        ).scalars()
    )
    store_order_customers = (
        await session.execute(
            select(Order.customer_id).where(
                Order.tenant_id == tenant_id,
                Order.source == "store",
                Order.customer_id.is_not(None),
            )
        )
    ).scalars()
    ids = list(dict.fromkeys([*ids, *(c for c in store_order_customers if c is not None)]))
    await session.execute(
        update(Order)
        .where(Order.tenant_id == tenant_id, Order.source == "store")
        .values(address=None)
    )
    return await redact_customers(session, tenant_id, ids)


async def export_customers(
    session: AsyncSession, tenant_id: uuid.UUID, customer_ids: Sequence[uuid.UUID]
) -> dict[str, Any]:
    """What we hold about these customers: profile, orders and message counts.

    Returns:
        ``{"customers": [{"id", "name", "email", "phone", "orders": [...], "messages": n}]}``.
    """
    out: list[dict[str, Any]] = []
    for customer_id in customer_ids:
        customer = await session.get(Customer, customer_id)
        if customer is None or customer.tenant_id != tenant_id:
            continue
        orders = (
            await session.execute(
                select(Order.number, Order.status, Order.total, Order.currency, Order.created_at)
                .where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
                .order_by(Order.created_at)
            )
        ).all()
        messages = (
            await session.execute(
                select(Message.direction, Message.text, Message.created_at)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(Conversation.tenant_id == tenant_id, Conversation.customer_id == customer_id)
                .order_by(Message.created_at)
            )
        ).all()
        out.append(
            {
                "id": str(customer.id),
                "name": customer.name,
                "email": customer.email,
                "phone": customer.phone_e164,
                "orders": [
                    {
                        "number": o.number,
                        "status": o.status,
                        "total": str(o.total),
                        "currency": o.currency,
                        "created_at": o.created_at.isoformat(),
                    }
                    for o in orders
                ],
                "messages": [
                    {"direction": m.direction, "text": m.text, "at": m.created_at.isoformat()}
                    for m in messages
                ],
            }
        )
    return {"customers": out}
