"""Request dependencies as ``Annotated`` aliases over what the lifespan put on ``app.state``."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from tendero.settings import Settings


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def _temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


SettingsDep = Annotated[Settings, Depends(_settings)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
TemporalDep = Annotated[Client, Depends(_temporal)]


_bearer = HTTPBearer(auto_error=False, description="TENDERO_ADMIN_TOKEN")


def _operator(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Require the operator token (``Authorization: Bearer $TENDERO_ADMIN_TOKEN``).

    Raises:
        HTTPException: 401 with ``WWW-Authenticate: Bearer`` when missing or wrong.
    """
    expected = settings.tendero_admin_token.get_secret_value().encode()
    given = (credentials.credentials if credentials else "").encode()
    if not hmac.compare_digest(given, expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid operator token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


OperatorDep = Depends(_operator)
