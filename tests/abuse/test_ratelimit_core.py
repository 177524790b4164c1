"""The fixed-window counters themselves: alignment, exact counts under concurrency."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.ratelimit import (
    Decision,
    InboundLimits,
    InboundVerdict,
    check_inbound,
    claim_notice,
    current_hits,
    hit,
    inbound_customer_key,
    inbound_tenant_key,
    release,
    retry_after_s,
    subject_hash,
    window_start,
)
from tests.harness import make_settings

NOW = datetime(2026, 11, 21, 10, 0, 59, 250_000, tzinfo=UTC)


def test_windows_are_aligned_on_the_epoch() -> None:
    assert window_start(NOW, timedelta(seconds=60)) == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert window_start(NOW, timedelta(minutes=15)) == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert window_start(NOW, timedelta(seconds=7)).timestamp() % 7 == 0
    assert retry_after_s(NOW, timedelta(seconds=60)) == 1  # 0.75 s left: rounded up
    assert retry_after_s(NOW, timedelta(hours=1)) == 3541
    with pytest.raises(ValueError):
        window_start(NOW, timedelta(0))
    with pytest.raises(ValueError):
        window_start(NOW.replace(tzinfo=None), timedelta(seconds=60))


def test_subject_hash_hides_the_subject() -> None:
    settings = make_settings("postgresql+psycopg://unused/db")
    hashed = subject_hash(settings, "account", "shop", "ana@example.com")
    assert len(hashed) == 32 and "ana" not in hashed
    assert hashed == subject_hash(settings, "account", "shop", "ana@example.com")
    assert hashed != subject_hash(settings, "account", "shop", "bea@example.com")


async def test_concurrent_hits_allow_exactly_the_limit(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    key = f"test:{uuid.uuid4()}"
    window = timedelta(hours=1)

    async def one() -> Decision:
        async with sessionmaker() as session, session.begin():
            return await hit(session, key, limit=10, window=window, now=NOW)

    decisions = await asyncio.gather(*(one() for _ in range(30)))
    assert sorted(d.hits for d in decisions) == list(range(1, 31))
    assert sum(d.allowed for d in decisions) == 10
    assert sum(d.first_refusal for d in decisions) == 1
    (first,) = [d for d in decisions if d.first_refusal]
    assert first.hits == 11 and not first.allowed
    assert {d.retry_after_s for d in decisions} == {3541}

    async with sessionmaker() as session, session.begin():
        assert await current_hits(session, key, window=window, now=NOW) == 30
        # Already told in this window; the next window starts from zero.
        assert not await claim_notice(session, key, window=window, now=NOW)
        later = NOW + window
        assert await current_hits(session, key, window=window, now=later) == 0
        fresh = await hit(session, key, limit=10, window=window, now=later)
        assert (fresh.allowed, fresh.hits, fresh.first_refusal) == (True, 1, False)
        assert await claim_notice(session, key, window=window, now=later)
        assert not await claim_notice(session, key, window=window, now=later)


async def test_a_customers_refusals_never_count_against_the_shop(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    limits = InboundLimits(per_customer=2, per_tenant=3, window=timedelta(hours=1))
    tenant, ana, bea, cy = (uuid.uuid4() for _ in range(4))

    async def one(customer: uuid.UUID) -> InboundVerdict:
        async with sessionmaker() as session, session.begin():
            return await check_inbound(
                session, limits, tenant_id=tenant, customer_id=customer, now=NOW
            )

    # Ana floods: two accepted, then refused by her own limit, told once.
    assert [await one(ana) for _ in range(5)] == [
        InboundVerdict(allowed=True),
        InboundVerdict(allowed=True),
        InboundVerdict(allowed=False, notify=True, retry_after_s=3541),
        InboundVerdict(allowed=False, notify=False, retry_after_s=3541),
        InboundVerdict(allowed=False, notify=False, retry_after_s=3541),
    ]
    # The shop counted only her two: Bea gets the third slot, then the shop is full.
    assert [await one(bea) for _ in range(2)] == [
        InboundVerdict(allowed=True),
        InboundVerdict(allowed=False, notify=True, retry_after_s=3541),
    ]
    # Cy is refused by the shop's limit and told once; so is Bea only once per window.
    assert [await one(cy) for _ in range(2)] == [
        InboundVerdict(allowed=False, notify=True, retry_after_s=3541),
        InboundVerdict(allowed=False, notify=False, retry_after_s=3541),
    ]
    assert await one(bea) == InboundVerdict(allowed=False, notify=False, retry_after_s=3541)
    async with sessionmaker() as session:
        assert (
            await current_hits(session, inbound_tenant_key(tenant), window=limits.window, now=NOW)
            == 3 + 3
        )
        assert (
            await current_hits(session, inbound_customer_key(ana), window=limits.window, now=NOW)
            == 5
        )


async def test_release_gives_back_one_hit_and_never_goes_below_zero(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    key, window = f"test:{uuid.uuid4()}", timedelta(minutes=15)
    async with sessionmaker() as session, session.begin():
        await release(session, key, window=window, now=NOW)  # nothing to give back
        assert [(await hit(session, key, limit=1, window=window, now=NOW)).hits for _ in "ab"] == [
            1,
            2,
        ]
        for _ in range(3):
            await release(session, key, window=window, now=NOW)
        assert await current_hits(session, key, window=window, now=NOW) == 0
        assert (await hit(session, key, limit=1, window=window, now=NOW)).allowed


@pytest.mark.parametrize(
    "name",
    [
        "rate_inbound_window_s",
        "rate_api_window_s",
        "rate_login_window_s",
        "rate_verification_window_s",
    ],
)
def test_windows_are_at_most_a_day(name: str) -> None:
    # Counters are swept once a day old: a longer window would be forgotten halfway.
    assert getattr(make_settings("postgresql://x/y", **{name: 86_400}), name) == 86_400
    with pytest.raises(ValidationError, match=name):
        make_settings("postgresql://x/y", **{name: 86_401})
