"""A fake "custom REST backend" serving the contract of docs/custom-backend.md over real HTTP.

Like ``model_server.py``, uvicorn runs a starlette app in a background thread with its own
event loop on 127.0.0.1, so sync code and async tests can both use it. It signs real HS256
JWTs (hand-rolled with ``hmac``: PyJWT is not a dependency), expires and revokes them,
enforces ``Idempotency-Key`` semantics, pages with ``page``/``limit``, filters with
``updated_after``, and can rate-limit (429 + ``Retry-After``, recording ``violations`` when a
client comes back too early) or fail the next requests on demand.

Example::

    with FakeCustomBackend() as backend:
        backend.seed(products=250, orders=40, categories=5)
        client = CustomBackendClient(http, base_url=backend.url, credentials=backend.credentials)
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import itertools
import json
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tendero.stores.credentials import CustomCredentials
from tests.fakes.threaded import ThreadedServer

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
"""Seeded records are dated from here (products a minute apart, orders an hour apart)."""

FINISHED = frozenset({"completed", "cancelled", "delivered", "refunded"})

# What a careless backend puts in its error messages: clients must never repeat it.
LEAKY_MESSAGE = "internal detail for jane.doe@example.test +34600000000 (db row 42)"

_PRODUCT_WORDS = ("Green Tea", "Black Tea", "Coffee Beans", "Ceramic Mug", "Teapot")
_STATUSES = ("pending", "processing", "shipped", "completed", "cancelled")
_CUSTOMERS = 5


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_hs256(claims: dict[str, Any], key: bytes) -> str:
    """A compact JWS (RFC 7515) of ``claims`` signed with HMAC-SHA256."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def verify_hs256(token: str, key: bytes) -> dict[str, Any] | None:
    """The claims of a token signed by ``sign_hs256`` with ``key``, else ``None``."""
    try:
        header_b64, payload_b64, signature_b64 = token.split(".")
        header = json.loads(_unb64(header_b64))
        expected = hmac.new(key, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(expected, _unb64(signature_b64)):
            return None
        claims = json.loads(_unb64(payload_b64))
    except (ValueError, TypeError):
        return None
    return claims if isinstance(claims, dict) else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def _id_key(value: Any) -> tuple[int, int, str]:
    text = str(value)
    return (0, int(text), "") if text.isdigit() else (1, 0, text)


def _error(status: int, code: str, message: str = LEAKY_MESSAGE, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


@dataclass(frozen=True)
class Seen:
    """One request the backend received: method, decoded path, raw query, answered status."""

    method: str
    path: str
    query: str
    status: int


@dataclass(frozen=True)
class _Failure:
    status: int
    code: str
    retry_after: str | None


class FakeCustomBackend(ThreadedServer):
    """The custom backend contract on 127.0.0.1, with counters for exact assertions.

    Attributes:
        username: the service account accepted by ``/api/auth/login``.
        password: its password.
        token_lifetime_s: how long issued JWTs are valid (their ``exp``).
        advertised_lifetime_s: the ``expires_in`` told to clients (defaults to the real
            lifetime; set it longer to make a client meet an expired token, as with skew).
        currency: the currency of orders and delivery options.
        products / orders / categories: the data, JSON-ready dicts by id (text) except for
            datetimes; tests may read them (under no lock: read once the client is done).
        logins: successful logins (tokens issued).
        login_attempts: every ``POST /api/auth/login``, refused ones included.
        orders_created: orders created by ``POST /api/orders`` (repeats of a key excluded).
        throttled: 429 answers sent by the rate limit.
        violations: requests that came back before the ``Retry-After`` they were given.
        requests: every request, in arrival order.
    """

    _name = "fake-custom-backend"

    def __init__(
        self,
        *,
        username: str = "tendero-sync",
        password: str = "correct horse battery",
        token_lifetime_s: float = 3600.0,
        advertised_lifetime_s: float | None = None,
        currency: str = "EUR",
    ) -> None:
        """Create a stopped, empty backend; call :meth:`start` or use it as a context manager."""
        self.username = username
        self.password = password
        self.token_lifetime_s = token_lifetime_s
        self.advertised_lifetime_s = advertised_lifetime_s
        self.currency = currency
        self.products: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.categories: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.delivery_options: list[dict[str, Any]] = [
            {"id": "courier", "name": "Courier", "fee": "4.95", "eta": "1-2 days"},
            {"id": "pickup", "name": "Store pickup", "fee": "0.00", "eta": "same day"},
        ]
        self.payment_methods: list[dict[str, Any]] = [
            {"id": "card", "name": "Card"},
            {"id": "cod", "name": "Cash on delivery"},
        ]
        self.logins = 0
        self.login_attempts = 0
        self.orders_created = 0
        self.throttled = 0
        self.violations = 0
        self.requests: list[Seen] = []
        # Handlers run on the server thread while tests configure and read from theirs.
        self._lock = threading.Lock()
        self._key = b"fake-custom-backend-signing-key"
        self._generation = 0
        self._jti = itertools.count(1)
        self._next_order_id = 1
        self._idempotency: dict[str, tuple[str, str]] = {}
        self._failures: deque[_Failure] = deque()
        self._rate: tuple[int, float] | None = None
        self._window_start = 0.0
        self._window_count = 0
        self._blocked_until = 0.0
        self._app = Starlette(
            routes=[
                self._route("POST", "/api/auth/login", self._login, login=True),
                self._route("GET", "/api/products/search", self._product_search),
                self._route("GET", "/api/products/{id}", self._product),
                self._route("GET", "/api/categories", self._categories),
                self._route("GET", "/api/orders/search", self._order_search),
                self._route("GET", "/api/orders/active/{phone}", self._active_orders),
                self._route("POST", "/api/orders", self._create_order),
                self._route("GET", "/api/users/by-phone/{phone}", self._user_by_phone),
                self._route("GET", "/api/users/{phone}/profile", self._profile),
                self._route("GET", "/api/delivery-options", self._delivery_options),
                self._route("GET", "/api/payment-methods", self._payment_methods),
            ]
        )

    # -- configuration ----------------------------------------------------------------------

    @property
    def credentials(self) -> CustomCredentials:
        """Working credentials for this backend."""
        return CustomCredentials(username=self.username, password=SecretStr(self.password))

    def seed(self, *, products: int = 0, orders: int = 0, categories: int = 0) -> None:
        """Replace the data with a deterministic catalog and order book.

        Categories ``1..categories`` (3+ have parent 1 or 2). Products ``1..products``:
        every 3rd has two variants (ids ``<id>1``/``<id>2``, sizes S/M), every 10th is
        inactive, every 7th has untracked stock; ``updated_at`` is ``EPOCH + id`` minutes.
        Orders ``1..orders`` (number ``1000+id``) of five customers
        (``+3460000000<c>``, ``customer<c>@example.test``, id ``u<c>``), statuses cycling
        through pending/processing/shipped/completed/cancelled, ``created_at`` ``EPOCH + id``
        hours, ``updated_at`` 30 minutes later.
        """
        with self._lock:
            self.categories = {
                str(i): {
                    "id": i,
                    "name": f"Category {i}",
                    "parent_id": None if i <= 2 else 1 + i % 2,
                    "updated_at": EPOCH + timedelta(minutes=i),
                }
                for i in range(1, categories + 1)
            }
            self.products = {
                str(i): self._make_product(i, categories) for i in range(1, products + 1)
            }
            self.orders = {str(i): self._make_order(i, products) for i in range(1, orders + 1)}
            self._next_order_id = orders + 1
            self.users = {}
            for c in range(1, _CUSTOMERS + 1):
                customer = self._customer(c)
                self.users[customer["phone"]] = {
                    **customer,
                    "updated_at": EPOCH + timedelta(days=c),
                    "addresses": [
                        {
                            "id": f"a{c}",
                            "label": "home",
                            "name": customer["name"],
                            "line1": f"Calle Mayor {c}",
                            "city": "Madrid",
                            "postcode": f"2800{c}",
                            "country": "ES",
                        }
                    ],
                    "preferences": {"language": "es", "newsletter": c % 2 == 0},
                }

    @staticmethod
    def _customer(c: int) -> dict[str, Any]:
        return {
            "id": f"u{c}",
            "name": f"Customer {c}",
            "email": f"customer{c}@example.test",
            "phone": f"+3460000000{c}",
        }

    @staticmethod
    def _make_product(i: int, categories: int) -> dict[str, Any]:
        price = Decimal(5 + i % 20) + Decimal("0.50")
        variants = []
        if i % 3 == 0:
            variants = [
                {
                    "id": int(f"{i}{k}"),
                    "sku": f"SKU-{i:04d}-{size}",
                    "attributes": {"size": size},
                    "price": format(price + k - 1, "f"),
                    "compare_at_price": None,
                    "stock": k * 2,
                }
                for k, size in ((1, "S"), (2, "M"))
            ]
        return {
            "id": i,
            "name": f"{_PRODUCT_WORDS[i % len(_PRODUCT_WORDS)]} {i}",
            "description": f"Deterministic product number {i}.",
            "category_ids": [(i - 1) % categories + 1] if categories else [],
            "image_url": f"https://img.example.test/{i}.jpg",
            "active": i % 10 != 0,
            "price": format(price, "f"),
            "compare_at_price": format(price + 2, "f") if i % 4 == 0 else None,
            "stock": None if i % 7 == 0 else (i * 3) % 11,
            "sku": f"SKU-{i:04d}",
            "variants": variants,
            "updated_at": EPOCH + timedelta(minutes=i),
        }

    def _make_order(self, i: int, products: int) -> dict[str, Any]:
        status = _STATUSES[(i - 1) % len(_STATUSES)]
        quantity = i % 3 + 1
        unit = Decimal("10.00")
        product_id = (i - 1) % products + 1 if products else None
        created = EPOCH + timedelta(hours=i)
        return {
            "id": i,
            "number": str(1000 + i),
            "status": status,
            "customer": self._customer((i - 1) % _CUSTOMERS + 1),
            "currency": self.currency,
            "subtotal": format(unit * quantity, "f"),
            "shipping_total": "4.95",
            "tax_total": "0.00",
            "discount_total": "0.00",
            "total": format(unit * quantity + Decimal("4.95"), "f"),
            "items": [
                {
                    "product_id": product_id,
                    "variant_id": product_id,
                    "name": f"Item of order {i}",
                    "sku": None,
                    "quantity": quantity,
                    "unit_price": format(unit, "f"),
                    "total": format(unit * quantity, "f"),
                }
            ],
            "shipping_address": {"name": f"Customer {(i - 1) % _CUSTOMERS + 1}", "city": "Madrid"},
            "tracking_numbers": [f"TRK{i:06d}"] if status in ("shipped", "completed") else [],
            "created_at": created,
            "updated_at": created + timedelta(minutes=30),
        }

    def touch_order(self, order_id: str | int, updated_at: datetime | None = None) -> None:
        """Set an order's ``updated_at`` (default: now, UTC)."""
        with self._lock:
            self.orders[str(order_id)]["updated_at"] = updated_at or datetime.now(UTC)

    def touch_product(self, product_id: str | int, updated_at: datetime | None = None) -> None:
        """Set a product's ``updated_at`` (default: now, UTC)."""
        with self._lock:
            self.products[str(product_id)]["updated_at"] = updated_at or datetime.now(UTC)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        code: str | None = None,
        retry_after: str | None = None,
    ) -> None:
        """Answer the next ``times`` API requests (not logins) with ``status``.

        The body is ``{error: {code, message: LEAKY_MESSAGE}}``; ``retry_after`` sets the
        ``Retry-After`` header.
        """
        with self._lock:
            for _ in range(times):
                self._failures.append(_Failure(status, code or f"http_{status}", retry_after))

    def rate_limit(self, requests: int | None, *, per_s: float = 1.0) -> None:
        """Allow ``requests`` per ``per_s`` window, then 429 with ``Retry-After`` (``None``: off).

        ``Retry-After`` is whole seconds until the window ends (at least 1); a request that
        comes before that time has passed is answered 429 again and counted in
        ``violations``.
        """
        with self._lock:
            self._rate = None if requests is None else (requests, per_s)
            self._window_start = time.monotonic()
            self._window_count = 0
            self._blocked_until = 0.0

    def revoke_tokens(self) -> None:
        """Make every token issued so far invalid (401), as a key rotation would."""
        with self._lock:
            self._generation += 1

    def issue_token(self, *, lifetime_s: float | None = None) -> str:
        """A valid token for tests that talk to the backend directly."""
        with self._lock:
            return self._issue(lifetime_s if lifetime_s is not None else self.token_lifetime_s)

    def seen(self, path_prefix: str = "/api/") -> list[Seen]:
        """The requests whose path starts with ``path_prefix``."""
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- lifecycle --------------------------------------------------------------------------

    # -- request pipeline -------------------------------------------------------------------

    def _route(self, method: str, path: str, handler: Any, *, login: bool = False) -> Route:
        async def endpoint(request: Request) -> Response:
            response = await self._guard(request, handler, login)
            with self._lock:
                self.requests.append(
                    Seen(request.method, request.url.path, request.url.query, response.status_code)
                )
            return response

        return Route(path, endpoint, methods=[method])

    async def _guard(self, request: Request, handler: Any, login: bool) -> Response:
        with self._lock:
            throttle = self._throttle()
            failure = (
                None
                if login or throttle
                else (self._failures.popleft() if self._failures else None)
            )
        if throttle is not None:
            return throttle
        if failure is not None:
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return _error(failure.status, failure.code, **headers)
        if not login:
            denied = self._check_token(request.headers.get("authorization", ""))
            if denied is not None:
                return denied
        response: Response = await handler(request)
        return response

    def _throttle(self) -> JSONResponse | None:
        """Apply the rate limit (caller holds the lock)."""
        if self._rate is None:
            return None
        allowed, per_s = self._rate
        now = time.monotonic()
        # A little slack: event loops may wake a millisecond before the timer.
        if now < self._blocked_until - 0.05:
            self.violations += 1
            wait = max(1, math.ceil(self._blocked_until - now))
            return _error(429, "rate_limited", "slow down", **{"Retry-After": str(wait)})
        if now - self._window_start >= per_s:
            self._window_start, self._window_count = now, 0
        self._window_count += 1
        if self._window_count <= allowed:
            return None
        wait = max(1, math.ceil(self._window_start + per_s - now))
        self._blocked_until = now + wait
        self.throttled += 1
        return _error(429, "rate_limited", "slow down", **{"Retry-After": str(wait)})

    def _issue(self, lifetime_s: float) -> str:
        now = time.time()
        claims = {
            "sub": self.username,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": next(self._jti),
            "gen": self._generation,
        }
        return sign_hs256(claims, self._key)

    def _check_token(self, header: str) -> JSONResponse | None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "missing_token", "Authorization: Bearer <jwt> required")
        claims = verify_hs256(token, self._key)
        with self._lock:
            generation = self._generation
        if claims is None or claims.get("gen") != generation or claims.get("sub") != self.username:
            return _error(401, "invalid_token", "token is not valid")
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp <= time.time():
            return _error(401, "token_expired", "token expired")
        return None

    # -- handlers ---------------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        with self._lock:
            self.login_attempts += 1
            if (
                not isinstance(body, dict)
                or body.get("username") != self.username
                or body.get("password") != self.password
            ):
                return _error(401, "invalid_credentials", f"wrong password for {LEAKY_MESSAGE}")
            self.logins += 1
            token = self._issue(self.token_lifetime_s)
        advertised = self.advertised_lifetime_s or self.token_lifetime_s
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": int(advertised) if advertised == int(advertised) else advertised,
            }
        )

    @staticmethod
    def _paging(request: Request) -> tuple[int, int, datetime | None] | JSONResponse:
        query = request.query_params
        try:
            page = int(query.get("page", "1"))
            limit = int(query.get("limit", "20"))
            since_text = query.get("updated_after")
            since = datetime.fromisoformat(since_text) if since_text else None
        except ValueError:
            return _error(400, "bad_query")
        if page < 1 or not 1 <= limit <= 100:
            return _error(422, "bad_paging")
        if since is not None and since.tzinfo is None:
            return _error(422, "naive_datetime")
        return page, limit, since

    @staticmethod
    def _page(items: list[dict[str, Any]], page: int, limit: int) -> JSONResponse:
        total = len(items)
        chosen = items[(page - 1) * limit : page * limit]
        return JSONResponse(
            {
                "items": _jsonable(chosen),
                "page": page,
                "total_pages": math.ceil(total / limit),
                "total": total,
            }
        )

    async def _product_search(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, JSONResponse):
            return paging
        page, limit, since = paging
        term = request.query_params.get("search", "").strip().lower()
        with self._lock:
            items = [copy.deepcopy(p) for p in self.products.values()]
        if term:
            items = [
                p
                for p in items
                if term in p["name"].lower()
                or term in (p["description"] or "").lower()
                or term in (p["sku"] or "").lower()
            ]
        if since is not None:
            items = [p for p in items if p["updated_at"] >= since]
            items.sort(key=lambda p: (p["updated_at"], _id_key(p["id"])))
        else:
            items.sort(key=lambda p: _id_key(p["id"]))
        return self._page(items, page, limit)

    async def _product(self, request: Request) -> Response:
        with self._lock:
            product = copy.deepcopy(self.products.get(request.path_params["id"]))
        if product is None:
            return _error(404, "not_found")
        return JSONResponse(_jsonable(product))

    async def _categories(self, request: Request) -> Response:
        with self._lock:
            items = sorted(self.categories.values(), key=lambda c: _id_key(c["id"]))
            return JSONResponse(_jsonable(items))

    async def _order_search(self, request: Request) -> Response:
        paging = self._paging(request)
        if isinstance(paging, JSONResponse):
            return paging
        page, limit, since = paging
        query = request.query_params
        with self._lock:
            items = [copy.deepcopy(o) for o in self.orders.values()]
        number = query.get("number")
        if number:
            items = [o for o in items if number in (o["number"], str(o["id"]))]
        email = (query.get("email") or "").lower()
        if email:
            items = [o for o in items if (o["customer"] or {}).get("email", "").lower() == email]
        phone = query.get("phone")
        if phone:
            items = [o for o in items if (o["customer"] or {}).get("phone") == phone]
        if since is not None:
            items = [o for o in items if o["updated_at"] >= since]
            items.sort(key=lambda o: (o["updated_at"], _id_key(o["id"])))
        else:
            items.sort(key=lambda o: (o["created_at"], _id_key(o["id"])), reverse=True)
        return self._page(items, page, limit)

    async def _active_orders(self, request: Request) -> Response:
        phone = request.path_params["phone"]
        with self._lock:
            items = [
                o
                for o in self.orders.values()
                if (o["customer"] or {}).get("phone") == phone and o["status"] not in FINISHED
            ]
            items.sort(key=lambda o: (o["created_at"], _id_key(o["id"])), reverse=True)
            return JSONResponse(_jsonable(items))

    async def _create_order(self, request: Request) -> Response:
        key = request.headers.get("idempotency-key")
        if not key:
            return _error(400, "idempotency_key_required")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad_json")
        if not isinstance(body, dict) or not isinstance(body.get("items"), list):
            return _error(422, "invalid_order")
        fingerprint = json.dumps(body, sort_keys=True)
        with self._lock:
            known = self._idempotency.get(key)
            if known is not None:
                if known[0] != fingerprint:
                    return _error(409, "idempotency_key_reused")
                return JSONResponse(_jsonable(self.orders[known[1]]), status_code=200)
            order = self._order_from(body)
            if isinstance(order, JSONResponse):
                return order
            self.orders[str(order["id"])] = order
            self._idempotency[key] = (fingerprint, str(order["id"]))
            self.orders_created += 1
            return JSONResponse(_jsonable(order), status_code=201)

    def _variant(self, product_id: Any, variant_id: Any) -> dict[str, Any] | None:
        product = self.products.get(str(product_id))
        if product is None:
            return None
        if not product["variants"]:
            return product if str(variant_id) == str(product["id"]) else None
        for variant in product["variants"]:
            if str(variant["id"]) == str(variant_id):
                return {**variant, "name": product["name"]}
        return None

    def _order_from(self, body: dict[str, Any]) -> dict[str, Any] | JSONResponse:
        """Validate a create-order body and build the order (caller holds the lock)."""
        lines = []
        subtotal = Decimal("0")
        try:
            for item in body["items"]:
                variant = self._variant(item["product_id"], item["variant_id"])
                if variant is None:
                    return _error(422, "unknown_variant")
                quantity = int(item["quantity"])
                unit = Decimal(str(item["unit_price"]))
                if quantity < 1:
                    return _error(422, "invalid_quantity")
                if unit != Decimal(variant["price"]):
                    return _error(422, "price_mismatch")
                subtotal += unit * quantity
                lines.append(
                    {
                        "product_id": item["product_id"],
                        "variant_id": item["variant_id"],
                        "name": item.get("name") or variant.get("name"),
                        "sku": item.get("sku"),
                        "quantity": quantity,
                        "unit_price": format(unit, "f"),
                        "total": format(unit * quantity, "f"),
                    }
                )
            shipping = Decimal(str(body.get("shipping_total") or "0"))
            tax = Decimal(str(body.get("tax_total") or "0"))
        except (KeyError, TypeError, ValueError, ArithmeticError):
            return _error(422, "invalid_order")
        if not lines:
            return _error(422, "invalid_order")
        order_id = self._next_order_id
        self._next_order_id += 1
        now = datetime.now(UTC)
        customer = body.get("customer") or {}
        return {
            "id": order_id,
            "number": str(1000 + order_id),
            "status": "pending",
            "customer": {k: customer.get(k) for k in ("id", "name", "email", "phone")},
            "currency": body.get("currency") or self.currency,
            "subtotal": format(subtotal, "f"),
            "shipping_total": format(shipping, "f"),
            "tax_total": format(tax, "f"),
            "discount_total": "0.00",
            "total": format(subtotal + shipping + tax, "f"),
            "items": lines,
            "shipping_address": body.get("shipping_address"),
            "tracking_numbers": [],
            "created_at": now,
            "updated_at": now,
        }

    async def _user_by_phone(self, request: Request) -> Response:
        with self._lock:
            user = self.users.get(request.path_params["phone"])
            if user is None:
                return _error(404, "not_found")
            fields = ("id", "name", "email", "phone", "updated_at")
            return JSONResponse(_jsonable({k: user[k] for k in fields}))

    async def _profile(self, request: Request) -> Response:
        with self._lock:
            user = self.users.get(request.path_params["phone"])
            if user is None:
                return _error(404, "not_found")
            return JSONResponse(_jsonable(user))

    async def _delivery_options(self, request: Request) -> Response:
        with self._lock:
            options = [{**o, "currency": self.currency} for o in self.delivery_options]
        return JSONResponse(options)

    async def _payment_methods(self, request: Request) -> Response:
        with self._lock:
            return JSONResponse(list(self.payment_methods))
