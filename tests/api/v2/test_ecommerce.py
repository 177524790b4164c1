"""Agent API e-commerce routes on a seeded shop (``tests.api.v2.seed_shop``): exact answers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from tendero.db.models import Integration, Order, SyncRun
from tendero.stores.credentials import CustomCredentials
from tendero.stores.integrations import connect
from tests.api.v2 import PHONES, Seeded, seed_shop, user_token
from tests.fakes.custom_backend import LEAKY_MESSAGE, FakeCustomBackend
from tests.harness import Stack


@pytest.fixture
async def shop(stack: Stack) -> Seeded:
    return await seed_shop(stack.sessions)


@pytest.fixture
async def agent(stack: Stack, shop: Seeded) -> dict[str, str]:
    _, headers = await user_token(stack, shop.shop, "agent")
    return headers


@pytest.fixture
async def admin(stack: Stack, shop: Seeded) -> dict[str, str]:
    _, headers = await user_token(stack, shop.shop, "admin")
    return headers


async def _get(stack: Stack, path: str, headers: dict[str, str], **params: Any) -> Any:
    answer = await stack.http.get(path, headers=headers, params=params)
    assert answer.status_code == 200, (path, answer.text)
    return answer.json()


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def numbers(orders: list[dict[str, Any]]) -> list[str]:
    return [o["number"] for o in orders]


# --- store ----------------------------------------------------------------------------------


async def test_native_store_status_config_test_health(
    stack: Stack, shop: Seeded, agent: dict[str, str], admin: dict[str, str]
) -> None:
    status = await _get(stack, "/api/v2/ecommerce/status", agent)
    assert status == {
        "store_kind": "native",
        "integration": None,
        "last_sync": None,
        "catalog": {"products": 4, "published_products": 4, "variants": 6, "categories": 3},
    }
    config = await _get(stack, "/api/v2/ecommerce/config", admin)
    assert config["store_kind"] == "native" and config["integration_id"] is None
    assert config["webhooks"] is None
    assert config["shop"] == {
        "name": "Test Shop",
        "currency": "USD",
        "language": "en",
        "preset": "ecommerce",
        "tax_rate": "0.1",
        "delivery_fee": usd("5.00"),
        "payment_methods": ["cash", "card_on_delivery"],
        "pickup_address": "1 Shop Street",
    }
    tested = await stack.http.post("/api/v2/ecommerce/config/test", headers=admin)
    assert tested.status_code == 200
    assert tested.json() == {
        "store_kind": "native",
        "ok": True,
        "error": None,
        "shop_name": None,
        "shop_currency": None,
    }
    health = await _get(stack, "/api/v2/ecommerce/health", agent)
    assert health == {
        "status": "ok",
        "database": True,
        "store_kind": "native",
        "integration_status": None,
        "last_successful_sync_at": None,
        "open_tickets": 3,
        "sla_breached_tickets": 2,
    }


@pytest.fixture
def backend() -> AsyncIterator[FakeCustomBackend]:
    with FakeCustomBackend() as server:
        yield server


async def test_connected_store_status_config_test_health(
    stack: Stack,
    shop: Seeded,
    agent: dict[str, str],
    admin: dict[str, str],
    backend: FakeCustomBackend,
) -> None:
    async with stack.sessions() as session, session.begin():
        integration = await connect(
            session,
            stack.settings.keyring,
            tenant_id=shop.tenant_id,
            kind="custom",
            name="Backend",
            credentials=backend.credentials,
            base_url=backend.url,
            currency="USD",
        )
        integration.webhooks = [
            {
                "external_id": "1",
                "topic": "order.updated",
                "address": "https://x.test/w",
                "active": False,
            }
        ]
        integration.webhooks_disabled = 1
        old = datetime(2026, 1, 1, 10, tzinfo=UTC)
        new = datetime(2026, 1, 2, 10, tzinfo=UTC)
        for run_id, resource, state, created, finished in (
            ("run-1", "products", "completed", old, old + timedelta(minutes=1)),
            ("run-2", "products", "completed", new, new + timedelta(minutes=2)),
            ("run-2", "orders", "failed", new + timedelta(seconds=1), new + timedelta(minutes=3)),
        ):
            session.add(
                SyncRun(
                    tenant_id=shop.tenant_id,
                    integration_id=integration.id,
                    resource=resource,
                    mode="full",
                    trigger="schedule",
                    status=state,
                    workflow_id=f"sync:{integration.id}:all",
                    workflow_run_id=run_id,
                    synced=7,
                    failed=1 if state == "failed" else 0,
                    error="store_unavailable" if state == "failed" else None,
                    created_at=created,
                    finished_at=finished,
                )
            )
    status = await _get(stack, "/api/v2/ecommerce/status", agent)
    assert status["store_kind"] == "custom"
    assert status["integration"] == {
        "id": str(integration.id),
        "kind": "custom",
        "name": "Backend",
        "status": "connected",
        "shop_domain": None,
        "base_url": backend.url,
        "last_error": None,
        "webhooks_disabled": 1,
    }
    last = status["last_sync"]
    assert (last["status"], last["trigger"], last["mode"]) == ("failed", "schedule", "full")
    assert last["started_at"] == "2026-01-02T10:00:00Z"
    assert last["finished_at"] == "2026-01-02T10:03:00Z"
    assert [(r["resource"], r["status"], r["synced"], r["failed"]) for r in last["resources"]] == [
        ("products", "completed", 7, 0),
        ("orders", "failed", 7, 1),
    ]

    config = await _get(stack, "/api/v2/ecommerce/config", admin)
    assert config["store_kind"] == "custom" and config["base_url"] == backend.url
    assert config["webhooks"] == {
        "subscriptions": [
            {"topic": "order.updated", "address": "https://x.test/w", "active": False}
        ],
        "disabled": 1,
        "checked_at": None,
    }
    text = str(config)
    assert backend.password not in text and backend.username not in text
    assert "credentials" not in text

    tested = await stack.http.post("/api/v2/ecommerce/config/test", headers=admin)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True and tested.json()["store_kind"] == "custom"
    assert backend.seen("/api/auth/login"), "the store was really called"

    health = await _get(stack, "/api/v2/ecommerce/health", agent)
    assert health["integration_status"] == "connected" and health["status"] == "ok"
    assert health["last_successful_sync_at"] == "2026-01-02T10:02:00Z"

    # Wrong stored credentials: a stable code, never the store's (leaky) message.
    async with stack.sessions() as session, session.begin():
        row = await session.get_one(Integration, integration.id)
        row.status = "disconnected"
        await session.flush()
        await connect(
            session,
            stack.settings.keyring,
            tenant_id=shop.tenant_id,
            kind="custom",
            name="Backend",
            credentials=CustomCredentials(username=backend.username, password=SecretStr("wrong")),
            base_url=backend.url,
        )
    failed = await stack.http.post("/api/v2/ecommerce/config/test", headers=admin)
    assert failed.status_code == 200
    assert failed.json()["ok"] is False and failed.json()["error"]
    assert LEAKY_MESSAGE not in failed.text and "wrong" not in failed.text


# --- orders ---------------------------------------------------------------------------------


async def test_order_search(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    path = "/api/v2/ecommerce/orders/search"
    found = await _get(stack, path, agent, q="ORD-2026-00004")
    assert numbers(found) == ["ORD-2026-00004"]
    o4 = found[0]
    assert o4["total"] == usd("30.00") and o4["status"] == "shipped" and o4["source"] == "store"
    assert o4["customer"]["name"] == "Bob Stone" and o4["customer"]["phone"] == PHONES["bob"]
    assert numbers(await _get(stack, path, agent, q="lopez")) == [
        "ORD-2026-00001",
        "ORD-2026-00003",
        "ORD-2026-00002",
    ]
    assert numbers(await _get(stack, path, agent, q="bob@example")) == [
        "ORD-2026-00004",
        "ORD-2026-00005",
    ]
    assert numbers(await _get(stack, path, agent, q="5551230002")) == [
        "ORD-2026-00004",
        "ORD-2026-00005",
    ]
    assert numbers(
        await _get(stack, path, agent, email="ANA@example.test", status="cancelled")
    ) == ["ORD-2026-00003"]
    assert numbers(await _get(stack, path, agent, phone="15551230002", limit=1)) == [
        "ORD-2026-00004"
    ]
    assert await _get(stack, path, agent, q="nothing-like-this") == []
    # Wildcards are literal.
    assert await _get(stack, path, agent, q="%") == []
    for params in ({}, {"phone": "12"}, {"q": "x", "limit": 0}, {"phone": "+1 not a phone"}):
        answer = await stack.http.get(path, params=params, headers=agent)
        assert answer.status_code == 422, params


async def test_active_orders(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    active = await _get(stack, f"/api/v2/ecommerce/orders/active/{PHONES['ana']}", agent)
    assert numbers(active) == ["ORD-2026-00001"]
    assert active[0]["item_count"] == 3 and active[0]["total"] == usd("55.00")
    # Digits only, or spaced: the same customer.
    bob = await _get(stack, "/api/v2/ecommerce/orders/active/1 555 123 0002", agent)
    assert numbers(bob) == ["ORD-2026-00004"]
    assert await _get(stack, f"/api/v2/ecommerce/orders/active/{PHONES['carla']}", agent) == []
    missing = await stack.http.get("/api/v2/ecommerce/orders/active/+15559990000", headers=agent)
    assert missing.status_code == 404
    invalid = await stack.http.get("/api/v2/ecommerce/orders/active/12", headers=agent)
    assert invalid.status_code == 422


async def test_order_list(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    path = "/api/v2/ecommerce/orders"
    page = await _get(stack, path, agent)
    assert page["total"] == 6 and (page["limit"], page["offset"]) == (50, 0)
    assert numbers(page["items"]) == [f"ORD-2026-0000{n}" for n in (1, 4, 5, 6, 3, 2)]
    o6 = page["items"][3]
    assert o6["customer"] is None and o6["total"] == {"amount": "12.50", "currency": "EUR"}
    assert o6["created_at"].endswith("Z")
    second = await _get(stack, path, agent, limit=2, offset=2)
    assert second["total"] == 6 and numbers(second["items"]) == ["ORD-2026-00005", "ORD-2026-00006"]
    store = await _get(stack, path, agent, source="store")
    assert store["total"] == 3 and numbers(store["items"]) == [
        "ORD-2026-00004",
        "ORD-2026-00006",
        "ORD-2026-00002",
    ]
    cancelled = await _get(stack, path, agent, status="cancelled")
    assert numbers(cancelled["items"]) == ["ORD-2026-00005", "ORD-2026-00003"]
    since = await _get(stack, path, agent, since="2025-01-15T00:00:00Z")
    assert since["total"] == 5
    for params in ({"source": "fax"}, {"limit": 201}, {"offset": -1}, {"since": "yesterday"}):
        assert (await stack.http.get(path, params=params, headers=agent)).status_code == 422


# --- catalog --------------------------------------------------------------------------------


async def test_products_and_categories(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    hits = await _get(stack, "/api/v2/ecommerce/products/search", agent, q="hoody")
    hoodie_id = await shop.shop.product_id(stack.sessions, "Hoodie")
    assert hits == [
        {
            "id": str(hoodie_id),
            "name": "Hoodie",
            "kind": "variable",
            "min_price": usd("45.00"),
            "max_price": usd("47.00"),
            "available": True,
            "variant_count": 3,
        }
    ]
    sunglasses = await _get(stack, "/api/v2/ecommerce/products/search", agent, q="sunglases")
    assert [h["name"] for h in sunglasses] == ["Sunglasses"]
    assert await _get(stack, "/api/v2/ecommerce/products/search", agent, q="zzzzqqq") == []
    no_q = await stack.http.get("/api/v2/ecommerce/products/search", headers=agent)
    assert no_q.status_code == 422

    product = await _get(stack, f"/api/v2/ecommerce/products/{hoodie_id}", agent)
    assert (product["name"], product["kind"], product["published"]) == ("Hoodie", "variable", True)
    assert product["min_price"] == usd("45.00") and product["max_price"] == usd("47.00")
    assert [
        (v["sku"], v["label"], v["price"], v["stock_quantity"], v["available"])
        for v in product["variants"]
    ] == [
        ("HOOD-BL-L", "Blue, Large", usd("45.00"), 5, True),
        ("HOOD-BL-M", "Blue, Medium", usd("45.00"), 0, False),
        ("HOOD-RD-L", "Red, Large", usd("47.00"), 2, True),
    ]
    missing = await stack.http.get(f"/api/v2/ecommerce/products/{uuid.uuid4()}", headers=agent)
    assert missing.status_code == 404 and missing.json() == {"detail": "no such product"}
    bad = await stack.http.get("/api/v2/ecommerce/products/not-a-uuid", headers=agent)
    assert bad.status_code == 422

    categories = await _get(stack, "/api/v2/ecommerce/categories", agent)
    assert [(c["path"], c["product_count"]) for c in categories] == [
        ("Accessories", 3),
        ("Clothing", 1),
        ("Clothing > Hoodies", 1),
    ]


# --- customers ------------------------------------------------------------------------------


async def test_customer_and_profile(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    ana = await _get(stack, f"/api/v2/ecommerce/customer/{PHONES['ana']}", agent)
    assert ana == {
        "id": str(shop.customers["ana"]),
        "name": "Ana Lopez",
        "phone": PHONES["ana"],
        "email": "ana@example.test",
        "created_at": ana["created_at"],
    }
    missing = await stack.http.get("/api/v2/ecommerce/customer/+15559990000", headers=agent)
    assert missing.status_code == 404 and missing.json() == {"detail": "no such customer"}
    invalid = await stack.http.get("/api/v2/ecommerce/customer/abc", headers=agent)
    assert invalid.status_code == 422

    profile = await _get(stack, f"/api/v2/ecommerce/customer/{PHONES['ana']}/profile", agent)
    assert profile["customer"] == ana
    assert profile["order_count"] == 3
    assert profile["total_spent"] == [usd("75.00")]
    assert numbers(profile["last_orders"]) == ["ORD-2026-00001", "ORD-2026-00003", "ORD-2026-00002"]
    assert [(t["number"], t["status"], t["priority"]) for t in profile["open_tickets"]] == [
        ("TCK-2026-00002", "assigned", "medium"),
        ("TCK-2026-00001", "open", "high"),
    ]
    one = await _get(stack, f"/api/v2/ecommerce/customer/{PHONES['ana']}/profile", agent, orders=1)
    assert numbers(one["last_orders"]) == ["ORD-2026-00001"]
    carla = await _get(stack, f"/api/v2/ecommerce/customer/{PHONES['carla']}/profile", agent)
    assert (carla["order_count"], carla["total_spent"], carla["last_orders"]) == (0, [], [])
    assert carla["open_tickets"] == []


# --- shop options and dashboard -------------------------------------------------------------


async def test_delivery_and_payment(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    assert await _get(stack, "/api/v2/ecommerce/delivery-options", agent) == {
        "delivery": {"available": True, "fee": usd("5.00")},
        "pickup": {"available": True, "address": "1 Shop Street"},
    }
    assert await _get(stack, "/api/v2/ecommerce/payment-methods", agent) == {
        "methods": ["cash", "card_on_delivery"]
    }


async def test_dashboard(stack: Stack, shop: Seeded, agent: dict[str, str]) -> None:
    board = await _get(stack, "/api/v2/ecommerce/dashboard", agent)
    assert board["tickets_by_status"] == {
        "open": 1,
        "assigned": 1,
        "waiting_on_customer": 1,
        "resolved": 1,
        "closed": 0,
    }
    assert board["open_tickets_by_priority"] == {"low": 0, "medium": 1, "high": 1, "urgent": 1}
    assert board["sla_breached_tickets"] == 2
    assert board["conversations_waiting_for_human"] == 2
    assert board["orders_today"] == 4
    assert board["revenue_today"] == [
        {"amount": "12.50", "currency": "EUR"},
        usd("85.00"),
    ]
    assert board["generated_at"].endswith("Z")
    async with stack.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Order).where(Order.tenant_id == shop.tenant_id)
        )
    assert count == 6
