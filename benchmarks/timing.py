"""Timing helpers shared by the benchmark scripts (run them from the repository root, so that
``import timing`` finds this file next to the script).

- :func:`cpu_model`: the CPU a number came from;
- :func:`loop_rate`: images per second of a hand-written step function, by wall clock and by the
  process's CPU time (which a busy shared machine inflates less: time spent waiting for a core
  is not counted);
- :func:`trainer_config_rate`: the same two rates of ``disentkit.train.train`` over the second half of a
  run, read from its log (``images_per_s``, ``images_per_cpu_s``).
"""

from __future__ import annotations

import json
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, NamedTuple

from disentkit.train import TrainConfig, train


class Rate(NamedTuple):
    """Images per wall-clock second and per second of process CPU time."""

    wall: float
    cpu: float


def cpu_model() -> str:
    """The CPU's model name from ``lscpu`` (or ``platform.processor()``)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def loop_rate(step: Callable[[], None], images_per_step: int, steps: int, warmup: int = 2) -> Rate:
    """The rates of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    n = images_per_step * steps
    return Rate(n / (time.perf_counter() - wall), n / (time.process_time() - cpu))


def trainer_config_rate(config: TrainConfig) -> Rate:
    """The rates of ``train(config)`` in its last log interval (set ``log_every`` to half the steps to
    time the second half, after the start-up and the first steps)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = train(config, Path(tmp) / "run", progress=False)
        records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    last = [r for r in records if "event" not in r][-1]
    return Rate(last["images_per_s"], last["images_per_cpu_s"])
