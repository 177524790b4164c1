"""The assistant's stored steps and tool calls, and token usage per tenant/conversation."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import AgentStep, AgentToolCall


async def get_step(
    session: AsyncSession, *, message_id: uuid.UUID, kind: str, round_: int
) -> AgentStep | None:
    """The stored model call for (message, kind, round), if it was made."""
    found = await session.execute(
        select(AgentStep).where(
            AgentStep.message_id == message_id, AgentStep.kind == kind, AgentStep.round == round_
        )
    )
    return found.scalar_one_or_none()


async def insert_step(session: AsyncSession, values: dict[str, Any]) -> AgentStep | None:
    """Insert a model call once; ``None`` when (message, kind, round) is already stored."""
    inserted = await session.execute(
        insert(AgentStep)
        .values(id=uuid.uuid4(), **values)
        .on_conflict_do_nothing(index_elements=["message_id", "kind", "round"])
        .returning(AgentStep.id)
    )
    step_id = inserted.scalar_one_or_none()
    return None if step_id is None else await session.get_one(AgentStep, step_id)


async def pending_calls(
    session: AsyncSession, *, message_id: uuid.UUID, round_: int
) -> list[AgentToolCall]:
    """A round's tool calls still to run, in the order the model gave them."""
    found = await session.execute(
        select(AgentToolCall)
        .where(
            AgentToolCall.message_id == message_id,
            AgentToolCall.round == round_,
            AgentToolCall.status == "pending",
        )
        .order_by(AgentToolCall.position)
    )
    return list(found.scalars())


async def get_call_for_update(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    message_id: uuid.UUID,
    round_: int,
    call_id: str,
) -> AgentToolCall | None:
    """A stored tool call, locked for its tool activity."""
    found = await session.execute(
        select(AgentToolCall)
        .where(
            AgentToolCall.tenant_id == tenant_id,
            AgentToolCall.message_id == message_id,
            AgentToolCall.round == round_,
            AgentToolCall.call_id == call_id,
        )
        .with_for_update()
    )
    return found.scalar_one_or_none()


async def usage_totals(
    session: AsyncSession, *, tenant_id: Any, conversation_id: Any | None = None
) -> dict[str, int]:
    """Tokens used by the assistant in a tenant (or one of its conversations).

    Returns:
        ``{"calls", "prompt_tokens", "completion_tokens", "total_tokens"}``.
    """
    query = select(
        func.count(AgentStep.id),
        func.coalesce(func.sum(AgentStep.prompt_tokens), 0),
        func.coalesce(func.sum(AgentStep.completion_tokens), 0),
    ).where(AgentStep.tenant_id == tenant_id)
    if conversation_id is not None:
        query = query.where(AgentStep.conversation_id == conversation_id)
    calls, prompt, completion = (await session.execute(query)).one()
    return {
        "calls": int(calls),
        "prompt_tokens": int(prompt),
        "completion_tokens": int(completion),
        "total_tokens": int(prompt) + int(completion),
    }
