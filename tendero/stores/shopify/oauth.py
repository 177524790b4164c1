"""Shopify OAuth (authorization code grant), expiring offline tokens and webhook signatures.

Everything here follows notes/store-apis.md §1.5 (webhook HMAC, header spellings) and §1.6
(install flow, query HMAC, shop validation, expiring offline tokens with rotating refresh
tokens). The functions are pure except :func:`exchange_code` and
:func:`refresh_credentials`, which make one HTTP call each.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from tendero.errors import StoreAuthError, StoreRejected
from tendero.stores.credentials import ShopifyCredentials
from tendero.stores.http import RetryPolicy, StoreHttp, error_for_status

_SHOP_RE = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")

# Codes and refresh tokens are single-use: a blind retry after the store consumed one only
# fails (or burns the rotated token), so these calls are sent once.
_ONCE = RetryPolicy(attempts=1)


def normalize_shop_domain(raw: str) -> str:
    r"""The validated, lower-case ``{handle}.myshopify.com`` domain.

    For SSRF safety only ``^[a-z0-9][a-z0-9-]*\.myshopify\.com$`` is accepted after
    lowercasing and trimming spaces (notes/store-apis.md §1.6, "Shop validation"): no
    scheme, port, path, userinfo or other domain, so a host we call is never built from
    unvalidated input.

    Raises:
        ValueError: ``raw`` is not such a domain.
    """
    shop = raw.strip().lower()
    if not _SHOP_RE.fullmatch(shop):
        raise ValueError("not a valid *.myshopify.com shop domain")
    return shop


def verify_query_hmac(params: Mapping[str, str], secret: str) -> bool:
    """Check the ``hmac`` of an install request or OAuth callback query.

    Drops ``hmac``, sorts the rest by key, joins them as ``k=v`` with ``&`` and compares the
    hex HMAC-SHA256 (key: the app's client secret) in constant time (notes/store-apis.md
    §1.6, "How the query HMAC works", with its test vectors).

    Returns:
        True when ``hmac`` is present and matches.
    """
    given = params.get("hmac")
    if not given:
        return False
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "hmac")
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(digest, given.lower())


def timestamp_fresh(ts: str | int, now: datetime, max_age: timedelta = timedelta(hours=24)) -> bool:
    """True when the query ``timestamp`` (Unix seconds) is at most ``max_age`` old.

    shopify_python_api rejects callbacks older than 24 h (notes/store-apis.md §1.6); a
    timestamp more than a minute in the future is refused too.
    """
    try:
        when = datetime.fromtimestamp(int(ts), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return False
    return now - max_age <= when <= now + timedelta(minutes=1)


def authorize_url(
    shop: str, client_id: str, scopes: Sequence[str], redirect_uri: str, state: str
) -> str:
    """The ``https://{shop}/admin/oauth/authorize`` URL to send the merchant to.

    Offline access (no ``grant_options[]``), per notes/store-apis.md §1.6 step 2.

    Raises:
        ValueError: ``shop`` is not a valid shop domain.
    """
    query = urlencode(
        {
            "client_id": client_id,
            "scope": ",".join(scopes),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"https://{normalize_shop_domain(shop)}/admin/oauth/authorize?{query}"


def _token_url(shop: str, base_url: str | None) -> str:
    base = base_url.rstrip("/") if base_url else f"https://{normalize_shop_domain(shop)}"
    return f"{base}/admin/oauth/access_token"


def _scopes(text: str) -> set[str]:
    return {s.strip() for s in text.split(",") if s.strip()}


def _satisfied(requested: str, granted: set[str]) -> bool:
    # Shopify collapses implied scopes: write_products is returned instead of read_products.
    if requested in granted:
        return True
    return requested.startswith("read_") and "write_" + requested[5:] in granted


def credentials_from_token_response(body: Mapping[str, Any], now: datetime) -> ShopifyCredentials:
    """Credentials from an ``/admin/oauth/access_token`` answer (code exchange or refresh).

    ``expires_in`` and ``refresh_token_expires_in`` are seconds from ``now`` (§1.6 step 4).

    Raises:
        StoreAuthError: the answer has no ``access_token``.
    """
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise StoreAuthError("token endpoint answered without an access token")
    expires_in = body.get("expires_in")
    refresh = body.get("refresh_token")
    refresh_in = body.get("refresh_token_expires_in")
    return ShopifyCredentials(
        access_token=SecretStr(token),
        scope=str(body.get("scope") or ""),
        expires_at=now + timedelta(seconds=float(expires_in)) if expires_in else None,
        refresh_token=SecretStr(refresh) if isinstance(refresh, str) and refresh else None,
        refresh_token_expires_at=(
            now + timedelta(seconds=float(refresh_in)) if refresh_in else None
        ),
    )


async def _post_token(http: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> dict[str, Any]:
    response = await StoreHttp(http, max_concurrency=1, policy=_ONCE).request(
        "POST", url, json=payload, headers={"Accept": "application/json"}
    )
    if response.status_code in (400, 401, 403):
        # invalid_grant / invalid_client: the merchant must reconnect the store.
        code = None
        try:
            code = response.json().get("error")
        except ValueError:
            pass
        raise StoreAuthError(
            f"token endpoint refused ({response.status_code})",
            status=response.status_code,
            provider_code=str(code) if code else None,
        )
    if response.status_code >= 300:
        raise error_for_status(response.status_code, "token endpoint failed")
    try:
        body = response.json()
    except ValueError:
        raise StoreRejected("token endpoint answered non-JSON") from None
    if not isinstance(body, dict):
        raise StoreRejected("token endpoint answered an unexpected body")
    return body


async def exchange_code(
    http: httpx.AsyncClient,
    *,
    shop: str,
    base_url: str | None,
    client_id: str,
    client_secret: str,
    code: str,
    requested_scopes: Sequence[str],
    now: datetime | None = None,
) -> ShopifyCredentials:
    """Exchange the callback ``code`` for an expiring offline token (``expiring=1``).

    ``POST https://{shop}/admin/oauth/access_token`` (notes/store-apis.md §1.6 step 4);
    ``base_url`` replaces ``https://{shop}`` (tests). Check ``state``, the query HMAC,
    the shop and the timestamp before calling this.

    Raises:
        ValueError: ``shop`` is not a valid shop domain.
        StoreAuthError: the code was refused, or the granted scopes lack requested ones.
        StoreError: other failures of the call.
    """
    body = await _post_token(
        http,
        _token_url(shop, base_url),
        {"client_id": client_id, "client_secret": client_secret, "code": code, "expiring": 1},
    )
    credentials = credentials_from_token_response(body, now or datetime.now(UTC))
    granted = _scopes(credentials.scope)
    missing = sorted(s for s in requested_scopes if not _satisfied(s, granted))
    if missing:
        raise StoreAuthError(
            "granted scopes lack requested ones: " + ",".join(missing),
            provider_code="missing_scopes",
        )
    return credentials


async def refresh_credentials(
    http: httpx.AsyncClient,
    *,
    shop: str,
    base_url: str | None,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    now: datetime | None = None,
) -> ShopifyCredentials:
    """Trade a refresh token for a new expiring access token and a new refresh token.

    ``POST https://{shop}/admin/oauth/access_token`` with ``grant_type=refresh_token``
    (notes/store-apis.md §1.6, "Expiring offline tokens"). Shopify rotates the refresh
    token on every use: save the returned pair before using it.

    Raises:
        ValueError: ``shop`` is not a valid shop domain.
        StoreAuthError: the refresh token was refused (reconnect the store).
        StoreError: other failures of the call.
    """
    body = await _post_token(
        http,
        _token_url(shop, base_url),
        {
            "client_id": client_id,
            "client_secret": client_secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        },
    )
    return credentials_from_token_response(body, now or datetime.now(UTC))


def verify_webhook_hmac(raw_body: bytes, header_value: str | None, secrets: Sequence[str]) -> bool:
    """Check a webhook's ``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body.

    Compute over the raw bytes before any JSON parsing; any of ``secrets`` may match, so
    the old and the new client secret both work during a rotation (notes/store-apis.md
    §1.5, "HMAC").
    """
    if not header_value:
        return False
    given = header_value.strip().encode()
    ok = False
    for secret in secrets:
        if not secret:
            continue
        digest = base64.b64encode(hmac.new(secret.encode(), raw_body, hashlib.sha256).digest())
        # No early exit: every secret is compared, in constant time.
        ok = hmac.compare_digest(digest, given) or ok
    return ok


def webhook_header(headers: Mapping[str, str], name: str) -> str | None:
    """A Shopify webhook header by its short ``name`` (``Hmac-Sha256``, ``Topic``...).

    Reads ``X-Shopify-<Name>`` and the Events spelling ``Shopify-<Name>``, case-insensitively
    (notes/store-apis.md §1.5, "Headers").
    """
    wanted = {f"x-shopify-{name.lower()}", f"shopify-{name.lower()}"}
    for key, value in headers.items():
        if key.lower() in wanted:
            return value
    return None
