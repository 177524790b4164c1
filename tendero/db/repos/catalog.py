"""Catalog reads for the chat engines: categories, product lists, product and variant details.

Every query is scoped by ``tenant_id``; an id of another tenant's row reads as missing. The
functions return the frozen views of :mod:`tendero.catalog.views`, never ORM objects.

"Available" means a variant can be sold now: ``in_stock`` and, when stock is tracked, a
positive quantity (:func:`variant_available`). Lists put available products first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import ColumnElement, Subquery, and_, distinct, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from tendero.catalog.parsed import PATH_SEPARATOR
from tendero.catalog.views import (
    CategoryView,
    ProductDetail,
    ProductSummary,
    VariantDetail,
    VariantView,
    variant_label,
)
from tendero.db.models import Category, Product, ProductCategory, ProductVariant

__all__ = [
    "find_variants_by_retailer_ids",
    "get_product",
    "get_variant",
    "list_categories",
    "list_category_products",
    "variant_available",
]


def variant_available(variant: type[ProductVariant] = ProductVariant) -> ColumnElement[bool]:
    """SQL: the variant is in stock and, if its stock is tracked, has units left."""
    return and_(
        variant.in_stock.is_(True),
        or_(variant.stock_quantity.is_(None), variant.stock_quantity > 0),
    )


def _in_subtree(
    category: type[Category], root_id: uuid.UUID, root_path: str
) -> ColumnElement[bool]:
    return or_(
        category.id == root_id,
        func.starts_with(category.path, root_path + PATH_SEPARATOR),
    )


async def list_categories(session: AsyncSession, *, tenant_id: uuid.UUID) -> list[CategoryView]:
    """Categories holding at least one published product, in (position, path) order.

    ``product_count`` counts distinct published products of the category and all its
    descendants, so a parent such as "Clothing" appears (and counts) even when its products
    sit only in "Clothing > Hoodies".
    """
    parent = aliased(Category)
    child = aliased(Category)
    count = func.count(distinct(Product.id))
    stmt = (
        select(parent.id, parent.name, parent.path, parent.parent_id, count.label("n"))
        .join(
            child,
            and_(
                child.tenant_id == parent.tenant_id,
                or_(
                    child.id == parent.id,
                    func.starts_with(child.path, parent.path + PATH_SEPARATOR),
                ),
            ),
        )
        .join(ProductCategory, ProductCategory.category_id == child.id)
        .join(
            Product,
            and_(
                Product.id == ProductCategory.product_id,
                Product.tenant_id == tenant_id,
                Product.published.is_(True),
            ),
        )
        .where(parent.tenant_id == tenant_id)
        .group_by(parent.id)
        .having(count > 0)
        .order_by(parent.position, parent.path)
    )
    return [
        CategoryView(id=r.id, name=r.name, path=r.path, parent_id=r.parent_id, product_count=r.n)
        for r in (await session.execute(stmt)).all()
    ]


async def list_category_products(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    category_id: uuid.UUID,
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[ProductSummary], int]:
    """One page of the published products of a category and its descendants.

    Args:
        session: open session.
        tenant_id: the shop.
        category_id: a category of this tenant (another tenant's id gives an empty page).
        offset: rows to skip (>= 0).
        limit: page size (>= 1).

    Returns:
        ``(page, total)``: available products first, then by position, name and id;
        ``total`` counts every matching product.

    Raises:
        ValueError: ``offset`` is negative or ``limit`` is below 1.
    """
    if offset < 0 or limit < 1:
        raise ValueError("offset must be >= 0 and limit >= 1")
    root = (
        await session.execute(
            select(Category.path).where(Category.id == category_id, Category.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    if root is None:
        return [], 0
    in_category = (
        select(ProductCategory.product_id)
        .join(Category, Category.id == ProductCategory.category_id)
        .where(Category.tenant_id == tenant_id, _in_subtree(Category, category_id, root))
    )
    agg = _variant_aggregate(tenant_id)
    where = (
        Product.tenant_id == tenant_id,
        Product.published.is_(True),
        Product.id.in_(in_category),
    )
    total = (
        await session.execute(select(func.count()).select_from(Product).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(Product, agg.c.min_price, agg.c.max_price, agg.c.available, agg.c.variant_count)
        .join(agg, agg.c.product_id == Product.id)
        .where(*where)
        .order_by(agg.c.available.desc(), Product.position, Product.name, Product.id)
        .offset(offset)
        .limit(limit)
    )
    page = [
        ProductSummary(
            id=product.id,
            name=product.name,
            kind=product.kind,
            short_description=product.short_description,
            image_url=product.image_url,
            min_price=min_price,
            max_price=max_price,
            available=available,
            variant_count=variant_count,
        )
        for product, min_price, max_price, available, variant_count in rows.all()
    ]
    return page, total


def _variant_aggregate(tenant_id: uuid.UUID) -> Subquery:
    """Per product: price range, availability and variant count."""
    return (
        select(
            ProductVariant.product_id,
            func.min(ProductVariant.price).label("min_price"),
            func.max(ProductVariant.price).label("max_price"),
            func.bool_or(variant_available()).label("available"),
            func.count().label("variant_count"),
        )
        .where(ProductVariant.tenant_id == tenant_id)
        .group_by(ProductVariant.product_id)
        .subquery()
    )


async def get_product(
    session: AsyncSession, *, tenant_id: uuid.UUID, product_id: uuid.UUID
) -> ProductDetail | None:
    """A product with its variants (ordered by position), or ``None``.

    Unpublished (hidden) products are returned too, with ``published=False``; an id of
    another tenant returns ``None``.
    """
    product = (
        await session.execute(
            select(Product).where(Product.id == product_id, Product.tenant_id == tenant_id)
        )
    ).scalar_one_or_none()
    if product is None:
        return None
    variants = (
        await session.execute(
            select(ProductVariant, variant_available().label("available"))
            .where(ProductVariant.product_id == product.id, ProductVariant.tenant_id == tenant_id)
            .order_by(ProductVariant.position, ProductVariant.id)
        )
    ).all()
    depth = func.array_length(func.string_to_array(Category.path, PATH_SEPARATOR), 1)
    category_id = (
        await session.execute(
            select(Category.id)
            .join(ProductCategory, ProductCategory.category_id == Category.id)
            .where(ProductCategory.product_id == product.id, Category.tenant_id == tenant_id)
            .order_by(depth.desc(), Category.path)
            .limit(1)
        )
    ).scalar_one_or_none()
    return ProductDetail(
        id=product.id,
        name=product.name,
        kind=product.kind,
        short_description=product.short_description,
        description=product.description,
        sku=product.sku,
        image_url=product.image_url,
        published=product.published,
        category_id=category_id,
        variants=tuple(
            VariantView(
                id=v.id,
                sku=v.sku,
                external_id=v.external_id,
                attributes=dict(v.attributes),
                label=variant_label(v.attributes),
                price=v.price,
                regular_price=v.regular_price,
                stock_quantity=v.stock_quantity,
                in_stock=v.in_stock,
                available=available,
                position=v.position,
            )
            for v, available in variants
        ),
    )


def _detail(variant: ProductVariant, product: Product, available: bool) -> VariantDetail:
    return VariantDetail(
        id=variant.id,
        product_id=product.id,
        product_name=product.name,
        product_kind=product.kind,
        product_published=product.published,
        label=variant_label(variant.attributes),
        sku=variant.sku or product.sku,
        external_id=variant.external_id,
        attributes=dict(variant.attributes),
        price=variant.price,
        regular_price=variant.regular_price,
        stock_quantity=variant.stock_quantity,
        in_stock=variant.in_stock,
        available=available,
        image_url=product.image_url,
    )


async def get_variant(
    session: AsyncSession, *, tenant_id: uuid.UUID, variant_id: uuid.UUID
) -> VariantDetail | None:
    """A variant with its product's name and a label such as ``"Blue, Large"``, or ``None``.

    An id of another tenant returns ``None``.
    """
    row = (
        await session.execute(
            select(ProductVariant, Product, variant_available().label("available"))
            .join(Product, Product.id == ProductVariant.product_id)
            .where(
                ProductVariant.id == variant_id,
                ProductVariant.tenant_id == tenant_id,
                Product.tenant_id == tenant_id,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    variant, product, available = row
    return _detail(variant, product, available)


async def find_variants_by_retailer_ids(
    session: AsyncSession, *, tenant_id: uuid.UUID, retailer_ids: Sequence[str]
) -> dict[str, VariantDetail]:
    """Resolve WhatsApp catalog ``product_retailer_id`` values to this tenant's variants.

    A retailer id matches, in this order of preference: a variant's SKU, a variant's
    ``external_id``, then the SKU of a simple product (its only variant). When several
    variants share a SKU (a WooCommerce "any size" variation expanded into sizes), the
    first by position is returned; published products win over hidden ones.

    Returns:
        ``{retailer_id: variant}`` for the ids that matched; unknown ids are absent.
    """
    wanted = list(dict.fromkeys(r for r in retailer_ids if r))
    if not wanted:
        return {}
    rows = (
        await session.execute(
            select(ProductVariant, Product, variant_available().label("available"))
            .join(Product, Product.id == ProductVariant.product_id)
            .where(
                ProductVariant.tenant_id == tenant_id,
                Product.tenant_id == tenant_id,
                or_(
                    ProductVariant.sku.in_(wanted),
                    ProductVariant.external_id.in_(wanted),
                    and_(Product.kind == "simple", Product.sku.in_(wanted)),
                ),
            )
            .order_by(
                Product.published.desc(),
                Product.name,
                ProductVariant.position,
                ProductVariant.id,
            )
        )
    ).all()
    candidates = [(variant, product, available) for variant, product, available in rows]
    found: dict[str, VariantDetail] = {}
    for rid in wanted:
        best: tuple[int, ProductVariant, Product, bool] | None = None
        for variant, product, available in candidates:
            if variant.sku == rid:
                rank = 0
            elif variant.external_id == rid:
                rank = 1
            elif product.kind == "simple" and product.sku == rid:
                rank = 2
            else:
                continue
            if best is None or rank < best[0]:
                best = (rank, variant, product, available)
        if best is not None:
            found[rid] = _detail(best[1], best[2], best[3])
    return found
