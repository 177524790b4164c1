"""Integration admin API end to end: real Postgres, real Temporal and worker, fake stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import (
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
    WorkflowExecutionStatus,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Integration, Order, Product, SyncRun
from tendero.domain.ids import sync_schedule_id, sync_workflow_id
from tendero.domain.sync import SyncResult
from tests.api import ADMIN, bearer, new_key, new_tenant
from tests.fakes.custom_backend import LEAKY_MESSAGE, FakeCustomBackend
from tests.fakes.woocommerce_server import FakeWooCommerce
from tests.harness import Stack, running_stack

PUBLIC_URL = "https://tendero.test"
INTERVAL_S = 86_400


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        tendero_public_url=PUBLIC_URL,
        # Interval schedules fire on epoch-aligned ticks: a day keeps them out of the way.
        store_sync_interval_s=INTERVAL_S,
    ) as running:
        yield running


@pytest.fixture
def backend() -> AsyncIterator[FakeCustomBackend]:
    with FakeCustomBackend() as server:
        server.seed(products=120, orders=70, categories=4)
        yield server


def _custom_body(backend: FakeCustomBackend, **overrides: Any) -> dict[str, Any]:
    return {
        "name": "Main backend",
        "base_url": backend.url,
        "username": backend.username,
        "password": backend.password,
    } | overrides


async def _connect_custom(
    stack: Stack, slug: str, backend: FakeCustomBackend, headers: dict[str, str]
) -> dict[str, Any]:
    answer = await stack.http.post(
        f"/api/tenants/{slug}/integrations/custom",
        json=_custom_body(backend),
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def _wait(stack: Stack, workflow_id: str) -> SyncResult:
    handle = stack.client.get_workflow_handle(workflow_id, result_type=SyncResult)
    result: SyncResult = await handle.result()
    return result


def _private_routes(slug: str, integration_id: uuid.UUID, run_id: uuid.UUID) -> list[tuple]:
    base = f"/api/tenants/{slug}/integrations"
    one = f"{base}/{integration_id}"
    return [
        ("GET", base, None),
        (
            "POST",
            f"{base}/custom",
            {"name": "x", "base_url": "http://x.test", "username": "u", "password": "p"},
        ),
        (
            "POST",
            f"{base}/woocommerce",
            {
                "name": "x",
                "base_url": "http://x.test",
                "consumer_key": "ck",
                "consumer_secret": "cs",
            },
        ),
        (
            "POST",
            f"{base}/shopify/token",
            {"shop_domain": "a.myshopify.com", "access_token": "shpat_x"},
        ),
        ("POST", f"{base}/shopify/install", {"shop_domain": "a.myshopify.com"}),
        ("GET", one, None),
        ("PATCH", one, {"name": "y"}),
        ("DELETE", one, None),
        ("POST", f"{one}/test", None),
        ("POST", f"{one}/syncs", {"resource": "all"}),
        ("GET", f"{one}/syncs", None),
        ("GET", f"{one}/syncs/{run_id}", None),
        ("GET", f"{one}/sync", None),
        ("GET", f"/api/tenants/{slug}/api-keys", None),
        ("POST", f"/api/tenants/{slug}/api-keys", {"name": "k", "role": "viewer"}),
        ("DELETE", f"/api/tenants/{slug}/api-keys/{uuid.uuid4()}", None),
    ]


async def test_every_private_route_needs_a_valid_token(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    for method, path, body in _private_routes(tenant.slug, uuid.uuid4(), uuid.uuid4()):
        for headers in ({}, bearer("wrong"), bearer("tdk_AAAAAAAAAA_" + "B" * 43)):
            answer = await stack.http.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
    # The OpenAPI document lists the errors of every route.
    spec = (await stack.http.get("/openapi.json")).json()
    for path, item in spec["paths"].items():
        if not path.startswith("/api/tenants/{slug}/integrations"):
            continue
        for method, operation in item.items():
            assert {"401", "403", "404"} <= set(operation["responses"]), (method, path)


async def test_connect_custom_syncs_schedules_and_hides_credentials(
    stack: Stack, backend: FakeCustomBackend
) -> None:
    tenant = await new_tenant(stack.sessions)
    admin = bearer(await new_key(stack, tenant, "admin"))
    viewer = bearer(await new_key(stack, tenant, "viewer"))
    operator = bearer(await new_key(stack, tenant, "operator"))
    responses: list[httpx.Response] = []

    answer = await stack.http.post(
        f"/api/tenants/{tenant.slug}/integrations/custom",
        json=_custom_body(backend),
        headers=admin,
    )
    responses.append(answer)
    assert answer.status_code == 201, answer.text
    created = answer.json()
    integration_id = uuid.UUID(created["id"])
    assert created["sync_workflow_id"] == sync_workflow_id(integration_id, "all")
    assert created["kind"] == "custom" and created["status"] == "connected"
    assert created["currency"] == "EUR"  # the backend's delivery options
    assert created["base_url"] == backend.url
    assert created["sync_interval_s"] == INTERVAL_S
    assert created["webhooks"] == [] and created["last_error"] is None

    result = await _wait(stack, created["sync_workflow_id"])
    assert {
        p.resource.value: (p.status, p.mode.value if p.mode else None, p.counts.synced)
        for p in result.resources
    } == {
        "categories": ("completed", "full", 4),
        "products": ("completed", "full", 120),
        "customers": ("unsupported", "full", 0),
        "orders": ("completed", "full", 70),
    }
    async with stack.sessions() as session:
        products = await session.scalar(
            select(func.count()).select_from(Product).where(Product.tenant_id == tenant.id)
        )
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.tenant_id == tenant.id)
        )
    assert (products, orders) == (120, 70)

    # The schedule: every INTERVAL_S, overlap SKIP, StoreSyncWorkflow of "all" in auto mode.
    description = await stack.client.get_schedule_handle(
        sync_schedule_id(integration_id)
    ).describe()
    schedule = description.schedule
    assert [i.every for i in schedule.spec.intervals] == [timedelta(seconds=INTERVAL_S)]
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "StoreSyncWorkflow"
    assert action.id == sync_workflow_id(integration_id, "all")
    assert action.task_queue == stack.settings.temporal_task_queue

    # Reading it back: list, one, history of runs, one run, the live view.
    base = f"/api/tenants/{tenant.slug}/integrations"
    one = f"{base}/{integration_id}"
    listed = await stack.http.get(base, headers=viewer)
    responses.append(listed)
    assert [i["id"] for i in listed.json()] == [str(integration_id)]
    got = await stack.http.get(one, headers=viewer)
    responses.append(got)
    assert got.status_code == 200 and got.json()["name"] == "Main backend"
    runs = await stack.http.get(f"{one}/syncs", headers=viewer)
    responses.append(runs)
    assert runs.status_code == 200
    assert sorted((r["resource"], r["status"], r["synced"]) for r in runs.json()) == [
        ("categories", "completed", 4),
        ("customers", "completed", 0),
        ("orders", "completed", 70),
        ("products", "completed", 120),
    ]
    assert all(r["trigger"] == "connect" and r["mode"] == "full" for r in runs.json())
    created_at = [r["created_at"] for r in runs.json()]
    assert created_at == sorted(created_at, reverse=True)
    page = await stack.http.get(f"{one}/syncs?limit=2&offset=1", headers=viewer)
    assert [r["id"] for r in page.json()] == [r["id"] for r in runs.json()[1:3]]
    products_run = next(r for r in runs.json() if r["resource"] == "products")
    detail = await stack.http.get(f"{one}/syncs/{products_run['id']}", headers=viewer)
    responses.append(detail)
    assert detail.status_code == 200
    d = detail.json()
    assert (d["status"], d["synced"], d["failed"], d["errors"]) == ("completed", 120, 0, [])
    assert d["pages"] >= 1 and d["finished_at"] is not None
    assert d["workflow_id"] == sync_workflow_id(integration_id, "all")
    assert d["temporal_ui_url"] == (
        f"{stack.settings.temporal_ui_url}/namespaces/default/workflows/{d['workflow_id']}"
    )
    missing_run = await stack.http.get(f"{one}/syncs/{uuid.uuid4()}", headers=viewer)
    assert missing_run.status_code == 404
    live = await stack.http.get(f"{one}/sync", headers=viewer)
    assert live.status_code == 200 and live.json()["running"] is False

    tested = await stack.http.post(f"{one}/test", headers=operator)
    responses.append(tested)
    assert tested.status_code == 200
    assert tested.json()["ok"] is True and tested.json()["shop"]["currency"] == "EUR"

    # A second store for the same tenant is a conflict.
    again = await stack.http.post(f"{base}/custom", json=_custom_body(backend), headers=admin)
    assert again.status_code == 409

    # Interval changes follow into the schedule; below 60 s is refused.
    assert (
        await stack.http.patch(one, json={"sync_interval_s": 59}, headers=admin)
    ).status_code == 422
    assert (await stack.http.patch(one, json={"name": "x"}, headers=operator)).status_code == 403
    patched = await stack.http.patch(
        one, json={"sync_interval_s": 7200, "name": "Renamed"}, headers=admin
    )
    responses.append(patched)
    assert patched.status_code == 200
    assert (patched.json()["sync_interval_s"], patched.json()["name"]) == (7200, "Renamed")
    description = await stack.client.get_schedule_handle(
        sync_schedule_id(integration_id)
    ).describe()
    assert [i.every for i in description.schedule.spec.intervals] == [timedelta(seconds=7200)]
    assert description.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP

    # Credentials: never in an answer, never in clear in the table.
    secret = backend.password
    for response in responses:
        assert secret not in response.text, response.request.url
        assert "password" not in response.text
        assert "credentials" not in response.text
    async with stack.sessions() as session:
        row = (
            await session.execute(
                text("SELECT * FROM integrations WHERE id = :id"), {"id": integration_id}
            )
        ).one()
    for value in row:
        if isinstance(value, bytes | memoryview):
            raw = bytes(value)
            assert secret.encode() not in raw and backend.username.encode() not in raw
        else:
            assert secret not in repr(value)

    # Disconnect: credentials and schedule gone; the sync endpoints refuse.
    assert (await stack.http.delete(one, headers=operator)).status_code == 403
    gone = await stack.http.delete(one, headers=admin)
    assert gone.status_code == 204
    async with stack.sessions() as session:
        stored = await session.get_one(Integration, integration_id)
        assert (stored.status, stored.credentials_enc) == ("disconnected", None)
    with pytest.raises(RPCError) as missing:
        await stack.client.get_schedule_handle(sync_schedule_id(integration_id)).describe()
    assert missing.value.status is RPCStatusCode.NOT_FOUND
    refused = await stack.http.post(f"{one}/syncs", json={}, headers=operator)
    assert refused.status_code == 409
    test_after = await stack.http.post(f"{one}/test", headers=operator)
    assert test_after.json() == {"ok": False, "shop": None, "error": "integration_unavailable"}
    assert (await stack.http.delete(one, headers=admin)).status_code == 204  # idempotent
    # A new store can be connected now.
    await _connect_custom(stack, tenant.slug, backend, admin)


async def test_sync_while_running_is_409(stack: Stack, backend: FakeCustomBackend) -> None:
    tenant = await new_tenant(stack.sessions)
    admin = bearer(await new_key(stack, tenant, "admin"))
    operator = bearer(await new_key(stack, tenant, "operator"))
    created = await _connect_custom(stack, tenant.slug, backend, admin)
    await _wait(stack, created["sync_workflow_id"])
    one = f"/api/tenants/{tenant.slug}/integrations/{created['id']}"

    # The store answers 503 a few times: the client backs off, the sync stays running.
    backend.fail_next(503, times=3)
    started = await stack.http.post(
        f"{one}/syncs", json={"resource": "all", "mode": "incremental"}, headers=operator
    )
    assert started.status_code == 202, started.text
    workflow_id = started.json()["workflow_id"]
    assert workflow_id == created["sync_workflow_id"]
    second = await stack.http.post(f"{one}/syncs", json={"resource": "all"}, headers=operator)
    assert second.status_code == 409
    assert second.json()["detail"]["workflow_id"] == workflow_id
    assert second.json()["detail"]["run_id"] == started.json()["run_id"]
    live = await stack.http.get(f"{one}/sync", headers=operator)
    assert live.json()["running"] is True and live.json()["workflow_id"] == workflow_id
    assert [r["resource"] for r in live.json()["resources"]] == [
        "categories",
        "products",
        "customers",
        "orders",
    ]
    # Another resource is another workflow id: it may run alongside.
    products = await stack.http.post(
        f"{one}/syncs", json={"resource": "products", "mode": "full"}, headers=operator
    )
    assert products.status_code == 202
    assert products.json()["workflow_id"] == sync_workflow_id(uuid.UUID(created["id"]), "products")

    result = await _wait(stack, workflow_id)
    assert result.ok
    await _wait(stack, products.json()["workflow_id"])
    description = await stack.client.get_workflow_handle(workflow_id).describe()
    assert description.status is WorkflowExecutionStatus.COMPLETED
    # Finished: a new one may start.
    third = await stack.http.post(f"{one}/syncs", json={}, headers=operator)
    assert third.status_code == 202
    assert third.json()["run_id"] != started.json()["run_id"]
    await _wait(stack, workflow_id)

    # Validation: unknown resource/mode, and a resource this kind cannot list.
    for bad in ({"resource": "users"}, {"mode": "sometimes"}, {"resource": "customers"}):
        answer = await stack.http.post(f"{one}/syncs", json=bad, headers=operator)
        assert answer.status_code == 422, bad


async def test_another_tenants_key_gets_404_everywhere(
    stack: Stack, backend: FakeCustomBackend
) -> None:
    a = await new_tenant(stack.sessions)
    b = await new_tenant(stack.sessions)
    a_admin = bearer(await new_key(stack, a, "admin"))
    created = await _connect_custom(stack, b.slug, backend, ADMIN)
    b_id = uuid.UUID(created["id"])
    await _wait(stack, created["sync_workflow_id"])
    async with stack.sessions() as session:
        run_id = await session.scalar(select(SyncRun.id).where(SyncRun.integration_id == b_id))
    assert run_id is not None
    for method, path, body in _private_routes(b.slug, b_id, run_id):
        answer = await stack.http.request(method, path, json=body, headers=a_admin)
        assert answer.status_code == 404, (method, path, answer.text)
    # Through A's own slug, B's integration does not exist either.
    for method, path, body in _private_routes(a.slug, b_id, run_id):
        if path.endswith(("/integrations", "/custom", "/woocommerce", "/token", "/install")):
            continue
        if "/api-keys" in path:
            continue
        answer = await stack.http.request(method, path, json=body, headers=a_admin)
        assert answer.status_code == 404, (method, path, answer.text)
    async with stack.sessions() as session:
        stored = await session.get_one(Integration, b_id)
        assert (stored.status, stored.name) == ("connected", "Main backend")
        assert stored.credentials_enc is not None
    # The install admin token reaches it.
    ok = await stack.http.get(f"/api/tenants/{b.slug}/integrations/{b_id}", headers=ADMIN)
    assert ok.status_code == 200


async def test_connect_refusals(stack: Stack, backend: FakeCustomBackend) -> None:
    tenant = await new_tenant(stack.sessions)
    admin = bearer(await new_key(stack, tenant, "admin"))
    base = f"/api/tenants/{tenant.slug}/integrations"

    wrong = await stack.http.post(
        f"{base}/custom", json=_custom_body(backend, password="wrong"), headers=admin
    )
    assert wrong.status_code == 502
    assert wrong.json()["detail"]["error"] == "store_auth"
    assert "wrong" not in wrong.text and LEAKY_MESSAGE not in wrong.text

    unreachable = await stack.http.post(
        f"{base}/custom", json=_custom_body(backend, base_url="http://127.0.0.1:9"), headers=admin
    )
    # Connection refused (after the client's own retries): unreachable, by code only.
    assert unreachable.status_code == 503
    assert unreachable.json()["detail"]["error"] == "store_unavailable"

    for bad in (
        _custom_body(backend, base_url="ftp://example.test"),
        _custom_body(backend, base_url="not a url"),
        _custom_body(backend, password=""),
        _custom_body(backend, extra="field"),
    ):
        answer = await stack.http.post(f"{base}/custom", json=bad, headers=admin)
        assert answer.status_code == 422, bad
    bad_shop = await stack.http.post(
        f"{base}/shopify/token",
        json={"shop_domain": "evil.example.com", "access_token": "x"},
        headers=admin,
    )
    assert bad_shop.status_code == 422
    unknown = await stack.http.post(
        f"/api/tenants/nope-{uuid.uuid4().hex[:6]}/integrations/custom",
        json=_custom_body(backend),
        headers=ADMIN,
    )
    assert unknown.status_code == 404
    async with stack.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Integration).where(Integration.tenant_id == tenant.id)
        )
    assert count == 0


async def test_connect_woocommerce_registers_webhooks(stack: Stack, fixtures_dir) -> None:
    tenant = await new_tenant(stack.sessions)
    admin = bearer(await new_key(stack, tenant, "admin"))
    with FakeWooCommerce() as shop:
        shop.generate(products=5, customers=3, orders=4)
        answer = await stack.http.post(
            f"/api/tenants/{tenant.slug}/integrations/woocommerce",
            json={
                "name": "Woo",
                "base_url": shop.url + "/",
                "consumer_key": shop.consumer_key,
                "consumer_secret": shop.consumer_secret,
            },
            headers=admin,
        )
        assert answer.status_code == 201, answer.text
        created = answer.json()
        assert created["base_url"] == shop.url
        assert created["currency"] == "USD"
        integration_id = created["id"]
        address = f"{PUBLIC_URL}/webhooks/woocommerce/{integration_id}"
        assert shop.webhooks and {w["delivery_url"] for w in shop.webhooks.values()} == {address}
        assert {w["address"] for w in created["webhooks"]} == {address}
        assert created["last_error"] is None
        # Our chosen secret went to the store, and nowhere in the answer.
        secrets_sent = set(shop.webhook_secrets.values())
        assert len(secrets_sent) == 1
        (secret,) = secrets_sent
        assert len(secret) >= 32 and secret not in answer.text
        assert shop.consumer_secret not in answer.text
        result = await _wait(stack, created["sync_workflow_id"])
        assert result.ok
        assert {p.resource.value: p.counts.synced for p in result.resources}["orders"] == 4
        assert shop.violations == []
