"""Parse WhatsApp Cloud API webhook POST bodies into channel-neutral domain objects.

Source: notes/whatsapp.md section 1 (Meta's messages webhook reference) and the fixtures in
``shared/fixtures/whatsapp`` (pywa test payloads, Meta's Postman collection). Envelope::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>",
                "changes": [{"field": "messages",
                             "value": {"messaging_product": "whatsapp",
                                       "metadata": {"display_phone_number", "phone_number_id"},
                                       "contacts": [{"profile": {"name"}, "wa_id", "user_id"}],
                                       "messages": [...], "statuses": [...],
                                       "errors": [...]}}]}]}

Meta batches at every level, so the parser walks every entry, change, message and status
(pywa issue #229 shows what reading ``[0]`` only costs). Unknown fields are ignored. Errors are
graded: a malformed envelope raises :class:`WebhookPayloadError`; one bad message or status is
skipped and counted without affecting the rest of the batch. Changes whose ``field`` is not
``messages`` (template, quality or account updates) have other shapes and are ignored.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tendero.domain.messages import (
    DeliveryStatus,
    InboundKind,
    InboundMessage,
    Location,
    OrderLine,
    StatusUpdate,
)

logger = logging.getLogger(__name__)

_EPOCH_SECONDS = re.compile(r"\d{1,12}")
_MEDIA_TYPES = ("image", "video", "audio", "document", "sticker", "voice")
# When Meta omits ``type`` (its Postman location example does), the payload key tells us.
_TYPED_KEYS = ("text", "interactive", "button", "location", "order", *_MEDIA_TYPES)
_STATUS_MAP = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}


class WebhookPayloadError(ValueError):
    """The webhook body is not a WhatsApp Business Account notification envelope."""


def _epoch_to_utc(value: object) -> datetime:
    """Meta sends epoch seconds as a string; pydantic's own datetime parsing is looser."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or _EPOCH_SECONDS.fullmatch(text) is None:
        raise ValueError("timestamp must be epoch seconds")
    return datetime.fromtimestamp(int(text), tz=UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class WaMetadata(_Model):
    """``value.metadata``: the business number the change belongs to (routes to a tenant)."""

    phone_number_id: str
    display_phone_number: str | None = None


class WaProfile(_Model):
    """``contacts[].profile``."""

    name: str | None = None


class WaContact(_Model):
    """``value.contacts[]``: the sender, keyed by ``wa_id`` and the BSUID ``user_id``."""

    wa_id: str | None = None
    user_id: str | None = None
    profile: WaProfile | None = None


class WaError(_Model):
    """An ``errors[]`` item (on a value, a message or a failed status)."""

    code: int | None = None
    title: str | None = None
    message: str | None = None


class WaValue(_Model):
    """``changes[].value`` for ``field == "messages"``.

    Contacts, messages and statuses stay raw here so that each one is validated on its own and
    a bad one cannot reject the whole batch.
    """

    metadata: WaMetadata
    contacts: list[Any] = Field(default_factory=list)
    messages: list[Any] = Field(default_factory=list)
    statuses: list[Any] = Field(default_factory=list)
    errors: list[dict[str, Any]] = Field(default_factory=list)


class WaChange(_Model):
    """``entry[].changes[]``; ``value`` is parsed later, only for ``messages`` changes."""

    field: str | None = None
    value: dict[str, Any]


class WaEntry(_Model):
    """``entry[]``: one WhatsApp Business Account and its changes."""

    id: str | None = None
    changes: list[WaChange]


class WaEnvelope(_Model):
    """The webhook POST body."""

    object: str
    entry: list[WaEntry]


class WaContext(_Model):
    """``message.context``: the message being answered (``id``) or forwarding flags."""

    id: str | None = None
    from_: str | None = Field(default=None, alias="from")


class WaText(_Model):
    """``message.text``."""

    body: str


class WaReplyRef(_Model):
    """``interactive.list_reply`` / ``interactive.button_reply``."""

    id: str
    title: str | None = None
    description: str | None = None


class WaInteractive(_Model):
    """``message.interactive``; ``nfm_reply`` (Flow completion) is not mapped yet."""

    type: str
    list_reply: WaReplyRef | None = None
    button_reply: WaReplyRef | None = None


class WaTemplateButton(_Model):
    """``message.button``: a template quick-reply tap (not an ``interactive`` message)."""

    payload: str
    text: str | None = None


class WaLocation(_Model):
    """``message.location``."""

    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class WaProductItem(_Model):
    """``order.product_items[]``; numbers or numeric strings are accepted."""

    product_retailer_id: str
    quantity: int
    item_price: Decimal | None = None
    currency: str | None = None


class WaOrder(_Model):
    """``message.order``: a cart sent from a catalog or product message."""

    catalog_id: str | None = None
    text: str | None = None
    product_items: list[WaProductItem] = Field(default_factory=list)


class WaMedia(_Model):
    """``message.image`` / ``video`` / ``audio`` / ``document`` / ``sticker`` / ``voice``."""

    id: str
    mime_type: str | None = None
    caption: str | None = None


class WaMessage(_Model):
    """``value.messages[]``: only the parts we map; the full dict is kept as ``raw``."""

    id: str
    from_: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    timestamp: datetime
    type: str | None = None
    context: WaContext | None = None
    text: WaText | None = None
    interactive: WaInteractive | None = None
    button: WaTemplateButton | None = None
    location: WaLocation | None = None
    order: WaOrder | None = None
    image: WaMedia | None = None
    video: WaMedia | None = None
    audio: WaMedia | None = None
    document: WaMedia | None = None
    sticker: WaMedia | None = None
    voice: WaMedia | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> datetime:
        return _epoch_to_utc(value)


class WaStatus(_Model):
    """``value.statuses[]``: delivery status of a message we sent."""

    id: str
    status: str
    timestamp: datetime
    recipient_id: str | None = None
    errors: list[WaError] = Field(default_factory=list)

    @field_validator("timestamp", mode="before")
    @classmethod
    def _timestamp(cls, value: object) -> datetime:
        return _epoch_to_utc(value)


@dataclasses.dataclass(slots=True)
class WebhookBatch:
    """Everything usable in one webhook POST, in payload order.

    Attributes:
        messages: inbound messages, including ``UNSUPPORTED`` ones (reactions, contacts,
            unknown types, errored or Flow ``interactive``) so the bot can say it cannot read
            them.
        statuses: ``sent``/``delivered``/``read``/``failed`` updates for messages we sent.
        skipped: items we cannot act on: ``UNSUPPORTED`` messages (returned too), messages
            and statuses that failed validation (not returned), and statuses we do not track
            (``played``, ``deleted``, unknown values; not returned).
        ignored_changes: changes whose ``field`` is not ``messages``.
    """

    messages: list[InboundMessage] = dataclasses.field(default_factory=list)
    statuses: list[StatusUpdate] = dataclasses.field(default_factory=list)
    skipped: int = 0
    ignored_changes: int = 0


def parse_webhook(payload: dict[str, Any]) -> WebhookBatch:
    """Parse a WhatsApp webhook POST body (already JSON-decoded, signature already checked).

    Args:
        payload: the decoded JSON body.

    Returns:
        A :class:`WebhookBatch` with every message and status of every entry and change.

    Raises:
        WebhookPayloadError: the body is not an object, ``object`` is not
            ``whatsapp_business_account``, ``entry``/``changes`` are not lists of objects, or
            a ``messages`` change lacks ``value.metadata.phone_number_id`` or has non-list
            ``contacts``/``messages``/``statuses``.
    """
    if not isinstance(payload, dict):
        raise WebhookPayloadError(
            f"webhook body must be a JSON object, got {type(payload).__name__}"
        )
    envelope = _validate_envelope(payload)
    batch = WebhookBatch()
    for entry_index, entry in enumerate(envelope.entry):
        for change_index, change in enumerate(entry.changes):
            if change.field not in (None, "messages"):
                batch.ignored_changes += 1
                continue
            value = _validate_value(change.value, entry_index, change_index)
            _collect(value, batch)
    return batch


def _validate_envelope(payload: dict[str, Any]) -> WaEnvelope:
    try:
        envelope = WaEnvelope.model_validate(payload)
    except ValidationError as exc:
        raise WebhookPayloadError(f"malformed webhook envelope: {_where(exc)}") from None
    if envelope.object != "whatsapp_business_account":
        raise WebhookPayloadError(
            f"unexpected webhook object {envelope.object!r}, expected 'whatsapp_business_account'"
        )
    return envelope


def _validate_value(raw: dict[str, Any], entry_index: int, change_index: int) -> WaValue:
    try:
        return WaValue.model_validate(raw)
    except ValidationError as exc:
        raise WebhookPayloadError(
            f"malformed webhook value at entry[{entry_index}].changes[{change_index}]: "
            f"{_where(exc)}"
        ) from None


def _where(exc: ValidationError) -> str:
    """Field paths and reasons only: pydantic's full text would echo phone numbers."""
    return "; ".join(
        f"{'.'.join(str(part) for part in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_input=False)
    )


def _collect(value: WaValue, batch: WebhookBatch) -> None:
    phone_number_id = value.metadata.phone_number_id
    contacts = [contact for raw in value.contacts if (contact := _to_contact(raw)) is not None]
    for raw in value.messages:
        message = _to_inbound(raw, contacts, phone_number_id)
        if message is None or message.kind is InboundKind.UNSUPPORTED:
            batch.skipped += 1
        if message is not None:
            batch.messages.append(message)
    for raw in value.statuses:
        status = _to_status(raw, phone_number_id)
        if status is None:
            batch.skipped += 1
        else:
            batch.statuses.append(status)


def _to_contact(raw: object) -> WaContact | None:
    try:
        return WaContact.model_validate(raw)
    except ValidationError:
        return None  # only enriches messages; a bad contact must not cost the message


def _find_contact(message: WaMessage, contacts: list[WaContact]) -> WaContact | None:
    for contact in contacts:
        if message.from_ is not None and contact.wa_id == message.from_:
            return contact
        if message.from_user_id is not None and contact.user_id == message.from_user_id:
            return contact
    # Meta sends one contact per single-sender change; trust it when ids are missing.
    return contacts[0] if len(contacts) == 1 else None


def _to_inbound(
    raw: object, contacts: list[WaContact], phone_number_id: str
) -> InboundMessage | None:
    try:
        message = WaMessage.model_validate(raw)
        contact = _find_contact(message, contacts)
        fields: dict[str, Any] = {
            "provider_message_id": message.id,
            "phone_number_id": phone_number_id,
            "from_phone": message.from_,
            "user_id": (contact.user_id if contact else None) or message.from_user_id,
            "profile_name": contact.profile.name if contact and contact.profile else None,
            "sent_at": message.timestamp,
            "context_message_id": message.context.id if message.context else None,
            "raw": raw,
        }
        fields.update(_content(message))
        return InboundMessage.model_validate(fields)
    except ValidationError as exc:
        logger.warning("skipping invalid WhatsApp message %s: %s", _safe_id(raw), _where(exc))
        return None


def _content(message: WaMessage) -> dict[str, Any]:
    """The kind-specific fields of an inbound message."""
    kind = message.type or next((key for key in _TYPED_KEYS if getattr(message, key)), None)
    if kind == "text" and message.text is not None:
        return {"kind": InboundKind.TEXT, "text": message.text.body}
    if kind == "interactive" and message.interactive is not None:
        reply = message.interactive.list_reply or message.interactive.button_reply
        if message.interactive.type in ("list_reply", "button_reply") and reply is not None:
            return {
                "kind": InboundKind.INTERACTIVE,
                "reply_id": reply.id,
                "reply_title": reply.title,
            }
    if kind == "button" and message.button is not None:
        return {
            "kind": InboundKind.INTERACTIVE,
            "reply_id": message.button.payload,
            "reply_title": message.button.text,
        }
    if kind == "location" and message.location is not None:
        loc = message.location
        return {
            "kind": InboundKind.LOCATION,
            "location": Location(
                latitude=loc.latitude, longitude=loc.longitude, name=loc.name, address=loc.address
            ),
        }
    if kind == "order" and message.order is not None:
        return {
            "kind": InboundKind.ORDER,
            "text": message.order.text or None,
            "order_items": [
                OrderLine(
                    retailer_id=item.product_retailer_id,
                    quantity=item.quantity,
                    item_price=item.item_price,
                    currency=item.currency,
                )
                for item in message.order.product_items
            ],
        }
    if kind in _MEDIA_TYPES:
        media: WaMedia | None = getattr(message, kind)
        if media is not None:
            return {"kind": InboundKind.MEDIA, "media_id": media.id, "text": media.caption}
    return {"kind": InboundKind.UNSUPPORTED}


def _to_status(raw: object, phone_number_id: str) -> StatusUpdate | None:
    try:
        status = WaStatus.model_validate(raw)
    except ValidationError as exc:
        logger.warning("skipping invalid WhatsApp status %s: %s", _safe_id(raw), _where(exc))
        return None
    mapped = _STATUS_MAP.get(status.status)
    if mapped is None:
        # played/deleted/payment statuses carry nothing our delivery tracking uses.
        return None
    first_error = next(iter(status.errors), None) if mapped is DeliveryStatus.FAILED else None
    return StatusUpdate(
        provider_message_id=status.id,
        phone_number_id=phone_number_id,
        status=mapped,
        timestamp=status.timestamp,
        recipient_id=status.recipient_id,
        error_code=first_error.code if first_error else None,
        error_title=(first_error.title or first_error.message) if first_error else None,
    )


def _safe_id(raw: object) -> str:
    """The wamid for logs (never the phone number or content)."""
    wamid = raw.get("id") if isinstance(raw, dict) else None
    return wamid if isinstance(wamid, str) else "<no id>"
