"""Catalogs written as JSON documents, such as the demo shop shipped in ``data/``.

A :class:`CatalogDocument` is converted to the same :class:`ParsedCatalog` the WooCommerce
importer produces and written by the same :func:`~tendero.catalog.writer.write_catalog`.

Document shape (amounts are strings or numbers in the tenant's currency, read as Decimal)::

    {"name": "...", "currency": "USD",
     "categories": ["Clothing", "Clothing > Hoodies"],
     "products": [
       {"id": "tee", "name": "Tee", "sku": "T-1", "categories": ["Clothing"],
        "price": "19.00", "regular_price": "24.00", "stock": 12},
       {"id": "hoodie", "name": "Hoodie", "categories": ["Clothing > Hoodies"],
        "variants": [{"id": "hoodie-navy-m", "sku": "H-NVY-M",
                      "attributes": {"Color": "Navy", "Size": "M"},
                      "price": "49.00", "stock": 0}]}]}

A product has either ``price`` (a simple product) or ``variants`` (a variable product).
``stock`` ``null`` or absent means not tracked; ``in_stock`` defaults to "not tracked, or
more than 0 left".
"""

from __future__ import annotations

import json
import uuid
from importlib import resources
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.catalog.parsed import (
    Amount,
    CatalogImportError,
    ExternalId,
    ImportReport,
    ParsedCatalog,
    ParsedProduct,
    ParsedVariant,
    ProductName,
    Sku,
    category_closure,
    normalize_path,
)
from tendero.catalog.writer import write_catalog
from tendero.db.models import Tenant

DEMO_CATALOG = "data/demo_catalog.json"


def _in_stock(stock: int | None, in_stock: bool | None) -> bool:
    if in_stock is not None:
        return in_stock
    return stock is None or stock > 0


class DocumentVariant(BaseModel):
    """A variant of a variable product; ``attributes`` must name at least one option."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ExternalId
    sku: Sku | None = None
    attributes: dict[str, str] = Field(min_length=1)
    price: Amount
    regular_price: Amount | None = None
    stock: int | None = None
    in_stock: bool | None = None


class DocumentProduct(BaseModel):
    """A product: simple (``price``...) or variable (``variants``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: ExternalId
    name: ProductName
    sku: Sku | None = None
    categories: list[str] = Field(default_factory=list)
    short_description: str | None = None
    description: str | None = None
    image_url: str | None = None
    published: bool = True
    position: int = 0
    price: Amount | None = None
    regular_price: Amount | None = None
    stock: int | None = None
    in_stock: bool | None = None
    variants: list[DocumentVariant] | None = None

    @model_validator(mode="after")
    def _price_or_variants(self) -> DocumentProduct:
        if (self.price is None) == (not self.variants):
            raise ValueError(f"product {self.id!r}: give either 'price' or 'variants'")
        return self

    def to_parsed(self) -> ParsedProduct:
        """The intermediate model; a simple product's variant shares the product's id."""
        if self.variants:
            kind = "variable"
            variants = tuple(
                ParsedVariant(
                    external_id=v.id,
                    sku=v.sku,
                    attributes=v.attributes,
                    price=v.price,
                    regular_price=v.regular_price if v.regular_price is not None else v.price,
                    stock_quantity=v.stock,
                    in_stock=_in_stock(v.stock, v.in_stock),
                    position=i,
                )
                for i, v in enumerate(self.variants)
            )
        else:
            assert self.price is not None
            kind = "simple"
            variants = (
                ParsedVariant(
                    external_id=self.id,
                    sku=self.sku,
                    price=self.price,
                    regular_price=self.regular_price
                    if self.regular_price is not None
                    else self.price,
                    stock_quantity=self.stock,
                    in_stock=_in_stock(self.stock, self.in_stock),
                ),
            )
        return ParsedProduct(
            external_id=self.id,
            kind=kind,
            name=self.name,
            short_description=self.short_description,
            description=self.description,
            sku=self.sku,
            image_url=self.image_url,
            published=self.published,
            position=self.position,
            category_paths=tuple(dict.fromkeys(normalize_path(c) for c in self.categories)),
            variants=variants,
        )


class CatalogDocument(BaseModel):
    """A whole catalog as a JSON document (see the module docstring for the shape)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] | None = None
    categories: list[str] = Field(default_factory=list)
    products: list[DocumentProduct]

    def to_parsed(self) -> ParsedCatalog:
        """Convert to the intermediate model every catalog writer takes.

        Raises:
            CatalogImportError: duplicate ids, or a product category not listed in
                ``categories`` (when the document lists any).
        """
        try:
            products = tuple(p.to_parsed() for p in self.products)
            listed = [normalize_path(c) for c in self.categories]
            used = [path for p in products for path in p.category_paths]
            unknown = sorted(set(used) - set(listed)) if listed else []
            if unknown:
                raise CatalogImportError(f"category {unknown[0]!r} is used but not listed")
            return ParsedCatalog(categories=category_closure([*listed, *used]), products=products)
        except ValidationError as err:
            raise CatalogImportError(f"invalid catalog document: {err}") from err


def load_demo_document() -> CatalogDocument:
    """The demo shop's catalog shipped in ``tendero/catalog/data/demo_catalog.json``."""
    raw = resources.files("tendero.catalog").joinpath(DEMO_CATALOG).read_text(encoding="utf-8")
    return parse_catalog_document(raw)


def parse_catalog_document(raw: str | bytes) -> CatalogDocument:
    """Validate a JSON catalog document.

    Raises:
        CatalogImportError: not JSON, or not the documented shape (the message says where).
    """
    try:
        return CatalogDocument.model_validate(json.loads(raw))
    except (ValueError, ValidationError) as err:
        raise CatalogImportError(f"invalid catalog document: {err}") from err


async def load_catalog(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    document: CatalogDocument,
    keep_stock: bool = False,
) -> ImportReport:
    """Upsert a catalog document into the tenant's catalog (the caller commits).

    Idempotent like the CSV importer: products and variants are keyed by their ``id``.

    Args:
        session: open session.
        tenant_id: the shop.
        document: the catalog.
        keep_stock: keep the stock of variants that already exist (see ``write_catalog``).

    Raises:
        CatalogImportError: the tenant does not exist, its currency differs from the
            document's, or the document is inconsistent. Nothing is written then.
    """
    currency = (
        await session.execute(select(Tenant.currency).where(Tenant.id == tenant_id))
    ).scalar_one_or_none()
    if currency is None:
        raise CatalogImportError("unknown tenant")
    if document.currency is not None and document.currency != currency:
        raise CatalogImportError(
            f"the catalog is priced in {document.currency}, the shop sells in {currency}"
        )
    catalog = document.to_parsed()
    return await write_catalog(session, tenant_id=tenant_id, catalog=catalog, keep_stock=keep_stock)
