"""Shopify payloads: GraphQL Admin API responses and REST-shaped webhook bodies -> records.

GraphQL nodes follow the ``2026-01`` reference on shopify.dev (camelCase, ``gid://`` ids,
``MoneyBag.shopMoney`` amounts as decimal strings). Webhook bodies keep the REST resource
shape (snake_case, numeric ``id``; notes/store-apis.md §1.1), as in the fixtures of
``shared/fixtures/shopify/shopify_python_api`` (order.json, customer.json, products.json).

Ids become the numeric part of the GID as text (``gid://shopify/Order/123`` -> ``"123"``):
Shopify ids exceed 2^53, so they are never floats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tendero.stores.records import (
    StoreAddress,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreOrderLine,
    StoreProduct,
    StoreVariant,
)

IDEMPOTENCY_ATTRIBUTE = "tendero_idempotency_key"
"""The order custom attribute (REST ``note_attributes``) carrying our idempotency key."""

# Shopify's placeholder option of products without options: not a real attribute.
_DEFAULT_OPTION = ("Title", "Default Title")


def gid_to_id(gid: str) -> str:
    """The numeric id of a GID, as text: ``gid://shopify/Order/123?x=1`` -> ``"123"``."""
    return gid.split("?", 1)[0].rsplit("/", 1)[-1]


def gid_type(gid: str) -> str:
    """The resource type of a GID: ``gid://shopify/ProductVariant/1`` -> ``ProductVariant``."""
    parts = gid.split("?", 1)[0].split("/")
    return parts[-2] if len(parts) >= 2 else ""


def to_gid(kind: str, external_id: str) -> str:
    """The GID of a numeric id (``to_gid("Order", "123")``); a GID is returned unchanged."""
    if external_id.startswith("gid://"):
        return external_id
    if not external_id.isdigit():
        raise ValueError(f"not a Shopify {kind} id")
    return f"gid://shopify/{kind}/{external_id}"


class _Node(BaseModel):
    # Shopify adds fields over time; unknown ones must not break a sync.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Money(_Node):
    """``MoneyV2``: a decimal string amount and its currency."""

    amount: Decimal
    currencyCode: str | None = None


class MoneyBag(_Node):
    """``MoneyBag``: we read the shop currency amount."""

    shopMoney: Money


def _amount(bag: MoneyBag | None) -> Decimal:
    return bag.shopMoney.amount if bag is not None else Decimal("0")


class EmailAddress(_Node):
    """``CustomerEmailAddress``."""

    emailAddress: str | None = None


class PhoneNumber(_Node):
    """``CustomerPhoneNumber``."""

    phoneNumber: str | None = None


class CustomerNode(_Node):
    """``Customer`` (name, e-mail and phone are null when redacted, §1.6)."""

    id: str
    firstName: str | None = None
    lastName: str | None = None
    displayName: str | None = None
    defaultEmailAddress: EmailAddress | None = None
    defaultPhoneNumber: PhoneNumber | None = None
    updatedAt: datetime

    def to_record(self) -> StoreCustomer:
        """The customer as a record."""
        name = " ".join(p for p in (self.firstName, self.lastName) if p) or None
        return StoreCustomer(
            external_id=gid_to_id(self.id),
            email=self.defaultEmailAddress.emailAddress if self.defaultEmailAddress else None,
            phone=self.defaultPhoneNumber.phoneNumber if self.defaultPhoneNumber else None,
            name=name,
            updated_at=self.updatedAt,
        )


class SelectedOption(_Node):
    """``SelectedOption``."""

    name: str
    value: str


class InventoryItem(_Node):
    """``InventoryItem`` (``tracked``: Shopify counts its stock)."""

    tracked: bool = False


class VariantNode(_Node):
    """``ProductVariant``; ``price``/``compareAtPrice`` are ``Money`` decimal strings."""

    id: str
    sku: str | None = None
    title: str | None = None
    price: Decimal
    compareAtPrice: Decimal | None = None
    inventoryQuantity: int | None = None
    availableForSale: bool = True
    inventoryItem: InventoryItem | None = None
    selectedOptions: list[SelectedOption] = Field(default_factory=list)

    def to_record(self) -> StoreVariant:
        """The variant as a record (stock ``None`` when Shopify does not track it)."""
        tracked = self.inventoryItem.tracked if self.inventoryItem else False
        return StoreVariant(
            external_id=gid_to_id(self.id),
            sku=self.sku or None,
            attributes={
                o.name: o.value
                for o in self.selectedOptions
                if (o.name, o.value) != _DEFAULT_OPTION
            },
            price=self.price,
            regular_price=self.compareAtPrice,
            stock_quantity=self.inventoryQuantity if tracked else None,
            in_stock=self.availableForSale,
        )


class _Image(_Node):
    url: str | None = None


class _Preview(_Node):
    image: _Image | None = None


class FeaturedMedia(_Node):
    """``Media`` with its preview image."""

    preview: _Preview | None = None


class IdNode(_Node):
    """Any node of which we read only the id."""

    id: str


class VariantConnection(_Node):
    """``ProductVariantConnection`` (``nodes``)."""

    nodes: list[VariantNode] = Field(default_factory=list)


class IdConnection(_Node):
    """A connection of which we read only ids."""

    nodes: list[IdNode] = Field(default_factory=list)


class ProductNode(_Node):
    """``Product``; ``status`` ``ACTIVE`` means published."""

    id: str
    title: str
    descriptionHtml: str | None = None
    status: str = "ACTIVE"
    featuredMedia: FeaturedMedia | None = None
    updatedAt: datetime
    variants: VariantConnection = Field(default_factory=VariantConnection)
    collections: IdConnection = Field(default_factory=IdConnection)

    def to_record(self) -> StoreProduct:
        """The product as a record.

        Raises:
            pydantic.ValidationError: the product has no variant (Shopify always has one).
        """
        image = None
        if self.featuredMedia and self.featuredMedia.preview and self.featuredMedia.preview.image:
            image = self.featuredMedia.preview.image.url
        return StoreProduct(
            external_id=gid_to_id(self.id),
            name=self.title,
            description=self.descriptionHtml or None,
            image_url=image,
            published=self.status == "ACTIVE",
            category_external_ids=[gid_to_id(c.id) for c in self.collections.nodes],
            variants=[v.to_record() for v in self.variants.nodes],
            updated_at=self.updatedAt,
        )


class CollectionNode(_Node):
    """``Collection``: a category (collections are flat, so no parent)."""

    id: str
    title: str
    updatedAt: datetime | None = None

    def to_record(self) -> StoreCategory:
        """The collection as a category record."""
        return StoreCategory(
            external_id=gid_to_id(self.id), name=self.title, updated_at=self.updatedAt
        )


class LineItemNode(_Node):
    """``LineItem`` (variant/product null when deleted since)."""

    id: str
    name: str
    sku: str | None = None
    quantity: int
    variant: IdNode | None = None
    product: IdNode | None = None
    originalUnitPriceSet: MoneyBag
    originalTotalSet: MoneyBag | None = None

    def to_record(self) -> StoreOrderLine:
        """The line as a record."""
        unit = _amount(self.originalUnitPriceSet)
        total = _amount(self.originalTotalSet) if self.originalTotalSet else unit * self.quantity
        return StoreOrderLine(
            product_external_id=gid_to_id(self.product.id) if self.product else None,
            variant_external_id=gid_to_id(self.variant.id) if self.variant else None,
            name=self.name,
            sku=self.sku or None,
            quantity=self.quantity,
            unit_price=unit,
            line_total=total,
        )


class LineItemConnection(_Node):
    """``LineItemConnection`` (``nodes``)."""

    nodes: list[LineItemNode] = Field(default_factory=list)


class MailingAddress(_Node):
    """``MailingAddress``."""

    name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    zip: str | None = None
    countryCodeV2: str | None = None
    phone: str | None = None

    def to_record(self) -> StoreAddress:
        """The address as a record."""
        return StoreAddress(
            name=self.name,
            line1=self.address1,
            line2=self.address2 or None,
            city=self.city,
            region=self.province,
            postcode=self.zip,
            country=self.countryCodeV2,
            phone=self.phone,
        )


class _TrackingInfo(_Node):
    number: str | None = None


class Fulfillment(_Node):
    """``Fulfillment`` with its tracking numbers."""

    trackingInfo: list[_TrackingInfo] = Field(default_factory=list)


class Attribute(_Node):
    """``Attribute``: an order custom attribute."""

    key: str
    value: str | None = None


class OrderCustomer(_Node):
    """The order's ``customer``."""

    id: str
    displayName: str | None = None


class OrderNode(_Node):
    """``Order``."""

    id: str
    name: str
    email: str | None = None
    phone: str | None = None
    displayFinancialStatus: str | None = None
    displayFulfillmentStatus: str | None = None
    cancelledAt: datetime | None = None
    closedAt: datetime | None = None
    currencyCode: str
    customer: OrderCustomer | None = None
    subtotalPriceSet: MoneyBag | None = None
    totalShippingPriceSet: MoneyBag | None = None
    totalTaxSet: MoneyBag | None = None
    totalDiscountsSet: MoneyBag | None = None
    totalPriceSet: MoneyBag
    shippingAddress: MailingAddress | None = None
    fulfillments: list[Fulfillment] = Field(default_factory=list)
    sourceIdentifier: str | None = None
    tags: list[str] = Field(default_factory=list)
    customAttributes: list[Attribute] = Field(default_factory=list)
    createdAt: datetime
    updatedAt: datetime
    lineItems: LineItemConnection = Field(default_factory=LineItemConnection)

    def to_record(self) -> StoreOrder:
        """The order as a record.

        ``status`` is ``cancelled``, ``closed`` or the fulfilment status in lower case
        (``unfulfilled``, ``fulfilled``...); ``finished`` when cancelled, closed or fulfilled.
        """
        fulfilment = (self.displayFulfillmentStatus or "unfulfilled").lower()
        if self.cancelledAt is not None:
            status = "cancelled"
        elif self.closedAt is not None:
            status = "closed"
        else:
            status = fulfilment
        key = next((a.value for a in self.customAttributes if a.key == IDEMPOTENCY_ATTRIBUTE), None)
        return StoreOrder(
            external_id=gid_to_id(self.id),
            number=self.name,
            status=status,
            finished=status in ("cancelled", "closed", "fulfilled"),
            customer_external_id=gid_to_id(self.customer.id) if self.customer else None,
            email=self.email,
            phone=self.phone,
            customer_name=self.customer.displayName if self.customer else None,
            currency=self.currencyCode,
            subtotal=_amount(self.subtotalPriceSet),
            shipping_total=_amount(self.totalShippingPriceSet),
            tax_total=_amount(self.totalTaxSet),
            discount_total=_amount(self.totalDiscountsSet),
            total=_amount(self.totalPriceSet),
            lines=[line.to_record() for line in self.lineItems.nodes],
            shipping_address=self.shippingAddress.to_record() if self.shippingAddress else None,
            tracking_numbers=[
                t.number for f in self.fulfillments for t in f.trackingInfo if t.number
            ],
            idempotency_key=key,
            created_at=self.createdAt,
            updated_at=self.updatedAt,
        )


# --- the envelope: extensions.cost and errors (notes/store-apis.md §1.2) --------------------


class ThrottleStatus(_Node):
    """``extensions.cost.throttleStatus``: the bucket after this query, in points."""

    maximumAvailable: float
    currentlyAvailable: float
    restoreRate: float


class QueryCost(_Node):
    """``extensions.cost``."""

    requestedQueryCost: float | None = None
    actualQueryCost: float | None = None
    throttleStatus: ThrottleStatus | None = None


def cost_of(body: Mapping[str, Any]) -> QueryCost | None:
    """The ``extensions.cost`` of a GraphQL response body, ``None`` when absent or unreadable."""
    extensions = body.get("extensions")
    if not isinstance(extensions, Mapping) or not isinstance(extensions.get("cost"), Mapping):
        return None
    try:
        return QueryCost.model_validate(extensions["cost"])
    except ValueError:
        return None


def error_codes(body: Mapping[str, Any]) -> list[str]:
    """The ``errors[].extensions.code`` of a GraphQL response (``""`` when a code is absent)."""
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    codes = []
    for error in errors:
        ext = error.get("extensions") if isinstance(error, Mapping) else None
        code = ext.get("code") if isinstance(ext, Mapping) else None
        codes.append(str(code) if code else "")
    return codes


# --- bulk operation lines (notes/store-apis.md §1.4) ----------------------------------------


def product_from_bulk(
    parent: Mapping[str, Any], children: Sequence[Mapping[str, Any]]
) -> StoreProduct:
    """A product from its JSONL line and its child lines (variants, collections)."""
    node = dict(parent)
    node["variants"] = {"nodes": [c for c in children if gid_type(c["id"]) == "ProductVariant"]}
    node["collections"] = {"nodes": [c for c in children if gid_type(c["id"]) == "Collection"]}
    return ProductNode.model_validate(node).to_record()


def order_from_bulk(parent: Mapping[str, Any], children: Sequence[Mapping[str, Any]]) -> StoreOrder:
    """An order from its JSONL line and its line-item child lines."""
    node = dict(parent)
    node["lineItems"] = {"nodes": [c for c in children if gid_type(c["id"]) == "LineItem"]}
    return OrderNode.model_validate(node).to_record()


def customer_from_bulk(
    parent: Mapping[str, Any], children: Sequence[Mapping[str, Any]]
) -> StoreCustomer:
    """A customer from its JSONL line (customers have no child lines in our bulk query)."""
    return CustomerNode.model_validate(parent).to_record()


# --- REST-shaped webhook bodies (orders/*, customers/*, products/* topics, §1.5) -------------


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal("0")


def _rest_id(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _full_name(first: Any, last: Any) -> str | None:
    return " ".join(str(p) for p in (first, last) if p) or None


def _rest_address(raw: Any) -> StoreAddress | None:
    if not isinstance(raw, Mapping):
        return None
    return StoreAddress(
        name=raw.get("name") or _full_name(raw.get("first_name"), raw.get("last_name")),
        line1=raw.get("address1") or None,
        line2=raw.get("address2") or None,
        city=raw.get("city") or None,
        region=raw.get("province") or None,
        postcode=raw.get("zip") or None,
        country=raw.get("country_code") or raw.get("country") or None,
        phone=raw.get("phone") or None,
    )


def order_from_webhook(body: Mapping[str, Any]) -> StoreOrder:
    """An ``orders/create|updated|cancelled`` body (REST order shape) as a record.

    Shopify fixture: ``shopify_python_api/order.json``. Shipping is
    ``total_shipping_price_set.shop_money.amount`` when present, else the sum of
    ``shipping_lines[].price``.

    Raises:
        pydantic.ValidationError: required fields (id, name, totals, dates) are missing.
    """
    customer = body.get("customer") if isinstance(body.get("customer"), Mapping) else None
    shipping_set = body.get("total_shipping_price_set")
    if isinstance(shipping_set, Mapping) and isinstance(shipping_set.get("shop_money"), Mapping):
        shipping = _dec(shipping_set["shop_money"].get("amount"))
    else:
        shipping = sum(
            (_dec(s.get("price")) for s in body.get("shipping_lines") or []), Decimal("0")
        )
    fulfilment = str(body.get("fulfillment_status") or "unfulfilled").lower()
    if body.get("cancelled_at"):
        status = "cancelled"
    elif body.get("closed_at"):
        status = "closed"
    else:
        status = fulfilment
    key = next(
        (
            a.get("value")
            for a in body.get("note_attributes") or []
            if a.get("name") == IDEMPOTENCY_ATTRIBUTE
        ),
        None,
    )
    lines = [
        StoreOrderLine(
            product_external_id=_rest_id(li.get("product_id")),
            variant_external_id=_rest_id(li.get("variant_id")),
            name=li.get("name") or li.get("title") or "",
            sku=li.get("sku") or None,
            quantity=int(li.get("quantity") or 0),
            unit_price=_dec(li.get("price")),
            line_total=_dec(li.get("price")) * int(li.get("quantity") or 0),
        )
        for li in body.get("line_items") or []
    ]
    billing = (
        body.get("billing_address") if isinstance(body.get("billing_address"), Mapping) else {}
    )
    name = (
        _full_name(customer.get("first_name"), customer.get("last_name")) if customer else None
    ) or (billing or {}).get("name")
    return StoreOrder(
        external_id=str(body["id"]),
        number=str(body.get("name") or body.get("order_number") or body["id"]),
        status=status,
        finished=status in ("cancelled", "closed", "fulfilled"),
        customer_external_id=_rest_id(customer.get("id")) if customer else None,
        email=body.get("email") or body.get("contact_email") or None,
        phone=body.get("phone") or None,
        customer_name=name,
        currency=body.get("currency"),
        subtotal=_dec(body.get("subtotal_price")),
        shipping_total=shipping,
        tax_total=_dec(body.get("total_tax")),
        discount_total=_dec(body.get("total_discounts")),
        total=_dec(body.get("total_price")),
        lines=lines,
        shipping_address=_rest_address(body.get("shipping_address")),
        tracking_numbers=[
            n for f in body.get("fulfillments") or [] for n in f.get("tracking_numbers") or []
        ],
        idempotency_key=key,
        created_at=body.get("created_at"),
        updated_at=body.get("updated_at") or body.get("created_at"),
    )


def customer_from_webhook(body: Mapping[str, Any]) -> StoreCustomer:
    """A ``customers/create|update`` body (REST customer shape) as a record.

    Shopify fixture: ``shopify_python_api/customer.json``. ``customers/delete`` bodies carry
    only the id: handle them without this function.
    """
    return StoreCustomer(
        external_id=str(body["id"]),
        email=body.get("email") or None,
        phone=body.get("phone") or None,
        name=_full_name(body.get("first_name"), body.get("last_name")),
        updated_at=body.get("updated_at") or body.get("created_at"),
    )


def product_from_webhook(body: Mapping[str, Any]) -> StoreProduct:
    """A ``products/create|update`` body (REST product shape) as a record.

    Shopify fixture: ``shopify_python_api/products.json``. Published means ``status``
    ``active`` (or, in older bodies without ``status``, a ``published_at``). REST bodies do
    not list collections, so ``category_external_ids`` is empty: the sync fills it.
    ``products/delete`` bodies carry only the id: handle them without this function.
    """
    options = [o.get("name") for o in body.get("options") or []]
    variants = []
    for v in body.get("variants") or []:
        attributes: dict[str, str] = {}
        for i in range(3):
            value = v.get(f"option{i + 1}")
            name = options[i] if i < len(options) and options[i] else f"option{i + 1}"
            if value and (name, value) != _DEFAULT_OPTION and name != "Title":
                attributes[str(name)] = str(value)
        tracked = v.get("inventory_management") == "shopify"
        quantity = v.get("inventory_quantity")
        compare = v.get("compare_at_price")
        variants.append(
            StoreVariant(
                external_id=str(v["id"]),
                sku=v.get("sku") or None,
                attributes=attributes,
                price=_dec(v.get("price")),
                regular_price=_dec(compare) if compare not in (None, "") else None,
                stock_quantity=int(quantity) if tracked and quantity is not None else None,
                in_stock=(not tracked)
                or v.get("inventory_policy") == "continue"
                or int(quantity or 0) > 0,
            )
        )
    image = body.get("image")
    image_url = image.get("src") if isinstance(image, Mapping) else None
    if image_url is None and body.get("images"):
        image_url = body["images"][0].get("src")
    status = body.get("status")
    published = status == "active" if status else body.get("published_at") is not None
    return StoreProduct(
        external_id=str(body["id"]),
        name=body.get("title") or "",
        description=body.get("body_html") or None,
        image_url=image_url,
        published=published,
        variants=variants,
        updated_at=body.get("updated_at") or body.get("created_at"),
    )
