"""What the webhook stores about an inbound message (its content, without the raw envelope)."""

from __future__ import annotations

from typing import Any

from tendero.domain.messages import InboundMessage


def message_content(message: InboundMessage) -> dict[str, Any]:
    """The parts of a parsed message the engines read, as stored in ``messages.content``."""
    return message.model_dump(
        mode="json",
        include={
            "kind",
            "reply_id",
            "reply_title",
            "location",
            "order_items",
            "media_id",
            "context_message_id",
        },
    )
