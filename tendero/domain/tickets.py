"""Ticket lifecycle: states, priorities, SLA targets and the TicketWorkflow's messages.

Safe in workflows: pure pydantic, ids and agent-written texts only (never a phone number or
an e-mail address).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from tendero.domain.conversation import ConversationRef

PRIORITIES = ("low", "medium", "high", "urgent")
Priority = Literal["low", "medium", "high", "urgent"]


class TicketState(StrEnum):
    """Where a ticket is in its life."""

    OPEN = "open"
    ASSIGNED = "assigned"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


# What an agent may move a ticket to, from each state (assignment has its own update).
AGENT_TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    TicketState.OPEN: frozenset(
        {TicketState.WAITING_ON_CUSTOMER, TicketState.RESOLVED, TicketState.CLOSED}
    ),
    TicketState.ASSIGNED: frozenset(
        {
            TicketState.OPEN,
            TicketState.WAITING_ON_CUSTOMER,
            TicketState.RESOLVED,
            TicketState.CLOSED,
        }
    ),
    TicketState.WAITING_ON_CUSTOMER: frozenset(
        {TicketState.OPEN, TicketState.RESOLVED, TicketState.CLOSED}
    ),
    TicketState.RESOLVED: frozenset({TicketState.OPEN, TicketState.CLOSED}),
    TicketState.CLOSED: frozenset(),
}


def next_priority(priority: str) -> str | None:
    """The priority one step up (``medium`` -> ``high``), ``None`` above ``urgent``."""
    index = PRIORITIES.index(priority)
    return PRIORITIES[index + 1] if index + 1 < len(PRIORITIES) else None


class SlaTarget(BaseModel):
    """How soon a ticket of one priority must get its first agent reply, and be resolved."""

    model_config = ConfigDict(extra="forbid")

    first_response_s: int = Field(gt=0)
    resolution_s: int = Field(gt=0)

    @property
    def first_response(self) -> timedelta:
        """The first-response target."""
        return timedelta(seconds=self.first_response_s)

    @property
    def resolution(self) -> timedelta:
        """The resolution target."""
        return timedelta(seconds=self.resolution_s)


# Common helpdesk defaults; a tenant overrides any of them (``tenants.ticket_sla``).
DEFAULT_SLA: dict[str, SlaTarget] = {
    "urgent": SlaTarget(first_response_s=1 * 3600, resolution_s=4 * 3600),
    "high": SlaTarget(first_response_s=4 * 3600, resolution_s=24 * 3600),
    "medium": SlaTarget(first_response_s=8 * 3600, resolution_s=48 * 3600),
    "low": SlaTarget(first_response_s=24 * 3600, resolution_s=72 * 3600),
}


def sla_policy(overrides: dict[str, Any] | None) -> dict[str, SlaTarget]:
    """The defaults with a tenant's overrides applied (``{"high": {"first_response_s": 60}}``).

    Raises:
        ValueError: an unknown priority or an invalid target.
    """
    policy = dict(DEFAULT_SLA)
    for priority, values in (overrides or {}).items():
        if priority not in PRIORITIES:
            raise ValueError(f"unknown priority {priority!r} in the SLA settings")
        policy[priority] = SlaTarget.model_validate(
            {**policy[priority].model_dump(), **dict(values)}
        )
    return policy


class TicketSnapshot(BaseModel):
    """The ticket as the workflow tracks it; carried through continue-as-new."""

    number: str
    state: TicketState
    priority: str
    assignee_id: UUID | None = None
    conversation: ConversationRef | None = None
    sla: dict[str, SlaTarget]
    auto_close_s: int
    opened_at: datetime | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_responded: bool = False
    # An SLA of an ``urgent`` ticket breached: recorded once, nothing higher to escalate to.
    first_response_breached: bool = False
    resolution_breached: bool = False
    resolved_at: datetime | None = None
    escalations: int = 0
    changes: int = 0


class TicketInput(BaseModel):
    """TicketWorkflow input; ``snapshot`` is set when continuing as new."""

    tenant_id: UUID
    ticket_id: UUID
    number: str
    snapshot: TicketSnapshot | None = None


class OpenTicketInput(BaseModel):
    """Input of ``open_ticket``: read the ticket and its tenant's SLA settings."""

    tenant_id: UUID
    ticket_id: UUID


class AssignTicket(BaseModel):
    """Update: give the ticket to an agent of the tenant."""

    model_config = ConfigDict(extra="forbid")

    by_user_id: UUID
    assignee_id: UUID


class AgentReply(BaseModel):
    """Update: an agent's answer, sent to the customer through the conversation."""

    model_config = ConfigDict(extra="forbid")

    by_user_id: UUID
    text: str = Field(min_length=1, max_length=4000)
    # Leave the ticket waiting for the customer's answer after this reply.
    wait_for_customer: bool = False


class ChangeState(BaseModel):
    """Update: an agent moves the ticket to another state."""

    model_config = ConfigDict(extra="forbid")

    by_user_id: UUID
    state: TicketState


class AddNote(BaseModel):
    """Update: an internal note, never sent to the customer."""

    model_config = ConfigDict(extra="forbid")

    by_user_id: UUID
    text: str = Field(min_length=1, max_length=4000)


class CustomerActivity(BaseModel):
    """Signal from the conversation: the customer wrote, sent photos, or rated."""

    message_id: UUID
    kind: Literal["message", "rating"] = "message"
    media_ids: list[str] = Field(default_factory=list)
    score: int | None = None


class TicketChange(BaseModel):
    """Input of ``apply_ticket_change``: one event, the new values, and what to tell whom.

    ``key`` (unique per ticket) makes the activity idempotent; ``at`` is workflow time.
    ``notify`` names the customer notice to store and send (``assigned``, ``agent_reply``,
    ``resolved``, ``reopened``); ``enforce_window`` refuses the change when the channel's
    24-hour customer-service window is closed (agent replies).
    """

    tenant_id: UUID
    ticket_id: UUID
    key: str
    kind: str
    actor: Literal["system", "customer", "agent"]
    at: datetime
    user_id: UUID | None = None
    text: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    state: TicketState | None = None
    priority: str | None = None
    assignee_id: UUID | None = None
    first_response_due: datetime | None = None
    resolution_due: datetime | None = None
    first_responded_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    escalations: int | None = None
    media_ids: list[str] = Field(default_factory=list)
    satisfaction: int | None = None
    notify: str | None = None
    enforce_window: bool = False


class TicketChangeResult(BaseModel):
    """Customer messages the change stored (to deliver), and the agent's display name."""

    outbound_ids: list[UUID] = Field(default_factory=list)
    applied: bool = True


class NotifyAgentsInput(BaseModel):
    """Input of ``notify_ticket_agents``: e-mail every active user of the tenant."""

    tenant_id: UUID
    ticket_id: UUID
    key: str
    template: str
    values: dict[str, str] = Field(default_factory=dict)


class TicketStatus(BaseModel):
    """What the ``status`` query and the agent API's updates return."""

    number: str
    state: TicketState
    priority: str
    assignee_id: UUID | None
    first_response_due: datetime | None
    resolution_due: datetime | None
    escalations: int
