"""The issue's "done when": after a real conversation, Temporal stores no readable personal data.

A customer with a known phone number chats through the signed WhatsApp webhook up to the
checkout summary, typing the delivery address "9 Elm Road, call +<their number>", so both a
phone number and an address reach workflow payloads. The stored bytes of the histories,
fetched by a client without the codec, contain neither; the same histories decoded with the
codec give back the typed address and phone number where the workflows carry them (the
checkout choice) and the exact workflow inputs.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google.protobuf.message import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tendero.db.models import Conversation
from tendero.db.models import Customer as CustomerRow
from tendero.domain.checkout import CheckoutChoice
from tendero.domain.conversation import ConversationInput, ConversationRef
from tests.codec.test_codec import expected_key_id
from tests.flows.conftest import new_digits
from tests.harness import SECRET_KEY, Customer, reach_summary, running_stack
from tests.shop import make_shop

ADDRESS = "9 Elm Road"
# Stored readable on purpose (DESIGN.md): ids only, used to search runs in the UI. Summaries
# (user_metadata) go through the codec like any payload.
READABLE_FIELDS = {"search_attributes"}


Path = tuple[str, ...]


def payloads_in(value: Any, path: Path = ()) -> Iterator[tuple[Path, Payload]]:
    """Every Payload inside a protobuf message, with the field names leading to it."""
    if isinstance(value, Payload):
        yield path, value
    elif isinstance(value, Message):
        for field, item in value.ListFields():
            yield from payloads_in(item, (*path, field.name))
    elif isinstance(value, str | bytes | int | float | bool):
        return
    elif hasattr(value, "values"):  # a map
        for item in value.values():
            yield from payloads_in(item, path)
    else:  # a repeated field
        for item in value:
            yield from payloads_in(item, path)


async def history_of(client: Client, workflow_id: str) -> WorkflowHistory:
    return await client.get_workflow_handle(workflow_id).fetch_history()


async def test_histories_hold_no_readable_personal_data(
    temporal_env: WorkflowEnvironment,
    sessionmaker: async_sessionmaker[AsyncSession],
    database_url: str,
) -> None:
    codec_client = temporal_env.client
    shop = await make_shop(sessionmaker)
    digits = new_digits()
    async with running_stack(codec_client, sessionmaker, database_url) as stack:
        customer = Customer(stack, shop.phone_number_id, digits)
        sun = await shop.variant(sessionmaker, "SUN-1")
        await customer.text("hi")
        typed_address = f"{ADDRESS}, call +{digits}"
        await reach_summary(customer, [(str(sun.id), 1)], address=typed_address)

    async with sessionmaker() as session:
        row = (
            await session.execute(
                select(CustomerRow).where(
                    CustomerRow.tenant_id == shop.tenant_id, CustomerRow.phone_e164 == f"+{digits}"
                )
            )
        ).scalar_one()
        conversation = (
            await session.execute(select(Conversation).where(Conversation.customer_id == row.id))
        ).scalar_one()
    ref = ConversationRef(
        tenant_id=shop.tenant_id,
        customer_id=row.id,
        conversation_id=conversation.id,
        channel="whatsapp",
    )
    # Every run of the shop (the cart-recovery run may be there too); visibility lags a bit.
    for _ in range(100):
        workflow_ids = sorted(
            [w.id async for w in codec_client.list_workflows(f"TenantId = '{shop.tenant_id}'")]
        )
        if {"checkout", "conversation"} <= {i.split(":")[0] for i in workflow_ids}:
            break
        await asyncio.sleep(0.1)
    assert {"checkout", "conversation"} <= {i.split(":")[0] for i in workflow_ids}
    assert conversation.workflow_id in workflow_ids

    # A client without the codec, as the Temporal server, its database and its UI see it.
    plain_client = await Client.connect(
        codec_client.service_client.config.target_host,
        namespace=codec_client.namespace,
        data_converter=pydantic_data_converter,
    )
    key_id = expected_key_id(SECRET_KEY).encode()
    raw = {wid: await history_of(plain_client, wid) for wid in workflow_ids}
    for wid, history in raw.items():
        # The bytes the server stores (``to_json()`` would show payload data as base64, where
        # a plain-text phone number or address could never be found).
        stored = b"".join(event.SerializeToString() for event in history.events)
        assert digits[1:].encode() not in stored, wid
        assert b"Elm" not in stored, wid
    for wid, history in raw.items():
        encrypted = 0
        for event in history.events:
            for path, payload in payloads_in(event):
                if READABLE_FIELDS & set(path):
                    assert payload.metadata["encoding"] == b"json/plain", (wid, path)
                    continue
                if "marker_recorded_event_attributes" in path:
                    # ``workflow.patched()`` markers are written by the SDK core, outside the
                    # data converter; they hold a patch id (a name in our code) only.
                    assert event.marker_recorded_event_attributes.marker_name == "core_patch"
                    assert json.loads(payload.data).keys() == {"id", "deprecated"}
                    continue
                assert dict(payload.metadata) == {
                    "encoding": b"binary/encrypted",
                    "encryption-key-id": key_id,
                }, (wid, path)
                encrypted += 1
        assert encrypted > 0, wid  # at least the workflow input
    # What stays readable: the search attributes, ids only.
    searchable = [
        p.data
        for event in raw[conversation.workflow_id].events
        for path, p in payloads_in(event)
        if READABLE_FIELDS & set(path)
    ]
    assert f'"{row.id}"'.encode() in searchable
    assert f'"{shop.tenant_id}"'.encode() in searchable
    # The plain client cannot read a workflow input at all.
    started = raw[conversation.workflow_id].events[0]
    assert started.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
    (encrypted_input,) = started.workflow_execution_started_event_attributes.input.payloads
    with pytest.raises(KeyError, match="Unknown payload encoding binary/encrypted"):
        await plain_client.data_converter.decode([encrypted_input], [ConversationInput])

    # With the codec the same stored bytes give back the originals.
    codec = codec_client.data_converter
    (conversation_input,) = await codec.decode([encrypted_input], [ConversationInput])
    assert conversation_input == ConversationInput(
        conversation=ref,
        idle_close_s=stack.settings.conversation_idle_close_s,
        turns_per_run=stack.settings.conversation_turns_per_run,
    )

    payload_codec = codec.payload_codec
    assert payload_codec is not None
    decoded: dict[str, list[bytes]] = {}
    address_signals = []
    for wid, history in raw.items():
        payloads = [p for event in history.events for _, p in payloads_in(event)]
        decoded[wid] = [p.data for p in await payload_codec.decode(payloads)]
        for event in history.events:
            if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                continue
            attributes = event.workflow_execution_signaled_event_attributes
            for value in await payload_codec.decode(list(attributes.input.payloads)):
                if ADDRESS.encode() in value.data:
                    address_signals.append((wid, attributes.signal_name, value.data))
    # The address is carried exactly once as a signal: the conversation passing the
    # customer's answer, phone number included, to the checkout.
    ((signal_wid, signal_name, signal_value),) = address_signals
    assert signal_wid.startswith("checkout:") and signal_name == "provide"
    assert CheckoutChoice.model_validate_json(signal_value) == CheckoutChoice.model_validate(
        {"step": "address", "address": {"text": typed_address}}
    )
    assert any(typed_address.encode() in data for data in decoded[signal_wid])
    assert any(typed_address.encode() in data for data in decoded[conversation.workflow_id])
    # Otherwise workflows carry ids: the phone number is only where the typed address is.
    for wid, datas in decoded.items():
        for data in datas:
            assert digits[1:].encode() not in data or ADDRESS.encode() in data, (wid, data)
    for wid in (conversation.workflow_id, signal_wid):
        assert any(str(row.id).encode() in data for data in decoded[wid]), wid
