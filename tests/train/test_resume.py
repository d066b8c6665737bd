"""A run killed with SIGKILL between checkpoints resumes to the uninterrupted run's exact weights."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from disentkit.cli import main

ARGS = ["train", "beta_vae", "--dataset", "dsprites", "--steps", "80", "--seed", "5", "--batch-size", "4",
        "--checkpoint-every", "10", "--log-every", "5", "--threads", "1", "--no-images", "--quiet",
        "--set", "beta=4", "--set", "lr=1e-3"]


def _logged_steps(run: Path) -> list[int]:
    path = run / "train_log.jsonl"
    if not path.exists():
        return []
    steps = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "event" not in record:
            steps.append(record["step"])
    return steps


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_between_checkpoints_then_resume_is_bit_identical(tmp_path):
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "disentkit.cli", *ARGS, "--out", str(killed)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # wait for the checkpoint at step 10 and the log record of step 15: the kill lands after 15
        while not (15 in _logged_steps(killed) and (killed / "checkpoints" / "step_00000010").is_dir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the training subprocess made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists()  # it died before the end ...
    checkpoints = sorted(p.name for p in (killed / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert checkpoints and checkpoints[-1] < "step_00000080"  # ... and between checkpoints

    assert main([*ARGS, "--out", str(killed), "--resume"]) == 0
    reference = tmp_path / "reference"
    assert main([*ARGS, "--out", str(reference)]) == 0
    assert (killed / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    # the resumed log holds every interval once (the killed run's records after its checkpoint dropped)
    assert _logged_steps(killed) == _logged_steps(reference) == list(range(5, 81, 5))
    events = [json.loads(line).get("event") for line in (killed / "train_log.jsonl").read_text().splitlines()]
    assert events.count("start") == 1 and events.count("resume") == 1 and events[-1] == "end"
