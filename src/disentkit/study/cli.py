"""``disentkit study``: plan, run, status and report."""

from __future__ import annotations

import argparse
from pathlib import Path


def _plan(args: argparse.Namespace) -> int:
    from disentkit.study.spec import StudySpec

    spec = StudySpec.load(args.study)
    runs = spec.runs(args.only)
    keys = ["method", "dataset", "seed", "steps"]
    varying = [k for k in spec.swept_keys() if k not in keys]
    columns = ["run_id", *keys, *varying]
    rows = [[r.run_id] + [str(r.flat().get(k, "")) for k in columns[1:]] for r in runs]
    widths = [max(len(c.replace("method_params.", "")), *(len(row[i]) for row in rows)) for i, c in enumerate(columns)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    print(fmt.format(*(c.replace("method_params.", "") for c in columns)))
    for row in rows[: args.limit] if args.limit else rows:
        print(fmt.format(*row))
    if args.limit and len(rows) > args.limit:
        print(f"... ({len(rows) - args.limit} more)")
    print(f"{len(runs)} run(s) in study {spec.name!r}")
    return 0


def _run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from disentkit.study.runner import run_study
    from disentkit.study.spec import StudySpec

    spec = StudySpec.load(args.study)
    out = Path(args.out or Path("studies") / spec.name)
    with warnings.catch_warnings():  # a study step that fails is printed once below, as an error
        warnings.filterwarnings("ignore", message="could not write ", category=RuntimeWarning)
        result = run_study(spec, out, only=args.only, executor=args.executor, workers=args.workers,
                           address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                           report=not args.no_report)
    held = result.held
    print(f"study {spec.name!r}: {result.planned} run(s), {result.skipped} already done, "
          f"{result.executed} executed, {len(result.failed)} failed"
          + (f", {len(held)} held by another process" if held else "") + f" ({result.seconds:.1f} s)")
    for run_id in result.failed:
        from disentkit.study.records import read_status, run_dir

        print(f"  failed {run_id}: {result.errors.get(run_id) or read_status(run_dir(out, run_id)).get('error')}")
    for run_id in held:
        print(f"  held {run_id}: by {result.holders.get(run_id, 'another process')}")
    problems = result.problems
    for line in problems:
        print(f"disentkit: error: {line}", file=sys.stderr)
    store = out / "results.duckdb"
    if store.exists() and not any(str(store) in line for line in problems):
        print(f"results: {store}")
    if result.report:
        print(f"report:  {result.report}")
    return 1 if result.failed or problems else 0


def _study_folder(path: str) -> Path:
    """``path`` when it is a folder; a one-line error naming it otherwise."""
    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"study folder {folder} does not exist")
    if not folder.is_dir():
        raise ValueError(f"study folder {folder} is a file, not a folder")
    return folder


def _status(args: argparse.Namespace) -> int:
    from disentkit.study.store import status_counts

    counts = status_counts(_study_folder(args.dir))
    print("  ".join(f"{k}: {v}" for k, v in counts.items()) + f"  (total {sum(counts.values())})")
    return 0


def _report(args: argparse.Namespace) -> int:
    from disentkit.study.locks import study_lock
    from disentkit.study.report import write_report
    from disentkit.study.store import write_store

    folder = _study_folder(args.dir)
    with study_lock(folder):  # one writer of the database and report at a time (as study run)
        write_store(folder)
        print(f"report: {write_report(folder)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``disentkit study plan|run|status|report``."""
    study = subparsers.add_parser("study", help="declarative studies: plan, run, status, report")
    sub = study.add_subparsers(dest="study_command", metavar="SUBCOMMAND", required=True)
    only_help = "keep runs whose KEY matches: KEY=VALUE, KEY=A,B or KEY=LO..HI (repeatable)"

    p = sub.add_parser("plan", help="list the runs of a study")
    p.add_argument("study", help="a built-in study name or a YAML file")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUES", help=only_help)
    p.add_argument("--limit", type=int, default=0, help="print at most this many runs")
    p.set_defaults(func=_plan)

    p = sub.add_parser("run", help="run a study (skips finished runs, retries failed ones)")
    p.add_argument("study", help="a built-in study name or a YAML file")
    p.add_argument("--out", default=None, help="study folder (default studies/NAME)")
    p.add_argument("--only", action="append", default=[], metavar="KEY=VALUES", help=only_help)
    p.add_argument("--executor", default="local", choices=["local", "ray"], help="where runs execute")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--address", default=None, help="Ray cluster address (default: a local Ray instance)")
    p.add_argument("--cpus-per-run", type=float, default=1, help="Ray CPUs per run (default 1)")
    p.add_argument("--gpus-per-run", type=float, default=0, help="Ray GPUs per run (default 0)")
    p.add_argument("--no-report", action="store_true", help="skip writing report.html")
    p.set_defaults(func=_run)

    p = sub.add_parser("status", help="counts of runs by state")
    p.add_argument("dir", help="a study folder")
    p.set_defaults(func=_status)

    p = sub.add_parser("report", help="rebuild results.duckdb and write report.html")
    p.add_argument("dir", help="a study folder")
    p.set_defaults(func=_report)
