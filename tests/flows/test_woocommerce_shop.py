"""The same order flow on a tenant whose catalog is WooCommerce's sample product CSV."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from tendero.catalog.woocommerce_csv import parse_woocommerce_csv
from tendero.db.models import Order, OrderItem
from tests.flows.conftest import new_digits
from tests.harness import Customer, Stack, body_text, buttons, rows
from tests.shop import make_shop


async def test_order_from_the_woocommerce_sample_catalog(stack: Stack, fixtures_dir: Path) -> None:
    csv_text = (fixtures_dir / "woocommerce" / "sample_products.csv").read_text()
    shop = await make_shop(stack.sessions, catalog=parse_woocommerce_csv(csv_text))
    customer = Customer(stack, shop.phone_number_id, new_digits())

    (categories,) = await customer.tap("browse", list_reply=False)
    titles = [r["title"] for r in rows(categories)]
    assert {"Clothing", "Hoodies", "Tshirts", "Accessories"} <= set(titles)

    # Clothing holds 13 products (with its subcategories): 9 rows and "More…", then 4.
    clothing = next(r for r in rows(categories) if r["title"] == "Clothing")
    (first_page,) = await customer.tap(clothing["id"])
    assert len(rows(first_page)) == 10
    more = rows(first_page)[-1]
    assert more["title"] == "More…" and more["id"].endswith(":1")
    (second_page,) = await customer.tap(more["id"])
    assert len(rows(second_page)) == 4
    names = [r["title"] for r in rows(first_page)[:-1] + rows(second_page)]
    assert len(set(names)) == 13 and "Album" not in names

    (found,) = await customer.text("hoody")
    hoodie = next(r for r in rows(found) if r["title"] == "Hoodie")
    (detail,) = await customer.tap(hoodie["id"])
    (variants,) = await customer.tap(buttons(detail)[0]["id"], list_reply=False)
    options = {r["title"]: r for r in rows(variants)}
    assert "Blue, Yes" in options and "Red, No" in options
    (quantity,) = await customer.tap(options["Blue, Yes"]["id"])
    (added,) = await customer.tap(rows(quantity)[1]["id"])  # 2
    assert "Added 2 × Hoodie (Blue, Yes)" in body_text(added)

    await customer.tap("checkout", list_reply=False)
    await customer.tap("ful:pickup", list_reply=False)
    (summary,) = await customer.tap("pay:cash", list_reply=False)
    assert "2 × Hoodie (Blue, Yes): $90.00" in body_text(summary)
    (placed,) = await customer.text("CONFIRM")
    assert "placed. Total: $99.00." in body_text(placed)

    async with stack.sessions() as session:
        order = (
            await session.execute(select(Order).where(Order.tenant_id == shop.tenant_id))
        ).scalar_one()
        item = (
            await session.execute(select(OrderItem).where(OrderItem.order_id == order.id))
        ).scalar_one()
    assert (item.product_name, item.variant_label, item.quantity, item.unit_price) == (
        "Hoodie",
        "Blue, Yes",
        2,
        Decimal("45.000"),
    )
    assert order.total == Decimal("99.000")
