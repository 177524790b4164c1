"""Abandoned-cart recovery values passed between the trigger, the workflow and activities.

Ids, versions, times and small numbers only: no phone number, e-mail or cart content ever
enters the AbandonedCartWorkflow's history.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from tendero.domain.conversation import ConversationRef

StepChannel = Literal["chat", "email"]
StopReason = Literal[
    "checked_out",
    "emptied",
    "opted_out",
    "no_consent",
    "bought_elsewhere",
    "disabled",
    "cart_closed",
]
RecoveryState = Literal["waiting", "abandoned", "recovered", "stopped", "finished"]


class RecoveryStep(BaseModel):
    """One step of the drip: ``index`` 0 is the chat nudge, 1..3 the e-mails.

    ``after_s`` is measured from the cart's last change; ``discount_percent`` is 0 for a
    step without a code.
    """

    index: int = Field(ge=0, le=3)
    channel: StepChannel
    after_s: int = Field(gt=0)
    discount_percent: Decimal = Decimal(0)


class RecoveryInput(BaseModel):
    """What the workflow starts with: the cart and its version when the drip began."""

    tenant_id: UUID
    customer_id: UUID
    cart_id: UUID
    cart_version: int
    item_count: int


class CartChanged(BaseModel):
    """Signal ``cart_changed``: the cart is now at ``cart_version`` with ``item_count`` units.

    A signal for a version the workflow already saw is ignored (a retried trigger).
    """

    cart_version: int
    item_count: int


class RecoveryStop(BaseModel):
    """Payload of the stop signals ``checked_out``, ``emptied`` and ``opted_out``."""

    cart_version: int | None = None
    order_id: UUID | None = None


class StartRecoveryInput(BaseModel):
    """Create or refresh the ``cart_recoveries`` row and read the tenant's plan."""

    tenant_id: UUID
    customer_id: UUID
    cart_id: UUID
    cart_version: int
    changed_at: datetime
    workflow_id: str


class RecoveryPlan(BaseModel):
    """The tenant's schedule as the workflow runs it.

    ``sent`` lists the step indexes a previous run of this cart already sent: each step
    goes out at most once per cart.
    """

    enabled: bool
    steps: list[RecoveryStep]
    sent: list[int] = Field(default_factory=list)


class StepInput(BaseModel):
    """Decide in the database whether ``step`` may go out now, and send it.

    ``at`` is the workflow's time of the step (recorded as its time); ``changed_at`` the
    cart's last change as the workflow saw it; ``cart_version`` the version it expects.
    """

    tenant_id: UUID
    customer_id: UUID
    cart_id: UUID
    cart_version: int
    changed_at: datetime
    at: datetime
    step: RecoveryStep


class StepResult(BaseModel):
    """What a step did.

    ``outcome``: ``sent``; ``skipped`` (nothing to send on this channel: no e-mail address,
    the chat window closed); ``stop`` (``stop_reason`` says why; the row is already
    updated); ``changed`` (the cart moved on to ``cart_version`` without a signal: the
    workflow restarts its clock). ``outbound_ids`` are chat messages to deliver through
    ``conversation``.
    """

    outcome: Literal["sent", "skipped", "stop", "changed"]
    stop_reason: StopReason | None = None
    cart_version: int | None = None
    coupon_code: str | None = None
    conversation: ConversationRef | None = None
    outbound_ids: list[UUID] = Field(default_factory=list)


class FinishRecoveryInput(BaseModel):
    """End the drip in the database (a no-op when the row already ended)."""

    tenant_id: UUID
    cart_id: UUID
    status: Literal["stopped", "finished"]
    reason: StopReason | None = None
    at: datetime


class RecoveryOutcome(BaseModel):
    """How the workflow ended: the row's final status and the steps it sent."""

    status: RecoveryState
    reason: str | None = None
    steps_sent: list[int] = Field(default_factory=list)


class RecoveryProgress(BaseModel):
    """Query ``progress``: where the drip is."""

    cart_version: int
    changed_at: datetime | None
    steps_sent: list[int]
    stopping: str | None = None
