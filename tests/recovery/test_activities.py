"""The drip's activities run twice (a Temporal retry): one message, one mail, one code."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.recovery import RecoveryActivities
from tendero.db.models import Coupon, Message, OutboundEmail
from tendero.domain.ids import cart_recovery_workflow_id
from tendero.domain.recovery import RecoveryStep, StartRecoveryInput, StepInput, StepResult
from tendero.mail.smtp import Mailer
from tests.fakes.smtp import SmtpSink
from tests.harness import make_settings
from tests.recovery.conftest import new_buyer, recovery_row, set_quantity
from tests.shop import make_shop


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with SmtpSink() as sink:
        yield sink


async def test_a_retried_step_sends_nothing_twice(
    sessionmaker: async_sessionmaker[AsyncSession], database_url: str, smtp: SmtpSink
):
    settings = make_settings(
        database_url, smtp_host="127.0.0.1", smtp_port=smtp.port, smtp_starttls=False
    )
    acts = RecoveryActivities(sessionmaker, Mailer(settings), settings)
    env = ActivityEnvironment()
    shop = await make_shop(sessionmaker)
    buyer = await new_buyer(sessionmaker, shop)
    cart_id = await set_quantity(sessionmaker, buyer, "SUN-1", 2)
    changed = datetime.now(UTC)
    plan = await env.run(
        acts.start_cart_recovery,
        StartRecoveryInput(
            tenant_id=shop.tenant_id,
            customer_id=buyer.customer_id,
            cart_id=cart_id,
            cart_version=1,
            changed_at=changed,
            workflow_id=cart_recovery_workflow_id(shop.tenant_id, cart_id),
        ),
    )
    assert (plan.enabled, plan.sent) == (True, [])
    nudge, _, second, _ = plan.steps

    def step(s: RecoveryStep, at: datetime) -> StepInput:
        return StepInput(
            tenant_id=shop.tenant_id,
            customer_id=buyer.customer_id,
            cart_id=cart_id,
            cart_version=1,
            changed_at=changed,
            at=at,
            step=s,
        )

    chat = [await env.run(acts.cart_recovery_step, step(nudge, changed)) for _ in range(2)]
    assert chat[0] == chat[1]
    assert chat[0].outcome == "sent" and len(chat[0].outbound_ids) == 1
    mails_at = changed + timedelta(hours=24)
    mails = [await env.run(acts.cart_recovery_step, step(second, mails_at)) for _ in range(2)]
    code = mails[0].coupon_code
    assert mails[0] == StepResult(outcome="sent", coupon_code=code)
    assert mails[1] == StepResult(outcome="sent")  # already recorded: nothing done again

    async with sessionmaker() as session:
        messages = await session.scalar(
            select(func.count(Message.id)).where(Message.conversation_id == buyer.conversation_id)
        )
        sent = list(
            (
                await session.execute(
                    select(OutboundEmail).where(OutboundEmail.tenant_id == shop.tenant_id)
                )
            ).scalars()
        )
        coupons = list(
            (await session.execute(select(Coupon).where(Coupon.cart_id == cart_id))).scalars()
        )
    assert messages == 1
    assert [(e.key, e.sent_at) for e in sent] == [(f"recovery:{cart_id}:2", mails_at)]
    assert len(smtp.messages) == 1 and smtp.messages[0]["To"] == buyer.email
    assert [(c.code, c.value, c.usage_limit, c.times_used) for c in coupons] == [
        (code, Decimal("10.000"), 1, 0)
    ]
    row = await recovery_row(sessionmaker, cart_id)
    assert [(s["step"], s["coupon_code"]) for s in row.steps] == [(0, None), (2, code)]
    assert (row.status, row.abandoned_at) == ("abandoned", changed)
