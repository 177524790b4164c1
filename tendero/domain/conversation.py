"""Conversation value objects passed between the API, workflows and activities."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from tendero.domain.checkout import CheckoutChoice, CheckoutChoices, CheckoutStatus


class Owner(StrEnum):
    """Who answers the conversation."""

    BOT = "bot"
    WAITING_FOR_HUMAN = "waiting_for_human"
    HUMAN = "human"
    CLOSED = "closed"


class ConversationRef(BaseModel):
    """The ids that identify a conversation (no personal data: safe in workflow history)."""

    tenant_id: UUID
    customer_id: UUID
    conversation_id: UUID
    channel: str = "whatsapp"


class InboundSignal(BaseModel):
    """Signal payload for one recorded inbound message; its content stays in Postgres.

    Attributes:
        message_id: the ``messages`` row.
        received_at: when the API recorded it (aware UTC); the burst-merge window counts
            from it.
        kind: the message's kind (``text``, ``interactive``...). Only ``text`` messages
            merge with their neighbours into one turn; ``None`` (signals recorded before
            burst merging) never merges.
        throttled: the message is over a rate limit and the first such of its window: the
            conversation answers it with one slow-down notice, never with the engine or the
            model (``tendero.ratelimit``). Later throttled messages are not signalled.
    """

    message_id: UUID
    received_at: datetime
    kind: str | None = None
    throttled: bool = False


class StartCheckout(BaseModel):
    """Start (or resume) the checkout of a cart version."""

    kind: Literal["start_checkout"] = "start_checkout"
    cart_id: UUID
    cart_version: int
    prefill: CheckoutChoices = Field(default_factory=CheckoutChoices)


class ProvideCheckoutChoice(BaseModel):
    """Pass the customer's answer to the running checkout."""

    kind: Literal["checkout_choice"] = "checkout_choice"
    workflow_id: str
    choice: CheckoutChoice


class ConfirmCheckout(BaseModel):
    """The customer typed CONFIRM for this summary and cart version."""

    kind: Literal["confirm_checkout"] = "confirm_checkout"
    workflow_id: str
    summary_id: str
    cart_version: int


class RefreshCheckout(BaseModel):
    """The cart changed: recompute and show a new summary."""

    kind: Literal["refresh_checkout"] = "refresh_checkout"
    workflow_id: str
    cart_version: int


class CancelCheckout(BaseModel):
    """Stop the running checkout."""

    kind: Literal["cancel_checkout"] = "cancel_checkout"
    workflow_id: str


class HandOff(BaseModel):
    """The customer asked for a person: the conversation waits for a human."""

    kind: Literal["hand_off"] = "hand_off"


class StartVerification(BaseModel):
    """Run a VerificationWorkflow for a recorded request (a ``verifications`` row)."""

    kind: Literal["start_verification"] = "start_verification"
    verification_id: UUID
    level: str
    code_ttl_s: int
    max_attempts: int


class SubmitVerificationCode(BaseModel):
    """The customer typed a code: pass its keyed hash (never the code) to the verification."""

    kind: Literal["submit_verification_code"] = "submit_verification_code"
    verification_id: UUID
    code_hash: str
    message_id: UUID


class StartTicket(BaseModel):
    """Run the TicketWorkflow of a ticket just recorded."""

    kind: Literal["start_ticket"] = "start_ticket"
    ticket_id: UUID
    number: str


class TicketCustomerActivity(BaseModel):
    """Tell a ticket's workflow the customer wrote, sent photos or rated it."""

    kind: Literal["ticket_activity"] = "ticket_activity"
    number: str
    message_id: UUID
    activity: Literal["message", "rating"] = "message"
    media_ids: list[str] = Field(default_factory=list)
    score: int | None = None


Command = Annotated[
    StartCheckout
    | ProvideCheckoutChoice
    | ConfirmCheckout
    | RefreshCheckout
    | CancelCheckout
    | HandOff
    | StartVerification
    | SubmitVerificationCode
    | StartTicket
    | TicketCustomerActivity,
    Field(discriminator="kind"),
]


class TurnMode(StrEnum):
    """How the turn activity treats a message.

    ``guided``: the guided engine answers (histories recorded before the assistant).
    ``route``: interactive replies, checkout inputs and keywords go to the guided engine;
    other text goes to the assistant when a model is configured (``TurnResult.agent``).
    ``fallback``: the assistant failed; the guided engine answers and says so politely
    when it cannot help.
    """

    GUIDED = "guided"
    ROUTE = "route"
    FALLBACK = "fallback"


class TurnInput(BaseModel):
    """Input of the turn activity: which message, and the checkout the conversation knows."""

    conversation: ConversationRef
    message_id: UUID
    checkout: CheckoutStatus | None = None
    mode: TurnMode = TurnMode.GUIDED
    # A burst: earlier text messages (oldest first) answered together with ``message_id``,
    # their texts joined with newlines; each stays in the transcript as it was written.
    merged_message_ids: list[UUID] = Field(default_factory=list)


class TurnResult(BaseModel):
    """What one turn decided: replies to deliver (already stored) and commands to apply."""

    outbound_ids: list[UUID] = Field(default_factory=list)
    commands: list[Command] = Field(default_factory=list)
    stage: str = "browsing"
    agent: bool = False
    # Who owns the conversation after the turn (recorded in Postgres); None in guided mode.
    owner: Owner | None = None


class ConversationInput(BaseModel):
    """ConversationWorkflow input, also its state across continue-as-new."""

    conversation: ConversationRef
    pending: list[InboundSignal] = Field(default_factory=list)
    seen_message_ids: list[UUID] = Field(default_factory=list)
    checkout: CheckoutStatus | None = None
    owner: Owner = Owner.BOT
    stage: str = "new"
    turns: int = 0
    idle_close_s: int = 24 * 60 * 60
    # Continue as new after this many turns even if Temporal does not suggest it yet, so a
    # long chat never drags a large history around (each turn is about a dozen events).
    turns_per_run: int = 200
    # Text messages arriving within this many milliseconds of the previous one are one turn
    # (BURST_MERGE_WINDOW_MS); 0 merges only messages already waiting when a turn starts.
    burst_merge_window_ms: int = 0
