"""Store webhooks through the API: signatures, dedupe, staleness, Shopify privacy requests."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Customer, Message, Order, PrivacyRequest, StoreEvent
from tendero.domain.ids import store_event_workflow_id
from tendero.domain.sync import StoreEventResult
from tendero.stores.credentials import ShopifyCredentials, WooCommerceCredentials
from tendero.stores.integrations import connect
from tests.harness import Stack, running_stack
from tests.stores.conftest import NewTenant

SHOPIFY_SECRET = "shpss_current"
SHOPIFY_OLD_SECRET = "shpss_previous"
WOO_SECRET = "woo-webhook-secret"


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
        shopify_client_id="client-id",
        shopify_client_secret=SHOPIFY_SECRET,
        shopify_previous_client_secret=SHOPIFY_OLD_SECRET,
    ) as stack:
        yield stack


def _b64_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def _shopify_shop(stack: Stack, tenant_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    shop = f"shop-{uuid.uuid4().hex[:8]}.myshopify.com"
    async with stack.sessions() as session, session.begin():
        integration = await connect(
            session,
            stack.settings.keyring,
            tenant_id=tenant_id,
            kind="shopify",
            name="Shopify",
            credentials=ShopifyCredentials(access_token=SecretStr("shpat_x")),
            shop_domain=shop,
        )
        return integration.id, shop


async def _post_shopify(
    stack: Stack,
    shop: str,
    topic: str,
    body: dict[str, Any],
    *,
    webhook_id: str,
    secret: str = SHOPIFY_SECRET,
    prefix: str = "X-Shopify-",
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode()
    response = await stack.http.post(
        "/webhooks/shopify",
        content=raw,
        headers={
            f"{prefix}Hmac-Sha256": _b64_hmac(secret, raw),
            f"{prefix}Topic": topic,
            f"{prefix}Shop-Domain": shop,
            f"{prefix}Webhook-Id": webhook_id,
            f"{prefix}Triggered-At": "2026-11-21T10:00:00Z",
            "Content-Type": "application/json",
        },
    )
    return response.status_code, response.json()


async def _applied(stack: Stack, integration_id: uuid.UUID, dedupe_key: str) -> str:
    async with stack.sessions() as session:
        event = await session.scalar(
            select(StoreEvent).where(
                StoreEvent.integration_id == integration_id, StoreEvent.dedupe_key == dedupe_key
            )
        )
    assert event is not None
    handle = stack.client.get_workflow_handle(
        store_event_workflow_id(integration_id, event.id), result_type=StoreEventResult
    )
    result = await handle.result()
    async with stack.sessions() as session:
        refreshed = await session.get_one(StoreEvent, event.id)
        assert refreshed.payload is None
    return str(result.outcome)


async def test_shopify_orders_signed_deduplicated_and_never_overwritten_by_stale_copies(
    stack: Stack, store_tenant: NewTenant, fixtures_dir: Path
) -> None:
    tenant = await store_tenant()
    integration_id, shop = await _shopify_shop(stack, tenant.id)
    order = json.loads((fixtures_dir / "shopify/shopify_python_api/order.json").read_text())[
        "order"
    ]

    assert await _post_shopify(stack, shop, "orders/create", order, webhook_id="w-1") == (
        200,
        {"status": "accepted"},
    )
    assert await _applied(stack, integration_id, "w-1") == "applied"
    # Shopify's retry of the same delivery carries the same webhook id.
    assert await _post_shopify(stack, shop, "orders/create", order, webhook_id="w-1") == (
        200,
        {"status": "duplicate"},
    )

    cancelled = copy.deepcopy(order)
    cancelled["updated_at"] = "2008-01-11T10:00:00-05:00"
    cancelled["cancelled_at"] = "2008-01-11T10:00:00-05:00"
    cancelled["financial_status"] = "voided"
    # New header spelling, signed with the secret being rotated out: both accepted.
    status, _ = await _post_shopify(
        stack,
        shop,
        "orders/cancelled",
        cancelled,
        webhook_id="w-2",
        secret=SHOPIFY_OLD_SECRET,
        prefix="Shopify-",
    )
    assert status == 200
    assert await _applied(stack, integration_id, "w-2") == "applied"
    # A late redelivery of the original order must not undo the cancellation.
    assert (await _post_shopify(stack, shop, "orders/updated", order, webhook_id="w-3"))[0] == 200
    assert await _applied(stack, integration_id, "w-3") == "stale"

    bad = await stack.http.post(
        "/webhooks/shopify",
        content=json.dumps(order).encode(),
        headers={
            "X-Shopify-Hmac-Sha256": _b64_hmac("wrong", b"{}"),
            "X-Shopify-Topic": "orders/create",
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": "w-4",
        },
    )
    assert bad.status_code == 401
    unsigned = await stack.http.post(
        "/webhooks/shopify", content=b"{}", headers={"X-Shopify-Topic": "orders/create"}
    )
    assert unsigned.status_code == 401

    async with stack.sessions() as session:
        orders = (
            (await session.execute(select(Order).where(Order.tenant_id == tenant.id)))
            .scalars()
            .all()
        )
        events = (
            await session.execute(
                select(StoreEvent.dedupe_key, StoreEvent.outcome)
                .where(StoreEvent.integration_id == integration_id)
                .order_by(StoreEvent.received_at)
            )
        ).all()
    assert [(o.number, o.status, o.source, o.external_id) for o in orders] == [
        ("#1001", "cancelled", "store", "450789469")
    ]
    assert [tuple(e) for e in events] == [("w-1", "applied"), ("w-2", "applied"), ("w-3", "stale")]


async def _privacy_requests(stack: Stack, tenant_id: uuid.UUID) -> list[PrivacyRequest]:
    """The tenant's privacy requests once their workflows have finished."""
    async with stack.sessions() as session:
        rows = (
            (
                await session.execute(
                    select(PrivacyRequest)
                    .where(PrivacyRequest.tenant_id == tenant_id)
                    .order_by(PrivacyRequest.created_at)
                )
            )
            .scalars()
            .all()
        )
    for row in rows:
        await stack.client.get_workflow_handle(row.workflow_id).result()
    async with stack.sessions() as session:
        return [
            await session.get_one(PrivacyRequest, row.id, populate_existing=True) for row in rows
        ]


async def test_shopify_customer_redaction_starts_the_delete_workflow(
    stack: Stack, store_tenant: NewTenant, fixtures_dir: Path
) -> None:
    tenant = await store_tenant()
    other_tenant = await store_tenant()
    integration_id, shop = await _shopify_shop(stack, tenant.id)
    customer = json.loads((fixtures_dir / "shopify/shopify_python_api/customer.json").read_text())[
        "customer"
    ]
    order = json.loads((fixtures_dir / "shopify/shopify_python_api/order.json").read_text())[
        "order"
    ]
    await _post_shopify(stack, shop, "customers/create", customer, webhook_id="c-1")
    assert await _applied(stack, integration_id, "c-1") == "applied"
    await _post_shopify(stack, shop, "orders/create", order, webhook_id="o-1")
    assert await _applied(stack, integration_id, "o-1") == "applied"
    # The same person as a customer of another shop: never touched.
    async with stack.sessions() as session, session.begin():
        session.add(
            Customer(
                tenant_id=other_tenant.id,
                email=customer["email"].lower(),
                name="Same Person",
                external_id=str(customer["id"]),
            )
        )

    redact = {
        "shop_id": 1,
        "shop_domain": shop,
        "customer": {"id": customer["id"], "email": customer["email"], "phone": None},
        "orders_to_redact": [order["id"]],
    }
    bad = await stack.http.post(
        "/webhooks/shopify",
        content=json.dumps(redact).encode(),
        headers={
            "X-Shopify-Hmac-Sha256": _b64_hmac("wrong", b"{}"),
            "X-Shopify-Topic": "customers/redact",
            "X-Shopify-Shop-Domain": shop,
            "X-Shopify-Webhook-Id": "r-0",
        },
    )
    assert bad.status_code == 401
    await _post_shopify(stack, shop, "customers/redact", redact, webhook_id="r-1")
    assert await _applied(stack, integration_id, "r-1") == "redacted"

    (request,) = await _privacy_requests(stack, tenant.id)
    async with stack.sessions() as session:
        people = (
            (await session.execute(select(Customer).where(Customer.tenant_id == tenant.id)))
            .scalars()
            .all()
        )
        addresses = (
            (await session.execute(select(Order.address).where(Order.tenant_id == tenant.id)))
            .scalars()
            .all()
        )
        leftovers = await session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.tenant_id == tenant.id, Customer.email == customer["email"].lower())
        )
        other = (
            await session.execute(select(Customer).where(Customer.tenant_id == other_tenant.id))
        ).scalar_one()
    assert [(p.name, p.email, p.phone_e164, p.external_id) for p in people] == [
        (None, None, None, None)
    ]
    assert (request.kind, request.source, request.status, request.customer_id) == (
        "delete",
        "shopify",
        "done",
        people[0].id,
    )
    assert request.requested_by == "shopify:customers/redact"
    assert request.outcome["rows"]["customers"] == 1
    assert request.outcome["rows"]["orders"] == 1
    assert addresses == [None]
    assert leftovers == 0
    assert (other.name, other.email) == ("Same Person", customer["email"].lower())

    # A redelivery is a duplicate; nothing starts twice.
    assert (await _post_shopify(stack, shop, "customers/redact", redact, webhook_id="r-1"))[1] == {
        "status": "duplicate"
    }
    assert len(await _privacy_requests(stack, tenant.id)) == 1


async def test_shopify_data_request_starts_the_export_workflow(
    stack: Stack, store_tenant: NewTenant, fixtures_dir: Path
) -> None:
    tenant = await store_tenant()
    integration_id, shop = await _shopify_shop(stack, tenant.id)
    customer = json.loads((fixtures_dir / "shopify/shopify_python_api/customer.json").read_text())[
        "customer"
    ]
    await _post_shopify(stack, shop, "customers/create", customer, webhook_id="c-1")
    assert await _applied(stack, integration_id, "c-1") == "applied"
    request_body = {
        "shop_id": 1,
        "shop_domain": shop,
        "customer": {"id": customer["id"], "email": customer["email"], "phone": None},
        "orders_requested": [],
        "data_request": {"id": 9999},
    }
    await _post_shopify(stack, shop, "customers/data_request", request_body, webhook_id="d-1")
    assert await _applied(stack, integration_id, "d-1") == "exported"
    (request,) = await _privacy_requests(stack, tenant.id)
    assert (request.kind, request.source, request.status) == ("export", "shopify", "done")
    assert request.document is not None
    assert request.document["customer"]["email"] == customer["email"].lower()
    assert request.document["customer"]["external_id"] == str(customer["id"])
    async with stack.sessions() as session:
        event = await session.scalar(
            select(StoreEvent).where(
                StoreEvent.integration_id == integration_id, StoreEvent.dedupe_key == "d-1"
            )
        )
    # The webhook's payload is not kept: the export lives on the request only.
    assert event is not None and event.payload is None

    # Nobody matches: nothing is started.
    request_body["customer"] = {"id": 1, "email": "nobody@example.test", "phone": None}
    await _post_shopify(stack, shop, "customers/data_request", request_body, webhook_id="d-2")
    assert await _applied(stack, integration_id, "d-2") == "no_customer"
    assert len(await _privacy_requests(stack, tenant.id)) == 1


async def test_shopify_shop_redaction_erases_every_store_customer_and_order_address(
    stack: Stack, store_tenant: NewTenant, fixtures_dir: Path
) -> None:
    tenant = await store_tenant()
    integration_id, shop = await _shopify_shop(stack, tenant.id)
    customer = json.loads((fixtures_dir / "shopify/shopify_python_api/customer.json").read_text())[
        "customer"
    ]
    order = json.loads((fixtures_dir / "shopify/shopify_python_api/order.json").read_text())[
        "order"
    ]
    # A guest checkout that left no way to reach the buyer: an order without a customer.
    guest_order = {
        **copy.deepcopy(order),
        "id": 450789470,
        "name": "#1002",
        "customer": None,
        "email": None,
        "contact_email": None,
        "phone": None,
    }
    await _post_shopify(stack, shop, "customers/create", customer, webhook_id="c-1")
    assert await _applied(stack, integration_id, "c-1") == "applied"
    await _post_shopify(stack, shop, "orders/create", order, webhook_id="o-1")
    assert await _applied(stack, integration_id, "o-1") == "applied"
    await _post_shopify(stack, shop, "orders/create", guest_order, webhook_id="o-2")
    assert await _applied(stack, integration_id, "o-2") == "applied"
    # A customer who only ever wrote on WhatsApp is not the store's: kept.
    async with stack.sessions() as session, session.begin():
        chat_only = Customer(tenant_id=tenant.id, phone_e164="+14155550123", name="Chat Only")
        session.add(chat_only)
    async with stack.sessions() as session:
        addressed = (
            await session.execute(
                select(Order.external_id, Order.customer_id.is_not(None))
                .where(Order.tenant_id == tenant.id, Order.address.is_not(None))
                .order_by(Order.external_id)
            )
        ).all()
    assert [tuple(o) for o in addressed] == [("450789469", True), ("450789470", False)]

    await _post_shopify(
        stack, shop, "shop/redact", {"shop_id": 1, "shop_domain": shop}, webhook_id="s-1"
    )
    assert await _applied(stack, integration_id, "s-1") == "redacted"

    (request,) = await _privacy_requests(stack, tenant.id)
    async with stack.sessions() as session:
        people = {
            p.id: (p.name, p.email, p.phone_e164, p.external_id)
            for p in (
                await session.execute(select(Customer).where(Customer.tenant_id == tenant.id))
            ).scalars()
        }
        orders = (
            await session.execute(
                select(Order.external_id, Order.address, Order.customer_id)
                .where(Order.tenant_id == tenant.id)
                .order_by(Order.external_id)
            )
        ).all()
    assert (request.kind, request.source, request.status, request.requested_by) == (
        "delete",
        "shopify",
        "done",
        "shopify:shop/redact",
    )
    assert people == {
        request.customer_id: (None, None, None, None),
        chat_only.id: ("Chat Only", None, "+14155550123", None),
    }
    assert [tuple(o) for o in orders] == [("450789469", None, None), ("450789470", None, None)]

    # A redelivery is a duplicate; nothing starts twice.
    assert (
        await _post_shopify(
            stack, shop, "shop/redact", {"shop_id": 1, "shop_domain": shop}, webhook_id="s-1"
        )
    )[1] == {"status": "duplicate"}
    assert len(await _privacy_requests(stack, tenant.id)) == 1


async def test_woocommerce_ping_signature_and_dedupe(
    stack: Stack, store_tenant: NewTenant, fixtures_dir: Path
) -> None:
    tenant = await store_tenant()
    async with stack.sessions() as session, session.begin():
        integration = await connect(
            session,
            stack.settings.keyring,
            tenant_id=tenant.id,
            kind="woocommerce",
            name="Woo",
            credentials=WooCommerceCredentials(
                consumer_key=SecretStr("ck_x"),
                consumer_secret=SecretStr("cs_x"),
                webhook_secret=SecretStr(WOO_SECRET),
            ),
            base_url="https://woo.example",
        )
    url = f"/webhooks/woocommerce/{integration.id}"
    ping = await stack.http.post(
        url, content=b"webhook_id=12", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (ping.status_code, ping.json()) == (200, {"status": "pong"})

    raw = (
        (fixtures_dir / "woocommerce/rest_api_docs_v3/wc_v3_orders_create_response.json")
        .read_bytes()
        .strip()
    )
    headers = {
        "X-WC-Webhook-Topic": "order.created",
        "X-WC-Webhook-Signature": _b64_hmac(WOO_SECRET, raw),
        "Content-Type": "application/json",
    }
    first = await stack.http.post(url, content=raw, headers=headers)
    again = await stack.http.post(url, content=raw, headers=headers)
    assert (first.status_code, first.json(), again.json()) == (
        200,
        {"status": "accepted"},
        {"status": "duplicate"},
    )
    body = json.loads(raw)
    assert (
        await _applied(
            stack, integration.id, f"order.created:{body['id']}:{body['date_modified_gmt']}"
        )
        == "applied"
    )

    forged = await stack.http.post(
        url, content=raw, headers={**headers, "X-WC-Webhook-Signature": _b64_hmac("nope", raw)}
    )
    assert forged.status_code == 401
    unknown = await stack.http.post(
        f"/webhooks/woocommerce/{uuid.uuid4()}", content=raw, headers=headers
    )
    assert unknown.status_code == 404

    async with stack.sessions() as session:
        orders = (
            await session.execute(
                select(Order.external_id, Order.number, Order.status).where(
                    Order.tenant_id == tenant.id
                )
            )
        ).all()
        events = await session.scalar(
            select(func.count())
            .select_from(StoreEvent)
            .where(StoreEvent.integration_id == integration.id)
        )
        messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.tenant_id == tenant.id)
        )
    assert [tuple(o) for o in orders] == [("727", "727", "preparing")]
    assert (events, messages) == (1, 0)
