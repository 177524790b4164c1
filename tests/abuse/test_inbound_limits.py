"""Inbound rate limits: a flood is recorded, answered once with a slow-down notice, and
never reaches the engine, the model or the workflow."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import delete
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tendero.channels.whatsapp import simulator
from tendero.db.models import RateLimitHit
from tendero.ratelimit import inbound_customer_key
from tests.abuse.helpers import (
    SLOW_DOWN,
    conversation_of,
    digits,
    fresh_window,
    inbound,
    next_window,
    outcomes,
    same_window,
)
from tests.agent.helpers import agent_world
from tests.fakes.model_server import ScriptedModel, say
from tests.harness import Customer, Stack, body_text, running_stack
from tests.replay.recording import patch_ids, record_history
from tests.shop import Shop
from workflows.conversation import THROTTLE_PATCH, ConversationWorkflow

ACCEPTED = {"messages": 1, "throttled": 0, "duplicates": 0, "statuses": 0, "unknown_number": 0}
THROTTLED = {"messages": 0, "throttled": 1, "duplicates": 0, "statuses": 0, "unknown_number": 0}
DUPLICATE = {"messages": 0, "throttled": 0, "duplicates": 1, "statuses": 0, "unknown_number": 0}


def menu_tap(customer: Customer) -> dict[str, Any]:
    # Interactive taps never merge into one turn: one tap, one turn, one reply.
    return simulator.reply_message(customer.digits, "menu", "Menu", list_reply=False)


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [body_text(r) for r in replies]


async def test_flood_from_one_number(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    limit, flood = 5, 10
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        rate_inbound_per_customer=limit,
        rate_inbound_window_s=3600,
    ) as stack:
        ana = Customer(stack, shop.phone_number_id, digits())
        await fresh_window(3600, need_s=120)
        answers = [(await ana.post(menu_tap(ana))).json() for _ in range(flood)]
        assert answers == [ACCEPTED] * limit + [THROTTLED] * (flood - limit)

        replies = texts(await ana.replies_after(0, expect=limit + 1, settle_s=1.5))
        greeting = "Hi Ana! Welcome to Test Shop. What would you like to do?"
        assert replies == [greeting] * limit + [SLOW_DOWN]

        conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
        statuses = [status for _, status in await inbound(sessionmaker, conversation)]
        assert statuses == ["processed"] * limit + ["throttled"] * (flood - limit)
        assert await outcomes(sessionmaker, ana.wamids) == ["recorded"] * limit + [
            "throttled_notified"
        ] + ["throttled"] * (flood - limit - 1)
        handle = temporal_env.client.get_workflow_handle(conversation.workflow_id)
        state = await handle.query(ConversationWorkflow.state)
        # The notice is no turn; the silent ones never reached the workflow.
        assert state.turns == limit
        assert len(state.seen_message_ids) == limit + 1
        history = await handle.fetch_history()
        assert THROTTLE_PATCH in patch_ids(history.to_json())
        await record_history(conversation.workflow_id, history, "throttle-notice")

        # Meta redelivers a throttled message: acknowledged as a duplicate, nothing sent.
        again = simulator.reply_message(
            ana.digits, "menu", "Menu", list_reply=False, wamid=ana.wamids[-1]
        )
        assert (await ana.post(again)).json() == DUPLICATE

        # Another customer of the same shop is not affected.
        bea = Customer(stack, shop.phone_number_id, digits(), name="Bea Test")
        (reply,) = await bea.send(menu_tap(bea))
        assert body_text(reply) == "Hi Bea! Welcome to Test Shop. What would you like to do?"

        await asyncio.sleep(0.5)
        assert len(stack.graph.sent_to(ana.digits)) == limit + 1


async def test_tenant_limit_tells_each_customer_once(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        rate_inbound_per_customer=100,
        rate_inbound_per_tenant=4,
        rate_inbound_window_s=3600,
    ) as stack:
        await fresh_window(3600, need_s=120)
        ana = Customer(stack, shop.phone_number_id, digits())
        bea = Customer(stack, shop.phone_number_id, digits(), name="Bea Test")
        assert [(await ana.post(menu_tap(ana))).json() for _ in range(3)] == [ACCEPTED] * 3
        assert [(await bea.post(menu_tap(bea))).json() for _ in range(3)] == [
            ACCEPTED,
            THROTTLED,
            THROTTLED,
        ]
        assert (await ana.post(menu_tap(ana))).json() == THROTTLED
        assert texts(await ana.replies_after(0, expect=4, settle_s=0))[-1] == SLOW_DOWN
        assert texts(await bea.replies_after(0, expect=2, settle_s=1.5))[-1] == SLOW_DOWN
        assert len(stack.graph.sent_to(ana.digits)) == 4
        assert len(stack.graph.sent_to(bea.digits)) == 2
        ana_chat = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
        bea_chat = await conversation_of(sessionmaker, shop.tenant_id, bea.digits)
        assert [s for _, s in await inbound(sessionmaker, ana_chat)] == ["processed"] * 3 + [
            "throttled"
        ]
        assert [s for _, s in await inbound(sessionmaker, bea_chat)] == [
            "processed",
            "throttled",
            "throttled",
        ]


async def test_a_new_window_accepts_again_and_notices_only_a_new_flood(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    window_s = 6
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        rate_inbound_per_customer=3,
        rate_inbound_window_s=window_s,
    ) as stack:
        ana = Customer(stack, shop.phone_number_id, digits())
        first = await fresh_window(window_s, need_s=window_s - 0.5)
        answers = [(await ana.post(menu_tap(ana))).json() for _ in range(5)]
        assert same_window(first, window_s), "the machine is too slow for this window"
        assert answers == [ACCEPTED] * 3 + [THROTTLED] * 2
        assert texts(await ana.replies_after(0, expect=4, settle_s=0))[-1] == SLOW_DOWN

        # The next window: three are accepted again, and no notice without a new flood.
        second = await next_window(first, window_s)
        assert second == first + timedelta(seconds=window_s), "the machine is too slow"
        answers = [(await ana.post(menu_tap(ana))).json() for _ in range(3)]
        assert answers == [ACCEPTED] * 3
        replies = texts(await ana.replies_after(4, expect=3, settle_s=0.5))
        assert SLOW_DOWN not in replies
        answers = [(await ana.post(menu_tap(ana))).json() for _ in range(2)]
        assert same_window(second, window_s), "the machine is too slow for this window"
        assert answers == [THROTTLED] * 2
        assert texts(await ana.replies_after(7, expect=1, settle_s=1.5)) == [SLOW_DOWN]
        assert texts(stack.graph.sent_to(ana.digits)).count(SLOW_DOWN) == 2
        assert len(stack.graph.sent_to(ana.digits)) == 8


async def test_throttled_texts_never_reach_the_model(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    with ScriptedModel() as model:
        model.play(say("Hello! What can I get you?"), say("Sure, two packs."))
        async with agent_world(
            temporal_env.client,
            sessionmaker,
            database_url,
            model,
            rate_inbound_per_customer=1,
            rate_inbound_window_s=3600,
        ) as world:
            await fresh_window(3600, need_s=120)
            ana = world.customer()
            (reply,) = await ana.text("good evening, do you sell pasta")
            assert body_text(reply) == "Hello! What can I get you?"
            flood = [f"flood message number {i}" for i in range(4)]
            answers = [
                (await ana.post(simulator.text_message(ana.digits, text))).json() for text in flood
            ]
            assert answers == [THROTTLED] * 4
            assert texts(await ana.replies_after(1, expect=1, settle_s=1.5)) == [SLOW_DOWN]
            assert len(model.requests) == 1

            # The next window (here: the customer's counter gone, as retention drops it).
            async with sessionmaker() as session, session.begin():
                conversation = await conversation_of(sessionmaker, world.shop.tenant_id, ana.digits)
                await session.execute(
                    delete(RateLimitHit).where(
                        RateLimitHit.key == inbound_customer_key(conversation.customer_id)
                    )
                )
            (reply,) = await ana.text("then two packs of spaghetti please")
            assert body_text(reply) == "Sure, two packs."
            assert len(model.requests) == 2
            seen = [m.get("content") for m in model.requests[1]["messages"]]
            assert "good evening, do you sell pasta" in seen
            assert "then two packs of spaghetti please" in seen
            assert not any(text in str(seen) for text in flood)


async def test_a_concurrent_flood_through_two_api_processes_is_counted_exactly(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    # Two apps, each with its own engine and pool, as two API processes sharing Postgres.
    limit, flood = 5, 24
    overrides: dict[str, Any] = {
        "rate_inbound_per_customer": limit,
        "rate_inbound_window_s": 3600,
    }
    async with running_stack(temporal_env.client, sessionmaker, database_url, **overrides) as stack:
        other_app = create_app(stack.settings, temporal=temporal_env.client)
        async with (
            other_app.router.lifespan_context(other_app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=other_app), base_url="http://tendero.test"
            ) as other_http,
        ):
            ana = Customer(stack, shop.phone_number_id, digits())
            await fresh_window(3600, need_s=120)
            # The first message creates the customer; the rest arrive all at once.
            assert (await ana.post(menu_tap(ana))).json() == ACCEPTED
            twin = Customer(
                Stack(stack.settings, other_http, stack.graph, stack.client, stack.sessions),
                shop.phone_number_id,
                ana.digits,
            )
            answers = await asyncio.gather(
                *((ana if i % 2 else twin).post(menu_tap(ana)) for i in range(flood - 1))
            )
            wamids = ana.wamids + twin.wamids
            assert all(a.status_code == 200 for a in answers)
            results = [ACCEPTED] + [a.json() for a in answers]
            assert results.count(ACCEPTED) == limit
            assert results.count(THROTTLED) == flood - limit

            found = await outcomes(sessionmaker, wamids)
            assert sorted(found) == sorted(
                ["recorded"] * limit + ["throttled_notified"] + ["throttled"] * (flood - limit - 1)
            )
            replies = texts(await ana.replies_after(0, expect=limit + 1, settle_s=1.5))
            greeting = "Hi Ana! Welcome to Test Shop. What would you like to do?"
            assert sorted(replies) == sorted([greeting] * limit + [SLOW_DOWN])
            conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
            statuses = [status for _, status in await inbound(sessionmaker, conversation)]
            assert sorted(statuses) == sorted(
                ["processed"] * limit + ["throttled"] * (flood - limit)
            )
            state = await temporal_env.client.get_workflow_handle(conversation.workflow_id).query(
                ConversationWorkflow.state
            )
            assert (state.turns, len(state.seen_message_ids)) == (limit, limit + 1)
