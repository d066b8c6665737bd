"""Speed of the batch augmentations (``disentkit.data.augment``) against one SSL training step.

On one torch thread, for a batch of 64 images of (3, 64, 64) and of (1, 64, 64), the median over
``--repeats`` interleaved rounds of

- each op on its own (``crop``, ``flip`` p 0.5, ``color_jitter`` (0.4, 0.4, 0.2, 0.1) p 0.8 (RGB;
  brightness/contrast only on 1 channel), ``grayscale`` p 0.2, ``blur`` p 1.0 and p 0.1,
  ``solarize`` p 0.2; the BYOL preset's parameters);
- both views of the pipelines: the ``"byol"`` preset, ``default_views("shapes3d", 3)`` and
  ``default_views("dsprites", 1)``;
- the baseline: one BYOL-like step at batch 64, the reference conv trunk
  (``disentkit.nn.build_backbone("conv", C, rng=0)``) and a 2-layer MLP head (256 -> 512 -> 128,
  BN, ``MLPHead``) on both views in one forward (128 images), the symmetric BYOL loss
  ``l(z1, sg(z2)) + l(z2, sg(z1))``, backward and an Adam step;

printed as wall-clock ms (``perf_counter``), thread CPU ms (``thread_time``, less sensitive to a
busy machine) and the ratio of the two views' augmentation to the step in CPU time (the target:
< 10%).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/augment_speed.py [--repeats 7]

The numbers measured, and the alternatives tried and kept out, are in ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from disentkit.data import augment as A  # noqa: E402
from disentkit.losses import BYOLLoss  # noqa: E402
from disentkit.nn import MLPHead, build_backbone  # noqa: E402
from timing import cpu_model  # noqa: E402

BATCH = 64


def byol_like_step(channels: int) -> Callable[[], None]:
    """One forward + backward + Adam step of trunk + 2-layer head on two views of 64 images."""
    trunk = build_backbone("conv", channels, rng=0)
    head = MLPHead(trunk.feature_dim, 512, 128, num_layers=2, rng=0)
    params = [*trunk.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=1e-4)
    loss_fn = BYOLLoss()
    gen = torch.Generator().manual_seed(0)
    v1 = torch.rand(BATCH, channels, 64, 64, generator=gen)
    v2 = torch.rand(BATCH, channels, 64, 64, generator=gen)

    def step() -> None:
        z1, z2 = head(trunk(torch.cat([v1, v2]))).chunk(2)
        loss = loss_fn.symmetric(z1, z2, z1, z2)  # targets detached inside the loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def cases(channels: int) -> dict[str, Callable[[], object]]:
    """Name -> a call to time (each with its own generator, so rounds draw fresh parameters)."""
    x = torch.rand(BATCH, channels, 64, 64, generator=torch.Generator().manual_seed(1))
    ops: dict[str, A.Augmentation] = {
        "crop": A.RandomResizedCrop(),
        "flip p0.5": A.HorizontalFlip(p=0.5),
        "color_jitter p0.8": (A.ColorJitter(0.4, 0.4, 0.2, 0.1, p=0.8) if channels == 3
                              else A.ColorJitter(0.4, 0.4, 0.0, 0.0, p=0.8)),
        "blur p1.0": A.GaussianBlur(sigma=(0.1, 2.0), p=1.0),
        "blur p0.1": A.GaussianBlur(sigma=(0.1, 2.0), p=0.1),
        "solarize p0.2": A.Solarize(p=0.2),
    }
    if channels == 3:
        ops["grayscale p0.2"] = A.Grayscale(p=0.2)
    out: dict[str, Callable[[], object]] = {}
    for k, (name, op) in enumerate(ops.items()):
        out[name] = lambda op=op, rng=np.random.default_rng(k): op(x, rng)
    pipes = {"views byol": A.build_views("byol", 3), "views shapes3d": A.default_views("shapes3d", 3)} \
        if channels == 3 else {"views dsprites": A.default_views("dsprites", 1)}
    for k, (name, views) in enumerate(pipes.items()):
        out[name] = lambda views=views, rng=np.random.default_rng(100 + k): views.views(x, rng)
    out["step (baseline)"] = byol_like_step(channels)
    return out


def measure(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and thread-CPU seconds of each call, over ``repeats`` interleaved rounds."""
    for fn in fns.values():  # warm-up
        fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.thread_time()
            fn()
            cpu[name].append(time.thread_time() - c0)
            wall[name].append(time.perf_counter() - t0)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in fns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    try:
        load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        load = "?"
    print(f"CPU: {cpu_model()}; torch {torch.__version__}; threads {torch.get_num_threads()}; "
          f"batch {BATCH}; median of {args.repeats}; load average {load}")
    for channels in (3, 1):
        res = measure(cases(channels), args.repeats)
        step_wall, step_cpu = res["step (baseline)"]
        print(f"\n(C={channels}, 64x64)                 wall ms    cpu ms   / step (cpu)")
        for name, (w, c) in res.items():
            print(f"  {name:28s} {w * 1e3:8.2f}  {c * 1e3:8.2f}   {c / step_cpu:7.2%}")
        for name, (w, c) in res.items():
            if name.startswith("views"):
                verdict = "ok" if c < 0.1 * step_cpu else "OVER the 10% target"
                print(f"  {name} (both views) = {c / step_cpu:.1%} of a step in CPU time (wall {w / step_wall:.1%}): "
                      f"{verdict}")


if __name__ == "__main__":
    main()
