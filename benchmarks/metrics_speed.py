"""Speed (and DCI agreement) of disentkit's array-level metrics against disentanglement_lib.

Runs the suite mig, sap, dci, modularity_explicitness, irs, unsupervised, med on a 10-D
representation of dSprites-sized factors (3/6/40/32/32; 10,000 train, 5,000 test) with disentkit
and with the reference (disentanglement_lib 1.5 through the gin stand-in of tests/parity, MED from
its spec steps), prints per-metric times and the speed-up, compares the fast DCI estimator with the
reference GBT, then times the disentkit suite on 2048-D codes.

    python benchmarks/metrics_speed.py            # reference DCI on all factors (minutes)
    python benchmarks/metrics_speed.py --quick    # reference DCI on factors 0-1, extrapolated

Everything runs on one thread.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

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
    times = {}
    for name in SUITE:
        _, times[name] = timed(getattr(M, name), x, y, codes_test=xt, factors_test=yt)
    return times


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
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "parity"))
    import gin_shim

    x, y = representation(10_000, 10, 0)
    xt, yt = representation(5_000, 10, 1)
    print(f"10-D codes, factors {SIZES.tolist()}, 10,000 train / 5,000 test, 1 thread")
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
    if not args.skip_wide:
        x, y = representation(10_000, 2048, 2)
        xt, yt = representation(5_000, 2048, 3)
        wide = ours(x, y, xt, yt)
        print("2048-D codes, same factors and sizes, disentkit only:")
        for name in SUITE:
            print(f"  {name:26s} {wide[name]:8.2f} s")
        print(f"  {'total':26s} {sum(wide.values()):8.2f} s")


if __name__ == "__main__":
    main()
