"""WooCommerceClient reads and writes against FakeWooCommerce (auth, errors, orders, coupons,
refunds, batch, webhooks)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from tendero.errors import StoreAuthError, StoreRejected, StoreUnavailable
from tendero.stores.credentials import WooCommerceCredentials
from tendero.stores.http import RetryPolicy
from tendero.stores.records import (
    DiscountRequest,
    DraftLine,
    OrderDraft,
    RefundRequest,
    StoreAddress,
)
from tendero.stores.woocommerce import WooCommerceClient
from tendero.stores.woocommerce.auth import WooCommerceAuth
from tendero.stores.woocommerce.client import WEBHOOK_TOPICS
from tendero.stores.woocommerce.payloads import IDEMPOTENCY_META_KEY
from tests.fakes.woocommerce_server import FakeWooCommerce, Generated

FAST = RetryPolicy(attempts=3, base_delay_s=0.05, max_delay_s=2.0)


@pytest.fixture
def shop(fixtures_dir: Path) -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce(fixtures_dir=fixtures_dir) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def made(shop: FakeWooCommerce) -> Generated:
    return shop.generate(customers=6, orders=20, products=9)


@pytest.fixture
def client(shop: FakeWooCommerce, http: httpx.AsyncClient) -> WooCommerceClient:
    return WooCommerceClient(http, base_url=shop.url, credentials=shop.credentials(), policy=FAST)


def draft(shop: FakeWooCommerce, made: Generated, **changes: object) -> OrderDraft:
    simple = next(p for p in made.products if p not in made.variable_products)
    variable = made.variable_products[0]
    variation = next(iter(shop.variations[variable]))
    values: dict[str, object] = {
        "currency": "USD",
        "lines": [
            DraftLine(
                product_external_id=str(simple),
                variant_external_id=str(simple),
                quantity=2,
                unit_price=Decimal("10.50"),
                name="Product 0",
            ),
            DraftLine(
                product_external_id=str(variable),
                variant_external_id=str(variation),
                quantity=1,
                unit_price=Decimal("20"),
                name="Product 2 S",
            ),
        ],
        "email": "ana@example.test",
        "phone": "+15550100001",
        "customer_name": "Ana Buyer",
        "fulfilment": "delivery",
        "shipping_address": StoreAddress(line1="Av. 1", city="Springfield", country="US"),
        "shipping_total": Decimal("5"),
        "total": Decimal("46.00"),
        "payment_method": "bacs",
    }
    values.update(changes)
    return OrderDraft.model_validate(values)


# -- auth and errors ------------------------------------------------------------------------


async def test_shop_info_over_oauth(shop: FakeWooCommerce, client: WooCommerceClient) -> None:
    info = await client.shop_info()
    assert (info.name, info.currency, info.url) == ("Fake Woo Shop", "USD", shop.url)
    assert shop.violations == []


async def test_wrong_secret_is_an_auth_error(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    bad = WooCommerceCredentials(
        consumer_key=SecretStr(shop.consumer_key),
        consumer_secret=SecretStr("cs_wrong"),
        webhook_secret=SecretStr("x"),
    )
    client = WooCommerceClient(http, base_url=shop.url, credentials=bad, policy=FAST)
    with pytest.raises(StoreAuthError) as err:
        await client.shop_info()
    assert err.value.status == 401
    assert err.value.provider_code == "woocommerce_rest_authentication_error"
    assert "signature" not in str(err.value)  # the store's message is never copied


async def test_stale_timestamp_and_plain_oauth_rules(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    stale = WooCommerceAuth(
        shop.consumer_key, shop.consumer_secret, clock=lambda: time.time() - 16 * 60
    )
    response = await http.get(f"{shop.api_url}/products", auth=stale)
    assert response.status_code == 401
    assert response.json()["message"] == "Invalid timestamp."
    fresh = WooCommerceAuth(shop.consumer_key, shop.consumer_secret)
    ok = await http.get(f"{shop.api_url}/products", params={"search": "a b+c/ü"}, auth=fresh)
    assert ok.status_code == 200
    unsigned = await http.get(f"{shop.api_url}/products")
    assert unsigned.json()["code"] == "woocommerce_rest_authentication_missing_parameter"


async def test_basic_auth_over_https_without_oauth_parameters() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("woocommerce_currency"):
            return httpx.Response(200, json={"id": "woocommerce_currency", "value": "EUR"})
        return httpx.Response(200, json={"name": "Tienda"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        creds = WooCommerceCredentials(
            consumer_key=SecretStr("ck_1"),
            consumer_secret=SecretStr("cs_1"),
            webhook_secret=SecretStr("w"),
        )
        client = WooCommerceClient(http, base_url="https://shop.example/", credentials=creds)
        info = await client.shop_info()
    assert (info.name, info.currency, info.detail) == ("Tienda", "EUR", None)
    api = seen[0]
    assert (
        str(api.url) == "https://shop.example/wp-json/wc/v3/settings/general/woocommerce_currency"
    )
    assert api.headers["authorization"] == httpx.BasicAuth("ck_1", "cs_1")._auth_header
    assert "oauth_signature" not in str(api.url)


async def test_error_mapping(
    shop: FakeWooCommerce, client: WooCommerceClient, made: Generated
) -> None:
    assert await client.get_product("999999") is None
    assert await client.get_order("999999") is None
    assert await client.get_product("not-an-id") is None
    shop.fail_next(403, code="woocommerce_rest_cannot_view")
    with pytest.raises(StoreAuthError) as auth:
        await client.get_order(str(made.orders[0]))
    assert (auth.value.status, auth.value.provider_code) == (403, "woocommerce_rest_cannot_view")
    for _ in range(FAST.attempts):
        shop.fail_next(503)
    with pytest.raises(StoreUnavailable):
        await client.get_order(str(made.orders[0]))
    shop.fail_next(400, code="rest_invalid_param")
    with pytest.raises(StoreRejected) as rejected:
        await client.search_products("Product", limit=5)
    assert rejected.value.provider_code == "rest_invalid_param"
    assert "Injected" not in str(rejected.value)


# -- reads ----------------------------------------------------------------------------------


async def test_search_and_lookups(
    shop: FakeWooCommerce, client: WooCommerceClient, made: Generated
) -> None:
    found = await client.search_products("SKU-2", limit=10)
    assert [p.external_id for p in found] == [str(made.products[2])]
    assert len(found[0].variants) == 3

    customer = shop.customers[made.customers[1]]
    by_email = await client.find_customer(email=customer["email"].upper())
    assert by_email is not None and by_email.external_id == str(made.customers[1])
    # Stored as "+1 555 0100001"; we look up E.164.
    by_phone = await client.find_customer(phone="+15550100001")
    assert by_phone is not None and by_phone.external_id == str(made.customers[1])
    assert await client.find_customer(email="nobody@example.test") is None

    orders = await client.find_orders(email=customer["email"], limit=50)
    expected = [o for o in made.orders if shop.orders[o]["billing"]["email"] == customer["email"]]
    assert sorted(o.external_id for o in orders) == sorted(str(o) for o in expected)
    assert [o.created_at for o in orders] == sorted((o.created_at for o in orders), reverse=True)
    assert len(await client.find_orders(email=customer["email"], limit=1)) == 1
    guest = next(o for o in made.orders if shop.orders[o]["customer_id"] == 0)
    by_phone_orders = await client.find_orders(phone=shop.orders[guest]["billing"]["phone"])
    assert [o.external_id for o in by_phone_orders] == [str(guest)]
    assert shop.violations == []


# -- orders ---------------------------------------------------------------------------------


async def test_create_order_twice_with_one_key_makes_one_order(
    shop: FakeWooCommerce, client: WooCommerceClient, made: Generated
) -> None:
    order = await client.create_order(draft(shop, made), idempotency_key="key-1")
    again = await client.create_order(draft(shop, made), idempotency_key="key-1")
    assert again.external_id == order.external_id
    assert shop.orders_created == [int(order.external_id)]
    stored = shop.orders[int(order.external_id)]
    assert stored["status"] == "pending" and stored["date_paid"] is None
    assert stored["created_via"] == "tendero"
    assert {"key": IDEMPOTENCY_META_KEY, "value": "key-1"} in [
        {"key": m["key"], "value": m["value"]} for m in stored["meta_data"]
    ]
    assert order.idempotency_key == "key-1"
    assert order.total == Decimal("46.00")
    assert [(li.variant_external_id, li.quantity, li.unit_price) for li in order.lines] == [
        (str(made.products[0]), 2, Decimal("10.50")),
        (str(next(iter(shop.variations[made.variable_products[0]]))), 1, Decimal("20.00")),
    ]
    assert stored["shipping"]["city"] == "Springfield"
    other = await client.create_order(draft(shop, made), idempotency_key="key-2")
    assert other.external_id != order.external_id
    assert len(shop.orders_created) == 2
    assert shop.violations == []


async def test_create_order_after_a_gateway_error_finds_the_applied_order(
    shop: FakeWooCommerce, client: WooCommerceClient, made: Generated
) -> None:
    shop.fail_next(502, method="POST", path="orders", after_apply=True)
    order = await client.create_order(draft(shop, made), idempotency_key="key-502")
    assert shop.orders_created == [int(order.external_id)]
    assert shop.count("POST", "orders") == 1


async def test_create_order_rejected_line(
    shop: FakeWooCommerce, client: WooCommerceClient, made: Generated
) -> None:
    bad_line = DraftLine(
        product_external_id="424242",
        variant_external_id="424242",
        quantity=1,
        unit_price=Decimal("1"),
        name="Ghost",
    )
    with pytest.raises(StoreRejected) as err:
        await client.create_order(draft(shop, made, lines=[bad_line]), idempotency_key="k")
    assert err.value.provider_code == "woocommerce_rest_invalid_product_id"
    assert shop.orders_created == []


# -- coupons and refunds --------------------------------------------------------------------


async def test_coupon_create_once_per_code(
    shop: FakeWooCommerce, client: WooCommerceClient
) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    code = await client.create_discount(
        DiscountRequest(code="WELCOME10", percent=Decimal("10"), expires_at=expires)
    )
    coupon = shop.coupons[int(code.external_id)]
    assert code.code == "welcome10"
    assert (coupon["discount_type"], coupon["amount"], coupon["usage_limit"]) == (
        "percent",
        "10.00",
        1,
    )
    assert coupon["individual_use"] is True
    assert coupon["date_expires_gmt"] == "2030-01-02T03:04:05"
    # The same code again (a retried activity) is the coupon WooCommerce already has.
    again = await client.create_discount(
        DiscountRequest(code="WELCOME10", percent=Decimal("10"), expires_at=expires)
    )
    assert again == code and len(shop.coupons) == 1
    # A create applied by the store but answered with a 502: found, not made twice.
    shop.fail_next(502, method="POST", path="coupons", after_apply=True)
    lost = await client.create_discount(
        DiscountRequest(code="LOST15", percent=Decimal("15"), expires_at=expires)
    )
    assert [c["code"] for c in shop.coupons.values()] == ["welcome10", "lost15"]
    assert lost.code == "lost15" and int(lost.external_id) in shop.coupons
    fixed = await client.create_discount(
        DiscountRequest(code="FIVEOFF", amount=Decimal("5"), expires_at=expires)
    )
    assert shop.coupons[int(fixed.external_id)]["discount_type"] == "fixed_cart"
    with pytest.raises(StoreRejected):
        await client.create_discount(DiscountRequest(code="NONE", expires_at=expires))


async def test_refund_records_without_moving_money_by_default(
    shop: FakeWooCommerce, client: WooCommerceClient, made: Generated
) -> None:
    order_id = made.orders[0]
    total = Decimal(shop.orders[order_id]["total"])
    request = RefundRequest(order_external_id=str(order_id), amount=Decimal("5"), currency="USD")
    refund = await client.refund(request, idempotency_key="r-1")
    assert refund.amount == Decimal("5.00")
    (stored,) = shop.refunds[order_id]
    assert stored["refunded_payment"] is False
    again = await client.refund(request, idempotency_key="r-1")
    assert again.external_id == refund.external_id
    assert len(shop.refunds[order_id]) == 1
    paid = await client.refund(
        request.model_copy(update={"amount": Decimal("1"), "move_money": True}),
        idempotency_key="r-2",
    )
    assert shop.refunds[order_id][1]["refunded_payment"] is True
    assert paid.external_id != refund.external_id
    with pytest.raises(StoreRejected) as err:
        await client.refund(request.model_copy(update={"amount": total}), idempotency_key="r-3")
    assert err.value.provider_code == "invalid_refund_amount"
    assert shop.count("POST", f"orders/{order_id}/refunds") == 2
    assert shop.violations == []


# -- batch ----------------------------------------------------------------------------------


async def test_batch_is_split_and_item_errors_are_reported(
    shop: FakeWooCommerce, client: WooCommerceClient
) -> None:
    made = shop.generate(products=240, variable_every=0)
    items = [{"id": p, "regular_price": "9.99"} for p in made.products]
    items += [{"id": 900_000 + n, "regular_price": "1.00"} for n in range(10)]
    result = await client.batch_update("products", items)
    assert shop.count("POST", "products/batch") == 3
    assert len(result.updated) == 240
    assert [e.id for e in result.errors] == [str(900_000 + n) for n in range(10)]
    assert {e.code for e in result.errors} == {"woocommerce_rest_product_invalid_id"}
    assert all(shop.products[p]["regular_price"] == "9.99" for p in made.products)
    with pytest.raises(StoreRejected) as err:
        result.raise_for_errors()
    assert err.value.provider_code == "woocommerce_rest_product_invalid_id"
    assert "900009" in str(err.value)
    with pytest.raises(StoreRejected):
        await client.batch_update("refunds", items[:1])
    assert shop.violations == []


# -- webhooks -------------------------------------------------------------------------------


async def test_webhook_registration_is_idempotent_and_reactivates(
    shop: FakeWooCommerce, client: WooCommerceClient
) -> None:
    address = "https://api.tendero.example/hooks/woocommerce/t1"
    first = await client.register_webhooks(address=address, secret="s3cret")
    assert [w.topic for w in first] == list(WEBHOOK_TOPICS)
    assert all(w.active and w.address == address for w in first)
    assert len(shop.webhooks) == 9
    assert set(shop.webhook_secrets.values()) == {"s3cret"}

    second = await client.register_webhooks(address=address, secret="s3cret")
    assert [w.external_id for w in second] == [w.external_id for w in first]
    assert shop.count("POST", "webhooks") == 9

    disabled = int(first[3].external_id)
    shop.disable_webhook(disabled)
    listed = {w.external_id: w for w in await client.list_webhooks()}
    assert listed[str(disabled)].active is False
    assert sum(w.active for w in listed.values()) == 8

    third = await client.register_webhooks(address=address, secret="n3w")
    assert all(w.active for w in third)
    assert shop.webhooks[disabled]["status"] == "active"
    assert shop.webhook_secrets[disabled] == "n3w"
    assert shop.count("POST", "webhooks") == 9
    assert shop.count("PUT", f"webhooks/{disabled}") == 1
    # Another address gets its own subscriptions.
    await client.register_webhooks(address=address + "-b", secret="s")
    assert len(shop.webhooks) == 18


async def test_fixture_seeded_shop_scans(shop: FakeWooCommerce, client: WooCommerceClient) -> None:
    shop.seed_from_fixtures()
    vneck = await client.get_product("44")
    assert vneck is not None
    assert sorted(v.sku or "" for v in vneck.variants) == [
        "woo-vneck-tee-blue",
        "woo-vneck-tee-green",
        "woo-vneck-tee-red",
    ]
    grouped = await client.get_product("87")
    assert grouped is not None and grouped.variants[0].in_stock is False
    docs_variable = await client.get_product("799")
    assert docs_variable is not None and len(docs_variable.variants) == 2
    order = await client.get_order("727")
    assert order is not None and order.total == Decimal("29.35")
    hooks = await client.list_webhooks()
    assert {w.external_id for w in hooks} == {"142", "143"}
    found = await client.find_orders(email="john.doe@example.com")
    assert [o.external_id for o in found] == ["727"]
    assert shop.violations == []
