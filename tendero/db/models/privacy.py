"""Privacy: consents given or withdrawn, and export/delete requests with their outcome."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Consent(UUIDPk, Timestamped, Base):
    """One consent event: ``granted`` True (given) or False (withdrawn) for a ``purpose``.

    The latest row per customer and purpose is the customer's current choice. ``source`` is
    where it came from: ``chat`` (the customer wrote it), ``unsubscribe_link``, ``api``
    (an agent or an API client), ``store`` (the connected store's marketing consent).
    ``recorded_at`` is when the customer made the choice (not when we learned it).
    """

    __tablename__ = "consents"
    __table_args__ = (
        Index(
            "ix_consents_tenant_id_customer_id_purpose",
            "tenant_id",
            "customer_id",
            "purpose",
            "recorded_at",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(24), server_default="marketing")
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(24))
    recorded_at: Mapped[datetime]


class PrivacyRequest(UUIDPk, Timestamped, Base):
    """An export or a deletion of one customer's data, run by a privacy workflow.

    ``kind``: ``export`` or ``delete``. ``status``: ``pending`` -> ``running`` -> ``done`` or
    ``failed``. ``source``: ``api`` or ``shopify`` (a compliance webhook). ``document`` is the
    export (JSON); ``outcome`` what a deletion did (rows per table, workflows ended and
    deleted). The customer is referred to by id only: after a deletion this row is the record
    that it was done, and holds nothing that identifies the person.
    """

    __tablename__ = "privacy_requests"
    __table_args__ = (Index("ix_privacy_requests_tenant_id_created_at", "tenant_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(8), server_default="pending")
    source: Mapped[str] = mapped_column(String(16), server_default="api")
    requested_by: Mapped[str | None] = mapped_column(String(100))
    workflow_id: Mapped[str] = mapped_column(String(300))
    document: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outcome: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    error: Mapped[str | None] = mapped_column(String(300))
    completed_at: Mapped[datetime | None]


class RateLimitHit(Base):
    """Hits of one rate-limit key in one fixed window (``tendero.ratelimit``).

    ``key`` names the limit and its subject by internal ids only (``inbound:customer:{id}``),
    never a phone number or an address. Rows of past windows are deleted by retention.
    ``notified`` marks that the subject was already told to slow down in this window.
    """

    __tablename__ = "rate_limit_hits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, server_default="0")
    notified: Mapped[bool] = mapped_column(Boolean, server_default="false")
