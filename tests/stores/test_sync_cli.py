"""``tendero sync --integration ID``: starts the sync and follows it to the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from typer.testing import CliRunner

from tendero.cli import app
from tendero.db.models import SyncRun
from tendero.settings import get_settings
from tendero.stores.integrations import connect
from tests.fakes.custom_backend import FakeCustomBackend
from tests.harness import Stack, running_stack
from tests.stores.conftest import NewTenant


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        get_settings.cache_clear()
        for key, value in {
            "DATABASE_URL": database_url,
            "TEMPORAL_ADDRESS": temporal_env.client.service_client.config.target_host,
            "TEMPORAL_TASK_QUEUE": stack.settings.temporal_task_queue,
            "TENDERO_SECRET_KEY": stack.settings.tendero_secret_key.get_secret_value(),
        }.items():
            monkeypatch.setenv(key, value)
        yield stack
        get_settings.cache_clear()


async def test_sync_command_runs_the_sync_and_reports_each_resource(
    stack: Stack, store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    with FakeCustomBackend() as backend:
        backend.seed(products=30, orders=12, categories=3)
        async with stack.sessions() as session, session.begin():
            integration = await connect(
                session,
                stack.settings.keyring,
                tenant_id=tenant.id,
                kind="custom",
                name="Backend",
                credentials=backend.credentials,
                base_url=backend.url,
            )
        runner = CliRunner()
        # The command runs its own event loop: give it a thread, as a terminal would.
        result = await asyncio.to_thread(
            runner.invoke, app, ["sync", "--integration", str(integration.id)]
        )
    assert result.exit_code == 0, result.output
    assert "Syncing Backend (custom)" in result.output
    for line in ("categories", "products", "customers", "orders"):
        assert line in result.output
    async with stack.sessions() as session:
        runs = (
            await session.execute(
                select(SyncRun.resource, SyncRun.status, SyncRun.synced)
                .where(SyncRun.integration_id == integration.id)
                .order_by(SyncRun.created_at)
            )
        ).all()
    assert [tuple(r) for r in runs] == [
        ("categories", "completed", 3),
        ("products", "completed", 30),
        ("customers", "completed", 0),
        ("orders", "completed", 12),
    ]

    unknown = await asyncio.to_thread(runner.invoke, app, ["sync", "--integration", str(tenant.id)])
    assert unknown.exit_code == 1 and "No connected integration" in unknown.output
