"""Store sync activities: open a run, copy pages, close the run, reconcile webhooks.

Pages heartbeat their cursor; the store's webhook subscriptions are checked after a sync.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from tendero.db.models import Integration, SyncCursor, SyncRun
from tendero.domain.sync import (
    SyncBatchInput,
    SyncBatchResult,
    SyncCounts,
    SyncFinishInput,
    SyncMode,
    SyncPlan,
    SyncStartInput,
    WebhookCheckInput,
    WebhookCheckResult,
)
from tendero.errors import StoreAuthError, StoreError, StoreNotSupported
from tendero.settings import Settings
from tendero.stores.factory import StoreClients, supported_resources
from tendero.stores.integrations import IntegrationUnavailable, open_credentials
from tendero.stores.mirror import MAX_ERRORS, mirror_records
from tendero.stores.webhook_urls import webhook_address, webhook_secret

logger = logging.getLogger(__name__)

# Incremental syncs re-read a little before the high-water mark: stores stamp updated_at
# before they commit, so a record can appear "in the past" after we looked.
OVERLAP = timedelta(minutes=5)


def store_failure(err: StoreError) -> ApplicationError:
    """The Temporal failure for a store error: retryable only when the store might recover."""
    return ApplicationError(
        f"{err.code}: {err}",
        type=err.code,
        non_retryable=not err.retryable,
    )


class SyncActivities:
    """Activities of the StoreSyncWorkflow.

    Args:
        sessions: database session factory.
        clients: the worker's store clients.
        settings: public URL (webhook addresses) and keyring.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clients: StoreClients,
        settings: Settings,
    ) -> None:
        """Inject clients."""
        self._sessions = sessions
        self._clients = clients
        self._settings = settings

    @activity.defn(name="start_sync_run")
    async def start_sync_run(self, data: SyncStartInput) -> SyncPlan:
        """Open the run record of one resource (found again on a retry) and plan the scan.

        ``auto`` becomes ``full`` when the resource has no high-water mark yet.

        Raises:
            ApplicationError: ``not_found`` / ``integration_unavailable``: not retryable.
        """
        async with self._sessions() as session, session.begin():
            integration = await session.get(Integration, data.integration_id)
            if integration is None or integration.status != "connected":
                raise ApplicationError(
                    "the store is not connected", type="integration_unavailable", non_retryable=True
                )
            cursor = await session.get(SyncCursor, (data.integration_id, data.resource.value))
            mode = data.mode
            if mode is SyncMode.AUTO:
                has_mark = cursor is not None and cursor.high_water_mark is not None
                mode = SyncMode.INCREMENTAL if has_mark else SyncMode.FULL
            since = None
            if mode is SyncMode.INCREMENTAL and cursor is not None and cursor.high_water_mark:
                since = cursor.high_water_mark - OVERLAP
            supported = data.resource in supported_resources(integration.kind)
            await session.execute(
                insert(SyncRun)
                .values(
                    tenant_id=data.tenant_id,
                    integration_id=data.integration_id,
                    resource=data.resource.value,
                    mode=mode.value,
                    trigger=data.trigger,
                    status="running" if supported else "completed",
                    workflow_id=data.workflow_id,
                    workflow_run_id=data.workflow_run_id,
                    updated_since=since,
                    updated_at=datetime.now(UTC),
                    finished_at=None if supported else datetime.now(UTC),
                    error=None if supported else "this kind of store cannot list it",
                )
                .on_conflict_do_nothing(index_elements=["workflow_run_id", "resource"])
            )
            run = await session.scalar(
                select(SyncRun).where(
                    SyncRun.workflow_run_id == data.workflow_run_id,
                    SyncRun.resource == data.resource.value,
                )
            )
            assert run is not None
            return SyncPlan(
                run_id=run.id,
                mode=SyncMode(run.mode),
                updated_since=run.updated_since,
                supported=supported,
            )

    @activity.defn(name="sync_batch")
    async def sync_batch(self, data: SyncBatchInput) -> SyncBatchResult:
        """Copy pages into our tables, each in one transaction with the run's cursor.

        Stops after ``max_pages`` pages or ``max_s`` seconds so the workflow can report
        progress; heartbeats the cursor after every page. Waits (heartbeating) while the
        store prepares data (a Shopify bulk operation).

        Raises:
            ApplicationError: the store error's code; retryable for outages and throttling,
                not for refused credentials or requests.
        """
        async with self._sessions() as session:
            run = await session.get_one(SyncRun, data.run_id)
        cursor, steps = data.cursor, data.steps
        if run.steps > steps:  # an earlier attempt committed pages the workflow never saw
            cursor, steps = run.cursor, run.steps
            if cursor is None:
                return SyncBatchResult(cursor=None, steps=steps, done=True, counts=_counts(run))
        try:
            integration, client = await self._clients.get(run.integration_id)
        except IntegrationUnavailable as err:
            raise ApplicationError(str(err), type=err.code, non_retryable=True) from None
        deadline = time.monotonic() + data.max_s
        pages = 0
        while True:
            try:
                page = await client.fetch_page(
                    data.resource,
                    cursor=cursor,
                    updated_since=data.updated_since,
                    page_size=data.page_size,
                )
            except StoreError as err:
                if isinstance(err, StoreAuthError):
                    await self._mark(integration.id, "auth_failed", err)
                raise store_failure(err) from None
            async with self._sessions() as session, session.begin():
                result = await mirror_records(
                    session, tenant_id=run.tenant_id, resource=data.resource, records=page.items
                )
                advanced = await session.execute(
                    update(SyncRun)
                    .where(SyncRun.id == run.id, SyncRun.steps == steps)
                    .values(
                        steps=SyncRun.steps + 1,
                        cursor=page.next_cursor,
                        pages=SyncRun.pages + (0 if page.pending else 1),
                        synced=SyncRun.synced + result.synced,
                        skipped=SyncRun.skipped + result.skipped,
                        failed=SyncRun.failed + result.failed,
                        total=func.coalesce(page.total, SyncRun.total),
                        max_updated_at=func.greatest(SyncRun.max_updated_at, result.max_updated_at),
                        errors=_append_errors(result.errors),
                        updated_at=datetime.now(UTC),
                    )
                    .returning(SyncRun)
                )
                row = advanced.scalar_one_or_none()
                if row is None:
                    # Another attempt of this activity moved the run on: let it finish.
                    raise ApplicationError("sync run moved on elsewhere", type="SyncRaced")
            steps += 1
            cursor = page.next_cursor
            counts = _counts(row)
            activity.heartbeat({"cursor": cursor, "steps": steps, "synced": counts.synced})
            if cursor is None:
                return SyncBatchResult(cursor=None, steps=steps, done=True, counts=counts)
            if page.pending:
                await self._wait(page.retry_after_s, cursor, steps)
            else:
                pages += 1
            if pages >= data.max_pages or time.monotonic() >= deadline:
                return SyncBatchResult(cursor=cursor, steps=steps, done=False, counts=counts)

    async def _wait(self, seconds: float, cursor: str | None, steps: int) -> None:
        remaining = max(0.0, seconds)
        while remaining > 0:
            step = min(remaining, 5.0)
            await asyncio.sleep(step)
            remaining -= step
            activity.heartbeat({"cursor": cursor, "steps": steps, "waiting": True})

    async def _mark(self, integration_id: Any, status: str, err: StoreError) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Integration)
                .where(Integration.id == integration_id, Integration.status == "connected")
                .values(status=status, last_error=err.code, updated_at=datetime.now(UTC))
            )

    @activity.defn(name="finish_sync_run")
    async def finish_sync_run(self, data: SyncFinishInput) -> SyncCounts:
        """Close the run; a completed run moves the resource's high-water mark forward."""
        now = datetime.now(UTC)
        async with self._sessions() as session, session.begin():
            run = await session.get_one(SyncRun, data.run_id, with_for_update=True)
            if run.finished_at is None:
                run.status = data.status
                run.error = (data.error or "")[:300] or None
                run.finished_at = now
                run.updated_at = now
                if data.status == "completed":
                    # A full scan that found nothing still marks "everything up to now".
                    mark = run.max_updated_at or (run.created_at if run.mode == "full" else None)
                    values: dict[str, Any] = {
                        "integration_id": run.integration_id,
                        "resource": run.resource,
                        "high_water_mark": mark,
                        "updated_at": now,
                        "last_full_sync_at": now if run.mode == "full" else None,
                    }
                    stmt = insert(SyncCursor).values(values)
                    await session.execute(
                        stmt.on_conflict_do_update(
                            index_elements=["integration_id", "resource"],
                            set_={
                                "high_water_mark": func.greatest(
                                    SyncCursor.high_water_mark, stmt.excluded.high_water_mark
                                ),
                                "updated_at": now,
                                "last_full_sync_at": func.coalesce(
                                    stmt.excluded.last_full_sync_at, SyncCursor.last_full_sync_at
                                ),
                            },
                        )
                    )
            return _counts(run)

    @activity.defn(name="check_store_webhooks")
    async def check_store_webhooks(self, data: WebhookCheckInput) -> WebhookCheckResult:
        """Read the store's subscriptions; re-register ours when some are missing or disabled.

        WooCommerce disables a webhook after 5 failed deliveries and never retries what it
        missed (notes/store-apis.md §2): the scheduled sync has reconciled the data, this
        puts the subscription back and records how many were found disabled.
        """
        async with self._sessions() as session:
            integration = await session.get_one(Integration, data.integration_id)
            try:
                credentials = open_credentials(self._settings.keyring, integration)
            except IntegrationUnavailable as err:
                raise ApplicationError(str(err), type=err.code, non_retryable=True) from None
        _, client = await self._clients.get(data.integration_id)
        address = webhook_address(self._settings, integration)
        try:
            found = await client.list_webhooks()
            ours = [w for w in found if w.address == address]
            disabled = [w for w in ours if not w.active]
            registered = 0
            if not ours or disabled:
                secret = webhook_secret(credentials)
                registered = len(await client.register_webhooks(address=address, secret=secret))
                found = await client.list_webhooks()
                ours = [w for w in found if w.address == address]
        except StoreNotSupported:
            ours, disabled, registered = [], [], 0
        except StoreError as err:
            raise store_failure(err) from None
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(Integration)
                .where(Integration.id == data.integration_id)
                .values(
                    webhooks=[w.model_dump(mode="json") for w in ours],
                    webhooks_disabled=len(disabled),
                    webhooks_checked_at=datetime.now(UTC),
                )
            )
        if disabled:
            logger.warning(
                "integration %s: %d store webhooks were disabled; re-registered",
                data.integration_id,
                len(disabled),
            )
        return WebhookCheckResult(
            active=sum(1 for w in ours if w.active), disabled=len(disabled), registered=registered
        )


def _counts(run: SyncRun) -> SyncCounts:
    return SyncCounts(
        pages=run.pages, synced=run.synced, skipped=run.skipped, failed=run.failed, total=run.total
    )


def _append_errors(errors: list[Any]) -> Any:
    """``errors || new`` capped at ``MAX_ERRORS`` entries, in SQL (no read-modify-write)."""
    if not errors:
        return SyncRun.errors
    new = [e.model_dump() for e in errors][:MAX_ERRORS]
    combined = SyncRun.errors.op("||")(literal(new, JSONB))
    return func.jsonb_path_query_array(combined, f"$[0 to {MAX_ERRORS - 1}]")
