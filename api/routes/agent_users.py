"""The agent API's login and user management (``/api/v2``).

``POST /api/v2/auth/token`` exchanges a shop slug, an e-mail and a password for a bearer
token; every other route needs one (``api.agent_auth``). Users are managed by the shop's
``admin`` users only; a user id of another shop is answered 404, as a missing one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.agent_auth import AGENT_AUTH_ERRORS, AdminDep, AgentDep, unauthorized
from api.deps import SessionsDep, SettingsDep
from api.ratelimit import RATE_LIMIT_ERRORS, LoginLimiter
from tendero.db.models import User
from tendero.users import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    DuplicateEmail,
    Role,
    UserError,
    authenticate,
    create_user,
    get_user,
    issue_token,
    list_users,
    update_user,
)

router = APIRouter(prefix="/api/v2", tags=["agent API: users"])

_BAD_LOGIN = "invalid shop, e-mail or password"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenRequest(_Body):
    """A login: the shop's slug, the user's e-mail and password."""

    tenant: str = Field(min_length=1, max_length=64, description="the shop's slug")
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD_LENGTH)


class UserView(BaseModel):
    """A user as shown by the API: never the password hash nor the token version."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class TokenResponse(BaseModel):
    """A bearer token for the agent API and the user it is for."""

    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserView


class NewUser(_Body):
    """A user to create in the caller's shop."""

    email: str = Field(min_length=3, max_length=320)
    name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)


class UserPatch(_Body):
    """Fields to change; absent ones are kept.

    A new password or ``active: false`` signs the user out everywhere (their tokens are
    refused from then on).
    """

    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH
    )


_USER_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such user in this shop (another shop's user alike)."},
}


@router.post(
    "/auth/token",
    responses={
        401: {"description": "Unknown shop or e-mail, wrong password or inactive user."},
        422: {"description": "Malformed body."},
        **RATE_LIMIT_ERRORS,
    },
)
async def login(
    body: TokenRequest, request: Request, sessions: SessionsDep, settings: SettingsDep
) -> TokenResponse:
    """Log in: a bearer token for ``/api/v2`` (valid ``TENDERO_JWT_TTL_S`` seconds).

    Every failure answers the same 401, so the answer never tells which shops or
    addresses exist. Failed logins are counted per account (shop + e-mail,
    ``RATE_LOGIN_PER_ACCOUNT``) and per client IP (``RATE_LOGIN_PER_IP``) in a
    ``RATE_LOGIN_WINDOW_S`` window; once either is used up, logins are refused with 429
    and ``Retry-After`` until the window ends, whatever the password.
    """
    limiter = LoginLimiter(
        sessions,
        settings,
        account=(body.tenant, body.email),
        client_ip=request.client.host if request.client else None,
    )
    await limiter.reserve()
    now = datetime.now(UTC)
    try:
        async with sessions() as session, session.begin():
            user = await authenticate(
                session, tenant_slug=body.tenant, email=body.email, password=body.password, now=now
            )
            if user is not None:
                await session.flush()
                await session.refresh(user)
                view = UserView.model_validate(user)
                token, expires_at = issue_token(user, settings, now)
    except Exception:
        await limiter.give_back()  # no verdict on the password: not a failure
        raise
    if user is None:
        raise unauthorized(_BAD_LOGIN)  # the reserved slot stays: one failure counted
    await limiter.give_back()
    return TokenResponse(access_token=token, expires_at=expires_at, user=view)


@router.get("/me", responses=AGENT_AUTH_ERRORS)
async def me(caller: AgentDep, sessions: SessionsDep) -> UserView:
    """The user the token belongs to."""
    async with sessions() as session:
        user = await session.get_one(User, caller.user_id)
        return UserView.model_validate(user)


@router.get("/users", responses=AGENT_AUTH_ERRORS)
async def get_users(caller: AdminDep, sessions: SessionsDep) -> list[UserView]:
    """The shop's users, inactive ones included, by e-mail (admin only)."""
    async with sessions() as session:
        return [UserView.model_validate(u) for u in await list_users(session, caller.tenant_id)]


@router.post(
    "/users",
    status_code=status.HTTP_201_CREATED,
    responses={
        **AGENT_AUTH_ERRORS,
        409: {"description": "The shop already has a user with this e-mail."},
        422: {"description": "Invalid e-mail, name, role or password (10+ characters)."},
    },
)
async def post_user(body: NewUser, caller: AdminDep, sessions: SessionsDep) -> UserView:
    """Create a user in the caller's shop (admin only)."""
    async with sessions() as session, session.begin():
        try:
            user = await create_user(
                session,
                tenant_id=caller.tenant_id,
                email=body.email,
                name=body.name,
                role=body.role,
                password=body.password,
            )
        except DuplicateEmail as err:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(err)) from None
        except UserError as err:
            raise HTTPException(422, detail=str(err)) from None
        await session.flush()
        await session.refresh(user)
        return UserView.model_validate(user)


async def _other_active_admins(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID
) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(
            User.tenant_id == tenant_id,
            User.id != user_id,
            User.role == "admin",
            User.active.is_(True),
        )
    )
    return int(count or 0)


@router.patch(
    "/users/{user_id}",
    responses={
        **AGENT_AUTH_ERRORS,
        **_USER_NOT_FOUND,
        409: {"description": "The change would leave the shop without an active admin."},
        422: {"description": "Unknown role or a password under 10 characters."},
    },
)
async def patch_user(
    user_id: uuid.UUID, body: UserPatch, caller: AdminDep, sessions: SessionsDep
) -> UserView:
    """Change a user's role, active flag or password (admin only).

    A new password or a deactivation invalidates every token of that user.
    """
    async with sessions() as session, session.begin():
        user = await get_user(session, caller.tenant_id, user_id)
        if user is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such user")
        loses_admin = (
            user.role == "admin"
            and user.active
            and ((body.role is not None and body.role != "admin") or body.active is False)
        )
        if loses_admin and await _other_active_admins(session, caller.tenant_id, user.id) == 0:
            raise HTTPException(
                status.HTTP_409_CONFLICT, detail="the shop must keep at least one active admin"
            )
        try:
            await update_user(
                session, user, role=body.role, active=body.active, password=body.password
            )
        except UserError as err:
            raise HTTPException(422, detail=str(err)) from None
        await session.refresh(user)
        return UserView.model_validate(user)
