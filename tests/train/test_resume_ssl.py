"""BYOL (EMA target, warm-up + cosine learning rate, cosine momentum) killed with SIGKILL between
checkpoints and resumed ends with the uninterrupted run's exact weight bytes."""

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

ARGS = ["train", "byol", "--dataset", "shapes3d", "--steps", "60", "--seed", "2", "--batch-size", "4",
        "--checkpoint-every", "10", "--log-every", "5", "--threads", "1", "--no-images", "--quiet",
        "--set", "projector_hidden=64", "--set", "projector_out=32", "--set", "predictor_hidden=64",
        "--set", "warmup_fraction=0.25"]


def _logged(run: Path) -> list[dict]:
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


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_byol_sigkill_then_resume_is_bit_identical(tmp_path, capsys):
    killed = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "disentkit.cli", *ARGS, "--out", str(killed)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        # the kill lands after step 25, past the checkpoint at step 20 and inside the cosine phase
        while not (any(r["step"] == 25 for r in _logged(killed))
                   and (killed / "checkpoints" / "step_00000020").is_dir()):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the training subprocess made no progress"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists()

    assert main([*ARGS, "--out", str(killed), "--resume"]) == 0
    reference = tmp_path / "reference"
    assert main([*ARGS, "--out", str(reference)]) == 0
    assert (killed / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert [r["step"] for r in _logged(killed)] == [r["step"] for r in _logged(reference)] == list(range(5, 61, 5))
    assert [r["loss"] for r in _logged(killed)] == [r["loss"] for r in _logged(reference)]

    # the schedules are laid over the run's length: a resume may not change it
    steps_at = ARGS.index("--steps") + 1
    longer = [*ARGS[:steps_at], "90", *ARGS[steps_at + 1:]]
    assert main([*longer, "--out", str(reference), "--resume"]) != 0
    assert "steps" in capsys.readouterr().err
