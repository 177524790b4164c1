"""The summary's arithmetic, per currency."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from tendero.checkout.pricing import price_summary
from tendero.db.repos.carts import CartLine, CartView
from tendero.domain.checkout import Address, CheckoutChoices, Fulfilment
from tendero.errors import EmptyCartError


def cart(*lines: tuple[str, int]) -> CartView:
    return CartView(
        cart_id=uuid.UUID(int=1),
        version=3,
        lines=[
            CartLine(
                variant_id=uuid.UUID(int=10 + i),
                product_id=uuid.UUID(int=100 + i),
                product_name=f"P{i}",
                attributes={},
                sku=None,
                quantity=quantity,
                unit_price=Decimal(price),
                stock_quantity=None,
                in_stock=True,
            )
            for i, (price, quantity) in enumerate(lines)
        ],
    )


DELIVERY = CheckoutChoices(
    fulfilment=Fulfilment.DELIVERY, address=Address(text="1 Road"), payment_method="cash"
)


@pytest.mark.parametrize(
    ("currency", "prices", "fee", "rate", "expected"),
    [
        # subtotal, fee, tax, total
        ("USD", [("19.99", 3)], "4.99", "0.0825", ("59.97", "4.99", "4.95", "69.91")),
        ("JPY", [("1999", 2)], "500", "0.10", ("3998", "500", "400", "4898")),
        ("JPY", [("1995", 1)], "0", "0.08", ("1995", "0", "160", "2155")),
        ("KWD", [("1.255", 2)], "0.500", "0.05", ("2.510", "0.500", "0.126", "3.136")),
    ],
)
def test_totals_round_to_the_currency_minor_unit(currency, prices, fee, rate, expected) -> None:
    summary = price_summary(
        cart=cart(*[(p, q) for p, q in prices]),
        choices=DELIVERY,
        currency=currency,
        tax_rate=Decimal(rate),
        delivery_fee=Decimal(fee),
    )
    got = (summary.subtotal, summary.delivery_fee, summary.tax, summary.total)
    assert got == tuple(Decimal(v) for v in expected)
    assert [str(v) for v in got] == list(expected)


def test_pickup_has_no_fee_and_ids_bind_choices() -> None:
    pickup = CheckoutChoices(fulfilment=Fulfilment.PICKUP, payment_method="cash")
    a = price_summary(
        cart=cart(("10.00", 1)),
        choices=pickup,
        currency="USD",
        tax_rate=Decimal("0.1"),
        delivery_fee=Decimal("5"),
    )
    b = price_summary(
        cart=cart(("10.00", 1)),
        choices=DELIVERY,
        currency="USD",
        tax_rate=Decimal("0.1"),
        delivery_fee=Decimal("5"),
    )
    assert (a.delivery_fee, a.total) == (Decimal("0"), Decimal("11.00"))
    assert b.total == Decimal("16.00")
    assert a.summary_id != b.summary_id
    again = price_summary(
        cart=cart(("10.00", 1)),
        choices=pickup,
        currency="USD",
        tax_rate=Decimal("0.1"),
        delivery_fee=Decimal("5"),
    )
    assert again.summary_id == a.summary_id


def test_empty_cart_and_missing_choices_are_refused() -> None:
    with pytest.raises(EmptyCartError):
        price_summary(
            cart=cart(),
            choices=DELIVERY,
            currency="USD",
            tax_rate=Decimal(0),
            delivery_fee=Decimal(0),
        )
    with pytest.raises(ValueError, match="must be chosen"):
        price_summary(
            cart=cart(("1", 1)),
            choices=CheckoutChoices(),
            currency="USD",
            tax_rate=Decimal(0),
            delivery_fee=Decimal(0),
        )
