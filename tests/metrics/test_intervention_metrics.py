"""Metrics that need a dataset and a representation: BetaVAE, FactorVAE, downstream, fairness,
Chen's sampled MIG, and the representation adapters they share."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from disentkit.metrics import (
    beta_vae_score,
    downstream_task,
    factor_vae_score,
    fairness,
    mig_sampled,
)
from disentkit.metrics._fairness import fairness_scores, inter_group_fairness
from disentkit.metrics._mig_sampled import balanced_factors, mixture_entropy
from disentkit.metrics._representation import (
    as_representation,
    encode_groups,
    has_posterior,
    posterior_of,
    sampled_representation,
)
from _pixel_factors import SIZES, PixelFactors, identity


class Noise:
    """Codes independent of the images (its own seeded generator)."""

    def __init__(self, dims: int = 3, seed: int = 123):
        self.dims = dims
        self.gen = np.random.default_rng(seed)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.gen.standard_normal((images.shape[0], self.dims))


class Encoder(nn.Module):
    """A VAE-style module: represent = identity codes, encode = (identity codes, logvar)."""

    def __init__(self, logvar: float = -12.0, informative: bool = True):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(np.asarray(SIZES, dtype=np.float32) - 1))
        self.logvar = logvar
        self.informative = informative
        self.seen_training: list[bool] = []

    def represent(self, images: torch.Tensor) -> torch.Tensor:
        self.seen_training.append(self.training)
        assert not torch.is_grad_enabled()
        return images[:, 0, 0, :] * self.scale

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.represent(images)
        if not self.informative:
            mu = torch.zeros_like(mu)
        return mu, torch.full_like(mu, self.logvar)


@pytest.fixture
def data() -> PixelFactors:
    return PixelFactors()


# ------------------------------------------------------------------------------ representations
def test_as_representation_plain_callable_and_tensor_output(data):
    images = data.observations(data.factor_space.grid())
    rep = as_representation(lambda x: torch.from_numpy(identity(x)), batch_size=7)
    codes = rep(images)
    assert codes.shape == (60, 3)
    np.testing.assert_allclose(codes, data.factor_space.grid(), atol=1e-5)
    assert as_representation(rep) is rep


def test_as_representation_module_batches_no_grad_and_restores_mode(data):
    model = Encoder()
    model.train()
    rep = as_representation(model, batch_size=16)
    codes = rep(data.observations(data.factor_space.grid()))
    np.testing.assert_allclose(codes, data.factor_space.grid(), atol=1e-5)
    assert model.seen_training == [False] * 4  # 60 images in batches of 16, in eval mode
    assert model.training  # restored
    mu, logvar = posterior_of(model)(data.observations([[2, 3, 4]]))
    np.testing.assert_allclose(mu, [[2, 3, 4]], atol=1e-5)
    np.testing.assert_allclose(logvar, [[-12.0] * 3])


@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda x: x[:, 0, 0, 0], "2-D"),
        (lambda x: np.full((x.shape[0], 2), np.nan), "NaN"),
        (lambda x: np.zeros((x.shape[0] + 1, 2)), "rows"),
    ],
)
def test_representation_outputs_are_validated(data, fn, message):
    with pytest.raises(ValueError, match=message):
        as_representation(fn)(data.observations([[0, 0, 0], [1, 1, 1]]))


def test_module_without_represent_and_callable_without_encode_are_rejected():
    with pytest.raises(ValueError, match="represent"):
        as_representation(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="not callable|callable"):
        as_representation(42)
    assert not has_posterior(identity) and has_posterior(Encoder())
    with pytest.raises(ValueError, match="encode"):
        posterior_of(identity)


def test_sampled_representation_draws_mu_plus_sigma_eps(data):
    images = data.observations(np.zeros((4000, 3), dtype=np.int64))
    codes = sampled_representation(Encoder(logvar=np.log(4.0)), 0)(images)
    assert codes.shape == (4000, 3)
    np.testing.assert_allclose(codes.mean(axis=0), 0.0, atol=0.1)
    np.testing.assert_allclose(codes.std(axis=0), 2.0, rtol=0.05)
    np.testing.assert_array_equal(codes, sampled_representation(Encoder(logvar=np.log(4.0)), 0)(images))


def test_encode_groups_chunks_without_changing_results(data, monkeypatch):
    factors = data.sample_factors(50 * 4, 0).reshape(50, 4, 3)
    whole = encode_groups(data, identity, factors, 0, lambda z: z.sum(axis=1))
    import disentkit.metrics._representation as module

    monkeypatch.setattr(module, "_CHUNK_BYTES", 4 * 3 * 4 * 3)  # 3 groups of 4 images per chunk
    chunked = encode_groups(data, identity, factors, 0, lambda z: z.sum(axis=1))
    np.testing.assert_allclose(whole, factors.sum(axis=1))
    np.testing.assert_array_equal(whole, chunked)


# ------------------------------------------------------------------------------------ BetaVAE
def test_beta_vae_identity_is_perfect_and_noise_is_near_chance(data):
    good = beta_vae_score(data, identity, rng=0, batch_size=16, num_train=300, num_eval=200)
    assert set(good) == {"train_accuracy", "eval_accuracy"}
    assert good["train_accuracy"] == 1.0 and good["eval_accuracy"] == 1.0
    bad = beta_vae_score(data, Noise(), rng=0, batch_size=16, num_train=300, num_eval=300)
    assert bad["eval_accuracy"] < 0.5  # chance is 1/3


def test_beta_vae_is_deterministic_and_validates(data):
    a = beta_vae_score(data, Noise(seed=1), rng=3, batch_size=8, num_train=60, num_eval=40)
    b = beta_vae_score(data, Noise(seed=1), rng=3, batch_size=8, num_train=60, num_eval=40)
    assert a == b
    with pytest.raises(ValueError, match="batch_size"):
        beta_vae_score(data, identity, batch_size=0)
    with pytest.raises(ValueError, match="two factors"):
        beta_vae_score(PixelFactors((4,)), lambda x: x[:, 0, 0, :], num_train=10, num_eval=10)


def test_beta_vae_on_a_factor_subset_fixes_only_those(data):
    names = list(data.factor_names)
    sub = [names[0], names[2]]
    assert beta_vae_score(data, identity, rng=0, batch_size=16, num_train=300, num_eval=200,
                          factors=sub)["eval_accuracy"] == 1.0
    # a code that says nothing: chance is 1/2 with two factors to tell apart (1/3 with all three)
    noise = beta_vae_score(data, Noise(), rng=0, batch_size=16, num_train=300, num_eval=400, factors=sub)
    assert 0.4 < noise["eval_accuracy"] < 0.6
    with pytest.raises(ValueError, match=r"unknown factor\(s\) \['size'\]"):
        beta_vae_score(data, identity, factors=[names[0], "size"])
    with pytest.raises(ValueError, match="at least two distinct factor names"):
        beta_vae_score(data, identity, factors=[names[0]])


# ---------------------------------------------------------------------------------- FactorVAE
def test_factor_vae_identity_noise_and_active_dims(data):
    kw = dict(rng=0, batch_size=16, num_train=200, num_eval=100, num_variance_estimate=500)
    good = factor_vae_score(data, identity, **kw)
    assert good == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 3.0}
    bad = factor_vae_score(data, Noise(), **kw)
    assert bad["eval_accuracy"] < 0.5 and bad["num_active_dims"] == 3.0


def test_factor_vae_prunes_constant_and_tiny_dimensions(data):
    def padded(images: np.ndarray) -> np.ndarray:
        codes = identity(images)
        tiny = 0.01 * codes[:, :1]  # std about 0.008 < 0.05
        return np.concatenate([np.full_like(codes[:, :1], 7.0), codes, tiny], axis=1)

    kw = dict(rng=0, batch_size=16, num_train=200, num_eval=100, num_variance_estimate=500)
    scores = factor_vae_score(data, padded, **kw)
    assert scores == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 3.0}
    legacy = factor_vae_score(data, padded, legacy_num_active_dims=True, **kw)
    assert legacy["num_active_dims"] == 5.0  # the reference reports D
    unpruned = factor_vae_score(data, padded, prune_threshold=0.0, **kw)
    assert unpruned["num_active_dims"] == 4.0  # the zero-variance dimension is never active
    constant = factor_vae_score(data, lambda x: np.ones((x.shape[0], 2)), **kw)
    assert constant == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}


# --------------------------------------------------------------------------------- downstream
@pytest.mark.parametrize("predictor", ["logistic_regression_cv", "gradient_boosting"])
def test_downstream_keys_and_identity_accuracy(data, predictor):
    scores = downstream_task(
        data, identity, rng=0, num_train=(10, 200), num_test=200, predictor=predictor
    )
    per_size = ["mean_train_accuracy", "mean_test_accuracy", "min_train_accuracy", "min_test_accuracy"]
    per_size += [f"{s}_accuracy_factor_{i}" for i in range(3) for s in ("train", "test")]
    assert set(scores) == {f"{n}:{key}" for n in (10, 200) for key in per_size}
    assert scores["200:min_test_accuracy"] >= 0.95
    assert scores["200:mean_test_accuracy"] == pytest.approx(
        np.mean([scores[f"200:test_accuracy_factor_{i}"] for i in range(3)])
    )


def test_downstream_noise_is_near_chance_and_validates(data):
    scores = downstream_task(data, Noise(), rng=0, num_train=300, num_test=300,
                             predictor="gradient_boosting")
    assert scores["300:mean_test_accuracy"] < 0.5  # chance is (1/3 + 1/4 + 1/5) / 3
    with pytest.raises(ValueError, match="predictor"):
        downstream_task(data, identity, predictor="svm")
    with pytest.raises(ValueError, match="estimator"):
        downstream_task(data, identity, predictor="gradient_boosting", estimator="xgb")


# ----------------------------------------------------------------------------------- fairness
def test_inter_group_fairness_by_hand():
    # two groups of 4: predictions [3, 1] and [1, 3]; pooled [0.5, 0.5]; TV = 0.25 each
    assert inter_group_fairness(np.array([[3, 1], [1, 3]])) == (0.25, 0.25)
    # group sizes 2 and 6: p(.|0) = [1, 0], p(.|1) = [0.5, 0.5], pooled [5/8, 3/8]
    mean, worst = inter_group_fairness(np.array([[2, 3], [0, 3]]))
    assert worst == pytest.approx(3 / 8)
    assert mean == pytest.approx((2 * 3 / 8 + 6 * 1 / 8) / 8)


def test_fairness_scores_keys_and_aggregates():
    m = np.array([[0.0, 1.0, 2.0], [3.0, 0.0, 4.0], [5.0, 6.0, 0.0]])
    s = fairness_scores(m, "p")
    assert s["p:pred0:sens2"] == 2.0 and s["p:pred2:sens1"] == 6.0
    assert s["p:pred1:mean_sens"] == 3.5 and s["p:sens0:max_pred"] == 5.0
    assert s["p:mean_sens:mean_pred"] == pytest.approx(np.mean([4.0, 3.5, 3.0]))
    assert s["p:max_sens:max_pred"] == 6.0
    assert s["p:mean_pred:max_sens"] == pytest.approx(np.mean([2.0, 4.0, 6.0]))
    assert s["p:max_pred:mean_sens"] == 5.5
    assert len(s) == 6 + 2 * 3 + 2 * 3 + 8


def test_fairness_identity_is_fair_and_entangled_is_not(data):
    scores = fairness(data, identity, rng=0, num_train=300, num_test_points_per_class=30)
    expected = set()
    for p in ("mean_fairness", "max_fairness"):
        expected |= {f"{p}:pred{i}:sens{j}" for i in range(3) for j in range(3) if i != j}
        expected |= {f"{p}:pred{i}:{a}_sens" for i in range(3) for a in ("mean", "max")}
        expected |= {f"{p}:sens{j}:{a}_pred" for j in range(3) for a in ("mean", "max")}
        expected |= {f"{p}:{a}_{x}:{b}_{y}" for a in ("mean", "max") for b in ("mean", "max")
                     for x, y in (("sens", "pred"), ("pred", "sens"))}
    assert set(scores) == expected
    assert max(scores.values()) == 0.0

    def entangled(images: np.ndarray) -> np.ndarray:  # f0 and f1 only through their sum
        codes = np.rint(identity(images))  # exact integers: no rounding residue to decode
        return np.stack([codes[:, 0] + codes[:, 1], codes[:, 2]], axis=1)

    unfair = fairness(data, entangled, rng=0, num_train=300, num_test_points_per_class=30)
    assert unfair["mean_fairness:pred0:sens1"] > 0.1  # predicting f0 follows interventions on f1
    assert unfair["max_fairness:pred2:sens0"] == 0.0  # f2 is read from its own code
    assert unfair["max_fairness:pred0:sens1"] >= unfair["mean_fairness:pred0:sens1"]


# ------------------------------------------------------------------------------- sampled MIG
def test_balanced_factors_are_balanced():
    f = balanced_factors((3, 4, 7), 30, 0)
    assert f.shape == (30, 3)
    np.testing.assert_array_equal(np.bincount(f[:, 0]), [10, 10, 10])
    assert sorted(np.bincount(f[:, 2], minlength=7)) == [4, 4, 4, 4, 4, 5, 5]


def test_mixture_entropy_of_one_gaussian_is_analytic():
    gen = torch.Generator().manual_seed(0)
    z = 2.0 * torch.randn(20000, 2, generator=gen, dtype=torch.float64)
    h = mixture_entropy(z, torch.zeros(1, 2, dtype=torch.float64),
                        torch.full((1, 2), np.log(4.0), dtype=torch.float64))
    np.testing.assert_allclose(h.numpy(), 0.5 * np.log(2 * np.pi * np.e * 4.0), atol=0.02)


def test_mig_sampled_tight_posterior_is_near_one_uninformative_is_zero(data):
    scores = mig_sampled(data, Encoder(logvar=-12.0), rng=0, num_samples=600)
    assert set(scores) == {"mig", "mig:f0", "mig:f1", "mig:f2"}
    assert scores["mig"] > 0.9 and min(scores.values()) > 0.85
    flat = mig_sampled(data, Encoder(informative=False, logvar=0.0), rng=0, num_samples=600)
    assert max(flat.values()) < 1e-9
    subset = mig_sampled(data, Encoder(), rng=0, num_samples=600, factors=("f2", "f0"))
    assert set(subset) == {"mig", "mig:f2", "mig:f0"}
    assert mig_sampled(data, Encoder(), rng=0, num_samples=600) == scores


def test_mig_sampled_matches_a_naive_implementation(data):
    """A mixed encoder with an object (not module) encode; the estimator written out with loops."""
    from scipy.special import logsumexp

    weights = np.random.default_rng(1).standard_normal((3, 4))

    class Mixed:
        def encode(self, images):
            mu = images[:, 0, 0, :] @ weights
            return mu, np.tanh(mu) - 1.0

    n = 120
    scores = mig_sampled(data, Mixed(), rng=7, num_samples=n)
    gen = np.random.default_rng(7)  # replay the draws: factors, rendering, code samples
    f = balanced_factors(data.factor_sizes, n, gen)
    mu, logvar = Mixed().encode(data.observations(f, gen))
    z = mu + np.exp(0.5 * logvar) * gen.standard_normal(mu.shape)

    def entropy(idx):
        out = []
        for d in range(4):
            m, v, s = mu[idx, d], np.exp(logvar[idx, d]), z[idx, d]
            log_q = -0.5 * np.log(2 * np.pi * v)[None] - 0.5 * (s[:, None] - m[None]) ** 2 / v[None]
            out.append(-np.mean(logsumexp(log_q, axis=1) - np.log(len(idx))))
        return np.array(out)

    marginal = entropy(np.arange(n))
    gaps = []
    for k, size in enumerate(data.factor_sizes):
        groups = [np.flatnonzero(f[:, k] == v) for v in range(size)]
        conditional = sum(len(g) / n * entropy(g) for g in groups)
        info = np.sort(np.maximum(marginal - conditional, 0))[::-1]
        gaps.append((info[0] - info[1]) / np.log(size))  # balanced: H(v_k) = log |V_k| here
    assert scores["mig"] == pytest.approx(np.mean(gaps), rel=1e-9)
    assert [scores[f"mig:f{k}"] for k in range(3)] == pytest.approx(gaps, rel=1e-9)


def test_mig_sampled_errors(data):
    with pytest.raises(ValueError, match="encode"):
        mig_sampled(data, identity)
    with pytest.raises(ValueError, match="unknown factor"):
        mig_sampled(data, Encoder(), factors=("shape",))
