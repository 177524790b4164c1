"""A deletion while the customer keeps writing: the message that arrives mid-way goes too."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from activities.privacy import PrivacyActivities
from tendero.db.models import Customer, Message, PrivacyRequest
from tendero.domain.ids import conversation_workflow_id
from tendero.domain.privacy import EraseResult, PrivacyInput
from tests.api.v2 import user_token
from tests.harness import Customer as WhatsAppUser
from tests.harness import Stack, running_stack
from tests.privacy.seed import history_text, rows_mentioning
from tests.shop import make_shop
from worker import build_activities, build_worker


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, with_worker=False
    ) as running:
        yield running


async def test_a_message_between_ending_the_workflows_and_the_erasure_is_erased(
    stack: Stack,
) -> None:
    shop = await make_shop(stack.sessions)
    token = uuid.uuid4().hex[:8]
    digits = f"1415556{uuid.uuid4().int % 10000:04d}"
    name = f"Dora Midway{token}"
    first, late = f"first words {token}", f"late words arrive{token}"
    user = WhatsAppUser(stack, shop.phone_number_id, digits, name=name)
    seen: dict[str, Any] = {}
    real = PrivacyActivities(stack.sessions, stack.client)

    # The worker's own activities, except that the erasure first lets the customer write
    # again: her conversation workflow was just deleted, so the message starts a new run.
    @activity.defn(name="privacy_erase")
    async def erase_after_a_late_message(data: PrivacyInput) -> EraseResult:
        if "replies" not in seen:
            seen["replies"] = await user.text(late)
            async with stack.sessions() as session:
                seen["messages"] = await session.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.tenant_id == shop.tenant_id)
                )
            described = await stack.client.get_workflow_handle(seen["workflow_id"]).describe()
            seen["restarted_run"] = described.run_id
        return await real.privacy_erase(data)

    async with httpx.AsyncClient(transport=httpx.MockTransport(stack.graph.handler)) as graph:
        activities = [
            fn
            for fn in build_activities(
                sessions=stack.sessions,
                client=stack.client,
                graph_http=graph,
                settings=stack.settings,
            )
            if getattr(fn, "__name__", "") != "privacy_erase"
        ]
        worker = build_worker(
            stack.client,
            sessions=stack.sessions,
            graph_http=graph,
            settings=stack.settings,
            activities=[*activities, erase_after_a_late_message],
        )
        async with worker:
            assert len(await user.text(first)) == 1
            async with stack.sessions() as session:
                customer_id = await session.scalar(
                    select(Customer.id).where(
                        Customer.tenant_id == shop.tenant_id, Customer.phone_e164 == f"+{digits}"
                    )
                )
            assert customer_id is not None
            workflow_id = conversation_workflow_id(shop.tenant_id, "whatsapp", customer_id)
            seen["workflow_id"] = workflow_id
            first_run = (await stack.client.get_workflow_handle(workflow_id).describe()).run_id

            _, admin = await user_token(stack, shop, "admin")
            answer = await stack.http.post(
                "/api/v2/privacy/delete", json={"phone": f"+{digits}"}, headers=admin
            )
            assert answer.status_code == 202, answer.text
            (accepted,) = answer.json()["requests"]
            await stack.client.get_workflow_handle(accepted["workflow_id"]).result()

    # The late message reached a new run of her conversation, which answered it.
    assert len(seen["replies"]) == 1
    assert seen["restarted_run"] != first_run
    async with stack.sessions() as session:
        request = await session.get_one(PrivacyRequest, uuid.UUID(accepted["request_id"]))
        left = await session.scalar(
            select(func.count()).select_from(Message).where(Message.tenant_id == shop.tenant_id)
        )
    assert request.status == "done"
    # Every message went: the two exchanges, the late one included.
    assert request.outcome["rows"]["messages"] == seen["messages"] == 4
    assert left == 0
    assert workflow_id in request.outcome["workflows_terminated"]
    assert request.outcome["runs_deleted"] >= 2

    # Neither run of her conversation is left, and nothing anywhere names her.
    for run_id in (first_run, seen["restarted_run"], None):
        with pytest.raises(RPCError) as gone:
            await stack.client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        assert gone.value.status is RPCStatusCode.NOT_FOUND
    needles = [digits, name, first, late]
    assert await rows_mentioning(stack, needles) == {}
    async for execution in stack.client.list_workflows(f"TenantId = '{shop.tenant_id}'"):
        history = (await history_text(stack, execution.id, execution.run_id)).lower()
        for needle in needles:
            assert needle.lower() not in history, (execution.id, needle)
