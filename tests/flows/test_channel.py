"""WhatsApp specifics: locations, catalog orders, statuses, Meta's send errors, Spanish."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from tendero.channels.whatsapp import simulator
from tendero.channels.whatsapp.signature import sign
from tendero.db.models import Conversation, Message, Order
from tests.flows.conftest import new_digits
from tests.harness import APP_SECRET, Customer, Stack, body_text, buttons, reach_summary, rows
from tests.shop import ACCESS_TOKEN, Shop, make_shop


async def test_shared_location_is_the_delivery_address(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    sun = await shop.variant(stack.sessions, "SUN-1")
    await customer.tap(f"qty:{sun.id}:1")
    await customer.tap("checkout", list_reply=False)
    await customer.tap("ful:delivery", list_reply=False)
    (ask_payment,) = await customer.send(
        simulator.location_message(
            customer.digits, 37.4848, -122.1484, name="Office", address="1 Hacker Way"
        )
    )
    assert [b["id"] for b in buttons(ask_payment)] == ["pay:cash", "pay:card_on_delivery"]
    (summary,) = await customer.tap("pay:card_on_delivery", list_reply=False)
    assert "Delivery to: 1 Hacker Way" in body_text(summary)
    assert "Payment: Card on delivery" in body_text(summary)
    await customer.text("CONFIRM")
    async with stack.sessions() as session:
        order = (
            await session.execute(select(Order).where(Order.tenant_id == shop.tenant_id))
        ).scalar_one()
    assert order.address == {
        "text": "1 Hacker Way",
        "latitude": 37.4848,
        "longitude": -122.1484,
        "name": "Office",
    }
    assert order.payment_method == "card_on_delivery"


async def test_pickup_skips_the_address(stack: Stack, shop: Shop, customer: Customer) -> None:
    sun = await shop.variant(stack.sessions, "SUN-1")
    await customer.tap(f"qty:{sun.id}:1")
    await customer.tap("checkout", list_reply=False)
    await customer.tap("ful:pickup", list_reply=False)
    (summary,) = await customer.tap("pay:cash", list_reply=False)
    text = body_text(summary)
    assert "Pickup at 1 Shop Street" in text
    assert "Delivery:" not in text
    assert "Subtotal: $20.00\nTax: $2.00\n*Total: $22.00*" in text


async def test_catalog_order_message_fills_the_cart(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    added, missing, cart = await customer.send(
        simulator.order_message(
            customer.digits, [("SUN-1", 2), ("HOOD-BL-L", 1), ("NOT-SOLD-HERE", 1), ("CAP-1", 1)]
        ),
        expect=3,
    )
    assert body_text(added) == "I added the items from your catalog order."
    assert body_text(missing) == "These items are not available here: NOT-SOLD-HERE, CAP-1."
    assert body_text(cart) == (
        "*Your cart*\n• 2 × Sunglasses: $40.00\n• 1 × Hoodie (Blue, Large): $45.00"
        "\n\nSubtotal: $85.00"
    )
    assert [b["id"] for b in buttons(cart)] == ["checkout", "browse", "clear"]


async def test_out_of_stock_is_said_never_sold(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    cap = await shop.product_id(stack.sessions, "Cap")
    (detail,) = await customer.tap(f"prod:{cap}")
    assert "Out of stock" in body_text(detail)
    assert [b["title"] for b in buttons(detail)] == ["Back"]
    (refused,) = await customer.tap(f"add:{cap}", list_reply=False)
    assert body_text(refused) == "Sorry, *Cap* is out of stock right now."
    beanie = await shop.variant(stack.sessions, "BEAN-1")
    await customer.tap(f"qty:{beanie.id}:1")
    (none_left,) = await customer.tap(f"qty:{beanie.id}:1")
    assert body_text(none_left) == "Sorry, there are no more of Beanie available."


async def test_statuses_are_recorded_and_never_go_back(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    await customer.text("hi")
    wamid = stack.graph.calls[-1].wamid
    assert wamid is not None

    async def post_status(status: str, ts: int) -> None:
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "1",
                                    "phone_number_id": shop.phone_number_id,
                                },
                                "statuses": [
                                    {
                                        "id": wamid,
                                        "status": status,
                                        "timestamp": str(ts),
                                        "recipient_id": customer.digits,
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
        raw, headers = simulator.signed_body(payload, APP_SECRET)
        response = await stack.http.post("/webhooks/whatsapp", content=raw, headers=headers)
        assert response.status_code == 200
        assert response.json()["statuses"] == 1

    async def status() -> str:
        async with stack.sessions() as session:
            return str(
                await session.scalar(
                    select(Message.status).where(Message.provider_message_id == wamid)
                )
            )

    assert await status() == "sent"
    await post_status("read", 1_700_000_010)
    assert await status() == "read"
    await post_status("delivered", 1_700_000_005)  # late and out of order
    assert await status() == "read"


async def test_window_closed_is_not_retried(stack: Stack, shop: Shop, customer: Customer) -> None:
    stack.graph.errors.append((131047, 400))
    await customer.post(simulator.text_message(customer.digits, "hi"))
    await asyncio.sleep(2.0)
    assert len(stack.graph.calls) == 1  # one attempt, no retry
    async with stack.sessions() as session:
        row = (
            await session.execute(
                select(Message).where(
                    Message.tenant_id == shop.tenant_id, Message.direction == "out"
                )
            )
        ).scalar_one()
    assert (row.status, row.error_code) == ("failed", 131047)


async def test_rate_limit_is_retried(stack: Stack, shop: Shop, customer: Customer) -> None:
    stack.graph.errors.append((130429, 400))
    (greeting,) = await customer.text("hi", timeout_s=30)
    assert body_text(greeting).startswith("Hi Ana!")
    assert [c.wamid is None for c in stack.graph.calls] == [True, False]


async def test_bad_token_flags_the_conversation(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    stack.graph.errors.append((190, 401))
    await customer.post(simulator.text_message(customer.digits, "hi"))
    await asyncio.sleep(2.0)
    assert len(stack.graph.calls) == 1
    async with stack.sessions() as session:
        conversation = (
            await session.execute(
                select(Conversation).where(Conversation.tenant_id == shop.tenant_id)
            )
        ).scalar_one()
    assert conversation.channel_error == "whatsapp_invalid_token"


async def test_batched_webhook_with_two_customers(stack: Stack, shop: Shop) -> None:
    first, second = new_digits(), new_digits()
    payload = simulator.envelope(
        phone_number_id=shop.phone_number_id,
        from_digits=first,
        name="A",
        messages=[simulator.text_message(first, "hi")],
    )
    other = simulator.envelope(
        phone_number_id=shop.phone_number_id,
        from_digits=second,
        name="B",
        messages=[simulator.text_message(second, "cart")],
    )
    payload["entry"].append(other["entry"][0])
    raw, headers = simulator.signed_body(payload, APP_SECRET)
    response = await stack.http.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.json()["messages"] == 2
    a = Customer(stack, shop.phone_number_id, first)
    b = Customer(stack, shop.phone_number_id, second)
    (hello,) = await a.replies_after(0, expect=1)
    (cart,) = await b.replies_after(0, expect=1)
    assert body_text(hello).startswith("Hi A!")
    assert body_text(cart) == "Your cart is empty."
    assert sign(raw, APP_SECRET) == headers["X-Hub-Signature-256"]


async def test_spanish_shop(stack: Stack) -> None:
    shop = await make_shop(stack.sessions, language="es")
    customer = Customer(stack, shop.phone_number_id, new_digits(), name="Lucía")
    (greeting,) = await customer.text("hola")
    assert body_text(greeting) == "¡Hola Lucía! Bienvenido a Test Shop. ¿Qué te gustaría hacer?"
    assert [b["title"] for b in buttons(greeting)] == ["Ver productos", "Mi carrito", "Mis pedidos"]
    (found,) = await customer.text("hoodie")
    assert rows(found)[0]["description"].endswith("€") is False
    assert "45,00" in rows(found)[0]["description"]


async def test_no_personal_data_or_token_in_logs(
    stack: Stack, shop: Shop, customer: Customer, caplog: pytest.LogCaptureFixture
) -> None:
    # Our code at DEBUG; the SDK at INFO (its DEBUG lines dump payloads: part 5's codec).
    caplog.set_level(logging.INFO)
    for name in ("tendero", "api", "activities", "workflows", "worker"):
        caplog.set_level(logging.DEBUG, logger=name)
    stack.graph.errors.append((131026, 400))  # an error path logs too
    await customer.post(simulator.text_message(customer.digits, "hi"))
    await asyncio.sleep(1.5)
    sun = await shop.variant(stack.sessions, "SUN-1")
    await reach_summary(customer, [(str(sun.id), 1)], address="77 Secret Lane, Springfield")
    await customer.text("CONFIRM")
    logged = caplog.text
    assert len(caplog.records) > 0
    for secret in (customer.digits, "77 Secret Lane", ACCESS_TOKEN, APP_SECRET, customer.name):
        assert secret not in logged, secret
