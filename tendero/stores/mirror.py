"""The one write path from a connected store into our tables: :func:`mirror_records`.

The sync (pages), the store webhooks (one record) and the checkout (the order it created)
all end here, so they share the same rules:

- every row is keyed by ``(tenant_id, external_id)`` and written with a batched
  ``INSERT ... ON CONFLICT DO UPDATE``, never a row-by-row ORM loop;
- an update only lands when the record is at least as new as what we hold
  (``excluded.external_updated_at > table.external_updated_at``), so a stale webhook
  redelivery or an overlapping sync window never overwrites newer data (notes/store-apis.md §4),
  and one with the very same stamp is the same version: skipped;
- customers are matched by external id, then by e-mail or phone to a customer the store did
  not create (one who wrote on WhatsApp first), so one person is one row;
- orders are linked to their customer, creating it from the order when the customer list
  has not reached it yet (or the store has no customer list: the custom backend).

A record that cannot be written is reported in ``MirrorResult.errors`` (id and a code,
never its data) and the rest of the page is still written.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import all_, any_, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.agent.presets import get_preset
from tendero.catalog.search import invalidate_vocabulary
from tendero.db.models import (
    Category,
    Customer,
    Order,
    OrderEvent,
    OrderItem,
    Product,
    ProductCategory,
    ProductVariant,
    Tenant,
)
from tendero.db.sql import chunks, inserted_flag, text_array, uuid_array
from tendero.domain.phone import to_e164
from tendero.stores.records import (
    Resource,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreProduct,
    StoreRecord,
)

MAX_ERRORS = 50
_R = TypeVar("_R", StoreProduct, StoreCustomer, StoreOrder)
_PATH_SEPARATOR = " > "


class RecordError(BaseModel):
    """A record that was not written: its store id and a stable code."""

    external_id: str
    code: str
    message: str


class MirrorResult(BaseModel):
    """What one call wrote.

    Attributes:
        synced: records inserted or updated.
        skipped: records older than what we hold (stale), left alone.
        failed: records that could not be written (see ``errors``).
        max_updated_at: the newest ``updated_at`` among the records, for the high-water mark.
    """

    synced: int = 0
    skipped: int = 0
    failed: int = 0
    errors: list[RecordError] = []
    max_updated_at: datetime | None = None

    def add(self, other: MirrorResult) -> None:
        """Fold ``other``'s counts into this one (errors capped at ``MAX_ERRORS``)."""
        self.synced += other.synced
        self.skipped += other.skipped
        self.failed += other.failed
        self.errors = (self.errors + other.errors)[:MAX_ERRORS]
        if other.max_updated_at and (
            self.max_updated_at is None or other.max_updated_at > self.max_updated_at
        ):
            self.max_updated_at = other.max_updated_at


async def mirror_records(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    resource: Resource,
    records: Sequence[StoreRecord],
) -> MirrorResult:
    """Write one page of store records of ``resource``; the caller commits.

    Args:
        session: an open session (its transaction is the page's).
        tenant_id: the shop the store belongs to.
        resource: what ``records`` are.
        records: records of that resource, any order.

    Returns:
        Counts, the record errors and the newest ``updated_at`` seen.
    """
    result = MirrorResult()
    if not records:
        return result
    stamps = [r.updated_at for r in records if r.updated_at is not None]
    result.max_updated_at = max(stamps) if stamps else None
    if resource is Resource.CATEGORIES:
        cats = [r for r in records if isinstance(r, StoreCategory)]
        await _mirror_categories(session, tenant_id, cats, result)
    elif resource is Resource.PRODUCTS:
        products = [r for r in records if isinstance(r, StoreProduct)]
        await _isolated(
            session,
            products,
            result,
            lambda chunk, res: _mirror_products(session, tenant_id, chunk, res),
        )
        invalidate_vocabulary(tenant_id)
    elif resource is Resource.CUSTOMERS:
        customers = [r for r in records if isinstance(r, StoreCustomer)]
        await _isolated(
            session,
            customers,
            result,
            lambda chunk, res: _mirror_customers(session, tenant_id, chunk, res),
        )
    else:
        orders = [r for r in records if isinstance(r, StoreOrder)]
        await _isolated(
            session,
            orders,
            result,
            lambda chunk, res: _mirror_orders(session, tenant_id, chunk, res),
        )
    return result


async def _isolated(
    session: AsyncSession,
    records: Sequence[_R],
    result: MirrorResult,
    write: Callable[[Sequence[_R], MirrorResult], Awaitable[None]],
) -> None:
    """Write ``records`` in one batch; if the database refuses the batch, find the culprits.

    The batch runs in a savepoint; on a database error each record is retried alone in its
    own savepoint, so one bad record costs a slower page, not the page.
    """
    for chunk in chunks(records):
        part = MirrorResult()
        try:
            async with session.begin_nested():
                await write(chunk, part)
        except DBAPIError:
            part = MirrorResult()
            for record in chunk:
                single = MirrorResult()
                try:
                    async with session.begin_nested():
                        await write([record], single)
                except DBAPIError as err:
                    single = MirrorResult(failed=1)
                    single.errors.append(
                        RecordError(
                            external_id=record.external_id,
                            code=type(err.orig).__name__ if err.orig else "database_error",
                            message="the database refused the record",
                        )
                    )
                part.add(single)
        part.max_updated_at = None
        result.add(part)


# --- categories -----------------------------------------------------------------------


async def _mirror_categories(
    session: AsyncSession, tenant_id: uuid.UUID, records: list[StoreCategory], result: MirrorResult
) -> None:
    # Categories are few (hundreds); their paths depend on their parents, so they are
    # written parents first, one level of the page at a time.
    known = {
        row.external_id: (row.id, row.path)
        for row in (
            await session.execute(
                select(Category.external_id, Category.id, Category.path).where(
                    Category.tenant_id == tenant_id, Category.external_id.is_not(None)
                )
            )
        ).all()
    }
    taken = {
        row.path: row.external_id
        for row in (
            await session.execute(
                select(Category.path, Category.external_id).where(Category.tenant_id == tenant_id)
            )
        ).all()
    }
    pending = {r.external_id: r for r in records}
    while pending:
        ready = [
            r
            for r in pending.values()
            if r.parent_external_id is None
            or r.parent_external_id in known
            or r.parent_external_id not in pending
        ]
        if not ready:  # a cycle in the store's data: write the rest as top-level
            ready = list(pending.values())
        rows = []
        for r in ready:
            parent = known.get(r.parent_external_id) if r.parent_external_id else None
            name = r.name.strip()[:200] or r.external_id
            path = (parent[1] + _PATH_SEPARATOR + name) if parent else name
            owner = taken.get(path, r.external_id)
            if owner != r.external_id:
                path = f"{path} ({r.external_id})"  # same name twice under one parent
            taken[path] = r.external_id
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant_id,
                    "external_id": r.external_id,
                    "parent_id": parent[0] if parent else None,
                    "name": name,
                    "path": path[:600],
                }
            )
        stmt = insert(Category).values(rows)
        upsert = stmt.on_conflict_do_update(
            index_elements=["tenant_id", "external_id"],
            set_={
                "name": stmt.excluded.name,
                "parent_id": stmt.excluded.parent_id,
                "path": stmt.excluded.path,
            },
        ).returning(Category.id, Category.external_id, Category.path)
        for row in (await session.execute(upsert)).all():
            known[row.external_id] = (row.id, row.path)
            result.synced += 1
        for r in ready:
            pending.pop(r.external_id)


# --- products -------------------------------------------------------------------------


async def _mirror_products(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    records: Sequence[StoreProduct],
    result: MirrorResult,
) -> None:
    newest = _newest(records)
    product_rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "external_id": p.external_id,
            "kind": "variable" if any(v.attributes for v in p.variants) else "simple",
            "name": p.name[:300],
            "short_description": p.short_description,
            "description": p.description,
            "sku": (p.variants[0].sku if len(p.variants) == 1 else None),
            "image_url": p.image_url,
            "published": p.published,
            "external_updated_at": p.updated_at,
        }
        for p in newest
    ]
    stmt = insert(Product)
    columns = ("kind", "name", "short_description", "description", "sku", "image_url", "published")
    upsert = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "external_id"],
        set_={
            **{c: stmt.excluded[c] for c in columns},
            "external_updated_at": stmt.excluded.external_updated_at,
        },
        where=_newer(Product.__table__, stmt),
    ).returning(Product.id, Product.external_id)
    written = {
        row.external_id: row.id for row in (await session.execute(upsert, product_rows)).all()
    }
    result.synced += len(written)
    result.skipped += len(records) - len(written)
    if not written:
        return
    fresh = [p for p in newest if p.external_id in written]
    variant_rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "product_id": written[p.external_id],
            "external_id": v.external_id,
            "sku": v.sku,
            "attributes": v.attributes,
            "price": v.price,
            "regular_price": v.regular_price,
            "stock_quantity": v.stock_quantity,
            "in_stock": v.in_stock,
            "position": position,
        }
        for p in fresh
        for position, v in enumerate(p.variants)
    ]
    for chunk in chunks(variant_rows):
        vstmt = insert(ProductVariant)
        names = (
            "product_id",
            "sku",
            "attributes",
            "price",
            "regular_price",
            "stock_quantity",
            "in_stock",
            "position",
        )
        await session.execute(
            vstmt.on_conflict_do_update(
                index_elements=["tenant_id", "external_id"],
                set_={n: vstmt.excluded[n] for n in names},
            ),
            list(chunk),
        )
    keep = [v.external_id for p in fresh for v in p.variants]
    await session.execute(
        delete(ProductVariant).where(
            ProductVariant.tenant_id == tenant_id,
            ProductVariant.product_id == any_(uuid_array(written.values())),
            ProductVariant.external_id != all_(text_array(keep)),
        )
    )
    await session.execute(
        delete(ProductCategory).where(
            ProductCategory.product_id == any_(uuid_array(written.values()))
        )
    )
    wanted = {c for p in fresh for c in p.category_external_ids}
    category_ids = await _ids_by_external(session, Category, tenant_id, wanted)
    links = [
        {"product_id": written[p.external_id], "category_id": category_ids[c]}
        for p in fresh
        for c in dict.fromkeys(p.category_external_ids)
        if c in category_ids
    ]
    for chunk in chunks(links):
        await session.execute(insert(ProductCategory).values(list(chunk)).on_conflict_do_nothing())


# --- customers ------------------------------------------------------------------------


@dataclass
class _Person:
    """A customer to write: from the store's customer list, or taken from an order."""

    external_id: str | None
    email: str | None
    phone: str | None
    name: str | None
    updated_at: datetime | None
    id: uuid.UUID | None = None
    new: bool = field(default=False)


def _email(raw: str | None) -> str | None:
    value = (raw or "").strip().lower()
    return value if value and "@" in value and len(value) <= 320 else None


def _phone(raw: str | None) -> str | None:
    return to_e164(raw) if raw and raw.strip() else None


async def _mirror_customers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    records: Sequence[StoreCustomer],
    result: MirrorResult,
) -> None:
    people = [
        _Person(r.external_id, _email(r.email), _phone(r.phone), (r.name or None), r.updated_at)
        for r in _newest(records)
    ]
    written = await _write_people(session, tenant_id, people)
    result.synced += written
    result.skipped += len(records) - written


async def _write_people(session: AsyncSession, tenant_id: uuid.UUID, people: list[_Person]) -> int:
    """Match ``people`` to customer rows, then insert or update them in one statement.

    Matching: by external id; else (store customers) by e-mail or phone among customers the
    store did not create, or (people taken from orders without a customer id) among all.
    A phone that already belongs to another customer is not moved (phones are unique per
    tenant): the record keeps its other fields. Returns the rows written.
    """
    if not people:
        return 0
    ext_ids = [p.external_id for p in people if p.external_id]
    by_ext = await _ids_by_external(session, Customer, tenant_id, ext_ids)
    emails = [p.email for p in people if p.email]
    phones = [p.phone for p in people if p.phone]
    by_email: dict[str, tuple[uuid.UUID, str | None]] = {}
    by_phone: dict[str, tuple[uuid.UUID, str | None]] = {}
    if emails or phones:
        rows = (
            await session.execute(
                select(
                    Customer.id, Customer.email, Customer.phone_e164, Customer.external_id
                ).where(
                    Customer.tenant_id == tenant_id,
                    or_(
                        Customer.email == any_(text_array(emails)),
                        Customer.phone_e164 == any_(text_array(phones)),
                    ),
                )
            )
        ).all()
        for row in rows:
            if row.email:
                by_email.setdefault(row.email, (row.id, row.external_id))
            if row.phone_e164:
                by_phone[row.phone_e164] = (row.id, row.external_id)
    chosen: dict[uuid.UUID, _Person] = {}
    phone_owner: dict[str, uuid.UUID] = {k: v[0] for k, v in by_phone.items()}
    for person in people:
        match: uuid.UUID | None = by_ext.get(person.external_id) if person.external_id else None
        if match is None:
            for key, index in ((person.email, by_email), (person.phone, by_phone)):
                if key and key in index:
                    candidate, candidate_ext = index[key]
                    # A store customer never takes over another store customer's row.
                    if person.external_id is None or candidate_ext is None:
                        match = candidate
                        break
        if match is None:
            match = uuid.uuid4()
            person.new = True
            if person.external_id:
                by_ext[person.external_id] = match
        person.id = match
        if person.phone:
            owner = phone_owner.setdefault(person.phone, match)
            if owner != match:
                person.phone = None
        # Later records of the page see this row as claimed by this store customer.
        claimed = person.external_id or (chosen[match].external_id if match in chosen else None)
        if person.email:
            by_email[person.email] = (match, claimed)
        if person.phone:
            by_phone[person.phone] = (match, claimed)
        chosen[match] = _merge(chosen.get(match), person)
    values = [
        {
            "id": p.id,
            "tenant_id": tenant_id,
            "external_id": p.external_id,
            "email": p.email,
            "phone_e164": p.phone,
            "name": (p.name or "")[:200] or None,
            "external_updated_at": p.updated_at,
        }
        for p in chosen.values()
    ]
    stmt = insert(Customer)
    table = Customer.__table__
    upsert = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "external_id": func.coalesce(table.c.external_id, stmt.excluded.external_id),
            "email": func.coalesce(stmt.excluded.email, table.c.email),
            "phone_e164": func.coalesce(stmt.excluded.phone_e164, table.c.phone_e164),
            "name": func.coalesce(stmt.excluded.name, table.c.name),
            "external_updated_at": func.greatest(
                stmt.excluded.external_updated_at, table.c.external_updated_at
            ),
        },
        where=_newer(table, stmt),
    ).returning(Customer.id)
    # executemany ("insertmanyvalues"): one cached statement, not a new compile per page.
    return len((await session.execute(upsert, values)).all())


def _merge(previous: _Person | None, person: _Person) -> _Person:
    """Two records of one page for the same customer: the later one wins, gaps filled."""
    if previous is None:
        return person
    return _Person(
        external_id=person.external_id or previous.external_id,
        email=person.email or previous.email,
        phone=person.phone or previous.phone,
        name=person.name or previous.name,
        updated_at=max((t for t in (person.updated_at, previous.updated_at) if t), default=None),
        id=person.id,
        new=person.new and previous.new,
    )


# --- orders ---------------------------------------------------------------------------

_STATUS_MAP = {
    "pending": "pending",
    "on-hold": "pending",
    "checkout-draft": "pending",
    "processing": "preparing",
    "in_progress": "preparing",
    "preparing": "preparing",
    "fulfilled": "shipped",
    "partially_fulfilled": "shipped",
    "shipped": "shipped",
    "in_transit": "shipped",
    "ready_for_pickup": "ready_for_pickup",
    "completed": "delivered",
    "delivered": "delivered",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "refunded": "cancelled",
    "failed": "cancelled",
    "voided": "cancelled",
    "trash": "cancelled",
}


def local_status(record: StoreOrder) -> str:
    """Our status vocabulary for a store order (``tendero.db.models.Order``).

    Stores use their own words (WooCommerce ``processing``, Shopify fulfilment states,
    plugin statuses); unknown words count as ``confirmed``, or ``delivered`` once the
    store says the order is finished.
    """
    mapped = _STATUS_MAP.get(record.status.strip().lower().replace(" ", "_"))
    if mapped is None:
        return "delivered" if record.finished else "confirmed"
    return mapped


async def _mirror_orders(
    session: AsyncSession, tenant_id: uuid.UUID, records: Sequence[StoreOrder], result: MirrorResult
) -> None:
    newest = _newest(records)
    tenant = await session.get_one(Tenant, tenant_id)
    people = [
        _Person(o.customer_external_id, _email(o.email), _phone(o.phone), o.customer_name, None)
        for o in newest
    ]
    await _link_people(session, tenant_id, people)
    # An order we created in chat whose store id never reached us (a crash between the store
    # answering and our write) is recognised by its idempotency key and adopted.
    keys = [o.idempotency_key for o in newest if o.idempotency_key]
    if keys:
        for o in newest:
            if o.idempotency_key:
                await session.execute(
                    update(Order)
                    .where(
                        Order.tenant_id == tenant_id,
                        Order.idempotency_key == o.idempotency_key,
                        Order.external_id.is_(None),
                    )
                    .values(external_id=o.external_id)
                )
    ext_ids = [o.external_id for o in newest]
    before = {
        row.external_id: row.status
        for row in (
            await session.execute(
                select(Order.external_id, Order.status).where(
                    Order.tenant_id == tenant_id, Order.external_id == any_(text_array(ext_ids))
                )
            )
        ).all()
    }
    business_type = get_preset(tenant.preset).name
    rows = []
    for o, person in zip(newest, people, strict=True):
        rows.append(
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "customer_id": person.id,
                "number": o.number[:32],
                "idempotency_key": o.idempotency_key or f"store:{o.external_id}",
                "status": local_status(o),
                "business_type": business_type,
                "fulfilment": "delivery" if o.shipping_address else "pickup",
                "address": o.shipping_address.model_dump(mode="json", exclude_none=True)
                if o.shipping_address
                else None,
                "payment_method": "store",
                "currency": o.currency,
                "subtotal": o.subtotal,
                "delivery_fee": o.shipping_total,
                "tax": o.tax_total,
                "total": o.total,
                "tax_rate": Decimal("0"),
                "source": "store",
                "external_id": o.external_id,
                "store_status": o.status[:32],
                "external_updated_at": o.updated_at,
                "created_at": o.created_at,
            }
        )
    stmt = insert(Order)
    table = Order.__table__
    upsert = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "external_id"],
        set_={
            "customer_id": func.coalesce(table.c.customer_id, stmt.excluded.customer_id),
            "status": stmt.excluded.status,
            "store_status": stmt.excluded.store_status,
            "address": func.coalesce(stmt.excluded.address, table.c.address),
            "subtotal": stmt.excluded.subtotal,
            "delivery_fee": stmt.excluded.delivery_fee,
            "tax": stmt.excluded.tax,
            "total": stmt.excluded.total,
            "external_updated_at": stmt.excluded.external_updated_at,
        },
        where=_newer(table, stmt),
    ).returning(Order.id, Order.external_id, Order.source, Order.status, inserted_flag())
    written = (await session.execute(upsert, rows)).all()
    result.synced += len(written)
    result.skipped += len(records) - len(written)
    if not written:
        return
    by_ext = {o.external_id: o for o in newest}
    store_orders = {row.external_id: row.id for row in written if row.source == "store"}
    if store_orders:
        await session.execute(
            delete(OrderItem).where(OrderItem.order_id == any_(uuid_array(store_orders.values())))
        )
        variant_ext = {
            line.variant_external_id
            for ext in store_orders
            for line in by_ext[ext].lines
            if line.variant_external_id
        }
        variants = await _ids_by_external(session, ProductVariant, tenant_id, variant_ext)
        items = [
            {
                "id": uuid.uuid4(),
                "tenant_id": tenant_id,
                "order_id": order_id,
                "variant_id": variants.get(line.variant_external_id or ""),
                "product_name": line.name[:300],
                "variant_label": None,
                "sku": line.sku,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "line_total": line.line_total,
            }
            for ext, order_id in store_orders.items()
            for line in by_ext[ext].lines
        ]
        for chunk in chunks(items):
            await session.execute(insert(OrderItem), list(chunk))
    events = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "order_id": row.id,
            "kind": "placed" if row.inserted else "status",
            "note": f"Store status: {by_ext[row.external_id].status}"[:500],
        }
        for row in written
        if row.inserted
        and row.source == "store"
        or before.get(row.external_id, row.status) != row.status
    ]
    if events:
        await session.execute(insert(OrderEvent).values(events))


async def _link_people(session: AsyncSession, tenant_id: uuid.UUID, people: list[_Person]) -> None:
    """Set ``id`` on each order's person: an existing customer, or one created for it.

    Customers taken from orders carry no ``updated_at``: they only fill gaps, and the store's
    customer list, when it arrives, overwrites them.
    """
    identified = [p for p in people if p.external_id or p.email or p.phone]
    if not identified:
        return
    await _write_people(session, tenant_id, identified)


# --- shared ---------------------------------------------------------------------------


async def _ids_by_external(
    session: AsyncSession,
    model: type[Category] | type[ProductVariant] | type[Customer],
    tenant_id: uuid.UUID,
    external_ids: Iterable[str],
) -> dict[str, uuid.UUID]:
    """Our ids of the tenant's rows with these store ids, by store id."""
    wanted = list(external_ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(model.external_id, model.id).where(
            model.tenant_id == tenant_id, model.external_id == any_(text_array(wanted))
        )
    )
    return {row[0]: row[1] for row in rows.all() if row[0] is not None}


def _newest(records: Sequence[_R]) -> list[_R]:
    """One record per external id (the newest): a page or a webhook batch may repeat one."""
    best: dict[str, _R] = {}
    for record in records:
        current = best.get(record.external_id)
        if current is None or record.updated_at >= current.updated_at:
            best[record.external_id] = record
    return list(best.values())


def _newer(table: Any, stmt: Any) -> Any:
    # Equal stamps are the same version of the record (a redelivery, or the overlap window
    # of an incremental sync): skipped, so counts say what actually changed.
    return or_(
        table.c.external_updated_at.is_(None),
        stmt.excluded.external_updated_at > table.c.external_updated_at,
    )
