"""Measure a full store sync: records per second from a fake Shopify, and its baseline.

Run it from the repository root (it starts its own embedded Postgres and Temporal dev server
in temporary directories, and removes them at the end)::

    python bench/sync.py --customers 100000 --orders 100000

The fake Shopify (``tests/fakes/shopify_server.py``) runs in a child process, so the figures
of this process are the worker's: the StoreSyncWorkflow with its ``sync_batch`` activities
(bulk operation, JSONL download with Range requests, batched upserts into Postgres) on a real
Temporal dev server. Two runs, each on a fresh tenant:

- throttling off;
- the Standard plan's limits (bucket 2000 points, 100 points/s restore), enforced by the fake.

Baseline, same process and database: a plain batched ``INSERT ... ON CONFLICT DO UPDATE`` of
the same number of customer and order rows (no HTTP, no dedupe, no links, no Temporal), which
is the floor of what any sync can cost here. Memory: this process's peak RSS
(``ru_maxrss``) and the Python heap peak during each run (``tracemalloc``).

Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy.dialects.postgresql import insert  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from tendero.catalog.tenants import create_tenant  # noqa: E402
from tendero.db.engine import make_engine, make_sessionmaker  # noqa: E402
from tendero.db.migrate import upgrade  # noqa: E402
from tendero.db.models import Customer, Order  # noqa: E402
from tendero.db.sql import chunks  # noqa: E402
from tendero.devstack import EmbeddedPostgres, find_executable  # noqa: E402
from tendero.domain.ids import sync_workflow_id  # noqa: E402
from tendero.domain.sync import SyncInput, SyncMode, SyncResult  # noqa: E402
from tendero.stores.integrations import connect  # noqa: E402
from tests.codec import codec_converter  # noqa: E402
from tests.harness import running_stack  # noqa: E402
from workflows.common import ALL_SEARCH_ATTRIBUTES  # noqa: E402
from workflows.store_sync import StoreSyncWorkflow  # noqa: E402


def serve_shop(conn: Any, customers: int, orders: int, throttle: bool) -> None:
    """Child process: a generated fake Shopify until the parent says stop."""
    from tests.fakes.shopify_server import FakeShopify

    shop = FakeShopify(
        shop_domain=f"bench-{'limits' if throttle else 'free'}.myshopify.com",
        throttle=throttle,
        bulk_polls_running=1,
    )
    shop.generate(customers=customers, orders=orders)
    shop.start()
    conn.send((shop.url, shop.shop_domain, shop.access_token))
    conn.recv()
    conn.send((list(shop.violations), shop.throttled_replies, shop.bulk_bytes_served))
    shop.stop()


async def sync_run(
    env: WorkflowEnvironment,
    sessions: Any,
    database_url: str,
    opts: argparse.Namespace,
    throttle: bool,
) -> dict[str, Any]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(
        target=serve_shop, args=(child, opts.customers, opts.orders, throttle), daemon=True
    )
    proc.start()
    url, domain, token = parent.recv()
    from pydantic import SecretStr

    from tendero.stores.credentials import ShopifyCredentials

    async with sessions() as session, session.begin():
        tenant = await create_tenant(
            session,
            slug=f"bench-{uuid.uuid4().hex[:8]}",
            name="Bench",
            currency="USD",
            secret_key=b"k" * 32,
        )
    async with running_stack(
        env.client, sessions, database_url, with_worker=True, shopify_base_url_template=url
    ) as stack:
        async with stack.sessions() as session, session.begin():
            integration = await connect(
                session,
                stack.settings.keyring,
                tenant_id=tenant.id,
                kind="shopify",
                name="bench",
                credentials=ShopifyCredentials(access_token=SecretStr(token)),
                shop_domain=domain,
            )
        tracemalloc.start()
        started = time.perf_counter()
        result = await stack.client.execute_workflow(
            StoreSyncWorkflow.run,
            SyncInput(
                integration_id=integration.id,
                tenant_id=tenant.id,
                mode=SyncMode.FULL,
                trigger="test",
                page_size=opts.page_size,
            ),
            id=sync_workflow_id(integration.id, "all"),
            task_queue=stack.settings.temporal_task_queue,
            result_type=SyncResult,
            execution_timeout=timedelta(hours=2),
        )
        elapsed = time.perf_counter() - started
        _, heap_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    parent.send("stop")
    violations, throttled, bulk_bytes = parent.recv()
    proc.join(timeout=10)
    synced = sum(p.counts.synced for p in result.resources)
    return {
        "records": synced,
        "seconds": elapsed,
        "rps": synced / elapsed,
        "failed": sum(p.counts.failed for p in result.resources),
        "statuses": {p.resource.value: p.status for p in result.resources},
        "heap_peak_mb": heap_peak / 2**20,
        "violations": len(violations),
        "throttled": throttled,
        "bulk_mb": bulk_bytes / 2**20,
    }


async def baseline(sessions: Any, opts: argparse.Namespace) -> dict[str, Any]:
    async with sessions() as session, session.begin():
        tenant = await create_tenant(
            session,
            slug=f"base-{uuid.uuid4().hex[:8]}",
            name="Base",
            currency="USD",
            secret_key=b"k" * 32,
        )
    base = datetime(2025, 1, 1, tzinfo=UTC)
    people = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant.id,
            "external_id": str(10**15 + i),
            "email": f"customer{i}@example.com",
            "phone_e164": f"+1555{i:07d}",
            "name": f"Customer {i}",
            "external_updated_at": base + timedelta(seconds=i),
        }
        for i in range(opts.customers)
    ]
    orders = [
        {
            "id": uuid.uuid4(),
            "tenant_id": tenant.id,
            "customer_id": people[i % len(people)]["id"] if people else None,
            "number": f"#{1000 + i}",
            "idempotency_key": f"store:{2 * 10**15 + i}",
            "status": "confirmed",
            "fulfilment": "delivery",
            "payment_method": "store",
            "currency": "USD",
            "subtotal": Decimal("20.00"),
            "delivery_fee": Decimal("5.00"),
            "tax": Decimal("0"),
            "total": Decimal("25.00"),
            "tax_rate": Decimal("0"),
            "source": "store",
            "external_id": str(2 * 10**15 + i),
            "external_updated_at": base + timedelta(seconds=i),
        }
        for i in range(opts.orders)
    ]
    started = time.perf_counter()
    for table, rows, key in (
        (Customer, people, ["tenant_id", "external_id"]),
        (Order, orders, ["tenant_id", "external_id"]),
    ):
        for chunk in chunks(rows, opts.page_size):
            async with sessions() as session, session.begin():
                stmt = insert(table).values(list(chunk))
                update = {c: stmt.excluded[c] for c in chunk[0] if c not in ("id", "tenant_id")}
                await session.execute(stmt.on_conflict_do_update(index_elements=key, set_=update))
    elapsed = time.perf_counter() - started
    total = len(people) + len(orders)
    return {"records": total, "seconds": elapsed, "rps": total / elapsed}


def report(opts: argparse.Namespace, runs: dict[str, dict[str, Any]]) -> None:
    print(
        f"\nFull sync of {opts.customers:,} customers + {opts.orders:,} orders "
        f"(page {opts.page_size}), fake Shopify bulk operations:\n"
    )
    print(
        "| run | records | seconds | records/s | failed | Python heap peak MB"
        " | THROTTLED | violations |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in runs.items():
        print(
            f"| {name} | {r['records']:,} | {r['seconds']:.1f} | {r['rps']:,.0f} | "
            f"{r.get('failed', '-')} | {r.get('heap_peak_mb', float('nan')):.1f} | "
            f"{r.get('throttled', '-')} | {r.get('violations', '-')} |"
        )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak RSS of the worker process (whole run): {rss_mb:.0f} MB")
    for name, r in runs.items():
        if "statuses" in r:
            print(f"{name}: {r['statuses']}, bulk JSONL downloaded {r['bulk_mb']:.1f} MB")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=1000)
    return parser.parse_args()


async def run(opts: argparse.Namespace, database_url: str) -> int:
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=find_executable("temporal"),
        search_attributes=list(ALL_SEARCH_ATTRIBUTES),
        data_converter=codec_converter(),
        ui=False,
        dev_server_log_level="error",
    )
    try:
        runs = {
            "sync, throttling off": await sync_run(env, sessions, database_url, opts, False),
            "sync, Standard plan limits": await sync_run(env, sessions, database_url, opts, True),
            "baseline: INSERT ... ON CONFLICT": await baseline(sessions, opts),
        }
        report(opts, runs)
        return 0
    finally:
        await env.shutdown()
        await engine.dispose()


def main() -> int:
    opts = parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="tendero-bench-pg-"))
    server = EmbeddedPostgres(data_dir=data_dir, database="bench")
    try:
        url = server.start()
        upgrade(url)
        return asyncio.run(run(opts, url))
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
