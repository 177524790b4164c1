"""WooCommerce REST authentication: HTTP Basic over HTTPS, OAuth 1.0a one-legged over HTTP.

WooCommerce accepts the consumer key/secret as HTTP Basic credentials only on HTTPS; on plain
HTTP it wants a one-legged OAuth 1.0a signature in the query string (notes/store-apis.md §2
"Auth"; WooCommerce ``WC_REST_Authentication::check_oauth_signature``):

- base string ``METHOD&enc(url)&enc(k1=v1&k2=v2...)``, ``url`` the exact request URL without
  its query (scheme, host, port and path as the site knows them), the parameters every query
  parameter plus the ``oauth_*`` ones, each key and value RFC 3986-encoded, sorted by key;
- key ``consumer_secret&`` (no token secret); HMAC-SHA256 (or -SHA1), base64;
- the body is not signed; the timestamp must be within 15 minutes of the server's clock and
  the nonce must not repeat.

``WooCommerceAuth`` is an ``httpx.Auth``, so every try of a retried request (``StoreHttp``
retries) is signed afresh with a new nonce and timestamp.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator, Iterable
from urllib.parse import quote

import httpx

OAUTH_PARAMS = (
    "oauth_consumer_key",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
    "oauth_timestamp",
)


def rfc3986(value: str) -> str:
    """Percent-encode ``value`` as RFC 3986 (and OAuth 1.0a §3.6): only ``A-Za-z0-9-._~`` stay."""
    return quote(value, safe="-._~")


def base_url_for_signature(url: httpx.URL) -> str:
    """The URL part of the base string: scheme, host, non-default port and path, no query."""
    scheme = url.scheme.lower()
    host = url.host.lower()
    port = url.port
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    netloc = host if port is None or default else f"{host}:{port}"
    return f"{scheme}://{netloc}{url.path}"


def signature_base_string(method: str, base_url: str, params: Iterable[tuple[str, str]]) -> str:
    """The OAuth 1.0a base string as WooCommerce builds it.

    Args:
        method: the HTTP method.
        base_url: :func:`base_url_for_signature` of the request URL.
        params: every decoded query parameter and ``oauth_*`` parameter except
            ``oauth_signature``.

    Returns:
        ``METHOD&enc(url)&enc(sorted "k=v" pairs joined with "&")``.
    """
    encoded = sorted((rfc3986(k), rfc3986(v)) for k, v in params)
    query = "&".join(f"{k}={v}" for k, v in encoded)
    return f"{method.upper()}&{rfc3986(base_url)}&{rfc3986(query)}"


def oauth_signature(
    method: str,
    base_url: str,
    params: Iterable[tuple[str, str]],
    consumer_secret: str,
    *,
    algorithm: str = "HMAC-SHA256",
) -> str:
    """Base64 HMAC of the base string with key ``consumer_secret&``.

    Raises:
        ValueError: ``algorithm`` is neither HMAC-SHA256 nor HMAC-SHA1.
    """
    digests = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}
    if algorithm not in digests:
        raise ValueError(f"unsupported OAuth signature method {algorithm}")
    base = signature_base_string(method, base_url, params)
    key = f"{consumer_secret}&".encode()
    return base64.b64encode(hmac.new(key, base.encode(), digests[algorithm]).digest()).decode()


class WooCommerceAuth(httpx.Auth):
    """Sign each request with the store's REST API key.

    HTTPS requests get ``Authorization: Basic``; plain HTTP requests get OAuth 1.0a
    parameters added to their query string (never Basic over HTTP: it would send the secret
    in clear, and WooCommerce ignores it there anyway).

    Args:
        consumer_key: the ``ck_...`` key.
        consumer_secret: the ``cs_...`` secret.
        clock: seconds since the epoch (tests pass a skewed clock).
        nonce: a fresh nonce per call.
    """

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        """Keep the key pair; nothing is sent until a request is signed."""
        self._key = consumer_key
        self._secret = consumer_secret
        self._basic = httpx.BasicAuth(consumer_key, consumer_secret)
        self._clock = clock
        self._nonce = nonce

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add Basic credentials (https) or the OAuth 1.0a query parameters (http)."""
        if request.url.scheme == "https":
            yield from self._basic.auth_flow(request)
            return
        self.sign(request)
        yield request

    def sign(self, request: httpx.Request) -> None:
        """Add ``oauth_*`` parameters and the signature to ``request``'s query, in place."""
        query = [(k, v) for k, v in request.url.params.multi_items() if not k.startswith("oauth_")]
        oauth = [
            ("oauth_consumer_key", self._key),
            ("oauth_nonce", self._nonce()),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", str(int(self._clock()))),
        ]
        signature = oauth_signature(
            request.method, base_url_for_signature(request.url), query + oauth, self._secret
        )
        params = httpx.QueryParams([*query, *oauth, ("oauth_signature", signature)])
        request.url = request.url.copy_with(params=params)
