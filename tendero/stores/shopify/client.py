"""``ShopifyClient``: the ``StoreClient`` of a Shopify shop, over the GraphQL Admin API.

Every request goes through :class:`tendero.stores.http.StoreHttp`. On top of its retries the
client paces itself with Shopify's calculated query cost (notes/store-apis.md §1.2): it
reads ``extensions.cost`` from every answer, keeps an estimate of the leaky bucket and waits
*before* sending a query the bucket cannot afford, so a well-behaved sync is never
throttled; a ``THROTTLED`` error inside an HTTP 200 is still waited out (``retry_if``).

Full syncs of customers, products and orders use a bulk operation (§1.4) read page by page
from its JSONL file with HTTP range requests; categories (collections) and incremental
syncs use cursor pagination (§1.3).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, ParamSpec, TypeVar

import httpx
from pydantic import ValidationError

from tendero.errors import (
    StoreAuthError,
    StoreError,
    StoreNotSupported,
    StoreRejected,
    StoreThrottled,
    StoreUnavailable,
)
from tendero.stores.credentials import ShopifyCredentials
from tendero.stores.http import RetryPolicy, StoreHttp, error_for_status
from tendero.stores.records import (
    DiscountCode,
    DiscountRequest,
    OrderDraft,
    Page,
    Refund,
    RefundRequest,
    Resource,
    ShopInfo,
    StoreCustomer,
    StoreOrder,
    StoreProduct,
    StoreRecord,
    WebhookSubscription,
)
from tendero.stores.shopify import queries as q
from tendero.stores.shopify.oauth import normalize_shop_domain, refresh_credentials
from tendero.stores.shopify.payloads import (
    IDEMPOTENCY_ATTRIBUTE,
    CollectionNode,
    CustomerNode,
    OrderNode,
    ProductNode,
    cost_of,
    customer_from_bulk,
    error_codes,
    gid_to_id,
    order_from_bulk,
    product_from_bulk,
    to_gid,
)

logger = logging.getLogger(__name__)

SHOPIFY_API_VERSION = q.SHOPIFY_API_VERSION

TOKEN_REFRESH_MARGIN = timedelta(minutes=5)
"""Refresh an expiring access token this long before it expires."""

BULK_POLL_INTERVAL_S = 2.0
"""``retry_after_s`` of a pending bulk page: how long to wait before polling again."""

WEBHOOK_TOPICS: tuple[str, ...] = (
    "ORDERS_CREATE",
    "ORDERS_UPDATED",
    "ORDERS_CANCELLED",
    "CUSTOMERS_CREATE",
    "CUSTOMERS_UPDATE",
    "CUSTOMERS_DELETE",
    "PRODUCTS_CREATE",
    "PRODUCTS_UPDATE",
    "PRODUCTS_DELETE",
    "APP_UNINSTALLED",
)
"""The ``WebhookSubscriptionTopic`` values :meth:`ShopifyClient.register_webhooks` ensures."""

# Extra wait on top of the computed refill time, for clock granularity and network jitter.
_PACING_MARGIN_S = 0.05
# Bulk JSONL is read in byte ranges; the first range of a page is sized from this estimate.
_MIN_RANGE_BYTES = 4 * 1024
_MAX_RANGE_BYTES = 8 * 1024 * 1024
_BULK_FAILED = frozenset({"FAILED", "CANCELED", "CANCELLED", "CANCELING", "EXPIRED"})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_SEARCH_SYNTAX = re.compile(r"[:()\"'\\<>=*]")

_PAGE_QUERIES: dict[Resource, str] = {
    Resource.CUSTOMERS: q.CUSTOMERS_PAGE,
    Resource.PRODUCTS: q.PRODUCTS_PAGE,
    Resource.ORDERS: q.ORDERS_PAGE,
    Resource.CATEGORIES: q.COLLECTIONS_PAGE,
}
_ROOT_FIELDS: dict[Resource, str] = {
    Resource.CUSTOMERS: "customers",
    Resource.PRODUCTS: "products",
    Resource.ORDERS: "orders",
    Resource.CATEGORIES: "collections",
}
_BULK_QUERIES: dict[Resource, str] = {
    Resource.CUSTOMERS: q.BULK_CUSTOMERS,
    Resource.PRODUCTS: q.BULK_PRODUCTS,
    Resource.ORDERS: q.BULK_ORDERS,
}


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _store_errors_only(
    method: Callable[_P, Coroutine[Any, Any, _R]],
) -> Callable[_P, Coroutine[Any, Any, _R]]:
    """Let only the StoreError family out: an answer of an unexpected shape is a rejection.

    Shopify changes shapes between versions; a missing field must not surface as a KeyError
    in a workflow activity (``StoreClient`` contract).
    """

    @functools.wraps(method)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(*args, **kwargs)
        except StoreError:
            raise
        except (KeyError, TypeError, IndexError, AttributeError, ValueError):
            # ValueError covers pydantic's ValidationError and malformed ids of ours.
            raise StoreRejected(
                "unexpected Shopify answer", provider_code="invalid_payload"
            ) from None

    return wrapper


def idempotency_tag(key: str) -> str:
    """The order tag that finds an order by our idempotency key (32 characters).

    A digest, so any key fits Shopify's tag length limit and needs no escaping in search.
    """
    return "tendero-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def rest_topic(topic: str) -> str:
    """``ORDERS_CREATE`` -> ``orders/create`` (the ``X-Shopify-Topic`` spelling)."""
    resource, _, action = topic.lower().partition("_")
    return f"{resource}/{action}" if action else resource


def _quote(value: str) -> str:
    # Shopify search syntax: a double-quoted value, with quotes and backslashes escaped.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class _CostBucket:
    """Our estimate of Shopify's leaky bucket for this app and shop (points).

    ``available`` is what the last answer reported at monotonic time ``stamp``; it refills at
    ``rate`` points/s up to ``maximum``. Costs of requests in flight are subtracted until
    their answers arrive (counted twice at worst, which only makes us wait a little longer).
    """

    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    maximum: float | None = None
    available: float = 0.0
    rate: float = 0.0
    stamp: float = 0.0
    inflight: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def projected(self, now: float) -> float:
        if self.maximum is None:
            return float("inf")
        refilled = min(self.maximum, self.available + self.rate * (now - self.stamp))
        return refilled - self.inflight

    async def reserve(self, cost: float) -> None:
        async with self.lock:
            # Until an answer tells us the bucket's state, one request at a time probes it.
            while self.maximum is None and self.inflight > 0:
                self.changed.clear()
                await self.changed.wait()
            while self.maximum is not None and self.rate > 0:
                short = cost - self.projected(time.monotonic())
                # A query dearer than the whole bucket can never wait its way in: send it.
                if short <= 0 or cost > self.maximum:
                    break
                await self.sleep(short / self.rate + _PACING_MARGIN_S)
            self.inflight += cost

    def release(self, cost: float) -> None:
        self.inflight = max(0.0, self.inflight - cost)
        self.changed.set()

    def observe(self, body: Mapping[str, Any]) -> None:
        cost = cost_of(body)
        if cost is None or cost.throttleStatus is None:
            return
        status = cost.throttleStatus
        self.maximum = status.maximumAvailable
        self.available = status.currentlyAvailable
        self.rate = status.restoreRate
        self.stamp = time.monotonic()
        self.changed.set()


class ShopifyClient:
    """The ``StoreClient`` of one Shopify shop (GraphQL Admin API ``2026-01``).

    Args:
        http: the shared HTTP client (not closed here).
        shop_domain: ``{handle}.myshopify.com``; validated by ``normalize_shop_domain``.
        credentials: the shop's access token (and refresh token when it expires).
        base_url: replaces ``https://{shop_domain}`` for every call, the token endpoint
            included (tests point it at ``FakeShopify``).
        client_id: the app's client id, needed to refresh expiring tokens.
        client_secret: the app's client secret, idem.
        on_credentials: awaited with the new credentials after each refresh and before the
            new token is used: Shopify rotates the refresh token on every use, so the pair
            must be saved first (notes/store-apis.md §1.6).
        max_concurrency: requests in flight to this shop at once.
        policy: retry policy for 429/5xx/transport errors and THROTTLED answers.

    Raises:
        ValueError: ``shop_domain`` is not a valid shop domain.
    """

    kind: ClassVar[str] = "shopify"
    resources: ClassVar[tuple[Resource, ...]] = (
        Resource.CATEGORIES,
        Resource.PRODUCTS,
        Resource.CUSTOMERS,
        Resource.ORDERS,
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        shop_domain: str,
        credentials: ShopifyCredentials,
        base_url: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        on_credentials: Callable[[ShopifyCredentials], Awaitable[None]] | None = None,
        max_concurrency: int = 4,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Bind the shop, its credentials and the HTTP limits."""
        self._shop = normalize_shop_domain(shop_domain)
        self._base_override = base_url.rstrip("/") if base_url else None
        self._base = self._base_override or f"https://{self._shop}"
        self._graphql_url = f"{self._base}/admin/api/{SHOPIFY_API_VERSION}/graphql.json"
        self._client = http
        self._policy = policy or RetryPolicy()
        self._http = StoreHttp(http, max_concurrency=max_concurrency, policy=self._policy)
        # For mutations that must not be re-sent blindly after a 5xx or a timeout.
        self._http_once = StoreHttp(
            http, max_concurrency=max_concurrency, policy=RetryPolicy(attempts=1)
        )
        self._credentials = credentials
        self._client_id = client_id
        self._client_secret = client_secret
        self._on_credentials = on_credentials
        self._unsaved = False
        self._refresh_lock = asyncio.Lock()
        self._bucket = _CostBucket()
        self._bytes_per_record = 512.0

    @property
    def credentials(self) -> ShopifyCredentials:
        """The credentials in use (rotated after each refresh)."""
        return self._credentials

    # --- transport ----------------------------------------------------------------------

    def _throttle_delay(self, response: httpx.Response) -> float | None:
        """``retry_if`` for StoreHttp: the wait a THROTTLED answer asks for, else None."""
        if response.status_code != 200:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        self._bucket.observe(body)
        if "THROTTLED" not in error_codes(body):
            return None
        cost = cost_of(body)
        if cost is None or cost.throttleStatus is None or not cost.throttleStatus.restoreRate:
            return 1.0
        status = cost.throttleStatus
        requested = cost.requestedQueryCost or status.maximumAvailable
        short = max(0.0, requested - status.currentlyAvailable)
        return short / status.restoreRate + _PACING_MARGIN_S

    async def _save_credentials(self) -> None:
        if self._unsaved and self._on_credentials is not None:
            try:
                await self._on_credentials(self._credentials)
            except Exception as err:
                # Keep the unsaved pair: the next call tries to save it again before use.
                raise StoreUnavailable(
                    f"could not save rotated Shopify credentials: {type(err).__name__}"
                ) from None
        self._unsaved = False

    async def _refresh(self, failed_token: str | None) -> None:
        async with self._refresh_lock:
            current = self._credentials.access_token.get_secret_value()
            if failed_token is not None and current != failed_token:
                return  # another task refreshed while we waited
            if failed_token is None and not self._credentials.expires_within(
                datetime.now(UTC), TOKEN_REFRESH_MARGIN
            ):
                return
            refresh = self._credentials.refresh_token
            if refresh is None or not self._client_id or not self._client_secret:
                raise StoreAuthError("Shopify token expired and cannot be refreshed", status=401)
            logger.info("refreshing Shopify access token for %s", self._shop)
            self._credentials = await refresh_credentials(
                self._client,
                shop=self._shop,
                base_url=self._base_override,
                client_id=self._client_id,
                client_secret=self._client_secret,
                refresh_token=refresh.get_secret_value(),
            )
            self._unsaved = True
            await self._save_credentials()

    async def _token(self) -> str:
        if self._unsaved:
            async with self._refresh_lock:
                await self._save_credentials()
        creds = self._credentials
        if (
            creds.expires_within(datetime.now(UTC), TOKEN_REFRESH_MARGIN)
            and creds.refresh_token is not None
            and self._client_id
            and self._client_secret
        ):
            await self._refresh(None)
        return self._credentials.access_token.get_secret_value()

    async def _send(
        self, document: str, variables: Mapping[str, Any], once: bool
    ) -> httpx.Response:
        cost = q.requested_cost(document, variables)
        payload = {"query": document, "variables": dict(variables)}
        token = await self._token()
        # At least two tries: a 401 is followed by one try with the refreshed token.
        tries = max(2, self._policy.attempts)
        for attempt in range(tries):
            await self._bucket.reserve(cost)
            try:
                response = await (self._http_once if once else self._http).request(
                    "POST",
                    self._graphql_url,
                    json=payload,
                    headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
                    retry_if=self._throttle_delay,
                )
            except StoreThrottled as err:
                # Throttled means not executed: safe to wait and resend even a mutation.
                if not once or attempt == tries - 1:
                    raise
                await asyncio.sleep(min(self._policy.max_delay_s, err.retry_after_s or 1.0))
                continue
            finally:
                self._bucket.release(cost)
            if response.status_code == 401 and attempt == 0:
                await self._refresh(token)
                token = self._credentials.access_token.get_secret_value()
                continue
            return response
        raise StoreAuthError("Shopify refused the refreshed access token", status=401)

    async def _graphql(
        self, document: str, variables: Mapping[str, Any] | None = None, *, once: bool = False
    ) -> dict[str, Any]:
        """Run one document and return its ``data``.

        Raises:
            StoreAuthError: 401/403 or an ``ACCESS_DENIED`` error.
            StoreRejected: other GraphQL errors (``provider_code`` = their code).
            StoreThrottled, StoreUnavailable: still failing after the retries.
        """
        response = await self._send(document, variables or {}, once)
        if response.status_code >= 300:
            raise error_for_status(response.status_code, f"Shopify answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise StoreUnavailable(
                "Shopify answered non-JSON", status=response.status_code
            ) from None
        if not isinstance(body, dict):
            raise StoreRejected("Shopify answered an unexpected body")
        self._bucket.observe(body)
        codes = error_codes(body)
        if codes:
            code = next((c for c in codes if c), None)
            if "ACCESS_DENIED" in codes:
                raise StoreAuthError("Shopify denied access", provider_code="ACCESS_DENIED")
            if "THROTTLED" in codes:
                raise StoreThrottled("Shopify still throttling", provider_code="THROTTLED")
            raise StoreRejected("Shopify refused the query", provider_code=code)
        data = body.get("data")
        if not isinstance(data, dict):
            raise StoreRejected("Shopify answered without data")
        return data

    @staticmethod
    def _user_errors(payload: Mapping[str, Any] | None) -> None:
        errors = (payload or {}).get("userErrors") or []
        if errors:
            first = errors[0]
            code = first.get("code") or ".".join(str(f) for f in first.get("field") or []) or None
            raise StoreRejected("Shopify rejected the mutation", provider_code=code)

    # --- reading ------------------------------------------------------------------------

    @_store_errors_only
    async def shop_info(self) -> ShopInfo:
        """Check the credentials and describe the shop.

        Raises:
            StoreAuthError: the token is refused.
        """
        shop = (await self._graphql(q.SHOP_INFO))["shop"]
        primary = shop.get("primaryDomain") or {}
        return ShopInfo(
            name=shop["name"],
            currency=shop["currencyCode"],
            url=primary.get("url") or f"https://{shop['myshopifyDomain']}",
            detail=shop.get("myshopifyDomain"),
        )

    @_store_errors_only
    async def fetch_page(
        self,
        resource: Resource,
        *,
        cursor: str | None,
        updated_since: datetime | None,
        page_size: int,
    ) -> Page[StoreRecord]:
        """One page of ``resource`` (see ``StoreClient.fetch_page``).

        Cursors: ``bulk:<operation gid>:<byte offset>`` while reading a bulk operation (full
        sync of customers, products, orders), else Shopify's opaque ``endCursor``. A full
        sync's first call starts the bulk operation and answers ``pending``; later calls
        poll it and, once it completed, read up to ``page_size`` top-level objects (with
        their child lines) from the JSONL, starting at the cursor's byte offset.

        Raises:
            StoreNotSupported: ``resource`` is not one of ``resources``.
            StoreRejected: the bulk operation failed, was cancelled or expired.
        """
        if resource not in self.resources:
            raise StoreNotSupported(f"Shopify has no {resource} list")
        if cursor is not None and cursor.startswith("bulk:"):
            return await self._bulk_page(resource, cursor, page_size)
        if cursor is None and updated_since is None and resource in _BULK_QUERIES:
            return await self._bulk_start(resource)
        return await self._connection_page(resource, cursor, updated_since, page_size)

    async def _connection_page(
        self, resource: Resource, cursor: str | None, since: datetime | None, page_size: int
    ) -> Page[StoreRecord]:
        document = _PAGE_QUERIES[resource]
        first = max(1, min(page_size, q.max_first(document)))
        variables = {
            "first": first,
            "after": cursor,
            # Seconds precision, rounded down: re-reading a little is fine (the sync dedupes
            # on (id, updated_at)), missing a change is not (§1.3).
            "query": f"updated_at:>='{_iso(since)}'" if since else None,
            "sortKey": "UPDATED_AT" if since else "ID",
        }
        data = await self._graphql(document, variables)
        connection = data[_ROOT_FIELDS[resource]]
        page_info = connection["pageInfo"]
        items = [self._node_record(resource, n) for n in connection["nodes"]]
        return Page[StoreRecord](
            items=items,
            next_cursor=page_info["endCursor"] if page_info["hasNextPage"] else None,
        )

    @staticmethod
    def _node_record(resource: Resource, node: Mapping[str, Any]) -> StoreRecord:
        try:
            if resource == Resource.CUSTOMERS:
                return CustomerNode.model_validate(node).to_record()
            if resource == Resource.PRODUCTS:
                return ProductNode.model_validate(node).to_record()
            if resource == Resource.ORDERS:
                return OrderNode.model_validate(node).to_record()
            return CollectionNode.model_validate(node).to_record()
        except ValidationError:
            raise StoreRejected(
                f"unreadable Shopify {resource.value} record", provider_code="invalid_payload"
            ) from None

    async def _bulk_start(self, resource: Resource) -> Page[StoreRecord]:
        data = await self._graphql(q.BULK_RUN_QUERY, {"query": _BULK_QUERIES[resource]})
        payload = data["bulkOperationRunQuery"]
        self._user_errors(payload)
        operation = payload["bulkOperation"]
        logger.info("started Shopify bulk operation for %s", resource.value)
        return Page[StoreRecord](
            pending=True,
            next_cursor=f"bulk:{operation['id']}:0",
            retry_after_s=BULK_POLL_INTERVAL_S,
        )

    async def _bulk_page(
        self, resource: Resource, cursor: str, page_size: int
    ) -> Page[StoreRecord]:
        try:
            gid, offset_text = cursor[len("bulk:") :].rsplit(":", 1)
            offset = int(offset_text)
        except ValueError:
            raise StoreRejected("malformed bulk cursor", provider_code="bad_cursor") from None
        node = (await self._graphql(q.BULK_STATUS, {"id": gid})).get("node")
        if not node:
            raise StoreRejected("bulk operation not found", provider_code="bulk_not_found")
        status = node.get("status")
        if status in _BULK_FAILED:
            # partialDataUrl is never used: a partial scan would look complete.
            raise StoreRejected(
                f"Shopify bulk operation {str(status).lower()}",
                provider_code=node.get("errorCode") or status,
            )
        if status != "COMPLETED":
            return Page[StoreRecord](
                pending=True, next_cursor=cursor, retry_after_s=BULK_POLL_INTERVAL_S
            )
        url = node.get("url")
        if not url:
            return Page[StoreRecord]()  # no object matched: the scan is empty
        groups, next_offset = await self._read_groups(url, offset, max(1, page_size))
        builder: Callable[[dict[str, Any], list[dict[str, Any]]], StoreRecord]
        if resource == Resource.CUSTOMERS:
            builder = customer_from_bulk
        elif resource == Resource.PRODUCTS:
            builder = product_from_bulk
        else:
            builder = order_from_bulk
        try:
            items: list[StoreRecord] = [builder(parent, children) for parent, children in groups]
        except (ValidationError, KeyError):
            raise StoreRejected(
                f"unreadable Shopify {resource.value} record", provider_code="invalid_payload"
            ) from None
        return Page[StoreRecord](
            items=items, next_cursor=f"bulk:{gid}:{next_offset}" if next_offset else None
        )

    async def _read_range(self, url: str, start: int, size: int) -> tuple[bytes, bool]:
        """Bytes ``start..start+size-1`` of the JSONL and whether they reach its end.

        Bounded ranges keep every download inside ``StoreHttp.request`` while reading each
        byte about once over a whole scan. The URL is a signed storage URL: the access
        token is never sent to it.
        """
        response = await self._http.request(
            "GET", url, headers={"Range": f"bytes={start}-{start + size - 1}"}
        )
        if response.status_code == 416:
            return b"", True
        if response.status_code == 200:
            # The server ignored Range and sent the whole file.
            return response.content[start:], True
        if response.status_code != 206:
            raise error_for_status(response.status_code, "bulk result download failed")
        match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
        content = response.content
        if match is None or match.group(3) == "*":
            return content, len(content) < size
        return content, int(match.group(2)) + 1 >= int(match.group(3))

    async def _read_groups(
        self, url: str, offset: int, count: int
    ) -> tuple[list[tuple[dict[str, Any], list[dict[str, Any]]]], int | None]:
        """Up to ``count`` top-level objects with their child lines, from byte ``offset``.

        Returns:
            The groups and the byte offset of the next top-level line (``None``: end).
        """
        groups: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
        by_id: dict[str, list[dict[str, Any]]] = {}
        buf = b""
        pos = 0
        eof = False
        while True:
            newline = buf.find(b"\n", pos)
            if newline == -1:
                if not eof:
                    # Ask for what the rest of the page (plus the next top-level line) should
                    # take, from the sizes seen so far: little is downloaded twice.
                    per = pos / len(groups) if groups else self._bytes_per_record
                    wanted = (count - len(groups) + 1) * per * 1.05 + (len(buf) - pos)
                    size = int(min(_MAX_RANGE_BYTES, max(_MIN_RANGE_BYTES, wanted)))
                    chunk, eof = await self._read_range(url, offset + len(buf), size)
                    buf += chunk
                    continue
                newline = len(buf)
                if pos >= newline:
                    break
            line = buf[pos:newline]
            line_offset = offset + pos
            pos = newline + 1
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise StoreRejected(
                    "unreadable bulk result line", provider_code="bad_jsonl"
                ) from None
            parent_id = obj.get("__parentId")
            if parent_id is None:
                if len(groups) == count:
                    self._bytes_per_record = max(256.0, (line_offset - offset) / count)
                    return groups, line_offset
                children: list[dict[str, Any]] = []
                groups.append((obj, children))
                by_id[obj.get("id", "")] = children
            elif parent_id in by_id:
                by_id[parent_id].append(obj)
            else:
                # Children follow their parent in Shopify's files; an orphan here means the
                # parent was in an earlier page, which only a malformed file can cause.
                logger.warning("bulk result line without its parent skipped")
        return groups, None

    @_store_errors_only
    async def search_products(self, query: str, *, limit: int) -> list[StoreProduct]:
        """Published (``status:active``) products matching ``query``, by relevance.

        The words of ``query`` are stripped of search-syntax characters so the customer's
        text can never inject filters.
        """
        words = [
            w
            for w in _SEARCH_SYNTAX.sub(" ", query).split()
            if w.upper() not in ("AND", "OR", "NOT")
        ]
        search = " ".join([*words, "status:active"])
        first = max(1, min(limit, q.max_first(q.PRODUCTS_SEARCH)))
        data = await self._graphql(q.PRODUCTS_SEARCH, {"first": first, "query": search})
        return [
            r
            for n in data["products"]["nodes"]
            if isinstance(r := self._node_record(Resource.PRODUCTS, n), StoreProduct)
        ]

    @_store_errors_only
    async def get_product(self, external_id: str) -> StoreProduct | None:
        """One product with its variants, ``None`` when the shop has none with this id."""
        try:
            gid = to_gid("Product", external_id)
        except ValueError:
            return None
        node = (await self._graphql(q.PRODUCT_GET, {"id": gid})).get("product")
        if not node:
            return None
        record = self._node_record(Resource.PRODUCTS, node)
        return record if isinstance(record, StoreProduct) else None

    @_store_errors_only
    async def get_order(self, external_id: str) -> StoreOrder | None:
        """One order, ``None`` when the shop has none with this id."""
        try:
            gid = to_gid("Order", external_id)
        except ValueError:
            return None
        node = (await self._graphql(q.ORDER_GET, {"id": gid})).get("order")
        if not node:
            return None
        record = self._node_record(Resource.ORDERS, node)
        return record if isinstance(record, StoreOrder) else None

    @staticmethod
    def _contact_query(email: str | None, phone: str | None) -> str | None:
        terms = []
        if email:
            terms.append(f"email:{_quote(email)}")
        if phone:
            terms.append(f"phone:{_quote(phone)}")
        return " OR ".join(terms) or None

    @_store_errors_only
    async def find_orders(
        self, *, email: str | None = None, phone: str | None = None, limit: int = 10
    ) -> list[StoreOrder]:
        """The orders with this e-mail or phone, newest first (``[]`` when neither given)."""
        search = self._contact_query(email, phone)
        if search is None:
            return []
        first = max(1, min(limit, q.max_first(q.ORDERS_FIND)))
        data = await self._graphql(q.ORDERS_FIND, {"first": first, "query": search})
        return [
            r
            for n in data["orders"]["nodes"]
            if isinstance(r := self._node_record(Resource.ORDERS, n), StoreOrder)
        ]

    @_store_errors_only
    async def find_customer(
        self, *, email: str | None = None, phone: str | None = None
    ) -> StoreCustomer | None:
        """The shop's customer with this e-mail or phone, if any."""
        search = self._contact_query(email, phone)
        if search is None:
            return None
        data = await self._graphql(q.CUSTOMERS_FIND, {"first": 1, "query": search})
        nodes = data["customers"]["nodes"]
        if not nodes:
            return None
        record = self._node_record(Resource.CUSTOMERS, nodes[0])
        return record if isinstance(record, StoreCustomer) else None

    # --- writing ------------------------------------------------------------------------

    async def _order_by_key(self, key: str) -> StoreOrder | None:
        data = await self._graphql(
            q.ORDERS_FIND, {"first": 5, "query": f"tag:{_quote(idempotency_tag(key))}"}
        )
        for node in data["orders"]["nodes"]:
            record = self._node_record(Resource.ORDERS, node)
            if isinstance(record, StoreOrder) and record.idempotency_key == key:
                return record
        return None

    @_store_errors_only
    async def create_order(self, draft: OrderDraft, *, idempotency_key: str) -> StoreOrder:
        """Create the order with ``orderCreate`` once per ``idempotency_key``.

        The key travels three ways: custom attribute ``tendero_idempotency_key`` (read back
        into ``StoreOrder.idempotency_key``), ``sourceIdentifier``, and the tag
        :func:`idempotency_tag` that ``orders(query: "tag:...")`` can search. Before
        creating, the order with that tag is looked up and returned if it exists.

        The mutation itself is sent once (no automatic resend after a 5xx or a timeout,
        only after THROTTLED, which means "not executed"), so a failed call is retried by
        calling this method again, which first looks the order up.

        Race window, honestly: Shopify's order search is eventually consistent (an order
        can take seconds to become searchable) and ``orderCreate`` takes no idempotency key
        in ``2026-01``. Two calls with the same key at the same time, or a retry within
        seconds of a create whose answer was lost, can both miss the lookup and create two
        orders. Callers must serialise calls per key (the checkout activity does) and
        should not retry immediately after a timeout.

        Raises:
            StoreRejected: Shopify refused the order (``provider_code`` = the user error
                code, e.g. an unknown variant).
        """
        existing = await self._order_by_key(idempotency_key)
        if existing is not None:
            logger.info("Shopify order for this idempotency key already exists")
            return existing
        money = draft.currency

        def price(amount: Decimal) -> dict[str, Any]:
            return {"shopMoney": {"amount": str(amount), "currencyCode": money}}

        order: dict[str, Any] = {
            "currency": draft.currency,
            "lineItems": [
                {
                    "variantId": to_gid("ProductVariant", line.variant_external_id),
                    "quantity": line.quantity,
                    "priceSet": price(line.unit_price),
                }
                for line in draft.lines
            ],
            "financialStatus": "PENDING",
            "sourceIdentifier": idempotency_key,
            "tags": ["tendero", idempotency_tag(idempotency_key)],
            "customAttributes": [
                {"key": IDEMPOTENCY_ATTRIBUTE, "value": idempotency_key},
                {"key": "tendero_payment_method", "value": draft.payment_method},
                {"key": "tendero_fulfilment", "value": draft.fulfilment},
            ],
        }
        if draft.email:
            order["email"] = draft.email
        if draft.phone:
            order["phone"] = draft.phone
        if draft.note:
            order["note"] = draft.note
        if draft.customer_external_id:
            order["customer"] = {
                "toAssociate": {"id": to_gid("Customer", draft.customer_external_id)}
            }
        address = draft.shipping_address
        if address is not None:
            first_name, _, last_name = (address.name or draft.customer_name or "").partition(" ")
            mailing: dict[str, Any] = {
                "firstName": first_name or None,
                "lastName": last_name or None,
                "address1": address.line1,
                "address2": address.line2,
                "city": address.city,
                "provinceCode": address.region,
                "zip": address.postcode,
                "phone": address.phone,
            }
            if address.country and len(address.country) == 2:
                mailing["countryCode"] = address.country.upper()
            order["shippingAddress"] = {k: v for k, v in mailing.items() if v is not None}
        if draft.fulfilment == "delivery" or draft.shipping_total:
            order["shippingLines"] = [
                {
                    "title": "Delivery" if draft.fulfilment == "delivery" else "Pickup",
                    "priceSet": price(draft.shipping_total),
                }
            ]
        if draft.tax_total:
            subtotal = sum((li.unit_price * li.quantity for li in draft.lines), Decimal("0"))
            rate = (draft.tax_total / subtotal).quantize(Decimal("0.0001")) if subtotal else 0
            order["taxLines"] = [
                {"title": "Tax", "rate": str(rate), "priceSet": price(draft.tax_total)}
            ]
        data = await self._graphql(
            q.ORDER_CREATE,
            {"order": order, "options": {"inventoryBehaviour": "DECREMENT_OBEYING_POLICY"}},
            once=True,
        )
        payload = data["orderCreate"]
        self._user_errors(payload)
        record = self._node_record(Resource.ORDERS, payload["order"])
        if not isinstance(record, StoreOrder):  # pragma: no cover - always an order
            raise StoreRejected("orderCreate answered no order")
        logger.info("created Shopify order %s", record.external_id)
        return record

    @_store_errors_only
    async def create_discount(self, request: DiscountRequest) -> DiscountCode:
        """Create an amount-off code with ``discountCodeBasicCreate``.

        Percent becomes ``customerGets.value.percentage`` (0-1), a fixed amount
        ``discountAmount`` on the whole order; ``usageLimit`` and ``endsAt`` from the
        request, once per customer, for all buyers. Idempotent per code: when Shopify says
        the code is taken, the existing discount with that code is returned.

        Raises:
            StoreRejected: not exactly one of percent/amount, or Shopify refused it.
        """
        if (request.percent is None) == (request.amount is None):
            raise StoreRejected(
                "a discount needs exactly one of percent and amount", provider_code="invalid"
            )
        if request.percent is not None:
            value: dict[str, Any] = {"percentage": float(request.percent / 100)}
        else:
            value = {"discountAmount": {"amount": str(request.amount), "appliesOnEachItem": False}}
        discount = {
            "title": f"Tendero {request.code}",
            "code": request.code,
            "startsAt": _iso(datetime.now(UTC)),
            "endsAt": _iso(request.expires_at),
            "usageLimit": request.usage_limit,
            "appliesOncePerCustomer": True,
            "context": {"all": "ALL"},
            "customerGets": {"value": value, "items": {"all": True}},
        }
        data = await self._graphql(q.DISCOUNT_CREATE, {"basicCodeDiscount": discount})
        payload = data["discountCodeBasicCreate"]
        errors = payload.get("userErrors") or []
        if any(e.get("code") == "TAKEN" for e in errors):
            found = (await self._graphql(q.DISCOUNT_BY_CODE, {"code": request.code})).get(
                "codeDiscountNodeByCode"
            )
            if found:
                return DiscountCode(external_id=gid_to_id(found["id"]), code=request.code)
        self._user_errors(payload)
        node = payload["codeDiscountNode"]
        return DiscountCode(external_id=gid_to_id(node["id"]), code=request.code)

    @_store_errors_only
    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> Refund:
        """Record a refund with ``refundCreate`` (``@idempotent(key:)``, API 2026-01).

        Without ``move_money`` no transaction is sent: Shopify records the refund (with our
        note giving amount and reason) and moves no money, so ``Refund.amount`` is the
        requested amount, not a total Shopify computed. With ``move_money`` a ``REFUND``
        transaction against the order's successful sale/capture is sent, and the amount is
        Shopify's ``totalRefundedSet``.

        Raises:
            StoreRejected: the order has no captured payment to refund (``no_capture``) or
                Shopify refused the refund.
        """
        order_gid = to_gid("Order", request.order_external_id)
        note = f"{request.reason or 'Refund'} ({request.amount} {request.currency}, via Tendero)"
        refund_input: dict[str, Any] = {"orderId": order_gid, "note": note, "notify": False}
        if request.move_money:
            data = await self._graphql(q.ORDER_TRANSACTIONS, {"id": order_gid})
            order = data.get("order") or {}
            parent = next(
                (
                    t
                    for t in order.get("transactions") or []
                    if t.get("kind") in ("SALE", "CAPTURE") and t.get("status") == "SUCCESS"
                ),
                None,
            )
            if parent is None:
                raise StoreRejected("no captured payment to refund", provider_code="no_capture")
            refund_input["transactions"] = [
                {
                    "orderId": order_gid,
                    "parentId": parent["id"],
                    "gateway": parent.get("gateway"),
                    "kind": "REFUND",
                    "amount": str(request.amount),
                }
            ]
        data = await self._graphql(
            q.REFUND_CREATE, {"input": refund_input, "idempotencyKey": idempotency_key}
        )
        payload = data["refundCreate"]
        self._user_errors(payload)
        refund = payload["refund"]
        amount = request.amount
        if request.move_money and refund.get("totalRefundedSet"):
            amount = Decimal(str(refund["totalRefundedSet"]["shopMoney"]["amount"]))
        return Refund(external_id=gid_to_id(refund["id"]), amount=amount)

    @_store_errors_only
    async def list_webhooks(self) -> list[WebhookSubscription]:
        """The shop's webhook subscriptions for this app, topics in ``orders/create`` form.

        Shopify has no "disabled" state (it deletes subscriptions after repeated failures),
        so ``active`` is always True.
        """
        subscriptions: list[WebhookSubscription] = []
        after: str | None = None
        while True:
            data = await self._graphql(q.WEBHOOKS_LIST, {"first": 100, "after": after})
            connection = data["webhookSubscriptions"]
            subscriptions.extend(
                WebhookSubscription(
                    external_id=gid_to_id(n["id"]),
                    topic=rest_topic(n["topic"]),
                    address=n.get("uri") or "",
                )
                for n in connection["nodes"]
            )
            if not connection["pageInfo"]["hasNextPage"]:
                return subscriptions
            after = connection["pageInfo"]["endCursor"]

    @_store_errors_only
    async def register_webhooks(self, *, address: str, secret: str) -> list[WebhookSubscription]:
        """Subscribe ``address`` to :data:`WEBHOOK_TOPICS` with ``webhookSubscriptionCreate``.

        Topics already pointing at ``address`` are kept. ``secret`` is ignored: Shopify signs
        deliveries with the app's client secret (notes/store-apis.md §1.5).

        Returns:
            The subscriptions of ``address`` for those topics, existing and new.
        """
        existing = {w.topic: w for w in await self.list_webhooks() if w.address == address}
        result: list[WebhookSubscription] = []
        for topic in WEBHOOK_TOPICS:
            if rest_topic(topic) in existing:
                result.append(existing[rest_topic(topic)])
                continue
            data = await self._graphql(
                q.WEBHOOK_CREATE,
                {"topic": topic, "webhookSubscription": {"uri": address, "format": "JSON"}},
            )
            payload = data["webhookSubscriptionCreate"]
            self._user_errors(payload)
            node = payload["webhookSubscription"]
            result.append(
                WebhookSubscription(
                    external_id=gid_to_id(node["id"]),
                    topic=rest_topic(node["topic"]),
                    address=node.get("uri") or address,
                )
            )
        return result
