"""What the model is given: a small window, a running summary, the customer's language."""

from __future__ import annotations

from sqlalchemy import select

from tendero.db.models import AgentStep, Conversation, Tenant
from tests.agent.helpers import agent_world, last_tool_result
from tests.fakes.model_server import call, dynamic, fail, say
from tests.harness import body_text


def chat_or_summary(request):
    if "tools" not in request:
        return say("SUMMARY: the customer is planning a pasta dinner.")
    turn = request["messages"][-1]["content"]
    return say(f"noted: {turn}")


async def test_long_chats_keep_a_window_and_a_running_summary(
    temporal_env, sessionmaker, database_url, model
):
    model.play(*[dynamic(chat_or_summary) for _ in range(12)])
    async with agent_world(
        temporal_env.client,
        sessionmaker,
        database_url,
        model,
        agent_context_messages=4,
        agent_summary_batch=4,
    ) as world:
        ana = world.customer()
        for k in range(1, 7):
            (reply,) = await ana.text(f"message number {k}")
            assert body_text(reply) == f"noted: message number {k}"
        kinds = ["summary" if "tools" not in r else "turn" for r in model.requests]
        # Turn 5 is the first with 4 messages older than the window: one summary call.
        assert kinds == ["turn"] * 4 + ["summary", "turn", "turn"]
        summary_request = model.requests[4]["messages"][-1]["content"]
        assert "Customer: message number 1" in summary_request
        assert "Assistant: noted: message number 2" in summary_request
        assert "message number 3" not in summary_request
        fifth, sixth = model.requests[5]["messages"], model.requests[6]["messages"]
        for messages, k in ((fifth, 5), (sixth, 6)):
            assert [m["role"] for m in messages] == ["system", "system"] + [
                "user",
                "assistant",
            ] * 2 + ["user"]
            assert messages[1]["content"] == (
                "Summary of the earlier conversation: "
                "SUMMARY: the customer is planning a pasta dinner."
            )
            assert messages[-1]["content"] == f"message number {k}"
            assert messages[2]["content"] == f"message number {k - 2}"
        async with sessionmaker() as session:
            conversation = (
                await session.execute(
                    select(Conversation).where(Conversation.tenant_id == world.shop.tenant_id)
                )
            ).scalar_one()
            steps = (
                await session.execute(
                    select(AgentStep.kind).where(AgentStep.tenant_id == world.shop.tenant_id)
                )
            ).scalars()
            assert sorted(steps) == ["summary"] + ["turn"] * 6
        assert conversation.summary == "SUMMARY: the customer is planning a pasta dinner."


async def test_replies_in_the_customers_language_with_local_money(
    temporal_env, sessionmaker, database_url, model
):
    model.play(
        call(("search_ecommerce_products", {"query": "spaghetti"})),
        dynamic(
            lambda r: say(
                f"Tenemos espagueti a {last_tool_result(r)['products'][0]['price']['text']}."
            )
        ),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        (reply,) = await ana.text("hola, ¿tienen espagueti para la cena?")
        assert body_text(reply) == "Tenemos espagueti a 2,50\xa0US$."
        system = model.requests[0]["messages"][0]["content"]
        assert "Reply in Spanish (español)." in system
        # Guided answers follow the same language.
        (cart,) = await ana.text("carrito")
        assert body_text(cart) == "Tu carrito está vacío."


async def test_language_stays_when_the_shop_does_not_allow_it(
    temporal_env, sessionmaker, database_url, model
):
    model.play(say("We have spaghetti."))
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        async with sessionmaker() as session, session.begin():
            tenant = await session.get_one(Tenant, world.shop.tenant_id)
            tenant.languages = ["en"]
        await world.customer().text("hola, ¿tienen espagueti para la cena?")
        assert "Reply in English." in model.requests[0]["messages"][0]["content"]


async def test_a_preset_change_starts_a_fresh_context(
    temporal_env, sessionmaker, database_url, model
):
    model.play(say("first answer"), say("second answer"))
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        await ana.text("tell me about your pasta")
        async with sessionmaker() as session, session.begin():
            tenant = await session.get_one(Tenant, world.shop.tenant_id)
            tenant.preset = "restaurant"
        await ana.text("and what about dinner")
        second = model.requests[1]["messages"]
        assert [m["role"] for m in second] == ["system", "user"]
        assert "a restaurant taking orders" in second[0]["content"]


async def test_a_failing_summary_does_not_stop_the_answer(
    temporal_env, sessionmaker, database_url, model
):
    def refuse_summaries(request):
        if "tools" not in request:
            return fail(400, "context length exceeded", type_="invalid_request_error")
        return say(f"noted: {request['messages'][-1]['content']}")

    model.play(*[dynamic(refuse_summaries) for _ in range(8)])
    async with agent_world(
        temporal_env.client,
        sessionmaker,
        database_url,
        model,
        agent_context_messages=2,
        agent_summary_batch=2,
    ) as world:
        ana = world.customer()
        for k in range(1, 4):
            (reply,) = await ana.text(f"message number {k}")
            assert body_text(reply) == f"noted: message number {k}"
        kinds = ["summary" if "tools" not in r else "turn" for r in model.requests]
        assert kinds == ["turn", "turn", "summary", "turn"]
