"""Store webhooks: ``POST /webhooks/shopify`` and ``POST /webhooks/woocommerce/{integration}``.

Each delivery is verified on the raw body (base64 HMAC-SHA256; notes/store-apis.md §1.5 and
§2), written to ``store_events`` under its dedupe key, handed to a StoreEventWorkflow and
answered 200 at once: Shopify allows 5 s and retries 8 times over 4 hours, WooCommerce
disables a webhook after 5 failures. A duplicate is acknowledged and dropped; a stale
redelivery is recognised when applied (its ``updated_at`` is older than what we hold).
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDConflictPolicy
from temporalio.service import RPCError

from api.bodies import read_limited
from api.deps import SessionsDep, SettingsDep, TemporalDep
from tendero.crypto import DecryptionError
from tendero.db.models import Integration, StoreEvent
from tendero.domain.ids import store_event_workflow_id
from tendero.domain.sync import StoreEventInput
from tendero.settings import Settings
from tendero.stores.credentials import WooCommerceCredentials
from tendero.stores.integrations import IntegrationUnavailable, open_credentials
from tendero.stores.shopify.oauth import verify_webhook_hmac, webhook_header
from tendero.stores.woocommerce import webhooks as woo
from workflows.common import INTEGRATION_ID, TENANT_ID
from workflows.store_event import StoreEventWorkflow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"description": "signature missing or wrong"}
}


def _shopify_secrets(settings: Settings) -> list[str]:
    return [
        secret.get_secret_value()
        for secret in (settings.shopify_client_secret, settings.shopify_previous_client_secret)
        if secret is not None
    ]


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise HTTPException(status_code=400, detail="body is not JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="body is not a JSON object")
    return body


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@router.post(
    "/shopify",
    responses={
        **_UNAUTHORIZED,
        400: {"description": "signed, but not a JSON object or without topic/shop/webhook id"},
        413: {"description": "body too large"},
    },
)
async def shopify_webhook(
    request: Request, settings: SettingsDep, sessions: SessionsDep, temporal: TemporalDep
) -> JSONResponse:
    """Receive a Shopify webhook (both ``X-Shopify-*`` and ``Shopify-*`` header spellings)."""
    raw = await read_limited(request, settings.webhook_max_body_bytes)
    headers = request.headers
    if not verify_webhook_hmac(
        raw, webhook_header(headers, "Hmac-Sha256"), _shopify_secrets(settings)
    ):
        raise HTTPException(status_code=401, detail="invalid signature")
    topic = webhook_header(headers, "Topic")
    shop = (webhook_header(headers, "Shop-Domain") or "").lower()
    webhook_id = webhook_header(headers, "Webhook-Id")
    if not topic or not shop or not webhook_id:
        raise HTTPException(status_code=400, detail="missing topic, shop domain or webhook id")
    body = _json(raw)
    async with sessions() as session:
        integration = await session.scalar(
            select(Integration)
            .where(Integration.kind == "shopify", Integration.shop_domain == shop)
            # shop/redact arrives 48 h after the uninstall: the latest row of the shop.
            .order_by((Integration.status == "connected").desc(), Integration.created_at.desc())
            .limit(1)
        )
    if integration is None:
        logger.info("shopify webhook for an unknown shop; acknowledged and dropped")
        return JSONResponse({"status": "ignored"})
    return await _record_and_start(
        temporal,
        sessions,
        settings,
        integration,
        topic=topic,
        dedupe_key=webhook_id,
        resource_id=str(body.get("id")) if body.get("id") is not None else None,
        triggered_at=_when(webhook_header(headers, "Triggered-At")),
        body=body,
    )


@router.post(
    "/woocommerce/{integration_id}",
    responses={
        **_UNAUTHORIZED,
        400: {"description": "signed, but not a JSON object with an id"},
        404: {"description": "no such WooCommerce integration"},
        413: {"description": "body too large"},
    },
)
async def woocommerce_webhook(
    integration_id: uuid.UUID,
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> JSONResponse:
    """Receive a WooCommerce webhook; the unsigned ``webhook_id=N`` ping is answered 200."""
    raw = await read_limited(request, settings.webhook_max_body_bytes)
    if woo.is_ping(raw) is not None:
        # WooCommerce pings a new webhook unsigned, and reports anything but 200 as an error.
        return JSONResponse({"status": "pong"})
    async with sessions() as session:
        integration = await session.get(Integration, integration_id)
    if integration is None or integration.kind != "woocommerce":
        raise HTTPException(status_code=404, detail="no such integration")
    try:
        credentials = open_credentials(settings.keyring, integration)
    except (IntegrationUnavailable, DecryptionError):
        # Disconnected: nothing can verify the delivery; WooCommerce will disable it.
        raise HTTPException(status_code=401, detail="integration is not connected") from None
    assert isinstance(credentials, WooCommerceCredentials)
    secrets = [credentials.webhook_secret.get_secret_value()]
    if credentials.previous_webhook_secret is not None:
        secrets.append(credentials.previous_webhook_secret.get_secret_value())
    if not woo.verify_signature(raw, request.headers.get(woo.SIGNATURE_HEADER), secrets):
        raise HTTPException(status_code=401, detail="invalid signature")
    topic = request.headers.get(woo.TOPIC_HEADER) or ""
    body = _json(raw)
    try:
        key = woo.dedupe_key(body)
    except ValueError:
        raise HTTPException(status_code=400, detail="webhook body has no id") from None
    return await _record_and_start(
        temporal,
        sessions,
        settings,
        integration,
        topic=topic,
        dedupe_key=f"{topic}:{key}",
        resource_id=str(body["id"]),
        triggered_at=woo.modified_at(body),
        body=body,
    )


async def _record_and_start(
    temporal: Client,
    sessions: SessionsDep,
    settings: Settings,
    integration: Integration,
    *,
    topic: str,
    dedupe_key: str,
    resource_id: str | None,
    triggered_at: datetime | None,
    body: dict[str, Any],
) -> JSONResponse:
    async with sessions() as session, session.begin():
        inserted = await session.scalar(
            insert(StoreEvent)
            .values(
                id=uuid.uuid4(),
                tenant_id=integration.tenant_id,
                integration_id=integration.id,
                topic=topic[:64],
                dedupe_key=dedupe_key[:200],
                resource_id=resource_id[:100] if resource_id else None,
                triggered_at=triggered_at,
                received_at=datetime.now(UTC),
                payload=body,
            )
            .on_conflict_do_nothing(index_elements=["integration_id", "dedupe_key"])
            .returning(StoreEvent.id)
        )
        if inserted is None:
            existing = await session.scalar(
                select(StoreEvent).where(
                    StoreEvent.integration_id == integration.id,
                    StoreEvent.dedupe_key == dedupe_key[:200],
                )
            )
            assert existing is not None
            if existing.applied_at is not None:
                return JSONResponse({"status": "duplicate"})
            # Recorded before but maybe never handed over (Temporal was down): hand it over
            # again; the workflow id makes a second start a no-op.
            event_id = existing.id
        else:
            event_id = inserted
    try:
        await temporal.start_workflow(
            StoreEventWorkflow.run,
            StoreEventInput(event_id=event_id),
            id=store_event_workflow_id(integration.id, event_id),
            task_queue=settings.temporal_task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TENANT_ID, str(integration.tenant_id)),
                    SearchAttributePair(INTEGRATION_ID, str(integration.id)),
                ]
            ),
            static_summary=f"store webhook {topic}",
        )
    except RPCError:
        logger.exception("could not start the store event workflow; the store will redeliver")
        return JSONResponse({"status": "retry"}, status_code=503)
    return JSONResponse({"status": "accepted" if inserted else "duplicate"})
