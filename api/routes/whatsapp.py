"""WhatsApp Cloud API webhook: verification GET and signed POST (notes/whatsapp.md, section 1)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from temporalio.service import RPCError

from api.bodies import read_limited
from api.conversations import InboundRecorder
from api.deps import SessionsDep, SettingsDep, TemporalDep
from tendero.channels.whatsapp.payloads import WebhookPayloadError, parse_webhook
from tendero.channels.whatsapp.signature import verify_signature, verify_subscription
from tendero.db.models import Tenant
from tendero.db.repos import conversations as repo
from tendero.ratelimit import InboundLimits

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/webhooks/whatsapp", tags=["webhooks"])


@router.get(
    "",
    response_class=PlainTextResponse,
    responses={403: {"description": "mode is not subscribe or the verify token is wrong"}},
)
async def verify(
    settings: SettingsDep,
    mode: str | None = Query(default=None, alias="hub.mode"),
    token: str | None = Query(default=None, alias="hub.verify_token"),
    challenge: str | None = Query(default=None, alias="hub.challenge"),
) -> PlainTextResponse:
    """Answer Meta's subscription check with the challenge, as plain text."""
    answer = verify_subscription(
        mode, token, challenge, settings.whatsapp_verify_token.get_secret_value()
    )
    if answer is None:
        raise HTTPException(status_code=403, detail="verification failed")
    return PlainTextResponse(answer)


@router.post(
    "",
    responses={
        400: {"description": "malformed JSON or not a WhatsApp webhook envelope"},
        401: {"description": "missing or wrong X-Hub-Signature-256"},
        413: {"description": "body over WEBHOOK_MAX_BODY_BYTES"},
        503: {"description": "Temporal unreachable; Meta retries and nothing is lost"},
    },
)
async def receive(
    request: Request, settings: SettingsDep, sessions: SessionsDep, temporal: TemporalDep
) -> JSONResponse:
    """Verify, record and hand over every message and status of a (batched) webhook.

    The signature is checked on the raw bytes before anything is parsed. Each message is
    written under its wamid before its conversation is signalled; a redelivered message is
    acknowledged and produces nothing. The answer never waits for the bot's reply.

    A message over the customer's or the shop's inbound limit (``RATE_INBOUND_*``) is
    recorded but not handed to the conversation, except the first of its window, which gets
    one slow-down notice. Meta always gets 200 for it: a 429 would only make it redeliver.

    The JSON answer counts what happened: ``messages`` (accepted and handed over),
    ``throttled`` (recorded over a limit), ``duplicates``, ``statuses``, ``unknown_number``.
    """
    raw = await read_limited(request, settings.webhook_max_body_bytes)
    if not verify_signature(
        raw,
        request.headers.get("x-hub-signature-256"),
        settings.whatsapp_app_secret.get_secret_value(),
    ):
        raise HTTPException(status_code=401, detail="invalid signature")
    try:
        payload: Any = json.loads(raw)
        if not isinstance(payload, dict):
            raise WebhookPayloadError("the body is not a JSON object")
        batch = parse_webhook(payload)
    except (ValueError, WebhookPayloadError) as err:
        raise HTTPException(status_code=400, detail=f"malformed webhook: {err}") from err

    counts = {
        "messages": 0,
        "throttled": 0,
        "duplicates": 0,
        "statuses": 0,
        "unknown_number": 0,
    }
    tenants: dict[str, Tenant | None] = {}

    async def tenant_for(phone_number_id: str) -> Tenant | None:
        if phone_number_id not in tenants:
            async with sessions() as session:
                tenants[phone_number_id] = await repo.get_tenant_by_phone_number_id(
                    session, phone_number_id
                )
        return tenants[phone_number_id]

    for status in batch.statuses:
        status_tenant = await tenant_for(status.phone_number_id)
        if status_tenant is None:
            counts["unknown_number"] += 1
            continue
        async with sessions() as session, session.begin():
            event = await repo.record_inbound_event(
                session,
                provider="whatsapp-status",
                event_key=f"{status.provider_message_id}:{status.status.value}",
                tenant_id=status_tenant.id,
            )
            if event is not None:
                await repo.apply_status(session, status, tenant_id=status_tenant.id)
        counts["statuses"] += 1

    recorder = InboundRecorder(
        sessions,
        temporal,
        task_queue=settings.temporal_task_queue,
        idle_close_s=settings.conversation_idle_close_s,
        turns_per_run=settings.conversation_turns_per_run,
        limits=InboundLimits.from_settings(settings),
        burst_merge_window_ms=settings.burst_merge_window_ms,
    )
    for message in batch.messages:
        tenant = await tenant_for(message.phone_number_id)
        if tenant is None:
            logger.warning(
                "dropped a message for unknown phone_number_id %s", message.phone_number_id
            )
            counts["unknown_number"] += 1
            continue
        recorded = await recorder.record(tenant, message)
        if recorded is None:
            counts["duplicates"] += 1
            continue
        if recorded.to_signal:
            try:
                await recorder.signal(recorded)
            except RPCError as err:
                logger.error("Temporal unreachable while signalling a conversation: %s", err.status)
                raise HTTPException(status_code=503, detail="try again later") from err
        counts["throttled" if recorded.throttled else "messages"] += 1
    return JSONResponse(counts)
