"""Carts: one open cart per customer; ``version`` increases on every change."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Cart(UUIDPk, Timestamped, Base):
    """A customer's cart. ``status`` is ``open``, ``checked_out`` or ``abandoned``.

    ``version`` is bumped by every change; a checkout summary is bound to one version, so a
    CONFIRM for an older version is refused as stale.
    """

    __tablename__ = "carts"
    __table_args__ = (
        Index(
            "uq_carts_one_open_per_customer",
            "tenant_id",
            "customer_id",
            unique=True,
            postgresql_where="status = 'open'",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    version: Mapped[int] = mapped_column(Integer, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
    # A discount code applied to this cart (a recovery code, or one the customer typed);
    # checked again and redeemed when the order is placed.
    discount_code: Mapped[str | None] = mapped_column(String(64))


class CartItem(UUIDPk, Base):
    """A line item of a cart: a variant and a quantity (prices are read at checkout)."""

    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    cart_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("product_variants.id", ondelete="CASCADE")
    )
    quantity: Mapped[int] = mapped_column(Integer)
    # clock_timestamp(), not now(): lines added in one transaction keep their order.
    added_at: Mapped[datetime] = mapped_column(server_default=func.clock_timestamp())
