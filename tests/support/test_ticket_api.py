"""A customer opens a ticket on WhatsApp; an agent handles it through /api/v2/tickets."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import Conversation, Message, Ticket, TicketEvent
from tests.api.v2 import user_token
from tests.harness import Customer, Stack, body_text, buttons, rows, running_stack
from tests.shop import Shop, make_shop

ANA = "15550003333"


async def open_by_help(ana: Customer) -> str:
    """The guided help path: help -> Report a problem -> category -> description."""
    (help_,) = await ana.text("help")
    assert [b["id"] for b in buttons(help_)] == ["ticket:new", "menu"]
    (categories,) = await ana.tap("ticket:new", list_reply=False)
    assert [r["id"] for r in rows(categories)][:2] == [
        "tcat:product_inquiry",
        "tcat:return_exchange",
    ]
    (describe,) = await ana.tap("tcat:product_defect")
    assert body_text(describe).startswith("Please describe the problem")
    (opened,) = await ana.text("My blender arrived with a cracked jar")
    text = body_text(opened)
    assert text.startswith("🎫 Ticket *TCK-") and text.endswith(
        "is open. Our team will answer here."
    )
    return text.split("*")[1]


async def kinds(sessions: async_sessionmaker[AsyncSession], shop: Shop, number: str) -> list[str]:
    async with sessions() as session:
        found = await session.execute(
            select(TicketEvent.kind)
            .join(Ticket, Ticket.id == TicketEvent.ticket_id)
            .where(Ticket.tenant_id == shop.tenant_id, Ticket.number == number)
            .order_by(TicketEvent.at, TicketEvent.created_at)
        )
        return list(found.scalars())


async def wait_kinds(stack: Stack, shop: Shop, number: str, expected: list[str]) -> None:
    for _ in range(200):
        if await kinds(stack.sessions, shop, number) == expected:
            return
        await asyncio.sleep(0.05)
    assert await kinds(stack.sessions, shop, number) == expected


async def test_ticket_from_help_to_rating_and_reopen(temporal_env, sessionmaker, database_url):
    shop = await make_shop(sessionmaker)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        ana = Customer(stack, shop.phone_number_id, ANA)
        number = await open_by_help(ana)
        await wait_kinds(stack, shop, number, ["created"])
        agent, headers = await user_token(stack, shop, "agent")

        page = (await stack.http.get("/api/v2/tickets", headers=headers)).json()
        assert page["total"] == 1 and page["items"][0]["number"] == number
        assert page["items"][0]["category"] == "product_defect"

        before = len(stack.graph.sent_to(ANA))
        answer = await stack.http.post(f"/api/v2/tickets/{number}/assign", json={}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "assigned"
        (notice,) = await ana.replies_after(before, expect=1)
        assert (
            body_text(notice) == f"Test User from Test Shop is now handling your ticket *{number}*."
        )

        before = len(stack.graph.sent_to(ANA))
        answer = await stack.http.post(
            f"/api/v2/tickets/{number}/reply",
            json={"text": "Sorry! A new jar is on its way."},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        (reply,) = await ana.replies_after(before, expect=1)
        assert body_text(reply) == f"*Test User* ({number}): Sorry! A new jar is on its way."

        note = await stack.http.post(
            f"/api/v2/tickets/{number}/notes", json={"text": "Courier ref 123"}, headers=headers
        )
        assert note.status_code == 200
        before = len(stack.graph.sent_to(ANA))
        answer = await stack.http.post(
            f"/api/v2/tickets/{number}/state", json={"state": "resolved"}, headers=headers
        )
        assert answer.status_code == 200 and answer.json()["state"] == "resolved"
        (resolved,) = await ana.replies_after(before, expect=1)
        assert [b["id"] for b in buttons(resolved)] == [
            f"csat:{number}:3",
            f"csat:{number}:2",
            f"csat:{number}:1",
        ]
        (thanks,) = await ana.tap(f"csat:{number}:3", list_reply=False)
        assert body_text(thanks) == "Thank you for your feedback!"
        expected = ["created", "assigned", "agent_reply", "note", "state_changed", "rated"]
        await wait_kinds(stack, shop, number, expected)

        # A message on the resolved ticket reopens it (the bot also answers as usual).
        await ana.text("the new jar is cracked too", expect=2)
        await wait_kinds(stack, shop, number, [*expected, "reopened"])
        detail = (await stack.http.get(f"/api/v2/tickets/{number}", headers=headers)).json()
        assert detail["status"] == "assigned"
        assert detail["satisfaction"] == 3
        assert detail["assignee_id"] == str(agent.id)
        assert detail["description"] == "My blender arrived with a cracked jar"
        notes = [e for e in detail["events"] if e["kind"] == "note"]
        assert notes[0]["text"] == "Courier ref 123"
        transcript = [m["text"] for m in detail["transcript"]]
        assert "My blender arrived with a cracked jar" in transcript
        assert "Courier ref 123" not in transcript  # internal notes never reach the chat
        sent = [body_text(r) for r in stack.graph.sent_to(ANA)]
        assert not any("Courier ref" in text for text in sent)


async def test_agent_reply_outside_the_24_hour_window_is_refused(
    temporal_env, sessionmaker, database_url
):
    shop = await make_shop(sessionmaker)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        ana = Customer(stack, shop.phone_number_id, ANA)
        number = await open_by_help(ana)
        await wait_kinds(stack, shop, number, ["created"])
        _, headers = await user_token(stack, shop, "agent")
        async with sessionmaker() as session, session.begin():
            conversation = (
                await session.execute(
                    select(Conversation).where(Conversation.tenant_id == shop.tenant_id)
                )
            ).scalar_one()
            conversation.last_inbound_at = datetime.now(UTC) - timedelta(hours=24, minutes=1)
        before = len(stack.graph.sent_to(ANA))
        async with sessionmaker() as session:
            stored_before = await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "out")
            )
        answer = await stack.http.post(
            f"/api/v2/tickets/{number}/reply", json={"text": "Hello?"}, headers=headers
        )
        assert answer.status_code == 409
        assert answer.json()["detail"]["code"] == "window_closed"
        await asyncio.sleep(0.5)
        assert len(stack.graph.sent_to(ANA)) == before
        async with sessionmaker() as session:
            stored_after = await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "out")
            )
        assert stored_after == stored_before
        assert await kinds(sessionmaker, shop, number) == ["created"]
        # The ticket still takes other changes.
        note = await stack.http.post(
            f"/api/v2/tickets/{number}/notes", json={"text": "asked by e-mail"}, headers=headers
        )
        assert note.status_code == 200


async def test_another_shops_agent_cannot_touch_a_ticket(temporal_env, sessionmaker, database_url):
    shop_a = await make_shop(sessionmaker)
    shop_b = await make_shop(sessionmaker)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        ana = Customer(stack, shop_a.phone_number_id, ANA)
        number = await open_by_help(ana)
        await wait_kinds(stack, shop_a, number, ["created"])
        _, b_headers = await user_token(stack, shop_b, "admin")
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("GET", f"/api/v2/tickets/{number}", None),
            ("POST", f"/api/v2/tickets/{number}/assign", {}),
            ("POST", f"/api/v2/tickets/{number}/reply", {"text": "hi"}),
            ("POST", f"/api/v2/tickets/{number}/state", {"state": "closed"}),
            ("POST", f"/api/v2/tickets/{number}/notes", {"text": "x"}),
        ]
        for method, path, body in calls:
            answer = await stack.http.request(method, path, json=body, headers=b_headers)
            assert answer.status_code == 404, (method, path, answer.text)
        page = (await stack.http.get("/api/v2/tickets", headers=b_headers)).json()
        assert page == {"total": 0, "items": []}
        opened = await stack.http.post(
            "/api/v2/tickets",
            json={
                "customer_phone": f"+{ANA}",
                "category": "other",
                "subject": "Not yours",
                "description": "A customer of another shop",
            },
            headers=b_headers,
        )
        assert opened.status_code == 404
        await asyncio.sleep(0.3)
        assert await kinds(sessionmaker, shop_a, number) == ["created"]
