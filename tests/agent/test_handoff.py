"""Hand-off: the bot stops answering free text until an operator gives it back."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from tendero.channels.whatsapp import simulator
from tendero.db.models import Conversation, Message
from tendero.domain.conversation import ConversationInput, Owner
from tests.agent.helpers import agent_world
from tests.fakes.model_server import call, say
from tests.harness import body_text
from tests.replay.recording import record_history
from workflows.conversation import ConversationWorkflow

OPERATOR = {"Authorization": "Bearer dev-admin-token"}


async def conversation_of(sessionmaker, tenant_id) -> Conversation:
    async with sessionmaker() as session:
        return (
            await session.execute(select(Conversation).where(Conversation.tenant_id == tenant_id))
        ).scalar_one()


async def workflow_state(client, conversation: Conversation) -> ConversationInput:
    handle = client.get_workflow_handle(conversation.workflow_id)
    return await handle.query(ConversationWorkflow.state)


async def test_request_human_agent_then_operator_returns_it(
    temporal_env, sessionmaker, database_url, model
):
    client = temporal_env.client
    model.play(
        call(("request_human_agent", {"reason": "wants to negotiate a bulk price"})),
        say("A person from our team will answer you here soon."),
    )
    async with agent_world(client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        (reply,) = await ana.text("I want to talk about a bulk price with someone")
        assert body_text(reply) == "A person from our team will answer you here soon."
        conversation = await conversation_of(sessionmaker, world.shop.tenant_id)
        assert conversation.owner == "waiting_for_human"
        state = await workflow_state(client, conversation)
        assert (state.owner, state.stage) == (Owner.WAITING_FOR_HUMAN, "handoff")

        # Free text now gets no bot answer and costs nothing; it is still recorded.
        before = len(world.stack.graph.sent_to(ana.digits))
        response = await ana.post(simulator.text_message(ana.digits, "hello? anyone there?"))
        assert response.status_code == 200
        await asyncio.sleep(1.5)
        assert len(world.stack.graph.sent_to(ana.digits)) == before
        assert len(model.requests) == 2
        async with sessionmaker() as session:
            texts = (
                await session.execute(
                    select(Message.text).where(
                        Message.conversation_id == conversation.id, Message.direction == "in"
                    )
                )
            ).scalars()
            assert "hello? anyone there?" in list(texts)

        http = world.stack.http
        path = f"/api/conversations/{conversation.id}/owner"
        assert (await http.post(path, json={"owner": "bot"})).status_code == 401
        bad = await http.post(path, json={"owner": "bot"}, headers={"Authorization": "Bearer x"})
        assert bad.status_code == 401
        answer = await http.post(path, json={"owner": "bot"}, headers=OPERATOR)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "conversation_id": str(conversation.id),
            "owner": "bot",
            "workflow_running": True,
        }
        (notice,) = await ana.replies_after(before, expect=1)
        assert body_text(notice) == "You're chatting with our assistant again. How can I help?"
        again = await http.post(path, json={"owner": "bot"}, headers=OPERATOR)
        assert again.status_code == 409
        assert "already bot" in again.json()["detail"]

        model.play(say("Sure, what do you need?"))
        (reply,) = await ana.text("ok thanks, I need pasta")
        assert body_text(reply) == "Sure, what do you need?"
        state = await workflow_state(client, conversation)
        assert state.owner is Owner.BOT
        info = await http.get(f"/api/conversations/{conversation.id}", headers=OPERATOR)
        assert info.status_code == 200
        usage = info.json()["usage"]
        assert usage["calls"] == 3 and usage["total_tokens"] > 0
        assert info.json()["owner"] == "bot"
        history = await client.get_workflow_handle(conversation.workflow_id).fetch_history()
        await record_history(conversation.workflow_id, history, "assistant-handoff")


async def test_agent_keyword_hands_off_without_the_model(
    temporal_env, sessionmaker, database_url, model
):
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        (reply,) = await ana.text("agent")
        assert body_text(reply).startswith("I've asked a person from our team to take over.")
        conversation = await conversation_of(sessionmaker, world.shop.tenant_id)
        assert conversation.owner == "waiting_for_human"
        # Checkout answers still reach the guided engine while a person owns the chat.
        (confirm,) = await ana.text("CONFIRM")
        assert body_text(confirm).startswith("There is no order summary waiting for confirmation.")
        assert model.requests == []
        # An operator takes it: the customer is told a person is here.
        before = len(world.stack.graph.sent_to(ana.digits))
        answer = await world.stack.http.post(
            f"/api/conversations/{conversation.id}/owner",
            json={"owner": "human"},
            headers=OPERATOR,
        )
        assert answer.status_code == 200
        (notice,) = await ana.replies_after(before, expect=1)
        assert body_text(notice) == "A person from our team is now in this chat."
        state = await workflow_state(temporal_env.client, conversation)
        assert (state.owner, state.stage) == (Owner.HUMAN, "human")


async def test_unknown_conversation_is_404(temporal_env, sessionmaker, database_url, model):
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        missing = "00000000-0000-4000-8000-000000000000"
        answer = await world.stack.http.post(
            f"/api/conversations/{missing}/owner", json={"owner": "bot"}, headers=OPERATOR
        )
        assert answer.status_code == 404
        bad = await world.stack.http.post(
            f"/api/conversations/{missing}/owner", json={"owner": "closed"}, headers=OPERATOR
        )
        assert bad.status_code == 422
