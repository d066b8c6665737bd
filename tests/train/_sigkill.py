"""Helpers of the SIGKILL-resume tests: read a run's log, train in a subprocess and kill it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def logged_records(run: Path) -> list[dict]:
    """The interval records of ``run``'s train log (events and a torn last line skipped)."""
    path = run / "train_log.jsonl"
    records = []
    for line in (path.read_text().splitlines() if path.exists() else []):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "event" not in record:
            records.append(record)
    return records


def train_until_killed(args: list[str], out: Path, *, after_step: int, checkpoint: int, timeout: float = 120) -> None:
    """Run ``disentkit <args> --out out`` in a subprocess and SIGKILL it once the log holds step
    ``after_step`` and the checkpoint of step ``checkpoint`` exists; asserts it died by the kill."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "disentkit.cli", *args, "--out", str(out)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + timeout
        while not (any(r["step"] == after_step for r in logged_records(out))
                   and (out / "checkpoints" / f"step_{checkpoint:08d}").is_dir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the training subprocess made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "model.safetensors").exists()
