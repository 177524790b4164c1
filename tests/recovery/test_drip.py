"""AbandonedCartWorkflow on a time-skipping Temporal server: schedule, resets, stops."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from activities.recovery import RecoveryTrigger
from tendero.consent import record_consent
from tendero.db.models import Coupon, Message, OutboundEmail, Tenant
from tendero.domain.ids import cart_recovery_workflow_id
from tendero.domain.recovery import RecoveryOutcome
from tendero.recovery import list_abandoned, unsubscribe_token
from tendero.settings import Settings
from tests.fakes.smtp import SmtpSink
from tests.harness import FakeGraph, make_settings
from tests.recovery.conftest import (
    Buyer,
    clear,
    new_buyer,
    recovery_row,
    set_quantity,
    store_order,
    until,
)
from tests.shop import Shop, make_shop
from worker import build_worker
from workflows.recovery import AbandonedCartWorkflow

MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


@dataclass
class Drip:
    env: WorkflowEnvironment
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    graph: FakeGraph
    smtp: SmtpSink
    trigger: RecoveryTrigger

    @property
    def client(self) -> Client:
        return self.env.client

    async def buyer(self, shop: Shop, **kw: Any) -> Buyer:
        """A buyer who wrote just now by the test server's clock (it runs ahead)."""
        return await new_buyer(
            self.sessions, shop, wrote_at=await self.env.get_current_time(), **kw
        )

    async def start(self, buyer: Buyer) -> tuple[uuid.UUID, WorkflowHandle]:
        cart_id = await set_quantity(self.sessions, buyer, "SUN-1", 2)
        await self.trigger.customer_changed(buyer.shop.tenant_id, buyer.customer_id)
        handle = self.client.get_workflow_handle_for(
            AbandonedCartWorkflow.run, cart_recovery_workflow_id(buyer.shop.tenant_id, cart_id)
        )
        await until(lambda: recovery_row(self.sessions, cart_id))
        return cart_id, handle

    def chats(self, buyer: Buyer) -> list[dict]:
        return self.graph.sent_to(buyer.digits)

    def mails(self, buyer: Buyer) -> list:
        return [m for m in self.smtp.messages if m["To"] == buyer.email]


@pytest.fixture
async def drip(
    time_env: WorkflowEnvironment, sessionmaker: async_sessionmaker[AsyncSession], database_url
) -> AsyncIterator[Drip]:
    with SmtpSink() as smtp:
        settings = make_settings(
            database_url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False
        )
        graph = FakeGraph()
        graph_http = httpx.AsyncClient(transport=httpx.MockTransport(graph.handler))
        async with build_worker(
            time_env.client, sessions=sessionmaker, graph_http=graph_http, settings=settings
        ):
            yield Drip(
                time_env,
                sessionmaker,
                settings,
                graph,
                smtp,
                RecoveryTrigger(sessionmaker, time_env.client, settings),
            )
        await graph_http.aclose()


@pytest.fixture
async def shop(sessionmaker: async_sessionmaker[AsyncSession]) -> Shop:
    return await make_shop(sessionmaker)


async def steps_count(drip: Drip, cart_id: uuid.UUID, count: int) -> list[dict]:
    async def check() -> list[dict] | None:
        row = await recovery_row(drip.sessions, cart_id)
        return row.steps if row is not None and len(row.steps) == count else None

    return await until(check)


async def emails(drip: Drip, shop: Shop) -> list[OutboundEmail]:
    async with drip.sessions() as session:
        found = await session.execute(
            select(OutboundEmail)
            .where(OutboundEmail.tenant_id == shop.tenant_id)
            .order_by(OutboundEmail.sent_at)
        )
        return list(found.scalars())


async def settle() -> None:
    await asyncio.sleep(0.4)


def at(step: dict) -> datetime:
    return datetime.fromisoformat(step["at"])


async def test_exact_schedule_nudge_then_three_mails_then_nothing(drip: Drip, shop: Shop):
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    changed = (await recovery_row(drip.sessions, cart_id)).last_activity_at

    await drip.env.sleep(5 * MIN - SECOND)
    await settle()
    assert (await recovery_row(drip.sessions, cart_id)).steps == []
    assert drip.chats(buyer) == []

    await drip.env.sleep(2 * SECOND)
    (nudge,) = await steps_count(drip, cart_id, 1)
    assert (nudge["step"], nudge["channel"], nudge["coupon_code"]) == (0, "chat", None)
    assert at(nudge) == changed + 5 * MIN
    await until(lambda: asyncio.sleep(0, drip.chats(buyer)))
    (chat,) = drip.chats(buyer)
    assert chat["interactive"]["body"]["text"] == (
        "You have 2 items in your cart at Test Shop ($40.00). Need help finishing your order?"
    )
    assert drip.mails(buyer) == []

    await drip.env.sleep(HOUR - 5 * MIN - 2 * SECOND)
    await settle()
    assert len((await recovery_row(drip.sessions, cart_id)).steps) == 1
    await drip.env.sleep(2 * SECOND)
    first = (await steps_count(drip, cart_id, 2))[1]
    assert (first["step"], first["channel"], first["coupon_code"]) == (1, "email", None)
    assert at(first) == changed + HOUR

    await drip.env.sleep(24 * HOUR - HOUR)
    second = (await steps_count(drip, cart_id, 3))[2]
    assert at(second) == changed + 24 * HOUR
    await drip.env.sleep(72 * HOUR - 24 * HOUR)
    third = (await steps_count(drip, cart_id, 4))[3]
    assert at(third) == changed + 72 * HOUR

    outcome = await handle.result()
    assert outcome == RecoveryOutcome(status="finished", reason=None, steps_sent=[0, 1, 2, 3])
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.status, row.abandoned_at) == ("finished", changed + 5 * MIN)
    assert timedelta(0) <= row.finished_at - (changed + 72 * HOUR) < timedelta(seconds=10)

    # Codes: none on the first mail, 10 % then 15 %, unique per step, bound to the cart.
    code2, code3 = second["coupon_code"], third["coupon_code"]
    assert code2 != code3 and code2.startswith("BACK-") and len(code2) == 15
    async with drip.sessions() as session:
        coupons = {
            c.code: c
            for c in (
                await session.execute(select(Coupon).where(Coupon.cart_id == cart_id))
            ).scalars()
        }
    assert set(coupons) == {code2, code3}
    assert (coupons[code2].value, coupons[code3].value) == (Decimal("10.000"), Decimal("15.000"))
    assert coupons[code2].expires_at == at(second) + timedelta(days=7)
    assert {(c.usage_limit, c.times_used, c.kind) for c in coupons.values()} == {(1, 0, "percent")}

    sent = await emails(drip, shop)
    assert [e.sent_at for e in sent] == [changed + HOUR, changed + 24 * HOUR, changed + 72 * HOUR]
    assert [e.key for e in sent] == [f"recovery:{cart_id}:{i}" for i in (1, 2, 3)]
    await until(lambda: asyncio.sleep(0, len(drip.mails(buyer)) == 3))
    mails = drip.mails(buyer)
    assert [m["Subject"] for m in mails] == [
        "You left 2 items in your cart at Test Shop",
        "10% off the 2 items in your cart at Test Shop",
        "Last chance: 15% off your cart at Test Shop",
    ]
    body = mails[1].get_body(("plain",)).get_content()
    assert "2 × Sunglasses: $40.00" in body and "Total: $40.00" in body
    assert f"Use the code {code2} for 10% off" in body
    assert "/unsubscribe/" in body
    token = unsubscribe_token(
        drip.settings.derived_key("unsubscribe"), shop.tenant_id, buyer.customer_id
    )
    link = f"<{drip.settings.tendero_public_url}/unsubscribe/{token}>"
    assert {(m["List-Unsubscribe"], m["List-Unsubscribe-Post"]) for m in mails} == {
        (link, "List-Unsubscribe=One-Click")
    }
    assert "write CART to us on WhatsApp" in mails[0].get_body(("plain",)).get_content()

    # Nothing after the third mail, however long the cart waits.
    await drip.env.sleep(30 * 24 * HOUR)
    await settle()
    assert len(drip.mails(buyer)) == 3 and len(drip.chats(buyer)) == 1
    assert len((await recovery_row(drip.sessions, cart_id)).steps) == 4


async def test_every_cart_change_moves_the_pending_steps(drip: Drip, shop: Shop):
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await drip.env.sleep(3 * MIN)
    await set_quantity(drip.sessions, buyer, "BEAN-1", 1)
    await drip.trigger.customer_changed(shop.tenant_id, buyer.customer_id)

    async def changed_at() -> datetime:
        progress = await handle.query(AbandonedCartWorkflow.progress)
        return progress.changed_at if progress.cart_version == 2 else None

    second_change = await until(changed_at)
    await drip.env.sleep(2 * MIN + 30 * SECOND)  # 5 min after the first change: not yet
    await settle()
    assert (await recovery_row(drip.sessions, cart_id)).steps == []
    await drip.env.sleep(3 * MIN)
    (nudge,) = await steps_count(drip, cart_id, 1)
    assert at(nudge) == second_change + 5 * MIN

    # A change after the nudge moves the e-mails; the nudge is not sent again.
    await drip.env.sleep(30 * MIN)
    await set_quantity(drip.sessions, buyer, "SUN-1", 3)
    await drip.trigger.customer_changed(shop.tenant_id, buyer.customer_id)

    async def third() -> datetime:
        progress = await handle.query(AbandonedCartWorkflow.progress)
        return progress.changed_at if progress.cart_version == 3 else None

    third_change = await until(third)
    await drip.env.sleep(HOUR - MIN)
    await settle()
    assert len((await recovery_row(drip.sessions, cart_id)).steps) == 1
    await drip.env.sleep(2 * MIN)
    first = (await steps_count(drip, cart_id, 2))[1]
    assert first["step"] == 1 and at(first) == third_change + HOUR
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.cart_version, row.item_count, row.value) == (3, 4, Decimal("78.000"))
    assert len(drip.chats(buyer)) == 1
    await handle.terminate("test over")


async def test_checkout_stops_the_drip_and_credits_it(drip: Drip, shop: Shop):
    from tests.recovery.test_discounts import place

    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await drip.env.sleep(5 * MIN + SECOND)
    await steps_count(drip, cart_id, 1)
    placed = await place(drip.sessions, drip.client, buyer, cart_id)
    outcome = await handle.result()
    assert outcome == RecoveryOutcome(status="recovered", reason=None, steps_sent=[0])
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.status, row.recovered_order_id) == ("recovered", placed.order_id)
    # The abandoned-cart list credits the order to the drip.
    async with drip.sessions() as session:
        total, rows = await list_abandoned(
            session, tenant_id=shop.tenant_id, now=await drip.env.get_current_time()
        )
    assert total == 1
    assert (rows[0].recovery.cart_id, rows[0].order_number) == (cart_id, placed.number)
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.mails(buyer) == [] and len(drip.chats(buyer)) == 1


async def test_checkout_before_any_step_stops_without_credit(drip: Drip, shop: Shop):
    from tests.recovery.test_discounts import place

    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await place(drip.sessions, drip.client, buyer, cart_id)
    outcome = await handle.result()
    assert (outcome.status, outcome.reason, outcome.steps_sent) == ("stopped", "checked_out", [])
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.status, row.stop_reason, row.recovered_order_id) == (
        "stopped",
        "checked_out",
        None,
    )
    assert drip.chats(buyer) == [] and drip.mails(buyer) == []


async def test_emptied_cart_stops_at_once(drip: Drip, shop: Shop):
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await clear(drip.sessions, buyer)
    await drip.trigger.customer_changed(shop.tenant_id, buyer.customer_id)
    outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("stopped", "emptied")
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.chats(buyer) == [] and drip.mails(buyer) == []
    assert (await recovery_row(drip.sessions, cart_id)).steps == []


async def test_stop_in_chat_withdraws_consent_and_stops(drip: Drip, shop: Shop):
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await drip.env.sleep(5 * MIN + SECOND)
    await steps_count(drip, cart_id, 1)
    # What the turn activity does for "stop": the consent event, then the trigger.
    async with drip.sessions() as session, session.begin():
        await record_consent(
            session,
            tenant_id=shop.tenant_id,
            customer_id=buyer.customer_id,
            granted=False,
            source="chat",
        )
    await drip.trigger.customer_changed(shop.tenant_id, buyer.customer_id)
    outcome = await handle.result()
    assert (outcome.status, outcome.reason, outcome.steps_sent) == ("stopped", "opted_out", [0])
    stopped_run = (await handle.describe()).run_id
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.mails(buyer) == [] and len(drip.chats(buyer)) == 1
    # A later cart change starts no new drip while consent stays withdrawn.
    await set_quantity(drip.sessions, buyer, "BEAN-1", 1)
    await drip.trigger.customer_changed(shop.tenant_id, buyer.customer_id)
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.status, row.stop_reason, row.cart_version) == ("stopped", "opted_out", 1)
    latest = await handle.describe()  # the handle follows the latest run of the id
    assert (latest.run_id, latest.status) == (stopped_run, WorkflowExecutionStatus.COMPLETED)
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.mails(buyer) == [] and len(drip.chats(buyer)) == 1


async def test_without_consent_nothing_is_sent(drip: Drip, shop: Shop):
    buyer = await drip.buyer(shop, consent=None)
    cart_id, handle = await drip.start(buyer)
    await drip.env.sleep(5 * MIN + SECOND)
    outcome = await handle.result()
    assert (outcome.status, outcome.reason, outcome.steps_sent) == ("stopped", "no_consent", [])
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.chats(buyer) == [] and drip.mails(buyer) == []
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.status, row.stop_reason, row.steps) == ("stopped", "no_consent", [])
    async with drip.sessions() as session:
        nudges = await session.scalar(
            select(Message.id).where(Message.conversation_id == buyer.conversation_id)
        )
    assert nudges is None


@pytest.mark.parametrize("source", ["store", "chat"])
async def test_customer_who_bought_in_between_gets_nothing(drip: Drip, shop: Shop, source: str):
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    await drip.env.sleep(2 * MIN)
    await store_order(drip.sessions, buyer, source=source)
    await drip.env.sleep(3 * MIN + SECOND)
    outcome = await handle.result()
    assert (outcome.status, outcome.reason) == ("stopped", "bought_elsewhere")
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.chats(buyer) == [] and drip.mails(buyer) == []


async def test_the_shops_own_schedule_and_discounts(drip: Drip, shop: Shop):
    # This shop: nudge at 10 min, e-mails at 2 h (20 % off, 1-day code) and 48 h (no code).
    async with drip.sessions() as session, session.begin():
        tenant = await session.get_one(Tenant, shop.tenant_id)
        tenant.cart_recovery = {
            "nudge_after_s": 600,
            "email_after_s": [7200, 172800],
            "discount_percents": ["20", "0"],
            "code_ttl_s": 86400,
        }
    other = await make_shop(drip.sessions)  # the install's defaults
    buyer = await drip.buyer(shop)
    neighbour = await drip.buyer(other, email="ben@example.com")
    cart_id = await set_quantity(drip.sessions, buyer, "SUN-1", 1)
    await drip.trigger.customer_changed(shop.tenant_id, buyer.customer_id)
    other_cart, neighbours_drip = await drip.start(neighbour)
    await until(lambda: recovery_row(drip.sessions, cart_id))
    handle = drip.client.get_workflow_handle_for(
        AbandonedCartWorkflow.run, cart_recovery_workflow_id(shop.tenant_id, cart_id)
    )
    changed = (await recovery_row(drip.sessions, cart_id)).last_activity_at

    await drip.env.sleep(5 * MIN + SECOND)
    await steps_count(drip, other_cart, 1)  # the default shop's nudge went out
    assert (await recovery_row(drip.sessions, cart_id)).steps == []
    assert drip.chats(buyer) == []
    await drip.env.sleep(5 * MIN)
    (nudge,) = await steps_count(drip, cart_id, 1)
    assert at(nudge) == changed + 10 * MIN
    await until(lambda: asyncio.sleep(0, drip.chats(buyer)))
    assert [c["interactive"]["body"]["text"] for c in drip.chats(buyer)] == [
        "You have 1 item in your cart at Test Shop ($20.00). Need help finishing your order?"
    ]

    await drip.env.sleep(2 * HOUR - 10 * MIN)
    first = (await steps_count(drip, cart_id, 2))[1]
    assert at(first) == changed + 2 * HOUR
    code = first["coupon_code"]
    async with drip.sessions() as session:
        coupons = list(
            (await session.execute(select(Coupon).where(Coupon.cart_id == cart_id))).scalars()
        )
    assert [(c.code, c.value, c.usage_limit) for c in coupons] == [(code, Decimal("20.000"), 1)]
    assert coupons[0].expires_at == changed + 2 * HOUR + timedelta(days=1)

    await drip.env.sleep(48 * HOUR - 2 * HOUR)
    outcome = await handle.result()
    assert outcome == RecoveryOutcome(status="finished", reason=None, steps_sent=[0, 1, 2])
    row = await recovery_row(drip.sessions, cart_id)
    assert at(row.steps[2]) == changed + 48 * HOUR and row.steps[2]["coupon_code"] is None
    await until(lambda: asyncio.sleep(0, len(drip.mails(buyer)) == 2))
    # One item: singular; the last e-mail carries no code, so it is no "last chance".
    assert [m["Subject"] for m in drip.mails(buyer)] == [
        "20% off the item in your cart at Test Shop",
        "You left 1 item in your cart at Test Shop",
    ]
    assert "Use the code " + code + " for 20% off" in (
        drip.mails(buyer)[0].get_body(("plain",)).get_content()
    )
    await drip.env.sleep(30 * 24 * HOUR)
    await settle()
    assert len(drip.mails(buyer)) == 2 and len(drip.chats(buyer)) == 1
    # The other shop's drip ran the install's defaults all along.
    assert (await neighbours_drip.result()).steps_sent == [0, 1, 2, 3]
    other_row = await recovery_row(drip.sessions, other_cart)
    other_changed = other_row.last_activity_at
    assert [at(step) - other_changed for step in other_row.steps] == [
        5 * MIN,
        HOUR,
        24 * HOUR,
        72 * HOUR,
    ]


async def test_a_shop_with_recovery_disabled_sends_nothing(drip: Drip, shop: Shop):
    async with drip.sessions() as session, session.begin():
        (await session.get_one(Tenant, shop.tenant_id)).cart_recovery = {"enabled": False}
    buyer = await drip.buyer(shop)
    cart_id, handle = await drip.start(buyer)
    outcome = await handle.result()
    assert outcome == RecoveryOutcome(status="stopped", reason="disabled", steps_sent=[])
    await drip.env.sleep(100 * HOUR)
    await settle()
    assert drip.chats(buyer) == [] and drip.mails(buyer) == []
    row = await recovery_row(drip.sessions, cart_id)
    assert (row.status, row.stop_reason, row.steps) == ("stopped", "disabled", [])
    async with drip.sessions() as session:
        assert await session.scalar(select(Coupon.id).where(Coupon.cart_id == cart_id)) is None
