"""Identity verification end to end: WhatsApp webhook -> workflows -> real SMTP -> replies."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Conversation, Message, Verification
from tendero.domain.ids import verification_workflow_id
from tendero.identity import REDACTED_CODE
from tests.agent.helpers import seed_order
from tests.fakes.smtp import SmtpSink
from tests.harness import Customer, Stack, body_text, running_stack
from tests.shop import Shop, make_shop

ANA = "15550001111"
ORDER = "ORD-2026-00901"
CODE_RE = re.compile(r"\b(\d{6})\b")


@asynccontextmanager
async def world(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    **overrides: Any,
) -> AsyncIterator[tuple[Stack, Shop, SmtpSink]]:
    shop = await make_shop(sessionmaker)
    await seed_order(
        sessionmaker, shop, digits="15550007777", number=ORDER, email="ana@example.com"
    )
    with SmtpSink() as smtp:
        async with running_stack(
            temporal_env.client,
            sessionmaker,
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            **overrides,
        ) as stack:
            yield stack, shop, smtp


async def mails(smtp: SmtpSink, count: int, settle_s: float = 0.5) -> list[EmailMessage]:
    """Wait for ``count`` mails, then make sure no more arrive."""
    for _ in range(200):
        if len(smtp.messages) >= count:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(settle_s)
    assert len(smtp.messages) == count, [m["To"] for m in smtp.messages]
    return list(smtp.messages)


def code_of(mail: EmailMessage) -> str:
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    found = CODE_RE.search(body.get_content())
    assert found is not None
    return found.group(1)


def texts(replies: list[dict[str, Any]]) -> list[str]:
    return [body_text(r) for r in replies]


async def statuses(sessions: async_sessionmaker[AsyncSession], shop: Shop) -> list[str]:
    async with sessions() as session:
        found = await session.execute(
            select(Verification.status)
            .where(Verification.tenant_id == shop.tenant_id)
            .order_by(Verification.created_at)
        )
        return list(found.scalars())


SENT = (
    "If a***@example.com belongs to an account at Test Shop, we've e-mailed it a 6-digit "
    "code. Type the code here; it is valid for 5 minutes."
)


async def test_otp_verifies_once_and_the_code_is_nowhere(
    temporal_env, sessionmaker, database_url, caplog
):
    caplog.set_level(logging.DEBUG)
    async with world(temporal_env, sessionmaker, database_url) as (stack, shop, smtp):
        ana = Customer(stack, shop.phone_number_id, ANA)
        assert texts(await ana.text("verify")) == [
            "To show private details I first need to verify your e-mail. Type the e-mail "
            "address of your account."
        ]
        assert texts(await ana.text("Ana@Example.com")) == [SENT]
        (mail,) = await mails(smtp, 1)
        assert mail["To"] == "ana@example.com"
        assert "Test Shop" in mail["Subject"]
        code = code_of(mail)
        assert code not in mail["Subject"]

        verified = texts(await ana.text(code, expect=2))
        assert verified[0] == "✅ Verified: a***@example.com."
        assert verified[1].startswith("Orders for a***@example.com:\n")
        assert ORDER in verified[1]
        # The same code again verifies nothing more.
        assert texts(await ana.text(code)) == ["You're already verified as a***@example.com."]
        assert await statuses(sessionmaker, shop) == ["verified"]
        await mails(smtp, 1, settle_s=0)

        async with sessionmaker() as session:
            conversation = (
                await session.execute(
                    select(Conversation).where(Conversation.tenant_id == shop.tenant_id)
                )
            ).scalar_one()
            leaked = await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.tenant_id == shop.tenant_id, Message.text.contains(code))
            )
            redacted = await session.scalar(
                select(func.count())
                .select_from(Message)
                .where(Message.tenant_id == shop.tenant_id, Message.text == REDACTED_CODE)
            )
        assert leaked == 0
        assert redacted == 2
        for workflow_id in (
            verification_workflow_id(shop.tenant_id, conversation.id),
            conversation.workflow_id,
        ):
            history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
            assert code not in history.to_json()
        # Every log line of ours and of the libraries we run; "mail.log" is the test's own
        # receiving SMTP server (aiosmtpd), which prints what it receives.
        logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
        assert code not in logged
        assert "ana@example.com" not in logged.lower()


async def test_five_wrong_codes_lock_the_address(temporal_env, sessionmaker, database_url):
    async with world(temporal_env, sessionmaker, database_url) as (stack, shop, smtp):
        ana = Customer(stack, shop.phone_number_id, ANA)
        await ana.text("ana@example.com")
        code = code_of((await mails(smtp, 1))[0])
        wrong = f"{(int(code) + 1) % 1_000_000:06d}"
        for left in (4, 3, 2, 1):
            assert texts(await ana.text(wrong)) == [f"That code isn't right. {left} attempts left."]
        locked = "Too many wrong attempts. For your security, please try again in 15 minutes."
        assert texts(await ana.text(wrong)) == [locked]
        # The right code after the lock verifies nothing; a new request is refused.
        assert texts(await ana.text(code)) == [locked]
        assert texts(await ana.text("ana@example.com")) == [locked]
        assert await statuses(sessionmaker, shop) == ["locked"]
        await mails(smtp, 1, settle_s=0)


async def test_expired_code_is_refused(temporal_env, sessionmaker, database_url):
    async with world(temporal_env, sessionmaker, database_url, verification_code_ttl_s=2) as (
        stack,
        shop,
        smtp,
    ):
        ana = Customer(stack, shop.phone_number_id, ANA)
        await ana.text("ana@example.com")
        code = code_of((await mails(smtp, 1))[0])
        for _ in range(100):
            if await statuses(sessionmaker, shop) == ["expired"]:
                break
            await asyncio.sleep(0.1)
        assert texts(await ana.text(code)) == [
            "That code has expired. Type your e-mail address again to get a new one."
        ]
        assert await statuses(sessionmaker, shop) == ["expired"]


async def test_codes_per_hour_per_address(temporal_env, sessionmaker, database_url):
    async with world(temporal_env, sessionmaker, database_url) as (stack, shop, smtp):
        ana = Customer(stack, shop.phone_number_id, ANA)
        for count in (1, 2, 3):
            assert texts(await ana.text("ana@example.com")) == [SENT]
            await mails(smtp, count)
        limited = "Too many codes were asked for that address. Please try again in an hour."
        assert texts(await ana.text("ana@example.com")) == [limited]
        # Per address, not per chat: another customer asking for it is limited too.
        eve = Customer(stack, shop.phone_number_id, "15550002222", name="Eve")
        assert texts(await eve.text("ana@example.com")) == [limited]
        await mails(smtp, 3)
        assert await statuses(sessionmaker, shop) == ["superseded", "superseded", "code_sent"]


async def test_unknown_address_gets_the_same_answers(temporal_env, sessionmaker, database_url):
    async with world(temporal_env, sessionmaker, database_url) as (stack, shop, smtp):
        eve = Customer(stack, shop.phone_number_id, "15550002222", name="Eve")
        assert texts(await eve.text("alice@example.com")) == [SENT]
        assert texts(await eve.text("123456")) == ["That code isn't right. 4 attempts left."]
        await mails(smtp, 0)


async def test_simple_verification(temporal_env, sessionmaker, database_url):
    async with world(temporal_env, sessionmaker, database_url) as (stack, shop, smtp):
        ana = Customer(stack, shop.phone_number_id, ANA)
        mismatch = texts(await ana.text("ana@example.com ORD-2026-00999", expect=2))
        assert mismatch == [
            "Checking a***@example.com with order ORD-2026-00999…",
            "That e-mail and order number don't match our records. Please check both and try "
            "again.",
        ]
        match = texts(await ana.text(f"{ORDER.lower()} ana@example.com", expect=3))
        assert match[0] == f"Checking a***@example.com with order {ORDER}…"
        assert match[1] == "✅ Verified: a***@example.com."
        assert ORDER in match[2]
        assert await statuses(sessionmaker, shop) == ["mismatch", "verified"]
        await mails(smtp, 0)


@pytest.mark.parametrize("typed", ["verify", "ana@example.com"])
async def test_no_smtp_configured_says_so(temporal_env, sessionmaker, database_url, typed):
    shop = await make_shop(sessionmaker)
    async with running_stack(temporal_env.client, sessionmaker, database_url) as stack:
        ana = Customer(stack, shop.phone_number_id, ANA)
        if typed == "verify":
            await ana.text("verify")
        answer = texts(await ana.text("ana@example.com", expect=2))
        assert answer == [SENT, "Sorry, we can't send the code right now. Please try again later."]
