"""Agent API (``/api/v2``) tests: users, logins and a seeded shop shared by the modules."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import Conversation, Customer, Order, OrderItem, Tenant, Ticket, User
from tendero.users import create_user
from tests.harness import Stack
from tests.shop import Shop, make_shop

TenantLike = Tenant | Shop


def tenant_id_of(tenant: TenantLike) -> uuid.UUID:
    """The id of a ``Tenant`` row or a test ``Shop``."""
    return tenant.id if isinstance(tenant, Tenant) else tenant.tenant_id


def bearer(token: str) -> dict[str, str]:
    """An ``Authorization`` header for ``token``."""
    return {"Authorization": f"Bearer {token}"}


async def new_user(
    sessions: async_sessionmaker[AsyncSession],
    tenant: TenantLike,
    role: str = "agent",
    *,
    email: str | None = None,
    name: str = "Test User",
) -> tuple[User, str]:
    """Create and commit an active user; returns the row and its plain password."""
    password = secrets.token_urlsafe(12)
    async with sessions() as session, session.begin():
        user = await create_user(
            session,
            tenant_id=tenant_id_of(tenant),
            email=email or f"{role}-{uuid.uuid4().hex[:8]}@shop.test",
            name=name,
            role=role,
            password=password,
        )
    return user, password


async def login(stack: Stack, tenant: TenantLike, email: str, password: str) -> str:
    """Log in through ``POST /api/v2/auth/token``; the bearer token."""
    answer = await stack.http.post(
        "/api/v2/auth/token",
        json={"tenant": tenant.slug, "email": email, "password": password},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


async def user_token(
    stack: Stack, tenant: TenantLike, role: str = "agent"
) -> tuple[User, dict[str, str]]:
    """A new user of ``role`` logged in: the row and its ``Authorization`` header."""
    user, password = await new_user(stack.sessions, tenant, role)
    return user, bearer(await login(stack, tenant, user.email, password))


@dataclass
class Seeded:
    """A shop with catalog, customers, orders, tickets and conversations (ids by name)."""

    shop: Shop
    customers: dict[str, uuid.UUID] = field(default_factory=dict)
    orders: dict[str, uuid.UUID] = field(default_factory=dict)
    tickets: dict[str, uuid.UUID] = field(default_factory=dict)

    @property
    def slug(self) -> str:
        """The shop's slug."""
        return self.shop.slug

    @property
    def tenant_id(self) -> uuid.UUID:
        """The shop's tenant id."""
        return self.shop.tenant_id


PHONES = {"ana": "+15551230001", "bob": "+15551230002", "carla": "+15551230003"}


async def seed_shop(sessions: async_sessionmaker[AsyncSession]) -> Seeded:
    """A test shop (``tests.shop``: 4 products, 6 variants, 3 categories, USD, delivery 5.00,
    pickup at "1 Shop Street", cash and card_on_delivery) with:

    - customers ana (3 orders), bob (3 orders), carla (none);
    - orders, newest first: O1 ana confirmed chat 55.00 USD (today), O4 bob shipped store
      30.00 USD (today), O5 bob cancelled chat 10.00 USD (today), O6 no customer pending
      store 12.50 EUR (today), O3 ana cancelled chat 18.00 USD (2025-02-01), O2 ana delivered
      store 20.00 USD (2025-01-10);
    - tickets: T1 ana open high, first response overdue (breached); T2 ana assigned medium,
      deadlines ahead; T3 bob resolved low, resolution deadline past (met: not counted);
      T4 bob waiting_on_customer urgent, resolution overdue (breached);
    - conversations: ana waiting_for_human, bob bot, carla waiting_for_human.
    """
    shop = await make_shop(sessions)
    seeded = Seeded(shop=shop)
    now = datetime.now(UTC)
    tid = shop.tenant_id
    async with sessions() as session, session.begin():
        people = {
            "ana": ("Ana Lopez", "ana@example.test"),
            "bob": ("Bob Stone", "bob@example.test"),
            "carla": ("Carla Ruiz", None),
        }
        for key, (name, email) in people.items():
            customer = Customer(
                id=uuid.uuid4(), tenant_id=tid, phone_e164=PHONES[key], name=name, email=email
            )
            session.add(customer)
            seeded.customers[key] = customer.id
        await session.flush()
        orders = [
            ("O1", "ana", "confirmed", "chat", "USD", "55.00", now - timedelta(seconds=1)),
            ("O2", "ana", "delivered", "store", "USD", "20.00", datetime(2025, 1, 10, tzinfo=UTC)),
            ("O3", "ana", "cancelled", "chat", "USD", "18.00", datetime(2025, 2, 1, tzinfo=UTC)),
            ("O4", "bob", "shipped", "store", "USD", "30.00", now - timedelta(seconds=2)),
            ("O5", "bob", "cancelled", "chat", "USD", "10.00", now - timedelta(seconds=3)),
            ("O6", None, "pending", "store", "EUR", "12.50", now - timedelta(seconds=4)),
        ]
        for key, who, state, source, currency, total, created in orders:
            number = f"ORD-2026-0000{key[1]}"
            order = Order(
                id=uuid.uuid4(),
                tenant_id=tid,
                customer_id=seeded.customers[who] if who else None,
                number=number,
                idempotency_key=f"seed:{number}",
                status=state,
                fulfilment="delivery",
                payment_method="cash",
                currency=currency,
                subtotal=Decimal(total),
                delivery_fee=Decimal("0"),
                tax=Decimal("0"),
                total=Decimal(total),
                tax_rate=Decimal("0"),
                source=source,
                created_at=created,
            )
            session.add(order)
            seeded.orders[key] = order.id
        await session.flush()
        session.add(
            OrderItem(
                tenant_id=tid,
                order_id=seeded.orders["O1"],
                product_name="Hoodie",
                variant_label="Blue, Large",
                sku="HOOD-BL-L",
                unit_price=Decimal("45.00"),
                quantity=1,
                line_total=Decimal("45.00"),
            )
        )
        session.add(
            OrderItem(
                tenant_id=tid,
                order_id=seeded.orders["O1"],
                product_name="Cap",
                variant_label=None,
                sku="CAP-1",
                unit_price=Decimal("5.00"),
                quantity=2,
                line_total=Decimal("10.00"),
            )
        )
        hour = timedelta(hours=1)
        tickets = [
            ("T1", "ana", "open", "high", now - hour, None, now + hour),
            ("T2", "ana", "assigned", "medium", now + hour, now - hour, now + 5 * hour),
            ("T3", "bob", "resolved", "low", now - 5 * hour, now - 4 * hour, now - hour),
            (
                "T4",
                "bob",
                "waiting_on_customer",
                "urgent",
                now - 5 * hour,
                now - 4 * hour,
                now - hour,
            ),
        ]
        for i, (key, who, state, priority, first_due, responded, resolve_due) in enumerate(
            tickets, start=1
        ):
            ticket = Ticket(
                id=uuid.uuid4(),
                tenant_id=tid,
                number=f"TCK-2026-0000{i}",
                business_type="ecommerce",
                customer_id=seeded.customers[who],
                category="other",
                subject=f"Ticket {key}",
                description="seeded",
                priority=priority,
                status=state,
                source="agent",
                first_response_due_at=first_due,
                first_responded_at=responded,
                resolution_due_at=resolve_due,
                created_at=now - timedelta(minutes=10 - i),
            )
            session.add(ticket)
            seeded.tickets[key] = ticket.id
        for who, channel, owner in (
            ("ana", "whatsapp", "waiting_for_human"),
            ("bob", "whatsapp", "bot"),
            ("carla", "webchat", "waiting_for_human"),
        ):
            session.add(
                Conversation(
                    tenant_id=tid,
                    customer_id=seeded.customers[who],
                    channel=channel,
                    workflow_id=f"conversation:{tid}:{channel}:{seeded.customers[who]}",
                    owner=owner,
                )
            )
    return seeded
