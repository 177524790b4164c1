"""Load-test the WhatsApp webhook end to end, next to a raw Temporal baseline.

Run it against a running ``tendero dev`` (its Graph API sink must be on)::

    tendero dev --port 8100 --temporal-port 7300 &
    python bench/webhook.py --api http://127.0.0.1:8100 --temporal-address 127.0.0.1:7300

Phase 1 (Tendero): ``--customers`` concurrent WhatsApp customers (``+1555800xxxx``) each send
``--messages`` signed webhooks through the guided flow (hi, browse, a category, a product,
cart, help, then again from hi), tapping the ids the bot actually sent, and each waits for the
bot's reply before its next message. It measures:

- webhook acknowledgement: how long ``POST /webhooks/whatsapp`` takes to answer 200;
- end-to-end reply: from the start of that POST to the moment the worker's Graph API call
  reached the dev sink (the sink's ``received_at``; both clocks are this machine's);
- inbound messages per second of wall time.

Phase 2 (baseline): the same number of customers and messages against the same Temporal
server, with no API, database or HTTP: a minimal workflow (a signal enqueues, a loop runs one
trivial activity per signal, the shape of ConversationWorkflow) and its worker, both in this
process on a unique task queue. It measures the signal-with-start call, signal-to-activity-done
and messages per second.

Only 127.0.0.1 is meant; every wait is bounded by ``--timeout-s``. Exit code 0 when every reply
came, 1 when some timed out or failed, 2 when the API, its sink or Temporal is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from figures import ms
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

with workflow.unsafe.imports_passed_through():
    import httpx

    from tendero.channels.whatsapp import simulator
    from tendero.channels.whatsapp.chat_client import BotReply, Choice
    from tendero.settings import get_settings
    from workflows.client import data_converter

# One guided conversation: (what the customer does, the text or the prefix of the id to tap).
FLOW: list[tuple[str, str]] = [
    ("say", "hi"),
    ("tap", "browse"),
    ("tap", "cat:"),
    ("tap", "prod:"),
    ("say", "cart"),
    ("say", "help"),
]


class BenchError(RuntimeError):
    """The stack cannot be benchmarked (message says why)."""


@dataclass
class Phase:
    """What one phase measured: latencies in seconds."""

    name: str
    acks: list[float] = field(default_factory=list)
    replies: list[float] = field(default_factory=list)
    timeouts: int = 0
    errors: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.acks) / self.wall_s if self.wall_s else 0.0


# -- Tendero: signed webhooks in, replies read back from the dev sink --------------------------


def customer_digits(index: int) -> str:
    return f"1555800{index:04d}"


async def preflight(http: httpx.AsyncClient) -> None:
    """Fail fast when the API is down or has no dev sink."""
    try:
        health = await http.get("/health")
        sink = await http.get("/_sink/messages", params={"to": "0"})
    except httpx.HTTPError as err:
        raise BenchError(f"the API at {http.base_url} is not reachable: {err!r}") from err
    if health.status_code != 200:
        raise BenchError(f"GET /health answered {health.status_code}: {health.text}")
    if sink.status_code == 404:
        raise BenchError(
            "the API has no dev sink (/_sink): run `tendero dev` without WHATSAPP_GRAPH_URL"
        )
    sink.raise_for_status()


async def last_seq(http: httpx.AsyncClient, digits: str) -> int:
    response = await http.get("/_sink/messages", params={"to": digits})
    response.raise_for_status()
    messages = response.json()
    return int(messages[-1]["seq"]) if messages else 0


def next_message(digits: str, step: int, index: int, choices: list[Choice]) -> dict[str, Any]:
    """The customer's ``step``-th message; taps pick among the ids of the bot's last reply."""
    action, value = FLOW[step % len(FLOW)]
    if action == "say":
        return simulator.text_message(digits, value)
    offered = [c for c in choices if c.id.startswith(value)]
    if not offered:
        raise LookupError(f"step {step}: the bot offered no {value!r} option")
    choice = offered[index % len(offered)]
    return simulator.reply_message(digits, choice.id, choice.title, list_reply=choice.is_list)


async def wait_reply(
    http: httpx.AsyncClient, digits: str, after: int, started: float, timeout_s: float
) -> tuple[list[dict[str, Any]], int]:
    """Long-poll the sink for replies sent after ``started``; returns them and the last seq."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        response = await http.get(
            "/_sink/messages",
            params={"to": digits, "after": after, "wait_s": min(left, 25.0)},
        )
        response.raise_for_status()
        batch = response.json()
        if batch and "received_at" not in batch[0]:
            raise BenchError("the sink has no received_at: restart `tendero dev` on this code")
        after = max([after, *(int(m["seq"]) for m in batch)])
        # Anything received before this POST started is a late part of an earlier answer.
        fresh = [m for m in batch if m["received_at"] >= started]
        if fresh:
            return fresh, after
    return [], after


async def webhook_customer(
    http: httpx.AsyncClient, opts: argparse.Namespace, index: int, phase: Phase
) -> None:
    """One customer: send, wait for the reply, pick from it, repeat."""
    digits = customer_digits(index)
    choices: list[Choice] = []
    try:
        seen = await last_seq(http, digits)
        for step in range(opts.messages):
            message = next_message(digits, step, index, choices)
            payload = simulator.envelope(
                phone_number_id=opts.phone_number_id,
                from_digits=digits,
                name=f"Bench {index}",
                messages=[message],
            )
            raw, headers = simulator.signed_body(payload, opts.app_secret)
            started, clock = time.time(), time.perf_counter()
            response = await http.post("/webhooks/whatsapp", content=raw, headers=headers)
            acked = time.perf_counter() - clock
            if response.status_code != 200:
                phase.errors.append(f"webhook answered {response.status_code}: {response.text}")
                return
            phase.acks.append(acked)
            replies, seen = await wait_reply(http, digits, seen, started, opts.timeout_s)
            if not replies:
                phase.timeouts += 1
                return
            phase.replies.append(replies[0]["received_at"] - started)
            choices = [c for m in replies for c in BotReply.from_graph_body(m["body"]).choices]
    except (httpx.HTTPError, LookupError) as err:
        phase.errors.append(f"customer {digits}: {err!r}")


async def run_webhook_phase(opts: argparse.Namespace) -> Phase:
    phase = Phase("Tendero webhook")
    slots = opts.customers * 2 + 10
    limits = httpx.Limits(max_connections=slots, max_keepalive_connections=slots)
    async with httpx.AsyncClient(
        base_url=opts.api, limits=limits, timeout=opts.timeout_s + 30.0
    ) as http:
        await preflight(http)
        clock = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for index in range(opts.customers):
                group.create_task(webhook_customer(http, opts, index, phase))
        phase.wall_s = time.perf_counter() - clock
    return phase


# -- Baseline: raw signal-with-start plus one activity, same Temporal server ------------------


@dataclass
class BaselineMessage:
    customer: int
    number: int


class BaselineActivities:
    """The trivial activity; it resolves the future its customer waits on."""

    def __init__(self) -> None:
        self.done: dict[tuple[int, int], asyncio.Future[float]] = {}

    def expect(self, customer: int, number: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.done[(customer, number)] = future
        return future

    @activity.defn(name="bench_baseline_reply")
    async def reply(self, message: BaselineMessage) -> None:
        future = self.done.get((message.customer, message.number))
        if future is not None and not future.done():
            future.set_result(time.time())


@workflow.defn(name="BenchBaselineWorkflow")
class BaselineWorkflow:
    """ConversationWorkflow's shape: a signal enqueues; one activity per queued message."""

    def __init__(self) -> None:
        self._pending: list[BaselineMessage] = []

    @workflow.signal
    def inbound(self, message: BaselineMessage) -> None:
        self._pending.append(message)

    @workflow.run
    async def run(self, messages: int) -> None:
        for _ in range(messages):
            try:
                await workflow.wait_condition(
                    lambda: bool(self._pending), timeout=timedelta(minutes=2)
                )
            except TimeoutError:
                return  # the customer gave up: do not leave the run open forever
            await workflow.execute_activity(
                "bench_baseline_reply",
                self._pending.pop(0),
                start_to_close_timeout=timedelta(seconds=30),
            )


async def baseline_customer(
    client: Client,
    acts: BaselineActivities,
    opts: argparse.Namespace,
    ids: tuple[str, str],
    index: int,
    phase: Phase,
) -> None:
    run_id, task_queue = ids
    for number in range(opts.messages):
        done = acts.expect(index, number)
        started, clock = time.time(), time.perf_counter()
        await client.start_workflow(
            BaselineWorkflow.run,
            opts.messages,
            id=f"bench-baseline-{run_id}-{index}",
            task_queue=task_queue,
            start_signal="inbound",
            start_signal_args=[BaselineMessage(index, number)],
        )
        phase.acks.append(time.perf_counter() - clock)
        try:
            finished = await asyncio.wait_for(done, opts.timeout_s)
        except TimeoutError:
            phase.timeouts += 1
            return
        phase.replies.append(finished - started)


async def connect_temporal(opts: argparse.Namespace) -> Client:
    try:
        # The product's converter (encrypted payloads) so the baseline pays what the API does.
        return await Client.connect(
            opts.temporal_address,
            namespace=opts.namespace,
            data_converter=data_converter(get_settings()),
        )
    except RuntimeError as err:
        raise BenchError(f"Temporal at {opts.temporal_address} is not reachable: {err}") from err


async def run_baseline_phase(opts: argparse.Namespace, client: Client) -> Phase:
    phase = Phase("Temporal baseline")
    run_id = uuid.uuid4().hex[:8]
    task_queue = f"bench-baseline-{run_id}"
    acts = BaselineActivities()
    worker = Worker(
        client, task_queue=task_queue, workflows=[BaselineWorkflow], activities=[acts.reply]
    )
    async with worker:
        clock = time.perf_counter()
        async with asyncio.TaskGroup() as group:
            for index in range(opts.customers):
                group.create_task(
                    baseline_customer(client, acts, opts, (run_id, task_queue), index, phase)
                )
        phase.wall_s = time.perf_counter() - clock
    return phase


# -- Report -----------------------------------------------------------------------------------


def report(opts: argparse.Namespace, phases: list[Phase]) -> None:
    print(
        f"\n{opts.customers} customers x {opts.messages} messages, "
        f"{os.cpu_count()} CPUs, API {opts.api}, Temporal {opts.temporal_address}"
    )
    head = (
        f"{'':18} {'ack p50':>9} {'ack p99':>9} {'reply p50':>10} {'reply p99':>10} "
        f"{'msg/s':>7} {'msgs':>5} {'timeouts':>8} {'errors':>6}"
    )
    print(head)
    print("-" * len(head))
    for p in phases:
        print(
            f"{p.name:18} {ms(p.acks, 50):>9} {ms(p.acks, 99):>9} {ms(p.replies, 50):>10} "
            f"{ms(p.replies, 99):>10} {p.rate:>7.1f} {len(p.acks):>5} {p.timeouts:>8} "
            f"{len(p.errors):>6}"
        )
    print(
        "(ms; Tendero: ack = POST /webhooks/whatsapp answered 200, reply = POST start to the "
        "worker's send reaching the sink;\n baseline: ack = signal-with-start call, reply = call "
        "start to activity done; baseline workflow runs in the default sandbox)"
    )
    print("The webhook never waits for the reply: ack latency is independent of reply latency.")
    for p in phases:
        for error in p.errors[:5]:
            print(f"{p.name}: {error}")


# -- Entry point ------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=50, help="concurrent customers")
    parser.add_argument(
        "--messages", type=int, default=len(FLOW), help="messages per customer (the flow repeats)"
    )
    parser.add_argument("--api", default=settings.tendero_public_url, help="the running API")
    parser.add_argument("--temporal-address", default=settings.temporal_address or "127.0.0.1:7233")
    parser.add_argument("--namespace", default=settings.temporal_namespace)
    parser.add_argument("--phone-number-id", default=settings.whatsapp_phone_number_id)
    parser.add_argument(
        "--app-secret", default=settings.whatsapp_app_secret.get_secret_value(), help="signs"
    )
    parser.add_argument("--timeout-s", type=float, default=30.0, help="longest wait per reply")
    opts = parser.parse_args()
    if not 1 <= opts.customers <= 9999 or opts.messages < 1 or opts.timeout_s <= 0:
        parser.error("need 1 <= --customers <= 9999, --messages >= 1, --timeout-s > 0")
    return opts


async def main() -> int:
    opts = parse_args()
    phases: list[Phase] = []
    try:
        client = await connect_temporal(opts)
        phases.append(await run_webhook_phase(opts))
        phases.append(await run_baseline_phase(opts, client))
    except* BenchError as group:
        print(f"error: {group.exceptions[0]}", file=sys.stderr)
    if len(phases) < 2:
        return 2
    report(opts, phases)
    failed = sum(p.timeouts + len(p.errors) for p in phases)
    if failed:
        print(f"error: {failed} replies never came or failed (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    code = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the Temporal client's Rust threads can abort it with
    # "PyGILState_Release: thread state ... must be current" (temporalio/sdk-python#300).
    os._exit(code)
