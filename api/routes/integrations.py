"""A tenant's store integrations: connect, inspect, test, sync, schedule, disconnect.

Everything lives under ``/api/tenants/{slug}/integrations`` and needs a bearer token
(``api.auth``): ``viewer`` reads, ``operator`` tests the connection and starts syncs,
``admin`` connects, edits and disconnects. A key of another tenant gets 404 for the tenant
and for its integrations, exactly as for ones that do not exist.

Connecting a store (WooCommerce, custom backend, Shopify with an admin token; Shopify
OAuth in ``api.routes.shopify_oauth`` ends in the same flow) tests the credentials with
the store's own client, seals them (AES-256-GCM), registers the store's webhooks (a
failure there is recorded in ``last_error`` and does not undo the connection), creates
the Temporal Schedule of periodic syncs and starts a first full sync. Credentials never
appear in an answer; store failures are reported by their stable code, never by the
store's message (it can echo customer data).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
from fastapi import APIRouter, HTTPException, Query, Response, status
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, field_validator
from sqlalchemy import select, update
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    WorkflowExecutionStatus,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import AUTH_ERRORS, Admin, Operator, Principal, Viewer, tenant_by_slug
from api.deps import SessionsDep, SettingsDep, TemporalDep
from tendero.db.models import Integration, OAuthState, SyncRun, Tenant
from tendero.domain.ids import sync_schedule_id, sync_workflow_id
from tendero.domain.sync import ResourceProgress, SyncInput, SyncMode, SyncResource
from tendero.errors import StoreError, StoreNotSupported, StoreUnavailable
from tendero.settings import Settings
from tendero.stores.base import StoreClient
from tendero.stores.credentials import (
    CustomCredentials,
    ShopifyCredentials,
    StoreCredentials,
    WooCommerceCredentials,
)
from tendero.stores.factory import StoreClients, build_client, supported_resources
from tendero.stores.integrations import (
    IntegrationConflict,
    IntegrationUnavailable,
    IntegrationView,
    StoreKind,
    connect,
    connected_integration,
    disconnect,
)
from tendero.stores.records import ShopInfo
from tendero.stores.shopify.oauth import authorize_url, normalize_shop_domain
from tendero.stores.webhook_urls import webhook_address, webhook_secret
from workflows.common import INTEGRATION_ID, TENANT_ID
from workflows.schedules import delete_sync_schedule, ensure_sync_schedule
from workflows.store_sync import StoreSyncWorkflow

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tenants/{slug}/integrations", tags=["integrations"])

OAUTH_STATE_TTL_S = 600
"""How long a Shopify install link (its ``state``) stays valid."""

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such tenant or integration (or another tenant's)."},
}
_READ = {**AUTH_ERRORS, **_NOT_FOUND}
_CONNECT = {
    **_READ,
    409: {"description": "The tenant already has a connected store (or the shop is taken)."},
    422: {"description": "Invalid body (URL, shop domain, empty credentials)."},
    502: {"description": "The store refused the connection test: `{detail: {error: code}}`."},
    503: {"description": "The store (or Temporal) could not be reached."},
}


# --- request and response models -----------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _http_url(value: AnyHttpUrl) -> str:
    return str(value).rstrip("/")


class WooCommerceConnect(_Body):
    """A WooCommerce shop and its REST API keys (``ck_...`` / ``cs_...``)."""

    name: str = Field(min_length=1, max_length=200)
    base_url: AnyHttpUrl = Field(description="the site URL (http or https)")
    consumer_key: SecretStr = Field(min_length=1, max_length=200)
    consumer_secret: SecretStr = Field(min_length=1, max_length=200)


class CustomConnect(_Body):
    """A custom REST backend and its service account."""

    name: str = Field(min_length=1, max_length=200)
    base_url: AnyHttpUrl = Field(description="the backend's base URL (http or https)")
    username: str = Field(min_length=1, max_length=200)
    password: SecretStr = Field(min_length=1, max_length=500)


class _ShopDomain(_Body):
    shop_domain: str = Field(max_length=255, description="`{handle}.myshopify.com`")

    @field_validator("shop_domain")
    @classmethod
    def _valid_shop(cls, value: str) -> str:
        return normalize_shop_domain(value)


class ShopifyTokenConnect(_ShopDomain):
    """A shop and an Admin API access token of a custom app made by the merchant."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    access_token: SecretStr = Field(min_length=1, max_length=500)


class ShopifyInstall(_ShopDomain):
    """Start the OAuth install of the Tendero app on this shop."""


class AuthorizeLink(BaseModel):
    """Where to send the merchant to approve the app (valid for 10 minutes, single use)."""

    authorize_url: str


class ConnectedIntegration(IntegrationView):
    """The new integration and the id of its first (full) sync workflow."""

    sync_workflow_id: str


class IntegrationPatch(_Body):
    """Fields to change; absent ones are kept."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    sync_interval_s: int | None = Field(default=None, ge=60, le=7 * 24 * 3600)


class ConnectionTest(BaseModel):
    """The outcome of a connection test: the shop, or a stable error code."""

    ok: bool
    shop: ShopInfo | None = None
    error: str | None = None


class SyncRequest(_Body):
    """Which resource to sync (``all`` in dependency order) and how."""

    resource: SyncResource = "all"
    mode: SyncMode = SyncMode.AUTO


class SyncStarted(BaseModel):
    """The sync workflow that was started."""

    workflow_id: str
    run_id: str


class SyncRunView(BaseModel):
    """One resource's sync run, as recorded after every page."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    resource: str
    mode: str
    trigger: str
    status: str
    workflow_id: str
    workflow_run_id: str
    pages: int
    synced: int
    skipped: int
    failed: int
    total: int | None
    error: str | None
    created_at: datetime
    updated_at: datetime | None
    finished_at: datetime | None


class SyncRunDetail(SyncRunView):
    """A run with its record errors and a link to its workflow in the Temporal UI."""

    errors: list[dict[str, Any]]
    updated_since: datetime | None
    temporal_ui_url: str


class LiveSync(BaseModel):
    """The running ``all`` sync of an integration, if any, from its ``progress`` query."""

    running: bool
    workflow_id: str | None = None
    run_id: str | None = None
    resources: list[ResourceProgress] = []


# --- helpers ----------------------------------------------------------------------------


def store_http(settings: Settings) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(settings.store_http_timeout_s))


def store_error(err: StoreError) -> HTTPException:
    """The API answer to a store failure: its code only, never the store's message."""
    if isinstance(err, StoreUnavailable):
        return HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"error": err.code, "message": "the store could not be reached"},
        )
    return HTTPException(
        status.HTTP_502_BAD_GATEWAY,
        detail={"error": err.code, "message": "the store refused the connection test"},
    )


async def _probe(client: StoreClient) -> ShopInfo:
    """Run ``shop_info`` and map failures to 502/503."""
    try:
        info = await client.shop_info()
    except StoreError as err:
        raise store_error(err) from None
    except httpx.HTTPError:
        raise store_error(StoreUnavailable("connection failed")) from None
    return info


def _currency(info: ShopInfo) -> str | None:
    code = info.currency.upper()
    return code if len(code) == 3 and code.isalpha() and code != "XXX" else None


async def _integration(
    sessions: SessionsDep, principal: Principal, slug: str, integration_id: uuid.UUID
) -> tuple[Tenant, Integration]:
    tenant = await tenant_by_slug(sessions, principal, slug)
    async with sessions() as session:
        integration = await session.get(Integration, integration_id)
    if integration is None or integration.tenant_id != tenant.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such integration")
    return tenant, integration


def _search_attributes(tenant_id: uuid.UUID, integration_id: uuid.UUID) -> TypedSearchAttributes:
    return TypedSearchAttributes(
        [
            SearchAttributePair(TENANT_ID, str(tenant_id)),
            SearchAttributePair(INTEGRATION_ID, str(integration_id)),
        ]
    )


async def start_sync(
    temporal: Client,
    settings: Settings,
    integration: Integration,
    *,
    resource: SyncResource,
    mode: SyncMode,
    trigger: Literal["api", "connect"],
) -> SyncStarted:
    """Start ``sync:{integration}:{resource}``.

    Raises:
        WorkflowAlreadyStartedError: a run with that id is still running.
    """
    workflow_id = sync_workflow_id(integration.id, resource)
    handle = await temporal.start_workflow(
        StoreSyncWorkflow.run,
        SyncInput(
            integration_id=integration.id,
            tenant_id=integration.tenant_id,
            resource=resource,
            mode=mode,
            trigger=trigger,
            page_size=settings.store_sync_page_size,
        ),
        id=workflow_id,
        task_queue=settings.temporal_task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
        search_attributes=_search_attributes(integration.tenant_id, integration.id),
        static_summary=f"{trigger} sync of {resource}, integration {integration.id}",
    )
    assert handle.result_run_id is not None
    return SyncStarted(workflow_id=workflow_id, run_id=handle.result_run_id)


async def _register_webhooks(
    sessions: SessionsDep,
    settings: Settings,
    http: httpx.AsyncClient,
    integration: Integration,
    credentials: StoreCredentials,
) -> None:
    """Subscribe the store's webhooks; record them, or the failure's code in ``last_error``."""
    client = build_client(integration, credentials, http=http, settings=settings)
    values: dict[str, Any]
    try:
        subscriptions = await client.register_webhooks(
            address=webhook_address(settings, integration), secret=webhook_secret(credentials)
        )
    except StoreNotSupported:
        return
    except StoreError as err:
        logger.warning("integration %s: webhook registration failed: %s", integration.id, err.code)
        values = {"last_error": f"webhooks: {err.code}"}
    except httpx.HTTPError:
        logger.warning("integration %s: webhook registration failed to connect", integration.id)
        values = {"last_error": "webhooks: store_unavailable"}
    else:
        values = {
            "webhooks": [s.model_dump(mode="json") for s in subscriptions],
            "webhooks_checked_at": datetime.now(UTC),
            "last_error": None,
        }
    async with sessions() as session, session.begin():
        await session.execute(
            update(Integration).where(Integration.id == integration.id).values(**values)
        )


async def connect_store(
    *,
    settings: Settings,
    sessions: SessionsDep,
    temporal: Client,
    tenant_id: uuid.UUID,
    kind: StoreKind,
    name: str,
    credentials: StoreCredentials,
    base_url: str | None = None,
    shop_domain: str | None = None,
) -> ConnectedIntegration:
    """Test, save, subscribe webhooks, schedule and start the first full sync of a store.

    Raises:
        HTTPException: 409 (a store is already connected, or the shop is taken), 502 (the
            store refused the test), 503 (unreachable).
    """
    async with sessions() as session:
        if await connected_integration(session, tenant_id) is not None:
            raise HTTPException(
                status.HTTP_409_CONFLICT,
                detail="this shop already has a connected store; disconnect it first",
            )
    probe = Integration(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        name=name,
        base_url=base_url,
        shop_domain=shop_domain,
    )
    async with store_http(settings) as http:
        info = await _probe(build_client(probe, credentials, http=http, settings=settings))
        try:
            async with sessions() as session, session.begin():
                integration = await connect(
                    session,
                    settings.keyring,
                    tenant_id=tenant_id,
                    kind=kind,
                    name=name,
                    credentials=credentials,
                    base_url=base_url,
                    shop_domain=shop_domain,
                    currency=_currency(info),
                    sync_interval_s=settings.store_sync_interval_s,
                )
        except IntegrationConflict as err:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(err)) from None
        await _register_webhooks(sessions, settings, http, integration, credentials)
    await ensure_sync_schedule(
        temporal,
        integration_id=integration.id,
        tenant_id=tenant_id,
        interval_s=integration.sync_interval_s,
        task_queue=settings.temporal_task_queue,
    )
    started = await start_sync(
        temporal, settings, integration, resource="all", mode=SyncMode.FULL, trigger="connect"
    )
    async with sessions() as session:
        saved = await session.get_one(Integration, integration.id)
        view = IntegrationView.model_validate(saved)
    logger.info("integration %s (%s) connected for tenant %s", integration.id, kind, tenant_id)
    return ConnectedIntegration(**view.model_dump(), sync_workflow_id=started.workflow_id)


def shopify_app(settings: Settings) -> tuple[str, str]:
    """The Shopify app's client id and secret.

    Raises:
        HTTPException: 503 when ``SHOPIFY_CLIENT_ID`` / ``SHOPIFY_CLIENT_SECRET`` are unset.
    """
    if not settings.shopify_client_id or settings.shopify_client_secret is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail="Shopify app credentials (SHOPIFY_CLIENT_ID/SECRET) are not configured",
        )
    return settings.shopify_client_id, settings.shopify_client_secret.get_secret_value()


def shopify_scopes(settings: Settings) -> list[str]:
    """The scopes the app requests (``SHOPIFY_SCOPES``)."""
    return [s.strip() for s in settings.shopify_scopes.split(",") if s.strip()]


async def new_authorize_url(
    sessions: SessionsDep, settings: Settings, tenant_id: uuid.UUID, shop: str
) -> str:
    """Record a fresh single-use ``state`` for ``tenant_id`` + ``shop``; its authorize URL.

    Raises:
        HTTPException: 503 when the Shopify app is not configured.
    """
    client_id, _ = shopify_app(settings)
    nonce = secrets.token_urlsafe(24)
    now = datetime.now(UTC)
    async with sessions() as session, session.begin():
        session.add(
            OAuthState(
                nonce=nonce,
                tenant_id=tenant_id,
                shop_domain=shop,
                expires_at=now + timedelta(seconds=OAUTH_STATE_TTL_S),
            )
        )
    redirect_uri = f"{settings.tendero_public_url.rstrip('/')}/shopify/callback"
    return authorize_url(shop, client_id, shopify_scopes(settings), redirect_uri, nonce)


# --- routes -------------------------------------------------------------------------------


@router.get("", responses=_READ)
async def list_integrations(
    slug: str, principal: Viewer, sessions: SessionsDep
) -> list[IntegrationView]:
    """The tenant's integrations, the connected one and past ones, newest first."""
    tenant = await tenant_by_slug(sessions, principal, slug)
    async with sessions() as session:
        rows = await session.scalars(
            select(Integration)
            .where(Integration.tenant_id == tenant.id)
            .order_by(Integration.created_at.desc(), Integration.id)
        )
        return [IntegrationView.model_validate(r) for r in rows]


@router.post("/woocommerce", status_code=status.HTTP_201_CREATED, responses=_CONNECT)
async def connect_woocommerce(
    slug: str,
    body: WooCommerceConnect,
    principal: Admin,
    sessions: SessionsDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> ConnectedIntegration:
    """Connect a WooCommerce shop with REST API keys (read/write).

    Tendero chooses the webhook secret; webhooks are registered at
    ``{TENDERO_PUBLIC_URL}/webhooks/woocommerce/{integration}``.
    """
    tenant = await tenant_by_slug(sessions, principal, slug)
    credentials = WooCommerceCredentials(
        consumer_key=body.consumer_key,
        consumer_secret=body.consumer_secret,
        webhook_secret=SecretStr(secrets.token_urlsafe(32)),
    )
    return await connect_store(
        settings=settings,
        sessions=sessions,
        temporal=temporal,
        tenant_id=tenant.id,
        kind="woocommerce",
        name=body.name,
        credentials=credentials,
        base_url=_http_url(body.base_url),
    )


@router.post("/custom", status_code=status.HTTP_201_CREATED, responses=_CONNECT)
async def connect_custom(
    slug: str,
    body: CustomConnect,
    principal: Admin,
    sessions: SessionsDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> ConnectedIntegration:
    """Connect a custom REST backend (docs/custom-backend.md) with its service account."""
    tenant = await tenant_by_slug(sessions, principal, slug)
    credentials = CustomCredentials(username=body.username, password=body.password)
    return await connect_store(
        settings=settings,
        sessions=sessions,
        temporal=temporal,
        tenant_id=tenant.id,
        kind="custom",
        name=body.name,
        credentials=credentials,
        base_url=_http_url(body.base_url),
    )


@router.post("/shopify/token", status_code=status.HTTP_201_CREATED, responses=_CONNECT)
async def connect_shopify_token(
    slug: str,
    body: ShopifyTokenConnect,
    principal: Admin,
    sessions: SessionsDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> ConnectedIntegration:
    """Connect a Shopify shop with the Admin API token of a merchant-created app (no OAuth)."""
    tenant = await tenant_by_slug(sessions, principal, slug)
    return await connect_store(
        settings=settings,
        sessions=sessions,
        temporal=temporal,
        tenant_id=tenant.id,
        kind="shopify",
        name=body.name or body.shop_domain,
        credentials=ShopifyCredentials(access_token=body.access_token),
        shop_domain=body.shop_domain,
    )


@router.post(
    "/shopify/install",
    responses={
        **AUTH_ERRORS,
        **_NOT_FOUND,
        422: {"description": "Not a valid `*.myshopify.com` domain."},
        503: {"description": "The Shopify app is not configured."},
    },
)
async def install_shopify(
    slug: str,
    body: ShopifyInstall,
    principal: Admin,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> AuthorizeLink:
    """Begin the OAuth install: send the merchant to ``authorize_url`` (10 minutes, once).

    Shopify then redirects to ``{TENDERO_PUBLIC_URL}/shopify/callback``, which connects the
    store to this tenant.
    """
    tenant = await tenant_by_slug(sessions, principal, slug)
    shopify_app(settings)
    url = await new_authorize_url(sessions, settings, tenant.id, body.shop_domain)
    return AuthorizeLink(authorize_url=url)


@router.get("/{integration_id}", responses=_READ)
async def get_integration_view(
    slug: str, integration_id: uuid.UUID, principal: Viewer, sessions: SessionsDep
) -> IntegrationView:
    """One integration (never its credentials)."""
    _, integration = await _integration(sessions, principal, slug, integration_id)
    return IntegrationView.model_validate(integration)


@router.patch(
    "/{integration_id}",
    responses={**_READ, 422: {"description": "Empty name or interval under 60 s."}},
)
async def patch_integration(
    slug: str,
    integration_id: uuid.UUID,
    body: IntegrationPatch,
    principal: Admin,
    sessions: SessionsDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> IntegrationView:
    """Rename an integration or change its sync interval (the schedule follows)."""
    _, integration = await _integration(sessions, principal, slug, integration_id)
    async with sessions() as session, session.begin():
        row = await session.get_one(Integration, integration.id)
        if body.name is not None:
            row.name = body.name
        if body.sync_interval_s is not None:
            row.sync_interval_s = body.sync_interval_s
        row.updated_at = datetime.now(UTC)
        connected = row.status == "connected"
        interval = row.sync_interval_s
    if body.sync_interval_s is not None and connected:
        await ensure_sync_schedule(
            temporal,
            integration_id=integration.id,
            tenant_id=integration.tenant_id,
            interval_s=interval,
            task_queue=settings.temporal_task_queue,
        )
    async with sessions() as session:
        return IntegrationView.model_validate(await session.get_one(Integration, integration.id))


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_READ)
async def delete_integration(
    slug: str,
    integration_id: uuid.UUID,
    principal: Admin,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> Response:
    """Disconnect: credentials and sync cursors are dropped, the sync schedule deleted.

    The mirrored catalog, customers and orders stay. Disconnecting twice is harmless.
    """
    _, integration = await _integration(sessions, principal, slug, integration_id)
    async with sessions() as session, session.begin():
        row = await session.get_one(Integration, integration.id)
        if row.status == "connected" or row.credentials_enc is not None:
            await disconnect(session, row)
    await delete_sync_schedule(temporal, integration.id)
    logger.info("integration %s disconnected", integration.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{integration_id}/test", responses=_READ)
async def test_integration(
    slug: str,
    integration_id: uuid.UUID,
    principal: Operator,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> ConnectionTest:
    """Test the stored credentials against the store: the shop, or an error code."""
    await _integration(sessions, principal, slug, integration_id)
    async with store_http(settings) as http:
        try:
            _, client = await StoreClients(sessions, http, settings).get(integration_id)
            info = await client.shop_info()
        except IntegrationUnavailable as err:
            return ConnectionTest(ok=False, error=err.code)
        except StoreError as err:
            return ConnectionTest(ok=False, error=err.code)
        except httpx.HTTPError:
            return ConnectionTest(ok=False, error="store_unavailable")
    return ConnectionTest(ok=True, shop=info)


async def _running_all(temporal: Client, integration_id: uuid.UUID) -> tuple[str, str] | None:
    """The running ``all`` sync (on demand first, else the schedule's), as (id, run id)."""
    workflow_id = sync_workflow_id(integration_id, "all")
    try:
        description = await temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
    else:
        if description.status is WorkflowExecutionStatus.RUNNING:
            return description.id, description.run_id
    try:
        schedule = await temporal.get_schedule_handle(sync_schedule_id(integration_id)).describe()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return None
    for action in schedule.info.running_actions:
        if isinstance(action, ScheduleActionExecutionStartWorkflow):
            return action.workflow_id, action.first_execution_run_id
    return None


@router.post(
    "/{integration_id}/syncs",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        **_READ,
        409: {
            "description": "That sync is already running (`detail.workflow_id`), or the "
            "integration is not connected."
        },
        422: {"description": "Unknown resource or mode, or one this store cannot list."},
    },
)
async def start_integration_sync(
    slug: str,
    integration_id: uuid.UUID,
    body: SyncRequest,
    principal: Operator,
    sessions: SessionsDep,
    settings: SettingsDep,
    temporal: TemporalDep,
) -> SyncStarted:
    """Start a sync now; follow it with ``GET .../syncs`` or ``GET .../sync``."""
    _, integration = await _integration(sessions, principal, slug, integration_id)
    if integration.status != "connected":
        raise HTTPException(status.HTTP_409_CONFLICT, detail="the store is not connected")
    if body.resource != "all" and body.resource not in supported_resources(integration.kind):
        raise HTTPException(
            422,
            detail=f"a {integration.kind} store cannot list {body.resource}",
        )
    if body.resource == "all":
        running = await _running_all(temporal, integration.id)
        if running is not None:
            raise _already_running(*running)
    try:
        return await start_sync(
            temporal, settings, integration, resource=body.resource, mode=body.mode, trigger="api"
        )
    except WorkflowAlreadyStartedError as err:
        raise _already_running(err.workflow_id, err.run_id) from None


def _already_running(workflow_id: str, run_id: str | None) -> HTTPException:
    return HTTPException(
        status.HTTP_409_CONFLICT,
        detail={"error": "sync_running", "workflow_id": workflow_id, "run_id": run_id},
    )


@router.get("/{integration_id}/syncs", responses=_READ)
async def list_syncs(
    slug: str,
    integration_id: uuid.UUID,
    principal: Viewer,
    sessions: SessionsDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[SyncRunView]:
    """Sync runs of the integration (one per resource and workflow run), newest first."""
    _, integration = await _integration(sessions, principal, slug, integration_id)
    async with sessions() as session:
        rows = await session.scalars(
            select(SyncRun)
            .where(SyncRun.integration_id == integration.id)
            .order_by(SyncRun.created_at.desc(), SyncRun.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [SyncRunView.model_validate(r) for r in rows]


@router.get("/{integration_id}/syncs/{run_id}", responses=_READ)
async def get_sync(
    slug: str,
    integration_id: uuid.UUID,
    run_id: uuid.UUID,
    principal: Viewer,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> SyncRunDetail:
    """One run's progress: status, counts, estimate, errors and its Temporal UI link."""
    _, integration = await _integration(sessions, principal, slug, integration_id)
    async with sessions() as session:
        run = await session.get(SyncRun, run_id)
    if run is None or run.integration_id != integration.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such sync run")
    link = (
        f"{settings.temporal_ui_url.rstrip('/')}/namespaces/"
        f"{quote(settings.temporal_namespace, safe='')}/workflows/"
        f"{quote(run.workflow_id, safe=':')}"
    )
    view = SyncRunView.model_validate(run)
    return SyncRunDetail(
        **view.model_dump(),
        errors=list(run.errors),
        updated_since=run.updated_since,
        temporal_ui_url=link,
    )


@router.get("/{integration_id}/sync", responses=_READ)
async def live_sync(
    slug: str,
    integration_id: uuid.UUID,
    principal: Viewer,
    sessions: SessionsDep,
    temporal: TemporalDep,
) -> LiveSync:
    """The running ``all`` sync's live progress (its ``progress`` query), if one runs."""
    _, integration = await _integration(sessions, principal, slug, integration_id)
    running = await _running_all(temporal, integration.id)
    if running is None:
        return LiveSync(running=False)
    workflow_id, run_id = running
    handle = temporal.get_workflow_handle(workflow_id, run_id=run_id)
    try:
        progress = await handle.query(StoreSyncWorkflow.progress)
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        return LiveSync(running=False)
    return LiveSync(running=True, workflow_id=workflow_id, run_id=run_id, resources=progress)
