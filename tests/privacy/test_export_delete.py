"""Export and delete a customer's data through /api/v2/privacy, with the real worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Customer, Order, PrivacyRequest, RateLimitHit, Ticket
from tendero.domain.ids import conversation_workflow_id
from tests.api.v2 import user_token
from tests.fakes.smtp import SmtpSink
from tests.harness import Stack, running_stack
from tests.privacy.seed import (
    Person,
    count_mentioning,
    history_text,
    new_person,
    rows_mentioning,
    rows_reachable,
    schema_tables,
    seed_person,
    shopify_integration,
)
from tests.shop import Shop, make_shop

# Every table of the schema, by what it holds about a customer. A table added by a
# migration fails the tests until it is placed here (and, if it holds a customer's data,
# seeded in tests/privacy/seed.py so the searches below look at it).
# Tables the seed writes a customer's identifiers (name, phone, e-mail, address, words)
# into: every one must hold them before the deletion and none after.
IDENTIFYING = frozenset(
    {
        "agent_steps",
        "agent_tool_calls",
        "customers",
        "messages",
        "orders",
        "outbound_emails",
        "store_events",
        "ticket_events",
        "tickets",
        "verifications",
    }
)
# Tables whose rows belong to a customer by internal ids only (found by foreign keys, or
# by a key naming the customer's id): exported, and deleted or unlinked by the deletion.
LINKED = frozenset(
    {
        "cart_items",
        "cart_recoveries",
        "carts",
        "consents",
        "conversations",
        "coupons",
        "inbound_events",
        "order_events",
        "order_items",
        "privacy_requests",
        "rate_limit_hits",
    }
)
# Tables that hold nothing about a shop's customers.
NO_CUSTOMER_DATA = frozenset(
    {
        "alembic_version",
        "api_keys",
        "categories",
        "integrations",
        "oauth_states",
        "order_number_counters",
        "product_categories",
        "product_variants",
        "products",
        "sync_cursors",
        "sync_runs",
        "tenants",
        "ticket_number_counters",
        "users",
    }
)
# Rows that hang off a customer but are not in the export, and why.
NOT_EXPORTED = {"inbound_events": "the provider's delivery keys of exported messages"}


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    # A real SMTP server: the seeded tickets escalate and their agents are e-mailed.
    with SmtpSink() as smtp:
        async with running_stack(
            temporal_env.client,
            sessionmaker,
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
        ) as running:
            yield running


async def test_every_table_is_classified(stack: Stack) -> None:
    tables = set(await schema_tables(stack))
    classified = IDENTIFYING | LINKED | NO_CUSTOMER_DATA
    assert not (IDENTIFYING & LINKED or IDENTIFYING & NO_CUSTOMER_DATA or LINKED & NO_CUSTOMER_DATA)
    assert tables - classified == set(), "new tables: classify them (and seed their data)"
    assert classified - tables == set()


async def _seeded(stack: Stack) -> tuple[Shop, Person, Person]:
    shop = await make_shop(stack.sessions)
    integration_id = await shopify_integration(stack, shop)
    ana, bob = new_person("ana"), new_person("bob")
    await seed_person(stack, shop, ana, integration_id=integration_id)
    await seed_person(stack, shop, bob, integration_id=integration_id, full=False)
    return shop, ana, bob


async def _finish(stack: Stack, headers: dict[str, str], request_id: str) -> dict[str, Any]:
    async with stack.sessions() as session:
        row = await session.get_one(PrivacyRequest, uuid.UUID(request_id))
    await stack.client.get_workflow_handle(row.workflow_id).result()
    answer = await stack.http.get(f"/api/v2/privacy/requests/{request_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _bob_needles(bob: Person) -> list[str]:
    assert bob.conversation_id and bob.order_number and bob.ticket_number
    return [
        *bob.identifiers,
        str(bob.customer_id),
        str(bob.conversation_id),
        bob.order_number,
        bob.ticket_number,
    ]


async def test_export_holds_every_kind_of_record_and_nothing_of_another_customer(
    stack: Stack,
) -> None:
    shop, ana, bob = await _seeded(stack)
    _, admin = await user_token(stack, shop, "admin")
    _, agent = await user_token(stack, shop, "agent")

    # Admins only; a lookup that matches nobody is 404; a lookup needs a field.
    forbidden = await stack.http.post(
        "/api/v2/privacy/export", json={"phone": ana.phone}, headers=agent
    )
    assert forbidden.status_code == 403
    unknown = await stack.http.post(
        "/api/v2/privacy/export", json={"email": "nobody@private.test"}, headers=admin
    )
    assert unknown.status_code == 404
    assert (
        await stack.http.post("/api/v2/privacy/export", json={}, headers=admin)
    ).status_code == 422
    assert (
        await stack.http.post("/api/v2/privacy/export", json={"phone": "12"}, headers=admin)
    ).status_code == 422
    # Another shop's admin cannot reach this shop's customer.
    other_shop = await make_shop(stack.sessions)
    _, other_admin = await user_token(stack, other_shop, "admin")
    elsewhere = await stack.http.post(
        "/api/v2/privacy/export", json={"customer_id": str(ana.customer_id)}, headers=other_admin
    )
    assert elsewhere.status_code == 404

    answer = await stack.http.post(
        "/api/v2/privacy/export", json={"phone": ana.digits}, headers=admin
    )
    assert answer.status_code == 202, answer.text
    (accepted,) = answer.json()["requests"]
    assert accepted["customer_id"] == str(ana.customer_id)
    assert accepted["kind"] == "export" and accepted["status"] == "pending"
    assert accepted["workflow_id"] == f"privacy:{shop.tenant_id}:{accepted['request_id']}"

    detail = await _finish(stack, admin, accepted["request_id"])
    assert detail["status"] == "done" and detail["source"] == "api"
    document = detail["document"]
    assert document["customer"]["id"] == str(ana.customer_id)
    assert document["customer"]["name"] == ana.name
    assert document["customer"]["email"] == ana.email
    assert document["customer"]["phone_e164"] == ana.phone
    assert document["customer"]["wa_user_id"] == ana.wa_user_id

    assert [(c["granted"], c["source"]) for c in document["consents"]] == [
        (True, "chat"),
        (False, "unsubscribe_link"),
    ]
    (conversation,) = document["conversations"]
    assert conversation["id"] == str(ana.conversation_id)
    texts = [m["text"] for m in conversation["messages"]]
    assert ana.secret in texts and ana.address in texts and "CONFIRM" in texts
    assert {m["direction"] for m in conversation["messages"]} == {"in", "out"}
    (step,) = conversation["agent_steps"]
    assert ana.secret in step["content"]
    (call,) = conversation["agent_tool_calls"]
    assert ana.secret in call["arguments"]
    (verification,) = document["verifications"]
    assert verification["email"] == ana.email and "code_hash" not in verification
    (order,) = document["orders"]
    assert order["number"] == ana.order_number
    assert ana.address in json.dumps(order["address"])
    assert [i["sku"] for i in order["items"]] == ["HOOD-BL-L"]
    assert [e["kind"] for e in order["events"]] == ["placed"]
    assert sorted(c["status"] for c in document["carts"]) == ["checked_out", "open"]
    assert all(len(c["items"]) == 1 for c in document["carts"])
    # The drip tracks each cart (the seed adds the open cart's if it has not yet).
    assert {r["cart_id"] for r in document["cart_recoveries"]} == {
        c["id"] for c in document["carts"]
    }
    (coupon,) = document["coupons"]
    assert coupon["code"].startswith("BACK-")
    (ticket,) = document["tickets"]
    assert ticket["number"] == ana.ticket_number and ana.secret in ticket["description"]
    assert [e["kind"] for e in ticket["events"]][:1] == ["created"]
    assert any(e["kind"] == "note" and ana.name in (e["text"] or "") for e in ticket["events"])
    (mail,) = document["outbound_emails"]
    assert (mail["to_address"], mail["subject"]) == (ana.email, "Your code")
    (itself,) = document["privacy_requests"]
    assert itself["id"] == accepted["request_id"] and itself["kind"] == "export"
    assert detail["outcome"]["counts"]["conversations"] == 1
    assert detail["outcome"]["counts"]["orders"] == 1

    # Every row that hangs off her (found through the schema's foreign keys) is in it.
    reachable = await rows_reachable(stack, ana.customer_id)
    assert set(reachable) <= IDENTIFYING | LINKED, set(reachable) - IDENTIFYING - LINKED
    exported = json.dumps(document)
    for table, ids in sorted(reachable.items()):
        if table in NOT_EXPORTED:
            continue
        missing = sorted(i for i in ids if f'"{i}"' not in exported)
        assert missing == [], (table, missing)
    assert {"conversations", "messages", "orders", "carts", "tickets", "consents"} <= set(reachable)

    # Nothing of the other customer.
    dumped = json.dumps(document).lower()
    for needle in _bob_needles(bob):
        assert needle.lower() not in dumped, needle

    # The workflow's own history holds ids and counts only.
    history = (await history_text(stack, accepted["workflow_id"])).lower()
    for needle in ana.identifiers:
        assert needle.lower() not in history, needle

    # The list shows the request, without the document.
    listing = await stack.http.get("/api/v2/privacy/requests?kind=export", headers=admin)
    assert listing.status_code == 200
    assert [i["request_id"] for i in listing.json()["items"]] == [accepted["request_id"]]
    assert "document" not in listing.json()["items"][0]
    hidden = await stack.http.get(
        f"/api/v2/privacy/requests/{accepted['request_id']}", headers=other_admin
    )
    assert hidden.status_code == 404


async def _gone(stack: Stack, workflow_id: str) -> bool:
    try:
        await stack.client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        assert err.status is RPCStatusCode.NOT_FOUND
        return True
    return False


async def test_delete_erases_the_customer_everywhere_and_nothing_else(stack: Stack) -> None:
    shop, ana, bob = await _seeded(stack)
    _, admin = await user_token(stack, shop, "admin")
    # The same person is also a customer of another shop: never touched.
    other_shop = await make_shop(stack.sessions)
    async with stack.sessions() as session, session.begin():
        session.add(
            Customer(
                tenant_id=other_shop.tenant_id,
                phone_e164=ana.phone,
                email=ana.email,
                name=ana.name,
            )
        )
    exclude = [str(other_shop.tenant_id)]
    ana_needles = ana.identifiers

    # Positive controls: the identifiers are there before, in every table that can hold
    # them and in histories; the agents' escalation notice quotes her ticket.
    before = await rows_mentioning(stack, ana_needles, exclude=exclude)
    assert set(before) == IDENTIFYING, set(before) ^ IDENTIFYING
    assert any(
        f"ticket #{ana.ticket_number}".lower() in row.lower() and ana.name.lower() in row.lower()
        for row in before["outbound_emails"]
    )
    reachable_before = await rows_reachable(stack, ana.customer_id)
    ana_conversation = conversation_workflow_id(shop.tenant_id, "whatsapp", ana.customer_id)
    assert ana.address.lower() in (await history_text(stack, ana_conversation)).lower()
    customer_workflows = [
        w.id async for w in stack.client.list_workflows(f"CustomerId = '{ana.customer_id}'")
    ]
    assert ana_conversation in customer_workflows
    assert any(w.startswith("checkout:") for w in customer_workflows)
    bob_before = await count_mentioning(stack, _bob_needles(bob))
    async with stack.sessions() as session:
        ana_windows = len(
            (
                await session.execute(
                    select(RateLimitHit.key).where(RateLimitHit.key.contains(str(ana.customer_id)))
                )
            ).all()
        )
    assert ana_windows >= 1

    export = await stack.http.post(
        "/api/v2/privacy/export", json={"customer_id": str(ana.customer_id)}, headers=admin
    )
    exported = await _finish(stack, admin, export.json()["requests"][0]["request_id"])
    assert exported["document"]["customer"]["email"] == ana.email

    answer = await stack.http.post(
        "/api/v2/privacy/delete", json={"email": ana.email.upper()}, headers=admin
    )
    assert answer.status_code == 202, answer.text
    (accepted,) = answer.json()["requests"]
    assert accepted["customer_id"] == str(ana.customer_id) and accepted["kind"] == "delete"
    detail = await _finish(stack, admin, accepted["request_id"])

    # (d) The request records the deletion, and holds nothing that identifies her.
    assert detail["status"] == "done" and detail["completed_at"] is not None
    rows = detail["outcome"]["rows"]
    assert rows["customers"] == 1
    assert rows["conversations"] == 1
    assert rows["orders"] == 1
    assert rows["tickets"] == 1
    assert rows["carts"] == 2
    assert rows["verifications"] == 1
    assert rows["consents"] == 2
    # Hers, and the escalation notice to the shop's one agent that quotes her ticket.
    assert rows["outbound_emails"] == 2
    assert rows["cart_recoveries"] == len(exported["document"]["cart_recoveries"]) == 2
    assert rows["coupons"] == 1
    assert rows["agent_steps"] == 1
    assert rows["agent_tool_calls"] == 1
    assert rows["privacy_requests"] == 1  # the earlier export's document
    assert rows["rate_limit_hits"] == ana_windows
    assert rows["store_events"] == 1
    assert rows["messages"] > 5
    assert set(customer_workflows) <= set(detail["outcome"]["workflows_deleted"])
    assert ana_conversation in detail["outcome"]["workflows_terminated"]
    assert detail["outcome"]["runs_deleted"] >= len(customer_workflows)
    assert json.dumps(detail).lower().count(ana.email.lower()) == 0
    again = await stack.http.get(
        f"/api/v2/privacy/requests/{export.json()['requests'][0]['request_id']}", headers=admin
    )
    assert again.json()["document"] is None

    # (a) No table holds any of her identifiers; the other customer's rows are all there.
    assert await rows_mentioning(stack, ana_needles, exclude=exclude) == {}
    # What still hangs off her tombstone: the anonymised tickets (and their events) and
    # the privacy requests that record what was done; every other row is gone or unlinked.
    reachable_after = await rows_reachable(stack, ana.customer_id)
    assert set(reachable_after) == {"customers", "tickets", "ticket_events", "privacy_requests"}
    assert reachable_after["tickets"] == reachable_before["tickets"]
    for table, ids in reachable_before.items():
        if table not in reachable_after:
            continue
        assert reachable_after[table] <= ids | reachable_after.get("privacy_requests", set())
    # Nothing names her internal ids any more but those rows (and the request's outcome,
    # which lists the workflows it deleted).
    assert set(await rows_mentioning(stack, [str(ana.customer_id)], exclude=exclude)) == {
        "customers",
        "tickets",
        "privacy_requests",
    }
    assert set(await rows_mentioning(stack, [str(ana.conversation_id)], exclude=exclude)) <= {
        "privacy_requests"
    }
    assert await count_mentioning(stack, _bob_needles(bob)) == bob_before
    async with stack.sessions() as session:
        tombstone = await session.get_one(Customer, ana.customer_id)
        kept = (
            await session.execute(
                select(Order).where(
                    Order.tenant_id == shop.tenant_id, Order.number == ana.order_number
                )
            )
        ).scalar_one()
        ticket = (
            await session.execute(
                select(Ticket).where(
                    Ticket.tenant_id == shop.tenant_id, Ticket.number == ana.ticket_number
                )
            )
        ).scalar_one()
        twin = (
            await session.execute(
                select(Customer).where(Customer.tenant_id == other_shop.tenant_id)
            )
        ).scalar_one()
        bob_row = await session.get_one(Customer, bob.customer_id)
    assert (tombstone.name, tombstone.email, tombstone.phone_e164, tombstone.wa_user_id) == (
        None,
        None,
        None,
        None,
    )
    assert (kept.customer_id, kept.address, kept.status) == (None, None, "confirmed")
    assert (ticket.status, ticket.description, ticket.customer_id) == (
        "closed",
        "[redacted]",
        ana.customer_id,
    )
    assert (twin.phone_e164, twin.email, twin.name) == (ana.phone, ana.email, ana.name)
    assert (bob_row.phone_e164, bob_row.email, bob_row.name) == (bob.phone, bob.email, bob.name)

    # (b) Her workflows are gone: not described, not listed.
    for workflow_id in customer_workflows:
        for _ in range(100):
            if await _gone(stack, workflow_id):
                break
            await asyncio.sleep(0.1)
        assert await _gone(stack, workflow_id), workflow_id
    for _ in range(100):
        listed = [
            w.id async for w in stack.client.list_workflows(f"CustomerId = '{ana.customer_id}'")
        ]
        if not listed:
            break
        await asyncio.sleep(0.1)
    assert listed == []

    # (b) and (c) No remaining history of the shop, and no workflow's search attributes
    # anywhere, holds her identifiers.
    remaining = [w async for w in stack.client.list_workflows(f"TenantId = '{shop.tenant_id}'")]
    assert remaining, "the shop's other workflows (Bob's, the privacy requests) remain"
    for execution in remaining:
        history = (await history_text(stack, execution.id, execution.run_id)).lower()
        for needle in ana_needles:
            assert needle.lower() not in history, (execution.id, needle)
    async for execution in stack.client.list_workflows():
        attributes = json.dumps(
            {key.name: value for key, value in execution.typed_search_attributes}, default=str
        ).lower()
        for needle in ana_needles:
            assert needle.lower() not in attributes, (execution.id, needle)
    # Bob's conversation still runs.
    bob_conversation = conversation_workflow_id(shop.tenant_id, "whatsapp", bob.customer_id)
    assert not await _gone(stack, bob_conversation)

    # A second deletion finds nothing left and succeeds.
    second = await stack.http.post(
        "/api/v2/privacy/delete", json={"customer_id": str(ana.customer_id)}, headers=admin
    )
    assert second.status_code == 202
    repeat = await _finish(stack, admin, second.json()["requests"][0]["request_id"])
    assert repeat["status"] == "done"
    assert {k: v for k, v in repeat["outcome"]["rows"].items() if v} == {}
