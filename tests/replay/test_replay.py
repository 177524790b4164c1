"""Replay recorded histories against the current workflow code (determinism guard)."""

from __future__ import annotations

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from tests.codec import codec_converter
from tests.replay.recording import HISTORIES, patch_ids
from workflows.checkout import CheckoutWorkflow
from workflows.conversation import ConversationWorkflow

FILES = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    # *-order-flow: recorded before the assistant existed (guided turns, no patch marker);
    # *-assistant-*: recorded with the assistant (model rounds, tool activities, hand-off);
    # *-burst-merge: three rapid texts answered as one turn (debounce timers, patch marker);
    # *-throttle-notice: a flood of taps, the first throttled one answered with a notice.
    assert {f.name for f in FILES} >= {
        "conversation-burst-merge.json",
        "conversation-throttle-notice.json",
        "conversation-order-flow.json",
        "checkout-order-flow.json",
        "conversation-assistant-order.json",
        "checkout-assistant-order.json",
        "conversation-assistant-handoff.json",
    }


def test_pre_assistant_history_has_no_patch_marker() -> None:
    raw = (HISTORIES / "conversation-order-flow.json").read_text()
    assert "llm-assistant" not in raw
    assert "agent_model_step" not in raw


def test_assistant_histories_took_the_patched_path() -> None:
    raw = (HISTORIES / "conversation-assistant-order.json").read_text()
    assert "agent_model_step" in raw and "tool.create_ecommerce_order" in raw
    assert "MarkerRecorded" in raw or "markerRecorded" in raw


def test_only_the_burst_history_took_the_burst_path() -> None:
    # The older histories replay down the unpatched path: one text, one turn.
    for path in FILES:
        merged = "burst-merge" in patch_ids(path.read_text())
        assert merged is (path.name == "conversation-burst-merge.json"), path.name
    assert patch_ids((HISTORIES / "conversation-burst-merge.json").read_text()) == {
        "burst-merge",
        "llm-assistant",
    }


def test_only_the_throttle_history_took_the_throttle_path() -> None:
    for path in FILES:
        throttled = "inbound-throttle" in patch_ids(path.read_text())
        assert throttled is (path.name == "conversation-throttle-notice.json"), path.name


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
async def test_replay(path) -> None:
    raw = path.read_text()
    workflow_id = json.loads(raw)["events"][0]["workflowExecutionStartedEventAttributes"].get(
        "workflowId", path.stem
    )
    # The product's converter (with the codec): these histories were recorded before payloads
    # were encrypted, so this also proves that unencrypted payloads still decode.
    replayer = Replayer(
        workflows=[ConversationWorkflow, CheckoutWorkflow], data_converter=codec_converter()
    )
    result = await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, raw))
    assert result.replay_failure is None
