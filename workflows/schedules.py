"""Temporal Schedules: each connected store's sync, and the daily retention sweep.

One schedule per integration, id ``sync-schedule:{integration}``: every ``interval_s`` it
starts a StoreSyncWorkflow of ``all`` resources in ``auto`` mode (incremental once a full
sync is done), trigger ``schedule``. Overlap policy ``SKIP``: while a sync still runs, the
next tick is skipped rather than queued, so a slow store never piles up syncs.

Temporal appends the scheduled time to the workflow id of each run
(``sync:{integration}:all-2026-01-01T00:00:00Z``), so a scheduled run and an on-demand run
(``sync:{integration}:all``) can overlap; both resume from the same cursors.

The ``retention`` schedule runs a RetentionWorkflow over every tenant once a day at
``RETENTION_HOUR_UTC`` (overlap ``SKIP``); the worker ensures it at startup.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleHandle,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from tendero.domain.ids import RETENTION_SCHEDULE_ID, sync_schedule_id, sync_workflow_id
from tendero.domain.privacy import RetentionInput, RetentionResult
from tendero.domain.sync import SyncInput, SyncMode
from workflows.common import INTEGRATION_ID, STAGE, TENANT_ID
from workflows.retention import RetentionWorkflow
from workflows.store_sync import StoreSyncWorkflow


def sync_schedule(
    *, integration_id: uuid.UUID, tenant_id: uuid.UUID, interval_s: int, task_queue: str
) -> Schedule:
    """The schedule definition (also used to update an existing one)."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            StoreSyncWorkflow.run,
            SyncInput(
                integration_id=integration_id,
                tenant_id=tenant_id,
                resource="all",
                mode=SyncMode.AUTO,
                trigger="schedule",
            ),
            id=sync_workflow_id(integration_id, "all"),
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(TENANT_ID, str(tenant_id)),
                    SearchAttributePair(INTEGRATION_ID, str(integration_id)),
                ]
            ),
            static_summary=f"scheduled sync of integration {integration_id}",
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(seconds=interval_s))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"store sync every {interval_s} s"),
    )


async def ensure_sync_schedule(
    client: Client,
    *,
    integration_id: uuid.UUID,
    tenant_id: uuid.UUID,
    interval_s: int,
    task_queue: str,
) -> ScheduleHandle:
    """Create the integration's sync schedule, or update it to this interval and queue.

    Raises:
        ValueError: ``interval_s`` is below 60 seconds.
        RPCError: Temporal refused the request.
    """
    if interval_s < 60:
        raise ValueError("the sync interval must be at least 60 seconds")
    schedule = sync_schedule(
        integration_id=integration_id,
        tenant_id=tenant_id,
        interval_s=interval_s,
        task_queue=task_queue,
    )
    schedule_id = sync_schedule_id(integration_id)
    try:
        return await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(schedule_id)
    await _replace(handle, schedule)
    return handle


async def _replace(handle: ScheduleHandle, schedule: Schedule) -> None:
    def updater(_: ScheduleUpdateInput) -> ScheduleUpdate:
        return ScheduleUpdate(schedule=schedule)

    await handle.update(updater)


async def delete_sync_schedule(client: Client, integration_id: uuid.UUID) -> bool:
    """Delete the integration's sync schedule; a missing one is fine.

    Returns:
        True when a schedule was deleted, False when there was none.
    """
    handle = client.get_schedule_handle(sync_schedule_id(integration_id))
    try:
        await handle.delete()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


# --- Retention -------------------------------------------------------------------------


def retention_schedule(*, hour_utc: int, task_queue: str) -> Schedule:
    """The daily retention sweep: every tenant at ``hour_utc``:00 UTC, overlap ``SKIP``.

    Raises:
        ValueError: ``hour_utc`` is not 0..23.
    """
    if not 0 <= hour_utc <= 23:
        raise ValueError("the retention hour must be 0..23 (UTC)")
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionWorkflow.run,
            RetentionInput(),
            id=RETENTION_SCHEDULE_ID,
            task_queue=task_queue,
            typed_search_attributes=TypedSearchAttributes(
                [SearchAttributePair(STAGE, "retention")]
            ),
            static_summary="retention sweep of every tenant",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    hour=[ScheduleRange(hour_utc)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                )
            ],
            time_zone_name="UTC",
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"retention sweep daily at {hour_utc:02d}:00 UTC"),
    )


async def ensure_retention_schedule(
    client: Client, *, hour_utc: int, task_queue: str
) -> ScheduleHandle:
    """Create the ``retention`` schedule, or update it to this hour and task queue.

    Called at worker startup, so the schedule always follows ``RETENTION_HOUR_UTC``.

    Raises:
        ValueError: ``hour_utc`` is not 0..23.
        RPCError: Temporal refused the request.
    """
    schedule = retention_schedule(hour_utc=hour_utc, task_queue=task_queue)
    try:
        return await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:
        pass
    handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    await _replace(handle, schedule)
    return handle


async def start_retention_now(
    client: Client, *, task_queue: str, tenant_id: uuid.UUID | None = None
) -> WorkflowHandle[RetentionWorkflow, RetentionResult]:
    """Start a retention sweep now: every tenant, or only ``tenant_id``.

    The id is ``retention:now:{random}`` (``retention:{tenant}:{random}`` for one tenant),
    so it never collides with the scheduled runs.

    Raises:
        RPCError: Temporal refused the request.
    """
    attributes = [SearchAttributePair(STAGE, "retention")]
    if tenant_id is not None:
        attributes.append(SearchAttributePair(TENANT_ID, str(tenant_id)))
    scope = str(tenant_id) if tenant_id is not None else "now"
    return await client.start_workflow(
        RetentionWorkflow.run,
        RetentionInput(tenant_ids=[tenant_id] if tenant_id is not None else None),
        id=f"{RETENTION_SCHEDULE_ID}:{scope}:{uuid.uuid4().hex[:12]}",
        task_queue=task_queue,
        search_attributes=TypedSearchAttributes(attributes),
        static_summary=(
            f"retention sweep of tenant {tenant_id}" if tenant_id else "retention sweep (now)"
        ),
    )
