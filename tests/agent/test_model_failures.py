"""A model that is down, slow, rate limited or misconfigured: the guided engine answers."""

from __future__ import annotations

from tendero.db.models import AgentStep
from tests.agent.helpers import agent_world, count_rows
from tests.fakes.model_server import fail, hang, say
from tests.harness import Customer, body_text, rows, running_stack
from tests.shop import make_shop


async def test_server_errors_fall_back_to_guided_answers(
    temporal_env, sessionmaker, database_url, model
):
    model.play(fail(500), fail(502), fail(503), fail(500), fail(500), fail(500))
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        # Three attempts, then the guided engine searches the catalog itself.
        (found,) = await ana.text("do you have spaghetti", timeout_s=30)
        assert [r["title"] for r in rows(found)] == ["Spaghetti pack 500g"]
        assert len(model.requests) == 3
        # When the guided engine cannot help either, it says so politely.
        (sorry,) = await ana.text("qwxz plorf", timeout_s=30)
        assert body_text(sorry).startswith("Sorry, our assistant is unavailable right now")
        assert len(model.requests) == 6
        assert await count_rows(sessionmaker, AgentStep, tenant_id=world.shop.tenant_id) == 0


async def test_timeouts_fall_back(temporal_env, sessionmaker, database_url, model):
    model.play(hang(5), hang(5), hang(5))
    async with agent_world(
        temporal_env.client, sessionmaker, database_url, model, openai_timeout_s=0.5
    ) as world:
        (found,) = await world.customer().text("any penne today", timeout_s=30)
        assert [r["title"] for r in rows(found)] == ["Penne pack 500g"]
        assert len(model.requests) == 3


async def test_rate_limit_is_retried_then_answered(temporal_env, sessionmaker, database_url, model):
    model.play(fail(429, "Rate limit reached", code="rate_limit_exceeded"), say("Hello again!"))
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        (reply,) = await world.customer().text("good morning there")
        assert body_text(reply) == "Hello again!"
        assert len(model.requests) == 2


async def test_wrong_api_key_is_not_retried(temporal_env, sessionmaker, database_url, model):
    model.play(say("never played"))
    async with agent_world(
        temporal_env.client, sessionmaker, database_url, model, openai_api_key="sk-wrong"
    ) as world:
        (found,) = await world.customer().text("do you have spaghetti")
        assert [r["title"] for r in rows(found)] == ["Spaghetti pack 500g"]
        assert len(model.requests) == 1
        assert model.auth_headers == ["Bearer sk-wrong"]
        assert model.remaining == 1


async def test_interactive_replies_and_keywords_never_reach_the_model(
    temporal_env, sessionmaker, database_url, model
):
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        await ana.tap("browse", list_reply=False)
        await ana.text("cart")
        await ana.text("hi")
        await ana.text("CONFIRM")
        await ana.text("help")
        assert model.requests == []


async def test_no_model_configured_means_guided(temporal_env, sessionmaker, database_url, model):
    shop = await make_shop(sessionmaker)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        ana = Customer(stack, shop.phone_number_id, "15550100200")
        (found,) = await ana.text("sunglases")
        assert [r["title"] for r in rows(found)] == ["Sunglasses"]
    assert model.requests == []
