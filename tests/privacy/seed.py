"""A shop with two customers, each with one of every kind of record we hold.

The first customer (``ana``) talks through the signed WhatsApp webhook with the real worker:
a distinctive message, a checkout to a distinctive address and CONFIRM (an order, a checkout
workflow), then a new cart. A ticket is opened and noted through the agent API. The rest is
written directly: a verification, consents, an e-mail, a cart recovery and its coupon, the
assistant's model and tool calls quoting the customer, a raw store webhook payload naming
her, a rate-limit counter. The second customer (``bob``) gets his own of each kind.

Every identifier is unique per test run, so a search of the whole shared database and of
every workflow history is meaningful.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from google.protobuf.json_format import MessageToDict
from pydantic import SecretStr
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from tendero.consent import record_consent
from tendero.db.models import (
    AgentStep,
    AgentToolCall,
    Cart,
    CartRecovery,
    Conversation,
    Coupon,
    Customer,
    Message,
    Order,
    OutboundEmail,
    RateLimitHit,
    StoreEvent,
    Tenant,
    Ticket,
    Verification,
)
from tendero.domain.ids import cart_recovery_workflow_id, verification_workflow_id
from tendero.stores.credentials import ShopifyCredentials
from tendero.stores.integrations import connect, disconnect
from tests.api.v2 import user_token
from tests.harness import Customer as WhatsAppUser
from tests.harness import Stack, body_text, reach_summary
from tests.shop import Shop


def _digits() -> str:
    return f"1415555{uuid.uuid4().int % 10000:04d}"


@dataclass
class Person:
    """One seeded customer and the identifiers that must (not) be found."""

    key: str
    digits: str
    name: str
    email: str
    address: str
    secret: str
    wa_user_id: str
    customer_id: uuid.UUID = field(default_factory=uuid.uuid4)
    conversation_id: uuid.UUID | None = None
    order_number: str | None = None
    ticket_number: str | None = None

    @property
    def phone(self) -> str:
        """E.164."""
        return f"+{self.digits}"

    @property
    def identifiers(self) -> list[str]:
        """What identifies the person (compared case-insensitively)."""
        return [self.digits, self.email, self.name, self.address, self.secret, self.wa_user_id]


def new_person(key: str) -> Person:
    """A person whose every identifier is unique to this test run."""
    token = uuid.uuid4().hex[:8]
    return Person(
        key=key,
        digits=_digits(),
        name=f"{key.title()} Quixote{token}",
        email=f"{key}.{token}@private.test",
        address=f"{token[:4]} Privet Lane {token[4:]}",
        secret=f"my secret word is zanzibar{token}",
        wa_user_id=f"US.{token}{key}",
    )


async def _wait_order(stack: Stack, customer_id: uuid.UUID) -> Order:
    for _ in range(200):
        async with stack.sessions() as session:
            order = await session.scalar(select(Order).where(Order.customer_id == customer_id))
        if order is not None:
            return order
        await asyncio.sleep(0.05)
    raise AssertionError("no order")


async def seed_person(
    stack: Stack, shop: Shop, person: Person, *, integration_id: uuid.UUID, full: bool = True
) -> None:
    """Everything of one person: a real chat and order, then the rest written directly."""
    sessions = stack.sessions
    user = WhatsAppUser(stack, shop.phone_number_id, person.digits, name=person.name)
    await user.text("hi")
    await user.text(person.secret)
    hoodie = await shop.variant(sessions, "HOOD-BL-L")
    sunglasses = await shop.variant(sessions, "SUN-1")
    if full:
        await reach_summary(user, [(str(hoodie.id), 1)], address=person.address)
        (placed,) = await user.text("CONFIRM")
        assert "placed" in body_text(placed), body_text(placed)
    # A new, open cart after the order.
    await user.tap(f"qty:{sunglasses.id}:1")

    async with sessions() as session, session.begin():
        customer = await session.scalar(
            select(Customer).where(
                Customer.tenant_id == shop.tenant_id, Customer.phone_e164 == person.phone
            )
        )
        assert customer is not None
        person.customer_id = customer.id
        customer.email = person.email
        customer.wa_user_id = person.wa_user_id
        conversation = await session.scalar(
            select(Conversation).where(Conversation.customer_id == customer.id)
        )
        assert conversation is not None
        person.conversation_id = conversation.id
        secret_message = await session.scalar(
            select(Message).where(
                Message.conversation_id == conversation.id, Message.text == person.secret
            )
        )
        assert secret_message is not None
        cart = await session.scalar(
            select(Cart).where(Cart.customer_id == customer.id, Cart.status == "open")
        )
        assert cart is not None
        now = datetime.now(UTC)
        session.add(
            Verification(
                tenant_id=shop.tenant_id,
                conversation_id=conversation.id,
                customer_id=customer.id,
                email=person.email,
                level="otp",
                status="verified",
                workflow_id=verification_workflow_id(shop.tenant_id, conversation.id),
                code_hash="0" * 64,
                verified_at=now,
            )
        )
        session.add(
            OutboundEmail(
                tenant_id=shop.tenant_id,
                key=f"test:{person.key}:{uuid.uuid4().hex}",
                template="verification_code",
                language="en",
                to_address=person.email,
                subject="Your code",
                body_text=f"Hello {person.name}",
                message_id=f"<{uuid.uuid4().hex}@tendero.test>",
                status="sent",
                sent_at=now,
            )
        )
        # The cart-recovery drip may already track the cart (it starts on cart changes).
        await session.execute(
            pg_insert(CartRecovery)
            .values(
                id=uuid.uuid4(),
                tenant_id=shop.tenant_id,
                cart_id=cart.id,
                customer_id=customer.id,
                workflow_id=cart_recovery_workflow_id(shop.tenant_id, cart.id),
                status="waiting",
                item_count=1,
                value=Decimal("5.00"),
                currency="USD",
                last_activity_at=now,
            )
            .on_conflict_do_nothing(index_elements=["cart_id"])
        )
        session.add(
            Coupon(
                tenant_id=shop.tenant_id,
                code=f"BACK-{uuid.uuid4().hex[:8].upper()}",
                kind="percent",
                value=Decimal("10"),
                currency="USD",
                expires_at=now + timedelta(days=7),
                cart_id=cart.id,
                customer_id=customer.id,
            )
        )
        session.add(
            AgentStep(
                tenant_id=shop.tenant_id,
                conversation_id=conversation.id,
                message_id=secret_message.id,
                kind="turn",
                round=0,
                model="test-model",
                prompt_version="v1",
                content=f"Noted, {person.name}: {person.secret}",
                tool_calls=[{"id": "c1", "name": "search_products", "arguments": "{}"}],
            )
        )
        session.add(
            AgentToolCall(
                tenant_id=shop.tenant_id,
                message_id=secret_message.id,
                round=0,
                position=0,
                call_id="c1",
                name="search_products",
                arguments=json.dumps({"query": person.secret}),
                status="ok",
                result={"echo": person.secret},
            )
        )
        session.add(
            StoreEvent(
                tenant_id=shop.tenant_id,
                integration_id=integration_id,
                topic="customers/update",
                dedupe_key=f"seed-{uuid.uuid4().hex}",
                received_at=now,
                payload={"id": 1, "email": person.email, "phone": person.phone},
            )
        )
        session.add(
            RateLimitHit(
                key=f"inbound:customer:{customer.id}",
                window_start=now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=2),
                hits=3,
            )
        )
        await record_consent(
            session,
            tenant_id=shop.tenant_id,
            customer_id=customer.id,
            granted=True,
            source="chat",
            recorded_at=now - timedelta(days=2),
        )
        await record_consent(
            session,
            tenant_id=shop.tenant_id,
            customer_id=customer.id,
            granted=False,
            source="unsubscribe_link",
            recorded_at=now - timedelta(days=1),
        )
    if full:
        order = await _wait_order(stack, person.customer_id)
        person.order_number = order.number
    else:
        async with sessions() as session, session.begin():
            number = f"ORD-2026-{uuid.uuid4().int % 100000:05d}"
            session.add(
                Order(
                    tenant_id=shop.tenant_id,
                    customer_id=person.customer_id,
                    number=number,
                    idempotency_key=f"seed:{number}",
                    fulfilment="delivery",
                    address={"line": person.address},
                    payment_method="cash",
                    currency="USD",
                    subtotal=Decimal("10"),
                    delivery_fee=Decimal("0"),
                    tax=Decimal("0"),
                    total=Decimal("10"),
                    tax_rate=Decimal("0"),
                )
            )
        person.order_number = number

    # A ticket with events, opened and noted by an agent through the API. Its first
    # response is due within a second, so the real TicketWorkflow escalates it and e-mails
    # the shop's agents a notice that quotes its subject (when the stack has SMTP).
    async with sessions() as session, session.begin():
        tenant = await session.get_one(Tenant, shop.tenant_id, with_for_update=True)
        tenant.ticket_sla = {"high": {"first_response_s": 1, "resolution_s": 86400}}
    _, headers = await user_token(stack, shop, "agent")
    answer = await stack.http.post(
        "/api/v2/tickets",
        json={
            "customer_phone": person.phone,
            "category": "product_defect",
            "subject": f"Broken jar for {person.name}",
            "description": f"{person.name} at {person.address} says: {person.secret}",
            "priority": "high",
        },
        headers=headers,
    )
    assert answer.status_code == 201, answer.text
    person.ticket_number = answer.json()["number"]
    for _ in range(100):  # the TicketWorkflow takes a moment to open it
        note = await stack.http.post(
            f"/api/v2/tickets/{person.ticket_number}/notes",
            json={"text": f"Called {person.name} on +{person.digits}"},
            headers=headers,
        )
        if note.status_code != 409:
            break
        await asyncio.sleep(0.05)
    assert note.status_code == 200, note.text
    if stack.settings.smtp_host:
        await _wait_escalation_mail(stack, shop, person.ticket_number)


async def _wait_escalation_mail(stack: Stack, shop: Shop, ticket_number: str) -> None:
    async with stack.sessions() as session:
        ticket_id = await session.scalar(
            select(Ticket.id).where(
                Ticket.tenant_id == shop.tenant_id, Ticket.number == ticket_number
            )
        )
    for _ in range(400):
        async with stack.sessions() as session:
            sent = await session.scalar(
                select(OutboundEmail.id).where(
                    OutboundEmail.tenant_id == shop.tenant_id,
                    OutboundEmail.key.startswith(f"ticket:{ticket_id}:"),
                    OutboundEmail.status == "sent",
                )
            )
        if sent is not None:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the agents were not e-mailed about the escalated ticket")


async def shopify_integration(stack: Stack, shop: Shop) -> uuid.UUID:
    """A Shopify integration of the shop, disconnected (orders stay native), for payloads."""
    async with stack.sessions() as session, session.begin():
        integration = await connect(
            session,
            stack.settings.keyring,
            tenant_id=shop.tenant_id,
            kind="shopify",
            name="Shopify",
            credentials=ShopifyCredentials(access_token=SecretStr("shpat_x")),
            shop_domain=f"shop-{uuid.uuid4().hex[:8]}.myshopify.com",
        )
        await disconnect(session, integration, status="disconnected")
        return integration.id


async def schema_tables(stack: Stack) -> list[str]:
    """Every table of the migrated database, read from Postgres' catalog (no hand list)."""
    async with stack.sessions() as session:
        rows = await session.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        )
        return sorted(rows.scalars())


async def rows_mentioning(
    stack: Stack, needles: list[str], *, exclude: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Every row of every table of the schema whose text mentions a needle (any case).

    Rows whose text contains any of ``exclude`` (another tenant's id) are left out.
    """
    found: dict[str, list[str]] = {}
    async with stack.sessions() as session:
        for table in await schema_tables(stack):
            rows = await session.execute(text(f'SELECT t::text FROM "{table}" t'))
            for (row,) in rows:
                lowered = row.lower()
                if any(e.lower() in lowered for e in exclude):
                    continue
                if any(n.lower() in lowered for n in needles):
                    found.setdefault(table, []).append(row)
    return found


async def rows_reachable(stack: Stack, customer_id: uuid.UUID) -> dict[str, set[str]]:
    """Ids of every row that hangs off the customer by foreign keys, per table.

    The foreign keys are read from Postgres' catalog: starting at the customer's row, any
    row whose single-column foreign key points at a row already reached is reached too.
    A table added tomorrow that refers to the customer (or to their carts, orders...) is
    found without changing this.
    """
    async with stack.sessions() as session:
        keys = (
            await session.execute(
                text(
                    """
                    SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text
                    FROM pg_constraint c
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
                    JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = c.confkey[1]
                    WHERE c.contype = 'f' AND cardinality(c.conkey) = 1 AND p.attname = 'id'
                    """
                )
            )
        ).all()
        reached: dict[str, set[str]] = {"customers": {str(customer_id)}}
        grown = True
        while grown:
            grown = False
            for child, column, parent in keys:
                if not reached.get(parent):
                    continue
                ids = set(
                    (
                        await session.execute(
                            text(
                                f'SELECT id::text FROM "{child}" '
                                f'WHERE "{column}"::text = ANY(:parents)'
                            ),
                            {"parents": sorted(reached[parent])},
                        )
                    ).scalars()
                )
                if not ids <= reached.get(child, set()):
                    reached.setdefault(child, set()).update(ids)
                    grown = True
    return reached


async def count_mentioning(stack: Stack, needles: list[str]) -> dict[str, int]:
    """Rows per table mentioning any needle (for "nothing else was touched")."""
    return {table: len(rows) for table, rows in (await rows_mentioning(stack, needles)).items()}


def _payloads(node: Any) -> list[dict[str, Any]]:
    """Every payload (``{"metadata", "data"}``, base64) in a history event as JSON dict."""
    out: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if "data" in node and "metadata" in node and isinstance(node["data"], str):
            out.append(node)
        for value in node.values():
            out.extend(_payloads(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_payloads(value))
    return out


async def history_text(stack: Stack, workflow_id: str, run_id: str | None = None) -> str:
    """A workflow run's whole history as text, every payload decoded (and decrypted)."""
    from temporalio.api.common.v1 import Payload

    from workflows.client import EncryptionCodec

    codec = EncryptionCodec.from_settings(stack.settings)
    handle = stack.client.get_workflow_handle(workflow_id, run_id=run_id)
    history = await handle.fetch_history()
    pieces: list[str] = []
    for event in history.events:
        as_dict = MessageToDict(event)
        pieces.append(json.dumps(as_dict))
        for node in _payloads(as_dict):
            payload = Payload(
                metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
                data=base64.b64decode(node["data"]),
            )
            (plain,) = await codec.decode([payload])
            pieces.append(plain.data.decode("utf-8", "replace"))
    return "\n".join(pieces)


async def mark_old(stack: Stack, conversation_id: uuid.UUID, days: int) -> None:
    """Move a conversation and its messages ``days`` into the past."""
    past = datetime.now(UTC) - timedelta(days=days)
    async with stack.sessions() as session, session.begin():
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(created_at=past, last_inbound_at=past)
        )
        await session.execute(
            update(Message)
            .where(Message.conversation_id == conversation_id)
            .values(created_at=past)
        )
