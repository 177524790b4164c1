"""Fixed-window rate limits counted in Postgres, so every API process shares the counters.

A limit allows ``limit`` hits of one key per window; windows are aligned on the Unix epoch
(a 60-second window starts at every whole minute). Each hit is one atomic
``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on ``rate_limit_hits``, so concurrent
requests on several processes never both take the last slot. A refused hit still counts.

Keys name the limit and its subject by internal ids only (``inbound:customer:{uuid}``,
``api:key:{uuid}``), never a phone number, an e-mail address or an IP address in clear: those
go through ``subject_hash`` (HMAC-SHA256 with ``Settings.derived_key("ratelimit")``) first.

Callers run the functions inside their own transaction (they never commit), so a hit is
counted exactly when the work it guards is committed.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import RateLimitHit
from tendero.settings import Settings

# ``messages.status`` of an inbound message recorded over an inbound limit.
THROTTLED = "throttled"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Decision:
    """The answer to one hit.

    Attributes:
        allowed: the hit is within the limit (``hits <= limit``).
        hits: hits of the key in the current window, this one included.
        limit: the limit that was applied.
        retry_after_s: whole seconds (at least 1) until the current window ends.
        first_refusal: this is the first refused hit of the key in this window (True exactly
            once per key and window, whatever the number of processes).
    """

    allowed: bool
    hits: int
    limit: int
    retry_after_s: int
    first_refusal: bool = False


def window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window holding ``now`` (aware UTC), aligned on the epoch.

    Raises:
        ValueError: ``window`` is not positive, or ``now`` is naive.
    """
    if window <= timedelta(0):
        raise ValueError("a rate-limit window must be positive")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    size = window // _MICROSECOND
    elapsed = (now - _EPOCH) // _MICROSECOND
    return _EPOCH + (elapsed - elapsed % size) * _MICROSECOND


def retry_after_s(now: datetime, window: timedelta) -> int:
    """Whole seconds (rounded up, at least 1) until the window holding ``now`` ends."""
    end = window_start(now, window) + window
    return max(1, math.ceil((end - now).total_seconds()))


def subject_hash(settings: Settings, *parts: str) -> str:
    """A stable, keyed name for personal data in a key (an e-mail, an IP): 32 hex chars.

    The parts are joined with a newline; the HMAC key is the ``ratelimit`` purpose key, so
    the hash cannot be reversed by trying addresses without the install's secret.
    """
    message = "\n".join(parts).encode()
    digest = hmac.new(settings.derived_key("ratelimit"), message, hashlib.sha256)
    return digest.hexdigest()[:32]


async def hit(
    session: AsyncSession, key: str, *, limit: int, window: timedelta, now: datetime
) -> Decision:
    """Count one hit of ``key`` in the window holding ``now`` and decide on it.

    Args:
        session: open session; the caller commits (the row stays locked until then, which
            serialises concurrent hits of one key).
        key: the limit and its subject, internal ids only (at most 200 characters).
        limit: hits allowed per window (at least 1).
        window: the window's length.
        now: aware UTC.

    Returns:
        The decision; a refused hit flips the window's ``notified`` flag, and the one hit
        that flipped it gets ``first_refusal=True``.

    Raises:
        ValueError: an empty or too long key, a limit below 1, a bad window or naive ``now``.
    """
    if not key or len(key) > 200:
        raise ValueError("a rate-limit key has 1 to 200 characters")
    if limit < 1:
        raise ValueError("a rate limit allows at least one hit")
    start = window_start(now, window)
    statement = (
        insert(RateLimitHit)
        .values(key=key, window_start=start, hits=1, notified=False)
        .on_conflict_do_update(
            index_elements=[RateLimitHit.key, RateLimitHit.window_start],
            set_={"hits": RateLimitHit.hits + 1},
        )
        .returning(RateLimitHit.hits)
    )
    hits = int((await session.execute(statement)).scalar_one())
    seconds = retry_after_s(now, window)
    if hits <= limit:
        return Decision(allowed=True, hits=hits, limit=limit, retry_after_s=seconds)
    first = await _flip_notified(session, key, start)
    return Decision(
        allowed=False, hits=hits, limit=limit, retry_after_s=seconds, first_refusal=first
    )


async def claim_notice(
    session: AsyncSession, key: str, *, window: timedelta, now: datetime
) -> bool:
    """Mark ``key``'s current window as told to slow down; True only for the first caller.

    For a subject refused by another key's limit (a customer refused by the tenant's
    limit is told once per window, on the customer's own key). A key without hits in the
    window has nothing to mark: False.
    """
    return await _flip_notified(session, key, window_start(now, window))


async def release(session: AsyncSession, key: str, *, window: timedelta, now: datetime) -> None:
    """Give back one allowed hit of ``key`` in the window holding ``now`` (never below 0).

    For a limit on outcomes known only after the work (failed logins): the attempt takes
    its slot with ``hit`` before the work, so concurrent attempts never exceed the limit,
    and gives it back here when the outcome does not count.
    """
    await session.execute(
        update(RateLimitHit)
        .where(
            RateLimitHit.key == key,
            RateLimitHit.window_start == window_start(now, window),
            RateLimitHit.hits > 0,
        )
        .values(hits=RateLimitHit.hits - 1)
    )


async def current_hits(session: AsyncSession, key: str, *, window: timedelta, now: datetime) -> int:
    """Hits of ``key`` in the window holding ``now``, without counting one (0 if none)."""
    found = await session.scalar(
        select(RateLimitHit.hits).where(
            RateLimitHit.key == key, RateLimitHit.window_start == window_start(now, window)
        )
    )
    return int(found or 0)


async def _flip_notified(session: AsyncSession, key: str, start: datetime) -> bool:
    flipped = await session.execute(
        update(RateLimitHit)
        .where(
            RateLimitHit.key == key,
            RateLimitHit.window_start == start,
            RateLimitHit.notified.is_(False),
        )
        .values(notified=True)
        .returning(RateLimitHit.key)
    )
    return flipped.first() is not None


# -- inbound messages (every channel) --------------------------------------------------------


@dataclass(frozen=True)
class InboundLimits:
    """Limits on inbound customer messages, per customer and per tenant, in one window."""

    per_customer: int
    per_tenant: int
    window: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> InboundLimits:
        """``RATE_INBOUND_PER_CUSTOMER``, ``RATE_INBOUND_PER_TENANT``, ``RATE_INBOUND_WINDOW_S``."""
        return cls(
            per_customer=settings.rate_inbound_per_customer,
            per_tenant=settings.rate_inbound_per_tenant,
            window=timedelta(seconds=settings.rate_inbound_window_s),
        )


@dataclass(frozen=True)
class InboundVerdict:
    """What to do with one recorded inbound message.

    Attributes:
        allowed: hand it to the conversation as usual.
        notify: refused, and the first refusal of this customer in the window: hand it to
            the conversation marked throttled, so the customer gets one slow-down notice.
            Other refused messages are kept but never reach the conversation or the model.
        retry_after_s: seconds until the refusing window ends (0 when allowed).
    """

    allowed: bool
    notify: bool = False
    retry_after_s: int = 0


def inbound_customer_key(customer_id: uuid.UUID) -> str:
    """The key of a customer's inbound limit."""
    return f"inbound:customer:{customer_id}"


def inbound_tenant_key(tenant_id: uuid.UUID) -> str:
    """The key of a tenant's inbound limit (all its customers, every channel)."""
    return f"inbound:tenant:{tenant_id}"


async def check_inbound(
    session: AsyncSession,
    limits: InboundLimits,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    now: datetime,
) -> InboundVerdict:
    """Count one inbound message of a customer against their limit, then the tenant's.

    Channel-agnostic: the WhatsApp webhook calls it after recording a message, and so will
    the web chat. A message refused by the customer's own limit does not count against the
    tenant, so one flooding customer never uses up the shop's budget for everybody else.

    Args:
        session: open session (the caller's transaction, which records the message).
        limits: the limits to apply.
        tenant_id: the shop.
        customer_id: the sender.
        now: aware UTC.
    """
    customer_key = inbound_customer_key(customer_id)
    customer = await hit(
        session, customer_key, limit=limits.per_customer, window=limits.window, now=now
    )
    if not customer.allowed:
        return InboundVerdict(
            allowed=False, notify=customer.first_refusal, retry_after_s=customer.retry_after_s
        )
    tenant = await hit(
        session,
        inbound_tenant_key(tenant_id),
        limit=limits.per_tenant,
        window=limits.window,
        now=now,
    )
    if tenant.allowed:
        return InboundVerdict(allowed=True)
    notify = await claim_notice(session, customer_key, window=limits.window, now=now)
    return InboundVerdict(allowed=False, notify=notify, retry_after_s=tenant.retry_after_s)
