"""Burst merging: rapid text messages from one customer are answered as one turn."""

from __future__ import annotations

from typing import Any

from temporalio.testing import WorkflowEnvironment

from tendero.channels.whatsapp import simulator
from tests.abuse.helpers import conversation_of, digits, inbound, worker_for
from tests.agent.helpers import agent_world
from tests.fakes.model_server import ScriptedModel, say
from tests.harness import Customer, body_text, running_stack
from tests.replay.recording import patch_ids, record_history
from tests.shop import Shop
from workflows.conversation import BURST_PATCH, ConversationWorkflow

WORDS = ["zorblax", "quindle", "frumpet"]


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
