"""HTTP limits: 429 with Retry-After per API key, per agent-API user, and on failed logins."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from tendero.apikeys import create_api_key
from tendero.db.models import RateLimitHit
from tests.abuse.helpers import fresh_window
from tests.api import new_tenant
from tests.api.v2 import bearer, new_user
from tests.harness import SECRET_KEY, make_settings


@asynccontextmanager
async def api(
    temporal_env: WorkflowEnvironment, database_url: str, client_ip: str, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """The API (no worker) as seen from ``client_ip``."""
    settings = make_settings(database_url, **overrides)
    app = create_app(settings, temporal=temporal_env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=(client_ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://tendero.test") as http:
            yield http


def new_ip() -> str:
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"


def assert_too_many(answer: httpx.Response, window_s: int) -> None:
    assert answer.status_code == 429, answer.text
    retry_after = int(answer.headers["retry-after"])
    assert 1 <= retry_after <= window_s
    assert answer.json() == {"detail": f"too many requests; retry in {retry_after} s"}


async def test_api_keys_are_limited_one_by_one(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    tenant = await new_tenant(sessionmaker)
    async with sessionmaker() as session, session.begin():
        _, first = await create_api_key(
            session, tenant_id=tenant.id, name="busy", role="viewer", pepper=SECRET_KEY
        )
        _, second = await create_api_key(
            session, tenant_id=tenant.id, name="calm", role="viewer", pepper=SECRET_KEY
        )
    path = f"/api/tenants/{tenant.slug}/integrations"
    async with api(
        temporal_env, database_url, new_ip(), rate_api_per_principal=3, rate_api_window_s=3600
    ) as http:
        await fresh_window(3600, need_s=60)
        codes = [(await http.get(path, headers=bearer(first))).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        assert_too_many(await http.get(path, headers=bearer(first)), 3600)
        assert_too_many(await http.get(path, headers=bearer(first)), 3600)
        # Another key of the same tenant has its own budget.
        assert (await http.get(path, headers=bearer(second))).status_code == 200
        # A wrong key is refused as before (401), never counted against anyone.
        assert (await http.get(path, headers=bearer(first[:-2] + "xx"))).status_code == 401

        spec = (await http.get("/openapi.json")).json()
        for route, method in [
            ("/api/tenants/{slug}/integrations", "get"),
            ("/api/v2/me", "get"),
            ("/api/v2/auth/token", "post"),
        ]:
            refused = spec["paths"][route][method]["responses"]["429"]
            assert "Retry-After" in refused["headers"]


async def test_agent_api_users_are_limited_one_by_one(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    tenant = await new_tenant(sessionmaker)
    busy, busy_password = await new_user(sessionmaker, tenant, "agent")
    calm, calm_password = await new_user(sessionmaker, tenant, "admin")
    async with api(
        temporal_env, database_url, new_ip(), rate_api_per_principal=3, rate_api_window_s=3600
    ) as http:
        await fresh_window(3600, need_s=60)

        async def token(email: str, password: str) -> dict[str, str]:
            answer = await http.post(
                "/api/v2/auth/token",
                json={"tenant": tenant.slug, "email": email, "password": password},
            )
            assert answer.status_code == 200, answer.text
            return bearer(answer.json()["access_token"])

        busy_auth = await token(busy.email, busy_password)
        calm_auth = await token(calm.email, calm_password)
        codes = [(await http.get("/api/v2/me", headers=busy_auth)).status_code for _ in range(3)]
        assert codes == [200, 200, 200]
        assert_too_many(await http.get("/api/v2/me", headers=busy_auth), 3600)
        assert_too_many(await http.get("/api/v2/users", headers=busy_auth), 3600)
        me = await http.get("/api/v2/me", headers=calm_auth)
        assert me.status_code == 200 and me.json()["id"] == str(calm.id)


async def test_failed_logins_are_limited_per_account_and_per_ip(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    tenant = await new_tenant(sessionmaker)
    ana, ana_password = await new_user(sessionmaker, tenant, "agent")
    bea, bea_password = await new_user(sessionmaker, tenant, "agent")
    limits = {"rate_login_per_account": 3, "rate_login_per_ip": 5, "rate_login_window_s": 900}
    ip = new_ip()

    def body(email: str, password: str) -> dict[str, str]:
        return {"tenant": tenant.slug, "email": email, "password": password}

    await fresh_window(900, need_s=60)
    async with api(temporal_env, database_url, ip, **limits) as http:
        login = "/api/v2/auth/token"
        codes = [(await http.post(login, json=body(ana.email, "wrong"))).status_code for _ in "abc"]
        assert codes == [401, 401, 401]
        # The account is used up: even the right password waits for the window's end.
        assert_too_many(await http.post(login, json=body(ana.email, ana_password)), 900)
        # The e-mail is matched as the login matches it (case and spaces).
        assert_too_many(await http.post(login, json=body(f" {ana.email.upper()}", "x")), 900)

        # Two failures for Bea use up the IP's five.
        codes = [(await http.post(login, json=body(bea.email, "wrong"))).status_code for _ in "ab"]
        assert codes == [401, 401]
        assert_too_many(await http.post(login, json=body(bea.email, bea_password)), 900)

    async with api(temporal_env, database_url, new_ip(), **limits) as http:
        # From another address Bea (2 failures of 3) logs in; Ana's account stays locked.
        assert (await http.post(login, json=body(bea.email, bea_password))).status_code == 200
        assert_too_many(await http.post(login, json=body(ana.email, ana_password)), 900)

    async with sessionmaker() as session:
        keys = list(
            (
                await session.execute(
                    select(RateLimitHit.key).where(RateLimitHit.key.like("login:%"))
                )
            ).scalars()
        )
    assert keys and not any("@" in key or ip in key or tenant.slug in key for key in keys)


async def test_concurrent_failed_logins_get_exactly_the_limit_of_guesses(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    # Many guesses at once, from one address: each is counted before the password is checked,
    # so no more than the limit are ever checked, however many arrive together.
    tenant = await new_tenant(sessionmaker)
    ana, ana_password = await new_user(sessionmaker, tenant, "agent")
    limits = {"rate_login_per_account": 4, "rate_login_per_ip": 100, "rate_login_window_s": 900}
    await fresh_window(900, need_s=60)
    async with api(temporal_env, database_url, new_ip(), **limits) as http:
        guess = {"tenant": tenant.slug, "email": ana.email, "password": "wrong"}
        answers = await asyncio.gather(
            *(http.post("/api/v2/auth/token", json=guess) for _ in range(12))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [401] * 4 + [429] * 8
        for answer in answers:
            if answer.status_code == 429:
                assert_too_many(answer, 900)
        right = {"tenant": tenant.slug, "email": ana.email, "password": ana_password}
        assert_too_many(await http.post("/api/v2/auth/token", json=right), 900)


async def test_successful_logins_use_up_nothing(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    tenant = await new_tenant(sessionmaker)
    ana, ana_password = await new_user(sessionmaker, tenant, "agent")
    limits = {"rate_login_per_account": 2, "rate_login_per_ip": 2, "rate_login_window_s": 900}
    await fresh_window(900, need_s=60)
    async with api(temporal_env, database_url, new_ip(), **limits) as http:
        right = {"tenant": tenant.slug, "email": ana.email, "password": ana_password}
        wrong = {**right, "password": "wrong"}
        answers = await asyncio.gather(
            *(http.post("/api/v2/auth/token", json=right) for _ in range(2))
        )
        assert [a.status_code for a in answers] == [200, 200]
        codes = [(await http.post("/api/v2/auth/token", json=b)).status_code for b in [right] * 3]
        assert codes == [200, 200, 200]
        codes = [(await http.post("/api/v2/auth/token", json=b)).status_code for b in [wrong] * 2]
        assert codes == [401, 401]
        assert_too_many(await http.post("/api/v2/auth/token", json=right), 900)


async def test_admin_token_guesses_are_limited_per_ip_on_codec_and_api(
    temporal_env: WorkflowEnvironment, sessionmaker, database_url
) -> None:
    token = make_settings(database_url).tendero_admin_token.get_secret_value()
    tenant = await new_tenant(sessionmaker)
    body = {"payloads": []}
    form = {"content-type": "application/x-www-form-urlencoded"}
    api_path = f"/api/tenants/{tenant.slug}/integrations"
    good = {"Authorization": f"Bearer {token}"}
    ip = new_ip()
    await fresh_window(900, need_s=60)
    async with api(temporal_env, database_url, ip, rate_login_per_ip=3) as http:
        # A right token gives its slot back: any number of them.
        for _ in range(3):
            assert (await http.post("/codec/decode", json=body, headers=good)).status_code == 200
            assert (await http.get(api_path, headers=good)).status_code == 200
        # No guesses of the admin token: a JWT (the UI's OIDC token), an API key's shape.
        for other in ("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "tdk_abcdefghij_" + "x" * 43):
            for _ in range(4):
                answer = await http.post(
                    "/codec/decode", json=body, headers={"Authorization": f"Bearer {other}"}
                )
                assert answer.status_code == 401
        # Guesses on the codec (bearer, sign-in form) and on the API share the IP's budget.
        wrong = {"Authorization": "Bearer guess"}
        assert (await http.post("/codec/decode", json=body, headers=wrong)).status_code == 401
        login = await http.post("/codec/login", content="token=guess2", headers=form)
        assert login.status_code == 401
        assert (await http.get(api_path, headers=wrong)).status_code == 401
        # Used up: now even the right token waits, on both.
        assert_too_many(await http.post("/codec/decode", json=body, headers=wrong), 900)
        assert_too_many(await http.post("/codec/decode", json=body, headers=good), 900)
        assert_too_many(
            await http.post("/codec/login", content=f"token={token}", headers=form), 900
        )
        assert_too_many(await http.get(api_path, headers=good), 900)
        # Shop users' logins from the same IP have their own budget.
        refused = await http.post(
            "/api/v2/auth/token",
            json={"tenant": tenant.slug, "email": "nobody@example.com", "password": "x" * 12},
        )
        assert refused.status_code == 401
    async with api(temporal_env, database_url, new_ip(), rate_login_per_ip=3) as http:
        # Another address is not locked out (no per-account lock on the admin token).
        assert (await http.post("/codec/decode", json=body, headers=good)).status_code == 200
