"""The per-shop cap on verification codes: a flood of addresses cannot make a mail cannon."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Verification
from tests.abuse.helpers import digits, fresh_window
from tests.agent.helpers import seed_order
from tests.fakes.smtp import SmtpSink
from tests.harness import Customer, body_text, running_stack
from tests.shop import make_shop

LIMITED = "Too many codes were asked for that address. Please try again in an hour."


def sent(masked: str) -> str:
    return (
        f"If {masked} belongs to an account at Test Shop, we've e-mailed it a 6-digit "
        "code. Type the code here; it is valid for 5 minutes."
    )


async def test_codes_per_shop_are_capped_alike_for_known_and_unknown_addresses(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    shop = await make_shop(sessionmaker)
    other = await make_shop(sessionmaker)
    await seed_order(
        sessionmaker, shop, digits="15550007777", number="ORD-2026-00777", email="ana@example.com"
    )
    with SmtpSink() as smtp:
        async with running_stack(
            temporal_env.client,
            sessionmaker,
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            rate_verification_per_tenant=2,
            rate_verification_window_s=3600,
        ) as stack:
            await fresh_window(3600, need_s=120)
            answers = []
            for email in ["ana@example.com", "bob@example.com", "ana@example.com", "cy@ex.com"]:
                customer = Customer(stack, shop.phone_number_id, digits())
                (reply,) = await customer.text(email)
                answers.append(body_text(reply))
            # Known (ana) and unknown (bob, cy) addresses get the same answers.
            assert answers == [sent("a***@example.com"), sent("b***@example.com"), LIMITED, LIMITED]

            # Another shop has its own budget.
            elsewhere = Customer(stack, other.phone_number_id, digits())
            (reply,) = await elsewhere.text("dee@example.com")
            assert body_text(reply) == sent("d***@example.com")

            # Codes go to known addresses only; Ana's second request (her own limit is 3 an
            # hour) was refused by the shop's cap, so she got one e-mail.
            for _ in range(200):
                if smtp.messages:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            assert [m["To"] for m in smtp.messages] == ["ana@example.com"]
            async with sessionmaker() as session:
                rows = await session.scalar(
                    select(func.count())
                    .select_from(Verification)
                    .where(Verification.tenant_id == shop.tenant_id)
                )
            assert rows == 2


async def test_codes_per_conversation_are_capped_over_all_addresses(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    shop = await make_shop(sessionmaker)
    for n, email in enumerate(["ana@example.com", "bob@example.com", "cy@example.com"]):
        await seed_order(
            sessionmaker, shop, digits=f"1555000880{n}", number=f"ORD-2026-0088{n}", email=email
        )
    with SmtpSink() as smtp:
        async with running_stack(
            temporal_env.client,
            sessionmaker,
            database_url,
            smtp_host="127.0.0.1",
            smtp_port=smtp.port,
            smtp_starttls=False,
            verification_codes_per_conversation=2,
        ) as stack:
            mallory = Customer(stack, shop.phone_number_id, digits())
            answers = []
            for email in ["ana@example.com", "bob@example.com", "cy@example.com"]:
                (reply,) = await mallory.text(email)
                answers.append(body_text(reply))
            # Each address is fresh (3 an hour each), but this chat asked for 2 already.
            assert answers == [sent("a***@example.com"), sent("b***@example.com"), LIMITED]

            # Another customer of the shop is not affected by Mallory's budget.
            (reply,) = await Customer(stack, shop.phone_number_id, digits()).text("cy@example.com")
            assert body_text(reply) == sent("c***@example.com")

            for _ in range(200):
                if len(smtp.messages) == 3:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.0)
            assert sorted(m["To"] for m in smtp.messages) == [
                "ana@example.com",
                "bob@example.com",
                "cy@example.com",
            ]
