"""``disentkit data``: list the datasets, draw a factor sheet of one."""

from __future__ import annotations

import argparse
from typing import Any


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    from disentkit.io import parse_yaml_value

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--param expects KEY=VALUE, got {pair!r}")
        params[key] = parse_yaml_value(value)
    return params


def dataset_rows() -> list[tuple[str, str, str, str]]:
    """(name, factors with sizes, image shape, source) for every registered dataset."""
    from disentkit.data import entry, get, names

    rows = []
    for name in names():
        e = entry(name)
        if e.factory is None:
            rows.append((name, e.factors or "(read from the file)", "C x 64 x 64", "file (path= or $DISENTKIT_DATA)"))
            continue
        data = get(name)
        c, h, w = data.observation_shape
        source = "procedural" + (" | file" if e.loader else "")
        rows.append((name, data.factor_space.describe(), f"{c} x {h} x {w}", source))
    return rows


def print_dataset_table() -> None:
    """Print the table of ``disentkit data list``: one row per registered dataset."""
    rows = dataset_rows()
    header = ("name", "factors (values)", "image", "source")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print(line.format(*("-" * w for w in widths)))
    for row in rows:
        print(line.format(*row))


def _list(args: argparse.Namespace) -> int:
    print_dataset_table()
    return 0


def _show(args: argparse.Namespace) -> int:
    from disentkit.data import get
    from disentkit.viz.grid import save_png
    from disentkit.viz.sheets import factor_sweep_sheet

    params = _parse_params(args.param)
    data = get(args.name, path=args.path, **params) if args.path else get(args.name, **params)
    sheet = factor_sweep_sheet(data, rng=args.seed, max_values=args.max_values, scale=args.scale)
    path = save_png(sheet, args.out)
    print(f"wrote {path} ({sheet.shape[1]}x{sheet.shape[0]}): {data!r}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``disentkit data list|show``."""
    data = subparsers.add_parser("data", help="list datasets, draw factor sheets")
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND", required=True)
    p = sub.add_parser("list", help="a table of the registered datasets")
    p.set_defaults(func=_list)
    p = sub.add_parser("show", help="write a sheet: one row per factor, swept from a fixed base")
    p.add_argument("name", help="a dataset name (see `disentkit data list`)")
    p.add_argument("--out", required=True, help="the PNG file to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the base factors and any noise (default 0)")
    p.add_argument("--max-values", type=int, default=16, help="most values shown per factor (default 16)")
    p.add_argument("--scale", type=int, default=2, help="integer upscaling of each image (default 2)")
    p.add_argument("--path", default=None, help="read the dataset's original file instead of rendering")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a dataset parameter")
    p.set_defaults(func=_show)
