"""CustomBackendClient against FakeCustomBackend over real HTTP: paging, auth, orders, errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from tendero.errors import (
    StoreAuthError,
    StoreError,
    StoreNotSupported,
    StoreRejected,
    StoreThrottled,
    StoreUnavailable,
)
from tendero.stores.credentials import CustomCredentials
from tendero.stores.custom import CustomBackendClient
from tendero.stores.http import RetryPolicy
from tendero.stores.records import (
    DiscountRequest,
    DraftLine,
    OrderDraft,
    RefundRequest,
    Resource,
    StoreAddress,
    StoreCategory,
    StoreOrder,
    StoreProduct,
)
from tests.fakes.custom_backend import EPOCH, LEAKY_MESSAGE, FakeCustomBackend

FAST = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=3.0)

Env = tuple[FakeCustomBackend, CustomBackendClient]
MakeEnv = Callable[..., Awaitable[Env]]


@pytest.fixture
async def make_env() -> AsyncIterator[MakeEnv]:
    """Start a fake backend (constructor kwargs) and a client for it; clean both up."""
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10))

        async def make(
            *,
            credentials: CustomCredentials | None = None,
            policy: RetryPolicy = FAST,
            **backend_kwargs: Any,
        ) -> Env:
            backend = await stack.enter_async_context(FakeCustomBackend(**backend_kwargs))
            client = CustomBackendClient(
                http,
                base_url=backend.url,
                credentials=credentials or backend.credentials,
                policy=policy,
            )
            return backend, client

        yield make


@pytest.fixture
async def env(make_env: MakeEnv) -> Env:
    backend, client = await make_env()
    backend.seed(products=250, orders=45, categories=7)
    return backend, client


async def scan(
    client: CustomBackendClient,
    resource: Resource,
    *,
    page_size: int,
    updated_since: datetime | None = None,
    cursor: str | None = None,
) -> tuple[list[Any], int]:
    """Every record from ``cursor`` on, and the number of pages read."""
    items: list[Any] = []
    pages = 0
    while True:
        page = await client.fetch_page(
            resource, cursor=cursor, updated_since=updated_since, page_size=page_size
        )
        pages += 1
        items.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return items, pages


def query_of(seen: Any) -> dict[str, list[str]]:
    return parse_qs(seen.query, keep_blank_values=True)


# -- full scans, incremental, cursors ---------------------------------------------------------


async def test_full_product_scan_reads_every_product_once_over_pages(env: Env) -> None:
    backend, client = env
    products, pages = await scan(client, Resource.PRODUCTS, page_size=100)

    assert pages == 3
    assert [p.external_id for p in products] == [str(i) for i in range(1, 251)]
    assert all(isinstance(p, StoreProduct) for p in products)
    searches = backend.seen("/api/products/search")
    assert [query_of(s)["page"] for s in searches] == [["1"], ["2"], ["3"]]
    assert all(query_of(s)["search"] == [""] for s in searches)
    assert backend.logins == 1

    by_id = {p.external_id: p for p in products}
    simple = by_id["1"]
    assert [v.external_id for v in simple.variants] == ["1"]
    assert simple.variants[0].price == Decimal("6.50")
    assert simple.variants[0].stock_quantity == 3
    assert simple.category_external_ids == ["1"]
    assert simple.updated_at == EPOCH + timedelta(minutes=1)
    with_variants = by_id["3"]
    assert [(v.external_id, v.attributes, v.price) for v in with_variants.variants] == [
        ("31", {"size": "S"}, Decimal("8.50")),
        ("32", {"size": "M"}, Decimal("9.50")),
    ]
    assert by_id["4"].variants[0].regular_price == Decimal("11.50")
    assert by_id["7"].variants[0].stock_quantity is None
    assert by_id["7"].variants[0].in_stock is True
    assert by_id["11"].variants[0].stock_quantity == 0
    assert by_id["11"].variants[0].in_stock is False
    assert [p.external_id for p in products if not p.published] == [
        str(i) for i in range(10, 251, 10)
    ]


async def test_page_total_and_limit_cap(env: Env) -> None:
    backend, client = env
    page = await client.fetch_page(
        Resource.PRODUCTS, cursor=None, updated_since=None, page_size=500
    )
    assert len(page.items) == 100
    assert page.total == 250
    assert query_of(backend.seen("/api/products/search")[-1])["limit"] == ["100"]


async def test_full_order_scan_is_newest_first_with_exact_count(env: Env) -> None:
    backend, client = env
    orders, pages = await scan(client, Resource.ORDERS, page_size=20)

    assert pages == 3
    assert [o.external_id for o in orders] == [str(i) for i in range(45, 0, -1)]
    order = next(o for o in orders if o.external_id == "4")
    assert isinstance(order, StoreOrder)
    assert order.number == "1004"
    assert order.status == "completed"
    assert order.finished is True
    assert order.customer_external_id == "u4"
    assert order.total == Decimal("24.95")
    assert order.lines[0].line_total == Decimal("20.00")
    assert order.tracking_numbers == ["TRK000004"]
    assert order.created_at == EPOCH + timedelta(hours=4)
    assert order.created_at.tzinfo is UTC
    assert next(o for o in orders if o.external_id == "1").finished is False


async def test_categories_come_in_one_page(env: Env) -> None:
    backend, client = env
    page = await client.fetch_page(
        Resource.CATEGORIES, cursor=None, updated_since=None, page_size=2
    )
    assert page.next_cursor is None
    assert len(page.items) == 7
    categories = [c for c in page.items if isinstance(c, StoreCategory)]
    assert len(categories) == 7
    parents = {c.external_id: c.parent_external_id for c in categories}
    assert parents == {"1": None, "2": None, "3": "2", "4": "1", "5": "2", "6": "1", "7": "2"}

    recent = await client.fetch_page(
        Resource.CATEGORIES,
        cursor=None,
        updated_since=EPOCH + timedelta(minutes=6),
        page_size=100,
    )
    assert [c.external_id for c in recent.items] == ["6", "7"]
    assert len(backend.seen("/api/categories")) == 2


async def test_incremental_scan_returns_only_updated_records_oldest_first(env: Env) -> None:
    backend, client = env
    since = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    backend.touch_product(17, since + timedelta(seconds=5))
    backend.touch_product(5, since)  # inclusive bound
    backend.touch_order(9, since + timedelta(minutes=1))

    products, pages = await scan(client, Resource.PRODUCTS, page_size=100, updated_since=since)
    assert pages == 1
    assert [p.external_id for p in products] == ["5", "17"]
    orders, _ = await scan(client, Resource.ORDERS, page_size=100, updated_since=since)
    assert [o.external_id for o in orders] == ["9"]

    sent = query_of(backend.seen("/api/products/search")[-1])["updated_after"]
    assert [datetime.fromisoformat(s) for s in sent] == [since]

    # Products 201..250 plus the two touched ones, across pages of 20, none twice.
    tail, pages = await scan(
        client,
        Resource.PRODUCTS,
        page_size=20,
        updated_since=EPOCH + timedelta(minutes=201),
    )
    assert pages == 3
    assert [p.external_id for p in tail] == [str(i) for i in range(201, 251)] + ["5", "17"]


async def test_incremental_since_in_other_timezone_is_normalised(env: Env) -> None:
    backend, client = env
    from datetime import timezone

    madrid_summer = timezone(timedelta(hours=2))
    since = (EPOCH + timedelta(minutes=249)).astimezone(madrid_summer)
    page = await client.fetch_page(
        Resource.PRODUCTS, cursor=None, updated_since=since, page_size=10
    )
    assert [p.external_id for p in page.items] == ["249", "250"]
    with pytest.raises(StoreRejected):
        await client.fetch_page(
            Resource.PRODUCTS,
            cursor=None,
            updated_since=datetime(2025, 1, 1),  # noqa: DTZ001 - naive on purpose
            page_size=10,
        )


async def test_scan_resumes_exactly_from_a_cursor(env: Env) -> None:
    backend, client = env
    first = await client.fetch_page(
        Resource.PRODUCTS, cursor=None, updated_since=None, page_size=40
    )
    assert first.next_cursor is not None

    # A new client (another worker after a crash) continues from the heartbeated cursor.
    async with httpx.AsyncClient(timeout=10) as http:
        other = CustomBackendClient(http, base_url=backend.url, credentials=backend.credentials)
        rest, pages = await scan(other, Resource.PRODUCTS, page_size=40, cursor=first.next_cursor)
    assert pages == 6
    ids = [p.external_id for p in first.items] + [p.external_id for p in rest]
    assert ids == [str(i) for i in range(1, 251)]

    # An incremental cursor keeps its updated_after even if the caller forgets it.
    since = EPOCH + timedelta(minutes=231)
    page = await client.fetch_page(
        Resource.PRODUCTS, cursor=None, updated_since=since, page_size=10
    )
    assert [p.external_id for p in page.items] == [str(i) for i in range(231, 241)]
    resumed, _ = await scan(client, Resource.PRODUCTS, page_size=10, cursor=page.next_cursor)
    assert [p.external_id for p in resumed] == [str(i) for i in range(241, 251)]


async def test_foreign_or_garbled_cursors_are_rejected(env: Env) -> None:
    backend, client = env
    page = await client.fetch_page(Resource.PRODUCTS, cursor=None, updated_since=None, page_size=10)
    assert page.next_cursor is not None
    before = len(backend.requests)
    for resource, cursor in [
        (Resource.ORDERS, page.next_cursor),
        (Resource.PRODUCTS, "products:0"),
        (Resource.PRODUCTS, "garbage"),
        (Resource.PRODUCTS, "products:2@yesterday"),
        (Resource.CATEGORIES, "categories:2"),
    ]:
        with pytest.raises(StoreRejected):
            await client.fetch_page(resource, cursor=cursor, updated_since=None, page_size=10)
    assert len(backend.requests) == before


# -- auth -------------------------------------------------------------------------------------


async def test_login_is_lazy_and_shared_by_concurrent_calls(make_env: MakeEnv) -> None:
    backend, client = await make_env()
    backend.seed(products=5)
    assert backend.login_attempts == 0

    results = await asyncio.gather(*(client.get_product(str(i)) for i in range(1, 6)))
    assert [p.external_id for p in results if p] == ["1", "2", "3", "4", "5"]
    assert backend.login_attempts == 1
    assert backend.logins == 1


async def test_expired_token_means_one_login_again_and_the_call_succeeds(
    make_env: MakeEnv,
) -> None:
    # The backend says an hour but its tokens die after 0.5 s (clock skew, restarts...).
    backend, client = await make_env(token_lifetime_s=0.5, advertised_lifetime_s=3600)
    backend.seed(products=3)
    assert await client.get_product("1") is not None
    assert backend.logins == 1
    await asyncio.sleep(0.7)

    product = await client.get_product("2")
    assert product is not None and product.external_id == "2"
    assert backend.logins == 2
    assert backend.login_attempts == 2
    assert [(s.path, s.status) for s in backend.seen()] == [
        ("/api/auth/login", 200),
        ("/api/products/1", 200),
        ("/api/products/2", 401),
        ("/api/auth/login", 200),
        ("/api/products/2", 200),
    ]


async def test_token_is_renewed_before_its_advertised_expiry(make_env: MakeEnv) -> None:
    backend, client = await make_env(token_lifetime_s=1.0)
    backend.seed(products=3)
    await client.get_product("1")
    await asyncio.sleep(0.95)  # inside the 10 % refresh margin, before the real expiry

    await client.get_product("2")
    assert backend.logins == 2
    assert all(s.status == 200 for s in backend.seen())


async def test_revoked_token_is_replaced_once(env: Env) -> None:
    backend, client = env
    await client.get_product("1")
    backend.revoke_tokens()
    results = await asyncio.gather(*(client.get_product(str(i)) for i in range(2, 6)))
    assert all(r is not None for r in results)
    # Four calls met a 401 with the same stale token: one login serves all of them.
    assert backend.logins == 2
    assert sum(1 for s in backend.seen() if s.status == 401) == 4


async def test_a_second_401_is_an_auth_error(env: Env) -> None:
    backend, client = env
    await client.get_product("1")
    backend.fail_next(401, times=2)
    with pytest.raises(StoreAuthError) as caught:
        await client.get_product("2")
    assert caught.value.status == 401
    assert backend.logins == 2


async def test_wrong_password_is_one_login_attempt_per_call(make_env: MakeEnv) -> None:
    bad = CustomCredentials(username="tendero-sync", password=SecretStr("hunter2-wrong"))
    backend, client = await make_env(credentials=bad)
    backend.seed(products=3)

    for attempt in (1, 2):
        with pytest.raises(StoreAuthError) as caught:
            await client.get_product("1")
        assert backend.login_attempts == attempt
        assert caught.value.status == 401
        assert caught.value.provider_code == "invalid_credentials"
        assert "hunter2" not in str(caught.value)
        assert "jane.doe" not in str(caught.value)
    with pytest.raises(StoreAuthError):
        await client.shop_info()
    assert backend.login_attempts == 3
    assert backend.logins == 0
    assert [s.path for s in backend.seen()] == ["/api/auth/login"] * 3


async def test_tokens_and_passwords_stay_out_of_logs(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    backend, client = env
    caplog.set_level("DEBUG")
    await client.find_customer(phone="+34600000001")
    backend.revoke_tokens()
    await client.find_orders(email="customer1@example.test")
    token = backend.issue_token()
    text = caplog.text
    assert backend.password not in text
    assert token.split(".")[0] + "." not in text  # no JWT header+payload prefix
    assert "eyJ" not in text
    assert "customer1@example.test" not in text
    assert "+34600000001" not in text


# -- products, orders, customers --------------------------------------------------------------


async def test_search_and_get_product(env: Env) -> None:
    backend, client = env
    found = await client.search_products("green tea", limit=5)
    # "Green Tea" names are ids ≡ 0 (mod 5); 10, 20, ... are inactive and dropped.
    assert [p.external_id for p in found] == ["5", "15", "25"]
    assert query_of(backend.seen("/api/products/search")[-1])["search"] == ["green tea"]
    assert await client.search_products("tea", limit=0) == []

    assert await client.get_product("999") is None
    product = await client.get_product("6")
    assert product is not None
    assert [v.external_id for v in product.variants] == ["61", "62"]


async def test_get_order_finds_by_id_not_by_another_orders_number(env: Env) -> None:
    backend, client = env
    order = await client.get_order("7")
    assert order is not None
    assert (order.external_id, order.number) == ("7", "1007")
    assert await client.get_order("999") is None
    # "1007" is order 7's number, not an id: never return order 7 for it.
    assert await client.get_order("1007") is None
    assert [query_of(s)["number"] for s in backend.seen("/api/orders/search")] == [
        ["7"],
        ["999"],
        ["1007"],
    ]


async def test_find_orders_by_phone_email_and_both(env: Env) -> None:
    backend, client = env
    by_phone = await client.find_orders(phone="+34600000002", limit=3)
    assert [o.external_id for o in by_phone] == ["42", "37", "32"]
    by_email = await client.find_orders(email="customer3@example.test", limit=100)
    assert [o.external_id for o in by_email] == [str(i) for i in range(43, 0, -5)]
    both = await client.find_orders(email="customer3@example.test", phone="+34600000002", limit=4)
    assert [o.external_id for o in both] == ["43", "42", "38", "37"]
    with pytest.raises(StoreRejected):
        await client.find_orders()
    assert await client.find_orders(phone="+34699999999") == []


async def test_find_customer_profile_and_active_orders(env: Env) -> None:
    backend, client = env
    customer = await client.find_customer(phone="+34600000003")
    assert customer is not None
    assert (customer.external_id, customer.email) == ("u3", "customer3@example.test")
    assert customer.updated_at == EPOCH + timedelta(days=3)
    assert backend.seen("/api/users/by-phone/")[-1].path == "/api/users/by-phone/+34600000003"
    assert await client.find_customer(phone="+34699999999") is None

    by_email = await client.find_customer(email="customer4@example.test")
    assert by_email is not None
    assert by_email.external_id == "u4"
    assert by_email.phone == "+34600000004"
    assert await client.find_customer(email="nobody@example.test") is None

    profile = await client.customer_profile("+34600000002")
    assert profile is not None
    assert profile.external_id == "u2"
    assert profile.addresses == [
        StoreAddress(
            name="Customer 2", line1="Calle Mayor 2", city="Madrid", postcode="28002", country="ES"
        )
    ]
    assert profile.preferences == {"language": "es", "newsletter": True}
    assert await client.customer_profile("+34699999999") is None

    active = await client.active_orders("+34600000001")
    # Customer 1 has orders 1, 6, ..., 41; statuses cycle, 4 and 5 of each 5 are finished.
    assert [o.external_id for o in active] == ["41", "36", "31", "26", "21", "16", "11", "6", "1"]
    assert all(not o.finished for o in active)


async def test_shop_info_delivery_options_and_payment_methods(env: Env) -> None:
    backend, client = env
    info = await client.shop_info()
    assert info.name == "127.0.0.1"
    assert info.currency == "EUR"
    assert info.url == backend.url
    assert info.detail == "2 payment methods, 2 delivery options"

    options = await client.delivery_options()
    assert [(o.external_id, o.fee, o.currency, o.eta) for o in options] == [
        ("courier", Decimal("4.95"), "EUR", "1-2 days"),
        ("pickup", Decimal("0.00"), "EUR", "same day"),
    ]
    methods = await client.payment_methods()
    assert [(m.external_id, m.name) for m in methods] == [
        ("card", "Card"),
        ("cod", "Cash on delivery"),
    ]
    backend.delivery_options = []
    assert (await client.shop_info()).currency == "XXX"


def draft(**overrides: Any) -> OrderDraft:
    values: dict[str, Any] = {
        "currency": "EUR",
        "lines": [
            DraftLine(
                product_external_id="1",
                variant_external_id="1",
                quantity=2,
                unit_price=Decimal("6.50"),
                name="Black Tea 1",
            ),
            DraftLine(
                product_external_id="3",
                variant_external_id="32",
                quantity=1,
                unit_price=Decimal("9.50"),
                name="Ceramic Mug 3 (M)",
                sku="SKU-0003-M",
            ),
        ],
        "phone": "+34600000009",
        "customer_name": "Ana",
        "fulfilment": "delivery",
        "shipping_address": StoreAddress(line1="Calle Luna 1", city="Madrid", country="ES"),
        "shipping_total": Decimal("4.95"),
        "total": Decimal("27.45"),
        "payment_method": "cod",
    }
    values.update(overrides)
    return OrderDraft(**values)


async def test_create_order_twice_with_one_key_makes_one_order(env: Env) -> None:
    backend, client = env
    first = await client.create_order(draft(), idempotency_key="conv-1:turn-7")
    second = await client.create_order(draft(), idempotency_key="conv-1:turn-7")

    assert backend.orders_created == 1
    assert len(backend.orders) == 46
    assert second == first
    assert first.external_id == "46"
    assert first.idempotency_key == "conv-1:turn-7"
    assert first.subtotal == Decimal("22.50")
    assert first.total == Decimal("27.45")
    assert [(ln.variant_external_id, ln.quantity, ln.line_total) for ln in first.lines] == [
        ("1", 2, Decimal("13.00")),
        ("32", 1, Decimal("9.50")),
    ]
    assert [s.status for s in backend.seen("/api/orders") if s.method == "POST"] == [201, 200]


async def test_create_order_is_retried_safely_after_a_5xx(env: Env) -> None:
    backend, client = env
    backend.fail_next(503)
    order = await client.create_order(draft(), idempotency_key="k-503")
    assert backend.orders_created == 1
    assert order.idempotency_key == "k-503"


async def test_reused_key_with_another_body_is_rejected(env: Env) -> None:
    backend, client = env
    await client.create_order(draft(), idempotency_key="k-1")
    with pytest.raises(StoreRejected) as caught:
        await client.create_order(draft(note="leave at the door"), idempotency_key="k-1")
    assert caught.value.status == 409
    assert caught.value.provider_code == "idempotency_key_reused"
    assert backend.orders_created == 1


async def test_price_the_backend_refuses_creates_nothing(env: Env) -> None:
    backend, client = env
    stale = draft(
        lines=[
            DraftLine(
                product_external_id="1",
                variant_external_id="1",
                quantity=1,
                unit_price=Decimal("5.00"),
                name="Black Tea 1",
            )
        ],
        total=Decimal("9.95"),
    )
    with pytest.raises(StoreRejected) as caught:
        await client.create_order(stale, idempotency_key="k-price")
    assert (caught.value.status, caught.value.provider_code) == (422, "price_mismatch")
    assert backend.orders_created == 0
    assert len(backend.orders) == 45


# -- throttling and errors --------------------------------------------------------------------


async def test_429_retry_after_is_honoured(make_env: MakeEnv) -> None:
    backend, client = await make_env()
    backend.seed(products=5)
    await client.get_product("1")  # log in first so the window only counts reads
    backend.rate_limit(2, per_s=1.0)

    started = time.monotonic()
    found = [await client.get_product(str(i)) for i in (2, 3, 4)]
    elapsed = time.monotonic() - started

    assert all(p is not None for p in found)
    assert backend.throttled == 1
    assert backend.violations == 0
    assert elapsed >= 0.9
    assert [s.status for s in backend.seen("/api/products/")] == [200, 200, 200, 429, 200]


async def test_still_throttled_after_retries(env: Env) -> None:
    backend, client = env
    backend.fail_next(429, times=3, retry_after="0", code="slow_down")
    with pytest.raises(StoreThrottled):
        await client.payment_methods()
    backend.fail_next(502, times=3)
    with pytest.raises(StoreUnavailable):
        await client.payment_methods()


async def test_features_outside_the_contract_are_not_supported(make_env: MakeEnv) -> None:
    backend, client = await make_env()
    assert CustomBackendClient.kind == "custom"
    assert CustomBackendClient.resources == (
        Resource.CATEGORIES,
        Resource.PRODUCTS,
        Resource.ORDERS,
    )
    with pytest.raises(StoreNotSupported):
        await client.fetch_page(Resource.CUSTOMERS, cursor=None, updated_since=None, page_size=10)
    with pytest.raises(StoreNotSupported):
        await client.create_discount(
            DiscountRequest(code="WELCOME10", percent=Decimal("10"), expires_at=datetime.now(UTC))
        )
    with pytest.raises(StoreNotSupported):
        await client.refund(
            RefundRequest(order_external_id="1", amount=Decimal("1"), currency="EUR"),
            idempotency_key="r-1",
        )
    with pytest.raises(StoreNotSupported):
        await client.register_webhooks(address="https://example.test/hook", secret="s")
    with pytest.raises(StoreNotSupported):
        await client.list_webhooks()
    assert backend.requests == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, StoreRejected),
        (403, StoreAuthError),
        (404, StoreRejected),
        (409, StoreRejected),
        (422, StoreRejected),
    ],
)
async def test_error_statuses_map_without_the_backends_message(
    env: Env, status: int, error: type[StoreError]
) -> None:
    backend, client = env
    backend.fail_next(status, code=f"e_{status}")
    with pytest.raises(error) as caught:
        await client.payment_methods()
    assert type(caught.value) is error
    assert caught.value.status == status
    assert caught.value.provider_code == f"e_{status}"
    text = str(caught.value) + repr(caught.value.args)
    for leak in ("jane.doe", "+346", "db row", LEAKY_MESSAGE):
        assert leak not in text
    assert caught.value.__cause__ is None


async def test_an_error_code_that_is_not_a_code_is_dropped(env: Env) -> None:
    backend, client = env
    backend.fail_next(422, code="jane.doe@example.test is blocked")
    with pytest.raises(StoreRejected) as caught:
        await client.get_order("1")
    assert caught.value.provider_code is None
    assert "jane" not in str(caught.value)


async def test_payload_outside_the_contract_names_fields_not_values(env: Env) -> None:
    backend, client = env
    backend.products["2"]["updated_at"] = "2025-01-01T00:00:00"  # no offset
    backend.products["2"]["name"] = None
    with pytest.raises(StoreError) as caught:
        await client.get_product("2")
    assert type(caught.value) is StoreError
    message = str(caught.value)
    assert "updated_at" in message and "name" in message
    assert "2025-01-01" not in message
