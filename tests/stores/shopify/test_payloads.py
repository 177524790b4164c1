"""Mapping of REST webhook bodies (fixtures) and GraphQL helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tendero.stores.shopify import (
    customer_from_webhook,
    order_from_webhook,
    product_from_webhook,
    rest_topic,
)
from tendero.stores.shopify import queries as q
from tendero.stores.shopify.payloads import gid_to_id, gid_type


def _load(fixtures_dir: Path, name: str) -> Any:
    return json.loads((fixtures_dir / "shopify" / "shopify_python_api" / name).read_text())


def test_order_from_webhook(fixtures_dir: Path) -> None:
    order = order_from_webhook(_load(fixtures_dir, "order.json")["order"])
    assert order.external_id == "450789469"
    assert order.number == "#1001"
    assert order.status == "unfulfilled" and order.finished is False
    assert order.customer_external_id == "207119551"
    assert order.customer_name == "Bob Norman"
    assert order.currency == "USD"
    assert (order.subtotal, order.tax_total, order.total) == (
        Decimal("398.00"),
        Decimal("11.94"),
        Decimal("409.94"),
    )
    assert order.shipping_total == Decimal("0.00")
    assert order.discount_total == Decimal("0.00")
    assert [(li.variant_external_id, li.sku, li.quantity, li.line_total) for li in order.lines] == [
        ("39072856", "IPOD2008GREEN", 1, Decimal("199.00")),
        ("49148385", "IPOD2008RED", 1, Decimal("199.00")),
        ("457924702", "IPOD2008BLACK", 1, Decimal("199.00")),
    ]
    assert order.tracking_numbers == ["1Z2345"]
    assert order.shipping_address is not None
    assert (order.shipping_address.city, order.shipping_address.country) == ("Louisville", "US")
    assert order.created_at == datetime(2008, 1, 10, 16, tzinfo=UTC)
    assert order.idempotency_key is None


def test_order_webhook_carries_our_key() -> None:
    body = {
        "id": 2**60,
        "name": "#2001",
        "currency": "EUR",
        "subtotal_price": "10.00",
        "total_price": "10.00",
        "cancelled_at": "2026-01-02T00:00:00Z",
        "note_attributes": [{"name": "tendero_idempotency_key", "value": "k-1"}],
        "created_at": "2026-01-01T00:00:00+01:00",
        "updated_at": "2026-01-02T00:00:00Z",
    }
    order = order_from_webhook(body)
    assert order.external_id == str(2**60)
    assert (order.status, order.finished, order.idempotency_key) == ("cancelled", True, "k-1")
    assert order.created_at == datetime(2025, 12, 31, 23, tzinfo=UTC)


def test_customer_and_product_from_webhook(fixtures_dir: Path) -> None:
    customer = customer_from_webhook(_load(fixtures_dir, "customer.json")["customer"])
    assert (customer.external_id, customer.email, customer.name) == (
        "207119551",
        "bob.norman@hostmail.com",
        "Bob Norman",
    )
    assert customer.updated_at == datetime(2015, 5, 27, 22, 11, 24, tzinfo=UTC)

    product = product_from_webhook(_load(fixtures_dir, "product.json")["product"])
    assert product.external_id == "632910392"
    assert product.published is True
    assert len(product.variants) == 4
    first = product.variants[0]
    assert first.price == Decimal("199.00")
    assert first.attributes == {}  # the only option is Shopify's placeholder "Title"
    listed = [product_from_webhook(p) for p in _load(fixtures_dir, "products.json")]
    assert [p.external_id for p in listed] == ["1", "2", "3", "4"]
    assert listed[0].variants[0].stock_quantity == 10
    assert listed[0].image_url is not None


def test_ids_topics_and_costs() -> None:
    assert gid_to_id("gid://shopify/Order/123") == "123"
    assert gid_to_id("gid://shopify/ProductVariant/9007199254740993?x=1") == "9007199254740993"
    assert gid_type("gid://shopify/LineItem/5") == "LineItem"
    assert rest_topic("ORDERS_CREATE") == "orders/create"
    assert rest_topic("APP_UNINSTALLED") == "app/uninstalled"
    assert q.requested_cost(q.CUSTOMERS_PAGE, {"first": 250}) == 252
    assert q.max_first(q.PRODUCTS_PAGE) == 38  # 2 + 38 * (1 + 20 + 5) = 990
    assert q.requested_cost(q.PRODUCTS_PAGE, {"first": 38}) <= q.MAX_QUERY_COST
    assert q.max_first(q.ORDERS_PAGE) == 32
    assert q.requested_cost(q.BULK_RUN_QUERY, {"query": "{}"}) == 10
    for document in (q.CUSTOMERS_PAGE, q.ORDER_CREATE, q.REFUND_CREATE, q.BULK_STATUS):
        assert document.lstrip().split()[1][0].isupper()  # every document is named
