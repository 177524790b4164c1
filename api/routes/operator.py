"""Operator endpoints for conversations: who answers them, and what the assistant cost.

Authenticated with ``TENDERO_ADMIN_TOKEN`` or a tenant API key (``api.auth``): reading
needs the ``viewer`` role, changing the owner ``operator``; a key of another tenant gets
404, as for a conversation that does not exist. A conversation waiting for a person
is given back to the bot here (or taken by a person); the running ConversationWorkflow
applies the change through its ``set_owner`` update, so the Temporal UI shows it.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import AUTH_ERRORS, Operator, Principal, Viewer
from api.deps import SessionsDep, TemporalDep
from tendero.db.models import Conversation
from tendero.db.repos.agent import usage_totals
from tendero.domain.agent import OwnerChange
from tendero.domain.conversation import Owner
from workflows.conversation import ConversationWorkflow

router = APIRouter(prefix="/api/conversations", tags=["operator"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    404: {"description": "No such conversation (or another tenant's)."},
}


class TokenUsage(BaseModel):
    """Model calls and tokens spent by the assistant."""

    calls: int
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ConversationInfo(BaseModel):
    """A conversation's state as operators see it (no message content)."""

    conversation_id: uuid.UUID
    tenant_id: uuid.UUID
    channel: str
    owner: Owner
    language: str | None
    business_type: str | None
    workflow_id: str
    usage: TokenUsage
    tenant_usage: TokenUsage


class OwnerRequest(BaseModel):
    """Who should answer: ``bot`` (back to the assistant) or ``human`` (a person took it)."""

    owner: Literal["bot", "human", "waiting_for_human"]


class OwnerResponse(BaseModel):
    """The owner now; ``workflow_running`` is false when the chat was idle-closed."""

    conversation_id: uuid.UUID
    owner: Owner
    workflow_running: bool


async def _conversation(
    sessions: SessionsDep, principal: Principal, conversation_id: uuid.UUID
) -> Conversation:
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
    if conversation is None or not principal.sees(conversation.tenant_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such conversation")
    return conversation


@router.get("/{conversation_id}", responses=_ERRORS)
async def get_conversation(
    conversation_id: uuid.UUID, sessions: SessionsDep, principal: Viewer
) -> ConversationInfo:
    """A conversation's owner, language, business type and the assistant's token usage."""
    conversation = await _conversation(sessions, principal, conversation_id)
    async with sessions() as session:
        usage = await usage_totals(
            session, tenant_id=conversation.tenant_id, conversation_id=conversation.id
        )
        tenant_usage = await usage_totals(session, tenant_id=conversation.tenant_id)
    return ConversationInfo(
        conversation_id=conversation.id,
        tenant_id=conversation.tenant_id,
        channel=conversation.channel,
        owner=Owner(conversation.owner),
        language=conversation.language,
        business_type=conversation.business_type,
        workflow_id=conversation.workflow_id,
        usage=TokenUsage(**usage),
        tenant_usage=TokenUsage(**tenant_usage),
    )


@router.post(
    "/{conversation_id}/owner",
    responses={
        **_ERRORS,
        409: {"description": "The conversation already has that owner."},
    },
)
async def set_owner(
    conversation_id: uuid.UUID,
    body: OwnerRequest,
    sessions: SessionsDep,
    temporal: TemporalDep,
    principal: Operator,
) -> OwnerResponse:
    """Give the conversation back to the bot, or to a person.

    The customer is told in the chat. When the conversation's workflow is not running
    (idle-closed), the owner is recorded and applies when the customer writes again.
    """
    conversation = await _conversation(sessions, principal, conversation_id)
    owner = Owner(body.owner)
    handle = temporal.get_workflow_handle(conversation.workflow_id)
    try:
        result = await handle.execute_update(
            ConversationWorkflow.set_owner, OwnerChange(owner=owner)
        )
    except WorkflowUpdateFailedError as err:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(err.cause)) from err
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        async with sessions() as session, session.begin():
            stored = await session.get_one(Conversation, conversation_id)
            if stored.owner == owner.value:
                raise HTTPException(
                    status.HTTP_409_CONFLICT, detail=f"the conversation is already {owner.value}"
                ) from err
            stored.owner = owner.value
        return OwnerResponse(conversation_id=conversation_id, owner=owner, workflow_running=False)
    return OwnerResponse(conversation_id=conversation_id, owner=result.owner, workflow_running=True)
