"""Do the self-supervised methods learn on shapes3d without collapsing?

Each SSL method is trained for the same number of steps (``--steps`` at batch ``--batch-size``,
two augmented views per image, the dataset's default augmentations, CPU-sized heads, one thread
per run, ``--jobs`` runs at once) and its backbone feature (the representation, 256-D for the conv
trunk) is scored on fresh shapes3d samples with ``disentkit.metrics.evaluate`` (fast preset):

- **collapse**: the per-dimension std of the features over the train split (min, median, and the
  share of dimensions with std > 1e-3 times the median), and the normalised-embedding std that the
  trainer logs (``embedding_std``, 1/sqrt(D) when spread out, 0 when collapsed);
- **linear probe** per factor (test accuracy) against the trivial baseline (the test split's
  majority class), and kNN accuracy;
- **MED** and top-1 MED.

The same scores for the **untrained** network of each method (its initial weights: a random conv
trunk is a strong baseline for linear probes) separate what training added.

    .venv/bin/python benchmarks/ssl_learning_check.py --steps 600 --jobs 2 --out /tmp/ssl_check
    .venv/bin/python benchmarks/ssl_learning_check.py --steps 20 --methods byol --out /tmp/ssl_smoke
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

PARAMS: dict[str, dict[str, Any]] = {
    "byol": {"projector_hidden": 512, "projector_out": 128, "predictor_hidden": 512},
    "simsiam": {"projector_hidden": 512, "projector_out": 512, "predictor_hidden": 128},
    "barlow_twins": {"projector_hidden": 512, "projector_out": 512},
    "vicreg": {"projector_hidden": 512, "projector_out": 512},
    "cmc": {},
    "dim": {},
}
METRICS = ["linear_probe", "knn", "med"]


def score(method: Any, seed: int) -> dict[str, Any]:
    """Collapse statistics and the metrics of ``method`` on shapes3d (fast preset)."""
    import numpy as np

    from disentkit import data
    from disentkit.metrics import evaluate

    kept: dict[str, Any] = {}
    results = evaluate(data.get("shapes3d"), method, METRICS, seed=seed, preset="fast", progress=False,
                       on_splits=kept.update)
    codes = kept["train"][0]
    std = codes.std(0)
    median = float(np.median(std))
    out = {"feature_std_min": float(std.min()), "feature_std_median": median,
           "active_share": float((std > 1e-3 * max(median, 1e-12)).mean()), "code_size": int(codes.shape[1])}
    for name, record in results.items():
        out.update({f"{name}.{k}": v for k, v in record["values"].items()})
    return out


def one_run(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """Train ``name`` for ``args["steps"]`` steps (one thread) and score it and its initial weights."""
    import torch

    torch.set_num_threads(1)
    from disentkit import methods
    from disentkit.train import TrainConfig, load_run, train

    cfg = TrainConfig(method=name, method_params=PARAMS[name], dataset="shapes3d", steps=args["steps"],
                      batch_size=args["batch_size"], seed=args["seed"], num_threads=1, images=False,
                      log_every=max(1, args["steps"] // 10), checkpoint_every=args["steps"])
    run = Path(args["out"]) / name
    start = time.perf_counter()
    train(cfg, run, resume=True, progress=False)
    seconds = time.perf_counter() - start
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    log = [r for r in log if "event" not in r]
    untrained = methods.get(name, (3, 64, 64), seed=args["seed"], **PARAMS[name]).eval()
    return {"method": name, "train_seconds": seconds, "first_loss": log[0]["loss"], "last_loss": log[-1]["loss"],
            "embedding_std": log[-1].get("embedding_std"), "trained": score(load_run(run), args["seed"]),
            "untrained": score(untrained, args["seed"])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--methods", nargs="+", default=None)
    parser.add_argument("--out", default="ssl_learning_check")
    args = parser.parse_args(argv)
    from disentkit import methods as registry

    names = args.methods or [n for n in PARAMS if n in registry.names()]
    os.environ["OMP_NUM_THREADS"] = "1"
    Path(args.out).mkdir(parents=True, exist_ok=True)
    settings = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "out": args.out}
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(one_run, names, [settings] * len(names)))
    (Path(args.out) / "ssl_learning_check.json").write_text(json.dumps(rows, indent=2))
    factors = sorted({k.split(":", 1)[1] for r in rows for k in r["trained"] if k.startswith("linear_probe.test_accuracy:")})
    print(f"shapes3d, {args.steps} steps at batch {args.batch_size} (x2 views), seed {args.seed}")
    print(f"{'method':13s} {'s':>5s} {'loss first>last':>17s} {'emb std':>8s} {'std min/med':>13s} "
          f"{'active':>6s} {'probe (untrained, majority)':>28s} {'knn':>5s} {'MED':>5s} {'top1':>5s} {'(untrained)':>11s}")
    for r in rows:
        t, u = r["trained"], r["untrained"]
        print(f"{r['method']:13s} {r['train_seconds']:5.0f} {r['first_loss']:8.3f}>{r['last_loss']:8.3f} "
              f"{r['embedding_std'] or float('nan'):8.4f} {t['feature_std_min']:6.3f}/{t['feature_std_median']:6.3f} "
              f"{t['active_share']:6.2f} {t['linear_probe.test_accuracy']:8.3f} ({u['linear_probe.test_accuracy']:.3f}, "
              f"{t['linear_probe.baseline_accuracy']:.3f})      {t['knn.test_accuracy']:5.3f} "
              f"{t['med.disentanglement']:5.3f} {t['med.top1_disentanglement']:5.3f} "
              f"({u['med.disentanglement']:.3f}/{u['med.top1_disentanglement']:.3f})")
    print("per-factor probe test accuracy (trained / untrained / majority baseline):")
    for r in rows:
        t, u = r["trained"], r["untrained"]
        print(f"  {r['method']}: " + ", ".join(
            f"{f} {t['linear_probe.test_accuracy:' + f]:.2f}/{u['linear_probe.test_accuracy:' + f]:.2f}/"
            f"{t['linear_probe.baseline_accuracy:' + f]:.2f}" for f in factors))


if __name__ == "__main__":
    main()
