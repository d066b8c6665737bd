"""``disentkit train`` and ``disentkit evaluate``.

    disentkit train beta_vae --dataset dsprites --steps 2000 --seed 0 --out runs/bvae --set beta=4
    disentkit train beta_vae --dataset dsprites --steps 2000 --seed 0 --out runs/bvae --resume
    disentkit evaluate runs/bvae --metrics mig dci --preset fast
"""

from __future__ import annotations

import argparse
from typing import Any


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
        "evaluate", help="score a trained run with disentanglement metrics",
        description="Score a run directory on its own dataset; writes RUN_DIR/metrics.json.",
    )
    e.add_argument("run_dir", help="a run directory written by `disentkit train`")
    e.add_argument("--metrics", nargs="+", default=None, help="metric names (default: all)")
    e.add_argument("--preset", choices=("fast", "reference"), default="reference", help="sample-size preset")
    e.add_argument("--seed", type=int, default=0, help="evaluation seed (default 0)")
    e.add_argument("--device", default="cpu", help="where the encoder runs (default cpu)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_evaluate_command)


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


def _train_command(args: argparse.Namespace) -> int:
    from disentkit.train.trainer import train

    config = config_from_args(args)  # every error is raised here, before any work
    run_dir = train(config, args.out, resume=args.resume, progress=not args.quiet)
    print(run_dir)
    return 0


def _evaluate_command(args: argparse.Namespace) -> int:
    from disentkit.train.evaluate import evaluate_run

    path = evaluate_run(args.run_dir, metrics=args.metrics, preset=args.preset, seed=args.seed,
                        device=args.device, progress=not args.quiet)
    print(path)
    return 0

