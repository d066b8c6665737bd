"""``evaluation.dataset_params``: a study scores its runs on a variant of the training dataset
(held-out images), under every shift too; bad parameters are errors before anything runs."""

from __future__ import annotations

import json

import pytest

from disentkit.data.two_digits import two_digits
from disentkit.metrics import evaluate
from disentkit.study import StudySpec, run_study
from disentkit.train import load_run

METRICS = ["attribute_accuracy", "subspace_mi"]
SETTINGS = {"num_train": 300, "num_test": 150}


def _cmi_study(tiny_study, **evaluation):
    study = tiny_study(name="held_out", grid={"sweep": {"seed": [0]}}, dataset="two_digits", method="cmi",
                       batch_size=16, sampler="correlated", sampler_params={"binary": [[0, 1, 0.9]]})
    study["evaluation"] = {"metrics": METRICS, "preset": "fast", "seed": 0, "settings": SETTINGS, **evaluation}
    return StudySpec.from_dict(study)


def test_runs_are_scored_on_the_evaluation_dataset_under_each_shift(tmp_path, tiny_study):
    spec = _cmi_study(tiny_study, dataset_params={"split": "test"}, shifts={"anti": "inverse"})
    result = run_study(spec, tmp_path / "study", progress=False, report=False)
    assert result.failed == []
    (run,) = spec.runs()
    folder = tmp_path / "study" / "runs" / run.run_id
    scores = json.loads((folder / "metrics.json").read_text())
    model = load_run(folder)
    held_out = evaluate(two_digits(split="test"), model, METRICS, seed=0, preset="fast", progress=False, **SETTINGS)
    trained_on = evaluate(two_digits(split="train"), model, METRICS, seed=0, preset="fast", progress=False,
                          **SETTINGS)
    for metric in METRICS:
        assert scores[metric]["values"] == held_out[metric]["values"]
    assert held_out["subspace_mi"]["values"] != trained_on["subspace_mi"]["values"]  # other images, other codes
    assert scores["attribute_accuracy@anti"]["settings"]["evaluation_data"]["correlation"] == {"binary": [[0, 1, -0.9]]}
    assert scores["attribute_accuracy@anti"]["settings"]["factor_correlation"][0][1] < -0.85


def test_a_study_without_evaluation_data_keeps_its_run_ids(tiny_study):
    plain = _cmi_study(tiny_study).runs()[0]
    assert "dataset_params" not in plain.evaluation
    held_out = _cmi_study(tiny_study, dataset_params={"split": "test"}).runs()[0]
    assert held_out.run_id != plain.run_id


@pytest.mark.parametrize("params, words", [
    ({"spilt": "test"}, r"unknown parameter\(s\) \['spilt'\] for dataset 'two_digits'; valid parameters"),
    (["split", "test"], "evaluation.dataset_params must be a mapping"),
])
def test_bad_evaluation_dataset_params_are_errors_when_planned(tiny_study, params, words):
    with pytest.raises(ValueError, match=words):
        _cmi_study(tiny_study, dataset_params=params).runs()
