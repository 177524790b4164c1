"""A tenant's API keys: create (the plain key is shown once), list, revoke.

Only an ``admin`` of the tenant (or the install admin token) manages keys; a key of another
tenant gets 404 as for a tenant that does not exist.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import AUTH_ERRORS, Admin, not_found, tenant_by_slug
from api.deps import SessionsDep, SettingsDep
from tendero.apikeys import Role, create_api_key, list_api_keys, revoke_api_key

router = APIRouter(prefix="/api/tenants/{slug}/api-keys", tags=["api keys"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    **AUTH_ERRORS,
    404: {"description": "No such tenant (or another tenant's)."},
}


class ApiKeyRequest(BaseModel):
    """A new key: a label for people and its role."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    role: Role


class ApiKeyView(BaseModel):
    """A key as listed: never its secret nor its hash."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class CreatedApiKey(ApiKeyView):
    """A key just created; ``key`` is the plain key, shown this once only."""

    key: str


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses={**_ERRORS, 422: {"description": "Invalid name or role."}},
)
async def create_key(
    slug: str,
    body: ApiKeyRequest,
    principal: Admin,
    sessions: SessionsDep,
    settings: SettingsDep,
) -> CreatedApiKey:
    """Create a key for the tenant; the answer carries the plain key, never shown again."""
    tenant = await tenant_by_slug(sessions, principal, slug)
    async with sessions() as session, session.begin():
        key, token = await create_api_key(
            session,
            tenant_id=tenant.id,
            name=body.name,
            role=body.role,
            pepper=settings.secret_key_bytes,
        )
        await session.refresh(key)
        view = ApiKeyView.model_validate(key)
    return CreatedApiKey(**view.model_dump(), key=token)


@router.get("", responses=_ERRORS)
async def list_keys(slug: str, principal: Admin, sessions: SessionsDep) -> list[ApiKeyView]:
    """The tenant's keys, revoked ones included, newest first (no secrets)."""
    tenant = await tenant_by_slug(sessions, principal, slug)
    async with sessions() as session:
        keys = await list_api_keys(session, tenant.id)
        return [ApiKeyView.model_validate(k) for k in keys]


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**AUTH_ERRORS, 404: {"description": "No such tenant or key."}},
)
async def revoke_key(
    slug: str, key_id: uuid.UUID, principal: Admin, sessions: SessionsDep
) -> Response:
    """Revoke a key: it is refused (401) from now on. Revoking twice is harmless."""
    tenant = await tenant_by_slug(sessions, principal, slug)
    async with sessions() as session, session.begin():
        key = await revoke_api_key(session, tenant.id, key_id)
    if key is None:
        raise not_found("no such api key")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
