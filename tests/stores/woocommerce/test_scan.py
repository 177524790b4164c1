"""WooCommerceClient.fetch_page against FakeWooCommerce over real HTTP (OAuth 1.0a signed)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tendero.errors import StoreNotSupported, StoreRejected, StoreThrottled
from tendero.stores.http import RetryPolicy
from tendero.stores.records import Resource, StoreCustomer, StoreOrder, StoreProduct, StoreRecord
from tendero.stores.woocommerce import WooCommerceClient
from tests.fakes.woocommerce_server import FakeWooCommerce

FAST = RetryPolicy(attempts=4, base_delay_s=0.05, max_delay_s=3.0)


@pytest.fixture
def shop(fixtures_dir: Path) -> Iterator[FakeWooCommerce]:
    with FakeWooCommerce(fixtures_dir=fixtures_dir) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def client_for(shop: FakeWooCommerce, http: httpx.AsyncClient, **kw: Any) -> WooCommerceClient:
    return WooCommerceClient(
        http, base_url=shop.url, credentials=shop.credentials(), policy=FAST, **kw
    )


async def scan(
    client: WooCommerceClient,
    resource: Resource,
    *,
    page_size: int = 100,
    updated_since: datetime | None = None,
    cursor: str | None = None,
    max_pages: int | None = None,
) -> tuple[list[StoreRecord], str | None, int]:
    """Read pages until done (or ``max_pages``); returns items, the next cursor, pages read."""
    items: list[StoreRecord] = []
    pages = 0
    while True:
        page = await client.fetch_page(
            resource, cursor=cursor, updated_since=updated_since, page_size=page_size
        )
        items.extend(page.items)
        pages += 1
        cursor = page.next_cursor
        if cursor is None or (max_pages is not None and pages >= max_pages):
            return items, cursor, pages


def ids(items: list[StoreRecord]) -> list[str]:
    return [i.external_id for i in items]


async def test_full_scan_exact_counts_with_variations(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    made = shop.generate(customers=130, orders=230, products=150)
    client = client_for(shop, http)

    products, _, product_pages = await scan(client, Resource.PRODUCTS, page_size=1000)
    customers, _, _ = await scan(client, Resource.CUSTOMERS, page_size=50)
    orders, _, _ = await scan(client, Resource.ORDERS, page_size=100)
    categories, _, _ = await scan(client, Resource.CATEGORIES, page_size=2)

    assert sorted(ids(products)) == sorted(str(p) for p in made.products)
    assert len(set(ids(products))) == 150
    assert sorted(ids(customers)) == sorted(str(c) for c in made.customers)
    assert sorted(ids(orders)) == sorted(str(o) for o in made.orders)
    assert len(orders) == 230
    assert sorted(ids(categories)) == sorted(str(c) for c in made.categories)
    assert product_pages >= 2

    by_id = {p.external_id: p for p in products if isinstance(p, StoreProduct)}
    assert len(made.variable_products) == 50
    for pid in made.variable_products:
        product = by_id[str(pid)]
        expected = shop.variations[pid]
        assert sorted(v.external_id for v in product.variants) == sorted(str(v) for v in expected)
        for variant in product.variants:
            source = expected[int(variant.external_id)]
            assert variant.stock_quantity == source["stock_quantity"]
            assert variant.in_stock == (source["stock_quantity"] > 0)
            assert variant.price == Decimal(source["price"])
    simple = [p for p in made.products if p not in made.variable_products]
    for pid in simple:
        (variant,) = by_id[str(pid)].variants
        assert variant.external_id == str(pid)
        assert variant.stock_quantity == shop.products[pid]["stock_quantity"]
    # page_size 1000 was capped, every list asked per_page <= 100 and nothing broke a rule.
    per_pages = {int(q["per_page"]) for m, p, q in shop.request_log if "per_page" in q}
    assert max(per_pages) == 100
    assert shop.violations == []


async def test_updated_at_is_aware_utc_from_gmt(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    shop.generate(products=1, customers=1, orders=1, variable_every=0)
    client = client_for(shop, http)
    (product,), _, _ = await scan(client, Resource.PRODUCTS)
    # The site is UTC-3: date_modified is local, date_modified_gmt is what counts.
    assert product.updated_at == datetime(2024, 1, 1, tzinfo=UTC)


async def test_incremental_returns_exactly_the_touched_records(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    made = shop.generate(customers=40, orders=60, products=45)
    since = datetime(2025, 3, 1, 12, 0, 0, 500000, tzinfo=UTC)
    touched_products = [made.products[3], made.products[30]]
    touched_variation = made.variations[4]
    parent = next(p for p in made.variable_products if touched_variation in shop.variations[p])
    for n, pid in enumerate(touched_products):
        shop.touch("products", pid, since + timedelta(minutes=n))
    shop.touch("variations", touched_variation, since + timedelta(hours=1))
    shop.touch("orders", made.orders[7], since)
    shop.touch("orders", made.orders[50], since + timedelta(seconds=3))
    shop.touch("customers", made.customers[2], since + timedelta(days=1))
    # Modified a second before updated_since: must not come back.
    shop.touch("orders", made.orders[8], since - timedelta(seconds=2))
    client = client_for(shop, http)

    products, _, _ = await scan(client, Resource.PRODUCTS, updated_since=since)
    orders, _, _ = await scan(client, Resource.ORDERS, updated_since=since)
    customers, _, _ = await scan(client, Resource.CUSTOMERS, updated_since=since, page_size=10)

    assert ids(products) == [str(touched_products[0]), str(touched_products[1]), str(parent)]
    assert ids(orders) == [str(made.orders[7]), str(made.orders[50])]
    assert ids(customers) == [str(made.customers[2])]
    assert all(
        isinstance(o, StoreOrder) and o.updated_at >= since.replace(microsecond=0) for o in orders
    )
    # Products and orders were filtered by the shop (modified_after in GMT), not client-side.
    filtered = [q for m, p, q in shop.request_log if p.endswith(("products", "orders"))]
    assert all(q.get("dates_are_gmt") == "true" and "modified_after" in q for q in filtered)
    assert shop.violations == []


async def test_resume_from_a_mid_scan_cursor_has_no_duplicates_or_gaps(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    made = shop.generate(orders=95, products=10, customers=5)
    first, cursor, pages = await scan(
        client_for(shop, http), Resource.ORDERS, page_size=20, max_pages=2
    )
    # Each page restarts at the last record's second, so it repeats (and drops) the records
    # of that second already returned: a page can hold a few fewer than page_size.
    assert pages == 2 and cursor is not None and 30 < len(first) <= 40
    # A new client (a restarted activity) resumes from the heartbeated cursor.
    rest, _, _ = await scan(client_for(shop, http), Resource.ORDERS, page_size=20, cursor=cursor)
    together = ids(first) + ids(rest)
    assert len(together) == 95
    assert sorted(together) == sorted(str(o) for o in made.orders)

    customers_first, c_cursor, _ = await scan(
        client_for(shop, http), Resource.CUSTOMERS, page_size=2, max_pages=1
    )
    customers_rest, _, _ = await scan(
        client_for(shop, http), Resource.CUSTOMERS, page_size=2, cursor=c_cursor
    )
    assert sorted(ids(customers_first) + ids(customers_rest)) == sorted(
        str(c) for c in made.customers
    )
    assert shop.violations == []


async def test_records_changed_during_the_scan_are_never_skipped(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    made = shop.generate(products=60, variable_every=0, same_second=1)
    client = client_for(shop, http)
    page = await client.fetch_page(Resource.PRODUCTS, cursor=None, updated_since=None, page_size=20)
    seen = ids(page.items)
    # Edits during the scan move already-read records to the end: with page numbers the
    # records after them would shift back onto page 1 and be skipped.
    for pid in made.products[:5]:
        shop.touch("products", pid)
    shop.delete("products", made.products[2])
    rest, _, _ = await scan(client, Resource.PRODUCTS, page_size=20, cursor=page.next_cursor)
    seen += ids(rest)
    expected = {str(p) for p in made.products if p != made.products[2]}
    assert expected <= set(seen)
    # The four edited and still present ones come again (our upsert dedupes by id+modified).
    assert sorted(p for p in seen if seen.count(p) > 1) == sorted(
        str(p) for p in made.products[:5] if p != made.products[2] for _ in (0, 1)
    )


async def test_bulk_import_in_one_second_is_read_by_page_steps(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    made = shop.generate(orders=250, products=3, variable_every=0, same_second=10_000)
    orders, _, pages = await scan(client_for(shop, http), Resource.ORDERS, page_size=100)
    assert sorted(ids(orders)) == sorted(str(o) for o in made.orders)
    assert len(orders) == 250
    assert pages == 3
    assert shop.violations == []


async def test_total_comes_from_x_wp_total(shop: FakeWooCommerce, http: httpx.AsyncClient) -> None:
    shop.generate(customers=23)
    client = client_for(shop, http)
    page = await client.fetch_page(
        Resource.CUSTOMERS, cursor=None, updated_since=None, page_size=10
    )
    assert page.total == 23 and len(page.items) == 10
    assert all(isinstance(c, StoreCustomer) for c in page.items)
    second = await client.fetch_page(
        Resource.CUSTOMERS, cursor=page.next_cursor, updated_since=None, page_size=10
    )
    assert second.total == 23


async def test_bad_cursor_and_unknown_resource(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    client = client_for(shop, http)
    with pytest.raises(StoreRejected) as err:
        await client.fetch_page(Resource.ORDERS, cursor="7", updated_since=None, page_size=10)
    assert err.value.provider_code == "invalid_cursor"
    page = await client.fetch_page(
        Resource.CUSTOMERS, cursor=None, updated_since=None, page_size=10
    )
    assert page.items == [] and page.next_cursor is None
    with pytest.raises(StoreNotSupported):
        await client.fetch_page("refunds", cursor=None, updated_since=None, page_size=10)  # type: ignore[arg-type]


async def test_retry_after_is_honoured(shop: FakeWooCommerce, http: httpx.AsyncClient) -> None:
    shop.generate(products=5, variable_every=0)
    shop.fail_next(429, retry_after=1)
    client = client_for(shop, http)
    started = time.monotonic()
    products, _, _ = await scan(client, Resource.PRODUCTS)
    assert time.monotonic() - started >= 1.0
    assert len(products) == 5
    assert shop.count("GET", "products") == 2
    assert shop.violations == []


async def test_rate_limited_shop_is_scanned_without_violations(
    fixtures_dir: Path, http: httpx.AsyncClient
) -> None:
    with FakeWooCommerce(fixtures_dir=fixtures_dir, rate_limit_per_s=8, rate_limit_burst=3) as shop:
        made = shop.generate(products=12, variable_every=3, variations_per_product=2)
        client = WooCommerceClient(
            http,
            base_url=shop.url,
            credentials=shop.credentials(),
            policy=RetryPolicy(attempts=8, base_delay_s=0.05, max_delay_s=3.0),
        )
        products, _, _ = await scan(client, Resource.PRODUCTS, page_size=5)
        assert sorted(ids(products)) == sorted(str(p) for p in made.products)
        # Some requests were refused with 429 and retried after Retry-After.
        assert shop.throttled > 0
        assert shop.violations == []


async def test_still_throttled_after_retries(
    shop: FakeWooCommerce, http: httpx.AsyncClient
) -> None:
    for _ in range(FAST.attempts):
        shop.fail_next(429, retry_after=0.05)
    with pytest.raises(StoreThrottled):
        await client_for(shop, http).fetch_page(
            Resource.ORDERS, cursor=None, updated_since=None, page_size=10
        )
    assert shop.violations == []
