"""``disentkit quickstart``: the README's main job.

Renders a factor sheet of every procedural dataset and prints the dataset table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def run_quickstart(out: str | Path = "quickstart") -> Path:
    """Write one factor sheet per procedural dataset under ``out`` and print the dataset table."""
    from disentkit.data import entry, get, names
    from disentkit.data.cli import _list
    from disentkit.viz.grid import save_png
    from disentkit.viz.sheets import factor_sweep_sheet

    out = Path(out)
    _list(argparse.Namespace())
    print()
    for name in names():
        if entry(name).factory is None or name == "dummy":
            continue
        start = time.perf_counter()
        sheet = factor_sweep_sheet(get(name), rng=0, scale=2)
        path = save_png(sheet, out / "datasets" / f"{name}.png")
        print(f"  {name:<18} {path}  ({time.perf_counter() - start:.2f} s)")
    return out


def _main(args: argparse.Namespace) -> int:
    out = run_quickstart(args.out)
    print(f"\nquickstart done: dataset sheets in {out / 'datasets'}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``disentkit quickstart``."""
    p = subparsers.add_parser("quickstart", help="the README's main job")
    p.add_argument("--out", default="quickstart", help="output folder (default ./quickstart)")
    p.set_defaults(func=_main)
