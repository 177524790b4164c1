"""Inputs and results of activities (one pydantic model each, safe in workflow history)."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from tendero.domain.checkout import CheckoutChoices, OrderSummary, PlacedOrder
from tendero.domain.conversation import ConversationRef


class DeliverInput(BaseModel):
    """Stored outbound messages to send, in order."""

    conversation: ConversationRef
    outbound_ids: list[UUID]


class DeliverResult(BaseModel):
    """How many were sent now, were already sent, or failed for good."""

    sent: int = 0
    already_sent: int = 0
    failed: int = 0


class SummaryInput(BaseModel):
    """Price the cart for the customer's choices."""

    conversation: ConversationRef
    cart_id: UUID
    choices: CheckoutChoices


class SummaryResult(BaseModel):
    """A summary, or why there is none (``problem``; ``unavailable`` names sold-out lines).

    ``confirm_ttl_s`` is the tenant's confirmation window (or the global default).
    ``payment_methods`` are the tenant's, so the workflow can skip a one-option question.
    """

    summary: OrderSummary | None = None
    problem: Literal["empty", "out_of_stock", "cart_closed"] | None = None
    unavailable: list[str] = Field(default_factory=list)
    confirm_ttl_s: int
    payment_methods: list[str]
    cart_version: int


CheckoutMessageKind = Literal[
    "ask_fulfilment",
    "ask_address",
    "ask_payment",
    "summary",
    "expired",
    "placed",
    "out_of_stock",
    "prices_changed",
    "cart_changed",
    "cancelled",
    "empty",
    "timed_out",
    "error",
]


class CheckoutMessageInput(BaseModel):
    """A checkout message to compose and store under ``key`` (idempotent)."""

    conversation: ConversationRef
    kind: CheckoutMessageKind
    key: str
    summary: OrderSummary | None = None
    order: PlacedOrder | None = None
    unavailable: list[str] = Field(default_factory=list)
    confirm_ttl_s: int = 0


class PlaceOrderInput(BaseModel):
    """Create the order for a confirmed summary; ``idempotency_key`` is the checkout's ID."""

    conversation: ConversationRef
    summary: OrderSummary
    idempotency_key: str


class ConfirmInput(BaseModel):
    """Deliver the customer's CONFIRM to a checkout (an update only a client can send)."""

    conversation: ConversationRef
    message_id: UUID
    workflow_id: str
    summary_id: str
    cart_version: int


class ConfirmResult(BaseModel):
    """``accepted``, or the reason it was refused, with the reply already stored."""

    outcome: Literal["accepted", "expired", "stale", "not_waiting"]
    outbound_ids: list[UUID] = Field(default_factory=list)
