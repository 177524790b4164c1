"""Order repository: numbering, lookups scoped to one customer of one tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import Customer, Order, OrderEvent, OrderItem, OrderNumberCounter
from tendero.db.repos.numbers import next_number


class OrderItemView(BaseModel):
    """A sold line as frozen on the order."""

    product_name: str
    variant_label: str | None
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class OrderEventView(BaseModel):
    """One timeline entry."""

    kind: str
    note: str | None
    created_at: datetime


class OrderView(BaseModel):
    """An order with its items and timeline, for tracking answers."""

    order_id: uuid.UUID
    number: str
    status: str
    fulfilment: str
    address: dict[str, Any] | None
    payment_method: str
    currency: str
    subtotal: Decimal
    delivery_fee: Decimal
    tax: Decimal
    total: Decimal
    created_at: datetime
    items: list[OrderItemView]
    events: list[OrderEventView]


# Orders that need nothing more from the shop; the rest are "active".
FINISHED_STATUSES = ("delivered", "cancelled")


async def next_order_number(
    session: AsyncSession, *, tenant_id: uuid.UUID, prefix: str, year: int
) -> str:
    """Allocate the tenant's next order number for ``year``: ``ORD-2026-00001``."""
    return await next_number(
        session, OrderNumberCounter, tenant_id=tenant_id, prefix=prefix, year=year
    )


async def get_order_by_idempotency_key(
    session: AsyncSession, *, tenant_id: uuid.UUID, key: str
) -> Order | None:
    """The order created under ``key`` in this tenant, if any."""
    found = await session.execute(
        select(Order).where(Order.tenant_id == tenant_id, Order.idempotency_key == key)
    )
    return found.scalar_one_or_none()


async def _view(session: AsyncSession, order: Order) -> OrderView:
    items = (
        await session.execute(
            select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
        )
    ).scalars()
    events = (
        await session.execute(
            select(OrderEvent)
            .where(OrderEvent.order_id == order.id)
            .order_by(OrderEvent.created_at, OrderEvent.id)
        )
    ).scalars()
    return OrderView(
        order_id=order.id,
        number=order.number,
        status=order.status,
        fulfilment=order.fulfilment,
        address=order.address,
        payment_method=order.payment_method,
        currency=order.currency,
        subtotal=order.subtotal,
        delivery_fee=order.delivery_fee,
        tax=order.tax,
        total=order.total,
        created_at=order.created_at,
        items=[
            OrderItemView(
                product_name=i.product_name,
                variant_label=i.variant_label,
                quantity=i.quantity,
                unit_price=i.unit_price,
                line_total=i.line_total,
            )
            for i in items
        ],
        events=[OrderEventView(kind=e.kind, note=e.note, created_at=e.created_at) for e in events],
    )


async def get_customer_order(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    number: str,
    business_type: str | None = None,
) -> OrderView | None:
    """The customer's own order by number; anyone else's (or a missing one) is ``None``.

    Callers answer both cases with the same words, so order numbers cannot be probed.
    ``business_type`` (a preset name) hides orders placed under another business type.
    """
    query = select(Order).where(
        Order.tenant_id == tenant_id,
        Order.customer_id == customer_id,
        Order.number == number.upper(),
    )
    if business_type is not None:
        query = query.where(Order.business_type == business_type)
    order = (await session.execute(query)).scalar_one_or_none()
    return None if order is None else await _view(session, order)


async def list_customer_orders(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    limit: int = 5,
    business_type: str | None = None,
    active_only: bool = False,
) -> list[OrderView]:
    """The customer's most recent orders in this tenant, newest first.

    Args:
        session: open session (read only).
        tenant_id: the shop.
        customer_id: whose orders.
        limit: at most this many.
        business_type: only orders placed under this preset, when given.
        active_only: leave out delivered and cancelled orders.
    """
    query = select(Order).where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
    if business_type is not None:
        query = query.where(Order.business_type == business_type)
    if active_only:
        query = query.where(Order.status.not_in(FINISHED_STATUSES))
    found = await session.execute(
        query.order_by(Order.created_at.desc(), Order.number.desc()).limit(limit)
    )
    return [await _view(session, order) for order in found.scalars()]


async def list_email_orders(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    email: str,
    limit: int = 5,
    business_type: str | None = None,
) -> list[OrderView]:
    """The most recent orders of the tenant's customers with ``email`` (lower-cased).

    Only for a conversation verified for that address (``tendero.identity``).
    """
    query = (
        select(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(Order.tenant_id == tenant_id, Customer.tenant_id == tenant_id)
        .where(Customer.email == email)
    )
    if business_type is not None:
        query = query.where(Order.business_type == business_type)
    found = await session.execute(
        query.order_by(Order.created_at.desc(), Order.number.desc()).limit(limit)
    )
    return [await _view(session, order) for order in found.scalars()]
