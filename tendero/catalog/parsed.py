"""The intermediate catalog model every importer produces and :mod:`writer` writes.

Pure pydantic, no database: a parser can be tested on its own, and the writer has a single
input shape whatever the source (WooCommerce CSV, the demo JSON document, ...).
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

PATH_SEPARATOR = " > "

# Column sizes of tendero.db.models.catalog, checked before anything reaches the database.
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Sku = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ProductName = Annotated[str, StringConstraints(min_length=1, max_length=300)]
CategoryPath = Annotated[str, StringConstraints(min_length=1, max_length=600)]
Amount = Annotated[Decimal, Field(ge=0, max_digits=20, decimal_places=3)]


class CatalogImportError(ValueError):
    """The catalog source is invalid; the message names the row and column when there is one.

    Raised before anything is written, so a failed import leaves the catalog untouched.
    """


class SkipReason(StrEnum):
    """Why a source row was not imported (values are stable codes for reports and tests)."""

    GROUPED = "grouped"
    EXTERNAL = "external"
    UNPUBLISHED = "unpublished"
    NO_SELLABLE_VARIATION = "no_sellable_variation"
    NO_PRICE = "no_price"
    PARENT_NOT_FOUND = "parent_not_found"
    PARENT_NOT_IMPORTED = "parent_not_imported"
    UNSUPPORTED_TYPE = "unsupported_type"

    @property
    def description(self) -> str:
        """A sentence for people reading an import summary."""
        return _SKIP_DESCRIPTIONS[self]


_SKIP_DESCRIPTIONS = {
    SkipReason.GROUPED: "grouped product: a container without its own price, "
    "its children are sold on their own",
    SkipReason.EXTERNAL: "external/affiliate product: sold on another site",
    SkipReason.UNPUBLISHED: "not published (draft or private)",
    SkipReason.NO_SELLABLE_VARIATION: "variable product without any sellable variation",
    SkipReason.NO_PRICE: "no regular price: not purchasable",
    SkipReason.PARENT_NOT_FOUND: "variation whose parent is not in the file",
    SkipReason.PARENT_NOT_IMPORTED: "variation whose parent was skipped or is not variable",
    SkipReason.UNSUPPORTED_TYPE: "product type that cannot be sold in chat",
}


class SkippedRow(NamedTuple):
    """A source row left out of the catalog: ``(external id, name, reason)``."""

    external_id: str
    name: str
    reason: SkipReason


class ParsedCategory(BaseModel):
    """A category identified by its full path (``"Clothing > Hoodies"``)."""

    model_config = ConfigDict(frozen=True)

    path: CategoryPath
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    parent_path: CategoryPath | None = None

    @property
    def depth(self) -> int:
        """1 for a top-level category, 2 for its children, ..."""
        return self.path.count(PATH_SEPARATOR) + 1


class ParsedVariant(BaseModel):
    """One sellable variant.

    Attributes:
        external_id: the source's id, unique per tenant among variants (upsert key).
        attributes: attribute name to value, empty for a simple product.
        price: what the customer pays now (sale price when on sale), in the tenant's currency.
        regular_price: the undiscounted price, kept to show a saving.
        stock_quantity: units on hand, ``None`` when stock is not tracked.
        in_stock: sellable at all.
        position: order among the product's variants (0 first).
    """

    model_config = ConfigDict(frozen=True)

    external_id: ExternalId
    sku: Sku | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    price: Amount
    regular_price: Amount | None = None
    stock_quantity: int | None = None
    in_stock: bool = True
    position: int = 0


class ParsedProduct(BaseModel):
    """A product with at least one variant (a simple product has exactly one, no attributes).

    ``published`` ``False`` keeps a product purchasable by id (a cart line, a retailer id) but
    out of listings and search: WooCommerce's "hidden" catalog visibility.
    """

    model_config = ConfigDict(frozen=True)

    external_id: ExternalId
    kind: Literal["simple", "variable"]
    name: ProductName
    short_description: str | None = None
    description: str | None = None
    sku: Sku | None = None
    image_url: str | None = None
    published: bool = True
    position: int = 0
    category_paths: tuple[CategoryPath, ...] = ()
    variants: tuple[ParsedVariant, ...] = Field(min_length=1)
    downloadable: bool = False

    @model_validator(mode="after")
    def _simple_has_one_plain_variant(self) -> ParsedProduct:
        if self.kind == "simple" and (len(self.variants) != 1 or self.variants[0].attributes):
            raise ValueError(
                f"simple product {self.external_id} needs one variant without attributes"
            )
        return self


class ParsedCatalog(BaseModel):
    """A whole catalog as read from a source.

    Attributes:
        categories: every category the products use, ancestors included, parents first.
        products: the products to upsert.
        skipped: source rows left out, with the reason.
        withdrawn: external ids of source products that are no longer sellable (skipped as
            unpublished, grouped, ...); if an earlier import created them they are unpublished.
        notes: non-fatal remarks for the import summary.
    """

    model_config = ConfigDict(frozen=True)

    categories: tuple[ParsedCategory, ...] = ()
    products: tuple[ParsedProduct, ...] = ()
    skipped: tuple[SkippedRow, ...] = ()
    withdrawn: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _unique_keys(self) -> ParsedCatalog:
        seen_products: set[str] = set()
        seen_variants: set[str] = set()
        for product in self.products:
            if product.external_id in seen_products:
                raise ValueError(f"duplicate product id {product.external_id!r}")
            seen_products.add(product.external_id)
            for variant in product.variants:
                if variant.external_id in seen_variants:
                    raise ValueError(f"duplicate variant id {variant.external_id!r}")
                seen_variants.add(variant.external_id)
        return self


def normalize_path(raw: str) -> str:
    """``"Clothing>Hoodies "`` -> ``"Clothing > Hoodies"``; empty segments are dropped."""
    parts = (" ".join(part.split()) for part in raw.split(">"))
    return PATH_SEPARATOR.join(part for part in parts if part)


def category_closure(paths: list[str] | tuple[str, ...]) -> tuple[ParsedCategory, ...]:
    """Every category of ``paths`` with all its ancestors, parents before children.

    Args:
        paths: normalized paths (see :func:`normalize_path`).

    Returns:
        Categories sorted by depth then path, so a writer can insert level by level.
    """
    found: dict[str, ParsedCategory] = {}
    for path in paths:
        parts = path.split(PATH_SEPARATOR)
        for depth in range(1, len(parts) + 1):
            sub = PATH_SEPARATOR.join(parts[:depth])
            if sub not in found:
                parent = PATH_SEPARATOR.join(parts[: depth - 1]) or None
                found[sub] = ParsedCategory(path=sub, name=parts[depth - 1], parent_path=parent)
    return tuple(sorted(found.values(), key=lambda c: (c.depth, c.path)))


class ImportReport(BaseModel):
    """What an import did.

    Attributes:
        products_created / products_updated: product rows inserted / updated by the upsert.
        variants_created / variants_updated: the same for variants.
        variants_removed: variants of imported products that the source no longer lists.
        categories: categories the imported products use, ancestors included.
        categories_created: how many of those were new.
        skipped: ``(external id, name, reason)`` of rows left out.
        downloadable: imported products that are downloadable (digital goods).
        hidden: imported products kept out of listings and search (``published`` false).
        withdrawn: existing products unpublished because the source no longer sells them.
        notes: non-fatal remarks from the parser.
    """

    products_created: int = 0
    products_updated: int = 0
    variants_created: int = 0
    variants_updated: int = 0
    variants_removed: int = 0
    categories: int = 0
    categories_created: int = 0
    skipped: list[SkippedRow] = Field(default_factory=list)
    downloadable: int = 0
    hidden: int = 0
    withdrawn: int = 0
    notes: list[str] = Field(default_factory=list)

    @property
    def products(self) -> int:
        """Products written (created + updated)."""
        return self.products_created + self.products_updated

    @property
    def variants(self) -> int:
        """Variants written (created + updated)."""
        return self.variants_created + self.variants_updated

    def skipped_by_reason(self) -> dict[SkipReason, int]:
        """Number of skipped rows per reason."""
        counts: dict[SkipReason, int] = {}
        for row in self.skipped:
            counts[row.reason] = counts.get(row.reason, 0) + 1
        return counts

    def summary(self) -> str:
        """A short multi-line text for the CLI and operators (no personal data in it)."""
        lines = [
            f"products: {self.products_created} created, {self.products_updated} updated"
            f" ({self.downloadable} downloadable, {self.hidden} hidden)",
            f"variants: {self.variants_created} created, {self.variants_updated} updated,"
            f" {self.variants_removed} removed",
            f"categories: {self.categories} ({self.categories_created} new)",
            f"skipped: {len(self.skipped)}",
        ]
        lines += [f"  - {r.external_id} {r.name}: {r.reason.description}" for r in self.skipped]
        if self.withdrawn:
            lines.append(f"withdrawn (unpublished): {self.withdrawn}")
        lines += [f"note: {note}" for note in self.notes]
        return "\n".join(lines)
