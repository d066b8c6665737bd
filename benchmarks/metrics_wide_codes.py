"""Seconds of every array metric of ``evaluate``'s "fast" preset on wide codes (10, 512, 2048-D).

The codes are synthetic, of dSprites-like factors (sizes 3/6/40/32/32, uniform; 2,000 train and
1,000 test rows, the fast preset's sizes): the first five dimensions are each one factor plus a
little noise (the clean dimensions), the others are ``tanh`` of a fixed random mix of all factors
plus noise (entangled dimensions, as a wide self-supervised code has). Each metric is called on
its own, with its defaults and the fast preset's settings (``knn``: k = 20; ``dci``: its default
estimator, ``"fast"``, which screens codes wider than 128 dimensions), computing its shared
pieces itself; the two shared pieces (the MI matrix and the per-factor logistic fits) are also
timed alone, and the last row is ``evaluate`` running all nine with its shared splits and pieces
(which is why it costs less than the sum of the rows).
One thread (BLAS, torch, numba, LightGBM), the median of ``--repeats`` runs after a warm-up;
the CPU time (``time.process_time``) is printed beside the wall time, since on one thread it is
the work itself and a busy machine does not inflate it; the last columns are ratios to the first
width.

    python benchmarks/metrics_wide_codes.py                      # 10, 512, 2048-D, median of 3
    python benchmarks/metrics_wide_codes.py --widths 2048 --metrics sap knn
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import disentkit.metrics as M  # noqa: E402
from disentkit.metrics import PRESETS  # noqa: E402
from timing import cpu_model  # noqa: E402

SIZES = np.array([3, 6, 40, 32, 32])
NUM_TRAIN, NUM_TEST = 2_000, 1_000
# evaluate's array metrics (name in METRICS -> function in disentkit.metrics)
SUITE = {
    "mig": "mig",
    "sap": "sap",
    "dci": "dci",
    "modularity_explicitness": "modularity_explicitness",
    "irs": "irs",
    "unsupervised": "unsupervised",
    "med": "med",
    "linear_probe": "linear_probe",
    "knn": "knn_accuracy",
}


def codes_of(factors: np.ndarray, width: int, seed: int) -> np.ndarray:
    """(N, width) codes: five clean dimensions (a factor each) and ``width - 5`` entangled ones."""
    rng = np.random.default_rng(seed)
    base = (factors + rng.uniform(size=factors.shape)) / SIZES  # in [0, 1)
    clean = base + 0.02 * rng.normal(size=base.shape)
    if width <= SIZES.size:
        return clean[:, :width]
    mix = np.random.default_rng(99).normal(size=(SIZES.size, width - SIZES.size)) * 2.0
    entangled = np.tanh((base - 0.5) @ mix) + 0.1 * rng.normal(size=(factors.shape[0], width - SIZES.size))
    return np.column_stack([clean, entangled])


def splits(width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, SIZES, size=(NUM_TRAIN, SIZES.size))
    yt = rng.integers(0, SIZES, size=(NUM_TEST, SIZES.size))
    return codes_of(y, width, 1), y, codes_of(yt, width, 2), yt


def settings_of(name: str) -> dict[str, Any]:
    """The fast preset's settings of ``name`` other than the sample sizes."""
    return {k: v for k, v in PRESETS["fast"].get(name, {}).items() if k not in ("num_train", "num_test")}


def calls(x, y, xt, yt) -> dict[str, Callable[[], Any]]:
    """One zero-argument call per timed row."""
    out: dict[str, Callable[[], Any]] = {}
    for name, function in SUITE.items():
        func = getattr(M, function)
        extra = settings_of(name)
        out[name] = (lambda func=func, extra=extra: func(x, y, codes_test=xt, factors_test=yt, **extra))
    out["(piece) mi_matrix"] = lambda: M.discrete_mi_matrix(x, y, 20)
    out["(piece) logistic_fits"] = lambda: M.logistic_fits(x, y)
    return out


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds (``time.process_time``) of ``repeats`` calls. On one
    thread the CPU time is the work itself, which a busy machine does not inflate."""
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


class _FactorPixels:
    """A stand-in dataset for ``evaluate``: dSprites-like factors drawn as a 1 x 1 x 5 image."""

    def __new__(cls):
        from disentkit.data import FactorSpace, GroundTruthData

        class FactorPixels(GroundTruthData):
            @property
            def factor_space(self):
                return FactorSpace(("shape", "scale", "orientation", "posX", "posY"), tuple(SIZES.tolist()))

            @property
            def observation_shape(self):
                return (1, 1, SIZES.size)

            def _render(self, factors, rng):
                return factors.astype(np.float32)[:, None, None, :]

        return FactorPixels()


def evaluate_call(width: int) -> Callable[[], Any]:
    """``evaluate`` with the fast preset on every array metric (shared splits and pieces); the
    "encoder" maps the factor image to :func:`codes_of` codes."""
    dataset = _FactorPixels()
    encoder = lambda images: codes_of(np.rint(images[:, 0, 0, :]).astype(np.int64), width, 7)  # noqa: E731
    return lambda: M.evaluate(dataset, encoder, list(SUITE), preset="fast", progress=False,
                              encode_batch_size=4096)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=int, nargs="+", default=[10, 512, 2048])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="rows to time (default: every metric and both pieces)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    x, y, xt, yt = splits(80)  # warm-up: numba kernels, lazy imports, LightGBM
    for fn in calls(x[:300], y[:300], xt[:100], yt[:100]).values():
        fn()
    print(f"CPU: {cpu_model()}; 1 thread; median of {args.repeats}; "
          f"factors {SIZES.tolist()}, {NUM_TRAIN} train / {NUM_TEST} test rows")
    wall: dict[str, dict[int, float]] = {}
    cpu: dict[str, dict[int, float]] = {}
    for width in args.widths:
        x, y, xt, yt = splits(width)
        rows = calls(x, y, xt, yt)
        rows["evaluate (all 9, shared)"] = evaluate_call(width)
        for row, fn in rows.items():
            if args.metrics and not any(row.startswith(m) or row.endswith(m) for m in args.metrics):
                continue
            wall.setdefault(row, {})[width], cpu.setdefault(row, {})[width] = median_seconds(fn, args.repeats)
            print(f"  {row:28s} D={width:5d}  wall {wall[row][width]:8.3f} s  cpu {cpu[row][width]:8.3f} s",
                  flush=True)
    base = args.widths[0]
    for label, table in (("CPU seconds (process_time)", cpu), ("wall seconds", wall)):
        header = "".join(f"{f'D={w}':>11s}" for w in args.widths)
        ratios = "".join(f"{f'/ D={base}':>10s}" for _ in args.widths[1:])
        print(f"\n{label}\n{'metric':28s}{header}{ratios}")
        for row, times in table.items():
            cells = "".join(f"{times[w]:9.3f} s" for w in args.widths)
            rel = "".join(f"{times[w] / times[base]:9.1f}x" for w in args.widths[1:])
            print(f"{row:28s}{cells}{rel}")
        metric_rows = [r for r in table if not r.startswith(("(", "evaluate"))]
        totals = "".join(f"{sum(table[r][w] for r in metric_rows):9.3f} s" for w in args.widths)
        print(f"{'sum of the 9 metric rows':28s}{totals}")


if __name__ == "__main__":
    main()
