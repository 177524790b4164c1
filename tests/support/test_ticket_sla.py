"""TicketWorkflow timers on a time-skipping Temporal test server: SLA escalation, auto-close."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Ticket, TicketEvent
from tendero.db.repos.tickets import create_ticket
from tendero.domain.ids import ticket_workflow_id
from tendero.domain.tickets import ChangeState, TicketInput, TicketState
from tests.api.v2 import new_user
from tests.fakes.smtp import SmtpSink
from tests.harness import FakeGraph, make_settings
from tests.shop import Shop, make_shop
from worker import build_worker
from workflows.ticket import TicketWorkflow, ticket_search_attributes


async def new_ticket(
    sessions: async_sessionmaker[AsyncSession], shop: Shop, priority: str = "medium"
) -> Ticket:
    async with sessions() as session, session.begin():
        from tendero.db.models import Customer

        customer = Customer(
            tenant_id=shop.tenant_id, phone_e164=f"+1555{uuid.uuid4().int % 10**7:07d}"
        )
        session.add(customer)
        await session.flush()
        return await create_ticket(
            session,
            tenant_id=shop.tenant_id,
            prefix="TCK",
            business_type="ecommerce",
            customer_id=customer.id,
            conversation_id=None,
            order_id=None,
            category="other",
            subject="Blender arrived broken",
            description="The jar is cracked.",
            priority=priority,
            source="agent",
            now=datetime.now(UTC),
        )


async def events(sessions: async_sessionmaker[AsyncSession], ticket: Ticket) -> list[TicketEvent]:
    async with sessions() as session:
        found = await session.execute(
            select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.at, TicketEvent.created_at)
        )
        return list(found.scalars())


async def kinds_until(
    sessions: async_sessionmaker[AsyncSession], ticket: Ticket, expected: list[str]
) -> list[TicketEvent]:
    for _ in range(200):
        found = await events(sessions, ticket)
        if [e.kind for e in found] == expected:
            return found
        await asyncio.sleep(0.05)
    assert [e.kind for e in await events(sessions, ticket)] == expected
    raise AssertionError("unreachable")


async def test_first_response_sla_escalates_at_the_exact_timer(
    time_env: WorkflowEnvironment, sessionmaker, database_url
):
    shop = await make_shop(sessionmaker)
    agent, _ = await new_user(sessionmaker, shop, "agent", email="agent@shop.test")
    ticket = await new_ticket(sessionmaker, shop)
    with SmtpSink() as smtp:
        settings = make_settings(
            database_url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False
        )
        graph_http = httpx.AsyncClient(transport=httpx.MockTransport(FakeGraph().handler))
        async with build_worker(
            time_env.client, sessions=sessionmaker, graph_http=graph_http, settings=settings
        ):
            handle = await time_env.client.start_workflow(
                TicketWorkflow.run,
                TicketInput(tenant_id=shop.tenant_id, ticket_id=ticket.id, number=ticket.number),
                id=ticket_workflow_id(shop.tenant_id, ticket.number),
                task_queue=settings.temporal_task_queue,
                search_attributes=ticket_search_attributes(str(shop.tenant_id), ticket.number),
            )
            (created,) = await kinds_until(sessionmaker, ticket, ["created"])
            opened_at = created.at
            await time_env.sleep(timedelta(hours=8) - timedelta(seconds=1))
            status = await handle.query(TicketWorkflow.status)
            assert status is not None and status.priority == "medium"
            assert [e.kind for e in await events(sessionmaker, ticket)] == ["created"]
            assert smtp.messages == []

            await time_env.sleep(timedelta(seconds=2))
            found = await kinds_until(
                sessionmaker, ticket, ["created", "sla_breached", "escalated"]
            )
            breach, escalated = found[1], found[2]
            assert breach.at == opened_at + timedelta(hours=8)
            assert breach.data == {
                "sla": "first_response",
                "due_at": (opened_at + timedelta(hours=8)).isoformat(),
            }
            assert escalated.data == {"sla": "first_response", "from": "medium", "to": "high"}
            assert timedelta(0) <= escalated.at - breach.at < timedelta(seconds=1)
            status = await handle.query(TicketWorkflow.status)
            assert status is not None and status.priority == "high" and status.escalations == 1
            # High: the first reply is now due 4 hours after the breach.
            assert status.first_response_due == breach.at + timedelta(hours=4)
            async with sessionmaker() as session:
                row = await session.get_one(Ticket, ticket.id)
            assert (row.priority, row.escalations) == ("high", 1)
            assert row.first_response_due_at == breach.at + timedelta(hours=4)
            for _ in range(100):
                if smtp.messages:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            (mail,) = smtp.messages
            assert mail["To"] == agent.email
            assert ticket.number in mail["Subject"]
            await handle.terminate("test over")
        await graph_http.aclose()


async def test_resolved_ticket_closes_itself_after_the_auto_close_period(
    time_env: WorkflowEnvironment, sessionmaker, database_url
):
    shop = await make_shop(sessionmaker)
    agent, _ = await new_user(sessionmaker, shop, "agent")
    ticket = await new_ticket(sessionmaker, shop, priority="low")
    settings = make_settings(database_url)
    graph_http = httpx.AsyncClient(transport=httpx.MockTransport(FakeGraph().handler))
    async with build_worker(
        time_env.client, sessions=sessionmaker, graph_http=graph_http, settings=settings
    ):
        handle = await time_env.client.start_workflow(
            TicketWorkflow.run,
            TicketInput(tenant_id=shop.tenant_id, ticket_id=ticket.id, number=ticket.number),
            id=ticket_workflow_id(shop.tenant_id, ticket.number),
            task_queue=settings.temporal_task_queue,
            search_attributes=ticket_search_attributes(str(shop.tenant_id), ticket.number),
        )
        await kinds_until(sessionmaker, ticket, ["created"])
        status = await handle.execute_update(
            TicketWorkflow.set_state,
            ChangeState(by_user_id=agent.id, state=TicketState.RESOLVED),
        )
        assert status.state is TicketState.RESOLVED
        found = await kinds_until(sessionmaker, ticket, ["created", "state_changed"])
        resolved_at = found[1].at
        await time_env.sleep(timedelta(days=7) - timedelta(seconds=1))
        assert (await handle.query(TicketWorkflow.status)).state is TicketState.RESOLVED
        await time_env.sleep(timedelta(seconds=2))
        result = await handle.result()
        assert result.state is TicketState.CLOSED
        found = await kinds_until(sessionmaker, ticket, ["created", "state_changed", "auto_closed"])
        assert found[2].at == resolved_at + timedelta(days=7)
        async with sessionmaker() as session:
            row = await session.get_one(Ticket, ticket.id)
        assert row.status == "closed" and row.closed_at == found[2].at
        assert row.resolved_at == resolved_at
    await graph_http.aclose()
