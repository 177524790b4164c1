"""Exactly one order and one confirmation, whatever is retried, repeated, late or crashed."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.testing import WorkflowEnvironment

from tendero.channels.whatsapp import simulator
from tendero.db.models import Message, Order, ProductVariant
from tendero.domain.activities import PlaceOrderInput
from tendero.domain.checkout import PlacedOrder
from tests.flows.conftest import new_digits
from tests.harness import Customer, Stack, body_text, reach_summary, running_stack
from tests.shop import Shop, make_shop
from worker import build_activities, build_worker


async def count_orders(sessions: async_sessionmaker[AsyncSession], shop: Shop) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(Order).where(Order.tenant_id == shop.tenant_id)
            )
            or 0
        )


def placed_count(replies: list[dict]) -> int:
    return sum(1 for r in replies if r["type"] == "text" and "placed. Total" in body_text(r))


async def test_redelivered_message_gets_one_reply(stack: Stack, customer: Customer) -> None:
    from tendero.channels.whatsapp import simulator

    message = simulator.text_message(customer.digits, "hi")
    first = await customer.send(message)
    assert len(first) == 1
    before = len(stack.graph.sent_to(customer.digits))
    again = await customer.post(message)  # Meta redelivers the same wamid
    assert again.status_code == 200
    assert again.json()["duplicates"] == 1 and again.json()["messages"] == 0
    await asyncio.sleep(1.0)
    assert len(stack.graph.sent_to(customer.digits)) == before
    async with stack.sessions() as session:
        inbound = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.provider_message_id == message["id"], Message.direction == "in")
        )
    assert inbound == 1


async def test_two_confirms_make_one_order(stack: Stack, shop: Shop, customer: Customer) -> None:
    sun = await shop.variant(stack.sessions, "SUN-1")
    await reach_summary(customer, [(str(sun.id), 2)])
    placed = await customer.text("CONFIRM")
    assert placed_count(placed) == 1
    (second,) = await customer.text("confirm")
    assert body_text(second).startswith("There is no order summary waiting for confirmation")
    assert await count_orders(stack.sessions, shop) == 1
    assert (await shop.variant(stack.sessions, "SUN-1")).stock_quantity == 8


async def test_confirm_after_expiry_places_no_order(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    shop = await make_shop(sessionmaker, checkout_confirm_ttl_s=2)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        customer = Customer(stack, shop.phone_number_id, new_digits())
        sun = await shop.variant(sessionmaker, "SUN-1")
        summary = await reach_summary(customer, [(str(sun.id), 1)])
        assert "valid for 1 minutes" in body_text(summary)
        (expired,) = await customer.replies_after(
            len(stack.graph.sent_to(customer.digits)), expect=1, timeout_s=10
        )
        assert body_text(expired).startswith("Your order summary expired")
        (late,) = await customer.text("CONFIRM")
        assert body_text(late).startswith("That order summary has expired")
    assert await count_orders(sessionmaker, shop) == 0
    assert (await shop.variant(sessionmaker, "SUN-1")).stock_quantity == 10


async def test_stock_gone_before_confirm(stack: Stack, shop: Shop, customer: Customer) -> None:
    beanie = await shop.variant(stack.sessions, "BEAN-1")
    await reach_summary(customer, [(str(beanie.id), 1)])
    async with stack.sessions() as session, session.begin():  # someone else bought the last one
        row = await session.get_one(ProductVariant, beanie.id)
        row.stock_quantity = 0
        row.in_stock = False
    (failed,) = await customer.text("CONFIRM")
    assert body_text(failed) == (
        "Sorry, no order was placed: Beanie just sold out. "
        "Your cart is kept; type *cart* to adjust it."
    )
    assert await count_orders(stack.sessions, shop) == 0


async def test_cart_changed_since_summary_shows_new_summary(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    sun = await shop.variant(stack.sessions, "SUN-1")
    beanie = await shop.variant(stack.sessions, "BEAN-1")
    await reach_summary(customer, [(str(sun.id), 1)])
    await customer.tap(f"qty:{beanie.id}:1")  # the cart changes after the summary
    intro, summary = await customer.text("CONFIRM", expect=2)
    assert body_text(intro) == "Your cart changed since the summary, so here is an updated one."
    assert "1 × Beanie: $18.00" in body_text(summary)
    assert await count_orders(stack.sessions, shop) == 0
    placed = await customer.text("CONFIRM")
    assert placed_count(placed) == 1
    assert await count_orders(stack.sessions, shop) == 1


async def test_worker_dies_between_confirm_and_order(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """CONFIRM is accepted, the worker stops before the order is written, another resumes."""
    shop = await make_shop(sessionmaker)
    reached = asyncio.Event()
    released = asyncio.Event()

    @activity.defn(name="place_order")
    async def place_order_then_crash(data: PlaceOrderInput) -> PlacedOrder:
        # Stands in for a worker process that dies mid-activity: it never writes the order.
        reached.set()
        await released.wait()
        raise RuntimeError("worker died")

    async with running_stack(
        temporal_env.client, sessionmaker, database_url, with_worker=False
    ) as stack:
        import httpx

        graph_http = httpx.AsyncClient(transport=httpx.MockTransport(stack.graph.handler))
        real = build_activities(
            sessions=sessionmaker,
            client=temporal_env.client,
            graph_http=graph_http,
            settings=stack.settings,
        )
        doomed = [a for a in real if a.__name__ != "place_order"] + [place_order_then_crash]
        first = build_worker(
            temporal_env.client,
            sessions=sessionmaker,
            graph_http=graph_http,
            settings=stack.settings,
            activities=doomed,
        )
        customer = Customer(stack, shop.phone_number_id, new_digits())
        sun = await shop.variant(sessionmaker, "SUN-1")
        async with first:
            await reach_summary(customer, [(str(sun.id), 2)])
            response = await customer.post(
                __import__("tendero.channels.whatsapp.simulator", fromlist=["x"]).text_message(
                    customer.digits, "CONFIRM"
                )
            )
            assert response.status_code == 200
            await asyncio.wait_for(reached.wait(), 20)
        released.set()
        assert await count_orders(sessionmaker, shop) == 0

        before = len(stack.graph.sent_to(customer.digits))
        second = build_worker(
            temporal_env.client,
            sessions=sessionmaker,
            graph_http=graph_http,
            settings=stack.settings,
        )
        async with second:
            replies = await customer.replies_after(before, expect=1, timeout_s=60, settle_s=1.0)
        assert placed_count(replies) == 1
        assert len(replies) == 1
        assert re.search(r"Order \*ORD-\d{4}-\d{5}\* placed", body_text(replies[0]))
        assert await count_orders(sessionmaker, shop) == 1
        assert (await shop.variant(sessionmaker, "SUN-1")).stock_quantity == 8
        all_replies = stack.graph.sent_to(customer.digits)
        assert placed_count(all_replies) == 1
        await graph_http.aclose()


async def test_checkout_survives_conversation_continue_as_new(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """A conversation that continues as new after every turn still completes its checkout."""
    shop = await make_shop(sessionmaker)
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, conversation_turns_per_run=1
    ) as stack:
        customer = Customer(stack, shop.phone_number_id, new_digits())
        sun = await shop.variant(sessionmaker, "SUN-1")
        await reach_summary(customer, [(str(sun.id), 1)])
        placed = await customer.text("CONFIRM")
        assert placed_count(placed) == 1
        (workflow_id,) = {
            w.id
            async for w in stack.client.list_workflows(
                f"TenantId = '{shop.tenant_id}' AND WorkflowType = 'ConversationWorkflow'"
            )
        }
        runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        assert len(runs) >= 6  # one run per turn: qty, checkout, delivery, address, pay, CONFIRM
        assert sum(1 for w in runs if w.status is not None and w.status.name == "RUNNING") == 1
    assert await count_orders(sessionmaker, shop) == 1


async def test_checkout_again_after_cancel_and_after_expiry(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    """A second run of the same checkout id talks to the customer again (fresh messages)."""
    shop = await make_shop(sessionmaker, checkout_confirm_ttl_s=2)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        customer = Customer(stack, shop.phone_number_id, new_digits())
        sun = await shop.variant(sessionmaker, "SUN-1")
        await reach_summary(customer, [(str(sun.id), 1)])
        (cancelled,) = await customer.text("cancel")
        assert body_text(cancelled) == "Checkout cancelled. Your cart is kept."
        (ask,) = await customer.tap("checkout", list_reply=False)  # same cart version again
        assert body_text(ask) == "How would you like to receive your order?"
        (ask_address,) = await customer.tap("ful:delivery", list_reply=False)
        assert "delivery address" in body_text(ask_address)
        # Nobody answers: the abandoned step times out instead of waiting forever.
        (timed_out,) = await customer.replies_after(
            len(stack.graph.sent_to(customer.digits)), expect=1, timeout_s=10
        )
        assert body_text(timed_out).startswith("Your checkout timed out")
        (ask_again,) = await customer.tap("checkout", list_reply=False)
        assert body_text(ask_again) == "How would you like to receive your order?"
        running = [
            w
            async for w in stack.client.list_workflows(
                f"TenantId = '{shop.tenant_id}' AND WorkflowType = 'CheckoutWorkflow' "
                "AND ExecutionStatus = 'Running'"
            )
        ]
        assert len(running) == 1
    assert await count_orders(sessionmaker, shop) == 0


async def test_price_change_after_summary_needs_a_new_confirm(
    stack: Stack, shop: Shop, customer: Customer
) -> None:
    sun = await shop.variant(stack.sessions, "SUN-1")
    await reach_summary(customer, [(str(sun.id), 1)])
    async with stack.sessions() as session, session.begin():
        row = await session.get_one(ProductVariant, sun.id)
        row.price = Decimal("25.00")
    before = len(stack.graph.sent_to(customer.digits))
    # Two quick CONFIRMs, both typed before the customer could see a new summary.
    await customer.post(simulator.text_message(customer.digits, "CONFIRM"))
    await customer.post(simulator.text_message(customer.digits, "CONFIRM"))
    replies = await customer.replies_after(before, expect=3, settle_s=1.5)
    texts = [body_text(r) for r in replies]
    assert "Prices changed since your summary, so here is an updated one." in texts
    assert any("*Total: $32.50*" in text for text in texts), texts
    assert placed_count(replies) == 0
    assert await count_orders(stack.sessions, shop) == 0
    # Seen the new summary: this CONFIRM places the order at the price shown.
    placed = await customer.text("CONFIRM")
    assert placed_count(placed) == 1
    assert "Total: $32.50" in body_text(placed[0])
    assert await count_orders(stack.sessions, shop) == 1


async def test_idle_conversation_closes_and_a_new_message_reopens_it(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    shop = await make_shop(sessionmaker)
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, conversation_idle_close_s=2
    ) as stack:
        customer = Customer(stack, shop.phone_number_id, new_digits())
        await customer.text("hi")
        query = f"TenantId = '{shop.tenant_id}' AND WorkflowType = 'ConversationWorkflow'"
        (workflow_id,) = {w.id async for w in stack.client.list_workflows(query)}
        handle = stack.client.get_workflow_handle(workflow_id)
        await asyncio.wait_for(handle.result(), 15)  # closed after 2 s without messages
        described = await handle.describe()
        assert {k.name: v for k, v in described.typed_search_attributes}["Stage"] == "closed"
        (cart,) = await customer.text("cart")
        assert body_text(cart) == "Your cart is empty."
        runs = [w async for w in stack.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
        assert len(runs) == 2
