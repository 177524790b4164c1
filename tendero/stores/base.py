"""The two store protocols (DESIGN.md, "Stores").

- ``StoreConnector`` is what the conversation and the checkout need, over our own ids:
  ``native`` (our catalog in Postgres) and ``remote`` (a connected store, with our tables as
  its mirror) implement it.
- ``StoreClient`` is what a remote store offers, over the store's own ids and the records of
  ``tendero.stores.records``: ``shopify``, ``woocommerce`` and ``custom`` implement it, and
  the sync, the store webhooks and ``remote`` use it.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Protocol

from tendero.catalog.views import ProductDetail
from tendero.db.repos.orders import OrderView
from tendero.domain.checkout import OrderSummary, PlacedOrder
from tendero.stores.records import (
    DiscountCode,
    DiscountRequest,
    OrderDraft,
    Page,
    Refund,
    RefundRequest,
    Resource,
    ShopInfo,
    StoreCustomer,
    StoreOrder,
    StoreProduct,
    StoreRecord,
    WebhookSubscription,
)


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


class StoreClient(Protocol):
    """A remote store's API, one instance per connected store.

    Every method raises the ``StoreError`` family of ``tendero.errors`` and nothing else
    (``StoreUnavailable``/``StoreThrottled`` after the connector's own retries,
    ``StoreAuthError``, ``StoreRejected``, ``StoreNotSupported``). Ids are the store's.
    """

    kind: ClassVar[str]
    """``shopify``, ``woocommerce`` or ``custom``."""

    resources: ClassVar[tuple[Resource, ...]]
    """The resources this kind of store can list (a custom backend has no customer list)."""

    async def shop_info(self) -> ShopInfo:
        """Check the credentials and describe the shop (the connection test)."""
        ...

    async def fetch_page(
        self,
        resource: Resource,
        *,
        cursor: str | None,
        updated_since: datetime | None,
        page_size: int,
    ) -> Page[StoreRecord]:
        """One page of ``resource``.

        Args:
            resource: one of ``resources``.
            cursor: ``None`` for the first page, else a previous page's ``next_cursor``.
            updated_since: ``None`` for a full scan; else only records updated at or after
                it (aware UTC), oldest first.
            page_size: records wanted per page (the connector caps it at the provider's
                maximum: 250 Shopify, 100 WooCommerce).

        Raises:
            StoreNotSupported: ``resource`` is not in ``resources``.
        """
        ...

    async def search_products(self, query: str, *, limit: int) -> list[StoreProduct]:
        """Published products matching ``query`` (the store's own search), best first."""
        ...

    async def get_product(self, external_id: str) -> StoreProduct | None:
        """One product with its variants and stock, ``None`` when the store has none."""
        ...

    async def get_order(self, external_id: str) -> StoreOrder | None:
        """One order, ``None`` when the store has none."""
        ...

    async def find_orders(
        self, *, email: str | None = None, phone: str | None = None, limit: int = 10
    ) -> list[StoreOrder]:
        """The orders of the customer with this e-mail or phone, newest first."""
        ...

    async def find_customer(
        self, *, email: str | None = None, phone: str | None = None
    ) -> StoreCustomer | None:
        """The store's customer with this e-mail or E.164 phone, if any."""
        ...

    async def create_order(self, draft: OrderDraft, *, idempotency_key: str) -> StoreOrder:
        """Create the order exactly once per ``idempotency_key``.

        A second call with the same key returns the order the first one created (found by
        the key stored on the order: Shopify ``sourceIdentifier``/tag, WooCommerce meta
        data, the custom backend's ``Idempotency-Key``), never a second order.
        """
        ...

    async def create_discount(self, request: DiscountRequest) -> DiscountCode:
        """Create a single-use, expiring discount code."""
        ...

    async def refund(self, request: RefundRequest, *, idempotency_key: str) -> Refund:
        """Record (and with ``move_money``, pay back) a refund on an order."""
        ...

    async def register_webhooks(self, *, address: str, secret: str) -> list[WebhookSubscription]:
        """Subscribe ``address`` to the store's product, customer and order topics.

        Idempotent: subscriptions that already point at ``address`` are kept, not doubled.
        ``secret`` signs deliveries where the store lets us choose it (WooCommerce); Shopify
        signs with the app's client secret and ignores it.
        """
        ...

    async def list_webhooks(self) -> list[WebhookSubscription]:
        """The store's webhook subscriptions, with ``active`` False for disabled ones."""
        ...
