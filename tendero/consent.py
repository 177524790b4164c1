"""Consent: what a customer agreed to, with its source and time (latest event wins).

Marketing consent gates the abandoned-cart drip; a withdrawal ("stop", the unsubscribe
link) stops it at once. Every change is a new ``consents`` row, so the history of choices is
kept for the shop's records and exported with the customer's data.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.base import utcnow
from tendero.db.models import Consent

Purpose = Literal["marketing"]
Source = Literal["chat", "unsubscribe_link", "api", "store"]
PURPOSES: tuple[Purpose, ...] = ("marketing",)
SOURCES: tuple[Source, ...] = ("chat", "unsubscribe_link", "api", "store")


async def record_consent(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    granted: bool,
    source: Source,
    purpose: Purpose = "marketing",
    recorded_at: datetime | None = None,
) -> Consent:
    """Add one consent event; the caller commits.

    Args:
        session: an open session (inside the caller's transaction).
        tenant_id: the customer's shop.
        customer_id: the customer.
        granted: True when given, False when withdrawn.
        source: where the choice was made (see ``SOURCES``).
        purpose: what it is for (only ``marketing`` today).
        recorded_at: when the customer chose (aware UTC); now when omitted.

    Returns:
        The new row (flushed, so it has its id).

    Raises:
        ValueError: ``recorded_at`` is naive.
    """
    at = recorded_at or utcnow()
    if at.tzinfo is None:
        raise ValueError("recorded_at must be timezone-aware")
    row = Consent(
        tenant_id=tenant_id,
        customer_id=customer_id,
        purpose=purpose,
        granted=granted,
        source=source,
        recorded_at=at,
    )
    session.add(row)
    await session.flush()
    return row


async def current_consent(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    purpose: Purpose = "marketing",
) -> Consent | None:
    """The customer's latest consent event for ``purpose``, or ``None`` if never asked."""
    return (
        await session.execute(
            select(Consent)
            .where(
                Consent.tenant_id == tenant_id,
                Consent.customer_id == customer_id,
                Consent.purpose == purpose,
            )
            .order_by(Consent.recorded_at.desc(), Consent.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def has_consent(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    purpose: Purpose = "marketing",
) -> bool:
    """True when the latest event for ``purpose`` grants it (no event: no consent)."""
    latest = await current_consent(
        session, tenant_id=tenant_id, customer_id=customer_id, purpose=purpose
    )
    return latest is not None and latest.granted
