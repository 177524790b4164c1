"""Privacy (GDPR) messages: workflow inputs, activity inputs and results.

Every value here holds internal ids, workflow ids and counts only, never a name, phone
number, e-mail, address or message text: they are stored in Temporal's history.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol
from uuid import UUID

from pydantic import BaseModel, Field

PrivacyKind = Literal["export", "delete"]
PrivacySource = Literal["api", "shopify"]
PrivacyStatus = Literal["pending", "running", "done", "failed"]

PRIVACY_KINDS: tuple[PrivacyKind, ...] = ("export", "delete")
PRIVACY_SOURCES: tuple[PrivacySource, ...] = ("api", "shopify")


class PrivacyInput(BaseModel):
    """Input of a privacy workflow: one request about one customer of one tenant."""

    tenant_id: UUID
    request_id: UUID
    customer_id: UUID


class ExportResult(BaseModel):
    """What an export wrote to ``privacy_requests.document``: records per kind."""

    counts: dict[str, int] = Field(default_factory=dict)


class CustomerWorkflows(BaseModel):
    """The workflow ids that concern the customer (running and closed)."""

    workflow_ids: list[str] = Field(default_factory=list)


class WorkflowsInput(BaseModel):
    """Delete the runs of these workflows, for this request."""

    request: PrivacyInput
    workflow_ids: list[str] = Field(default_factory=list)


class EraseResult(BaseModel):
    """Rows deleted or anonymised per table by an erasure.

    ``workflow_ids``: the workflows named by the customer's rows just before they went (a
    workflow started meanwhile is found here, not by visibility, which lags).
    """

    rows: dict[str, int] = Field(default_factory=dict)
    workflow_ids: list[str] = Field(default_factory=list)


class DeleteHistoriesResult(BaseModel):
    """Workflow executions (runs) deleted from Temporal; ``terminated``: those running."""

    deleted_runs: int = 0
    workflow_ids: list[str] = Field(default_factory=list)
    terminated: list[str] = Field(default_factory=list)

    def merged(self, other: DeleteHistoriesResult) -> DeleteHistoriesResult:
        """Both results together (workflow ids once each)."""
        return DeleteHistoriesResult(
            deleted_runs=self.deleted_runs + other.deleted_runs,
            workflow_ids=sorted({*self.workflow_ids, *other.workflow_ids}),
            terminated=sorted({*self.terminated, *other.terminated}),
        )


class FinishDeleteInput(BaseModel):
    """Record a deletion's outcome on its request row."""

    request: PrivacyInput
    erased: EraseResult
    histories: DeleteHistoriesResult


class PrivacyFailInput(BaseModel):
    """Record that a request failed (``error`` is a fixed text, never personal data)."""

    request: PrivacyInput
    error: str = Field(max_length=300)


class RetentionInput(BaseModel):
    """A retention sweep: every tenant, or only ``tenant_ids`` (an admin's run-now)."""

    tenant_ids: list[UUID] | None = None


class RetentionPlanInput(BaseModel):
    """Which tenants to plan for, and the sweep's reference time (workflow time)."""

    tenant_ids: list[UUID] | None = None
    now: datetime


class RateLimitSweepInput(BaseModel):
    """Delete rate-limit windows that started before ``before``."""

    before: datetime


class RetentionTenantInput(BaseModel):
    """Sweep one tenant's conversations older than ``cutoff``."""

    tenant_id: UUID
    cutoff: datetime


class RetentionTenantResult(BaseModel):
    """What one tenant's sweep deleted (and skipped because its workflow still runs).

    ``messages_pruned``: messages older than the cutoff deleted from conversations that stay.
    """

    tenant_id: UUID
    rows: dict[str, int] = Field(default_factory=dict)
    conversations: int = 0
    skipped_running: int = 0
    messages_pruned: int = 0
    histories_deleted: int = 0


class RetentionPlan(BaseModel):
    """The tenants to sweep with their cutoffs, computed by an activity from ``now``."""

    tenants: list[RetentionTenantInput] = Field(default_factory=list)


class RetentionResult(BaseModel):
    """A sweep's report: per tenant, and the rate-limit windows dropped."""

    tenants: list[RetentionTenantResult] = Field(default_factory=list)
    rate_limit_hits: int = 0


class PrivacyStarter(Protocol):
    """Starts the privacy workflow of a recorded request (injected into activities).

    Implemented by ``workflows.privacy.start_privacy_workflow`` bound to a client; a start
    of a workflow that already exists (running or closed) is a no-op.
    """

    async def __call__(self, data: PrivacyInput, kind: PrivacyKind, *, task_queue: str) -> str:
        """Start the workflow; returns its id."""
        ...
