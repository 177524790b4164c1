"""``ShopifyClient`` against ``FakeShopify`` over real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tendero.errors import StoreAuthError, StoreRejected, StoreUnavailable
from tendero.stores.credentials import ShopifyCredentials
from tendero.stores.http import RetryPolicy
from tendero.stores.records import (
    DiscountRequest,
    DraftLine,
    OrderDraft,
    Page,
    RefundRequest,
    Resource,
    StoreAddress,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreProduct,
    StoreRecord,
)
from tendero.stores.shopify import WEBHOOK_TOPICS, ShopifyClient
from tests.fakes.shopify_server import FakeShopify

FAST = RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=5.0)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


def make_client(http: httpx.AsyncClient, fake: FakeShopify, **kwargs: Any) -> ShopifyClient:
    kwargs.setdefault("credentials", fake.credentials())
    kwargs.setdefault("policy", FAST)
    return ShopifyClient(http, shop_domain=fake.shop_domain, base_url=fake.url, **kwargs)


async def scan(
    client: ShopifyClient,
    resource: Resource,
    *,
    page_size: int,
    updated_since: datetime | None = None,
    cursor: str | None = None,
    max_pages: int | None = None,
) -> tuple[list[StoreRecord], list[Page[StoreRecord]], str | None]:
    """Follow a scan (ignoring retry_after_s: the fake counts polls, not time)."""
    items: list[StoreRecord] = []
    pages: list[Page[StoreRecord]] = []
    while True:
        page = await client.fetch_page(
            resource, cursor=cursor, updated_since=updated_since, page_size=page_size
        )
        pages.append(page)
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None or (max_pages is not None and len(pages) >= max_pages):
            return items, pages, cursor


# --- reading ------------------------------------------------------------------------------


async def test_full_sync_of_customers_uses_bulk(http: httpx.AsyncClient) -> None:
    async with FakeShopify(bulk_polls_running=2) as fake:
        fake.generate(customers=1000)
        client = make_client(http, fake)
        items, pages, _ = await scan(client, Resource.CUSTOMERS, page_size=100)
        assert [p.pending for p in pages[:3]] == [True, True, True]
        assert pages[0].next_cursor is not None and pages[0].next_cursor.endswith(":0")
        data_pages = [p for p in pages if not p.pending]
        assert [len(p.items) for p in data_pages] == [100] * 10
        ids = [c.external_id for c in items]
        assert len(ids) == len(set(ids)) == 1000
        assert set(ids) == {str(i) for i in fake.customers}
        assert all(int(i) > 2**53 for i in ids)  # no float rounding anywhere
        first = items[0]
        assert isinstance(first, StoreCustomer)
        source = fake.customers[int(first.external_id)]
        assert (first.email, first.phone, first.name) == (
            source.email,
            source.phone,
            f"{source.first_name} {source.last_name}",
        )
        # O(n): every byte of the file was downloaded about once.
        op = next(iter(fake.bulk_operations.values()))
        assert op.data is not None
        assert fake.bulk_bytes_served <= 1.3 * len(op.data)
        assert fake.violations == []


async def test_bulk_products_keep_children_with_their_parent(http: httpx.AsyncClient) -> None:
    async with FakeShopify(bulk_polls_running=0) as fake:
        fake.generate(products=61)
        client = make_client(http, fake)
        items, pages, _ = await scan(client, Resource.PRODUCTS, page_size=7)
        assert [len(p.items) for p in pages if not p.pending] == [7] * 8 + [5]
        assert len(items) == 61
        for product in items:
            assert isinstance(product, StoreProduct)
            source = fake.products[int(product.external_id)]
            assert [v.external_id for v in product.variants] == [str(v.id) for v in source.variants]
            assert product.category_external_ids == [str(c) for c in source.collection_ids]
            assert product.published is (source.status == "ACTIVE")
        assert fake.violations == []


async def test_bulk_orders_resume_from_a_mid_scan_cursor(http: httpx.AsyncClient) -> None:
    async with FakeShopify(bulk_polls_running=1) as fake:
        fake.generate(products=10, customers=20, orders=95)
        first_items, _, cursor = await scan(
            make_client(http, fake), Resource.ORDERS, page_size=10, max_pages=5
        )
        assert cursor is not None and cursor.startswith("bulk:gid://shopify/BulkOperation/")
        assert len(first_items) == 30  # 2 pending polls, then 3 pages
        # A new worker (new client) resumes from the heartbeated cursor; a repeated page
        # (the activity retried) is identical.
        resumed = make_client(http, fake)
        again = await resumed.fetch_page(
            Resource.ORDERS, cursor=cursor, updated_since=None, page_size=10
        )
        rest, _, end = await scan(resumed, Resource.ORDERS, page_size=10, cursor=cursor)
        assert end is None
        assert [o.external_id for o in again.items] == [o.external_id for o in rest[:10]]
        ids = [o.external_id for o in first_items + rest]
        assert len(ids) == len(set(ids)) == 95
        assert set(ids) == {str(i) for i in fake.orders}
        for order in first_items + rest:
            assert isinstance(order, StoreOrder)
            source = fake.orders[int(order.external_id)]
            assert len(order.lines) == len(source.lines)
            assert order.total == source.total
            assert order.customer_external_id == str(source.customer_id)
        assert fake.violations == []


async def test_bulk_failure_and_empty_result(http: httpx.AsyncClient) -> None:
    async with FakeShopify(bulk_polls_running=0) as fake:
        client = make_client(http, fake)
        items, pages, _ = await scan(client, Resource.CUSTOMERS, page_size=50)
        assert items == [] and len(pages) == 2 and pages[-1].next_cursor is None
        fake.bulk_outcome = "FAILED"
        fake.generate(customers=3)
        with pytest.raises(StoreRejected) as err:
            await scan(client, Resource.CUSTOMERS, page_size=50)
        assert err.value.provider_code == "INTERNAL_SERVER_ERROR"


async def test_incremental_sync_returns_exactly_the_touched_records(
    http: httpx.AsyncClient,
) -> None:
    async with FakeShopify() as fake:
        fake.generate(customers=300)
        since = datetime(2026, 2, 1, 10, tzinfo=UTC)
        ids = list(fake.customers)
        touched = [ids[250], ids[3], ids[100], ids[42], ids[7], ids[299], ids[0]]
        for n, cid in enumerate(touched):
            fake.touch_customer(cid, since + timedelta(minutes=n))
        fake.touch_customer(ids[5], since - timedelta(seconds=1))  # just before: excluded
        client = make_client(http, fake)
        items, pages, _ = await scan(client, Resource.CUSTOMERS, page_size=3, updated_since=since)
        assert [len(p.items) for p in pages] == [3, 3, 1]
        assert [c.external_id for c in items] == [str(c) for c in touched]
        assert not fake.bulk_operations  # incremental never starts a bulk operation
        assert fake.violations == []


async def test_categories_use_cursor_pagination(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        fake.generate(collections=12)
        items, pages, _ = await scan(make_client(http, fake), Resource.CATEGORIES, page_size=5)
        assert [len(p.items) for p in pages] == [5, 5, 2]
        assert all(isinstance(c, StoreCategory) for c in items)
        assert sorted(c.external_id for c in items) == sorted(str(c) for c in fake.collections)
        assert not fake.bulk_operations


async def test_page_size_is_capped_below_the_max_query_cost(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        fake.generate(products=50, orders=40)
        client = make_client(http, fake)
        since = datetime(2020, 1, 1, tzinfo=UTC)
        products = await client.fetch_page(
            Resource.PRODUCTS, cursor=None, updated_since=since, page_size=250
        )
        orders = await client.fetch_page(
            Resource.ORDERS, cursor=None, updated_since=since, page_size=250
        )
        assert (len(products.items), len(orders.items)) == (38, 32)
        assert max(cost for _, cost in fake.operations) <= 1000
        assert fake.violations == []


# --- throttling ---------------------------------------------------------------------------


async def test_standard_limits_are_obeyed_without_being_throttled(
    http: httpx.AsyncClient,
) -> None:
    # Standard plan: 2000 points, 100/s. The bucket starts nearly empty, so the client has
    # to pace itself for about 4.6 s of refill.
    async with FakeShopify(initially_available=150) as fake:
        fake.generate(customers=600)
        client = make_client(http, fake)
        since = datetime(2020, 1, 1, tzinfo=UTC)
        started = time.monotonic()
        results = await asyncio.gather(
            scan(client, Resource.CUSTOMERS, page_size=100, updated_since=since),
            scan(
                client,
                Resource.CUSTOMERS,
                page_size=100,
                updated_since=datetime(2025, 1, 1, 0, 5, tzinfo=UTC),
            ),
        )
        elapsed = time.monotonic() - started
        assert len(results[0][0]) == 600
        assert len(results[1][0]) == 300
        assert [cost for _, cost in fake.operations] == [102] * 9
        assert elapsed >= (9 * 102 - 150) / 100 - 0.2
        assert fake.throttled_replies == 0
        assert fake.violations == []


async def test_throttled_reply_is_waited_out(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        fake.generate(customers=60)
        fake.set_available(0)
        client = make_client(http, fake)
        started = time.monotonic()
        page = await client.fetch_page(
            Resource.CUSTOMERS,
            cursor=None,
            updated_since=datetime(2020, 1, 1, tzinfo=UTC),
            page_size=50,
        )
        assert len(page.items) == 50
        assert fake.throttled_replies == 1
        assert time.monotonic() - started >= 0.52
        assert fake.violations == []


async def test_retry_after_is_honoured(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        client = make_client(http, fake)
        fake.fail_next(429, retry_after=0.6)
        started = time.monotonic()
        info = await client.shop_info()
        assert info.name == "Tendero Test Shop" and info.currency == "USD"
        assert time.monotonic() - started >= 0.6
        fake.fail_next(503, count=2)
        assert (await client.shop_info()).detail == fake.shop_domain
        fake.fail_next(500, count=10)
        with pytest.raises(StoreUnavailable):
            await client.shop_info()
        assert fake.violations == []


# --- tokens -------------------------------------------------------------------------------


async def test_401_refreshes_the_token_once_and_saves_it_first(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        creds = fake.expiring_credentials()
        saved: list[ShopifyCredentials] = []

        async def on_credentials(new: ShopifyCredentials) -> None:
            saved.append(new)
            # Saved before use: no GraphQL request has been answered with it yet.
            assert len(fake.operations) == 0

        client = make_client(
            http,
            fake,
            credentials=creds,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            on_credentials=on_credentials,
        )
        fake.expire_access_tokens()
        infos = await asyncio.gather(*(client.shop_info() for _ in range(5)))
        assert len(infos) == 5
        assert len(saved) == 1 and fake.refreshes == 1
        assert saved[0].refresh_token is not None and creds.refresh_token is not None
        assert saved[0].refresh_token.get_secret_value() != creds.refresh_token.get_secret_value()
        assert client.credentials == saved[0]
        await client.shop_info()
        assert fake.refreshes == 1
        assert fake.violations == []


async def test_expiring_token_is_refreshed_before_use(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        creds = fake.expiring_credentials(expires_in_s=60)  # inside the 5-minute margin
        saved: list[ShopifyCredentials] = []

        async def on_credentials(new: ShopifyCredentials) -> None:
            saved.append(new)

        client = make_client(
            http,
            fake,
            credentials=creds,
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            on_credentials=on_credentials,
        )
        await client.shop_info()
        assert fake.refreshes == 1 and len(saved) == 1


async def test_auth_errors(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        wrong = ShopifyCredentials(access_token="shpat_wrong")
        with pytest.raises(StoreAuthError):
            await make_client(http, fake, credentials=wrong).shop_info()
        creds = fake.expiring_credentials()
        fake.expire_access_tokens()
        with pytest.raises(StoreAuthError):  # no client secret: cannot refresh
            await make_client(http, fake, credentials=creds).shop_info()


# --- lookups ------------------------------------------------------------------------------


async def test_lookups_on_fixture_data(http: httpx.AsyncClient, fixtures_dir: Path) -> None:
    async with FakeShopify() as fake:
        fake.seed_from_fixtures(fixtures_dir)
        client = make_client(http, fake)
        found = await client.search_products("ipod nano", limit=10)
        assert sorted(p.external_id for p in found) == ["1", "2", "3", "4", "632910392"]
        # Search syntax in the customer's text is neutralised: no OR, no extra filter.
        assert await client.search_products('nano") OR status:draft', limit=10) == []
        assert len(await client.search_products("NANO", limit=2)) == 2
        product = await client.get_product("632910392")
        assert product is not None and len(product.variants) == 4
        assert product.variants[0].price == Decimal("199.00")
        assert await client.get_product("999") is None
        assert await client.get_product("not-an-id") is None
        order = await client.get_order("450789469")
        assert order is not None
        assert (order.number, order.total, order.tracking_numbers) == (
            "#1001",
            Decimal("409.94"),
            ["1Z2345"],
        )
        assert [li.variant_external_id for li in order.lines] == [
            "39072856",
            "49148385",
            "457924702",
        ]
        orders = await client.find_orders(email="bob.norman@hostmail.com")
        assert [o.external_id for o in orders] == ["450789469"]
        assert await client.find_orders() == []
        customer = await client.find_customer(email="bob.norman@hostmail.com")
        assert customer is not None and customer.external_id == "207119551"
        assert await client.find_customer(email="nobody@example.com") is None


# --- writing ------------------------------------------------------------------------------


def _draft(fake: FakeShopify) -> OrderDraft:
    product = next(iter(fake.products.values()))
    variant = product.variants[0]
    customer = next(iter(fake.customers.values()))
    return OrderDraft(
        currency="USD",
        lines=[
            DraftLine(
                product_external_id=str(product.id),
                variant_external_id=str(variant.id),
                quantity=2,
                unit_price=variant.price,
                name=product.title,
            )
        ],
        email=customer.email,
        customer_external_id=str(customer.id),
        fulfilment="delivery",
        shipping_address=StoreAddress(name="Ana Diaz", line1="Calle 1", city="Lima", country="PE"),
        shipping_total=Decimal("5.00"),
        total=variant.price * 2 + Decimal("5.00"),
        payment_method="cash_on_delivery",
    )


async def test_create_order_is_idempotent(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        fake.generate(products=3, customers=2)
        client = make_client(http, fake)
        draft = _draft(fake)
        first = await client.create_order(draft, idempotency_key="chk-123")
        again = await client.create_order(draft, idempotency_key="chk-123")
        assert again.external_id == first.external_id
        assert len(fake.orders_created) == 1
        assert first.idempotency_key == "chk-123"
        assert first.total == draft.total and first.shipping_total == Decimal("5.00")
        assert first.customer_external_id == draft.customer_external_id
        assert first.shipping_address is not None and first.shipping_address.country == "PE"
        created = fake.orders_created[0]
        assert created.source_identifier == "chk-123"
        other = await client.create_order(draft, idempotency_key="chk-456")
        assert other.external_id != first.external_id and len(fake.orders_created) == 2
        bad = draft.model_copy(
            update={"lines": [draft.lines[0].model_copy(update={"variant_external_id": "1"})]}
        )
        with pytest.raises(StoreRejected) as err:
            await client.create_order(bad, idempotency_key="chk-789")
        assert err.value.provider_code == "INVALID"
        assert fake.violations == []


async def test_discount_is_idempotent_per_code(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        client = make_client(http, fake)
        expires = datetime(2026, 12, 31, tzinfo=UTC)
        request = DiscountRequest(code="VUELVE15", percent=Decimal("15"), expires_at=expires)
        first = await client.create_discount(request)
        again = await client.create_discount(request)
        assert first == again and first.code == "VUELVE15"
        assert len(fake.discounts) == 1
        stored = fake.discounts["VUELVE15"]
        assert stored["customerGets"]["value"] == {"percentage": 0.15}
        assert (stored["usageLimit"], stored["endsAt"]) == (1, "2026-12-31T00:00:00Z")
        fixed = await client.create_discount(
            DiscountRequest(code="MENOS5", amount=Decimal("5.00"), expires_at=expires)
        )
        assert fake.discounts["MENOS5"]["customerGets"]["value"] == {
            "discountAmount": {"amount": "5.00", "appliesOnEachItem": False}
        }
        assert fixed.external_id != first.external_id
        with pytest.raises(StoreRejected):
            await client.create_discount(
                DiscountRequest(
                    code="BOTH", percent=Decimal("5"), amount=Decimal("1"), expires_at=expires
                )
            )


async def test_refund_is_idempotent(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        fake.generate(products=2, customers=1, orders=2)
        order_id = next(iter(fake.orders))
        client = make_client(http, fake)
        request = RefundRequest(
            order_external_id=str(order_id), amount=Decimal("3.50"), currency="USD", reason="late"
        )
        first = await client.refund(request, idempotency_key="ref-1")
        again = await client.refund(request, idempotency_key="ref-1")
        assert first == again and first.amount == Decimal("3.50")
        assert len(fake.refunds) == 1
        assert fake.refunds[0]["note"] == "late (3.50 USD, via Tendero)"
        money = request.model_copy(update={"move_money": True})
        with pytest.raises(StoreRejected) as err:
            await client.refund(money, idempotency_key="ref-2")
        assert err.value.provider_code == "no_capture"
        fake.add_order_transaction(order_id, Decimal("20.00"))
        paid = await client.refund(money, idempotency_key="ref-3")
        assert paid.amount == Decimal("3.50") and len(fake.refunds) == 2
        assert fake.violations == []


async def test_webhook_registration_is_idempotent(http: httpx.AsyncClient) -> None:
    async with FakeShopify() as fake:
        client = make_client(http, fake)
        address = "https://hooks.tendero.example/shopify/t1"
        first = await client.register_webhooks(address=address, secret="ignored")
        again = await client.register_webhooks(address=address, secret="ignored")
        assert len(fake.webhooks) == len(WEBHOOK_TOPICS) == 10
        assert sorted(w.external_id for w in first) == sorted(w.external_id for w in again)
        listed = await client.list_webhooks()
        assert {w.topic for w in listed} == {
            "orders/create",
            "orders/updated",
            "orders/cancelled",
            "customers/create",
            "customers/update",
            "customers/delete",
            "products/create",
            "products/update",
            "products/delete",
            "app/uninstalled",
        }
        assert all(w.address == address and w.active for w in listed)
        with pytest.raises(StoreRejected):  # Shopify wants HTTPS
            await client.register_webhooks(address="http://plain.example/x", secret="")
        assert fake.violations == []


# --- error mapping (scripted transport: answers the fake never gives) ----------------------


def _scripted(status: int, body: Any) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode())

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def _error(code: str) -> dict[str, Any]:
    return {"errors": [{"message": "x", "extensions": {"code": code}}]}


@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (200, _error("ACCESS_DENIED"), StoreAuthError, "ACCESS_DENIED"),
        (200, _error("INTERNAL_ERROR"), StoreRejected, "INTERNAL_ERROR"),
        (200, {"data": {"shop": None}}, StoreRejected, "invalid_payload"),
        (200, {"unexpected": True}, StoreRejected, None),
        (403, {"errors": "Forbidden"}, StoreAuthError, None),
        (404, {"errors": "Not Found"}, StoreRejected, None),
        (402, {"errors": "Unavailable Shop"}, StoreRejected, None),
    ],
)
async def test_error_mapping(
    status: int, body: dict[str, Any], error: type[Exception], code: str | None
) -> None:
    async with _scripted(status, body) as http:
        client = ShopifyClient(
            http,
            shop_domain="x.myshopify.com",
            credentials=ShopifyCredentials(access_token="t"),
            policy=FAST,
        )
        with pytest.raises(error) as err:
            await client.shop_info()
        assert getattr(err.value, "provider_code", None) == code


async def test_user_errors_become_rejections() -> None:
    discount_error = {
        "data": {
            "discountCodeBasicCreate": {
                "codeDiscountNode": None,
                "userErrors": [
                    {"field": ["basicCodeDiscount", "endsAt"], "message": "x", "code": "INVALID"}
                ],
            }
        }
    }
    refund_error = {
        "data": {
            "refundCreate": {
                "refund": None,
                "userErrors": [{"field": ["input", "orderId"], "message": "x"}],
            }
        }
    }
    credentials = ShopifyCredentials(access_token="t")
    async with _scripted(200, discount_error) as http:
        client = ShopifyClient(http, shop_domain="x.myshopify.com", credentials=credentials)
        with pytest.raises(StoreRejected) as err:
            await client.create_discount(
                DiscountRequest(
                    code="ABC", percent=Decimal("5"), expires_at=datetime(2030, 1, 1, tzinfo=UTC)
                )
            )
        assert err.value.provider_code == "INVALID"
    async with _scripted(200, refund_error) as http:
        client = ShopifyClient(http, shop_domain="x.myshopify.com", credentials=credentials)
        with pytest.raises(StoreRejected) as err:
            await client.refund(
                RefundRequest(order_external_id="1", amount=Decimal("1"), currency="USD"),
                idempotency_key="k",
            )
        assert err.value.provider_code == "input.orderId"


def test_constructor_rejects_bad_shop() -> None:
    with pytest.raises(ValueError):
        ShopifyClient(
            httpx.AsyncClient(),
            shop_domain="x.myshopify.com.evil.com",
            credentials=ShopifyCredentials(access_token="t"),
        )
