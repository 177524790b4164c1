"""Agent API for privacy (GDPR): export and delete a customer's data; retention settings.

Admins only. Every route acts in the signed-in admin's tenant: another shop's customer or
request answers 404 exactly like a missing one.

``POST /api/v2/privacy/export`` and ``POST /api/v2/privacy/delete`` resolve the customer
(by id, e-mail or phone) to internal ids, record one request per matching customer and
start its workflow (``privacy:{tenant}:{request}``, visible in the Temporal UI), then answer
``202`` at once with the requests: the work runs in the worker, and
``GET /api/v2/privacy/requests/{id}`` shows its status, its outcome and, for an export, the
document. The API never waits for the workflow: an export of a long-time customer can take
longer than an HTTP request should.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import func, select, update
from temporalio.service import RPCError

from api.agent_auth import AGENT_AUTH_ERRORS, AdminDep
from api.deps import SessionsDep, SettingsDep, TemporalDep
from tendero import privacy
from tendero.db.models import PrivacyRequest, Tenant
from tendero.domain.phone import to_e164
from tendero.domain.privacy import PrivacyInput, PrivacyKind, PrivacyStatus, RetentionResult
from workflows.privacy import start_privacy_workflow
from workflows.schedules import start_retention_now

router = APIRouter(prefix="/api/v2/privacy", tags=["agent API: privacy"])
settings_router = APIRouter(prefix="/api/v2/settings", tags=["agent API: privacy"])

# How long ``POST /api/v2/settings/retention/run`` waits for the sweep before answering 202.
RETENTION_RUN_WAIT_S = 20.0

_NO_CUSTOMER: dict[int | str, dict[str, Any]] = {
    404: {"description": "No customer of your shop matches (another shop's looks the same)."},
    422: {"description": "No lookup field given, an invalid phone number, or another field."},
    503: {"description": "Temporal is unreachable: the request was recorded as failed."},
}
_NO_REQUEST: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such request in your shop (another shop's looks the same)."}
}


class CustomerLookup(BaseModel):
    """Whose data: a customer id, an e-mail and/or a phone (at least one).

    Every customer of your shop that matches any given field is included (a person may
    have several customer records: one from WhatsApp, one from the store).
    """

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID | None = None
    email: str | None = Field(default=None, min_length=3, max_length=320)
    phone: str | None = Field(
        default=None, min_length=5, max_length=32, description="E.164 or digits."
    )

    @model_validator(mode="after")
    def _one_field(self) -> CustomerLookup:
        if self.customer_id is None and not self.email and not self.phone:
            raise ValueError("give customer_id, email or phone")
        if self.phone is not None and to_e164(self.phone) is None:
            raise ValueError("phone is not a valid phone number")
        return self


class PrivacyRequestRef(BaseModel):
    """A recorded request and its workflow."""

    request_id: uuid.UUID
    customer_id: uuid.UUID | None
    kind: PrivacyKind
    workflow_id: str
    status: PrivacyStatus


class PrivacyAccepted(BaseModel):
    """The requests started (one per matching customer)."""

    requests: list[PrivacyRequestRef]


class PrivacyRequestSummary(PrivacyRequestRef):
    """A request in a list."""

    source: str
    requested_by: str | None
    created_at: datetime
    completed_at: datetime | None
    error: str | None


class PrivacyRequestDetail(PrivacyRequestSummary):
    """A request with its outcome and, for a finished export, the document."""

    outcome: dict[str, Any]
    document: dict[str, Any] | None = Field(
        description="The export (JSON): profile, consents, conversations with messages, "
        "orders, carts, cart recoveries, coupons, tickets, verifications, e-mails, "
        "requests. `null` for a deletion, before an export is done, and after the "
        "customer was deleted."
    )


class PrivacyRequestPage(BaseModel):
    """One page of requests, newest first."""

    total: int
    items: list[PrivacyRequestSummary]


class RetentionSetting(BaseModel):
    """How long conversations and transcripts are kept."""

    model_config = ConfigDict(extra="forbid")

    retention_days: int = Field(ge=1, le=3650)


class RetentionRun(BaseModel):
    """A retention sweep of your shop started now."""

    workflow_id: str
    status: Literal["done", "running"]
    conversations_deleted: int | None = None
    kept_running: int | None = None
    messages_deleted_from_kept: int | None = None


def _ref(row: PrivacyRequest) -> dict[str, Any]:
    return {
        "request_id": row.id,
        "customer_id": row.customer_id,
        "kind": row.kind,
        "workflow_id": row.workflow_id,
        "status": row.status,
    }


def _summary(row: PrivacyRequest) -> dict[str, Any]:
    return {
        **_ref(row),
        "source": row.source,
        "requested_by": row.requested_by,
        "created_at": row.created_at,
        "completed_at": row.completed_at,
        "error": row.error,
    }


async def _start(
    kind: PrivacyKind,
    body: CustomerLookup,
    user: AdminDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PrivacyAccepted:
    async with sessions() as session, session.begin():
        customer_ids = await privacy.find_customers(
            session,
            user.tenant_id,
            customer_ids=[body.customer_id] if body.customer_id else [],
            emails=[body.email] if body.email else [],
            phones=[body.phone] if body.phone else [],
        )
        if not customer_ids:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="customer not found")
        rows = [
            await privacy.create_request(
                session,
                tenant_id=user.tenant_id,
                customer_id=customer_id,
                kind=kind,
                source="api",
                requested_by=f"user:{user.user_id}",
            )
            for customer_id in customer_ids
        ]
        refs = [PrivacyRequestRef(**_ref(row)) for row in rows]
    try:
        for ref in refs:
            assert ref.customer_id is not None
            await start_privacy_workflow(
                temporal,
                PrivacyInput(
                    tenant_id=user.tenant_id, request_id=ref.request_id, customer_id=ref.customer_id
                ),
                kind,
                task_queue=settings.temporal_task_queue,
            )
    except RPCError as err:
        async with sessions() as session, session.begin():
            await session.execute(
                update(PrivacyRequest)
                .where(
                    PrivacyRequest.tenant_id == user.tenant_id,
                    PrivacyRequest.id.in_([r.request_id for r in refs]),
                    PrivacyRequest.status == "pending",
                )
                .values(status="failed", error="the workflow could not be started")
            )
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="Temporal is unreachable; try again"
        ) from err
    return PrivacyAccepted(requests=refs)


@router.post(
    "/export",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**AGENT_AUTH_ERRORS, **_NO_CUSTOMER},
)
async def export_customer_data(
    body: CustomerLookup,
    user: AdminDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PrivacyAccepted:
    """Export everything your shop holds about a customer (a PrivacyExportWorkflow).

    Read the document with ``GET /api/v2/privacy/requests/{request_id}`` once its status
    is ``done``.
    """
    return await _start("export", body, user, sessions, temporal, settings)


@router.post(
    "/delete",
    status_code=status.HTTP_202_ACCEPTED,
    responses={**AGENT_AUTH_ERRORS, **_NO_CUSTOMER},
)
async def delete_customer_data(
    body: CustomerLookup,
    user: AdminDep,
    sessions: SessionsDep,
    temporal: TemporalDep,
    settings: SettingsDep,
) -> PrivacyAccepted:
    """Erase a customer everywhere (a PrivacyDeleteWorkflow); this cannot be undone.

    Conversations, transcripts, carts, verifications, consents and e-mails are deleted;
    orders and tickets are kept for the shop's records, anonymised; the customer's running
    workflows are ended and every workflow history of the customer deleted. The request's
    ``outcome`` records what was done.
    """
    return await _start("delete", body, user, sessions, temporal, settings)


@router.get("/requests", responses=AGENT_AUTH_ERRORS)
async def list_requests(
    user: AdminDep,
    sessions: SessionsDep,
    kind: PrivacyKind | None = None,
    status_: Annotated[PrivacyStatus | None, Query(alias="status")] = None,
    customer_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PrivacyRequestPage:
    """Your shop's privacy requests, newest first (without export documents)."""
    query = select(PrivacyRequest).where(PrivacyRequest.tenant_id == user.tenant_id)
    if kind is not None:
        query = query.where(PrivacyRequest.kind == kind)
    if status_ is not None:
        query = query.where(PrivacyRequest.status == status_)
    if customer_id is not None:
        query = query.where(PrivacyRequest.customer_id == customer_id)
    async with sessions() as session:
        total = await session.scalar(select(func.count()).select_from(query.subquery()))
        rows = await session.execute(
            query.order_by(PrivacyRequest.created_at.desc(), PrivacyRequest.id)
            .limit(limit)
            .offset(offset)
        )
        items = [PrivacyRequestSummary(**_summary(row)) for row in rows.scalars()]
    return PrivacyRequestPage(total=total or 0, items=items)


@router.get("/requests/{request_id}", responses={**AGENT_AUTH_ERRORS, **_NO_REQUEST})
async def get_request(
    request_id: uuid.UUID, user: AdminDep, sessions: SessionsDep
) -> PrivacyRequestDetail:
    """One request: status, outcome (rows per table, workflows deleted) and the document."""
    async with sessions() as session:
        row = (
            await session.execute(
                select(PrivacyRequest).where(
                    PrivacyRequest.tenant_id == user.tenant_id, PrivacyRequest.id == request_id
                )
            )
        ).scalar_one_or_none()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="request not found")
    return PrivacyRequestDetail(**_summary(row), outcome=row.outcome, document=row.document)


@settings_router.get("/retention", responses=AGENT_AUTH_ERRORS)
async def get_retention(user: AdminDep, sessions: SessionsDep) -> RetentionSetting:
    """How many days your shop keeps conversations and transcripts (default 30)."""
    async with sessions() as session:
        tenant = await session.get_one(Tenant, user.tenant_id)
        return RetentionSetting(retention_days=tenant.retention_days)


@settings_router.put(
    "/retention",
    responses={**AGENT_AUTH_ERRORS, 422: {"description": "retention_days not in 1..3650."}},
)
async def set_retention(
    body: RetentionSetting, user: AdminDep, sessions: SessionsDep
) -> RetentionSetting:
    """Set how many days conversations are kept; the next daily sweep applies it."""
    async with sessions() as session, session.begin():
        tenant = await session.get_one(Tenant, user.tenant_id, with_for_update=True)
        tenant.retention_days = body.retention_days
    return RetentionSetting(retention_days=body.retention_days)


@settings_router.post(
    "/retention/run",
    responses={
        **AGENT_AUTH_ERRORS,
        202: {"description": "Still running after 20 s: follow the workflow in the UI."},
        503: {"description": "Temporal is unreachable."},
    },
)
async def run_retention(
    response: Response, user: AdminDep, temporal: TemporalDep, settings: SettingsDep
) -> RetentionRun:
    """Apply your shop's retention now (a RetentionWorkflow for your shop only).

    Answers 200 with the counts when the sweep ends within 20 seconds, else 202.
    """
    try:
        handle = await start_retention_now(
            temporal, task_queue=settings.temporal_task_queue, tenant_id=user.tenant_id
        )
    except RPCError as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail="Temporal is unreachable; try again"
        ) from err
    try:
        result: RetentionResult = await asyncio.wait_for(
            handle.result(), timeout=RETENTION_RUN_WAIT_S
        )
    except TimeoutError:
        response.status_code = status.HTTP_202_ACCEPTED
        return RetentionRun(workflow_id=handle.id, status="running")
    return RetentionRun(
        workflow_id=handle.id,
        status="done",
        conversations_deleted=sum(t.conversations for t in result.tenants),
        kept_running=sum(t.skipped_running for t in result.tenants),
        messages_deleted_from_kept=sum(t.messages_pruned for t in result.tenants),
    )
