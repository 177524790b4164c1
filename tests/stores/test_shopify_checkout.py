"""A customer orders in chat from a shop whose store is Shopify: one order, in Shopify."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tendero.catalog.parsed import ParsedCatalog
from tendero.db.models import Order, OrderItem, Product, ProductVariant
from tendero.domain.ids import sync_workflow_id
from tendero.domain.sync import SyncInput, SyncMode, SyncResult
from tendero.stores.integrations import connect
from tendero.stores.records import Resource
from tests.fakes.shopify_server import FakeShopify
from tests.flows.conftest import new_digits
from tests.harness import Customer, Stack, body_text, reach_summary, running_stack
from tests.shop import make_shop
from workflows.store_sync import StoreSyncWorkflow


@pytest.fixture
async def shopify() -> AsyncIterator[FakeShopify]:
    async with FakeShopify(bulk_polls_running=1) as shop:
        shop.generate(products=3)
        yield shop


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    shopify: FakeShopify,
) -> AsyncIterator[Stack]:
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        shopify_base_url_template=shopify.url,
        shopify_client_id=shopify.client_id,
        shopify_client_secret=shopify.client_secret,
    ) as running:
        yield running


async def test_an_order_confirmed_in_chat_is_created_once_in_shopify(
    stack: Stack, shopify: FakeShopify
) -> None:
    shop = await make_shop(stack.sessions, catalog=ParsedCatalog(categories=(), products=()))
    async with stack.sessions() as session, session.begin():
        integration = await connect(
            session,
            stack.settings.keyring,
            tenant_id=shop.tenant_id,
            kind="shopify",
            name="Shopify",
            credentials=shopify.credentials(),
            shop_domain=shopify.shop_domain,
        )
    synced = await stack.client.execute_workflow(
        StoreSyncWorkflow.run,
        SyncInput(
            integration_id=integration.id,
            tenant_id=shop.tenant_id,
            resource=Resource.PRODUCTS,
            mode=SyncMode.FULL,
            trigger="test",
        ),
        id=sync_workflow_id(integration.id, "products") + f":{uuid.uuid4().hex[:6]}",
        task_queue=stack.settings.temporal_task_queue,
        result_type=SyncResult,
    )
    assert [(p.status, p.counts.synced) for p in synced.resources] == [("completed", 3)]
    async with stack.sessions() as session:
        variant = (
            await session.execute(
                select(ProductVariant)
                .join(Product)
                .where(
                    Product.tenant_id == shop.tenant_id,
                    ProductVariant.in_stock.is_(True),
                    or_(
                        ProductVariant.stock_quantity.is_(None),
                        ProductVariant.stock_quantity >= 2,
                    ),
                )
                .order_by(ProductVariant.external_id)
                .limit(1)
            )
        ).scalar_one()

    customer = Customer(stack, shop.phone_number_id, new_digits())
    await reach_summary(customer, [(str(variant.id), 2)])
    (placed,) = await customer.text("CONFIRM")
    await customer.text("CONFIRM")

    assert len(shopify.orders_created) == 1
    created = shopify.orders_created[0]
    async with stack.sessions() as session:
        orders = (
            (await session.execute(select(Order).where(Order.tenant_id == shop.tenant_id)))
            .scalars()
            .all()
        )
        items = (
            (await session.execute(select(OrderItem).where(OrderItem.order_id == orders[0].id)))
            .scalars()
            .all()
        )
    assert [(o.source, o.external_id, o.number) for o in orders] == [
        ("chat", str(created.id), created.name)
    ]
    assert f"Order *{created.name}* placed" in body_text(placed)
    assert [(i.variant_id, i.quantity) for i in items] == [(variant.id, 2)]
    assert [line.quantity for line in created.lines] == [2]
    assert len(shopify.orders_created) == 1  # the second CONFIRM created nothing
    assert shopify.violations == []
