"""VerificationWorkflow messages: ids and code hashes only, never a code or an address."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel

from tendero.domain.conversation import ConversationRef


class VerificationOutcome(StrEnum):
    """How a verification (or one step of it) ended; each has its own reply."""

    VERIFIED = "verified"
    MISMATCH = "mismatch"
    WRONG_CODE = "wrong_code"
    EXPIRED = "expired"
    LOCKED = "locked"
    SUPERSEDED = "superseded"
    MAIL_FAILED = "mail_failed"


class VerificationInput(BaseModel):
    """Start of a VerificationWorkflow run: which request (a ``verifications`` row)."""

    conversation: ConversationRef
    verification_id: UUID
    level: str
    code_ttl_s: int = 300
    max_attempts: int = 5


class IssueCodeInput(BaseModel):
    """Input of ``send_verification_code``."""

    conversation: ConversationRef
    verification_id: UUID


class IssueCodeResult(BaseModel):
    """The hash of the code that was e-mailed (or of one that was not: unknown address).

    ``sent_at`` is when the code became valid; ``mail_failed`` means the mail server
    refused or is not configured, so no code can arrive.
    """

    code_hash: str
    sent_at: datetime
    mail_failed: bool = False


class CodeSubmission(BaseModel):
    """Signal: the customer typed a code; only its hash travels."""

    verification_id: UUID
    code_hash: str
    message_id: UUID


class SimpleCheckInput(BaseModel):
    """Input of ``check_order_email``."""

    conversation: ConversationRef
    verification_id: UUID


class OutcomeInput(BaseModel):
    """Input of ``record_verification_outcome``: store the result and the reply to send.

    ``key`` makes the activity idempotent (one outcome per key); ``at`` is workflow time.
    """

    conversation: ConversationRef
    verification_id: UUID
    outcome: VerificationOutcome
    attempts: int = 0
    attempts_left: int = 0
    key: str
    at: datetime
    # False for endings the customer did not wait for (a code expiring unused).
    reply: bool = True


class OutcomeResult(BaseModel):
    """Replies stored for the customer, to deliver."""

    outbound_ids: list[UUID] = []
