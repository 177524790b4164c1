"""The one write path of a catalog: :func:`write_catalog` upserts a :class:`ParsedCatalog`.

Both the WooCommerce CSV importer and the demo-catalog loader end here, so they share the
same idempotency rules: products and variants are keyed by ``(tenant_id, external_id)``,
categories by ``(tenant_id, path)``; every statement is a batched
``INSERT ... ON CONFLICT DO UPDATE``, never a row-by-row ORM loop.
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    all_,
    any_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.catalog.parsed import (
    CatalogImportError,
    ImportReport,
    ParsedCatalog,
    ParsedCategory,
    category_closure,
)
from tendero.catalog.search import invalidate_vocabulary
from tendero.db.models import Category, Product, ProductCategory, ProductVariant
from tendero.db.sql import chunks, inserted_flag, text_array, uuid_array


async def write_catalog(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    catalog: ParsedCatalog,
    keep_stock: bool = False,
) -> ImportReport:
    """Upsert ``catalog`` into the tenant's tables; the caller commits.

    What it does, in order, under a per-tenant advisory lock (two imports of one tenant run
    one after the other instead of interleaving):

    1. categories, parents before children, with ``parent_id`` set; an existing category
       keeps its ``position`` (operators may have reordered it);
    2. products; their category links are replaced by the catalog's;
    3. variants; variants of the written products that the catalog no longer lists are
       deleted (open cart lines for them go too; order lines keep their frozen copy);
    4. products listed in ``catalog.withdrawn`` that exist are unpublished.

    Products absent from the catalog are left alone: a source may be a partial export.

    Args:
        session: an open session; nothing is committed here.
        tenant_id: the shop.
        catalog: what to write.
        keep_stock: when ``True``, existing variants keep their ``stock_quantity`` and
            ``in_stock`` (new variants get the catalog's); used to re-seed a demo shop
            without undoing the stock its orders consumed.

    Returns:
        Counts of what was created, updated, removed and skipped.

    Raises:
        CatalogImportError: the catalog lists categories but not one its products use.
    """
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtextextended(f"catalog:{tenant_id}", 0)))
    )
    report = ImportReport(
        skipped=list(catalog.skipped),
        notes=list(catalog.notes),
        downloadable=sum(1 for p in catalog.products if p.downloadable),
        hidden=sum(1 for p in catalog.products if not p.published),
    )
    categories = _all_categories(catalog)
    category_ids = await _upsert_categories(session, tenant_id, categories, report)
    product_ids = await _upsert_products(session, tenant_id, catalog, report)
    await _replace_links(session, catalog, product_ids, category_ids)
    await _upsert_variants(session, tenant_id, catalog, product_ids, report, keep_stock)
    await _remove_stale_variants(session, tenant_id, catalog, product_ids, report)
    if catalog.withdrawn:
        withdrawn = await session.execute(
            update(Product)
            .where(
                Product.tenant_id == tenant_id,
                Product.external_id == any_(text_array(catalog.withdrawn)),
                Product.published.is_(True),
            )
            .values(published=False)
            .returning(Product.id)
        )
        report.withdrawn = len(withdrawn.all())
    invalidate_vocabulary(tenant_id)
    return report


def _all_categories(catalog: ParsedCatalog) -> list[ParsedCategory]:
    known = {c.path for c in catalog.categories}
    used = [path for product in catalog.products for path in product.category_paths]
    missing = [path for path in used if path not in known]
    if missing:
        # A source that lists categories must list the ones its products use; the closure
        # still fills ancestors for sources that list none.
        if catalog.categories:
            raise CatalogImportError(f"category {missing[0]!r} is used but not listed")
    closure = {c.path: c for c in category_closure([*known, *used])}
    return sorted(closure.values(), key=lambda c: (c.depth, c.path))


async def _upsert_categories(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    categories: list[ParsedCategory],
    report: ImportReport,
) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    depths = sorted({c.depth for c in categories})
    for depth in depths:
        level = [c for c in categories if c.depth == depth]
        for chunk in chunks(level):
            stmt = insert(Category).values(
                [
                    {
                        "id": uuid.uuid4(),
                        "tenant_id": tenant_id,
                        "parent_id": ids[c.parent_path] if c.parent_path else None,
                        "name": c.name,
                        "path": c.path,
                    }
                    for c in chunk
                ]
            )
            upsert = stmt.on_conflict_do_update(
                index_elements=["tenant_id", "path"],
                set_={"name": stmt.excluded.name, "parent_id": stmt.excluded.parent_id},
            ).returning(Category.id, Category.path, inserted_flag())
            for row in (await session.execute(upsert)).all():
                ids[row.path] = row.id
                report.categories += 1
                report.categories_created += int(row.inserted)
    return ids


async def _upsert_products(
    session: AsyncSession, tenant_id: uuid.UUID, catalog: ParsedCatalog, report: ImportReport
) -> dict[str, uuid.UUID]:
    ids: dict[str, uuid.UUID] = {}
    for chunk in chunks(catalog.products):
        stmt = insert(Product).values(
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant_id,
                    "external_id": p.external_id,
                    "kind": p.kind,
                    "name": p.name,
                    "short_description": p.short_description,
                    "description": p.description,
                    "sku": p.sku,
                    "image_url": p.image_url,
                    "published": p.published,
                    "position": p.position,
                }
                for p in chunk
            ]
        )
        columns = (
            "kind",
            "name",
            "short_description",
            "description",
            "sku",
            "image_url",
            "published",
            "position",
        )
        upsert = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "external_id"],
            set_={name: stmt.excluded[name] for name in columns},
        ).returning(Product.id, Product.external_id, inserted_flag())
        for row in (await session.execute(upsert)).all():
            ids[row.external_id] = row.id
            if row.inserted:
                report.products_created += 1
            else:
                report.products_updated += 1
    return ids


async def _replace_links(
    session: AsyncSession,
    catalog: ParsedCatalog,
    product_ids: dict[str, uuid.UUID],
    category_ids: dict[str, uuid.UUID],
) -> None:
    if not product_ids:
        return
    await session.execute(
        delete(ProductCategory).where(
            ProductCategory.product_id == any_(uuid_array(product_ids.values()))
        )
    )
    links = [
        {"product_id": product_ids[p.external_id], "category_id": category_ids[path]}
        for p in catalog.products
        for path in dict.fromkeys(p.category_paths)
    ]
    for chunk in chunks(links):
        await session.execute(insert(ProductCategory).values(chunk).on_conflict_do_nothing())


async def _upsert_variants(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    catalog: ParsedCatalog,
    product_ids: dict[str, uuid.UUID],
    report: ImportReport,
    keep_stock: bool,
) -> None:
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "product_id": product_ids[p.external_id],
            "external_id": v.external_id,
            "sku": v.sku,
            "attributes": v.attributes,
            "price": v.price,
            "regular_price": v.regular_price,
            "stock_quantity": v.stock_quantity,
            "in_stock": v.in_stock,
            "position": v.position,
        }
        for p in catalog.products
        for v in p.variants
    ]
    columns = ["product_id", "sku", "attributes", "price", "regular_price", "position"]
    if not keep_stock:
        columns += ["stock_quantity", "in_stock"]
    for chunk in chunks(rows):
        stmt = insert(ProductVariant).values(chunk)
        upsert = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "external_id"],
            set_={name: stmt.excluded[name] for name in columns},
        ).returning(inserted_flag())
        for row in (await session.execute(upsert)).all():
            if row.inserted:
                report.variants_created += 1
            else:
                report.variants_updated += 1


async def _remove_stale_variants(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    catalog: ParsedCatalog,
    product_ids: dict[str, uuid.UUID],
    report: ImportReport,
) -> None:
    if not product_ids:
        return
    keep = [v.external_id for p in catalog.products for v in p.variants]
    removed = await session.execute(
        delete(ProductVariant)
        .where(
            ProductVariant.tenant_id == tenant_id,
            ProductVariant.product_id == any_(uuid_array(product_ids.values())),
            ProductVariant.external_id.is_not(None),
            ProductVariant.external_id != all_(text_array(keep)),
        )
        .returning(ProductVariant.id)
    )
    report.variants_removed = len(removed.all())
