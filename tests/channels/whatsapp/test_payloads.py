import copy
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tendero.channels.whatsapp.payloads import WebhookBatch, WebhookPayloadError, parse_webhook
from tendero.domain.messages import DeliveryStatus, InboundKind, InboundMessage, Location

FIXTURES = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "whatsapp"
UPDATE_FILES = sorted(FIXTURES.glob("pywa_updates_*.json"))
PHONE_NUMBER_ID = "1122334455667"
USER_ID = "US.13491208655302741918"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"pywa_updates_{name}.json").read_text())
    return data


MESSAGE = load("message")
BUTTON = load("callback_button")
SELECTION = load("callback_selection")
FLOW = load("flow_completion")
STATUS = load("message_status")


def only_message(payload: dict[str, Any]) -> InboundMessage:
    batch = parse_webhook(payload)
    assert batch.statuses == []
    assert len(batch.messages) == 1
    return batch.messages[0]


def value_of(payload: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = payload["entry"][0]["changes"][0]["value"]
    return value


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def accounted(batch: WebhookBatch) -> int:
    """Items returned or counted as skipped (UNSUPPORTED messages are both)."""
    usable = sum(m.kind is not InboundKind.UNSUPPORTED for m in batch.messages)
    return usable + len(batch.statuses) + batch.skipped


# --- every fixture case ---------------------------------------------------------------------


def all_cases() -> list[Any]:
    return [
        pytest.param(path, key, id=f"{path.stem.removeprefix('pywa_updates_')}:{key}")
        for path in UPDATE_FILES
        for key in json.loads(path.read_text())
    ]


def test_fixture_files_present() -> None:
    assert len(UPDATE_FILES) == 5


@pytest.mark.parametrize(("path", "key"), all_cases())
def test_every_fixture_case_parses(path: Path, key: str) -> None:
    payload = json.loads(path.read_text())[key]
    batch = parse_webhook(payload)
    value = value_of(payload)
    assert accounted(batch) == len(value.get("messages", [])) + len(value.get("statuses", []))
    for message in batch.messages:
        assert message.sent_at.tzinfo is not None
        assert message.raw in value["messages"]


# --- messages -------------------------------------------------------------------------------


def test_text() -> None:
    message = only_message(MESSAGE["text"])
    assert message.kind is InboundKind.TEXT
    assert message.text == "Body Text"
    assert message.provider_message_id == "wamid.xyzxyz"
    assert message.phone_number_id == PHONE_NUMBER_ID
    assert message.from_phone == "972987654321"
    assert message.user_id == USER_ID
    assert message.profile_name == "Test Name"
    assert message.sent_at == at(1697043223)
    assert message.sent_at.utcoffset() == UTC.utcoffset(None)
    assert message.context_message_id is None
    assert message.raw == value_of(MESSAGE["text"])["messages"][0]


def test_text_reply_keeps_context_id() -> None:
    message = only_message(MESSAGE["reply"])
    assert message.text == "replied text"
    assert message.context_message_id == "wamid.xyzxyz=="


def test_forwarded_text_has_no_context_id() -> None:
    message = only_message(MESSAGE["forwarded"])
    assert (message.kind, message.text, message.context_message_id) == (
        InboundKind.TEXT,
        "forwarded text",
        None,
    )


@pytest.mark.parametrize("case", ["callback", "description"])
def test_list_reply(case: str) -> None:
    message = only_message(SELECTION[case])
    assert message.kind is InboundKind.INTERACTIVE
    assert (message.reply_id, message.reply_title) == ("callback_data", "title")
    assert message.provider_message_id == "wamid.zyzxyz"
    assert message.context_message_id == "wamid.xyzxyz"
    assert message.sent_at == at(1698266905)
    assert message.text is None


def test_button_reply() -> None:
    message = only_message(BUTTON["button"])
    assert message.kind is InboundKind.INTERACTIVE
    assert (message.reply_id, message.reply_title) == ("callback_data", "title")
    assert message.context_message_id == "wamid.xyzxyz"
    assert message.sent_at == at(1698266730)


@pytest.mark.parametrize(
    ("case", "wamid", "context_id"),
    [
        ("quick_reply", "wamid.xsidjw", "wamid.xyzxyz=="),
        ("quick_reply_without_context", "wamid.xsidjx", None),
    ],
)
def test_template_quick_reply_button(case: str, wamid: str, context_id: str | None) -> None:
    message = only_message(BUTTON[case])
    assert message.kind is InboundKind.INTERACTIVE
    assert (message.reply_id, message.reply_title) == ("callback_data", "title")
    assert message.provider_message_id == wamid
    assert message.context_message_id == context_id
    assert message.user_id == USER_ID


def test_current_location() -> None:
    message = only_message(MESSAGE["current_location"])
    assert message.kind is InboundKind.LOCATION
    assert message.location == Location(latitude=12.25089, longitude=43.90539)


def test_chosen_location() -> None:
    message = only_message(MESSAGE["chosen_location"])
    assert message.kind is InboundKind.LOCATION
    assert message.location == Location(
        latitude=37.4611978,
        longitude=-122.2164385,
        name="Facebook HQ",
        address="1 Hacker Way, Menlo Park, CA 94025",
    )


def test_order() -> None:
    message = only_message(MESSAGE["order"])
    assert message.kind is InboundKind.ORDER
    assert message.text is None  # the cart came with an empty note
    lines = [
        (line.retailer_id, line.quantity, line.item_price, line.currency)
        for line in message.order_items
    ]
    assert lines == [
        ("HAMBURGER", 3, Decimal("30"), "ILS"),
        ("FRENCH_FRIES", 2, Decimal("35"), "ILS"),
        ("SODA", 2, Decimal("10"), "ILS"),
    ]
    assert all(isinstance(line.item_price, Decimal) for line in message.order_items)


def test_order_accepts_strings_and_fractional_prices() -> None:
    payload = copy.deepcopy(MESSAGE["order"])
    order = value_of(payload)["messages"][0]["order"]
    order["text"] = "sin cebolla"
    order["product_items"] = [
        {"product_retailer_id": "EMP-1", "quantity": "4", "item_price": "12.50", "currency": "EUR"},
        {"product_retailer_id": "EMP-2", "quantity": 1, "item_price": 0.1, "currency": "EUR"},
    ]
    message = only_message(payload)
    assert message.text == "sin cebolla"
    assert [(line.quantity, line.item_price) for line in message.order_items] == [
        (4, Decimal("12.50")),
        (1, Decimal("0.1")),
    ]


def test_order_with_invalid_quantity_is_skipped() -> None:
    payload = copy.deepcopy(MESSAGE["order"])
    value_of(payload)["messages"][0]["order"]["product_items"][1]["quantity"] = 0
    batch = parse_webhook(payload)
    assert (batch.messages, batch.skipped) == ([], 1)


def test_image_without_caption() -> None:
    message = only_message(MESSAGE["image"])
    assert message.kind is InboundKind.MEDIA
    assert message.media_id == "65463453"
    assert message.text is None


@pytest.mark.parametrize(
    ("case", "media_id", "caption"),
    [
        ("video", "765756756", "caption"),
        ("document", "1234567890987654321", "caption"),
        ("audio", "1234567890987654321", None),
        ("voice", "1234567890987654321", None),
        ("static_sticker", "1234567890987654321", None),
        ("animated_sticker", "1234567890987654321", None),
        ("media_with_url", "65463453", None),
    ],
)
def test_other_media(case: str, media_id: str, caption: str | None) -> None:
    message = only_message(MESSAGE[case])
    assert (message.kind, message.media_id, message.text) == (InboundKind.MEDIA, media_id, caption)


def test_image_with_caption() -> None:
    payload = copy.deepcopy(MESSAGE["image"])
    value_of(payload)["messages"][0]["image"]["caption"] = "la carta"
    message = only_message(payload)
    assert (message.media_id, message.text) == ("65463453", "la carta")


@pytest.mark.parametrize(
    ("source", "case"),
    [
        ("message", "reaction"),
        ("message", "unreaction_empty"),
        ("message", "unreaction_no_emoji"),
        ("message", "unsupported"),
        ("message", "unsupported_with_type"),
        ("message", "contacts"),
        ("message", "interactive_message_with_err"),
        ("flow", "completion"),
        ("flow", "without_flow_token"),
    ],
)
def test_unusable_messages_are_unsupported_and_counted(source: str, case: str) -> None:
    payload = {"message": MESSAGE, "flow": FLOW}[source][case]
    batch = parse_webhook(payload)
    assert [m.kind for m in batch.messages] == [InboundKind.UNSUPPORTED]
    assert batch.skipped == 1
    message = batch.messages[0]
    assert message.provider_message_id == value_of(payload)["messages"][0]["id"]
    assert message.user_id == USER_ID
    assert message.raw == value_of(payload)["messages"][0]


def test_interactive_with_err_keeps_context() -> None:
    message = parse_webhook(MESSAGE["interactive_message_with_err"]).messages[0]
    assert message.context_message_id == "wamid.gvwegfretge=="
    assert message.provider_message_id == "wamid.wegrchytvwcggt="


def test_contact_matched_by_wa_id_among_several() -> None:
    payload = copy.deepcopy(MESSAGE["text"])
    value = value_of(payload)
    first = value["messages"][0]
    second = {**first, "id": "wamid.second", "from": "5491100000000"}
    value["messages"].append(second)
    value["contacts"].insert(
        0, {"profile": {"name": "Ana"}, "wa_id": "5491100000000", "user_id": "AR.1"}
    )
    batch = parse_webhook(payload)
    assert [(m.from_phone, m.user_id, m.profile_name) for m in batch.messages] == [
        ("972987654321", USER_ID, "Test Name"),
        ("5491100000000", "AR.1", "Ana"),
    ]


def test_malformed_contact_does_not_cost_the_message() -> None:
    payload = copy.deepcopy(MESSAGE["text"])
    value_of(payload)["contacts"].insert(0, "garbage")
    message = only_message(payload)
    assert (message.text, message.user_id, message.profile_name) == (
        "Body Text",
        USER_ID,
        "Test Name",
    )


def test_username_only_sender_matched_by_user_id() -> None:
    payload = copy.deepcopy(MESSAGE["text"])
    value = value_of(payload)
    message = value["messages"][0]
    del message["from"]
    message["from_user_id"] = "US.777"
    value["contacts"] = [
        {"profile": {"name": "Other"}, "wa_id": "1", "user_id": "US.1"},
        {"profile": {"name": "Username User"}, "user_id": "US.777"},
    ]
    parsed = only_message(payload)
    assert (parsed.from_phone, parsed.user_id, parsed.profile_name) == (
        None,
        "US.777",
        "Username User",
    )


# --- statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("sent", DeliveryStatus.SENT),
        ("delivered", DeliveryStatus.DELIVERED),
        ("read", DeliveryStatus.READ),
        ("with_tracker", DeliveryStatus.SENT),
        ("group", DeliveryStatus.READ),
    ],
)
def test_tracked_statuses(case: str, expected: DeliveryStatus) -> None:
    batch = parse_webhook(STATUS[case])
    assert batch.messages == []
    assert batch.skipped == 0
    [status] = batch.statuses
    raw = value_of(STATUS[case])["statuses"][0]
    assert status.status is expected
    assert status.provider_message_id == raw["id"]
    assert status.recipient_id == raw["recipient_id"]
    assert status.timestamp == at(int(raw["timestamp"]))
    assert (status.error_code, status.error_title) == (None, None)


def test_sent_status_exact() -> None:
    [status] = parse_webhook(STATUS["sent"]).statuses
    assert status.model_dump() == {
        "provider_message_id": "wamid.xyzxyz",
        "phone_number_id": PHONE_NUMBER_ID,
        "status": DeliveryStatus.SENT,
        "timestamp": at(1698266945),
        "recipient_id": "972987654321",
        "error_code": None,
        "error_title": None,
    }


def test_played_status_is_dropped_and_counted() -> None:
    batch = parse_webhook(STATUS["played"])
    assert (batch.statuses, batch.messages, batch.skipped) == ([], [], 1)


def test_deleted_and_unknown_statuses_are_dropped() -> None:
    payload = copy.deepcopy(STATUS["sent"])
    base = value_of(payload)["statuses"][0]
    value_of(payload)["statuses"] = [
        {**base, "status": "deleted"},
        {**base, "status": "warning"},
        base,
    ]
    batch = parse_webhook(payload)
    assert [s.status for s in batch.statuses] == [DeliveryStatus.SENT]
    assert batch.skipped == 2


def test_failed_status_carries_first_error() -> None:
    [status] = parse_webhook(STATUS["failed"]).statuses
    assert status.status is DeliveryStatus.FAILED
    assert status.error_code == 130472
    assert status.error_title == "User's number is part of an experiment"


def test_failed_status_with_several_errors_takes_the_first() -> None:
    payload = copy.deepcopy(STATUS["failed"])
    errors = value_of(payload)["statuses"][0]["errors"]
    errors.append({"code": 131026, "title": "Message undeliverable"})
    [status] = parse_webhook(payload).statuses
    assert status.error_code == 130472


def test_failed_status_without_errors() -> None:
    payload = copy.deepcopy(STATUS["failed"])
    del value_of(payload)["statuses"][0]["errors"]
    [status] = parse_webhook(payload).statuses
    assert (status.status, status.error_code, status.error_title) == (
        DeliveryStatus.FAILED,
        None,
        None,
    )


# --- batching -------------------------------------------------------------------------------


def msg(source: dict[str, Any], case: str, wamid: str) -> dict[str, Any]:
    message: dict[str, Any] = copy.deepcopy(value_of(source[case])["messages"][0])
    message["id"] = wamid
    return message


def st(case: str, wamid: str, status: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = copy.deepcopy(value_of(STATUS[case])["statuses"][0])
    item["id"] = wamid
    if status is not None:
        item["status"] = status
    return item


def change(phone_number_id: str, messages: list[Any], statuses: list[Any]) -> dict[str, Any]:
    value = copy.deepcopy(value_of(MESSAGE["text"]))
    value["metadata"]["phone_number_id"] = phone_number_id
    value["messages"] = messages
    value["statuses"] = statuses
    return {"field": "messages", "value": value}


def test_batched_payload_yields_everything_in_order() -> None:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA-1",
                "changes": [
                    change(
                        "PN-1",
                        [msg(MESSAGE, "text", "m1"), msg(MESSAGE, "image", "m2")],
                        [st("sent", "s1")],
                    ),
                    change(
                        "PN-1",
                        [msg(SELECTION, "callback", "m3")],
                        [st("delivered", "s2"), st("read", "s3")],
                    ),
                ],
            },
            {
                "id": "WABA-2",
                "changes": [
                    change(
                        "PN-2",
                        [msg(MESSAGE, "order", "m4"), msg(MESSAGE, "chosen_location", "m5")],
                        [st("failed", "s4")],
                    ),
                    change(
                        "PN-3",
                        [msg(BUTTON, "quick_reply", "m6"), msg(MESSAGE, "reaction", "m7")],
                        [st("played", "s5"), st("read", "s6")],
                    ),
                ],
            },
        ],
    }
    batch = parse_webhook(payload)
    assert [(m.provider_message_id, m.phone_number_id, m.kind) for m in batch.messages] == [
        ("m1", "PN-1", InboundKind.TEXT),
        ("m2", "PN-1", InboundKind.MEDIA),
        ("m3", "PN-1", InboundKind.INTERACTIVE),
        ("m4", "PN-2", InboundKind.ORDER),
        ("m5", "PN-2", InboundKind.LOCATION),
        ("m6", "PN-3", InboundKind.INTERACTIVE),
        ("m7", "PN-3", InboundKind.UNSUPPORTED),
    ]
    assert [(s.provider_message_id, s.phone_number_id, s.status) for s in batch.statuses] == [
        ("s1", "PN-1", DeliveryStatus.SENT),
        ("s2", "PN-1", DeliveryStatus.DELIVERED),
        ("s3", "PN-1", DeliveryStatus.READ),
        ("s4", "PN-2", DeliveryStatus.FAILED),
        ("s6", "PN-3", DeliveryStatus.READ),
    ]
    assert batch.skipped == 2  # the reaction and the played status
    assert batch.statuses[3].error_code == 130472


def test_invalid_items_do_not_sink_the_batch() -> None:
    no_id = msg(MESSAGE, "text", "x")
    del no_id["id"]
    bad_time = msg(MESSAGE, "text", "bad-time")
    bad_time["timestamp"] = "<TIMESTAMP>"
    bad_status = st("sent", "bad-status")
    bad_status["timestamp"] = "yesterday"
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    change(
                        "PN",
                        [msg(MESSAGE, "text", "ok1"), no_id, "not-an-object", bad_time],
                        [bad_status, st("read", "ok-status")],
                    ),
                    change("PN", [msg(MESSAGE, "image", "ok2")], []),
                ],
            }
        ],
    }
    batch = parse_webhook(payload)
    assert [m.provider_message_id for m in batch.messages] == ["ok1", "ok2"]
    assert [s.provider_message_id for s in batch.statuses] == ["ok-status"]
    assert batch.skipped == 4


def test_non_message_changes_are_ignored() -> None:
    payload = copy.deepcopy(MESSAGE["text"])
    payload["entry"][0]["changes"].insert(
        0,
        {
            "field": "message_template_status_update",
            "value": {"event": "APPROVED", "message_template_id": 1},
        },
    )
    batch = parse_webhook(payload)
    assert [m.text for m in batch.messages] == ["Body Text"]
    assert batch.ignored_changes == 1


def test_empty_entry_list_is_an_empty_batch() -> None:
    batch = parse_webhook({"object": "whatsapp_business_account", "entry": []})
    assert (batch.messages, batch.statuses, batch.skipped) == ([], [], 0)


# --- malformed envelopes --------------------------------------------------------------------


def envelope(**overrides: Any) -> dict[str, Any]:
    payload = copy.deepcopy(MESSAGE["text"])
    payload.update(overrides)
    return payload


def with_change(value: Any) -> dict[str, Any]:
    return envelope(entry=[{"id": "1", "changes": [{"field": "messages", "value": value}]}])


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param([], id="list-body"),
        pytest.param("text", id="string-body"),
        pytest.param(None, id="null-body"),
        pytest.param({"entry": []}, id="no-object"),
        pytest.param(envelope(object="page"), id="other-object"),
        pytest.param({"object": "whatsapp_business_account"}, id="no-entry"),
        pytest.param(envelope(entry={"id": "1"}), id="entry-not-list"),
        pytest.param(envelope(entry=["x"]), id="entry-item-not-object"),
        pytest.param(envelope(entry=[{"id": "1"}]), id="no-changes"),
        pytest.param(envelope(entry=[{"id": "1", "changes": {}}]), id="changes-not-list"),
        pytest.param(
            envelope(entry=[{"id": "1", "changes": [{"field": "messages"}]}]), id="no-value"
        ),
        pytest.param(with_change([]), id="value-not-object"),
        pytest.param(with_change({"messages": []}), id="no-metadata"),
        pytest.param(with_change({"metadata": {}}), id="no-phone-number-id"),
        pytest.param(
            with_change({"metadata": {"phone_number_id": "1"}, "messages": {}}),
            id="messages-not-list",
        ),
        pytest.param(
            with_change({"metadata": {"phone_number_id": "1"}, "statuses": "x"}),
            id="statuses-not-list",
        ),
    ],
)
def test_malformed_envelope_raises(payload: Any) -> None:
    with pytest.raises(WebhookPayloadError) as info:
        parse_webhook(payload)
    assert isinstance(info.value, ValueError)
    assert "972987654321" not in str(info.value)


def test_error_message_names_the_location() -> None:
    with pytest.raises(WebhookPayloadError, match=r"entry\[0\]\.changes\[0\].*phone_number_id"):
        parse_webhook(with_change({"metadata": {}}))


# --- Meta's Postman collection --------------------------------------------------------------


def postman_folder(*names: str) -> list[dict[str, Any]]:
    collection = json.loads(
        (FIXTURES / "meta_whatsapp-cloud-api.postman_collection.json").read_text()
    )
    items: list[dict[str, Any]] = collection["item"]
    for name in names:
        items = next(item for item in items if item["name"] == name)["item"]
    return items


def webhook_examples() -> dict[str, str]:
    return {
        item["name"]: item["request"]["body"]["raw"]
        for item in postman_folder("Webhook Subscriptions", "Webhook Payload Reference")
        if "request" in item
    }


def test_postman_valid_bodies_all_parse() -> None:
    parsed = []
    for name, raw in webhook_examples().items():
        try:
            payload = json.loads(raw)
        except json.JSONDecodeError:
            continue  # placeholders without quotes, trailing commas
        batch = parse_webhook(payload)
        value = value_of(payload)
        n_items = len(value.get("messages", [])) + len(value.get("statuses", []))
        assert accounted(batch) == n_items, name
        parsed.append(name)
    assert len(parsed) == 13
    assert {"Received Text Message", "Received Order Messages"} <= set(parsed)


def test_postman_text_message() -> None:
    payload = json.loads(webhook_examples()["Received Text Message"])
    message = only_message(payload)
    assert message.kind is InboundKind.TEXT
    assert message.text == "Hello this is an answer"
    assert message.provider_message_id == "wamid.ABGGFlCGg0cvAgo-sJQh43L5Pe4W"
    assert message.phone_number_id == "27681414235104944"
    assert (message.from_phone, message.profile_name, message.user_id) == (
        "16315551234",
        "Kerry Fisher",
        None,
    )
    assert message.sent_at == at(1603059201)


def test_postman_quick_reply_button() -> None:
    payload = json.loads(webhook_examples()["Received Callback from a Quick Reply Button Click"])
    message = only_message(payload)
    assert (message.kind, message.reply_id, message.reply_title) == (
        InboundKind.INTERACTIVE,
        "No-Button-Payload",
        "No",
    )
    assert message.context_message_id == "wamid.gBGGFlCGg0cvAgkLFm4e9tICiTI"


def test_postman_status_sent() -> None:
    payload = json.loads(webhook_examples()["Message Status Update Notifications"])
    [status] = parse_webhook(payload).statuses
    assert (status.provider_message_id, status.status, status.timestamp) == (
        "wamid.gBGGFlCGg0cvAglAxydbAoy-gwNo",
        DeliveryStatus.SENT,
        at(1603086313),
    )


def test_postman_location_message() -> None:
    raw = webhook_examples()["Received Static Location Messages"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)  # Meta's example has a trailing comma
    payload = json.loads(re.sub(r",(\s*[}\]])", r"\1", raw))
    # As published (placeholder timestamp and coordinates) it parses but is unusable.
    batch = parse_webhook(payload)
    assert (batch.messages, batch.skipped) == ([], 1)
    # With real values filled in, it parses even though Meta's example omits "type".
    message = value_of(payload)["messages"][0]
    assert "type" not in message
    message["timestamp"] = "1603069091"
    message["location"]["latitude"] = "-34.6037"
    message["location"]["longitude"] = -58.3816
    parsed = only_message(payload)
    assert parsed.kind is InboundKind.LOCATION
    assert parsed.location == Location(
        latitude=-34.6037,
        longitude=-58.3816,
        name="<LOCATION_NAME>",
        address="<LOCATION_ADDRESS>",
    )


def test_postman_order_message() -> None:
    payload = json.loads(webhook_examples()["Received Order Messages"])
    # Meta's placeholders ("number-of-item") are not numbers: the message is skipped.
    batch = parse_webhook(payload)
    assert (batch.messages, batch.skipped) == ([], 1)
    item = value_of(payload)["messages"][0]["order"]["product_items"][0]
    item.update(quantity="2", item_price="7.25", currency="USD")
    message = only_message(payload)
    assert message.kind is InboundKind.ORDER
    assert message.text == "text-message-sent-along-with-the-order"
    assert [(i.retailer_id, i.quantity, i.item_price, i.currency) for i in message.order_items] == [
        ("the-product-SKU-identifier", 2, Decimal("7.25"), "USD")
    ]
    assert message.context_message_id == "wamid.gBGGFlaCGg0xcvAdgmZ9plHrf2Mh-o"


def test_postman_unknown_message_is_unsupported() -> None:
    payload = json.loads(webhook_examples()["Received Unknown Messages"])
    batch = parse_webhook(payload)
    assert [m.kind for m in batch.messages] == [InboundKind.UNSUPPORTED]
    assert batch.skipped == 1
