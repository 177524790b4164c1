"""Admin API tests: helpers shared by the modules of this package."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.tenants import create_tenant
from tendero.db.models import Tenant
from tests.harness import SECRET_KEY, Stack

ADMIN = {"Authorization": "Bearer dev-admin-token"}


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def new_tenant(sessions: async_sessionmaker[AsyncSession], currency: str = "USD") -> Tenant:
    """Create and commit a tenant with a unique slug."""
    async with sessions() as session:
        tenant = await create_tenant(
            session,
            slug=f"api-{uuid.uuid4().hex[:8]}",
            name="API Shop",
            currency=currency,
            secret_key=SECRET_KEY,
        )
        await session.commit()
        return tenant


async def new_key(stack: Stack, tenant: Tenant, role: str, name: str | None = None) -> str:
    """A tenant API key with ``role``, created through the API with the install token."""
    answer = await stack.http.post(
        f"/api/tenants/{tenant.slug}/api-keys",
        json={"name": name or f"{role} key", "role": role},
        headers=ADMIN,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["key"])
