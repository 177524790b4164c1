"""Product search: full-text, typo tolerance, tenant isolation and availability order."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.search import (
    build_vocabulary,
    expand_query,
    invalidate_vocabulary,
    search_products,
)
from tendero.catalog.tenants import create_tenant
from tendero.catalog.woocommerce_csv import import_woocommerce_csv
from tendero.db.models import Product, ProductVariant
from tests.catalog.conftest import SECRET_KEY, NewTenant


@dataclass(frozen=True)
class Shops:
    first: uuid.UUID
    second: uuid.UUID
    first_products: frozenset[uuid.UUID]
    second_products: frozenset[uuid.UUID]


@pytest.fixture(scope="module")
async def shops(sessionmaker: async_sessionmaker[AsyncSession], sample_csv: str) -> Shops:
    """Two tenants with the same WooCommerce sample catalog (same names, same SKUs)."""
    ids = []
    async with sessionmaker() as session:
        for _ in range(2):
            tenant = await create_tenant(
                session,
                slug=f"t-{uuid.uuid4().hex[:8]}",
                name="Search Shop",
                currency="USD",
                secret_key=SECRET_KEY,
            )
            await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
            ids.append(tenant.id)
        await session.commit()
        owned = []
        for tenant_id in ids:
            rows = await session.execute(select(Product.id).where(Product.tenant_id == tenant_id))
            owned.append(frozenset(rows.scalars()))
    return Shops(ids[0], ids[1], owned[0], owned[1])


async def _names(session: AsyncSession, tenant_id: uuid.UUID, query: str) -> list[str]:
    return [hit.name for hit in await search_products(session, tenant_id=tenant_id, query=query)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # "Hoodie with Pocket" (64) is hidden in the catalog, so never found.
        ("hoodie", ["Hoodie", "Hoodie with Logo", "Hoodie with Zipper"]),
        ("hoody", ["Hoodie", "Hoodie with Logo", "Hoodie with Zipper"]),
        ("Hoodies", ["Hoodie", "Hoodie with Logo", "Hoodie with Zipper"]),
        ("hoddie", ["Hoodie", "Hoodie with Logo", "Hoodie with Zipper"]),
        ("do you have hoodies?", ["Hoodie", "Hoodie with Logo", "Hoodie with Zipper"]),
        ("sunglases", ["Sunglasses"]),
        ("SUNGLASSES", ["Sunglasses"]),
        ("beanie", ["Beanie", "Beanie with Logo"]),
        # Variant attribute values are searchable: only the Hoodie has a Blue variant.
        ("blue hoodie", ["Hoodie"]),
        ("polo", ["Polo"]),
        ("music", ["Album", "Single"]),
        # A SKU fragment that full-text search cannot see: the ILIKE fallback finds it.
        ("vneck-tee-r", ["V-Neck T-Shirt"]),
    ],
)
async def test_search_finds_exact_products(
    sessionmaker: async_sessionmaker[AsyncSession], shops: Shops, query: str, expected: list[str]
) -> None:
    async with sessionmaker() as session:
        assert sorted(await _names(session, shops.first, query)) == sorted(expected)


@pytest.mark.parametrize("query", ["t-shirt", "tshirt", "T-Shirts"])
async def test_search_tshirt_spellings(
    sessionmaker: async_sessionmaker[AsyncSession], shops: Shops, query: str
) -> None:
    async with sessionmaker() as session:
        names = await _names(session, shops.first, query)
    # Names containing "T-Shirt" rank first; the rest of the shop's "Tshirts" category follows.
    assert sorted(names[:3]) == ["T-Shirt", "T-Shirt with Logo", "V-Neck T-Shirt"]
    assert sorted(names[3:]) == ["Long Sleeve Tee", "Polo"]


@pytest.mark.parametrize("query", ["xqzvbnm", "", "   ", "do you have", "zzzzzzzz hoodlum"])
async def test_search_nonsense_is_empty(
    sessionmaker: async_sessionmaker[AsyncSession], shops: Shops, query: str
) -> None:
    async with sessionmaker() as session:
        assert await search_products(session, tenant_id=shops.first, query=query) == []


async def test_search_hits_are_the_tenants_own(
    sessionmaker: async_sessionmaker[AsyncSession], shops: Shops
) -> None:
    async with sessionmaker() as session:
        for query in ("hoodie", "sunglases", "t-shirt", "vneck-tee-r"):
            first = await search_products(session, tenant_id=shops.first, query=query)
            second = await search_products(session, tenant_id=shops.second, query=query)
            assert first and {h.product_id for h in first} <= shops.first_products
            assert second and {h.product_id for h in second} <= shops.second_products
            assert [h.name for h in first] == [h.name for h in second]
        assert await search_products(session, tenant_id=uuid.uuid4(), query="hoodie") == []


async def test_search_hit_prices_and_kinds(
    sessionmaker: async_sessionmaker[AsyncSession], shops: Shops
) -> None:
    async with sessionmaker() as session:
        hits = {
            h.name: h for h in await search_products(session, tenant_id=shops.first, query="hoodie")
        }
    hoodie = hits["Hoodie"]
    assert (hoodie.kind, hoodie.variant_count, hoodie.available) == ("variable", 4, True)
    assert (hoodie.min_price, hoodie.max_price) == (Decimal("42"), Decimal("45"))
    logo = hits["Hoodie with Logo"]
    assert (logo.kind, logo.variant_count, logo.min_price) == ("simple", 1, Decimal("45"))


async def test_out_of_stock_sorts_after_in_stock(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await new_tenant()
    async with sessionmaker() as session:
        await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
    async with sessionmaker() as session:
        ranked = await _names(session, tenant.id, "hoodie")
        assert ranked[0] == "Hoodie"  # the best match while everything is in stock
        hoodie_id = await session.scalar(
            select(Product.id).where(Product.tenant_id == tenant.id, Product.external_id == "45")
        )
        # One variant sold out: the product stays available.
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == hoodie_id, ProductVariant.external_id == "79")
            .values(stock_quantity=0)
        )
        await session.commit()
        assert (await _names(session, tenant.id, "hoodie"))[0] == "Hoodie"
        # Every variant sold out: the product goes last.
        await session.execute(
            update(ProductVariant)
            .where(ProductVariant.product_id == hoodie_id)
            .values(in_stock=False, stock_quantity=0)
        )
        await session.commit()
        hits = await search_products(session, tenant_id=tenant.id, query="hoodie")
    assert [(h.name, h.available) for h in hits] == [
        ("Hoodie with Logo", True),
        ("Hoodie with Zipper", True),
        ("Hoodie", False),
    ]


async def test_vocabulary_cache_is_invalidated_by_import(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await new_tenant()
    async with sessionmaker() as session:
        # Loads (and caches) an empty vocabulary.
        assert await search_products(session, tenant_id=tenant.id, query="sunglases") == []
        await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
        # The import dropped the cached vocabulary, so the typo is corrected at once.
        assert await _names(session, tenant.id, "sunglases") == ["Sunglasses"]
    invalidate_vocabulary(tenant.id)


def test_expand_query_corrections() -> None:
    vocabulary = build_vocabulary(["V-Neck T-Shirt", "Sunglasses", "Clothing", "Cap"])
    assert expand_query("sunglases", vocabulary) == [frozenset({"sunglases", "sunglasses"})]
    assert expand_query("tshirt", vocabulary) == [frozenset({"tshirt", "t-shirt"})]
    assert expand_query("t-shirt", vocabulary) == [frozenset({"t-shirt", "tshirt"})]
    # Short words are never fuzzy-corrected ("cat" must not become "cap").
    assert expand_query("cat", vocabulary) == [frozenset({"cat"})]
    # The start of a known word is left for prefix search.
    assert expand_query("clo", vocabulary) == [frozenset({"clo"})]
    assert expand_query("the a of", vocabulary) == []
