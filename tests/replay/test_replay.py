"""Replay recorded histories against the current workflow code (determinism guard)."""

from __future__ import annotations

import json

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.replay.recording import HISTORIES
from workflows.checkout import CheckoutWorkflow
from workflows.conversation import ConversationWorkflow

FILES = sorted(HISTORIES.glob("*.json"))


def test_histories_are_recorded() -> None:
    # *-order-flow: recorded before the assistant existed (guided turns, no patch marker);
    # *-assistant-*: recorded with the assistant (model rounds, tool activities, hand-off).
    assert {f.name for f in FILES} >= {
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


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
async def test_replay(path) -> None:
    raw = path.read_text()
    workflow_id = json.loads(raw)["events"][0]["workflowExecutionStartedEventAttributes"].get(
        "workflowId", path.stem
    )
    replayer = Replayer(
        workflows=[ConversationWorkflow, CheckoutWorkflow], data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(WorkflowHistory.from_json(workflow_id, raw))
    assert result.replay_failure is None
