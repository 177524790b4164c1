"""HTTP rate limits: ``429 Too Many Requests`` with ``Retry-After`` (``tendero.ratelimit``).

- every authenticated ``/api/v1`` request (API key or ``TENDERO_ADMIN_TOKEN``) counts
  against its principal, ``RATE_API_PER_PRINCIPAL`` per ``RATE_API_WINDOW_S``
  (``api.auth.get_principal``);
- every authenticated ``/api/v2`` request counts against its user, with the same limit
  (``api.agent_auth.current_user``);
- ``POST /api/v2/auth/token`` counts failed logins per account (shop slug + e-mail,
  ``RATE_LOGIN_PER_ACCOUNT``) and per client IP (``RATE_LOGIN_PER_IP``), both per
  ``RATE_LOGIN_WINDOW_S``; once either is used up, every login for that account or from
  that IP is refused until the window ends, even with the right password. Each attempt
  takes its slot before the password is checked and gives it back on success, so
  concurrent guesses never get past the limit.

A refusal is ``429`` with ``Retry-After: <seconds until the window ends>`` and the API's
usual error body ``{"detail": "..."}``. Keys carry internal ids, or an HMAC of an e-mail
or IP address (``tendero.ratelimit.subject_hash``), never the address itself.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, status
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.base import utcnow
from tendero.ratelimit import hit, release, subject_hash
from tendero.settings import Settings

RATE_LIMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    429: {
        "description": "Too many requests: retry after the `Retry-After` header's seconds.",
        "headers": {
            "Retry-After": {
                "description": "Seconds until the rate-limit window ends.",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
    },
}
"""OpenAPI ``responses`` of every rate-limited route."""


def too_many_requests(retry_after: int) -> HTTPException:
    """The 429 answer, with ``Retry-After`` in whole seconds (at least 1)."""
    seconds = max(1, retry_after)
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail=f"too many requests; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )


async def enforce(
    sessions: async_sessionmaker[AsyncSession], key: str, *, limit: int, window: timedelta
) -> None:
    """Count one request of ``key``; refuse it when over ``limit`` in the window.

    Raises:
        HTTPException: 429 with ``Retry-After``.
    """
    async with sessions() as session, session.begin():
        decision = await hit(session, key, limit=limit, window=window, now=utcnow())
    if not decision.allowed:
        raise too_many_requests(decision.retry_after_s)


async def enforce_api(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, key: str
) -> None:
    """The per-principal limit of the REST APIs (``RATE_API_*``).

    Raises:
        HTTPException: 429 with ``Retry-After``.
    """
    await enforce(
        sessions,
        key,
        limit=settings.rate_api_per_principal,
        window=timedelta(seconds=settings.rate_api_window_s),
    )


def api_key_principal_key(key_id: uuid.UUID | None) -> str:
    """The limit key of an ``/api/v1`` caller: its API key, or the install admin token."""
    return "api:admin" if key_id is None else f"api:key:{key_id}"


def agent_user_key(user_id: uuid.UUID) -> str:
    """The limit key of an ``/api/v2`` user."""
    return f"api:user:{user_id}"


class LoginLimiter:
    """Failed-login limits: per account and per client IP (``RATE_LOGIN_*``).

    Used by ``POST /api/v2/auth/token`` (account: shop slug + e-mail) and by the checks of
    ``TENDERO_ADMIN_TOKEN`` on ``/api`` and ``/codec`` (``api.auth.check_admin_token``: per
    IP only, as a per-account limit there would let anyone lock the operator out).
    ``reserve`` before checking the secret, ``give_back`` after a good one; a failed
    attempt keeps its slot.

    Args:
        sessions: database session factory.
        settings: ``RATE_LOGIN_*`` and the secret the keys are derived from.
        account: the parts naming the account (normalised here: trimmed, lower-cased),
            e.g. ``("demo", "ana@example.com")``; ``None``: only the IP counts.
        client_ip: the caller's address (``None`` when unknown: only the account counts).
        scope: the keys' prefix: ``login`` (shop users' passwords) or ``admin-token``
            (guesses of ``TENDERO_ADMIN_TOKEN``), each with its own budget.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        account: tuple[str, ...] | None,
        client_ip: str | None,
        scope: str = "login",
    ) -> None:
        """Derive the keys (HMACs: no e-mail or IP in clear)."""
        self._sessions = sessions
        self._window = timedelta(seconds=settings.rate_login_window_s)
        self._now = utcnow()
        self._limits: list[tuple[str, int]] = []
        if account is not None:
            parts = (part.strip().lower() for part in account)
            account_hash = subject_hash(settings, "account", *parts)
            self._limits.append((f"{scope}:{account_hash}", settings.rate_login_per_account))
        if client_ip:
            ip = subject_hash(settings, "ip", client_ip)
            self._limits.append((f"{scope}:ip:{ip}", settings.rate_login_per_ip))

    async def reserve(self) -> None:
        """Take a slot for this attempt before the password is checked, or refuse it.

        The slot is counted at once (one atomic upsert per key, committed before the
        password is checked), so however many attempts arrive together, at most the limit
        of them are ever checked in a window. A refused attempt takes nothing.

        Raises:
            HTTPException: 429 with ``Retry-After`` (the end of the current window) when the
                account or the IP has used up its attempts.
        """
        self._now = now = utcnow()
        async with self._sessions() as session, session.begin():
            for key, limit in self._limits:
                decision = await hit(session, key, limit=limit, window=self._window, now=now)
                if not decision.allowed:
                    # Raised inside the transaction: rolled back, nothing counted.
                    raise too_many_requests(decision.retry_after_s)

    async def give_back(self) -> None:
        """Give the reserved slots back: only failed attempts count."""
        async with self._sessions() as session, session.begin():
            for key, _ in self._limits:
                await release(session, key, window=self._window, now=self._now)
