"""The agent API's e-commerce view of a shop (``/api/v2/ecommerce``).

For a shop's support agents and admins: store status and configuration, health, orders,
products, categories, customers, delivery and payment options, and a dashboard. The shop
is always the token's (``api.agent_auth``); a product id or a phone number of another
shop is answered 404, exactly as a missing one. ``admin`` is needed for the store
configuration and its connection test; everything else is open to any active user.

Money is a string amount (``"45.00"``) with its ISO 4217 currency, never a float;
datetimes are ISO 8601 in UTC. Store credentials never appear in an answer, and store
failures are reported by their stable code only (a store's message can echo customer data).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, HTTPException, Query, status
from pydantic import AfterValidator, BaseModel
from sqlalchemy import ColumnElement, and_, func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from api.agent_auth import AGENT_AUTH_ERRORS, AdminDep, AgentDep
from api.deps import SessionsDep, SettingsDep
from tendero.catalog.search import search_products
from tendero.crypto import DecryptionError
from tendero.db.models import (
    Category,
    Conversation,
    Customer,
    Integration,
    Order,
    OrderItem,
    Product,
    ProductVariant,
    SyncRun,
    Tenant,
    Ticket,
)
from tendero.db.repos.catalog import get_product, list_categories
from tendero.db.repos.orders import FINISHED_STATUSES
from tendero.domain.phone import to_e164
from tendero.errors import StoreError
from tendero.stores.factory import build_client
from tendero.stores.integrations import IntegrationUnavailable, open_credentials

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v2/ecommerce", tags=["agent API: e-commerce"])

StoreKindName = Literal["native", "shopify", "woocommerce", "custom"]
OPEN_TICKET_STATUSES = ("open", "assigned", "waiting_on_customer")
"""Tickets that still need the shop: their SLA deadlines count."""
TICKET_STATUSES = ("open", "assigned", "waiting_on_customer", "resolved", "closed")
TICKET_PRIORITIES = ("low", "medium", "high", "urgent")

_ERRORS = AGENT_AUTH_ERRORS
_NOT_FOUND_PRODUCT: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such product in this shop (another shop's alike)."},
    422: {"description": "The product id is not a UUID."},
}
_NOT_FOUND_CUSTOMER: dict[int | str, dict[str, Any]] = {
    404: {"description": "No customer with this phone number in this shop."},
    422: {"description": "Not a valid phone number (E.164, e.g. +15551234567)."},
}
_BAD_QUERY: dict[int | str, dict[str, Any]] = {
    422: {"description": "Invalid query parameters."},
}


# --- response models ------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""An aware datetime, always shown in UTC."""


def amount_text(amount: Decimal) -> str:
    """``Decimal("45.000")`` -> ``"45.00"``; more places are kept when they matter."""
    cents = amount.quantize(Decimal("0.01"))
    if cents == amount:
        return str(cents)
    return format(amount.normalize(), "f")


class Money(BaseModel):
    """An amount (a decimal string, never a float) in an ISO 4217 currency."""

    amount: str
    currency: str

    @classmethod
    def of(cls, amount: Decimal, currency: str) -> Money:
        """``Money`` from a ``Decimal`` amount."""
        return cls(amount=amount_text(amount), currency=currency)


class IntegrationSummary(BaseModel):
    """The store integration as an agent may see it (never its credentials)."""

    id: uuid.UUID
    kind: str
    name: str
    status: str
    shop_domain: str | None
    base_url: str | None
    last_error: str | None
    webhooks_disabled: int


class SyncResourceRun(BaseModel):
    """One resource of a sync run."""

    resource: str
    status: str
    synced: int
    skipped: int
    failed: int
    error: str | None
    finished_at: UtcDatetime | None


class SyncSummary(BaseModel):
    """The last sync (one workflow run): overall status and per-resource counts."""

    workflow_id: str
    trigger: str
    mode: str
    status: Literal["running", "completed", "failed"]
    started_at: UtcDatetime
    finished_at: UtcDatetime | None
    resources: list[SyncResourceRun]


class CatalogCounts(BaseModel):
    """How big the shop's catalog is."""

    products: int
    published_products: int
    variants: int
    categories: int


class StoreStatus(BaseModel):
    """Which store the shop sells from and how its mirror is doing."""

    store_kind: StoreKindName
    integration: IntegrationSummary | None
    last_sync: SyncSummary | None
    catalog: CatalogCounts


class WebhookView(BaseModel):
    """A store webhook subscription."""

    topic: str
    address: str
    active: bool


class WebhookStatus(BaseModel):
    """The store's webhooks as last checked."""

    subscriptions: list[WebhookView]
    disabled: int
    checked_at: UtcDatetime | None


class ShopSettings(BaseModel):
    """The shop's own selling settings."""

    name: str
    currency: str
    language: str
    preset: str
    tax_rate: str
    delivery_fee: Money
    payment_methods: list[str]
    pickup_address: str | None


class StoreConfig(BaseModel):
    """The store configuration (admin only). Credentials are never included."""

    store_kind: StoreKindName
    integration_id: uuid.UUID | None
    integration_name: str | None
    integration_status: str | None
    base_url: str | None
    shop_domain: str | None
    store_currency: str | None
    sync_interval_s: int | None
    webhooks: WebhookStatus | None
    shop: ShopSettings


class StoreTest(BaseModel):
    """A connection test: ``ok``, or a stable ``error`` code (never the store's message)."""

    store_kind: StoreKindName
    ok: bool
    error: str | None = None
    shop_name: str | None = None
    shop_currency: str | None = None


class Health(BaseModel):
    """Whether the shop's side of the system works."""

    status: Literal["ok", "degraded"]
    database: bool
    store_kind: StoreKindName
    integration_status: str | None
    last_successful_sync_at: UtcDatetime | None
    open_tickets: int
    sla_breached_tickets: int


class CustomerView(BaseModel):
    """A shop's customer."""

    id: uuid.UUID
    name: str | None
    phone: str | None
    email: str | None
    created_at: UtcDatetime


class OrderSummary(BaseModel):
    """An order in a list."""

    id: uuid.UUID
    number: str
    status: str
    store_status: str | None
    source: str
    fulfilment: str
    payment_method: str
    subtotal: Money
    delivery_fee: Money
    tax: Money
    total: Money
    item_count: int
    customer: CustomerView | None
    created_at: UtcDatetime


class OrderPage(BaseModel):
    """One page of orders, newest first, and how many match in all."""

    total: int
    limit: int
    offset: int
    items: list[OrderSummary]


class ProductHitView(BaseModel):
    """A search result."""

    id: uuid.UUID
    name: str
    kind: str
    min_price: Money
    max_price: Money
    available: bool
    variant_count: int


class VariantOut(BaseModel):
    """A product variant with its price and stock."""

    id: uuid.UUID
    sku: str | None
    label: str | None
    attributes: dict[str, str]
    price: Money
    regular_price: Money | None
    stock_quantity: int | None
    in_stock: bool
    available: bool


class ProductOut(BaseModel):
    """A product with its variants."""

    id: uuid.UUID
    name: str
    kind: str
    sku: str | None
    short_description: str | None
    description: str | None
    image_url: str | None
    published: bool
    available: bool
    category_id: uuid.UUID | None
    min_price: Money
    max_price: Money
    variants: list[VariantOut]


class CategoryOut(BaseModel):
    """A category holding published products (counting its descendants')."""

    id: uuid.UUID
    name: str
    path: str
    parent_id: uuid.UUID | None
    product_count: int


class TicketBrief(BaseModel):
    """A ticket in a customer's profile."""

    id: uuid.UUID
    number: str
    subject: str
    status: str
    priority: str
    created_at: UtcDatetime


class CustomerProfile(BaseModel):
    """A customer with their orders and open tickets."""

    customer: CustomerView
    order_count: int
    total_spent: list[Money]
    last_orders: list[OrderSummary]
    open_tickets: list[TicketBrief]


class DeliveryOption(BaseModel):
    """Home delivery for a flat fee."""

    available: bool
    fee: Money


class PickupOption(BaseModel):
    """Pickup at the shop's address."""

    available: bool
    address: str | None


class DeliveryOptions(BaseModel):
    """How the shop's customers get their orders."""

    delivery: DeliveryOption
    pickup: PickupOption


class PaymentMethods(BaseModel):
    """The payment methods the shop accepts at checkout."""

    methods: list[str]


class Dashboard(BaseModel):
    """The support desk at a glance. "Today" is the UTC calendar day."""

    generated_at: UtcDatetime
    tickets_by_status: dict[str, int]
    open_tickets_by_priority: dict[str, int]
    sla_breached_tickets: int
    conversations_waiting_for_human: int
    orders_today: int
    revenue_today: list[Money]


# --- helpers --------------------------------------------------------------------------------


async def _tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    return await session.get_one(Tenant, tenant_id)


async def _store_integration(session: AsyncSession, tenant_id: uuid.UUID) -> Integration | None:
    """The connected store; else one whose credentials the store refused (still the store)."""
    return await session.scalar(
        select(Integration)
        .where(
            Integration.tenant_id == tenant_id,
            Integration.status.in_(("connected", "auth_failed")),
        )
        .order_by((Integration.status == "connected").desc(), Integration.created_at.desc())
        .limit(1)
    )


def _kind(integration: Integration | None) -> StoreKindName:
    if integration is None:
        return "native"
    kinds: dict[str, StoreKindName] = {
        "shopify": "shopify",
        "woocommerce": "woocommerce",
        "custom": "custom",
    }
    return kinds.get(integration.kind, "custom")


def _summary(integration: Integration) -> IntegrationSummary:
    return IntegrationSummary(
        id=integration.id,
        kind=integration.kind,
        name=integration.name,
        status=integration.status,
        shop_domain=integration.shop_domain,
        base_url=integration.base_url,
        last_error=integration.last_error,
        webhooks_disabled=integration.webhooks_disabled,
    )


async def _last_sync(session: AsyncSession, tenant_id: uuid.UUID) -> SyncSummary | None:
    latest = await session.scalar(
        select(SyncRun)
        .where(SyncRun.tenant_id == tenant_id)
        .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
        .limit(1)
    )
    if latest is None:
        return None
    runs = list(
        await session.scalars(
            select(SyncRun)
            .where(
                SyncRun.tenant_id == tenant_id,
                SyncRun.workflow_run_id == latest.workflow_run_id,
            )
            .order_by(SyncRun.created_at, SyncRun.id)
        )
    )
    states = {r.status for r in runs}
    overall: Literal["running", "completed", "failed"] = (
        "running" if "running" in states else "failed" if "failed" in states else "completed"
    )
    finished = [r.finished_at for r in runs if r.finished_at is not None]
    return SyncSummary(
        workflow_id=latest.workflow_id,
        trigger=latest.trigger,
        mode=latest.mode,
        status=overall,
        started_at=min(r.created_at for r in runs),
        finished_at=max(finished) if overall != "running" and finished else None,
        resources=[
            SyncResourceRun(
                resource=r.resource,
                status=r.status,
                synced=r.synced,
                skipped=r.skipped,
                failed=r.failed,
                error=r.error,
                finished_at=r.finished_at,
            )
            for r in runs
        ],
    )


async def _count(session: AsyncSession, model: Any, *where: ColumnElement[bool]) -> int:
    value = await session.scalar(select(func.count()).select_from(model).where(*where))
    return int(value or 0)


def _breached(now: datetime) -> ColumnElement[bool]:
    """SQL: an open ticket whose first-response or resolution deadline has passed unmet."""
    return and_(
        Ticket.status.in_(OPEN_TICKET_STATUSES),
        or_(
            and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at < now),
            Ticket.resolution_due_at < now,
        ),
    )


def _phone(raw: str) -> str:
    e164 = to_e164(raw)
    if e164 is None:
        raise HTTPException(
            422,
            detail="not a valid phone number (E.164, e.g. +15551234567)",
        )
    return e164


async def _customer_by_phone(session: AsyncSession, tenant_id: uuid.UUID, raw: str) -> Customer:
    phone = _phone(raw)
    customer = await session.scalar(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.phone_e164 == phone)
    )
    if customer is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such customer")
    return customer


def _customer_view(customer: Customer) -> CustomerView:
    return CustomerView(
        id=customer.id,
        name=customer.name,
        phone=customer.phone_e164,
        email=customer.email,
        created_at=customer.created_at,
    )


async def _order_summaries(session: AsyncSession, orders: list[Order]) -> list[OrderSummary]:
    if not orders:
        return []
    ids = [o.id for o in orders]
    counts_rows = (
        await session.execute(
            select(OrderItem.order_id, func.coalesce(func.sum(OrderItem.quantity), 0))
            .where(OrderItem.order_id.in_(ids))
            .group_by(OrderItem.order_id)
        )
    ).all()
    counts = {row[0]: row[1] for row in counts_rows}
    customer_ids = {o.customer_id for o in orders if o.customer_id is not None}
    customers = (
        {
            c.id: c
            for c in await session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
        }
        if customer_ids
        else {}
    )
    out = []
    for o in orders:
        customer = customers.get(o.customer_id) if o.customer_id is not None else None
        out.append(
            OrderSummary(
                id=o.id,
                number=o.number,
                status=o.status,
                store_status=o.store_status,
                source=o.source,
                fulfilment=o.fulfilment,
                payment_method=o.payment_method,
                subtotal=Money.of(o.subtotal, o.currency),
                delivery_fee=Money.of(o.delivery_fee, o.currency),
                tax=Money.of(o.tax, o.currency),
                total=Money.of(o.total, o.currency),
                item_count=int(counts.get(o.id, 0)),
                customer=_customer_view(customer) if customer is not None else None,
                created_at=o.created_at,
            )
        )
    return out


def _money_list(rows: Any) -> list[Money]:
    return [Money.of(Decimal(amount), currency) for currency, amount in rows if amount is not None]


def _like(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- store ----------------------------------------------------------------------------------


@router.get("/status", responses=_ERRORS)
async def store_status(caller: AgentDep, sessions: SessionsDep) -> StoreStatus:
    """The store the shop sells from, its integration status, last sync and catalog size."""
    tid = caller.tenant_id
    async with sessions() as session:
        integration = await _store_integration(session, tid)
        catalog = CatalogCounts(
            products=await _count(session, Product, Product.tenant_id == tid),
            published_products=await _count(
                session, Product, Product.tenant_id == tid, Product.published.is_(True)
            ),
            variants=await _count(session, ProductVariant, ProductVariant.tenant_id == tid),
            categories=await _count(session, Category, Category.tenant_id == tid),
        )
        return StoreStatus(
            store_kind=_kind(integration),
            integration=_summary(integration) if integration is not None else None,
            last_sync=await _last_sync(session, tid),
            catalog=catalog,
        )


@router.get("/config", responses=_ERRORS)
async def store_config(caller: AdminDep, sessions: SessionsDep) -> StoreConfig:
    """The store configuration and the shop's selling settings (admin; no credentials)."""
    async with sessions() as session:
        tenant = await _tenant(session, caller.tenant_id)
        integration = await _store_integration(session, caller.tenant_id)
    shop = ShopSettings(
        name=tenant.name,
        currency=tenant.currency,
        language=tenant.language,
        preset=tenant.preset,
        tax_rate=format(tenant.tax_rate.normalize(), "f"),
        delivery_fee=Money.of(tenant.delivery_fee, tenant.currency),
        payment_methods=list(tenant.payment_methods),
        pickup_address=tenant.pickup_address,
    )
    if integration is None:
        return StoreConfig(
            store_kind="native",
            integration_id=None,
            integration_name=None,
            integration_status=None,
            base_url=None,
            shop_domain=None,
            store_currency=None,
            sync_interval_s=None,
            webhooks=None,
            shop=shop,
        )
    subscriptions = [
        WebhookView(
            topic=str(w.get("topic", "")),
            address=str(w.get("address", "")),
            active=bool(w.get("active", True)),
        )
        for w in integration.webhooks
    ]
    return StoreConfig(
        store_kind=_kind(integration),
        integration_id=integration.id,
        integration_name=integration.name,
        integration_status=integration.status,
        base_url=integration.base_url,
        shop_domain=integration.shop_domain,
        store_currency=integration.currency,
        sync_interval_s=integration.sync_interval_s,
        webhooks=WebhookStatus(
            subscriptions=subscriptions,
            disabled=integration.webhooks_disabled,
            checked_at=integration.webhooks_checked_at,
        ),
        shop=shop,
    )


@router.post("/config/test", responses=_ERRORS)
async def test_store(caller: AdminDep, sessions: SessionsDep, settings: SettingsDep) -> StoreTest:
    """Call the connected store now (admin): ``ok``, or the failure's stable code.

    The native store (the catalog in Tendero's own database) is always ``ok``.
    """
    async with sessions() as session:
        integration = await _store_integration(session, caller.tenant_id)
    if integration is None:
        return StoreTest(store_kind="native", ok=True)
    kind = _kind(integration)
    try:
        credentials = open_credentials(settings.keyring, integration)
    except IntegrationUnavailable as err:
        return StoreTest(store_kind=kind, ok=False, error=err.code)
    except DecryptionError:
        return StoreTest(store_kind=kind, ok=False, error="credentials_unreadable")
    timeout = httpx.Timeout(settings.store_http_timeout_s)
    async with httpx.AsyncClient(timeout=timeout) as http:
        try:
            client = build_client(integration, credentials, http=http, settings=settings)
            info = await client.shop_info()
        except StoreError as err:
            logger.info("store test of integration %s failed: %s", integration.id, err.code)
            return StoreTest(store_kind=kind, ok=False, error=err.code)
        except httpx.HTTPError:
            logger.info("store test of integration %s could not connect", integration.id)
            return StoreTest(store_kind=kind, ok=False, error="store_unavailable")
    return StoreTest(store_kind=kind, ok=True, shop_name=info.name, shop_currency=info.currency)


@router.get("/health", responses=_ERRORS)
async def health(caller: AgentDep, sessions: SessionsDep) -> Health:
    """Database reachability, store integration status, last good sync, tickets and SLA."""
    tid = caller.tenant_id
    now = datetime.now(UTC)
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
            integration = await _store_integration(session, tid)
            last_ok = await session.scalar(
                select(func.max(SyncRun.finished_at)).where(
                    SyncRun.tenant_id == tid, SyncRun.status == "completed"
                )
            )
            open_tickets = await _count(
                session, Ticket, Ticket.tenant_id == tid, Ticket.status.in_(OPEN_TICKET_STATUSES)
            )
            breached = await _count(session, Ticket, Ticket.tenant_id == tid, _breached(now))
    except SQLAlchemyError:
        logger.warning("health: the database could not be read")
        return Health(
            status="degraded",
            database=False,
            store_kind="native",
            integration_status=None,
            last_successful_sync_at=None,
            open_tickets=0,
            sla_breached_tickets=0,
        )
    store_ok = integration is None or integration.status == "connected"
    return Health(
        status="ok" if store_ok else "degraded",
        database=True,
        store_kind=_kind(integration),
        integration_status=integration.status if integration is not None else None,
        last_successful_sync_at=last_ok,
        open_tickets=open_tickets,
        sla_breached_tickets=breached,
    )


# --- orders ---------------------------------------------------------------------------------


@router.get("/orders/search", responses={**_ERRORS, **_BAD_QUERY})
async def search_orders(
    caller: AgentDep,
    sessions: SessionsDep,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=200,
            description="order number, or part of the customer's e-mail, phone or name",
        ),
    ] = None,
    order_status: Annotated[str | None, Query(alias="status", max_length=24)] = None,
    email: Annotated[
        str | None, Query(min_length=3, max_length=320, description="exact e-mail")
    ] = None,
    phone: Annotated[
        str | None, Query(min_length=3, max_length=32, description="phone, E.164")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[OrderSummary]:
    """Find orders by number or customer (e-mail, phone, name), newest first.

    At least one of ``q``, ``email`` or ``phone`` is required; ``status`` narrows.
    """
    if q is None and email is None and phone is None:
        raise HTTPException(422, detail="give at least one of q, email or phone")
    query = (
        select(Order)
        .outerjoin(
            Customer,
            and_(Customer.id == Order.customer_id, Customer.tenant_id == caller.tenant_id),
        )
        .where(Order.tenant_id == caller.tenant_id)
    )
    if q is not None:
        needle = q.strip()
        pattern = _like(needle)
        matches: list[ColumnElement[bool]] = [
            Order.number.ilike(pattern, escape="\\"),
            Customer.email.ilike(pattern, escape="\\"),
            Customer.name.ilike(pattern, escape="\\"),
        ]
        digits = "".join(ch for ch in needle if ch.isdigit())
        if len(digits) >= 4:
            matches.append(Customer.phone_e164.like(_like(digits), escape="\\"))
        query = query.where(or_(*matches))
    if email is not None:
        query = query.where(Customer.email == email.strip().lower())
    if phone is not None:
        query = query.where(Customer.phone_e164 == _phone(phone))
    if order_status is not None:
        query = query.where(Order.status == order_status)
    async with sessions() as session:
        orders = list(
            await session.scalars(
                query.order_by(Order.created_at.desc(), Order.id.desc()).limit(limit)
            )
        )
        return await _order_summaries(session, orders)


@router.get("/orders/active/{phone}", responses={**_ERRORS, **_NOT_FOUND_CUSTOMER})
async def active_orders(phone: str, caller: AgentDep, sessions: SessionsDep) -> list[OrderSummary]:
    """The customer's orders that are neither delivered nor cancelled, newest first."""
    async with sessions() as session:
        customer = await _customer_by_phone(session, caller.tenant_id, phone)
        orders = list(
            await session.scalars(
                select(Order)
                .where(
                    Order.tenant_id == caller.tenant_id,
                    Order.customer_id == customer.id,
                    Order.status.not_in(FINISHED_STATUSES),
                )
                .order_by(Order.created_at.desc(), Order.id.desc())
            )
        )
        return await _order_summaries(session, orders)


@router.get("/orders", responses={**_ERRORS, **_BAD_QUERY})
async def list_orders(
    caller: AgentDep,
    sessions: SessionsDep,
    order_status: Annotated[str | None, Query(alias="status", max_length=24)] = None,
    source: Annotated[Literal["chat", "store"] | None, Query()] = None,
    since: Annotated[
        datetime | None, Query(description="only orders placed at or after (ISO 8601)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> OrderPage:
    """The shop's orders, newest first, one page at a time, with the total count."""
    where: list[ColumnElement[bool]] = [Order.tenant_id == caller.tenant_id]
    if order_status is not None:
        where.append(Order.status == order_status)
    if source is not None:
        where.append(Order.source == source)
    if since is not None:
        where.append(Order.created_at >= _utc(since))
    async with sessions() as session:
        total = await _count(session, Order, *where)
        orders = list(
            await session.scalars(
                select(Order)
                .where(*where)
                .order_by(Order.created_at.desc(), Order.id.desc())
                .limit(limit)
                .offset(offset)
            )
        )
        items = await _order_summaries(session, orders)
    return OrderPage(total=total, limit=limit, offset=offset, items=items)


# --- catalog --------------------------------------------------------------------------------


@router.get("/products/search", responses={**_ERRORS, **_BAD_QUERY})
async def product_search(
    caller: AgentDep,
    sessions: SessionsDep,
    q: Annotated[str, Query(min_length=1, max_length=200)],
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[ProductHitView]:
    """Published products matching the words (typo tolerant), available ones first."""
    async with sessions() as session:
        tenant = await _tenant(session, caller.tenant_id)
        hits = await search_products(session, tenant_id=caller.tenant_id, query=q, limit=limit)
    return [
        ProductHitView(
            id=h.product_id,
            name=h.name,
            kind=h.kind,
            min_price=Money.of(h.min_price, tenant.currency),
            max_price=Money.of(h.max_price, tenant.currency),
            available=h.available,
            variant_count=h.variant_count,
        )
        for h in hits
    ]


@router.get("/products/{product_id}", responses={**_ERRORS, **_NOT_FOUND_PRODUCT})
async def product_detail(
    product_id: uuid.UUID, caller: AgentDep, sessions: SessionsDep
) -> ProductOut:
    """A product with its variants, prices and stock (hidden products included)."""
    async with sessions() as session:
        tenant = await _tenant(session, caller.tenant_id)
        product = await get_product(session, tenant_id=caller.tenant_id, product_id=product_id)
    if product is None or not product.variants:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such product")
    currency = tenant.currency
    return ProductOut(
        id=product.id,
        name=product.name,
        kind=product.kind,
        sku=product.sku,
        short_description=product.short_description,
        description=product.description,
        image_url=product.image_url,
        published=product.published,
        available=product.available,
        category_id=product.category_id,
        min_price=Money.of(product.min_price, currency),
        max_price=Money.of(product.max_price, currency),
        variants=[
            VariantOut(
                id=v.id,
                sku=v.sku,
                label=v.label,
                attributes=v.attributes,
                price=Money.of(v.price, currency),
                regular_price=(
                    Money.of(v.regular_price, currency) if v.regular_price is not None else None
                ),
                stock_quantity=v.stock_quantity,
                in_stock=v.in_stock,
                available=v.available,
            )
            for v in product.variants
        ],
    )


@router.get("/categories", responses=_ERRORS)
async def categories(caller: AgentDep, sessions: SessionsDep) -> list[CategoryOut]:
    """Categories holding published products, in display order."""
    async with sessions() as session:
        rows = await list_categories(session, tenant_id=caller.tenant_id)
    return [
        CategoryOut(
            id=c.id, name=c.name, path=c.path, parent_id=c.parent_id, product_count=c.product_count
        )
        for c in rows
    ]


# --- customers ------------------------------------------------------------------------------


@router.get("/customer/{phone}", responses={**_ERRORS, **_NOT_FOUND_CUSTOMER})
async def customer(phone: str, caller: AgentDep, sessions: SessionsDep) -> CustomerView:
    """The shop's customer with this phone number (any format that parses to E.164)."""
    async with sessions() as session:
        return _customer_view(await _customer_by_phone(session, caller.tenant_id, phone))


@router.get("/customer/{phone}/profile", responses={**_ERRORS, **_NOT_FOUND_CUSTOMER})
async def customer_profile(
    phone: str,
    caller: AgentDep,
    sessions: SessionsDep,
    orders: Annotated[int, Query(ge=1, le=50, description="how many recent orders")] = 5,
) -> CustomerProfile:
    """A customer with their order count, spending, latest orders and open tickets.

    ``total_spent`` sums the customer's orders per currency, cancelled ones excluded.
    """
    tid = caller.tenant_id
    async with sessions() as session:
        found = await _customer_by_phone(session, tid, phone)
        mine = and_(Order.tenant_id == tid, Order.customer_id == found.id)
        order_count = await _count(session, Order, mine)
        spent = (
            await session.execute(
                select(Order.currency, func.sum(Order.total))
                .where(mine, Order.status != "cancelled")
                .group_by(Order.currency)
                .order_by(Order.currency)
            )
        ).all()
        recent = list(
            await session.scalars(
                select(Order)
                .where(mine)
                .order_by(Order.created_at.desc(), Order.id.desc())
                .limit(orders)
            )
        )
        tickets = list(
            await session.scalars(
                select(Ticket)
                .where(
                    Ticket.tenant_id == tid,
                    Ticket.customer_id == found.id,
                    Ticket.status.in_(OPEN_TICKET_STATUSES),
                )
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            )
        )
        return CustomerProfile(
            customer=_customer_view(found),
            order_count=order_count,
            total_spent=_money_list(spent),
            last_orders=await _order_summaries(session, recent),
            open_tickets=[
                TicketBrief(
                    id=t.id,
                    number=t.number,
                    subject=t.subject,
                    status=t.status,
                    priority=t.priority,
                    created_at=t.created_at,
                )
                for t in tickets
            ],
        )


# --- shop options ---------------------------------------------------------------------------


@router.get("/delivery-options", responses=_ERRORS)
async def delivery_options(caller: AgentDep, sessions: SessionsDep) -> DeliveryOptions:
    """Delivery (flat fee) and pickup (at the shop's address, when it has one)."""
    async with sessions() as session:
        tenant = await _tenant(session, caller.tenant_id)
    return DeliveryOptions(
        delivery=DeliveryOption(available=True, fee=Money.of(tenant.delivery_fee, tenant.currency)),
        pickup=PickupOption(
            available=tenant.pickup_address is not None, address=tenant.pickup_address
        ),
    )


@router.get("/payment-methods", responses=_ERRORS)
async def payment_methods(caller: AgentDep, sessions: SessionsDep) -> PaymentMethods:
    """The payment methods the shop accepts."""
    async with sessions() as session:
        tenant = await _tenant(session, caller.tenant_id)
    return PaymentMethods(methods=list(tenant.payment_methods))


# --- dashboard ------------------------------------------------------------------------------


@router.get("/dashboard", responses=_ERRORS)
async def dashboard(caller: AgentDep, sessions: SessionsDep) -> Dashboard:
    """The support desk at a glance.

    Tickets by status, open tickets by priority, SLA breaches, conversations waiting for a
    person, and today's orders and revenue per currency (UTC day; cancelled excluded).
    """
    tid = caller.tenant_id
    now = datetime.now(UTC)
    today = datetime.combine(now.date(), time.min, tzinfo=UTC)
    async with sessions() as session:
        by_status_rows = (
            await session.execute(
                select(Ticket.status, func.count())
                .where(Ticket.tenant_id == tid)
                .group_by(Ticket.status)
            )
        ).all()
        by_status = {row[0]: row[1] for row in by_status_rows}
        by_priority_rows = (
            await session.execute(
                select(Ticket.priority, func.count())
                .where(Ticket.tenant_id == tid, Ticket.status.in_(OPEN_TICKET_STATUSES))
                .group_by(Ticket.priority)
            )
        ).all()
        by_priority = {row[0]: row[1] for row in by_priority_rows}
        breached = await _count(session, Ticket, Ticket.tenant_id == tid, _breached(now))
        waiting = await _count(
            session,
            Conversation,
            Conversation.tenant_id == tid,
            Conversation.owner == "waiting_for_human",
        )
        placed_today = and_(Order.tenant_id == tid, Order.created_at >= today)
        orders_today = await _count(session, Order, placed_today)
        revenue = (
            await session.execute(
                select(Order.currency, func.sum(Order.total))
                .where(placed_today, Order.status != "cancelled")
                .group_by(Order.currency)
                .order_by(Order.currency)
            )
        ).all()
    statuses = {s: int(by_status.get(s, 0)) for s in TICKET_STATUSES}
    statuses.update({s: int(n) for s, n in by_status.items() if s not in statuses})
    priorities = {p: int(by_priority.get(p, 0)) for p in TICKET_PRIORITIES}
    priorities.update({p: int(n) for p, n in by_priority.items() if p not in priorities})
    return Dashboard(
        generated_at=now,
        tickets_by_status=statuses,
        open_tickets_by_priority=priorities,
        sla_breached_tickets=breached,
        conversations_waiting_for_human=waiting,
        orders_today=orders_today,
        revenue_today=_money_list(revenue),
    )
