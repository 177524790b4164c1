"""Identity verification by e-mail: codes, their keyed hashes, requests and what they unlock.

Two levels (VerificationWorkflow runs both):

- ``simple``: an e-mail and an order number that belong together in the tenant verify the
  conversation for order look-ups of that e-mail;
- ``otp``: a 6-digit code e-mailed to the address, valid ``VERIFICATION_CODE_TTL_S``, one
  use, at most ``VERIFICATION_MAX_ATTEMPTS`` wrong tries (then the address is locked for
  ``VERIFICATION_LOCK_S``), at most ``VERIFICATION_CODES_PER_HOUR`` codes per address,
  ``VERIFICATION_CODES_PER_CONVERSATION`` per conversation an hour and
  ``RATE_VERIFICATION_PER_TENANT`` per shop per ``RATE_VERIFICATION_WINDOW_S`` (so a flood
  of addresses cannot turn the shop into a mail cannon). It also unlocks the customer
  profile and changes to pending orders.

The code is derived from a purpose key (HKDF of ``TENDERO_SECRET_KEY``) and the random id of
the request, so the activity that e-mails it can be retried and sends the same code with the
same ``Message-ID``; the code is stored nowhere. Workflows, Postgres and logs only ever see
``code_hash`` (HMAC-SHA256 bound to the request id); the customer's typed code is replaced
in the transcript before anyone reads it. Unknown addresses get a request row, a hash and
every answer exactly like known ones: nothing tells the two apart.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import Customer, Order, Verification
from tendero.ratelimit import hit
from tendero.settings import Settings

CODE_DIGITS = 6
# Customers paste codes with spaces or dashes ("123 456", "123-456").
_CODE_TEXT = re.compile(r"^\s*(\d{3})[\s-]?(\d{3})\s*$")
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_EMAIL_IN_TEXT = re.compile(r"[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
REDACTED_CODE = "[verification code]"


class Level(StrEnum):
    """How strongly a verification proves who the customer is."""

    SIMPLE = "simple"
    OTP = "otp"


class RequestOutcome(StrEnum):
    """What happened to a verification request."""

    STARTED = "started"
    INVALID_EMAIL = "invalid_email"
    RATE_LIMITED = "rate_limited"
    LOCKED = "locked"


@dataclass(frozen=True)
class VerificationPolicy:
    """The limits of a verification (from ``Settings``)."""

    code_ttl: timedelta
    max_attempts: int
    lock: timedelta
    codes_per_hour: int
    valid_for: timedelta
    # Codes asked for by one conversation per hour, whatever the addresses (``None``: no cap).
    codes_per_conversation: int | None = None
    # Codes e-mailed per shop per ``tenant_window`` (``None``: no shop-wide cap).
    codes_per_tenant: int | None = None
    tenant_window: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> VerificationPolicy:
        """The limits configured by the ``VERIFICATION_*`` settings."""
        return cls(
            code_ttl=timedelta(seconds=settings.verification_code_ttl_s),
            max_attempts=settings.verification_max_attempts,
            lock=timedelta(seconds=settings.verification_lock_s),
            codes_per_hour=settings.verification_codes_per_hour,
            codes_per_conversation=settings.verification_codes_per_conversation,
            valid_for=timedelta(seconds=settings.verification_valid_s),
            codes_per_tenant=settings.rate_verification_per_tenant,
            tenant_window=timedelta(seconds=settings.rate_verification_window_s),
        )


def normalise_email(raw: str) -> str | None:
    """``raw`` lower-cased and trimmed when it is an e-mail address, else ``None``."""
    value = raw.strip().strip(".").lower()
    if len(value) > 320 or not _EMAIL.match(value):
        return None
    return value


def find_email(text_: str) -> str | None:
    """The first e-mail address written in a message, normalised, or ``None``."""
    found = _EMAIL_IN_TEXT.search(text_)
    return None if found is None else normalise_email(found.group(0))


def mask_email(email: str) -> str:
    """``ana.garcia@example.com`` -> ``a***@example.com`` (for replies)."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def parse_code(text_: str) -> str | None:
    """The 6 digits of a typed code (``"123 456"`` -> ``"123456"``), else ``None``."""
    found = _CODE_TEXT.match(text_)
    return None if found is None else found.group(1) + found.group(2)


def code_for(key: bytes, verification_id: uuid.UUID) -> str:
    """The code of one OTP request: the same for every retry of the sending activity.

    Args:
        key: the ``otp`` purpose key (``Settings.derived_key("otp")``).
        verification_id: the request's random id.

    Returns:
        Six decimal digits, zero-padded.
    """
    digest = hmac.new(key, b"code:" + verification_id.bytes, hashlib.sha256).digest()
    # 8 bytes modulo 10**6: the bias is below 1e-13, far under any guessing advantage.
    return f"{int.from_bytes(digest[:8], 'big') % 10**CODE_DIGITS:0{CODE_DIGITS}d}"


def code_hash(key: bytes, verification_id: uuid.UUID, code: str) -> str:
    """HMAC-SHA256 of a code bound to its request (hex): what workflows compare."""
    message = b"hash:" + verification_id.bytes + b":" + code.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def hashes_match(expected: str | None, submitted: str) -> bool:
    """Constant-time comparison of two code hashes (``None`` never matches)."""
    return expected is not None and hmac.compare_digest(expected, submitted)


async def _lock_address(session: AsyncSession, tenant_id: uuid.UUID, email: str) -> None:
    # Serialises requests for one address, so two conversations cannot both pass the limit.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"verify:{tenant_id}:{email}"},
    )


async def request_verification(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    conversation_id: uuid.UUID,
    customer_id: uuid.UUID,
    raw_email: str,
    level: Level,
    order_number: str | None,
    purpose: str,
    workflow_id: str,
    policy: VerificationPolicy,
    now: datetime,
) -> tuple[RequestOutcome, Verification | None]:
    """Record a verification request, or say why it cannot start (caller commits).

    Earlier unfinished requests of the conversation are ``superseded``. Known and unknown
    addresses are treated identically (same limits, same outcome).

    Returns:
        ``(STARTED, row)``, or an outcome and ``None``: ``INVALID_EMAIL``; ``LOCKED`` (too
        many wrong codes or mismatches for this address or conversation, within
        ``policy.lock``); ``RATE_LIMITED`` (``policy.codes_per_hour`` OTP requests for the
        address in the last hour, ``policy.codes_per_conversation`` by the conversation in
        the last hour, or ``policy.codes_per_tenant`` codes for the shop in the current
        window: the same answer, whoever the address belongs to).
    """
    email = normalise_email(raw_email)
    if email is None:
        return RequestOutcome.INVALID_EMAIL, None
    await _lock_address(session, tenant_id, email)
    locked = await session.scalar(
        select(func.count())
        .select_from(Verification)
        .where(
            Verification.tenant_id == tenant_id,
            Verification.locked_until > now,
            (Verification.email == email) | (Verification.conversation_id == conversation_id),
        )
    )
    if locked:
        return RequestOutcome.LOCKED, None
    if level is Level.SIMPLE:
        mismatches = await session.scalar(
            select(func.count())
            .select_from(Verification)
            .where(
                Verification.conversation_id == conversation_id,
                Verification.level == Level.SIMPLE.value,
                Verification.status == "mismatch",
                Verification.created_at > now - policy.lock,
            )
        )
        if (mismatches or 0) >= policy.max_attempts:
            return RequestOutcome.LOCKED, None
    else:
        recent = await session.scalar(
            select(func.count())
            .select_from(Verification)
            .where(
                Verification.tenant_id == tenant_id,
                Verification.email == email,
                Verification.level == Level.OTP.value,
                Verification.created_at > now - timedelta(hours=1),
            )
        )
        if (recent or 0) >= policy.codes_per_hour:
            return RequestOutcome.RATE_LIMITED, None
        if policy.codes_per_conversation is not None:
            # One chat cycling through addresses (each with its own 3 an hour) stops here.
            asked = await session.scalar(
                select(func.count())
                .select_from(Verification)
                .where(
                    Verification.conversation_id == conversation_id,
                    Verification.level == Level.OTP.value,
                    Verification.created_at > now - timedelta(hours=1),
                )
            )
            if (asked or 0) >= policy.codes_per_conversation:
                return RequestOutcome.RATE_LIMITED, None
        if policy.codes_per_tenant is not None:
            shop = await hit(
                session,
                f"verify:tenant:{tenant_id}",
                limit=policy.codes_per_tenant,
                window=policy.tenant_window,
                now=now,
            )
            if not shop.allowed:
                return RequestOutcome.RATE_LIMITED, None
    await session.execute(
        update(Verification)
        .where(
            Verification.conversation_id == conversation_id,
            Verification.status.in_(("pending", "code_sent")),
        )
        .values(status="superseded")
    )
    row = Verification(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        conversation_id=conversation_id,
        customer_id=customer_id,
        email=email,
        level=level.value,
        status="pending",
        order_number=order_number.strip().upper() if order_number else None,
        purpose=purpose,
        workflow_id=workflow_id,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return RequestOutcome.STARTED, row


async def latest_code_request(
    session: AsyncSession, *, conversation_id: uuid.UUID, since: datetime
) -> Verification | None:
    """The conversation's latest OTP request made after ``since``, whatever its status.

    A typed 6-digit message is treated as a code (and kept out of the transcript) while such
    a request exists, even once it has expired, locked or verified, so a late code gets a
    clear answer instead of a catalog search.
    """
    found = await session.execute(
        select(Verification)
        .where(
            Verification.conversation_id == conversation_id,
            Verification.level == Level.OTP.value,
            Verification.created_at > since,
        )
        .order_by(Verification.created_at.desc())
        .limit(1)
    )
    return found.scalar_one_or_none()


async def verified_email(
    session: AsyncSession,
    *,
    conversation_id: uuid.UUID,
    now: datetime,
    email: str | None = None,
    otp_only: bool = False,
) -> str | None:
    """The e-mail this conversation is verified for right now (``email`` to check one).

    Args:
        session: open session.
        conversation_id: whose verification.
        now: aware UTC; verifications past ``verified_until`` no longer count.
        email: only this address (normalised by the caller) counts, when given.
        otp_only: only an OTP verification counts (profile, order changes).
    """
    query = select(Verification.email).where(
        Verification.conversation_id == conversation_id,
        Verification.status == "verified",
        Verification.verified_until > now,
    )
    if email is not None:
        query = query.where(Verification.email == email)
    if otp_only:
        query = query.where(Verification.level == Level.OTP.value)
    found = await session.execute(query.order_by(Verification.verified_at.desc()).limit(1))
    return found.scalar_one_or_none()


async def known_address(session: AsyncSession, *, tenant_id: uuid.UUID, email: str) -> bool:
    """True when a customer of the tenant has this e-mail (normalised)."""
    count = await session.scalar(
        select(func.count())
        .select_from(Customer)
        .where(Customer.tenant_id == tenant_id, Customer.email == email)
    )
    return bool(count)


async def order_matches_email(
    session: AsyncSession, *, tenant_id: uuid.UUID, order_number: str, email: str
) -> bool:
    """True when the tenant's order ``order_number`` belongs to a customer with ``email``."""
    count = await session.scalar(
        select(func.count())
        .select_from(Order)
        .join(Customer, Customer.id == Order.customer_id)
        .where(
            Order.tenant_id == tenant_id,
            Order.number == order_number.strip().upper(),
            Customer.tenant_id == tenant_id,
            Customer.email == email,
        )
    )
    return bool(count)
