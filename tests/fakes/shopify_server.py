"""A fake Shopify shop (GraphQL Admin API, bulk operations, OAuth) that enforces the rules.

``ShopifyClient`` talks to it over real HTTP. It serves one shop on 127.0.0.1 from a
background uvicorn thread (like ``model_server.ScriptedModel``), usable from sync and async
code, and records every rule a client breaks in ``violations`` (tests assert it is empty):

- calculated query cost with a leaky bucket (notes/store-apis.md §1.2): ``THROTTLED`` inside
  HTTP 200 when the bucket cannot afford a query, a violation when a client comes back
  before the bucket refilled enough (or before a 429's ``Retry-After``), a violation and an
  error above the 1000-point maximum, page sizes above 250;
- bulk operations (§1.4): RUNNING for ``bulk_polls_running`` polls, then COMPLETED with a
  JSONL file served here with Range support, children as lines with ``__parentId``; at most
  5 running at once; the access token must not be sent to the download URL;
- tokens: wrong or expired tokens get 401; expiring offline tokens with refresh tokens that
  rotate on every use (§1.6); reusing a rotated refresh token is a violation.

Cost approximation (documented, not Shopify's exact calculator): a root connection costs
``2 + first * (1 + sum of the other `first:` sizes in the document)``, a root object 1 (a
mutation 10) plus the nested ``first:`` sizes. The actual cost of a connection counts the
nodes returned, and the difference is refunded, as Shopify does.

Example::

    with FakeShopify() as shop:
        shop.generate(customers=500, orders=200, products=50)
        client = ShopifyClient(http, shop_domain=shop.shop_domain,
                               credentials=shop.credentials(), base_url=shop.url)
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tendero.stores.credentials import ShopifyCredentials
from tests.fakes.threaded import ThreadedServer

API_VERSION = "2026-01"
MAX_COST = 1000
MAX_FIRST = 250
MAX_RUNNING_BULK = 5
_TOLERANCE_S = 0.02
_GENERATED_BASE_ID = 2**53 + 1  # generated ids exceed 2^53, as real Shopify ids do

_OP_NAME = re.compile(r"^\s*(query|mutation)\s+(\w+)")
_ROOT = re.compile(r"^\s*(?:(?:query|mutation)\b[^{]*)?\{\s*(\w+)\s*(\(([^)]*)\))?", re.S)
_FIRST = re.compile(r"(?<![$\w])first:\s*(\$?\w+)")
_IDEMPOTENT = re.compile(r"@idempotent\(\s*key:\s*(\$\w+|\"[^\"]*\")\s*\)")
_TERM = re.compile(r"(\w+):(>=|<=|>|<)?(\"(?:[^\"\\]|\\.)*\"|'[^']*'|\S+)|(\S+)")
_RANGE = re.compile(r"bytes=(\d+)-(\d*)$")


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _money(amount: Decimal, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": f"{amount:.2f}", "currencyCode": currency}}


def _num(gid_or_id: str | int) -> int:
    return int(str(gid_or_id).split("?", 1)[0].rsplit("/", 1)[-1])


@dataclass(slots=True)
class FakeCustomer:
    id: int
    first_name: str | None
    last_name: str | None
    email: str | None
    phone: str | None
    updated_at: datetime


@dataclass(slots=True)
class FakeVariant:
    id: int
    sku: str | None
    title: str
    price: Decimal
    compare_at: Decimal | None
    quantity: int
    tracked: bool
    options: list[tuple[str, str]]


@dataclass(slots=True)
class FakeProduct:
    id: int
    title: str
    description: str | None
    status: str
    image: str | None
    updated_at: datetime
    variants: list[FakeVariant]
    collection_ids: list[int]


@dataclass(slots=True)
class FakeCollection:
    id: int
    title: str
    updated_at: datetime


@dataclass(slots=True)
class FakeLine:
    id: int
    name: str
    sku: str | None
    quantity: int
    variant_id: int | None
    product_id: int | None
    unit: Decimal


@dataclass(slots=True)
class FakeOrder:
    id: int
    name: str
    email: str | None
    phone: str | None
    customer_id: int | None
    currency: str
    lines: list[FakeLine]
    shipping: Decimal
    tax: Decimal
    discounts: Decimal
    created_at: datetime
    updated_at: datetime
    financial: str = "PAID"
    fulfillment: str = "UNFULFILLED"
    cancelled_at: datetime | None = None
    closed_at: datetime | None = None
    tags: list[str] = field(default_factory=list)
    source_identifier: str | None = None
    custom_attributes: list[tuple[str, str]] = field(default_factory=list)
    address: dict[str, Any] | None = None
    tracking: list[str] = field(default_factory=list)
    transactions: list[dict[str, Any]] = field(default_factory=list)
    # Totals as a fixture states them (shopify_python_api's order.json is not consistent
    # with its own lines); computed from the lines when None.
    stated_subtotal: Decimal | None = None
    stated_total: Decimal | None = None

    @property
    def subtotal(self) -> Decimal:
        if self.stated_subtotal is not None:
            return self.stated_subtotal
        return sum((li.unit * li.quantity for li in self.lines), Decimal("0"))

    @property
    def total(self) -> Decimal:
        if self.stated_total is not None:
            return self.stated_total
        return self.subtotal + self.shipping + self.tax - self.discounts


@dataclass(slots=True)
class FakeBulk:
    id: int
    resource: str
    children: bool
    status: str = "RUNNING"
    polls_left: int = 0
    data: bytes | None = None
    object_count: int = 0
    error_code: str | None = None


class _GraphQLError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class FakeShopify(ThreadedServer):
    """One fake shop. See the module docstring for the rules it enforces.

    Attributes:
        violations: rules a client broke, in order (tests assert it stays empty).
        throttled_replies: THROTTLED answers sent.
        operations: ``(operation name, requested cost)`` of every GraphQL request served.
        orders_created: orders made through ``orderCreate``, in order.
        refunds: refunds made through ``refundCreate`` (dicts), in order.
        discounts: discount codes by upper-case code (the input given).
        webhooks: webhook subscriptions (dicts with ``id``, ``topic``, ``uri``).
        refreshes: successful refresh-token grants.
        bulk_bytes_served: bytes of bulk JSONL sent (to check O(n) downloads).
        bulk_outcome: status a bulk operation ends in (``COMPLETED``, ``FAILED``...).
        bulk_polls_running: polls answered RUNNING before a bulk operation completes.
    """

    _name = "fake-shopify"

    def __init__(
        self,
        *,
        shop_domain: str = "tendero-test.myshopify.com",
        access_token: str = "shpat_fake_initial",
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",
        throttle: bool = True,
        maximum_available: float = 2000.0,
        restore_rate: float = 100.0,
        initially_available: float | None = None,
        bulk_polls_running: int = 2,
        currency: str = "USD",
    ) -> None:
        """Create a stopped, empty shop (Standard plan limits: 2000 points, 100/s)."""
        self.shop_domain = shop_domain
        self.client_id = client_id
        self.client_secret = client_secret
        self.throttle = throttle
        self.maximum_available = maximum_available
        self.restore_rate = restore_rate
        self.bulk_polls_running = bulk_polls_running
        self.bulk_outcome = "COMPLETED"
        self.currency = currency
        self.violations: list[str] = []
        self.throttled_replies = 0
        self.operations: list[tuple[str, int]] = []
        self.orders_created: list[FakeOrder] = []
        self.refunds: list[dict[str, Any]] = []
        self.discounts: dict[str, dict[str, Any]] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.refreshes = 0
        self.bulk_bytes_served = 0
        self.customers: dict[int, FakeCustomer] = {}
        self.products: dict[int, FakeProduct] = {}
        self.collections: dict[int, FakeCollection] = {}
        self.orders: dict[int, FakeOrder] = {}
        self.bulk_operations: dict[int, FakeBulk] = {}
        self._lock = threading.RLock()
        self._ids = itertools.count(10**12)
        self._available = maximum_available if initially_available is None else initially_available
        self._stamp = time.monotonic()
        self._not_before = 0.0
        self._failures: deque[tuple[int, float | None]] = deque()
        # token -> monotonic expiry (None: never expires)
        self._tokens: dict[str, float | None] = {access_token: None}
        self.access_token = access_token
        self._refresh_tokens: set[str] = set()
        self._used_refresh_tokens: set[str] = set()
        self._codes: dict[str, str] = {}
        self._refund_keys: dict[str, dict[str, Any]] = {}
        self._app = Starlette(
            routes=[
                Route("/admin/api/{version}/graphql.json", self._graphql, methods=["POST"]),
                Route("/admin/oauth/access_token", self._access_token, methods=["POST"]),
                Route("/bulk/{op_id:int}.jsonl", self._bulk_file, methods=["GET"]),
            ]
        )

    # --- test controls ------------------------------------------------------------------

    def credentials(self) -> ShopifyCredentials:
        """Non-expiring credentials with the initial access token."""
        return ShopifyCredentials(access_token=SecretStr(self.access_token), scope="")

    def expiring_credentials(self, expires_in_s: float = 3600.0) -> ShopifyCredentials:
        """Issue a fresh expiring access token and refresh token, as a code exchange would."""
        with self._lock:
            body = self._issue(expiring=True, scope="read_products,write_orders", ttl=expires_in_s)
        now = datetime.now(UTC)
        return ShopifyCredentials(
            access_token=SecretStr(body["access_token"]),
            scope=body["scope"],
            expires_at=now + timedelta(seconds=expires_in_s),
            refresh_token=SecretStr(body["refresh_token"]),
            refresh_token_expires_at=now + timedelta(days=90),
        )

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far invalid (401), as if they expired."""
        with self._lock:
            self._tokens.clear()

    def authorization_code(self, scopes: str) -> str:
        """A one-time code whose exchange grants ``scopes`` (comma-separated)."""
        code = secrets.token_hex(16)
        with self._lock:
            self._codes[code] = scopes
        return code

    def fail_next(self, status: int, retry_after: float | None = None, count: int = 1) -> None:
        """Answer the next ``count`` GraphQL requests with ``status`` (and ``Retry-After``)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def set_available(self, points: float) -> None:
        """Set the bucket's current level (e.g. 0 to force a THROTTLED answer)."""
        with self._lock:
            self._available = points
            self._stamp = time.monotonic()

    def touch_customer(
        self, customer_id: int | str, updated_at: datetime | None = None
    ) -> datetime:
        """Mark a customer as changed (``updated_at`` defaults to now); returns it."""
        with self._lock:
            when = updated_at or _now()
            self.customers[_num(customer_id)].updated_at = when
            return when

    def touch_product(self, product_id: int | str, updated_at: datetime | None = None) -> datetime:
        """Mark a product as changed; returns the new ``updated_at``."""
        with self._lock:
            when = updated_at or _now()
            self.products[_num(product_id)].updated_at = when
            return when

    def touch_order(self, order_id: int | str, updated_at: datetime | None = None) -> datetime:
        """Mark an order as changed; returns the new ``updated_at``."""
        with self._lock:
            when = updated_at or _now()
            self.orders[_num(order_id)].updated_at = when
            return when

    def add_order_transaction(
        self, order_id: int | str, amount: Decimal, kind: str = "SALE"
    ) -> None:
        """Give an order a successful payment transaction (refunds with money need one)."""
        with self._lock:
            order = self.orders[_num(order_id)]
            order.transactions.append(
                {
                    "id": f"gid://shopify/OrderTransaction/{next(self._ids)}",
                    "kind": kind,
                    "status": "SUCCESS",
                    "gateway": "manual",
                    "amountSet": {"shopMoney": {"amount": f"{amount:.2f}"}},
                }
            )

    # --- data ---------------------------------------------------------------------------

    def generate(
        self, *, customers: int = 0, orders: int = 0, products: int = 0, collections: int = 0
    ) -> None:
        """Add deterministic records with ids above 2^53 (fast enough for 100,000 each).

        Updated times start at 2025-01-01T00:00:00Z, one second apart per record; products
        have 1-3 variants and one collection each, orders 1-3 lines of generated products
        and a customer when there are any.
        """
        base = datetime(2025, 1, 1, tzinfo=UTC)
        with self._lock:
            n_coll = collections or (max(1, products // 20) if products else 0)
            coll_ids = []
            for i in range(n_coll):
                cid = _GENERATED_BASE_ID + 5_000_000 + len(self.collections)
                self.collections[cid] = FakeCollection(cid, f"Collection {i}", base)
                coll_ids.append(cid)
            prod_list: list[FakeProduct] = []
            for i in range(products):
                pid = _GENERATED_BASE_ID + 1_000_000 + len(self.products)
                variants = [
                    FakeVariant(
                        id=pid * 10 + v,
                        sku=f"SKU-{i}-{v}",
                        title=f"Size {v}",
                        price=Decimal(10 + i % 50) + Decimal("0.99"),
                        compare_at=None,
                        quantity=(i + v) % 7,
                        tracked=True,
                        options=[("Size", str(v))],
                    )
                    for v in range(1 + i % 3)
                ]
                product = FakeProduct(
                    id=pid,
                    title=f"Product {i} {'tea' if i % 2 else 'coffee'}",
                    description=f"<p>Product {i}</p>",
                    status="ACTIVE" if i % 10 else "DRAFT",
                    image=None,
                    updated_at=base + timedelta(seconds=i),
                    variants=variants,
                    collection_ids=[coll_ids[i % len(coll_ids)]] if coll_ids else [],
                )
                self.products[pid] = product
                prod_list.append(product)
            cust_ids = []
            for i in range(customers):
                cid = _GENERATED_BASE_ID + 2_000_000 + len(self.customers)
                self.customers[cid] = FakeCustomer(
                    cid,
                    f"First{i}",
                    f"Last{i}",
                    f"customer{cid}@example.com",
                    f"+1555{i % 10_000_000:07d}",
                    base + timedelta(seconds=i),
                )
                cust_ids.append(cid)
            if not prod_list:
                prod_list = list(self.products.values())
            for i in range(orders):
                oid = _GENERATED_BASE_ID + 3_000_000 + len(self.orders)
                lines = []
                for k in range(1 + i % 3):
                    if prod_list:
                        p = prod_list[(i + k) % len(prod_list)]
                        v = p.variants[0]
                        lines.append(
                            FakeLine(
                                oid * 10 + k,
                                f"{p.title} - {v.title}",
                                v.sku,
                                1 + k,
                                v.id,
                                p.id,
                                v.price,
                            )
                        )
                    else:
                        lines.append(
                            FakeLine(oid * 10 + k, "Custom", None, 1, None, None, Decimal("5.00"))
                        )
                customer = self.customers[cust_ids[i % len(cust_ids)]] if cust_ids else None
                self.orders[oid] = FakeOrder(
                    id=oid,
                    name=f"#{1001 + len(self.orders)}",
                    email=customer.email if customer else None,
                    phone=customer.phone if customer else None,
                    customer_id=customer.id if customer else None,
                    currency=self.currency,
                    lines=lines,
                    shipping=Decimal("4.50"),
                    tax=Decimal("0"),
                    discounts=Decimal("0"),
                    created_at=base + timedelta(seconds=i),
                    updated_at=base + timedelta(seconds=i),
                )

    def seed_from_fixtures(self, fixtures_dir: Path) -> None:
        """Load shopify_python_api's REST fixtures, translated to the GraphQL model.

        products.json + product.json (products, variants; ``product_type`` becomes a
        collection), customer.json + customers_search.json, order.json + orders.json.
        """
        root = Path(fixtures_dir) / "shopify" / "shopify_python_api"

        def load(name: str) -> Any:
            return json.loads((root / name).read_text())

        rest_products = [*load("products.json"), load("product.json")["product"]]
        rest_customers = [
            load("customer.json")["customer"],
            *load("customers_search.json")["customers"],
        ]
        rest_orders = [load("order.json")["order"], *load("orders.json")["orders"]]
        with self._lock:
            by_type: dict[str, int] = {}
            for p in rest_products:
                ptype = p.get("product_type") or "Uncategorised"
                if ptype not in by_type:
                    cid = next(self._ids)
                    by_type[ptype] = cid
                    self.collections[cid] = FakeCollection(cid, ptype, _parse_dt(p["updated_at"]))
                options = [o.get("name") for o in p.get("options") or []]
                variants = []
                for v in p.get("variants") or []:
                    opts = [
                        (options[i] if i < len(options) else f"option{i + 1}", v[f"option{i + 1}"])
                        for i in range(3)
                        if v.get(f"option{i + 1}")
                    ]
                    variants.append(
                        FakeVariant(
                            id=int(v["id"]),
                            sku=v.get("sku"),
                            title=v.get("title") or "Default Title",
                            price=Decimal(str(v["price"])),
                            compare_at=Decimal(str(v["compare_at_price"]))
                            if v.get("compare_at_price")
                            else None,
                            quantity=int(v.get("inventory_quantity") or 0),
                            tracked=v.get("inventory_management") == "shopify",
                            options=opts,
                        )
                    )
                images = p.get("images") or []
                self.products[int(p["id"])] = FakeProduct(
                    id=int(p["id"]),
                    title=p["title"],
                    description=p.get("body_html"),
                    status="ACTIVE" if p.get("published_at") else "DRAFT",
                    image=images[0]["src"] if images else None,
                    updated_at=_parse_dt(p["updated_at"]),
                    variants=variants,
                    collection_ids=[by_type[ptype]],
                )
            for c in rest_customers:
                if int(c["id"]) in self.customers:
                    continue
                self.customers[int(c["id"])] = FakeCustomer(
                    int(c["id"]),
                    c.get("first_name"),
                    c.get("last_name"),
                    c.get("email"),
                    c.get("phone"),
                    _parse_dt(c["updated_at"]),
                )
            for o in rest_orders:
                if int(o["id"]) in self.orders:
                    continue  # the same order in two fixtures: the fuller one comes first
                lines = [
                    FakeLine(
                        int(li["id"]),
                        li.get("name") or li["title"],
                        li.get("sku"),
                        int(li["quantity"]),
                        li.get("variant_id"),
                        li.get("product_id"),
                        Decimal(str(li["price"])),
                    )
                    for li in o.get("line_items") or []
                ]
                customer = o.get("customer") or {}
                address = o.get("shipping_address")
                self.orders[int(o["id"])] = FakeOrder(
                    id=int(o["id"]),
                    name=o.get("name") or f"#{o.get('order_number')}",
                    email=o.get("email"),
                    phone=o.get("phone"),
                    customer_id=int(customer["id"]) if customer.get("id") else None,
                    currency=o.get("currency") or self.currency,
                    lines=lines,
                    shipping=sum(
                        (Decimal(str(s["price"])) for s in o.get("shipping_lines") or []),
                        Decimal("0"),
                    ),
                    tax=Decimal(str(o.get("total_tax") or "0")),
                    discounts=Decimal(str(o.get("total_discounts") or "0")),
                    created_at=_parse_dt(o["created_at"]),
                    updated_at=_parse_dt(o["updated_at"]),
                    financial=str(o.get("financial_status") or "pending").upper(),
                    fulfillment=str(o.get("fulfillment_status") or "unfulfilled").upper(),
                    cancelled_at=_parse_dt(o["cancelled_at"]) if o.get("cancelled_at") else None,
                    closed_at=_parse_dt(o["closed_at"]) if o.get("closed_at") else None,
                    address=address,
                    stated_subtotal=Decimal(str(o["subtotal_price"])),
                    stated_total=Decimal(str(o["total_price"])),
                    tracking=[
                        n
                        for f in o.get("fulfillments") or []
                        for n in f.get("tracking_numbers") or []
                    ],
                )

    # --- GraphQL shapes -----------------------------------------------------------------

    @staticmethod
    def _customer_node(c: FakeCustomer) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/Customer/{c.id}",
            "firstName": c.first_name,
            "lastName": c.last_name,
            "displayName": " ".join(p for p in (c.first_name, c.last_name) if p) or c.email,
            "defaultEmailAddress": {"emailAddress": c.email} if c.email else None,
            "defaultPhoneNumber": {"phoneNumber": c.phone} if c.phone else None,
            "updatedAt": _iso(c.updated_at),
        }

    @staticmethod
    def _variant_node(v: FakeVariant) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/ProductVariant/{v.id}",
            "sku": v.sku,
            "title": v.title,
            "price": f"{v.price:.2f}",
            "compareAtPrice": f"{v.compare_at:.2f}" if v.compare_at is not None else None,
            "inventoryQuantity": v.quantity,
            "availableForSale": (not v.tracked) or v.quantity > 0,
            "inventoryItem": {"tracked": v.tracked},
            "selectedOptions": [{"name": n, "value": val} for n, val in v.options]
            or [{"name": "Title", "value": "Default Title"}],
        }

    def _product_node(self, p: FakeProduct, nested: bool = True) -> dict[str, Any]:
        node: dict[str, Any] = {
            "id": f"gid://shopify/Product/{p.id}",
            "title": p.title,
            "descriptionHtml": p.description or "",
            "status": p.status,
            "featuredMedia": {"preview": {"image": {"url": p.image}}} if p.image else None,
            "updatedAt": _iso(p.updated_at),
        }
        if nested:
            node["variants"] = {"nodes": [self._variant_node(v) for v in p.variants[:20]]}
            node["collections"] = {
                "nodes": [{"id": f"gid://shopify/Collection/{c}"} for c in p.collection_ids[:5]]
            }
        return node

    @staticmethod
    def _line_node(li: FakeLine, currency: str) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/LineItem/{li.id}",
            "name": li.name,
            "sku": li.sku,
            "quantity": li.quantity,
            "variant": {"id": f"gid://shopify/ProductVariant/{li.variant_id}"}
            if li.variant_id
            else None,
            "product": {"id": f"gid://shopify/Product/{li.product_id}"} if li.product_id else None,
            "originalUnitPriceSet": _money(li.unit, currency),
            "originalTotalSet": _money(li.unit * li.quantity, currency),
        }

    def _order_node(self, o: FakeOrder, nested: bool = True) -> dict[str, Any]:
        customer = self.customers.get(o.customer_id) if o.customer_id else None
        a = o.address
        node: dict[str, Any] = {
            "id": f"gid://shopify/Order/{o.id}",
            "name": o.name,
            "email": o.email,
            "phone": o.phone,
            "displayFinancialStatus": o.financial,
            "displayFulfillmentStatus": o.fulfillment,
            "cancelledAt": _iso(o.cancelled_at) if o.cancelled_at else None,
            "closedAt": _iso(o.closed_at) if o.closed_at else None,
            "currencyCode": o.currency,
            "customer": {
                "id": f"gid://shopify/Customer/{customer.id}",
                "displayName": " ".join(x for x in (customer.first_name, customer.last_name) if x),
            }
            if customer
            else None,
            "subtotalPriceSet": _money(o.subtotal, o.currency),
            "totalShippingPriceSet": _money(o.shipping, o.currency),
            "totalTaxSet": _money(o.tax, o.currency),
            "totalDiscountsSet": _money(o.discounts, o.currency),
            "totalPriceSet": _money(o.total, o.currency),
            "shippingAddress": {
                "name": a.get("name"),
                "address1": a.get("address1"),
                "address2": a.get("address2"),
                "city": a.get("city"),
                "province": a.get("province"),
                "zip": a.get("zip"),
                "countryCodeV2": a.get("country_code"),
                "phone": a.get("phone"),
            }
            if a
            else None,
            "fulfillments": [{"trackingInfo": [{"number": n} for n in o.tracking]}]
            if o.tracking
            else [],
            "sourceIdentifier": o.source_identifier,
            "tags": list(o.tags),
            "customAttributes": [{"key": k, "value": v} for k, v in o.custom_attributes],
            "transactions": list(o.transactions),
            "createdAt": _iso(o.created_at),
            "updatedAt": _iso(o.updated_at),
        }
        if nested:
            node["lineItems"] = {"nodes": [self._line_node(li, o.currency) for li in o.lines[:30]]}
        return node

    @staticmethod
    def _collection_node(c: FakeCollection) -> dict[str, Any]:
        return {
            "id": f"gid://shopify/Collection/{c.id}",
            "title": c.title,
            "updatedAt": _iso(c.updated_at),
        }

    # --- cost ---------------------------------------------------------------------------

    @staticmethod
    def _resolve(token: str, variables: dict[str, Any]) -> int:
        if token.startswith("$"):
            value = variables.get(token[1:])
            return int(value) if isinstance(value, int) else 0
        return int(token) if token.isdigit() else 0

    def cost_of(self, query: str, variables: dict[str, Any]) -> tuple[int, int | None, int]:
        """``(requested cost, root first or None, cost per node)`` of a document."""
        match = _ROOT.match(query)
        root_args = match.group(3) if match and match.group(3) else ""
        root_first = _FIRST.search(root_args)
        firsts = [self._resolve(t, variables) for t in _FIRST.findall(query)]
        if root_first is not None:
            top = self._resolve(root_first.group(1), variables)
            per_node = 1 + sum(firsts[1:])
            return 2 + top * per_node, top, per_node
        base = 10 if query.lstrip().startswith("mutation") else 1
        return base + sum(firsts), None, 0

    def _refill(self, now: float) -> None:
        self._available = min(
            self.maximum_available, self._available + self.restore_rate * (now - self._stamp)
        )
        self._stamp = now

    def _cost_ext(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": actual,
                "throttleStatus": {
                    "maximumAvailable": self.maximum_available,
                    "currentlyAvailable": round(self._available, 3),
                    "restoreRate": self.restore_rate,
                },
            }
        }

    # --- HTTP handlers ------------------------------------------------------------------

    def _token_ok(self, token: str | None) -> bool:
        if token is None or token not in self._tokens:
            return False
        expiry = self._tokens[token]
        return expiry is None or expiry > time.monotonic()

    async def _graphql(self, request: Request) -> Response:
        raw = await request.body()
        with self._lock:
            now = time.monotonic()
            if request.path_params["version"] != API_VERSION:
                self.violations.append(f"API version {request.path_params['version']} not pinned")
            if now < self._not_before - _TOLERANCE_S:
                self.violations.append(
                    f"request {self._not_before - now:.3f}s before the wait Shopify asked for"
                )
            if self._failures:
                status, retry_after = self._failures.popleft()
                headers = {}
                if retry_after is not None:
                    headers["Retry-After"] = str(retry_after)
                    self._not_before = now + retry_after
                return JSONResponse(
                    {"errors": "injected failure"}, status_code=status, headers=headers
                )
            if not self._token_ok(request.headers.get("x-shopify-access-token")):
                return JSONResponse(
                    {
                        "errors": "[API] Invalid API key or access token "
                        "(unrecognized login or wrong password)"
                    },
                    status_code=401,
                )
            try:
                body = json.loads(raw)
                query = str(body["query"])
                variables = dict(body.get("variables") or {})
            except (ValueError, KeyError, TypeError):
                return JSONResponse({"errors": "malformed request"}, status_code=400)
            op = _OP_NAME.match(query)
            if op is None:
                self.violations.append("anonymous GraphQL operation")
            requested, top, per_node = self.cost_of(query, variables)
            self.operations.append((op.group(2) if op else "", requested))
            if requested > MAX_COST:
                self.violations.append(f"query cost {requested} above {MAX_COST}")
                return JSONResponse(
                    {
                        "errors": [
                            {
                                "message": f"Query cost is {requested}, which exceeds the "
                                f"single query max cost limit ({MAX_COST}).",
                                "extensions": {
                                    "code": "MAX_COST_EXCEEDED",
                                    "cost": requested,
                                    "maxCost": MAX_COST,
                                },
                            }
                        ]
                    }
                )
            if top is not None and top > MAX_FIRST:
                self.violations.append(f"first: {top} above {MAX_FIRST}")
            if self.throttle:
                self._refill(now)
                if self._available < requested:
                    self.throttled_replies += 1
                    self._not_before = now + (requested - self._available) / self.restore_rate
                    return JSONResponse(
                        {
                            "errors": [
                                {
                                    "message": "Throttled",
                                    "extensions": {
                                        "code": "THROTTLED",
                                        "documentation": "https://shopify.dev/api/usage/rate-limits",
                                    },
                                }
                            ],
                            "extensions": self._cost_ext(requested, None),
                        }
                    )
                self._available -= requested
            try:
                data, nodes = self._execute(query, variables)
            except _GraphQLError as err:
                return JSONResponse(
                    {
                        "errors": [{"message": str(err), "extensions": {"code": err.code}}],
                        "extensions": self._cost_ext(requested, requested),
                    }
                )
            actual = requested if nodes is None or top is None else 2 + nodes * per_node
            if self.throttle:
                self._available = min(self.maximum_available, self._available + requested - actual)
            return JSONResponse({"data": data, "extensions": self._cost_ext(requested, actual)})

    def _execute(self, query: str, variables: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        match = _ROOT.match(query)
        if match is None:
            raise _GraphQLError("syntax error", "PARSE_ERROR")
        root = match.group(1)
        handler = getattr(self, f"_q_{root}", None)
        if handler is None:
            raise _GraphQLError(
                f"Field '{root}' doesn't exist on type 'QueryRoot'", "undefinedField"
            )
        result, nodes = handler(query, variables)
        return {root: result}, nodes

    # --- search and connections ---------------------------------------------------------

    @staticmethod
    def _terms(search: str | None) -> tuple[list[tuple[str, str, str]], list[str], bool]:
        fields: list[tuple[str, str, str]] = []
        words: list[str] = []
        any_of = False
        for m in _TERM.finditer(search or ""):
            if m.group(4) is not None:
                word = m.group(4)
                if word == "OR":
                    any_of = True
                elif word not in ("AND",):
                    words.append(word.lower())
                continue
            value = m.group(3)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            elif value.startswith("'"):
                value = value[1:-1]
            fields.append((m.group(1).lower(), m.group(2) or ":", value))
        return fields, words, any_of

    @staticmethod
    def _compare(left: Any, op: str, right: Any) -> bool:
        if op == ">=":
            return bool(left >= right)
        if op == ">":
            return bool(left > right)
        if op == "<=":
            return bool(left <= right)
        if op == "<":
            return bool(left < right)
        return bool(left == right)

    def _matches(self, item: Any, search: str | None) -> bool:
        fields, words, any_of = self._terms(search)
        checks: list[bool] = []
        for name, op, value in fields:
            if name in ("updated_at", "created_at"):
                checks.append(self._compare(getattr(item, name), op, _parse_dt(value)))
            elif name == "email":
                checks.append((getattr(item, "email", None) or "").lower() == value.lower())
            elif name == "phone":
                checks.append((getattr(item, "phone", None) or "") == value)
            elif name == "tag":
                checks.append(value in getattr(item, "tags", []))
            elif name == "status":
                checks.append(str(getattr(item, "status", "")).lower() == value.lower())
            elif name == "id":
                checks.append(str(item.id) == value)
        if words:
            text = (
                getattr(item, "title", None)
                or " ".join(
                    x or ""
                    for x in (getattr(item, "first_name", ""), getattr(item, "last_name", ""))
                )
            ).lower()
            checks.append(all(w in text for w in words))
        if not checks:
            return True
        return any(checks) if any_of else all(checks)

    @staticmethod
    def _cursor(key: tuple[Any, ...]) -> str:
        return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()

    def _connection(
        self,
        items: Iterable[Any],
        variables: dict[str, Any],
        query: str,
        node_fn: Any,
    ) -> tuple[dict[str, Any], int]:
        match = _ROOT.match(query)
        args = match.group(3) if match and match.group(3) else ""
        first = variables.get("first")
        if first is None:
            literal = _FIRST.search(args)
            first = self._resolve(literal.group(1), variables) if literal else 0
        if not first:
            raise _GraphQLError(
                "you must provide one of first or last", "argumentLiteralsIncompatible"
            )
        sort_key = variables.get("sortKey")
        if sort_key is None:
            literal_sort = re.search(r"sortKey:\s*(\w+)", args)
            sort_key = (
                literal_sort.group(1)
                if literal_sort and not literal_sort.group(1).startswith("$")
                else "ID"
            )
        reverse = bool(re.search(r"reverse:\s*true", args)) or variables.get("reverse") is True
        search = variables.get("query")
        if search is None:
            literal_q = re.search(r"query:\s*\"((?:[^\"\\]|\\.)*)\"", args)
            search = literal_q.group(1) if literal_q else None

        def key(item: Any) -> tuple[Any, ...]:
            if sort_key == "UPDATED_AT":
                return (_iso(item.updated_at), item.id)
            if sort_key == "CREATED_AT":
                return (_iso(item.created_at), item.id)
            return (item.id,)

        selected = sorted((i for i in items if self._matches(i, search)), key=key, reverse=reverse)
        after = variables.get("after")
        if after:
            cursor = tuple(json.loads(base64.urlsafe_b64decode(after)))
            selected = [i for i in selected if (key(i) < cursor if reverse else key(i) > cursor)]
        page = selected[: min(int(first), MAX_FIRST)]
        nodes = [node_fn(i) for i in page]
        end = self._cursor(key(page[-1])) if page else None
        return (
            {
                "pageInfo": {"hasNextPage": len(selected) > len(page), "endCursor": end},
                "nodes": nodes,
                "edges": [
                    {"cursor": self._cursor(key(i)), "node": n}
                    for i, n in zip(page, nodes, strict=True)
                ],
            },
            len(page),
        )

    # --- query roots --------------------------------------------------------------------

    def _q_shop(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        return (
            {
                "name": "Tendero Test Shop",
                "currencyCode": self.currency,
                "myshopifyDomain": self.shop_domain,
                "primaryDomain": {"url": f"https://{self.shop_domain}"},
            },
            None,
        )

    def _q_customers(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        return self._connection(self.customers.values(), variables, query, self._customer_node)

    def _q_products(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        return self._connection(self.products.values(), variables, query, self._product_node)

    def _q_orders(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        return self._connection(self.orders.values(), variables, query, self._order_node)

    def _q_collections(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        return self._connection(self.collections.values(), variables, query, self._collection_node)

    def _q_product(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        product = self.products.get(_num(variables["id"]))
        return (self._product_node(product) if product else None), None

    def _q_order(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        order = self.orders.get(_num(variables["id"]))
        return (self._order_node(order) if order else None), None

    def _q_node(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        gid = str(variables["id"])
        if "/BulkOperation/" not in gid:
            return None, None
        op = self.bulk_operations.get(_num(gid))
        if op is None:
            return None, None
        if op.status == "RUNNING":
            if op.polls_left > 0:
                op.polls_left -= 1
            else:
                self._finish_bulk(op)
        return self._bulk_node(op), None

    def _q_codeDiscountNodeByCode(
        self, query: str, variables: dict[str, Any]
    ) -> tuple[Any, int | None]:
        found = self.discounts.get(str(variables["code"]).upper())
        return ({"id": found["id"]} if found else None), None

    def _q_webhookSubscriptions(
        self, query: str, variables: dict[str, Any]
    ) -> tuple[Any, int | None]:
        @dataclass
        class _W:
            id: int
            raw: dict[str, Any]

        items = [_W(_num(w["id"]), w) for w in self.webhooks]
        return self._connection(items, variables, query, lambda w: dict(w.raw))

    # --- bulk operations ----------------------------------------------------------------

    def _bulk_node(self, op: FakeBulk) -> dict[str, Any]:
        url = None
        if op.status == "COMPLETED" and op.object_count:
            url = f"{self.url}/bulk/{op.id}.jsonl"
        return {
            "id": f"gid://shopify/BulkOperation/{op.id}",
            "status": op.status,
            "errorCode": op.error_code,
            "objectCount": str(op.object_count),
            "url": url,
            "partialDataUrl": None,
        }

    def _q_bulkOperationRunQuery(
        self, query: str, variables: dict[str, Any]
    ) -> tuple[Any, int | None]:
        inner = str(variables.get("query") or "")
        match = _ROOT.match(inner)
        resource = match.group(1) if match else ""
        running = sum(
            1 for op in self.bulk_operations.values() if op.status in ("CREATED", "RUNNING")
        )
        if resource not in ("customers", "products", "orders", "collections"):
            return {
                "bulkOperation": None,
                "userErrors": [
                    {"field": ["query"], "message": "Invalid bulk query", "code": "INVALID"}
                ],
            }, None
        if running >= MAX_RUNNING_BULK:
            self.violations.append(f"more than {MAX_RUNNING_BULK} concurrent bulk queries")
            return {
                "bulkOperation": None,
                "userErrors": [
                    {
                        "field": None,
                        "message": "A bulk query operation for this app and shop is "
                        "already in progress",
                        "code": "OPERATION_IN_PROGRESS",
                    }
                ],
            }, None
        op = FakeBulk(
            id=next(self._ids),
            resource=resource,
            children=bool(
                re.search(r"\b(variants|lineItems|collections)\s*\{", inner.split("{", 2)[-1])
            ),
            polls_left=self.bulk_polls_running,
        )
        self.bulk_operations[op.id] = op
        return {
            "bulkOperation": {"id": f"gid://shopify/BulkOperation/{op.id}", "status": "CREATED"},
            "userErrors": [],
        }, None

    def _jsonl_lines(self, op: FakeBulk) -> Iterator[dict[str, Any]]:
        if op.resource == "customers":
            for c in sorted(self.customers.values(), key=lambda x: x.id):
                yield self._customer_node(c)
        elif op.resource == "collections":
            for col in sorted(self.collections.values(), key=lambda x: x.id):
                yield self._collection_node(col)
        elif op.resource == "products":
            for p in sorted(self.products.values(), key=lambda x: x.id):
                node = self._product_node(p, nested=False)
                yield node
                if op.children:
                    for v in p.variants:
                        yield {**self._variant_node(v), "__parentId": node["id"]}
                    for cid in p.collection_ids:
                        yield {"id": f"gid://shopify/Collection/{cid}", "__parentId": node["id"]}
        else:
            for o in sorted(self.orders.values(), key=lambda x: x.id):
                node = self._order_node(o, nested=False)
                node.pop("transactions", None)
                yield node
                if op.children:
                    for li in o.lines:
                        yield {**self._line_node(li, o.currency), "__parentId": node["id"]}

    def _finish_bulk(self, op: FakeBulk) -> None:
        if self.bulk_outcome != "COMPLETED":
            op.status = self.bulk_outcome
            op.error_code = "INTERNAL_SERVER_ERROR" if self.bulk_outcome == "FAILED" else None
            return
        # Built once, when the operation completes (a snapshot, as Shopify's file is).
        parts = []
        count = 0
        for line in self._jsonl_lines(op):
            parts.append(json.dumps(line, separators=(",", ":")))
            count += 1
        op.data = ("\n".join(parts) + "\n").encode() if parts else b""
        op.object_count = count
        op.status = "COMPLETED"

    async def _bulk_file(self, request: Request) -> Response:
        with self._lock:
            if request.headers.get("x-shopify-access-token"):
                self.violations.append("access token sent to the bulk result URL")
            op = self.bulk_operations.get(request.path_params["op_id"])
            if op is None or op.data is None:
                return Response(status_code=404)
            data = op.data
            spec = request.headers.get("range")
            if spec is None:
                self.bulk_bytes_served += len(data)
                return Response(data, media_type="application/jsonl")
            m = _RANGE.match(spec.strip())
            if m is None:
                return Response(status_code=416)
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else len(data) - 1, len(data) - 1)
            if start >= len(data):
                return Response(status_code=416, headers={"Content-Range": f"bytes */{len(data)}"})
            chunk = data[start : end + 1]
            self.bulk_bytes_served += len(chunk)
            return Response(
                chunk,
                status_code=206,
                media_type="application/jsonl",
                headers={"Content-Range": f"bytes {start}-{end}/{len(data)}"},
            )

    # --- mutations ----------------------------------------------------------------------

    def _variant_index(self) -> dict[int, tuple[FakeProduct, FakeVariant]]:
        return {v.id: (p, v) for p in self.products.values() for v in p.variants}

    def _q_orderCreate(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        data = variables.get("order") or {}
        index = self._variant_index()
        lines = []
        oid = next(self._ids)
        for n, li in enumerate(data.get("lineItems") or []):
            found = index.get(_num(li.get("variantId") or 0))
            if found is None:
                return {
                    "order": None,
                    "userErrors": [
                        {
                            "field": ["order", "lineItems", str(n), "variantId"],
                            "message": "Variant does not exist",
                            "code": "INVALID",
                        }
                    ],
                }, None
            product, variant = found
            amount = (
                Decimal(li["priceSet"]["shopMoney"]["amount"])
                if li.get("priceSet")
                else variant.price
            )
            lines.append(
                FakeLine(
                    oid * 10 + n,
                    f"{product.title} - {variant.title}",
                    variant.sku,
                    int(li["quantity"]),
                    variant.id,
                    product.id,
                    amount,
                )
            )
        if not lines:
            return {
                "order": None,
                "userErrors": [
                    {
                        "field": ["order", "lineItems"],
                        "message": "Line items are required",
                        "code": "INVALID",
                    }
                ],
            }, None
        customer_id = None
        assoc = (data.get("customer") or {}).get("toAssociate")
        if assoc:
            customer_id = _num(assoc["id"])
            if customer_id not in self.customers:
                return {
                    "order": None,
                    "userErrors": [
                        {
                            "field": ["order", "customer"],
                            "message": "Customer does not exist",
                            "code": "INVALID",
                        }
                    ],
                }, None

        def total(key: str) -> Decimal:
            return sum(
                (Decimal(x["priceSet"]["shopMoney"]["amount"]) for x in data.get(key) or []),
                Decimal("0"),
            )

        addr = data.get("shippingAddress")
        now = _now()
        order = FakeOrder(
            id=oid,
            name=f"#{1001 + len(self.orders)}",
            email=data.get("email"),
            phone=data.get("phone"),
            customer_id=customer_id,
            currency=data.get("currency") or self.currency,
            lines=lines,
            shipping=total("shippingLines"),
            tax=total("taxLines"),
            discounts=Decimal("0"),
            created_at=now,
            updated_at=now,
            financial=str(data.get("financialStatus") or "PENDING"),
            tags=list(data.get("tags") or []),
            source_identifier=data.get("sourceIdentifier"),
            custom_attributes=[(a["key"], a["value"]) for a in data.get("customAttributes") or []],
            address={
                "name": " ".join(x for x in (addr.get("firstName"), addr.get("lastName")) if x),
                "address1": addr.get("address1"),
                "address2": addr.get("address2"),
                "city": addr.get("city"),
                "province": addr.get("provinceCode"),
                "zip": addr.get("zip"),
                "country_code": addr.get("countryCode"),
                "phone": addr.get("phone"),
            }
            if addr
            else None,
        )
        self.orders[oid] = order
        self.orders_created.append(order)
        return {"order": self._order_node(order), "userErrors": []}, None

    def _q_discountCodeBasicCreate(
        self, query: str, variables: dict[str, Any]
    ) -> tuple[Any, int | None]:
        data = variables.get("basicCodeDiscount") or {}
        code = str(data.get("code") or "")
        errors = []
        if not code or not data.get("title"):
            errors.append(
                {
                    "field": ["basicCodeDiscount", "code"],
                    "message": "Code and title are required",
                    "code": "BLANK",
                }
            )
        elif code.upper() in self.discounts:
            errors.append(
                {
                    "field": ["basicCodeDiscount", "code"],
                    "message": "Code must be unique. Please try a different code.",
                    "code": "TAKEN",
                }
            )
        value = ((data.get("customerGets") or {}).get("value")) or {}
        pct = value.get("percentage")
        if pct is not None and not 0 <= float(pct) <= 1:
            errors.append(
                {
                    "field": ["basicCodeDiscount", "customerGets", "value", "percentage"],
                    "message": "must be between 0 and 1",
                    "code": "VALUE_OUTSIDE_RANGE",
                }
            )
        if "context" not in data and "customerSelection" not in data:
            errors.append(
                {
                    "field": ["basicCodeDiscount", "context"],
                    "message": "context is required",
                    "code": "BLANK",
                }
            )
        if errors:
            return {"codeDiscountNode": None, "userErrors": errors}, None
        gid = f"gid://shopify/DiscountCodeNode/{next(self._ids)}"
        self.discounts[code.upper()] = {"id": gid, **data}
        return {"codeDiscountNode": {"id": gid}, "userErrors": []}, None

    def _q_refundCreate(self, query: str, variables: dict[str, Any]) -> tuple[Any, int | None]:
        data = variables.get("input") or {}
        directive = _IDEMPOTENT.search(query)
        key = None
        if directive is None:
            self.violations.append("refundCreate without @idempotent (mandatory from 2026-04)")
        else:
            token = directive.group(1)
            key = str(variables.get(token[1:])) if token.startswith("$") else token.strip('"')
            if key in self._refund_keys:
                return {"refund": self._refund_keys[key], "userErrors": []}, None
        order = self.orders.get(_num(data.get("orderId") or 0))
        if order is None:
            return {
                "refund": None,
                "userErrors": [{"field": ["orderId"], "message": "Order does not exist"}],
            }, None
        amount = Decimal("0")
        parents = {t["id"] for t in order.transactions}
        for t in data.get("transactions") or []:
            if t.get("parentId") not in parents or t.get("kind") != "REFUND":
                return {
                    "refund": None,
                    "userErrors": [
                        {"field": ["transactions"], "message": "Invalid parent transaction"}
                    ],
                }, None
            amount += Decimal(str(t["amount"]))
        refund = {
            "id": f"gid://shopify/Refund/{next(self._ids)}",
            "totalRefundedSet": _money(amount, order.currency),
        }
        self.refunds.append(
            {**refund, "orderId": data.get("orderId"), "note": data.get("note"), "key": key}
        )
        if key is not None:
            self._refund_keys[key] = refund
        order.updated_at = _now()
        return {"refund": refund, "userErrors": []}, None

    def _q_webhookSubscriptionCreate(
        self, query: str, variables: dict[str, Any]
    ) -> tuple[Any, int | None]:
        topic = str(variables.get("topic"))
        sub = variables.get("webhookSubscription") or {}
        uri = sub.get("uri") or sub.get("callbackUrl")
        if sub.get("callbackUrl"):
            self.violations.append("deprecated callbackUrl used instead of uri")
        if not uri or not str(uri).startswith(("https://", "pubsub://", "arn:")):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {
                        "field": ["webhookSubscription", "uri"],
                        "message": "Address protocol is not supported",
                    }
                ],
            }, None
        if any(w["topic"] == topic and w["uri"] == uri for w in self.webhooks):
            return {
                "webhookSubscription": None,
                "userErrors": [
                    {
                        "field": ["webhookSubscription", "uri"],
                        "message": "Address for this topic has already been taken",
                    }
                ],
            }, None
        node = {
            "id": f"gid://shopify/WebhookSubscription/{next(self._ids)}",
            "topic": topic,
            "uri": uri,
        }
        self.webhooks.append(node)
        return {"webhookSubscription": dict(node), "userErrors": []}, None

    # --- OAuth --------------------------------------------------------------------------

    def _issue(self, *, expiring: bool, scope: str, ttl: float = 3600.0) -> dict[str, Any]:
        token = "shpat_" + secrets.token_hex(12)
        body: dict[str, Any] = {"access_token": token, "scope": scope}
        if expiring:
            self._tokens[token] = time.monotonic() + ttl
            refresh = "shprt_" + secrets.token_hex(12)
            self._refresh_tokens.add(refresh)
            body |= {
                "expires_in": int(ttl),
                "refresh_token": refresh,
                "refresh_token_expires_in": 7_776_000,
            }
        else:
            self._tokens[token] = None
        return body

    async def _access_token(self, request: Request) -> Response:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            params = {k: str(v) for k, v in json.loads(raw or b"{}").items()}
        else:
            from urllib.parse import parse_qsl

            params = dict(parse_qsl(raw.decode()))
        with self._lock:
            if (
                params.get("client_id") != self.client_id
                or params.get("client_secret") != self.client_secret
            ):
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            if params.get("grant_type") == "refresh_token":
                refresh = params.get("refresh_token", "")
                if refresh in self._used_refresh_tokens:
                    self.violations.append("rotated refresh token used again")
                if refresh not in self._refresh_tokens:
                    return JSONResponse({"error": "invalid_grant"}, status_code=400)
                self._refresh_tokens.discard(refresh)
                self._used_refresh_tokens.add(refresh)
                self.refreshes += 1
                return JSONResponse(self._issue(expiring=True, scope="read_products,write_orders"))
            code = params.get("code")
            if code is None or code not in self._codes:
                return JSONResponse({"error": "invalid_request"}, status_code=400)
            scope = self._codes.pop(code)
            return JSONResponse(self._issue(expiring=params.get("expiring") == "1", scope=scope))
