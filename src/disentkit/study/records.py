"""Run directories: each run writes its own folder with atomic writes, so workers never collide.

``<study>/runs/<run_id>/`` holds ``run_spec.json`` (the run id and resolved config), ``status.json``
(state, times, error), and what the trainer and the evaluation write (``config.json``, ``run.json``,
checkpoints, ``train_log.jsonl``, ``model.safetensors``, pictures, ``metrics.json``, ``matrices.npz``).
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

from disentkit.io import write_json_atomic
from disentkit.validation import check_choice

STATES = ("pending", "running", "done", "failed")
# the study's record of a run (the trainer owns ``run.json`` and ``config.json`` in the same folder)
SPEC_FILE = "run_spec.json"


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_dir(study_dir: Path, run_id: str) -> Path:
    """The folder of run ``run_id`` in a study folder."""
    return Path(study_dir) / "runs" / run_id


def read_status(folder: Path) -> dict[str, Any]:
    """A run's status record; ``{"state": "pending"}`` when it never started."""
    status = read_json(Path(folder) / "status.json")
    return status if isinstance(status, dict) and status.get("state") in STATES else {"state": "pending"}


def write_status(folder: Path, state: str, **fields: Any) -> dict[str, Any]:
    """Record a run's state (keeping earlier fields such as ``started``)."""
    check_choice("state", state, STATES)
    record = {k: v for k, v in read_status(folder).items() if k not in ("error", "traceback")}
    record.update(state=state, updated=time.time(), host=socket.gethostname(), **fields)
    write_json_atomic(Path(folder) / "status.json", record, sort_keys=True, default=str)
    return record
