"""Store records: what every remote store (Shopify, WooCommerce, custom) is read into.

Connectors map their provider's payloads to these values, and the sync, the webhooks and the
checkout work only with them, so none of the three needs to know which store is behind a
tenant. Money is ``Decimal`` in the record's ``currency`` (or the shop's); datetimes are aware
UTC; ids are the store's own, as text (Shopify ids exceed 2^53, so never floats).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes from a store must carry a timezone (treat *_gmt as UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware_utc)]


class Resource(StrEnum):
    """What a sync copies. ``SYNC_ORDER`` is the order a full sync runs them in."""

    CATEGORIES = "categories"
    PRODUCTS = "products"
    CUSTOMERS = "customers"
    ORDERS = "orders"


# Products link to categories and orders to customers, so parents are copied first.
SYNC_ORDER: tuple[Resource, ...] = (
    Resource.CATEGORIES,
    Resource.PRODUCTS,
    Resource.CUSTOMERS,
    Resource.ORDERS,
)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreAddress(_Record):
    """A postal address as the store keeps it (every field optional: stores redact)."""

    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None
    phone: str | None = None


class StoreCustomer(_Record):
    """A customer of the store.

    ``phone`` is as the store gives it (the upsert normalises it to E.164 and drops what
    cannot be parsed); Shopify redacts name, e-mail and phone without Level 2 access.
    """

    external_id: str
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    updated_at: UtcDatetime


class StoreCategory(_Record):
    """A category (Shopify collection, WooCommerce product category, custom category)."""

    external_id: str
    name: str
    parent_external_id: str | None = None
    updated_at: UtcDatetime | None = None


class StoreVariant(_Record):
    """A sellable variant; a simple product has exactly one with no ``attributes``.

    ``stock_quantity`` ``None`` means the store does not track stock for it.
    """

    external_id: str
    sku: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)
    price: Decimal
    regular_price: Decimal | None = None
    stock_quantity: int | None = None
    in_stock: bool = True


class StoreProduct(_Record):
    """A product with its variants (at least one)."""

    external_id: str
    name: str
    description: str | None = None
    short_description: str | None = None
    image_url: str | None = None
    published: bool = True
    category_external_ids: list[str] = Field(default_factory=list)
    variants: list[StoreVariant] = Field(min_length=1)
    updated_at: UtcDatetime


class StoreOrderLine(_Record):
    """One line of a store order; ids are ``None`` for custom lines the store allows."""

    product_external_id: str | None = None
    variant_external_id: str | None = None
    name: str
    sku: str | None = None
    quantity: int
    unit_price: Decimal
    line_total: Decimal


class StoreOrder(_Record):
    """An order as the store holds it.

    ``number`` is what the shop shows its customers (Shopify's ``#1001``, WooCommerce's
    ``number``, which can differ from its id). ``status`` is the store's text (WooCommerce
    plugins add their own statuses, so it is never an enum); ``finished`` tells whether the
    order needs nothing more from the shop. ``idempotency_key`` is ours when we created it.
    """

    external_id: str
    number: str
    status: str
    finished: bool = False
    customer_external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    customer_name: str | None = None
    currency: str = Field(min_length=3, max_length=3)
    subtotal: Decimal
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    total: Decimal
    lines: list[StoreOrderLine] = Field(default_factory=list)
    shipping_address: StoreAddress | None = None
    tracking_numbers: list[str] = Field(default_factory=list)
    idempotency_key: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


StoreRecord = StoreCategory | StoreProduct | StoreCustomer | StoreOrder
RecordT = TypeVar("RecordT", bound=StoreRecord)


class Page(BaseModel, Generic[RecordT]):
    """One page of a resource.

    ``next_cursor`` is opaque text to hand back for the next page (``None``: done); it is
    what a sync activity heartbeats, so it must resume the scan exactly where it stopped.
    ``total`` is the provider's estimate of the records in the whole scan, when it gives one.
    ``pending`` is True when the store is still preparing data (a Shopify bulk operation
    running): call again with ``next_cursor`` after ``retry_after_s``.
    """

    items: list[RecordT] = Field(default_factory=list)
    next_cursor: str | None = None
    total: int | None = None
    pending: bool = False
    retry_after_s: float = 0.0


class ShopInfo(_Record):
    """What a connection test reports."""

    name: str
    currency: str
    url: str
    detail: str | None = None


class DraftLine(_Record):
    """A line to order: the store's variant id, quantity and the price the customer saw."""

    product_external_id: str
    variant_external_id: str
    quantity: int = Field(gt=0)
    unit_price: Decimal
    name: str
    sku: str | None = None


class OrderDraft(_Record):
    """An order the customer confirmed in chat, to create in the store.

    Amounts are the confirmed summary's; the connector passes prices so the store records
    what the customer agreed to; a store that refuses them raises ``StoreRejected``.
    """

    currency: str
    lines: list[DraftLine] = Field(min_length=1)
    email: str | None = None
    phone: str | None = None
    customer_name: str | None = None
    customer_external_id: str | None = None
    fulfilment: Literal["delivery", "pickup"]
    shipping_address: StoreAddress | None = None
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    total: Decimal
    payment_method: str
    note: str | None = None


class DiscountRequest(_Record):
    """A single-use, expiring discount code to create in the store.

    Exactly one of ``percent`` (0-100) and ``amount`` (fixed, in the shop's currency).
    """

    code: str = Field(min_length=3, max_length=64)
    percent: Decimal | None = None
    amount: Decimal | None = None
    expires_at: UtcDatetime
    usage_limit: int = 1


class DiscountCode(_Record):
    """A created discount code."""

    external_id: str
    code: str


class RefundRequest(_Record):
    """Record a refund on an order.

    ``move_money`` False only records it (WooCommerce ``api_refund=false``; Shopify without
    a transaction): stores move money only when asked.
    """

    order_external_id: str
    amount: Decimal = Field(gt=0)
    currency: str
    reason: str | None = None
    move_money: bool = False


class Refund(_Record):
    """A refund the store recorded."""

    external_id: str
    amount: Decimal


class WebhookSubscription(_Record):
    """A webhook the store will call.

    ``active`` False: the store disabled it (WooCommerce does after 5 failed deliveries).
    """

    external_id: str
    topic: str
    address: str
    active: bool = True
