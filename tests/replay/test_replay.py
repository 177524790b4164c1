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
    assert {f.name for f in FILES} >= {
        "conversation-order-flow.json",
        "checkout-order-flow.json",
    }


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
