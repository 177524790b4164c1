"""API keys and the principal: roles, tenant isolation, revocation, the operator routes."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment

from tendero.apikeys import (
    ROLES,
    create_api_key,
    hash_key,
    list_api_keys,
    revoke_api_key,
    role_allows,
    verify_api_key,
)
from tendero.db.models import ApiKey, Conversation, Customer
from tests.api import ADMIN, bearer, new_key, new_tenant
from tests.harness import SECRET_KEY, Stack, running_stack

KEY_RE = re.compile(r"^tdk_[A-Za-z0-9]{10}_[A-Za-z0-9_-]{43}$")


@pytest.fixture
async def stack(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> AsyncIterator[Stack]:
    async with running_stack(
        temporal_env.client, sessionmaker, database_url, with_worker=False
    ) as running:
        yield running


# --- core (no HTTP) -------------------------------------------------------------------------


def test_roles_nest() -> None:
    assert ROLES == ("admin", "operator", "viewer")
    allowed = {(have, need) for have in ROLES for need in ROLES if role_allows(have, need)}
    assert allowed == {
        ("admin", "admin"),
        ("admin", "operator"),
        ("admin", "viewer"),
        ("operator", "operator"),
        ("operator", "viewer"),
        ("viewer", "viewer"),
    }
    assert not role_allows("root", "viewer") and not role_allows("admin", "root")


async def test_create_verify_revoke(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    tenant = await new_tenant(sessionmaker)
    pepper = SECRET_KEY
    async with sessionmaker() as session, session.begin():
        key, token = await create_api_key(
            session, tenant_id=tenant.id, name="ci", role="operator", pepper=pepper
        )
    assert KEY_RE.match(token), token
    prefix = token.split("_")[1]
    async with sessionmaker() as session:
        stored = await session.get_one(ApiKey, key.id)
        assert stored.prefix == prefix
        assert stored.key_hash == hash_key(token, pepper)
        assert token.split("_", 2)[2] not in stored.key_hash
        assert stored.last_used_at is None

    now = datetime.now(UTC)
    async with sessionmaker() as session, session.begin():
        found = await verify_api_key(session, token, pepper, now=now)
        assert found is not None and found.id == key.id and found.role == "operator"
    # Within the minute: no new write; after it: updated.
    async with sessionmaker() as session, session.begin():
        await verify_api_key(session, token, pepper, now=now + timedelta(seconds=30))
    async with sessionmaker() as session:
        assert (await session.get_one(ApiKey, key.id)).last_used_at == now
    later = now + timedelta(seconds=61)
    async with sessionmaker() as session, session.begin():
        await verify_api_key(session, token, pepper, now=later)
    async with sessionmaker() as session:
        assert (await session.get_one(ApiKey, key.id)).last_used_at == later

    async with sessionmaker() as session:
        # Same prefix, wrong secret; wrong pepper; malformed.
        assert await verify_api_key(session, token[:-4] + "AAAA", pepper) is None
        assert await verify_api_key(session, token, b"x" * 32) is None
        assert await verify_api_key(session, "tdk_short_x", pepper) is None
        assert await verify_api_key(session, "", pepper) is None

    other = await new_tenant(sessionmaker)
    async with sessionmaker() as session, session.begin():
        assert await revoke_api_key(session, other.id, key.id) is None
        revoked = await revoke_api_key(session, tenant.id, key.id)
        assert revoked is not None and revoked.revoked_at is not None
    async with sessionmaker() as session:
        assert await verify_api_key(session, token, pepper) is None
        assert [k.id for k in await list_api_keys(session, tenant.id)] == [key.id]
        assert await list_api_keys(session, other.id) == []


# --- HTTP ---------------------------------------------------------------------------------


async def test_install_admin_manages_keys_and_keys_authenticate(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    base = f"/api/tenants/{tenant.slug}/api-keys"
    created = await stack.http.post(base, json={"name": "ops", "role": "admin"}, headers=ADMIN)
    assert created.status_code == 201, created.text
    body = created.json()
    token = body["key"]
    assert KEY_RE.match(token)
    assert body["role"] == "admin" and body["tenant_id"] == str(tenant.id)
    assert body["prefix"] == token.split("_")[1]
    assert "key_hash" not in body

    # The tenant admin key manages the tenant's keys itself.
    viewer = await stack.http.post(
        base, json={"name": "dashboard", "role": "viewer"}, headers=bearer(token)
    )
    assert viewer.status_code == 201
    listed = await stack.http.get(base, headers=bearer(token))
    assert listed.status_code == 200
    assert {k["name"] for k in listed.json()} == {"ops", "dashboard"}
    for item in listed.json():
        assert set(item) == {
            "id",
            "tenant_id",
            "name",
            "role",
            "prefix",
            "created_at",
            "last_used_at",
            "revoked_at",
        }
    assert token not in listed.text and viewer.json()["key"] not in listed.text
    assert next(k for k in listed.json() if k["name"] == "ops")["last_used_at"] is not None

    # Nothing in the table holds a key in clear.
    async with stack.sessions() as session:
        rows = (
            await session.execute(
                text("SELECT * FROM api_keys WHERE tenant_id = :t"), {"t": tenant.id}
            )
        ).all()
    dump = repr(rows)
    assert token not in dump and token.split("_", 2)[2] not in dump

    # Validation at the edge.
    for bad in ({"name": "x", "role": "root"}, {"name": "", "role": "viewer"}, {"role": "admin"}):
        assert (await stack.http.post(base, json=bad, headers=ADMIN)).status_code == 422

    # Revocation: 204, then the key is refused; revoking again is harmless; unknown is 404.
    viewer_id = viewer.json()["id"]
    gone = await stack.http.delete(f"{base}/{viewer_id}", headers=bearer(token))
    assert gone.status_code == 204
    refused = await stack.http.get(
        f"/api/tenants/{tenant.slug}/integrations", headers=bearer(viewer.json()["key"])
    )
    assert refused.status_code == 401
    assert (await stack.http.delete(f"{base}/{viewer_id}", headers=ADMIN)).status_code == 204
    missing = await stack.http.delete(f"{base}/{uuid.uuid4()}", headers=ADMIN)
    assert missing.status_code == 404


async def test_roles_are_enforced(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    viewer = bearer(await new_key(stack, tenant, "viewer"))
    operator = bearer(await new_key(stack, tenant, "operator"))
    keys = f"/api/tenants/{tenant.slug}/api-keys"
    integrations = f"/api/tenants/{tenant.slug}/integrations"
    custom = {
        "name": "b",
        "base_url": "http://127.0.0.1:9",
        "username": "u",
        "password": "p",
    }
    assert (await stack.http.get(integrations, headers=viewer)).status_code == 200
    for headers in (viewer, operator):
        assert (await stack.http.get(keys, headers=headers)).status_code == 403
        new = await stack.http.post(keys, json={"name": "x", "role": "viewer"}, headers=headers)
        assert new.status_code == 403
        connect = await stack.http.post(f"{integrations}/custom", json=custom, headers=headers)
        assert connect.status_code == 403
    some = uuid.uuid4()
    sync = await stack.http.post(f"{integrations}/{some}/syncs", json={}, headers=viewer)
    assert sync.status_code == 403
    test = await stack.http.post(f"{integrations}/{some}/test", headers=viewer)
    assert test.status_code == 403
    # The operator passes the role check: the integration does not exist.
    assert (
        await stack.http.post(f"{integrations}/{some}/test", headers=operator)
    ).status_code == 404
    async with stack.sessions() as session:
        assert len(await list_api_keys(session, tenant.id)) == 2


async def test_missing_and_wrong_tokens_are_401(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    base = f"/api/tenants/{tenant.slug}/api-keys"
    real = await new_key(stack, tenant, "admin")
    wrong_secret = real[:-6] + ("AAAAAA" if not real.endswith("AAAAAA") else "BBBBBB")
    for headers in (
        {},
        bearer("nope"),
        bearer("dev-admin-token-x"),
        bearer(wrong_secret),
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        for method, path in (
            ("GET", base),
            ("POST", base),
            ("DELETE", f"{base}/{uuid.uuid4()}"),
            ("GET", f"/api/conversations/{uuid.uuid4()}"),
        ):
            answer = await stack.http.request(method, path, headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers)
            assert answer.headers["www-authenticate"] == "Bearer"


async def test_another_tenants_keys_are_404(stack: Stack) -> None:
    a = await new_tenant(stack.sessions)
    b = await new_tenant(stack.sessions)
    a_admin = bearer(await new_key(stack, a, "admin"))
    b_key = (await stack.http.get(f"/api/tenants/{b.slug}/api-keys", headers=ADMIN)).json()
    assert b_key == []
    b_created = await stack.http.post(
        f"/api/tenants/{b.slug}/api-keys", json={"name": "b", "role": "viewer"}, headers=ADMIN
    )
    b_id = b_created.json()["id"]
    unknown = f"/api/tenants/no-such-{uuid.uuid4().hex[:6]}/api-keys"
    for path in (f"/api/tenants/{b.slug}/api-keys", unknown):
        listed = await stack.http.get(path, headers=a_admin)
        created = await stack.http.post(
            path, json={"name": "evil", "role": "admin"}, headers=a_admin
        )
        deleted = await stack.http.delete(f"{path}/{b_id}", headers=a_admin)
        assert (listed.status_code, created.status_code, deleted.status_code) == (404, 404, 404)
        assert listed.json() == created.json() == {"detail": "no such tenant"}
    # A's admin cannot revoke B's key through A's own tenant either.
    through_a = await stack.http.delete(f"/api/tenants/{a.slug}/api-keys/{b_id}", headers=a_admin)
    assert through_a.status_code == 404
    async with stack.sessions() as session:
        b_keys = await list_api_keys(session, b.id)
        assert [(k.name, k.revoked_at) for k in b_keys] == [("b", None)]


async def test_operator_routes_use_tenant_keys(stack: Stack) -> None:
    a = await new_tenant(stack.sessions)
    b = await new_tenant(stack.sessions)
    async with stack.sessions() as session, session.begin():
        customer = Customer(id=uuid.uuid4(), tenant_id=a.id)
        session.add(customer)
        await session.flush()
        conversation = Conversation(
            id=uuid.uuid4(),
            tenant_id=a.id,
            customer_id=customer.id,
            channel="whatsapp",
            workflow_id=f"conversation:{a.id}:whatsapp:{customer.id}",
        )
        session.add(conversation)
    path = f"/api/conversations/{conversation.id}"
    a_viewer = bearer(await new_key(stack, a, "viewer"))
    a_operator = bearer(await new_key(stack, a, "operator"))
    b_admin = bearer(await new_key(stack, b, "admin"))

    seen = await stack.http.get(path, headers=a_viewer)
    assert seen.status_code == 200 and seen.json()["tenant_id"] == str(a.id)
    assert (await stack.http.get(path, headers=b_admin)).status_code == 404
    owner = {"owner": "human"}
    assert (await stack.http.post(f"{path}/owner", json=owner, headers=a_viewer)).status_code == 403
    foreign = await stack.http.post(f"{path}/owner", json=owner, headers=b_admin)
    assert foreign.status_code == 404
    async with stack.sessions() as session:
        assert (await session.get_one(Conversation, conversation.id)).owner == "bot"
    # No workflow runs for it: the owner is recorded for the next message.
    done = await stack.http.post(f"{path}/owner", json=owner, headers=a_operator)
    assert done.status_code == 200, done.text
    assert done.json() == {
        "conversation_id": str(conversation.id),
        "owner": "human",
        "workflow_running": False,
    }
    async with stack.sessions() as session:
        stored = await session.scalar(
            select(Conversation.owner).where(Conversation.id == conversation.id)
        )
    assert stored == "human"
