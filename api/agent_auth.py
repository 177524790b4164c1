"""Who is calling the agent API (``/api/v2``): a shop's user with a token from its login.

``Authorization: Bearer <jwt>`` where the token comes from ``POST /api/v2/auth/token``
(``tendero.users``). The token names its user and tenant; every request re-reads the user
row, so a deactivated user, a changed password (``token_version`` moved) or a changed
role takes effect at once.

- missing, invalid or expired token, inactive user: 401 with ``WWW-Authenticate: Bearer``;
- over the user's request limit (``RATE_API_*``, ``api.ratelimit``): 429 with
  ``Retry-After``;
- a role too low for the route (an ``agent`` on an ``admin`` route): 403;
- another tenant's resource (or one that does not exist): 404, the same answer.

The tenant of every request is the token's: routes never take it from the path or query.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.deps import SessionsDep, SettingsDep
from api.ratelimit import RATE_LIMIT_ERRORS, agent_user_key, enforce_api
from tendero.db.models import User
from tendero.users import InvalidToken, decode_token

__all__ = [
    "AGENT_AUTH_ERRORS",
    "AdminDep",
    "AgentDep",
    "AgentUser",
    "current_admin",
    "current_user",
    "unauthorized",
]

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="agentBearer",
    description="a token from POST /api/v2/auth/token (a shop user's login)",
)

AGENT_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, invalid or expired bearer token, or an inactive user."},
    403: {"description": "The user's role is too low for this operation (admin only)."},
    **RATE_LIMIT_ERRORS,
}
"""OpenAPI ``responses`` shared by every authenticated ``/api/v2`` route."""


@dataclass(frozen=True)
class AgentUser:
    """The authenticated shop user.

    Attributes:
        user_id: the user's id.
        tenant_id: the user's shop; every query of the request is scoped by it.
        role: ``admin`` or ``agent``, as currently stored (not as in the token).
        name: the display name.
    """

    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: str
    name: str


def unauthorized(detail: str = "a valid bearer token is required") -> HTTPException:
    """The 401 of the agent API, with ``WWW-Authenticate: Bearer``."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


async def current_user(
    settings: SettingsDep,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AgentUser:
    """Authenticate the request: any active user of any role.

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer`` when the token is missing,
            malformed, forged or expired, or its user is gone, inactive, moved to another
            tenant or has a newer ``token_version``; 429 with ``Retry-After`` over
            ``RATE_API_PER_PRINCIPAL`` requests of the user per window.
    """
    if credentials is None or not credentials.credentials:
        raise unauthorized()
    try:
        claims = decode_token(credentials.credentials, settings)
    except InvalidToken:
        raise unauthorized() from None
    async with sessions() as session:
        user = await session.get(User, claims.user_id)
    if (
        user is None
        or user.tenant_id != claims.tenant_id
        or not user.active
        or user.token_version != claims.version
    ):
        raise unauthorized()
    await enforce_api(sessions, settings, agent_user_key(user.id))
    return AgentUser(user_id=user.id, tenant_id=user.tenant_id, role=user.role, name=user.name)


AgentDep = Annotated[AgentUser, Depends(current_user)]


async def current_admin(user: AgentDep) -> AgentUser:
    """Authenticate the request and require the ``admin`` role.

    Raises:
        HTTPException: 401 as for ``current_user``; 403 for an ``agent``.
    """
    if user.role != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this operation needs the admin role")
    return user


AdminDep = Annotated[AgentUser, Depends(current_admin)]
