"""Speed (and DCI agreement) of disentkit's array-level metrics against disentanglement_lib.

Runs the suite mig, sap, dci, modularity_explicitness, irs, unsupervised, med on a 10-D
representation of dSprites-sized factors (3/6/40/32/32; 10,000 train, 5,000 test) with disentkit
and with the reference (disentanglement_lib 1.5 through the gin stand-in of tests/parity, MED from
its spec steps), prints per-metric times and the speed-up, compares the fast DCI estimator with the
reference GBT, then times the disentkit suite on 2048-D codes (per metric and total; the metrics
run one after the other on the same codes, as in ``evaluate``, so MED reuses the explicitness
score's logistic-regression fits). ``--check-wide`` compares the wide-code shortcuts on 256-D
codes: the torch logistic regression against scikit-learn's, and the screened, 15-bin DCI
against the unscreened 4095-bin one.

    python benchmarks/metrics_speed.py               # reference DCI on all factors (minutes)
    python benchmarks/metrics_speed.py --quick       # reference DCI on factors 0-1, extrapolated
    python benchmarks/metrics_speed.py --skip-narrow --threads 2   # only the 2048-D suite

Runs on ``--threads`` threads (default 1: BLAS, torch and numba; DCI fits that many factors at
once, each LightGBM model on one thread, and SAP that many factors, neither of which changes a
value).
"""

from __future__ import annotations

import os
import sys

_THREADS = "1"
THREADS = 1
if "--threads" in sys.argv:
    _THREADS = sys.argv[sys.argv.index("--threads") + 1]
    THREADS = int(_THREADS)
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = _THREADS

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import disentkit.metrics as M  # noqa: E402
from disentkit.metrics._dci import dci_completeness, dci_disentanglement  # noqa: E402

SIZES = np.array([3, 6, 40, 32, 32])
SUITE = ["mig", "sap", "dci", "modularity_explicitness", "irs", "unsupervised", "med"]


def representation(n: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noisy, partly rotated codes of uniform dSprites-sized factors: (n, dim), (n, 5)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, SIZES, size=(n, SIZES.size))
    base = (y + rng.uniform(size=y.shape)) / SIZES
    signal = np.column_stack([base[:, :3], (base[:, 3:] @ [[0.8, 0.6], [-0.6, 0.8]])])
    if dim == 10:
        return np.column_stack([signal + 0.02 * rng.normal(size=signal.shape),
                                rng.normal(size=(n, 5))]), y
    mix = np.random.default_rng(99).normal(size=(SIZES.size, dim)) / np.sqrt(SIZES.size)
    return np.tanh(signal @ mix) + 0.1 * rng.normal(size=(n, dim)), y


def timed(fn, *args, **kwargs):
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t


def ours(x, y, xt, yt) -> dict[str, float]:
    """Seconds per metric of disentkit's suite; DCI fits ``--threads`` factors at once."""
    times = {}
    for name in SUITE:
        extra = {"n_jobs": THREADS} if name in ("dci", "sap") else {}
        _, times[name] = timed(getattr(M, name), x, y, codes_test=xt, factors_test=yt, **extra)
    return times


def warm_up() -> None:
    """Load the compiled kernels (numba caches) and lazy imports outside the timings."""
    x, y = representation(300, 80, 5)
    ours(x, y, x[:100], y[:100])


def check_wide() -> None:
    """The wide-code shortcuts against their exact versions on 256-D codes (N = 2,000 / 1,000)."""
    import disentkit.metrics._dci as dci_module

    rng = np.random.default_rng(4)
    sizes = np.array([3, 6, 10, 8, 8])
    mix = np.random.default_rng(8).normal(size=(sizes.size, 256))

    def codes(n):
        y = rng.integers(0, sizes, size=(n, sizes.size))
        base = (y + rng.uniform(size=y.shape)) / sizes
        return np.tanh(base @ mix) + 0.1 * rng.normal(size=(n, 256)), y

    (x, y), (xt, yt) = codes(2000), codes(1000)
    print("256-D codes, factors [3, 6, 10, 8, 8], 2,000 train / 1,000 test:")
    for name, keys in (("modularity_explicitness", ("explicitness_score_train",
                                                    "explicitness_score_test")),
                       ("med", ("informativeness_train", "informativeness_test"))):
        fast, t_fast = timed(getattr(M, name), x, y, codes_test=xt, factors_test=yt, solver="torch")
        slow, t_slow = timed(getattr(M, name), x, y, codes_test=xt, factors_test=yt,
                             solver="sklearn")
        for key in keys:
            print(f"  {name}.{key:26s} torch {fast[key]:.4f}  sklearn {slow[key]:.4f}  "
                  f"diff {fast[key] - slow[key]:+.4f}")
        print(f"  {name:50s} torch {t_fast:6.2f} s  sklearn {t_slow:6.2f} s")
    wide = dci_module.WIDE_DIM
    runs = {}
    for label, wide_dim, screen in (("screen 128, 15 bins", wide, 128),
                                    ("no screen, 15 bins", wide, None),
                                    ("no screen, 4095 bins", 10**9, None)):
        dci_module.WIDE_DIM = wide_dim
        runs[label], seconds = timed(M.dci, x, y, codes_test=xt, factors_test=yt, screen=screen)
        print(f"  dci {label:22s} " + "  ".join(f"{k[:15]} {v:.4f}" for k, v in runs[label].items())
              + f"  {seconds:6.1f} s")
    dci_module.WIDE_DIM = wide
    exact = runs["no screen, 4095 bins"]
    for label in ("screen 128, 15 bins", "no screen, 15 bins"):
        worst = max(abs(runs[label][k] - exact[k]) for k in exact if k != "informativeness_train")
        print(f"  dci {label}: largest |diff| of D, C, test I vs no screen, 4095 bins: {worst:.4f}")


def reference(ref, x, y, xt, yt, dci_factors) -> tuple[dict[str, float], dict]:
    """Times of the reference on the same arrays ((D, N) layout); DCI on ``dci_factors`` only."""
    from sklearn import linear_model, preprocessing

    u, times = ref.utils, {}
    X, Y, XT, YT = x.T, y.T, xt.T, yt.T
    _, times["mig"] = timed(ref.mig._compute_mig, X, Y)
    _, times["sap"] = timed(ref.sap_score._compute_sap, X, Y, XT, YT, False)
    dci_out, times["dci"] = timed(
        ref.dci.compute_importance_gbt, X, Y[dci_factors], XT, YT[dci_factors]
    )

    def modularity_explicitness():
        mi = u.discrete_mutual_info(u.make_discretizer(X), Y)
        ref.modularity_explicitness.modularity(mi)
        xn, mean, std = u.normalize_data(X)
        xtn, _, _ = u.normalize_data(XT, mean, std)
        for j in range(Y.shape[0]):
            ref.modularity_explicitness.explicitness_per_factor(xn, Y[j], xtn, YT[j])

    _, times["modularity_explicitness"] = timed(modularity_explicitness)

    def irs():
        active = ref.irs._drop_constant_dims(X)
        ref.irs.scalable_disentanglement_score(u.make_discretizer(Y).T, active.T, 0.99)

    _, times["irs"] = timed(irs)

    def unsupervised():
        um = ref.unsupervised_metrics
        cov = np.cov(X)
        um.gaussian_total_correlation(cov)
        um.gaussian_wasserstein_correlation(cov)
        d = u.make_discretizer(X)
        u.discrete_mutual_info(d, d)

    _, times["unsupervised"] = timed(unsupervised)

    def med():  # the fork's steps (spec §5): MI importance + per-factor scaled logistic regression
        m = u.discrete_mutual_info(u.make_discretizer(X), Y)
        p = m / m.sum(axis=0)
        ref.dci.disentanglement(p), ref.dci.completeness(p)
        for j in range(Y.shape[0]):
            scaler = preprocessing.StandardScaler().fit(X.T)
            model = linear_model.LogisticRegression().fit(scaler.transform(X.T), Y[j])
            model.predict(scaler.transform(XT.T))

    _, times["med"] = timed(med)
    return times, dci_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="time the reference DCI on factors 0-1 only and extrapolate")
    parser.add_argument("--skip-wide", action="store_true", help="skip the 2048-D run")
    parser.add_argument("--skip-narrow", action="store_true",
                        help="skip the 10-D comparison with the reference")
    parser.add_argument("--check-wide", action="store_true",
                        help="compare the wide-code shortcuts with their exact versions (256-D)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for BLAS, torch and numba (LightGBM uses one)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
    import gin_shim

    warm_up()
    print(f"threads: {args.threads}")
    if args.check_wide:
        check_wide()
    if not args.skip_narrow:
        narrow(args, gin_shim)
    if not args.skip_wide:
        x, y = representation(10_000, 2048, 2)
        xt, yt = representation(5_000, 2048, 3)
        wide = ours(x, y, xt, yt)
        print("2048-D codes, same factors and sizes, disentkit only:")
        for name in SUITE:
            print(f"  {name:26s} {wide[name]:8.2f} s")
        print(f"  {'total':26s} {sum(wide.values()):8.2f} s")


def narrow(args, gin_shim) -> None:
    """The 10-D suite with disentkit and the reference, and the fast-vs-reference DCI."""
    x, y = representation(10_000, 10, 0)
    xt, yt = representation(5_000, 10, 1)
    print(f"10-D codes, factors {SIZES.tolist()}, 10,000 train / 5,000 test")
    mine = ours(x, y, xt, yt)
    ref = gin_shim.import_reference_metrics()
    if ref is None:
        print("disentanglement_lib not installed: no reference timings")
        for name in SUITE:
            print(f"  {name:26s} disentkit {mine[name]:8.2f} s")
        print(f"  {'total':26s} disentkit {sum(mine.values()):8.2f} s")
    else:
        gin_shim.bind_discretizer(20)
        dci_factors = [0, 1] if args.quick else list(range(SIZES.size))
        theirs, (importance, ref_train, ref_test) = reference(ref, x, y, xt, yt, dci_factors)
        if args.quick:  # a multiclass GBT costs about one tree per class and stage
            scale = SIZES.sum() / SIZES[dci_factors].sum()
            theirs["dci"] *= scale
            print(f"  (--quick: reference DCI timed on factors {dci_factors} and scaled by the "
                  f"class count, x{scale:.1f}; an extrapolation)")
        for name in SUITE:
            print(f"  {name:26s} disentkit {mine[name]:8.2f} s   reference {theirs[name]:8.2f} s"
                  f"   x{theirs[name] / mine[name]:7.1f}")
        total_mine, total_ref = sum(mine.values()), sum(theirs.values())
        print(f"  {'total':26s} disentkit {total_mine:8.2f} s   reference {total_ref:8.2f} s"
              f"   x{total_ref / total_mine:7.1f}")
        # DCI agreement of the fast estimator with the reference GBT on the same factors
        fast_r, fast_train, fast_test = M._dci.gbt_importance_matrix(
            x, y[:, dci_factors], xt, yt[:, dci_factors], estimator="fast"
        )
        print(f"DCI fast vs reference GBT (factors {dci_factors}):")
        pairs = {
            "disentanglement": (dci_disentanglement(fast_r), dci_disentanglement(importance)),
            "completeness": (dci_completeness(fast_r), dci_completeness(importance)),
            "informativeness_train": (fast_train, ref_train),
            "informativeness_test": (fast_test, ref_test),
        }
        for key, (a, b) in pairs.items():
            print(f"  {key:22s} fast {a:.4f}   reference {b:.4f}   diff {a - b:+.4f}")


if __name__ == "__main__":
    main()
