"""What `tendero dev` adds to the demo shop so a person can try verification and tickets.

Development only: a known agent login and a store customer with an e-mail and a past order
(to ask for "orders by e-mail" and receive the code in the local mail catcher).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.models import Customer, Order, OrderEvent, OrderItem, Tenant, User
from tendero.users import create_user

DEMO_AGENT_EMAIL = "agent@demo.localhost"
# A development password, printed by `tendero dev`; production has no demo shop.
DEMO_AGENT_PASSWORD = "tendero-demo-agent"
DEMO_CUSTOMER_EMAIL = "dana@demo.localhost"
DEMO_ORDER_NUMBER = "ORD-2025-00042"


@dataclass(frozen=True)
class DemoLogins:
    """What the dev banner prints."""

    agent_email: str
    agent_password: str
    customer_email: str
    order_number: str


async def seed_demo_support(session: AsyncSession, tenant: Tenant) -> DemoLogins:
    """Create the demo agent (admin) and Dana's past order once; the caller commits."""
    user = await session.scalar(
        select(User.id).where(User.tenant_id == tenant.id, User.email == DEMO_AGENT_EMAIL)
    )
    if user is None:
        await create_user(
            session,
            tenant_id=tenant.id,
            email=DEMO_AGENT_EMAIL,
            name="Demo Agent",
            role="admin",
            password=DEMO_AGENT_PASSWORD,
        )
    order = await session.scalar(
        select(Order.id).where(Order.tenant_id == tenant.id, Order.number == DEMO_ORDER_NUMBER)
    )
    if order is None:
        customer = Customer(
            tenant_id=tenant.id,
            phone_e164="+15550000042",
            name="Dana Demo",
            email=DEMO_CUSTOMER_EMAIL,
        )
        session.add(customer)
        await session.flush()
        placed = Order(
            tenant_id=tenant.id,
            customer_id=customer.id,
            number=DEMO_ORDER_NUMBER,
            idempotency_key=f"demo:{DEMO_ORDER_NUMBER}",
            status="delivered",
            fulfilment="delivery",
            address={"text": "42 Demo Street"},
            payment_method="cash",
            currency=tenant.currency,
            subtotal=Decimal("20.00"),
            delivery_fee=tenant.delivery_fee,
            tax=Decimal("1.65"),
            total=Decimal("20.00") + tenant.delivery_fee + Decimal("1.65"),
            tax_rate=tenant.tax_rate,
        )
        session.add(placed)
        await session.flush()
        session.add(
            OrderItem(
                tenant_id=tenant.id,
                order_id=placed.id,
                product_name="Demo gift box",
                unit_price=Decimal("20.00"),
                quantity=1,
                line_total=Decimal("20.00"),
            )
        )
        session.add(OrderEvent(tenant_id=tenant.id, order_id=placed.id, kind="delivered"))
    return DemoLogins(
        agent_email=DEMO_AGENT_EMAIL,
        agent_password=DEMO_AGENT_PASSWORD,
        customer_email=DEMO_CUSTOMER_EMAIL,
        order_number=DEMO_ORDER_NUMBER,
    )
