"""The fast paths of the array metrics against their plain versions: compiled counting kernels vs
NumPy, the torch logistic regression vs scikit-learn, the fast GBT's internals, DCI screening."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import disentkit.metrics._gbt as gbt
import disentkit.metrics._kernels as kernels
import disentkit.metrics._sap as sap_module
import disentkit.metrics._unsupervised as unsup
from disentkit.metrics import dci, med, mig, modularity_explicitness
from disentkit.metrics._gbt import FastGBTClassifier
from disentkit.metrics._information import (
    discrete_mi_matrix,
    histogram_discretize,
    mutual_information_matrix,
)
from disentkit.metrics._dci import gbt_importance_matrix, screened_codes
from disentkit.metrics._logistic import (
    _lbfgs,
    fit_logistic,
    fit_logistic_columns,
    logistic_fits,
    standardize,
)
from disentkit.metrics._sap import discrete_score_matrix

needs_numba = pytest.mark.skipif(not kernels.HAVE_NUMBA, reason="numba is not installed")


def _without_numba(monkeypatch) -> None:
    for module in (kernels, unsup, sap_module):
        monkeypatch.setattr(module, "HAVE_NUMBA", False)


def _codes(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 3))
    return np.tanh(base @ rng.normal(size=(3, d))) + 0.3 * rng.normal(size=(n, d))


# ----------------------------------------------------------------------------- counting kernels
@needs_numba
@pytest.mark.parametrize("d", [1, 2, 5, 8])
def test_pairwise_mi_kernel_equals_numpy_path(monkeypatch, d):
    labels = histogram_discretize(_codes(700, d, d), 20)
    labels[:, 0] = np.minimum(labels[:, 0], 3)  # a column with few distinct labels
    fast = unsup.pairwise_mutual_information(labels)
    _without_numba(monkeypatch)
    with pytest.warns(RuntimeWarning, match="numba is not installed"):
        slow = unsup.pairwise_mutual_information(labels)
    np.testing.assert_allclose(fast, slow, atol=1e-12)
    assert fast.shape == (d, d) and np.allclose(fast, fast.T)


@needs_numba
def test_pairwise_kernel_hand_counts_and_label_range():
    # columns (0, 0, 1, 1) and (0, 1, 0, 1): each joint cell counted once -> sum n log n = 0;
    # column 3 duplicates column 1: cells of 2 -> 2 * (2 log 2)
    labels = np.array([[0, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 0], [1, 1, 0, 1]])
    t = kernels.pairwise_joint_terms(labels)
    assert t[0, 1] == 0.0 and t[1, 3] == pytest.approx(4 * np.log(2))
    assert t[0, 2] == pytest.approx(4 * np.log(2))  # column 2 = 1 - column 0
    assert np.all(np.tril(t) == 0)
    with pytest.raises(ValueError, match="0..31"):
        kernels.pairwise_joint_terms(np.full((3, 2), 40))


@needs_numba
def test_discretiser_and_mi_matrix_kernels_equal_numpy_path(monkeypatch):
    x = _codes(900, 6, 3)
    x[:, 4] = 2.0  # constant
    x[:, 5] = np.round(x[:, 5], 1)  # many ties on the bin edges
    y = np.column_stack([np.random.default_rng(4).integers(0, 40, 900), (x[:, 0] > 0).astype(int)])
    fast_bins = histogram_discretize(x, 20)
    fast_mi = mutual_information_matrix(fast_bins, y)
    _without_numba(monkeypatch)
    np.testing.assert_array_equal(histogram_discretize(x, 20), fast_bins)
    np.testing.assert_allclose(mutual_information_matrix(fast_bins, y), fast_mi, atol=1e-12)


@needs_numba
def test_sap_line_accuracy_kernel_equals_numpy_path(monkeypatch):
    rng = np.random.default_rng(5)
    y, yt = rng.integers(0, 6, size=(600, 2)), rng.integers(0, 6, size=(300, 2))
    x = np.column_stack([y[:, 0] + 0.5 * rng.normal(size=600), rng.normal(size=600)])
    xt = np.column_stack([yt[:, 0] + 0.5 * rng.normal(size=300), rng.normal(size=300)])
    fast = discrete_score_matrix(x, y, xt, yt)
    _without_numba(monkeypatch)
    np.testing.assert_array_equal(discrete_score_matrix(x, y, xt, yt), fast)
    assert fast[0, 0] > 0.4 > fast[1, 0]


# --------------------------------------------------------------------------- logistic regression
def test_lbfgs_reaches_the_minimum_of_a_quadratic():
    a = np.diag([1.0, 10.0, 100.0])
    b = np.array([1.0, -2.0, 3.0])
    run = _lbfgs(np.zeros(3), max_iter=100, gtol=1e-10, ftol=0.0)
    point = next(run)
    try:
        while True:
            point = run.send((0.5 * point @ a @ point - b @ point, a @ point - b))
    except StopIteration as done:
        w, iters = done.value
    np.testing.assert_allclose(w, np.linalg.solve(a, b), atol=1e-8)
    assert 0 < iters < 100


@pytest.mark.parametrize("num_classes", [2, 5])
def test_torch_solver_agrees_with_sklearn(num_classes):
    rng = np.random.default_rng(num_classes)
    y = rng.integers(0, num_classes, 1500)
    x = _codes(1500, 80, 6) + 0.6 * np.eye(num_classes)[y] @ rng.normal(size=(num_classes, 80))
    x = (x - x.mean(0)) / x.std(0)
    ours = fit_logistic(x, y, solver="torch")
    theirs = fit_logistic(x, y, solver="sklearn")
    assert ours.solver == "torch" and theirs.solver == "sklearn"
    p_ours, p_theirs = ours.predict_proba(x), theirs.predict_proba(x)
    assert p_ours.shape == p_theirs.shape == (1500, num_classes)
    np.testing.assert_allclose(p_ours.sum(axis=1), 1.0)
    assert np.mean(ours.predict(x) == theirs.predict(x)) > 0.97
    assert abs(np.mean(ours.predict(x) == y) - np.mean(theirs.predict(x) == y)) < 0.01


def test_logistic_fits_are_checked_and_solvers_resolved():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(200, 3)), rng.integers(0, 3, size=(200, 2))
    first = fit_logistic_columns(x, y, solver="sklearn")
    assert [m.settings for m in first] == [("sklearn", 1.0, 100, 1e-4)] * 2
    assert first[0].num_samples == 200
    again = fit_logistic(x, y[:, 0], solver="sklearn")
    assert again is not first[0]  # no memo: a new fit, with the same numbers
    np.testing.assert_array_equal(again.coef, first[0].coef)
    assert fit_logistic(x, y[:, 0]).solver == "sklearn"  # auto: few dimensions
    with pytest.raises(ValueError, match="torch"):
        fit_logistic(x, y[:, 0], solver="newton")
    with pytest.raises(ValueError, match="solver"):
        med(x, y, codes_test=x, factors_test=y, solver="lbfgs")
    with pytest.raises(ValueError, match="two classes"):
        fit_logistic(x, np.zeros(200, dtype=int))
    with pytest.raises(ValueError, match="C must be > 0"):
        fit_logistic(x, y[:, 0], C=0.0)


def test_logistic_fits_passed_in_give_the_values_computed_inside():
    rng = np.random.default_rng(8)
    y, yt = rng.integers(0, 4, size=(800, 2)), rng.integers(0, 4, size=(300, 2))
    w = rng.normal(size=(2, 70))
    x = y @ w + rng.normal(size=(800, 70))
    xt = yt @ w + rng.normal(size=(300, 70))
    split = dict(codes_test=xt, factors_test=yt)
    fits = logistic_fits(x, y)  # 70 codes: the torch solver
    assert fits[0].solver == "torch"
    np.testing.assert_array_equal(fits[1].coef, fit_logistic(standardize(x, xt)[0], y[:, 1]).coef)
    alone = modularity_explicitness(x, y, **split)
    assert modularity_explicitness(x, y, **split, logistic_fits=fits) == alone
    assert med(x, y, **split, logistic_fits=fits) == med(x, y, **split)
    ref = modularity_explicitness(x, y, **split, solver="sklearn")
    assert alone["explicitness_score_test"] == pytest.approx(ref["explicitness_score_test"], abs=0.01)
    # fits that do not belong to these codes or settings are refused
    with pytest.raises(ValueError, match="2 models but there are 1 factors"):
        med(x, y[:, :1], **dict(split, factors_test=yt[:, :1]), logistic_fits=fits)
    with pytest.raises(ValueError, match=r"needs \('sklearn'"):
        med(x, y, **split, logistic_fits=fits, solver="sklearn")
    with pytest.raises(ValueError, match="fitted on 800 rows"):
        med(x[:500], y[:500], **split, logistic_fits=fits)
    with pytest.raises(ValueError, match="classes"):
        med(x, np.column_stack([y[:, 0], y[:, 1] + 1]), **split, logistic_fits=fits)


def test_mi_matrix_passed_in_gives_the_values_computed_inside():
    x = _codes(600, 6, 12)
    y = np.column_stack([np.digitize(x[:, 0], [-1, 0, 1]), np.random.default_rng(2).integers(0, 5, 600)])
    xt, yt = x[:200], y[:200]
    split = dict(codes_test=xt, factors_test=yt)
    mi = discrete_mi_matrix(x, y, 20)
    np.testing.assert_array_equal(mi, mutual_information_matrix(histogram_discretize(x, 20), y))
    assert mig(x, y, mi_matrix=mi) == mig(x, y)
    assert modularity_explicitness(x, y, **split, mi_matrix=mi) == modularity_explicitness(x, y, **split)
    assert med(x, y, **split, mi_matrix=mi) == med(x, y, **split)
    np.testing.assert_array_equal(screened_codes(x, y, 2, mi_matrix=mi), screened_codes(x, y, 2))
    assert dci(x, y, **split, screen=2, mi_matrix=mi) == dci(x, y, **split, screen=2)
    # a matrix computed with other bins gives other values: the argument is really used
    assert mig(x, y, mi_matrix=discrete_mi_matrix(x, y, 5)) == mig(x, y, num_bins=5)
    assert mig(x, y, mi_matrix=discrete_mi_matrix(x, y, 5)) != mig(x, y)
    with pytest.raises(ValueError, match=r"mi_matrix has shape \(6, 1\) but .* need \(6, 2\)"):
        mig(x, y, mi_matrix=mi[:, :1])
    with pytest.raises(ValueError, match="non-negative"):
        med(x, y, **split, mi_matrix=-mi)


# ------------------------------------------------------------------------------------- fast GBT
def test_fast_gbt_routing_matches_lightgbm_and_leaf_kinds():
    rng = np.random.default_rng(9)
    y = rng.integers(0, 3, 400)
    x = np.column_stack([y + 0.3 * rng.normal(size=400), rng.normal(size=(400, 2))])
    model = FastGBTClassifier(seed=0, n_estimators=5).fit(x, y)
    leaves = model.booster_.predict(x, pred_leaf=True).reshape(400, 5, 3)
    for it in range(5):
        trees = model.booster_.dump_model(start_iteration=it, num_iteration=1)["tree_info"]
        for c, tree in enumerate(trees):
            np.testing.assert_array_equal(gbt._route(tree["tree_structure"], x), leaves[:, it, c])
    assert model.leaf_values_.shape == (5, 3, 8)
    assert model.score(x, y) > 0.9 and model.feature_importances_[0] > 0.8
    gradient = FastGBTClassifier(seed=0, n_estimators=5, leaf="gradient").fit(x, y)
    assert not np.allclose(gradient.leaf_values_, model.leaf_values_)
    with pytest.raises(ValueError, match="newton"):
        FastGBTClassifier(leaf="exact").fit(x, y)


def test_screened_codes_round_robin_and_zero_importance_outside():
    rng = np.random.default_rng(10)
    y = rng.integers(0, 4, size=(600, 2))
    noise = rng.normal(size=(600, 6))
    x = np.column_stack([noise[:, 0], y[:, 0] + 0.1 * noise[:, 1], noise[:, 2],
                         y[:, 1] + 0.3 * noise[:, 3], y[:, 0] + 0.5 * noise[:, 4], noise[:, 5]])
    # factor 0's best is code 1, factor 1's is code 3; then factor 0's runner-up is code 4
    np.testing.assert_array_equal(screened_codes(x, y, 2), [1, 3])
    np.testing.assert_array_equal(screened_codes(x, y, 3), [1, 3, 4])
    r, _, _ = gbt_importance_matrix(x, y, x, y, screen=3)
    assert np.all(r[[0, 2, 5]] == 0) and np.allclose(r.sum(axis=0), 1.0)
    # D <= screen: unchanged
    assert dci(x, y, codes_test=x, factors_test=y, screen=6) == dci(
        x, y, codes_test=x, factors_test=y, screen=None
    )
    with pytest.raises(ValueError, match="screen"):
        dci(x, y, codes_test=x, factors_test=y, screen=0)


@pytest.mark.slow
def test_fast_dci_within_002_of_reference_on_small_few_class_cases():
    """The cases the fast estimator used to miss by 0.03-0.09 (N = 1000, factors 3/6, noise 0.1)."""
    sizes = np.array([3, 6])
    rng = np.random.default_rng(11)
    y, yt = rng.integers(0, sizes, size=(1000, 2)), rng.integers(0, sizes, size=(500, 2))

    def codes(f, seed):
        r = np.random.default_rng(seed)
        b = (f + r.uniform(size=f.shape)) / sizes + 0.1 * r.normal(size=f.shape)
        return np.column_stack([b, b[:, :1], np.exp(2 * b[:, 1]), np.zeros(len(f)),
                                r.normal(size=(len(f), 1))])

    x, xt = codes(y, 12), codes(yt, 13)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = dci(x, y, codes_test=xt, factors_test=yt, seed=0)
        reference = dci(x, y, codes_test=xt, factors_test=yt, estimator="reference", seed=0)
    for key in ("disentanglement", "completeness", "informativeness_test"):
        assert fast[key] == pytest.approx(reference[key], abs=0.02), key


def _unsupervised_in_child(codes, queue):
    from disentkit.metrics import unsupervised

    queue.put(unsupervised(codes, None)["mutual_info_score"])


def test_parallel_kernels_keep_forked_workers_working():
    """The study runner forks workers after metrics ran in the parent: the parallel kernels must use
    a fork-safe threading layer (GNU OpenMP aborts the child)."""
    import multiprocessing

    from disentkit.metrics import unsupervised

    codes = np.random.default_rng(0).normal(size=(500, 40))
    expected = unsupervised(codes, None)["mutual_info_score"]  # starts the kernel threads here
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_unsupervised_in_child, args=(codes, queue))
    child.start()
    child.join(60)
    if child.is_alive():  # pragma: no cover - the failure mode is a hang
        child.kill()
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected


def test_n_jobs_does_not_change_dci_or_sap():
    from disentkit.metrics import sap

    rng = np.random.default_rng(3)
    factors = np.stack([rng.integers(0, k, 600) for k in (3, 5, 7)], axis=1)
    codes = np.concatenate([factors + 0.3 * rng.normal(size=factors.shape), rng.normal(size=(600, 3))], axis=1)
    split = dict(codes_test=codes[400:], factors_test=factors[400:])
    train = (codes[:400], factors[:400])
    assert dci(*train, **split, n_jobs=3) == dci(*train, **split)
    assert sap(*train, **split, n_jobs=2) == sap(*train, **split)
    with pytest.raises(ValueError, match="n_jobs"):
        dci(*train, **split, n_jobs=0)
