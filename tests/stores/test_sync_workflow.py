"""StoreSyncWorkflow end to end: a real worker, real Postgres, a fake store over HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import (
    Customer,
    Integration,
    Order,
    Product,
    ProductVariant,
    SyncCursor,
    SyncRun,
)
from tendero.domain.ids import sync_workflow_id
from tendero.domain.sync import SyncInput, SyncMode, SyncResult
from tendero.settings import Settings
from tendero.stores.integrations import connect
from tendero.stores.records import Resource
from tests.fakes.custom_backend import FakeCustomBackend
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.harness import Stack, running_stack
from tests.stores.conftest import NewTenant
from worker import build_worker
from workflows.store_sync import StoreSyncWorkflow


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        yield stack


async def _connect_custom(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    tenant_id: uuid.UUID,
    backend: FakeCustomBackend,
) -> uuid.UUID:
    async with sessions() as session, session.begin():
        integration = await connect(
            session,
            settings.keyring,
            tenant_id=tenant_id,
            kind="custom",
            name="Backend",
            credentials=backend.credentials,
            base_url=backend.url,
        )
        return integration.id


async def _sync(
    stack: Stack, tenant_id: uuid.UUID, integration_id: uuid.UUID, mode: SyncMode = SyncMode.AUTO
) -> SyncResult:
    return await stack.client.execute_workflow(
        StoreSyncWorkflow.run,
        SyncInput(
            integration_id=integration_id,
            tenant_id=tenant_id,
            mode=mode,
            trigger="test",
            page_size=50,
        ),
        id=sync_workflow_id(integration_id, "all") + f":{uuid.uuid4().hex[:6]}",
        task_queue=stack.settings.temporal_task_queue,
        result_type=SyncResult,
    )


async def _count(
    sessions: async_sessionmaker[AsyncSession],
    model: type[Product] | type[Order] | type[Customer],
    tenant_id: uuid.UUID,
) -> int:
    async with sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
        )
    return int(found or 0)


async def test_full_then_incremental_sync_of_a_custom_backend(
    stack: Stack, store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    with FakeCustomBackend() as backend:
        backend.seed(products=120, orders=70, categories=4)
        integration_id = await _connect_custom(stack.sessions, stack.settings, tenant.id, backend)

        first = await _sync(stack, tenant.id, integration_id)
        by_resource = {p.resource.value: p for p in first.resources}
        assert {
            k: (p.status, p.mode.value if p.mode else None, p.counts.synced)
            for k, p in by_resource.items()
        } == {
            "categories": ("completed", "full", 4),
            "products": ("completed", "full", 120),
            "customers": ("unsupported", "full", 0),
            "orders": ("completed", "full", 70),
        }
        assert by_resource["products"].counts.pages == 3  # 50 + 50 + 20
        assert await _count(stack.sessions, Product, tenant.id) == 120
        assert await _count(stack.sessions, Order, tenant.id) == 70
        customers = await _count(stack.sessions, Customer, tenant.id)
        # Taken from the orders (the contract has no customer list): the fake's 5 buyers.
        assert customers == 5

        later = datetime.now(UTC) + timedelta(minutes=10)
        backend.touch_product(1, later)
        backend.touch_order(2, later)
        second = await _sync(stack, tenant.id, integration_id)
        counts = {
            p.resource.value: (p.mode.value if p.mode else None, p.counts.synced)
            for p in second.resources
        }
        assert counts["products"] == ("incremental", 1)
        assert counts["orders"] == ("incremental", 1)
        assert await _count(stack.sessions, Product, tenant.id) == 120
        assert await _count(stack.sessions, Order, tenant.id) == 70
        assert await _count(stack.sessions, Customer, tenant.id) == customers

    async with stack.sessions() as session:
        runs = (
            await session.execute(
                select(SyncRun.resource, SyncRun.mode, SyncRun.status)
                .where(SyncRun.integration_id == integration_id)
                .order_by(SyncRun.created_at)
            )
        ).all()
        marks = dict(
            (
                await session.execute(
                    select(SyncCursor.resource, SyncCursor.high_water_mark).where(
                        SyncCursor.integration_id == integration_id
                    )
                )
            ).all()
        )
    assert [tuple(r) for r in runs] == [
        ("categories", "full", "completed"),
        ("products", "full", "completed"),
        ("customers", "full", "completed"),
        ("orders", "full", "completed"),
        ("categories", "incremental", "completed"),
        ("products", "incremental", "completed"),
        ("customers", "full", "completed"),
        ("orders", "incremental", "completed"),
    ]
    assert marks["products"] == later.replace(microsecond=0) or marks[
        "products"
    ] >= later - timedelta(seconds=1)


async def test_refused_credentials_fail_the_sync_and_flag_the_integration(
    stack: Stack, store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    with FakeCustomBackend(password="right") as backend:
        backend.seed(products=5, categories=1)
        async with stack.sessions() as session, session.begin():
            integration = await connect(
                session,
                stack.settings.keyring,
                tenant_id=tenant.id,
                kind="custom",
                name="Backend",
                credentials=backend.credentials.model_copy(update={"password": "wrong"}),
                base_url=backend.url,
            )
        result = await _sync(stack, tenant.id, integration.id)
    statuses = [(p.resource.value, p.status, p.error) for p in result.resources]
    assert statuses == [
        ("categories", "failed", "store_auth"),
        ("products", "pending", None),
        ("customers", "pending", None),
        ("orders", "pending", None),
    ]
    async with stack.sessions() as session:
        row = await session.get_one(Integration, integration.id)
        products = await session.scalar(
            select(func.count())
            .select_from(ProductVariant)
            .where(ProductVariant.tenant_id == tenant.id)
        )
    assert (row.status, row.last_error, products) == ("auth_failed", "store_auth", 0)


async def test_a_worker_killed_mid_sync_is_followed_by_one_that_resumes_from_the_cursor(
    stack: Stack, store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    with FakeCustomBackend() as backend:
        backend.seed(products=150, categories=2)
        # 10 requests a second: the scan of 15 pages takes long enough to be interrupted.
        backend.rate_limit(10, per_s=1.0)
        integration_id = await _connect_custom(stack.sessions, stack.settings, tenant.id, backend)
        handle = await stack.client.start_workflow(
            StoreSyncWorkflow.run,
            SyncInput(
                integration_id=integration_id,
                tenant_id=tenant.id,
                resource=Resource.PRODUCTS,
                mode=SyncMode.FULL,
                trigger="test",
                page_size=10,
            ),
            id=sync_workflow_id(integration_id, "products") + f":{uuid.uuid4().hex[:6]}",
            task_queue=stack.settings.temporal_task_queue,
            result_type=SyncResult,
        )
        # Wait until some pages are committed, then take the worker away mid-scan.
        for _ in range(400):
            async with stack.sessions() as session:
                steps = await session.scalar(
                    select(SyncRun.steps).where(SyncRun.integration_id == integration_id)
                )
            if steps and steps >= 3:
                break
            await asyncio.sleep(0.05)
        assert steps is not None and 3 <= steps < 15
        assert stack.worker is not None
        await stack.worker.shutdown()

        async with httpx.AsyncClient(timeout=10.0) as http:
            replacement = build_worker(
                stack.client,
                sessions=stack.sessions,
                graph_http=http,
                settings=stack.settings,
                store_http=http,
            )
            async with replacement:
                result = await handle.result()
        assert backend.violations == 0

    (progress,) = result.resources
    assert (progress.status, progress.counts.synced, progress.counts.pages) == (
        "completed",
        150,
        15,
    )
    async with stack.sessions() as session:
        ids = (
            (
                await session.execute(
                    select(Product.external_id).where(Product.tenant_id == tenant.id)
                )
            )
            .scalars()
            .all()
        )
        runs = await session.scalar(
            select(func.count())
            .select_from(SyncRun)
            .where(SyncRun.integration_id == integration_id)
        )
    assert sorted(ids, key=int) == [str(i) for i in range(1, 151)]  # no gaps, no duplicates
    assert runs == 1


async def test_a_webhook_the_store_disabled_is_found_and_registered_again(
    stack: Stack, store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    async with FakeWooCommerce() as woo:
        woo.generate(products=3, customers=2, orders=2)
        credentials = woo.credentials(webhook_secret="whsec_ours")
        async with stack.sessions() as session, session.begin():
            integration = await connect(
                session,
                stack.settings.keyring,
                tenant_id=tenant.id,
                kind="woocommerce",
                name="Woo",
                credentials=credentials,
                base_url=woo.url,
            )
        first = await _sync(stack, tenant.id, integration.id)
        assert first.ok
        ours = [h for h in woo.webhooks.values() if h["delivery_url"].endswith(str(integration.id))]
        assert len(ours) == 9 and all(h["status"] == "active" for h in ours)

        woo.disable_webhook(ours[0]["id"])  # 5 failed deliveries, as WooCommerce would
        second = await _sync(stack, tenant.id, integration.id)
        assert second.ok
        after = [
            h for h in woo.webhooks.values() if h["delivery_url"].endswith(str(integration.id))
        ]
        assert (len(after), woo.violations) == (9, [])
        assert all(h["status"] == "active" for h in after)

    async with stack.sessions() as session:
        row = await session.get_one(Integration, integration.id)
    assert (row.webhooks_disabled, len(row.webhooks)) == (1, 9)
    assert row.webhooks_checked_at is not None
