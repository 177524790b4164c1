"""The ``StoreConnector`` protocol every store implementation follows (DESIGN.md, "Stores").

Part 1 ships the ``native`` connector (our own catalog in Postgres); Shopify, WooCommerce and
the custom REST backend implement the same protocol.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from tendero.catalog.views import ProductDetail
from tendero.db.repos.orders import OrderView
from tendero.domain.checkout import OrderSummary, PlacedOrder


class StoreConnector(Protocol):
    """What the conversation and checkout need from a store."""

    async def get_product(self, product_id: uuid.UUID) -> ProductDetail | None:
        """A product with its variants, or ``None`` (missing or another tenant's)."""
        ...

    async def get_customer_order(self, customer_id: uuid.UUID, number: str) -> OrderView | None:
        """The customer's own order by number, else ``None``."""
        ...

    async def list_customer_orders(self, customer_id: uuid.UUID, limit: int) -> list[OrderView]:
        """The customer's latest orders, newest first."""
        ...

    async def create_order(
        self, *, customer_id: uuid.UUID, summary: OrderSummary, idempotency_key: str
    ) -> PlacedOrder:
        """Create the order exactly once per ``idempotency_key``.

        Raises:
            CartChangedError: the cart is not the summarised one.
            OutOfStockError: some line cannot be fulfilled; nothing was written.
            PriceChangedError: a price moved since the summary; nothing was written.
        """
        ...
