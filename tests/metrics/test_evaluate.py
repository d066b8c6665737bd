"""evaluate(): metric selection, shared encodings, settings, presets, determinism, JSON records."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from disentkit.metrics import (
    METRICS,
    dci,
    evaluate,
    knn_accuracy,
    linear_probe,
    med,
    mig,
    modularity_explicitness,
)
from disentkit.metrics._evaluate import PRESETS, SKIPPED_NO_POSTERIOR, _select, metric_seed
from disentkit.metrics._representation import has_posterior, missing_posterior
from _pixel_factors import SIZES, PixelFactors, identity

ARRAY = ["mig", "sap", "dci", "modularity_explicitness", "irs", "unsupervised", "med", "linear_probe",
         "knn"]
TINY = dict(num_train=200, num_test=100)
TINY_INTERVENTION = {
    "beta_vae_score": {"num_train": 60, "num_eval": 30, "batch_size": 8},
    "factor_vae_score": {"num_train": 60, "num_eval": 30, "batch_size": 8, "num_variance_estimate": 100},
    "downstream_task_logistic_regression": {"num_train": [20]},
    "downstream_task_boosted_trees": {"num_train": [20, 60]},
    "fairness": {"num_test_points_per_class": 5},
}


class Counting:
    """identity plus a little seeded noise; counts calls and images."""

    def __init__(self):
        self.calls: list[int] = []
        self.gen = np.random.default_rng(5)

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.calls.append(images.shape[0])
        return identity(images) + 0.01 * self.gen.standard_normal((images.shape[0], 3))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(np.asarray(SIZES, dtype=np.float32) - 1))

    def represent(self, images: torch.Tensor) -> torch.Tensor:
        return images[:, 0, 0, :] * self.scale

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.represent(images)
        return mu, torch.full_like(mu, -12.0)


@dataclass(frozen=True)
class Caps:
    """A stand-in for disentkit.methods.base.Capabilities."""

    decoder: bool = False
    gaussian_posterior: bool = False


class SelfSupervised(Encoder):
    """An encoder that declares no Gaussian posterior (as an SSL method does), although an encode
    method exists: the declaration is trusted."""

    capabilities = Caps(gaussian_posterior=False)


class DeclaredVAE(Encoder):
    capabilities = Caps(decoder=True, gaussian_posterior=True)


@pytest.fixture
def data() -> PixelFactors:
    return PixelFactors()


def _without_seconds(results: dict) -> dict:
    return {name: {k: v for k, v in r.items() if k != "seconds"} for name, r in results.items()}


def test_array_metrics_share_one_train_and_one_test_encoding(data):
    rep = Counting()
    results = evaluate(data, rep, ARRAY, seed=0, progress=False, encode_batch_size=10_000,
                       settings={"med": {"num_test": 150}, "mig": {"num_train": 120}}, **TINY)
    assert list(results) == ARRAY
    assert rep.calls == [200, 150]  # train (largest request) then test (largest request)
    assert results["mig"]["settings"]["num_train"] == 120
    assert results["med"]["settings"]["num_test"] == 150
    assert results["dci"]["settings"]["num_test"] == 100
    assert results["dci"]["values"]["disentanglement"] > 0.9
    assert results["mig"]["values"]["discrete_mig"] > 0.9


def test_same_seed_same_results_other_seed_other_results(data):
    kw = dict(metrics=["mig", "sap", "factor_vae_score"], progress=False,
              settings={"factor_vae_score": TINY_INTERVENTION["factor_vae_score"]}, **TINY)
    a = evaluate(data, Counting(), seed=3, **kw)
    b = evaluate(data, Counting(), seed=3, **kw)
    c = evaluate(data, Counting(), seed=4, **kw)
    assert _without_seconds(a) == _without_seconds(b)
    assert a["sap"]["values"] != c["sap"]["values"]
    assert a["mig"]["settings"]["seed"] == 3 and c["mig"]["settings"]["seed"] == 4


def test_a_metric_does_not_depend_on_the_others_selected(data):
    alone = evaluate(data, identity, ["beta_vae_score"], progress=False,
                     settings={"beta_vae_score": TINY_INTERVENTION["beta_vae_score"]})
    together = evaluate(data, identity, ["mig", "beta_vae_score"], progress=False, **{"num_train": 200},
                        settings={"beta_vae_score": TINY_INTERVENTION["beta_vae_score"]})
    assert alone["beta_vae_score"]["values"] == together["beta_vae_score"]["values"]
    assert metric_seed(0, "mig") != metric_seed(0, "sap") and metric_seed(0, "mig") == metric_seed(0, "mig")


def test_all_skips_mig_sampled_for_a_plain_callable_and_is_json(data):
    results = evaluate(data, identity, "all", seed=0, preset="fast", progress=False,
                       settings=TINY_INTERVENTION, **TINY)
    assert list(results) == list(METRICS)
    round_trip = json.loads(json.dumps(results))
    assert round_trip == results
    assert results["mig_sampled"]["skipped"] == SKIPPED_NO_POSTERIOR == "no Gaussian posterior"
    assert results["mig_sampled"]["values"] == {} and results["mig_sampled"]["seconds"] == 0.0
    assert results["mig_sampled"]["settings"]["num_samples"] == 2_000  # the fast preset, recorded
    for name, result in results.items():
        expected = {"values", "settings", "seconds"} | ({"skipped"} if name in ("mig_sampled", "attribute_accuracy")
                                                        else set())
        assert set(result) == expected
        assert result["settings"]["seed"] == 0
        assert result["settings"]["factors"] == ["f0", "f1", "f2"]
        assert all(isinstance(v, float) for v in result["values"].values())
        assert result["settings"]["codes"] == {"mig_sampled": "sampled", "attribute_accuracy": "predictions"}.get(name, "mean")
    assert results["attribute_accuracy"]["skipped"] == "no factor predictions"  # a callable predicts nothing
    assert results["downstream_task_boosted_trees"]["settings"]["predictor"] == "gradient_boosting"
    assert results["downstream_task_boosted_trees"]["settings"]["num_train"] == [20, 60]
    assert results["fairness"]["settings"]["num_train"] == 200  # the flat key reaches fairness too
    assert results["fairness"]["values"]["mean_fairness:mean_pred:mean_sens"] == 0.0
    assert results["beta_vae_score"]["values"]["eval_accuracy"] == 1.0
    # the SSL read-outs on exact codes, with per-factor keys named by the dataset (C = 1 keeps the
    # 5-class softmax on one code slightly short of perfect)
    probe = results["linear_probe"]["values"]
    assert probe["test_accuracy:f0"] == 1.0 and probe["test_accuracy:f2"] > 0.9 > 0.5 > probe["baseline_accuracy:f2"]
    knn = results["knn"]["values"]  # cosine ignores the length of the codes: far from exact here
    assert knn["test_accuracy"] > knn["baseline_accuracy"] + 0.2
    assert results["knn"]["settings"]["k"] == 20 and results["knn"]["settings"]["metric"] == "cosine"
    assert {"top1_disentanglement", "top1_completeness"} <= set(results["med"]["values"])  # top-k MED, k = 1
    assert _select("all") == list(METRICS)


def test_a_representation_without_posterior_runs_all_and_reports_the_skip(data):
    model = SelfSupervised()
    assert callable(model.encode) and not has_posterior(model)
    assert "capabilities.gaussian_posterior = False" in missing_posterior(model)
    assert has_posterior(DeclaredVAE()) and has_posterior(Encoder())  # declared / guessed from encode
    results = evaluate(data, model, "all", preset="fast", progress=False, settings=TINY_INTERVENTION, **TINY)
    assert results["mig_sampled"]["skipped"] == "no Gaussian posterior"
    assert results["attribute_accuracy"]["skipped"] == "no factor predictions"
    assert all("skipped" not in r for n, r in results.items() if n not in ("mig_sampled", "attribute_accuracy"))
    assert results["mig"]["values"]["discrete_mig"] > 0.9
    # an explicit set with other metrics skips too; mig_sampled alone is an error naming the reason
    mixed = evaluate(data, model, ["mig", "mig_sampled"], progress=False, num_train=200)
    assert mixed["mig_sampled"]["skipped"] == "no Gaussian posterior" and "discrete_mig" in mixed["mig"]["values"]
    with pytest.raises(ValueError, match="mig_sampled needs a Gaussian posterior.*gaussian_posterior = False"):
        evaluate(data, model, ["mig_sampled"], progress=False)
    with pytest.raises(ValueError, match="codes='sampled' needs a Gaussian posterior"):
        evaluate(data, model, ["mig"], codes="sampled", progress=False)
    # a declared posterior is used
    declared = evaluate(data, DeclaredVAE(), ["mig_sampled"], progress=False,
                        settings={"mig_sampled": {"num_samples": 300}})
    assert declared["mig_sampled"]["values"]["mig"] > 0.9


def test_bad_capabilities_are_an_error():
    class Odd:
        capabilities = object()

        def __call__(self, images):
            return images

    with pytest.raises(ValueError, match="boolean gaussian_posterior"):
        has_posterior(Odd())


def test_shared_pieces_give_the_values_of_the_metrics_called_alone(data):
    """evaluate computes the MI matrix and the logistic fits once and passes them; every value
    must equal the metric called on the same arrays, computing its pieces itself."""
    splits = {}
    settings = {"mig": {"factors": ["f2", "f0"]}, "linear_probe": {"C": 0.5}, "med": {"topk": 2}}
    results = evaluate(data, Counting(), ["mig", "dci", "modularity_explicitness", "med", "linear_probe", "knn"],
                       progress=False, on_splits=splits.update, settings=settings, **TINY)
    (x, y), (xt, yt) = splits["train"], splits["test"]
    assert x.shape == (200, 3) and xt.shape == (100, 3)
    test = dict(codes_test=xt, factors_test=yt)
    seeds = {name: metric_seed(0, name) for name in ("dci", "modularity_explicitness", "med")}
    assert results["mig"]["values"] == mig(x, y[:, [2, 0]])
    assert results["dci"]["values"] == dci(x, y, **test, seed=seeds["dci"])
    assert results["modularity_explicitness"]["values"] == modularity_explicitness(
        x, y, **test, seed=seeds["modularity_explicitness"])
    assert results["med"]["values"] == med(x, y, **test, topk=2, seed=seeds["med"])
    assert set(results["med"]["values"]) >= {"top2_disentanglement", "top2_completeness"}
    names = ["f0", "f1", "f2"]
    assert results["linear_probe"]["values"] == linear_probe(x, y, xt, yt, C=0.5, factor_names=names)
    assert results["knn"]["values"] == knn_accuracy(x, y, xt, yt, factor_names=names)
    assert results["linear_probe"]["settings"]["C"] == 0.5


def test_module_with_represent_encode_and_sampled_codes(data):
    model = Encoder()
    results = evaluate(data, model, ["mig", "mig_sampled"], progress=False, num_train=200,
                       settings={"mig_sampled": {"num_samples": 300}})
    assert results["mig"]["values"]["discrete_mig"] > 0.9
    assert results["mig_sampled"]["values"]["mig"] > 0.9
    assert results["mig_sampled"]["settings"]["codes"] == "sampled"
    sampled = evaluate(data, model, ["mig"], progress=False, codes="sampled", num_train=200)
    assert sampled["mig"]["settings"]["codes"] == "sampled"
    # sigma = exp(-6) moves a few codes across histogram edges: close to, but not, the mean's MIG
    assert sampled["mig"]["values"]["discrete_mig"] > 0.9
    assert sampled["mig"]["values"] != results["mig"]["values"]


def test_flat_and_per_metric_settings_and_factor_subsets(data):
    results = evaluate(data, identity, ["mig", "modularity_explicitness", "mig_sampled"][:2],
                       progress=False, num_bins=7, factors=["f2", "f0"],
                       settings={"mig": {"num_bins": 5}}, **TINY)
    assert results["mig"]["settings"]["num_bins"] == 5  # per-metric beats flat
    assert results["modularity_explicitness"]["settings"]["num_bins"] == 7
    assert results["mig"]["settings"]["factors"] == ["f2", "f0"]
    assert results["mig"]["values"]["discrete_mig"] > 0.9
    reference = PRESETS["reference"]["dci"]["num_train"]
    assert reference == 10_000 and PRESETS["fast"]["dci"]["num_train"] == 2_000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(metrics="nope"), "unknown metric.*valid names: mig, sap"),
        (dict(metrics=[]), "non-empty"),
        (dict(metrics="mig", num_bins_typo=3), "unknown setting 'num_bins_typo'"),
        (dict(metrics="mig", num_test=10), "unknown setting 'num_test'"),  # mig has no test split
        (dict(metrics="mig", settings={"mig": {"estimator": "fast"}}), r"unknown setting\(s\) \['estimator'\]"),
        (dict(metrics="mig", settings={"dci": {}}), "not among the selected"),
        (dict(metrics="mig", settings={"dcx": {}}), "unknown metric 'dcx'"),
        (dict(metrics="mig", preset="slow"), "unknown preset"),
        (dict(metrics="mig", codes="median"), "codes must be one of"),
        (dict(metrics="mig", codes="sampled"), "encode"),
        (dict(metrics="mig_sampled"), "encode"),
        (dict(metrics="knn", settings={"knn": {"metric": "manhattan"}}), "metric must be one of"),
        (dict(metrics="mig", seed=-1), "seed"),
        (dict(metrics="mig", num_train=0), "num_train must be a positive int"),
        (dict(metrics="mig", num_train=[10, 20]), "num_train must be a positive int"),
        (dict(metrics="beta_vae_score", settings={"beta_vae_score": {"num_eval": 2.5}}), "num_eval"),
        (dict(metrics="downstream_task_boosted_trees", num_train=[]), "non-empty list"),
        (dict(metrics="mig", factors=["f9"]), "unknown factor"),
    ],
)
def test_bad_arguments_raise_before_any_work(data, kwargs, message):
    rep = Counting()
    with pytest.raises(ValueError, match=message):
        evaluate(data, rep, progress=False, **kwargs)
    assert rep.calls == []


def test_progress_bar_can_be_silenced(data, capsys):
    evaluate(data, identity, "mig", progress=False, num_train=50)
    assert capsys.readouterr().err == ""
    evaluate(data, identity, "mig", progress=True, num_train=50)
    assert "metrics" in capsys.readouterr().err


def test_resolve_settings_is_evaluate_s_check_without_the_work():
    from disentkit.metrics import resolve_settings

    resolved = resolve_settings(["med", "knn"], "fast", {"med": {"topk": 3}}, num_train=50)
    assert resolved["med"]["topk"] == 3 and resolved["med"]["num_train"] == 50
    assert resolved["knn"]["k"] == 20 and resolved["knn"]["num_test"] == 1_000
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['tpk'\] for 'med'; valid settings: .*topk"):
        resolve_settings(["med"], "fast", {"med": {"tpk": 1}})
    with pytest.raises(ValueError, match="unknown preset 'quick'"):
        resolve_settings("mig", "quick")
