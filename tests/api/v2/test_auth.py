"""Agent API logins and tokens: passwords, JWT claims, refusals (401) and roles (403)."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import select

from tendero.db.models import User
from tendero.users import (
    InvalidToken,
    decode_token,
    hash_password,
    issue_token,
    update_user,
    verify_password,
)
from tests.api import new_key, new_tenant
from tests.api.v2 import bearer, login, new_user, user_token
from tests.harness import Stack

# --- passwords and tokens, no HTTP ----------------------------------------------------------


def test_password_hash_format_and_verify() -> None:
    stored = hash_password("correct horse battery")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert "correct horse" not in stored
    assert verify_password("correct horse battery", stored)
    assert not verify_password("correct horse batterY", stored)
    # A fresh salt every time.
    assert hash_password("correct horse battery") != stored
    for broken in ("", "scrypt$1$2", "bcrypt$16384$8$1$AAAA$AAAA", stored.replace("16384", "1000")):
        assert not verify_password("correct horse battery", broken)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_token_claims_and_refusals(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    user, _ = await new_user(stack.sessions, tenant, "admin")
    now = datetime.now(UTC).replace(microsecond=0)
    token, expires_at = issue_token(user, stack.settings, now)
    assert expires_at == now + timedelta(seconds=stack.settings.tendero_jwt_ttl_s)
    claims = decode_token(token, stack.settings)
    assert (claims.user_id, claims.tenant_id, claims.role, claims.version) == (
        user.id,
        tenant.id,
        "admin",
        0,
    )
    assert claims.issued_at == now and claims.expires_at == expires_at
    raw = jwt.decode(token, options={"verify_signature": False})
    assert set(raw) == {"sub", "tid", "role", "ver", "iat", "exp", "iss", "aud"}
    assert (raw["iss"], raw["aud"]) == ("tendero", "tendero-agent-api")

    key = stack.settings.derived_key("jwt")
    assert key != stack.settings.secret_key_bytes
    good = dict(raw)
    forged = [
        jwt.encode(good, b"another key of thirty-two bytes!", algorithm="HS256"),
        jwt.encode(good | {"aud": "someone-else"}, key, algorithm="HS256"),
        jwt.encode(good | {"iss": "someone-else"}, key, algorithm="HS256"),
        jwt.encode(good | {"role": "root"}, key, algorithm="HS256"),
        jwt.encode(good | {"sub": "not-a-uuid"}, key, algorithm="HS256"),
        jwt.encode({k: v for k, v in good.items() if k != "ver"}, key, algorithm="HS256"),
        jwt.encode(good, key, algorithm="HS512"),
        jwt.encode(good, None, algorithm="none"),
        # Signed with the raw secret key instead of the derived one.
        jwt.encode(good, stack.settings.secret_key_bytes, algorithm="HS256"),
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "not.a.token",
        "",
    ]
    for bad in forged:
        with pytest.raises(InvalidToken):
            decode_token(bad, stack.settings)
    expired, _ = issue_token(user, stack.settings, now - timedelta(days=2))
    with pytest.raises(InvalidToken):
        decode_token(expired, stack.settings)


# --- login ----------------------------------------------------------------------------------


async def test_login_returns_a_working_token(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    user, password = await new_user(stack.sessions, tenant, "agent", name="Maria Agent")
    before = datetime.now(UTC).replace(microsecond=0)
    answer = await stack.http.post(
        "/api/v2/auth/token",
        json={"tenant": tenant.slug, "email": user.email.upper(), "password": password},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert set(body) == {"access_token", "token_type", "expires_at", "user"}
    assert body["user"] == {
        "id": str(user.id),
        "tenant_id": str(tenant.id),
        "email": user.email,
        "name": "Maria Agent",
        "role": "agent",
        "active": True,
        "created_at": body["user"]["created_at"],
        "last_login_at": body["user"]["last_login_at"],
    }
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = timedelta(seconds=stack.settings.tendero_jwt_ttl_s)
    assert before + ttl <= expires <= datetime.now(UTC) + ttl
    async with stack.sessions() as session:
        row = await session.get_one(User, user.id)
        assert row.last_login_at is not None and row.last_login_at >= before
    me = await stack.http.get("/api/v2/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200 and me.json()["id"] == str(user.id)


async def test_every_login_failure_is_the_same_401(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    other = await new_tenant(stack.sessions)
    user, password = await new_user(stack.sessions, tenant, "agent")
    inactive, inactive_password = await new_user(stack.sessions, tenant, "agent")
    async with stack.sessions() as session, session.begin():
        await update_user(session, await session.get_one(User, inactive.id), active=False)
    attempts = [
        {"tenant": tenant.slug, "email": user.email, "password": password + "x"},
        {"tenant": tenant.slug, "email": "nobody@shop.test", "password": password},
        {"tenant": other.slug, "email": user.email, "password": password},
        {"tenant": "no-such-shop", "email": user.email, "password": password},
        {"tenant": tenant.slug, "email": inactive.email, "password": inactive_password},
    ]
    answers = [await stack.http.post("/api/v2/auth/token", json=a) for a in attempts]
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == answers[0].json() == {"detail": "invalid shop, e-mail or password"}
    async with stack.sessions() as session:
        rows = await session.scalars(select(User).where(User.tenant_id == tenant.id))
        assert all(r.last_login_at is None for r in rows)
    # Malformed bodies are refused before any lookup.
    for body in ({"tenant": tenant.slug, "email": user.email}, {**attempts[0], "extra": 1}):
        assert (await stack.http.post("/api/v2/auth/token", json=body)).status_code == 422


# --- tokens on requests ---------------------------------------------------------------------


async def _assert_401(stack: Stack, headers: dict[str, str]) -> None:
    answer = await stack.http.get("/api/v2/me", headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_expired_tampered_and_foreign_tokens_are_401(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    user, password = await new_user(stack.sessions, tenant, "admin")
    token = await login(stack, tenant, user.email, password)
    expired, expires_at = issue_token(
        user,
        stack.settings,
        datetime.now(UTC) - timedelta(seconds=stack.settings.tendero_jwt_ttl_s + 5),
    )
    assert expires_at < datetime.now(UTC)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raised = base64.urlsafe_b64encode(json.dumps(claims | {"ver": 5}).encode()).rstrip(b"=")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    api_key = await new_key(stack, tenant, "admin")
    for bad in (
        {},
        {"Authorization": "Basic Zm9vOmJhcg=="},
        bearer("garbage"),
        bearer(expired),
        bearer(f"{header}.{payload}.{flipped}"),
        bearer(f"{header}.{raised.decode()}.{signature}"),
        bearer(api_key),  # a tenant API key is not an agent token
        bearer("dev-admin-token"),  # nor is the install admin token
    ):
        await _assert_401(stack, bad)
    assert (await stack.http.get("/api/v2/me", headers=bearer(token))).status_code == 200


async def test_a_user_deleted_or_moved_is_401(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    user, _ = await new_user(stack.sessions, tenant, "agent")
    token, _ = issue_token(user, stack.settings, datetime.now(UTC))
    # A token naming a user that does not exist (same tenant, signed with our key).
    ghost = User(
        id=uuid.uuid4(), tenant_id=tenant.id, role="admin", token_version=0, email="", name=""
    )
    ghost_token, _ = issue_token(ghost, stack.settings, datetime.now(UTC))
    await _assert_401(stack, bearer(ghost_token))
    other = await new_tenant(stack.sessions)
    moved = User(id=user.id, tenant_id=other.id, role="agent", token_version=0, email="", name="")
    moved_token, _ = issue_token(moved, stack.settings, datetime.now(UTC))
    await _assert_401(stack, bearer(moved_token))
    assert (await stack.http.get("/api/v2/me", headers=bearer(token))).status_code == 200


async def test_deactivation_and_password_change_revoke_tokens(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    admin, admin_headers = await user_token(stack, tenant, "admin")
    agent, password = await new_user(stack.sessions, tenant, "agent")
    old = bearer(await login(stack, tenant, agent.email, password))

    changed = await stack.http.patch(
        f"/api/v2/users/{agent.id}",
        json={"password": "a brand new password"},
        headers=admin_headers,
    )
    assert changed.status_code == 200, changed.text
    await _assert_401(stack, old)
    assert (
        await stack.http.post(
            "/api/v2/auth/token",
            json={"tenant": tenant.slug, "email": agent.email, "password": password},
        )
    ).status_code == 401
    fresh = bearer(await login(stack, tenant, agent.email, "a brand new password"))
    assert (await stack.http.get("/api/v2/me", headers=fresh)).status_code == 200

    off = await stack.http.patch(
        f"/api/v2/users/{agent.id}", json={"active": False}, headers=admin_headers
    )
    assert off.status_code == 200 and off.json()["active"] is False
    await _assert_401(stack, fresh)
    # Reactivated: old tokens stay dead, a new login works.
    on = await stack.http.patch(
        f"/api/v2/users/{agent.id}", json={"active": True}, headers=admin_headers
    )
    assert on.status_code == 200
    await _assert_401(stack, fresh)
    newest = bearer(await login(stack, tenant, agent.email, "a brand new password"))
    assert (await stack.http.get("/api/v2/me", headers=newest)).status_code == 200
    async with stack.sessions() as session:
        assert (await session.get_one(User, agent.id)).token_version == 2
        assert (await session.get_one(User, admin.id)).token_version == 0


async def test_agent_on_admin_routes_is_403_and_demotion_is_immediate(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    _, agent_headers = await user_token(stack, tenant, "agent")
    admin, admin_headers = await user_token(stack, tenant, "admin")
    _, other_admin_headers = await user_token(stack, tenant, "admin")
    admin_routes = [
        ("GET", "/api/v2/users", None),
        (
            "POST",
            "/api/v2/users",
            {"email": "x@shop.test", "name": "X", "role": "agent", "password": "long enough pw"},
        ),
        ("PATCH", f"/api/v2/users/{admin.id}", {"role": "agent"}),
        ("GET", "/api/v2/ecommerce/config", None),
        ("POST", "/api/v2/ecommerce/config/test", None),
    ]
    for method, path, body in admin_routes:
        answer = await stack.http.request(method, path, json=body, headers=agent_headers)
        assert answer.status_code == 403, (method, path, answer.text)
        assert answer.json() == {"detail": "this operation needs the admin role"}
        allowed = await stack.http.request(method, path, headers=admin_headers)
        assert allowed.status_code != 403, (method, path)
    async with stack.sessions() as session:
        emails = await session.scalars(select(User.email).where(User.tenant_id == tenant.id))
        assert "x@shop.test" not in set(emails)
    # Demoted by another admin: the same token is now an agent's.
    demoted = await stack.http.patch(
        f"/api/v2/users/{admin.id}", json={"role": "agent"}, headers=other_admin_headers
    )
    assert demoted.status_code == 200 and demoted.json()["role"] == "agent"
    assert (await stack.http.get("/api/v2/users", headers=admin_headers)).status_code == 403
    assert (await stack.http.get("/api/v2/me", headers=admin_headers)).status_code == 200
