"""Build inbound webhook bodies exactly as Meta sends them (notes/whatsapp.md, section 1).

Used by ``tendero chat``, ``tendero demo``, the benchmark and the tests to act as the
WhatsApp Cloud API: the envelope mirrors ``fixtures/whatsapp/pywa_updates_message.json``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from tendero.channels.whatsapp.signature import sign


def new_wamid() -> str:
    """A fresh, unique message id in Meta's style."""
    return f"wamid.{uuid.uuid4().hex.upper()}"


def envelope(
    *,
    phone_number_id: str,
    from_digits: str,
    name: str,
    messages: list[dict[str, Any]],
    user_id: str | None = None,
) -> dict[str, Any]:
    """A ``messages`` webhook body with one entry and one change holding ``messages``."""
    contact: dict[str, Any] = {"profile": {"name": name}, "wa_id": from_digits}
    if user_id:
        contact["user_id"] = user_id
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "102290129340398",
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550000000",
                                "phone_number_id": phone_number_id,
                            },
                            "contacts": [contact],
                            "messages": messages,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def _base(from_digits: str, kind: str, wamid: str | None) -> dict[str, Any]:
    return {
        "from": from_digits,
        "id": wamid or new_wamid(),
        "timestamp": str(int(time.time())),
        "type": kind,
    }


def text_message(from_digits: str, body: str, *, wamid: str | None = None) -> dict[str, Any]:
    """A ``text`` message."""
    return _base(from_digits, "text", wamid) | {"text": {"body": body}}


def reply_message(
    from_digits: str, reply_id: str, title: str, *, list_reply: bool, wamid: str | None = None
) -> dict[str, Any]:
    """An ``interactive`` ``list_reply`` or ``button_reply``."""
    kind = "list_reply" if list_reply else "button_reply"
    return _base(from_digits, "interactive", wamid) | {
        "interactive": {"type": kind, kind: {"id": reply_id, "title": title}}
    }


def location_message(
    from_digits: str,
    latitude: float,
    longitude: float,
    *,
    name: str | None = None,
    address: str | None = None,
    wamid: str | None = None,
) -> dict[str, Any]:
    """A shared ``location``."""
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name:
        location["name"] = name
    if address:
        location["address"] = address
    return _base(from_digits, "location", wamid) | {"location": location}


def order_message(
    from_digits: str,
    items: list[tuple[str, int]],
    *,
    currency: str = "USD",
    wamid: str | None = None,
) -> dict[str, Any]:
    """A catalog ``order``: ``items`` are ``(product_retailer_id, quantity)``."""
    return _base(from_digits, "order", wamid) | {
        "order": {
            "catalog_id": "354160437058781",
            "text": "",
            "product_items": [
                {
                    "product_retailer_id": retailer_id,
                    "quantity": quantity,
                    "item_price": 1,
                    "currency": currency,
                }
                for retailer_id, quantity in items
            ],
        }
    }


def signed_body(payload: dict[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """Serialise and sign like Meta: returns the raw body and the request headers."""
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return raw, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": sign(raw, app_secret),
    }
