"""Measure what the assistant costs beyond the model: reply overhead and tokens per order.

Run it from the repository root (it starts its own embedded Postgres and Temporal dev server
in temporary directories, and removes them at the end)::

    python bench/agent.py --turns 30 --orders 5 --model-latency-ms 200

The model is ``tests/fakes/model_server.py``'s scripted OpenAI-compatible server, answering
every request after a fixed ``--model-latency-ms``. The API runs in-process (ASGI), with a real
worker and the tests' fake Graph API; a reply's time is when the worker's Graph API call is made.

Phase 1 (overhead): ``--turns`` sequential free-text turns ("do you have penne?"), each making
the model search the catalog (one tool activity) and then answer: two model calls per turn.
Customers send an unmeasured "hi" first (so the conversation workflow already runs) and then
``--turns-per-customer`` measured turns; one more unmeasured turn first takes the one-off
costs (clients, imports, caches). For each turn:

- e2e: from the start of the webhook POST to the reply's Graph API send;
- model: model requests made during the turn x the fixed latency (the scripted server's sleep);
- overhead: e2e - model (webhook, Temporal, activities, Postgres, prompt building, delivery,
  and the local HTTP round trips to the model server).

The same number of guided turns ("cart", answered with no model call) gives the baseline cost
of a turn through workflow, database and delivery alone.

Phase 2 (tokens): ``--orders`` new customers each play the seed's pasta conversation ("I want 2
packs of spaghetti ..." -> search, create the order, answer; then CONFIRM) and an order row is
checked for each. Tokens come from ``agent_steps`` as counted by the scripted model (words and
argument lengths), not OpenAI's tokenizer: read them as the shape of the cost, not its size.

Figures are printed, never asserted. Exit code 0 when every reply came, 1 when some timed out.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from figures import ms  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from tendero.channels.whatsapp import simulator  # noqa: E402
from tendero.db.engine import make_engine, make_sessionmaker  # noqa: E402
from tendero.db.migrate import upgrade  # noqa: E402
from tendero.db.models import AgentStep, Order  # noqa: E402
from tendero.devstack import EmbeddedPostgres, find_executable  # noqa: E402
from tests.agent.helpers import (  # noqa: E402
    PASTA,
    model_overrides,
    order_spaghetti,
    pasta_catalog,
)
from tests.codec import codec_converter  # noqa: E402
from tests.fakes.model_server import ScriptedModel, call, dynamic, say  # noqa: E402
from tests.harness import Customer, Stack, body_text, running_stack  # noqa: E402
from tests.shop import make_shop  # noqa: E402
from workflows.common import ALL_SEARCH_ATTRIBUTES  # noqa: E402


class ReplyTimeout(RuntimeError):
    """A reply did not come within --timeout-s."""


async def wait_sends(stack: Stack, digits: str, before: int, count: int, timeout_s: float) -> list:
    """Indices into graph.calls of the ``count`` sends to ``digits`` after the first ``before``."""
    deadline = time.perf_counter() + timeout_s
    while True:
        calls = stack.graph.calls
        mine = [i for i, c in enumerate(calls) if c.wamid and c.body.get("to") == digits]
        if len(mine) >= before + count:
            return mine[before : before + count]
        if time.perf_counter() > deadline:
            raise ReplyTimeout(f"+{digits}: {len(mine) - before} of {count} replies came")
        await asyncio.sleep(0.002)


async def turn(
    stack: Stack, customer: Customer, text: str, expect: int, timeout_s: float
) -> tuple[float, list[dict[str, Any]]]:
    """Send ``text``; return seconds from POST start to the first reply, and the replies."""
    before = len(stack.graph.sent_to(customer.digits))
    started = time.perf_counter()
    response = await customer.post(simulator.text_message(customer.digits, text))
    if response.status_code != 200:
        raise RuntimeError(f"webhook answered {response.status_code}: {response.text}")
    sent = await wait_sends(stack, customer.digits, before, expect, timeout_s)
    return stack.graph.calls[sent[0]].sent_at - started, [stack.graph.calls[i].body for i in sent]


def new_customer(stack: Stack, phone_number_id: str) -> Customer:
    return Customer(stack, phone_number_id, "1555" + str(uuid.uuid4().int)[:7], name="Bench")


async def overhead_phase(
    stack: Stack, model: ScriptedModel, phone_number_id: str, opts: argparse.Namespace
) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"e2e": [], "model": [], "guided": []}
    for guided in (False, True):
        # Turn -1 warms up (first-use costs: clients, imports, caches) and is not recorded.
        for index in range(-1, opts.turns):
            if index <= 0 or index % opts.turns_per_customer == 0:
                customer = new_customer(stack, phone_number_id)
                await turn(stack, customer, "hi", 1, opts.timeout_s)  # starts the workflow
            if guided:
                e2e, _ = await turn(stack, customer, "cart", 1, opts.timeout_s)
                figures["guided"].append(e2e)
            else:
                model.play(
                    call(("search_ecommerce_products", {"query": "penne"})), say("We have penne.")
                )
                calls_before = len(model.requests)
                e2e, _ = await turn(stack, customer, "do you have penne?", 1, opts.timeout_s)
                figures["e2e"].append(e2e)
                figures["model"].append((len(model.requests) - calls_before) * model.latency_s)
            if index < 0:
                for key in ("guided",) if guided else ("e2e", "model"):
                    figures[key].clear()
    return figures


async def orders_phase(
    stack: Stack, model: ScriptedModel, sessions: Any, opts: argparse.Namespace
) -> dict[str, float]:
    shop = await make_shop(sessions, catalog=pasta_catalog())
    for _ in range(opts.orders):
        model.play(
            call(("search_ecommerce_products", {"query": "spaghetti"})),
            dynamic(order_spaghetti),
            say("Done! Please check the summary I just sent and reply CONFIRM to place the order."),
        )
        customer = new_customer(stack, shop.phone_number_id)
        _, (_, summary) = await turn(stack, customer, PASTA, 2, opts.timeout_s)
        if "CONFIRM" not in body_text(summary):
            raise RuntimeError(f"no order summary: {body_text(summary)!r}")
        # The conversation learns of the summary just after its delivery (as a person reads).
        await asyncio.sleep(0.5)
        _, (placed,) = await turn(stack, customer, "CONFIRM", 1, opts.timeout_s)
        if "placed" not in body_text(placed):
            raise RuntimeError(f"order not placed: {body_text(placed)!r}")
    async with sessions() as session:
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.tenant_id == shop.tenant_id)
        )
        calls, prompt, completion = (
            await session.execute(
                select(
                    func.count(),
                    func.coalesce(func.sum(AgentStep.prompt_tokens), 0),
                    func.coalesce(func.sum(AgentStep.completion_tokens), 0),
                ).where(AgentStep.tenant_id == shop.tenant_id)
            )
        ).one()
    if orders != opts.orders:
        raise RuntimeError(f"{orders} order rows for {opts.orders} conversations")
    return {
        "orders": orders,
        "calls": calls / orders,
        "prompt": prompt / orders,
        "completion": completion / orders,
    }


def report(opts: argparse.Namespace, figures: dict[str, list[float]], tokens: dict) -> None:
    print(
        f"\n{opts.turns} turns per kind ({opts.turns_per_customer} per customer), model latency "
        f"{opts.model_latency_ms:.0f} ms, {opts.orders} orders, {os.cpu_count()} CPUs"
    )
    overhead = [e - m for e, m in zip(figures["e2e"], figures["model"], strict=True)]
    head = (
        f"{'':24} {'e2e p50':>9} {'e2e p99':>9} {'model p50':>10} {'model p99':>10} "
        f"{'overhead p50':>13} {'overhead p99':>13} {'turns':>6}"
    )
    print(head)
    print("-" * len(head))
    rows = [
        ("assistant (2 rounds)", figures["e2e"], figures["model"], overhead),
        ("guided (no model)", figures["guided"], [0.0] * len(figures["guided"]), figures["guided"]),
    ]
    for name, e2e, model, over in rows:
        print(
            f"{name:24} {ms(e2e, 50):>9} {ms(e2e, 99):>9} {ms(model, 50):>10} {ms(model, 99):>10} "
            f"{ms(over, 50):>13} {ms(over, 99):>13} {len(e2e):>6}"
        )
    print(
        "(ms; e2e = webhook POST start to the reply's Graph API send; model = model requests in "
        "the turn x the fixed latency;\n overhead = e2e - model: webhook, Temporal, activities, "
        "Postgres, prompt building, delivery)"
    )
    if tokens:
        total = tokens["prompt"] + tokens["completion"]
        print(
            f"\npasta order (seed conversation): {tokens['orders']} orders placed, "
            f"{tokens['calls']:.1f} model calls per order, per order {tokens['prompt']:.0f} "
            f"prompt + {tokens['completion']:.0f} completion = {total:.0f} tokens"
        )
        print(
            "(tokens as counted by the scripted model (words, tool JSON / 4), an upper bound "
            "shape, not OpenAI's tokenizer)"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=30, help="measured turns per kind")
    parser.add_argument("--turns-per-customer", type=int, default=5, help="then a new customer")
    parser.add_argument("--orders", type=int, default=5, help="pasta conversations")
    parser.add_argument("--model-latency-ms", type=float, default=200.0, help="per model call")
    parser.add_argument("--timeout-s", type=float, default=30.0, help="longest wait per reply")
    opts = parser.parse_args()
    if min(opts.turns, opts.turns_per_customer, opts.orders) < 1 or opts.timeout_s <= 0:
        parser.error("need --turns, --turns-per-customer, --orders >= 1 and --timeout-s > 0")
    if opts.model_latency_ms < 0:
        parser.error("need --model-latency-ms >= 0")
    return opts


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
    latency_s = opts.model_latency_ms / 1000
    try:
        async with ScriptedModel(latency_s=latency_s) as model:
            shop = await make_shop(sessions, catalog=pasta_catalog())
            settings = model_overrides(model, openai_timeout_s=max(2.0, latency_s * 5))
            async with running_stack(env.client, sessions, database_url, **settings) as stack:
                try:
                    figures = await overhead_phase(stack, model, shop.phone_number_id, opts)
                    tokens = await orders_phase(stack, model, sessions, opts)
                except ReplyTimeout as err:
                    print(f"error: reply timed out: {err}", file=sys.stderr)
                    return 1
        report(opts, figures, tokens)
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
    # Skip interpreter teardown: the Temporal client's Rust threads can abort it
    # (temporalio/sdk-python#300), as in bench/webhook.py.
    os._exit(code)
