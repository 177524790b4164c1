from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tests.harness import Customer, Stack, running_stack
from tests.shop import Shop, make_shop


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env.client, sessionmaker, database_url) as running:
        yield running


@pytest.fixture
async def shop(sessionmaker: async_sessionmaker[AsyncSession]) -> Shop:
    return await make_shop(sessionmaker)


def new_digits() -> str:
    # A valid US number in the 555-01xx fictional range, unique per test.
    return f"1415555{uuid.uuid4().int % 10000:04d}"


@pytest.fixture
def customer(stack: Stack, shop: Shop) -> Customer:
    return Customer(stack, shop.phone_number_id, new_digits())
