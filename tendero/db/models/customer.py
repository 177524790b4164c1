"""Customers of a tenant, keyed by E.164 phone and/or WhatsApp business-scoped user id."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Customer(UUIDPk, Timestamped, Base):
    """A shop's customer. Phone is E.164 (``+15551234567``); ``wa_user_id`` is the BSUID.

    ``email`` is stored lower-cased. ``external_id`` is the connected store's customer id;
    ``external_updated_at`` the store's last change, so an older delivery never overwrites
    newer data.
    """

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "phone_e164"),
        UniqueConstraint("tenant_id", "external_id"),
        Index("ix_customers_tenant_id_email", "tenant_id", "email"),
        Index(
            "uq_customers_tenant_id_wa_user_id",
            "tenant_id",
            "wa_user_id",
            unique=True,
            postgresql_where="wa_user_id IS NOT NULL",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    wa_user_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    external_id: Mapped[str | None] = mapped_column(String(100))
    external_updated_at: Mapped[datetime | None]
