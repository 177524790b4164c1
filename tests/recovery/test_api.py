"""The recovery API: abandoned-cart list, consents, settings, unsubscribe link, chat words."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from activities.recovery import RecoveryTrigger
from tendero.db.models import Cart, CartRecovery, Consent, Coupon, Tenant
from tendero.domain.ids import cart_recovery_workflow_id
from tendero.recovery import recovery_code, unsubscribe_token
from tests.api.v2 import user_token
from tests.harness import Customer, Stack, body_text, running_stack
from tests.recovery.conftest import new_buyer, recovery_row, set_quantity, until
from tests.shop import Shop, make_shop
from workflows.recovery import AbandonedCartWorkflow


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env.client, sessionmaker, database_url) as running:
        yield running


@pytest.fixture
async def shop(sessionmaker: async_sessionmaker[AsyncSession]) -> Shop:
    return await make_shop(sessionmaker)


async def seeded_cart(
    sessions: async_sessionmaker[AsyncSession],
    shop: Shop,
    *,
    hours_ago: float,
    value: str,
    email: str | None,
    external_id: str | None = None,
    status: str = "abandoned",
) -> uuid.UUID:
    buyer = await new_buyer(sessions, shop, email=email, external_id=external_id)
    cart_id = await set_quantity(sessions, buyer, "SUN-1", 1)
    async with sessions() as session, session.begin():
        session.add(
            CartRecovery(
                tenant_id=shop.tenant_id,
                cart_id=cart_id,
                customer_id=buyer.customer_id,
                workflow_id=cart_recovery_workflow_id(shop.tenant_id, cart_id),
                status=status,
                cart_version=1,
                item_count=1,
                value=Decimal(value),
                currency="USD",
                last_activity_at=datetime.now(UTC) - timedelta(hours=hours_ago),
                steps=[
                    {
                        "step": 0,
                        "channel": "chat",
                        "at": (datetime.now(UTC) - timedelta(hours=hours_ago - 0.1)).isoformat(),
                        "coupon_code": None,
                    }
                ],
            )
        )
    return cart_id


async def test_list_filters_and_isolation(stack: Stack, shop: Shop):
    sessions = stack.sessions
    old_big = await seeded_cart(sessions, shop, hours_ago=30, value="120.00", email="a@x.com")
    old_guest = await seeded_cart(sessions, shop, hours_ago=5, value="40.00", email=None)
    store_customer = await seeded_cart(
        sessions, shop, hours_ago=3, value="15.00", email=None, external_id="77"
    )
    fresh = await seeded_cart(sessions, shop, hours_ago=0.5, value="60.00", email="b@x.com")
    done = await seeded_cart(
        sessions, shop, hours_ago=50, value="10.00", email="c@x.com", status="recovered"
    )
    other_shop = await make_shop(sessions)
    foreign = await seeded_cart(sessions, other_shop, hours_ago=40, value="500.00", email="z@x.com")
    _, headers = await user_token(stack, shop)

    async def ids(query: str) -> list[str]:
        answer = await stack.http.get(f"/api/v2/carts/abandoned{query}", headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["total"] == len(body["items"])
        return [item["cart_id"] for item in body["items"]]

    assert await ids("") == [str(c) for c in (done, old_big, old_guest, store_customer, fresh)]
    assert await ids("?hours=4") == [str(c) for c in (done, old_big, old_guest)]
    assert await ids("?min_value=40") == [str(c) for c in (old_big, old_guest, fresh)]
    assert await ids("?include_guests=false") == [
        str(c) for c in (done, old_big, store_customer, fresh)
    ]
    assert await ids("?hours=4&min_value=40&include_guests=false") == [str(old_big)]
    assert await ids("?status=recovered") == [str(done)]
    assert str(foreign) not in await ids("?hours=0")

    answer = await stack.http.get("/api/v2/carts/abandoned?min_value=100", headers=headers)
    (item,) = answer.json()["items"]
    assert item["value"] == "120.000" and item["currency"] == "USD"
    assert item["contact"] == "a***@x.com" and item["guest"] is False
    assert 29.9 <= item["hours_abandoned"] <= 30.1
    assert item["status"] == "abandoned" and item["steps_sent"][0]["channel"] == "chat"
    assert item["codes"] == [] and item["recovered_order_number"] is None
    answer = await stack.http.get("/api/v2/carts/abandoned?include_guests=true", headers=headers)
    guest = next(i for i in answer.json()["items"] if i["cart_id"] == str(old_guest))
    assert guest["guest"] is True and guest["contact"].startswith("+1") and "*" in guest["contact"]
    assert "1415555" not in answer.text  # no raw phone number anywhere
    assert (await stack.http.get("/api/v2/carts/abandoned")).status_code == 401


async def test_consents_endpoint_and_withdrawal_stops_the_drip(stack: Stack, shop: Shop):
    buyer = await new_buyer(stack.sessions, shop, consent=None)
    _, headers = await user_token(stack, shop)
    url = f"/api/v2/customers/{buyer.customer_id}/consents"
    empty = await stack.http.get(url, headers=headers)
    assert empty.json() == {"customer_id": str(buyer.customer_id), "current": None, "events": []}
    granted = await stack.http.post(url, json={"granted": True}, headers=headers)
    assert granted.status_code == 201, granted.text
    assert granted.json()["current"]["granted"] is True
    assert granted.json()["current"]["source"] == "api"

    cart_id = await set_quantity(stack.sessions, buyer, "SUN-1", 1)
    await RecoveryTrigger(stack.sessions, stack.client, stack.settings).customer_changed(
        shop.tenant_id, buyer.customer_id
    )
    await until(lambda: recovery_row(stack.sessions, cart_id))
    withdrawn = await stack.http.post(url, json={"granted": False}, headers=headers)
    assert [e["granted"] for e in withdrawn.json()["events"]] == [False, True]
    handle = stack.client.get_workflow_handle_for(
        AbandonedCartWorkflow.run, cart_recovery_workflow_id(shop.tenant_id, cart_id)
    )
    outcome = await asyncio.wait_for(handle.result(), 15)
    assert (outcome.status, outcome.reason) == ("stopped", "opted_out")

    other = await make_shop(stack.sessions)
    _, other_headers = await user_token(stack, other)
    assert (await stack.http.get(url, headers=other_headers)).status_code == 404
    refused = await stack.http.post(url, json={"granted": True}, headers=other_headers)
    assert refused.status_code == 404
    bad = await stack.http.post(url, json={"granted": True, "source": "chat"}, headers=headers)
    assert bad.status_code == 422


async def test_unsubscribe_link(stack: Stack, shop: Shop):
    buyer = await new_buyer(stack.sessions, shop)
    cart_id = await set_quantity(stack.sessions, buyer, "SUN-1", 1)
    await RecoveryTrigger(stack.sessions, stack.client, stack.settings).customer_changed(
        shop.tenant_id, buyer.customer_id
    )
    await until(lambda: recovery_row(stack.sessions, cart_id))
    key = stack.settings.derived_key("unsubscribe")
    token = unsubscribe_token(key, shop.tenant_id, buyer.customer_id)

    forged = unsubscribe_token(b"x" * 32, shop.tenant_id, buyer.customer_id)
    assert (await stack.http.get(f"/unsubscribe/{forged}")).status_code == 404
    assert (await stack.http.get("/unsubscribe/not-a-token")).status_code == 404
    async with stack.sessions() as session:
        assert (
            len(
                (
                    await session.execute(
                        select(Consent).where(Consent.customer_id == buyer.customer_id)
                    )
                )
                .scalars()
                .all()
            )
            == 1
        )

    # Opening the link (or a mail scanner prefetching it) only asks to confirm.
    page = await stack.http.get(f"/unsubscribe/{token}")
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert "Test Shop will send you no more" in page.text
    assert (await stack.http.post(f"/unsubscribe/{forged}")).status_code == 404
    async with stack.sessions() as session:
        consents = (
            await session.execute(select(Consent).where(Consent.customer_id == buyer.customer_id))
        ).scalars()
        assert [(c.granted, c.source) for c in consents] == [(True, "api")]

    # The mail client's one-click unsubscribe (RFC 8058) posts this body to the link.
    done = await stack.http.post(
        f"/unsubscribe/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    async with stack.sessions() as session:
        latest = (
            (
                await session.execute(
                    select(Consent)
                    .where(Consent.customer_id == buyer.customer_id)
                    .order_by(Consent.recorded_at.desc())
                )
            )
            .scalars()
            .first()
        )
    assert (latest.granted, latest.source) == (False, "unsubscribe_link")
    handle = stack.client.get_workflow_handle_for(
        AbandonedCartWorkflow.run, cart_recovery_workflow_id(shop.tenant_id, cart_id)
    )
    outcome = await asyncio.wait_for(handle.result(), 15)
    assert (outcome.status, outcome.reason) == ("stopped", "opted_out")
    again = await stack.http.post(f"/unsubscribe/{token}")  # idempotent
    assert again.status_code == 200 and "You are unsubscribed" in again.text
    async with stack.sessions() as session:
        consents = (
            await session.execute(
                select(Consent)
                .where(Consent.customer_id == buyer.customer_id)
                .order_by(Consent.recorded_at)
            )
        ).scalars()
        assert [(c.granted, c.source) for c in consents] == [
            (True, "api"),
            (False, "unsubscribe_link"),
        ]


async def test_recovery_settings(stack: Stack, shop: Shop):
    _, admin = await user_token(stack, shop, "admin")
    _, agent = await user_token(stack, shop, "agent")
    url = "/api/v2/settings/cart-recovery"
    current = await stack.http.get(url, headers=admin)
    assert current.json() == {
        "enabled": True,
        "nudge_after_s": 300,
        "email_after_s": [3600, 86400, 259200],
        "discount_percents": ["0", "10", "15"],
        "code_ttl_s": 604800,
        "whatsapp_number": None,
    }
    assert (await stack.http.get(url, headers=agent)).status_code == 403
    body = {
        "nudge_after_s": 600,
        "email_after_s": [7200, 172800],
        "discount_percents": ["5", "20"],
        "code_ttl_s": 86400,
        "whatsapp_number": "+14155550100",
    }
    changed = await stack.http.put(url, json=body, headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json()["email_after_s"] == [7200, 172800]
    for bad in (
        {**body, "email_after_s": [7200, 3600]},
        {**body, "email_after_s": [300]},
        {**body, "email_after_s": [1, 2, 3, 4], "discount_percents": []},
        {**body, "discount_percents": ["5", "20", "30"]},
        {**body, "discount_percents": ["95", "20"]},
    ):
        refused = await stack.http.put(url, json=bad, headers=admin)
        assert refused.status_code == 422, bad
    async with stack.sessions() as session:
        tenant = await session.get_one(Tenant, shop.tenant_id)
    assert tenant.cart_recovery["email_after_s"] == [7200, 172800]
    assert tenant.cart_recovery["nudge_after_s"] == 600


async def test_chat_words_stop_subscribe_and_resume_code(stack: Stack, shop: Shop):
    customer = Customer(stack, shop.phone_number_id, f"1415555{uuid.uuid4().int % 10000:04d}")
    sun = await shop.variant(stack.sessions, "SUN-1")
    await customer.text("hi")
    await customer.tap(f"qty:{sun.id}:2", list_reply=True)
    (subscribed,) = await customer.text("offers")
    assert body_text(subscribed).startswith("Thanks! Test Shop may now send you reminders")
    async with stack.sessions() as session:
        cart = (
            await session.execute(
                select(Cart).where(Cart.tenant_id == shop.tenant_id, Cart.status == "open")
            )
        ).scalar_one()
        consents = (
            (await session.execute(select(Consent).where(Consent.customer_id == cart.customer_id)))
            .scalars()
            .all()
        )
    assert [(c.granted, c.source) for c in consents] == [(True, "chat")]
    row = await until(lambda: recovery_row(stack.sessions, cart.id))
    assert row.status == "waiting"

    code = recovery_code(stack.settings.derived_key("coupon"), shop.tenant_id, cart.id, 2)
    async with stack.sessions() as session, session.begin():
        session.add(
            Coupon(
                tenant_id=shop.tenant_id,
                code=code,
                kind="percent",
                value=Decimal("10"),
                currency="USD",
                expires_at=datetime.now(UTC) + timedelta(days=1),
                cart_id=cart.id,
            )
        )
    applied, shown = await customer.text(code.lower(), expect=2)
    assert body_text(applied).startswith(f"🎉 Code *{code}* applied")
    assert "Your cart" in body_text(shown) and "2 × Sunglasses" in body_text(shown)
    async with stack.sessions() as session:
        assert (await session.get_one(Cart, cart.id)).discount_code == code

    (stopped,) = await customer.text("STOP")
    assert body_text(stopped).startswith("Done: you will get no more reminders or offers")
    handle = stack.client.get_workflow_handle_for(
        AbandonedCartWorkflow.run, cart_recovery_workflow_id(shop.tenant_id, cart.id)
    )
    outcome = await asyncio.wait_for(handle.result(), 15)
    assert (outcome.status, outcome.reason) == ("stopped", "opted_out")
    async with stack.sessions() as session:
        latest = (
            (
                await session.execute(
                    select(Consent)
                    .where(Consent.customer_id == cart.customer_id)
                    .order_by(Consent.recorded_at.desc(), Consent.created_at.desc())
                )
            )
            .scalars()
            .first()
        )
    assert (latest.granted, latest.source) == (False, "chat")
