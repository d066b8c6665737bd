"""Bad input to the array-level metrics: a clear ValueError or a documented value, never a crash
inside numpy, scikit-learn or LightGBM."""

from __future__ import annotations

import numpy as np
import pytest

from disentkit.metrics import dci, irs, med, mig, modularity_explicitness, sap, unsupervised

SUPERVISED = [mig, sap, dci, modularity_explicitness, irs, med]
NEEDS_TEST = [sap, dci, modularity_explicitness, med]


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, [2, 3], size=(n, 2))
    x = np.column_stack([y + 0.1 * rng.normal(size=y.shape), rng.normal(size=n)])
    return x, y


def _call(metric, x, y, xt=None, yt=None):
    if xt is None:
        xt, yt = _data(30, 1)
    return metric(x, y, codes_test=xt, factors_test=yt)


@pytest.mark.parametrize("metric", SUPERVISED + [unsupervised])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_codes(metric, bad):
    x, y = _data()
    x[3, 1] = bad
    with pytest.raises(ValueError, match="NaN or infinite.*row 3, column 1"):
        _call(metric, x, y)


@pytest.mark.parametrize("metric", SUPERVISED)
def test_mismatched_lengths(metric):
    x, y = _data()
    with pytest.raises(ValueError, match="59 rows but the codes have 60"):
        _call(metric, x, y[:-1])
    xt, yt = _data(30, 1)
    if metric in NEEDS_TEST:
        with pytest.raises(ValueError, match="factors_test has 29 rows"):
            _call(metric, x, y, xt, yt[:-1])


@pytest.mark.parametrize("metric", SUPERVISED + [unsupervised])
def test_one_dimensional_arrays(metric):
    x, y = _data()
    with pytest.raises(ValueError, match=r"2-D array of shape \(N, D\)"):
        _call(metric, x[:, 0], y)
    if metric is not unsupervised:
        with pytest.raises(ValueError, match=r"2-D integer array of shape \(N, F\)"):
            _call(metric, x, y[:, 0])


@pytest.mark.parametrize("metric", SUPERVISED)
def test_constant_factor(metric):
    x, y = _data()
    y[:, 1] = 4
    with pytest.raises(ValueError, match=r"column\(s\) \[1\] take a single value"):
        _call(metric, x, y)


@pytest.mark.parametrize("metric", SUPERVISED)
def test_non_integer_factors(metric):
    x, y = _data()
    with pytest.raises(ValueError, match="integer class indices"):
        _call(metric, x, y + 0.5)


@pytest.mark.parametrize("metric", NEEDS_TEST)
def test_missing_test_split(metric):
    x, y = _data()
    with pytest.raises(ValueError, match="needs a held-out split"):
        metric(x, y)
    with pytest.raises(ValueError, match="together"):
        metric(x, y, codes_test=x)


def test_wrong_test_width():
    x, y = _data()
    with pytest.raises(ValueError, match="codes_test has 2 dimensions but codes has 3"):
        dci(x, y, codes_test=x[:, :2], factors_test=y)


@pytest.mark.parametrize("metric", SUPERVISED + [unsupervised])
def test_single_code_dimension_gives_documented_values(metric):
    x, y = _data()
    out = _call(metric, x[:, :1], y, _data(30, 1)[0][:, :1], _data(30, 1)[1])
    assert all(np.isfinite(v) for v in out.values())
    if metric is dci or metric is med:
        assert out["completeness"] == 1.0  # one code: trivially complete
    if metric is unsupervised:
        assert out["mutual_info_score"] == 0.0 and out["gaussian_total_correlation"] == 0.0


@pytest.mark.parametrize("metric", SUPERVISED + [unsupervised])
def test_fewer_samples_than_classes(metric):
    # 4 samples, a factor with 4 classes seen once each (and a class in test never seen in train)
    x = np.array([[0.1, 1.0], [0.5, 2.0], [0.9, 0.0], [0.3, 0.5]])
    y = np.array([[0, 0], [1, 1], [2, 0], [3, 1]])
    xt, yt = x[:2] + 0.01, np.array([[5, 0], [1, 1]])
    out = _call(metric, x, y, xt, yt)
    assert all(np.isfinite(v) for v in out.values())


@pytest.mark.parametrize("metric", SUPERVISED + [unsupervised])
def test_one_sample(metric):
    x, y = _data()
    with pytest.raises(ValueError, match="at least 2 samples"):
        _call(metric, x[:1], y[:1])


def test_bad_settings():
    x, y = _data()
    xt, yt = _data(30, 1)
    with pytest.raises(ValueError, match="num_bins"):
        mig(x, y, num_bins=0)
    with pytest.raises(ValueError, match="estimator must be one of"):
        dci(x, y, codes_test=xt, factors_test=yt, estimator="xgb")
    with pytest.raises(ValueError, match="solver must be one of"):
        sap(x, y, codes_test=xt, factors_test=yt, solver="svc")
    with pytest.raises(ValueError, match="diff_quantile"):
        irs(x, y, diff_quantile=1.5)
    with pytest.raises(ValueError, match="topk"):
        med(x, y, codes_test=xt, factors_test=yt, topk=-1)
    with pytest.raises(ValueError, match="normalization"):
        med(x, y, codes_test=xt, factors_test=yt, normalization="max")


def test_explicitness_when_a_class_is_missing_from_the_test_split():
    x, y = _data(200)
    xt, yt = _data(60, 2)
    keep = yt[:, 1] != 2  # class 2 of factor 1 is absent from the test split
    out = modularity_explicitness(x, y, codes_test=xt[keep], factors_test=yt[keep])
    assert 0.5 < out["explicitness_score_test"] <= 1.0
