"""Apply one recorded store webhook: mirror the record, or start the privacy requests.

Runs from the StoreEventWorkflow, so the API answers the store within its deadline
(Shopify allows 5 s) and a failure here is retried by Temporal, not lost. The verified
payload is read from Postgres and cleared once applied: it holds customers' data.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from tendero import privacy
from tendero.db.models import Integration, Order, Product, StoreEvent
from tendero.domain.ids import sync_schedule_id
from tendero.domain.privacy import PrivacyInput, PrivacyKind, PrivacyStarter
from tendero.domain.sync import StoreEventInput, StoreEventResult
from tendero.errors import StoreError
from tendero.stores.factory import StoreClients
from tendero.stores.integrations import disconnect
from tendero.stores.mirror import mirror_records
from tendero.stores.records import Resource, StoreRecord
from tendero.stores.shopify import payloads as shopify_payloads
from tendero.stores.woocommerce import payloads as woo_payloads

logger = logging.getLogger(__name__)


Mapper = Callable[[Mapping[str, Any]], StoreRecord]

# topic -> (resource, mapper); Shopify topics use "/", WooCommerce ones ".".
# Shopify's mandatory compliance webhooks: handed to the privacy workflows.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})

_RECORD_TOPICS: dict[str, tuple[Resource, Mapper]] = {
    "orders/create": (Resource.ORDERS, shopify_payloads.order_from_webhook),
    "orders/updated": (Resource.ORDERS, shopify_payloads.order_from_webhook),
    "orders/paid": (Resource.ORDERS, shopify_payloads.order_from_webhook),
    "orders/cancelled": (Resource.ORDERS, shopify_payloads.order_from_webhook),
    "orders/fulfilled": (Resource.ORDERS, shopify_payloads.order_from_webhook),
    "customers/create": (Resource.CUSTOMERS, shopify_payloads.customer_from_webhook),
    "customers/update": (Resource.CUSTOMERS, shopify_payloads.customer_from_webhook),
    "products/create": (Resource.PRODUCTS, shopify_payloads.product_from_webhook),
    "products/update": (Resource.PRODUCTS, shopify_payloads.product_from_webhook),
    "order.created": (Resource.ORDERS, woo_payloads.order_from_payload),
    "order.updated": (Resource.ORDERS, woo_payloads.order_from_payload),
    "order.restored": (Resource.ORDERS, woo_payloads.order_from_payload),
    "customer.created": (Resource.CUSTOMERS, woo_payloads.customer_from_payload),
    "customer.updated": (Resource.CUSTOMERS, woo_payloads.customer_from_payload),
    "product.created": (Resource.PRODUCTS, woo_payloads.product_from_payload),
    "product.updated": (Resource.PRODUCTS, woo_payloads.product_from_payload),
    "product.restored": (Resource.PRODUCTS, woo_payloads.product_from_payload),
}


class StoreEventActivities:
    """Activities of the StoreEventWorkflow.

    Args:
        sessions: database session factory.
        clients: store clients (a product whose webhook lacks its variants is re-read).
        temporal: to remove the sync schedule of an uninstalled app.
        start_privacy: starts a privacy workflow (Shopify's compliance webhooks).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: StoreClients,
        temporal: Client,
        start_privacy: PrivacyStarter,
    ) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._clients = clients
        self._temporal = temporal
        self._start_privacy = start_privacy

    @activity.defn(name="apply_store_event")
    async def apply_store_event(self, data: StoreEventInput) -> StoreEventResult:
        """Apply the event once; a retry after it was applied finds it done.

        Raises:
            ApplicationError: a store error while re-reading a product (retryable when
                the store is down).
        """
        async with self._sessions() as session:
            event = await session.get_one(StoreEvent, data.event_id)
            integration = await session.get_one(Integration, event.integration_id)
        if event.applied_at is not None:
            return StoreEventResult(outcome=event.outcome, topic=event.topic)
        payload: dict[str, Any] = event.payload or {}
        topic = event.topic
        if topic in PRIVACY_TOPICS:
            outcome = await self._privacy(integration, event.id, topic, payload)
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(StoreEvent)
                    .where(StoreEvent.id == event.id)
                    .values(outcome=outcome, applied_at=datetime.now(UTC), payload=None)
                )
            logger.info("store event %s (%s): %s", event.id, topic, outcome)
            return StoreEventResult(outcome=outcome, topic=topic)
        record: StoreRecord | None = None
        if topic in _RECORD_TOPICS:
            record = await self._record(integration, topic, payload)
        async with self._sessions() as session, session.begin():
            outcome = await self._apply(session, integration, event, topic, payload, record)
            await session.execute(
                update(StoreEvent)
                .where(StoreEvent.id == event.id)
                .values(outcome=outcome, applied_at=datetime.now(UTC), payload=None)
            )
        if topic == "app/uninstalled":
            await self._drop_schedule(integration.id)
        logger.info("store event %s (%s): %s", event.id, topic, outcome)
        return StoreEventResult(outcome=outcome, topic=topic)

    async def _record(
        self, integration: Integration, topic: str, payload: Mapping[str, Any]
    ) -> StoreRecord | None:
        resource, mapper = _RECORD_TOPICS[topic]
        try:
            return mapper(payload)
        except (ValidationError, ValueError, KeyError, TypeError):
            if resource is not Resource.PRODUCTS or "id" not in payload:
                return None
        # A WooCommerce variable product's webhook lists variation ids, not variations:
        # read the product (with its variants and stock) from the store instead.
        try:
            _, client = await self._clients.get(integration.id)
            return await client.get_product(str(payload["id"]))
        except StoreError as err:
            raise ApplicationError(
                str(err), type=err.code, non_retryable=not err.retryable
            ) from None

    async def _apply(
        self,
        session: AsyncSession,
        integration: Integration,
        event: StoreEvent,
        topic: str,
        payload: dict[str, Any],
        record: StoreRecord | None,
    ) -> str:
        tenant_id = integration.tenant_id
        if topic in _RECORD_TOPICS:
            if record is None:
                return "ignored"
            resource = _RECORD_TOPICS[topic][0]
            result = await mirror_records(
                session, tenant_id=tenant_id, resource=resource, records=[record]
            )
            return "applied" if result.synced else "stale"
        resource_id = str(payload.get("id", "")) or None
        if topic in ("products/delete", "product.deleted") and resource_id:
            await session.execute(
                update(Product)
                .where(Product.tenant_id == tenant_id, Product.external_id == resource_id)
                .values(published=False)
            )
            return "applied"
        if topic in ("orders/delete", "order.deleted") and resource_id:
            await session.execute(
                update(Order)
                .where(Order.tenant_id == tenant_id, Order.external_id == resource_id)
                .values(status="cancelled", store_status="deleted")
            )
            return "applied"
        if topic == "app/uninstalled":
            row = await session.get_one(Integration, integration.id, with_for_update=True)
            if row.status == "connected":
                await disconnect(session, row, status="uninstalled")
            return "applied"
        return "ignored"

    async def _privacy(
        self,
        integration: Integration,
        event_id: uuid.UUID,
        topic: str,
        payload: Mapping[str, Any],
    ) -> str:
        """Shopify's privacy webhooks: record one request per customer, start its workflow.

        ``customers/data_request`` -> an export, ``customers/redact`` and ``shop/redact`` ->
        a deletion, per matching customer of the tenant (``shop/redact``: every customer
        from the store, and the addresses of store orders without a customer). The request
        id is derived from the event and the customer, so a retried activity records and
        starts nothing twice. The workflows do the work; their requests record the result.

        Returns:
            ``exported`` / ``redacted`` (workflows started), ``no_customer`` when nobody
            matched (``customers/redact`` still clears the orders it names).
        """
        tenant_id = integration.tenant_id
        kind: PrivacyKind = "export" if topic == "customers/data_request" else "delete"
        async with self._sessions() as session, session.begin():
            if topic == "shop/redact":
                await privacy.anonymise_store_orders(session, tenant_id)
                customer_ids = await privacy.store_customer_ids(session, tenant_id)
            else:
                customer = payload.get("customer") or {}
                if not isinstance(customer, Mapping):
                    customer = {}
                customer_ids = await privacy.find_customers(
                    session,
                    tenant_id,
                    external_ids=[str(customer["id"])] if customer.get("id") else [],
                    emails=[str(customer.get("email") or "")],
                    phones=[str(customer.get("phone") or "")],
                )
                if topic == "customers/redact":
                    orders = payload.get("orders_to_redact") or []
                    await privacy.anonymise_orders(
                        session, tenant_id, [str(o) for o in orders if o is not None]
                    )
            requests = [
                await privacy.create_request(
                    session,
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    kind=kind,
                    source="shopify",
                    requested_by=f"shopify:{topic}",
                    request_id=uuid.uuid5(event_id, str(customer_id)),
                )
                for customer_id in customer_ids
            ]
        if not requests:
            return "no_customer"
        task_queue = activity.info().task_queue
        for request in requests:
            assert request.customer_id is not None
            await self._start_privacy(
                PrivacyInput(
                    tenant_id=tenant_id, request_id=request.id, customer_id=request.customer_id
                ),
                kind,
                task_queue=task_queue,
            )
        return "exported" if kind == "export" else "redacted"

    async def _drop_schedule(self, integration_id: uuid.UUID) -> None:
        try:
            await self._temporal.get_schedule_handle(sync_schedule_id(integration_id)).delete()
        except RPCError:
            pass  # no schedule (never created, or already gone)
