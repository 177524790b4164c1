"""Privacy workflows: export or delete one customer's data (ID ``privacy:{tenant}:{request}``).

Started by the API (``/api/v2/privacy/...``) and by Shopify's compliance webhooks, once the
customer has been resolved to an internal id and a ``privacy_requests`` row recorded. Their
input, history and result hold ids and counts only: the export document is written to
Postgres by the activity, never returned through Temporal.

Delete: find every workflow of the customer (by the ``CustomerId`` search attribute and by
the ids derived from the customer's rows) and delete every run of them from Temporal (their
histories quote the customer; a running one is terminated by its deletion, so it writes
nothing more), erase and anonymise in Postgres, look again for a workflow started meanwhile
and delete it too, and record the outcome on the request.

Operators find them in the Temporal UI by ``TenantId`` and ``Stage`` (``export`` /
``delete``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.client import Client
from temporalio.common import (
    RetryPolicy,
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from tendero.domain.ids import privacy_workflow_id
    from tendero.domain.privacy import (
        CustomerWorkflows,
        DeleteHistoriesResult,
        EraseResult,
        ExportResult,
        FinishDeleteInput,
        PrivacyFailInput,
        PrivacyInput,
        PrivacyKind,
        WorkflowsInput,
    )

from workflows.common import DB_RETRY, DB_TIMEOUT, STAGE, TENANT_ID

# Talking to Temporal (list, terminate, delete) retries like the database does.
TEMPORAL_TIMEOUT = timedelta(minutes=10)
TEMPORAL_HEARTBEAT = timedelta(seconds=30)
TEMPORAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=0,
    non_retryable_error_types=["NotFound"],
)


def privacy_search_attributes(tenant_id: str, kind: PrivacyKind) -> TypedSearchAttributes:
    """``TenantId`` and ``Stage`` (``export`` or ``delete``): ids only, never the customer's."""
    return TypedSearchAttributes(
        [SearchAttributePair(TENANT_ID, tenant_id), SearchAttributePair(STAGE, kind)]
    )


async def _fail(data: PrivacyInput, err: ActivityError) -> None:
    cause = err.cause
    error = type(cause).__name__ if cause is not None else "ActivityError"
    if cause is not None and getattr(cause, "type", None) == "NotFound":
        error = "customer not found"
    await workflow.execute_activity(
        "privacy_fail",
        PrivacyFailInput(request=data, error=error),
        start_to_close_timeout=DB_TIMEOUT,
        retry_policy=DB_RETRY,
    )


@workflow.defn
class PrivacyExportWorkflow:
    """Export everything held about one customer into the request's ``document``."""

    @workflow.run
    async def run(self, data: PrivacyInput) -> ExportResult:
        """Build and store the export; returns records per kind (no personal data).

        Raises:
            ActivityError: the customer no longer exists (the request is marked failed).
        """
        try:
            result: ExportResult = await workflow.execute_activity(
                "privacy_export",
                data,
                result_type=ExportResult,
                # One database transaction that does not heartbeat: bounded by its timeout.
                start_to_close_timeout=TEMPORAL_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        except ActivityError as err:
            await _fail(data, err)
            raise
        workflow.set_current_details(
            "exported: " + ", ".join(f"{k} {v}" for k, v in sorted(result.counts.items()))
        )
        return result


@workflow.defn
class PrivacyDeleteWorkflow:
    """Erase one customer everywhere: running workflows, Postgres, workflow histories."""

    @workflow.run
    async def run(self, data: PrivacyInput) -> FinishDeleteInput:
        """End the customer's workflows, erase, delete their histories, record the outcome.

        Returns:
            Rows changed per table and the workflow ids terminated and deleted.

        Raises:
            ActivityError: the customer no longer exists (the request is marked failed).
        """
        try:
            return await self._run(data)
        except ActivityError as err:
            await _fail(data, err)
            raise

    async def _run(self, data: PrivacyInput) -> FinishDeleteInput:
        found: CustomerWorkflows = await workflow.execute_activity(
            "privacy_find_workflows",
            data,
            result_type=CustomerWorkflows,
            start_to_close_timeout=TEMPORAL_TIMEOUT,
            heartbeat_timeout=TEMPORAL_HEARTBEAT,
            retry_policy=TEMPORAL_RETRY,
        )
        workflow.set_current_details(f"{len(found.workflow_ids)} workflows of the customer")
        # Deleting a running workflow ends it (Temporal terminates it first): nothing of
        # the customer is written after this. A separate terminate would leave a closed
        # run that Temporal deletes only some time after it closed.
        histories = await self._delete_histories(data, found.workflow_ids)
        erased: EraseResult = await workflow.execute_activity(
            "privacy_erase",
            data,
            result_type=EraseResult,
            start_to_close_timeout=TEMPORAL_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        # Again after the erasure: a workflow started meanwhile (a last message restarts
        # the conversation under the same id) goes too. The erased rows no longer name
        # them and visibility lags, so the ids found before and those the erasure saw are
        # swept as well as those found now.
        again: CustomerWorkflows = await workflow.execute_activity(
            "privacy_find_workflows",
            data,
            result_type=CustomerWorkflows,
            start_to_close_timeout=TEMPORAL_TIMEOUT,
            heartbeat_timeout=TEMPORAL_HEARTBEAT,
            retry_policy=TEMPORAL_RETRY,
        )
        sweep = sorted({*found.workflow_ids, *erased.workflow_ids, *again.workflow_ids})
        histories = histories.merged(await self._delete_histories(data, sweep))
        outcome = FinishDeleteInput(request=data, erased=erased, histories=histories)
        await workflow.execute_activity(
            "privacy_finish_delete",
            outcome,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        workflow.set_current_details(
            f"erased {sum(erased.rows.values())} rows, deleted {histories.deleted_runs} "
            f"runs of {len(histories.workflow_ids)} workflows"
        )
        return outcome

    async def _delete_histories(
        self, data: PrivacyInput, workflow_ids: list[str]
    ) -> DeleteHistoriesResult:
        result: DeleteHistoriesResult = await workflow.execute_activity(
            "privacy_delete_histories",
            WorkflowsInput(request=data, workflow_ids=workflow_ids),
            result_type=DeleteHistoriesResult,
            start_to_close_timeout=TEMPORAL_TIMEOUT,
            heartbeat_timeout=TEMPORAL_HEARTBEAT,
            retry_policy=TEMPORAL_RETRY,
        )
        return result


PRIVACY_WORKFLOWS: dict[PrivacyKind, type] = {
    "export": PrivacyExportWorkflow,
    "delete": PrivacyDeleteWorkflow,
}


async def start_privacy_workflow(
    client: Client, data: PrivacyInput, kind: PrivacyKind, *, task_queue: str
) -> str:
    """Start the request's workflow; one that already exists (running or closed) is kept.

    Args:
        client: the Temporal client.
        data: the recorded request (ids only).
        kind: ``export`` or ``delete``.
        task_queue: the workers' task queue.

    Returns:
        The workflow id, ``privacy:{tenant}:{request}``.

    Raises:
        temporalio.service.RPCError: Temporal refused or is unreachable.
    """
    workflow_id = privacy_workflow_id(data.tenant_id, data.request_id)
    options: dict[str, Any] = {
        "id": workflow_id,
        "task_queue": task_queue,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE,
        "id_conflict_policy": WorkflowIDConflictPolicy.USE_EXISTING,
        "search_attributes": privacy_search_attributes(str(data.tenant_id), kind),
        "static_summary": f"Privacy {kind} of customer {data.customer_id}",
        "static_details": f"Request `{data.request_id}`",
    }
    try:
        if kind == "export":
            await client.start_workflow(PrivacyExportWorkflow.run, data, **options)
        else:
            await client.start_workflow(PrivacyDeleteWorkflow.run, data, **options)
    except WorkflowAlreadyStartedError:
        pass
    return workflow_id
