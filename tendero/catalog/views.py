"""Frozen read models of the catalog, returned by the repositories and the search.

They are plain pydantic values (safe to pass to activities and workflows), never ORM objects.
Prices are ``Decimal`` amounts in the tenant's currency (``tenants.currency``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

# JSONB does not keep key order (it sorts keys by length, then bytes), so "Size" would come
# before "Color". Labels follow the order shops usually print instead; unknown names sit
# between, alphabetically.
_ATTRIBUTE_RANK = {
    "color": 0,
    "colour": 0,
    "colore": 0,
    "style": 1,
    "estilo": 1,
    "material": 2,
    "logo": 3,
    "size": 9,
    "talla": 9,
    "talle": 9,
    "tamaño": 9,
}
_DEFAULT_RANK = 5


def ordered_attributes(attributes: Mapping[str, str]) -> list[tuple[str, str]]:
    """``attributes`` as ``(name, value)`` pairs in display order (color first, size last)."""
    return sorted(
        attributes.items(),
        key=lambda item: (_ATTRIBUTE_RANK.get(item[0].casefold(), _DEFAULT_RANK), item[0]),
    )


def variant_label(attributes: Mapping[str, str]) -> str | None:
    """``"Blue, Large"`` for a variant, ``None`` for a simple product's plain variant."""
    return ", ".join(value for _, value in ordered_attributes(attributes)) or None


class CategoryView(BaseModel):
    """A category that holds published products.

    ``product_count`` counts distinct published products in the category *or any of its
    descendants* ("Clothing" counts the products of "Clothing > Hoodies").
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    path: str
    parent_id: uuid.UUID | None
    product_count: int


class ProductSummary(BaseModel):
    """A product in a list: price range over its variants and availability."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    kind: str
    short_description: str | None
    image_url: str | None
    min_price: Decimal
    max_price: Decimal
    available: bool
    variant_count: int


class VariantView(BaseModel):
    """A variant of a product, as shown on the product's detail."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    sku: str | None
    external_id: str | None
    attributes: dict[str, str]
    label: str | None
    price: Decimal
    regular_price: Decimal | None
    stock_quantity: int | None
    in_stock: bool
    available: bool
    position: int

    @property
    def on_sale(self) -> bool:
        """The price is below the regular price."""
        return self.regular_price is not None and self.price < self.regular_price


class ProductDetail(BaseModel):
    """A product with its variants ordered by position.

    ``category_id`` is the most specific category of the product (deepest path, then path
    order), for a "back to category" button; ``None`` when it has none. ``published`` is
    ``False`` for a product hidden from listings: callers decide whether to show it.
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    name: str
    kind: str
    short_description: str | None
    description: str | None
    sku: str | None
    image_url: str | None
    published: bool
    category_id: uuid.UUID | None
    variants: tuple[VariantView, ...]

    @property
    def min_price(self) -> Decimal:
        """Lowest variant price."""
        return min(v.price for v in self.variants)

    @property
    def max_price(self) -> Decimal:
        """Highest variant price."""
        return max(v.price for v in self.variants)

    @property
    def available(self) -> bool:
        """At least one variant can be sold now."""
        return any(v.available for v in self.variants)


class VariantDetail(BaseModel):
    """A variant with what a cart or an order line needs about its product.

    ``label`` is ``"Blue, Large"`` (``None`` for a simple product); ``display_name`` joins
    both: ``"Hoodie (Blue, Large)"``. ``sku`` falls back to the product's SKU.
    """

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    product_id: uuid.UUID
    product_name: str
    product_kind: str
    product_published: bool
    label: str | None
    sku: str | None
    external_id: str | None
    attributes: dict[str, str]
    price: Decimal
    regular_price: Decimal | None
    stock_quantity: int | None
    in_stock: bool
    available: bool
    image_url: str | None

    @property
    def display_name(self) -> str:
        """Product name with the variant label in parentheses when there is one."""
        return f"{self.product_name} ({self.label})" if self.label else self.product_name


class ProductHit(BaseModel):
    """A search result; prices are in the tenant's currency."""

    model_config = ConfigDict(frozen=True)

    product_id: uuid.UUID
    name: str
    kind: str
    min_price: Decimal
    max_price: Decimal
    available: bool
    variant_count: int
