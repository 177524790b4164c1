"""Catalog read repositories on the imported WooCommerce sample."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.views import variant_label
from tendero.catalog.woocommerce_csv import import_woocommerce_csv
from tendero.db.models import Category, Product, ProductVariant, Tenant
from tendero.db.repos.catalog import (
    find_variants_by_retailer_ids,
    get_product,
    get_variant,
    list_categories,
    list_category_products,
)
from tests.catalog.conftest import NewTenant


async def _imported(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> Tenant:
    tenant = await new_tenant()
    async with sessionmaker() as session:
        await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
    return tenant


async def _product_id(session: AsyncSession, tenant_id: uuid.UUID, external_id: str) -> uuid.UUID:
    found = await session.scalar(
        select(Product.id).where(Product.tenant_id == tenant_id, Product.external_id == external_id)
    )
    assert found is not None
    return found


async def test_list_categories_counts_descendants(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await _imported(sessionmaker, new_tenant, sample_csv)
    async with sessionmaker() as session:
        categories = await list_categories(session, tenant_id=tenant.id)
    by_path = {c.path: c for c in categories}
    # Published products only: "Hoodie with Pocket" (64) is hidden.
    assert [(c.path, c.name, c.product_count) for c in categories] == [
        ("Clothing", "Clothing", 13),
        ("Clothing > Accessories", "Accessories", 5),  # 48, 58, 60, 62, 85
        ("Clothing > Hoodies", "Hoodies", 3),  # 45, 46, 66
        ("Clothing > Tshirts", "Tshirts", 5),  # 44, 47, 68, 70, 83
        ("Music", "Music", 2),  # 73, 75
    ]
    assert by_path["Clothing"].parent_id is None
    assert by_path["Clothing > Hoodies"].parent_id == by_path["Clothing"].id


async def test_list_categories_hides_empty_and_foreign(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await _imported(sessionmaker, new_tenant, sample_csv)
    empty = await new_tenant()
    async with sessionmaker() as session:
        assert await list_categories(session, tenant_id=empty.id) == []
        await session.execute(
            update(Product)
            .where(Product.tenant_id == tenant.id, Product.external_id.in_(["73", "75"]))
            .values(published=False)
        )
        await session.commit()
        paths = [c.path for c in await list_categories(session, tenant_id=tenant.id)]
    assert "Music" not in paths


async def test_list_category_products_paging(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await _imported(sessionmaker, new_tenant, sample_csv)
    other = await _imported(sessionmaker, new_tenant, sample_csv)
    async with sessionmaker() as session:
        accessories = await session.scalar(
            select(Category.id).where(
                Category.tenant_id == tenant.id, Category.path == "Clothing > Accessories"
            )
        )
        clothing = await session.scalar(
            select(Category.id).where(Category.tenant_id == tenant.id, Category.path == "Clothing")
        )
        assert accessories is not None and clothing is not None

        page, total = await list_category_products(
            session, tenant_id=tenant.id, category_id=accessories, offset=0, limit=2
        )
        assert total == 5
        assert [p.name for p in page] == ["Beanie", "Beanie with Logo"]
        assert (page[0].min_price, page[0].max_price, page[0].available) == (
            Decimal("18"),
            Decimal("18"),
            True,
        )
        page, total = await list_category_products(
            session, tenant_id=tenant.id, category_id=accessories, offset=2, limit=2
        )
        assert ([p.name for p in page], total) == (["Belt", "Cap"], 5)
        page, total = await list_category_products(
            session, tenant_id=tenant.id, category_id=accessories, offset=4, limit=2
        )
        assert ([p.name for p in page], total) == (["Sunglasses"], 5)
        page, total = await list_category_products(
            session, tenant_id=tenant.id, category_id=accessories, offset=10, limit=2
        )
        assert (page, total) == ([], 5)

        # A parent category lists its descendants' products.
        _, total = await list_category_products(
            session, tenant_id=tenant.id, category_id=clothing, offset=0, limit=50
        )
        assert total == 13

        # Sold out goes last.
        beanie = await _product_id(session, tenant.id, "48")
        await session.execute(
            update(ProductVariant).where(ProductVariant.product_id == beanie).values(in_stock=False)
        )
        await session.commit()
        page, _ = await list_category_products(
            session, tenant_id=tenant.id, category_id=accessories, offset=0, limit=10
        )
        assert [(p.name, p.available) for p in page] == [
            ("Beanie with Logo", True),
            ("Belt", True),
            ("Cap", True),
            ("Sunglasses", True),
            ("Beanie", False),
        ]

        # Another tenant's category id reads as an empty category.
        assert await list_category_products(
            session, tenant_id=other.id, category_id=accessories, offset=0, limit=10
        ) == ([], 0)
        with pytest.raises(ValueError, match="limit"):
            await list_category_products(
                session, tenant_id=tenant.id, category_id=accessories, offset=0, limit=0
            )


async def test_get_product_with_variants(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await _imported(sessionmaker, new_tenant, sample_csv)
    other = await _imported(sessionmaker, new_tenant, sample_csv)
    async with sessionmaker() as session:
        vneck_id = await _product_id(session, tenant.id, "44")
        product = await get_product(session, tenant_id=tenant.id, product_id=vneck_id)
        assert product is not None
        assert (product.name, product.kind, product.sku, product.published) == (
            "V-Neck T-Shirt",
            "variable",
            "woo-vneck-tee",
            True,
        )
        assert [v.label for v in product.variants] == [
            f"{color}, {size}"
            for color in ("Red", "Green", "Blue")
            for size in ("Large", "Medium", "Small")
        ]
        assert [v.position for v in product.variants] == list(range(9))
        blue_small = product.variants[-1]
        assert (blue_small.sku, blue_small.price, blue_small.regular_price) == (
            "woo-vneck-tee-blue",
            Decimal("15"),
            Decimal("15"),
        )
        assert (blue_small.stock_quantity, blue_small.in_stock, blue_small.available) == (
            None,
            True,
            True,
        )
        assert (product.min_price, product.max_price, product.available) == (
            Decimal("15"),
            Decimal("20"),
            True,
        )
        tshirts = await session.scalar(
            select(Category.id).where(
                Category.tenant_id == tenant.id, Category.path == "Clothing > Tshirts"
            )
        )
        assert product.category_id == tshirts

        hidden = await get_product(
            session, tenant_id=tenant.id, product_id=await _product_id(session, tenant.id, "64")
        )
        assert hidden is not None and hidden.published is False

        # Another tenant's product id, and an unknown one, read as missing.
        assert await get_product(session, tenant_id=other.id, product_id=vneck_id) is None
        assert await get_product(session, tenant_id=tenant.id, product_id=uuid.uuid4()) is None


async def test_get_variant_and_labels(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await _imported(sessionmaker, new_tenant, sample_csv)
    other = await new_tenant()
    async with sessionmaker() as session:
        red_id = await session.scalar(
            select(ProductVariant.id).where(
                ProductVariant.tenant_id == tenant.id, ProductVariant.external_id == "79"
            )
        )
        assert red_id is not None
        variant = await get_variant(session, tenant_id=tenant.id, variant_id=red_id)
        assert variant is not None
        assert (variant.product_name, variant.label, variant.display_name) == (
            "Hoodie",
            "Red, No",
            "Hoodie (Red, No)",
        )
        assert (variant.price, variant.regular_price, variant.sku) == (
            Decimal("42"),
            Decimal("45"),
            "woo-hoodie-red",
        )
        assert await get_variant(session, tenant_id=other.id, variant_id=red_id) is None
    assert variant_label({"Size": "Large", "Color": "Blue"}) == "Blue, Large"
    assert variant_label({}) is None


async def test_find_variants_by_retailer_ids(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await _imported(sessionmaker, new_tenant, sample_csv)
    other = await _imported(sessionmaker, new_tenant, sample_csv)
    async with sessionmaker() as session:
        found = await find_variants_by_retailer_ids(
            session,
            tenant_id=tenant.id,
            retailer_ids=["woo-hoodie-red", "woo-beanie", "90", "woo-vneck-tee-blue", "nope"],
        )
        assert set(found) == {"woo-hoodie-red", "woo-beanie", "90", "woo-vneck-tee-blue"}
        assert found["woo-hoodie-red"].label == "Red, No"
        assert (found["woo-beanie"].product_name, found["woo-beanie"].label) == ("Beanie", None)
        assert found["90"].label == "Blue, Yes"
        # Expanded "any size" variants share the SKU: the first by position answers.
        assert found["woo-vneck-tee-blue"].label == "Blue, Large"
        own = set(
            (
                await session.execute(
                    select(ProductVariant.id).where(ProductVariant.tenant_id == tenant.id)
                )
            ).scalars()
        )
        assert {v.id for v in found.values()} <= own

        theirs = await find_variants_by_retailer_ids(
            session, tenant_id=other.id, retailer_ids=["woo-hoodie-red"]
        )
        assert theirs["woo-hoodie-red"].id != found["woo-hoodie-red"].id
        assert (
            await find_variants_by_retailer_ids(session, tenant_id=tenant.id, retailer_ids=[]) == {}
        )
