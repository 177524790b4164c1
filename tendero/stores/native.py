"""The ``native`` store: the tenant's catalog and orders in our own Postgres."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.agent.presets import get_preset
from tendero.catalog.views import ProductDetail
from tendero.checkout.pricing import Discount, discount_amount
from tendero.db.models import Cart, Order, OrderEvent, OrderItem, ProductVariant, Tenant
from tendero.db.repos import catalog as catalog_repo
from tendero.db.repos import orders as orders_repo
from tendero.db.repos.carts import load_cart
from tendero.domain.checkout import OrderSummary, PlacedOrder
from tendero.errors import CartChangedError, NotFoundError, OutOfStockError, PriceChangedError
from tendero.recovery import check_coupon, redeem_coupon

logger = logging.getLogger(__name__)


class DiscountRefusedError(PriceChangedError):
    """The summary's discount code can no longer be used (used up, expired, another cart).

    A ``PriceChanged`` for the checkout: the customer gets a new summary (without the
    discount, saying why) and confirms again.
    """


class NativeStore:
    """``StoreConnector`` over our own tables, for one tenant.

    Args:
        sessions: session factory; each call runs in its own transaction.
        tenant_id: every query is scoped to this tenant.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID) -> None:
        """Bind the connector to a tenant."""
        self._sessions = sessions
        self._tenant_id = tenant_id

    async def get_product(self, product_id: uuid.UUID) -> ProductDetail | None:
        """See ``StoreConnector.get_product``."""
        async with self._sessions() as session:
            return await catalog_repo.get_product(
                session, tenant_id=self._tenant_id, product_id=product_id
            )

    async def get_customer_order(
        self, customer_id: uuid.UUID, number: str
    ) -> orders_repo.OrderView | None:
        """See ``StoreConnector.get_customer_order``."""
        async with self._sessions() as session:
            return await orders_repo.get_customer_order(
                session, tenant_id=self._tenant_id, customer_id=customer_id, number=number
            )

    async def list_customer_orders(
        self, customer_id: uuid.UUID, limit: int = 5
    ) -> list[orders_repo.OrderView]:
        """See ``StoreConnector.list_customer_orders``."""
        async with self._sessions() as session:
            return await orders_repo.list_customer_orders(
                session, tenant_id=self._tenant_id, customer_id=customer_id, limit=limit
            )

    async def create_order(
        self, *, customer_id: uuid.UUID, summary: OrderSummary, idempotency_key: str
    ) -> PlacedOrder:
        """Create the order in one transaction, exactly once per ``idempotency_key``.

        Locks the cart first, so a concurrent attempt with the same key waits and then finds
        the order; then re-checks prices and stock against the summary under row locks,
        decrements stock, numbers the order, freezes its lines and closes the cart.

        Raises:
            NotFoundError: the tenant or cart does not exist (not retryable).
            CartChangedError, PriceChangedError, OutOfStockError: see ``StoreConnector``.
        """
        async with self._sessions() as session, session.begin():
            return await self._create_order(session, customer_id, summary, idempotency_key)

    async def _create_order(
        self,
        session: AsyncSession,
        customer_id: uuid.UUID,
        summary: OrderSummary,
        idempotency_key: str,
    ) -> PlacedOrder:
        tenant, cart, existing = await checked_cart(
            session, self._tenant_id, customer_id, summary, idempotency_key
        )
        if existing is not None:
            return existing
        variant_ids = sorted(line.variant_id for line in summary.lines)
        variants = {
            v.id: v
            for v in (
                await session.execute(
                    select(ProductVariant)
                    .where(
                        ProductVariant.id.in_(variant_ids),
                        ProductVariant.tenant_id == self._tenant_id,
                    )
                    .order_by(ProductVariant.id)  # one lock order: no deadlocks between carts
                    .with_for_update()
                )
            ).scalars()
        }
        unavailable = []
        for line in summary.lines:
            variant = variants.get(line.variant_id)
            label = line.product_name + (f" ({line.variant_label})" if line.variant_label else "")
            if variant is None or not variant.in_stock:
                unavailable.append(label)
            elif variant.stock_quantity is not None and variant.stock_quantity < line.quantity:
                unavailable.append(label)
        if unavailable:
            raise OutOfStockError(unavailable)
        for line in summary.lines:
            variant = variants[line.variant_id]
            if variant.stock_quantity is not None:
                left = variant.stock_quantity - line.quantity
                await session.execute(
                    update(ProductVariant)
                    .where(ProductVariant.id == variant.id)
                    .values(stock_quantity=left, in_stock=left > 0)
                )

        number = await orders_repo.next_order_number(
            session,
            tenant_id=self._tenant_id,
            prefix=tenant.order_prefix,
            year=datetime.now(UTC).year,
        )
        return await write_order(
            session,
            tenant=tenant,
            cart=cart,
            customer_id=customer_id,
            summary=summary,
            idempotency_key=idempotency_key,
            number=number,
        )


async def checked_cart(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    summary: OrderSummary,
    idempotency_key: str,
) -> tuple[Tenant, Cart, PlacedOrder | None]:
    """Lock the summarised cart and check it still is what the customer confirmed.

    Returns:
        The tenant, the locked cart, and the order already created under
        ``idempotency_key`` (``None`` when there is none yet).

    Raises:
        NotFoundError: the tenant or the customer's cart does not exist.
        CartChangedError: the cart was checked out or changed since the summary.
        PriceChangedError: a line's price or quantity differs from the summary.
    """
    tenant = await session.get(Tenant, tenant_id)
    cart = (
        await session.execute(
            select(Cart)
            .where(
                Cart.id == summary.cart_id,
                Cart.tenant_id == tenant_id,
                Cart.customer_id == customer_id,
            )
            .with_for_update()
        )
    ).scalar_one_or_none()
    if tenant is None or cart is None:
        raise NotFoundError("cart not found")
    existing = await orders_repo.get_order_by_idempotency_key(
        session, tenant_id=tenant_id, key=idempotency_key
    )
    if existing is not None:
        placed = PlacedOrder(
            order_id=existing.id,
            number=existing.number,
            total=existing.total,
            currency=existing.currency,
            created=False,
        )
        return tenant, cart, placed
    if cart.status != "open" or cart.version != summary.cart_version:
        raise CartChangedError("the cart changed since the summary")
    view = await load_cart(session, tenant_id=tenant_id, cart_id=cart.id)
    assert view is not None
    current = {(line.variant_id, line.quantity, line.unit_price) for line in view.lines}
    confirmed = {(line.variant_id, line.quantity, line.unit_price) for line in summary.lines}
    if current != confirmed:
        raise PriceChangedError("prices changed since the summary")
    if summary.discount_code:
        checked = await check_coupon(
            session,
            tenant_id=tenant_id,
            code=summary.discount_code,
            cart_id=cart.id,
            now=datetime.now(UTC),
        )
        if not isinstance(checked, Discount):
            raise DiscountRefusedError(f"the discount code can no longer be used: {checked}")
        if discount_amount(checked, summary.subtotal, summary.currency) != summary.discount:
            raise DiscountRefusedError("the discount changed since the summary")
    return tenant, cart, None


async def write_order(
    session: AsyncSession,
    *,
    tenant: Tenant,
    cart: Cart,
    customer_id: uuid.UUID,
    summary: OrderSummary,
    idempotency_key: str,
    number: str,
    external_id: str | None = None,
    store_status: str | None = None,
) -> PlacedOrder:
    """Write the confirmed order, its frozen lines and its first event; close the cart.

    ``external_id``: the order's id in the connected store that created it. A store webhook
    may have mirrored that order before this write: its row is taken over (it becomes the
    chat order, with our lines), never doubled.

    A summary with a discount redeems its coupon here, in the order's transaction, with one
    conditional ``UPDATE``: a single-use code is used exactly once.

    Raises:
        DiscountRefusedError: the code was used up (or expired) since ``checked_cart`` and
            the order is ours alone (native store); nothing is written. For an order the
            connected store already created, the order is recorded anyway and the failed
            redemption logged (the store applied its own copy of the code).
    """
    order_id = uuid.uuid4()
    values = {
        "id": order_id,
        "tenant_id": tenant.id,
        "customer_id": customer_id,
        "cart_id": cart.id,
        "number": number,
        "idempotency_key": idempotency_key,
        "status": "confirmed",
        "business_type": get_preset(tenant.preset).name,
        "fulfilment": summary.fulfilment.value,
        "address": summary.address.model_dump(mode="json") if summary.address else None,
        "payment_method": summary.payment_method,
        "currency": summary.currency,
        "subtotal": summary.subtotal,
        "delivery_fee": summary.delivery_fee,
        "tax": summary.tax,
        "total": summary.total,
        "discount": summary.discount,
        "discount_code": summary.discount_code,
        "tax_rate": summary.tax_rate,
        "source": "chat",
        "external_id": external_id,
        "store_status": store_status,
    }
    stmt = insert(Order).values(values)
    if external_id is not None:
        taken = {k: stmt.excluded[k] for k in values if k not in ("id", "tenant_id", "external_id")}
        stmt = stmt.on_conflict_do_update(index_elements=["tenant_id", "external_id"], set_=taken)
    order_id = (await session.execute(stmt.returning(Order.id))).scalar_one()
    if summary.discount_code:
        redeemed = await redeem_coupon(
            session,
            tenant_id=tenant.id,
            code=summary.discount_code,
            cart_id=cart.id,
            order_id=order_id,
            now=datetime.now(UTC),
        )
        if not redeemed and external_id is None:
            raise DiscountRefusedError("the discount code was used or expired meanwhile")
        if not redeemed:
            logger.warning("order %s: discount code could not be redeemed here", order_id)
    await session.execute(delete(OrderItem).where(OrderItem.order_id == order_id))
    await session.execute(
        insert(OrderItem).values(
            [
                {
                    "id": uuid.uuid4(),
                    "tenant_id": tenant.id,
                    "order_id": order_id,
                    "variant_id": line.variant_id,
                    "product_name": line.product_name,
                    "variant_label": line.variant_label,
                    "sku": line.sku,
                    "unit_price": line.unit_price,
                    "quantity": line.quantity,
                    "line_total": line.line_total,
                }
                for line in summary.lines
            ]
        )
    )
    session.add(
        OrderEvent(
            tenant_id=tenant.id,
            order_id=order_id,
            kind="placed",
            note="Order confirmed by the customer in chat",
        )
    )
    cart.status = "checked_out"
    return PlacedOrder(
        order_id=order_id,
        number=number,
        total=summary.total,
        currency=summary.currency,
        created=True,
    )
