"""Agent API for support tickets: list, read, open, assign, reply, change state, notes.

Every route acts in the signed-in user's tenant: another tenant's ticket number answers 404
exactly like a missing one. Changes go through the ticket's TicketWorkflow as updates (a
validator refuses impossible changes before anything is written), so each one is an event
in Postgres and visible in the Temporal UI.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, or_, select
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.agent_auth import AGENT_AUTH_ERRORS, AgentDep
from api.deps import SessionsDep, SettingsDep, TemporalDep
from tendero.agent.presets import get_preset
from tendero.db.models import (
    Conversation,
    Customer,
    Message,
    Order,
    Tenant,
    Ticket,
    TicketEvent,
    User,
)
from tendero.db.repos import tickets as tickets_repo
from tendero.domain.ids import ticket_workflow_id
from tendero.domain.phone import to_e164
from tendero.domain.tickets import (
    AddNote,
    AgentReply,
    AssignTicket,
    ChangeState,
    Priority,
    TicketInput,
    TicketState,
    TicketStatus,
)
from workflows.ticket import TicketWorkflow, ticket_search_attributes

router = APIRouter(prefix="/api/v2/tickets", tags=["agent API: tickets"])

TRANSCRIPT_MESSAGES = 100

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such ticket in your shop (another shop's looks the same)."}
}
_CHANGE_ERRORS: dict[int | str, dict[str, Any]] = {
    **AGENT_AUTH_ERRORS,
    **_NOT_FOUND,
    409: {
        "description": "The change is not possible now: the ticket is closed, the state "
        "change is not allowed, or (replies) the WhatsApp 24-hour window is closed "
        "(`code` = `window_closed`)."
    },
    503: {"description": "The ticket's workflow did not answer; try again."},
}


class TicketSummary(BaseModel):
    """A ticket in a list."""

    number: str
    status: TicketState
    priority: str
    category: str
    subject: str
    assignee_id: uuid.UUID | None
    customer_id: uuid.UUID
    created_at: datetime
    updated_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    escalations: int


class TicketPage(BaseModel):
    """One page of tickets, newest first."""

    total: int
    items: list[TicketSummary]


class TicketEventView(BaseModel):
    """One change of a ticket."""

    kind: str
    actor: str
    user_id: uuid.UUID | None
    text: str | None
    data: dict[str, Any]
    at: datetime


class TranscriptMessage(BaseModel):
    """One message of the ticket's conversation."""

    direction: Literal["in", "out"]
    kind: str
    text: str | None
    media_id: str | None
    status: str
    created_at: datetime


class CustomerView(BaseModel):
    """Who the ticket is for."""

    customer_id: uuid.UUID
    name: str | None
    phone: str | None
    email: str | None


class TicketDetail(TicketSummary):
    """A ticket with its customer, order, photos, events and conversation transcript."""

    description: str
    source: str
    customer: CustomerView
    order_number: str | None
    media_ids: list[str]
    satisfaction: int | None
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    events: list[TicketEventView]
    transcript: list[TranscriptMessage]
    workflow_id: str


class OpenTicketRequest(BaseModel):
    """A ticket an agent opens for a customer of the shop."""

    model_config = ConfigDict(extra="forbid")

    customer_phone: str = Field(min_length=5, max_length=32, description="E.164 or digits.")
    category: str = Field(max_length=40, description="One of the shop preset's categories.")
    subject: str = Field(min_length=3, max_length=200)
    description: str = Field(min_length=3, max_length=4000)
    priority: Priority = "medium"
    order_number: str | None = Field(default=None, max_length=40)


class AssignRequest(BaseModel):
    """Who gets the ticket (the caller when omitted)."""

    model_config = ConfigDict(extra="forbid")

    assignee_id: uuid.UUID | None = None


class ReplyRequest(BaseModel):
    """An answer for the customer."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)
    wait_for_customer: bool = Field(
        default=False, description="Set the ticket to waiting_on_customer after sending."
    )


class StateRequest(BaseModel):
    """The state to move to (assignment has its own route)."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["open", "waiting_on_customer", "resolved", "closed"]


class NoteRequest(BaseModel):
    """An internal note, never sent to the customer."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=4000)


def _summary(ticket: Ticket) -> dict[str, Any]:
    return {
        "number": ticket.number,
        "status": TicketState(ticket.status),
        "priority": ticket.priority,
        "category": ticket.category,
        "subject": ticket.subject,
        "assignee_id": ticket.assignee_id,
        "customer_id": ticket.customer_id,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "first_response_due_at": ticket.first_response_due_at,
        "resolution_due_at": ticket.resolution_due_at,
        "escalations": ticket.escalations,
    }


@router.get("", responses=AGENT_AUTH_ERRORS)
async def list_tickets(
    user: AgentDep,
    sessions: SessionsDep,
    status_: Annotated[TicketState | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    category: str | None = None,
    assignee: Annotated[
        str | None, Query(description="A user id, `me`, or `none` for unassigned.")
    ] = None,
    q: Annotated[str | None, Query(max_length=100, description="Number or subject.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TicketPage:
    """Your shop's tickets, newest first, filtered."""
    query = select(Ticket).where(Ticket.tenant_id == user.tenant_id)
    if status_ is not None:
        query = query.where(Ticket.status == status_.value)
    if priority is not None:
        query = query.where(Ticket.priority == priority)
    if category is not None:
        query = query.where(Ticket.category == category)
    if assignee == "none":
        query = query.where(Ticket.assignee_id.is_(None))
    elif assignee is not None:
        try:
            assignee_id = user.user_id if assignee == "me" else uuid.UUID(assignee)
        except ValueError as err:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail="assignee must be a user id, `me` or `none`",
            ) from err
        query = query.where(Ticket.assignee_id == assignee_id)
    if q:
        pattern = f"%{q.strip()}%"
        query = query.where(or_(Ticket.number.ilike(pattern), Ticket.subject.ilike(pattern)))
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        found = await session.execute(
            query.order_by(Ticket.created_at.desc(), Ticket.number.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [TicketSummary(**_summary(ticket)) for ticket in found.scalars()]
    return TicketPage(total=total or 0, items=items)


async def _ticket(sessions: SessionsDep, user: AgentDep, number: str) -> Ticket:
    async with sessions() as session:
        found = await session.execute(
            select(Ticket).where(
                Ticket.tenant_id == user.tenant_id, Ticket.number == number.strip().upper()
            )
        )
        ticket = found.scalar_one_or_none()
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="ticket not found")
    return ticket


@router.get("/{number}", responses={**AGENT_AUTH_ERRORS, **_NOT_FOUND})
async def get_ticket(number: str, user: AgentDep, sessions: SessionsDep) -> TicketDetail:
    """One ticket with its events (oldest first) and its conversation's transcript."""
    ticket = await _ticket(sessions, user, number)
    async with sessions() as session:
        customer = await session.get_one(Customer, ticket.customer_id)
        order = await session.get(Order, ticket.order_id) if ticket.order_id else None
        events = await session.execute(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.at, TicketEvent.created_at)
        )
        transcript: list[TranscriptMessage] = []
        if ticket.conversation_id is not None:
            messages = await session.execute(
                select(Message)
                .where(Message.conversation_id == ticket.conversation_id)
                .order_by(Message.created_at.desc())
                .limit(TRANSCRIPT_MESSAGES)
            )
            transcript = [
                TranscriptMessage(
                    direction="in" if m.direction == "in" else "out",
                    kind=m.kind,
                    text=m.text,
                    media_id=m.content.get("media_id") if m.direction == "in" else None,
                    status=m.status,
                    created_at=m.created_at,
                )
                for m in reversed(list(messages.scalars()))
            ]
        return TicketDetail(
            **_summary(ticket),
            description=ticket.description,
            source=ticket.source,
            customer=CustomerView(
                customer_id=customer.id,
                name=customer.name,
                phone=customer.phone_e164,
                email=customer.email,
            ),
            order_number=order.number if order else None,
            media_ids=list(ticket.media_ids),
            satisfaction=ticket.satisfaction,
            first_responded_at=ticket.first_responded_at,
            resolved_at=ticket.resolved_at,
            closed_at=ticket.closed_at,
            events=[
                TicketEventView(
                    kind=e.kind, actor=e.actor, user_id=e.user_id, text=e.text, data=e.data, at=e.at
                )
                for e in events.scalars()
            ],
            transcript=transcript,
            workflow_id=ticket_workflow_id(ticket.tenant_id, ticket.number),
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={
        **AGENT_AUTH_ERRORS,
        404: {"description": "No customer with that phone (or order with that number)."},
        422: {"description": "Invalid phone, unknown category or invalid body."},
    },
)
async def open_ticket(
    body: OpenTicketRequest,
    user: AgentDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> TicketSummary:
    """Open a ticket for a customer of your shop and start its TicketWorkflow."""
    phone = to_e164(body.customer_phone)
    if phone is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail="invalid phone number")
    async with sessions() as session, session.begin():
        tenant = await session.get_one(Tenant, user.tenant_id)
        preset = get_preset(tenant.preset)
        if body.category not in preset.ticket_categories:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"category must be one of: {', '.join(preset.ticket_categories)}",
            )
        customer = (
            await session.execute(
                select(Customer).where(
                    Customer.tenant_id == tenant.id, Customer.phone_e164 == phone
                )
            )
        ).scalar_one_or_none()
        if customer is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="customer not found")
        order_id = None
        if body.order_number:
            order_id = await session.scalar(
                select(Order.id).where(
                    Order.tenant_id == tenant.id,
                    Order.customer_id == customer.id,
                    Order.number == body.order_number.strip().upper(),
                )
            )
            if order_id is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail="order not found")
        conversation_id = await session.scalar(
            select(Conversation.id)
            .where(Conversation.tenant_id == tenant.id, Conversation.customer_id == customer.id)
            .order_by(Conversation.last_inbound_at.desc().nulls_last())
            .limit(1)
        )
        ticket = await tickets_repo.create_ticket(
            session,
            tenant_id=tenant.id,
            prefix=tenant.ticket_prefix,
            business_type=preset.name,
            customer_id=customer.id,
            conversation_id=conversation_id,
            order_id=order_id,
            category=body.category,
            subject=body.subject,
            description=body.description,
            priority=body.priority,
            source="agent",
            now=datetime.now(UTC),
        )
        summary = TicketSummary(**_summary(ticket))
    await temporal.start_workflow(
        TicketWorkflow.run,
        TicketInput(tenant_id=ticket.tenant_id, ticket_id=ticket.id, number=ticket.number),
        id=ticket_workflow_id(ticket.tenant_id, ticket.number),
        task_queue=settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        search_attributes=ticket_search_attributes(str(ticket.tenant_id), ticket.number),
        static_summary=f"Ticket {ticket.number}",
    )
    return summary


async def _update(
    temporal: Client, ticket: Ticket, update: Any, request: BaseModel
) -> TicketStatus:
    handle: WorkflowHandle[Any, Any] = temporal.get_workflow_handle(
        ticket_workflow_id(ticket.tenant_id, ticket.number)
    )
    try:
        result: TicketStatus = await handle.execute_update(
            update, request, result_type=TicketStatus
        )
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        code = "not_allowed"
        message = str(cause)
        if isinstance(cause, ApplicationError):
            message = str(cause.message)
            if cause.type == "WindowClosed":
                code = "window_closed"
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail={"code": code, "message": message}
        ) from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND or ticket.status == TicketState.CLOSED.value:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail={"code": "not_allowed", "message": "the ticket is closed"},
            ) from err
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="the ticket's workflow did not answer"
        ) from err
    return result


@router.post("/{number}/assign", responses=_CHANGE_ERRORS)
async def assign_ticket(
    number: str,
    body: AssignRequest,
    user: AgentDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> TicketStatus:
    """Assign the ticket to a user of your shop (yourself by default); the customer is told."""
    ticket = await _ticket(sessions, user, number)
    assignee_id = body.assignee_id or user.user_id
    async with sessions() as session:
        assignee = await session.get(User, assignee_id)
    if assignee is None or assignee.tenant_id != user.tenant_id or not assignee.active:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such active user")
    return await _update(
        temporal,
        ticket,
        TicketWorkflow.assign,
        AssignTicket(by_user_id=user.user_id, assignee_id=assignee_id),
    )


@router.post("/{number}/reply", responses=_CHANGE_ERRORS)
async def reply_to_customer(
    number: str, body: ReplyRequest, user: AgentDep, sessions: SessionsDep, temporal: TemporalDep
) -> TicketStatus:
    """Send your answer to the customer in their conversation's channel.

    Refused with 409 ``window_closed`` when the customer's last message is 24 hours old or
    more (WhatsApp allows only template messages then); nothing is sent or recorded.
    """
    ticket = await _ticket(sessions, user, number)
    return await _update(
        temporal,
        ticket,
        TicketWorkflow.reply,
        AgentReply(
            by_user_id=user.user_id, text=body.text, wait_for_customer=body.wait_for_customer
        ),
    )


@router.post("/{number}/state", responses=_CHANGE_ERRORS)
async def change_state(
    number: str, body: StateRequest, user: AgentDep, sessions: SessionsDep, temporal: TemporalDep
) -> TicketStatus:
    """Move the ticket to another state (resolved: the customer is asked for a rating)."""
    ticket = await _ticket(sessions, user, number)
    return await _update(
        temporal,
        ticket,
        TicketWorkflow.set_state,
        ChangeState(by_user_id=user.user_id, state=TicketState(body.state)),
    )


@router.post("/{number}/notes", responses=_CHANGE_ERRORS)
async def add_note(
    number: str, body: NoteRequest, user: AgentDep, sessions: SessionsDep, temporal: TemporalDep
) -> TicketStatus:
    """Add an internal note (visible to agents only)."""
    ticket = await _ticket(sessions, user, number)
    return await _update(
        temporal, ticket, TicketWorkflow.add_note, AddNote(by_user_id=user.user_id, text=body.text)
    )
