"""Support tickets, their events, and the per-tenant numbering behind them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Ticket(UUIDPk, Timestamped, Base):
    """A customer's support ticket, numbered per tenant (``TCK-2026-00001``).

    ``category`` is one of the preset's ticket categories; ``priority`` is ``low``,
    ``medium``, ``high`` or ``urgent``; ``status`` is ``open``, ``assigned``,
    ``waiting_on_customer``, ``resolved`` or ``closed`` (TicketWorkflow owns the changes).
    ``business_type`` is the tenant's preset when it was opened: tickets of one business
    type are never shown under another. ``source`` says who opened it (``assistant``,
    ``guided``, ``agent``). The ``*_due_at`` columns are the SLA deadlines of the current
    priority; ``escalations`` counts SLA breaches. ``media_ids`` are the WhatsApp media ids
    of the photos the customer sent. ``satisfaction`` is the customer's one-tap rating
    after resolution (1 bad, 2 okay, 3 good).
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
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    first_response_due_at: Mapped[datetime | None]
    resolution_due_at: Mapped[datetime | None]
    first_responded_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalations: Mapped[int] = mapped_column(Integer, server_default="0")
    media_ids: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    satisfaction_at: Mapped[datetime | None]


class TicketEvent(UUIDPk, Timestamped, Base):
    """One change of a ticket, in order: what happened, who did it, and its details.

    ``kind``: ``created``, ``assigned``, ``agent_reply``, ``customer_message``, ``note``
    (internal, never sent), ``state_changed``, ``reopened``, ``sla_breached``,
    ``escalated``, ``auto_closed``, ``rated``, ``media_added``. ``actor`` is ``system``,
    ``customer`` or ``agent`` (then ``user_id``). ``key`` makes the activity that writes it
    idempotent (unique per ticket). ``at`` is the workflow time of the change, so an SLA
    event carries the exact timer time even if the activity ran later.
    """

    __tablename__ = "ticket_events"
    __table_args__ = (UniqueConstraint("ticket_id", "key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    ticket_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tickets.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    at: Mapped[datetime]


class TicketNumberCounter(Base):
    """Per-tenant, per-year sequence behind ``TCK-2026-00001``."""

    __tablename__ = "ticket_number_counters"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, server_default="0")
