"""Human-readable per-tenant numbers (``ORD-2026-00001``, ``TCK-2026-00001``)."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import OrderNumberCounter, TicketNumberCounter


async def next_number(
    session: AsyncSession,
    counter: type[OrderNumberCounter] | type[TicketNumberCounter],
    *,
    tenant_id: uuid.UUID,
    prefix: str,
    year: int,
) -> str:
    """Allocate the tenant's next number for ``year`` from ``counter``'s table.

    The counter row is upserted and incremented atomically, so concurrent writers never
    share a number; a rolled-back transaction gives its number back.

    Returns:
        ``{prefix}-{year}-{n:05d}``.
    """
    stmt = (
        insert(counter)
        .values(tenant_id=tenant_id, year=year, last_value=1)
        .on_conflict_do_update(
            index_elements=["tenant_id", "year"],
            set_={"last_value": counter.last_value + 1},
        )
        .returning(counter.last_value)
    )
    value = (await session.execute(stmt)).scalar_one()
    return f"{prefix}-{year}-{value:05d}"
