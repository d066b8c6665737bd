"""``disentkit quickstart``: the README's main job.

Runs the built-in ``quickstart`` study (three methods on dSprites, two seeds, a short budget, fast
metrics) with one worker per core, writes a factor sheet of every procedural dataset beside it,
and prints where the report is. A second call finishes in seconds: finished runs are skipped.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def write_dataset_sheets(out: str | Path) -> list[Path]:
    """One factor sheet per procedural image dataset, ``out/<name>.png`` (1-D signals such as
    ``pulse_signals``, one pixel high, are left out)."""
    from disentkit.data import entry, get, names
    from disentkit.viz.grid import save_png
    from disentkit.viz.sheets import factor_sweep_sheet

    paths = []
    for name in names():
        if entry(name).factory is None or name == "dummy":
            continue
        dataset = get(name)
        if dataset.observation_shape[1] == 1:
            continue
        sheet = factor_sweep_sheet(dataset, rng=0, scale=2)
        paths.append(save_png(sheet, Path(out) / f"{name}.png"))
    return paths


def _main(args: argparse.Namespace) -> int:
    from disentkit.data.cli import print_dataset_table
    from disentkit.study.runner import run_study

    out = Path(args.out)
    print_dataset_table()
    sheets = write_dataset_sheets(out / "datasets")
    print(f"\nwrote {len(sheets)} dataset sheets to {out / 'datasets'}\n")
    workers = args.workers or max(1, min(os.cpu_count() or 1, 6))
    result = run_study("quickstart", out, workers=workers)
    print(f"\nquickstart: {result.planned} runs, {result.skipped} already done, {result.executed} executed, "
          f"{len(result.failed)} failed in {result.seconds:.0f} s")
    print(f"results: {out / 'results.duckdb'}  (disentkit.study.load('{out}') gives a DataFrame)")
    print(f"report:  {result.report}")
    return 1 if result.failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``disentkit quickstart``."""
    p = subparsers.add_parser("quickstart", help="the README's main job: run the quickstart study")
    p.add_argument("--out", default="studies/quickstart", help="study folder (default studies/quickstart)")
    p.add_argument("--workers", type=int, default=0, help="worker processes (default: one per core)")
    p.set_defaults(func=_main)
