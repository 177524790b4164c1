"""Declarative base, naming convention and shared column types."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from sqlalchemy import DateTime, MetaData, Numeric, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Money columns: 20 digits, 3 places (enough for any ISO 4217 minor unit).
MoneyAmount = Annotated[Decimal, mapped_column(Numeric(20, 3))]
Currency = Annotated[str, mapped_column(String(3))]


def utcnow() -> datetime:
    """Aware UTC now (database defaults use ``now()`` on the server)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Base of every table; ``metadata`` carries the constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class UUIDPk:
    """Mixin: a client-generated UUID primary key."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class Timestamped:
    """Mixin: ``created_at`` set by the database."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
