"""Checkout value objects: choices, the server-computed summary, confirmation, outcome."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field


class Fulfilment(StrEnum):
    """How the order reaches the customer."""

    DELIVERY = "delivery"
    PICKUP = "pickup"


class CheckoutStep(StrEnum):
    """Where a checkout is; the last five are terminal or near-terminal."""

    FULFILMENT = "fulfilment"
    ADDRESS = "address"
    PAYMENT = "payment"
    CONFIRMATION = "confirmation"
    PLACING = "placing"
    DONE = "done"
    EXPIRED = "expired"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True once the checkout can no longer take input."""
        return self in {
            CheckoutStep.DONE,
            CheckoutStep.EXPIRED,
            CheckoutStep.FAILED,
            CheckoutStep.CANCELLED,
        }


class Address(BaseModel):
    """A delivery address: typed text, a shared WhatsApp location, or both."""

    model_config = ConfigDict(frozen=True)

    text: str | None = Field(default=None, max_length=500)
    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None

    def describe(self) -> str:
        """One line for summaries: the text, else the place name, else coordinates."""
        if self.text:
            return self.text
        if self.name:
            return self.name
        return f"{self.latitude:.5f}, {self.longitude:.5f}"


class CheckoutChoices(BaseModel):
    """What the customer has chosen so far (all optional until the summary)."""

    fulfilment: Fulfilment | None = None
    address: Address | None = None
    payment_method: str | None = None


class CheckoutChoice(BaseModel):
    """One answer to the current checkout step, sent by the conversation to the checkout."""

    step: CheckoutStep
    fulfilment: Fulfilment | None = None
    address: Address | None = None
    payment_method: str | None = None


class SummaryLine(BaseModel):
    """One priced line of a summary; prices are the server's, at summary time."""

    variant_id: UUID
    product_name: str
    variant_label: str | None = None
    sku: str | None = None
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class OrderSummary(BaseModel):
    """The summary the customer confirms: every amount computed on the server.

    ``summary_id`` is a hash of everything shown, so a CONFIRM is bound to exactly this
    summary; ``cart_version`` binds it to the cart as it was.

    ``discount`` (subtracted from the subtotal before tax, never more than the subtotal)
    comes from the coupon ``discount_code``; ``discount_refused`` says why a code applied to
    the cart was not honoured (``used``, ``expired``, ``unknown``, ``other_cart``), so the
    customer is told. All three default to "no discount" (older histories replay).
    """

    summary_id: str
    cart_id: UUID
    cart_version: int
    currency: str
    lines: list[SummaryLine]
    subtotal: Decimal
    delivery_fee: Decimal
    tax_rate: Decimal
    tax: Decimal
    total: Decimal
    fulfilment: Fulfilment
    address: Address | None = None
    payment_method: str
    discount: Decimal = Decimal(0)
    discount_code: str | None = None
    discount_refused: str | None = None


class CheckoutStatus(BaseModel):
    """A checkout's state as its conversation knows it (sent on every step change).

    ``summary_sent_at`` is when the current summary was delivered: a CONFIRM received
    before it answers an older summary.
    """

    workflow_id: str
    step: CheckoutStep
    summary_id: str | None = None
    summary_sent_at: datetime | None = None
    cart_version: int
    order_number: str | None = None


class ConfirmRequest(BaseModel):
    """The customer's CONFIRM, bound to the summary and cart version it answers."""

    summary_id: str
    cart_version: int


class ConfirmAck(BaseModel):
    """Returned by an accepted confirmation update."""

    summary_id: str


class PlacedOrder(BaseModel):
    """An order written by a store connector (``created`` False: it already existed)."""

    order_id: UUID
    number: str
    total: Decimal
    currency: str
    created: bool


class CheckoutOutcome(BaseModel):
    """What a CheckoutWorkflow ended with."""

    step: CheckoutStep
    order: PlacedOrder | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
