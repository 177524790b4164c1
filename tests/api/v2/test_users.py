"""Agent API users: ``/me`` and the admin's user management."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from tendero.db.models import User
from tendero.users import verify_password
from tests.api import new_tenant
from tests.api.v2 import bearer, login, user_token
from tests.harness import Stack

NEW = {
    "email": " New.Agent@Shop.TEST ",
    "name": "New Agent",
    "role": "agent",
    "password": "twelve chars",
}


async def _count(stack: Stack, tenant_id: uuid.UUID) -> int:
    async with stack.sessions() as session:
        value = await session.scalar(
            select(func.count()).select_from(User).where(User.tenant_id == tenant_id)
        )
        return int(value or 0)


async def test_me(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    user, headers = await user_token(stack, tenant, "agent")
    answer = await stack.http.get("/api/v2/me", headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["id"] == str(user.id) and body["role"] == "agent" and body["active"] is True
    assert "password_hash" not in body and "token_version" not in body


async def test_create_list_and_duplicates(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    admin, headers = await user_token(stack, tenant, "admin")
    created = await stack.http.post("/api/v2/users", json=NEW, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "new.agent@shop.test"
    assert (body["name"], body["role"], body["active"]) == ("New Agent", "agent", True)
    assert body["tenant_id"] == str(tenant.id) and body["last_login_at"] is None
    async with stack.sessions() as session:
        row = await session.get_one(User, uuid.UUID(body["id"]))
        assert verify_password("twelve chars", row.password_hash)
        assert "twelve" not in row.password_hash
    # The new user can log in.
    token = await login(stack, tenant, "new.agent@shop.test", "twelve chars")
    assert (await stack.http.get("/api/v2/me", headers=bearer(token))).json()["id"] == body["id"]

    before = await _count(stack, tenant.id)
    duplicate = await stack.http.post(
        "/api/v2/users", json=NEW | {"email": "NEW.agent@shop.test"}, headers=headers
    )
    assert duplicate.status_code == 409
    assert duplicate.json() == {"detail": "a user with this e-mail already exists in this shop"}
    for bad in (
        NEW | {"email": "not-an-email"},
        NEW | {"password": "short"},
        NEW | {"role": "owner"},
        NEW | {"name": ""},
        NEW | {"tenant_id": str(uuid.uuid4())},
        {k: v for k, v in NEW.items() if k != "password"},
    ):
        answer = await stack.http.post("/api/v2/users", json=bad, headers=headers)
        assert answer.status_code == 422, (bad, answer.text)
    assert await _count(stack, tenant.id) == before

    listed = await stack.http.get("/api/v2/users", headers=headers)
    assert listed.status_code == 200
    assert [u["email"] for u in listed.json()] == sorted([admin.email, "new.agent@shop.test"])
    # The same address may exist in another shop.
    other = await new_tenant(stack.sessions)
    _, other_headers = await user_token(stack, other, "admin")
    again = await stack.http.post("/api/v2/users", json=NEW, headers=other_headers)
    assert again.status_code == 201
    assert again.json()["tenant_id"] == str(other.id)


async def test_patch_user(stack: Stack) -> None:
    tenant = await new_tenant(stack.sessions)
    admin, headers = await user_token(stack, tenant, "admin")
    agent, _ = await user_token(stack, tenant, "agent")
    promoted = await stack.http.patch(
        f"/api/v2/users/{agent.id}", json={"role": "admin"}, headers=headers
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"
    for bad in ({"role": "owner"}, {"password": "short"}, {"email": "x@y.test"}):
        answer = await stack.http.patch(f"/api/v2/users/{agent.id}", json=bad, headers=headers)
        assert answer.status_code == 422, bad
    missing = await stack.http.patch(
        f"/api/v2/users/{uuid.uuid4()}", json={"active": False}, headers=headers
    )
    assert missing.status_code == 404 and missing.json() == {"detail": "no such user"}
    # Demote the other admin, then the last admin cannot demote or deactivate itself.
    back = await stack.http.patch(
        f"/api/v2/users/{agent.id}", json={"role": "agent"}, headers=headers
    )
    assert back.status_code == 200
    for change in ({"role": "agent"}, {"active": False}):
        refused = await stack.http.patch(f"/api/v2/users/{admin.id}", json=change, headers=headers)
        assert refused.status_code == 409, change
    async with stack.sessions() as session:
        row = await session.get_one(User, admin.id)
        assert (row.role, row.active, row.token_version) == ("admin", True, 0)
