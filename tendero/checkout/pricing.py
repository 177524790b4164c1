"""The order summary, computed on the server from current prices (never from the customer)."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

from tendero.db.repos.carts import CartView
from tendero.domain.checkout import CheckoutChoices, Fulfilment, OrderSummary, SummaryLine
from tendero.domain.money import quantize
from tendero.errors import EmptyCartError


def price_summary(
    *,
    cart: CartView,
    choices: CheckoutChoices,
    currency: str,
    tax_rate: Decimal,
    delivery_fee: Decimal,
) -> OrderSummary:
    """Price a cart for the customer's choices.

    Rules: each line is ``unit_price * quantity``; the delivery fee applies to delivery only;
    tax is ``tax_rate`` (a fraction) of the subtotal; amounts are rounded half-up to the
    currency's minor unit (cents for USD, none for JPY, mils for KWD); the total is
    subtotal + delivery fee + tax. ``summary_id`` hashes everything shown, so a CONFIRM can be
    bound to exactly this summary.

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
    tax = quantize(subtotal * tax_rate, currency)
    total = subtotal + fee + tax
    body = {
        "cart_id": str(cart.cart_id),
        "cart_version": cart.version,
        "lines": [[str(line.variant_id), line.quantity, str(line.unit_price)] for line in lines],
        "fee": str(fee),
        "tax": str(tax),
        "total": str(total),
        "currency": currency,
        "choices": choices.model_dump(mode="json"),
    }
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
    )
