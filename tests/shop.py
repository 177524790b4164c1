"""A small test shop: its own tenant, WhatsApp number and catalog, unique per test."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.parsed import ParsedCatalog, ParsedCategory, ParsedProduct, ParsedVariant
from tendero.catalog.writer import write_catalog
from tendero.crypto import encrypt_secret
from tendero.db.models import Product, ProductVariant, Tenant
from tests.harness import SECRET_KEY

ACCESS_TOKEN = "EAAG-test-token"


@dataclass
class Shop:
    tenant_id: uuid.UUID
    slug: str
    phone_number_id: str

    async def variant(self, sessions: async_sessionmaker[AsyncSession], sku: str) -> ProductVariant:
        async with sessions() as session:
            return (
                await session.execute(
                    select(ProductVariant).where(
                        ProductVariant.tenant_id == self.tenant_id, ProductVariant.sku == sku
                    )
                )
            ).scalar_one()

    async def product_id(self, sessions: async_sessionmaker[AsyncSession], name: str) -> uuid.UUID:
        async with sessions() as session:
            return (
                await session.execute(
                    select(Product.id).where(
                        Product.tenant_id == self.tenant_id, Product.name == name
                    )
                )
            ).scalar_one()


def test_catalog() -> ParsedCatalog:
    def simple(
        ext: str, name: str, price: str, stock: int, cat: str, **kw: object
    ) -> ParsedProduct:
        return ParsedProduct(
            external_id=ext,
            kind="simple",
            name=name,
            sku=ext,
            category_paths=(cat,),
            short_description=f"A fine {name.lower()}.",
            variants=(
                ParsedVariant(
                    external_id=f"{ext}-v",
                    sku=ext,
                    price=Decimal(price),
                    stock_quantity=stock,
                    in_stock=stock > 0,
                    **kw,
                ),
            ),
        )

    hoodie = ParsedProduct(
        external_id="HOOD",
        kind="variable",
        name="Hoodie",
        short_description="A warm hoodie.",
        category_paths=("Clothing > Hoodies",),
        variants=(
            ParsedVariant(
                external_id="HOOD-BL-L",
                sku="HOOD-BL-L",
                attributes={"Color": "Blue", "Size": "Large"},
                price=Decimal("45.00"),
                stock_quantity=5,
                position=0,
            ),
            ParsedVariant(
                external_id="HOOD-BL-M",
                sku="HOOD-BL-M",
                attributes={"Color": "Blue", "Size": "Medium"},
                price=Decimal("45.00"),
                stock_quantity=0,
                in_stock=False,
                position=1,
            ),
            ParsedVariant(
                external_id="HOOD-RD-L",
                sku="HOOD-RD-L",
                attributes={"Color": "Red", "Size": "Large"},
                price=Decimal("47.00"),
                stock_quantity=2,
                position=2,
            ),
        ),
    )
    return ParsedCatalog(
        categories=(
            ParsedCategory(path="Clothing", name="Clothing"),
            ParsedCategory(path="Clothing > Hoodies", name="Hoodies", parent_path="Clothing"),
            ParsedCategory(path="Accessories", name="Accessories"),
        ),
        products=(
            hoodie,
            simple("SUN-1", "Sunglasses", "20.00", 10, "Accessories"),
            simple("BEAN-1", "Beanie", "18.00", 1, "Accessories"),
            simple("CAP-1", "Cap", "15.00", 0, "Accessories"),
        ),
    )


async def make_shop(
    sessions: async_sessionmaker[AsyncSession],
    *,
    language: str = "en",
    checkout_confirm_ttl_s: int | None = None,
    payment_methods: tuple[str, ...] = ("cash", "card_on_delivery"),
    catalog: ParsedCatalog | None = None,
) -> Shop:
    slug = f"shop-{uuid.uuid4().hex[:10]}"
    phone_number_id = str(uuid.uuid4().int)[:15]
    async with sessions() as session, session.begin():
        tenant = Tenant(
            slug=slug,
            name="Test Shop",
            language=language,
            currency="USD",
            tax_rate=Decimal("0.10"),
            delivery_fee=Decimal("5.00"),
            payment_methods=list(payment_methods),
            pickup_address="1 Shop Street",
            checkout_confirm_ttl_s=checkout_confirm_ttl_s,
            whatsapp_phone_number_id=phone_number_id,
            whatsapp_access_token_enc=encrypt_secret(
                ACCESS_TOKEN, SECRET_KEY, context=slug.encode()
            ),
        )
        session.add(tenant)
        await session.flush()
        await write_catalog(session, tenant_id=tenant.id, catalog=catalog or test_catalog())
    return Shop(tenant_id=tenant.id, slug=slug, phone_number_id=phone_number_id)
