"""WooCommerce product CSV: parsing rules and the idempotent import into Postgres."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.catalog.parsed import SkippedRow, SkipReason
from tendero.catalog.woocommerce_csv import (
    CatalogImportError,
    clean_text,
    import_woocommerce_csv,
    parse_woocommerce_csv,
)
from tendero.db.models import Category, Product, ProductCategory, ProductVariant
from tests.catalog.conftest import NewTenant, catalog_counts

# Expected outcome of importing sample_products.csv (25 rows), read row by row:
# - 16 products: variable 44 (V-Neck T-Shirt) and 45 (Hoodie); simple 46, 47, 48, 58, 60,
#   62, 64, 66, 68, 70, 83, 85; simple+downloadable+virtual 73 (Album) and 75 (Single).
#   64 (Hoodie with Pocket) has "Visibility in catalog" = hidden: imported unpublished.
# - 27 variants: 14 simple products x 1; 44's variations 76, 77, 78 (Red, Green, Blue) leave
#   "Size" empty, i.e. "any size": each expands to Large/Medium/Small -> 9; 45's variations
#   79, 80, 81, 90 (Color + Logo) -> 4.
# - 5 categories: Clothing, Clothing > Accessories, Clothing > Hoodies, Clothing > Tshirts,
#   Music. "Clothing" alone (87) and "Decor" (89) belong only to skipped rows.
# - 2 skipped: 87 Logo Collection (grouped), 89 WordPress Pennant (external).
# - 19 category links: one per product, plus none extra (no product lists two categories).
# - No row has a "Stock" value, so every stock_quantity is None (not tracked).
SAMPLE_PRODUCTS = 16
SAMPLE_VARIANTS = 27
SAMPLE_CATEGORIES = 5
SAMPLE_LINKS = 16
SAMPLE_SKIPPED = [
    SkippedRow("87", "Logo Collection", SkipReason.GROUPED),
    SkippedRow("89", "WordPress Pennant", SkipReason.EXTERNAL),
]


def _sample_header(sample_csv: str) -> list[str]:
    return next(csv.reader(io.StringIO(sample_csv)))


def make_csv(header: list[str], rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({"Published": "1", "In stock?": "1", **row})
    return out.getvalue()


async def _variants_by_product(
    session: AsyncSession, tenant_id: object, external_id: str
) -> list[ProductVariant]:
    rows = await session.execute(
        select(ProductVariant)
        .join(Product, Product.id == ProductVariant.product_id)
        .where(Product.tenant_id == tenant_id, Product.external_id == external_id)
        .order_by(ProductVariant.position)
    )
    return list(rows.scalars())


# --- pure parsing ------------------------------------------------------------------------


def test_parse_sample_counts(sample_csv: str) -> None:
    catalog = parse_woocommerce_csv(sample_csv)
    assert len(catalog.products) == SAMPLE_PRODUCTS
    assert sum(len(p.variants) for p in catalog.products) == SAMPLE_VARIANTS
    assert [c.path for c in catalog.categories] == [
        "Clothing",
        "Music",
        "Clothing > Accessories",
        "Clothing > Hoodies",
        "Clothing > Tshirts",
    ]
    assert list(catalog.skipped) == SAMPLE_SKIPPED
    assert catalog.withdrawn == ("87", "89")
    assert sorted(p.external_id for p in catalog.products if p.downloadable) == ["73", "75"]
    assert [p.external_id for p in catalog.products if not p.published] == ["64"]
    assert all(v.stock_quantity is None for p in catalog.products for v in p.variants)


def test_parse_variation_parent_by_id_and_sku(sample_csv: str) -> None:
    header = _sample_header(sample_csv)
    text = make_csv(
        header,
        [
            {
                "ID": "1",
                "Type": "variable",
                "SKU": "TEE",
                "Name": "Tee",
                "Attribute 1 name": "Color",
                "Attribute 1 value(s)": "Red, Blue",
            },
            {
                "ID": "2",
                "Type": "variation",
                "Parent": "id:1",
                "Regular price": "10",
                "Attribute 1 name": "Color",
                "Attribute 1 value(s)": "Red",
            },
            {
                "ID": "3",
                "Type": "variation",
                "Parent": "tee",
                "Regular price": "11",
                "Attribute 1 name": "Color",
                "Attribute 1 value(s)": "Blue",
            },
            {
                "ID": "4",
                "Type": "variation",
                "Parent": "id:999",
                "Name": "Lost",
                "Regular price": "11",
            },
        ],
    )
    catalog = parse_woocommerce_csv(text)
    (tee,) = catalog.products
    assert [(v.external_id, v.attributes, v.price) for v in tee.variants] == [
        ("2", {"Color": "Red"}, Decimal("10")),
        ("3", {"Color": "Blue"}, Decimal("11")),
    ]
    assert list(catalog.skipped) == [SkippedRow("4", "Lost", SkipReason.PARENT_NOT_FOUND)]


def test_parse_skips_unpublished_and_unsellable(sample_csv: str) -> None:
    header = _sample_header(sample_csv)
    text = make_csv(
        header,
        [
            {"ID": "1", "Type": "simple", "Name": "Draft", "Published": "-1", "Regular price": "5"},
            {
                "ID": "2",
                "Type": "simple",
                "Name": "Private",
                "Published": "0",
                "Regular price": "5",
            },
            {"ID": "3", "Type": "variable", "Name": "Empty variable"},
            {"ID": "4", "Type": "variable", "Name": "Only draft variations"},
            {
                "ID": "5",
                "Type": "variation",
                "Parent": "id:4",
                "Name": "Draft variation",
                "Published": "-1",
                "Regular price": "5",
            },
            {"ID": "6", "Type": "simple", "Name": "No price"},
            {
                "ID": "7",
                "Type": "variation",
                "Parent": "id:1",
                "Name": "Child of draft",
                "Regular price": "5",
            },
            {"ID": "8", "Type": "simple, virtual", "Name": "Gift wrap", "Regular price": "2"},
        ],
    )
    catalog = parse_woocommerce_csv(text)
    assert [p.name for p in catalog.products] == ["Gift wrap"]
    assert sorted(catalog.skipped) == sorted(
        [
            SkippedRow("1", "Draft", SkipReason.UNPUBLISHED),
            SkippedRow("2", "Private", SkipReason.UNPUBLISHED),
            SkippedRow("3", "Empty variable", SkipReason.NO_SELLABLE_VARIATION),
            SkippedRow("4", "Only draft variations", SkipReason.NO_SELLABLE_VARIATION),
            SkippedRow("5", "Draft variation", SkipReason.UNPUBLISHED),
            SkippedRow("6", "No price", SkipReason.NO_PRICE),
            SkippedRow("7", "Child of draft", SkipReason.PARENT_NOT_IMPORTED),
        ]
    )
    assert sorted(catalog.withdrawn) == ["1", "2", "3", "4", "6"]


def test_parse_stock_rules(sample_csv: str) -> None:
    header = _sample_header(sample_csv)
    text = make_csv(
        header,
        [
            {"ID": "1", "Type": "simple", "Name": "Counted", "Stock": "7", "Regular price": "5"},
            {
                "ID": "2",
                "Type": "simple",
                "Name": "Sold out",
                "Stock": "0",
                "In stock?": "0",
                "Regular price": "5",
            },
            {
                "ID": "3",
                "Type": "simple",
                "Name": "Untracked out",
                "In stock?": "0",
                "Regular price": "5",
            },
            {
                "ID": "4",
                "Type": "simple",
                "Name": "Backorder",
                "Stock": "-2",
                "Backorders allowed?": "1",
                "In stock?": "backorder",
                "Regular price": "5",
            },
            {
                "ID": "10",
                "Type": "variable",
                "Name": "Parent out",
                "Stock": "0",
                "In stock?": "0",
                "Attribute 1 name": "Size",
                "Attribute 1 value(s)": "S, M",
            },
            {
                "ID": "11",
                "Type": "variation",
                "Parent": "id:10",
                "In stock?": "",
                "Regular price": "9",
                "Attribute 1 name": "Size",
                "Attribute 1 value(s)": "S",
            },
            {
                "ID": "12",
                "Type": "variation",
                "Parent": "id:10",
                "Stock": "3",
                "Regular price": "9",
                "Attribute 1 name": "Size",
                "Attribute 1 value(s)": "M",
            },
        ],
    )
    variants = {
        v.external_id: (v.stock_quantity, v.in_stock)
        for p in parse_woocommerce_csv(text).products
        for v in p.variants
    }
    assert variants == {
        "1": (7, True),
        "2": (0, False),
        "3": (None, False),
        "4": (None, True),
        "11": (None, False),  # no own stock: follows the parent, untracked
        "12": (3, True),
    }


def test_parse_sale_schedule_and_text(sample_csv: str) -> None:
    header = _sample_header(sample_csv)
    text = make_csv(
        header,
        [
            {
                "ID": "1",
                "Type": "simple",
                "Name": "Ended sale",
                "Regular price": "20",
                "Sale price": "15",
                "Date sale price ends": "2026-01-31",
            },
            {
                "ID": "2",
                "Type": "simple",
                "Name": "Running sale",
                "Regular price": "20",
                "Sale price": "15",
                "Date sale price starts": "2026-01-01",
                "Date sale price ends": "2026-03-01",
            },
            {
                "ID": "3",
                "Type": "simple",
                "Name": "Sale above regular",
                "Regular price": "20",
                "Sale price": "25",
            },
            {
                "ID": "4",
                "Type": "simple",
                "Name": "Html",
                "Regular price": "1.5",
                "Description": "<p>Soft &amp; warm.</p>\\n<ul><li>Cotton</li></ul>",
                "Categories": "Home \\, Garden > Pots, Home \\, Garden",
                "Images": "https://example.test/a.jpg, https://example.test/b.jpg",
            },
        ],
    )
    now = datetime(2026, 2, 15, tzinfo=UTC)
    products = {p.external_id: p for p in parse_woocommerce_csv(text, now=now).products}
    prices = {
        key: (p.variants[0].price, p.variants[0].regular_price) for key, p in products.items()
    }
    assert prices == {
        "1": (Decimal("20"), Decimal("20")),
        "2": (Decimal("15"), Decimal("20")),
        "3": (Decimal("20"), Decimal("20")),
        "4": (Decimal("1.5"), Decimal("1.5")),
    }
    html_product = products["4"]
    assert html_product.description == "Soft & warm.\n\nCotton"
    assert html_product.category_paths == ("Home , Garden > Pots", "Home , Garden")
    assert html_product.image_url == "https://example.test/a.jpg"
    assert clean_text("Line one\\nLine two<br/>three") == "Line one\nLine two\nthree"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"Regular price": "12,50"}, "row 2 (ID 1), column 'Regular price'"),
        ({"Sale price": "abc"}, "row 2 (ID 1), column 'Sale price'"),
        ({"Regular price": "1.2345"}, "more than 3 decimal places"),
        ({"Stock": "2.5"}, "column 'Stock'"),
        ({"In stock?": "maybe"}, "column 'In stock?'"),
        ({"Published": "yes"}, "column 'Published'"),
        ({"Type": ""}, "column 'Type'"),
        ({"Name": ""}, "column 'Name'"),
        ({"ID": "", "SKU": ""}, "column 'ID'"),
    ],
)
def test_parse_rejects_bad_cells(sample_csv: str, change: dict[str, str], message: str) -> None:
    header = _sample_header(sample_csv)
    row = {"ID": "1", "Type": "simple", "Name": "Thing", "Regular price": "12", **change}
    with pytest.raises(
        CatalogImportError,
        match=message.replace("?", r"\?").replace("(", r"\(").replace(")", r"\)"),
    ):
        parse_woocommerce_csv(make_csv(header, [row]))


def test_parse_rejects_missing_column_and_duplicate_id(sample_csv: str) -> None:
    header = [h for h in _sample_header(sample_csv) if h != "Name"]
    with pytest.raises(CatalogImportError, match="missing required column.*'Name'"):
        parse_woocommerce_csv(make_csv(header, [{"ID": "1", "Type": "simple"}]))
    with pytest.raises(CatalogImportError, match="no header"):
        parse_woocommerce_csv("")
    full = _sample_header(sample_csv)
    row = {"ID": "1", "Type": "simple", "Name": "A", "Regular price": "1"}
    with pytest.raises(CatalogImportError, match="row 3 .*duplicate ID"):
        parse_woocommerce_csv(make_csv(full, [row, row]))


# --- import into Postgres ----------------------------------------------------------------


async def test_import_sample_counts_and_idempotent(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await new_tenant()
    async with sessionmaker() as session:
        report = await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
    assert (report.products_created, report.products_updated) == (SAMPLE_PRODUCTS, 0)
    assert (report.variants_created, report.variants_updated) == (SAMPLE_VARIANTS, 0)
    assert (report.categories, report.categories_created) == (SAMPLE_CATEGORIES, 5)
    assert report.skipped == SAMPLE_SKIPPED
    assert report.skipped_by_reason() == {SkipReason.GROUPED: 1, SkipReason.EXTERNAL: 1}
    assert (report.downloadable, report.hidden, report.withdrawn) == (2, 1, 0)
    assert "87 Logo Collection: grouped product" in report.summary()

    async with sessionmaker() as session:
        before = await catalog_counts(session, tenant.id)
        ids_before = set(
            (
                await session.execute(
                    select(ProductVariant.id).where(ProductVariant.tenant_id == tenant.id)
                )
            ).scalars()
        )
    assert before == {
        "products": SAMPLE_PRODUCTS,
        "variants": SAMPLE_VARIANTS,
        "categories": SAMPLE_CATEGORIES,
        "links": SAMPLE_LINKS,
    }

    async with sessionmaker() as session:
        again = await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
    assert (again.products_created, again.products_updated) == (0, SAMPLE_PRODUCTS)
    assert (again.variants_created, again.variants_updated, again.variants_removed) == (
        0,
        SAMPLE_VARIANTS,
        0,
    )
    assert (again.categories, again.categories_created) == (SAMPLE_CATEGORIES, 0)
    async with sessionmaker() as session:
        assert await catalog_counts(session, tenant.id) == before
        ids_after = set(
            (
                await session.execute(
                    select(ProductVariant.id).where(ProductVariant.tenant_id == tenant.id)
                )
            ).scalars()
        )
    assert ids_after == ids_before


async def test_import_sample_rows(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await new_tenant()
    async with sessionmaker() as session:
        await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
    async with sessionmaker() as session:
        vneck = await _variants_by_product(session, tenant.id, "44")
        assert [(v.external_id, v.sku, v.attributes, v.price, v.regular_price) for v in vneck] == [
            (
                f"{vid}:Size={size}",
                f"woo-vneck-tee-{color.lower()}",
                {"Color": color, "Size": size},
                Decimal(price),
                Decimal(price),
            )
            for vid, color, price in (
                ("76", "Red", "20"),
                ("77", "Green", "20"),
                ("78", "Blue", "15"),
            )
            for size in ("Large", "Medium", "Small")
        ]
        hoodie = await _variants_by_product(session, tenant.id, "45")
        # Variation "Position" orders them: 90 (0), 79 (1), 80 (2), 81 (3).
        assert [(v.external_id, v.sku, v.attributes, v.price, v.regular_price) for v in hoodie] == [
            (
                "90",
                "woo-hoodie-blue-logo",
                {"Color": "Blue", "Logo": "Yes"},
                Decimal("45"),
                Decimal("45"),
            ),
            ("79", "woo-hoodie-red", {"Color": "Red", "Logo": "No"}, Decimal("42"), Decimal("45")),
            (
                "80",
                "woo-hoodie-green",
                {"Color": "Green", "Logo": "No"},
                Decimal("45"),
                Decimal("45"),
            ),
            (
                "81",
                "woo-hoodie-blue",
                {"Color": "Blue", "Logo": "No"},
                Decimal("45"),
                Decimal("45"),
            ),
        ]
        assert all(v.stock_quantity is None and v.in_stock for v in vneck + hoodie)

        (beanie,) = await _variants_by_product(session, tenant.id, "48")
        assert (beanie.sku, beanie.attributes, beanie.price, beanie.regular_price) == (
            "woo-beanie",
            {},
            Decimal("18"),
            Decimal("20"),
        )
        (sunglasses,) = await _variants_by_product(session, tenant.id, "62")
        assert (sunglasses.price, sunglasses.regular_price) == (Decimal("90"), Decimal("90"))

        products = {
            p.external_id: p
            for p in (
                await session.execute(select(Product).where(Product.tenant_id == tenant.id))
            ).scalars()
        }
        assert products["44"].kind == "variable" and products["48"].kind == "simple"
        assert products["44"].short_description == "This is a variable product."
        assert products["44"].image_url == (
            "https://woocommercecore.mystagingwebsite.com/wp-content/uploads/2017/12/"
            "vneck-tee-2.jpg"
        )
        assert products["64"].published is False  # "Visibility in catalog" = hidden
        assert "87" not in products and "89" not in products

        categories = {
            c.path: c
            for c in (
                await session.execute(select(Category).where(Category.tenant_id == tenant.id))
            ).scalars()
        }
        assert categories["Clothing > Hoodies"].parent_id == categories["Clothing"].id
        assert categories["Clothing > Hoodies"].name == "Hoodies"
        assert categories["Clothing"].parent_id is None
        hoodie_links = await session.execute(
            select(Category.path)
            .join(ProductCategory, ProductCategory.category_id == Category.id)
            .where(ProductCategory.product_id == products["45"].id)
        )
        assert hoodie_links.scalars().all() == ["Clothing > Hoodies"]


async def test_import_stock_from_file(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    header = _sample_header(sample_csv)
    text = make_csv(
        header,
        [
            {
                "ID": "1",
                "Type": "simple",
                "Name": "Counted",
                "Stock": "7",
                "SKU": "C-1",
                "Regular price": "5",
            },
            {
                "ID": "2",
                "Type": "simple",
                "Name": "Sold out",
                "Stock": "0",
                "In stock?": "0",
                "Regular price": "5",
            },
        ],
    )
    tenant = await new_tenant()
    async with sessionmaker() as session:
        await import_woocommerce_csv(session, tenant_id=tenant.id, text=text)
        await session.commit()
        rows = await session.execute(
            select(ProductVariant.external_id, ProductVariant.stock_quantity).where(
                ProductVariant.tenant_id == tenant.id
            )
        )
        stock = {row.external_id: row.stock_quantity for row in rows}
    assert stock == {"1": 7, "2": 0}


async def test_reimport_removes_dropped_variations_and_withdraws_products(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await new_tenant()
    async with sessionmaker() as session:
        await import_woocommerce_csv(session, tenant_id=tenant.id, text=sample_csv)
        await session.commit()
    rows = list(csv.DictReader(io.StringIO(sample_csv)))
    header = _sample_header(sample_csv)
    changed = []
    for row in rows:
        if row["ID"] == "90":
            continue  # the Blue/Yes hoodie variation is gone
        if row["ID"] == "58":
            row = {**row, "Published": "-1"}  # the belt became a draft
        changed.append(row)
    async with sessionmaker() as session:
        report = await import_woocommerce_csv(
            session, tenant_id=tenant.id, text=make_csv(header, changed)
        )
        await session.commit()
    assert report.variants_removed == 1
    assert report.withdrawn == 1
    assert SkippedRow("58", "Belt", SkipReason.UNPUBLISHED) in report.skipped
    async with sessionmaker() as session:
        hoodie = await _variants_by_product(session, tenant.id, "45")
        belt = await session.scalar(
            select(Product.published).where(
                Product.tenant_id == tenant.id, Product.external_id == "58"
            )
        )
    assert [v.external_id for v in hoodie] == ["79", "80", "81"]
    assert belt is False


async def test_bad_csv_writes_nothing(
    sessionmaker: async_sessionmaker[AsyncSession], new_tenant: NewTenant, sample_csv: str
) -> None:
    tenant = await new_tenant()
    header = _sample_header(sample_csv)
    rows = list(csv.DictReader(io.StringIO(sample_csv)))
    # ID 85 (Beanie with Logo) is the 22nd data row: spreadsheet row 23.
    assert rows[21]["ID"] == "85"
    rows[21]["Sale price"] = "1 8"
    bad_price = make_csv(header, rows)
    no_name = sample_csv.replace(",Name,", ",Title,", 1)
    for text, message in (
        (bad_price, "row 23 (ID 85), column 'Sale price': '1 8' is not a price"),
        (no_name, "missing required column(s) 'Name'"),
    ):
        async with sessionmaker() as session:
            with pytest.raises(CatalogImportError) as caught:
                await import_woocommerce_csv(session, tenant_id=tenant.id, text=text)
            assert message in str(caught.value)
            await session.commit()
        async with sessionmaker() as session:
            assert await catalog_counts(session, tenant.id) == {
                "products": 0,
                "variants": 0,
                "categories": 0,
                "links": 0,
            }
