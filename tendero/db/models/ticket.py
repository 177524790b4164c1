"""Support tickets recorded from a conversation (their lifecycle workflow comes later)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Ticket(UUIDPk, Timestamped, Base):
    """A customer's support ticket, numbered per tenant (``TCK-2026-00001``).

    ``category`` is one of the preset's ticket categories; ``priority`` is ``low``,
    ``medium``, ``high`` or ``urgent``; ``status`` starts ``open``. ``business_type`` is the
    tenant's preset when it was opened: tickets of one business type are never shown under
    another. ``source`` says who opened it (``assistant``, ``guided``, ``agent``).
    """

    __tablename__ = "tickets"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32))
    business_type: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    order_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("orders.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), server_default="medium")
    status: Mapped[str] = mapped_column(String(24), server_default="open")
    source: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime | None]


class TicketNumberCounter(Base):
    """Per-tenant, per-year sequence behind ``TCK-2026-00001``."""

    __tablename__ = "ticket_number_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, server_default="0")
