"""Orders, their line items, their event timeline and the per-tenant number counter."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Currency, MoneyAmount, Timestamped, UUIDPk


class Order(UUIDPk, Timestamped, Base):
    """A placed order. Totals are computed on the server and frozen here.

    ``idempotency_key`` is the CheckoutWorkflow ID: unique per tenant, so a retried or
    replayed order creation finds the existing order instead of writing a second one.
    ``status``: ``pending`` -> ``confirmed`` -> ``preparing`` -> ``shipped`` /
    ``ready_for_pickup`` -> ``delivered``; or ``cancelled``. ``business_type`` is the
    tenant's preset when the order was placed: orders of one business type are never shown
    under another.

    ``source`` is ``chat`` (placed through a CheckoutWorkflow) or ``store`` (copied from the
    connected store). A store order has the store's ``external_id``, its display number as
    ``number``, the store's own status text in ``store_status`` and its last change in
    ``external_updated_at``; ``customer_id`` is ``None`` for a store order with no customer.
    """

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        UniqueConstraint("tenant_id", "external_id"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="RESTRICT"), index=True
    )
    cart_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    number: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(24), server_default="confirmed")
    business_type: Mapped[str] = mapped_column(String(32), server_default="ecommerce")
    fulfilment: Mapped[str] = mapped_column(String(16))
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    payment_method: Mapped[str] = mapped_column(String(32))
    currency: Mapped[Currency]
    subtotal: Mapped[MoneyAmount]
    delivery_fee: Mapped[MoneyAmount]
    tax: Mapped[MoneyAmount]
    total: Mapped[MoneyAmount]
    # Subtracted from subtotal + delivery before tax; ``discount_code`` names the coupon.
    discount: Mapped[MoneyAmount] = mapped_column(server_default="0")
    discount_code: Mapped[str | None] = mapped_column(String(64))
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(6, 5))
    source: Mapped[str] = mapped_column(String(8), server_default="chat")
    external_id: Mapped[str | None] = mapped_column(String(100))
    store_status: Mapped[str | None] = mapped_column(String(32))
    external_updated_at: Mapped[datetime | None]


class OrderItem(UUIDPk, Base):
    """A frozen copy of what was sold: names and prices at the time of the order."""

    __tablename__ = "order_items"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("product_variants.id", ondelete="SET NULL")
    )
    product_name: Mapped[str] = mapped_column(String(300))
    variant_label: Mapped[str | None] = mapped_column(String(300))
    sku: Mapped[str | None] = mapped_column(String(100))
    unit_price: Mapped[MoneyAmount]
    quantity: Mapped[int] = mapped_column(Integer)
    line_total: Mapped[MoneyAmount]


class OrderEvent(UUIDPk, Timestamped, Base):
    """One entry of an order's timeline (``placed``, ``shipped``...)."""

    __tablename__ = "order_events"

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    order_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class OrderNumberCounter(Base):
    """Per-tenant, per-year sequence behind ``ORD-2026-00001``."""

    __tablename__ = "order_number_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, server_default="0")
