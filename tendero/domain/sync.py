"""Store sync messages: workflow input, activity inputs and results, progress.

All are small pydantic values, safe in workflow history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from tendero.stores.records import Resource


class SyncMode(StrEnum):
    """How much a sync reads.

    ``full`` reads everything; ``incremental`` what changed since the high-water mark;
    ``auto`` is full the first time a resource is synced, incremental afterwards.
    """

    FULL = "full"
    INCREMENTAL = "incremental"
    AUTO = "auto"


SyncTrigger = Literal["api", "schedule", "cli", "connect", "test"]
SyncResource = Resource | Literal["all"]


class SyncInput(BaseModel):
    """Start a sync of one resource, or of ``all`` in dependency order (``SYNC_ORDER``)."""

    integration_id: UUID
    tenant_id: UUID
    resource: SyncResource = "all"
    mode: SyncMode = SyncMode.AUTO
    trigger: SyncTrigger = "api"
    # Records per page: connectors cap it at their API's maximum (250 Shopify GraphQL, 100
    # WooCommerce); a Shopify bulk download has no maximum.
    page_size: int = Field(default=250, ge=1, le=5000)


class SyncStartInput(BaseModel):
    """Open (or, on a retry, find) the run record of one resource."""

    integration_id: UUID
    tenant_id: UUID
    resource: Resource
    mode: SyncMode
    trigger: SyncTrigger
    workflow_id: str
    workflow_run_id: str


class SyncPlan(BaseModel):
    """What the run will do: ``supported`` False when the store cannot list the resource."""

    run_id: UUID
    mode: SyncMode
    updated_since: datetime | None
    supported: bool = True


class SyncBatchInput(BaseModel):
    """Copy pages of a resource from ``cursor`` on, for up to ``max_pages`` or ``max_s``.

    ``steps`` is how many fetches the workflow knows were committed; a retried activity
    that finds more in the run record resumes from the record's cursor instead.
    """

    run_id: UUID
    resource: Resource
    updated_since: datetime | None
    cursor: str | None = None
    steps: int = 0
    page_size: int = 250
    max_pages: int = 20
    max_s: float = 60.0


class SyncCounts(BaseModel):
    """Counts of a run so far."""

    pages: int = 0
    synced: int = 0
    skipped: int = 0
    failed: int = 0
    total: int | None = None


class SyncBatchResult(BaseModel):
    """Where the scan got to: ``done`` when the store has no more pages."""

    cursor: str | None
    steps: int
    done: bool
    counts: SyncCounts


class SyncFinishInput(BaseModel):
    """Close a run: ``completed`` moves the high-water mark, ``failed`` records why."""

    run_id: UUID
    status: Literal["completed", "failed"]
    error: str | None = None


class ResourceProgress(BaseModel):
    """One resource of a sync, as the ``progress`` query and the API show it."""

    resource: Resource
    status: Literal["pending", "running", "completed", "failed", "unsupported"] = "pending"
    run_id: UUID | None = None
    mode: SyncMode | None = None
    counts: SyncCounts = SyncCounts()
    error: str | None = None


class SyncResult(BaseModel):
    """The outcome of a StoreSyncWorkflow run, one entry per resource."""

    resources: list[ResourceProgress]

    @property
    def ok(self) -> bool:
        """True when no resource failed."""
        return all(r.status != "failed" for r in self.resources)


class WebhookCheckInput(BaseModel):
    """Compare the store's webhook subscriptions with ours and re-register missing ones."""

    integration_id: UUID


class WebhookCheckResult(BaseModel):
    """Subscriptions found, how many the store had disabled, how many we re-registered."""

    active: int
    disabled: int
    registered: int


class StoreEventInput(BaseModel):
    """A recorded store webhook (``store_events`` row) to apply."""

    event_id: UUID


class StoreEventResult(BaseModel):
    """``outcome``: applied, stale, ignored, redacted or exported."""

    outcome: str
    topic: str
