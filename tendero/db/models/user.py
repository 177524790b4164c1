"""People of a shop who use the agent API: its admins and support agents."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class User(UUIDPk, Timestamped, Base):
    """A shop's user of the agent API (``/api/v2``), scoped to one tenant.

    ``role`` is ``admin`` (everything in the tenant, users and store configuration) or
    ``agent`` (tickets, orders, customers, catalog). ``email`` is stored lower-cased and is
    the login; ``password_hash`` is a scrypt hash (``tendero.users``). ``token_version``
    moves forward to invalidate every token issued before (password change, deactivation).
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, server_default="true")
    token_version: Mapped[int] = mapped_column(server_default="0")
    last_login_at: Mapped[datetime | None]
