"""Shopify OAuth install: state, HMAC, timestamp, shop checks, and the happy path."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Integration, OAuthState, Tenant
from tendero.domain.ids import sync_schedule_id
from tendero.domain.sync import SyncResult
from tendero.stores.credentials import ShopifyCredentials
from tendero.stores.integrations import open_credentials
from tests.api import ADMIN, bearer, new_key, new_tenant
from tests.fakes.shopify_server import FakeShopify
from tests.harness import Stack, running_stack

PUBLIC_URL = "https://tendero.test"


@pytest.fixture
async def shopify() -> AsyncIterator[FakeShopify]:
    # A shop domain of its own: a connected shop is unique across the shared database.
    domain = f"t-{uuid.uuid4().hex[:10]}.myshopify.com"
    async with FakeShopify(bulk_polls_running=1, shop_domain=domain) as shop:
        shop.generate(customers=3, orders=4, products=5, collections=2)
        yield shop


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
    shopify: FakeShopify,
) -> AsyncIterator[Stack]:
    async with running_stack(
        temporal_env.client,
        sessionmaker,
        database_url,
        tendero_public_url=PUBLIC_URL,
        # Interval schedules fire on epoch-aligned ticks: a day keeps them out of the way.
        store_sync_interval_s=86_400,
        shopify_base_url_template=shopify.url,
        shopify_client_id=shopify.client_id,
        shopify_client_secret=shopify.client_secret,
    ) as running:
        yield running


def signed(params: dict[str, str], secret: str) -> str:
    """The query string with Shopify's ``hmac`` (sorted ``k=v`` joined by ``&``)."""
    message = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return urlencode({**params, "hmac": digest})


async def _install(stack: Stack, tenant: Tenant, shop: str, headers: dict[str, str]) -> str:
    answer = await stack.http.post(
        f"/api/tenants/{tenant.slug}/integrations/shopify/install",
        json={"shop_domain": shop},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    url: str = answer.json()["authorize_url"]
    return url


def _state(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def _callback_params(fake: FakeShopify, state: str, **overrides: str) -> dict[str, str]:
    return {
        "code": overrides.pop("code", None) or fake.authorization_code(_scopes()),
        "host": "YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvdGVuZGVyby10ZXN0",
        "shop": fake.shop_domain,
        "state": state,
        "timestamp": str(int(time.time())),
    } | overrides


def _scopes() -> str:
    from tendero.settings import Settings

    return str(Settings.model_fields["shopify_scopes"].default)


async def test_install_link_checks(stack: Stack, shopify: FakeShopify) -> None:
    tenant = await new_tenant(stack.sessions)
    other = await new_tenant(stack.sessions)
    admin = bearer(await new_key(stack, tenant, "admin"))
    viewer = bearer(await new_key(stack, tenant, "viewer"))
    path = f"/api/tenants/{tenant.slug}/integrations/shopify/install"
    for bad in ("evil.example.com", "https://x.myshopify.com", "a.myshopify.com/admin", ""):
        answer = await stack.http.post(path, json={"shop_domain": bad}, headers=admin)
        assert answer.status_code == 422, bad
    body = {"shop_domain": shopify.shop_domain}
    assert (await stack.http.post(path, json=body, headers=viewer)).status_code == 403
    assert (await stack.http.post(path, json=body)).status_code == 401
    foreign = await stack.http.post(
        f"/api/tenants/{other.slug}/integrations/shopify/install", json=body, headers=admin
    )
    assert foreign.status_code == 404

    url = await _install(stack, tenant, f" {shopify.shop_domain.upper()} ", admin)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        shopify.shop_domain,
        "/admin/oauth/authorize",
    )
    assert query["client_id"] == shopify.client_id
    assert query["redirect_uri"] == f"{PUBLIC_URL}/shopify/callback"
    assert query["scope"] == stack.settings.shopify_scopes
    assert "grant_options[]" not in query
    async with stack.sessions() as session:
        state = await session.get_one(OAuthState, query["state"])
    assert (state.tenant_id, state.shop_domain, state.used_at) == (
        tenant.id,
        shopify.shop_domain,
        None,
    )
    remaining = state.expires_at - datetime.now(UTC)
    assert timedelta(minutes=9) < remaining <= timedelta(minutes=10)
    # A second link has its own state.
    assert _state(await _install(stack, tenant, shopify.shop_domain, ADMIN)) != query["state"]


async def test_install_needs_the_app_configured(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, with_worker=False
    ) as stack:
        tenant = await new_tenant(stack.sessions)
        answer = await stack.http.post(
            f"/api/tenants/{tenant.slug}/integrations/shopify/install",
            json={"shop_domain": "a.myshopify.com"},
            headers=ADMIN,
        )
        assert answer.status_code == 503
        callback = await stack.http.get("/shopify/callback?shop=a.myshopify.com&hmac=x")
        assert callback.status_code == 503


async def test_callback_refusals(stack: Stack, shopify: FakeShopify) -> None:
    tenant = await new_tenant(stack.sessions)
    secret = shopify.client_secret
    state = _state(await _install(stack, tenant, shopify.shop_domain, ADMIN))

    async def callback(query: str) -> Any:
        return await stack.http.get(f"/shopify/callback?{query}")

    params = _callback_params(shopify, state)
    # Bad HMAC: wrong secret, tampered value, missing.
    assert (await callback(signed(params, "not-the-secret"))).status_code == 401
    tampered = signed(params, secret).replace(f"state={state}", "state=other")
    assert (await callback(tampered)).status_code == 401
    assert (await callback(urlencode(params))).status_code == 401
    # Signed, but stale (25 h) or from the future.
    stale = _callback_params(shopify, state, timestamp=str(int(time.time()) - 25 * 3600))
    assert (await callback(signed(stale, secret))).status_code == 400
    future = _callback_params(shopify, state, timestamp=str(int(time.time()) + 600))
    assert (await callback(signed(future, secret))).status_code == 400
    # Signed, but not a shop domain.
    for shop in ("evil.example.com", "x.myshopify.com.evil.test", ""):
        bad = _callback_params(shopify, state, shop=shop)
        answer = await callback(signed(bad, secret))
        assert answer.status_code == 400, shop
    # Unknown state; a state bound to another shop.
    unknown = _callback_params(shopify, "made-up-state")
    assert (await callback(signed(unknown, secret))).status_code == 400
    elsewhere = _callback_params(shopify, state, shop="other-shop.myshopify.com")
    assert (await callback(signed(elsewhere, secret))).status_code == 400
    # Expired state.
    expired = _state(await _install(stack, tenant, shopify.shop_domain, ADMIN))
    async with stack.sessions() as session, session.begin():
        await session.execute(
            update(OAuthState)
            .where(OAuthState.nonce == expired)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    late = await callback(signed(_callback_params(shopify, expired), secret))
    assert late.status_code == 400
    # None of that connected anything, nor used the live state.
    async with stack.sessions() as session:
        assert (
            await session.scalar(select(Integration.id).where(Integration.tenant_id == tenant.id))
            is None
        )
        assert (await session.get_one(OAuthState, state)).used_at is None
    assert shopify.webhooks == []


async def test_oauth_happy_path_then_state_is_single_use(
    stack: Stack, shopify: FakeShopify
) -> None:
    tenant = await new_tenant(stack.sessions)
    admin = bearer(await new_key(stack, tenant, "admin"))
    state = _state(await _install(stack, tenant, shopify.shop_domain, admin))
    params = _callback_params(shopify, state)
    page = await stack.http.get(f"/shopify/callback?{signed(params, shopify.client_secret)}")
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert f"Connected {shopify.shop_domain}" in page.text
    for token in shopify._tokens:  # every token the fake ever issued
        assert token not in page.text

    async with stack.sessions() as session:
        integration = await session.scalar(
            select(Integration).where(Integration.tenant_id == tenant.id)
        )
        used = await session.get_one(OAuthState, state)
    assert integration is not None and used.used_at is not None
    assert (integration.kind, integration.shop_domain, integration.base_url) == (
        "shopify",
        shopify.shop_domain,
        None,
    )
    assert (integration.status, integration.currency) == ("connected", "USD")
    credentials = open_credentials(stack.settings.keyring, integration)
    assert isinstance(credentials, ShopifyCredentials)
    assert credentials.expires_at is not None and credentials.refresh_token is not None
    assert credentials.access_token.get_secret_value() in shopify._tokens
    # Webhooks registered in the fake at our public address, recorded on the row.
    address = f"{PUBLIC_URL}/webhooks/shopify"
    assert shopify.webhooks and {w["uri"] for w in shopify.webhooks} == {address}
    assert {w["address"] for w in integration.webhooks} == {address}
    assert integration.last_error is None
    # Schedule and first sync.
    description = await stack.client.get_schedule_handle(
        sync_schedule_id(integration.id)
    ).describe()
    assert description.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    view = await stack.http.get(
        f"/api/tenants/{tenant.slug}/integrations/{integration.id}", headers=admin
    )
    assert view.status_code == 200
    assert credentials.access_token.get_secret_value() not in view.text
    handle = stack.client.get_workflow_handle(f"sync:{integration.id}:all", result_type=SyncResult)
    result: SyncResult = await handle.result()
    assert {p.resource.value: (p.status, p.counts.synced) for p in result.resources} == {
        "categories": ("completed", 2),
        "products": ("completed", 5),
        "customers": ("completed", 3),
        "orders": ("completed", 4),
    }
    assert shopify.violations == []

    # The same callback again: the state was used (and the code too).
    replay = await stack.http.get(f"/shopify/callback?{signed(params, shopify.client_secret)}")
    assert replay.status_code == 400
    # A fresh state of the same tenant meets the connected store: conflict, nothing added.
    state2 = _state(await _install(stack, tenant, shopify.shop_domain, admin))
    again = await stack.http.get(
        f"/shopify/callback?{signed(_callback_params(shopify, state2), shopify.client_secret)}"
    )
    assert again.status_code == 409
    async with stack.sessions() as session:
        rows = (
            await session.scalars(select(Integration.id).where(Integration.tenant_id == tenant.id))
        ).all()
    assert rows == [integration.id]

    # An install opened from Shopify for this known shop: redirected with a fresh state.
    opened = {"shop": shopify.shop_domain, "timestamp": str(int(time.time()))}
    redirect = await stack.http.get(f"/shopify/install?{signed(opened, shopify.client_secret)}")
    assert redirect.status_code == 302
    target = redirect.headers["location"]
    assert target.startswith(f"https://{shopify.shop_domain}/admin/oauth/authorize?")
    async with stack.sessions() as session:
        fresh = await session.get_one(OAuthState, _state(target))
    assert (fresh.tenant_id, fresh.used_at) == (tenant.id, None)
    bad = await stack.http.get(f"/shopify/install?{signed(opened, 'wrong')}")
    assert bad.status_code == 401

    # Disconnected: the shop is free again, its schedule gone.
    path = f"/api/tenants/{tenant.slug}/integrations/{integration.id}"
    assert (await stack.http.delete(path, headers=admin)).status_code == 204


async def test_shopify_initiated_install_of_unknown_shop(
    stack: Stack, shopify: FakeShopify
) -> None:
    opened = {
        "shop": f"unknown-{uuid.uuid4().hex[:6]}.myshopify.com",
        "timestamp": str(int(time.time())),
    }
    answer = await stack.http.get(f"/shopify/install?{signed(opened, shopify.client_secret)}")
    assert answer.status_code == 400
    assert "Start from Tendero" in answer.text
    stale = {"shop": shopify.shop_domain, "timestamp": str(int(time.time()) - 90_000)}
    assert (
        await stack.http.get(f"/shopify/install?{signed(stale, shopify.client_secret)}")
    ).status_code == 400


async def test_connect_shopify_with_admin_token(stack: Stack, shopify: FakeShopify) -> None:
    tenant = await new_tenant(stack.sessions)
    answer = await stack.http.post(
        f"/api/tenants/{tenant.slug}/integrations/shopify/token",
        json={"shop_domain": shopify.shop_domain.upper(), "access_token": shopify.access_token},
        headers=ADMIN,
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["kind"], body["shop_domain"], body["currency"]) == (
        "shopify",
        shopify.shop_domain,
        "USD",
    )
    assert shopify.access_token not in answer.text
    assert {w["uri"] for w in shopify.webhooks} == {f"{PUBLIC_URL}/webhooks/shopify"}
    result: SyncResult = await stack.client.get_workflow_handle(
        body["sync_workflow_id"], result_type=SyncResult
    ).result()
    assert result.ok
    # Another tenant cannot take the same shop.
    other = await new_tenant(stack.sessions)
    taken = await stack.http.post(
        f"/api/tenants/{other.slug}/integrations/shopify/token",
        json={"shop_domain": shopify.shop_domain, "access_token": shopify.access_token},
        headers=ADMIN,
    )
    assert taken.status_code == 409
    wrong = await stack.http.post(
        f"/api/tenants/{other.slug}/integrations/shopify/token",
        json={"shop_domain": shopify.shop_domain, "access_token": "shpat_wrong"},
        headers=ADMIN,
    )
    assert wrong.status_code == 502 and wrong.json()["detail"]["error"] == "store_auth"
    assert "shpat_wrong" not in wrong.text
    path = f"/api/tenants/{tenant.slug}/integrations/{body['id']}"
    assert (await stack.http.delete(path, headers=ADMIN)).status_code == 204
