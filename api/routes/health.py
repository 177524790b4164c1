"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionsDep, TemporalDep

router = APIRouter(tags=["health"])


@router.get("/health", responses={503: {"description": "a dependency is down"}})
async def health(sessions: SessionsDep, temporal: TemporalDep) -> dict[str, str]:
    """Check Postgres and Temporal."""
    async with sessions() as session:
        await session.execute(text("SELECT 1"))
    await temporal.service_client.check_health()
    return {"status": "ok"}
