"""Who is calling: the install-wide admin token or a tenant API key, and what it may do.

``Authorization: Bearer <token>`` where ``<token>`` is either ``TENDERO_ADMIN_TOKEN`` (every
tenant, role ``admin``) or a tenant key ``tdk_<prefix>_<secret>`` (``tendero.apikeys``).

- missing or invalid token: 401 with ``WWW-Authenticate: Bearer``; a wrong guess of the
  admin token counts against the caller's IP (``check_admin_token``), 429 once used up;
- over the principal's request limit (``RATE_API_*``, ``api.ratelimit``): 429 with
  ``Retry-After``;
- a role too low for the route: 403;
- another tenant's resource (or one that does not exist): 404, the same answer, so a key
  never learns what exists in another tenant.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.deps import SessionsDep, SettingsDep
from api.ratelimit import RATE_LIMIT_ERRORS, LoginLimiter, api_key_principal_key, enforce_api
from tendero.apikeys import ROLES, Role, looks_like_api_key, role_allows, verify_api_key
from tendero.catalog.tenants import get_tenant_by_slug
from tendero.db.models import Tenant
from tendero.settings import Settings

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="TENDERO_ADMIN_TOKEN (install admin) or a tenant API key `tdk_...`",
)

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid bearer token."},
    403: {"description": "The key's role is too low for this operation."},
    **RATE_LIMIT_ERRORS,
}
"""OpenAPI ``responses`` shared by every authenticated route."""


@dataclass(frozen=True)
class Principal:
    """The caller.

    Attributes:
        tenant_id: the key's tenant; ``None`` for the install admin token (every tenant).
        role: ``admin``, ``operator`` or ``viewer``.
        key_id: the API key's id; ``None`` for the install admin token.
    """

    tenant_id: uuid.UUID | None
    role: Role
    key_id: uuid.UUID | None = None

    @property
    def is_install_admin(self) -> bool:
        """True for ``TENDERO_ADMIN_TOKEN``."""
        return self.tenant_id is None

    def allows(self, role: Role) -> bool:
        """True when this principal's role includes ``role``."""
        return role_allows(self.role, role)

    def sees(self, tenant_id: uuid.UUID) -> bool:
        """True when this principal may act on ``tenant_id``'s resources."""
        return self.tenant_id is None or self.tenant_id == tenant_id


def _unauthorized() -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        detail="a valid bearer token is required",
        headers={"WWW-Authenticate": "Bearer"},
    )


def _admin_token_candidate(token: str) -> bool:
    """False for tokens that are plainly something else: an API key, a JWT (three parts)."""
    return bool(token) and not looks_like_api_key(token) and token.count(".") != 2


async def check_admin_token(
    request: Request,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    token: str,
) -> bool:
    """Whether ``token`` is ``TENDERO_ADMIN_TOKEN``; a wrong guess counts against the IP.

    Guesses are limited like failed logins (``RATE_LOGIN_PER_IP`` per
    ``RATE_LOGIN_WINDOW_S``, their own budget): a tenant API key or a JWT (an agent's token,
    the Temporal UI's OIDC token) is no guess and is not counted. Compared in constant time.

    Raises:
        HTTPException: 429 with ``Retry-After`` once the caller's IP has used up its
            guesses in the window (then even the right token waits).
    """
    if not _admin_token_candidate(token):
        return False
    limiter = LoginLimiter(
        sessions,
        settings,
        account=None,
        client_ip=request.client.host if request.client else None,
        scope="admin-token",
    )
    await limiter.reserve()
    admin = settings.tendero_admin_token.get_secret_value().encode()
    if hmac.compare_digest(token.encode(), admin):
        await limiter.give_back()
        return True
    return False


async def get_principal(
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Authenticate the request, then count it against the principal's limit.

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer`` when missing or invalid;
            429 with ``Retry-After`` over ``RATE_API_PER_PRINCIPAL`` per window.
    """
    principal = await _authenticate(request, settings, sessions, credentials)
    await enforce_api(sessions, settings, api_key_principal_key(principal.key_id))
    return principal


async def _authenticate(
    request: Request,
    settings: SettingsDep,
    sessions: SessionsDep,
    credentials: HTTPAuthorizationCredentials | None,
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthorized()
    token = credentials.credentials
    if not looks_like_api_key(token):
        if await check_admin_token(request, sessions, settings, token):
            return Principal(tenant_id=None, role="admin")
        raise _unauthorized()
    async with sessions() as session, session.begin():
        key = await verify_api_key(session, token, settings.secret_key_bytes)
        if key is None:
            raise _unauthorized()
        role = next((r for r in ROLES if r == key.role), None)
        if role is None:  # a row written outside create_api_key: refuse, never guess
            raise _unauthorized()
        return Principal(tenant_id=key.tenant_id, role=role, key_id=key.id)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that authenticates and requires at least ``role``.

    Example::

        async def route(principal: Annotated[Principal, Depends(require("operator"))]): ...

    Raises:
        HTTPException: 401 (no or invalid token), 403 (role too low).
    """

    async def dependency(principal: PrincipalDep) -> Principal:
        if not principal.allows(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, detail=f"this operation needs the {role} role"
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def not_found(what: str = "not found") -> HTTPException:
    """The 404 used for missing and other tenants' resources alike."""
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=what)


def check_tenant(principal: Principal, tenant_id: uuid.UUID, what: str = "not found") -> None:
    """Refuse another tenant's resource with a 404 (never reveal that it exists).

    Raises:
        HTTPException: 404 when the principal's key belongs to another tenant.
    """
    if not principal.sees(tenant_id):
        raise not_found(what)


async def tenant_by_slug(sessions: SessionsDep, principal: Principal, slug: str) -> Tenant:
    """The tenant ``slug`` names, if this principal may see it.

    Raises:
        HTTPException: 404 for an unknown tenant and for another tenant's alike.
    """
    async with sessions() as session:
        tenant = await get_tenant_by_slug(session, slug)
    if tenant is None or not principal.sees(tenant.id):
        raise not_found("no such tenant")
    return tenant
