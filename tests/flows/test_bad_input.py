"""Bad input gets the right status and a clear answer, and nothing is written or signalled."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select
from temporalio.client import Client

from tendero.channels.whatsapp import simulator
from tendero.channels.whatsapp.signature import sign
from tendero.db.models import Conversation, InboundEvent, Message
from tendero.db.models import Customer as CustomerRow
from tests.harness import APP_SECRET, Customer, Stack, body_text, buttons
from tests.shop import Shop, make_shop


async def counts(stack: Stack) -> tuple[int, int, int, int]:
    async with stack.sessions() as session:
        return tuple(
            [
                int(await session.scalar(select(func.count()).select_from(model)) or 0)
                for model in (InboundEvent, Message, Conversation, CustomerRow)
            ]
        )


async def running_conversations(client: Client, shop: Shop) -> int:
    query = f"TenantId = '{shop.tenant_id}'"
    return len([w async for w in client.list_workflows(query)])


async def test_signature_and_body_errors(stack: Stack, shop: Shop, customer: Customer) -> None:
    payload = simulator.envelope(
        phone_number_id=shop.phone_number_id,
        from_digits=customer.digits,
        name="Eve",
        messages=[simulator.text_message(customer.digits, "hi")],
    )
    raw, headers = simulator.signed_body(payload, APP_SECRET)
    before = await counts(stack)

    missing = await stack.http.post(
        "/webhooks/whatsapp", content=raw, headers={"Content-Type": "application/json"}
    )
    assert missing.status_code == 401
    assert missing.json() == {"detail": "invalid signature"}

    wrong = await stack.http.post(
        "/webhooks/whatsapp",
        content=raw,
        headers={"X-Hub-Signature-256": sign(raw, "another-secret")},
    )
    assert wrong.status_code == 401

    tampered = raw.replace(b'"hi"', b'"ho"')
    assert (
        await stack.http.post("/webhooks/whatsapp", content=tampered, headers=headers)
    ).status_code == 401

    broken = b'{"object": "whatsapp_business_account", "entry": ['
    response = await stack.http.post(
        "/webhooks/whatsapp",
        content=broken,
        headers={"X-Hub-Signature-256": sign(broken, APP_SECRET)},
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed webhook")

    not_whatsapp = json.dumps({"object": "page", "entry": []}).encode()
    response = await stack.http.post(
        "/webhooks/whatsapp",
        content=not_whatsapp,
        headers={"X-Hub-Signature-256": sign(not_whatsapp, APP_SECRET)},
    )
    assert response.status_code == 400

    huge = b"{" + b" " * (stack.settings.webhook_max_body_bytes + 1) + b"}"
    response = await stack.http.post(
        "/webhooks/whatsapp", content=huge, headers={"X-Hub-Signature-256": sign(huge, APP_SECRET)}
    )
    assert response.status_code == 413

    assert await counts(stack) == before
    assert await running_conversations(stack.client, shop) == 0
    assert stack.graph.calls == []


async def test_unknown_phone_number_id_is_acknowledged_and_dropped(
    stack: Stack, shop: Shop
) -> None:
    stranger = Customer(stack, "999000111222333", "14155550100")
    before = await counts(stack)
    response = await stranger.post(simulator.text_message(stranger.digits, "hi"))
    assert response.status_code == 200
    assert response.json() == {
        "messages": 0,
        "throttled": 0,
        "duplicates": 0,
        "statuses": 0,
        "unknown_number": 1,
    }
    assert await counts(stack) == before
    assert stack.graph.calls == []


async def test_real_meta_fixture_for_unknown_number(stack: Stack, fixtures_dir: Path) -> None:
    raw = (fixtures_dir / "whatsapp" / "pywa_signed_webhook_text.json").read_bytes()
    payload = json.loads(raw)
    body = json.dumps(payload).encode()
    response = await stack.http.post(
        "/webhooks/whatsapp",
        content=body,
        headers={"X-Hub-Signature-256": sign(body, APP_SECRET)},
    )
    assert response.status_code == 200
    assert response.json()["unknown_number"] == 1


async def test_verification_get(stack: Stack) -> None:
    token = stack.settings.whatsapp_verify_token.get_secret_value()
    ok = await stack.http.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"},
    )
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = await stack.http.get(
        "/webhooks/whatsapp",
        params={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    assert bad.status_code == 403


async def test_unknown_interactive_ids_change_nothing(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    other = await make_shop(stack.sessions)
    foreign_product = await other.product_id(stack.sessions, "Hoodie")
    foreign_variant = await other.variant(stack.sessions, "SUN-1")
    for reply_id in (
        "nonsense",
        "prod:not-a-uuid",
        f"prod:{foreign_product}",
        f"add:{foreign_product}",
        f"qty:{foreign_variant.id}:1",
        "qty:abc:1",
        "pay:cash",  # no checkout running
        "ful:delivery",
    ):
        unknown, menu = await customer.tap(reply_id, expect=2)
        assert body_text(unknown) == "Sorry, that option is no longer available.", reply_id
        assert [b["id"] for b in buttons(menu)] == ["browse", "cart", "orders"]
    (cart,) = await customer.text("cart")
    assert body_text(cart) == "Your cart is empty."
    async with stack.sessions() as session:
        from tendero.db.models import Cart

        carts = await session.scalar(
            select(func.count()).select_from(Cart).where(Cart.tenant_id == shop.tenant_id)
        )
    assert carts == 0


async def test_another_customers_order_is_not_found(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    from tests.flows.conftest import new_digits
    from tests.harness import reach_summary

    sun = await shop.variant(stack.sessions, "SUN-1")
    await reach_summary(customer, [(str(sun.id), 1)])
    (placed,) = await customer.text("CONFIRM")
    number = body_text(placed).split("*")[1]

    mallory = Customer(stack, shop.phone_number_id, new_digits(), name="Mallory")
    (theirs,) = await mallory.text(f"where is my order {number}")
    (missing,) = await mallory.text("where is my order ORD-2026-99999")
    assert body_text(theirs) == (
        f"I couldn't find an order {number} for you. Check the number, or type *my orders*."
    )
    assert body_text(missing) == body_text(theirs).replace(number, "ORD-2026-99999")
    (mine,) = await customer.text(number.lower())
    assert body_text(mine).startswith(f"*Order {number}*")
