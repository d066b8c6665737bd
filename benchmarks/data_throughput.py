"""Training-data throughput of every registered procedural dataset, and its share of a training step.

For each dataset: images/s of ``BatchStream`` (uniform factors, render, torch tensors) at batch
64 and 256 (median of ``--repeats`` timings after ``--warmup-s`` seconds of warm-up), directly
and, for deterministic datasets, through the on-disk grid cache (the build time is reported, not
counted). Then the
time of one training step of the standard 64x64 conv beta-VAE at batch 64 (Adam 1e-4, Bernoulli
loss), and the data time as a share of it (goal: under 5%). Finally, whether a prefetching stream
(``prefetch=2``) shortens a data + train loop. One torch thread throughout.

    .venv/bin/python benchmarks/data_throughput.py [--repeats 7] [--max-build-s 120]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from typing import Any, Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import disentkit.data as dd  # noqa: E402
from disentkit.data.cache import CachedData  # noqa: E402
from disentkit.data.streams import BatchStream  # noqa: E402

BATCHES = (64, 256)


def median_time(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


# -- the standard conv beta-VAE -----------------------------------------------------------------

def reference_nets(channels: int, latent: int = 10) -> tuple[nn.Module, nn.Module, str]:
    """The disentanglement_lib conv encoder/decoder: from ``disentkit.nn`` when available."""
    try:
        from disentkit.nn import ConvDecoder, ConvEncoder

        return ConvEncoder(channels, latent, rng=0), ConvDecoder(latent, channels, rng=0), "disentkit.nn"
    except ImportError:
        pass

    class Encoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.convs = nn.Sequential(
                nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(channels, 32, 4, 2), nn.ReLU(),
                nn.ZeroPad2d((1, 2, 1, 2)), nn.Conv2d(32, 32, 4, 2), nn.ReLU(),
                nn.Conv2d(32, 64, 2, 2), nn.ReLU(), nn.Conv2d(64, 64, 2, 2), nn.ReLU(),
                nn.Flatten(), nn.Linear(1024, 256), nn.ReLU(),
            )
            self.mu, self.logvar = nn.Linear(256, latent), nn.Linear(256, latent)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            h = self.convs(x)
            return self.mu(h), self.logvar(h)

    decoder = nn.Sequential(
        nn.Linear(latent, 256), nn.ReLU(), nn.Linear(256, 1024), nn.ReLU(), nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(32, channels, 4, 2, 1),
    )
    torch.manual_seed(0)
    return Encoder(), decoder, "inline reference net"


class BetaVAEStep:
    """One beta-VAE training step: Bernoulli loss summed per image, batch mean, + beta KL; Adam 1e-4."""

    def __init__(self, channels: int, beta: float = 4.0):
        self.encoder, self.decoder, self.source = reference_nets(channels)
        params = list(self.encoder.parameters()) + list(self.decoder.parameters())
        self.opt = torch.optim.Adam(params, lr=1e-4)
        self.beta = beta
        self.gen = torch.Generator().manual_seed(0)

    def __call__(self, x: torch.Tensor) -> float:
        mu, logvar = self.encoder(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=self.gen)
        logits = self.decoder(z)
        recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1).mean()
        kl = 0.5 * (mu**2 + logvar.exp() - logvar - 1).sum(1).mean()
        loss = recon + self.beta * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return float(loss.detach())


# -- the benchmark ------------------------------------------------------------------------------

def stream_rate(dataset: dd.GroundTruthData, batch: int, repeats: int, warmup_s: float) -> tuple[float, float]:
    """(seconds per batch, images/s) of a uniform BatchStream, after ``warmup_s`` seconds (and at
    least 3 batches) of warm-up: renderers that memoise parts reach their steady state."""
    stream = BatchStream(dataset, batch, seed=0)
    start, count = time.perf_counter(), 0
    while count < 3 or time.perf_counter() - start < warmup_s:
        next(stream)
        count += 1
    t = median_time(lambda: next(stream), repeats, warmup=0)
    return t, batch / t


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup-s", type=float, default=3.0, help="warm-up seconds per stream (default 3)")
    parser.add_argument("--datasets", nargs="*", default=None, help="names (default: every registered one)")
    parser.add_argument("--cache-folder", default=None, help="keep caches here (default: a temporary folder)")
    parser.add_argument("--max-build-s", type=float, default=120.0,
                        help="skip a cache whose estimated build time is longer (default 120)")
    parser.add_argument("--max-cache-mb", type=float, default=3000.0, help="skip a larger cache (default 3000)")
    parser.add_argument("--steps", type=int, default=10, help="steps per round of the prefetch comparison")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the prefetch comparison")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, numpy {np.__version__}, 1 torch thread, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")

    tmp = None
    folder = args.cache_folder
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="disentkit-bench-cache-")
        folder = tmp.name

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    for name in args.datasets or dd.names():
        e = dd.entry(name)
        if e.factory is None:
            notes.append(f"{name}: skipped, file only (no procedural renderer)")
            continue
        try:
            data = dd.get(name)
            data.sample(2, rng=0)
        except Exception as exc:  # a renderer still being written must not stop the benchmark
            notes.append(f"{name}: skipped, failed to build: {type(exc).__name__}: {exc}")
            continue
        row: dict[str, Any] = {"name": name, "channels": data.observation_shape[0], "states": len(data),
                               "stochastic": data.stochastic}
        for b in BATCHES:
            row[f"t{b}"], row[f"r{b}"] = stream_rate(data, b, args.repeats, args.warmup_s)
        if not data.stochastic and data.factor_space.is_discrete:  # the cache walks a discrete grid
            bytes_per = int(np.prod(data.observation_shape)) // (8 if data.observation_shape[0] == 1 else 1)
            size_mb = len(data) * bytes_per / 2**20
            est_build = len(data) / row["r256"]
            if est_build > args.max_build_s or size_mb > args.max_cache_mb:
                notes.append(f"{name}: no cache, estimated build {est_build:.0f} s and {size_mb:.0f} MB "
                             f"(limits --max-build-s {args.max_build_s:g}, --max-cache-mb {args.max_cache_mb:g})")
            else:
                t = time.perf_counter()
                with warnings.catch_warnings():  # a lossy uint8 cache is reported below instead
                    warnings.simplefilter("ignore", UserWarning)
                    cached = CachedData(data, folder=folder, progress=False)
                row["build_s"] = time.perf_counter() - t
                t = time.perf_counter()
                cached = CachedData(data, folder=folder, progress=False, in_memory=True)
                row["load_s"] = time.perf_counter() - t
                if cached.meta["max_abs_error"] > 0:
                    notes.append(f"{name}: the uint8 cache differs from the rendered images by up to "
                                 f"{cached.meta['max_abs_error']:.4f} (not multiples of 1/255)")
                row["cache_mb"] = cached.path.stat().st_size / 2**20
                row["storage"] = cached.storage
                for b in BATCHES:
                    row[f"ct{b}"], row[f"cr{b}"] = stream_rate(cached, b, args.repeats, args.warmup_s)
        rows.append(row)
        print(f"  measured {name}", file=sys.stderr)

    steps: dict[int, float] = {}
    source = ""
    for c in sorted({r["channels"] for r in rows} | {1}):
        step = BetaVAEStep(c)
        source = step.source
        x = torch.rand(64, c, 64, 64)
        steps[c] = median_time(lambda: step(x), args.repeats, warmup=2)

    print(f"\nbeta-VAE step at batch 64 ({source}): " +
          ", ".join(f"{c} channel(s) {1e3 * t:.1f} ms" for c, t in steps.items()))
    print("\nimages/s (BatchStream: sample factors, render, to torch); data% = data time of a batch of 64 / "
          "one training step (goal < 5%);\n"
          "cached: CachedData(in_memory=True), its build and load times excluded but listed")
    header = (f"{'dataset':17s} {'C':>1s} {'states':>8s} {'b64 img/s':>10s} {'b256 img/s':>10s} {'data%':>6s} "
              f"{'cached b64':>10s} {'cached b256':>11s} {'data%':>6s} {'cache x':>7s} {'build s':>7s} {'load s':>6s} {'MB':>6s} storage")
    print(header)
    print("-" * len(header))
    for r in rows:
        share = 100 * r["t64"] / steps[r["channels"]]
        line = f"{r['name']:17s} {r['channels']:1d} {r['states']:8d} {r['r64']:10.0f} {r['r256']:10.0f} {share:6.2f}"
        if "cr64" in r:
            cshare = 100 * r["ct64"] / steps[r["channels"]]
            line += (f" {r['cr64']:10.0f} {r['cr256']:11.0f} {cshare:6.2f} {r['cr64'] / r['r64']:7.2f}"
                     f" {r['build_s']:7.1f} {r['load_s']:6.1f} {r['cache_mb']:6.0f} {r['storage']}")
        elif r["stochastic"]:
            line += f" {'(stochastic: not cacheable)':>40s}"
        print(line)
    for n in notes:
        print("note:", n)

    # does a background prefetch thread shorten data + train? (the slowest and the fastest dataset)
    if rows:
        print(f"\nprefetch: seconds per (next batch + train step) at batch 64 over {args.steps} steps")
        chosen = {min(rows, key=lambda r: r["r64"])["name"], max(rows, key=lambda r: r["r64"])["name"]}
        for name in sorted(chosen):
            data = dd.get(name)
            step = BetaVAEStep(data.observation_shape[0])
            res: dict[int, list[float]] = {0: [], 2: []}
            for _ in range(args.rounds):  # interleaved rounds: the machine's load changes over time
                for prefetch in (0, 2):
                    with BatchStream(data, 64, seed=0, prefetch=prefetch) as stream:
                        step(next(stream)[0])
                        t = time.perf_counter()
                        for _ in range(args.steps):
                            step(next(stream)[0])
                        res[prefetch].append((time.perf_counter() - t) / args.steps)
            t0, t2 = statistics.median(res[0]), statistics.median(res[2])
            print(f"  {name:17s} prefetch=0 {1e3 * t0:7.1f} ms   prefetch=2 {1e3 * t2:7.1f} ms   "
                  f"speed-up {t0 / t2:.2f}x (median of {args.rounds} interleaved rounds)")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
