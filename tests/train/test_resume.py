"""A run killed with SIGKILL between checkpoints resumes to the uninterrupted run's exact weights."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from _sigkill import logged_records, train_until_killed
from disentkit.cli import main

ARGS = ["train", "beta_vae", "--dataset", "dsprites", "--steps", "80", "--seed", "5", "--batch-size", "4",
        "--checkpoint-every", "10", "--log-every", "5", "--threads", "1", "--no-images", "--quiet",
        "--set", "beta=4", "--set", "lr=1e-3"]


def _logged_steps(run: Path) -> list[int]:
    return [r["step"] for r in logged_records(run)]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_between_checkpoints_then_resume_is_bit_identical(tmp_path):
    killed = tmp_path / "killed"
    # the kill lands after step 15, past the checkpoint at step 10
    train_until_killed(ARGS, killed, after_step=15, checkpoint=10)
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
