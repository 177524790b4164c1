"""Tenant isolation of the agent API, and authentication of every ``/api/v2`` route.

A token of shop B never reaches shop A's rows: A's product ids, customers' phones and user
ids are answered 404 exactly like missing ones, nothing of A changes, and every list shows
B's rows only. Every ``/api/v2`` route but the login refuses a request without a valid
token (401); the routes are read from the app's OpenAPI document, so routes added later
(``/api/v2/tickets``...) are covered without touching this test.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import select

from tendero.db.models import Conversation, Customer, Order, Product, Ticket, User
from tendero.users import issue_token
from tests.api.v2 import PHONES, bearer, seed_shop, user_token
from tests.harness import Stack

A_ONLY_PHONE = "+15557770001"
PUBLIC = {("POST", "/api/v2/auth/token")}
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")


async def _add_a_only_customer(stack: Stack, tenant_id: uuid.UUID) -> uuid.UUID:
    """A customer only shop A has, with an order, an open ticket and a waiting chat."""
    now = datetime.now(UTC)
    async with stack.sessions() as session, session.begin():
        customer = Customer(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            phone_e164=A_ONLY_PHONE,
            name="Zed Only-In-A",
            email="zed@a.test",
        )
        session.add(customer)
        await session.flush()
        session.add(
            Order(
                tenant_id=tenant_id,
                customer_id=customer.id,
                number="ORD-2026-00099",
                idempotency_key="seed:a-only",
                status="confirmed",
                fulfilment="pickup",
                payment_method="cash",
                currency="USD",
                subtotal=Decimal("99.00"),
                delivery_fee=Decimal("0"),
                tax=Decimal("0"),
                total=Decimal("99.00"),
                tax_rate=Decimal("0"),
                created_at=now - timedelta(seconds=10),
            )
        )
        session.add(
            Ticket(
                tenant_id=tenant_id,
                number="TCK-2026-00099",
                business_type="ecommerce",
                customer_id=customer.id,
                category="other",
                subject="A only",
                description="A only",
                priority="urgent",
                status="open",
                source="agent",
                first_response_due_at=now - timedelta(hours=1),
            )
        )
        session.add(
            Conversation(
                tenant_id=tenant_id,
                customer_id=customer.id,
                channel="whatsapp",
                workflow_id=f"conversation:{tenant_id}:whatsapp:{customer.id}",
                owner="waiting_for_human",
            )
        )
    return customer.id


async def test_another_shops_resources_are_404_and_lists_are_scoped(stack: Stack) -> None:
    a = await seed_shop(stack.sessions)
    b = await seed_shop(stack.sessions)
    await _add_a_only_customer(stack, a.tenant_id)
    a_admin, a_headers = await user_token(stack, a.shop, "admin")
    b_admin, b_admin_headers = await user_token(stack, b.shop, "admin")
    b_agent, b_headers = await user_token(stack, b.shop, "agent")
    a_hoodie = await a.shop.product_id(stack.sessions, "Hoodie")
    b_hoodie = await b.shop.product_id(stack.sessions, "Hoodie")

    # Named resources of A: the same 404 as for missing ones.
    pairs = [
        (f"/api/v2/ecommerce/products/{a_hoodie}", f"/api/v2/ecommerce/products/{uuid.uuid4()}"),
        (f"/api/v2/ecommerce/customer/{A_ONLY_PHONE}", "/api/v2/ecommerce/customer/+15550000009"),
        (
            f"/api/v2/ecommerce/customer/{A_ONLY_PHONE}/profile",
            "/api/v2/ecommerce/customer/+15550000009/profile",
        ),
        (
            f"/api/v2/ecommerce/orders/active/{A_ONLY_PHONE}",
            "/api/v2/ecommerce/orders/active/+15550000009",
        ),
    ]
    for theirs, missing in pairs:
        got = await stack.http.get(theirs, headers=b_headers)
        absent = await stack.http.get(missing, headers=b_headers)
        assert got.status_code == absent.status_code == 404, theirs
        assert got.json() == absent.json()
        # A's own token sees them.
        assert (await stack.http.get(theirs, headers=a_headers)).status_code == 200, theirs
    patched = await stack.http.patch(
        f"/api/v2/users/{a_admin.id}",
        json={"role": "agent", "active": False, "password": "taken over by b"},
        headers=b_admin_headers,
    )
    absent = await stack.http.patch(
        f"/api/v2/users/{uuid.uuid4()}", json={"active": False}, headers=b_admin_headers
    )
    assert patched.status_code == absent.status_code == 404
    assert patched.json() == absent.json()
    async with stack.sessions() as session:
        row = await session.get_one(User, a_admin.id)
        assert (row.role, row.active, row.token_version) == ("admin", True, 0)
        assert row.password_hash == a_admin.password_hash
    assert (await stack.http.get("/api/v2/me", headers=a_headers)).status_code == 200

    # Searches never cross: A's only customer and order are not found from B.
    search = "/api/v2/ecommerce/orders/search"
    for params in (
        {"phone": A_ONLY_PHONE},
        {"q": "Only-In-A"},
        {"q": "ORD-2026-00099"},
        {"email": "zed@a.test"},
    ):
        answer = await stack.http.get(search, params=params, headers=b_headers)
        assert answer.status_code == 200 and answer.json() == [], params
    assert [
        o["number"]
        for o in (
            await stack.http.get(search, params={"q": "ORD-2026-00099"}, headers=a_headers)
        ).json()
    ] == ["ORD-2026-00099"]

    # Lists show B's rows only.
    async with stack.sessions() as session:
        b_orders = set(
            await session.scalars(select(Order.id).where(Order.tenant_id == b.tenant_id))
        )
        b_products = set(
            await session.scalars(select(Product.id).where(Product.tenant_id == b.tenant_id))
        )
    users = (await stack.http.get("/api/v2/users", headers=b_admin_headers)).json()
    assert {u["id"] for u in users} == {str(b_admin.id), str(b_agent.id)}
    page = (await stack.http.get("/api/v2/ecommerce/orders", headers=b_headers)).json()
    assert page["total"] == 6 and {uuid.UUID(o["id"]) for o in page["items"]} == b_orders
    hits = (
        await stack.http.get(
            "/api/v2/ecommerce/products/search", params={"q": "hoodie"}, headers=b_headers
        )
    ).json()
    assert [h["id"] for h in hits] == [str(b_hoodie)]
    assert {uuid.UUID(h["id"]) for h in hits} <= b_products
    categories = (await stack.http.get("/api/v2/ecommerce/categories", headers=b_headers)).json()
    assert [c["product_count"] for c in categories] == [3, 1, 1]
    # The same phone in both shops: B sees its own customer and orders.
    profile = (
        await stack.http.get(
            f"/api/v2/ecommerce/customer/{PHONES['ana']}/profile", headers=b_headers
        )
    ).json()
    assert profile["customer"]["id"] == str(b.customers["ana"])
    assert {uuid.UUID(o["id"]) for o in profile["last_orders"]} <= b_orders
    board = (await stack.http.get("/api/v2/ecommerce/dashboard", headers=b_headers)).json()
    assert board["sla_breached_tickets"] == 2 and board["conversations_waiting_for_human"] == 2
    assert board["orders_today"] == 4 and board["open_tickets_by_priority"]["urgent"] == 1
    health = (await stack.http.get("/api/v2/ecommerce/health", headers=b_headers)).json()
    assert (health["open_tickets"], health["sla_breached_tickets"]) == (3, 2)
    status = (await stack.http.get("/api/v2/ecommerce/status", headers=b_headers)).json()
    assert status["catalog"]["products"] == 4


def _v2_operations(app: Any, spec: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (method, path template) under ``/api/v2``, from OpenAPI and the route table."""
    operations = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        if path.startswith("/api/v2")
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    # Routes hidden from the schema, where the route table exposes them directly.
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path.startswith("/api/v2"):
            operations |= {(m, route.path) for m in route.methods if m != "HEAD"}
    return operations


def _fill(path: str) -> str:
    return _PARAM.sub(lambda _: str(uuid.uuid4()), path)


async def test_every_v2_route_needs_a_valid_token(stack: Stack) -> None:
    spec = (await stack.http.get("/openapi.json")).json()
    app = stack.http._transport.app  # type: ignore[attr-defined]
    operations = _v2_operations(app, spec) - PUBLIC
    mine = {
        ("GET", "/api/v2/me"),
        ("GET", "/api/v2/users"),
        ("POST", "/api/v2/users"),
        ("PATCH", "/api/v2/users/{user_id}"),
        ("GET", "/api/v2/ecommerce/status"),
        ("GET", "/api/v2/ecommerce/config"),
        ("POST", "/api/v2/ecommerce/config/test"),
        ("GET", "/api/v2/ecommerce/health"),
        ("GET", "/api/v2/ecommerce/orders/search"),
        ("GET", "/api/v2/ecommerce/orders/active/{phone}"),
        ("GET", "/api/v2/ecommerce/orders"),
        ("GET", "/api/v2/ecommerce/products/search"),
        ("GET", "/api/v2/ecommerce/products/{product_id}"),
        ("GET", "/api/v2/ecommerce/categories"),
        ("GET", "/api/v2/ecommerce/customer/{phone}"),
        ("GET", "/api/v2/ecommerce/customer/{phone}/profile"),
        ("GET", "/api/v2/ecommerce/delivery-options"),
        ("GET", "/api/v2/ecommerce/payment-methods"),
        ("GET", "/api/v2/ecommerce/dashboard"),
    }
    assert mine <= operations, mine - operations

    shop = await seed_shop(stack.sessions)
    user, _ = await user_token(stack, shop.shop, "admin")
    expired, _ = issue_token(user, stack.settings, datetime.now(UTC) - timedelta(days=2))
    refused = ({}, bearer("garbage"), bearer(expired), bearer("dev-admin-token"))
    for method, template in sorted(operations):
        path = _fill(template)
        body = {} if method in {"POST", "PATCH", "PUT"} else None
        for headers in refused:
            answer = await stack.http.request(method, path, json=body, headers=headers)
            assert answer.status_code == 401, (method, template, headers, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer", (method, template)
        # Every route documents its 401.
        operation = spec["paths"].get(template, {}).get(method.lower())
        if operation is not None:
            assert "401" in operation["responses"], (method, template)
    # Nothing was written by the refused calls.
    async with stack.sessions() as session:
        users = list(await session.scalars(select(User).where(User.tenant_id == shop.tenant_id)))
    assert [u.id for u in users] == [user.id] and users[0].token_version == 0
