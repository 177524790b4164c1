"""The ``StoreConnector`` of a tenant connected to a store: the store decides, we mirror.

At CONFIRM the order is created in the store (Shopify, WooCommerce, custom backend) with the
checkout workflow ID as idempotency key, then recorded in our tables with the store's id and
number. No database connection is held while the store answers. Tracking reads the store's
current state of the order and refreshes the mirror before answering.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import Customer, Order, Product, ProductVariant
from tendero.db.repos import orders as orders_repo
from tendero.domain.checkout import OrderSummary, PlacedOrder
from tendero.errors import NotFoundError, OutOfStockError, StoreError, StoreRejected
from tendero.stores.base import StoreClient
from tendero.stores.mirror import mirror_records
from tendero.stores.native import NativeStore, checked_cart, write_order
from tendero.stores.records import DraftLine, OrderDraft, Resource, StoreAddress

# Provider error codes that mean "not enough stock" (Shopify userErrors, WooCommerce,
# the custom backend contract).
_STOCK_CODES = ("stock", "inventory", "insufficient", "sold_out")


class RemoteStore(NativeStore):
    """``StoreConnector`` for one tenant whose source of truth is a connected store.

    Products and order lists are read from the mirror (``NativeStore``'s reads), which the
    sync and the store's webhooks keep current; orders are created in the store.

    Args:
        sessions: session factory; each step runs in its own transaction.
        tenant_id: every query is scoped to this tenant.
        client: the store's client.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, client: StoreClient
    ) -> None:
        """Bind the connector to a tenant and its store."""
        super().__init__(sessions, tenant_id)
        self._client = client

    async def get_customer_order(
        self, customer_id: uuid.UUID, number: str
    ) -> orders_repo.OrderView | None:
        """The customer's order, refreshed from the store first when it came from there."""
        async with self._sessions() as session:
            order = await orders_repo.get_customer_order(
                session, tenant_id=self._tenant_id, customer_id=customer_id, number=number
            )
        if order is None:
            return None
        await self.refresh_order(order.order_id)
        async with self._sessions() as session:
            return await orders_repo.get_customer_order(
                session, tenant_id=self._tenant_id, customer_id=customer_id, number=number
            )

    async def refresh_order(self, order_id: uuid.UUID) -> None:
        """Read the order's current state from the store into the mirror.

        A store that cannot answer leaves the mirror as it is: tracking answers from the
        last known state rather than failing.
        """
        async with self._sessions() as session:
            external_id = await session.scalar(
                select(Order.external_id).where(
                    Order.id == order_id, Order.tenant_id == self._tenant_id
                )
            )
        if external_id is None:
            return
        try:
            record = await self._client.get_order(external_id)
        except StoreError:
            return
        if record is None:
            return
        async with self._sessions() as session, session.begin():
            await mirror_records(
                session, tenant_id=self._tenant_id, resource=Resource.ORDERS, records=[record]
            )

    async def create_order(
        self, *, customer_id: uuid.UUID, summary: OrderSummary, idempotency_key: str
    ) -> PlacedOrder:
        """Create the order in the store exactly once, then record it here.

        Raises:
            CartChangedError, PriceChangedError, NotFoundError: as ``NativeStore``.
            OutOfStockError: the store refused for stock (every line named).
            StoreError: the store failed (retryable) or refused for another reason.
        """
        async with self._sessions() as session, session.begin():
            _, _, existing = await checked_cart(
                session, self._tenant_id, customer_id, summary, idempotency_key
            )
            if existing is not None:
                return existing
            draft = await self._draft(session, customer_id, summary)
        try:
            created = await self._client.create_order(draft, idempotency_key=idempotency_key)
        except StoreRejected as err:
            code = (err.provider_code or "").lower()
            if any(word in code for word in _STOCK_CODES):
                raise OutOfStockError([line.name for line in draft.lines]) from None
            raise
        async with self._sessions() as session, session.begin():
            tenant, cart, existing = await checked_cart(
                session, self._tenant_id, customer_id, summary, idempotency_key
            )
            if existing is not None:
                return existing
            return await write_order(
                session,
                tenant=tenant,
                cart=cart,
                customer_id=customer_id,
                summary=summary,
                idempotency_key=idempotency_key,
                number=created.number[:32],
                external_id=created.external_id,
                store_status=created.status[:32],
            )

    async def _draft(
        self, session: AsyncSession, customer_id: uuid.UUID, summary: OrderSummary
    ) -> OrderDraft:
        rows = (
            await session.execute(
                select(ProductVariant.id, ProductVariant.external_id, Product.external_id)
                .join(Product, Product.id == ProductVariant.product_id)
                .where(
                    ProductVariant.tenant_id == self._tenant_id,
                    ProductVariant.id.in_([line.variant_id for line in summary.lines]),
                )
            )
        ).all()
        ids = {row[0]: (row[1], row[2]) for row in rows}
        lines = []
        for line in summary.lines:
            variant_ext, product_ext = ids.get(line.variant_id, (None, None))
            if variant_ext is None or product_ext is None:
                # Only products copied from the store can be ordered from it.
                raise NotFoundError("a line is not a product of the connected store")
            label = line.product_name + (f" ({line.variant_label})" if line.variant_label else "")
            lines.append(
                DraftLine(
                    product_external_id=product_ext,
                    variant_external_id=variant_ext,
                    quantity=line.quantity,
                    unit_price=line.unit_price,
                    name=label,
                    sku=line.sku,
                )
            )
        customer = await session.get_one(Customer, customer_id)
        address = None
        if summary.address is not None:
            address = StoreAddress(
                name=customer.name, line1=summary.address.describe(), phone=customer.phone_e164
            )
        return OrderDraft(
            currency=summary.currency,
            lines=lines,
            email=customer.email,
            phone=customer.phone_e164,
            customer_name=customer.name,
            customer_external_id=customer.external_id,
            fulfilment=summary.fulfilment.value,
            shipping_address=address,
            shipping_total=summary.delivery_fee,
            tax_total=summary.tax,
            total=summary.total,
            payment_method=summary.payment_method,
            note="Placed in chat with Tendero",
        )
