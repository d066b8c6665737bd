"""Training throughput of the beta-VAE step: the disentkit trainer against a plain loop and disent.

For batch 64 and 256 and 1 and 2 torch threads, images/s (median over ``--rounds`` interleaved
rounds) of

- **trainer**: ``disentkit.train.train`` on dsprites with its default options (channels-last, fp32;
  data rendering, the NaN check and logging included), read from the ``images_per_s`` of its log:
  each round trains ``2 * steps`` steps and times the second half;
- **plain**: a hand-written PyTorch loop of the same network (``disentkit.nn`` conv encoder and
  decoder, Bernoulli loss + beta KL, Adam 1e-4, default NCHW memory format) on one fixed tensor
  (no data);
- **disent**: disent 0.8.0's ``BetaVae`` with its ``EncoderConv64``/``DecoderConv64`` (the model of
  its own benchmarks; ``loss_reduction="mean_sum"``, ``recon_loss="bce"``, beta 4, Adam 1e-4),
  ``do_training_step`` + backward + Adam step on one fixed tensor (no Lightning loop, no data:
  this favours disent);

and the fraction of the machine's measured float32 matmul FLOP/s (1024 x 1024 ``torch.mm``, same
thread count) that the trainer reaches, with the step's FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matmuls, forward and backward).
Then, at batch 64 and 1 thread, the options: ``channels_last`` off, bfloat16 autocast,
``prefetch=2``, the plain loop in channels-last, and (``--compile``) ``torch.compile`` of the
plain loop's networks (measured here: ~35 s to compile, no steady gain, so not used).

disent needs ``pip install --no-deps disent==0.8.0 lightning lightning-utilities torchmetrics
fsspec packaging typing-extensions``; PyPI's torchvision is a CUDA build that does not import next
to CPU torch, so this process puts a stand-in ``torchvision`` (only the names disent and
torchmetrics import, as empty placeholders) on ``sys.path``. Without disent the column is skipped.

    .venv/bin/python benchmarks/train_throughput.py [--rounds 3] [--steps 6] [--compile]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from disentkit.nn import ConvDecoder, ConvEncoder
from disentkit.train import TrainConfig
from timing import loop_rate, trainer_config_rate

BETA = 4.0
LR = 1e-4

_STUB = '''"""A stand-in torchvision for benchmarks (empty placeholders; PyPI's build needs CUDA)."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (), {})
'''


# -- the variants ---------------------------------------------------------------------------------
def plain_step_fn(batch: int, *, channels_last: bool = False, bf16: bool = False,
                  compile_nets: bool = False) -> Callable[[], None]:
    """One step of a hand-written beta-VAE loop on a fixed tensor (same networks as the method)."""
    gen = torch.Generator().manual_seed(0)
    enc, dec = ConvEncoder(1, 10, rng=gen), ConvDecoder(10, 1, rng=gen)
    x = torch.rand(batch, 1, 64, 64, generator=gen)
    if channels_last:
        enc, dec = enc.to(memory_format=torch.channels_last), dec.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=LR)
    fwd_enc, fwd_dec = (torch.compile(enc), torch.compile(dec)) if compile_nets else (enc, dec)
    cast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext

    def step() -> None:
        with cast():
            mu, logvar = fwd_enc(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
            logits = fwd_dec(z)
            recon = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / batch
            kl = 0.5 * (mu.float() ** 2 + logvar.float().exp() - logvar.float() - 1).sum(1).mean()
            loss = recon + BETA * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def disent_step_fn(batch: int) -> Callable[[], None] | None:
    """One disent 0.8.0 ``BetaVae`` step (Conv64), or None when disent cannot be imported."""
    stub = Path(tempfile.mkdtemp()) / "torchvision"
    for sub in ("", "transforms"):
        (stub / sub).mkdir(parents=True, exist_ok=True)
        (stub / sub / "__init__.py").write_text(_STUB)
    for mod in ("datasets", "models", "transforms/functional"):
        (stub / f"{mod}.py").write_text(_STUB)
    sys.path.insert(0, str(stub.parent))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from disent.frameworks.vae import BetaVae
            from disent.model import AutoEncoder
            from disent.model.ae import DecoderConv64, EncoderConv64
    except ImportError as err:
        print(f"disent unavailable ({err}); skipping its column")
        return None
    finally:
        sys.path.remove(str(stub.parent))
    import logging

    logging.getLogger("lightning.pytorch.core.module").setLevel(logging.ERROR)
    torch.manual_seed(0)
    model = AutoEncoder(EncoderConv64(x_shape=(1, 64, 64), z_size=10, z_multiplier=2),
                        DecoderConv64(x_shape=(1, 64, 64), z_size=10))
    fw = BetaVae(model=model, cfg=BetaVae.cfg(optimizer="adam", optimizer_kwargs={"lr": LR},
                                              loss_reduction="mean_sum", beta=BETA, recon_loss="bce"))
    opt = fw.configure_optimizers()
    x = torch.rand(batch, 1, 64, 64)

    def step() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opt.zero_grad(set_to_none=True)
            loss = fw.do_training_step({"x_targ": (x,)}, 0)
            loss.backward()
            opt.step()

    return step


def rate(step: Callable[[], None], batch: int, steps: int) -> float:
    """Images per wall-clock second of ``steps`` calls of ``step`` (a prefetch thread shows only there)."""
    return loop_rate(step, batch, steps).wall


def trainer_rate(batch: int, threads: int, steps: int, **options: Any) -> float:
    """Images per wall-clock second of ``disentkit.train.train`` over steps ``steps+1 .. 2*steps``."""
    cfg = TrainConfig(method="beta_vae", method_params={"beta": BETA, "lr": LR}, dataset="dsprites",
                      steps=2 * steps, batch_size=batch, log_every=steps, checkpoint_every=10**9,
                      num_threads=threads, images=False, **options)
    return trainer_config_rate(cfg).wall


# -- FLOPs ----------------------------------------------------------------------------------------
def step_flops(step: Callable[[], None]) -> float:
    """FLOPs of one call of a training step (forward + backward convolutions and matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    return float(counter.get_total_flops())


def matmul_flops_per_s(threads: int, n: int = 1024, repeats: int = 5) -> float:
    """Measured float32 ``torch.mm`` FLOP/s (2 n^3 per product), the median of ``repeats``."""
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median taken)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per round at batch 64 (a quarter at 256)")
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile of the plain loop")
    parser.add_argument("--no-options", action="store_true", help="skip the options table")
    args = parser.parse_args(argv)

    import os
    import platform

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"capability {torch.backends.cpu.get_cpu_capability()}, load average {os.getloadavg()[0]:.1f}")
    flops = {b: step_flops(plain_step_fn(b)) for b in args.batches}
    disent64 = disent_step_fn(64)
    disent_flops = step_flops(disent64) if disent64 is not None else float("nan")
    peak = {t: matmul_flops_per_s(t) for t in args.threads}
    rows = []
    for batch in args.batches:
        steps = max(1, args.steps * 64 // batch)
        disent = disent_step_fn(batch)
        plain = plain_step_fn(batch)
        for threads in args.threads:
            torch.set_num_threads(threads)
            results: dict[str, list[float]] = {"trainer": [], "plain": [], "disent": []}
            for _ in range(args.rounds):
                results["trainer"].append(trainer_rate(batch, threads, steps))
                torch.set_num_threads(threads)
                results["plain"].append(rate(plain, batch, steps))
                if disent is not None:
                    results["disent"].append(rate(disent, batch, steps))
            med = {k: statistics.median(v) if v else float("nan") for k, v in results.items()}
            # ratios per round (neighbouring measurements share the machine's load), then the median
            ratio = {k: statistics.median(a / b for a, b in zip(results["trainer"], results[k]))
                     if results[k] else float("nan") for k in ("plain", "disent")}
            gflops = med["trainer"] / batch * flops[batch] / 1e9
            rows.append((batch, threads, med["trainer"], med["plain"], med["disent"],
                         ratio["plain"], ratio["disent"], gflops, gflops * 1e9 / peak[threads]))
    print("\nstep FLOPs (fwd+bwd, conv+matmul): " + ", ".join(f"batch {b}: {f / 1e9:.2f} GFLOP" for b, f in flops.items()))
    print(f"disent's Conv64 step at batch 64: {disent_flops / 1e9:.2f} GFLOP "
          f"({disent_flops / flops.get(64, float('nan')):.2f}x ours: k4 convs in layers 3-4, a 1600-wide flatten)")
    print("measured matmul peak: " + ", ".join(f"{t} thread(s): {p / 1e9:.1f} GFLOP/s" for t, p in peak.items()))
    print(f"\nimages/s, median of {args.rounds} interleaved rounds (ratios: median of per-round ratios)")
    print(f"{'batch':>5} {'thr':>3} {'trainer':>8} {'plain':>8} {'disent':>8} {'tr/plain':>8} {'tr/disent':>9} "
          f"{'GFLOP/s':>8} {'of peak':>7}")
    for b, t, tr, pl, di, r1, r2, g, frac in rows:
        print(f"{b:>5} {t:>3} {tr:>8.0f} {pl:>8.0f} {di:>8.0f} {r1:>8.2f}x {r2:>8.2f}x {g:>8.1f} {frac:>6.0%}")

    if args.no_options:
        return
    batch, steps = 64, args.steps
    torch.set_num_threads(1)
    variants: dict[str, Callable[[], float]] = {
        "trainer default": lambda: trainer_rate(batch, 1, steps),
        "trainer channels_last off": lambda: trainer_rate(batch, 1, steps, channels_last=False),
        "trainer bf16 autocast": lambda: trainer_rate(batch, 1, steps, precision="bf16"),
        "trainer prefetch=2": lambda: trainer_rate(batch, 1, steps, prefetch=2),
    }
    plain, plain_cl = plain_step_fn(batch), plain_step_fn(batch, channels_last=True)
    variants["plain"] = lambda: rate(plain, batch, steps)
    variants["plain channels_last"] = lambda: rate(plain_cl, batch, steps)
    if args.compile:
        compiled = plain_step_fn(batch, channels_last=True, compile_nets=True)
        t = time.perf_counter()
        compiled()
        print(f"\ntorch.compile warm-up: {time.perf_counter() - t:.0f} s")
        variants["plain torch.compile"] = lambda: rate(compiled, batch, steps)
    results = {k: [] for k in variants}
    for _ in range(args.rounds):
        for name, fn in variants.items():
            torch.set_num_threads(1)
            results[name].append(fn())
    base = results["trainer default"]
    print(f"\noptions at batch {batch}, 1 thread (median of {args.rounds}; median per-round ratio to trainer default)")
    for name, values in results.items():
        ratio = statistics.median(v / b for v, b in zip(values, base))
        print(f"  {name:<26} {statistics.median(values):>7.0f} img/s  {ratio:>5.2f}x")


if __name__ == "__main__":
    main()
