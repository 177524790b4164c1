"""StoreSyncWorkflow: copy a connected store's categories, products, customers and orders.

ID ``sync:{integration}:{resource}`` (``resource`` may be ``all``). Each resource gets a run
record; its pages are copied by ``sync_batch`` activities that heartbeat their cursor and
commit it with the page, so a worker killed mid-scan is followed by another that resumes
where the last committed page ended (no duplicates, no gaps). Progress is a query, the
run's current details in the Temporal UI, and the run records in Postgres (the API).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from tendero.domain.sync import (
        ResourceProgress,
        SyncBatchInput,
        SyncBatchResult,
        SyncCounts,
        SyncFinishInput,
        SyncInput,
        SyncPlan,
        SyncResult,
        SyncStartInput,
        WebhookCheckInput,
        WebhookCheckResult,
    )
    from tendero.stores.records import SYNC_ORDER, Resource

from workflows.common import DB_RETRY, DB_TIMEOUT, INTEGRATION_ID, STAGE, TENANT_ID

# A batch is at most ~60 s of pages; the heartbeat proves the worker is alive between pages
# (a Shopify bulk operation poll heartbeats while it waits).
BATCH_TIMEOUT = timedelta(minutes=10)
BATCH_HEARTBEAT = timedelta(seconds=60)
STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
    non_retryable_error_types=[
        "store_auth",
        "store_rejected",
        "store_not_supported",
        "integration_unavailable",
        "not_found",
    ],
)


@workflow.defn
class StoreSyncWorkflow:
    """Full or incremental sync of one integration's resources."""

    def __init__(self) -> None:
        """Start with nothing synced."""
        self._progress: list[ResourceProgress] = []

    @workflow.run
    async def run(self, data: SyncInput) -> SyncResult:
        """Sync ``data.resource`` (or every resource in dependency order)."""
        resources = list(SYNC_ORDER) if data.resource == "all" else [Resource(data.resource)]
        self._progress = [ResourceProgress(resource=r) for r in resources]
        workflow.upsert_search_attributes(
            [
                TENANT_ID.value_set(str(data.tenant_id)),
                INTEGRATION_ID.value_set(str(data.integration_id)),
            ]
        )
        stop = False
        for progress in self._progress:
            if stop:
                break
            stop = await self._sync_resource(data, progress)
        if data.resource == "all" and not stop:
            await self._check_webhooks(data)
        failed = [p.resource.value for p in self._progress if p.status == "failed"]
        workflow.upsert_search_attributes([STAGE.value_set("failed" if failed else "synced")])
        self._describe()
        return SyncResult(resources=self._progress)

    async def _sync_resource(self, data: SyncInput, progress: ResourceProgress) -> bool:
        """Sync one resource; True when the whole sync must stop (credentials refused)."""
        info = workflow.info()
        workflow.upsert_search_attributes([STAGE.value_set(f"sync {progress.resource.value}")])
        plan: SyncPlan = await workflow.execute_activity(
            "start_sync_run",
            SyncStartInput(
                integration_id=data.integration_id,
                tenant_id=data.tenant_id,
                resource=progress.resource,
                mode=data.mode,
                trigger=data.trigger,
                workflow_id=info.workflow_id,
                workflow_run_id=info.run_id,
            ),
            result_type=SyncPlan,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        progress.run_id, progress.mode = plan.run_id, plan.mode
        if not plan.supported:
            progress.status = "unsupported"
            return False
        progress.status = "running"
        self._describe()
        cursor: str | None = None
        steps = 0
        try:
            while True:
                batch: SyncBatchResult = await workflow.execute_activity(
                    "sync_batch",
                    SyncBatchInput(
                        run_id=plan.run_id,
                        resource=progress.resource,
                        updated_since=plan.updated_since,
                        cursor=cursor,
                        steps=steps,
                        page_size=data.page_size,
                    ),
                    result_type=SyncBatchResult,
                    start_to_close_timeout=BATCH_TIMEOUT,
                    heartbeat_timeout=BATCH_HEARTBEAT,
                    retry_policy=STORE_RETRY,
                    summary=f"{progress.resource.value} pages",
                )
                cursor, steps, progress.counts = batch.cursor, batch.steps, batch.counts
                self._describe()
                if batch.done:
                    break
        except ActivityError as err:
            code = err.cause.type if isinstance(err.cause, ApplicationError) else None
            progress.status = "failed"
            progress.error = code or "activity_failed"
            await self._finish(plan, "failed", progress.error)
            return code in ("store_auth", "integration_unavailable")
        progress.counts = await self._finish(plan, "completed", None)
        progress.status = "completed"
        return False

    async def _finish(
        self, plan: SyncPlan, status: Literal["completed", "failed"], error: str | None
    ) -> SyncCounts:
        counts: SyncCounts = await workflow.execute_activity(
            "finish_sync_run",
            SyncFinishInput(run_id=plan.run_id, status=status, error=error),
            result_type=SyncCounts,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        return counts

    async def _check_webhooks(self, data: SyncInput) -> None:
        try:
            await workflow.execute_activity(
                "check_store_webhooks",
                WebhookCheckInput(integration_id=data.integration_id),
                result_type=WebhookCheckResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=STORE_RETRY,
            )
        except ActivityError:
            # The data is reconciled already; a webhook check that fails is retried by the
            # next scheduled sync, and must not mark this one failed.
            workflow.logger.warning("webhook check failed; the next sync retries it")

    def _describe(self) -> None:
        lines = [
            f"{p.resource.value}: {p.status}, {p.counts.synced} synced"
            + (f" of ~{p.counts.total}" if p.counts.total else "")
            + (f", {p.counts.failed} failed" if p.counts.failed else "")
            for p in self._progress
        ]
        workflow.set_current_details("\n".join(lines))

    @workflow.query
    def progress(self) -> list[ResourceProgress]:
        """Every resource's status and counts so far."""
        return self._progress
