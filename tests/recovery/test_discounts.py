"""Discount codes: unique, single use, expiring; shown in the summary, stored on the order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.checkout import CheckoutActivities, _checkout_replies
from tendero.checkout.pricing import Discount, discount_amount
from tendero.db.models import Cart, Coupon, Order, Tenant
from tendero.domain.activities import CheckoutMessageInput, PlaceOrderInput, SummaryInput
from tendero.domain.checkout import CheckoutChoices, Fulfilment, OrderSummary, PlacedOrder
from tendero.domain.conversation import ConversationRef
from tendero.recovery import (
    apply_code_to_open_cart,
    check_coupon,
    ensure_coupon,
    recovery_code,
)
from tests.recovery.conftest import Buyer, new_buyer, set_quantity
from tests.shop import Shop, make_shop

KEY = b"c" * 32


def ref(buyer: Buyer) -> ConversationRef:
    return ConversationRef(
        tenant_id=buyer.shop.tenant_id,
        customer_id=buyer.customer_id,
        conversation_id=buyer.conversation_id,
    )


async def summary_for(
    sessions: async_sessionmaker[AsyncSession], client: Client, buyer: Buyer, cart_id: uuid.UUID
) -> OrderSummary:
    checkout = CheckoutActivities(sessions, client, 900)
    result = await checkout.prepare_summary(
        SummaryInput(
            conversation=ref(buyer),
            cart_id=cart_id,
            choices=CheckoutChoices(fulfilment=Fulfilment.PICKUP, payment_method="cash"),
        )
    )
    assert result.summary is not None, result
    return result.summary


async def place(
    sessions: async_sessionmaker[AsyncSession],
    client: Client,
    buyer: Buyer,
    cart_id: uuid.UUID,
    summary: OrderSummary | None = None,
) -> PlacedOrder:
    """Price the cart and place the order as the CheckoutWorkflow's activities do."""
    summary = summary or await summary_for(sessions, client, buyer, cart_id)
    checkout = CheckoutActivities(sessions, client, 900)
    return await checkout.place_order(
        PlaceOrderInput(
            conversation=ref(buyer), summary=summary, idempotency_key=f"checkout:{uuid.uuid4()}"
        )
    )


async def coupon(
    sessions: async_sessionmaker[AsyncSession],
    shop: Shop,
    cart_id: uuid.UUID | None,
    *,
    step: int = 2,
    percent: str = "10",
    expires_in: timedelta = timedelta(days=7),
) -> str:
    code = recovery_code(KEY, shop.tenant_id, cart_id or uuid.uuid4(), step)
    async with sessions() as session, session.begin():
        await ensure_coupon(
            session,
            tenant_id=shop.tenant_id,
            code=code,
            percent=Decimal(percent),
            currency="USD",
            expires_at=datetime.now(UTC) + expires_in,
            cart_id=cart_id,
            customer_id=None,
        )
    return code


async def apply(sessions: async_sessionmaker[AsyncSession], buyer: Buyer, code: str) -> str:
    async with sessions() as session, session.begin():
        return await apply_code_to_open_cart(
            session,
            tenant_id=buyer.shop.tenant_id,
            customer_id=buyer.customer_id,
            code=code,
            now=datetime.now(UTC),
        )


@pytest.fixture
async def shop(sessionmaker: async_sessionmaker[AsyncSession]) -> Shop:
    return await make_shop(sessionmaker)


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


def test_codes_are_unique_per_cart_and_step_and_stable_for_retries():
    tenant, cart_a, cart_b = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    codes = {
        recovery_code(KEY, tenant, cart, step) for cart in (cart_a, cart_b) for step in (1, 2, 3)
    }
    assert len(codes) == 6
    assert recovery_code(KEY, tenant, cart_a, 2) == recovery_code(KEY, tenant, cart_a, 2)
    assert recovery_code(b"d" * 32, tenant, cart_a, 2) != recovery_code(KEY, tenant, cart_a, 2)
    assert all(c.startswith("BACK-") and len(c) == 15 for c in codes)


def test_discount_amount_rounds_and_never_exceeds_the_subtotal():
    ten = Discount(code="X", kind="percent", value=Decimal("10"))
    assert discount_amount(ten, Decimal("33.35"), "USD") == Decimal("3.34")
    assert discount_amount(ten, Decimal("1005"), "JPY") == Decimal("101")
    big = Discount(code="X", kind="amount", value=Decimal("50"))
    assert discount_amount(big, Decimal("40.00"), "USD") == Decimal("40.00")


async def test_ensure_coupon_is_idempotent(sessionmaker, shop: Shop):
    cart_id = uuid.uuid4()
    code = recovery_code(KEY, shop.tenant_id, cart_id, 1)
    for _ in range(2):
        async with sessionmaker() as session, session.begin():
            await ensure_coupon(
                session,
                tenant_id=shop.tenant_id,
                code=code,
                percent=Decimal("10"),
                currency="USD",
                expires_at=datetime.now(UTC) + timedelta(days=1),
                cart_id=None,
                customer_id=None,
            )
    async with sessionmaker() as session:
        rows = (await session.execute(select(Coupon).where(Coupon.code == code))).scalars().all()
    assert len(rows) == 1


async def test_code_in_summary_and_on_the_order_then_refused_the_second_time(
    sessionmaker, client: Client, shop: Shop
):
    buyer = await new_buyer(sessionmaker, shop)
    cart_id = await set_quantity(sessionmaker, buyer, "SUN-1", 2)
    code = await coupon(sessionmaker, shop, None, percent="10")  # not bound to a cart
    assert await apply(sessionmaker, buyer, code) == "applied"
    summary = await summary_for(sessionmaker, client, buyer, cart_id)
    assert (summary.subtotal, summary.discount, summary.discount_code) == (
        Decimal("40.00"),
        Decimal("4.00"),
        code,
    )
    # Tax (10 %) on the discounted subtotal; pickup: no delivery fee.
    assert (summary.tax, summary.total) == (Decimal("3.60"), Decimal("39.60"))
    async with sessionmaker() as session:
        tenant = await session.get_one(Tenant, shop.tenant_id)
    (text,) = _checkout_replies(
        tenant,
        "en",
        CheckoutMessageInput(
            conversation=ref(buyer), key="k", kind="summary", summary=summary, confirm_ttl_s=900
        ),
    )
    assert f"Subtotal: $40.00\nDiscount ({code}): -$4.00\nTax: $3.60\n*Total: $39.60*" in (
        text.body
    )

    placed = await place(sessionmaker, client, buyer, cart_id, summary)
    async with sessionmaker() as session:
        order = await session.get_one(Order, placed.order_id)
        used = (await session.execute(select(Coupon).where(Coupon.code == code))).scalar_one()
    assert (order.discount, order.discount_code, order.total) == (
        Decimal("4.000"),
        code,
        Decimal("39.600"),
    )
    assert (used.times_used, used.redeemed_order_id) == (1, placed.order_id)

    # The same code on the next cart: refused, and the summary says why.
    next_cart = await set_quantity(sessionmaker, buyer, "BEAN-1", 1)
    assert await apply(sessionmaker, buyer, code) == "used"
    async with sessionmaker() as session, session.begin():
        (await session.get_one(Cart, next_cart)).discount_code = code  # typed before it was used
    summary = await summary_for(sessionmaker, client, buyer, next_cart)
    assert (summary.discount, summary.discount_code, summary.discount_refused) == (
        Decimal(0),
        None,
        "used",
    )
    replies = _checkout_replies(
        tenant,
        "en",
        CheckoutMessageInput(
            conversation=ref(buyer), key="k", kind="summary", summary=summary, confirm_ttl_s=900
        ),
    )
    assert replies[0].body == "That discount code was already used, so it is not applied."


async def test_code_used_up_between_summary_and_confirm_is_a_price_change(
    sessionmaker, client: Client, shop: Shop
):
    buyer = await new_buyer(sessionmaker, shop)
    cart_id = await set_quantity(sessionmaker, buyer, "SUN-1", 1)
    code = await coupon(sessionmaker, shop, cart_id)
    assert await apply(sessionmaker, buyer, code) == "applied"
    summary = await summary_for(sessionmaker, client, buyer, cart_id)
    assert summary.discount == Decimal("2.00")
    async with sessionmaker() as session, session.begin():
        await session.execute(update(Coupon).where(Coupon.code == code).values(times_used=1))
    with pytest.raises(ApplicationError) as refused:
        await place(sessionmaker, client, buyer, cart_id, summary)
    assert refused.value.type == "PriceChanged" and refused.value.non_retryable
    assert "discount code can no longer be used: used" in str(refused.value)
    async with sessionmaker() as session:
        orders = await session.scalar(select(Order.id).where(Order.tenant_id == shop.tenant_id))
    assert orders is None


async def test_expired_code_and_another_carts_code_are_refused(
    sessionmaker, client: Client, shop: Shop
):
    buyer = await new_buyer(sessionmaker, shop)
    cart_id = await set_quantity(sessionmaker, buyer, "SUN-1", 1)
    expired = await coupon(sessionmaker, shop, cart_id, expires_in=-timedelta(seconds=1))
    assert await apply(sessionmaker, buyer, expired) == "expired"
    someone = await new_buyer(sessionmaker, shop, email="other@example.com")
    other = await coupon(sessionmaker, shop, await set_quantity(sessionmaker, someone, "SUN-1", 1))
    assert await apply(sessionmaker, buyer, other) == "other_cart"
    assert await apply(sessionmaker, buyer, "BACK-AAAAAAAAAA") == "unknown"
    async with sessionmaker() as session:
        assert (await session.get_one(Cart, cart_id)).discount_code is None
        checked = await check_coupon(
            session, tenant_id=shop.tenant_id, code=expired, cart_id=cart_id, now=datetime.now(UTC)
        )
    assert checked == "expired"
    # Another shop never finds this shop's code.
    elsewhere = await make_shop(sessionmaker)
    async with sessionmaker() as session:
        assert (
            await check_coupon(
                session,
                tenant_id=elsewhere.tenant_id,
                code=other,
                cart_id=cart_id,
                now=datetime.now(UTC),
            )
            == "unknown"
        )
