"""Abandoned-cart recovery: one row per recovered-or-not cart, and discount coupons."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Currency, MoneyAmount, Timestamped, UUIDPk


class CartRecovery(UUIDPk, Timestamped, Base):
    """The recovery drip of one cart, run by its AbandonedCartWorkflow.

    ``status``: ``waiting`` (the inactivity timer runs) -> ``abandoned`` (at least one step
    went out) -> ``recovered`` (an order came from this cart after a step) or ``stopped``
    (checked out before any step, emptied, opted out, no consent, bought elsewhere) or
    ``finished`` (every step sent, nothing bought). ``stop_reason`` says why it stopped.
    ``steps`` is the list of what was sent: ``{"step", "channel", "at", "coupon_code"}``.
    ``value``/``currency``/``item_count`` are the cart's at the last change (server prices).
    ``recovered_order_id`` attributes an order to the drip.
    """

    __tablename__ = "cart_recoveries"
    __table_args__ = (
        UniqueConstraint("cart_id"),
        Index("ix_cart_recoveries_tenant_id_status", "tenant_id", "status"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    cart_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    workflow_id: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), server_default="waiting")
    stop_reason: Mapped[str | None] = mapped_column(String(32))
    cart_version: Mapped[int] = mapped_column(Integer, server_default="0")
    item_count: Mapped[int] = mapped_column(Integer, server_default="0")
    value: Mapped[MoneyAmount] = mapped_column(server_default="0")
    currency: Mapped[Currency]
    last_activity_at: Mapped[datetime]
    abandoned_at: Mapped[datetime | None]
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    recovered_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL")
    )
    finished_at: Mapped[datetime | None]


class Coupon(UUIDPk, Timestamped, Base):
    """A discount code: the native store's own, or a record of one created in the store.

    ``kind`` is ``percent`` (``value`` 0-100) or ``amount`` (``value`` in ``currency``).
    Single use by default: ``redeemed_at``/``redeemed_order_id`` are set in the order's
    transaction, and a code is never applied past ``expires_at`` or ``usage_limit``.
    ``external_id`` is the connected store's id for a code created there (``None`` for the
    native store). ``cart_id`` ties a recovery code to the one cart it was made for.
    """

    __tablename__ = "coupons"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[Decimal] = mapped_column(Numeric(20, 3))
    currency: Mapped[Currency]
    expires_at: Mapped[datetime]
    usage_limit: Mapped[int] = mapped_column(Integer, server_default="1")
    times_used: Mapped[int] = mapped_column(Integer, server_default="0")
    source: Mapped[str] = mapped_column(String(16), server_default="recovery")
    cart_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("carts.id", ondelete="SET NULL"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    external_id: Mapped[str | None] = mapped_column(String(100))
    redeemed_at: Mapped[datetime | None]
    redeemed_order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL")
    )
