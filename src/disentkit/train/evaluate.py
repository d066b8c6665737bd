"""Score a finished run directory with :func:`disentkit.metrics.evaluate` (``metrics.json``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from disentkit.train import checkpoint as ckpt
from disentkit.train.trainer import build_dataset, load_config, load_run

METRICS_FILE = "metrics.json"


def evaluate_run(run_dir: str | os.PathLike, *, metrics: Sequence[str] | str | None = None, preset: str = "reference",
                 seed: int = 0, device: str = "cpu", progress: bool = True, **settings: Any) -> Path:
    """Score the run's mean representation on the run's own dataset; writes ``RUN_DIR/metrics.json``.

    The file is what :func:`disentkit.metrics.evaluate` returns, ``{metric: {"values", "settings",
    "seconds"}}`` (the format study runs write too); an existing file is replaced. The run's
    config (method, dataset, seed, steps) is in ``config.json`` beside it.
    """
    from disentkit.metrics import evaluate

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    model = load_run(run_dir, device=device)
    dataset = build_dataset(config)
    results = evaluate(dataset, model, metrics="all" if metrics is None else metrics, seed=seed, preset=preset,
                       progress=progress, **settings)
    return ckpt.write_json(results, run_dir / METRICS_FILE)
