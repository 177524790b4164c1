"""Inputs and results of the assistant's activities (ids and small models only).

The model's messages, tool arguments and tool results stay in Postgres
(``agent_steps``, ``agent_tool_calls``); workflow history carries only these.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field

from tendero.domain.checkout import CheckoutStatus
from tendero.domain.conversation import Command, ConversationRef, Owner


class AgentStepInput(BaseModel):
    """One round of the assistant for an inbound message (round 0 first)."""

    conversation: ConversationRef
    message_id: UUID
    round: int = Field(ge=0)
    checkout: CheckoutStatus | None = None


class ToolCallRef(BaseModel):
    """A tool call to run: its id within the round and the tool's name."""

    call_id: str
    name: str


class AgentStepResult(BaseModel):
    """What a round produced: tool calls to run next, or the replies that end the turn."""

    done: bool
    tool_calls: list[ToolCallRef] = Field(default_factory=list)
    outbound_ids: list[UUID] = Field(default_factory=list)


class ToolCallInput(BaseModel):
    """Run one stored tool call of a round."""

    conversation: ConversationRef
    message_id: UUID
    round: int
    call_id: str
    checkout: CheckoutStatus | None = None


class ToolOutcome(BaseModel):
    """What the workflow must do after a tool ran (the result itself stays in Postgres)."""

    ok: bool
    commands: list[Command] = Field(default_factory=list)


class OwnerChange(BaseModel):
    """An operator hands the conversation back to the bot, or to a person."""

    owner: Owner


class OwnerChangeInput(BaseModel):
    """Record an owner change; ``key`` (the update id) makes the notice idempotent."""

    conversation: ConversationRef
    owner: Owner
    key: str


class OwnerChangeResult(BaseModel):
    """The owner now, and the notice stored for the customer (if any)."""

    owner: Owner
    outbound_ids: list[UUID] = Field(default_factory=list)
