"""RetentionWorkflow: delete conversations and transcripts past each tenant's retention.

Run daily by the Temporal Schedule ``retention`` (``workflows/schedules.py``), or on demand
(``tendero privacy retention --now``, ``POST /api/v2/settings/retention/run`` for one
tenant). One activity per tenant deletes the conversations whose last activity is older
than ``tenants.retention_days`` (never one whose workflow still runs) and the messages older
than that in the conversations that stay; a last one drops rate-limit windows older than a
day. Input and result hold ids and counts only.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from tendero.domain.privacy import (
        RateLimitSweepInput,
        RetentionInput,
        RetentionPlan,
        RetentionPlanInput,
        RetentionResult,
        RetentionTenantResult,
    )

from workflows.common import DB_RETRY, DB_TIMEOUT
from workflows.privacy import TEMPORAL_HEARTBEAT, TEMPORAL_RETRY

SWEEP_TIMEOUT = timedelta(hours=1)
RATE_LIMIT_KEEP = timedelta(days=1)


@workflow.defn
class RetentionWorkflow:
    """One retention sweep over every tenant (or the given ones)."""

    @workflow.run
    async def run(self, data: RetentionInput) -> RetentionResult:
        """Plan the tenants, sweep each, drop old rate-limit windows; report counts."""
        now = workflow.now()
        plan: RetentionPlan = await workflow.execute_activity(
            "retention_plan",
            RetentionPlanInput(tenant_ids=data.tenant_ids, now=now),
            result_type=RetentionPlan,
            start_to_close_timeout=DB_TIMEOUT,
            retry_policy=DB_RETRY,
        )
        result = RetentionResult()
        for tenant in plan.tenants:
            swept: RetentionTenantResult = await workflow.execute_activity(
                "retention_sweep_tenant",
                tenant,
                result_type=RetentionTenantResult,
                start_to_close_timeout=SWEEP_TIMEOUT,
                heartbeat_timeout=TEMPORAL_HEARTBEAT,
                retry_policy=TEMPORAL_RETRY,
            )
            result.tenants.append(swept)
            workflow.set_current_details(
                f"{len(result.tenants)}/{len(plan.tenants)} tenants swept, "
                f"{sum(t.conversations for t in result.tenants)} conversations deleted"
            )
        if data.tenant_ids is None:
            result.rate_limit_hits = await workflow.execute_activity(
                "retention_rate_limits",
                RateLimitSweepInput(before=now - RATE_LIMIT_KEEP),
                result_type=int,
                start_to_close_timeout=DB_TIMEOUT,
                retry_policy=DB_RETRY,
            )
        workflow.set_current_details(
            f"{len(result.tenants)} tenants: "
            f"{sum(t.conversations for t in result.tenants)} conversations deleted, "
            f"{sum(t.skipped_running for t in result.tenants)} kept (running), "
            f"{sum(t.messages_pruned for t in result.tenants)} older messages of kept ones "
            f"deleted; {result.rate_limit_hits} rate-limit windows dropped"
        )
        return result
