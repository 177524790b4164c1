"""Privacy (GDPR): find a customer, export everything held about them, erase it; retention.

Database logic only (no Temporal): the privacy workflows (``workflows/privacy.py``) call it
through activities, and end and delete the customer's workflows around it.

Erasure (``erase_customer``) deletes what only concerns the person and anonymises what the
shop must keep for its accounting:

- deleted: conversations with their messages, the assistant's model calls and tool calls
  (``agent_steps``, ``agent_tool_calls``: they quote the customer), the inbound provider
  events of those messages, verifications, carts with their items, cart recoveries,
  consents (the deletion request row is the record that replaces them), e-mails sent to the
  customer's addresses and those about the customer's tickets, verifications and carts
  (agents' notices included), rate-limit counters keyed by the customer's id;
- anonymised: orders (address nulled and no link to the customer; numbers, lines, totals,
  discounts and timeline kept), tickets (subject, description, photos and event texts
  replaced by ``[redacted]``, closed; number, category and SLA figures kept), coupons (no
  link to the customer or cart), earlier export documents of the customer (dropped), raw
  store webhook payloads that mention the customer (dropped);
- the customer row stays as an empty tombstone: every identifying field (name, e-mail,
  phone, WhatsApp user id, store id) is nulled, so the privacy request still names *which*
  record was erased while nothing on it identifies the person. A later message from the
  same phone creates a new customer.

Everything is scoped by tenant: nothing of another tenant or another customer is touched.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Text,
    and_,
    any_,
    cast,
    delete,
    func,
    inspect,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.db.base import Base, utcnow
from tendero.db.models import (
    AgentStep,
    AgentToolCall,
    Cart,
    CartItem,
    CartRecovery,
    Consent,
    Conversation,
    Coupon,
    Customer,
    InboundEvent,
    Message,
    Order,
    OrderEvent,
    OrderItem,
    OutboundEmail,
    PrivacyRequest,
    RateLimitHit,
    StoreEvent,
    Ticket,
    TicketEvent,
    Verification,
)
from tendero.db.sql import text_array, uuid_array
from tendero.domain.ids import (
    cart_recovery_workflow_id,
    conversation_workflow_id,
    privacy_workflow_id,
    ticket_workflow_id,
)
from tendero.domain.phone import to_e164
from tendero.domain.privacy import PrivacyKind, PrivacySource

REDACTED = "[redacted]"
EXPORT_FORMAT = "tendero.privacy.export/1"

# Columns never exported: internal plumbing or secrets (a verification's code hash).
_NEVER_EXPORTED = frozenset({"tenant_id", "code_hash", "search_vector", "turn_result"})


def _json(value: Any) -> Any:
    """A JSON-ready copy: UUIDs and decimals as strings, datetimes in ISO 8601."""
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    return value


def _row(obj: Base, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """Every column of an ORM row (JSON-ready), minus ``exclude`` and the never-exported."""
    skip = _NEVER_EXPORTED | set(exclude)
    return {
        attr.key: _json(getattr(obj, attr.key))
        for attr in inspect(obj).mapper.column_attrs
        if attr.key not in skip
    }


async def find_customers(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    customer_ids: Sequence[uuid.UUID] = (),
    external_ids: Sequence[str] = (),
    emails: Sequence[str] = (),
    phones: Sequence[str] = (),
) -> list[uuid.UUID]:
    """Ids of the tenant's customers matching any of these ids, store ids, e-mails or phones.

    E-mails are compared lower-cased; phones are normalised to E.164 first (an invalid
    one matches nothing). Another tenant's customers never match.

    Returns:
        Distinct customer ids, oldest customer first (empty when nothing was given).
    """
    clean_emails = [e.strip().lower() for e in emails if e and e.strip()]
    clean_phones = [p for p in (to_e164(raw) for raw in phones if raw and raw.strip()) if p]
    clean_external = [e for e in external_ids if e]
    ids = list(customer_ids)
    if not (clean_emails or clean_phones or clean_external or ids):
        return []
    rows = await session.execute(
        select(Customer.id)
        .where(
            Customer.tenant_id == tenant_id,
            or_(
                Customer.id == any_(uuid_array(ids)),
                Customer.external_id == any_(text_array(clean_external)),
                func.lower(Customer.email) == any_(text_array(clean_emails)),
                Customer.phone_e164 == any_(text_array(clean_phones)),
            ),
        )
        .order_by(Customer.created_at, Customer.id)
    )
    return list(rows.scalars())


async def store_customer_ids(session: AsyncSession, tenant_id: uuid.UUID) -> list[uuid.UUID]:
    """``shop/redact``: the tenant's customers that came from its store.

    Those with a store id, and those linked to an order copied from the store.

    Returns:
        Distinct customer ids.
    """
    with_id = select(Customer.id).where(
        Customer.tenant_id == tenant_id, Customer.external_id.is_not(None)
    )
    with_orders = select(Order.customer_id).where(
        Order.tenant_id == tenant_id, Order.source == "store", Order.customer_id.is_not(None)
    )
    rows = await session.execute(with_id.union(with_orders))
    return sorted({row for row in rows.scalars() if row is not None}, key=str)


async def anonymise_store_orders(session: AsyncSession, tenant_id: uuid.UUID) -> int:
    """``shop/redact``: null the address of every order copied from the store.

    Covers store orders without a customer, which no customer's erasure reaches.

    Returns:
        Orders changed.
    """
    result = await session.execute(
        update(Order)
        .where(Order.tenant_id == tenant_id, Order.source == "store", Order.address.is_not(None))
        .values(address=null())
        .returning(Order.id)
    )
    return len(result.all())


async def anonymise_orders(
    session: AsyncSession, tenant_id: uuid.UUID, external_ids: Sequence[str]
) -> int:
    """``customers/redact``'s ``orders_to_redact``: null the address of these store orders.

    Returns:
        Orders changed.
    """
    ids = [e for e in external_ids if e]
    if not ids:
        return 0
    return await _count(
        session,
        update(Order)
        .where(
            Order.tenant_id == tenant_id,
            Order.external_id == any_(text_array(ids)),
            Order.address.is_not(None),
        )
        .values(address=null())
        .returning(Order.id),
    )


async def create_request(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    kind: PrivacyKind,
    source: PrivacySource,
    requested_by: str | None,
    request_id: uuid.UUID | None = None,
) -> PrivacyRequest:
    """Record a privacy request (status ``pending``); the caller commits, then starts it.

    With ``request_id`` given (a retried webhook derives it from its event), a second call
    returns the existing row instead of adding another.

    Args:
        session: an open session, inside the caller's transaction.
        tenant_id: the shop.
        customer_id: the customer (resolved by the caller; ids only from here on).
        kind: ``export`` or ``delete``.
        source: ``api`` or ``shopify``.
        requested_by: who asked, by internal id (``user:{id}``, ``shopify:{topic}``).
        request_id: a fixed id, for idempotent callers.

    Returns:
        The request row.
    """
    rid = request_id or uuid.uuid4()
    await session.execute(
        insert(PrivacyRequest)
        .values(
            id=rid,
            tenant_id=tenant_id,
            customer_id=customer_id,
            kind=kind,
            source=source,
            requested_by=requested_by,
            workflow_id=privacy_workflow_id(tenant_id, rid),
        )
        .on_conflict_do_nothing(index_elements=["id"])
    )
    return (
        await session.execute(
            select(PrivacyRequest).where(
                PrivacyRequest.id == rid, PrivacyRequest.tenant_id == tenant_id
            )
        )
    ).scalar_one()


async def _customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> Customer | None:
    return (
        await session.execute(
            select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
        )
    ).scalar_one_or_none()


async def _addresses(session: AsyncSession, tenant_id: uuid.UUID, customer: Customer) -> list[str]:
    """The e-mail addresses that are the customer's: the profile's, and those it verified.

    An address the customer typed into a verification that belongs to another customer of
    the tenant is not theirs: mails to it are left alone.
    """
    found = {customer.email.lower()} if customer.email else set()
    typed = await session.execute(
        select(func.lower(Verification.email)).where(
            Verification.tenant_id == tenant_id, Verification.customer_id == customer.id
        )
    )
    candidates = {e for e in typed.scalars() if e} - found
    if candidates:
        others = await session.execute(
            select(func.lower(Customer.email)).where(
                Customer.tenant_id == tenant_id,
                Customer.id != customer.id,
                func.lower(Customer.email) == any_(text_array(sorted(candidates))),
            )
        )
        candidates -= set(others.scalars())
    return sorted(found | candidates)


async def export_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> dict[str, Any]:
    """Everything held about one customer of a tenant, as one JSON-ready document.

    Args:
        session: an open session (read only).
        tenant_id: the shop; nothing of another shop is read.
        customer_id: the customer.

    Returns:
        ``{"format", "generated_at", "tenant_id", "customer", "consents", "conversations"
        (each with its "messages", "agent_steps" and "agent_tool_calls"), "verifications",
        "orders" (each with "items" and "events"), "carts" (each with "items"),
        "cart_recoveries", "coupons", "tickets" (each with "events"), "outbound_emails",
        "privacy_requests"}``; a verification's code hash and earlier export documents are
        never included.

    Raises:
        LookupError: no such customer in this tenant.
    """
    customer = await _customer(session, tenant_id, customer_id)
    if customer is None:
        raise LookupError("customer not found")

    async def rows(query: Any) -> list[Any]:
        return list((await session.execute(query)).scalars())

    conversations = await rows(
        select(Conversation)
        .where(Conversation.tenant_id == tenant_id, Conversation.customer_id == customer_id)
        .order_by(Conversation.created_at)
    )
    conversation_docs = []
    for conversation in conversations:
        messages = await rows(
            select(Message)
            .where(Message.tenant_id == tenant_id, Message.conversation_id == conversation.id)
            .order_by(Message.created_at, Message.id)
        )
        steps = await rows(
            select(AgentStep)
            .where(AgentStep.tenant_id == tenant_id, AgentStep.conversation_id == conversation.id)
            .order_by(AgentStep.created_at, AgentStep.round)
        )
        calls = await rows(
            select(AgentToolCall)
            .where(
                AgentToolCall.tenant_id == tenant_id,
                AgentToolCall.message_id == any_(uuid_array(m.id for m in messages)),
            )
            .order_by(AgentToolCall.created_at, AgentToolCall.position)
        )
        conversation_docs.append(
            {
                **_row(conversation, exclude=("ui_state",)),
                "messages": [_row(m) for m in messages],
                "agent_steps": [_row(s) for s in steps],
                "agent_tool_calls": [_row(c) for c in calls],
            }
        )

    orders = await rows(
        select(Order)
        .where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
        .order_by(Order.created_at)
    )
    order_docs = []
    for order in orders:
        items = await rows(
            select(OrderItem).where(
                OrderItem.tenant_id == tenant_id, OrderItem.order_id == order.id
            )
        )
        events = await rows(
            select(OrderEvent)
            .where(OrderEvent.tenant_id == tenant_id, OrderEvent.order_id == order.id)
            .order_by(OrderEvent.created_at)
        )
        order_docs.append(
            {
                **_row(order),
                "items": [_row(i, exclude=("order_id",)) for i in items],
                "events": [_row(e, exclude=("order_id",)) for e in events],
            }
        )

    carts = await rows(
        select(Cart)
        .where(Cart.tenant_id == tenant_id, Cart.customer_id == customer_id)
        .order_by(Cart.created_at)
    )
    cart_docs = []
    for cart in carts:
        items = await rows(
            select(CartItem)
            .where(CartItem.tenant_id == tenant_id, CartItem.cart_id == cart.id)
            .order_by(CartItem.added_at)
        )
        cart_docs.append({**_row(cart), "items": [_row(i, exclude=("cart_id",)) for i in items]})

    tickets = await rows(
        select(Ticket)
        .where(Ticket.tenant_id == tenant_id, Ticket.customer_id == customer_id)
        .order_by(Ticket.created_at)
    )
    ticket_docs = []
    for ticket in tickets:
        events = await rows(
            select(TicketEvent)
            .where(TicketEvent.tenant_id == tenant_id, TicketEvent.ticket_id == ticket.id)
            .order_by(TicketEvent.at, TicketEvent.created_at)
        )
        ticket_docs.append(
            {**_row(ticket), "events": [_row(e, exclude=("ticket_id", "key")) for e in events]}
        )

    addresses = await _addresses(session, tenant_id, customer)
    documents: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": utcnow().isoformat(),
        "tenant_id": str(tenant_id),
        "customer": _row(customer),
        "consents": [
            _row(c, exclude=("customer_id",))
            for c in await rows(
                select(Consent)
                .where(Consent.tenant_id == tenant_id, Consent.customer_id == customer_id)
                .order_by(Consent.recorded_at, Consent.created_at)
            )
        ],
        "conversations": conversation_docs,
        "verifications": [
            _row(v, exclude=("customer_id",))
            for v in await rows(
                select(Verification)
                .where(Verification.tenant_id == tenant_id, Verification.customer_id == customer_id)
                .order_by(Verification.created_at)
            )
        ],
        "orders": order_docs,
        "carts": cart_docs,
        "cart_recoveries": [
            _row(r, exclude=("customer_id",))
            for r in await rows(
                select(CartRecovery)
                .where(CartRecovery.tenant_id == tenant_id, CartRecovery.customer_id == customer_id)
                .order_by(CartRecovery.created_at)
            )
        ],
        "coupons": [
            _row(c, exclude=("customer_id", "external_id"))
            for c in await rows(
                select(Coupon)
                .where(Coupon.tenant_id == tenant_id, Coupon.customer_id == customer_id)
                .order_by(Coupon.created_at)
            )
        ],
        "tickets": ticket_docs,
        "outbound_emails": [
            _row(m, exclude=("key", "message_id"))
            for m in await rows(
                select(OutboundEmail)
                .where(
                    OutboundEmail.tenant_id == tenant_id,
                    func.lower(OutboundEmail.to_address) == any_(text_array(addresses)),
                )
                .order_by(OutboundEmail.created_at)
            )
        ],
        "privacy_requests": [
            _row(p, exclude=("customer_id", "document"))
            for p in await rows(
                select(PrivacyRequest)
                .where(
                    PrivacyRequest.tenant_id == tenant_id,
                    PrivacyRequest.customer_id == customer_id,
                )
                .order_by(PrivacyRequest.created_at)
            )
        ],
    }
    return documents


def export_counts(document: dict[str, Any]) -> dict[str, int]:
    """Records per kind of an export document (for the request's outcome and the UI)."""
    counts = {
        key: len(value)
        for key, value in document.items()
        if isinstance(value, list) and key != "customer"
    }
    counts["messages"] = sum(len(c["messages"]) for c in document.get("conversations", []))
    return counts


async def customer_workflow_ids(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID, *, lock: bool = False
) -> list[str]:
    """Workflow ids derived from the customer's rows (the search attribute finds the rest).

    The customer's WhatsApp conversation id (derived from the customer id alone, whether
    its row exists or not), conversations, verifications, tickets
    (``ticket:{tenant}:{number}``), carts (their ``cart-recovery:{tenant}:{cart}``), cart
    recoveries, and the checkouts of the customer's chat orders (an order's idempotency
    key is its checkout workflow id).

    Args:
        session: an open session.
        tenant_id: the shop.
        customer_id: the customer.
        lock: lock the customer row first (``FOR UPDATE``, the caller's transaction), so a
            message being recorded for the customer commits before the rows are read.

    Returns:
        Sorted distinct workflow ids.
    """
    if lock:
        await session.execute(
            select(Customer.id)
            .where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
            .with_for_update()
        )
    ids: set[str] = {conversation_workflow_id(tenant_id, "whatsapp", customer_id)}

    async def add(query: Any) -> None:
        ids.update(v for v in (await session.execute(query)).scalars() if v)

    await add(
        select(Conversation.workflow_id).where(
            Conversation.tenant_id == tenant_id, Conversation.customer_id == customer_id
        )
    )
    await add(
        select(Verification.workflow_id).where(
            Verification.tenant_id == tenant_id, Verification.customer_id == customer_id
        )
    )
    await add(
        select(CartRecovery.workflow_id).where(
            CartRecovery.tenant_id == tenant_id, CartRecovery.customer_id == customer_id
        )
    )
    await add(
        select(Order.idempotency_key).where(
            Order.tenant_id == tenant_id,
            Order.customer_id == customer_id,
            Order.idempotency_key.startswith("checkout:"),
        )
    )
    tickets = await session.execute(
        select(Ticket.number).where(
            Ticket.tenant_id == tenant_id, Ticket.customer_id == customer_id
        )
    )
    ids.update(ticket_workflow_id(tenant_id, number) for number in tickets.scalars())
    carts = await session.execute(
        select(Cart.id).where(Cart.tenant_id == tenant_id, Cart.customer_id == customer_id)
    )
    ids.update(cart_recovery_workflow_id(tenant_id, cart_id) for cart_id in carts.scalars())
    return sorted(ids)


async def _count(session: AsyncSession, statement: Any) -> int:
    """Run an UPDATE/DELETE ... RETURNING and count the rows."""
    return len((await session.execute(statement)).all())


async def _delete_messages(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    messages: Sequence[Any],
    *,
    workflow_ids: Sequence[str] = (),
) -> dict[str, int]:
    """Delete messages with their model and tool calls and inbound events; caller commits.

    Args:
        session: an open session, inside the caller's transaction.
        tenant_id: the shop.
        messages: rows with ``id`` and ``provider_message_id`` (the wamid).
        workflow_ids: inbound events recorded for these workflows go too (a whole
            conversation's, including events whose message row is already gone).

    Returns:
        Rows deleted per table: ``agent_tool_calls``, ``agent_steps``, ``inbound_events``
        (the messages' own and the delivery statuses of the replies), ``messages``.
    """
    message_ids = uuid_array(row.id for row in messages)
    wamids = text_array(row.provider_message_id for row in messages if row.provider_message_id)
    counts: dict[str, int] = {}
    counts["agent_tool_calls"] = await _count(
        session,
        delete(AgentToolCall)
        .where(AgentToolCall.tenant_id == tenant_id, AgentToolCall.message_id == any_(message_ids))
        .returning(AgentToolCall.id),
    )
    counts["agent_steps"] = await _count(
        session,
        delete(AgentStep)
        .where(AgentStep.tenant_id == tenant_id, AgentStep.message_id == any_(message_ids))
        .returning(AgentStep.id),
    )
    counts["inbound_events"] = await _count(
        session,
        delete(InboundEvent)
        .where(
            InboundEvent.tenant_id == tenant_id,
            or_(
                InboundEvent.message_id == any_(message_ids),
                InboundEvent.workflow_id == any_(text_array(workflow_ids)),
                and_(
                    InboundEvent.provider == "whatsapp-status",
                    func.regexp_replace(InboundEvent.event_key, ":[^:]*$", "") == any_(wamids),
                ),
            ),
        )
        .returning(InboundEvent.id),
    )
    counts["messages"] = await _count(
        session,
        delete(Message)
        .where(Message.tenant_id == tenant_id, Message.id == any_(message_ids))
        .returning(Message.id),
    )
    return counts


async def delete_conversations(
    session: AsyncSession, tenant_id: uuid.UUID, conversation_ids: Sequence[uuid.UUID]
) -> dict[str, int]:
    """Delete conversations of the tenant with their transcripts; the caller commits.

    Messages, the assistant's model and tool calls, the inbound events of the messages
    (and the delivery statuses of the replies), verifications; tickets keep their row and
    lose the link to the conversation.

    Returns:
        Rows deleted per table (every table named, zero included).
    """
    ids = uuid_array(conversation_ids)
    counts = dict.fromkeys(
        (
            "agent_tool_calls",
            "agent_steps",
            "inbound_events",
            "verifications",
            "messages",
            "conversations",
        ),
        0,
    )
    if not conversation_ids:
        return counts
    message_rows = (
        await session.execute(
            select(Message.id, Message.provider_message_id).where(
                Message.tenant_id == tenant_id, Message.conversation_id == any_(ids)
            )
        )
    ).all()
    workflow_ids = (
        await session.execute(
            select(Conversation.workflow_id).where(
                Conversation.tenant_id == tenant_id, Conversation.id == any_(ids)
            )
        )
    ).scalars()
    counts.update(
        await _delete_messages(session, tenant_id, message_rows, workflow_ids=list(workflow_ids))
    )
    counts["verifications"] = await _count(
        session,
        delete(Verification)
        .where(Verification.tenant_id == tenant_id, Verification.conversation_id == any_(ids))
        .returning(Verification.id),
    )
    counts["conversations"] = await _count(
        session,
        delete(Conversation)
        .where(Conversation.tenant_id == tenant_id, Conversation.id == any_(ids))
        .returning(Conversation.id),
    )
    return counts


def _mentions(column: Any, needles: Sequence[str]) -> Any:
    """SQL: the text of ``column`` contains any of ``needles`` (case-insensitive)."""
    text = cast(column, Text)
    return or_(*(text.ilike(f"%{_like_escape(n)}%", escape="\\") for n in needles))


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def _scrub_store_events(
    session: AsyncSession, tenant_id: uuid.UUID, customer: Customer, addresses: Sequence[str]
) -> int:
    """Drop the raw store payloads that mention the customer; returns events changed."""
    needles: list[str] = list(addresses)
    if customer.phone_e164:
        needles += [customer.phone_e164, customer.phone_e164.lstrip("+")]
    conditions = []
    if needles:
        conditions.append(_mentions(StoreEvent.payload, needles))
    if customer.external_id:
        external: list[Any] = [customer.external_id]
        if customer.external_id.isdigit():
            external.append(int(customer.external_id))
        for value in external:
            conditions.append(StoreEvent.payload.contains({"customer": {"id": value}}))
            conditions.append(
                and_(
                    or_(
                        StoreEvent.topic.startswith("customers/"),
                        StoreEvent.topic.startswith("customer."),
                    ),
                    or_(
                        StoreEvent.resource_id == str(value),
                        StoreEvent.payload.contains({"id": value}),
                    ),
                )
            )
    if not conditions:
        return 0
    return await _count(
        session,
        update(StoreEvent)
        .where(
            StoreEvent.tenant_id == tenant_id,
            or_(*conditions),
            or_(StoreEvent.payload.is_not(None), StoreEvent.resource_id.is_not(None)),
        )
        .values(payload=null(), resource_id=None)
        .returning(StoreEvent.id),
    )


async def _mail_key_prefixes(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> list[str]:
    """Key prefixes of the e-mails about the customer's tickets, verifications and carts.

    The senders key them ``ticket:{ticket}:...`` (agents' notices), ``verification:{id}``
    and ``recovery:{cart}:{step}``.
    """
    tickets = await session.execute(
        select(Ticket.id).where(Ticket.tenant_id == tenant_id, Ticket.customer_id == customer_id)
    )
    verifications = await session.execute(
        select(Verification.id).where(
            Verification.tenant_id == tenant_id, Verification.customer_id == customer_id
        )
    )
    carts = await session.execute(
        select(Cart.id).where(Cart.tenant_id == tenant_id, Cart.customer_id == customer_id)
    )
    return [
        *(f"ticket:{ticket_id}:" for ticket_id in tickets.scalars()),
        *(f"verification:{verification_id}" for verification_id in verifications.scalars()),
        *(f"recovery:{cart_id}:" for cart_id in carts.scalars()),
    ]


async def erase_customer(
    session: AsyncSession, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> dict[str, int]:
    """Erase or anonymise everything held about one customer (see the module docstring).

    Idempotent: a second run finds nothing left and reports zeros (the customer row is
    counted only while it still had identifying fields). The caller commits.

    Args:
        session: an open session, inside the caller's transaction.
        tenant_id: the shop; nothing of another shop is touched.
        customer_id: the customer.

    Returns:
        Rows deleted or changed per table (every table named, zero included).

    Raises:
        LookupError: no such customer in this tenant.
    """
    customer = (
        await session.execute(
            select(Customer)
            .where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if customer is None:
        raise LookupError("customer not found")
    addresses = await _addresses(session, tenant_id, customer)
    counts: dict[str, int] = {}
    counts["store_events"] = await _scrub_store_events(session, tenant_id, customer, addresses)
    # Before the rows they are keyed by go: e-mails about the customer's tickets (the
    # agents' escalation notices quote the ticket's subject), verifications and carts,
    # whoever they were sent to, and every e-mail sent to the customer's addresses.
    counts["outbound_emails"] = await _count(
        session,
        delete(OutboundEmail)
        .where(
            OutboundEmail.tenant_id == tenant_id,
            or_(
                func.lower(OutboundEmail.to_address) == any_(text_array(addresses)),
                *(
                    OutboundEmail.key.startswith(prefix, autoescape=True)
                    for prefix in await _mail_key_prefixes(session, tenant_id, customer_id)
                ),
            ),
        )
        .returning(OutboundEmail.id),
    )

    conversation_ids = list(
        (
            await session.execute(
                select(Conversation.id).where(
                    Conversation.tenant_id == tenant_id, Conversation.customer_id == customer_id
                )
            )
        ).scalars()
    )
    # Verifications outside those conversations (none today) go too.
    counts["verifications"] = await _count(
        session,
        delete(Verification)
        .where(Verification.tenant_id == tenant_id, Verification.customer_id == customer_id)
        .returning(Verification.id),
    )
    for table, n in (await delete_conversations(session, tenant_id, conversation_ids)).items():
        counts[table] = counts.get(table, 0) + n

    ticket_ids = list(
        (
            await session.execute(
                select(Ticket.id).where(
                    Ticket.tenant_id == tenant_id, Ticket.customer_id == customer_id
                )
            )
        ).scalars()
    )
    now = utcnow()
    counts["ticket_events"] = await _count(
        session,
        update(TicketEvent)
        .where(
            TicketEvent.tenant_id == tenant_id,
            TicketEvent.ticket_id == any_(uuid_array(ticket_ids)),
            TicketEvent.text.is_not(None),
            TicketEvent.text != REDACTED,
        )
        .values(text=REDACTED)
        .returning(TicketEvent.id),
    )
    counts["tickets"] = await _count(
        session,
        update(Ticket)
        .where(
            Ticket.tenant_id == tenant_id,
            Ticket.customer_id == customer_id,
            or_(
                Ticket.description != REDACTED,
                Ticket.subject != REDACTED,
                Ticket.status != "closed",
                cast(Ticket.media_ids, Text) != "[]",
            ),
        )
        .values(
            subject=REDACTED,
            description=REDACTED,
            media_ids=[],
            conversation_id=None,
            status="closed",
            closed_at=func.coalesce(Ticket.closed_at, now),
            updated_at=now,
        )
        .returning(Ticket.id),
    )

    cart_ids = uuid_array(
        (
            await session.execute(
                select(Cart.id).where(Cart.tenant_id == tenant_id, Cart.customer_id == customer_id)
            )
        ).scalars()
    )
    counts["cart_recoveries"] = await _count(
        session,
        delete(CartRecovery)
        .where(
            CartRecovery.tenant_id == tenant_id,
            or_(CartRecovery.customer_id == customer_id, CartRecovery.cart_id == any_(cart_ids)),
        )
        .returning(CartRecovery.id),
    )
    counts["coupons"] = await _count(
        session,
        update(Coupon)
        .where(
            Coupon.tenant_id == tenant_id,
            or_(Coupon.customer_id == customer_id, Coupon.cart_id == any_(cart_ids)),
        )
        .values(customer_id=None, cart_id=None)
        .returning(Coupon.id),
    )
    counts["cart_items"] = await _count(
        session,
        delete(CartItem)
        .where(CartItem.tenant_id == tenant_id, CartItem.cart_id == any_(cart_ids))
        .returning(CartItem.id),
    )
    counts["carts"] = await _count(
        session,
        delete(Cart)
        .where(Cart.tenant_id == tenant_id, Cart.customer_id == customer_id)
        .returning(Cart.id),
    )
    counts["orders"] = await _count(
        session,
        update(Order)
        .where(Order.tenant_id == tenant_id, Order.customer_id == customer_id)
        .values(address=null(), customer_id=None)
        .returning(Order.id),
    )
    counts["consents"] = await _count(
        session,
        delete(Consent)
        .where(Consent.tenant_id == tenant_id, Consent.customer_id == customer_id)
        .returning(Consent.id),
    )
    counts["privacy_requests"] = await _count(
        session,
        update(PrivacyRequest)
        .where(
            PrivacyRequest.tenant_id == tenant_id,
            PrivacyRequest.customer_id == customer_id,
            PrivacyRequest.document.is_not(None),
        )
        .values(document=null())
        .returning(PrivacyRequest.id),
    )
    counts["rate_limit_hits"] = await _count(
        session,
        delete(RateLimitHit)
        .where(RateLimitHit.key.contains(str(customer_id)))
        .returning(RateLimitHit.key),
    )
    identifying = (
        customer.name,
        customer.email,
        customer.phone_e164,
        customer.wa_user_id,
        customer.external_id,
        customer.external_updated_at,
    )
    counts["customers"] = 0
    if any(value is not None for value in identifying):
        customer.name = None
        customer.email = None
        customer.phone_e164 = None
        customer.wa_user_id = None
        customer.external_id = None
        customer.external_updated_at = None
        counts["customers"] = 1
    await session.flush()
    return dict(sorted(counts.items()))


async def expired_conversations(
    session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime
) -> list[tuple[uuid.UUID, str]]:
    """The tenant's conversations whose last activity is older than ``cutoff``.

    Last activity is the latest of the conversation's creation, its last inbound message
    and its newest message (either direction).

    Returns:
        ``(conversation id, workflow id)`` pairs, oldest first.
    """
    newest_message = (
        select(func.max(Message.created_at))
        .where(Message.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )
    last_activity = func.greatest(
        Conversation.created_at,
        func.coalesce(Conversation.last_inbound_at, Conversation.created_at),
        func.coalesce(newest_message, Conversation.created_at),
    )
    rows = await session.execute(
        select(Conversation.id, Conversation.workflow_id)
        .where(Conversation.tenant_id == tenant_id, last_activity < cutoff)
        .order_by(last_activity, Conversation.id)
    )
    return [(row.id, row.workflow_id) for row in rows]


async def prune_transcripts(
    session: AsyncSession, tenant_id: uuid.UUID, cutoff: datetime, *, limit: int = 1000
) -> dict[str, int]:
    """Delete the parts of kept conversations older than ``cutoff``; the caller commits.

    A conversation that stays (recent activity, or its workflow still runs) keeps only its
    messages from ``cutoff`` on: older messages go, oldest first and at most ``limit`` per
    call, with their model and tool calls, their inbound events and the delivery statuses
    of the replies. Verifications that ended before ``cutoff`` go. The running summary of
    a conversation that lost messages here (or that covers only older messages) is
    cleared, since it was written from them; the assistant summarises again from what is
    kept.

    Returns:
        Rows deleted or cleared per table (``conversation_summaries`` for the summaries);
        ``messages`` below ``limit`` means nothing older is left.
    """
    old = (
        await session.execute(
            select(Message.id, Message.provider_message_id, Message.conversation_id)
            .where(Message.tenant_id == tenant_id, Message.created_at < cutoff)
            .order_by(Message.created_at, Message.id)
            .limit(limit)
        )
    ).all()
    touched = uuid_array({row.conversation_id for row in old})
    counts = await _delete_messages(session, tenant_id, old)
    ended = func.greatest(
        Verification.created_at,
        func.coalesce(Verification.expires_at, Verification.created_at),
        func.coalesce(Verification.locked_until, Verification.created_at),
        func.coalesce(Verification.verified_until, Verification.created_at),
    )
    counts["verifications"] = await _count(
        session,
        delete(Verification)
        .where(Verification.tenant_id == tenant_id, ended < cutoff)
        .returning(Verification.id),
    )
    counts["conversation_summaries"] = await _count(
        session,
        update(Conversation)
        .where(
            Conversation.tenant_id == tenant_id,
            Conversation.summary.is_not(None) | Conversation.summary_through.is_not(None),
            or_(Conversation.id == any_(touched), Conversation.summary_through < cutoff),
        )
        .values(summary=None, summary_through=None)
        .returning(Conversation.id),
    )
    return counts


async def delete_expired_rate_limit_hits(session: AsyncSession, before: datetime) -> int:
    """Delete rate-limit counters of windows that started before ``before``.

    Returns:
        Rows deleted.
    """
    return await _count(
        session,
        delete(RateLimitHit).where(RateLimitHit.window_start < before).returning(RateLimitHit.key),
    )
