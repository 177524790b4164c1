"""A fake WooCommerce shop (REST API v3) on 127.0.0.1 that enforces the real rules.

The WooCommerce connector talks to it over real HTTP, signed with OAuth 1.0a as on any
plain-HTTP site. Rules it enforces, and records in ``violations`` when a client breaks them
(tests assert the list is empty), come from notes/store-apis.md §2:

- OAuth 1.0a one-legged: signature (HMAC-SHA1/256, key ``secret&``, every query parameter,
  body not signed), 15-minute timestamp window, no nonce reuse → 401
  ``woocommerce_rest_authentication_error``; Basic auth over plain HTTP is ignored (and is a
  violation: it sends the secret in clear);
- ``per_page`` 1..100 and known ``orderby`` values → 400 ``rest_invalid_param``;
- ``modified_after`` without ``dates_are_gmt=true`` compares the site's local time (violation);
  ``modified_after`` on customers is ignored as WooCommerce does (violation);
- batch requests of more than 100 items → 413 ``woocommerce_rest_request_entity_too_large``;
  per-item errors inside an HTTP 200;
- optional rate limit (429 + ``Retry-After``); a request inside a ``Retry-After`` window is a
  violation.

Responses follow the published shapes (``shared/fixtures/woocommerce/rest_api_docs_v3``),
which serve as templates. Example::

    with FakeWooCommerce() as shop:
        shop.generate(customers=30, orders=120, products=40)
        client = WooCommerceClient(http, base_url=shop.url, credentials=shop.credentials())
"""

from __future__ import annotations

import base64
import copy
import csv
import hashlib
import hmac
import itertools
import json
import math
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tendero.stores.credentials import WooCommerceCredentials
from tests.fakes.threaded import ThreadedServer

DEFAULT_FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
API_PREFIX = "wc/v3/"
MAX_PER_PAGE = 100
MAX_BATCH = 100
OAUTH_WINDOW_S = 15 * 60
WEBHOOK_RESOURCES = ("coupon", "customer", "order", "product")
WEBHOOK_EVENTS = ("created", "updated", "deleted", "restored")
DISABLE_AFTER_FAILURES = 5

ORDERBY = {
    "products": {"date", "modified", "id", "include", "title", "slug", "price", "menu_order"},
    "orders": {"date", "modified", "id", "include", "title", "slug"},
    "coupons": {"date", "modified", "id", "include", "title", "slug"},
    "customers": {"id", "include", "name", "registered_date"},
    "categories": {"id", "include", "name", "slug", "term_group", "description", "count"},
    "variations": {"date", "modified", "id", "include", "title", "slug", "menu_order"},
    "webhooks": {"date", "id", "title"},
    "refunds": {"date", "id", "include", "title", "slug"},
}
INVALID_ID_CODES = {
    "products": "woocommerce_rest_product_invalid_id",
    "orders": "woocommerce_rest_shop_order_invalid_id",
    "customers": "woocommerce_rest_invalid_id",
    "coupons": "woocommerce_rest_shop_coupon_invalid_id",
    "webhooks": "woocommerce_rest_webhook_invalid_id",
    "variations": "woocommerce_rest_product_variation_invalid_id",
}


class WooError(Exception):
    """Raised inside a handler: answered as ``{code, message, data: {status}}``."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data


@dataclass(frozen=True)
class _Failure:
    status: int
    retry_after: float | None
    code: str
    method: str | None
    path: str | None
    after_apply: bool


@dataclass(frozen=True)
class WebhookDelivery:
    """A webhook request as WooCommerce sends it: post ``body`` with ``headers``."""

    body: bytes
    headers: dict[str, str]


@dataclass
class Generated:
    """Ids made by :meth:`FakeWooCommerce.generate`, in creation order."""

    categories: list[int] = field(default_factory=list)
    products: list[int] = field(default_factory=list)
    variable_products: list[int] = field(default_factory=list)
    variations: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)


def php_json(value: Any) -> bytes:
    """JSON as WordPress's ``wp_json_encode`` writes it: compact, ASCII, ``\\/`` slashes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def _rawurlencode(value: str) -> str:
    # PHP rawurlencode: RFC 3986 unreserved characters stay, everything else is encoded.
    return quote(value, safe="~")


def wc_oauth_signature(
    method: str, base_url: str, params: dict[str, str], secret: str, algorithm: str
) -> str:
    """``WC_REST_Authentication::check_oauth_signature``, rewritten (not shared with the client).

    uksort by raw key, rawurlencode each key and value, rawurlencode each ``k=v`` again, join
    with ``%26``; ``METHOD&rawurlencode(url)&that``; HMAC with ``secret&``, base64.
    """
    pairs = [(k, params[k]) for k in sorted(params)]
    normalized = [(_rawurlencode(k), _rawurlencode(v)) for k, v in pairs]
    query = "%26".join(_rawurlencode(f"{k}={v}") for k, v in normalized)
    to_sign = f"{method.upper()}&{_rawurlencode(base_url)}&{query}"
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    mac = hmac.new(f"{secret}&".encode(), to_sign.encode(), digest).digest()
    return base64.b64encode(mac).decode()


def _gmt(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat()


def _parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed


def _money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal("0")
    except ArithmeticError:
        return Decimal("0")


class FakeWooCommerce(ThreadedServer):
    """One WooCommerce shop on 127.0.0.1, served by uvicorn in a background thread.

    Args:
        consumer_key: the only key accepted.
        consumer_secret: its secret.
        currency: the shop currency (``settings/general/woocommerce_currency``).
        site_name: the WordPress site title (``GET /wp-json/``).
        utc_offset_hours: site timezone; ``date_*`` are local, ``date_*_gmt`` UTC.
        rate_limit_per_s: requests per second before a 429 (``None``: no limit), with a
            burst of ``rate_limit_burst`` (default: one second's worth).
        fixtures_dir: where ``woocommerce/rest_api_docs_v3`` lives (response templates).

    Attributes:
        violations: client mistakes, each a line of text; tests assert it is empty.
        requests: ``"METHOD /path"`` → count (query excluded).
        request_log: ``(method, path, query without oauth_*)`` of every request.
        orders_created: ids of orders created through ``POST /orders``.
        throttled: requests refused by the rate limit (``rate_limit_per_s``).
    """

    _name = "fake-woocommerce"

    def __init__(
        self,
        *,
        consumer_key: str = "ck_fake_0123456789abcdef",
        consumer_secret: str = "cs_fake_fedcba9876543210",
        currency: str = "USD",
        site_name: str = "Fake Woo Shop",
        utc_offset_hours: int = -3,
        rate_limit_per_s: float | None = None,
        rate_limit_burst: float | None = None,
        fixtures_dir: Path | None = None,
    ) -> None:
        """Create a stopped, empty shop; call :meth:`start` or use it as a context manager."""
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.currency = currency
        self.site_name = site_name
        self.offset = timedelta(hours=utc_offset_hours)
        self.rate_limit_per_s = rate_limit_per_s
        self.rate_limit_burst = rate_limit_burst or rate_limit_per_s or 1.0
        docs = (fixtures_dir or DEFAULT_FIXTURES) / "woocommerce" / "rest_api_docs_v3"
        self._docs = docs
        self._templates = {
            "product": self._load("wc_v3_products_create_response.json"),
            "variation": self._load("wc_v3_product_variations_list_response.json")[0],
            "customer": self._load("wc_v3_customers_create_response.json"),
            "order": self._load("wc_v3_orders_create_response.json"),
            "coupon": self._load("wc_v3_coupons_create_response.json"),
            "refund": self._load("wc_v3_order_refunds_create_response.json"),
            "webhook": self._load("wc_v3_webhooks_create_response.json"),
        }
        self.violations: list[str] = []
        self.requests: Counter[str] = Counter()
        self.request_log: list[tuple[str, str, dict[str, str]]] = []
        self.orders_created: list[int] = []
        self.throttled = 0
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[int, dict[str, Any]]] = {}
        self.categories: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.orders: dict[int, dict[str, Any]] = {}
        self.refunds: dict[int, list[dict[str, Any]]] = {}
        self.coupons: dict[int, dict[str, Any]] = {}
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.webhook_secrets: dict[int, str] = {}
        self._post_ids = itertools.count(1000)
        self._user_ids = itertools.count(100)
        self._term_ids = itertools.count(10)
        self._webhook_ids = itertools.count(1)
        self._meta_ids = itertools.count(5000)
        self._nonces: set[str] = set()
        self._failures: deque[_Failure] = deque()
        self._tokens = self.rate_limit_burst
        self._refilled = time.monotonic()
        self._not_before = 0.0
        self._lock = threading.RLock()
        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        self._app = Starlette(
            routes=[
                Route("/wp-json", self._handle, methods=methods),
                Route("/wp-json/{path:path}", self._handle, methods=methods),
            ]
        )

    def _load(self, name: str) -> Any:
        return json.loads((self._docs / name).read_text())

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """``{url}/wp-json/wc/v3``."""
        return f"{self.url}/wp-json/wc/v3"

    def credentials(self, webhook_secret: str = "whsec_fake") -> WooCommerceCredentials:
        """The credentials this shop accepts."""
        return WooCommerceCredentials(
            consumer_key=SecretStr(self.consumer_key),
            consumer_secret=SecretStr(self.consumer_secret),
            webhook_secret=SecretStr(webhook_secret),
        )

    # -- scripting ----------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        retry_after: float | None = None,
        code: str = "",
        *,
        method: str | None = None,
        path: str | None = None,
        after_apply: bool = False,
    ) -> None:
        """Answer the next matching request with ``status`` (like a proxy, WAF or timeout).

        Args:
            status: the HTTP status to answer.
            retry_after: ``Retry-After`` seconds; a request inside that window is a violation.
            code: the error body's ``code`` (default ``fake_http_<status>``).
            method: only a request with this method matches (default any).
            path: only a request to this API path (relative to ``wc/v3/``) matches.
            after_apply: serve the request first (its writes happen) and answer the failure
                instead of its response, as when a gateway times out after WordPress acted.

        Queued failures are served in order; call several times to queue several.
        """
        with self._lock:
            self._failures.append(
                _Failure(
                    status, retry_after, code or f"fake_http_{status}", method, path, after_apply
                )
            )

    def count(self, method: str, path: str) -> int:
        """Requests seen for ``method`` and an API path relative to ``wc/v3/`` (``products``)."""
        return self.requests[f"{method} /wp-json/wc/v3/{path}"]

    def now(self) -> datetime:
        """The shop's clock (aware UTC)."""
        return datetime.now(UTC)

    def _stamp(self, payload: dict[str, Any], kind: str, at: datetime) -> None:
        payload[f"date_{kind}"] = (
            (at.astimezone(UTC) + self.offset).replace(tzinfo=None, microsecond=0).isoformat()
        )
        payload[f"date_{kind}_gmt"] = _gmt(at)

    def _collection(self, resource: str) -> dict[int, dict[str, Any]]:
        if resource == "variations":
            return {vid: v for group in self.variations.values() for vid, v in group.items()}
        collections = {
            "products": self.products,
            "orders": self.orders,
            "customers": self.customers,
            "coupons": self.coupons,
            "categories": self.categories,
            "webhooks": self.webhooks,
        }
        return collections[resource]

    def touch(self, resource: str, record_id: int, modified_gmt: datetime | None = None) -> None:
        """Mark a record modified at ``modified_gmt`` (default now), as an edit in wp-admin.

        ``resource``: products, variations (also touches the parent, as WooCommerce's
        variable-product sync does), orders, customers or coupons.
        """
        at = modified_gmt or self.now()
        with self._lock:
            payload = self._collection(resource)[record_id]
            self._stamp(payload, "modified", at)
            if resource == "variations":
                self._stamp(self.products[self._parent_of(record_id)], "modified", at)

    def update(self, resource: str, record_id: int, **fields: Any) -> None:
        """Change fields of a record and touch it (``update("products", 5, price="9.00")``)."""
        with self._lock:
            self._collection(resource)[record_id].update(fields)
        self.touch(resource, record_id)

    def delete(self, resource: str, record_id: int) -> None:
        """Remove a record (as a permanent delete)."""
        with self._lock:
            if resource == "variations":
                parent = self._parent_of(record_id)
                del self.variations[parent][record_id]
                self.products[parent]["variations"].remove(record_id)
            else:
                del self._collection(resource)[record_id]

    def disable_webhook(self, webhook_id: int) -> None:
        """Disable a webhook as WooCommerce does after more than 5 failed deliveries."""
        with self._lock:
            hook = self.webhooks[webhook_id]
            hook["status"] = "disabled"
            hook["failure_count"] = DISABLE_AFTER_FAILURES + 1
            self._stamp(hook, "modified", self.now())

    def _parent_of(self, variation_id: int) -> int:
        for parent, group in self.variations.items():
            if variation_id in group:
                return parent
        raise KeyError(variation_id)

    # -- data ---------------------------------------------------------------------------------

    def _links(self, path: str, collection: str, up: str | None = None) -> dict[str, Any]:
        base = f"{self.url}/wp-json/wc/v3" if self._port else "https://example.com/wp-json/wc/v3"
        links: dict[str, Any] = {
            "self": [{"href": f"{base}/{path}"}],
            "collection": [{"href": f"{base}/{collection}"}],
        }
        if up:
            links["up"] = [{"href": f"{base}/{up}"}]
        return links

    def add_category(self, name: str, parent: int = 0, category_id: int | None = None) -> int:
        """Create a product category; returns its id."""
        with self._lock:
            cid = category_id if category_id is not None else next(self._term_ids)
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
            self.categories[cid] = {
                "id": cid,
                "name": name,
                "slug": slug,
                "parent": parent,
                "description": "",
                "display": "default",
                "image": None,
                "menu_order": 0,
                "count": 0,
                "_links": {},
            }
            return cid

    def add_product(
        self,
        name: str,
        *,
        price: str = "10.00",
        regular_price: str | None = None,
        sku: str = "",
        product_type: str = "simple",
        status: str = "publish",
        categories: Iterable[int] = (),
        stock_quantity: int | None = None,
        modified: datetime | None = None,
        product_id: int | None = None,
    ) -> int:
        """Create a product (``product_type`` simple, variable, grouped, external)."""
        with self._lock:
            pid = product_id if product_id is not None else next(self._post_ids)
            payload = copy.deepcopy(self._templates["product"])
            at = modified or self.now()
            payload.update(
                {
                    "id": pid,
                    "name": name,
                    "slug": re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-"),
                    "permalink": f"https://example.com/product/{pid}/",
                    "type": product_type,
                    "status": status,
                    "sku": sku,
                    "price": price if product_type != "grouped" else "",
                    "regular_price": regular_price if regular_price is not None else price,
                    "sale_price": "",
                    "manage_stock": stock_quantity is not None,
                    "stock_quantity": stock_quantity,
                    "stock_status": "instock"
                    if stock_quantity is None or stock_quantity > 0
                    else "outofstock",
                    "categories": [
                        {
                            "id": c,
                            "name": self.categories[c]["name"],
                            "slug": self.categories[c]["slug"],
                        }
                        for c in categories
                    ],
                    "variations": [],
                    "related_ids": [],
                    "_links": self._links(f"products/{pid}", "products"),
                }
            )
            self._stamp(payload, "created", at)
            self._stamp(payload, "modified", at)
            self.products[pid] = payload
            if product_type == "variable":
                self.variations[pid] = {}
            for c in categories:
                self.categories[c]["count"] += 1
            return pid

    def add_variation(
        self,
        product_id: int,
        attributes: dict[str, str],
        *,
        price: str = "10.00",
        sku: str = "",
        stock_quantity: int | None = None,
        modified: datetime | None = None,
        variation_id: int | None = None,
    ) -> int:
        """Add a variation to a variable product; the parent's price becomes the lowest."""
        with self._lock:
            vid = variation_id if variation_id is not None else next(self._post_ids)
            payload = copy.deepcopy(self._templates["variation"])
            at = modified or self.now()
            payload.update(
                {
                    "id": vid,
                    "sku": sku,
                    "price": price,
                    "regular_price": price,
                    "sale_price": "",
                    "manage_stock": stock_quantity is not None,
                    "stock_quantity": stock_quantity,
                    "stock_status": "instock"
                    if stock_quantity is None or stock_quantity > 0
                    else "outofstock",
                    "attributes": [
                        {"id": 0, "name": k, "option": v} for k, v in attributes.items()
                    ],
                    "permalink": f"https://example.com/product/{product_id}/?v={vid}",
                    "_links": self._links(
                        f"products/{product_id}/variations/{vid}",
                        f"products/{product_id}/variations",
                        f"products/{product_id}",
                    ),
                }
            )
            self._stamp(payload, "created", at)
            self._stamp(payload, "modified", at)
            self.variations.setdefault(product_id, {})[vid] = payload
            parent = self.products[product_id]
            parent["variations"].append(vid)
            prices = [_dec(v["price"]) for v in self.variations[product_id].values()]
            parent["price"] = _money(min(prices))
            return vid

    def add_customer(
        self,
        email: str,
        *,
        first_name: str = "",
        last_name: str = "",
        phone: str = "",
        role: str = "customer",
        modified: datetime | None = None,
        customer_id: int | None = None,
    ) -> int:
        """Create a customer (a WordPress user) with billing e-mail and phone."""
        with self._lock:
            cid = customer_id if customer_id is not None else next(self._user_ids)
            payload = copy.deepcopy(self._templates["customer"])
            at = modified or self.now()
            billing = dict.fromkeys(payload["billing"], "")
            billing.update(
                first_name=first_name, last_name=last_name, email=email, phone=phone, country="US"
            )
            payload.update(
                {
                    "id": cid,
                    "email": email,
                    "first_name": first_name,
                    "last_name": last_name,
                    "username": email.split("@")[0],
                    "role": role,
                    "billing": billing,
                    "shipping": dict.fromkeys(payload["shipping"], ""),
                    "_links": self._links(f"customers/{cid}", "customers"),
                }
            )
            self._stamp(payload, "created", at)
            self._stamp(payload, "modified", at)
            self.customers[cid] = payload
            return cid

    def _line_item(self, item: dict[str, Any]) -> dict[str, Any]:
        product_id = int(item.get("product_id") or 0)
        variation_id = int(item.get("variation_id") or 0)
        product = self.products.get(product_id)
        if product is None:
            raise WooError(400, "woocommerce_rest_invalid_product_id", "Invalid product ID.")
        source = product
        if variation_id:
            variation = self.variations.get(product_id, {}).get(variation_id)
            if variation is None:
                raise WooError(400, "woocommerce_rest_invalid_product_id", "Invalid variation ID.")
            source = variation
        elif product["type"] == "variable":
            raise WooError(400, "woocommerce_rest_invalid_product_id", "Choose a variation.")
        quantity = int(item.get("quantity") or 1)
        subtotal = (
            _dec(item["subtotal"]) if "subtotal" in item else _dec(source["price"]) * quantity
        )
        total = _dec(item["total"]) if "total" in item else subtotal
        name = product["name"]
        if variation_id:
            options = ", ".join(a["option"] for a in source["attributes"])
            name = f"{name} &ndash; {options}"
        return {
            "id": next(self._meta_ids),
            "name": name,
            "product_id": product_id,
            "variation_id": variation_id,
            "quantity": quantity,
            "tax_class": "",
            "subtotal": _money(subtotal),
            "subtotal_tax": "0.00",
            "total": _money(total),
            "total_tax": "0.00",
            "taxes": [],
            "meta_data": [],
            "sku": source.get("sku", ""),
            "price": float(subtotal / quantity) if quantity else 0.0,
        }

    def _address(self, kind: str, given: dict[str, Any] | None) -> dict[str, Any]:
        base = dict.fromkeys(self._templates["order"][kind], "")
        base.update({k: v for k, v in (given or {}).items() if k in base or k == "phone"})
        return base

    def add_order(
        self,
        body: dict[str, Any],
        *,
        created: datetime | None = None,
        order_id: int | None = None,
    ) -> int:
        """Create an order from a ``POST /orders`` body (no taxes; totals from the lines).

        Raises:
            WooError: a line names an unknown product or variation.
        """
        with self._lock:
            lines = [self._line_item(i) for i in body.get("line_items", [])]
            oid = order_id if order_id is not None else next(self._post_ids)
            at = created or self.now()
            payload = copy.deepcopy(self._templates["order"])
            shipping_lines = [
                {
                    "id": next(self._meta_ids),
                    "method_title": s.get("method_title", ""),
                    "method_id": s.get("method_id", ""),
                    "total": _money(_dec(s.get("total"))),
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                }
                for s in body.get("shipping_lines", [])
            ]
            shipping_total = sum((_dec(s["total"]) for s in shipping_lines), Decimal("0"))
            lines_total = sum((_dec(li["total"]) for li in lines), Decimal("0"))
            lines_subtotal = sum((_dec(li["subtotal"]) for li in lines), Decimal("0"))
            meta = [
                {"id": next(self._meta_ids), "key": m["key"], "value": m.get("value")}
                for m in body.get("meta_data", [])
            ]
            status = body.get("status", "pending")
            payload.update(
                {
                    "id": oid,
                    "number": str(oid),
                    "order_key": f"wc_order_{hashlib.sha1(str(oid).encode()).hexdigest()[:13]}",
                    "created_via": body.get("created_via", "rest-api"),
                    "status": status,
                    "currency": body.get("currency", self.currency),
                    "discount_total": _money(lines_subtotal - lines_total),
                    "discount_tax": "0.00",
                    "shipping_total": _money(shipping_total),
                    "shipping_tax": "0.00",
                    "cart_tax": "0.00",
                    "total": _money(lines_total + shipping_total),
                    "total_tax": "0.00",
                    "customer_id": int(body.get("customer_id") or 0),
                    "customer_note": body.get("customer_note", ""),
                    "billing": self._address("billing", body.get("billing")),
                    "shipping": self._address("shipping", body.get("shipping")),
                    "payment_method": body.get("payment_method", ""),
                    "payment_method_title": body.get("payment_method_title", ""),
                    "date_paid": None,
                    "date_paid_gmt": None,
                    "date_completed": None,
                    "date_completed_gmt": None,
                    "meta_data": meta,
                    "line_items": lines,
                    "tax_lines": [],
                    "shipping_lines": shipping_lines,
                    "fee_lines": [],
                    "coupon_lines": [],
                    "refunds": [],
                    "_links": self._links(f"orders/{oid}", "orders"),
                }
            )
            self._stamp(payload, "created", at)
            self._stamp(payload, "modified", at)
            if body.get("set_paid"):
                self._stamp(payload, "paid", at)
            self.orders[oid] = payload
            return oid

    def generate(
        self,
        *,
        customers: int = 0,
        orders: int = 0,
        products: int = 0,
        variable_every: int = 3,
        variations_per_product: int = 3,
        start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
        same_second: int = 3,
    ) -> Generated:
        """Add deterministic data.

        Products: every ``variable_every``-th is variable with ``variations_per_product``
        variations (stock 0..), the others simple with stock; spread over 4 categories.
        Modification times start at ``start`` and advance one second every ``same_second``
        records, so ties (broken by id) are common. Customers get ``customerN@example.test``
        and phone ``+1 555 01N``. Orders reference the products (variations of variable
        ones), three in four a registered customer, the others guests.
        """
        made = Generated()
        with self._lock:
            if not self.categories:
                top = self.add_category("Clothing")
                made.categories = [
                    top,
                    self.add_category("Tshirts", parent=top),
                    self.add_category("Hoodies", parent=top),
                    self.add_category("Music"),
                ]
            category_ids = sorted(self.categories)
            tick = itertools.count()

            def stamp() -> datetime:
                return start + timedelta(seconds=next(tick) // max(1, same_second))

            for n in range(products):
                variable = variable_every > 0 and n % variable_every == variable_every - 1
                at = stamp()
                pid = self.add_product(
                    f"Product {n}",
                    price=f"{10 + n}.50",
                    sku=f"SKU-{n}",
                    product_type="variable" if variable else "simple",
                    categories=[category_ids[n % len(category_ids)]],
                    stock_quantity=None if variable else n % 7,
                    modified=at,
                )
                made.products.append(pid)
                if variable:
                    made.variable_products.append(pid)
                    for v in range(variations_per_product):
                        made.variations.append(
                            self.add_variation(
                                pid,
                                {"Size": ["S", "M", "L", "XL"][v % 4], "Edition": str(v // 4)},
                                price=f"{20 + v}.00",
                                sku=f"SKU-{n}-{v}",
                                stock_quantity=v,
                                modified=at,
                            )
                        )
            base = len(self.customers)
            for n in range(customers):
                made.customers.append(
                    self.add_customer(
                        f"customer{base + n}@example.test",
                        first_name=f"Name{base + n}",
                        last_name="Buyer",
                        phone=f"+1 555 01{base + n:05d}",
                        modified=stamp(),
                    )
                )
            sellable = [
                (pid, vid)
                for pid, p in self.products.items()
                for vid in (p["variations"] if p["type"] == "variable" else [0])
            ]
            customer_ids = sorted(self.customers)
            for n in range(orders):
                if not sellable:
                    break
                customer = customer_ids[n % len(customer_ids)] if customer_ids else None
                registered = customer is not None and n % 4 != 3
                if registered and customer is not None:
                    c = self.customers[customer]
                    billing = {
                        "first_name": c["first_name"],
                        "last_name": c["last_name"],
                        "email": c["email"],
                        "phone": c["billing"]["phone"],
                    }
                else:
                    billing = {
                        "first_name": "Guest",
                        "last_name": str(n),
                        "email": f"guest{n}@example.test",
                        "phone": f"(555) 02{n:05d}",
                    }
                pid, vid = sellable[n % len(sellable)]
                items = [{"product_id": pid, "variation_id": vid, "quantity": 1 + n % 3}]
                at = stamp()
                made.orders.append(
                    self.add_order(
                        {
                            "status": ["processing", "completed", "pending"][n % 3],
                            "customer_id": customer if registered else 0,
                            "billing": billing,
                            "line_items": items,
                            "shipping_lines": [{"method_id": "flat_rate", "total": "5.00"}],
                        },
                        created=at,
                    )
                )
        return made

    def seed_from_fixtures(self, fixtures_dir: Path | None = None) -> None:
        """Load the sample catalog and the published examples.

        ``woocommerce/sample_products.csv`` (WooCommerce's sample data: categories, simple,
        variable with variations, grouped and external products, with their ids) plus the
        REST docs' customers, orders, coupons and webhooks lists verbatim, and the docs'
        products list with the docs' variations attached to its variable product.
        """
        root = (fixtures_dir or DEFAULT_FIXTURES) / "woocommerce"
        start = datetime(2023, 6, 1, tzinfo=UTC)
        with self._lock:
            rows = list(csv.DictReader((root / "sample_products.csv").open(newline="")))
            by_sku: dict[str, int] = {}

            def category_path(path: str) -> list[int]:
                ids: list[int] = []
                for chain in filter(None, (p.strip() for p in path.split(","))):
                    parent = 0
                    for part in (s.strip() for s in chain.split(">")):
                        found = [
                            c["id"]
                            for c in self.categories.values()
                            if c["name"] == part and c["parent"] == parent
                        ]
                        parent = found[0] if found else self.add_category(part, parent=parent)
                    ids.append(parent)
                return ids

            for n, row in enumerate(rows):
                kind = row["Type"].split(",")[0].strip()
                price = row["Sale price"] or row["Regular price"]
                stock = int(row["Stock"]) if row["Stock"] else None
                at = start + timedelta(minutes=n)
                if kind == "variation":
                    parent = by_sku[row["Parent"]]
                    attrs = {
                        row[f"Attribute {i} name"]: row[f"Attribute {i} value(s)"]
                        for i in (1, 2)
                        if row[f"Attribute {i} name"] and row[f"Attribute {i} value(s)"]
                    }
                    self.add_variation(
                        parent,
                        attrs,
                        price=_money(_dec(price)),
                        sku=row["SKU"],
                        stock_quantity=stock,
                        modified=at,
                        variation_id=int(row["ID"]),
                    )
                    continue
                pid = self.add_product(
                    row["Name"],
                    price=_money(_dec(price)) if price else "",
                    regular_price=_money(_dec(row["Regular price"]))
                    if row["Regular price"]
                    else "",
                    sku=row["SKU"],
                    product_type=kind,
                    status="publish" if row["Published"] == "1" else "draft",
                    categories=category_path(row["Categories"]),
                    stock_quantity=stock,
                    modified=at,
                    product_id=int(row["ID"]),
                )
                self.products[pid]["short_description"] = row["Short description"]
                self.products[pid]["description"] = row["Description"]
                by_sku[row["SKU"]] = pid
            docs = root / "rest_api_docs_v3"
            listed = json.loads((docs / "wc_v3_products_list_response.json").read_text())
            variations = json.loads(
                (docs / "wc_v3_product_variations_list_response.json").read_text()
            )
            for product in listed:
                self.products[product["id"]] = product
                if product["type"] == "variable":
                    self.variations[product["id"]] = {v["id"]: v for v in variations}
                    product["variations"] = [v["id"] for v in variations]
            for name, target in (
                ("wc_v3_customers_list_response.json", self.customers),
                ("wc_v3_orders_list_response.json", self.orders),
                ("wc_v3_coupons_list_response.json", self.coupons),
                ("wc_v3_webhooks_list_response.json", self.webhooks),
            ):
                for item in json.loads((docs / name).read_text()):
                    target[item["id"]] = item
            for hook_id in self.webhooks:
                self.webhook_secrets[hook_id] = "fixture-secret"
            top = max([*self.products, *self.orders, *self.coupons, 999]) + 1
            top = max(top, *(v for g in self.variations.values() for v in g))
            self._post_ids = itertools.count(top + 1)
            self._webhook_ids = itertools.count(max([*self.webhooks, 0]) + 1)
            self._user_ids = itertools.count(max([*self.customers, 99]) + 1)

    # -- webhook deliveries -------------------------------------------------------------------

    def build_delivery(
        self,
        topic: str,
        resource_id: int,
        *,
        secret: str | None = None,
        webhook_id: int | None = None,
    ) -> WebhookDelivery:
        """A signed delivery of ``topic`` for a record, as WooCommerce would POST it.

        The body is the record's REST JSON (``{"id": N}`` for ``*.deleted``) encoded like
        ``wp_json_encode``; it is signed with ``secret`` or, by default, the secret of the
        webhook ``webhook_id`` (or of the first webhook with that topic).

        Raises:
            LookupError: no secret given and no webhook for the topic.
        """
        resource, _, event = topic.partition(".")
        with self._lock:
            if webhook_id is None:
                hooks = [h for h in self.webhooks.values() if h["topic"] == topic]
                webhook_id = hooks[0]["id"] if hooks else 0
            if secret is None:
                if webhook_id not in self.webhook_secrets:
                    raise LookupError(f"no webhook for {topic}: pass secret=")
                secret = self.webhook_secrets[webhook_id]
            if event == "deleted":
                payload: dict[str, Any] = {"id": resource_id}
            else:
                payload = copy.deepcopy(self._collection(f"{resource}s")[resource_id])
        body = php_json(payload)
        signature = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
        delivery_id = hashlib.sha1(f"{webhook_id}{time.time()}".encode()).hexdigest()
        source = f"{self.url}/" if self._port else "https://example.com/"
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.0.0 Hookshot (WordPress/6.5)",
            "X-WC-Webhook-Source": source,
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": signature.decode(),
            "X-WC-Webhook-ID": str(webhook_id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        return WebhookDelivery(body=body, headers=headers)

    def build_ping(self, webhook_id: int) -> WebhookDelivery:
        """The unsigned ``webhook_id=N`` form POST sent when a webhook is created/activated."""
        return WebhookDelivery(
            body=f"webhook_id={webhook_id}".encode(),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "User-Agent": "WooCommerce/9.0.0 Hookshot (WordPress/6.5)",
            },
        )

    # -- HTTP ---------------------------------------------------------------------------------

    @staticmethod
    def _error(status: int, code: str, message: str, **data: Any) -> JSONResponse:
        return JSONResponse(
            {"code": code, "message": message, "data": {"status": status, **data}},
            status_code=status,
        )

    def _take_failure(self, method: str, path: str) -> _Failure | None:
        for failure in self._failures:
            if (failure.method is None or failure.method == method) and (
                failure.path is None or API_PREFIX + failure.path == path
            ):
                self._failures.remove(failure)
                return failure
        return None

    def _failure_response(self, failure: _Failure) -> Response:
        response = self._error(failure.status, failure.code, "Injected failure.")
        if failure.retry_after is not None:
            response.headers["Retry-After"] = f"{failure.retry_after:g}"
            self._not_before = time.monotonic() + failure.retry_after
        return response

    def _throttle(self) -> Response | None:
        now = time.monotonic()
        if now < self._not_before - 0.05:
            self.violations.append(
                f"request {self._not_before - now:.2f}s before Retry-After elapsed"
            )
            return self._too_many(self._not_before - now)
        if self.rate_limit_per_s:
            elapsed = now - self._refilled
            self._refilled = now
            self._tokens = min(
                self.rate_limit_burst, self._tokens + elapsed * self.rate_limit_per_s
            )
            if self._tokens < 1:
                self.throttled += 1
                wait = max(1, math.ceil((1 - self._tokens) / self.rate_limit_per_s))
                self._not_before = now + wait
                return self._too_many(wait)
            self._tokens -= 1
        return None

    def _too_many(self, wait: float) -> Response:
        response = self._error(429, "rest_too_many_requests", "Too many requests.")
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response

    def _authenticate(self, request: Request, params: dict[str, str]) -> Response | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            # WooCommerce only reads Basic credentials over HTTPS.
            self.violations.append("basic auth over plain http (secret sent in clear)")
        required = [
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        ]
        missing = [p for p in required if not params.get(p)]
        if missing:
            return self._error(
                401,
                "woocommerce_rest_authentication_missing_parameter",
                "Missing OAuth parameter " + ",".join(missing),
            )
        if not hmac.compare_digest(params["oauth_consumer_key"], self.consumer_key):
            return self._error(
                401, "woocommerce_rest_authentication_error", "Consumer key is invalid."
            )
        method = params["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            return self._error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - signature method is invalid.",
            )
        signed = {k: v for k, v in params.items() if k != "oauth_signature"}
        expected = wc_oauth_signature(
            request.method, f"{self.url}{request.url.path}", signed, self.consumer_secret, method
        )
        given = params["oauth_signature"].replace(" ", "+")
        if not hmac.compare_digest(expected, given):
            return self._error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid signature - provided signature does not match.",
            )
        try:
            timestamp = int(params["oauth_timestamp"])
        except ValueError:
            timestamp = 0
        if abs(time.time() - timestamp) > OAUTH_WINDOW_S:
            return self._error(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        if params["oauth_nonce"] in self._nonces:
            self.violations.append("oauth nonce reused")
            return self._error(
                401,
                "woocommerce_rest_authentication_error",
                "Invalid nonce - nonce has already been used.",
            )
        self._nonces.add(params["oauth_nonce"])
        return None

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        path = request.path_params.get("path", "").strip("/")
        params = dict(request.query_params)
        query = {k: v for k, v in params.items() if not k.startswith("oauth_")}
        with self._lock:
            self.requests[f"{request.method} {request.url.path.rstrip('/')}"] += 1
            self.request_log.append((request.method, path, query))
            limited = self._throttle()
            if limited is not None:
                return limited
            failure = self._take_failure(request.method, path)
            if failure is not None and not failure.after_apply:
                return self._failure_response(failure)
            response = self._serve(request, path, params, query, raw)
            return self._failure_response(failure) if failure is not None else response

    def _serve(
        self, request: Request, path: str, params: dict[str, str], query: dict[str, str], raw: bytes
    ) -> Response:
        if path == "":
            return JSONResponse(
                {"name": self.site_name, "description": "", "url": self.url, "home": self.url}
            )
        if not path.startswith(API_PREFIX):
            return self._error(404, "rest_no_route", "No route was found.")
        denied = self._authenticate(request, params)
        if denied is not None:
            return denied
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._error(400, "rest_invalid_json", "Invalid JSON body passed.")
        try:
            return self._dispatch(request.method, path[len(API_PREFIX) :], query, body)
        except WooError as err:
            return self._error(err.status, err.code, err.message, **err.data)

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        body = body if isinstance(body, dict) else {}
        routes: list[tuple[str, str, Callable[..., Response]]] = [
            ("GET", r"products/categories", self._list_categories),
            ("GET", r"products", self._list_products),
            ("GET", r"products/(\d+)", self._get_product),
            ("PUT", r"products/(\d+)", self._put_product),
            ("GET", r"products/(\d+)/variations", self._list_variations),
            ("POST", r"(products|orders|customers|coupons)/batch", self._batch),
            ("GET", r"customers", self._list_customers),
            ("GET", r"customers/(\d+)", self._get_customer),
            ("GET", r"orders", self._list_orders),
            ("POST", r"orders", self._create_order),
            ("GET", r"orders/(\d+)", self._get_order),
            ("PUT", r"orders/(\d+)", self._put_order),
            ("GET", r"orders/(\d+)/refunds", self._list_refunds),
            ("POST", r"orders/(\d+)/refunds", self._create_refund),
            ("GET", r"coupons", self._list_coupons),
            ("POST", r"coupons", self._create_coupon),
            ("GET", r"webhooks", self._list_webhooks),
            ("POST", r"webhooks", self._create_webhook),
            ("GET", r"webhooks/(\d+)", self._get_webhook),
            ("PUT", r"webhooks/(\d+)", self._put_webhook),
            ("DELETE", r"webhooks/(\d+)", self._delete_webhook),
            ("GET", r"settings/general/woocommerce_currency", self._currency),
            ("GET", r"system_status", self._system_status),
        ]
        for route_method, pattern, handler in routes:
            match = re.fullmatch(pattern, path)
            if match and route_method == method:
                return handler(query, body, *match.groups())
        if any(re.fullmatch(p, path) for _, p, _ in routes):
            return self._error(404, "rest_no_route", "No route was found matching the method.")
        return self._error(404, "rest_no_route", "No route was found matching the URL.")

    # -- listing ------------------------------------------------------------------------------

    def _int_param(
        self, query: dict[str, str], name: str, default: int, low: int, high: int
    ) -> int:
        if name not in query:
            return default
        try:
            value = int(query[name])
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            self.violations.append(f"{name}={query[name]} outside {low}..{high}")
            raise WooError(
                400,
                "rest_invalid_param",
                f"Invalid parameter(s): {name}",
                params={name: f"{name} must be between {low} (inclusive) and {high} (inclusive)"},
            )
        return value

    def _modified_filter(
        self, query: dict[str, str], items: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        gmt = query.get("dates_are_gmt", "").lower() in ("true", "1")
        for name, keep in (("modified_after", 1), ("modified_before", -1)):
            if name not in query:
                continue
            when = _parse_time(query[name])
            if when is None:
                raise WooError(400, "rest_invalid_param", f"Invalid parameter(s): {name}")
            if not gmt:
                self.violations.append(f"{name} without dates_are_gmt=true (compares local time)")
            if when.tzinfo is not None:
                when = (when.astimezone(UTC) + (timedelta(0) if gmt else self.offset)).replace(
                    tzinfo=None
                )
            column = "date_modified_gmt" if gmt else "date_modified"
            # WP_Date_Query "after"/"before" are exclusive, to the second.
            if keep == 1:
                items = [i for i in items if datetime.fromisoformat(i[column]) > when]
            else:
                items = [i for i in items if datetime.fromisoformat(i[column]) < when]
        return items

    def _page(
        self,
        query: dict[str, str],
        items: list[dict[str, Any]],
        *,
        kind: str,
        default_orderby: str,
        default_order: str,
        path: str,
        modified: bool = True,
    ) -> Response:
        per_page = self._int_param(query, "per_page", 10, 1, MAX_PER_PAGE)
        page = self._int_param(query, "page", 1, 1, 1_000_000)
        orderby = query.get("orderby", default_orderby)
        if orderby not in ORDERBY[kind]:
            self.violations.append(f"orderby={orderby} not offered by {kind}")
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        order = query.get("order", default_order)
        if order not in ("asc", "desc"):
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): order")
        if modified:
            items = self._modified_filter(query, items)
        elif "modified_after" in query or "modified_before" in query:
            self.violations.append(f"{kind} have no modified_after/before (WooCommerce ignores it)")
        if "include" in query:
            wanted = {int(i) for i in query["include"].split(",") if i.strip().isdigit()}
            items = [i for i in items if i["id"] in wanted]

        def sort_key(item: dict[str, Any]) -> tuple[Any, ...]:
            if orderby == "modified":
                return (item.get("date_modified_gmt") or "", item["id"])
            if orderby in ("date", "registered_date"):
                return (item.get("date_created_gmt") or "", item["id"])
            if orderby in ("title", "name"):
                return (str(item.get("name", "")).lower(), item["id"])
            if orderby == "slug":
                return (item.get("slug", ""), item["id"])
            if orderby == "price":
                return (_dec(item.get("price")), item["id"])
            if orderby == "menu_order":
                return (item.get("menu_order", 0), item["id"])
            return (item["id"],)

        # The controller appends ID as a tie-break in the same direction.
        items = sorted(items, key=sort_key, reverse=order == "desc")
        total = len(items)
        pages = math.ceil(total / per_page)
        chunk = items[(page - 1) * per_page : page * per_page]
        response = JSONResponse(copy.deepcopy(chunk))
        response.headers["X-WP-Total"] = str(total)
        response.headers["X-WP-TotalPages"] = str(pages)
        links = []
        base = {k: v for k, v in query.items() if k != "page"}
        if page > 1:
            links.append(
                f'<{self.api_url}/{path}?{urlencode({**base, "page": page - 1})}>; rel="prev"'
            )
        if page < pages:
            links.append(
                f'<{self.api_url}/{path}?{urlencode({**base, "page": page + 1})}>; rel="next"'
            )
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    @staticmethod
    def _search(
        items: list[dict[str, Any]], term: str, fields: Callable[[dict[str, Any]], str]
    ) -> list[dict[str, Any]]:
        needle = term.lower()
        return [i for i in items if needle in fields(i).lower()]

    @staticmethod
    def _status_filter(query: dict[str, str], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        status = query.get("status", "any")
        if status == "any":
            return [i for i in items if i.get("status") != "trash"]
        wanted = set(status.split(","))
        return [i for i in items if i.get("status") in wanted]

    def _list_products(self, query: dict[str, str], body: Any) -> Response:
        items = self._status_filter(query, list(self.products.values()))
        if "search" in query:
            items = self._search(
                items,
                query["search"],
                lambda p: " ".join([p["name"], p.get("sku", ""), p.get("description", "")]),
            )
        if "sku" in query:
            items = [p for p in items if p.get("sku") == query["sku"]]
        if "type" in query:
            items = [p for p in items if p["type"] == query["type"]]
        return self._page(
            query,
            items,
            kind="products",
            default_orderby="date",
            default_order="desc",
            path="products",
        )

    def _get(self, resource: str, record_id: str) -> dict[str, Any]:
        item = self._collection(resource).get(int(record_id))
        if item is None:
            raise WooError(404, INVALID_ID_CODES[resource], "Invalid ID.")
        return item

    def _get_product(self, query: dict[str, str], body: Any, pid: str) -> Response:
        return JSONResponse(copy.deepcopy(self._get("products", pid)))

    def _put_product(self, query: dict[str, str], body: dict[str, Any], pid: str) -> Response:
        product = self._get("products", pid)
        product.update({k: v for k, v in body.items() if k != "id"})
        self._stamp(product, "modified", self.now())
        return JSONResponse(copy.deepcopy(product))

    def _list_variations(self, query: dict[str, str], body: Any, pid: str) -> Response:
        self._get("products", pid)
        items = list(self.variations.get(int(pid), {}).values())
        return self._page(
            query,
            items,
            kind="variations",
            default_orderby="date",
            default_order="desc",
            path=f"products/{pid}/variations",
        )

    def _list_categories(self, query: dict[str, str], body: Any) -> Response:
        items = list(self.categories.values())
        if "search" in query:
            items = self._search(items, query["search"], lambda c: c["name"])
        return self._page(
            query,
            items,
            kind="categories",
            default_orderby="name",
            default_order="asc",
            path="products/categories",
            modified=False,
        )

    def _list_customers(self, query: dict[str, str], body: Any) -> Response:
        items = list(self.customers.values())
        role = query.get("role", "customer")
        if role != "all":
            items = [c for c in items if c.get("role", "customer") == role]
        if "email" in query:
            items = [c for c in items if c["email"].lower() == query["email"].lower()]
        if "search" in query:
            items = self._search(
                items,
                query["search"],
                lambda c: " ".join([c["email"], c["first_name"], c["last_name"], c["username"]]),
            )
        return self._page(
            query,
            items,
            kind="customers",
            default_orderby="name",
            default_order="asc",
            path="customers",
            modified=False,
        )

    def _get_customer(self, query: dict[str, str], body: Any, cid: str) -> Response:
        return JSONResponse(copy.deepcopy(self._get("customers", cid)))

    @staticmethod
    def _order_text(order: dict[str, Any]) -> str:
        parts = [str(order["id"])]
        for kind in ("billing", "shipping"):
            parts.extend(str(v) for v in order[kind].values())
        parts.extend(li["name"] for li in order["line_items"])
        return " ".join(parts)

    def _list_orders(self, query: dict[str, str], body: Any) -> Response:
        items = self._status_filter(query, list(self.orders.values()))
        if "customer" in query:
            items = [o for o in items if str(o["customer_id"]) == query["customer"]]
        if "search" in query:
            items = self._search(items, query["search"], self._order_text)
        return self._page(
            query,
            items,
            kind="orders",
            default_orderby="date",
            default_order="desc",
            path="orders",
        )

    def _get_order(self, query: dict[str, str], body: Any, oid: str) -> Response:
        return JSONResponse(copy.deepcopy(self._get("orders", oid)))

    def _put_order(self, query: dict[str, str], body: dict[str, Any], oid: str) -> Response:
        order = self._get("orders", oid)
        for key in ("status", "customer_note"):
            if key in body:
                order[key] = body[key]
        self._stamp(order, "modified", self.now())
        return JSONResponse(copy.deepcopy(order))

    def _create_order(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        oid = self.add_order(body)
        self.orders_created.append(oid)
        return JSONResponse(copy.deepcopy(self.orders[oid]), status_code=201)

    def _list_refunds(self, query: dict[str, str], body: Any, oid: str) -> Response:
        self._get("orders", oid)
        return self._page(
            query,
            list(self.refunds.get(int(oid), [])),
            kind="refunds",
            default_orderby="date",
            default_order="desc",
            path=f"orders/{oid}/refunds",
            modified=False,
        )

    def _create_refund(self, query: dict[str, str], body: dict[str, Any], oid: str) -> Response:
        order = self.orders.get(int(oid))
        if order is None:
            raise WooError(404, "woocommerce_rest_invalid_order_id", "Invalid order ID.")
        if "api_refund" not in body:
            # Defaults to true: the gateway would pay the money back.
            self.violations.append("refund without api_refund (WooCommerce defaults to true)")
        amount = _dec(body.get("amount"))
        if amount <= 0:
            raise WooError(
                400,
                "woocommerce_rest_invalid_order_refund",
                "Refund amount must be greater than zero.",
            )
        refunded = sum((_dec(r["amount"]) for r in self.refunds.get(int(oid), [])), Decimal("0"))
        if amount > _dec(order["total"]) - refunded:
            # WooCommerce reports wc_create_refund's WP_Error as a 500.
            raise WooError(
                500, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount."
            )
        rid = next(self._post_ids)
        refund = copy.deepcopy(self._templates["refund"])
        refund.update(
            {
                "id": rid,
                "amount": _money(amount),
                "reason": body.get("reason", ""),
                "refunded_payment": bool(body.get("api_refund", True)),
                "meta_data": [
                    {"id": next(self._meta_ids), "key": m["key"], "value": m.get("value")}
                    for m in body.get("meta_data", [])
                ],
                "_links": self._links(
                    f"orders/{oid}/refunds/{rid}", f"orders/{oid}/refunds", f"orders/{oid}"
                ),
            }
        )
        self._stamp(refund, "created", self.now())
        self.refunds.setdefault(int(oid), []).append(refund)
        order["refunds"].append(
            {"id": rid, "reason": refund["reason"], "total": f"-{_money(amount)}"}
        )
        self._stamp(order, "modified", self.now())
        return JSONResponse(copy.deepcopy(refund), status_code=201)

    def _list_coupons(self, query: dict[str, str], body: Any) -> Response:
        items = list(self.coupons.values())
        if "code" in query:
            items = [c for c in items if c["code"].lower() == query["code"].lower()]
        return self._page(
            query,
            items,
            kind="coupons",
            default_orderby="date",
            default_order="desc",
            path="coupons",
        )

    def _create_coupon(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        code = str(body.get("code", "")).strip()
        if not code:
            raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): code")
        if any(c["code"].lower() == code.lower() for c in self.coupons.values()):
            raise WooError(
                400, "woocommerce_rest_coupon_code_already_exists", "The coupon code already exists"
            )
        discount_type = body.get("discount_type", "fixed_cart")
        if discount_type not in ("percent", "fixed_cart", "fixed_product"):
            raise WooError(400, "rest_invalid_param", "Invalid parameter(s): discount_type")
        cid = next(self._post_ids)
        coupon = copy.deepcopy(self._templates["coupon"])
        coupon.update(
            {
                "id": cid,
                "code": code.lower(),
                "amount": _money(_dec(body.get("amount"))),
                "discount_type": discount_type,
                "individual_use": bool(body.get("individual_use", False)),
                "usage_limit": body.get("usage_limit"),
                "usage_limit_per_user": body.get("usage_limit_per_user"),
                "minimum_amount": "0.00",
                "_links": self._links(f"coupons/{cid}", "coupons"),
            }
        )
        if body.get("date_expires_gmt"):
            when = datetime.fromisoformat(body["date_expires_gmt"]).replace(tzinfo=UTC)
            self._stamp(coupon, "expires", when)
        now = self.now()
        self._stamp(coupon, "created", now)
        self._stamp(coupon, "modified", now)
        self.coupons[cid] = coupon
        return JSONResponse(copy.deepcopy(coupon), status_code=201)

    def _batch(self, query: dict[str, str], body: dict[str, Any], resource: str) -> Response:
        groups = {k: body.get(k) or [] for k in ("create", "update", "delete")}
        count = sum(len(v) for v in groups.values())
        if count > MAX_BATCH:
            self.violations.append(f"batch of {count} items (limit {MAX_BATCH})")
            raise WooError(
                413,
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {MAX_BATCH} items for this request.",
            )
        collection = self._collection(resource)
        answer: dict[str, list[Any]] = {}

        def item_error(item_id: Any, code: str, message: str) -> dict[str, Any]:
            return {
                "id": item_id,
                "error": {"code": code, "message": message, "data": {"status": 400}},
            }

        if groups["create"]:
            answer["create"] = [
                item_error(0, "fake_not_supported", "The fake does not batch-create.")
                for _ in groups["create"]
            ]
        if groups["update"]:
            answer["update"] = []
            for item in groups["update"]:
                item_id = int(item.get("id") or 0)
                record = collection.get(item_id)
                if record is None:
                    answer["update"].append(
                        item_error(item_id, INVALID_ID_CODES[resource], "Invalid ID.")
                    )
                    continue
                record.update({k: v for k, v in item.items() if k != "id"})
                self._stamp(record, "modified", self.now())
                answer["update"].append(copy.deepcopy(record))
        if groups["delete"]:
            answer["delete"] = []
            for item_id in groups["delete"]:
                record = collection.pop(int(item_id), None)
                answer["delete"].append(
                    record
                    if record is not None
                    else item_error(item_id, INVALID_ID_CODES[resource], "Invalid ID.")
                )
        return JSONResponse(answer)

    # -- webhooks -----------------------------------------------------------------------------

    def _list_webhooks(self, query: dict[str, str], body: Any) -> Response:
        items = list(self.webhooks.values())
        status = query.get("status", "all")
        if status != "all":
            items = [w for w in items if w["status"] == status]
        return self._page(
            query,
            items,
            kind="webhooks",
            default_orderby="date",
            default_order="desc",
            path="webhooks",
            modified=False,
        )

    def _get_webhook(self, query: dict[str, str], body: Any, wid: str) -> Response:
        return JSONResponse(copy.deepcopy(self._get("webhooks", wid)))

    def _create_webhook(self, query: dict[str, str], body: dict[str, Any]) -> Response:
        topic = str(body.get("topic", ""))
        resource, _, event = topic.partition(".")
        if resource not in WEBHOOK_RESOURCES or event not in WEBHOOK_EVENTS:
            raise WooError(
                400,
                "woocommerce_rest_webhook_invalid_topic",
                "Webhook topic is required and must be valid.",
            )
        if not body.get("delivery_url"):
            raise WooError(400, "rest_missing_callback_param", "Missing parameter(s): delivery_url")
        wid = next(self._webhook_ids)
        hook = copy.deepcopy(self._templates["webhook"])
        hook.update(
            {
                "id": wid,
                "name": body.get("name") or topic,
                "status": body.get("status", "active"),
                "topic": topic,
                "resource": resource,
                "event": event,
                "hooks": [],
                "delivery_url": body["delivery_url"],
                "_links": self._links(f"webhooks/{wid}", "webhooks"),
            }
        )
        now = self.now()
        self._stamp(hook, "created", now)
        self._stamp(hook, "modified", now)
        self.webhooks[wid] = hook
        # Without a secret WooCommerce derives one from the user; the fake records that.
        self.webhook_secrets[wid] = str(body.get("secret") or "derived-from-user")
        return JSONResponse(copy.deepcopy(hook), status_code=201)

    def _put_webhook(self, query: dict[str, str], body: dict[str, Any], wid: str) -> Response:
        hook = self._get("webhooks", wid)
        for key in ("name", "status", "delivery_url"):
            if key in body:
                hook[key] = body[key]
        if body.get("status") == "active":
            hook.pop("failure_count", None)
        if "secret" in body:
            self.webhook_secrets[int(wid)] = str(body["secret"])
        self._stamp(hook, "modified", self.now())
        return JSONResponse(copy.deepcopy(hook))

    def _delete_webhook(self, query: dict[str, str], body: Any, wid: str) -> Response:
        hook = self._get("webhooks", wid)
        del self.webhooks[int(wid)]
        return JSONResponse(copy.deepcopy(hook))

    # -- settings -----------------------------------------------------------------------------

    def _currency(self, query: dict[str, str], body: Any) -> Response:
        return JSONResponse(
            {
                "id": "woocommerce_currency",
                "label": "Currency",
                "description": "This controls what currency prices are listed at in the catalog.",
                "type": "select",
                "default": "USD",
                "tip": "",
                "value": self.currency,
            }
        )

    def _system_status(self, query: dict[str, str], body: Any) -> Response:
        return JSONResponse(
            {
                "environment": {"home_url": self.url, "site_url": self.url, "version": "9.0.0"},
                "settings": {"currency": self.currency, "currency_symbol": "$"},
            }
        )
