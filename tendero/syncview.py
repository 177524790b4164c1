"""``tendero sync``: start a store sync and show its progress bars until it ends.

Progress is read from the run records in Postgres (the same rows the API serves), one bar
per resource; the workflow itself is started by the caller (the CLI entry point, which may
import the Temporal side).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tendero.db.models import SyncRun


async def follow_sync(
    sessions: async_sessionmaker[AsyncSession],
    workflow_run_id: str,
    finished: asyncio.Future[Any],
    console: Console,
    *,
    poll_s: float = 0.5,
) -> list[SyncRun]:
    """Draw one bar per resource of the run until ``finished`` resolves.

    Returns:
        The run records, for the summary the caller prints.
    """
    bars: dict[str, TaskID] = {}
    with Progress(
        TextColumn("[bold]{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        while True:
            async with sessions() as session:
                runs = list(
                    (
                        await session.execute(
                            select(SyncRun)
                            .where(SyncRun.workflow_run_id == workflow_run_id)
                            .order_by(SyncRun.created_at)
                        )
                    ).scalars()
                )
            for run in runs:
                if run.resource not in bars:
                    bars[run.resource] = progress.add_task(run.resource, total=None, status="")
                done = run.synced + run.skipped + run.failed
                total = run.total if run.total and run.total >= done else None
                if run.status != "running":
                    total = done
                status = f"{run.status} ({run.mode})" + (
                    f", {run.failed} failed" if run.failed else ""
                )
                progress.update(bars[run.resource], completed=done, total=total, status=status)
            if finished.done():
                return runs
            await asyncio.sleep(poll_s)


def sync_id() -> str:
    """A suffix that makes an on-demand CLI run distinct from scheduled ones."""
    return uuid.uuid4().hex[:8]
