"""What the LLM assistant did for each inbound message: model calls and tool calls.

These rows make the agent's activities idempotent (a retried model call or tool call finds
its stored result instead of acting twice), carry the current turn's tool exchange between
activities (the workflow passes ids only), and record token usage per conversation and
tenant.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class AgentStep(UUIDPk, Timestamped, Base):
    """One model call made for an inbound message.

    ``kind`` is ``turn`` (a round of the tool loop, numbered by ``round`` from 0) or
    ``summary`` (the running summary refreshed before round 0). ``tool_calls`` holds the
    calls the model asked for (``[{"id", "name", "arguments"}]``); ``outbound_ids`` the
    replies stored when the round ended the turn. Token counts are the provider's
    ``usage`` figures.
    """

    __tablename__ = "agent_steps"
    __table_args__ = (UniqueConstraint("message_id", "kind", "round"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    round: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[str] = mapped_column(String(32))
    content: Mapped[str | None] = mapped_column(Text)
    tool_calls: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    outbound_ids: Mapped[list[str]] = mapped_column(JSONB, server_default="[]")
    finish_reason: Mapped[str | None] = mapped_column(String(32))
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    latency_ms: Mapped[int] = mapped_column(Integer, server_default="0")


class AgentToolCall(UUIDPk, Timestamped, Base):
    """One tool call of a round, with its result once the tool activity ran.

    ``status``: ``pending`` until run, then ``ok`` or ``error`` (an error the model is told
    about and can recover from). ``result`` is the JSON given back to the model;
    ``outcome`` is what the workflow must do (commands, hand-off), stored so a retried
    tool activity returns it without acting again.
    """

    __tablename__ = "agent_tool_calls"
    __table_args__ = (UniqueConstraint("message_id", "round", "call_id"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    call_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(64))
    arguments: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outcome: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    completed_at: Mapped[datetime | None]
