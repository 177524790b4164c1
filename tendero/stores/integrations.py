"""Connecting, reading and disconnecting a tenant's store integration (no HTTP here).

Credentials are sealed with the install's keyring (AES-256-GCM, the integration id bound as
associated data, so a blob copied to another row does not open) and only ever leave this
module as a credentials model for a connector; the API's views never carry them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, TypeAdapter
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tendero.crypto import Keyring
from tendero.db.models import Integration, SyncCursor
from tendero.errors import AppError, NotFoundError
from tendero.stores.credentials import StoreCredentials

StoreKind = Literal["shopify", "woocommerce", "custom"]

_CREDENTIALS: TypeAdapter[StoreCredentials] = TypeAdapter(StoreCredentials)


class IntegrationConflict(AppError):
    """The tenant already has a connected store (disconnect it first)."""

    code = "integration_conflict"


class IntegrationUnavailable(AppError):
    """The integration is not connected any more (disconnected, uninstalled, no credentials)."""

    code = "integration_unavailable"


class IntegrationView(BaseModel):
    """What the API shows of an integration: never its credentials."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    tenant_id: uuid.UUID
    kind: str
    name: str
    status: str
    shop_domain: str | None
    base_url: str | None
    currency: str | None
    sync_interval_s: int
    webhooks: list[dict[str, Any]]
    webhooks_disabled: int
    webhooks_checked_at: datetime | None
    last_error: str | None
    created_at: datetime
    disconnected_at: datetime | None


def _context(integration_id: uuid.UUID) -> bytes:
    return f"integration:{integration_id}".encode()


def seal_credentials(
    keyring: Keyring, integration_id: uuid.UUID, credentials: StoreCredentials
) -> bytes:
    """Encrypt ``credentials`` for the row ``integration_id``."""
    plain = {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials
    }
    return keyring.encrypt(
        json.dumps(plain, default=_json_default), context=_context(integration_id)
    )


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def open_credentials(keyring: Keyring, integration: Integration) -> StoreCredentials:
    """Decrypt an integration's credentials.

    Raises:
        IntegrationUnavailable: the integration holds no credentials any more.
        DecryptionError: the key that sealed them is not configured.
    """
    if integration.credentials_enc is None or integration.status not in (
        "connected",
        "auth_failed",
    ):
        raise IntegrationUnavailable("the store is not connected")
    return _CREDENTIALS.validate_json(
        keyring.decrypt(integration.credentials_enc, context=_context(integration.id))
    )


async def connect(
    session: AsyncSession,
    keyring: Keyring,
    *,
    tenant_id: uuid.UUID,
    kind: StoreKind,
    name: str,
    credentials: StoreCredentials,
    base_url: str | None = None,
    shop_domain: str | None = None,
    currency: str | None = None,
    sync_interval_s: int = 900,
) -> Integration:
    """Record a connected store for the tenant; the caller commits.

    Raises:
        IntegrationConflict: the tenant already has a connected store, or (Shopify) the shop
            is connected to another tenant.
    """
    existing = await session.scalar(
        select(Integration.id).where(
            Integration.tenant_id == tenant_id, Integration.status == "connected"
        )
    )
    if existing is not None:
        raise IntegrationConflict("this shop already has a connected store; disconnect it first")
    if shop_domain is not None:
        taken = await session.scalar(
            select(Integration.id).where(
                Integration.shop_domain == shop_domain, Integration.status == "connected"
            )
        )
        if taken is not None:
            raise IntegrationConflict("this store is already connected to another shop")
    integration = Integration(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        kind=kind,
        name=name,
        status="connected",
        base_url=base_url,
        shop_domain=shop_domain,
        currency=currency,
        sync_interval_s=sync_interval_s,
        updated_at=datetime.now(UTC),
    )
    integration.credentials_enc = seal_credentials(keyring, integration.id, credentials)
    session.add(integration)
    await session.flush()
    return integration


async def save_credentials(
    session: AsyncSession,
    keyring: Keyring,
    integration_id: uuid.UUID,
    credentials: StoreCredentials,
) -> None:
    """Replace an integration's credentials (a refreshed Shopify token pair); caller commits."""
    await session.execute(
        update(Integration)
        .where(Integration.id == integration_id)
        .values(
            credentials_enc=seal_credentials(keyring, integration_id, credentials),
            updated_at=datetime.now(UTC),
        )
    )


async def get_integration(
    session: AsyncSession, integration_id: uuid.UUID, *, tenant_id: uuid.UUID | None = None
) -> Integration:
    """The integration, optionally only if it belongs to ``tenant_id``.

    Raises:
        NotFoundError: no such integration (or another tenant's).
    """
    integration = await session.get(Integration, integration_id)
    if integration is None or (tenant_id is not None and integration.tenant_id != tenant_id):
        raise NotFoundError("integration not found")
    return integration


async def connected_integration(session: AsyncSession, tenant_id: uuid.UUID) -> Integration | None:
    """The tenant's connected store, if it has one (its source of truth)."""
    return await session.scalar(
        select(Integration).where(
            Integration.tenant_id == tenant_id, Integration.status == "connected"
        )
    )


async def disconnect(
    session: AsyncSession,
    integration: Integration,
    *,
    status: Literal["disconnected", "uninstalled"] = "disconnected",
) -> None:
    """Stop using the store: drop its credentials and sync cursors; the caller commits.

    The mirrored catalog, customers and orders stay (orders placed in chat keep their
    history); a new connection starts with a full sync.
    """
    integration.status = status
    integration.credentials_enc = None
    integration.disconnected_at = datetime.now(UTC)
    integration.updated_at = integration.disconnected_at
    await session.execute(delete(SyncCursor).where(SyncCursor.integration_id == integration.id))
