"""Shared pieces of the assistant tests: a pasta shop, seeded orders, reading the script."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from tendero.catalog.parsed import ParsedCatalog, ParsedCategory, ParsedProduct, ParsedVariant
from tendero.db.models import AgentStep, Customer, Order, OrderEvent, OrderItem, Tenant
from tests.fakes.model_server import ScriptedModel, Step, call
from tests.harness import Customer as ChatCustomer
from tests.harness import Stack, running_stack
from tests.shop import Shop, make_shop

MODEL_NAME = "scripted-model"
PASTA = "I want 2 packs of spaghetti for delivery to 123 Main Street, cash"


def pasta_catalog() -> ParsedCatalog:
    """A small grocery: spaghetti packs, penne, sauce, and an out-of-stock item."""

    def simple(ext: str, name: str, price: str, stock: int) -> ParsedProduct:
        return ParsedProduct(
            external_id=ext,
            kind="simple",
            name=name,
            sku=ext,
            category_paths=("Pasta",),
            short_description=f"{name}, imported.",
            variants=(
                ParsedVariant(
                    external_id=f"{ext}-v",
                    sku=ext,
                    price=Decimal(price),
                    stock_quantity=stock,
                    in_stock=stock > 0,
                ),
            ),
        )

    return ParsedCatalog(
        categories=(ParsedCategory(path="Pasta", name="Pasta"),),
        products=(
            simple("SPAG-500", "Spaghetti pack 500g", "2.50", 40),
            simple("PENNE-500", "Penne pack 500g", "2.20", 40),
            simple("SAUCE-1", "Tomato sauce jar", "3.10", 10),
            simple("LASAGNA-1", "Lasagna sheets", "4.00", 0),
        ),
    )


def model_overrides(model: ScriptedModel, **extra: Any) -> dict[str, Any]:
    """Settings that point the worker at the scripted model."""
    return {
        "openai_base_url": model.base_url,
        "openai_api_key": model.api_key,
        "openai_model": MODEL_NAME,
        "openai_timeout_s": 2.0,
        **extra,
    }


@dataclass
class AgentWorld:
    stack: Stack
    shop: Shop
    model: ScriptedModel
    sessions: async_sessionmaker[AsyncSession]

    def customer(self, digits: str | None = None, name: str = "Ana Test") -> ChatCustomer:
        return ChatCustomer(self.stack, self.shop.phone_number_id, digits or _digits(), name=name)


def _digits() -> str:
    return "1555" + str(uuid.uuid4().int)[:7]


@asynccontextmanager
async def agent_world(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    model: ScriptedModel,
    *,
    preset: str = "ecommerce",
    catalog: ParsedCatalog | None = None,
    **overrides: Any,
) -> AsyncIterator[AgentWorld]:
    shop = await make_shop(sessions, catalog=catalog or pasta_catalog())
    if preset != "ecommerce":
        await set_preset(sessions, shop, preset)
    async with running_stack(
        client, sessions, database_url, **model_overrides(model, **overrides)
    ) as stack:
        yield AgentWorld(stack=stack, shop=shop, model=model, sessions=sessions)


async def set_preset(sessions: async_sessionmaker[AsyncSession], shop: Shop, preset: str) -> None:
    async with sessions() as session, session.begin():
        tenant = await session.get_one(Tenant, shop.tenant_id)
        tenant.preset = preset


async def seed_order(
    sessions: async_sessionmaker[AsyncSession],
    shop: Shop,
    *,
    digits: str,
    number: str,
    email: str | None = None,
    status: str = "confirmed",
    business_type: str = "ecommerce",
) -> uuid.UUID:
    """An order of the customer with phone ``+digits`` (created if new), written directly."""
    async with sessions() as session, session.begin():
        customer = (
            await session.execute(
                select(Customer).where(
                    Customer.tenant_id == shop.tenant_id, Customer.phone_e164 == f"+{digits}"
                )
            )
        ).scalar_one_or_none()
        if customer is None:
            customer = Customer(
                tenant_id=shop.tenant_id, phone_e164=f"+{digits}", name="Someone", email=email
            )
            session.add(customer)
            await session.flush()
        order = Order(
            tenant_id=shop.tenant_id,
            customer_id=customer.id,
            number=number,
            idempotency_key=f"seed:{number}",
            status=status,
            business_type=business_type,
            fulfilment="delivery",
            address={"text": "77 Secret Lane"},
            payment_method="cash",
            currency="USD",
            subtotal=Decimal("99.00"),
            delivery_fee=Decimal("5.00"),
            tax=Decimal("9.90"),
            total=Decimal("113.90"),
            tax_rate=Decimal("0.10"),
        )
        session.add(order)
        await session.flush()
        session.add(
            OrderItem(
                tenant_id=shop.tenant_id,
                order_id=order.id,
                product_name="Spaghetti pack 500g",
                unit_price=Decimal("2.50"),
                quantity=2,
                line_total=Decimal("5.00"),
            )
        )
        session.add(OrderEvent(tenant_id=shop.tenant_id, order_id=order.id, kind="placed"))
        return order.id


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results (parsed JSON) at the end of a model request, in order."""
    results: list[dict[str, Any]] = []
    for message in reversed(request["messages"]):
        if message["role"] != "tool":
            break
        results.append(json.loads(message["content"]))
    return list(reversed(results))


def last_tool_result(request: dict[str, Any]) -> dict[str, Any]:
    return tool_messages(request)[-1]


def order_spaghetti(request: dict[str, Any]) -> Step:
    """The pasta conversation's second round: order what the search found."""
    spaghetti = product_id_named(last_tool_result(request), "Spaghetti")
    return call(
        (
            "create_ecommerce_order",
            {
                "items": [{"product_id": spaghetti, "quantity": 2}],
                "fulfilment": "delivery",
                "address": "123 Main Street",
                "payment_method": "cash",
            },
        )
    )


def product_id_named(result: dict[str, Any], prefix: str) -> str:
    for product in result["products"]:
        if product["name"].startswith(prefix):
            return str(product["product_id"])
    raise AssertionError(f"no product {prefix!r} in {result}")


async def usage_rows(
    sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID
) -> list[AgentStep]:
    async with sessions() as session:
        rows = await session.execute(
            select(AgentStep)
            .where(AgentStep.tenant_id == tenant_id)
            .order_by(AgentStep.created_at, AgentStep.round)
        )
        return list(rows.scalars())


async def count_rows(sessions: async_sessionmaker[AsyncSession], model: Any, **where: Any) -> int:
    async with sessions() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int((await session.execute(query)).scalar_one())
