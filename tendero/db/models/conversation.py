"""Conversations, their messages (both directions) and the inbound provider event log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Conversation(UUIDPk, Timestamped, Base):
    """A customer's conversation with a shop on one channel.

    ``owner`` is who answers: ``bot``, ``waiting_for_human``, ``human`` or ``closed``.
    ``ui_state`` is the guided engine's context (what the last menu offered, a pending
    quantity prompt...). ``channel_error`` flags a channel that cannot send (e.g. Meta
    error 190, a bad access token) for operators.

    ``business_type`` is the tenant's preset when the conversation last spoke; when the
    preset changes, ``context_since`` moves forward so the assistant never sees what was
    said under another business type. ``summary`` is the assistant's running summary of the
    messages up to ``summary_through`` (older than the recent window it reads).
    """

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("tenant_id", "channel", "customer_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    workflow_id: Mapped[str] = mapped_column(String(300))
    owner: Mapped[str] = mapped_column(String(24), server_default="bot")
    language: Mapped[str | None] = mapped_column(String(8))
    ui_state: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    last_inbound_at: Mapped[datetime | None]
    channel_error: Mapped[str | None] = mapped_column(String(200))
    business_type: Mapped[str | None] = mapped_column(String(32))
    context_since: Mapped[datetime | None]
    summary: Mapped[str | None] = mapped_column(Text)
    summary_through: Mapped[datetime | None]


class Message(UUIDPk, Timestamped, Base):
    """One message in a conversation.

    Inbound: ``provider_message_id`` is the wamid, ``status`` ``received`` then
    ``processed``; ``turn_result`` stores what the engine decided so a retried turn
    returns the same decision instead of acting twice. Outbound: ``outbound_key`` makes a
    send idempotent, ``status`` follows Meta's statuses (pending, sent, delivered, read,
    failed) and never moves backwards.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_messages_direction_provider_message_id",
            "direction",
            "provider_message_id",
            unique=True,
            postgresql_where="provider_message_id IS NOT NULL",
        ),
        UniqueConstraint("conversation_id", "outbound_key"),
        # Retention: a shop's messages older than its period.
        Index("ix_messages_tenant_id_created_at", "tenant_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    outbound_key: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str | None] = mapped_column(Text)
    content: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[str] = mapped_column(String(16))
    status_at: Mapped[datetime | None]
    error_code: Mapped[int | None] = mapped_column(Integer)
    error_title: Mapped[str | None] = mapped_column(String(300))
    turn_result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class InboundEvent(UUIDPk, Base):
    """Every inbound provider event, written under a unique key before anything acts on it.

    ``provider`` + ``event_key``: ``whatsapp`` + wamid for messages, ``whatsapp-status`` +
    ``{wamid}:{status}`` for statuses. ``signalled_at`` is set once the conversation
    workflow has the message, so a redelivery after a failed signal signals again.
    """

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("provider", "event_key"),)

    provider: Mapped[str] = mapped_column(String(32))
    event_key: Mapped[str] = mapped_column(String(300))
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE")
    )
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    workflow_id: Mapped[str | None] = mapped_column(String(300))
    received_at: Mapped[datetime]
    signalled_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(32), server_default="recorded")
