"""StoreEventWorkflow: apply one recorded store webhook (ID ``store-event:{integration}:{event}``).

The API records the verified delivery and starts this workflow, then answers the store at
once; the workflow applies it with database-grade retries, and operators find every store
event in the Temporal UI by ``TenantId`` and ``IntegrationId``.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tendero.domain.sync import StoreEventInput, StoreEventResult

from workflows.common import DB_RETRY, DB_TIMEOUT


@workflow.defn
class StoreEventWorkflow:
    """Apply a store webhook once."""

    @workflow.run
    async def run(self, data: StoreEventInput) -> StoreEventResult:
        """Run ``apply_store_event`` and report its outcome in the UI."""
        result: StoreEventResult = await workflow.execute_activity(
            "apply_store_event",
            data,
            result_type=StoreEventResult,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        workflow.set_current_details(f"{result.topic}: {result.outcome}")
        return result
