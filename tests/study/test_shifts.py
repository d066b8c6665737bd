"""Evaluation under a correlation shift (HFS §3.5; issue 10 item 1): ``evaluation.shifts`` draws each
run's evaluation data from a target correlation, recorded per run with the data's measured correlation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from disentkit import data
from disentkit.data import ResampledData
from disentkit.data.batch_samplers import inverse_correlation, shifted_data
from disentkit.data.samplers import CorrelatedSampler, pearson_matrix
from disentkit.study import StudySpec, run_study

SETTING = "dsprites_single_2_01"  # posX - posY, sigma 0.1


@pytest.mark.parametrize("params, inverse", [
    ({"setting": SETTING}, {"setting": SETTING + "_inv"}),
    ({"setting": SETTING + "_inv"}, {"setting": SETTING}),
    ({"pairs": [["posX", "posY", 0.1]]}, {"pairs": [["posX", "posY", 0.1, True]]}),
    ({"pairs": [[2, 3, 0.1, True]], "inverse": False}, {"pairs": [[2, 3, 0.1, False]], "inverse": False}),
    ({"confounder": ["shape", 0.2]}, {"confounder": ["shape", 0.2], "inverse": True}),
    ({"binary": [[0, 1, 0.8]]}, {"binary": [[0, 1, -0.8]]}),
])
def test_inverse_correlation_flips_every_part(params, inverse):
    assert inverse_correlation(params) == inverse


def test_shifted_data_draws_from_the_target_correlation():
    dsprites = data.get("dsprites")
    gen = np.random.default_rng(0)
    for params, sign in (({"setting": SETTING}, 1), ({"setting": SETTING + "_inv"}, -1)):
        shifted = shifted_data(dsprites, params)
        assert isinstance(shifted, ResampledData) and shifted.factor_space == dsprites.factor_space
        factors, images = shifted.sample(20000, gen)
        r = pearson_matrix(factors)
        exact = CorrelatedSampler.from_setting(dsprites, params["setting"]).exact_correlation()
        assert sign * r[3, 4] > 0.9 and abs(r[3, 4] - exact[3, 4]) < 0.01
        assert abs(r[0, 3]) < 0.03  # the other factors stay independent
        # rendering is the base dataset's own
        np.testing.assert_array_equal(images[:5], dsprites.observations(factors[:5]))


def _spec(tiny_study, shifts, **train):
    study = tiny_study(name="shifted", grid={"sweep": {"seed": [0]}}, method="beta_vae", **train)
    study["evaluation"]["shifts"] = shifts
    return StudySpec.from_dict(study)


def test_bad_shifts_are_errors_naming_the_shift(tiny_study):
    correlated = {"sampler": "correlated", "sampler_params": {"setting": SETTING}}
    cases = [
        ({"inv": "train"}, {}, "shift 'inv': 'train' needs a run trained under a correlation"),
        ({"x": "sideways"}, correlated, "'sideways' is not a target"),
        ({"x": {"setting": "dsprites_single_9_01"}}, correlated, "shift 'x': unknown correlation setting"),
        ({"x": {"pairs": [[0, 1, 0.1]], "bogus": 1}}, correlated, r"shift 'x': unknown correlation parameter"),
        ({"a b": "inverse"}, correlated, "evaluation.shifts must map shift names"),
    ]
    for shifts, train, words in cases:
        with pytest.raises(ValueError, match=words):
            _spec(tiny_study, shifts, **train).runs()


def test_a_study_without_shifts_keeps_its_run_ids(tiny_study):
    """Shifts enter the evaluation (and so the run id) only when a study names them."""
    plain = StudySpec.from_dict(tiny_study(name="plain", grid={"sweep": {"seed": [0]}}, method="beta_vae")).runs()
    assert "shifts" not in plain[0].evaluation
    shifted = _spec(tiny_study, {"corr": {"setting": SETTING}}).runs()
    assert shifted[0].evaluation["shifts"] == {"corr": {"setting": SETTING}}
    assert shifted[0].run_id != plain[0].run_id


def test_a_run_records_its_scores_under_each_shift_with_the_data_it_drew(tmp_path, tiny_study):
    spec = _spec(tiny_study, {"same": "train", "inverse": "inverse"}, sampler="correlated",
                 sampler_params={"setting": SETTING})
    result = run_study(spec, tmp_path / "study", progress=False, report=False)
    assert result.failed == []
    (run,) = spec.runs()
    scores = json.loads((tmp_path / "study" / "runs" / run.run_id / "metrics.json").read_text())
    metrics = spec.evaluation["metrics"]
    assert sorted(scores) == sorted([*metrics, *(f"{m}@same" for m in metrics), *(f"{m}@inverse" for m in metrics)])
    for name, sign, setting in (("same", 1, SETTING), ("inverse", -1, SETTING + "_inv")):
        settings = scores[f"mig@{name}"]["settings"]
        assert settings["evaluation_data"]["shift"] == name
        assert settings["evaluation_data"]["correlation"] == {"setting": setting}
        assert sign * settings["factor_correlation"][3][4] > 0.9  # posX - posY of the evaluation data
        assert scores[f"mig@{name}"]["values"]  # scored
    assert "evaluation_data" not in scores["mig"]["settings"]  # the default evaluation is uncorrelated
    assert scores["mig@same"]["values"] != scores["mig"]["values"]
