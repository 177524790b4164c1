"""Burst merging: rapid text messages from one customer are answered as one turn."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from tendero.channels.whatsapp import simulator
from tendero.db.models import Order
from tendero.identity import REDACTED_CODE
from tests.abuse.helpers import conversation_of, digits, inbound, worker_for
from tests.agent.helpers import agent_world, seed_order
from tests.fakes.model_server import ScriptedModel, say
from tests.fakes.smtp import SmtpSink
from tests.harness import Customer, body_text, reach_summary, running_stack
from tests.replay.recording import patch_ids, record_history
from tests.shop import Shop, make_shop
from workflows.conversation import BURST_PATCH, ConversationWorkflow

WORDS = ["zorblax", "quindle", "frumpet"]


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [body_text(r) for r in replies]


def nothing_for(query: str) -> str:
    return f"I couldn't find anything for “{query}”. Try another word, or browse the catalog."


async def post_texts(customer: Customer, words: list[str]) -> None:
    for word in words:
        response = await customer.post(simulator.text_message(customer.digits, word))
        assert response.status_code == 200 and response.json()["messages"] == 1


async def turns_of(env: WorkflowEnvironment, workflow_id: str) -> int:
    state = await env.client.get_workflow_handle(workflow_id).query(ConversationWorkflow.state)
    return state.turns


async def test_rapid_texts_are_one_turn_within_the_window(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    # Posting three webhooks takes well under the window; the turn waits for the last one.
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, burst_merge_window_ms=3000
    ) as stack:
        ana = Customer(stack, shop.phone_number_id, digits())
        await post_texts(ana, WORDS)
        (reply,) = await ana.replies_after(0, expect=1, settle_s=3.5)
        assert body_text(reply) == nothing_for("\n".join(WORDS))
        conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
        # The transcript keeps every message as written.
        assert await inbound(sessionmaker, conversation) == [
            ("zorblax", "merged"),
            ("quindle", "merged"),
            ("frumpet", "processed"),
        ]
        assert await turns_of(temporal_env, conversation.workflow_id) == 1

        # A later text, after the window, is a turn of its own.
        (reply,) = await ana.text("blorptic", settle_s=0.5)
        assert body_text(reply) == nothing_for("blorptic")
        assert await turns_of(temporal_env, conversation.workflow_id) == 2
        history = await temporal_env.client.get_workflow_handle(
            conversation.workflow_id
        ).fetch_history()
        assert BURST_PATCH in patch_ids(history.to_json())
        await record_history(conversation.workflow_id, history, "burst-merge")


async def test_waiting_texts_merge_but_a_tap_in_between_does_not(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    # No window: only messages already waiting when a turn starts merge. They all wait here,
    # because the worker starts after the webhooks were recorded and signalled.
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, with_worker=False
    ) as stack:
        assert stack.settings.burst_merge_window_ms == 0
        ana = Customer(stack, shop.phone_number_id, digits())
        await post_texts(ana, WORDS[:2])
        tap = simulator.reply_message(ana.digits, "menu", "Menu", list_reply=False)
        assert (await ana.post(tap)).json()["messages"] == 1
        await post_texts(ana, WORDS[2:])
        async with worker_for(stack, temporal_env.client):
            replies = await ana.replies_after(0, expect=3, settle_s=1.0)
            conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
            assert await turns_of(temporal_env, conversation.workflow_id) == 3
        assert [body_text(r) for r in replies] == [
            nothing_for("zorblax\nquindle"),
            "Hi Ana! Welcome to Test Shop. What would you like to do?",
            nothing_for("frumpet"),
        ]
        assert await inbound(sessionmaker, conversation) == [
            ("zorblax", "merged"),
            ("quindle", "processed"),
            (None, "processed"),
            ("frumpet", "processed"),
        ]


async def test_a_burst_reaches_the_model_once(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    with ScriptedModel() as model:
        model.play(say("Two packs of spaghetti, coming up. Delivery or pickup?"))
        async with agent_world(
            temporal_env.client, sessionmaker, database_url, model, burst_merge_window_ms=3000
        ) as world:
            ana = world.customer()
            lines = ["good evening", "I would like spaghetti", "two packs please"]
            await post_texts(ana, lines)
            (reply,) = await ana.replies_after(0, expect=1, settle_s=3.5)
            assert body_text(reply) == "Two packs of spaghetti, coming up. Delivery or pickup?"
            assert len(model.requests) == 1
            users: list[Any] = [
                m["content"] for m in model.requests[0]["messages"] if m["role"] == "user"
            ]
            assert users[-3:] == lines


async def test_an_address_typed_in_two_messages_is_one_address(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, burst_merge_window_ms=3000
    ) as stack:
        ana = Customer(stack, shop.phone_number_id, digits())
        sun = await shop.variant(sessionmaker, "SUN-1")
        await ana.tap(f"qty:{sun.id}:1")
        await ana.tap("checkout", list_reply=False)
        await ana.tap("ful:delivery", list_reply=False)
        before = len(stack.graph.sent_to(ana.digits))
        await post_texts(ana, ["Calle Mayor 12, 3B", "28013 Madrid"])
        (ask_payment,) = await ana.replies_after(before, expect=1, settle_s=3.5)
        assert body_text(ask_payment) == "How would you like to pay?"
        (summary,) = await ana.tap("pay:cash", list_reply=False)
        assert "Delivery to: Calle Mayor 12, 3B\n28013 Madrid\n" in body_text(summary)
        conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
        assert (await inbound(sessionmaker, conversation))[-3:] == [
            ("Calle Mayor 12, 3B", "merged"),
            ("28013 Madrid", "processed"),
            (None, "processed"),
        ]


async def test_confirm_in_a_burst_is_answered_alone_and_places_one_order(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url, shop: Shop
) -> None:
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, burst_merge_window_ms=3000
    ) as stack:
        ana = Customer(stack, shop.phone_number_id, digits())
        sun = await shop.variant(sessionmaker, "SUN-1")
        await reach_summary(ana, [(str(sun.id), 1)])
        before = len(stack.graph.sent_to(ana.digits))
        await post_texts(ana, ["looks good", "CONFIRM"])
        replies = texts(await ana.replies_after(before, expect=1, settle_s=3.5))
        assert len(replies) == 1 and "placed. Total" in replies[0], replies
        async with sessionmaker() as session:
            orders = await session.scalar(
                select(func.count()).select_from(Order).where(Order.tenant_id == shop.tenant_id)
            )
        assert orders == 1
        conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
        assert (await inbound(sessionmaker, conversation))[-2:] == [
            ("looks good", "merged"),
            ("CONFIRM", "processed"),
        ]


async def test_a_code_in_a_burst_is_answered_alone_and_kept_out_of_the_transcript(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    shop = await make_shop(sessionmaker)
    await seed_order(
        sessionmaker, shop, digits="15550007777", number="ORD-2026-00902", email="ana@example.com"
    )
    with SmtpSink() as smtp:
        async with running_stack(
            temporal_env.client,
            sessionmaker,
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            burst_merge_window_ms=3000,
        ) as stack:
            ana = Customer(stack, shop.phone_number_id, digits())
            await ana.text("verify", settle_s=3.2)
            await ana.text("ana@example.com", settle_s=3.2)
            for _ in range(200):
                if smtp.messages:
                    break
                await asyncio.sleep(0.05)
            (mail,) = smtp.messages
            body = mail.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"\b(\d{6})\b", body.get_content())
            assert found is not None
            code = found.group(1)

            before = len(stack.graph.sent_to(ana.digits))
            await post_texts(ana, [code, "thanks!"])
            replies = texts(await ana.replies_after(before, expect=2, settle_s=3.5))
            assert replies[0] == "✅ Verified: a***@example.com."
            assert "ORD-2026-00902" in replies[1] and len(replies) == 2
            conversation = await conversation_of(sessionmaker, shop.tenant_id, ana.digits)
            transcript = await inbound(sessionmaker, conversation)
            assert transcript[-2:] == [(REDACTED_CODE, "merged"), ("thanks!", "processed")]
            assert not any(code in (text or "") for text, _ in transcript)
