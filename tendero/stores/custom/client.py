"""``CustomBackendClient``: the ``StoreClient`` of a shop with its own REST backend.

The contract (docs/custom-backend.md has the full text for the shop's developer). JSON
everywhere, money as decimal strings, datetimes ISO 8601 with an offset, ids numbers or text.

Auth
    ``POST /api/auth/login {username, password}`` →
    ``{access_token (JWT), token_type: "bearer", expires_in (s)}``. Every other call sends
    ``Authorization: Bearer <jwt>``. We log in lazily, keep the token until shortly before
    ``expires_in`` runs out (10 % of its lifetime, at most 30 s, early), and on a 401 log in
    again once and repeat the call; a second 401 is ``StoreAuthError``. One login at a time.

Reads
    - ``GET /api/products/search?search=&page=&limit=&updated_after=`` →
      ``{items: [product], page, total_pages, total}``; empty ``search``: every product.
    - ``GET /api/products/:id`` → product, or 404.
    - ``GET /api/categories`` → ``[{id, name, parent_id, updated_at}]`` (one answer, no paging).
    - ``GET /api/orders/search?number=&email=&phone=&updated_after=&page=&limit=`` → paged
      orders. ``number`` matches an order's number *or* its id (that is how ``get_order``
      finds an order by id: the contract has no ``GET /api/orders/:id``).
    - ``GET /api/orders/active/:phone`` (E.164, URL-encoded) → ``[order]`` not finished.
    - ``GET /api/users/by-phone/:phone`` → ``{id, name, email, phone, updated_at}`` or 404;
      ``GET /api/users/:phone/profile`` → the same plus ``addresses`` and ``preferences``.
    - ``GET /api/delivery-options`` → ``[{id, name, fee, currency, eta}]``;
      ``GET /api/payment-methods`` → ``[{id, name}]``.

Paging and order
    ``limit`` is at most 100. With ``updated_after`` (inclusive) records come oldest update
    first (``updated_at``, then ``id``); without it, products by ``id`` and orders newest
    first. Our cursors are page numbers (with the scan's ``updated_after``), so a cursor
    resumes the same scan. Records deleted mid-scan shift later pages and one can be missed
    (the next incremental sync reconciles); orders created during a newest-first full scan
    shift it the other way and repeat a record, which upserts absorb.

Writes
    ``POST /api/orders`` with ``Idempotency-Key: <our key>`` → 201 order; the same key again
    → 200 with the first order, never a second one; the same key with another body → 409
    (``StoreRejected``).

Errors
    ``{error: {code, message}}`` with 400/401/403/404/409/422/429 (``Retry-After``)/5xx.
    ``StoreHttp`` waits and retries 429 and 5xx; final statuses map to the ``StoreError``
    family with ``provider_code`` = ``error.code``. The backend's ``message`` is never copied
    into our errors or logs (it can echo customer data).

Not in the contract
    Customers have no list endpoint: ``resources`` is categories, products and orders, and a
    custom backend's customers come in through their orders (``fetch_page(CUSTOMERS)``
    raises ``StoreNotSupported``). ``find_customer`` by e-mail reads the customer of the
    newest order with that e-mail. Coupons, refunds and webhooks raise ``StoreNotSupported``
    (``register_webhooks`` and ``list_webhooks`` included: the sync treats that as nothing to
    register and relies on incremental syncs).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from tendero.errors import StoreAuthError, StoreError, StoreNotSupported, StoreRejected
from tendero.stores.credentials import CustomCredentials
from tendero.stores.custom.payloads import (
    CategoryPayload,
    CustomerProfile,
    DeliveryOption,
    DeliveryOptionPayload,
    ErrorPayload,
    LoginPayload,
    OrderPayload,
    PagePayload,
    PaymentMethod,
    PaymentMethodPayload,
    ProductPayload,
    ProfilePayload,
    UserPayload,
    customer_profile,
    delivery_option,
    order_request_body,
    payment_method,
)
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
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreProduct,
    StoreRecord,
    WebhookSubscription,
)

logger = logging.getLogger(__name__)

MAX_PAGE_SIZE = 100
"""The contract's largest ``limit``."""

# Refresh this long before the advertised expiry (capped at 10 % of the lifetime so that
# short-lived tokens are not refreshed on every call).
_EXPIRY_MARGIN_S = 30.0

# Error codes are copied into StoreError.provider_code only when they look like codes: a
# backend that puts prose (or an e-mail address) in ``code`` must not leak it through us.
_SAFE_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{0,63}")

# A shop's currency is not in the contract; ISO 4217's "no currency" when it has no
# delivery option to read one from.
_NO_CURRENCY = "XXX"

_PAGED_PATHS: dict[Resource, str] = {
    Resource.PRODUCTS: "/api/products/search",
    Resource.ORDERS: "/api/orders/search",
}

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class _Token:
    value: str
    refresh_at: float
    """``time.monotonic()`` after which we log in again before using it."""

    def fresh(self) -> bool:
        return time.monotonic() < self.refresh_at


def _contract_error(op: str, err: ValidationError) -> StoreError:
    # Field paths and error kinds only: the values can be customer data.
    where = sorted({".".join(str(p) for p in e["loc"]) + f" ({e['type']})" for e in err.errors()})
    shown = ", ".join(where[:5]) + (" ..." if len(where) > 5 else "")
    logger.warning("custom backend: %s answered outside the contract: %s", op, shown)
    return StoreError(f"custom backend: {op} answered outside the contract: {shown}")


def _parse(model: type[ModelT], data: object, op: str) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise _contract_error(op, err) from None


def _parse_list(model: type[ModelT], data: object, op: str) -> list[ModelT]:
    if not isinstance(data, list):
        raise StoreError(f"custom backend: {op} answered outside the contract: not a list")
    return [_parse(model, item, op) for item in data]


def _json(response: httpx.Response, op: str) -> object:
    try:
        data: object = response.json()
    except ValueError:
        raise StoreError(f"custom backend: {op} answered with invalid JSON") from None
    return data


def _provider_code(response: httpx.Response) -> str | None:
    try:
        body = ErrorPayload.model_validate(response.json())
    except (ValueError, ValidationError):
        return None
    code = body.error.code
    return code if code is not None and _SAFE_CODE.fullmatch(code) else None


def _status_error(response: httpx.Response, op: str) -> StoreError:
    code = _provider_code(response)
    status = response.status_code
    message = f"custom backend: {op} answered HTTP {status}" + (f" ({code})" if code else "")
    return error_for_status(status, message, provider_code=code)


def _aware_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise StoreRejected("updated_since must be timezone-aware (UTC)")
    return value.astimezone(UTC)


def _path_segment(value: str) -> str:
    # E.164 phones start with "+", which a path must carry as %2B; ids may hold anything.
    return quote(value, safe="")


class CustomBackendClient:
    """The ``StoreClient`` of a custom REST backend (the contract in the module docstring).

    Args:
        http: the shared HTTP client (timeouts, transport); not closed here.
        base_url: the backend's root, e.g. ``https://shop.example.com`` (``/api/...`` is
            appended; a path prefix such as ``https://example.com/shop`` is kept).
        credentials: the service account to log in with.
        max_concurrency: requests in flight to this backend at once.
        policy: retries of 429/5xx/transport errors (``StoreHttp``'s default when ``None``).

    Every method raises only the ``StoreError`` family: ``StoreAuthError`` (login refused,
    or a fresh token refused), ``StoreRejected`` (400/404/409/422, bad cursor),
    ``StoreUnavailable``/``StoreThrottled`` (after retries), ``StoreNotSupported`` (outside
    the contract), and plain ``StoreError`` when an answer does not match the contract.
    """

    kind: ClassVar[str] = "custom"
    resources: ClassVar[tuple[Resource, ...]] = (
        Resource.CATEGORIES,
        Resource.PRODUCTS,
        Resource.ORDERS,
    )

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        base_url: str,
        credentials: CustomCredentials,
        max_concurrency: int = 4,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Bind the backend; nothing is sent until the first call (lazy login)."""
        self._http = StoreHttp(http, max_concurrency=max_concurrency, policy=policy)
        self._base_url = base_url.rstrip("/")
        self._credentials = credentials
        self._token: _Token | None = None
        # One login at a time: callers that find the token missing or stale queue here and
        # reuse the token the first of them obtained.
        self._login_lock = asyncio.Lock()

    # -- auth -------------------------------------------------------------------------------

    async def _login(self) -> str:
        """Log in (the caller holds the lock) and cache the token."""
        self._token = None
        response = await self._http.request(
            "POST",
            self._url("/api/auth/login"),
            json={
                "username": self._credentials.username,
                "password": self._credentials.password.get_secret_value(),
            },
        )
        status = response.status_code
        if status in (400, 401, 403, 422):
            logger.warning("custom backend refused the service account login (HTTP %d)", status)
            raise StoreAuthError(
                f"custom backend refused the service account login (HTTP {status})",
                status=status,
                provider_code=_provider_code(response),
            )
        if status not in (200, 201):
            raise _status_error(response, "login")
        payload = _parse(LoginPayload, _json(response, "login"), "login")
        if payload.token_type.lower() != "bearer":
            raise StoreError("custom backend: login answered a token type other than bearer")
        margin = min(_EXPIRY_MARGIN_S, payload.expires_in * 0.1)
        self._token = _Token(payload.access_token, time.monotonic() + payload.expires_in - margin)
        logger.info("custom backend login ok; token valid for %.0fs", payload.expires_in)
        return payload.access_token

    async def _current_token(self) -> str:
        token = self._token
        if token is not None and token.fresh():
            return token.value
        async with self._login_lock:
            token = self._token
            if token is not None and token.fresh():
                return token.value
            return await self._login()

    async def _replace_token(self, refused: str) -> str:
        """A token other than ``refused``: another caller's new one, else a new login."""
        async with self._login_lock:
            token = self._token
            if token is not None and token.value != refused and token.fresh():
                return token.value
            return await self._login()

    # -- transport --------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self._base_url + path

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        *,
        params: dict[str, str | int] | None,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
    ) -> httpx.Response:
        return await self._http.request(
            method,
            self._url(path),
            params=params,
            json=json,
            headers={**(headers or {}), "Authorization": f"Bearer {token}"},
        )

    async def _request(
        self,
        method: str,
        path: str,
        *,
        op: str,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Send an authorized request; on a 401 log in again once and repeat it.

        Repeating is safe for every call of the contract: reads are idempotent and the only
        write carries an ``Idempotency-Key``.

        Raises:
            StoreAuthError: the login failed, or the backend refused a fresh token too.
        """
        token = await self._current_token()
        response = await self._send(method, path, token, params=params, json=json, headers=headers)
        if response.status_code != 401:
            return response
        logger.info("custom backend: %s answered 401; logging in again", op)
        token = await self._replace_token(token)
        response = await self._send(method, path, token, params=params, json=json, headers=headers)
        if response.status_code == 401:
            raise StoreAuthError(
                f"custom backend: {op} refused a fresh token (HTTP 401)",
                status=401,
                provider_code=_provider_code(response),
            )
        return response

    async def _get(
        self,
        path: str,
        *,
        op: str,
        params: dict[str, str | int] | None = None,
        missing_ok: bool = False,
    ) -> object | None:
        """GET ``path`` and return its JSON; ``None`` on a 404 when ``missing_ok``."""
        response = await self._request("GET", path, op=op, params=params)
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code != 200:
            raise _status_error(response, op)
        return _json(response, op)

    async def _get_required(
        self, path: str, *, op: str, params: dict[str, str | int] | None = None
    ) -> object:
        data = await self._get(path, op=op, params=params)
        if data is None:
            raise StoreError(f"custom backend: {op} answered null")
        return data

    # -- paging -----------------------------------------------------------------------------

    @staticmethod
    def _encode_cursor(resource: Resource, page: int, since: datetime | None) -> str:
        text = f"{resource.value}:{page}"
        return text if since is None else f"{text}@{since.isoformat()}"

    @staticmethod
    def _decode_cursor(resource: Resource, cursor: str) -> tuple[int, datetime | None]:
        invalid = StoreRejected(f"not a {resource.value} cursor of a custom backend")
        head, _, since_text = cursor.partition("@")
        kind, _, page_text = head.partition(":")
        if kind != resource.value or not page_text.isdigit() or int(page_text) < 1:
            raise invalid
        since: datetime | None = None
        if since_text:
            try:
                since = datetime.fromisoformat(since_text)
            except ValueError:
                raise invalid from None
            if since.tzinfo is None:
                raise invalid
        return int(page_text), since

    async def _search(
        self,
        resource: Resource,
        *,
        page: int,
        limit: int,
        filters: dict[str, str],
        op: str,
    ) -> PagePayload:
        params: dict[str, str | int] = {**filters, "page": page, "limit": limit}
        data = await self._get_required(_PAGED_PATHS[resource], op=op, params=params)
        return _parse(PagePayload, data, op)

    async def fetch_page(
        self,
        resource: Resource,
        *,
        cursor: str | None,
        updated_since: datetime | None,
        page_size: int,
    ) -> Page[StoreRecord]:
        """One page of categories, products or orders.

        Args:
            resource: ``CATEGORIES`` (all in one page, filtered here by ``updated_since``),
                ``PRODUCTS`` or ``ORDERS`` (page-number paging).
            cursor: ``None`` for the first page, else a previous ``next_cursor``; it carries
                the scan's ``updated_since``, which then wins over the argument.
            updated_since: ``None`` for a full scan, else records updated at or after it
                (aware), oldest first.
            page_size: records per page, capped at 100 (the contract's ``limit``).

        Returns:
            The page; ``total`` is the backend's count for the whole scan.

        Raises:
            StoreNotSupported: ``CUSTOMERS`` (the contract has no customer list).
            StoreRejected: ``cursor`` is not one of ours for ``resource``.
        """
        if resource not in self.resources:
            raise StoreNotSupported(
                f"a custom backend cannot list {resource.value}; they come with their orders"
            )
        since = _aware_utc(updated_since) if updated_since is not None else None
        if resource is Resource.CATEGORIES:
            if cursor is not None:
                raise StoreRejected("custom backend categories come in one page: no cursor")
            categories = await self._categories()
            items: list[StoreRecord] = [
                c
                for c in categories
                if since is None or c.updated_at is None or c.updated_at >= since
            ]
            return Page[StoreRecord](items=items, total=len(items))

        page = 1
        if cursor is not None:
            page, since = self._decode_cursor(resource, cursor)
        filters = {} if since is None else {"updated_after": since.isoformat()}
        if resource is Resource.PRODUCTS:
            # The contract's "all products" is an empty search term.
            filters["search"] = ""
        op = f"{resource.value} page {page}"
        envelope = await self._search(
            resource,
            page=page,
            limit=max(1, min(page_size, MAX_PAGE_SIZE)),
            filters=filters,
            op=op,
        )
        if resource is Resource.PRODUCTS:
            items = [_parse(ProductPayload, i, op).to_record() for i in envelope.items]
        else:
            items = [_parse(OrderPayload, i, op).to_record() for i in envelope.items]
        # An empty page ends the scan even if total_pages says otherwise (no endless loop).
        more = bool(items) and page < envelope.total_pages
        return Page[StoreRecord](
            items=items,
            next_cursor=self._encode_cursor(resource, page + 1, since) if more else None,
            total=envelope.total,
        )

    async def _categories(self) -> list[StoreCategory]:
        data = await self._get_required("/api/categories", op="categories")
        return [c.to_record() for c in _parse_list(CategoryPayload, data, "categories")]

    # -- products ---------------------------------------------------------------------------

    async def search_products(self, query: str, *, limit: int) -> list[StoreProduct]:
        """Active products matching ``query``, in the backend's order (best first).

        Args:
            query: the customer's words; empty lists every product.
            limit: at most this many (capped at 100); inactive ones are dropped here, so
                fewer may come back.
        """
        if limit <= 0:
            return []
        envelope = await self._search(
            Resource.PRODUCTS,
            page=1,
            limit=min(limit, MAX_PAGE_SIZE),
            filters={"search": query},
            op="product search",
        )
        products = [_parse(ProductPayload, i, "product search").to_record() for i in envelope.items]
        return [p for p in products if p.published][:limit]

    async def get_product(self, external_id: str) -> StoreProduct | None:
        """``GET /api/products/:id``: the product, ``None`` on a 404."""
        data = await self._get(
            f"/api/products/{_path_segment(external_id)}", op="get product", missing_ok=True
        )
        if data is None:
            return None
        return _parse(ProductPayload, data, "get product").to_record()

    # -- orders -----------------------------------------------------------------------------

    async def get_order(self, external_id: str) -> StoreOrder | None:
        """The order with this id, ``None`` when there is none.

        Looked up with ``GET /api/orders/search?number=<id>`` (the contract's ``number``
        filter matches ids too) and kept only if the answer's ``id`` is ``external_id``,
        so an order whose *number* equals another order's id is never returned instead.
        """
        envelope = await self._search(
            Resource.ORDERS,
            page=1,
            limit=MAX_PAGE_SIZE,
            filters={"number": external_id},
            op="get order",
        )
        for item in envelope.items:
            order = _parse(OrderPayload, item, "get order")
            if order.id == external_id:
                return order.to_record()
        return None

    async def _orders_by(self, key: str, value: str, limit: int) -> list[OrderPayload]:
        envelope = await self._search(
            Resource.ORDERS,
            page=1,
            limit=min(limit, MAX_PAGE_SIZE),
            filters={key: value},
            op=f"orders by {key}",
        )
        return [_parse(OrderPayload, i, f"orders by {key}") for i in envelope.items]

    async def _customer_orders(
        self, email: str | None, phone: str | None, limit: int
    ) -> list[OrderPayload]:
        lookups = [("phone", phone), ("email", email)]
        results = await asyncio.gather(
            *(self._orders_by(key, value, limit) for key, value in lookups if value)
        )
        by_id: dict[str, OrderPayload] = {}
        for orders in results:
            for order in orders:
                by_id.setdefault(order.id, order)
        newest_first = sorted(by_id.values(), key=lambda o: (o.created_at, o.id), reverse=True)
        return newest_first[:limit]

    async def find_orders(
        self, *, email: str | None = None, phone: str | None = None, limit: int = 10
    ) -> list[StoreOrder]:
        """The orders with this e-mail or phone, newest first, at most ``limit`` (≤ 100).

        With both, the two searches are merged (an order may carry only one of them).

        Raises:
            StoreRejected: neither ``email`` nor ``phone`` given.
        """
        if not email and not phone:
            raise StoreRejected("find_orders needs an e-mail or a phone")
        if limit <= 0:
            return []
        return [o.to_record() for o in await self._customer_orders(email, phone, limit)]

    async def active_orders(self, phone: str) -> list[StoreOrder]:
        """Custom backends only: ``GET /api/orders/active/:phone``, the unfinished orders.

        Args:
            phone: the customer's E.164 phone (``+34600000001``).
        """
        op = "active orders"
        data = await self._get_required(f"/api/orders/active/{_path_segment(phone)}", op=op)
        return [o.to_record() for o in _parse_list(OrderPayload, data, op)]

    async def create_order(self, draft: OrderDraft, *, idempotency_key: str) -> StoreOrder:
        """``POST /api/orders`` with ``Idempotency-Key: idempotency_key``, exactly once.

        The backend answers 201 with the new order, or 200 with the order a previous call
        with the same key created; either way the returned record carries our key.

        Raises:
            StoreRejected: 409 (the key was used with another body), 422 (e.g. a price or
                stock the backend refuses: see ``provider_code``), 400/404.
        """
        if not idempotency_key:
            raise StoreRejected("create_order needs an idempotency key")
        op = "create order"
        response = await self._request(
            "POST",
            "/api/orders",
            op=op,
            json=order_request_body(draft),
            headers={"Idempotency-Key": idempotency_key},
        )
        if response.status_code not in (200, 201):
            raise _status_error(response, op)
        order = _parse(OrderPayload, _json(response, op), op)
        return order.to_record(idempotency_key=idempotency_key)

    # -- customers --------------------------------------------------------------------------

    async def find_customer(
        self, *, email: str | None = None, phone: str | None = None
    ) -> StoreCustomer | None:
        """The customer with this phone (``/api/users/by-phone``) or, failing that, e-mail.

        The contract has no user lookup by e-mail: by e-mail it is the customer of the
        newest order with that e-mail (``updated_at`` is that order's), ``None`` when there
        is no such order or it was a guest's.
        """
        if phone:
            data = await self._get(
                f"/api/users/by-phone/{_path_segment(phone)}",
                op="customer by phone",
                missing_ok=True,
            )
            if data is not None:
                return _parse(UserPayload, data, "customer by phone").to_record()
        if email:
            newest = await self._customer_orders(email, None, 1)
            if newest:
                return newest[0].customer_record()
        return None

    async def customer_profile(self, phone: str) -> CustomerProfile | None:
        """Custom backends only: ``GET /api/users/:phone/profile``, ``None`` on a 404."""
        op = "customer profile"
        data = await self._get(f"/api/users/{_path_segment(phone)}/profile", op=op, missing_ok=True)
        return None if data is None else customer_profile(_parse(ProfilePayload, data, op))

    # -- shop -------------------------------------------------------------------------------

    async def delivery_options(self) -> list[DeliveryOption]:
        """Custom backends only: ``GET /api/delivery-options``."""
        op = "delivery options"
        data = await self._get_required("/api/delivery-options", op=op)
        return [delivery_option(d) for d in _parse_list(DeliveryOptionPayload, data, op)]

    async def payment_methods(self) -> list[PaymentMethod]:
        """Custom backends only: ``GET /api/payment-methods``."""
        op = "payment methods"
        data = await self._get_required("/api/payment-methods", op=op)
        return [payment_method(p) for p in _parse_list(PaymentMethodPayload, data, op)]

    async def shop_info(self) -> ShopInfo:
        """The connection test: log in, read payment methods and delivery options.

        ``name`` is the base URL's host (the contract has no shop endpoint); ``currency``
        is the first delivery option's, ``XXX`` when there is none.

        Raises:
            StoreAuthError: the service account cannot log in.
        """
        methods = await self.payment_methods()
        options = await self.delivery_options()
        host = httpx.URL(self._base_url).host or self._base_url
        return ShopInfo(
            name=host,
            currency=options[0].currency if options else _NO_CURRENCY,
            url=self._base_url,
            detail=f"{len(methods)} payment methods, {len(options)} delivery options",
        )

    # -- outside the contract ---------------------------------------------------------------

    async def create_discount(self, request: DiscountRequest) -> DiscountCode:
        """Not in the contract.

        Raises:
            StoreNotSupported: always.
        """
        raise StoreNotSupported("a custom backend has no coupons")

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> Refund:
        """Not in the contract.

        Raises:
            StoreNotSupported: always.
        """
        raise StoreNotSupported("a custom backend has no refunds")

    async def register_webhooks(self, *, address: str, secret: str) -> list[WebhookSubscription]:
        """Not in the contract: incremental syncs (``updated_after``) stand in for webhooks.

        Raises:
            StoreNotSupported: always (nothing to register).
        """
        raise StoreNotSupported("a custom backend has no webhook registration")

    async def list_webhooks(self) -> list[WebhookSubscription]:
        """Not in the contract.

        Raises:
            StoreNotSupported: always (nothing registered).
        """
        raise StoreNotSupported("a custom backend has no webhook registration")
