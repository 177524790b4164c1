"""``WooCommerceClient``: the ``StoreClient`` of a WooCommerce shop over REST API v3.

Facts the client relies on come from notes/store-apis.md §2 and the published responses in
``shared/fixtures/woocommerce/rest_api_docs_v3/``:

- API root ``{site}/wp-json/wc/v3/``; errors ``{code, message, data: {status}}`` (only the
  ``code`` is kept: the message can echo customer data);
- ``per_page`` at most 100, ``X-WP-Total``/``X-WP-TotalPages`` headers;
- ``modified_after`` + ``dates_are_gmt=true`` and ``orderby=modified&order=asc`` (ties broken
  by ID) on products and orders; customers have no ``modified_after``;
- batch endpoints take at most 100 items and report per-item errors inside an HTTP 200.

Scanning (``fetch_page``):

- **Products and orders** are read oldest-modified first with a *keyset* cursor rather than a
  bare page number. Page numbers shift when records change during a scan (a record modified
  while we read moves to the end, and everything after it moves up one place, so a page-number
  scan silently skips a record). After each page the cursor restarts the listing at
  ``modified_after = (last record's modified second - 1 s)`` on page 1 and drops the records
  at or before the last ``(date_modified_gmt, id)`` already returned. A record changed during
  the scan therefore shows up again later (a duplicate our upsert dedupes by ``(id,
  modified)``), never a gap. Only when a whole page shares one modified second (bulk imports)
  does the cursor step the page number inside that second; a change to one of those records
  during the scan can still shift that group, which the sync's overlap window covers.
- **Customers** have no modification filter or ordering: they are scanned by ``orderby=id``
  with page-number cursors (new customers append at the end; a deletion during a scan can
  shift one record, caught by the next periodic full scan). ``updated_since`` is applied
  client-side on ``date_modified_gmt`` (falling back to ``date_created_gmt``), so an
  incremental customer sync still reads every customer.
- **Categories** (``products/categories``) have no dates at all: always a full scan by id.
- Variable products get their variations (``/products/{id}/variations``, paginated) so each
  ``StoreProduct`` carries its variants with stock; other products get one variant whose id is
  the product id (``payloads`` module docstring).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar

import httpx

from tendero.errors import (
    StoreError,
    StoreNotSupported,
    StoreRejected,
    StoreThrottled,
    StoreUnavailable,
)
from tendero.stores.credentials import WooCommerceCredentials
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
    StoreAddress,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreProduct,
    StoreRecord,
    WebhookSubscription,
)
from tendero.stores.woocommerce.auth import WooCommerceAuth
from tendero.stores.woocommerce.payloads import (
    IDEMPOTENCY_META_KEY,
    PayloadError,
    WooCategory,
    WooCoupon,
    WooCustomer,
    WooError,
    WooModel,
    WooOrder,
    WooProduct,
    WooRefund,
    WooVariation,
    WooWebhook,
    category_record,
    customer_record,
    gmt_datetime,
    gmt_text,
    order_record,
    parse_model,
    product_record,
)

logger = logging.getLogger(__name__)

API_PATH = "/wp-json/wc/v3"
MAX_PER_PAGE = 100
"""Schema maximum of ``per_page`` on every collection (larger values answer 400)."""
MAX_BATCH_ITEMS = 100
"""``woocommerce_rest_batch_items_limit`` default; more answers 413."""
IDEMPOTENCY_WINDOW = timedelta(hours=1)
"""How far back ``create_order`` looks for an order carrying the same idempotency key.

A retry of the same checkout comes within minutes; an order created within the window has
``date_modified_gmt`` inside it too (modification dates only grow), so the lookup is
``modified_after=now-1h``, newest first, reading at most ``IDEMPOTENCY_SCAN_PAGES`` pages.
"""
IDEMPOTENCY_SCAN_PAGES = 10
WEBHOOK_TOPICS = (
    "order.created",
    "order.updated",
    "order.deleted",
    "product.created",
    "product.updated",
    "product.deleted",
    "customer.created",
    "customer.updated",
    "customer.deleted",
)
CREATED_VIA = "tendero"
_BATCH_RESOURCE = re.compile(
    r"(products|orders|customers|coupons|webhooks|products/\d+/variations)"
)
_ModelT = TypeVar("_ModelT", bound=WooModel)


@dataclass(frozen=True)
class BatchItemError:
    """One item a batch request refused: its id, WooCommerce error code and HTTP status."""

    id: str
    code: str
    status: int | None = None


@dataclass
class BatchResult:
    """What ``batch_update`` did: ids updated and the per-item errors.

    WooCommerce answers a batch with HTTP 200 even when items fail; every item is inspected
    and failures land in ``errors`` (an id missing from the answer counts as failed with code
    ``missing_from_response``).
    """

    updated: list[str] = field(default_factory=list)
    errors: list[BatchItemError] = field(default_factory=list)

    def raise_for_errors(self) -> None:
        """Raise when any item failed.

        Raises:
            StoreRejected: listing the failed ids; ``provider_code`` is the first item's code.
        """
        if self.errors:
            ids = ", ".join(e.id for e in self.errors)
            raise StoreRejected(
                f"woocommerce batch: {len(self.errors)} items failed (ids {ids})",
                status=self.errors[0].status,
                provider_code=self.errors[0].code,
            )


@dataclass(frozen=True)
class _Cursor:
    """Decoded cursor. ``after``/``key`` are only used by the keyset scans."""

    page: int = 1
    after: datetime | None = None
    key: tuple[datetime, int] | None = None
    total: int | None = None

    def encode(self, resource: Resource) -> str:
        data: dict[str, Any] = {"r": resource.value, "p": self.page, "t": self.total}
        if self.after is not None:
            data["a"] = gmt_text(self.after)
        if self.key is not None:
            data["k"] = [gmt_text(self.key[0]), self.key[1]]
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str, resource: Resource) -> _Cursor:
        try:
            data = json.loads(text)
            if data["r"] != resource.value:
                raise ValueError("cursor of another resource")
            after = gmt_datetime(data["a"]) if data.get("a") else None
            key = None
            if data.get("k"):
                key_at = gmt_datetime(data["k"][0])
                if key_at is None:
                    raise ValueError("bad key")
                key = (key_at, int(data["k"][1]))
            total = data.get("t")
            return cls(
                page=max(1, int(data["p"])),
                after=after,
                key=key,
                total=int(total) if total is not None else None,
            )
        except (ValueError, KeyError, TypeError, IndexError):
            raise StoreRejected(
                "invalid woocommerce cursor", provider_code="invalid_cursor"
            ) from None


def _header_int(response: httpx.Response, name: str) -> int | None:
    try:
        return int(response.headers[name])
    except (KeyError, ValueError):
        return None


def _digits(value: str | None) -> str:
    return re.sub(r"\D", "", value or "")


def phone_matches(stored: str | None, wanted: str) -> bool:
    """Whether two phone numbers written differently are probably the same line.

    Shops keep ``billing.phone`` as typed (``(555) 555-5555``, ``011 15-...``), we hold E.164:
    compare the last 8 digits, requiring at least 7 digits on each side. An approximation
    (two numbers differing only in country or area code collide), used only to filter the
    store's own search results.
    """
    a, b = _digits(stored), _digits(wanted)
    if len(a) < 7 or len(b) < 7:
        return False
    return a[-8:] == b[-8:]


def _id(external_id: str) -> int | None:
    return int(external_id) if external_id.isdigit() else None


def _money_text(value: Decimal) -> str:
    """Money as WooCommerce wants it: a string with at least two decimals."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent > -2:
        return str(value.quantize(Decimal("0.01")))
    return str(value)


class WooCommerceClient:
    """A WooCommerce shop's REST API v3 (``StoreClient``).

    Args:
        http: the shared ``httpx.AsyncClient``; never closed here.
        base_url: the site URL (``https://shop.example``); the API is under
            ``{base_url}/wp-json/wc/v3/``. It must be the exact URL the site knows itself by
            (``www`` included): OAuth signatures cover it.
        credentials: the REST key pair (Basic over https, OAuth 1.0a over http).
        max_concurrency: requests in flight to this shop at once.
        policy: retries and backoff of ``StoreHttp``.

    Every method raises only the ``StoreError`` family (``StoreAuthError`` on 401/403,
    ``StoreRejected`` on other 4xx with the WooCommerce ``code`` as ``provider_code``,
    ``StoreUnavailable``/``StoreThrottled`` after retries).
    """

    kind: ClassVar[str] = "woocommerce"
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
        base_url: str,
        credentials: WooCommerceCredentials,
        max_concurrency: int = 4,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Bind the shop; no request is made until a method is called."""
        self._site = base_url.rstrip("/")
        self._api = self._site + API_PATH
        self._policy = policy or RetryPolicy()
        self._http = StoreHttp(http, max_concurrency=max_concurrency, policy=self._policy)
        # Order and refund creation must not be re-sent blindly after a 5xx or a timeout
        # (the first try may have been applied): they go through a single-try path and
        # retry themselves after looking for the record they may already have created.
        self._single_try = StoreHttp(http, max_concurrency=1, policy=RetryPolicy(attempts=1))
        self._auth = WooCommerceAuth(
            credentials.consumer_key.get_secret_value(),
            credentials.consumer_secret.get_secret_value(),
        )

    # -- plumbing -----------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        single_try: bool = False,
        missing_ok: bool = False,
    ) -> httpx.Response | None:
        """One API call; non-2xx statuses become errors (404 → ``None`` with ``missing_ok``)."""
        http = self._single_try if single_try else self._http
        kwargs: dict[str, Any] = {"auth": self._auth}
        if params:
            kwargs["params"] = dict(params)
        if body is not None:
            kwargs["json"] = body
        response = await http.request(method, f"{self._api}/{path}", **kwargs)
        if response.is_success:
            return response
        if missing_ok and response.status_code == 404:
            return None
        raise self._error(response, method, path)

    @staticmethod
    def _error(response: httpx.Response, method: str, path: str) -> StoreError:
        code: str | None = None
        try:
            code = WooError.model_validate_json(response.content).code
        except ValueError:
            pass
        # ``path`` holds only ids and resource names (queries, where e-mails go, are left out).
        return error_for_status(
            response.status_code,
            f"woocommerce {method} {path} answered {response.status_code}",
            provider_code=code,
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Any = None,
        single_try: bool = False,
    ) -> httpx.Response:
        response = await self._send(method, path, params=params, body=body, single_try=single_try)
        assert response is not None
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise StoreUnavailable(
                "woocommerce answered something that is not JSON", status=response.status_code
            ) from None

    def _parse(self, model: type[_ModelT], data: Any) -> _ModelT:
        try:
            if not isinstance(data, Mapping):
                raise PayloadError(f"expected a {model.__name__} object")
            return parse_model(model, data)
        except PayloadError as err:
            raise StoreRejected(str(err), provider_code="unexpected_payload") from None

    def _parse_list(self, model: type[_ModelT], data: Any) -> list[_ModelT]:
        if not isinstance(data, list):
            raise StoreRejected(
                f"expected a list of {model.__name__}", provider_code="unexpected_payload"
            )
        return [self._parse(model, item) for item in data]

    async def _list_all(
        self, model: type[_ModelT], path: str, params: Mapping[str, str | int] | None = None
    ) -> list[_ModelT]:
        """Every item of a (small) collection, following ``X-WP-TotalPages``."""
        items: list[_ModelT] = []
        page = 1
        while True:
            query: dict[str, str | int] = {**(params or {}), "per_page": MAX_PER_PAGE, "page": page}
            response = await self._call("GET", path, params=query)
            batch = self._parse_list(model, self._json(response))
            items.extend(batch)
            pages = _header_int(response, "X-WP-TotalPages") or 1
            if page >= pages or not batch:
                return items
            page += 1

    # -- connection ---------------------------------------------------------------------------

    async def shop_info(self) -> ShopInfo:
        """Check the keys and describe the shop.

        The currency is ``GET settings/general/woocommerce_currency`` (needs a key of a user
        who can manage WooCommerce, so it proves the keys work); the name is the WordPress
        site title from the public REST index ``GET /wp-json/`` (the host when a security
        plugin hides the index). ``/system_status`` also has the currency but is slow to
        compute on real shops and has no site title.

        Raises:
            StoreAuthError: the keys are refused.
        """
        response = await self._call("GET", "settings/general/woocommerce_currency")
        setting = self._json(response)
        currency = setting.get("value") if isinstance(setting, dict) else None
        if not isinstance(currency, str) or len(currency) != 3:
            raise StoreRejected("woocommerce has no shop currency", provider_code="no_currency")
        name = httpx.URL(self._site).host
        try:
            index = await self._http.request("GET", f"{self._site}/wp-json/")
            title = index.json().get("name") if index.is_success else None
        except (StoreError, ValueError, AttributeError):
            # The title is cosmetic: the keys were already proven by the currency read.
            title = None
        if isinstance(title, str) and title.strip():
            name = title.strip()
        detail = None
        if httpx.URL(self._site).scheme != "https":
            detail = "plain HTTP: requests are OAuth 1.0a signed; prefer an https site URL"
        return ShopInfo(name=name, currency=currency, url=self._site, detail=detail)

    # -- scans --------------------------------------------------------------------------------

    async def fetch_page(
        self,
        resource: Resource,
        *,
        cursor: str | None,
        updated_since: datetime | None,
        page_size: int,
    ) -> Page[StoreRecord]:
        """One page of ``resource`` (module docstring: keyset vs page cursors).

        Args:
            resource: categories, products, customers or orders.
            cursor: ``None`` to start, else the previous page's ``next_cursor``.
            updated_since: aware UTC; only records modified at or after it (a few records
                from the same second may come too). Ignored for categories.
            page_size: capped to 1..100.

        Raises:
            StoreNotSupported: an unknown resource.
            StoreRejected: a cursor this client did not make.
        """
        if resource not in self.resources:
            raise StoreNotSupported(f"woocommerce cannot list {resource}")
        per_page = max(1, min(page_size, MAX_PER_PAGE))
        if resource in (Resource.PRODUCTS, Resource.ORDERS):
            return await self._keyset_page(resource, cursor, updated_since, per_page)
        return await self._numbered_page(resource, cursor, updated_since, per_page)

    async def _keyset_page(
        self,
        resource: Resource,
        cursor_text: str | None,
        updated_since: datetime | None,
        per_page: int,
    ) -> Page[StoreRecord]:
        if cursor_text is None:
            after = None
            if updated_since is not None:
                # modified_after is exclusive and to the second: step back one second so
                # records modified in updated_since's own second are included.
                after = updated_since.astimezone(UTC).replace(microsecond=0) - timedelta(seconds=1)
            cursor = _Cursor(after=after)
        else:
            cursor = _Cursor.decode(cursor_text, resource)
        params: dict[str, str | int] = {
            "per_page": per_page,
            "page": cursor.page,
            "orderby": "modified",
            "order": "asc",
        }
        if cursor.after is not None:
            params["modified_after"] = gmt_text(cursor.after)
            params["dates_are_gmt"] = "true"
        response = await self._call("GET", resource.value, params=params)
        raw = self._json(response)
        if not isinstance(raw, list) or not all(isinstance(i, dict) for i in raw):
            raise StoreRejected("expected a list of objects", provider_code="unexpected_payload")
        total = cursor.total if cursor.total is not None else _header_int(response, "X-WP-Total")
        pages = _header_int(response, "X-WP-TotalPages") or 1

        def key_of(item: dict[str, Any]) -> tuple[datetime, int]:
            at = gmt_datetime(item.get("date_modified_gmt"))
            try:
                record_id = int(item.get("id", 0))
            except (TypeError, ValueError):
                record_id = 0
            return (at or datetime(1970, 1, 1, tzinfo=UTC), record_id)

        fresh = [item for item in raw if cursor.key is None or key_of(item) > cursor.key]
        if resource is Resource.PRODUCTS:
            items: list[StoreRecord] = list(
                await self._products(self._parse_list(WooProduct, fresh))
            )
        else:
            items = [order_record(o) for o in self._parse_list(WooOrder, fresh)]

        next_cursor: str | None = None
        if raw and cursor.page < pages:
            last = key_of(raw[-1])
            key = max(last, cursor.key) if cursor.key else last
            restart = last[0] - timedelta(seconds=1)
            one_second = key_of(raw[0])[0] == last[0]
            if (cursor.after is not None and restart <= cursor.after) or (
                cursor.after is None and cursor.page == 1 and one_second
            ):
                # The whole page shares one modified second (and nothing precedes it in this
                # listing): restarting would return the same page, so step through that
                # second's pages instead.
                following = _Cursor(page=cursor.page + 1, after=restart, key=key, total=total)
            else:
                following = _Cursor(page=1, after=restart, key=key, total=total)
            next_cursor = following.encode(resource)
        return Page[StoreRecord](items=items, next_cursor=next_cursor, total=total)

    async def _numbered_page(
        self,
        resource: Resource,
        cursor_text: str | None,
        updated_since: datetime | None,
        per_page: int,
    ) -> Page[StoreRecord]:
        cursor = _Cursor() if cursor_text is None else _Cursor.decode(cursor_text, resource)
        params: dict[str, str | int] = {
            "per_page": per_page,
            "page": cursor.page,
            "orderby": "id",
            "order": "asc",
        }
        if resource is Resource.CUSTOMERS:
            # The default role filter is "customer": shop staff who also buy would be missed.
            params["role"] = "all"
            path = "customers"
        else:
            path = "products/categories"
        response = await self._call("GET", path, params=params)
        data = self._json(response)
        total = cursor.total if cursor.total is not None else _header_int(response, "X-WP-Total")
        pages = _header_int(response, "X-WP-TotalPages") or 1
        items: list[StoreRecord]
        if resource is Resource.CUSTOMERS:
            customers = [customer_record(c) for c in self._parse_list(WooCustomer, data)]
            if updated_since is not None:
                # No modified_after on customers: filter here (module docstring).
                customers = [c for c in customers if c.updated_at >= updated_since]
            items = list(customers)
        else:
            items = [category_record(c) for c in self._parse_list(WooCategory, data)]
        next_cursor = None
        if data and cursor.page < pages:
            next_cursor = _Cursor(page=cursor.page + 1, total=total).encode(resource)
        return Page[StoreRecord](items=items, next_cursor=next_cursor, total=total)

    async def _variations(self, product_id: int) -> list[WooVariation]:
        return await self._list_all(WooVariation, f"products/{product_id}/variations")

    async def _products(self, products: Sequence[WooProduct]) -> list[StoreProduct]:
        """Map products, fetching the variations of the variable ones concurrently."""
        variable = [p for p in products if p.type == "variable" and p.variations]
        found: dict[int, list[WooVariation]] = {}
        if variable:
            async with asyncio.TaskGroup() as group:
                tasks = {p.id: group.create_task(self._variations(p.id)) for p in variable}
            found = {pid: task.result() for pid, task in tasks.items()}
        return [product_record(p, found.get(p.id, [])) for p in products]

    async def categories(self) -> list[StoreCategory]:
        """Every product category (a convenience over ``fetch_page``)."""
        return [
            category_record(c)
            for c in await self._list_all(WooCategory, "products/categories", {"orderby": "id"})
        ]

    # -- reads --------------------------------------------------------------------------------

    async def search_products(self, query: str, *, limit: int) -> list[StoreProduct]:
        """Published products matching ``query`` (WooCommerce ``search``), at most ``limit``."""
        if limit <= 0 or not query.strip():
            return []
        params: dict[str, str | int] = {
            "search": query.strip(),
            "status": "publish",
            "per_page": min(limit, MAX_PER_PAGE),
        }
        response = await self._call("GET", "products", params=params)
        return await self._products(self._parse_list(WooProduct, self._json(response)))

    async def get_product(self, external_id: str) -> StoreProduct | None:
        """One product with its variants, ``None`` when missing (or not a product id)."""
        product_id = _id(external_id)
        if product_id is None:
            return None
        response = await self._send("GET", f"products/{product_id}", missing_ok=True)
        if response is None:
            return None
        product = self._parse(WooProduct, self._json(response))
        if product.type == "variation":
            # GET /products/{id} also answers variation ids; they are variants, not products.
            return None
        return (await self._products([product]))[0]

    async def get_order(self, external_id: str) -> StoreOrder | None:
        """One order, ``None`` when missing."""
        order_id = _id(external_id)
        if order_id is None:
            return None
        response = await self._send("GET", f"orders/{order_id}", missing_ok=True)
        if response is None:
            return None
        return order_record(self._parse(WooOrder, self._json(response)))

    async def _search_orders(
        self, params: Mapping[str, str | int], *, pages: int = 2
    ) -> list[WooOrder]:
        found: list[WooOrder] = []
        for page in range(1, pages + 1):
            query: dict[str, str | int] = {
                **params,
                "orderby": "date",
                "order": "desc",
                "per_page": MAX_PER_PAGE,
                "page": page,
            }
            response = await self._call("GET", "orders", params=query)
            batch = self._parse_list(WooOrder, self._json(response))
            found.extend(batch)
            if page >= (_header_int(response, "X-WP-TotalPages") or 1):
                break
        return found

    async def find_orders(
        self, *, email: str | None = None, phone: str | None = None, limit: int = 10
    ) -> list[StoreOrder]:
        """The customer's orders, newest first, at most ``limit``.

        By e-mail: orders whose ``billing.email`` is that address (WooCommerce ``search``,
        filtered exactly here) plus the orders of the registered customer with that e-mail
        (``customer=<id>``). By phone: ``search`` on the last 4 digits (shops store phones as
        typed, so E.164 rarely matches the text), filtered with :func:`phone_matches`.
        """
        if limit <= 0:
            return []
        orders: dict[int, WooOrder] = {}
        if email:
            wanted = email.strip().casefold()
            for order in await self._search_orders({"search": email.strip()}):
                if (order.billing.email or "").strip().casefold() == wanted:
                    orders[order.id] = order
            customer = await self._customer_by_email(email)
            if customer is not None:
                for order in await self._search_orders({"customer": customer.id}, pages=1):
                    orders[order.id] = order
        elif phone:
            digits = _digits(phone)
            if len(digits) < 7:
                return []
            for order in await self._search_orders({"search": digits[-4:]}):
                if phone_matches(order.billing.phone, phone):
                    orders[order.id] = order
        records = sorted(
            (order_record(o) for o in orders.values()),
            key=lambda o: (o.created_at, o.external_id),
            reverse=True,
        )
        return records[:limit]

    async def _customer_by_email(self, email: str) -> WooCustomer | None:
        params: dict[str, str | int] = {"email": email.strip(), "role": "all"}
        response = await self._call("GET", "customers", params=params)
        customers = self._parse_list(WooCustomer, self._json(response))
        return customers[0] if customers else None

    async def find_customer(
        self, *, email: str | None = None, phone: str | None = None
    ) -> StoreCustomer | None:
        """The registered customer with this e-mail or phone, if any.

        E-mail uses ``customers?email=`` (exact). The customers ``search`` does not look at
        billing phones, so a phone is looked up through the orders placed with it: the most
        recent one that belongs to a registered customer gives the customer id.
        """
        if email:
            customer = await self._customer_by_email(email)
            return customer_record(customer) if customer else None
        if phone:
            for order in await self.find_orders(phone=phone, limit=20):
                if order.customer_external_id:
                    response = await self._send(
                        "GET", f"customers/{order.customer_external_id}", missing_ok=True
                    )
                    if response is not None:
                        return customer_record(self._parse(WooCustomer, self._json(response)))
        return None

    # -- writes -------------------------------------------------------------------------------

    async def _order_with_key(self, key: str) -> WooOrder | None:
        """A recently modified order carrying our idempotency ``key`` (``IDEMPOTENCY_WINDOW``)."""
        since = datetime.now(UTC) - IDEMPOTENCY_WINDOW
        for page in range(1, IDEMPOTENCY_SCAN_PAGES + 1):
            params: dict[str, str | int] = {
                "modified_after": gmt_text(since),
                "dates_are_gmt": "true",
                "orderby": "modified",
                "order": "desc",
                "per_page": MAX_PER_PAGE,
                "page": page,
            }
            response = await self._call("GET", "orders", params=params)
            for order in self._parse_list(WooOrder, self._json(response)):
                if any(m.key == IDEMPOTENCY_META_KEY and m.value == key for m in order.meta_data):
                    return order
            if page >= (_header_int(response, "X-WP-TotalPages") or 1):
                return None
        return None

    async def _create_once(
        self,
        path: str,
        body: Any,
        find_existing: Callable[[], Awaitable[dict[str, Any] | None]],
    ) -> Any:
        """POST ``body`` without blind retries.

        A 429 is retried after the asked delay (nothing was applied). After a 5xx or a
        transport error the first try may have been applied, so ``find_existing()`` runs
        first and its result is returned when it finds the record.
        """
        last: StoreError | None = None
        for attempt in range(self._policy.attempts):
            try:
                response = await self._call("POST", path, body=body, single_try=True)
                return self._json(response)
            except StoreThrottled as err:
                last = err
                delay = err.retry_after_s or self._policy.backoff_s(attempt)
            except StoreUnavailable as err:
                last = err
                existing = await find_existing()
                if existing is not None:
                    return existing
                delay = self._policy.backoff_s(attempt)
            if attempt < self._policy.attempts - 1:
                logger.info("woocommerce create retry %d in %.2fs", attempt + 1, delay)
                await asyncio.sleep(min(delay, self._policy.max_delay_s))
        assert last is not None
        raise last

    async def create_order(self, draft: OrderDraft, *, idempotency_key: str) -> StoreOrder:
        """Create the order once per ``idempotency_key``.

        Looks for an order carrying the key in ``meta_data`` (``IDEMPOTENCY_WINDOW``) first;
        else ``POST /orders`` with ``set_paid: false``, status ``processing`` for cash on
        delivery (``cod``, as WooCommerce's own checkout does) and ``pending`` otherwise, the
        lines with the confirmed prices as ``subtotal``/``total`` (so the store records what
        the customer agreed to), billing/shipping and the key in ``meta_data``.

        Raises:
            StoreRejected: an id is not a WooCommerce id, or the store refused the order
                (``woocommerce_rest_invalid_product_id``...).
        """
        existing = await self._order_with_key(idempotency_key)
        if existing is not None:
            logger.info("woocommerce order %s already exists for this key", existing.id)
            return order_record(existing)
        body = self._order_body(draft, idempotency_key)

        async def find() -> dict[str, Any] | None:
            order = await self._order_with_key(idempotency_key)
            return order.model_dump() if order else None

        data = await self._create_once("orders", body, find)
        order = order_record(self._parse(WooOrder, data))
        if order.total != draft.total:
            # Taxes and rounding are the shop's: keep its order, and make the gap visible.
            logger.warning(
                "woocommerce order %s total %s differs from the confirmed %s",
                order.external_id,
                order.total,
                draft.total,
            )
        return order

    @staticmethod
    def _address_body(address: StoreAddress | None, name: str | None) -> dict[str, str]:
        first, _, last = (name or "").strip().partition(" ")
        body = {"first_name": first, "last_name": last.strip()}
        if address is not None:
            body |= {
                "address_1": address.line1 or "",
                "address_2": address.line2 or "",
                "city": address.city or "",
                "state": address.region or "",
                "postcode": address.postcode or "",
                "country": address.country or "",
            }
        return body

    def _order_body(self, draft: OrderDraft, key: str) -> dict[str, Any]:
        lines: list[dict[str, Any]] = []
        for line in draft.lines:
            product_id = _id(line.product_external_id)
            variant_id = _id(line.variant_external_id)
            if product_id is None or variant_id is None:
                raise StoreRejected(
                    "order line ids are not woocommerce ids", provider_code="invalid_line"
                )
            amount = _money_text(line.unit_price * line.quantity)
            item: dict[str, Any] = {
                "product_id": product_id,
                "quantity": line.quantity,
                "subtotal": amount,
                "total": amount,
            }
            if variant_id != product_id:
                item["variation_id"] = variant_id
            lines.append(item)
        address = draft.shipping_address if draft.fulfilment == "delivery" else None
        name = draft.customer_name or (address.name if address else None)
        billing = self._address_body(address, name)
        if draft.email:
            billing["email"] = draft.email
        if draft.phone:
            billing["phone"] = draft.phone
        body: dict[str, Any] = {
            "status": "processing" if draft.payment_method == "cod" else "pending",
            "set_paid": False,
            "currency": draft.currency,
            "payment_method": draft.payment_method,
            "payment_method_title": draft.payment_method,
            "billing": billing,
            "line_items": lines,
            "meta_data": [{"key": IDEMPOTENCY_META_KEY, "value": key}],
            "created_via": CREATED_VIA,
        }
        if address is not None:
            body["shipping"] = self._address_body(address, address.name or name)
        if draft.fulfilment == "pickup" or draft.shipping_total:
            pickup = draft.fulfilment == "pickup"
            body["shipping_lines"] = [
                {
                    "method_id": "local_pickup" if pickup else "flat_rate",
                    "method_title": "Pickup" if pickup else "Delivery",
                    "total": _money_text(draft.shipping_total),
                }
            ]
        if draft.customer_external_id and _id(draft.customer_external_id) is not None:
            body["customer_id"] = int(draft.customer_external_id)
        if draft.note:
            body["customer_note"] = draft.note
        return body

    async def create_discount(self, request: DiscountRequest) -> DiscountCode:
        """``POST /coupons``: ``percent`` or ``fixed_cart``, individual use, expiring.

        Idempotent per code, like Shopify's: when WooCommerce answers
        ``woocommerce_rest_coupon_code_already_exists`` (a retry after the first try was
        applied), the coupon with that code (``GET /coupons?code=``) is returned.

        Raises:
            StoreRejected: not exactly one of ``percent``/``amount``, or the code exists
                and cannot be read back.
        """
        if (request.percent is None) == (request.amount is None):
            raise StoreRejected(
                "a discount needs exactly one of percent and amount",
                provider_code="invalid_discount",
            )
        if request.percent is not None:
            discount_type, amount = "percent", request.percent
        else:
            assert request.amount is not None
            discount_type, amount = "fixed_cart", request.amount
        body = {
            "code": request.code,
            "discount_type": discount_type,
            "amount": _money_text(amount),
            "individual_use": True,
            "usage_limit": request.usage_limit,
            "date_expires_gmt": gmt_text(request.expires_at),
        }

        async def find() -> dict[str, Any] | None:
            response = await self._call("GET", "coupons", params={"code": request.code})
            found = self._parse_list(WooCoupon, self._json(response))
            return found[0].model_dump() if found else None

        try:
            data = await self._create_once("coupons", body, find)
        except StoreRejected as err:
            if err.provider_code != "woocommerce_rest_coupon_code_already_exists":
                raise
            data = await find()
            if data is None:
                raise
        coupon = self._parse(WooCoupon, data)
        return DiscountCode(external_id=str(coupon.id), code=coupon.code)

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> Refund:
        """``POST /orders/{id}/refunds`` once per key.

        ``api_refund`` is ``request.move_money`` (WooCommerce's default is true, which makes
        the gateway pay back: we always send it), ``api_restock`` false, the amount as a
        string and the key in ``meta_data``; an existing refund of the order with the same
        key is returned instead of a second one.

        Raises:
            StoreRejected: unknown order, or an amount above what is left to refund.
        """
        order_id = _id(request.order_external_id)
        if order_id is None:
            raise StoreRejected("not a woocommerce order id", status=404)
        path = f"orders/{order_id}/refunds"

        async def find() -> dict[str, Any] | None:
            for refund in await self._list_all(WooRefund, path):
                if any(
                    m.key == IDEMPOTENCY_META_KEY and m.value == idempotency_key
                    for m in refund.meta_data
                ):
                    return refund.model_dump()
            return None

        existing = await find()
        if existing is None:
            await self._check_refundable(order_id, request)
            body: dict[str, Any] = {
                "amount": _money_text(request.amount),
                "api_refund": request.move_money,
                "api_restock": False,
                "meta_data": [{"key": IDEMPOTENCY_META_KEY, "value": idempotency_key}],
            }
            if request.reason:
                body["reason"] = request.reason
            existing = await self._create_once(path, body, find)
        refund = self._parse(WooRefund, existing)
        amount = Decimal(refund.amount.strip() or "0").copy_abs()
        return Refund(external_id=str(refund.id), amount=amount)

    async def _check_refundable(self, order_id: int, request: RefundRequest) -> None:
        """Refuse here what WooCommerce would answer with a 500 (so never retried blindly).

        WooCommerce reports an amount above what is left to refund as HTTP 500
        ``woocommerce_rest_cannot_create_order_refund``, which our retry loop would treat as
        an outage: the order is read first and the amount and currency checked.
        """
        response = await self._send("GET", f"orders/{order_id}", missing_ok=True)
        if response is None:
            raise StoreRejected(
                "woocommerce order not found",
                status=404,
                provider_code="woocommerce_rest_shop_order_invalid_id",
            )
        order = self._parse(WooOrder, self._json(response))
        if order.currency != request.currency:
            raise StoreRejected("refund currency is not the order's", provider_code="currency")
        refunded = sum((Decimal(r.total or "0").copy_abs() for r in order.refunds), Decimal("0"))
        if request.amount > Decimal(order.total or "0") - refunded:
            raise StoreRejected(
                "refund above what is left on the order", provider_code="invalid_refund_amount"
            )

    async def batch_update(self, resource: str, items: Sequence[Mapping[str, Any]]) -> BatchResult:
        """Update many records through ``POST /{resource}/batch``, 100 items per request.

        Args:
            resource: ``products``, ``orders``, ``customers``, ``coupons``, ``webhooks`` or
                ``products/{id}/variations``.
            items: update objects, each with the record's ``id``.

        Returns:
            The ids updated and the per-item errors of every chunk (call
            ``raise_for_errors()`` to turn failures into ``StoreRejected``). Chunks are sent
            one after the other; an HTTP-level error stops at that chunk and raises.

        Raises:
            StoreRejected: an unknown resource, or an item without ``id``.
        """
        if not _BATCH_RESOURCE.fullmatch(resource):
            raise StoreRejected("no woocommerce batch endpoint", provider_code="invalid_resource")
        if any("id" not in item for item in items):
            raise StoreRejected("batch update items need an id", provider_code="invalid_item")
        result = BatchResult()
        for start in range(0, len(items), MAX_BATCH_ITEMS):
            chunk = [dict(item) for item in items[start : start + MAX_BATCH_ITEMS]]
            response = await self._call("POST", f"{resource}/batch", body={"update": chunk})
            data = self._json(response)
            answered = data.get("update") if isinstance(data, dict) else None
            answered = answered if isinstance(answered, list) else []
            seen: set[str] = set()
            for entry in answered:
                if not isinstance(entry, dict):
                    continue
                entry_id = str(entry.get("id"))
                seen.add(entry_id)
                error = entry.get("error")
                if isinstance(error, dict):
                    data_field = error.get("data")
                    status = data_field.get("status") if isinstance(data_field, dict) else None
                    result.errors.append(
                        BatchItemError(
                            id=entry_id,
                            code=str(error.get("code") or "unknown"),
                            status=status if isinstance(status, int) else None,
                        )
                    )
                else:
                    result.updated.append(entry_id)
            for item in chunk:
                if str(item["id"]) not in seen:
                    result.errors.append(BatchItemError(str(item["id"]), "missing_from_response"))
        if result.errors:
            logger.warning(
                "woocommerce batch %s: %d of %d items failed",
                resource,
                len(result.errors),
                len(items),
            )
        return result

    # -- webhooks -----------------------------------------------------------------------------

    @staticmethod
    def _subscription(webhook: WooWebhook) -> WebhookSubscription:
        return WebhookSubscription(
            external_id=str(webhook.id),
            topic=webhook.topic,
            address=webhook.delivery_url,
            active=webhook.status == "active",
        )

    async def list_webhooks(self) -> list[WebhookSubscription]:
        """Every webhook of the shop; ``active`` False unless ``status`` is ``active``."""
        webhooks = await self._list_all(WooWebhook, "webhooks", {"status": "all"})
        return [self._subscription(w) for w in webhooks]

    async def register_webhooks(self, *, address: str, secret: str) -> list[WebhookSubscription]:
        """Subscribe ``address`` to order, product and customer created/updated/deleted.

        For each topic: an active webhook with the same topic and URL is kept as it is; a
        disabled or paused one is reactivated with ``secret`` (``PUT``, which also resets
        WooCommerce's failure count); otherwise one is created with ``secret``. WooCommerce
        pings ``address`` (``webhook_id=N``) on creation and activation.

        Returns:
            The nine subscriptions, in ``WEBHOOK_TOPICS`` order.
        """
        existing = await self._list_all(WooWebhook, "webhooks", {"status": "all"})
        result: list[WebhookSubscription] = []
        for topic in WEBHOOK_TOPICS:
            same = [w for w in existing if w.topic == topic and w.delivery_url == address]
            active = [w for w in same if w.status == "active"]
            if active:
                result.append(self._subscription(active[0]))
                continue
            if same:
                response = await self._call(
                    "PUT", f"webhooks/{same[0].id}", body={"status": "active", "secret": secret}
                )
            else:
                body = {
                    "name": f"Tendero {topic}",
                    "topic": topic,
                    "delivery_url": address,
                    "secret": secret,
                    "status": "active",
                }
                response = await self._call("POST", "webhooks", body=body)
            result.append(self._subscription(self._parse(WooWebhook, self._json(response))))
        return result
