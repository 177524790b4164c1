"""The one HTTP path of every store connector: concurrency limit and throttling-aware retries.

Providers say how long to wait in different places (``Retry-After`` on a 429 or 503,
Shopify's ``extensions.cost`` inside an HTTP 200); connectors read their own signals and
call :meth:`StoreHttp.request` with ``retry_if`` to have the same loop wait and retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tendero.errors import (
    StoreAuthError,
    StoreError,
    StoreRejected,
    StoreThrottled,
    StoreUnavailable,
)

logger = logging.getLogger(__name__)

# 429 and the statuses proxies and WAFs answer while the store is overloaded or restarting.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes:
        attempts: total tries, the first included.
        base_delay_s: first backoff when the provider gives no delay; doubles each time.
        max_delay_s: cap on any single wait, the provider's included.
    """

    attempts: int = 6
    base_delay_s: float = 0.5
    max_delay_s: float = 30.0

    def backoff_s(self, attempt: int) -> float:
        """Exponential backoff for the 0-based ``attempt`` that just failed."""
        return min(self.max_delay_s, self.base_delay_s * float(2**attempt))


def retry_after_s(response: httpx.Response) -> float | None:
    """The ``Retry-After`` delay in seconds, ``None`` when absent or unreadable.

    It is a number (Shopify sends floats like ``2.0``) or an HTTP date (RFC 9110 §10.2.3).
    """
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_for_status(status: int, message: str, *, provider_code: str | None = None) -> StoreError:
    """The error of our family for a final HTTP status (after retries).

    401/403 become ``StoreAuthError``, 429 ``StoreThrottled``, 5xx ``StoreUnavailable`` and
    any other status ``StoreRejected``.
    """
    if status in (401, 403):
        return StoreAuthError(message, status=status, provider_code=provider_code)
    if status == 429:
        return StoreThrottled(message, status=status, provider_code=provider_code)
    if status >= 500:
        return StoreUnavailable(message, status=status, provider_code=provider_code)
    return StoreRejected(message, status=status, provider_code=provider_code)


RetryDecision = Callable[[httpx.Response], float | None]


class StoreHttp:
    """An ``httpx.AsyncClient`` with a concurrency limit and provider-aware retries.

    Args:
        client: the shared HTTP client (timeouts, transport); not closed by this object.
        max_concurrency: requests in flight to this store at once.
        policy: retry counts and backoff.
        sleep: how to wait (tests of the loop itself may pass a recorder).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        max_concurrency: int = 4,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Bind the client and the limits."""
        self._client = client
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._policy = policy or RetryPolicy()
        self._sleep = sleep

    async def request(
        self,
        method: str,
        url: str,
        *,
        retry_if: RetryDecision | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send a request, waiting and retrying while the store asks us to.

        Retries connection errors, timeouts and ``RETRY_STATUSES`` (waiting ``Retry-After``
        when given, else exponential backoff), and any response for which ``retry_if``
        returns a delay in seconds (Shopify's THROTTLED inside a 200). Other responses are
        returned as they are, whatever their status: the connector maps them.

        Raises:
            StoreThrottled: still throttled after ``policy.attempts`` tries.
            StoreUnavailable: still failing (5xx, timeouts, connection) after them.
        """
        last_delay: float | None = None
        for attempt in range(self._policy.attempts):
            final = attempt == self._policy.attempts - 1
            try:
                async with self._semaphore:
                    response = await self._client.request(method, url, **kwargs)
            except httpx.TransportError as err:
                if final:
                    raise StoreUnavailable(f"store unreachable: {type(err).__name__}") from None
                await self._wait(self._policy.backoff_s(attempt), "transport", attempt)
                continue
            delay: float | None = None
            if response.status_code in RETRY_STATUSES:
                delay = retry_after_s(response)
                if delay is None:
                    delay = self._policy.backoff_s(attempt)
            elif retry_if is not None:
                delay = retry_if(response)
            if delay is None:
                return response
            last_delay = delay
            if final:
                if response.status_code >= 500:
                    raise StoreUnavailable(
                        f"store answered {response.status_code}", status=response.status_code
                    )
                raise StoreThrottled(
                    "store still throttling after retries",
                    status=response.status_code,
                    retry_after_s=last_delay,
                )
            await self._wait(delay, str(response.status_code), attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait(self, delay_s: float, reason: str, attempt: int) -> None:
        delay_s = min(delay_s, self._policy.max_delay_s)
        logger.info("store request retry %d after %s: waiting %.2fs", attempt + 1, reason, delay_s)
        await self._sleep(delay_s)
