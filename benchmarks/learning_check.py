"""Do the methods learn? beta-VAE and beta-TCVAE on dsprites: MIG and DCI against training steps.

For each method and seed, one run is trained in segments (``train(..., resume=True)`` with a larger
``steps`` each time: bit-identical to one uninterrupted run) and scored after each segment with
``disentkit.metrics.evaluate(metrics=["mig", "dci"])``. Runs go to ``--out`` (kept, so a repeated
call resumes and re-uses finished segments); the table gives the mean and standard deviation over
seeds at each evaluation step, and ``learning_check.json`` every number.

Reference points (Locatello et al. 2019, dsprites, 300k steps, batch 64): beta-VAE and
beta-TCVAE reach MIG around 0.1-0.3 and DCI disentanglement around 0.2-0.4 at their better
hyperparameters; an untrained encoder scores near 0.

    .venv/bin/python benchmarks/learning_check.py --steps 30000 --evals 6 --seeds 3 --jobs 2
    .venv/bin/python benchmarks/learning_check.py --steps 40 --evals 2 --seeds 1 --batch-size 16 \\
        --preset fast --out /tmp/lc                         # a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

METHODS = {"beta_vae": {"beta": 4.0}, "beta_tc_vae": {"beta": 6.0}}


def eval_points(steps: int, evals: int) -> list[int]:
    """``evals`` evaluation steps, evenly spaced, ending at ``steps``."""
    return sorted({max(1, round(steps * (k + 1) / evals)) for k in range(evals)})


def one_run(method: str, params: dict[str, Any], seed: int, points: list[int], args: dict[str, Any]) -> list[dict]:
    """Train ``method`` with ``seed`` through ``points`` (one thread), scoring after each segment."""
    import torch

    torch.set_num_threads(1)
    import disentkit.data as dd
    from disentkit.metrics import evaluate
    from disentkit.train import TrainConfig, load_run, train

    run_dir = Path(args["out"]) / f"{method}_seed{seed}"
    dataset = dd.get("dsprites")
    rows = []
    for step in points:
        cfg = TrainConfig(method=method, method_params=dict(params), dataset="dsprites", steps=step,
                          batch_size=args["batch_size"], seed=seed, checkpoint_every=args["checkpoint_every"],
                          log_every=max(1, min(100, points[0])), num_threads=1, images=step == points[-1])
        started = time.perf_counter()
        train(cfg, run_dir, resume=(run_dir / "config.json").exists(), progress=False)
        train_s = time.perf_counter() - started
        model = load_run(run_dir)
        scores = evaluate(dataset, model, metrics=["mig", "dci"], seed=0, preset=args["preset"], progress=False)
        rows.append({
            "method": method, "seed": seed, "step": step, "train_seconds": train_s,
            "mig": scores["mig"]["values"]["discrete_mig"],
            "dci_disentanglement": scores["dci"]["values"]["disentanglement"],
            "dci_completeness": scores["dci"]["values"]["completeness"],
            "dci_informativeness_test": scores["dci"]["values"]["informativeness_test"],
        })
    return rows


def summarise(rows: list[dict]) -> str:
    """A text table: mean ± sd over seeds per (method, step)."""
    keys = ("mig", "dci_disentanglement", "dci_completeness", "dci_informativeness_test")
    lines = [f"{'method':<12} {'step':>7} {'seeds':>5} " + " ".join(f"{k:>26}" for k in keys)]
    groups: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["method"], r["step"]), []).append(r)
    for (method, step), rs in sorted(groups.items()):
        cells = []
        for k in keys:
            vals = [r[k] for r in rs]
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cells.append(f"{statistics.mean(vals):>17.3f} ± {sd:<6.3f}")
        lines.append(f"{method:<12} {step:>7} {len(rs):>5} " + " ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Train, score and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30000, help="the step budget of each run")
    parser.add_argument("--evals", type=int, default=6, help="evaluation points (evenly spaced)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--checkpoint-every", type=int, default=5000)
    parser.add_argument("--preset", choices=("fast", "reference"), default="reference")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--jobs", type=int, default=1, help="runs in parallel (one process and thread each)")
    parser.add_argument("--out", default="runs/learning_check")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    points = eval_points(args.steps, args.evals)
    shared = {"out": args.out, "batch_size": args.batch_size, "checkpoint_every": args.checkpoint_every,
              "preset": args.preset}
    tasks = [(m, METHODS[m], s, points, shared) for m in args.methods for s in range(args.seeds)]
    started = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(one_run, *zip(*tasks)))
    else:
        results = [one_run(*t) for t in tasks]
    rows = [r for rs in results for r in rs]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "learning_check.json").write_text(json.dumps(rows, indent=1))
    print(f"dsprites, batch {args.batch_size}, preset {args.preset}, {args.seeds} seed(s), "
          f"{time.perf_counter() - started:.0f} s")
    print(summarise(rows))


if __name__ == "__main__":
    main()
