"""The ``disentkit`` command.

Each command group lives next to the code it drives and exposes ``register(subparsers)``; this
module only assembles them, so ``disentkit --help`` imports nothing heavy.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from typing import Sequence

# command-group modules, each with register(subparsers) -> None
_COMMAND_MODULES = (
    "disentkit.data.cli",
    "disentkit.train.cli",
    "disentkit.metrics.cli",
    "disentkit.study.cli",
    "disentkit.quickstart",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command group."""
    from disentkit import __version__

    parser = argparse.ArgumentParser(
        prog="disentkit",
        description="Datasets, methods, metrics and studies for disentangled representation learning.",
    )
    parser.add_argument("--version", action="version", version=f"disentkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:  # a command group not built yet
            if err.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            result = args.func(args)
        except (ValueError, OSError) as err:  # OSError: a file that cannot be read or written (a full disk)
            print(f"disentkit: error: {_one_line(err)}", file=sys.stderr)
            return 2
    return int(result or 0)


def _one_line(err: BaseException) -> str:
    """The message of an error on one line (a YAML or DuckDB message may span several)."""
    return " ".join(part.strip() for part in str(err).splitlines() if part.strip())


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Print a warning as one line, ``disentkit: warning: ...`` (no source line)."""
    print(f"disentkit: warning: {_one_line(message)}", file=sys.stderr if file is None else file)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
