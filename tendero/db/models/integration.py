"""Store integrations, their sync runs and cursors, store webhook events, OAuth states."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tendero.db.base import Base, Timestamped, UUIDPk


class Integration(UUIDPk, Timestamped, Base):
    """A tenant's connection to its store (Shopify, WooCommerce or a custom backend).

    ``credentials_enc`` is AES-256-GCM ciphertext of the kind's credentials model
    (``tendero.stores.credentials``), bound to the integration id; ``None`` once the store is
    disconnected or the app uninstalled, so nothing can call the store any more. At most one
    integration per tenant is ``connected``: it is the tenant's source of truth.

    ``status``: ``connected``, ``disconnected`` (by an API client), ``uninstalled`` (Shopify
    ``app/uninstalled``), ``auth_failed`` (the store refused the credentials during a sync).
    ``webhooks`` is the last known list of the store's subscriptions (``WebhookSubscription``
    dumps); ``webhooks_disabled`` counts the ones the store has disabled.
    """

    __tablename__ = "integrations"
    __table_args__ = (
        Index(
            "uq_integrations_tenant_id_connected",
            "tenant_id",
            unique=True,
            postgresql_where="status = 'connected'",
        ),
        Index(
            "uq_integrations_shop_domain_connected",
            "shop_domain",
            unique=True,
            postgresql_where="status = 'connected' AND shop_domain IS NOT NULL",
        ),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="connected")
    shop_domain: Mapped[str | None] = mapped_column(String(255))
    base_url: Mapped[str | None] = mapped_column(String(500))
    currency: Mapped[str | None] = mapped_column(String(3))
    credentials_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    sync_interval_s: Mapped[int] = mapped_column(Integer, server_default="900")
    webhooks: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    webhooks_disabled: Mapped[int] = mapped_column(Integer, server_default="0")
    webhooks_checked_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime | None]
    disconnected_at: Mapped[datetime | None]


class SyncCursor(Base):
    """Where the last successful sync of a resource got to (the incremental high-water mark)."""

    __tablename__ = "sync_cursors"

    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    )
    resource: Mapped[str] = mapped_column(String(16), primary_key=True)
    high_water_mark: Mapped[datetime | None]
    last_full_sync_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]


class SyncRun(UUIDPk, Timestamped, Base):
    """One sync of one resource: its counts, cursor and errors, updated after every page.

    ``steps`` counts committed fetches (pages, and polls of a Shopify bulk operation that
    is still running); the page's rows, the cursor and ``steps`` commit together, so a
    retried activity that finds more steps here than it was given resumes from ``cursor``.

    ``status``: ``running``, ``completed``, ``failed``. ``errors`` keeps the first 50 record
    errors (``{"external_id", "code", "message"}``; never a customer's data). ``cursor`` is
    the last page's ``next_cursor`` as heartbeated, for operators; ``total`` is the store's
    estimate when it gives one.
    """

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_integration_id_created_at", "integration_id", "created_at"),
        UniqueConstraint("workflow_run_id", "resource"),
    )

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE")
    )
    resource: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    workflow_id: Mapped[str] = mapped_column(String(300))
    workflow_run_id: Mapped[str] = mapped_column(String(64))
    updated_since: Mapped[datetime | None]
    steps: Mapped[int] = mapped_column(Integer, server_default="0")
    pages: Mapped[int] = mapped_column(Integer, server_default="0")
    synced: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    total: Mapped[int | None] = mapped_column(Integer)
    cursor: Mapped[str | None] = mapped_column(Text)
    max_updated_at: Mapped[datetime | None]
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    error: Mapped[str | None] = mapped_column(String(300))
    updated_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class StoreEvent(UUIDPk, Base):
    """A store webhook delivery, written under a unique key before anything acts on it.

    ``dedupe_key``: Shopify's ``X-Shopify-Webhook-Id`` (stable across its retries);
    WooCommerce's ``{resource id}:{date_modified_gmt}`` (its delivery ids are not stable).
    ``payload`` is the verified body, kept until the event is applied and then cleared:
    it holds customers' data. ``outcome``: ``received``, ``applied``, ``stale`` (older than
    what we hold), ``ignored``, ``redacted``, ``failed``.
    """

    __tablename__ = "store_events"
    __table_args__ = (UniqueConstraint("integration_id", "dedupe_key"),)

    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    integration_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integrations.id", ondelete="CASCADE")
    )
    topic: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    resource_id: Mapped[str | None] = mapped_column(String(100))
    triggered_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    outcome: Mapped[str] = mapped_column(String(16), server_default="received")
    applied_at: Mapped[datetime | None]


class OAuthState(Base):
    """A Shopify install in progress: the ``state`` nonce, single use, bound to tenant + shop."""

    __tablename__ = "oauth_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    shop_domain: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiKey(UUIDPk, Timestamped, Base):
    """An API key of one tenant, with a role (``admin``, ``operator``, ``viewer``).

    The key is shown once (``tdk_<prefix>_<secret>``); only ``prefix`` (to find the row) and
    the HMAC-SHA256 of the whole key under the server secret are stored.
    """

    __tablename__ = "api_keys"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
