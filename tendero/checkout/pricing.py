"""The order summary, computed on the server from current prices (never from the customer)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from tendero.db.repos.carts import CartView
from tendero.domain.checkout import CheckoutChoices, Fulfilment, OrderSummary, SummaryLine
from tendero.domain.money import quantize
from tendero.errors import EmptyCartError


class Discount(BaseModel):
    """A valid coupon to apply: ``percent`` (``value`` 0-100) or ``amount`` (in the currency)."""

    code: str
    kind: Literal["percent", "amount"]
    value: Decimal = Field(ge=0)


def discount_amount(discount: Discount, subtotal: Decimal, currency: str) -> Decimal:
    """The amount ``discount`` takes off ``subtotal``: rounded half-up, at most the subtotal."""
    if discount.kind == "percent":
        raw = subtotal * min(discount.value, Decimal(100)) / Decimal(100)
    else:
        raw = discount.value
    return min(quantize(raw, currency), subtotal)


def price_summary(
    *,
    cart: CartView,
    choices: CheckoutChoices,
    currency: str,
    tax_rate: Decimal,
    delivery_fee: Decimal,
    discount: Discount | None = None,
    discount_refused: str | None = None,
) -> OrderSummary:
    """Price a cart for the customer's choices.

    Rules: each line is ``unit_price * quantity``; the delivery fee applies to delivery only;
    a ``discount`` (a percent of the subtotal, or a fixed amount, never more than the
    subtotal) is taken off the subtotal before tax; tax is ``tax_rate`` (a fraction) of the
    discounted subtotal; amounts are rounded half-up to the currency's minor unit (cents for
    USD, none for JPY, mils for KWD); the total is subtotal - discount + delivery fee + tax.
    ``summary_id`` hashes everything shown, so a CONFIRM can be bound to exactly this
    summary. ``discount_refused`` is carried to the summary so the customer is told why a
    code was not applied.

    Raises:
        EmptyCartError: the cart has no lines.
        ValueError: fulfilment or payment method not chosen yet.
    """
    if not cart.lines:
        raise EmptyCartError("the cart is empty")
    if choices.fulfilment is None or choices.payment_method is None:
        raise ValueError("fulfilment and payment method must be chosen before the summary")
    lines = [
        SummaryLine(
            variant_id=line.variant_id,
            product_name=line.product_name,
            variant_label=line.label,
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            line_total=quantize(line.line_total, currency),
        )
        for line in cart.lines
    ]
    subtotal = sum((line.line_total for line in lines), Decimal("0"))
    fee = (
        quantize(delivery_fee, currency)
        if choices.fulfilment is Fulfilment.DELIVERY
        else Decimal(0)
    )
    off = discount_amount(discount, subtotal, currency) if discount else Decimal(0)
    tax = quantize((subtotal - off) * tax_rate, currency)
    total = subtotal - off + fee + tax
    body: dict[str, object] = {
        "cart_id": str(cart.cart_id),
        "cart_version": cart.version,
        "lines": [[str(line.variant_id), line.quantity, str(line.unit_price)] for line in lines],
        "fee": str(fee),
        "tax": str(tax),
        "total": str(total),
        "currency": currency,
        "choices": choices.model_dump(mode="json"),
    }
    if discount is not None:
        # Only present with a discount: summaries without one keep their former ids.
        body["discount"] = [discount.code, str(off)]
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
    return OrderSummary(
        summary_id=digest,
        cart_id=cart.cart_id,
        cart_version=cart.version,
        currency=currency,
        lines=lines,
        subtotal=subtotal,
        delivery_fee=fee,
        tax_rate=tax_rate,
        tax=tax,
        total=total,
        fulfilment=choices.fulfilment,
        address=choices.address,
        payment_method=choices.payment_method,
        discount=off,
        discount_code=discount.code if discount else None,
        discount_refused=discount_refused,
    )
