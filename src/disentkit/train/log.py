"""The JSONL training log: a header record, then one record per logging interval.

Records (one JSON object per line in ``train_log.jsonl``):

- ``{"event": "start", ...}``: written when a run starts or resumes (step, threads, device, versions);
- ``{"step": s, "<term>": mean, ..., "kl_per_dim": [...], "images_per_s": r, "images_per_cpu_s": c,
  "seconds": t}``: the mean of every scalar loss term over the steps since the previous record, the
  mean per-dimension KL, the throughput of the interval (per wall-clock second, and per second of
  the process's CPU time, which a busy machine inflates less), and the seconds since the run (or
  resume) started.

Terms are accumulated as tensors on the training device and read back only when a record is
written, so logging costs no host synchronisation per step.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch

from disentkit.io import atomic_path


class IntervalLog:
    """Accumulates detached loss terms and writes the interval means to a JSONL file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._terms: dict[str, list[torch.Tensor]] = {}
        self._images = 0
        self._t_interval = time.perf_counter()
        self._t_start = self._t_interval
        self._cpu_interval = time.process_time()

    def write_event(self, record: dict[str, Any]) -> None:
        """Append one record (a JSON object) and flush it to disk."""
        with open(self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def truncate_after(self, step: int) -> None:
        """Drop interval records with ``step`` beyond ``step`` (written by a run killed later)."""
        if not self.path.exists():
            return
        kept = []
        for line in self.path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # empty, or cut short by the kill
                continue
            if "event" in record or record.get("step", 0) <= step:
                kept.append(line)
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(line + "\n" for line in kept))

    def update(self, terms: dict[str, torch.Tensor], images: int) -> None:
        """Add one step's terms (scalars, and ``kl_per_dim`` as a (D,) tensor)."""
        for key, value in terms.items():
            if isinstance(value, torch.Tensor):
                self._terms.setdefault(key, []).append(value.detach())
        self._images += images

    def means(self) -> dict[str, Any]:
        """The interval means: floats for scalar terms, a list for vector terms (``kl_per_dim``)."""
        out: dict[str, Any] = {}
        for key, values in self._terms.items():
            mean = torch.stack([v.float() for v in values]).mean(0).cpu()
            out[key] = mean.item() if mean.ndim == 0 else mean.tolist()
        return out

    def flush(self, step: int) -> dict[str, Any]:
        """Write the record of the interval ending after ``step`` steps; returns it."""
        record: dict[str, Any] = {"step": int(step), **self.means()}
        now = time.perf_counter()
        elapsed = now - self._t_interval
        cpu_now = time.process_time()
        cpu = cpu_now - self._cpu_interval
        record["images_per_s"] = self._images / elapsed if elapsed > 0 else float("nan")
        record["images_per_cpu_s"] = self._images / cpu if cpu > 0 else float("nan")
        record["seconds"] = now - self._t_start
        self.write_event(record)
        self._terms = {}
        self._images = 0
        self._t_interval = now
        self._cpu_interval = cpu_now
        return record

    def state_dict(self) -> dict[str, Any]:
        """The pending (unlogged) terms, stacked per key, for a checkpoint."""
        return {"terms": {k: torch.stack([v.cpu() for v in vs]) for k, vs in self._terms.items()},
                "images": self._images}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore pending terms saved by :meth:`state_dict`."""
        self._terms = {k: list(v.unbind(0)) for k, v in state.get("terms", {}).items()}
        self._images = int(state.get("images", 0))
        self.reset_clock()

    @property
    def elapsed(self) -> float:
        """Seconds since the run (or resume) started."""
        return time.perf_counter() - self._t_start

    def reset_clock(self) -> None:
        """Restart the interval clocks (after start-up work that is not training)."""
        self._t_interval = self._t_start = time.perf_counter()
        self._cpu_interval = time.process_time()
