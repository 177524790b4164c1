"""Store test helpers: a fresh tenant per test."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.tenants import create_tenant
from tendero.db.models import Tenant

NewTenant = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def store_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> NewTenant:
    """Create and commit a tenant with a unique slug."""

    async def make(currency: str = "USD", **kwargs: object) -> Tenant:
        async with sessionmaker() as session:
            tenant = await create_tenant(
                session,
                slug=f"s-{uuid.uuid4().hex[:8]}",
                name="Store Shop",
                currency=currency,
                secret_key=b"k" * 32,
                **kwargs,
            )
            await session.commit()
            return tenant

    return make
