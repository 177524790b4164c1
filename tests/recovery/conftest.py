"""Cart-recovery fixtures: a time-skipping Temporal server and customers with carts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.consent import record_consent
from tendero.db.models import CartRecovery, Conversation, Customer, Order
from tendero.db.repos import carts as carts_repo
from tests.shop import Shop


@dataclass
class Buyer:
    """A customer of a test shop, with a conversation and (maybe) an e-mail."""

    shop: Shop
    customer_id: uuid.UUID
    conversation_id: uuid.UUID
    digits: str
    email: str | None


async def new_buyer(
    sessions: async_sessionmaker[AsyncSession],
    shop: Shop,
    *,
    email: str | None = "ana@example.com",
    consent: bool | None = True,
    external_id: str | None = None,
    wrote_at: datetime | None = None,
) -> Buyer:
    """A customer who wrote just now (the WhatsApp window is open); consent as asked."""
    digits = f"1415555{uuid.uuid4().int % 10000:04d}"
    async with sessions() as session, session.begin():
        customer = Customer(
            tenant_id=shop.tenant_id,
            phone_e164="+" + digits,
            name="Ana",
            email=email,
            external_id=external_id,
        )
        session.add(customer)
        await session.flush()
        conversation = Conversation(
            tenant_id=shop.tenant_id,
            customer_id=customer.id,
            channel="whatsapp",
            workflow_id=f"conversation:{shop.tenant_id}:whatsapp:{customer.id}",
            last_inbound_at=wrote_at or datetime.now(UTC),
            language="en",
        )
        session.add(conversation)
        await session.flush()
        if consent is not None:
            await record_consent(
                session,
                tenant_id=shop.tenant_id,
                customer_id=customer.id,
                granted=consent,
                source="api",
            )
    return Buyer(shop, customer.id, conversation.id, digits, email)


async def set_quantity(
    sessions: async_sessionmaker[AsyncSession], buyer: Buyer, sku: str, quantity: int
) -> uuid.UUID:
    """Set a line of the buyer's open cart (as the guided engine does); the cart id."""
    variant = await buyer.shop.variant(sessions, sku)
    async with sessions() as session, session.begin():
        cart = await carts_repo.get_or_create_open_cart(
            session, tenant_id=buyer.shop.tenant_id, customer_id=buyer.customer_id
        )
        await carts_repo.set_item_quantity(
            session, cart=cart, variant_id=variant.id, quantity=quantity
        )
        return cart.id


async def clear(sessions: async_sessionmaker[AsyncSession], buyer: Buyer) -> None:
    async with sessions() as session, session.begin():
        cart = await carts_repo.get_open_cart(
            session, tenant_id=buyer.shop.tenant_id, customer_id=buyer.customer_id, lock=True
        )
        assert cart is not None
        await carts_repo.clear_cart(session, cart=cart)


async def recovery_row(
    sessions: async_sessionmaker[AsyncSession], cart_id: uuid.UUID
) -> CartRecovery | None:
    async with sessions() as session:
        return (
            await session.execute(select(CartRecovery).where(CartRecovery.cart_id == cart_id))
        ).scalar_one_or_none()


async def until(check: Callable[[], Any], *, timeout_s: float = 15.0) -> Any:
    """Poll an async check until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def store_order(
    sessions: async_sessionmaker[AsyncSession], buyer: Buyer, *, source: str = "store"
) -> uuid.UUID:
    """An order of the buyer placed elsewhere (a store order copied by the sync)."""
    async with sessions() as session, session.begin():
        order = Order(
            tenant_id=buyer.shop.tenant_id,
            customer_id=buyer.customer_id,
            number=f"#{uuid.uuid4().int % 10**6}",
            idempotency_key=f"store:{uuid.uuid4()}",
            status="confirmed",
            fulfilment="delivery",
            payment_method="card",
            currency="USD",
            subtotal=Decimal("10.00"),
            delivery_fee=Decimal("0"),
            tax=Decimal("0"),
            total=Decimal("10.00"),
            tax_rate=Decimal("0"),
            source=source,
            external_id=str(uuid.uuid4().int % 10**9),
        )
        session.add(order)
        await session.flush()
        return order.id
