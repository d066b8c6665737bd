"""Degenerate representations are scored, not crashed on (issue 9, item 6).

Found by scoring what a broken or collapsed encoder gives: all-zero codes, codes whose rows are all
one vector (a collapsed encoder), NaN or infinite codes, one informative dimension among constant
ones, fewer samples than code dimensions, and a one-sample test split. Each metric returns the
value :mod:`disentkit.metrics` documents for an uninformative code (computed independently here)
or raises a ``ValueError`` that says what is wrong; :func:`evaluate` records a failing metric and
still returns the others. No numpy/scikit-learn/LightGBM error escapes, and no NaN or inf is
returned in silence.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from disentkit.metrics import (
    dci,
    downstream_task,
    evaluate,
    factor_vae_score,
    fairness,
    html_report,
    irs,
    knn_accuracy,
    linear_probe,
    med,
    mig,
    mig_sampled,
    modularity_explicitness,
    sap,
    unsupervised,
)
from disentkit.metrics._dci import dci_completeness, dci_disentanglement, gbt_importance_matrix
from disentkit.metrics._gbt import FastGBTClassifier, share_among_equivalent
from disentkit.metrics._sap import discrete_score_matrix
from _pixel_factors import PixelFactors, identity

N, N_TEST, D = 300, 120, 4
# a clear majority class, so "the most frequent class" is never a tie
PROBS = np.array([0.45, 0.3, 0.15, 0.1])


def _factors(n: int, seed: int, num_factors: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([rng.choice(4, size=n, p=PROBS) for _ in range(num_factors)], axis=1)


Y, YT = _factors(N, 0), _factors(N_TEST, 1)


def _constant(kind: str, n: int) -> np.ndarray:
    if kind == "zeros":
        return np.zeros((n, D))
    # collapsed: every row is the same (non-zero, irregular) vector, train and test alike
    return np.tile(np.array([0.3, -1.7, 2.2, 1e-3]), (n, 1))


def _majority(train: np.ndarray, test: np.ndarray) -> tuple[float, float]:
    """Mean accuracy over factors of answering each factor's most frequent train class."""
    top = [np.bincount(train[:, j]).argmax() for j in range(train.shape[1])]
    return (float(np.mean([np.mean(train[:, j] == t) for j, t in enumerate(top)])),
            float(np.mean([np.mean(test[:, j] == t) for j, t in enumerate(top)])))


def _knn_first_rows(train: np.ndarray, test: np.ndarray, k: int) -> float:
    """kNN accuracy when every distance ties: the first k train rows vote (most votes, then the
    class met first among them)."""
    acc = []
    for j in range(train.shape[1]):
        labels = train[:k, j]
        counts = np.bincount(labels)
        best = [c for c in range(counts.size) if counts[c] == counts.max()]
        winner = min(best, key=lambda c: int(np.flatnonzero(labels == c)[0]))
        acc.append(np.mean(test[:, j] == winner))
    return float(np.mean(acc))


def _all_finite(values: dict) -> bool:
    return all(np.isfinite(v) for v in values.values())


# --------------------------------------------------------------------------- constant codes
@pytest.mark.parametrize("kind", ["zeros", "collapsed"])
def test_constant_codes_get_the_documented_uninformative_values(kind):
    x, xt = _constant(kind, N), _constant(kind, N_TEST)
    split = dict(codes_test=xt, factors_test=YT)
    train_major, test_major = _majority(Y, YT)

    assert mig(x, Y) == {"discrete_mig": 0.0}
    assert sap(x, Y, **split) == {"SAP_score": 0.0}
    assert sap(x, Y, **split, solver="reference") == {"SAP_score": 0.0}
    assert sap(x, Y, continuous_factors=True) == {"SAP_score": 0.0}
    assert irs(x, Y) == {"IRS": 0.0, "num_active_dims": 0.0}
    assert unsupervised(x) == {"gaussian_total_correlation": 0.0, "gaussian_wasserstein_correlation": 0.0,
                               "gaussian_wasserstein_correlation_norm": 0.0, "mutual_info_score": 0.0}
    assert modularity_explicitness(x, Y, **split) == {
        "modularity_score": 0.0, "explicitness_score_train": 0.5, "explicitness_score_test": 0.5}
    for estimator in ("fast", "reference"):  # the fast one used to crash inside LightGBM
        out = dci(x, Y, **split, estimator=estimator)
        assert out["disentanglement"] == 0.0 and out["completeness"] == 0.0, estimator
        assert out["informativeness_train"] == pytest.approx(train_major, abs=1e-12), estimator
        assert out["informativeness_test"] == pytest.approx(test_major, abs=1e-12), estimator

    scores = med(x, Y, **split)
    zero_keys = ["disentanglement", "completeness", "top1_disentanglement", "top1_completeness",
                 "informative_codes", *(f"code_disentanglement_bin_{b}" for b in range(10))]
    assert {k: scores[k] for k in zero_keys} == dict.fromkeys(zero_keys, 0.0)
    assert scores["informativeness_train"] == pytest.approx(train_major)
    assert scores["informativeness_test"] == pytest.approx(test_major)

    probe = linear_probe(x, Y, xt, YT)
    assert probe["train_accuracy"] == pytest.approx(train_major)
    assert probe["test_accuracy"] == pytest.approx(test_major)
    k = 7
    assert knn_accuracy(x, Y, xt, YT, k=k)["test_accuracy"] == pytest.approx(_knn_first_rows(Y, YT, k))


@pytest.mark.parametrize("kind", ["zeros", "collapsed"])
def test_constant_codes_with_one_factor_score_zero_not_the_one_factor_convention(kind):
    """With F = 1, DCI and MED call every code trivially disentangled; that convention must not
    make a constant code score 1."""
    x, xt = _constant(kind, N), _constant(kind, N_TEST)
    y, yt = Y[:, :1], YT[:, :1]
    for estimator in ("fast", "reference"):
        out = dci(x, y, codes_test=xt, factors_test=yt, estimator=estimator)
        assert (out["disentanglement"], out["completeness"]) == (0.0, 0.0)
    scores = med(x, y, codes_test=xt, factors_test=yt)
    assert (scores["disentanglement"], scores["completeness"], scores["informative_codes"]) == (0.0, 0.0, 0.0)
    assert dci_disentanglement(np.zeros((3, 1))) == 0.0 and dci_completeness(np.zeros((1, 3))) == 0.0
    assert dci_disentanglement(np.array([[1.0], [2.0]])) == 1.0  # the convention itself is kept


def test_dci_scores_stay_in_the_unit_interval():
    # a uniform importance matrix left completeness at -2.2e-16 by rounding
    assert dci_completeness(np.ones((5, 2))) == 0.0 and dci_disentanglement(np.ones((5, 2))) == 0.0


# --------------------------------------------------------------------------- NaN, inf, huge codes
def _array_calls():
    good_test = np.random.default_rng(2).normal(size=(N_TEST, D))
    return {
        "mig": lambda x, xt: mig(x, Y),
        "sap": lambda x, xt: sap(x, Y, codes_test=xt, factors_test=YT),
        "dci": lambda x, xt: dci(x, Y, codes_test=xt, factors_test=YT),
        "modularity_explicitness": lambda x, xt: modularity_explicitness(x, Y, codes_test=xt, factors_test=YT),
        "irs": lambda x, xt: irs(x, Y),
        "unsupervised": lambda x, xt: unsupervised(x),
        "med": lambda x, xt: med(x, Y, codes_test=xt, factors_test=YT),
        "linear_probe": lambda x, xt: linear_probe(x, Y, xt, YT),
        "knn": lambda x, xt: knn_accuracy(x, Y, xt, YT),
    }, good_test


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("metric", ["mig", "sap", "dci", "modularity_explicitness", "irs", "unsupervised",
                                    "med", "linear_probe", "knn"])
def test_non_finite_codes_are_a_clear_error(metric, bad):
    calls, good_test = _array_calls()
    x = np.random.default_rng(3).normal(size=(N, D))
    x[17, 2] = bad
    with pytest.raises(ValueError, match=r"codes contains 1 NaN or infinite values \(first at row 17, column 2\)"):
        calls[metric](x, good_test)
    x = np.random.default_rng(3).normal(size=(N, D))
    x[5, 0] = 1e200  # finite, but its square overflows float64
    with pytest.raises(ValueError, match=r"values as large as 1e\+200 \(first at row 5, column 0\).*rescale"):
        calls[metric](x, good_test)


@pytest.mark.parametrize("metric", ["sap", "dci", "modularity_explicitness", "med", "linear_probe", "knn"])
def test_non_finite_test_codes_are_a_clear_error(metric):
    calls, good_test = _array_calls()
    bad_test = good_test.copy()
    bad_test[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"codes_test contains 1 NaN or infinite values \(first at row 3, column 1\)"):
        calls[metric](np.random.default_rng(3).normal(size=(N, D)), bad_test)


# --------------------------------------------------------------------------- one informative dimension
def _one_informative(n: int, factors: np.ndarray, seed: int) -> np.ndarray:
    """Code 0 carries factor 0 (with a little noise); codes 1..3 are constant."""
    rng = np.random.default_rng(seed)
    return np.column_stack([factors[:, 0] + 0.05 * rng.normal(size=n), np.zeros(n), np.full(n, 2.5),
                            np.full(n, -1.0)])


def test_one_informative_dimension_scores_as_that_dimension_alone():
    x, xt = _one_informative(N, Y, 4), _one_informative(N_TEST, YT, 5)
    split = dict(codes_test=xt, factors_test=YT)
    # MIG: code 0 holds all of factor 0 (4 well separated values); for factor 1 it is the only code
    # with any MI, so the gap is its (small-sample) MI with factor 1, normalised
    bins0 = np.digitize(x[:, 0], np.histogram(x[:, 0], 20)[1][:-1])
    gaps = [mutual_info_score(Y[:, j], bins0) / mutual_info_score(Y[:, j], Y[:, j]) for j in range(2)]
    assert mig(x, Y)["discrete_mig"] == pytest.approx(np.mean(gaps), abs=1e-12)
    assert gaps[0] == pytest.approx(1.0)

    # DCI: the constant codes get importance 0; everything equals a fit on code 0 alone
    for estimator in ("fast", "reference"):
        r1, train_acc, test_acc = gbt_importance_matrix(x[:, :1], Y, xt[:, :1], YT, estimator=estimator)
        padded = np.vstack([r1, np.zeros((D - 1, 2))])
        out = dci(x, Y, **split, estimator=estimator)
        assert out["disentanglement"] == pytest.approx(dci_disentanglement(padded), abs=1e-12)
        assert out["completeness"] == pytest.approx(dci_completeness(padded), abs=1e-12)
        assert out["completeness"] > 0.99
        assert (out["informativeness_train"], out["informativeness_test"]) == pytest.approx((train_acc, test_acc))

    # SAP: a constant code's accuracy is the majority class's, so each gap is |S_0j - majority_j|
    s0 = discrete_score_matrix(x[:, :1], Y, xt[:, :1], YT)[0]
    majority = np.array([np.mean(YT[:, j] == np.bincount(Y[:, j]).argmax()) for j in range(2)])
    assert sap(x, Y, **split)["SAP_score"] == pytest.approx(np.mean(np.abs(s0 - majority)), abs=1e-12)

    assert irs(x, Y) == irs(x[:, :1], Y)
    assert irs(x, Y)["num_active_dims"] == 1.0
    assert unsupervised(x) == {"gaussian_total_correlation": 0.0, "gaussian_wasserstein_correlation": 0.0,
                               "gaussian_wasserstein_correlation_norm": 0.0, "mutual_info_score": 0.0}
    scores = med(x, Y, **split)
    assert scores["informative_codes"] == 1.0 and scores["completeness"] > 0.99
    for name, values in [("modularity", modularity_explicitness(x, Y, **split)),
                         ("probe", linear_probe(x, Y, xt, YT)), ("knn", knn_accuracy(x, Y, xt, YT))]:
        assert _all_finite(values), name


def test_fast_gbt_never_groups_a_varying_feature_with_a_constant_or_coarser_one():
    # sorted samples: an argsort of the informative column equals that of a constant column, and
    # of a coarser column with ties; only exact (reversed) rank equality makes features equivalent
    x = np.column_stack([np.arange(8.0), np.zeros(8), np.repeat([0.0, 1.0], 4), -np.arange(8.0) ** 3])
    shared = share_among_equivalent(x, np.array([0.6, 0.0, 0.4, 0.0]))
    np.testing.assert_array_equal(shared, [0.3, 0.0, 0.4, 0.3])  # 0 and 3: monotone transforms


def test_fast_gbt_on_constant_features_is_the_prior():
    y = _factors(N, 6)[:, 0]
    model = FastGBTClassifier().fit(np.ones((N, 3)), y)
    np.testing.assert_array_equal(model.feature_importances_, np.zeros(3))
    assert (model.predict(np.zeros((5, 3))) == np.bincount(y).argmax()).all()
    np.testing.assert_allclose(model.predict_proba(np.zeros((2, 3))), np.tile(np.bincount(y) / N, (2, 1)))


# --------------------------------------------------------------------------- undefined values
def test_unsupervised_with_no_more_samples_than_dimensions_is_an_error():
    rng = np.random.default_rng(7)
    for n, d in [(4, 10), (10, 10)]:
        with pytest.raises(ValueError, match=rf"unsupervised: {n} samples for {d} non-constant code dimensions: "
                                             r"with N <= D the covariance is singular"):
            unsupervised(rng.normal(size=(n, d)))
    # constant dimensions do not count: 6 samples, 5 varying dimensions (+ 5 constant) is fine
    codes = np.column_stack([rng.normal(size=(6, 5)), np.zeros((6, 5))])
    assert _all_finite(unsupervised(codes))


def test_unsupervised_on_duplicate_dimensions_warns_and_reports_the_exact_inf():
    x = np.random.default_rng(8).normal(size=(500, 3))
    with pytest.warns(RuntimeWarning, match="covariance of the 4 non-constant code dimensions is singular"):
        out = unsupervised(np.column_stack([x, x[:, :1]]))
    assert out["gaussian_total_correlation"] == np.inf  # was rounding noise: a large finite number
    assert np.isfinite(out["mutual_info_score"]) and np.isfinite(out["gaussian_wasserstein_correlation"])


def test_explicitness_on_a_one_sample_test_split_is_an_error_not_nan():
    x = np.random.default_rng(9).normal(size=(N, D))
    message = r"explicitness_score_test is undefined: in the test split of 1 sample\(s\) no factor takes two values"
    with pytest.raises(ValueError, match=message):
        modularity_explicitness(x, Y, codes_test=x[:1], factors_test=Y[:1])
    # two samples with the same factor values: still no AUC defined
    with pytest.raises(ValueError, match="test split of 2 sample"):
        modularity_explicitness(x, Y, codes_test=x[:2], factors_test=np.repeat(Y[:1], 2, axis=0))
    # one factor defined is enough (the undefined one is left out of the mean, as documented)
    yt = np.array([[0, 1], [1, 1]])
    assert np.isfinite(modularity_explicitness(x, Y, codes_test=x[:2], factors_test=yt)["explicitness_score_test"])


# --------------------------------------------------------------------------- dataset-level metrics


def collapsed(images: np.ndarray) -> np.ndarray:
    return np.tile(np.array([0.3, -1.7, 2.2, 5.0], dtype=np.float32), (images.shape[0], 1))


class NaNAfter:
    """identity, but NaN codes once ``after`` images have been encoded (a diverged encoder)."""

    def __init__(self, after: int):
        self.after, self.seen = after, 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        codes = identity(images).astype(np.float64)
        if self.seen + images.shape[0] > self.after:
            codes[:, 1] = np.nan
        self.seen += images.shape[0]
        return codes


class Posterior:
    """A posterior with one log-variance everywhere and zero means (no information)."""

    def __init__(self, logvar: float):
        self.logvar = logvar

    def __call__(self, images):
        return np.zeros((images.shape[0], 2))

    def encode(self, images):
        n = images.shape[0]
        return np.zeros((n, 2)), np.full((n, 2), self.logvar)


@pytest.fixture(scope="module")
def data():
    return PixelFactors()


def _sampled_majority(data, n: int, seed: int) -> np.ndarray:
    return data.sample_factors(n, np.random.default_rng(seed))


def test_boosted_tree_metrics_score_a_collapsed_encoder(data):
    """downstream (gradient boosting) and fairness fit LightGBM, which refused constant codes."""
    out = downstream_task(data, collapsed, rng=0, num_train=[50], num_test=60, predictor="gradient_boosting")
    assert _all_finite(out) and set(out) >= {"50:mean_test_accuracy"}
    reference = downstream_task(data, collapsed, rng=0, num_train=[50], num_test=60,
                                predictor="gradient_boosting", estimator="reference")
    assert out == reference  # both are the prior: the most frequent train class
    fair = fairness(data, collapsed, rng=0, num_train=100, num_test_points_per_class=5)
    assert set(fair.values()) == {0.0}  # a constant prediction is perfectly fair


def test_factor_vae_prunes_a_collapsed_dimension_even_without_a_threshold(data):
    out = factor_vae_score(data, collapsed, rng=0, batch_size=8, num_train=20, num_eval=10,
                           num_variance_estimate=50, prune_threshold=0.0)
    assert out == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}


@pytest.mark.parametrize("logvar", [-800.0, 800.0])
def test_mig_sampled_with_an_overflowing_posterior_is_an_error_not_nan(data, logvar):
    with pytest.raises(ValueError, match=rf"mig_sampled: the entropy estimates are not finite: q\(z\|x\) has "
                                         rf"log-variances from {logvar:g} to {logvar:g}"):
        mig_sampled(data, Posterior(logvar), rng=0, num_samples=60, num_entropy_samples=30)
    assert _all_finite(mig_sampled(data, Posterior(0.0), rng=0, num_samples=60, num_entropy_samples=30))


# --------------------------------------------------------------------------- evaluate()
TINY = dict(num_train=200, num_test=100)
TINY_INTERVENTION = {
    "beta_vae_score": {"num_train": 40, "num_eval": 20, "batch_size": 4},
    "factor_vae_score": {"num_train": 40, "num_eval": 20, "batch_size": 4, "num_variance_estimate": 60},
    "downstream_task_logistic_regression": {"num_train": [30]},
    "downstream_task_boosted_trees": {"num_train": [30]},
    "fairness": {"num_train": 60, "num_test_points_per_class": 3},
}


def test_evaluate_scores_a_collapsed_encoder_on_every_metric(data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no metric fails, nothing numpy complains about
        results = evaluate(data, collapsed, "all", preset="fast", progress=False,
                           settings=TINY_INTERVENTION, **TINY)
    assert "error" not in json.dumps(results)
    assert results["mig_sampled"]["skipped"] == "no Gaussian posterior"
    values = {name: r["values"] for name, r in results.items()}
    assert values["mig"] == {"discrete_mig": 0.0}
    assert values["sap"] == {"SAP_score": 0.0}
    assert values["dci"]["disentanglement"] == 0.0 and values["dci"]["completeness"] == 0.0
    assert values["irs"]["IRS"] == 0.0 and values["med"]["informative_codes"] == 0.0
    assert values["unsupervised"]["gaussian_total_correlation"] == 0.0
    assert values["factor_vae_score"]["num_active_dims"] == 0.0
    json.dumps(results, allow_nan=False)  # every value finite


def test_evaluate_records_failing_metrics_and_returns_the_others(data):
    settings = {"unsupervised": {"num_train": 3},  # 3 samples for 3 varying codes: N <= D
                "modularity_explicitness": {"num_test": 1}}  # one test sample: AUC undefined
    names = ["mig", "dci", "modularity_explicitness", "unsupervised", "knn"]
    splits = {}
    with pytest.warns(RuntimeWarning) as caught:
        results = evaluate(data, identity, names, progress=False, settings=settings, on_splits=splits.update,
                           **TINY)
    failed = sorted(str(w.message).split(" failed;")[0] for w in caught)
    assert failed == ["evaluate: modularity_explicitness", "evaluate: unsupervised"]
    assert list(results) == names
    unsup, modexp = results["unsupervised"], results["modularity_explicitness"]
    assert unsup["values"] == {} and unsup["error"].startswith(
        "ValueError: unsupervised: 3 samples for 3 non-constant code dimensions: with N <= D")
    assert modexp["values"] == {} and modexp["error"].startswith(
        "ValueError: modularity_explicitness: explicitness_score_test is undefined")
    assert unsup["settings"]["num_train"] == 3 and modexp["settings"]["num_test"] == 1  # what the worker reads
    # the good metrics have exactly the values they have alone, and no error
    (x, y), (xt, yt) = splits["train"], splits["test"]
    from disentkit.metrics._evaluate import metric_seed
    assert results["mig"]["values"] == mig(x, y)
    assert results["dci"]["values"] == dci(x, y, codes_test=xt, factors_test=yt, seed=metric_seed(0, "dci"))
    assert results["knn"]["values"] == knn_accuracy(x, y, xt, yt, factor_names=["f0", "f1", "f2"])
    assert all("error" not in results[n] for n in ("mig", "dci", "knn"))
    json.dumps(results, allow_nan=False)
    page = html_report(results)
    assert "failed: ValueError: unsupervised: 3 samples" in page
    # on_error="raise" is the old behaviour, for debugging a metric
    with pytest.raises(ValueError, match="with N <= D"):
        evaluate(data, identity, ["mig", "unsupervised"], progress=False, on_error="raise",
                 settings={"unsupervised": {"num_train": 3}}, num_train=200)
    with pytest.raises(ValueError, match=r"on_error must be one of \('record', 'raise'\)"):
        evaluate(data, identity, "mig", progress=False, on_error="ignore")


def test_evaluate_records_a_metric_that_returns_nan(data, monkeypatch):
    import disentkit.metrics as metrics

    def nan_irs(codes, factors, **kwargs):
        return {"IRS": float("nan"), "num_active_dims": 3.0}

    monkeypatch.setattr(metrics, "irs", nan_irs)
    with pytest.warns(RuntimeWarning, match="evaluate: irs failed"):
        results = evaluate(data, identity, ["mig", "irs"], progress=False, num_train=200)
    assert results["irs"]["values"] == {}
    assert results["irs"]["error"] == ("ValueError: irs returned non-finite values (IRS=nan); "
                                       "a result holds finite values only")
    assert results["mig"]["values"]["discrete_mig"] > 0.9


def test_evaluate_with_a_representation_that_returns_nan(data):
    """The shared splits cannot be encoded: every array metric records why; a dataset-level
    metric encodes its own images, fails the same way, and the good one still runs."""
    with pytest.warns(RuntimeWarning):
        results = evaluate(data, NaNAfter(150), ["mig", "sap", "factor_vae_score"], progress=False,
                           settings={"factor_vae_score": TINY_INTERVENTION["factor_vae_score"]}, **TINY)
    for name in ("mig", "sap"):
        assert results[name]["values"] == {} and results[name]["seconds"] == 0.0
        assert results[name]["error"].startswith("encoding the shared splits failed: ValueError: ")
        assert "NaN or infinite values" in results[name]["error"]
    assert "NaN or infinite values" in results["factor_vae_score"]["error"]
    good = evaluate(data, NaNAfter(10**9), ["mig", "factor_vae_score"], progress=False,
                    settings={"factor_vae_score": TINY_INTERVENTION["factor_vae_score"]}, num_train=200)
    assert all("error" not in r for r in good.values())
    with pytest.raises(ValueError, match="NaN or infinite values"):
        evaluate(data, NaNAfter(0), ["mig"], progress=False, on_error="raise", num_train=200)
