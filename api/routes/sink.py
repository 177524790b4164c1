"""A stand-in for the Graph API send endpoint, for ``tendero dev`` only.

The worker's outbound messages land here instead of Meta when ``TENDERO_SINK_ENABLED`` is on
(``tendero dev`` turns it on unless ``WHATSAPP_GRAPH_URL`` is set); ``tendero chat`` and
``tendero demo`` read them back. It is never mounted in production (settings refuse it).
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel

router = APIRouter(prefix="/_sink", tags=["dev sink"], include_in_schema=False)


class SunkMessage(BaseModel):
    """One message "sent" to WhatsApp."""

    seq: int
    wamid: str
    phone_number_id: str
    to: str
    body: dict[str, Any]
    received_at: float
    """``time.time()`` (epoch seconds) when the sink received the send (bench/webhook.py)."""


class Sink:
    """In-memory list of sunk messages with a condition to wait on new ones."""

    def __init__(self) -> None:
        """Start empty."""
        self.messages: list[SunkMessage] = []
        self._seq = itertools.count(1)
        self._changed = asyncio.Condition()

    async def add(self, phone_number_id: str, body: dict[str, Any]) -> SunkMessage:
        """Store a message and wake readers."""
        message = SunkMessage(
            seq=next(self._seq),
            wamid=f"wamid.sink.{uuid.uuid4().hex}",
            phone_number_id=phone_number_id,
            to=str(body.get("to", "")),
            body=body,
            received_at=time.time(),
        )
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        return message

    async def read(self, *, to: str | None, after: int, wait_s: float) -> list[SunkMessage]:
        """Messages with ``seq > after`` (for ``to``), waiting up to ``wait_s`` for one."""

        def found() -> list[SunkMessage]:
            return [m for m in self.messages if m.seq > after and (to is None or m.to == to)]

        async with self._changed:
            if not found() and wait_s > 0:
                try:
                    await asyncio.wait_for(self._changed.wait_for(lambda: bool(found())), wait_s)
                except TimeoutError:
                    pass
            return found()


def _sink(request: Request) -> Sink:
    sink: Sink = request.app.state.sink
    return sink


@router.post("/{api_version}/{phone_number_id}/messages")
async def send(
    request: Request,
    api_version: str,
    phone_number_id: str,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Accept a send like the Graph API does and answer in its format."""
    if body.get("status") == "read":
        return {"success": True}
    message = await _sink(request).add(phone_number_id, body)
    return {
        "messaging_product": "whatsapp",
        "contacts": [{"input": message.to, "wa_id": message.to}],
        "messages": [{"id": message.wamid}],
    }


@router.get("/messages")
async def read(
    request: Request,
    to: str | None = Query(default=None, description="recipient digits"),
    after: int = Query(default=0, ge=0),
    wait_s: float = Query(default=0, ge=0, le=30),
) -> list[SunkMessage]:
    """Messages after ``after`` (long-polls up to ``wait_s`` seconds)."""
    return await _sink(request).read(to=to, after=after, wait_s=wait_s)
