"""Retention: old conversations go, recent ones and running ones stay; the daily schedule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

import worker
from tendero.db.models import (
    Conversation,
    Customer,
    InboundEvent,
    Message,
    RateLimitHit,
    Tenant,
    Ticket,
    Verification,
)
from tendero.domain.ids import RETENTION_SCHEDULE_ID
from tendero.privacy import prune_transcripts
from tests.api.v2 import user_token
from tests.harness import Customer as WhatsAppUser
from tests.harness import Stack, make_settings, running_stack
from tests.privacy.seed import mark_old
from tests.shop import Shop, make_shop
from workflows.schedules import start_retention_now


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(temporal_env.client, sessionmaker, database_url) as running:
        yield running


def _digits() -> str:
    return f"1415555{uuid.uuid4().int % 10000:04d}"


async def _chat(stack: Stack, shop: Shop, text: str = "hi") -> uuid.UUID:
    """A real conversation (its workflow runs until idle-closed); its id."""
    user = WhatsAppUser(stack, shop.phone_number_id, _digits())
    await user.text(text)
    async with stack.sessions() as session:
        customer_id = await session.scalar(
            select(Customer.id).where(
                Customer.tenant_id == shop.tenant_id, Customer.phone_e164 == f"+{user.digits}"
            )
        )
        conversation_id = await session.scalar(
            select(Conversation.id).where(Conversation.customer_id == customer_id)
        )
    assert conversation_id is not None
    return conversation_id


async def _closed_chat(stack: Stack, shop: Shop) -> uuid.UUID:
    """A conversation whose workflow has ended (as after the idle close)."""
    conversation_id = await _chat(stack, shop)
    async with stack.sessions() as session:
        conversation = await session.get_one(Conversation, conversation_id)
    handle = stack.client.get_workflow_handle(conversation.workflow_id)
    await handle.terminate(reason="test: idle")
    return conversation_id


async def _conversations(stack: Stack, tenant_id: uuid.UUID) -> set[uuid.UUID]:
    async with stack.sessions() as session:
        rows = await session.execute(
            select(Conversation.id).where(Conversation.tenant_id == tenant_id)
        )
        return set(rows.scalars())


async def test_old_conversations_are_deleted_per_tenant_period(stack: Stack) -> None:
    short = await make_shop(stack.sessions)  # default 30 days
    long = await make_shop(stack.sessions)
    _, admin = await user_token(stack, short, "admin")
    _, long_admin = await user_token(stack, long, "admin")
    _, agent = await user_token(stack, short, "agent")

    # Settings: read, validated, admins only.
    assert (await stack.http.get("/api/v2/settings/retention", headers=admin)).json() == {
        "retention_days": 30
    }
    for bad in (0, 3651):
        answer = await stack.http.put(
            "/api/v2/settings/retention", json={"retention_days": bad}, headers=long_admin
        )
        assert answer.status_code == 422
    assert (
        await stack.http.put(
            "/api/v2/settings/retention", json={"retention_days": 60}, headers=agent
        )
    ).status_code == 403
    answer = await stack.http.put(
        "/api/v2/settings/retention", json={"retention_days": 60}, headers=long_admin
    )
    assert answer.json() == {"retention_days": 60}
    async with stack.sessions() as session:
        assert (await session.get_one(Tenant, long.tenant_id)).retention_days == 60
        assert (await session.get_one(Tenant, short.tenant_id)).retention_days == 30

    old = await _closed_chat(stack, short)
    recent = await _closed_chat(stack, short)
    running_old = await _chat(stack, short)
    long_old = await _closed_chat(stack, long)
    await mark_old(stack, old, days=40)
    await mark_old(stack, recent, days=5)
    await mark_old(stack, running_old, days=40)
    await mark_old(stack, long_old, days=40)
    # A conversation that stays, whose first message is older than the period.
    mixed = await _closed_chat(stack, short)
    long_ago = datetime.now(UTC) - timedelta(days=40)
    async with stack.sessions() as session, session.begin():
        first = await session.scalar(
            select(Message)
            .where(Message.conversation_id == mixed, Message.direction == "in")
            .order_by(Message.created_at)
            .limit(1)
        )
        assert first is not None
        first.created_at = long_ago
        old_message, old_wamid = first.id, first.provider_message_id
        assert old_wamid is not None
        # A summary written from messages that go, goes too, even one reaching into the
        # period; the summary of a conversation that loses nothing stays.
        (await session.get_one(Conversation, mixed)).summary = "Asked about belts in June."
        (await session.get_one(Conversation, mixed)).summary_through = datetime.now(
            UTC
        ) - timedelta(days=2)
        # Verifications: one that ended before the period goes, one still valid stays.
        recent_row = await session.get_one(Conversation, recent)
        ended, valid = uuid.uuid4(), uuid.uuid4()
        for vid, until in ((ended, long_ago), (valid, datetime.now(UTC) + timedelta(days=1))):
            session.add(
                Verification(
                    id=vid,
                    tenant_id=short.tenant_id,
                    conversation_id=recent,
                    customer_id=recent_row.customer_id,
                    email="ana@example.com",
                    level="otp",
                    status="verified",
                    workflow_id=f"verify:{short.tenant_id}:{recent}",
                    created_at=long_ago,
                    verified_until=until,
                )
            )
        (await session.get_one(Conversation, recent)).summary = "Wants a blue hoodie."
        (await session.get_one(Conversation, recent)).summary_through = long_ago + timedelta(
            days=36
        )
    async with stack.sessions() as session:
        mixed_kept = set(
            (
                await session.execute(
                    select(Message.id).where(
                        Message.conversation_id == mixed, Message.id != old_message
                    )
                )
            ).scalars()
        )
        recent_messages = set(
            (
                await session.execute(select(Message.id).where(Message.conversation_id == recent))
            ).scalars()
        )
        running_old_messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == running_old)
        )
        old_message_events = await session.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(InboundEvent.event_key == old_wamid)
        )
    assert mixed_kept and recent_messages and running_old_messages and old_message_events == 1
    async with stack.sessions() as session:
        conversation = await session.get_one(Conversation, old)
        old_workflow = conversation.workflow_id
        # A ticket of the old conversation stays, without the link.
        ticket = Ticket(
            tenant_id=short.tenant_id,
            number=f"TCK-2026-{uuid.uuid4().int % 100000:05d}",
            business_type="ecommerce",
            customer_id=conversation.customer_id,
            conversation_id=old,
            category="other",
            subject="Old",
            description="old",
            source="agent",
        )
        session.add(ticket)
        await session.commit()
        old_messages = await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == old)
        )
        old_events = await session.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(InboundEvent.workflow_id == old_workflow)
        )
    assert old_messages and old_events

    # The shop's admin runs its own retention now.
    answer = await stack.http.post("/api/v2/settings/retention/run", headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (
        body["status"],
        body["conversations_deleted"],
        body["kept_running"],
        body["messages_deleted_from_kept"],
    ) == ("done", 1, 1, running_old_messages + 1)
    assert body["workflow_id"].startswith(f"retention:{short.tenant_id}:")
    assert await _conversations(stack, short.tenant_id) == {recent, running_old, mixed}
    async with stack.sessions() as session:

        async def messages_of(conversation_id: uuid.UUID) -> set[uuid.UUID]:
            rows = await session.execute(
                select(Message.id).where(Message.conversation_id == conversation_id)
            )
            return set(rows.scalars())

        # Kept conversations keep exactly their messages from the period on.
        assert await messages_of(mixed) == mixed_kept
        assert await messages_of(recent) == recent_messages
        assert await messages_of(running_old) == set()
        assert (
            await session.scalar(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.event_key == old_wamid)
            )
            == 0
        )
        summaries = {
            c.id: (c.summary, c.summary_through)
            for c in (
                await session.execute(
                    select(Conversation).where(Conversation.id.in_([mixed, recent]))
                )
            ).scalars()
        }
        assert summaries[mixed] == (None, None)
        kept_verifications = (
            await session.execute(
                select(Verification.id).where(Verification.id.in_([ended, valid]))
            )
        ).scalars()
        assert set(kept_verifications) == {valid}
        assert summaries[recent] == ("Wants a blue hoodie.", long_ago + timedelta(days=36))
    assert await _conversations(stack, long.tenant_id) == {long_old}
    async with stack.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.conversation_id == old)
            )
            == 0
        )
        assert (
            await session.scalar(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.workflow_id == old_workflow)
            )
            == 0
        )
        kept_ticket = await session.get_one(Ticket, ticket.id)
        assert kept_ticket.conversation_id is None
    # The whole sweep (as the schedule runs it) also drops rate-limit windows over a day old.
    now = datetime.now(UTC)
    stale_key, fresh_key = f"test:{uuid.uuid4()}", f"test:{uuid.uuid4()}"
    async with stack.sessions() as session, session.begin():
        session.add(RateLimitHit(key=stale_key, window_start=now - timedelta(days=2), hits=1))
        session.add(RateLimitHit(key=fresh_key, window_start=now - timedelta(hours=1), hits=1))
    handle = await start_retention_now(stack.client, task_queue=stack.settings.temporal_task_queue)
    result = await handle.result()
    assert result.rate_limit_hits >= 1
    swept = {t.tenant_id: t for t in result.tenants}
    assert swept[short.tenant_id].conversations == 0
    assert swept[short.tenant_id].skipped_running == 1
    assert swept[long.tenant_id].conversations == 0
    async with stack.sessions() as session:
        keys = set(
            (
                await session.execute(
                    select(RateLimitHit.key).where(RateLimitHit.key.in_([stale_key, fresh_key]))
                )
            ).scalars()
        )
    assert keys == {fresh_key}

    # The longer period ends too: a 30-day setting now removes the other shop's old one.
    await stack.http.put(
        "/api/v2/settings/retention", json={"retention_days": 30}, headers=long_admin
    )
    answer = await stack.http.post("/api/v2/settings/retention/run", headers=long_admin)
    assert answer.json()["conversations_deleted"] == 1
    assert await _conversations(stack, long.tenant_id) == set()
    assert await _conversations(stack, short.tenant_id) == {recent, running_old, mixed}


async def test_worker_startup_ensures_the_daily_schedule(
    temporal_env: WorkflowEnvironment, database_url: str
) -> None:
    address = temporal_env.client.service_client.config.target_host
    settings = make_settings(database_url, temporal_address=address, retention_hour_utc=4)
    running = asyncio.create_task(worker.main(settings))
    try:
        handle = temporal_env.client.get_schedule_handle(RETENTION_SCHEDULE_ID)
        for _ in range(200):
            try:
                described = await handle.describe()
            except RPCError:
                await asyncio.sleep(0.05)
                continue
            action = described.schedule.action
            if (
                isinstance(action, ScheduleActionStartWorkflow)
                and action.task_queue == settings.temporal_task_queue
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the retention schedule was not ensured")
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == "RetentionWorkflow"
    assert action.id == RETENTION_SCHEDULE_ID
    assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    (calendar,) = described.schedule.spec.calendars
    assert [r.start for r in calendar.hour] == [4]
    assert [r.start for r in calendar.minute] == [0]
    assert described.schedule.spec.time_zone_name == "UTC"
    upcoming = described.info.next_action_times[0]
    assert (upcoming.hour, upcoming.minute) == (4, 0)


async def test_pruning_goes_oldest_first_in_batches(stack: Stack) -> None:
    shop = await make_shop(stack.sessions)
    conversation_id = await _closed_chat(stack, shop)
    await mark_old(stack, conversation_id, days=40)
    async with stack.sessions() as session, session.begin():
        rows = (
            await session.execute(select(Message).where(Message.conversation_id == conversation_id))
        ).scalars()
        ordered = sorted(rows, key=lambda m: (m.direction != "in", m.id))
        for n, message in enumerate(ordered):  # distinct ages, the inbound one oldest
            message.created_at = datetime.now(UTC) - timedelta(days=40, minutes=-n)
        expected = [m.id for m in ordered]
    assert len(expected) >= 2
    cutoff = datetime.now(UTC) - timedelta(days=30)
    gone: list[uuid.UUID] = []
    for _ in expected:
        async with stack.sessions() as session, session.begin():
            before = set(
                (
                    await session.execute(
                        select(Message.id).where(Message.conversation_id == conversation_id)
                    )
                ).scalars()
            )
            counts = await prune_transcripts(session, shop.tenant_id, cutoff, limit=1)
            assert counts["messages"] == 1
            after = set(
                (
                    await session.execute(
                        select(Message.id).where(Message.conversation_id == conversation_id)
                    )
                ).scalars()
            )
        gone.extend(before - after)
    assert gone == expected
    async with stack.sessions() as session, session.begin():
        assert (await prune_transcripts(session, shop.tenant_id, cutoff, limit=1))["messages"] == 0
    assert await _conversations(stack, shop.tenant_id) == {conversation_id}
