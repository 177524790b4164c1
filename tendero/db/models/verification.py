"""Identity verifications of a conversation's customer, by e-mail."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Verification(UUIDPk, Timestamped, Base):
    """One verification request, run by a VerificationWorkflow.

    ``level``: ``simple`` (an e-mail and an order number that belong together) or ``otp``
    (a 6-digit code e-mailed to a known customer). ``status``: ``pending`` -> ``code_sent``
    (otp) -> ``verified``; or ``mismatch`` (simple), ``expired``, ``locked`` (too many wrong
    codes, until ``locked_until``) or ``superseded`` (a newer request replaced it).
    ``code_hash`` is the HMAC of the code (``tendero.identity``), never the code.
    ``verified_until`` bounds what the verification unlocks. ``email`` is lower-cased;
    requests for unknown addresses are recorded exactly like known ones, so the rate limit
    and every answer are the same for both.
    """

    __tablename__ = "verifications"
    __table_args__ = (
        Index("ix_verifications_tenant_id_email_created_at", "tenant_id", "email", "created_at"),
        Index("ix_verifications_conversation_id_created_at", "conversation_id", "created_at"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    level: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    order_number: Mapped[str | None] = mapped_column(String(40))
    purpose: Mapped[str] = mapped_column(String(24), server_default="orders")
    workflow_id: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    verified_until: Mapped[datetime | None]
