"""Tenant API keys: creation, verification, revocation (no HTTP here).

A key reads ``tdk_<prefix>_<secret>``: ``prefix`` (10 alphanumeric characters, unique) finds
the row, ``secret`` is 32 random bytes (url-safe base64). Only the prefix and the
HMAC-SHA256 of the whole key under a server-side pepper (``settings.secret_key_bytes``) are
stored, so a leaked table does not give working keys; the plain key is returned once, when
it is created.

Roles nest: ``admin`` can do everything an ``operator`` can, who can do everything a
``viewer`` can. Functions here flush but never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import ApiKey

Role = Literal["admin", "operator", "viewer"]
ROLES: tuple[Role, ...] = get_args(Role)
"""Every role, strongest first."""

KEY_PREFIX = "tdk"
PREFIX_LENGTH = 10
SECRET_BYTES = 32
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key (no write on every request)."""

_RANK: dict[str, int] = {"viewer": 0, "operator": 1, "admin": 2}
_ALPHABET = string.ascii_letters + string.digits
# Compared against when no row matches, so an unknown prefix costs the same HMAC.
_DUMMY_HASH = "0" * 64


def role_allows(have: str, need: str) -> bool:
    """True when a principal with role ``have`` may do what role ``need`` may.

    Unknown roles allow nothing.
    """
    if have not in _RANK or need not in _RANK:
        return False
    return _RANK[have] >= _RANK[need]


def hash_key(token: str, pepper: bytes) -> str:
    """The hex HMAC-SHA256 of a whole key under ``pepper`` (what ``api_keys`` stores)."""
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def _parse(token: str) -> str | None:
    """The prefix of a well-formed key, else ``None``."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    prefix, secret = parts[1], parts[2]
    if len(prefix) != PREFIX_LENGTH or any(c not in _ALPHABET for c in prefix):
        return None
    if len(secret) < 40:  # 32 bytes of url-safe base64 are 43 characters
        return None
    return prefix


def looks_like_api_key(token: str) -> bool:
    """True when ``token`` has the shape of a tenant API key (not that it is valid)."""
    return _parse(token) is not None


async def create_api_key(
    session: AsyncSession, *, tenant_id: uuid.UUID, name: str, role: Role, pepper: bytes
) -> tuple[ApiKey, str]:
    """Create a key for ``tenant_id``; the caller commits.

    Args:
        session: database session.
        tenant_id: the tenant the key acts for.
        name: a label for people ("zapier", "support desk").
        role: ``admin``, ``operator`` or ``viewer``.
        pepper: the server secret the key hash is keyed with.

    Returns:
        The stored row and the plain key, which is never retrievable again.

    Raises:
        ValueError: unknown role.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH))
    token = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    key = ApiKey(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        name=name,
        role=role,
        prefix=prefix,
        key_hash=hash_key(token, pepper),
    )
    session.add(key)
    await session.flush()
    return key, token


async def verify_api_key(
    session: AsyncSession, token: str, pepper: bytes, *, now: datetime | None = None
) -> ApiKey | None:
    """The live key ``token`` names, or ``None`` (malformed, unknown, wrong or revoked).

    The hash comparison is constant-time; ``last_used_at`` is updated (flushed, not
    committed) when it is older than a minute.
    """
    prefix = _parse(token)
    given = hash_key(token, pepper)
    key = (
        await session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
        if prefix is not None
        else None
    )
    expected = key.key_hash if key is not None else _DUMMY_HASH
    matches = hmac.compare_digest(given.encode(), expected.encode())
    if key is None or not matches or key.revoked_at is not None:
        return None
    moment = now or datetime.now(UTC)
    if key.last_used_at is None or moment - key.last_used_at >= LAST_USED_RESOLUTION:
        key.last_used_at = moment
        await session.flush()
    return key


async def list_api_keys(session: AsyncSession, tenant_id: uuid.UUID) -> list[ApiKey]:
    """The tenant's keys, revoked ones included, newest first."""
    rows = await session.scalars(
        select(ApiKey)
        .where(ApiKey.tenant_id == tenant_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id)
    )
    return list(rows)


async def revoke_api_key(
    session: AsyncSession, tenant_id: uuid.UUID, key_id: uuid.UUID, *, now: datetime | None = None
) -> ApiKey | None:
    """Revoke one of the tenant's keys (idempotent); the caller commits.

    Returns:
        The key, or ``None`` when the tenant has no such key (another tenant's included).
    """
    key = await session.get(ApiKey, key_id)
    if key is None or key.tenant_id != tenant_id:
        return None
    if key.revoked_at is None:
        key.revoked_at = now or datetime.now(UTC)
        await session.flush()
    return key
