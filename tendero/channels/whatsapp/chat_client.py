"""A terminal customer for a running Tendero: posts signed webhooks, reads the dev sink.

Used by ``tendero chat`` (interactive) and ``tendero demo`` (scripted). Replies are read
from the API's built-in Graph API sink (``/_sink/messages``), which ``tendero dev`` enables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tendero.channels.whatsapp import simulator


class SinkUnavailableError(RuntimeError):
    """The API does not expose the dev sink (WHATSAPP_GRAPH_URL points elsewhere)."""


@dataclass
class Choice:
    """A tappable option of a reply: a list row or a reply button."""

    id: str
    title: str
    description: str | None
    is_list: bool


@dataclass
class BotReply:
    """One message the bot sent, flattened for a terminal."""

    text: str
    choices: list[Choice] = field(default_factory=list)

    @classmethod
    def from_graph_body(cls, body: dict[str, Any]) -> BotReply:
        """Read a Graph API send body (text, reply buttons or list)."""
        if body.get("type") == "text":
            return cls(text=str(body["text"]["body"]))
        interactive = body.get("interactive", {})
        text = str(interactive.get("body", {}).get("text", ""))
        action = interactive.get("action", {})
        if interactive.get("type") == "button":
            choices = [
                Choice(b["reply"]["id"], b["reply"]["title"], None, False)
                for b in action.get("buttons", [])
            ]
        else:
            choices = [
                Choice(r["id"], r["title"], r.get("description"), True)
                for s in action.get("sections", [])
                for r in s.get("rows", [])
            ]
        return cls(text=text, choices=choices)


class ChatClient:
    """Act as one WhatsApp user of one business number.

    Args:
        api_url: the running API (``http://127.0.0.1:8000``).
        app_secret: ``WHATSAPP_APP_SECRET``, to sign webhooks as Meta does.
        phone_number_id: the shop's business number id.
        digits: the customer's phone in ``wa_id`` form (country code, no ``+``).
        name: the customer's WhatsApp profile name.
    """

    def __init__(
        self, api_url: str, app_secret: str, phone_number_id: str, digits: str, name: str
    ) -> None:
        """Prepare an HTTP client for the API."""
        self._http = httpx.AsyncClient(base_url=api_url.rstrip("/"), timeout=30.0)
        self._secret = app_secret
        self.phone_number_id = phone_number_id
        self.digits = digits
        self.name = name
        self._seen = 0

    async def __aenter__(self) -> ChatClient:
        """Start after the last message already in the sink."""
        self._seen = await self._last_seq()
        return self

    async def __aexit__(self, *_: object) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _last_seq(self) -> int:
        response = await self._http.get("/_sink/messages", params={"to": self.digits})
        if response.status_code == 404:
            raise SinkUnavailableError(
                "the API has no dev sink: replies go to WHATSAPP_GRAPH_URL, not to this terminal"
            )
        response.raise_for_status()
        messages = response.json()
        return int(messages[-1]["seq"]) if messages else 0

    async def _post(self, message: dict[str, Any]) -> None:
        payload = simulator.envelope(
            phone_number_id=self.phone_number_id,
            from_digits=self.digits,
            name=self.name,
            messages=[message],
        )
        raw, headers = simulator.signed_body(payload, self._secret)
        response = await self._http.post("/webhooks/whatsapp", content=raw, headers=headers)
        response.raise_for_status()

    async def say(self, text: str) -> None:
        """Send a text message."""
        await self._post(simulator.text_message(self.digits, text))

    async def tap(self, choice: Choice) -> None:
        """Tap a list row or a reply button."""
        await self._post(
            simulator.reply_message(self.digits, choice.id, choice.title, list_reply=choice.is_list)
        )

    async def share_location(self, latitude: float, longitude: float, address: str) -> None:
        """Share a location."""
        await self._post(
            simulator.location_message(self.digits, latitude, longitude, address=address)
        )

    async def replies(self, *, first_wait_s: float = 15.0, quiet_s: float = 1.0) -> list[BotReply]:
        """Wait for the bot's answer: the first reply, then any that follow within ``quiet_s``."""
        collected: list[BotReply] = []
        wait = first_wait_s
        while True:
            response = await self._http.get(
                "/_sink/messages",
                params={"to": self.digits, "after": self._seen, "wait_s": wait},
            )
            response.raise_for_status()
            batch = response.json()
            if not batch:
                return collected
            for message in batch:
                self._seen = max(self._seen, int(message["seq"]))
                collected.append(BotReply.from_graph_body(message["body"]))
            wait = quiet_s
