"""The store mirror against real Postgres: upserts, staleness, customer dedupe, order links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import (
    Category,
    Customer,
    Order,
    OrderEvent,
    OrderItem,
    Product,
    ProductCategory,
    ProductVariant,
)
from tendero.stores.mirror import mirror_records
from tendero.stores.records import (
    Resource,
    StoreAddress,
    StoreCategory,
    StoreCustomer,
    StoreOrder,
    StoreOrderLine,
    StoreProduct,
    StoreVariant,
)
from tests.stores.conftest import NewTenant

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _product(ext: str, name: str, at: datetime, *, price: str = "10.00") -> StoreProduct:
    return StoreProduct(
        external_id=ext,
        name=name,
        category_external_ids=["c1"],
        variants=[
            StoreVariant(
                external_id=f"{ext}-s",
                sku=f"{ext}-S",
                attributes={"Size": "S"},
                price=Decimal(price),
                stock_quantity=3,
            ),
            StoreVariant(
                external_id=f"{ext}-m",
                sku=f"{ext}-M",
                attributes={"Size": "M"},
                price=Decimal(price),
                stock_quantity=0,
                in_stock=False,
            ),
        ],
        updated_at=at,
    )


def _order(
    ext: str,
    at: datetime,
    *,
    status: str = "processing",
    customer: str | None = "u1",
    email: str | None = None,
) -> StoreOrder:
    return StoreOrder(
        external_id=ext,
        number=f"#{ext}",
        status=status,
        customer_external_id=customer,
        email=email,
        currency="USD",
        subtotal=Decimal("20.00"),
        shipping_total=Decimal("5.00"),
        total=Decimal("25.00"),
        lines=[
            StoreOrderLine(
                variant_external_id="p1-s",
                name="Tee",
                quantity=2,
                unit_price=Decimal("10.00"),
                line_total=Decimal("20.00"),
            )
        ],
        shipping_address=StoreAddress(line1="1 Main St", city="Springfield"),
        created_at=at,
        updated_at=at,
    )


async def test_products_upsert_and_stale_copy_is_ignored(
    sessionmaker: async_sessionmaker[AsyncSession], store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    async with sessionmaker() as session, session.begin():
        cats = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.CATEGORIES,
            records=[
                StoreCategory(external_id="c2", name="Tees", parent_external_id="c1"),
                StoreCategory(external_id="c1", name="Clothing"),
            ],
        )
        first = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.PRODUCTS,
            records=[_product("p1", "Tee", T0), _product("p2", "Cap", T0)],
        )
    assert (cats.synced, first.synced, first.skipped, first.failed) == (2, 2, 0, 0)
    async with sessionmaker() as session, session.begin():
        newer = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.PRODUCTS,
            records=[_product("p1", "Tee v2", T0 + timedelta(hours=1), price="12.00")],
        )
        stale = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.PRODUCTS,
            records=[_product("p1", "Tee OLD", T0 - timedelta(hours=1), price="1.00")],
        )
    assert (newer.synced, stale.synced, stale.skipped) == (1, 0, 1)
    async with sessionmaker() as session:
        names = dict(
            (
                await session.execute(
                    select(Product.external_id, Product.name).where(Product.tenant_id == tenant.id)
                )
            ).all()
        )
        prices = sorted(
            (
                await session.execute(
                    select(ProductVariant.external_id, ProductVariant.price).where(
                        ProductVariant.tenant_id == tenant.id
                    )
                )
            ).all()
        )
        paths = sorted(
            (
                await session.execute(select(Category.path).where(Category.tenant_id == tenant.id))
            ).scalars()
        )
        links = await session.scalar(
            select(func.count())
            .select_from(ProductCategory)
            .join(Product)
            .where(Product.tenant_id == tenant.id)
        )
    assert names == {"p1": "Tee v2", "p2": "Cap"}
    assert prices == [
        ("p1-m", Decimal("12.000")),
        ("p1-s", Decimal("12.000")),
        ("p2-m", Decimal("10.000")),
        ("p2-s", Decimal("10.000")),
    ]
    assert paths == ["Clothing", "Clothing > Tees"]
    assert links == 2


async def test_customers_dedupe_by_external_id_then_email_then_phone(
    sessionmaker: async_sessionmaker[AsyncSession], store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    async with sessionmaker() as session, session.begin():
        session.add(Customer(tenant_id=tenant.id, phone_e164="+15551230001", name="From WhatsApp"))
        session.add(Customer(tenant_id=tenant.id, email="ana@example.com"))
    async with sessionmaker() as session, session.begin():
        result = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.CUSTOMERS,
            records=[
                StoreCustomer(external_id="u1", phone="+1 555 123 0001", name="Bob", updated_at=T0),
                StoreCustomer(external_id="u2", email="ANA@example.com", updated_at=T0),
                StoreCustomer(
                    external_id="u3", email="new@example.com", phone="+15551230001", updated_at=T0
                ),
            ],
        )
        again = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.CUSTOMERS,
            records=[
                StoreCustomer(external_id="u1", phone="+15551230001", name="Bob", updated_at=T0),
            ],
        )
    assert (result.synced, result.failed, again.synced, again.skipped) == (3, 0, 0, 1)
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(Customer.external_id, Customer.email, Customer.phone_e164, Customer.name)
                .where(Customer.tenant_id == tenant.id)
                .order_by(Customer.external_id)
            )
        ).all()
    # u1 took over the WhatsApp customer (same phone); u2 the e-mail one; u3 is new and
    # cannot take the phone that already belongs to u1.
    assert [tuple(r) for r in rows] == [
        ("u1", None, "+15551230001", "Bob"),
        ("u2", "ana@example.com", None, None),
        ("u3", "new@example.com", None, None),
    ]


async def test_orders_link_customers_replace_items_and_record_status_changes(
    sessionmaker: async_sessionmaker[AsyncSession], store_tenant: NewTenant
) -> None:
    tenant = await store_tenant()
    async with sessionmaker() as session, session.begin():
        await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.PRODUCTS,
            records=[_product("p1", "Tee", T0)],
        )
        first = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.ORDERS,
            records=[
                _order("o1", T0),
                _order("o2", T0, customer=None, email="guest@example.com"),
            ],
        )
    async with sessionmaker() as session, session.begin():
        later = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.ORDERS,
            records=[_order("o1", T0 + timedelta(hours=2), status="completed")],
        )
        stale = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.ORDERS,
            records=[_order("o1", T0 + timedelta(hours=1), status="processing")],
        )
        customers = await mirror_records(
            session,
            tenant_id=tenant.id,
            resource=Resource.CUSTOMERS,
            records=[
                StoreCustomer(external_id="u1", email="u1@example.com", name="U One", updated_at=T0)
            ],
        )
    assert (first.synced, later.synced, stale.skipped, customers.synced) == (2, 1, 1, 1)
    async with sessionmaker() as session:
        orders = {
            r.external_id: r
            for r in (
                await session.execute(select(Order).where(Order.tenant_id == tenant.id))
            ).scalars()
        }
        people = {
            c.id: c
            for c in (
                await session.execute(select(Customer).where(Customer.tenant_id == tenant.id))
            ).scalars()
        }
        items = (
            await session.execute(
                select(
                    OrderItem.order_id, OrderItem.quantity, OrderItem.variant_id.is_not(None)
                ).where(OrderItem.tenant_id == tenant.id)
            )
        ).all()
        events = (
            (
                await session.execute(
                    select(OrderEvent.kind)
                    .where(OrderEvent.order_id == orders["o1"].id)
                    .order_by(OrderEvent.created_at)
                )
            )
            .scalars()
            .all()
        )
    assert orders["o1"].status == "delivered" and orders["o1"].store_status == "completed"
    assert orders["o2"].status == "preparing" and orders["o1"].number == "#o1"
    first, guest = orders["o1"].customer_id, orders["o2"].customer_id
    assert first is not None and guest is not None
    assert (people[first].external_id, people[first].email) == ("u1", "u1@example.com")
    assert people[guest].email == "guest@example.com"
    assert len(people) == 2
    assert sorted((q, linked) for _, q, linked in items) == [(2, True), (2, True)]
    assert list(events) == ["placed", "status"]
