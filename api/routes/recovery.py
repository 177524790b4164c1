"""Abandoned-cart recovery over HTTP: the agent list, consents, settings, unsubscribe link.

- ``GET /api/v2/carts/abandoned`` (agents): the shop's carts with a recovery drip, with
  filters (hours since the last change, minimum value, guests or not, status), their value,
  the steps sent, the codes issued and the recovered order. Contacts are masked.
- ``GET/POST /api/v2/customers/{customer_id}/consents`` (agents): a customer's marketing
  consent history, and a new choice (a withdrawal stops a running drip at once).
- ``GET/PUT /api/v2/settings/cart-recovery`` (admins): the shop's schedule and discounts.
- ``GET /unsubscribe/{token}`` (no login): the link in every recovery e-mail; a page that
  asks to confirm (a GET changes nothing: mail scanners open links).
- ``POST /unsubscribe/{token}`` (no login): the confirmation, and the mail client's
  one-click unsubscribe (RFC 8058, ``List-Unsubscribe-Post``).

Every agent route acts in the signed-in user's tenant: another shop's customer answers 404
exactly like a missing one, and another shop's carts never appear.
"""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.agent_auth import AGENT_AUTH_ERRORS, AdminDep, AgentDep
from api.deps import SessionsDep, SettingsDep, TemporalDep
from tendero import recovery
from tendero.consent import current_consent, record_consent
from tendero.db.base import utcnow
from tendero.db.models import CartRecovery, Consent, Customer, Tenant
from tendero.domain.ids import cart_recovery_workflow_id
from tendero.domain.recovery import RecoveryState, RecoveryStop
from tendero.identity import mask_email
from tendero.settings import Settings
from workflows.recovery import AbandonedCartWorkflow

router = APIRouter(prefix="/api/v2", tags=["agent API: cart recovery"])
public_router = APIRouter(tags=["cart recovery"])

_NO_CUSTOMER: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer in your shop (another shop's looks the same)."}
}


class StepView(BaseModel):
    """One step the drip sent."""

    step: int = Field(description="0 is the chat nudge, 1-3 the e-mails.")
    channel: Literal["chat", "email"]
    at: datetime
    coupon_code: str | None


class AbandonedCart(BaseModel):
    """A cart with a recovery drip."""

    cart_id: uuid.UUID
    customer_id: uuid.UUID
    contact: str | None = Field(description="Masked e-mail, else masked phone; never raw.")
    guest: bool = Field(description="No e-mail and no store account.")
    item_count: int
    value: Decimal = Field(description="Server-priced cart subtotal at its last change.")
    currency: str
    abandoned_since: datetime = Field(description="The cart's last change.")
    hours_abandoned: float
    status: RecoveryState
    stop_reason: str | None
    steps_sent: list[StepView]
    codes: list[str]
    recovered_order_number: str | None


class AbandonedCartPage(BaseModel):
    """One page of carts, longest abandoned first."""

    total: int
    items: list[AbandonedCart]


class ConsentIn(BaseModel):
    """A customer's marketing choice, recorded by an agent or an API client."""

    model_config = ConfigDict(extra="forbid")

    granted: bool
    purpose: Literal["marketing"] = "marketing"
    source: Literal["api"] = "api"


class ConsentView(BaseModel):
    """One consent event."""

    granted: bool
    purpose: str
    source: str
    recorded_at: datetime


class ConsentHistory(BaseModel):
    """A customer's current choice (``null``: never asked) and every event, newest first."""

    customer_id: uuid.UUID
    current: ConsentView | None
    events: list[ConsentView]


class RecoverySettings(BaseModel):
    """The shop's recovery schedule (seconds after the cart's last change) and discounts."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    nudge_after_s: int = Field(gt=0, description="The chat nudge (default 300).")
    email_after_s: list[int] = Field(max_length=3, description="At most 3 e-mails, increasing.")
    discount_percents: list[Decimal] = Field(
        max_length=3, description="One per e-mail, 0 for no code."
    )
    code_ttl_s: int = Field(gt=0, description="How long a code stays valid.")
    whatsapp_number: str | None = Field(
        default=None, description="The shop's WhatsApp number (E.164), for wa.me links."
    )


def _hours(since: datetime, now: datetime) -> float:
    return round(max((now - since).total_seconds(), 0) / 3600, 2)


def _item(row: recovery.AbandonedRow, now: datetime) -> AbandonedCart:
    r, customer = row.recovery, row.customer
    steps = [StepView.model_validate(step) for step in r.steps]
    return AbandonedCart(
        cart_id=r.cart_id,
        customer_id=r.customer_id,
        contact=mask_email(customer.email)
        if customer.email
        else recovery.mask_phone(customer.phone_e164),
        guest=customer.email is None and customer.external_id is None,
        item_count=r.item_count,
        value=r.value,
        currency=r.currency,
        abandoned_since=r.last_activity_at,
        hours_abandoned=_hours(r.last_activity_at, now),
        status=r.status,
        stop_reason=r.stop_reason,
        steps_sent=steps,
        codes=[s.coupon_code for s in steps if s.coupon_code],
        recovered_order_number=row.order_number,
    )


@router.get(
    "/carts/abandoned",
    response_model=AbandonedCartPage,
    responses=AGENT_AUTH_ERRORS,
    summary="List carts with a recovery drip",
)
async def list_abandoned_carts(
    user: AgentDep,
    sessions: SessionsDep,
    hours: Annotated[
        float | None, Query(ge=0, description="At least this many hours since the last change.")
    ] = None,
    min_value: Annotated[
        Decimal | None, Query(ge=0, description="At least this value (shop currency).")
    ] = None,
    include_guests: Annotated[
        bool, Query(description="False leaves out customers with no e-mail or store account.")
    ] = True,
    status_: Annotated[
        list[RecoveryState] | None, Query(alias="status", description="Only these states.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AbandonedCartPage:
    """The shop's carts with a recovery drip, longest abandoned first."""
    now = utcnow()
    async with sessions() as session:
        total, rows = await recovery.list_abandoned(
            session,
            tenant_id=user.tenant_id,
            now=now,
            min_hours=hours,
            min_value=min_value,
            include_guests=include_guests,
            statuses=list(status_) if status_ else None,
            limit=limit,
            offset=offset,
        )
    return AbandonedCartPage(total=total, items=[_item(row, now) for row in rows])


async def _customer(sessions: SessionsDep, tenant_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    async with sessions() as session:
        found = await session.scalar(
            select(Customer.id).where(Customer.id == customer_id, Customer.tenant_id == tenant_id)
        )
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such customer")


def _view(row: Consent) -> ConsentView:
    return ConsentView(
        granted=row.granted, purpose=row.purpose, source=row.source, recorded_at=row.recorded_at
    )


async def _history(
    sessions: SessionsDep, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> ConsentHistory:
    async with sessions() as session:
        rows = (
            await session.execute(
                select(Consent)
                .where(Consent.tenant_id == tenant_id, Consent.customer_id == customer_id)
                .order_by(Consent.recorded_at.desc(), Consent.created_at.desc())
            )
        ).scalars()
        events = [_view(row) for row in rows]
        latest = await current_consent(session, tenant_id=tenant_id, customer_id=customer_id)
    return ConsentHistory(
        customer_id=customer_id,
        current=_view(latest) if latest else None,
        events=events,
    )


async def stop_drips(
    client: Client, sessions: SessionsDep, tenant_id: uuid.UUID, customer_id: uuid.UUID
) -> None:
    """Signal ``opted_out`` to the customer's running drips (the database already says so)."""
    async with sessions() as session:
        carts = (
            await session.execute(
                select(CartRecovery.cart_id).where(
                    CartRecovery.tenant_id == tenant_id,
                    CartRecovery.customer_id == customer_id,
                    CartRecovery.status.in_(recovery.ACTIVE_STATES),
                )
            )
        ).scalars()
        cart_ids = list(carts)
    for cart_id in cart_ids:
        handle = client.get_workflow_handle_for(
            AbandonedCartWorkflow.run, cart_recovery_workflow_id(tenant_id, cart_id)
        )
        try:
            await handle.signal(AbandonedCartWorkflow.opted_out, RecoveryStop())
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise


@router.get(
    "/customers/{customer_id}/consents",
    response_model=ConsentHistory,
    responses={**AGENT_AUTH_ERRORS, **_NO_CUSTOMER},
    summary="A customer's marketing consent",
)
async def get_consents(
    customer_id: uuid.UUID, user: AgentDep, sessions: SessionsDep
) -> ConsentHistory:
    """The customer's current marketing choice and its history, newest first."""
    await _customer(sessions, user.tenant_id, customer_id)
    return await _history(sessions, user.tenant_id, customer_id)


@router.post(
    "/customers/{customer_id}/consents",
    response_model=ConsentHistory,
    status_code=status.HTTP_201_CREATED,
    responses={**AGENT_AUTH_ERRORS, **_NO_CUSTOMER},
    summary="Record a customer's marketing consent",
)
async def post_consent(
    customer_id: uuid.UUID,
    body: ConsentIn,
    user: AgentDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> ConsentHistory:
    """Record a grant or a withdrawal (``source=api``); a withdrawal stops running drips."""
    await _customer(sessions, user.tenant_id, customer_id)
    async with sessions() as session, session.begin():
        await record_consent(
            session,
            tenant_id=user.tenant_id,
            customer_id=customer_id,
            granted=body.granted,
            source=body.source,
            purpose=body.purpose,
        )
    if not body.granted:
        await stop_drips(temporal, sessions, user.tenant_id, customer_id)
    return await _history(sessions, user.tenant_id, customer_id)


def _settings_view(policy: recovery.RecoveryPolicy) -> RecoverySettings:
    return RecoverySettings.model_validate(policy.overrides())


@router.get(
    "/settings/cart-recovery",
    response_model=RecoverySettings,
    responses=AGENT_AUTH_ERRORS,
    summary="The shop's cart-recovery schedule",
)
async def get_recovery_settings(
    user: AdminDep, sessions: SessionsDep, settings: SettingsDep
) -> RecoverySettings:
    """The schedule in effect: the install's defaults with the shop's overrides."""
    async with sessions() as session:
        tenant = await session.get_one(Tenant, user.tenant_id)
    return _settings_view(recovery.tenant_policy(settings, tenant))


@router.put(
    "/settings/cart-recovery",
    response_model=RecoverySettings,
    responses={
        **AGENT_AUTH_ERRORS,
        422: {"description": "Not a valid schedule (more than 3 e-mails, not increasing...)."},
    },
    summary="Change the shop's cart-recovery schedule",
)
async def put_recovery_settings(
    body: RecoverySettings, user: AdminDep, sessions: SessionsDep, settings: SettingsDep
) -> RecoverySettings:
    """Replace the shop's schedule; drips that start from now on use it.

    A running drip keeps the schedule it read when it started (its workflow reads the
    plan once), so a change never moves or repeats a step already planned.
    """
    overrides = body.model_dump(mode="json")
    try:
        policy = recovery.RecoveryPolicy.build(settings, overrides)
    except recovery.RecoveryPolicyError as err:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(err)) from None
    async with sessions() as session, session.begin():
        tenant = await session.get_one(Tenant, user.tenant_id)
        tenant.cart_recovery = policy.overrides()
    return _settings_view(policy)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport"
content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body style="font-family: sans-serif; line-height: 1.5; max-width: 32em; margin: 3em auto;">
{body}
</body></html>
"""

_CONFIRM = """<h1>Unsubscribe?</h1>
<p>{shop} will send you no more cart reminders or offers.</p>
<form method="post"><button type="submit">Unsubscribe</button></form>
"""

_DONE = """<h1>You are unsubscribed</h1>
<p>{shop} will send you no more cart reminders or offers.</p>
<p>Changed your mind? Write <strong>subscribe</strong> to us on WhatsApp.</p>
"""


async def _link_customer(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, token: str
) -> tuple[uuid.UUID, uuid.UUID, str]:
    """The shop, customer and shop name an unsubscribe token names.

    Raises:
        HTTPException: 404 for a forged or malformed token, or a customer that is gone.
    """
    parsed = recovery.parse_unsubscribe_token(settings.derived_key("unsubscribe"), token)
    if parsed is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="not a valid link")
    tenant_id, customer_id = parsed
    async with sessions() as session:
        customer = await session.get(Customer, customer_id)
        tenant = await session.get(Tenant, tenant_id)
        if customer is None or tenant is None or customer.tenant_id != tenant_id:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="not a valid link")
        return tenant_id, customer_id, tenant.name


@public_router.get(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    responses={404: {"description": "Not a valid unsubscribe link."}},
    summary="Ask to confirm unsubscribing (the e-mail's link); changes nothing",
)
async def unsubscribe_page(
    token: str, sessions: SessionsDep, settings: SettingsDep
) -> HTMLResponse:
    """The confirmation page of the e-mail's link: a button that posts to the same address."""
    _, _, shop = await _link_customer(sessions, settings, token)
    body = _CONFIRM.format(shop=html.escape(shop))
    return HTMLResponse(_PAGE.format(title="Unsubscribe", body=body))


@public_router.post(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    responses={404: {"description": "Not a valid unsubscribe link."}},
    summary="Unsubscribe from cart reminders and offers (the page's button, one-click)",
)
async def unsubscribe(
    token: str, sessions: SessionsDep, settings: SettingsDep, temporal: TemporalDep
) -> HTMLResponse:
    """Withdraw the customer's marketing consent (``source=unsubscribe_link``).

    Idempotent: a consent already withdrawn is not recorded again. Any body is accepted,
    so a mail client's one-click ``List-Unsubscribe=One-Click`` post works too.
    """
    tenant_id, customer_id, shop = await _link_customer(sessions, settings, token)
    async with sessions() as session, session.begin():
        latest = await current_consent(session, tenant_id=tenant_id, customer_id=customer_id)
        if latest is None or latest.granted:
            await record_consent(
                session,
                tenant_id=tenant_id,
                customer_id=customer_id,
                granted=False,
                source="unsubscribe_link",
            )
    await stop_drips(temporal, sessions, tenant_id, customer_id)
    body = _DONE.format(shop=html.escape(shop))
    return HTMLResponse(_PAGE.format(title="Unsubscribed", body=body))
