"""Channel-neutral inbound messages and outbound replies.

Inbound messages are what a channel parser (``tendero.channels.whatsapp.payloads``) produces
from a provider webhook; replies are what the conversation engines produce and a channel
builder turns into the provider's format.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class InboundKind(StrEnum):
    """What an inbound message carries."""

    TEXT = "text"
    INTERACTIVE = "interactive"  # a list row or reply button the customer tapped
    LOCATION = "location"
    ORDER = "order"  # a cart sent from a WhatsApp catalog
    MEDIA = "media"  # image, video, audio, document, sticker (kept by media id)
    UNSUPPORTED = "unsupported"


class Location(BaseModel):
    """A location the customer shared (WhatsApp ``location`` message)."""

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class OrderLine(BaseModel):
    """One line of a WhatsApp catalog ``order`` message.

    ``item_price`` is what the customer's app showed; we never charge it, the server reprices.
    """

    retailer_id: str
    quantity: int = Field(ge=1)
    item_price: Decimal | None = None
    currency: str | None = None


class InboundMessage(BaseModel):
    """One inbound customer message, parsed and validated.

    Attributes:
        provider_message_id: the provider's id (WhatsApp ``wamid``); unique per provider.
        phone_number_id: the business number it was sent to (routes to the tenant).
        from_phone: sender's phone digits (``wa_id``/``from``), absent for username-only users.
        user_id: business-scoped user id (``contacts[].user_id``) when present.
        profile_name: the sender's display name.
        sent_at: provider timestamp, aware UTC.
        kind: what the message carries; ``text``/``reply_id``/``location``/``order_items``
            hold it.
        raw: the provider's message object as received (for the event log).
    """

    provider_message_id: str
    phone_number_id: str
    from_phone: str | None = None
    user_id: str | None = None
    profile_name: str | None = None
    sent_at: datetime
    kind: InboundKind
    text: str | None = None
    reply_id: str | None = None
    reply_title: str | None = None
    location: Location | None = None
    order_items: list[OrderLine] = Field(default_factory=list)
    media_id: str | None = None
    context_message_id: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)


class DeliveryStatus(StrEnum):
    """Outbound delivery states, in rank order (``failed`` is terminal)."""

    PENDING = "pending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Order used to ignore stale status webhooks (statuses arrive out of order)."""
        return {"pending": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}[self.value]


class StatusUpdate(BaseModel):
    """A delivery status webhook for a message we sent.

    Attributes:
        provider_message_id: the ``wamid`` we got back when sending.
        status: the new status; provider values we do not track (``played``, ``deleted``)
            are mapped to ``None`` by the parser and dropped.
        error_code: Meta's error code when ``status`` is ``failed``.
    """

    provider_message_id: str
    phone_number_id: str
    status: DeliveryStatus
    timestamp: datetime
    recipient_id: str | None = None
    error_code: int | None = None
    error_title: str | None = None


class Button(BaseModel):
    """A reply button: ``id`` comes back as ``reply_id`` when tapped."""

    id: str
    title: str


class ListRow(BaseModel):
    """One row of an interactive list."""

    id: str
    title: str
    description: str | None = None


class ListSection(BaseModel):
    """A titled group of list rows."""

    title: str | None = None
    rows: list[ListRow]


class Reply(BaseModel):
    """One outbound message, independent of the channel.

    ``kind`` picks the shape: ``text`` uses ``body`` only; ``buttons`` adds 1-3
    ``buttons``; ``list`` adds ``list_button`` (the label that opens the list) and
    ``sections``. Channel builders enforce the provider's length limits.
    """

    model_config = ConfigDict(frozen=True)

    kind: Literal["text", "buttons", "list"] = "text"
    body: str
    header: str | None = None
    footer: str | None = None
    buttons: list[Button] = Field(default_factory=list)
    list_button: str | None = None
    sections: list[ListSection] = Field(default_factory=list)

    @classmethod
    def text(cls, body: str) -> Reply:
        """A plain text reply."""
        return cls(kind="text", body=body)
