"""Training throughput of the self-supervised methods: the disentkit trainer against a plain loop.

Both sides do the same job, per step, at batch 64 on shapes3d (3 x 64 x 64), one torch thread:
draw 64 images from the shapes3d dataset (rendering included; the dataset memoises the geometry of
each of its 480 (scale, shape, orientation) combinations on first use, and both sides run warm),
make two views with the dataset's default augmentation pipeline, forward both views through the
method's networks (``build_backbone("conv", 3)``, ``MLPHead`` projector and predictor of the same
sizes, the same loss module), backward, one Adam step (weight decay on weights only) under the
linear warm-up + cosine learning rate, and for BYOL the EMA update of the target (cosine τ,
BatchNorm buffers copied). Compared, as images per second of process CPU time (two views per image
counted as two images; median over ``--rounds`` interleaved rounds; CPU time rather than wall
clock, because on a shared machine a process waiting for a core would otherwise count as slow; the
wall-clock best-of is printed beside it):

- **trainer**: ``disentkit.train.train`` with the method's default ``views`` sampler and its
  default options (channels-last, fp32, the method's optimiser settings; the NaN check, the
  collapse monitor ``embedding_std``, the interval log included), read from ``images_per_cpu_s``
  in its log: each round trains ``2 * steps`` steps and times the second half;
- **plain**: the loop a researcher would hand-write for that job: ``dataset.sample_observations``,
  ``views.views``, ``torch.optim.Adam(groups, lr)`` with PyTorch's defaults, ``LambdaLR``,
  ``torch._foreach_lerp_`` for the EMA; NCHW (PyTorch's default memory format);
- **plain-cl**: the same loop with the networks and views in channels-last (the trainer's memory
  format), which separates the trainer's own overhead from its memory-format choice;

and the augmentation's share of a trainer step (both views of a batch, timed alone in each round).
Goals (issue 8): trainer / plain >= 1.0; augmentation < 10 % of a step. The spread column is the range of the
per-round trainer / plain ratios.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ssl_throughput.py [--rounds 3] [--steps 30] [--methods byol simsiam]
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import time
from typing import Any, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from disentkit import methods  # noqa: E402
from disentkit import data as dd  # noqa: E402
from disentkit.data import augment  # noqa: E402
from disentkit.losses import BarlowTwinsLoss, BYOLLoss, SimSiamLoss, VICRegLoss  # noqa: E402
from disentkit.nn import MLPHead, build_backbone  # noqa: E402
from disentkit.train import TrainConfig  # noqa: E402
from timing import Rate, cpu_model, loop_rate, trainer_config_rate  # noqa: E402

BATCH = 64
# CPU-sized heads (the MED study's CPU part uses the same)
PARAMS = {
    "byol": {"projector_hidden": 512, "projector_out": 128, "predictor_hidden": 512},
    "simsiam": {"projector_hidden": 512, "projector_out": 512, "predictor_hidden": 128},
    "barlow_twins": {"projector_hidden": 512, "projector_out": 512},
    "vicreg": {"projector_hidden": 512, "projector_out": 512},
}


def plain_step_fn(name: str, dataset: Any, views: augment.MultiView, total_steps: int,
                  channels_last: bool = False) -> Callable[[], None]:
    """One hand-written training step of method ``name``: draw a batch from ``dataset``, augment two
    views, forward/backward, Adam step, warm-up + cosine learning rate, BYOL's EMA update."""
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
    targets = [copy.deepcopy(backbone), copy.deepcopy(projector)] if name == "byol" else []
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    for m in online + targets:
        m.to(memory_format=fmt)
    for t in targets:
        t.requires_grad_(False)
    params = [p for m in online for p in m.parameters()]
    opt = torch.optim.Adam([{"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
                            {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=cfg.lr)
    warmup = round(cfg.warmup_fraction * total_steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: (k + 1) / warmup if k < warmup else
                                              0.5 * (1 + math.cos(math.pi * min((k - warmup) / (total_steps - warmup), 1))))
    loss_fn = {"byol": BYOLLoss(), "simsiam": SimSiamLoss(), "barlow_twins": BarlowTwinsLoss(),
               "vicreg": VICRegLoss()}[name]
    ema_params = ([p for t in targets for p in t.parameters()], [p for m in online[:2] for p in m.parameters()])
    ema_buffers = ([b for t in targets for b in t.buffers()], [b for m in online[:2] for b in m.buffers()])
    rng = np.random.default_rng(0)
    count = [0]

    def step() -> None:
        images = torch.from_numpy(dataset.sample_observations(BATCH, rng))
        v1, v2 = (v.contiguous(memory_format=fmt) for v in views.views(images, rng))
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
        sched.step()
        if name == "byol":
            k = min(count[0], total_steps)
            tau = 1 - (1 - cfg.momentum_base) * (math.cos(math.pi * k / total_steps) + 1) / 2
            with torch.no_grad():
                torch._foreach_lerp_(ema_params[0], ema_params[1], 1 - tau)
                torch._foreach_copy_(ema_buffers[0], ema_buffers[1])
        count[0] += 1

    return step


def trainer_config(name: str, steps: int) -> TrainConfig:
    """The trainer's run of ``2 * steps`` steps, logged (and so timed) at ``steps``."""
    return TrainConfig(method=name, method_params=PARAMS[name], dataset="shapes3d", steps=2 * steps,
                       batch_size=BATCH, log_every=steps, checkpoint_every=10**9, num_threads=1, images=False)


def augmentation_seconds(views: augment.MultiView, repeats: int = 7) -> float:
    """Median process CPU seconds to make both views of one batch of ``BATCH`` images."""
    images = torch.rand(BATCH, 3, 64, 64)
    rng = np.random.default_rng(1)
    views.views(images, rng)
    times = []
    for _ in range(repeats):
        t = time.process_time()
        views.views(images, rng)
        times.append(time.process_time() - t)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--methods", nargs="+", default=list(PARAMS), choices=list(PARAMS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    views = augment.default_views("shapes3d", 3)
    dataset = dd.get("shapes3d")
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; 1 thread; batch {BATCH} x 2 views; shapes3d; "
          f"load average {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    print("rates in images per second of process CPU time (wall-clock best-of in brackets)")
    print(f"{'method':14s} {'trainer':>15s} {'plain':>15s} {'plain-cl':>15s} {'/plain':>7s} {'spread':>11s} "
          f"{'/plain-cl':>10s} {'spread':>11s} {'aug ms':>7s} {'aug share':>10s}")
    for name in args.methods:
        plain = plain_step_fn(name, dataset, views, 2 * args.steps)
        plain_cl = plain_step_fn(name, dataset, views, 2 * args.steps, channels_last=True)
        rates: dict[str, list[Rate]] = {"trainer": [], "plain": [], "plain_cl": []}
        aug: list[float] = []
        for _ in range(args.rounds):  # interleaved, so that load on the machine hits all three alike
            rates["trainer"].append(trainer_config_rate(trainer_config(name, args.steps)))
            rates["plain"].append(loop_rate(plain, 2 * BATCH, args.steps))
            rates["plain_cl"].append(loop_rate(plain_cl, 2 * BATCH, args.steps))
            aug.append(augmentation_seconds(views))
        cpu = {k: [r.cpu for r in v] for k, v in rates.items()}
        best = {k: max(r.wall for r in v) for k, v in rates.items()}
        t, p, pc = (statistics.median(cpu[k]) for k in ("trainer", "plain", "plain_cl"))
        r_p = [a / b for a, b in zip(cpu["trainer"], cpu["plain"])]
        r_pc = [a / b for a, b in zip(cpu["trainer"], cpu["plain_cl"])]
        aug_s = statistics.median(aug)
        cells = [f"{statistics.median(cpu[k]):6.0f} [{best[k]:5.0f}]" for k in ("trainer", "plain", "plain_cl")]
        print(f"{name:14s} {cells[0]:>15s} {cells[1]:>15s} {cells[2]:>15s} {t / p:7.2f} "
              f"{min(r_p):5.2f}-{max(r_p):<5.2f} {t / pc:10.2f} {min(r_pc):5.2f}-{max(r_pc):<5.2f} "
              f"{aug_s * 1e3:7.1f} {aug_s * t / (2 * BATCH):9.1%}")


if __name__ == "__main__":
    main()
