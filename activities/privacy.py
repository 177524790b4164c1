"""Activities of the privacy workflows (export, delete) and of the retention sweep.

Every activity is idempotent: a retried export rewrites the same document, a retried erasure
finds nothing left (and keeps the counts of the first attempt), deleting a workflow that is
already gone succeeds. Logs name ids only.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from tendero import privacy
from tendero.db.base import utcnow
from tendero.db.models import PrivacyRequest, Tenant
from tendero.domain.privacy import (
    CustomerWorkflows,
    DeleteHistoriesResult,
    EraseResult,
    ExportResult,
    FinishDeleteInput,
    PrivacyFailInput,
    PrivacyInput,
    RateLimitSweepInput,
    RetentionPlan,
    RetentionPlanInput,
    RetentionTenantInput,
    RetentionTenantResult,
    WorkflowsInput,
)

logger = logging.getLogger(__name__)

# Conversations deleted per transaction by the retention sweep.
RETENTION_BATCH = 100
# Older messages of kept conversations deleted per transaction by the retention sweep.
PRUNE_BATCH = 1000


def _not_found() -> ApplicationError:
    return ApplicationError("customer not found", type="NotFound", non_retryable=True)


def _quote(value: str) -> str:
    """A string literal of Temporal's visibility query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


async def _runs(client: Client, workflow_id: str) -> list[tuple[str, bool]]:
    """Every existing run of a workflow id: ``(run id, running)``.

    Runs are found by visibility (which lags) and by describing the latest run; each is
    confirmed by describing it, so a run already deleted is not returned.
    """
    candidates: set[str] = set()
    async for execution in client.list_workflows(f"WorkflowId = {_quote(workflow_id)}"):
        candidates.add(execution.run_id)
    found: dict[str, bool] = {}
    try:
        latest = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
    else:
        found[latest.run_id] = latest.status is WorkflowExecutionStatus.RUNNING
    for run_id in sorted(candidates - set(found)):
        try:
            described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            continue
        found[run_id] = described.status is WorkflowExecutionStatus.RUNNING
    return sorted(found.items())


async def delete_workflow_runs(
    client: Client,
    workflow_id: str,
    *,
    wait: bool = True,
    timeout_s: float = 90.0,
    pause_s: float = 0.5,
) -> tuple[int, bool]:
    """Delete every run of ``workflow_id`` from Temporal; a running run is ended by it.

    Temporal terminates and deletes a running execution at once, but deletes a closed one
    only some time after it closed (about 30 s on the dev server), so with ``wait`` the
    runs are described again, and the deletion asked again, until none is left.

    Returns:
        ``(distinct runs deleted, whether one of them was running)``.

    Raises:
        ApplicationError: ``DeleteIncomplete`` (retried) when runs are still there after
            ``timeout_s``.
        RPCError: Temporal failed (other than the run being gone).
    """
    deleted: set[str] = set()
    was_running = False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        runs = await _runs(client, workflow_id)
        if not runs:
            return len(deleted), was_running
        for run_id, running in runs:
            activity.heartbeat(workflow_id)
            try:
                await client.workflow_service.delete_workflow_execution(
                    DeleteWorkflowExecutionRequest(
                        namespace=client.namespace,
                        workflow_execution=WorkflowExecution(
                            workflow_id=workflow_id, run_id=run_id
                        ),
                    )
                )
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise
                continue
            deleted.add(run_id)
            was_running = was_running or running
        if not wait:
            return len(deleted), was_running
        if loop.time() > deadline:
            raise ApplicationError(
                "workflow runs are still present after deletion", type="DeleteIncomplete"
            )
        await asyncio.sleep(pause_s)


class PrivacyActivities:
    """I/O of the privacy workflows.

    Args:
        sessions: database session factory.
        client: the Temporal client (to find, terminate and delete the customer's workflows).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: Client) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._client = client

    async def _request(self, session: AsyncSession, data: PrivacyInput) -> PrivacyRequest:
        request = (
            await session.execute(
                select(PrivacyRequest)
                .where(
                    PrivacyRequest.id == data.request_id,
                    PrivacyRequest.tenant_id == data.tenant_id,
                )
                .with_for_update()
            )
        ).scalar_one_or_none()
        if request is None:
            raise ApplicationError("privacy request not found", type="NotFound", non_retryable=True)
        return request

    async def _mark_running(self, data: PrivacyInput) -> None:
        async with self._sessions() as session, session.begin():
            request = await self._request(session, data)
            if request.status == "pending":
                request.status = "running"

    @activity.defn(name="privacy_export")
    async def privacy_export(self, data: PrivacyInput) -> ExportResult:
        """Build the customer's export and store it on the request (status ``done``).

        Returns:
            Records per kind.

        Raises:
            ApplicationError: ``NotFound`` (not retried) when the request or the customer is
                gone.
        """
        async with self._sessions() as session, session.begin():
            request = await self._request(session, data)
            if request.status == "done" and request.document is not None:
                return ExportResult(counts=request.outcome.get("counts", {}))
            request.status = "running"
            try:
                document = await privacy.export_customer(session, data.tenant_id, data.customer_id)
            except LookupError:
                raise _not_found() from None
            counts = privacy.export_counts(document)
            request.document = document
            request.outcome = {"counts": counts}
            request.status = "done"
            request.error = None
            request.completed_at = utcnow()
        logger.info("privacy export %s done", data.request_id)
        return ExportResult(counts=counts)

    @activity.defn(name="privacy_find_workflows")
    async def privacy_find_workflows(self, data: PrivacyInput) -> CustomerWorkflows:
        """Every workflow id of the customer: by ``CustomerId`` and from the customer's rows.

        Privacy workflows (which carry no ``CustomerId``) are never included.

        Raises:
            ApplicationError: ``NotFound`` (not retried) when the request is gone.
            RPCError: Temporal failed (retried).
        """
        await self._mark_running(data)
        async with self._sessions() as session:
            ids = set(
                await privacy.customer_workflow_ids(session, data.tenant_id, data.customer_id)
            )
        query = (
            f"TenantId = {_quote(str(data.tenant_id))} "
            f"AND CustomerId = {_quote(str(data.customer_id))}"
        )
        async for execution in self._client.list_workflows(query):
            ids.add(execution.id)
            activity.heartbeat(len(ids))
        return CustomerWorkflows(
            workflow_ids=sorted(i for i in ids if not i.startswith("privacy:"))
        )

    @activity.defn(name="privacy_erase")
    async def privacy_erase(self, data: PrivacyInput) -> EraseResult:
        """Erase and anonymise the customer in Postgres; counts kept on the request.

        A retry after a committed erasure runs again (anything written since goes too) and
        adds its counts to those already recorded. Also returns the workflow ids the
        customer's rows named just before the erasure.

        Raises:
            ApplicationError: ``NotFound`` (not retried) when the request or customer is gone.
        """
        async with self._sessions() as session, session.begin():
            request = await self._request(session, data)
            # In the erasure's transaction, under its lock on the customer and before the
            # rows that name them go; a retry keeps those of the first attempt.
            found = await privacy.customer_workflow_ids(
                session, data.tenant_id, data.customer_id, lock=True
            )
            workflow_ids = sorted({*request.outcome.get("workflow_ids", []), *found})
            try:
                counts = await privacy.erase_customer(session, data.tenant_id, data.customer_id)
            except LookupError:
                raise _not_found() from None
            before: dict[str, int] = dict(request.outcome.get("rows", {}))
            total = {k: before.get(k, 0) + counts.get(k, 0) for k in sorted({*before, *counts})}
            request.outcome = {**request.outcome, "rows": total, "workflow_ids": workflow_ids}
        logger.info("privacy request %s: %d rows erased", data.request_id, sum(total.values()))
        return EraseResult(rows=total, workflow_ids=workflow_ids)

    @activity.defn(name="privacy_delete_histories")
    async def privacy_delete_histories(self, data: WorkflowsInput) -> DeleteHistoriesResult:
        """Delete every run (running or closed) of the workflows from Temporal.

        A running workflow is ended by its deletion (Temporal terminates it first), so it
        writes nothing more. Waits until every run is gone.

        Raises:
            ApplicationError: ``DeleteIncomplete`` (retried) when runs outlive the wait.
            RPCError: Temporal failed (retried).
        """
        result = DeleteHistoriesResult(workflow_ids=list(data.workflow_ids))
        for workflow_id in data.workflow_ids:
            activity.heartbeat(workflow_id)
            runs, was_running = await delete_workflow_runs(self._client, workflow_id)
            result.deleted_runs += runs
            if was_running:
                result.terminated.append(workflow_id)
        logger.info(
            "privacy request %s: %d runs of %d workflows deleted (%d were running)",
            data.request.request_id,
            result.deleted_runs,
            len(data.workflow_ids),
            len(result.terminated),
        )
        return result

    @activity.defn(name="privacy_finish_delete")
    async def privacy_finish_delete(self, data: FinishDeleteInput) -> None:
        """Record the deletion's outcome on its request, status ``done``.

        Raises:
            ApplicationError: ``NotFound`` (not retried) when the request is gone.
        """
        async with self._sessions() as session, session.begin():
            request = await self._request(session, data.request)
            request.outcome = {
                "rows": data.erased.rows,
                "workflows_terminated": data.histories.terminated,
                "workflows_deleted": data.histories.workflow_ids,
                "runs_deleted": data.histories.deleted_runs,
            }
            request.status = "done"
            request.error = None
            request.completed_at = request.completed_at or utcnow()

    @activity.defn(name="privacy_fail")
    async def privacy_fail(self, data: PrivacyFailInput) -> None:
        """Mark the request ``failed`` with a short reason (no personal data)."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(PrivacyRequest)
                .where(
                    PrivacyRequest.id == data.request.request_id,
                    PrivacyRequest.tenant_id == data.request.tenant_id,
                    PrivacyRequest.status != "done",
                )
                .values(status="failed", error=data.error[:300], completed_at=utcnow())
            )

    def all(self) -> list[Any]:
        """The activities, for the worker."""
        return [
            self.privacy_export,
            self.privacy_find_workflows,
            self.privacy_erase,
            self.privacy_delete_histories,
            self.privacy_finish_delete,
            self.privacy_fail,
        ]


class RetentionActivities:
    """I/O of the retention sweep.

    Args:
        sessions: database session factory.
        client: the Temporal client (a conversation whose workflow runs is kept; the runs
            of a deleted conversation's workflow are deleted too).
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], client: Client) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._client = client

    @activity.defn(name="retention_plan")
    async def retention_plan(self, data: RetentionPlanInput) -> RetentionPlan:
        """Each tenant (or the given ones) with its cutoff: ``now - tenants.retention_days``."""
        query = select(Tenant.id, Tenant.retention_days).order_by(Tenant.created_at, Tenant.id)
        if data.tenant_ids is not None:
            query = query.where(Tenant.id.in_(data.tenant_ids))
        async with self._sessions() as session:
            rows = (await session.execute(query)).all()
        return RetentionPlan(
            tenants=[
                RetentionTenantInput(
                    tenant_id=row.id, cutoff=data.now - timedelta(days=row.retention_days)
                )
                for row in rows
            ]
        )

    async def _running(self, workflow_id: str) -> bool:
        try:
            described = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                return False
            raise
        return described.status is WorkflowExecutionStatus.RUNNING

    @activity.defn(name="retention_sweep_tenant")
    async def retention_sweep_tenant(self, data: RetentionTenantInput) -> RetentionTenantResult:
        """Delete the tenant's conversations (with transcripts) inactive since the cutoff.

        A conversation whose workflow still runs is skipped, whatever its age; the closed
        runs of a deleted conversation's workflow are deleted from Temporal. Then the
        conversations that stay lose their messages older than the cutoff
        (``privacy.prune_transcripts``). Heartbeats after each conversation.

        Raises:
            RPCError: Temporal failed (retried; what was deleted stays deleted).
        """
        async with self._sessions() as session:
            expired = await privacy.expired_conversations(session, data.tenant_id, data.cutoff)
        result = RetentionTenantResult(tenant_id=data.tenant_id)
        rows: dict[str, int] = {}
        for start in range(0, len(expired), RETENTION_BATCH):
            batch = expired[start : start + RETENTION_BATCH]
            doomed: list[tuple[UUID, str]] = []
            for conversation_id, workflow_id in batch:
                activity.heartbeat(start)
                if await self._running(workflow_id):
                    result.skipped_running += 1
                else:
                    doomed.append((conversation_id, workflow_id))
            async with self._sessions() as session, session.begin():
                # Checked again under the transaction: a message may have arrived meanwhile.
                still = {
                    cid
                    for cid, _ in await privacy.expired_conversations(
                        session, data.tenant_id, data.cutoff
                    )
                }
                doomed = [(cid, wid) for cid, wid in doomed if cid in still]
                counts = await privacy.delete_conversations(
                    session, data.tenant_id, [cid for cid, _ in doomed]
                )
            for table, n in counts.items():
                rows[table] = rows.get(table, 0) + n
            for _, workflow_id in doomed:
                activity.heartbeat(workflow_id)
                # Asked, not awaited: Temporal deletes a closed run some time after it closed.
                runs, _ = await delete_workflow_runs(self._client, workflow_id, wait=False)
                result.histories_deleted += runs
        while True:  # in batches: one transaction and one heartbeat each
            async with self._sessions() as session, session.begin():
                pruned = await privacy.prune_transcripts(
                    session, data.tenant_id, data.cutoff, limit=PRUNE_BATCH
                )
            activity.heartbeat("prune", result.messages_pruned)
            result.messages_pruned += pruned.get("messages", 0)
            for table, n in pruned.items():
                rows[table] = rows.get(table, 0) + n
            if pruned.get("messages", 0) < PRUNE_BATCH:
                break
        result.rows = rows
        result.conversations = rows.get("conversations", 0)
        logger.info(
            "retention of tenant %s: %d conversations deleted, %d kept (running), "
            "%d older messages of kept ones deleted",
            data.tenant_id,
            result.conversations,
            result.skipped_running,
            result.messages_pruned,
        )
        return result

    @activity.defn(name="retention_rate_limits")
    async def retention_rate_limits(self, data: RateLimitSweepInput) -> int:
        """Delete rate-limit counters of windows that started before ``data.before``.

        Returns:
            Rows deleted.
        """
        async with self._sessions() as session, session.begin():
            return await privacy.delete_expired_rate_limit_hits(session, data.before)

    def all(self) -> list[Any]:
        """The activities, for the worker."""
        return [self.retention_plan, self.retention_sweep_tenant, self.retention_rate_limits]
