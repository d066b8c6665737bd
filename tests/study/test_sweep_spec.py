"""The sweep DSL, study specs, run ids and filters (no training)."""

import pytest

from disentkit.study import sweep as sw
from disentkit.study.spec import StudySpec, merge_point, parse_filter, run_id


def test_sweep_operations_by_hand():
    a = sw.sweep("x", [1, 2])
    b = sw.sweep("y", ["p", "q"])
    assert sw.product(a, b) == [{"x": 1, "y": "p"}, {"x": 1, "y": "q"}, {"x": 2, "y": "p"}, {"x": 2, "y": "q"}]
    assert sw.zipit(a, b) == [{"x": 1, "y": "p"}, {"x": 2, "y": "q"}]
    assert sw.chain(a, sw.fixed({"z": 0})) == [{"x": 1}, {"x": 2}, {"z": 0}]
    with pytest.raises(ValueError, match="equal length"):
        sw.zipit(a, sw.sweep("y", [1]))
    with pytest.raises(ValueError, match="twice"):
        sw.product(a, sw.sweep("x", [3]))
    with pytest.raises(ValueError, match="at least one value"):
        sw.sweep("x", [])


def test_yaml_nodes_match_python_dsl():
    node = {"product": [
        {"chain": [
            {"product": [{"fixed": {"method": "m1"}}, {"sweep": {"method_params.beta": [1, 4]}}]},
            {"fixed": {"method": "m2"}},
        ]},
        {"sweep": {"seed": [0, 1, 2]}},
    ]}
    points = sw.from_yaml_node(node)
    assert len(points) == 9
    assert points[0] == {"method": "m1", "method_params.beta": 1, "seed": 0}
    assert points[-1] == {"method": "m2", "seed": 2}
    with pytest.raises(ValueError, match="unknown sweep operation 'cross'"):
        sw.from_yaml_node({"cross": []})
    with pytest.raises(ValueError, match="expected a list of values"):
        sw.from_yaml_node({"sweep": {"seed": 3}})


def test_merge_point_and_run_id():
    merged = merge_point({"method_params": {"beta": 1, "gamma": 2}, "steps": 5}, {"method_params.beta": 4, "seed": 1})
    assert merged == {"method_params": {"beta": 4, "gamma": 2}, "steps": 5, "seed": 1}
    a = run_id({"train": {"a": 1, "b": [1, 2]}, "evaluation": {}})
    assert a == run_id({"evaluation": {}, "train": {"b": [1, 2], "a": 1}})  # key order does not matter
    assert a != run_id({"train": {"a": 2, "b": [1, 2]}, "evaluation": {}})
    assert len(a) == 12 and int(a, 16) >= 0


def test_filters():
    flat = {"method": "beta_vae", "seed": 3, "method_params.beta": 4.0}
    assert parse_filter("method=beta_vae")(flat)
    assert parse_filter("method=factor_vae,beta_vae")(flat)
    assert parse_filter("seed=0..3")(flat) and not parse_filter("seed=0..2")(flat)
    assert parse_filter("beta=4.0")(flat) and not parse_filter("beta=2")(flat)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_filter("seed")
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        parse_filter("colour=1")(flat)


def test_spec_top_level_validation():
    with pytest.raises(ValueError, match="unknown study key\\(s\\) \\['grids'\\]"):
        StudySpec.from_dict({"name": "x", "grids": {}})
    with pytest.raises(ValueError, match="unknown evaluation key"):
        StudySpec.from_dict({"name": "x", "evaluation": {"metric": ["mig"]}})
    with pytest.raises(ValueError, match="unknown study 'nope'"):
        StudySpec.load("nope")


def test_reference_study_trains_beta_tc_vae_with_the_reference_estimator():
    from disentkit.study.spec import StudySpec

    runs = StudySpec.load("unsupervised_study_v1").runs(["method=beta_tc_vae", "seed=0", "dataset=dsprites"])
    assert len(runs) == 6
    assert {r.train["method_params"]["estimator"] for r in runs} == {"dlib"}
    assert {r.train["method_params"]["dataset_size"] for r in runs} == {None}  # filled from the dataset at run time
    import disentkit.methods as methods

    assert methods.config_for("beta_tc_vae", {}).estimator == "mss"  # the library default stays corrected
