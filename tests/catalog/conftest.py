"""Catalog test helpers: the WooCommerce sample file and tenant factories."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.tenants import create_tenant
from tendero.db.models import Category, Product, ProductCategory, ProductVariant, Tenant

SAMPLE_CSV = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "fixtures"
    / "woocommerce"
    / "sample_products.csv"
)
SECRET_KEY = b"k" * 32

NewTenant = Callable[..., Awaitable[Tenant]]


@pytest.fixture(scope="session")
def sample_csv() -> str:
    assert SAMPLE_CSV.is_file(), f"WooCommerce sample not found at {SAMPLE_CSV}"
    return SAMPLE_CSV.read_text(encoding="utf-8")


@pytest.fixture
def new_tenant(sessionmaker: async_sessionmaker[AsyncSession]) -> NewTenant:
    """Create and commit a tenant with a unique slug."""

    async def make(currency: str = "USD", **kwargs: object) -> Tenant:
        async with sessionmaker() as session:
            tenant = await create_tenant(
                session,
                slug=f"t-{uuid.uuid4().hex[:8]}",
                name="Test Shop",
                currency=currency,
                secret_key=SECRET_KEY,
                **kwargs,
            )
            await session.commit()
            return tenant

    return make


async def catalog_counts(session: AsyncSession, tenant_id: uuid.UUID) -> dict[str, int]:
    """Rows of each catalog table that belong to the tenant."""
    products = await session.scalar(
        select(func.count()).select_from(Product).where(Product.tenant_id == tenant_id)
    )
    variants = await session.scalar(
        select(func.count())
        .select_from(ProductVariant)
        .where(ProductVariant.tenant_id == tenant_id)
    )
    categories = await session.scalar(
        select(func.count()).select_from(Category).where(Category.tenant_id == tenant_id)
    )
    links = await session.scalar(
        select(func.count())
        .select_from(ProductCategory)
        .join(Product, Product.id == ProductCategory.product_id)
        .where(Product.tenant_id == tenant_id)
    )
    return {
        "products": products or 0,
        "variants": variants or 0,
        "categories": categories or 0,
        "links": links or 0,
    }
