"""The shipped demo catalog, the demo-shop seed and tenant validation."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.loader import (
    CatalogDocument,
    load_catalog,
    load_demo_document,
    parse_catalog_document,
)
from tendero.catalog.parsed import CatalogImportError
from tendero.catalog.search import search_products
from tendero.catalog.tenants import (
    DEMO_SLUG,
    TenantError,
    create_tenant,
    get_tenant_by_slug,
    seed_demo_shop,
)
from tendero.crypto import decrypt_secret
from tendero.db.models import Product, ProductVariant, Tenant
from tendero.db.repos.catalog import get_product, list_categories
from tendero.settings import Settings
from tests.catalog.conftest import SECRET_KEY, NewTenant, catalog_counts

# demo_catalog.json: 14 products; variants: Classic Pullover Hoodie 4, Zip-Up Fleece Hoodie 2,
# Organic Cotton Crew Tee 6, Ribbed Wool Beanie 2, Leather Belt 3, nine simple products 1 each.
DEMO_PRODUCTS = 14
DEMO_VARIANTS = 26
DEMO_CATEGORIES = 5  # Clothing, Clothing > Hoodies, Clothing > T-Shirts, Accessories, Home


def test_demo_document_shape() -> None:
    document = load_demo_document()
    catalog = document.to_parsed()
    assert document.name == "Tendero Demo Shop" and document.currency == "USD"
    assert len(catalog.products) == DEMO_PRODUCTS
    assert sum(len(p.variants) for p in catalog.products) == DEMO_VARIANTS
    variable = [p for p in catalog.products if p.kind == "variable"]
    assert len(variable) >= 3
    assert {"Color", "Size"} <= {
        name for p in variable for v in p.variants for name in v.attributes
    }
    skus = [v.sku for p in catalog.products for v in p.variants]
    assert None not in skus and len(skus) == len(set(skus))
    assert any(
        not v.in_stock for p in variable for v in p.variants if any(w.in_stock for w in p.variants)
    )  # a sold-out variant of an available product
    sold_out = [p.name for p in catalog.products if not any(v.in_stock for v in p.variants)]
    assert sold_out == ["Zip-Up Fleece Hoodie", "Linen Throw Pillow Cover"]
    assert [c.path for c in catalog.categories] == [
        "Accessories",
        "Clothing",
        "Home",
        "Clothing > Hoodies",
        "Clothing > T-Shirts",
    ]


def test_catalog_document_errors() -> None:
    with pytest.raises(CatalogImportError, match="either 'price' or 'variants'"):
        parse_catalog_document('{"products": [{"id": "a", "name": "A"}]}')
    with pytest.raises(CatalogImportError, match="not listed"):
        CatalogDocument.model_validate(
            {
                "categories": ["Home"],
                "products": [{"id": "a", "name": "A", "price": "1", "categories": ["Garden"]}],
            }
        ).to_parsed()
    with pytest.raises(CatalogImportError, match="duplicate product id"):
        CatalogDocument.model_validate(
            {
                "products": [
                    {"id": "a", "name": "A", "price": "1"},
                    {"id": "a", "name": "B", "price": "2"},
                ]
            }
        ).to_parsed()
    with pytest.raises(CatalogImportError):
        parse_catalog_document("not json")


async def test_load_demo_catalog_idempotent(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    document = load_demo_document()
    async with sessionmaker() as session:
        report = await load_catalog(session, tenant_id=tenant.id, document=document)
        await session.commit()
    assert (report.products_created, report.variants_created, report.categories_created) == (
        DEMO_PRODUCTS,
        DEMO_VARIANTS,
        DEMO_CATEGORIES,
    )
    async with sessionmaker() as session:
        counts = await catalog_counts(session, tenant.id)
        again = await load_catalog(session, tenant_id=tenant.id, document=document)
        await session.commit()
    assert counts == {
        "products": DEMO_PRODUCTS,
        "variants": DEMO_VARIANTS,
        "categories": DEMO_CATEGORIES,
        "links": DEMO_PRODUCTS,
    }
    assert (again.products_created, again.products_updated) == (0, DEMO_PRODUCTS)
    assert (again.variants_created, again.variants_updated) == (0, DEMO_VARIANTS)
    async with sessionmaker() as session:
        assert await catalog_counts(session, tenant.id) == counts
        zip_id = await session.scalar(
            select(Product.id).where(
                Product.tenant_id == tenant.id, Product.external_id == "demo-hoodie-zip"
            )
        )
        classic_id = await session.scalar(
            select(Product.id).where(
                Product.tenant_id == tenant.id, Product.external_id == "demo-hoodie-classic"
            )
        )
        assert zip_id is not None and classic_id is not None
        zip_hoodie = await get_product(session, tenant_id=tenant.id, product_id=zip_id)
        classic = await get_product(session, tenant_id=tenant.id, product_id=classic_id)
        assert zip_hoodie is not None and classic is not None
        assert zip_hoodie.available is False
        assert classic.available is True
        assert [(v.label, v.stock_quantity, v.available) for v in classic.variants] == [
            ("Navy, M", 8, True),
            ("Navy, L", 5, True),
            ("Heather Gray, M", 0, False),
            ("Heather Gray, L", 3, True),
        ]
        categories = {
            c.path: c.product_count for c in await list_categories(session, tenant_id=tenant.id)
        }
        assert categories == {
            "Accessories": 6,
            "Clothing": 5,
            "Clothing > Hoodies": 2,
            "Clothing > T-Shirts": 3,
            "Home": 3,
        }
        hits = await search_products(session, tenant_id=tenant.id, query="hoody")
        assert [(h.name, h.available) for h in hits] == [
            ("Classic Pullover Hoodie", True),
            ("Zip-Up Fleece Hoodie", False),
        ]


async def test_load_catalog_keep_stock(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant
) -> None:
    tenant = await new_tenant()
    document = load_demo_document()
    async with sessionmaker() as session:
        await load_catalog(session, tenant_id=tenant.id, document=document)
        await session.execute(
            update(ProductVariant)
            .where(
                ProductVariant.tenant_id == tenant.id,
                ProductVariant.external_id == "demo-hoodie-classic-navy-m",
            )
            .values(stock_quantity=1)
        )
        await session.commit()

    async def navy_m() -> int | None:
        async with sessionmaker() as session:
            return await session.scalar(
                select(ProductVariant.stock_quantity).where(
                    ProductVariant.tenant_id == tenant.id,
                    ProductVariant.external_id == "demo-hoodie-classic-navy-m",
                )
            )

    async with sessionmaker() as session:
        await load_catalog(session, tenant_id=tenant.id, document=document, keep_stock=True)
        await session.commit()
    assert await navy_m() == 1
    async with sessionmaker() as session:
        await load_catalog(session, tenant_id=tenant.id, document=document)
        await session.commit()
    assert await navy_m() == 8


async def test_load_catalog_refuses_other_currency(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant
) -> None:
    tenant = await new_tenant(currency="EUR")
    async with sessionmaker() as session:
        with pytest.raises(CatalogImportError, match="priced in USD"):
            await load_catalog(session, tenant_id=tenant.id, document=load_demo_document())
        await session.commit()
        assert (await catalog_counts(session, tenant.id))["products"] == 0


async def test_seed_demo_shop_twice(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    settings = Settings(_env_file=None, tendero_env="test")
    async with sessionmaker() as session:
        first = await seed_demo_shop(session, settings=settings)
        await session.commit()
    async with sessionmaker() as session:
        second = await seed_demo_shop(session, settings=settings)
        await session.commit()
    assert first.id == second.id
    async with sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.slug == DEMO_SLUG)
        )
        tenant = await get_tenant_by_slug(session, DEMO_SLUG)
        assert count == 1 and tenant is not None
        assert (tenant.name, tenant.currency, tenant.language) == ("Tendero Demo Shop", "USD", "en")
        assert (tenant.tax_rate, tenant.delivery_fee) == (Decimal("0.0825"), Decimal("4.99"))
        assert tenant.payment_methods == ["cash", "card_on_delivery", "bank_transfer"]
        assert tenant.pickup_address
        assert tenant.whatsapp_phone_number_id == settings.whatsapp_phone_number_id
        assert tenant.whatsapp_access_token_enc is not None
        assert (
            decrypt_secret(
                tenant.whatsapp_access_token_enc, settings.secret_key_bytes, context=b"demo"
            )
            == settings.whatsapp_access_token.get_secret_value()
        )
        counts = await catalog_counts(session, tenant.id)
    assert (counts["products"], counts["variants"]) == (DEMO_PRODUCTS, DEMO_VARIANTS)


async def test_create_tenant_encrypts_token(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    slug = f"t-{uuid.uuid4().hex[:8]}"
    async with sessionmaker() as session:
        tenant = await create_tenant(
            session,
            slug=slug,
            name="  Tienda  ",
            currency="mxn",
            language="es",
            tax_rate=Decimal("0.16"),
            delivery_fee=Decimal("50"),
            payment_methods=("cash", "bank_transfer"),
            phone_number_id=str(uuid.uuid4().int)[:15],
            access_token="EAAG-secret",
            secret_key=SECRET_KEY,
            checkout_confirm_ttl_s=600,
        )
        await session.commit()
    assert (tenant.name, tenant.currency, tenant.language) == ("Tienda", "MXN", "es")
    assert tenant.whatsapp_access_token_enc is not None
    assert b"EAAG-secret" not in tenant.whatsapp_access_token_enc
    assert decrypt_secret(tenant.whatsapp_access_token_enc, SECRET_KEY, context=slug.encode()) == (
        "EAAG-secret"
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"slug": "A"}, "slug"),
        ({"slug": "has space"}, "slug"),
        ({"slug": "x" * 65}, "slug"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "US"}, "currency"),
        ({"language": "fr"}, "language"),
        ({"tax_rate": Decimal("1")}, "tax_rate"),
        ({"tax_rate": Decimal("-0.1")}, "tax_rate"),
        ({"tax_rate": Decimal("0.123456")}, "tax_rate"),
        ({"delivery_fee": 4.99}, "delivery_fee"),
        ({"delivery_fee": Decimal("-1")}, "delivery_fee"),
        ({"payment_methods": ()}, "payment_methods"),
        ({"payment_methods": ("Cash!",)}, "payment_methods"),
        ({"phone_number_id": "+1 555"}, "phone_number_id"),
        ({"secret_key": b"short"}, "secret_key"),
        ({"name": " "}, "name"),
        ({"checkout_confirm_ttl_s": 0}, "checkout_confirm_ttl_s"),
    ],
)
async def test_create_tenant_validation(
    sessionmaker: async_sessionmaker[AsyncSession], change: dict[str, object], field: str
) -> None:
    arguments: dict[str, object] = {
        "slug": f"t-{uuid.uuid4().hex[:8]}",
        "name": "Shop",
        "currency": "USD",
        "secret_key": SECRET_KEY,
        **change,
    }
    async with sessionmaker() as session:
        with pytest.raises(TenantError) as caught:
            await create_tenant(session, **arguments)
        assert caught.value.field == field
        assert await get_tenant_by_slug(session, str(arguments["slug"])) is None


async def test_create_tenant_duplicates(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    slug = f"t-{uuid.uuid4().hex[:8]}"
    phone = str(uuid.uuid4().int)[:15]
    async with sessionmaker() as session:
        await create_tenant(
            session,
            slug=slug,
            name="One",
            currency="USD",
            phone_number_id=phone,
            secret_key=SECRET_KEY,
        )
        await session.commit()
    async with sessionmaker() as session:
        with pytest.raises(TenantError) as caught:
            await create_tenant(
                session, slug=slug, name="Two", currency="USD", secret_key=SECRET_KEY
            )
        assert caught.value.field == "slug"
        with pytest.raises(TenantError) as caught:
            await create_tenant(
                session,
                slug=f"t-{uuid.uuid4().hex[:8]}",
                name="Three",
                currency="USD",
                phone_number_id=phone,
                secret_key=SECRET_KEY,
            )
        assert caught.value.field == "phone_number_id"
        # The savepoint kept the transaction usable: a valid tenant still goes through.
        fourth = await create_tenant(
            session,
            slug=f"t-{uuid.uuid4().hex[:8]}",
            name="Four",
            currency="USD",
            secret_key=SECRET_KEY,
        )
        await session.commit()
    async with sessionmaker() as session:
        assert await session.get(Tenant, fourth.id) is not None
        names = (
            (await session.execute(select(Tenant.name).where(Tenant.slug == slug))).scalars().all()
        )
    assert names == ["One"]
