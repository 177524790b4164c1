"""Shopify OAuth endpoints that Shopify calls with the merchant's browser (no bearer token).

- ``GET /shopify/callback``: the end of an install begun with
  ``POST /api/tenants/{slug}/integrations/shopify/install``. The query HMAC (client secret),
  the shop domain, the timestamp and the single-use ``state`` (bound to the tenant and the
  shop, 10 minutes) are checked before the code is exchanged for an expiring offline token;
  the store is then connected like any other (webhooks, schedule, first sync).
- ``GET /shopify/install``: an install started from Shopify (the app listing or the admin).
  Only a shop already known to a tenant is sent on to Shopify's authorize page; anything
  else is told to start from Tendero, since nothing else says which tenant it is for.

Pages are small HTML; they never contain a token.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select, update

from api.deps import SessionsDep, SettingsDep, TemporalDep
from api.routes.integrations import (
    connect_store,
    new_authorize_url,
    shopify_app,
    shopify_scopes,
    store_http,
)
from tendero.db.models import Integration, OAuthState
from tendero.errors import StoreAuthError, StoreError
from tendero.stores.factory import shopify_base_url
from tendero.stores.shopify.oauth import (
    exchange_code,
    normalize_shop_domain,
    timestamp_fresh,
    verify_query_hmac,
)

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/shopify", tags=["shopify oauth"])


def _page(title: str, message: str, status_code: int = 200) -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status_code=status_code)


def _checked_query(request: Request, secret: str) -> tuple[dict[str, str], str]:
    """The query (HMAC, shop and timestamp checked) and the normalised shop.

    Raises:
        HTTPException: 401 bad HMAC, 400 invalid shop or stale timestamp.
    """
    params = dict(request.query_params)
    if not verify_query_hmac(params, secret):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="invalid hmac")
    try:
        shop = normalize_shop_domain(params.get("shop", ""))
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="invalid shop domain") from None
    if not timestamp_fresh(params.get("timestamp", ""), datetime.now(UTC)):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="stale or missing timestamp")
    return params, shop


_ERRORS: dict[int | str, dict[str, str]] = {
    400: {"description": "Invalid shop, stale timestamp, or unknown/used/expired state."},
    401: {"description": "The query HMAC is missing or wrong."},
    409: {"description": "The tenant already has a connected store, or the shop is taken."},
    502: {"description": "Shopify refused the code exchange or the connection test."},
    503: {"description": "The Shopify app is not configured, or Shopify is unreachable."},
}


@router.get("/callback", response_class=HTMLResponse, responses=_ERRORS)
async def shopify_callback(
    request: Request, settings: SettingsDep, sessions: SessionsDep, temporal: TemporalDep
) -> HTMLResponse:
    """Finish the OAuth install and connect the shop to the tenant that started it."""
    try:
        client_id, secret = shopify_app(settings)
        params, shop = _checked_query(request, secret)
        code = params.get("code")
        state = params.get("state")
        if not code or not state:
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="missing code or state")
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            # Single use: only the first callback with this state marks it used.
            tenant_id = await session.scalar(
                update(OAuthState)
                .where(
                    OAuthState.nonce == state,
                    OAuthState.shop_domain == shop,
                    OAuthState.used_at.is_(None),
                    OAuthState.expires_at > now,
                )
                .values(used_at=now)
                .returning(OAuthState.tenant_id)
            )
        if tenant_id is None:
            raise HTTPException(
                status.HTTP_400_BAD_REQUEST, detail="unknown, used or expired state"
            )
        base_url = shopify_base_url(settings, shop)
        async with store_http(settings) as http:
            try:
                credentials = await exchange_code(
                    http,
                    shop=shop,
                    base_url=base_url,
                    client_id=client_id,
                    client_secret=secret,
                    code=code,
                    requested_scopes=shopify_scopes(settings),
                )
            except StoreAuthError as err:
                logger.warning("shopify code exchange refused: %s", err.provider_code or err.code)
                raise HTTPException(
                    status.HTTP_502_BAD_GATEWAY,
                    detail=f"Shopify refused the installation ({err.provider_code or err.code})",
                ) from None
            except StoreError as err:
                raise HTTPException(
                    status.HTTP_503_SERVICE_UNAVAILABLE,
                    detail=f"Shopify could not be reached ({err.code})",
                ) from None
        connected = await connect_store(
            settings=settings,
            sessions=sessions,
            temporal=temporal,
            tenant_id=tenant_id,
            kind="shopify",
            name=shop,
            credentials=credentials,
            shop_domain=shop,
        )
    except HTTPException as err:
        detail = err.detail if isinstance(err.detail, str) else str(err.detail.get("error"))
        return _page("Shopify connection failed", detail, err.status_code)
    logger.info("shopify shop connected by OAuth: integration %s", connected.id)
    return _page(f"Connected {shop}", "You can close this window and return to Tendero.")


@router.get(
    "/install",
    response_class=HTMLResponse,
    response_model=None,
    responses={
        302: {"description": "Redirect to Shopify's authorize page for the known shop."},
        400: {"description": "Invalid shop or timestamp, or a shop no tenant has connected."},
        401: {"description": "The query HMAC is missing or wrong."},
        503: {"description": "The Shopify app is not configured."},
    },
)
async def shopify_install(
    request: Request, settings: SettingsDep, sessions: SessionsDep
) -> HTMLResponse | RedirectResponse:
    """An install opened from Shopify: re-authorise a shop that a tenant already has."""
    try:
        _, secret = shopify_app(settings)
        _, shop = _checked_query(request, secret)
    except HTTPException as err:
        return _page("Shopify installation refused", str(err.detail), err.status_code)
    async with sessions() as session:
        tenant_id = await session.scalar(
            select(Integration.tenant_id)
            .where(Integration.kind == "shopify", Integration.shop_domain == shop)
            .order_by((Integration.status == "connected").desc(), Integration.created_at.desc())
            .limit(1)
        )
    if tenant_id is None:
        return _page(
            "Start from Tendero",
            "This shop is not linked to a Tendero account yet. Open Tendero, go to your "
            "shop's integrations and choose “Connect Shopify”.",
            status.HTTP_400_BAD_REQUEST,
        )
    url = await new_authorize_url(sessions, settings, tenant_id, shop)
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND)
