"""Training throughput of the self-supervised methods: the disentkit trainer against a plain loop.

For each SSL method at batch 64 on shapes3d (3 x 64 x 64), one torch thread, the images/s (two
views per image counted as two images, median over ``--rounds`` interleaved rounds) of

- **trainer**: ``disentkit.train.train`` with the method's default ``views`` sampler (the dataset's
  default augmentations), its default options (channels-last, fp32; rendering, augmentation, the
  NaN check, the EMA update and logging included), read from ``images_per_s`` in its log: each
  round trains ``2 * steps`` steps and times the second half (shapes3d memoises the geometry of
  each of its 480 (scale, shape, orientation) combinations on first use; the first half warms it);
- **plain**: a hand-written PyTorch loop of the same networks (``build_backbone("conv", 3)``,
  ``MLPHead`` projector and predictor of the same sizes, the same loss module, Adam, BYOL's EMA
  update by ``torch._foreach_lerp_``), NCHW, on one fixed tensor whose two views are made by the
  same augmentation pipeline every step (augmentation included, no rendering);

and the augmentation's share of a trainer step (both views of a batch, timed alone). Goals (issue
8): trainer / plain >= 1.0; augmentation < 10 % of a step.

    .venv/bin/python benchmarks/ssl_throughput.py [--rounds 3] [--steps 30] [--methods byol simsiam]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from disentkit import methods  # noqa: E402
from disentkit.data import augment  # noqa: E402
from disentkit.losses import BarlowTwinsLoss, BYOLLoss, SimSiamLoss, VICRegLoss  # noqa: E402
from disentkit.nn import MLPHead, build_backbone  # noqa: E402
from disentkit.train import TrainConfig, train  # noqa: E402

BATCH = 64
# CPU-sized heads (the MED study's CPU part uses the same)
PARAMS = {
    "byol": {"projector_hidden": 512, "projector_out": 128, "predictor_hidden": 512},
    "simsiam": {"projector_hidden": 512, "projector_out": 512, "predictor_hidden": 128},
    "barlow_twins": {"projector_hidden": 512, "projector_out": 512},
    "vicreg": {"projector_hidden": 512, "projector_out": 512},
}


def cpu_model() -> str:
    """The CPU's model name from ``lscpu`` (or ``platform.processor()``)."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def plain_step_fn(name: str, views: augment.MultiView) -> Callable[[], None]:
    """One hand-written training step of method ``name`` on a fixed batch, augmentations included."""
    cfg = methods.config_for(name, PARAMS[name])
    gen = torch.Generator().manual_seed(0)
    backbone = build_backbone("conv", 3, rng=gen)
    projector = MLPHead(backbone.feature_dim, cfg.projector_hidden, cfg.projector_out, cfg.projector_layers,
                        last_batch_norm=cfg.projector_last_batch_norm, rng=gen)
    online = [backbone, projector]
    predictor = None
    if name in ("byol", "simsiam"):
        predictor = MLPHead(cfg.projector_out, cfg.predictor_hidden, cfg.projector_out, rng=gen)
        online.append(predictor)
    targets = [build_backbone("conv", 3, rng=gen), MLPHead(backbone.feature_dim, cfg.projector_hidden,
                                                            cfg.projector_out, rng=gen)] if name == "byol" else []
    for t in targets:
        t.requires_grad_(False)
    params = [p for m in online for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    loss_fn = {"byol": BYOLLoss(), "simsiam": SimSiamLoss(), "barlow_twins": BarlowTwinsLoss(),
               "vicreg": VICRegLoss()}[name]
    images = torch.rand(BATCH, 3, 64, 64, generator=gen)
    rng = np.random.default_rng(0)

    def step() -> None:
        v1, v2 = views.views(images, rng)
        z1, z2 = projector(backbone(v1)), projector(backbone(v2))
        if name == "byol":
            with torch.no_grad():
                t1, t2 = targets[1](targets[0](v1)), targets[1](targets[0](v2))
            loss = loss_fn.symmetric(predictor(z1), predictor(z2), t1, t2)
        elif name == "simsiam":
            loss = loss_fn(predictor(z1), predictor(z2), z1, z2)
        else:
            loss = loss_fn(z1, z2)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if name == "byol":
            with torch.no_grad():
                for target, source in zip(targets, online[:2]):
                    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), 0.01)

    return step


def rate(step: Callable[[], None], steps: int, warmup: int = 2) -> float:
    """Images/s (two views per image) of ``steps`` calls of ``step`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return 2 * BATCH * steps / (time.perf_counter() - t)


def trainer_rate(name: str, steps: int) -> float:
    """Images/s of ``disentkit.train.train`` over steps ``steps+1 .. 2*steps`` (from its log)."""
    cfg = TrainConfig(method=name, method_params=PARAMS[name], dataset="shapes3d", steps=2 * steps,
                      batch_size=BATCH, log_every=steps, checkpoint_every=10**9, num_threads=1, images=False)
    with tempfile.TemporaryDirectory() as tmp:
        run = train(cfg, Path(tmp) / "run", progress=False)
        records = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    return [r for r in records if "event" not in r][-1]["images_per_s"]


def augmentation_seconds(views: augment.MultiView, repeats: int = 7) -> float:
    """Median seconds to make both views of one batch of ``BATCH`` images."""
    images = torch.rand(BATCH, 3, 64, 64)
    rng = np.random.default_rng(1)
    views.views(images, rng)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        views.views(images, rng)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--methods", nargs="+", default=list(PARAMS), choices=list(PARAMS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    views = augment.default_views("shapes3d", 3)
    aug_s = augmentation_seconds(views)
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; 1 thread; batch {BATCH} x 2 views; shapes3d")
    print(f"default shapes3d views: {aug_s * 1e3:.1f} ms per batch (both views)")
    print(f"{'method':14s} {'trainer img/s':>14s} {'plain img/s':>12s} {'ratio':>6s} {'aug share':>10s}")
    for name in args.methods:
        plain = plain_step_fn(name, views)
        trainer_rates, plain_rates = [], []
        for _ in range(args.rounds):
            trainer_rates.append(trainer_rate(name, args.steps))
            plain_rates.append(rate(plain, args.steps))
        t, p = statistics.median(trainer_rates), statistics.median(plain_rates)
        step_s = 2 * BATCH / t
        print(f"{name:14s} {t:14.1f} {p:12.1f} {t / p:6.2f} {aug_s / step_s:9.1%}")


if __name__ == "__main__":
    main()
