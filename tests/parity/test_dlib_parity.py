"""Parity with disentanglement_lib 1.5 (the PyPI wheel) on identical arrays.

Needs the dev-only oracle: ``pip install --no-deps disentanglement-lib==1.5 gin-config==0.5.0
absl-py six``; skipped otherwise. The reference takes transposed (D, N) / (F, N) arrays. MED is not
in the wheel (it lives in the disentanglement_lib_med fork), so its oracle below is written from
the spec's step list (spec §5) on top of the wheel's MI and DCI functions.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import gin_shim
from disentkit.metrics import dci, irs, med, mig, modularity_explicitness, sap, unsupervised
from disentkit.metrics._dci import dci_completeness, dci_disentanglement

ref = gin_shim.import_reference_metrics()
pytestmark = pytest.mark.skipif(
    ref is None,
    reason="disentanglement_lib is not installed: pip install --no-deps disentanglement-lib==1.5 "
    "gin-config==0.5.0 absl-py six",
)

SIZES = np.array([3, 6, 10, 8, 8])
TOL = 1e-9


def _representation(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, SIZES, size=(n, SIZES.size))
    base = (y + rng.uniform(size=y.shape)) / SIZES
    noise = rng.normal(size=(n, 3))
    if kind == "identity":
        x = np.column_stack([base + 0.05 * rng.normal(size=y.shape), noise])
    elif kind == "rotation":
        q = np.linalg.qr(np.random.default_rng(7).normal(size=(8, 8)))[0]
        x = np.column_stack([base, 0.3 * noise]) @ q
    elif kind == "duplicates":
        x = np.column_stack([base, base[:, :2], np.exp(2 * base[:, 2]), noise[:, :1]])
    elif kind == "constant":
        x = np.column_stack([base, np.zeros(n), np.full(n, 3.5), noise[:, :1]])
    elif kind == "wide":
        w = np.random.default_rng(8).normal(size=(SIZES.size, 256))
        x = np.tanh(base @ w) + 0.1 * rng.normal(size=(n, 256))
    else:
        raise AssertionError(kind)
    return x, y


KINDS = ["identity", "rotation", "duplicates", "constant", "wide"]


@pytest.fixture(scope="module", autouse=True)
def _gin_bindings():
    if ref is not None:
        gin_shim.bind_discretizer(20)


@functools.lru_cache(maxsize=None)
def _data(kind: str) -> tuple[np.ndarray, np.ndarray]:
    return _representation(kind, 2000, 0)


@pytest.mark.parametrize("kind", KINDS)
def test_mig_matches_reference(kind):
    x, y = _data(kind)
    expected = ref.mig._compute_mig(x.T, y.T)["discrete_mig"]
    assert mig(x, y)["discrete_mig"] == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("kind", KINDS)
def test_modularity_matches_reference(kind):
    x, y = _data(kind)
    mi = ref.utils.discrete_mutual_info(ref.utils.make_discretizer(x.T), y.T)
    expected = ref.modularity_explicitness.modularity(mi)
    xt, yt = _representation(kind, 500, 1)
    ours = modularity_explicitness(x, y, codes_test=xt, factors_test=yt)
    assert ours["modularity_score"] == pytest.approx(expected, abs=TOL)


@pytest.mark.parametrize("kind", ["identity", "rotation", "duplicates"])
def test_explicitness_matches_reference(kind):
    # the reference standardises with std 0 -> NaN, so constant codes are not compared here
    x, y = _representation(kind, 600, 0)
    xt, yt = _representation(kind, 400, 1)
    xn, mean, std = ref.utils.normalize_data(x.T)
    xtn, _, _ = ref.utils.normalize_data(xt.T, mean, std)
    per_factor = [
        ref.modularity_explicitness.explicitness_per_factor(xn, y[:, j], xtn, yt[:, j])
        for j in range(y.shape[1])
    ]
    ours = modularity_explicitness(x, y, codes_test=xt, factors_test=yt)
    assert ours["explicitness_score_train"] == pytest.approx(
        np.mean([p[0] for p in per_factor]), abs=1e-9
    )
    assert ours["explicitness_score_test"] == pytest.approx(
        np.mean([p[1] for p in per_factor]), abs=1e-9
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("quantile", [0.99, 1.0])
def test_irs_matches_reference(kind, quantile):
    x, y = _data(kind)
    ys_discrete = ref.utils.make_discretizer(y.T)
    active = ref.irs._drop_constant_dims(x.T)
    expected = ref.irs.scalable_disentanglement_score(ys_discrete.T, active.T, quantile)
    ours = irs(x, y, diff_quantile=quantile)
    assert ours["IRS"] == pytest.approx(expected["avg_score"], abs=TOL)
    # the reference's num_active_dims is np.sum(active_mus) (a bug); ours is the count
    assert ours["num_active_dims"] == active.shape[0]


@pytest.mark.parametrize("kind", KINDS)
def test_unsupervised_matches_reference(kind):
    x, _ = _data(kind)
    um = ref.unsupervised_metrics
    varying = x.var(axis=0) > 0
    ours = unsupervised(x)
    cov = np.cov(x.T)
    w2 = np.real(um.gaussian_wasserstein_correlation(cov))
    # a singular covariance (duplicated codes) puts sqrt(rounding noise) ~ 1e-8 into both traces
    rel = 1e-6 if kind == "duplicates" else 1e-9
    assert ours["gaussian_wasserstein_correlation"] == pytest.approx(w2, rel=rel)
    assert ours["gaussian_wasserstein_correlation_norm"] == pytest.approx(
        w2 / np.trace(cov), rel=rel
    )
    if kind != "duplicates":  # singular covariance: both are rounding noise around +inf
        # constant dims: the reference gives NaN; ours leaves them out
        expected_tc = um.gaussian_total_correlation(np.cov(x[:, varying].T))
        assert ours["gaussian_total_correlation"] == pytest.approx(expected_tc, rel=1e-9)
    # pairwise MI: the reference makes D^2 sklearn calls, so compare on at most 24 dimensions
    sub = x[:, :24]
    d = sub.shape[1]
    mi = ref.utils.discrete_mutual_info(ref.utils.make_discretizer(sub.T), ref.utils.make_discretizer(sub.T))
    np.fill_diagonal(mi, 0)
    expected_mi = mi.sum() / (d * d - d)
    assert unsupervised(sub)["mutual_info_score"] == pytest.approx(expected_mi, abs=TOL)


def test_dci_formulas_match_reference():
    rng = np.random.default_rng(3)
    cases = [
        rng.uniform(size=(10, 5)),
        rng.uniform(size=(256, 5)) ** 8,
        np.eye(6, 4),
        np.vstack([rng.uniform(size=(4, 3)), np.zeros((3, 3))]),
        np.zeros((4, 3)),
    ]
    for r in cases:
        assert dci_disentanglement(r) == pytest.approx(ref.dci.disentanglement(r), abs=TOL)
        assert dci_completeness(r) == pytest.approx(ref.dci.completeness(r), abs=TOL)


def test_dci_reference_estimator_matches_seeded_reference(monkeypatch):
    from sklearn import ensemble

    x, y = _representation("identity", 300, 0)
    xt, yt = _representation("identity", 200, 1)
    y, yt = y[:, :3], yt[:, :3]
    seeded = functools.partial(ensemble.GradientBoostingClassifier, random_state=5)
    monkeypatch.setattr(ref.dci.ensemble, "GradientBoostingClassifier", seeded)
    expected = ref.dci._compute_dci(x.T, y.T, xt.T, yt.T)
    ours = dci(x, y, codes_test=xt, factors_test=yt, estimator="reference", seed=5)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, abs=TOL), key


def test_sap_matches_reference():
    x, y = _representation("identity", 1000, 0)
    xt, yt = _representation("identity", 500, 1)
    x, xt = x[:, [0, 1, 2, 5]], xt[:, [0, 1, 2, 5]]
    y, yt = y[:, :3], yt[:, :3]
    expected = ref.sap_score._compute_sap(x.T, y.T, xt.T, yt.T, False)["SAP_score"]
    ours = sap(x, y, codes_test=xt, factors_test=yt)["SAP_score"]
    # the fast solver reaches the SVM optimum, liblinear stops at its tolerance
    assert ours == pytest.approx(expected, abs=3e-3)
    assert sap(x, y, codes_test=xt, factors_test=yt, solver="reference")["SAP_score"] == (
        pytest.approx(expected, abs=TOL)
    )
    continuous = ref.sap_score._compute_sap(x.T, y.T, xt.T, yt.T, True)["SAP_score"]
    assert sap(x, y, continuous_factors=True)["SAP_score"] == pytest.approx(continuous, abs=TOL)


def _med_oracle(x: np.ndarray, y: np.ndarray, k: int) -> dict[str, float]:
    """MED's importance, D/C and top-k selection, step by step from spec §5 (not from its code)."""
    m = ref.utils.discrete_mutual_info(ref.utils.make_discretizer(x.T), y.T)  # (D, F)
    p = m / m.sum(axis=0)  # step 3
    out = {
        "disentanglement": ref.dci.disentanglement(p),  # step 4: DCI's formulas
        "completeness": ref.dci.completeness(p),
    }
    per_code = ref.dci.disentanglement_per_code(p)  # step 6
    owner = p.argmax(axis=1)
    chosen: dict[int, list[int]] = {j: [] for j in range(p.shape[1])}
    for code in sorted(range(p.shape[0]), key=lambda i: -per_code[i]):
        if len(chosen[owner[code]]) < k:
            chosen[owner[code]].append(code)
    rows = sorted({c for codes in chosen.values() for c in codes})
    out[f"top{k}_disentanglement"] = ref.dci.disentanglement(p[rows])
    out[f"top{k}_completeness"] = ref.dci.completeness(p[rows])
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("k", [1, 2])
def test_med_matches_spec_oracle(kind, k):
    x, y = _data(kind)
    xt, yt = _representation(kind, 300, 1)
    ours = med(x, y, codes_test=xt, factors_test=yt, topk=k)
    for key, value in _med_oracle(x, y, k).items():
        assert ours[key] == pytest.approx(value, abs=TOL), key
