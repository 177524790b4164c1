"""The running system for end-to-end tests: API (ASGI), a real worker, a fake Graph API.

The Graph API is faked with ``httpx.MockTransport`` speaking Meta's formats (success body
with a ``wamid``; error bodies with Meta's codes). Customers post signed webhooks built by
``tendero.channels.whatsapp.simulator``, as Meta would.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from tendero.channels.whatsapp import simulator
from tendero.settings import Settings
from worker import build_worker

APP_SECRET = "test-app-secret"
SECRET_KEY = b"k" * 32


@dataclass
class GraphCall:
    phone_number_id: str
    token: str
    body: dict[str, Any]
    wamid: str | None
    # When the worker's send reached the fake (perf_counter), for latency benchmarks.
    sent_at: float = field(default_factory=time.perf_counter)


@dataclass
class FakeGraph:
    """Records sends; ``errors`` queues Meta error answers (code, http status) to return next."""

    calls: list[GraphCall] = field(default_factory=list)
    errors: list[tuple[int, int]] = field(default_factory=list)
    sent_event: asyncio.Event = field(default_factory=asyncio.Event)

    def handler(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path.strip("/").split("/")
        assert parts[-1] == "messages", request.url
        phone_number_id = parts[-2]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        body = json.loads(request.content)
        if self.errors:
            code, status = self.errors.pop(0)
            self.calls.append(GraphCall(phone_number_id, token, body, None))
            return httpx.Response(
                status,
                json={
                    "error": {
                        "message": f"error {code}",
                        "type": "OAuthException",
                        "code": code,
                        "error_data": {"messaging_product": "whatsapp", "details": "test"},
                        "fbtrace_id": "AbCdEf",
                    }
                },
            )
        wamid = f"wamid.out.{uuid.uuid4().hex}"
        self.calls.append(GraphCall(phone_number_id, token, body, wamid))
        self.sent_event.set()
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                "messages": [{"id": wamid}],
            },
        )

    def sent_to(self, digits: str) -> list[dict[str, Any]]:
        return [c.body for c in self.calls if c.wamid and c.body.get("to") == digits]


@dataclass
class Stack:
    settings: Settings
    http: httpx.AsyncClient
    graph: FakeGraph
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    worker: Worker | None = None


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "tendero_env": "test",
        "database_url": database_url,
        "temporal_address": "unused",
        "temporal_task_queue": f"tq-{uuid.uuid4().hex[:12]}",
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_graph_url": "https://graph.facebook.test",
        "tendero_secret_key": base64.urlsafe_b64encode(SECRET_KEY).decode(),
        "webhook_max_body_bytes": 64_000,
        # No model unless a test points at its scripted one (never the environment's).
        "openai_api_key": None,
        "openai_base_url": None,
        "openai_model": None,
        # No burst-merge wait: every test message would wait BURST_MERGE_WINDOW_MS for a
        # next one (tests/abuse covers the window; messages already waiting still merge).
        "burst_merge_window_ms": 0,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def running_stack(
    client: Client,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    *,
    with_worker: bool = True,
    **overrides: Any,
) -> AsyncIterator[Stack]:
    settings = make_settings(database_url, **overrides)
    assert settings.secret_key_bytes == SECRET_KEY
    graph = FakeGraph()
    graph_http = httpx.AsyncClient(transport=httpx.MockTransport(graph.handler))
    # Stores are fake HTTP servers on 127.0.0.1: real sockets, real HTTP.
    store_http = httpx.AsyncClient(timeout=httpx.Timeout(10.0))
    app = create_app(settings, temporal=client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tendero.test") as http:
            stack = Stack(settings, http, graph, client, sessions)
            if not with_worker:
                yield stack
            else:
                worker = build_worker(
                    client,
                    sessions=sessions,
                    graph_http=graph_http,
                    settings=settings,
                    store_http=store_http,
                )
                async with worker:
                    stack.worker = worker
                    yield stack
    await graph_http.aclose()
    await store_http.aclose()


class Customer:
    """A WhatsApp user: posts signed webhooks and reads what the bot sent back."""

    def __init__(self, stack: Stack, phone_number_id: str, digits: str, name: str = "Ana Test"):
        self.stack = stack
        self.phone_number_id = phone_number_id
        self.digits = digits
        self.name = name
        self.wamids: list[str] = []

    async def post(self, message: dict[str, Any]) -> httpx.Response:
        self.wamids.append(message["id"])
        payload = simulator.envelope(
            phone_number_id=self.phone_number_id,
            from_digits=self.digits,
            name=self.name,
            messages=[message],
        )
        raw, headers = simulator.signed_body(payload, APP_SECRET)
        return await self.stack.http.post("/webhooks/whatsapp", content=raw, headers=headers)

    async def send(
        self, message: dict[str, Any], *, expect: int = 1, settle_s: float = 0.4, timeout_s=20
    ) -> list[dict[str, Any]]:
        before = len(self.stack.graph.sent_to(self.digits))
        response = await self.post(message)
        assert response.status_code == 200, response.text
        return await self.replies_after(
            before, expect=expect, settle_s=settle_s, timeout_s=timeout_s
        )

    async def replies_after(
        self, before: int, *, expect: int, settle_s: float = 0.4, timeout_s: float = 20
    ) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while len(self.stack.graph.sent_to(self.digits)) < before + expect:
            if loop.time() > deadline:
                got = self.stack.graph.sent_to(self.digits)[before:]
                raise AssertionError(f"expected {expect} replies, got {len(got)}: {got}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(settle_s)
        return self.stack.graph.sent_to(self.digits)[before:]

    async def text(self, body: str, **kw: Any) -> list[dict[str, Any]]:
        return await self.send(simulator.text_message(self.digits, body), **kw)

    async def tap(
        self, reply_id: str, *, list_reply: bool = True, **kw: Any
    ) -> list[dict[str, Any]]:
        return await self.send(
            simulator.reply_message(self.digits, reply_id, "tap", list_reply=list_reply), **kw
        )


def body_text(reply: dict[str, Any]) -> str:
    if reply["type"] == "text":
        return str(reply["text"]["body"])
    return str(reply["interactive"]["body"]["text"])


def rows(reply: dict[str, Any]) -> list[dict[str, Any]]:
    assert reply["type"] == "interactive" and reply["interactive"]["type"] == "list", reply
    return [r for s in reply["interactive"]["action"]["sections"] for r in s["rows"]]


def buttons(reply: dict[str, Any]) -> list[dict[str, str]]:
    assert reply["type"] == "interactive" and reply["interactive"]["type"] == "button", reply
    return [b["reply"] for b in reply["interactive"]["action"]["buttons"]]


def row_id(reply: dict[str, Any], title_prefix: str) -> str:
    for row in rows(reply):
        if row["title"].startswith(title_prefix):
            return str(row["id"])
    raise AssertionError(f"no row starting with {title_prefix!r} in {rows(reply)}")


async def reach_summary(
    customer: Customer, variant_quantities: list[tuple[str, int]], *, address: str = "9 Elm Road"
) -> dict[str, Any]:
    """Fill the cart (``(variant_id, quantity)`` pairs) and check out up to the summary."""
    for variant_id, quantity in variant_quantities:
        await customer.tap(f"qty:{variant_id}:{quantity}")
    await customer.tap("checkout", list_reply=False)
    await customer.tap("ful:delivery", list_reply=False)
    await customer.text(address)
    (summary,) = await customer.tap("pay:cash", list_reply=False)
    assert "Reply *CONFIRM*" in body_text(summary), body_text(summary)
    return summary
