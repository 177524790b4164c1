"""Webhook helpers, payload mapping from the published fixtures, and the fake's own rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tendero.stores.records import StoreAddress
from tendero.stores.woocommerce.auth import (
    WooCommerceAuth,
    oauth_signature,
    signature_base_string,
)
from tendero.stores.woocommerce.payloads import (
    PayloadError,
    customer_from_payload,
    needs_variations,
    order_from_payload,
    product_from_payload,
)
from tendero.stores.woocommerce.webhooks import (
    dedupe_key,
    is_ping,
    modified_at,
    sign,
    verify_signature,
)
from tests.fakes.woocommerce_server import FakeWooCommerce, wc_oauth_signature


def docs(fixtures_dir: Path, name: str) -> Any:
    return json.loads(
        (fixtures_dir / "woocommerce" / "rest_api_docs_v3" / f"wc_v3_{name}.json").read_text()
    )


@pytest.fixture
def shop(fixtures_dir: Path) -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce(fixtures_dir=fixtures_dir) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


# -- webhooks -------------------------------------------------------------------------------


def test_ping_detection() -> None:
    assert is_ping(b"webhook_id=42") == 42
    assert is_ping(b"webhook_id=42\n") == 42
    assert is_ping(b"webhook_id=") is None
    assert is_ping(b"webhook_id=4&x=1") is None
    assert is_ping(b'{"id": 42}') is None


def test_signed_delivery_verifies_with_old_or_new_secret(shop: FakeWooCommerce) -> None:
    made = shop.generate(customers=1, orders=1, products=1, variable_every=0)
    order_id = made.orders[0]
    delivery = shop.build_delivery("order.updated", order_id, secret="old-secret")
    header = delivery.headers["X-WC-Webhook-Signature"]
    assert delivery.headers["X-WC-Webhook-Topic"] == "order.updated"
    assert delivery.headers["X-WC-Webhook-Resource"] == "order"
    assert delivery.headers["X-WC-Webhook-Event"] == "updated"
    assert b"\\/" in delivery.body  # wp_json_encode escapes slashes: verify the raw bytes
    assert verify_signature(delivery.body, header, ["old-secret"])
    assert verify_signature(delivery.body, header, ["new-secret", "old-secret"])
    assert not verify_signature(delivery.body, header, ["new-secret"])
    assert not verify_signature(delivery.body + b" ", header, ["old-secret"])
    reencoded = json.dumps(json.loads(delivery.body)).encode()
    assert not verify_signature(reencoded, header, ["old-secret"])
    assert not verify_signature(delivery.body, None, ["old-secret"])
    assert not verify_signature(delivery.body, "not base64!", ["old-secret"])
    assert not verify_signature(delivery.body, header, [""])
    assert sign(delivery.body, "old-secret") == header

    body = json.loads(delivery.body)
    order = order_from_payload(delivery.body)
    assert order.external_id == str(order_id)
    stamp = shop.orders[order_id]["date_modified_gmt"]
    assert dedupe_key(body) == f"{order_id}:{stamp}"
    assert modified_at(body) == datetime.fromisoformat(stamp).replace(tzinfo=UTC)

    deleted = json.loads(shop.build_delivery("order.deleted", order_id, secret="s").body)
    assert deleted == {"id": order_id}
    assert dedupe_key(deleted) == f"{order_id}:"
    assert modified_at(deleted) is None
    ping = shop.build_ping(7)
    assert is_ping(ping.body) == 7 and "X-WC-Webhook-Signature" not in ping.headers


def test_delivery_signed_with_the_registered_secret(shop: FakeWooCommerce) -> None:
    shop.seed_from_fixtures()
    delivery = shop.build_delivery("customer.created", 25)
    assert delivery.headers["X-WC-Webhook-ID"] == "143"
    assert verify_signature(
        delivery.body, delivery.headers["X-WC-Webhook-Signature"], ["fixture-secret"]
    )
    customer = customer_from_payload(json.loads(delivery.body))
    assert (customer.external_id, customer.email) == ("25", "john.doe@example.com")


# -- payloads -------------------------------------------------------------------------------


def test_order_fixture_mapping(fixtures_dir: Path) -> None:
    order = order_from_payload(docs(fixtures_dir, "orders_create_response"))
    assert (order.external_id, order.number, order.status, order.finished) == (
        "727",
        "727",
        "processing",
        False,
    )
    assert order.customer_external_id is None  # customer_id 0: a guest
    assert (order.email, order.phone, order.customer_name) == (
        "john.doe@example.com",
        "(555) 555-5555",
        "John Doe",
    )
    assert (order.subtotal, order.shipping_total, order.tax_total, order.total) == (
        Decimal("18.00"),
        Decimal("10.00"),
        Decimal("1.35"),
        Decimal("29.35"),
    )
    simple, variable = order.lines
    assert (simple.product_external_id, simple.variant_external_id) == ("93", "93")
    assert (simple.quantity, simple.unit_price, simple.line_total) == (
        2,
        Decimal("3.00"),
        Decimal("6.00"),
    )
    assert (variable.product_external_id, variable.variant_external_id) == ("22", "23")
    assert variable.name == "Ship Your Idea – Color: Black, Size: M Test"
    assert order.shipping_address == StoreAddress(
        name="John Doe",
        line1="969 Market",
        city="San Francisco",
        region="CA",
        postcode="94103",
        country="US",
    )
    assert order.created_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert order.updated_at == datetime(2017, 3, 22, 19, 28, 8, tzinfo=UTC)
    assert order.idempotency_key is None


def test_order_tracking_and_key_from_meta(fixtures_dir: Path) -> None:
    body = docs(fixtures_dir, "orders_create_response")
    body["meta_data"] += [
        {"id": 1, "key": "_tendero_idempotency_key", "value": "k-9"},
        {"id": 2, "key": "_wc_shipment_tracking_items", "value": [{"tracking_number": "1Z9"}]},
    ]
    body["status"] = "wc-custom-shipped"
    order = order_from_payload(body)
    assert (order.idempotency_key, order.tracking_numbers, order.status, order.finished) == (
        "k-9",
        ["1Z9"],
        "wc-custom-shipped",
        False,
    )


def test_product_fixture_mapping(fixtures_dir: Path) -> None:
    product = product_from_payload(docs(fixtures_dir, "products_create_response"))
    (variant,) = product.variants
    assert (product.external_id, variant.external_id, variant.price) == (
        "794",
        "794",
        Decimal("21.99"),
    )
    assert variant.stock_quantity is None and variant.in_stock
    assert product.category_external_ids == ["9", "14"]
    assert product.short_description is not None and "<p>" not in product.short_description
    assert product.updated_at == datetime(2017, 3, 23, 20, 1, 14, tzinfo=UTC)

    variable = docs(fixtures_dir, "products_create_variable_response")
    variable["variations"] = [733, 732]
    assert needs_variations(variable)
    with pytest.raises(PayloadError):
        product_from_payload(variable)
    mapped = product_from_payload(variable, docs(fixtures_dir, "product_variations_list_response"))
    assert [(v.external_id, v.attributes, v.price) for v in mapped.variants] == [
        ("733", {"Color": "Green"}, Decimal("9.00")),
        ("732", {"Color": "Black"}, Decimal("9.00")),
    ]


def test_customer_fixture_mapping_and_bad_payload(fixtures_dir: Path) -> None:
    customer = customer_from_payload(docs(fixtures_dir, "customers_create_response"))
    assert (customer.external_id, customer.phone, customer.name) == (
        "25",
        "(555) 555-5555",
        "John Doe",
    )
    assert customer.updated_at == datetime(2017, 3, 21, 19, 9, 30, tzinfo=UTC)
    with pytest.raises(PayloadError) as err:
        order_from_payload({"id": 1, "billing": {"email": "secret@example.test"}})
    assert "secret@" not in str(err.value)


# -- OAuth and the fake's rules -------------------------------------------------------------


def test_client_and_fake_signatures_agree_on_awkward_values() -> None:
    params = [
        ("search", "café & crème/50%"),
        ("oauth_consumer_key", "ck"),
        ("oauth_nonce", "n~1"),
        ("oauth_signature_method", "HMAC-SHA256"),
        ("oauth_timestamp", "1700000000"),
    ]
    url = "http://127.0.0.1:8080/wp-json/wc/v3/products"
    base = signature_base_string("GET", url, params)
    assert base.startswith("GET&http%3A%2F%2F127.0.0.1%3A8080%2Fwp-json%2Fwc%2Fv3%2Fproducts&")
    assert "search%3Dcaf%25C3%25A9%2520%2526%2520cr%25C3%25A8me%252F50%2525" in base
    ours = oauth_signature("GET", url, params, "cs")
    assert ours == wc_oauth_signature("GET", url, dict(params), "cs", "HMAC-SHA256")


async def test_fake_enforces_limits(shop: FakeWooCommerce, http: httpx.AsyncClient) -> None:
    auth = WooCommerceAuth(shop.consumer_key, shop.consumer_secret)
    too_big = await http.get(f"{shop.api_url}/products", params={"per_page": 101}, auth=auth)
    assert too_big.status_code == 400 and too_big.json()["code"] == "rest_invalid_param"
    bad_order = await http.get(
        f"{shop.api_url}/customers", params={"orderby": "modified"}, auth=auth
    )
    assert bad_order.status_code == 400
    batch = await http.post(
        f"{shop.api_url}/orders/batch",
        json={"update": [{"id": n} for n in range(101)]},
        auth=auth,
    )
    assert batch.status_code == 413
    assert batch.json()["code"] == "woocommerce_rest_request_entity_too_large"
    await http.get(f"{shop.api_url}/orders", params={"modified_after": "2024-01-01"}, auth=auth)
    shop.fail_next(429, retry_after=5)
    assert (await http.get(f"{shop.api_url}/orders", auth=auth)).status_code == 429
    assert (await http.get(f"{shop.api_url}/orders", auth=auth)).status_code == 429
    assert len(shop.violations) == 5
    assert shop.violations[0].startswith("per_page=101")
    assert "before Retry-After" in shop.violations[-1]

    fixed = WooCommerceAuth(shop.consumer_key, shop.consumer_secret, nonce=lambda: "same")
    shop._not_before = 0.0  # end the Retry-After window for the nonce check
    assert (await http.get(f"{shop.api_url}/orders", auth=fixed)).status_code == 200
    reused = await http.get(f"{shop.api_url}/orders", auth=fixed)
    assert reused.status_code == 401 and "nonce" in reused.json()["message"]


async def test_fake_list_headers(shop: FakeWooCommerce, http: httpx.AsyncClient) -> None:
    shop.generate(customers=25)
    auth = WooCommerceAuth(shop.consumer_key, shop.consumer_secret)
    response = await http.get(
        f"{shop.api_url}/customers", params={"per_page": 10, "page": 2}, auth=auth
    )
    assert response.headers["X-WP-Total"] == "25"
    assert response.headers["X-WP-TotalPages"] == "3"
    assert 'rel="next"' in response.headers["Link"] and 'rel="prev"' in response.headers["Link"]
    assert len(response.json()) == 10
