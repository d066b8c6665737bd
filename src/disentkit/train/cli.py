"""``disentkit train`` and ``disentkit evaluate``.

    disentkit train beta_vae --dataset dsprites --steps 2000 --seed 0 --out runs/bvae --set beta=4
    disentkit train beta_vae --dataset dsprites --steps 2000 --seed 0 --out runs/bvae --resume
    disentkit evaluate runs/bvae --metrics mig dci --preset fast
    disentkit evaluate --representation mypkg.encoders:build --dataset dsprites --preset fast --out scores/
    disentkit evaluate --representation encoder.pt --dataset shapes3d --metrics med linear_probe --out scores/ \
        --set num_train=5000 --set med.topk=2
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from typing import Any, Iterator


def register(subparsers: Any) -> None:
    """Add the ``train`` and ``evaluate`` commands to the ``disentkit`` parser."""
    p = subparsers.add_parser(
        "train", help="train a method on a dataset",
        description="Train a method; checkpoints every --checkpoint-every steps, --resume continues exactly.",
    )
    p.add_argument("method", help="method registry name (disentkit.methods.names())")
    p.add_argument("--dataset", required=True, help="dataset registry name")
    p.add_argument("--steps", type=int, required=True, help="optimisation steps")
    p.add_argument("--seed", type=int, default=None, help="run seed (default 0)")
    p.add_argument("--out", required=True, help="the run directory")
    p.add_argument("--batch-size", type=int, default=None, help="images per step (default 64)")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints (default 1000)")
    p.add_argument("--log-every", type=int, default=None, help="steps between log records (default 100)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:N, mps")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="a config value or method parameter: beta=4, method_params.beta=4, "
                        "dataset_params.NAME=V, precision=bf16 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--no-images", action="store_true", help="skip the final traversal/reconstruction pictures")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train_command)

    e = subparsers.add_parser(
        "evaluate", help="score a trained run, or your own encoder, with disentanglement metrics",
        description="Score a run directory on its own dataset (writes RUN_DIR/metrics.json), or your own encoder "
                    "on a registered dataset without a run folder: --representation package.module:callable "
                    "(a representation images -> codes, a zero-argument factory returning one, or an nn.Module "
                    "with represent) or --representation model.pt (TorchScript; its represent, else forward), "
                    "--dataset NAME --out DIR (writes DIR/metrics.json and DIR/report.html).",
    )
    e.add_argument("run_dir", nargs="?", default=None, help="a run directory written by `disentkit train`")
    e.add_argument("--representation", default=None, metavar="MODULE:CALLABLE|FILE.pt",
                   help="your encoder: package.module:callable (importable, e.g. on PYTHONPATH) or a TorchScript file")
    e.add_argument("--dataset", default=None, help="dataset registry name (with --representation)")
    e.add_argument("--out", default=None, help="output folder for metrics.json and report.html (with --representation)")
    e.add_argument("--metrics", nargs="+", default=None, help="metric names (default: all)")
    e.add_argument("--preset", choices=("fast", "reference"), default="reference", help="sample-size preset")
    e.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    e.add_argument("--device", default=None,
                   help="where the encoder runs (a run: default cpu; --representation: default the module's device)")
    e.add_argument("--batch-size", type=int, default=256, help="images per encoder call (default 256)")
    e.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE",
                   help="a metric setting: num_train=200 (every selected metric that takes it), med.topk=2 "
                        "(one metric), dataset_params.NAME=V (--representation only); repeatable")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_evaluate_command)


def evaluation_settings(assignments: list[str], metric_names: Any) -> tuple[dict[str, Any], dict[str, dict[str, Any]],
                                                                            dict[str, Any]]:
    """``--set`` assignments of ``evaluate`` as ``(flat, per_metric, dataset_params)``.

    ``KEY=VALUE``: a flat setting for every selected metric that takes ``KEY``;
    ``METRIC.KEY=VALUE`` (``METRIC`` in ``metric_names``): that metric's setting;
    ``dataset_params.NAME=VALUE``: a dataset parameter. Values are parsed by
    :func:`disentkit.io.parse_yaml_value` (``200`` -> int, ``[10, 100]`` -> list, ``true`` -> bool).
    Unknown keys are reported by :func:`disentkit.metrics.resolve_settings`.
    """
    from disentkit.io import parse_yaml_value

    flat: dict[str, Any] = {}
    per_metric: dict[str, dict[str, Any]] = {}
    dataset_params: dict[str, Any] = {}
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        value = parse_yaml_value(raw)
        group, dot, sub = key.partition(".")
        if not dot:
            flat[key] = value
        elif group == "dataset_params" and sub:
            dataset_params[sub] = value
        elif group in metric_names and sub:
            per_metric.setdefault(group, {})[sub] = value
        else:
            raise ValueError(f"unknown --set key {key!r}; dotted keys are METRIC.NAME (METRIC one of "
                             f"{', '.join(metric_names)}) or dataset_params.NAME")
    return flat, per_metric, dataset_params


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated :class:`~disentkit.train.config.TrainConfig` of parsed ``train`` arguments."""
    from disentkit.train.config import TrainConfig

    data: dict[str, Any] = {"method": args.method, "dataset": args.dataset, "steps": args.steps}
    for flag, key in (("seed", "seed"), ("batch_size", "batch_size"), ("checkpoint_every", "checkpoint_every"),
                      ("log_every", "log_every"), ("device", "device"), ("threads", "num_threads")):
        value = getattr(args, flag)
        if value is not None:
            data[key] = value
    if args.no_images:
        data["images"] = False
    config = TrainConfig.from_dict(data)
    return config.set_values(args.assignments) if args.assignments else config


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Print warnings raised in the block as ``disentkit: warning: MESSAGE`` lines on stderr."""
    def show(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        print(f"disentkit: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def os_error_message(err: OSError) -> str:
    """One line for a failed file operation: what failed (``strerror``) and the path(s)."""
    paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
    return f"{err.strerror or err}: {paths}" if paths else f"{err.strerror or err}"


def _train_command(args: argparse.Namespace) -> int:
    from disentkit.train.trainer import train

    config = config_from_args(args)  # every error is raised here, before any work
    with _one_line_warnings():
        try:
            run_dir = train(config, args.out, resume=args.resume, progress=not args.quiet)
        except OSError as err:  # no space left, permission denied, ...: one line naming the path
            raise ValueError(f"training into {args.out} failed: {os_error_message(err)}") from err
    print(run_dir)
    return 0


def _evaluate_command(args: argparse.Namespace) -> int:
    from disentkit.metrics import METRICS

    flat, per_metric, dataset_params = evaluation_settings(args.assignments, list(METRICS))
    own = {"--representation": args.representation, "--dataset": args.dataset, "--out": args.out}
    if args.run_dir is not None:
        given = [flag for flag, value in own.items() if value is not None]
        if given or dataset_params:
            extra = ", ".join(given + (["--set dataset_params.*"] if dataset_params else []))
            raise ValueError(f"a run directory is scored on its own dataset into itself; drop {extra} "
                             "(or drop RUN_DIR to score --representation)")
        from disentkit.train.evaluate import evaluate_run

        path = evaluate_run(args.run_dir, metrics=args.metrics, preset=args.preset, seed=args.seed,
                            device=args.device or "cpu", progress=not args.quiet, settings=per_metric,
                            encode_batch_size=args.batch_size, **flat)
        print(path)
        return 0
    missing = [flag for flag, value in own.items() if value is None]
    if missing:
        raise ValueError("evaluate needs RUN_DIR, or --representation, --dataset and --out "
                         f"(missing: {', '.join(missing)})")
    from disentkit.train.evaluate import METRICS_FILE, REPORT_FILE, evaluate_representation

    out = evaluate_representation(args.representation, args.dataset, args.out, metrics=args.metrics,
                                  preset=args.preset, seed=args.seed, device=args.device, progress=not args.quiet,
                                  settings=per_metric, dataset_params=dataset_params,
                                  encode_batch_size=args.batch_size, **flat)
    print(out / METRICS_FILE)
    print(out / REPORT_FILE)
    return 0
