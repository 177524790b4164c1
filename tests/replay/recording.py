"""Record workflow histories for the replay tests (opt-in: TENDERO_RECORD_HISTORIES=1).

Recorded histories are committed under ``tests/replay/histories/`` and replayed by
``test_replay.py`` on every run, so a change to a workflow that breaks running histories
fails the suite unless it goes behind ``workflow.patched()``.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

from temporalio.client import WorkflowHistory

HISTORIES = Path(__file__).parent / "histories"


async def record_history(
    workflow_id: str, history: WorkflowHistory, flow: str = "order-flow"
) -> None:
    if not os.environ.get("TENDERO_RECORD_HISTORIES"):
        return
    kind = workflow_id.split(":", 1)[0]
    name = re.sub(r"[^a-z0-9]+", "-", f"{kind}-{flow}").strip("-")
    (HISTORIES / f"{name}.json").write_text(history.to_json())


def patch_ids(raw: str) -> set[str]:
    """The ``workflow.patched()`` ids whose markers a history (JSON) recorded."""
    found: set[str] = set()
    for event in json.loads(raw)["events"]:
        marker = event.get("markerRecordedEventAttributes")
        if not marker or marker.get("markerName") != "core_patch":
            continue
        for payload in marker["details"]["patch-data"]["payloads"]:
            found.add(json.loads(base64.b64decode(payload["data"]))["id"])
    return found
