"""The custom backend's JSON shapes (docs/custom-backend.md) and their mapping to records.

The ``*Payload`` models read what the backend sends: unknown fields are ignored so a shop can
add its own without breaking us; ids may be numbers or text and become text; money is
``Decimal`` (the contract sends decimal strings; JSON numbers are accepted but discouraged,
they lose precision on the backend's side); datetimes must carry an offset and become aware
UTC. Each payload has ``to_record()`` for the store records of ``tendero.stores.records``.

``DeliveryOption``, ``PaymentMethod`` and ``CustomerProfile`` are what the custom-only methods
of ``CustomBackendClient`` return: the other store kinds have no equivalent.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, JsonValue

from tendero.stores.records import (
    OrderDraft,
    StoreAddress,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreOrderLine,
    StoreProduct,
    StoreVariant,
    UtcDatetime,
)

# Statuses after which an order needs nothing more from the shop, when the backend does not
# say so itself with ``finished``. Compared in lower case.
FINISHED_STATUSES = frozenset(
    {"completed", "delivered", "cancelled", "canceled", "refunded", "failed", "closed"}
)


def _id_text(value: object) -> object:
    # Backends use integer or text ids; records keep text (and bools are never ids).
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _text_list(value: object) -> object:
    # A backend with a single tracking number may send it bare instead of in a list.
    if isinstance(value, str):
        return [value] if value else []
    if value is None:
        return []
    return value


Id = Annotated[str, BeforeValidator(_id_text)]
"""A backend id: JSON integer or string, kept as text."""


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoginPayload(_Payload):
    """``POST /api/auth/login`` answer: a JWT and its lifetime in seconds."""

    access_token: str = Field(min_length=1)
    token_type: str = "bearer"
    expires_in: float = Field(gt=0)


class ErrorBody(_Payload):
    """The ``error`` object of an error answer; ``message`` is never copied into our errors."""

    code: str | None = None
    message: str | None = None


class ErrorPayload(_Payload):
    """``{"error": {"code", "message"}}``."""

    error: ErrorBody


class PagePayload(_Payload):
    """A paged answer; items are validated one resource at a time by the caller."""

    items: list[dict[str, Any]]
    page: int = Field(ge=1)
    total_pages: int = Field(ge=0)
    total: int | None = Field(default=None, ge=0)


class CategoryPayload(_Payload):
    """``{id, name, parent_id, updated_at}``."""

    id: Id
    name: str
    parent_id: Id | None = None
    updated_at: UtcDatetime | None = None

    def to_record(self) -> StoreCategory:
        """The category as a store record."""
        return StoreCategory(
            external_id=self.id,
            name=self.name,
            parent_external_id=self.parent_id,
            updated_at=self.updated_at,
        )


class VariantPayload(_Payload):
    """A variant; ``price``/``compare_at_price`` left out fall back to the product's."""

    id: Id
    sku: str | None = None
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    price: Decimal | None = None
    compare_at_price: Decimal | None = None
    stock: int | None = None


def _in_stock(stock: int | None) -> bool:
    return stock is None or stock > 0


def _attribute_text(value: JsonValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ProductPayload(_Payload):
    """A product; an empty ``variants`` list means a simple product (one implicit variant)."""

    id: Id
    name: str
    description: str | None = None
    category_ids: list[Id] = Field(default_factory=list)
    image_url: str | None = None
    active: bool = True
    price: Decimal
    compare_at_price: Decimal | None = None
    stock: int | None = None
    sku: str | None = None
    variants: list[VariantPayload] = Field(default_factory=list)
    updated_at: UtcDatetime

    def to_record(self) -> StoreProduct:
        """The product as a store record, with at least one variant.

        A product without variants gets one whose ``external_id`` is the product id, with
        the product's sku, price and stock.
        """
        if self.variants:
            variants = [
                StoreVariant(
                    external_id=v.id,
                    sku=v.sku,
                    attributes={k: _attribute_text(a) for k, a in v.attributes.items()},
                    price=v.price if v.price is not None else self.price,
                    regular_price=(
                        v.compare_at_price
                        if v.compare_at_price is not None
                        else self.compare_at_price
                    ),
                    stock_quantity=v.stock,
                    in_stock=_in_stock(v.stock),
                )
                for v in self.variants
            ]
        else:
            variants = [
                StoreVariant(
                    external_id=self.id,
                    sku=self.sku,
                    price=self.price,
                    regular_price=self.compare_at_price,
                    stock_quantity=self.stock,
                    in_stock=_in_stock(self.stock),
                )
            ]
        return StoreProduct(
            external_id=self.id,
            name=self.name,
            description=self.description,
            image_url=self.image_url,
            published=self.active,
            category_external_ids=list(self.category_ids),
            variants=variants,
            updated_at=self.updated_at,
        )


class AddressPayload(_Payload):
    """A postal address; every field optional, unknown ones (``id``, ``label``) ignored."""

    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postcode: str | None = None
    country: str | None = None
    phone: str | None = None

    def to_record(self) -> StoreAddress:
        """The address as a store record."""
        return StoreAddress(**self.model_dump())


class CustomerRefPayload(_Payload):
    """The ``customer`` object inside an order (``id`` ``None`` for a guest)."""

    id: Id | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class OrderItemPayload(_Payload):
    """One order line; ``total`` is the line total."""

    product_id: Id | None = None
    variant_id: Id | None = None
    name: str
    sku: str | None = None
    quantity: int
    unit_price: Decimal
    total: Decimal


class OrderPayload(_Payload):
    """An order. ``finished`` and ``idempotency_key`` are optional extras of the contract."""

    id: Id
    number: Id
    status: str
    finished: bool | None = None
    customer: CustomerRefPayload | None = None
    currency: str = Field(min_length=3, max_length=3)
    subtotal: Decimal
    shipping_total: Decimal = Decimal("0")
    tax_total: Decimal = Decimal("0")
    discount_total: Decimal = Decimal("0")
    total: Decimal
    items: list[OrderItemPayload] = Field(default_factory=list)
    shipping_address: AddressPayload | None = None
    tracking_numbers: Annotated[list[str], BeforeValidator(_text_list)] = Field(
        default_factory=list
    )
    idempotency_key: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime

    def to_record(self, *, idempotency_key: str | None = None) -> StoreOrder:
        """The order as a store record.

        Args:
            idempotency_key: our key, when we just created the order with it (the backend
                need not echo it back).
        """
        customer = self.customer or CustomerRefPayload()
        finished = (
            self.finished
            if self.finished is not None
            else self.status.strip().lower() in FINISHED_STATUSES
        )
        return StoreOrder(
            external_id=self.id,
            number=self.number,
            status=self.status,
            finished=finished,
            customer_external_id=customer.id,
            email=customer.email,
            phone=customer.phone,
            customer_name=customer.name,
            currency=self.currency.upper(),
            subtotal=self.subtotal,
            shipping_total=self.shipping_total,
            tax_total=self.tax_total,
            discount_total=self.discount_total,
            total=self.total,
            lines=[
                StoreOrderLine(
                    product_external_id=item.product_id,
                    variant_external_id=item.variant_id,
                    name=item.name,
                    sku=item.sku,
                    quantity=item.quantity,
                    unit_price=item.unit_price,
                    line_total=item.total,
                )
                for item in self.items
            ],
            shipping_address=(
                self.shipping_address.to_record() if self.shipping_address is not None else None
            ),
            tracking_numbers=list(self.tracking_numbers),
            idempotency_key=idempotency_key or self.idempotency_key,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    def customer_record(self) -> StoreCustomer | None:
        """The order's customer as a store record, ``None`` for a guest (no customer id).

        The order's ``updated_at`` stands in for the customer's, which orders do not carry.
        """
        if self.customer is None or self.customer.id is None:
            return None
        return StoreCustomer(
            external_id=self.customer.id,
            email=self.customer.email,
            phone=self.customer.phone,
            name=self.customer.name,
            updated_at=self.updated_at,
        )


class UserPayload(_Payload):
    """``GET /api/users/by-phone/:phone``: ``{id, name, email, phone, updated_at}``."""

    id: Id
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    updated_at: UtcDatetime

    def to_record(self) -> StoreCustomer:
        """The user as a store customer."""
        return StoreCustomer(
            external_id=self.id,
            email=self.email,
            phone=self.phone,
            name=self.name,
            updated_at=self.updated_at,
        )


class ProfilePayload(_Payload):
    """``GET /api/users/:phone/profile``: the user plus addresses and preferences."""

    id: Id
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    updated_at: UtcDatetime | None = None
    addresses: list[AddressPayload] = Field(default_factory=list)
    preferences: dict[str, JsonValue] = Field(default_factory=dict)


class DeliveryOptionPayload(_Payload):
    """``GET /api/delivery-options`` item: ``{id, name, fee, currency, eta}``."""

    id: Id
    name: str
    fee: Decimal
    currency: str = Field(min_length=3, max_length=3)
    eta: str | None = None


class PaymentMethodPayload(_Payload):
    """``GET /api/payment-methods`` item: ``{id, name}``."""

    id: Id
    name: str


class DeliveryOption(_Public):
    """A way to get an order to the customer (custom backends only).

    Attributes:
        external_id: the backend's id, to send back as the order's delivery choice.
        name: what the shop calls it ("Courier, next day").
        fee: the price of the option, in ``currency``.
        currency: ISO 4217 code.
        eta: the backend's free-text delivery estimate ("1-2 days"), if any.
    """

    external_id: str
    name: str
    fee: Decimal
    currency: str
    eta: str | None = None


class PaymentMethod(_Public):
    """A payment method the shop accepts (custom backends only)."""

    external_id: str
    name: str


class CustomerProfile(_Public):
    """A customer with saved addresses and preferences (custom backends only).

    Attributes:
        external_id: the backend's user id.
        name: the customer's name, if the backend has one.
        email: the customer's e-mail, if any.
        phone: the customer's phone as the backend keeps it (E.164 by the contract).
        updated_at: last change, aware UTC, when the backend gives it.
        addresses: saved addresses, as the backend orders them (first: default).
        preferences: the shop's free-form preferences (language, contact times...).
    """

    external_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    updated_at: UtcDatetime | None = None
    addresses: list[StoreAddress] = Field(default_factory=list)
    preferences: dict[str, JsonValue] = Field(default_factory=dict)


def delivery_option(payload: DeliveryOptionPayload) -> DeliveryOption:
    """Map a delivery option payload to its public model."""
    return DeliveryOption(
        external_id=payload.id,
        name=payload.name,
        fee=payload.fee,
        currency=payload.currency.upper(),
        eta=payload.eta,
    )


def payment_method(payload: PaymentMethodPayload) -> PaymentMethod:
    """Map a payment method payload to its public model."""
    return PaymentMethod(external_id=payload.id, name=payload.name)


def customer_profile(payload: ProfilePayload) -> CustomerProfile:
    """Map a profile payload to its public model."""
    return CustomerProfile(
        external_id=payload.id,
        name=payload.name,
        email=payload.email,
        phone=payload.phone,
        updated_at=payload.updated_at,
        addresses=[a.to_record() for a in payload.addresses],
        preferences=dict(payload.preferences),
    )


def _money(value: Decimal) -> str:
    return format(value, "f")


def _address_body(address: StoreAddress | None) -> dict[str, str | None] | None:
    return None if address is None else address.model_dump()


def order_request_body(draft: OrderDraft) -> dict[str, Any]:
    """The ``POST /api/orders`` body for ``draft``: JSON-ready, money as decimal strings.

    Shape: ``{currency, customer:{id, name, email, phone}, items:[{product_id, variant_id,
    name, sku, quantity, unit_price}], fulfilment, shipping_address, shipping_total,
    tax_total, total, payment_method, note}``.
    """
    return {
        "currency": draft.currency,
        "customer": {
            "id": draft.customer_external_id,
            "name": draft.customer_name,
            "email": draft.email,
            "phone": draft.phone,
        },
        "items": [
            {
                "product_id": line.product_external_id,
                "variant_id": line.variant_external_id,
                "name": line.name,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
            }
            for line in draft.lines
        ],
        "fulfilment": draft.fulfilment,
        "shipping_address": _address_body(draft.shipping_address),
        "shipping_total": _money(draft.shipping_total),
        "tax_total": _money(draft.tax_total),
        "total": _money(draft.total),
        "payment_method": draft.payment_method,
        "note": draft.note,
    }
