"""The seed guides' conversations, end to end: webhook in, scripted model, real tools."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from tendero.db.models import Order, OrderItem, Ticket
from tests.agent.helpers import (
    MODEL_NAME,
    PASTA,
    agent_world,
    count_rows,
    last_tool_result,
    order_spaghetti,
    seed_order,
    usage_rows,
)
from tests.fakes.model_server import call, dynamic, say
from tests.harness import body_text
from tests.replay.recording import record_history


async def test_pasta_order_with_delivery_and_cash(temporal_env, sessionmaker, database_url, model):
    model.play(
        call(("search_ecommerce_products", {"query": "spaghetti"})),
        dynamic(order_spaghetti),
        say("Done! Please check the summary I just sent and reply CONFIRM to place the order."),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        reply, summary = await ana.text(PASTA, expect=2)
        assert body_text(reply).startswith("Done! Please check the summary")
        text = body_text(summary)
        assert "2 × Spaghetti pack 500g" in text or "2 x Spaghetti pack 500g" in text, text
        assert "123 Main Street" in text and "$10.50" in text and "CONFIRM" in text
        assert await count_rows(sessionmaker, Order, tenant_id=world.shop.tenant_id) == 0

        (placed,) = await ana.text("CONFIRM")
        assert "placed" in body_text(placed), body_text(placed)

        async with sessionmaker() as session:
            (order,) = (
                await session.execute(select(Order).where(Order.tenant_id == world.shop.tenant_id))
            ).scalars()
            (item,) = (
                await session.execute(select(OrderItem).where(OrderItem.order_id == order.id))
            ).scalars()
        assert (order.fulfilment, order.payment_method) == ("delivery", "cash")
        assert order.address == {
            "text": "123 Main Street",
            "latitude": None,
            "longitude": None,
            "name": None,
        }
        assert (item.product_name, item.quantity, item.unit_price) == (
            "Spaghetti pack 500g",
            2,
            Decimal("2.500"),
        )
        assert order.total == Decimal("10.500")  # 5.00 + 5.00 delivery + 0.50 tax
        assert order.business_type == "ecommerce"
        # Three model rounds for the free text, none for CONFIRM.
        assert len(model.requests) == 3
        assert all(r["model"] == MODEL_NAME for r in model.requests)
        steps = await usage_rows(sessionmaker, world.shop.tenant_id)
        assert [(s.kind, s.round) for s in steps] == [("turn", 0), ("turn", 1), ("turn", 2)]
        assert all(s.prompt_tokens > 0 and s.completion_tokens > 0 for s in steps)
        # The model saw the tools of its preset and the customer's own words.
        first = model.requests[0]
        assert {t["function"]["name"] for t in first["tools"]} >= {
            "search_ecommerce_products",
            "create_ecommerce_order",
            "create_ticket_report",
        }
        assert first["messages"][-1] == {"role": "user", "content": PASTA}
        await record_histories(temporal_env.client, order.idempotency_key, "assistant-order")


async def record_histories(client, checkout_id: str, flow: str) -> None:
    """Record the conversation and checkout histories for the replay tests (opt-in)."""
    checkout = client.get_workflow_handle(checkout_id)
    parent = (await checkout.describe()).parent_id
    assert parent is not None
    for workflow_id in (parent, checkout_id):
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        await record_history(workflow_id, history, flow)


async def test_order_status_by_number(temporal_env, sessionmaker, database_url, model):
    model.play(
        call(
            (
                "get_ecommerce_order",
                {
                    "search_type": "order_id",
                    "search_value": "ord-2026-00042",
                    "include_items": True,
                },
            )
        ),
        dynamic(
            lambda request: say(
                f"Order {last_tool_result(request)['orders'][0]['order_number']} is "
                f"{last_tool_result(request)['orders'][0]['status']}."
            )
        ),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        await seed_order(sessionmaker, world.shop, digits=ana.digits, number="ORD-2026-00042")
        (reply,) = await ana.text("Where is my order ORD-2026-00042?")
        assert body_text(reply) == "Order ORD-2026-00042 is confirmed."
        result = last_tool_result(model.requests[1])
        (order,) = result["orders"]
        assert order["total"] == {"text": "$113.90", "amount": "113.900", "currency": "USD"}
        assert order["items"] == [
            {
                "name": "Spaghetti pack 500g",
                "quantity": 2,
                "line_total": {"text": "$5.00", "amount": "5.000", "currency": "USD"},
            }
        ]
        assert [e["event"] for e in order["timeline"]] == ["placed"]
        # The address is never handed to the model.
        assert "Secret Lane" not in str(model.requests[1]["messages"])


async def test_defective_product_ticket_linked_to_order(
    temporal_env, sessionmaker, database_url, model
):
    model.play(
        call(
            (
                "create_ticket_report",
                {
                    "category": "product_defect",
                    "subject": "Broken spaghetti packs",
                    "description": "Both packs arrived torn and the pasta is broken.",
                    "priority": "high",
                    "order_reference": "ORD-2026-00007",
                },
            )
        ),
        dynamic(
            lambda request: say(
                f"I opened ticket {last_tool_result(request)['ticket_number']} for you."
            )
        ),
    )
    async with agent_world(temporal_env.client, sessionmaker, database_url, model) as world:
        ana = world.customer()
        order_id = await seed_order(
            sessionmaker, world.shop, digits=ana.digits, number="ORD-2026-00007"
        )
        (reply,) = await ana.text("My order ORD-2026-00007 arrived with the packs torn open")
        async with sessionmaker() as session:
            (ticket,) = (
                await session.execute(
                    select(Ticket).where(Ticket.tenant_id == world.shop.tenant_id)
                )
            ).scalars()
        assert body_text(reply) == f"I opened ticket {ticket.number} for you."
        assert ticket.number.startswith("TCK-") and ticket.number.endswith("-00001")
        assert (ticket.category, ticket.priority, ticket.status, ticket.source) == (
            "product_defect",
            "high",
            "open",
            "assistant",
        )
        assert ticket.order_id == order_id
        assert ticket.business_type == "ecommerce"
        assert ticket.conversation_id is not None
