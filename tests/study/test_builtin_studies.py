"""Every built-in study parses, plans and validates each run's config; a study's finding names
columns its runs have; each reproduction has a CPU part sized for the development machine."""

from __future__ import annotations

import pytest

from disentkit.study import StudySpec, builtin_names
from disentkit.train import TrainConfig

FINDING_STUDIES = ("nashae_count", "nashae_count_cpu", "xysquares_overlap", "xysquares_overlap_cpu", "hfs_correlation", "hfs_correlation_cpu", "cmi_shift",
                   "cmi_shift_cpu")


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_study_plans_distinct_valid_runs(name):
    planned = StudySpec.load(name).runs()
    assert planned and len({r.run_id for r in planned}) == len(planned)
    for run in planned[:50]:  # the full grids are large; their configs repeat the same keys
        TrainConfig.from_dict(run.train)


@pytest.mark.parametrize("name", FINDING_STUDIES)
def test_a_builtin_finding_names_columns_the_runs_have_and_sweeps_its_x(name):
    spec = StudySpec.load(name)
    assert spec.finding is not None and spec.finding["claim"]
    flats = [r.flat() for r in spec.runs()]
    for key in ("x", "group", "panels"):
        column = spec.finding.get(key)
        if column:
            assert all(column in f for f in flats), (name, column)
    assert len({repr(f[spec.finding["x"]]) for f in flats}) >= 2


def test_the_hfs_cpu_part_is_the_spec_reproduction_inside_the_full_grid():
    full = StudySpec.load("hfs_correlation").runs()
    cpu = StudySpec.load("hfs_correlation_cpu").runs()
    assert len(full) == 4 * (2 * 4 + 1) * 10 and len(cpu) == 12
    assert {r.train["sampler_params"]["setting"] for r in cpu} == {"shapes3d_single_1_01"}
    assert {r.train["sampler_params"]["setting"] for r in full} >= {"shapes3d_single_1_01"}
    points = {(r.train["method_params"]["beta"], r.train["method_params"]["hfs_gamma"]) for r in cpu}
    assert points == {(4, 0), (4, 100), (4, 1000), (0, 1000)}
    assert {r.train["seed"] for r in cpu} == {0, 1, 2}  # the "at least 3 seeds"
    assert max(r.train["steps"] for r in cpu) <= 2500
    for run in cpu:
        assert run.evaluation["shifts"] == {"inverse": "inverse"}
        assert run.evaluation["metrics"] == ["dci", "mig"]


def test_the_cmi_cpu_part_scores_held_out_digits_under_the_inverse_correlation():
    full = StudySpec.load("cmi_shift").runs()
    cpu = StudySpec.load("cmi_shift_cpu").runs()
    assert len(full) == 3 * 5 * 5 * 3 and len(cpu) == 27
    assert {r.train["dataset"] for r in full + cpu} == {"two_digits"}
    assert {r.train["sampler_params"]["binary"][0][2] for r in cpu} == {0.0, 0.6, 0.9}
    assert {r.train["method_params"]["estimator"] for r in cpu} == {"none", "mi", "cmi"}
    for run in full[:5] + cpu:
        assert run.evaluation["dataset_params"] == {"split": "test"}  # held-out exemplars
        assert run.evaluation["shifts"] == {"anti": "inverse"}
        assert "split" not in run.train["dataset_params"]  # trains on the train split (the default)


@pytest.mark.parametrize("name", [n for n in builtin_names() if n.endswith("_cpu")])
def test_each_cpu_part_has_its_full_grid_with_the_same_claim(name):
    full, cpu = StudySpec.load(name[: -len("_cpu")]), StudySpec.load(name)
    assert len(cpu.runs()) < len(full.runs())
    assert (cpu.finding or {}).get("claim") == (full.finding or {}).get("claim")
    assert {r.train["dataset"] for r in cpu.runs()} <= {r.train["dataset"] for r in full.runs()}
