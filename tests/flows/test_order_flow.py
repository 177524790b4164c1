"""A whole WhatsApp conversation through the signed webhook, ending in exactly one order."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import func, select

from tendero.db.models import Cart, Message, Order, OrderItem
from tests.harness import Customer, Stack, body_text, buttons, row_id, rows
from tests.replay.recording import record_history
from tests.shop import ACCESS_TOKEN, Shop


async def test_full_order_through_webhook(stack: Stack, shop: Shop, customer: Customer) -> None:
    sessions = stack.sessions
    # Greeting with the menu.
    (greeting,) = await customer.text("hi")
    assert body_text(greeting).startswith("Hi Ana! Welcome to Test Shop.")
    assert [b["id"] for b in buttons(greeting)] == ["browse", "cart", "orders"]

    # Categories, then the hoodies, then the hoodie's variants.
    (categories,) = await customer.tap("browse", list_reply=False)
    assert [r["title"] for r in rows(categories)] == ["Accessories", "Clothing", "Hoodies"]
    (products,) = await customer.tap(row_id(categories, "Hoodies"))
    assert [r["title"] for r in rows(products)] == ["Hoodie"]
    assert rows(products)[0]["description"] == "$45.00 – $47.00"
    (detail,) = await customer.tap(rows(products)[0]["id"])
    assert "*Hoodie*" in body_text(detail)
    assert [b["title"] for b in buttons(detail)] == ["Add to cart", "Back"]
    (variants,) = await customer.tap(buttons(detail)[0]["id"], list_reply=False)
    assert [(r["title"], r["description"]) for r in rows(variants)] == [
        ("Blue, Large", "$45.00"),
        ("Blue, Medium", "$45.00 · out of stock"),
        ("Red, Large", "$47.00"),
    ]
    (quantity,) = await customer.tap(row_id(variants, "Red, Large"))
    assert [r["title"] for r in rows(quantity)] == ["1", "2"]  # only 2 in stock
    (added,) = await customer.tap(row_id(quantity, "2"))
    assert body_text(added) == (
        "Added 2 × Hoodie (Red, Large) to your cart.\nCart: 2 items, $94.00."
    )

    # A typo search, then a typed quantity.
    (found,) = await customer.text("sunglases")
    assert [r["title"] for r in rows(found)] == ["Sunglasses"]
    (sun,) = await customer.tap(rows(found)[0]["id"])
    (qty,) = await customer.tap(buttons(sun)[0]["id"], list_reply=False)
    assert [r["title"] for r in rows(qty)] == ["1", "2", "3", "4", "5"]
    (added,) = await customer.text("3")
    assert "Added 3 × Sunglasses" in body_text(added)

    # Checkout: delivery, typed address, payment, summary.
    (ask_fulfilment,) = await customer.tap("checkout", list_reply=False)
    assert [b["id"] for b in buttons(ask_fulfilment)] == ["ful:delivery", "ful:pickup"]
    (ask_address,) = await customer.tap("ful:delivery", list_reply=False)
    assert "delivery address" in body_text(ask_address)
    (ask_payment,) = await customer.text("123 Main Street, Springfield")
    assert [b["id"] for b in buttons(ask_payment)] == ["pay:cash", "pay:card_on_delivery"]
    (summary,) = await customer.tap("pay:cash", list_reply=False)
    text = body_text(summary)
    assert "2 × Hoodie (Red, Large): $94.00" in text
    assert "3 × Sunglasses: $60.00" in text
    assert "Subtotal: $154.00\nDelivery: $5.00\nTax: $15.40\n*Total: $174.40*" in text
    assert "Delivery to: 123 Main Street, Springfield" in text
    assert "Payment: Cash" in text
    assert "Reply *CONFIRM*" in text

    # CONFIRM places exactly one order.
    (placed,) = await customer.text("CONFIRM")
    match = re.search(r"Order \*(ORD-\d{4}-\d{5})\* placed\. Total: \$174\.40\.", body_text(placed))
    assert match, body_text(placed)
    number = match.group(1)

    async with sessions() as session:
        orders = (
            (await session.execute(select(Order).where(Order.tenant_id == shop.tenant_id)))
            .scalars()
            .all()
        )
        assert [o.number for o in orders] == [number]
        order = orders[0]
        assert (order.subtotal, order.delivery_fee, order.tax, order.total) == (
            Decimal("154.000"),
            Decimal("5.000"),
            Decimal("15.400"),
            Decimal("174.400"),
        )
        assert order.fulfilment == "delivery" and order.payment_method == "cash"
        assert order.address == {
            "text": "123 Main Street, Springfield",
            "latitude": None,
            "longitude": None,
            "name": None,
        }
        items = (
            await session.execute(
                select(OrderItem.product_name, OrderItem.variant_label, OrderItem.quantity)
                .where(OrderItem.order_id == order.id)
                .order_by(OrderItem.product_name)
            )
        ).all()
        assert items == [("Hoodie", "Red, Large", 2), ("Sunglasses", None, 3)]
        cart = await session.get(Cart, order.cart_id)
        assert cart is not None and cart.status == "checked_out"
        pending = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.tenant_id == shop.tenant_id, Message.status == "pending")
        )
        assert pending == 0
    assert (await shop.variant(sessions, "HOOD-RD-L")).stock_quantity == 0
    assert (await shop.variant(sessions, "SUN-1")).stock_quantity == 7

    # Tracking the order.
    (tracking,) = await customer.text(f"where is my order {number}")
    assert body_text(tracking).startswith(f"*Order {number}*\nStatus: confirmed")
    assert "Total: $174.40" in body_text(tracking)
    assert ": placed" in body_text(tracking)

    # Every call used the tenant's number and token.
    assert {c.phone_number_id for c in stack.graph.calls} == {shop.phone_number_id}
    assert {c.token for c in stack.graph.calls} == {ACCESS_TOKEN}

    # Operators find the runs by typed search attributes (ids only, never a phone number).
    client = stack.client
    by_order = [
        w
        async for w in client.list_workflows(
            f"TenantId = '{shop.tenant_id}' AND OrderNumber = '{number}'"
        )
    ]
    assert [w.workflow_type for w in by_order] == ["CheckoutWorkflow"]
    assert by_order[0].id == order.idempotency_key
    conversations = [
        w
        async for w in client.list_workflows(
            f"TenantId = '{shop.tenant_id}' AND WorkflowType = 'ConversationWorkflow'"
        )
    ]
    assert len(conversations) == 1
    described = await client.get_workflow_handle(conversations[0].id).describe()
    attributes = {k.name: v for k, v in described.typed_search_attributes}
    assert attributes["Stage"] == "tracking"
    assert customer.digits not in str(attributes)
    assert await described.static_summary() == "WhatsApp conversation"

    for workflow_id in (conversations[0].id, by_order[0].id):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        assert customer.digits not in history.to_json()  # ids in history, not phone numbers
        await record_history(workflow_id, history)
