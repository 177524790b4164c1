r"""WooCommerce product CSV import (the format of *Products > Export* and the sample data).

Rules follow WooCommerce's own importer (``WC_Product_CSV_Importer`` and
``WC_Product_Importer`` in ``plugins/woocommerce/includes/import/``) and the column list of
its exporter, as seen in WooCommerce's ``sample-data/sample_products.csv``:

* ``Type`` is a base type (``simple``, ``variable``, ``variation``, ``grouped``,
  ``external``) optionally combined with flags: ``"simple, downloadable, virtual"``.
* Multi-value cells (``Categories``, ``Images``, ``Attribute N value(s)``) are split on
  commas; ``\,`` is an escaped comma (``explode_values``). A category is a ``>`` path.
* ``Parent`` of a variation is ``id:44`` (a WooCommerce ID) or the parent's SKU.
* ``Published``: ``1`` publish, ``0`` private, ``-1`` draft; empty means publish (the
  importer's default for a new product).
* A variation's empty ``Attribute N value(s)`` means "any value" of the parent's attribute.
* The price is the sale price only while the product is on sale: sale price set, below the
  regular price, and now inside ``Date sale price starts``/``ends`` (``is_on_sale``).

What a shop can sell in chat is kept: simple products (virtual and downloadable ones too) and
variable products with their variations. Grouped, external, unpublished and unsellable rows
are skipped with a :class:`~tendero.catalog.parsed.SkipReason`.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import itertools
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal, InvalidOperation

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.catalog.parsed import (
    CatalogImportError,
    ImportReport,
    ParsedCatalog,
    ParsedProduct,
    ParsedVariant,
    SkippedRow,
    SkipReason,
    category_closure,
    normalize_path,
)
from tendero.catalog.writer import write_catalog

__all__ = [
    "REQUIRED_COLUMNS",
    "CatalogImportError",
    "ImportReport",
    "ParsedCatalog",
    "import_woocommerce_csv",
    "parse_woocommerce_csv",
]

REQUIRED_COLUMNS = ("ID", "Type", "Name", "Regular price")
_BASE_TYPES = {"simple", "variable", "variation", "grouped", "external"}
_FLAGS = {"downloadable", "virtual"}
_ATTRIBUTE_NAME = re.compile(r"^Attribute (\d+) name$")
# Expanding "any" attributes multiplies variants; beyond this a row is surely a mistake.
_MAX_VARIANTS_PER_ROW = 200


@dataclass
class _Row:
    """One data row; ``number`` is the spreadsheet row (the header is row 1)."""

    number: int
    cells: dict[str, str]
    external_id: str = ""
    base_type: str = ""
    flags: frozenset[str] = frozenset()

    def get(self, column: str) -> str:
        return self.cells.get(column, "").strip()

    def error(self, column: str, message: str) -> CatalogImportError:
        return CatalogImportError(
            f"row {self.number} (ID {self.external_id or '?'}), column {column!r}: {message}"
        )


@dataclass
class _Stock:
    quantity: int | None
    in_stock: bool
    flag: bool | None
    backorders: bool


@dataclass
class _Sellable:
    """A kept product row with the variants collected for it."""

    row: _Row
    variants: list[ParsedVariant] = field(default_factory=list)
    pending: list[tuple[int, int, _Row]] = field(default_factory=list)


def parse_woocommerce_csv(text: str, *, now: datetime | None = None) -> ParsedCatalog:
    """Parse a WooCommerce product CSV into the intermediate catalog model.

    Pure: reads nothing but ``text`` and writes nothing.

    Args:
        text: the whole CSV file as text (a UTF-8 BOM is ignored).
        now: aware time used to decide whether a scheduled sale is running (default: now,
            UTC). Sale dates carry no zone in the file; they are read as UTC.

    Returns:
        The catalog: products (``external_id`` = the CSV ``ID``), variants (``external_id`` =
        the variation's ``ID``; ``"{ID}:{name}={value}"`` when an "any" attribute is expanded),
        categories with their ancestors, skipped rows and the ids of withdrawn products.

    Stock rules (WooCommerce semantics, decided for the sample file, which tracks no stock):
        * ``Stock`` set -> tracked quantity; ``In stock?`` then only matters with backorders.
        * ``Stock`` empty -> ``None`` (not tracked); ``In stock?`` ``1``/``0`` decides.
        * Backorders allowed (``Backorders allowed?`` ``1`` or ``notify``) -> not tracked, in
          stock: the model has no backorder flag and a tracked 0 would refuse the sale.
        * A variation without its own ``Stock``/``In stock?`` uses its parent's availability;
          the parent's quantity is a shared pool that cannot be split across variants, so the
          variant's quantity is not tracked (``None``) and it is out of stock only when the
          parent is.
        * A variation with an "any" attribute is expanded into one variant per value of the
          parent's attribute, sharing the variation's SKU and price. Its own quantity, if
          tracked, is shared too and therefore not tracked on the expanded variants.

    Raises:
        CatalogImportError: a required column is missing (``ID``, ``Type``, ``Name``,
            ``Regular price``), a row has no ``ID`` nor ``SKU``, an ``ID`` repeats, a product
            has no ``Name`` or ``Type``, or a price, stock, date or flag cell is malformed.
            The message names the row (header = row 1) and column.
    """
    now = now or datetime.now(UTC)
    rows, attribute_numbers = _read_rows(text)
    by_id: dict[str, _Row] = {}
    by_sku: dict[str, _Row] = {}
    for row in rows:
        if row.external_id in by_id:
            raise row.error("ID", f"duplicate ID {row.external_id!r}")
        by_id[row.external_id] = row
        sku = row.get("SKU")
        if sku and row.base_type != "variation":
            by_sku.setdefault(sku.casefold(), row)
        _validate_cells(row)

    skipped: list[SkippedRow] = []
    withdrawn: list[str] = []
    notes: list[str] = []
    sellable: dict[str, _Sellable] = {}
    for row in rows:
        if row.base_type == "variation":
            continue
        reason = _product_skip_reason(row)
        if reason is not None:
            skipped.append(SkippedRow(row.external_id, row.get("Name"), reason))
            withdrawn.append(row.external_id)
            continue
        sellable[row.external_id] = _Sellable(row=row)

    for order, row in enumerate(rows):
        if row.base_type != "variation":
            continue
        parent = _resolve_parent(row, by_id, by_sku)
        reason = _variation_skip_reason(row, parent, sellable)
        if reason is not None:
            skipped.append(SkippedRow(row.external_id, row.get("Name"), reason))
            continue
        assert parent is not None
        sellable[parent.external_id].pending.append((_int(row, "Position"), order, row))

    products: list[ParsedProduct] = []
    for entry in sellable.values():
        row = entry.row
        if row.base_type == "simple":
            entry.variants.append(_simple_variant(row, now))
        else:
            parent_values = _attributes(row, attribute_numbers, multi=True)
            for _, _, variation in sorted(entry.pending, key=lambda item: item[:2]):
                entry.variants += _variation_variants(
                    variation, row, parent_values, attribute_numbers, now, notes
                )
            if not entry.variants:
                skipped.append(
                    SkippedRow(row.external_id, row.get("Name"), SkipReason.NO_SELLABLE_VARIATION)
                )
                withdrawn.append(row.external_id)
                continue
            entry.variants = [
                v.model_copy(update={"position": i}) for i, v in enumerate(entry.variants)
            ]
        products.append(_product(row, entry.variants))

    skipped.sort(key=lambda s: _id_sort_key(s.external_id))
    paths = [path for product in products for path in product.category_paths]
    try:
        return ParsedCatalog(
            categories=category_closure(paths),
            products=tuple(products),
            skipped=tuple(skipped),
            withdrawn=tuple(withdrawn),
            notes=tuple(notes),
        )
    except ValidationError as err:
        raise CatalogImportError(f"invalid catalog: {err}") from err


async def import_woocommerce_csv(
    session: AsyncSession, *, tenant_id: uuid.UUID, text: str
) -> ImportReport:
    """Parse ``text`` and upsert it into the tenant's catalog (the caller commits).

    Re-importing the same file updates the rows it created (keyed by the CSV ``ID``)
    instead of duplicating them. The search vocabulary cache of the tenant is invalidated.

    Raises:
        CatalogImportError: the file is invalid (see :func:`parse_woocommerce_csv`); it is
            raised before any write.
    """
    catalog = parse_woocommerce_csv(text)
    return await write_catalog(session, tenant_id=tenant_id, catalog=catalog)


# --- reading ---------------------------------------------------------------------------


def _read_rows(text: str) -> tuple[list[_Row], list[int]]:
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise CatalogImportError("the file is empty: no header row") from None
    except csv.Error as err:
        raise CatalogImportError(f"row 1: not a valid CSV header ({err})") from err
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise CatalogImportError(
            f"row 1: missing required column(s) {', '.join(repr(c) for c in missing)}"
        )
    attribute_numbers = sorted(
        int(m.group(1)) for name in header if (m := _ATTRIBUTE_NAME.match(name))
    )
    rows: list[_Row] = []
    number = 1
    try:
        for values in reader:
            number += 1
            if not any(value.strip() for value in values):
                continue
            if len(values) > len(header):
                raise CatalogImportError(
                    f"row {number}: {len(values)} cells but the header has {len(header)}"
                )
            row = _Row(number=number, cells=dict(zip(header, values, strict=False)))
            _classify(row)
            rows.append(row)
    except csv.Error as err:
        raise CatalogImportError(f"row {number}: not valid CSV ({err})") from err
    return rows, attribute_numbers


def _classify(row: _Row) -> None:
    row.external_id = row.get("ID")
    if not row.external_id:
        sku = row.get("SKU")
        if not sku:
            raise row.error("ID", "empty ID and empty SKU: the row cannot be identified")
        # WooCommerce matches a row without ID by SKU; so do re-imports here.
        row.external_id = f"sku:{sku}"
    if len(row.external_id) > 100:
        raise row.error("ID", "longer than 100 characters")
    tokens = [token.strip().lower() for token in row.get("Type").split(",") if token.strip()]
    if not tokens:
        raise row.error("Type", "empty")
    bases = [token for token in tokens if token in _BASE_TYPES]
    row.base_type = bases[0] if bases else tokens[0]
    row.flags = frozenset(token for token in tokens if token in _FLAGS)


def _validate_cells(row: _Row) -> None:
    """Fail on malformed values anywhere, even in rows that end up skipped."""
    if row.base_type != "variation" and not row.get("Name"):
        raise row.error("Name", "empty")
    for column in ("Regular price", "Sale price"):
        _price(row, column)
    _optional_int(row, "Stock")
    _int(row, "Position")
    _stock_flag(row)
    _published(row)
    for column in ("Date sale price starts", "Date sale price ends"):
        _date(row, column, end_of_day=False)
    for column in ("Name", "SKU"):
        limit = 300 if column == "Name" else 100
        if len(row.get(column)) > limit:
            raise row.error(column, f"longer than {limit} characters")


# --- decisions -------------------------------------------------------------------------


def _product_skip_reason(row: _Row) -> SkipReason | None:
    if row.base_type == "grouped":
        return SkipReason.GROUPED
    if row.base_type == "external":
        return SkipReason.EXTERNAL
    if row.base_type not in {"simple", "variable"}:
        return SkipReason.UNSUPPORTED_TYPE
    if not _published(row):
        return SkipReason.UNPUBLISHED
    if row.base_type == "simple" and _price(row, "Regular price") is None:
        return SkipReason.NO_PRICE
    return None


def _resolve_parent(row: _Row, by_id: dict[str, _Row], by_sku: dict[str, _Row]) -> _Row | None:
    reference = row.get("Parent")
    if match := re.fullmatch(r"id:\s*(\S+)", reference, flags=re.IGNORECASE):
        return by_id.get(match.group(1))
    # SKUs compare case-insensitively, like WooCommerce's lookup in MySQL's collation.
    return by_sku.get(reference.casefold()) if reference else None


def _variation_skip_reason(
    row: _Row, parent: _Row | None, sellable: dict[str, _Sellable]
) -> SkipReason | None:
    if parent is None:
        return SkipReason.PARENT_NOT_FOUND
    if parent.external_id not in sellable or parent.base_type != "variable":
        return SkipReason.PARENT_NOT_IMPORTED
    if not _published(row):
        return SkipReason.UNPUBLISHED
    if _price(row, "Regular price") is None:
        return SkipReason.NO_PRICE
    return None


def _simple_variant(row: _Row, now: datetime) -> ParsedVariant:
    price, regular = _prices(row, now)
    stock = _stock(row, parent=None)
    return ParsedVariant(
        external_id=row.external_id,
        sku=row.get("SKU") or None,
        price=price,
        regular_price=regular,
        stock_quantity=stock.quantity,
        in_stock=stock.in_stock,
    )


def _variation_variants(
    row: _Row,
    parent: _Row,
    parent_values: dict[str, list[str]],
    attribute_numbers: list[int],
    now: datetime,
    notes: list[str],
) -> list[ParsedVariant]:
    price, regular = _prices(row, now)
    stock = _stock(row, parent=_stock(parent, parent=None))
    chosen = _attributes(row, attribute_numbers, multi=False)
    fixed = {name: values[0] for name, values in chosen.items() if values}
    options: dict[str, list[str]] = {}
    for name, values in chosen.items():
        if values:
            continue
        expanded = next(
            (vals for pname, vals in parent_values.items() if pname.casefold() == name.casefold()),
            [],
        )
        if expanded:
            options[name] = expanded
        else:
            notes.append(f"variation {row.external_id}: attribute {name!r} has no value; omitted")
    combos = list(itertools.product(*options.values())) if options else [()]
    if len(combos) > _MAX_VARIANTS_PER_ROW:
        raise row.error(
            "Attribute 1 value(s)", f"'any' attributes expand to {len(combos)} variants"
        )
    quantity = stock.quantity
    if options and quantity is not None:
        notes.append(
            f"variation {row.external_id}: stock {quantity} is shared by its "
            f"{len(combos)} expanded variants and is not tracked per variant"
        )
        quantity = None
    variants = []
    for combo in combos:
        extra = dict(zip(options, combo, strict=True))
        variants.append(
            ParsedVariant(
                external_id=_expanded_id(row.external_id, extra),
                sku=row.get("SKU") or None,
                attributes={**fixed, **extra},
                price=price,
                regular_price=regular,
                stock_quantity=quantity,
                in_stock=stock.in_stock,
            )
        )
    return variants


def _expanded_id(base: str, extra: dict[str, str]) -> str:
    if not extra:
        return base
    key = f"{base}:" + ",".join(f"{name}={value}" for name, value in extra.items())
    if len(key) <= 100:
        return key
    return f"{base}:" + hashlib.sha256(key.encode()).hexdigest()[:32]


def _product(row: _Row, variants: list[ParsedVariant]) -> ParsedProduct:
    paths = []
    for raw in _explode(row.get("Categories")):
        path = normalize_path(raw)
        if path and path not in paths:
            if len(path) > 600:
                raise row.error("Categories", "category path longer than 600 characters")
            paths.append(path)
    images = _explode(row.get("Images"))
    visibility = row.get("Visibility in catalog").lower()
    return ParsedProduct(
        external_id=row.external_id,
        kind="simple" if row.base_type == "simple" else "variable",
        name=row.get("Name"),
        short_description=clean_text(row.get("Short description")),
        description=clean_text(row.get("Description")),
        sku=row.get("SKU") or None,
        image_url=images[0] if images else None,
        # "hidden" products are sold by direct link only; kept, but out of listings/search.
        published=visibility != "hidden",
        position=_int(row, "Position"),
        category_paths=tuple(paths),
        variants=tuple(variants),
        downloadable="downloadable" in row.flags,
    )


def _prices(row: _Row, now: datetime) -> tuple[Decimal, Decimal]:
    regular = _price(row, "Regular price")
    assert regular is not None  # rows without one are skipped as NO_PRICE
    sale = _price(row, "Sale price")
    starts = _date(row, "Date sale price starts", end_of_day=False)
    ends = _date(row, "Date sale price ends", end_of_day=True)
    on_sale = (
        sale is not None
        and sale < regular
        and (starts is None or starts <= now)
        and (ends is None or now <= ends)
    )
    return (sale if on_sale and sale is not None else regular), regular


def _stock(row: _Row, parent: _Stock | None) -> _Stock:
    quantity = _optional_int(row, "Stock")
    flag = _stock_flag(row)
    backorders = row.get("Backorders allowed?").lower() in {"1", "notify", "yes"}
    if backorders:
        return _Stock(None, True if flag is None else flag, flag, backorders)
    if quantity is not None:
        return _Stock(quantity, quantity > 0, flag, backorders)
    if flag is not None:
        return _Stock(None, flag, flag, backorders)
    if parent is not None:
        return _Stock(None, parent.in_stock, None, parent.backorders)
    return _Stock(None, True, None, backorders)


def _attributes(row: _Row, numbers: list[int], *, multi: bool) -> dict[str, list[str]]:
    """Attribute name -> values; on a variation an empty list means "any value"."""
    found: dict[str, list[str]] = {}
    for n in numbers:
        name = row.get(f"Attribute {n} name")
        if not name:
            continue
        raw = row.get(f"Attribute {n} value(s)")
        values = _explode(raw) if multi else ([_unescape(raw)] if raw else [])
        found[name] = values
    return found


# --- cells -----------------------------------------------------------------------------


def _explode(value: str) -> list[str]:
    r"""Split on commas not escaped as ``\,`` (WooCommerce's ``explode_values``)."""
    if not value:
        return []
    parts = re.split(r"(?<!\\),", value)
    return [_unescape(part) for part in parts if part.strip()]


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").strip()


def _price(row: _Row, column: str) -> Decimal | None:
    raw = row.get(column)
    if not raw:
        return None
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        raise row.error(column, f"{raw!r} is not a price") from None
    if not amount.is_finite() or amount < 0:
        raise row.error(column, f"{raw!r} is not a price")
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -3:
        raise row.error(column, f"{raw!r} has more than 3 decimal places")
    if amount.adjusted() >= 17:
        raise row.error(column, f"{raw!r} is too large")
    return amount


def _int(row: _Row, column: str) -> int:
    """A whole number; an empty cell is 0."""
    value = _optional_int(row, column)
    return 0 if value is None else value


def _optional_int(row: _Row, column: str) -> int | None:
    raw = row.get(column)
    if not raw:
        return None
    try:
        number = Decimal(raw)
    except InvalidOperation:
        raise row.error(column, f"{raw!r} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise row.error(column, f"{raw!r} is not a whole number")
    if abs(number) >= 2**31:
        raise row.error(column, f"{raw!r} is out of range")
    return int(number)


def _stock_flag(row: _Row) -> bool | None:
    raw = row.get("In stock?").lower()
    if raw == "":
        return None
    if raw in {"1", "instock", "yes", "backorder", "onbackorder"}:
        return True
    if raw in {"0", "outofstock", "no"}:
        return False
    raise row.error("In stock?", f"{raw!r} is not 1, 0 or backorder")


def _published(row: _Row) -> bool:
    raw = row.get("Published")
    if raw in {"", "1"}:
        return True
    if raw in {"0", "-1"}:
        return False
    raise row.error("Published", f"{raw!r} is not 1, 0 or -1")


def _date(row: _Row, column: str, *, end_of_day: bool) -> datetime | None:
    raw = row.get(column)
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise row.error(column, f"{raw!r} is not a date (YYYY-MM-DD)") from None
    date_only = len(raw) <= 10
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end_of_day and date_only:
        # WooCommerce ends a date-only sale at 23:59:59 of that day.
        parsed = datetime.combine(parsed.date(), time(23, 59, 59), tzinfo=parsed.tzinfo)
    return parsed


_BLOCK_END = re.compile(r"<\s*(br\s*/?|/p|/div|/li|/h[1-6]|/tr)\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def clean_text(value: str) -> str | None:
    r"""Plain text from a WooCommerce description.

    The exporter writes newlines as a literal ``\n``; descriptions may hold simple HTML.
    Block ends become line breaks, other tags are dropped, entities are decoded and runs of
    blank lines collapse to one.

    Returns:
        The text, or ``None`` when nothing is left.
    """
    if not value:
        return None
    text = value.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\r\n", "\n")
    text = _TAG.sub("", _BLOCK_END.sub("\n", text))
    text = html.unescape(text)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return text or None


def _id_sort_key(external_id: str) -> tuple[int, int, str]:
    return (0, int(external_id), "") if external_id.isdigit() else (1, 0, external_id)
