"""The assistant's context, read from Postgres: small whatever the chat's length.

A model request is: the system prompt; the running summary of older messages, if any; the
last ``window`` messages before the current one (both directions, since the conversation's
``context_since``); the current message; and this turn's earlier rounds (the model's tool
calls and their results). Nothing of it passes through workflow history.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from tendero.db.models import AgentStep, AgentToolCall, Conversation, Message
from tendero.ratelimit import THROTTLED

# Older messages are folded into the summary at most this many at a time, each cut to
# SUMMARY_LINE_CHARS, so the summary request fits small local models' context too.
SUMMARY_MAX_MESSAGES = 60
SUMMARY_LINE_CHARS = 400


def message_line(message: Message) -> str:
    """What a stored message said, as text (non-text kinds are named in brackets)."""
    if message.text:
        return message.text
    title = (message.content or {}).get("title")
    return f"[{message.kind}: {title}]" if title else f"[{message.kind}]"


def _before(conversation: Conversation, current: Message) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = [
        Message.conversation_id == conversation.id,
        Message.tenant_id == conversation.tenant_id,
        Message.id != current.id,
        Message.created_at <= current.created_at,
        # Messages over an inbound rate limit are kept but never shown to the model.
        Message.status != THROTTLED,
    ]
    if conversation.context_since is not None:
        clauses.append(Message.created_at >= conversation.context_since)
    return clauses


async def recent_messages(
    session: AsyncSession, conversation: Conversation, current: Message, *, window: int
) -> list[Message]:
    """The ``window`` messages before ``current``, oldest first."""
    rows = await session.execute(
        select(Message)
        .where(*_before(conversation, current))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(window)
    )
    return list(reversed(rows.scalars().all()))


async def unsummarised_messages(
    session: AsyncSession,
    conversation: Conversation,
    current: Message,
    *,
    older_than: datetime,
) -> list[Message]:
    """Messages older than the window and newer than the summary, oldest first."""
    clauses = _before(conversation, current)
    clauses.append(Message.created_at < older_than)
    if conversation.summary_through is not None:
        clauses.append(Message.created_at > conversation.summary_through)
    rows = await session.execute(
        select(Message)
        .where(*clauses)
        .order_by(Message.created_at, Message.id)
        .limit(SUMMARY_MAX_MESSAGES)
    )
    return list(rows.scalars().all())


def transcript_text(messages: list[Message]) -> str:
    """``Customer: ...`` / ``Assistant: ...`` lines for the summary request."""
    lines = []
    for m in messages:
        who = "Customer" if m.direction == "in" else "Assistant"
        lines.append(f"{who}: {message_line(m)[:SUMMARY_LINE_CHARS]}")
    return "\n".join(lines)


async def turn_rounds(
    session: AsyncSession, message: Message, *, before_round: int
) -> list[dict[str, Any]]:
    """This turn's earlier rounds as chat messages: assistant tool calls, then results."""
    steps = (
        await session.execute(
            select(AgentStep)
            .where(
                AgentStep.message_id == message.id,
                AgentStep.kind == "turn",
                AgentStep.round < before_round,
            )
            .order_by(AgentStep.round)
        )
    ).scalars()
    calls = (
        await session.execute(
            select(AgentToolCall)
            .where(AgentToolCall.message_id == message.id, AgentToolCall.round < before_round)
            .order_by(AgentToolCall.round, AgentToolCall.position)
        )
    ).scalars()
    by_round: dict[int, list[AgentToolCall]] = {}
    for call in calls:
        by_round.setdefault(call.round, []).append(call)
    chat: list[dict[str, Any]] = []
    for step in steps:
        chat.append(
            {
                "role": "assistant",
                "content": step.content,
                "tool_calls": [
                    {
                        "id": c["id"],
                        "type": "function",
                        "function": {"name": c["name"], "arguments": c["arguments"]},
                    }
                    for c in step.tool_calls
                ],
            }
        )
        for call in by_round.get(step.round, []):
            result = call.result if call.result is not None else {"error": "not_run"}
            chat.append(
                {
                    "role": "tool",
                    "tool_call_id": call.call_id,
                    "content": json.dumps(result, ensure_ascii=False),
                }
            )
    return chat


def history_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Stored messages as chat messages (customer = user, shop = assistant)."""
    return [
        {"role": "user" if m.direction == "in" else "assistant", "content": message_line(m)}
        for m in messages
    ]
