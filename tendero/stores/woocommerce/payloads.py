"""WooCommerce REST v3 resources as pydantic models, and their mapping to store records.

The models keep only the fields we read (``extra="ignore"``); their shapes are those of the
published responses in ``shared/fixtures/woocommerce/rest_api_docs_v3/``. A webhook body is the
same JSON as a REST GET of the resource (notes/store-apis.md §2 "Webhooks"), so
:func:`order_from_payload`, :func:`customer_from_payload` and :func:`product_from_payload`
serve both the sync and the store webhooks.

Conventions:

- money comes as strings (``"29.35"``) and becomes ``Decimal``; an empty string is "no price";
- ``date_*_gmt`` are naive UTC and become aware UTC (the local ``date_*`` are ignored);
- a product that is not ``variable`` gets exactly one variant whose ``external_id`` is the
  product's own id (WooCommerce has no variant object for it; order lines of such products
  have ``variation_id`` 0, and map to the same id, so cart, orders and stock line up);
- a variable product's variants are its variations (``/products/{id}/variations``); a variable
  product with none gets one placeholder variant (the product id, ``in_stock`` False) because
  a record needs at least one and the product cannot be bought.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tendero.stores.records import (
    StoreAddress,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreOrderLine,
    StoreProduct,
    StoreVariant,
)

IDEMPOTENCY_META_KEY = "_tendero_idempotency_key"
"""Order (and refund) meta key carrying our idempotency key."""

TRACKING_META_KEY = "_wc_shipment_tracking_items"
"""Where the WooCommerce Shipment Tracking extension keeps tracking numbers (core has none)."""

# Statuses after which the order needs nothing more from the shop. Plugins add their own
# ``wc-*`` statuses: anything unknown counts as unfinished.
FINISHED_STATUSES = frozenset({"completed", "cancelled", "refunded", "failed", "trash"})

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PayloadError(ValueError):
    """A payload does not have the shape of the WooCommerce resource it claims to be."""


class WooModel(BaseModel):
    """Base of the WooCommerce resource models: unknown fields ignored, immutable."""

    model_config = ConfigDict(extra="ignore", frozen=True)


_ModelT = TypeVar("_ModelT", bound=WooModel)


class WooMeta(WooModel):
    """One ``meta_data`` entry; ``value`` can be any JSON."""

    id: int | None = None
    key: str
    value: Any = None


class WooAddress(WooModel):
    """A ``billing`` or ``shipping`` object (shipping has no e-mail; phone since WC 5.6)."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""
    email: str | None = None
    phone: str | None = None


class WooCategoryRef(WooModel):
    """A product's ``categories`` entry."""

    id: int
    name: str = ""


class WooImage(WooModel):
    """A product ``images`` entry or a variation ``image``."""

    id: int | None = None
    src: str | None = None


class WooAttribute(WooModel):
    """A variation's ``attributes`` entry (``option`` is the chosen value)."""

    id: int | None = None
    name: str
    option: str = ""


class WooProduct(WooModel):
    """``GET /products/{id}`` (fixture ``wc_v3_products_create_response.json``)."""

    id: int
    name: str = ""
    type: str = "simple"
    status: str = "publish"
    description: str = ""
    short_description: str = ""
    sku: str = ""
    price: str | None = ""
    regular_price: str | None = ""
    purchasable: bool = True
    manage_stock: bool = False
    stock_quantity: int | None = None
    stock_status: str = "instock"
    categories: list[WooCategoryRef] = Field(default_factory=list)
    images: list[WooImage] = Field(default_factory=list)
    variations: list[int] = Field(default_factory=list)
    date_created_gmt: str | None = None
    date_modified_gmt: str | None = None


class WooVariation(WooModel):
    """``GET /products/{id}/variations`` item (fixture ``wc_v3_product_variations_list``).

    ``manage_stock`` is ``"parent"`` when the parent product holds the stock.
    """

    id: int
    sku: str = ""
    price: str | None = ""
    regular_price: str | None = ""
    status: str = "publish"
    purchasable: bool = True
    manage_stock: bool | str = False
    stock_quantity: int | None = None
    stock_status: str = "instock"
    attributes: list[WooAttribute] = Field(default_factory=list)
    image: WooImage | None = None
    date_modified_gmt: str | None = None


class WooCategory(WooModel):
    """``GET /products/categories`` item (no modification date in the API)."""

    id: int
    name: str
    parent: int = 0


class WooCustomer(WooModel):
    """``GET /customers/{id}`` (fixture ``wc_v3_customers_create_response.json``)."""

    id: int
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    billing: WooAddress = Field(default_factory=WooAddress)
    date_created_gmt: str | None = None
    date_modified_gmt: str | None = None


class WooLineItem(WooModel):
    """An order's ``line_items`` entry (``price`` is a JSON number, so it is not used)."""

    id: int | None = None
    name: str = ""
    product_id: int = 0
    variation_id: int = 0
    quantity: int = 0
    subtotal: str = "0"
    total: str = "0"
    sku: str | None = ""


class WooOrderRefundRef(WooModel):
    """An order's ``refunds`` entry; ``total`` is negative (``"-10.00"``)."""

    id: int
    total: str = "0"


class WooOrder(WooModel):
    """``GET /orders/{id}`` (fixture ``wc_v3_orders_create_response.json``)."""

    id: int
    number: str = ""
    status: str
    currency: str
    customer_id: int = 0
    discount_total: str = "0"
    shipping_total: str = "0"
    total: str = "0"
    total_tax: str = "0"
    billing: WooAddress = Field(default_factory=WooAddress)
    shipping: WooAddress = Field(default_factory=WooAddress)
    line_items: list[WooLineItem] = Field(default_factory=list)
    meta_data: list[WooMeta] = Field(default_factory=list)
    refunds: list[WooOrderRefundRef] = Field(default_factory=list)
    date_created_gmt: str | None = None
    date_modified_gmt: str | None = None


class WooRefund(WooModel):
    """``POST /orders/{id}/refunds`` answer (fixture ``wc_v3_order_refunds_create``)."""

    id: int
    amount: str
    reason: str = ""
    refunded_payment: bool = False
    meta_data: list[WooMeta] = Field(default_factory=list)


class WooCoupon(WooModel):
    """``POST /coupons`` answer (fixture ``wc_v3_coupons_create_response.json``)."""

    id: int
    code: str


class WooWebhook(WooModel):
    """``GET /webhooks`` item (fixture ``wc_v3_webhooks_list_response.json``).

    ``status`` is ``active``, ``paused`` or ``disabled`` (WooCommerce disables a webhook after
    more than 5 failed deliveries).
    """

    id: int
    name: str = ""
    status: str
    topic: str
    delivery_url: str


class WooErrorData(WooModel):
    """The ``data`` of an error body."""

    status: int | None = None


class WooError(WooModel):
    """An error body ``{code, message, data: {status}}``; ``message`` is never propagated."""

    code: str
    message: str = ""
    data: WooErrorData | None = None


# -- conversions ------------------------------------------------------------------------------


def money(value: str | int | float | None, *, default: Decimal | None = None) -> Decimal | None:
    """``Decimal`` of a WooCommerce money string; ``default`` for ``""``/``None``/garbage."""
    if value is None:
        return default
    text = str(value).strip()
    if not text:
        return default
    try:
        return Decimal(text)
    except InvalidOperation:
        return default


def _money(value: str | None) -> Decimal:
    result = money(value, default=Decimal("0"))
    assert result is not None
    return result


def gmt_datetime(value: str | None) -> datetime | None:
    """Aware UTC datetime of a ``date_*_gmt`` value (naive ISO 8601 in UTC), else ``None``."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def gmt_text(value: datetime) -> str:
    """A ``date_*_gmt``-style text (naive UTC, whole seconds) for query parameters."""
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"[ \t\r\f\v]+")


def plain_text(value: str | None) -> str | None:
    """Text of an HTML fragment (descriptions, names with ``&ndash;``), ``None`` when empty."""
    if not value:
        return None
    text = _TAG.sub(" ", value)
    text = html.unescape(text)
    lines = [_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    result = "\n".join(line for line in lines if line)
    return result or None


def _or_none(value: str | None) -> str | None:
    return value.strip() or None if value else None


def _name(first: str, last: str) -> str | None:
    return _or_none(f"{first} {last}".strip())


def _meta(meta: Sequence[WooMeta], key: str) -> Any:
    for entry in meta:
        if entry.key == key:
            return entry.value
    return None


def _parse(model: type[_ModelT], body: Mapping[str, Any] | bytes | str) -> _ModelT:
    try:
        if isinstance(body, bytes | str):
            return model.model_validate_json(body)
        return model.model_validate(body)
    except ValidationError as err:
        # The pydantic message quotes input values (customer data): keep only field paths.
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in err.errors()})
        raise PayloadError(f"not a WooCommerce {model.__name__}: {', '.join(fields)}") from None


# -- customers --------------------------------------------------------------------------------


def customer_record(customer: WooCustomer) -> StoreCustomer:
    """Map a parsed customer; the name and e-mail fall back to the billing ones."""
    updated = gmt_datetime(customer.date_modified_gmt) or gmt_datetime(customer.date_created_gmt)
    return StoreCustomer(
        external_id=str(customer.id),
        email=_or_none(customer.email) or _or_none(customer.billing.email),
        phone=_or_none(customer.billing.phone),
        name=_name(customer.first_name, customer.last_name)
        or _name(customer.billing.first_name, customer.billing.last_name),
        updated_at=updated or _EPOCH,
    )


def customer_from_payload(body: Mapping[str, Any] | bytes | str) -> StoreCustomer:
    """A ``StoreCustomer`` from a REST customer or a ``customer.*`` webhook body.

    Raises:
        PayloadError: the body is not a customer (a ``deleted`` body is only ``{"id": N}``).
    """
    return customer_record(_parse(WooCustomer, body))


# -- categories -------------------------------------------------------------------------------


def category_record(category: WooCategory) -> StoreCategory:
    """Map a product category (``parent`` 0 means top level; no dates in the API)."""
    return StoreCategory(
        external_id=str(category.id),
        name=html.unescape(category.name),
        parent_external_id=str(category.parent) if category.parent else None,
    )


# -- products ---------------------------------------------------------------------------------


def _in_stock(stock_status: str, purchasable: bool) -> bool:
    # "onbackorder" can still be ordered; "outofstock" cannot.
    return purchasable and stock_status in ("instock", "onbackorder")


def _single_variant(product: WooProduct) -> StoreVariant:
    price = money(product.price)
    return StoreVariant(
        external_id=str(product.id),
        sku=_or_none(product.sku),
        price=price if price is not None else Decimal("0"),
        regular_price=money(product.regular_price),
        stock_quantity=product.stock_quantity if product.manage_stock else None,
        # A product without a price (grouped, or not yet priced) cannot be bought.
        in_stock=price is not None and _in_stock(product.stock_status, product.purchasable),
    )


def _variation_variant(product: WooProduct, variation: WooVariation) -> StoreVariant:
    price = money(variation.price)
    if variation.manage_stock == "parent":
        stock = product.stock_quantity if product.manage_stock else None
    elif variation.manage_stock is True:
        stock = variation.stock_quantity
    else:
        stock = None
    return StoreVariant(
        external_id=str(variation.id),
        sku=_or_none(variation.sku),
        attributes={a.name: a.option for a in variation.attributes if a.option},
        price=price if price is not None else Decimal("0"),
        regular_price=money(variation.regular_price),
        stock_quantity=stock,
        in_stock=price is not None
        and variation.status == "publish"
        and _in_stock(variation.stock_status, variation.purchasable),
    )


def product_record(product: WooProduct, variations: Sequence[WooVariation] = ()) -> StoreProduct:
    """Map a parsed product and (for a variable product) its variations.

    Raises:
        PayloadError: ``product`` is variable and lists variation ids but none are given.
    """
    if product.type == "variable":
        if product.variations and not variations:
            raise PayloadError("variable product without its variations: fetch them")
        variants = [_variation_variant(product, v) for v in variations]
        if not variants:
            variants = [_single_variant(product).model_copy(update={"in_stock": False})]
    else:
        variants = [_single_variant(product)]
    updated = gmt_datetime(product.date_modified_gmt) or gmt_datetime(product.date_created_gmt)
    return StoreProduct(
        external_id=str(product.id),
        name=html.unescape(product.name),
        description=plain_text(product.description),
        short_description=plain_text(product.short_description),
        image_url=product.images[0].src if product.images else None,
        published=product.status == "publish",
        category_external_ids=[str(c.id) for c in product.categories],
        variants=variants,
        updated_at=updated or _EPOCH,
    )


def needs_variations(body: Mapping[str, Any]) -> bool:
    """True when ``body`` is a variable product whose variations must be fetched to map it."""
    return body.get("type") == "variable" and bool(body.get("variations"))


def product_from_payload(
    body: Mapping[str, Any] | bytes | str,
    variations: Sequence[Mapping[str, Any]] = (),
) -> StoreProduct:
    """A ``StoreProduct`` from a REST product or ``product.*`` webhook body.

    A webhook body of a variable product lists only its variation ids: check
    :func:`needs_variations` and fetch the product with the client's ``get_product`` instead.

    Args:
        body: the product JSON.
        variations: its ``/variations`` items when it is variable.

    Raises:
        PayloadError: not a product, or a variable product without ``variations``.
    """
    product = _parse(WooProduct, body)
    parsed = [_parse(WooVariation, v) for v in variations]
    return product_record(product, parsed)


# -- orders -----------------------------------------------------------------------------------


def _line(item: WooLineItem) -> StoreOrderLine:
    subtotal = _money(item.subtotal)
    exponent = subtotal.as_tuple().exponent
    places = min(exponent, -2) if isinstance(exponent, int) else -2
    if item.quantity:
        # Unit price at the subtotal's precision (10.00 for 3 → 3.33): display only.
        unit = (subtotal / item.quantity).quantize(
            Decimal(1).scaleb(places), rounding=ROUND_HALF_UP
        )
    else:
        unit = subtotal
    product_id = str(item.product_id) if item.product_id else None
    # Simple products' single variant is the product id (module docstring).
    variant_id = str(item.variation_id) if item.variation_id else product_id
    return StoreOrderLine(
        product_external_id=product_id,
        variant_external_id=variant_id,
        name=html.unescape(item.name),
        sku=_or_none(item.sku),
        quantity=item.quantity,
        unit_price=unit,
        line_total=_money(item.total),
    )


def _address(address: WooAddress) -> StoreAddress | None:
    result = StoreAddress(
        name=_name(address.first_name, address.last_name) or _or_none(address.company),
        line1=_or_none(address.address_1),
        line2=_or_none(address.address_2),
        city=_or_none(address.city),
        region=_or_none(address.state),
        postcode=_or_none(address.postcode),
        country=_or_none(address.country),
        phone=_or_none(address.phone),
    )
    return None if result == StoreAddress() else result


def _tracking_numbers(meta: Sequence[WooMeta]) -> list[str]:
    items = _meta(meta, TRACKING_META_KEY)
    if isinstance(items, str):
        try:
            items = json.loads(items)
        except ValueError:
            return []
    if not isinstance(items, list):
        return []
    return [
        str(item["tracking_number"])
        for item in items
        if isinstance(item, dict) and item.get("tracking_number")
    ]


def order_record(order: WooOrder) -> StoreOrder:
    """Map a parsed order.

    ``subtotal`` is the sum of the line subtotals (before discounts; WooCommerce has no order
    subtotal field), ``tax_total`` is ``total_tax``, the customer's contact comes from
    ``billing``, ``idempotency_key`` from our meta key.
    """
    created = gmt_datetime(order.date_created_gmt) or _EPOCH
    updated = gmt_datetime(order.date_modified_gmt) or created
    key = _meta(order.meta_data, IDEMPOTENCY_META_KEY)
    return StoreOrder(
        external_id=str(order.id),
        number=order.number or str(order.id),
        status=order.status,
        finished=order.status in FINISHED_STATUSES,
        customer_external_id=str(order.customer_id) if order.customer_id else None,
        email=_or_none(order.billing.email),
        phone=_or_none(order.billing.phone),
        customer_name=_name(order.billing.first_name, order.billing.last_name),
        currency=order.currency,
        subtotal=sum((_money(i.subtotal) for i in order.line_items), Decimal("0")),
        shipping_total=_money(order.shipping_total),
        tax_total=_money(order.total_tax),
        discount_total=_money(order.discount_total),
        total=_money(order.total),
        lines=[_line(i) for i in order.line_items],
        shipping_address=_address(order.shipping),
        tracking_numbers=_tracking_numbers(order.meta_data),
        idempotency_key=str(key) if key else None,
        created_at=created,
        updated_at=updated,
    )


def order_from_payload(body: Mapping[str, Any] | bytes | str) -> StoreOrder:
    """A ``StoreOrder`` from a REST order or an ``order.*`` webhook body.

    Raises:
        PayloadError: the body is not an order (a ``deleted`` body is only ``{"id": N}``).
    """
    return order_record(_parse(WooOrder, body))


def parse_model(model: type[_ModelT], body: Mapping[str, Any] | bytes | str) -> _ModelT:
    """Validate ``body`` as ``model``, raising :class:`PayloadError` without input values."""
    return _parse(model, body)
