"""Tool calls: several per round, invalid arguments, made-up ids, the bound on rounds."""

from __future__ import annotations

from sqlalchemy import select

from tendero.db.models import AgentToolCall, Cart, CartItem, Order, Product, ProductVariant
from tests import shop as test_shop
from tests.agent.helpers import (
    agent_world,
    count_rows,
    last_tool_result,
    product_id_named,
    tool_messages,
)
from tests.fakes.model_server import Call, ToolCall, call, dynamic, say
from tests.harness import body_text
from tests.shop import make_shop


async def cart_lines(sessionmaker, tenant_id) -> dict[str, int]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Product.name, CartItem.quantity)
            .join(Cart, Cart.id == CartItem.cart_id)
            .join(ProductVariant, ProductVariant.id == CartItem.variant_id)
            .join(Product, Product.id == ProductVariant.product_id)
            .where(Cart.tenant_id == tenant_id)
        )
        return {str(name): int(quantity) for name, quantity in rows.all()}


async def test_several_tool_calls_in_one_round(temporal_env, sessionmaker, database_url, model):
    def add_both(request):
        spaghetti, sauce = tool_messages(request)
        return call(
            (
                "add_to_cart",
                {"product_id": product_id_named(spaghetti, "Spaghetti"), "quantity": 3},
            ),
            ("add_to_cart", {"product_id": product_id_named(sauce, "Tomato"), "quantity": 1}),
            ("view_cart", {}),
        )

    model.play(
        call(
            ("search_ecommerce_products", {"query": "spaghetti", "limit": 3}),
            ("search_ecommerce_products", {"query": "tomato sauce", "limit": 3}),
        ),
        dynamic(add_both),
        dynamic(lambda r: say(f"Your cart: {last_tool_result(r)['cart']['subtotal']['text']}")),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        (reply,) = await world.customer().text("3 spaghetti and a tomato sauce please")
        assert body_text(reply) == "Your cart: $10.60"
        assert await cart_lines(sessionmaker, world.shop.tenant_id) == {
            "Spaghetti pack 500g": 3,
            "Tomato sauce jar": 1,
        }
        # Both search results came back, in call order, each answering its own call id.
        second = model.requests[1]["messages"]
        assistant = second[-3]
        ids = [c["id"] for c in assistant["tool_calls"]]
        assert [m["tool_call_id"] for m in second[-2:]] == ids
        third = model.requests[2]["messages"]
        assert [m["role"] for m in third[-4:]] == ["assistant", "tool", "tool", "tool"]
        assert len(model.requests) == 3


async def test_malformed_arguments_come_back_as_tool_errors(
    temporal_env, sessionmaker, database_url, model
):
    model.play(
        call(
            ("add_to_cart", '{"product_id": "abc", "quantity": '),  # not JSON
            ("add_to_cart", {"product_id": "x", "quantity": 0}),  # out of range
            ("search_ecommerce_products", {"query": "pasta", "limit": 50, "colour": "red"}),
            ("add_to_cart", "[1, 2]"),  # JSON, but not an object
            ("search_ecommerce_products", '{"query": "pasta\\u0000"}'),  # NUL: never a query
        ),
        say("Sorry, let me try that again: which pasta would you like?"),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        (reply,) = await world.customer().text("add pasta")
        assert body_text(reply).startswith("Sorry, let me try that again")
        not_json, zero, extra, array, nul = tool_messages(model.requests[1])
        assert nul == {
            "error": "invalid_arguments",
            "message": "The arguments contain a NUL character.",
        }
        assert not_json["error"] == "invalid_arguments"
        assert "not valid JSON" in not_json["message"]
        assert zero["error"] == "invalid_arguments"
        assert [p["field"] for p in zero["problems"]] == ["quantity"]
        assert extra["error"] == "invalid_arguments"
        assert sorted(p["field"] for p in extra["problems"]) == ["colour", "limit"]
        assert array == {
            "error": "invalid_arguments",
            "message": "The arguments must be a JSON object.",
        }
        assert await cart_lines(sessionmaker, world.shop.tenant_id) == {}
        async with sessionmaker() as session:
            statuses = (
                await session.execute(
                    select(AgentToolCall.status).where(
                        AgentToolCall.tenant_id == world.shop.tenant_id
                    )
                )
            ).scalars()
            assert list(statuses) == ["error"] * 5


async def test_made_up_ids_and_unknown_tools(temporal_env, sessionmaker, database_url, model):
    other = await make_shop(sessionmaker)
    foreign_product = str(await other.product_id(sessionmaker, "Sunglasses"))
    model.play(
        call(
            ("add_to_cart", {"product_id": "3f2c9a9e-1111-4c4c-8888-000000000000", "quantity": 1}),
            ("add_to_cart", {"product_id": foreign_product, "quantity": 1}),
            ("add_to_cart", {"product_id": "spaghetti", "quantity": 1}),
            ("delete_all_orders", {}),
            ("create_ecommerce_order", {"items": [{"product_id": foreign_product, "quantity": 1}]}),
        ),
        say("I couldn't find that product. Could you tell me its name?"),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        (reply,) = await world.customer().text("add product 3f2c9a9e to my cart")
        assert body_text(reply).startswith("I couldn't find that product")
        missing, foreign, garbage, unknown_tool, order = tool_messages(model.requests[1])
        assert missing == foreign == garbage
        assert missing["error"] == "unknown_product"
        assert unknown_tool == {"error": "unknown_tool", "message": "No tool 'delete_all_orders'."}
        assert order["error"] == "unknown_product"
        assert await cart_lines(sessionmaker, world.shop.tenant_id) == {}
        assert await count_rows(sessionmaker, Order, tenant_id=world.shop.tenant_id) == 0


async def test_rounds_are_bounded(temporal_env, sessionmaker, database_url, model):
    # A model that keeps calling tools: after AGENT_MAX_TOOL_ROUNDS the last round forbids
    # tools, and whatever it says then is the reply.
    model.play(*[call(("view_cart", {})) for _ in range(2)], say("Your cart is empty."))
    async with agent_world(
        temporal_env.client, sessionmaker, database_url, model, agent_max_tool_rounds=2
    ) as world:
        (reply,) = await world.customer().text("what is in my cart, check it twice")
        assert body_text(reply) == "Your cart is empty."
        assert [r.get("tool_choice") for r in model.requests] == ["auto", "auto", "none"]
        assert model.remaining == 0


async def test_tool_calls_in_the_last_round_are_not_run(
    temporal_env, sessionmaker, database_url, model
):
    # A server that ignores tool_choice "none": its calls are dropped and a polite reply goes.
    model.play(call(("view_cart", {})), call(("view_cart", {})))
    async with agent_world(
        temporal_env.client, sessionmaker, database_url, model, agent_max_tool_rounds=1
    ) as world:
        (reply,) = await world.customer().text("show my cart please now")
        assert body_text(reply).startswith("Sorry, I couldn't work that out.")
        assert await count_rows(sessionmaker, AgentToolCall, tenant_id=world.shop.tenant_id) == 1


async def test_variant_required_lists_the_choices(temporal_env, sessionmaker, database_url, model):
    def add_hoodie(request):
        return call(
            ("add_to_cart", {"product_id": product_id_named(last_tool_result(request), "Hoodie")})
        )

    model.play(
        call(("search_ecommerce_products", {"query": "hoodie"})),
        dynamic(add_hoodie),
        say("Which colour and size?"),
    )
    async with agent_world(
        temporal_env.client, sessionmaker, database_url, model, catalog=test_shop.test_catalog()
    ) as world:
        (reply,) = await world.customer().text("I want the hoodie")
        assert body_text(reply) == "Which colour and size?"
        result = last_tool_result(model.requests[2])
        assert result["error"] == "variant_required"
        assert [(v["label"], v["available"]) for v in result["variants"]] == [
            ("Blue, Large", True),
            ("Blue, Medium", False),
            ("Red, Large", True),
        ]
        assert await cart_lines(sessionmaker, world.shop.tenant_id) == {}


async def test_missing_or_repeated_call_ids_are_made_unique(
    temporal_env, sessionmaker, database_url, model
):
    # Some OpenAI-compatible servers send empty or repeated ids for parallel calls.
    model.play(
        Call((ToolCall("", "view_cart", "{}"), ToolCall("", "view_cart", "{}"))),
        Call((ToolCall("dup", "view_cart", "{}"), ToolCall("dup", "view_cart", "{}"))),
        say("Your cart is empty."),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        (reply,) = await world.customer().text("check my cart twice please")
        assert body_text(reply) == "Your cart is empty."
        second, third = model.requests[1]["messages"], model.requests[2]["messages"]
        assert [c["id"] for c in second[-3]["tool_calls"]] == ["call_0_0", "call_0_1"]
        assert [m["tool_call_id"] for m in second[-2:]] == ["call_0_0", "call_0_1"]
        assert [c["id"] for c in third[-3]["tool_calls"]] == ["dup", "call_1_1"]
        assert [m["tool_call_id"] for m in third[-2:]] == ["dup", "call_1_1"]
