"""Shared pieces of the abuse-limit tests: fixed windows, the database's view of a chat."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from tendero.db.models import Conversation, Customer, InboundEvent, Message
from tendero.ratelimit import window_start
from tests.harness import Stack
from worker import build_worker

SLOW_DOWN = "You're sending messages very fast — I'll answer in a minute."


def digits() -> str:
    """A fictional US number, unique per call."""
    return f"1415555{uuid.uuid4().int % 10000:04d}"


async def fresh_window(window_s: float, need_s: float) -> datetime:
    """Wait, if needed, until ``need_s`` seconds are left in the current fixed window.

    The limits count in epoch-aligned windows; a test that floods and counts exactly must
    not straddle two of them. Returns the start of the window the test then runs in.
    """
    window = timedelta(seconds=window_s)
    now = datetime.now(UTC)
    start = window_start(now, window)
    left = (start + window - now).total_seconds()
    if left < need_s:
        await asyncio.sleep(left + 0.05)
    return window_start(datetime.now(UTC), window)


async def next_window(start: datetime, window_s: float) -> datetime:
    """Wait until the window after the one that began at ``start``; its start."""
    end = start + timedelta(seconds=window_s)
    left = (end - datetime.now(UTC)).total_seconds()
    if left > 0:
        await asyncio.sleep(left + 0.05)
    return window_start(datetime.now(UTC), timedelta(seconds=window_s))


def same_window(start: datetime, window_s: float) -> bool:
    """True while now is still in the window that began at ``start``."""
    return window_start(datetime.now(UTC), timedelta(seconds=window_s)) == start


async def conversation_of(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, phone_digits: str
) -> Conversation:
    async with sessions() as session:
        return (
            await session.execute(
                select(Conversation)
                .join(Customer, Customer.id == Conversation.customer_id)
                .where(
                    Conversation.tenant_id == tenant_id,
                    Customer.phone_e164 == f"+{phone_digits}",
                )
            )
        ).scalar_one()


async def inbound(
    sessions: async_sessionmaker[AsyncSession], conversation: Conversation
) -> list[tuple[str | None, str]]:
    """``(text, status)`` of the chat's inbound messages, in arrival order."""
    async with sessions() as session:
        rows = await session.execute(
            select(Message.text, Message.status)
            .where(Message.conversation_id == conversation.id, Message.direction == "in")
            .order_by(Message.created_at, Message.id)
        )
        return [(row[0], row[1]) for row in rows]


async def outcomes(sessions: async_sessionmaker[AsyncSession], wamids: list[str]) -> list[str]:
    """The ``inbound_events`` outcomes of these wamids, in the given order."""
    async with sessions() as session:
        rows = await session.execute(
            select(InboundEvent.event_key, InboundEvent.outcome).where(
                InboundEvent.provider == "whatsapp", InboundEvent.event_key.in_(wamids)
            )
        )
        found = {row[0]: row[1] for row in rows}
    return [found[w] for w in wamids]


@asynccontextmanager
async def worker_for(stack: Stack, client: Client) -> AsyncIterator[Worker]:
    """Start a worker for a stack that was opened without one (messages already waiting)."""
    graph_http = httpx.AsyncClient(transport=httpx.MockTransport(stack.graph.handler))
    worker = build_worker(
        client, sessions=stack.sessions, graph_http=graph_http, settings=stack.settings
    )
    async with worker:
        yield worker
    await graph_http.aclose()
