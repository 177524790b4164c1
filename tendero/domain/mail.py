"""Input and result of the ``send_email`` activity (safe in workflow history)."""

from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field


class SendEmailInput(BaseModel):
    """One mail to send at most once.

    Attributes:
        tenant_id: the shop.
        key: idempotency key, unique per tenant (derive it from the workflow's business key).
        to: the recipient's address.
        template: template name (``ticket_created``, ``ticket_escalated``...).
        language: template language; unknown languages fall back to English.
        values: the template's values (no secrets: this model lands in workflow history).
    """

    tenant_id: UUID
    key: str
    to: str
    template: str
    language: str = "en"
    values: dict[str, str] = Field(default_factory=dict)


class SendEmailResult(BaseModel):
    """``sent``, ``already_sent`` or ``refused``, and the mail's ``Message-ID``."""

    status: str
    message_id: str
