"""Continuous factors and angles, causal graphs and do-interventions on a dataset."""

import math

import numpy as np
import pytest

import disentkit.data as dd
from disentkit.data.base import DummyData, FactorSubset, GroundTruthData
from disentkit.data.factors import CausalGraph, ContinuousFactorSpace, Factor, FactorSpace, make_factor_space
from disentkit.data.samplers import CorrelatedSampler, UniformSampler, WeakPairSampler


# -- factors and factor spaces ----------------------------------------------------------------


def test_factor_kinds_and_bounds():
    assert Factor.discrete("shape", 3).bounds == (0.0, 2.0)
    assert Factor.continuous("size", 0.5, 1.0).bounds == (0.5, 1.0)
    angle = Factor.angle("turn")
    assert (angle.kind, angle.low, angle.high, angle.period) == ("angle", -math.pi, math.pi, 2 * math.pi)
    assert [f.is_discrete for f in (Factor.discrete("a", 2), Factor.continuous("b", 0, 1), angle)] == [True, False, False]


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Factor.continuous("x", 1.0, 1.0), "'x'.*low < high.*\\[1, 1\\]"),
        (lambda: Factor.continuous("x", 2.0, 1.0), "'x'.*low < high"),
        (lambda: Factor.continuous("x", 0.0, math.inf), "'x'.*high must be a finite number"),
        (lambda: Factor.continuous("x", "a", 1.0), "'x'.*low must be a finite number"),
        (lambda: Factor("x", "continuous", size=3, low=0, high=1), "'x'.*range \\[low, high\\], not a size"),
        (lambda: Factor("x", "continuous", low=0), "'x'.*needs low and high"),
        (lambda: Factor("x", "continuous", low=0, high=1, period=1), "'x'.*no period"),
        (lambda: Factor.angle("x", 0.0, 7.0), "'x'.*at most one period"),
        (lambda: Factor.angle("x", 0.0, 1.0, period=-1.0), "'x'.*at most one period"),
        (lambda: Factor.discrete("x", 0), "'x'.*integer size >= 1, got 0"),
        (lambda: Factor.discrete("x", 2.5), "'x'.*integer size >= 1"),
        (lambda: Factor("x", "discrete", size=2, low=0, high=1), "'x'.*has a size, not a range"),
        (lambda: Factor("x", "ordinal", size=2), "unknown kind 'ordinal'; valid kinds: discrete, continuous, angle"),
        (lambda: Factor("", "discrete", size=2), "non-empty string"),
    ],
)
def test_bad_factor_declarations(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_factor_check_ranges_and_wraps_angles():
    size = Factor.continuous("size", 0.5, 1.0)
    np.testing.assert_array_equal(size.check([0.5, 1.0, 0.75]), [0.5, 1.0, 0.75])
    with pytest.raises(ValueError, match="factor 'size' must be in \\[0.5, 1\\], got values in \\[0.5, 1.25\\]"):
        size.check([0.5, 1.25])
    with pytest.raises(ValueError, match="'size' must be finite"):
        size.check([np.nan])
    half = Factor.angle("turn", 0.0, math.pi)
    # 2 pi + 1 is the angle 1; -0.5 is 2 pi - 0.5, outside [0, pi]
    np.testing.assert_allclose(half.check([2 * math.pi + 1.0, math.pi]), [1.0, math.pi])
    with pytest.raises(ValueError, match="factor 'turn' must be in \\[0, 3.14159\\]"):
        half.check([-0.5])
    full = Factor.angle("phase", 0.0, 2 * math.pi)
    np.testing.assert_allclose(full.check([-0.5, 2 * math.pi]), [2 * math.pi - 0.5, 2 * math.pi])
    with pytest.raises(ValueError, match="'shape' must be integer indices in \\[0, 2\\]"):
        Factor.discrete("shape", 3).check([0.5])


def _mixed_space():
    return ContinuousFactorSpace((Factor.discrete("shape", 3), Factor.continuous("size", 0.5, 1.0),
                                  Factor.angle("turn", 0.0, math.pi)))


def test_continuous_space_validates_and_samples():
    space = _mixed_space()
    assert space.names == ("shape", "size", "turn") and space.kinds == ("discrete", "continuous", "angle")
    assert not space.is_discrete and FactorSpace(("a",), (2,)).is_discrete
    np.testing.assert_array_equal(space.low, [0.0, 0.5, 0.0])
    np.testing.assert_array_equal(space.high, [2.0, 1.0, math.pi])
    out = space.validate([[2, 0.75, 2 * math.pi + 0.5]])
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, [[2.0, 0.75, 0.5]])
    with pytest.raises(ValueError, match="shape \\(n, 3\\)"):
        space.validate([[1.0, 0.7]])
    with pytest.raises(ValueError, match="factor 'size' must be in"):
        space.validate([[1, 0.2, 0.0]])
    with pytest.raises(ValueError, match="must be numbers"):
        space.validate(np.array([["a", "b", "c"]]))
    a, b = space.sample_uniform(500, rng=3), space.sample_uniform(500, rng=3)
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64 and a.shape == (500, 3)
    assert set(np.unique(a[:, 0])) == {0.0, 1.0, 2.0}
    assert a[:, 1].min() >= 0.5 and a[:, 1].max() <= 1.0 and a[:, 2].min() >= 0.0 and a[:, 2].max() <= math.pi
    assert space.describe() == "shape=3 size=[0.5, 1] turn=[0, 3.14159] (angle)"


@pytest.mark.parametrize("attribute", ["sizes", "strides", "num_states"])
def test_continuous_space_has_no_grid(attribute):
    with pytest.raises(ValueError, match=f"{attribute} is defined only for discrete factors; the continuous "
                                         "factors \\['size', 'turn'\\] must be discretised first"):
        getattr(_mixed_space(), attribute)
    with pytest.raises(ValueError, match="grid is defined only for discrete factors"):
        _mixed_space().grid()


def test_space_construction_errors_and_make_factor_space():
    with pytest.raises(ValueError, match="every factor is discrete: use FactorSpace"):
        ContinuousFactorSpace((Factor.discrete("a", 2),))
    with pytest.raises(ValueError, match="unique"):
        ContinuousFactorSpace((Factor.continuous("a", 0, 1), Factor.discrete("a", 2)))
    with pytest.raises(ValueError, match="at least one factor"):
        ContinuousFactorSpace(())
    with pytest.raises(ValueError, match="Factor objects"):
        ContinuousFactorSpace(("a",))
    space = make_factor_space([Factor.discrete("a", 2), Factor.discrete("b", 3)])
    assert space == FactorSpace(("a", "b"), (2, 3))
    assert space.factors == (Factor.discrete("a", 2), Factor.discrete("b", 3))
    assert isinstance(make_factor_space([Factor.discrete("a", 2), Factor.continuous("b", 0, 1)]), ContinuousFactorSpace)


def test_samplers_on_continuous_factors():
    space = _mixed_space()
    draws = UniformSampler(space).sample(200, rng=0)
    np.testing.assert_array_equal(draws, space.sample_uniform(200, rng=0))
    with pytest.raises(ValueError, match="CorrelatedSampler needs discrete factors; the continuous factors are \\['size', 'turn'\\]"):
        CorrelatedSampler(space, pairs=[("shape", "size", 0.1)])
    with pytest.raises(ValueError, match="WeakPairSampler needs discrete factors"):
        WeakPairSampler(space)


# -- causal graphs ------------------------------------------------------------------------------


def test_causal_graph_structure():
    g = CausalGraph(("a", "b", "c", "d", "e"), [("a", "c"), ("b", "c"), ("c", "d"), ("a", "c")])
    assert g.edges == (("a", "c"), ("b", "c"), ("c", "d"))
    assert g.parents("c") == ("a", "b") and g.children("a") == ("c",)
    assert g.ancestors("d") == ("a", "b", "c") and g.descendants("a") == ("c", "d")
    assert g.roots == ("a", "b", "e") and g.topological_order == ("a", "b", "c", "d", "e")
    expected = np.zeros((5, 5), dtype=np.int64)
    expected[0, 2] = expected[1, 2] = expected[2, 3] = 1  # A[i, j] = 1 for i -> j
    np.testing.assert_array_equal(g.adjacency(), expected)
    assert CausalGraph.from_adjacency(g.names, expected) == g
    assert g.describe() == "a -> c, b -> c, c -> d"
    # listed child-first, still ordered parents-first
    assert CausalGraph(("z", "y", "x"), [("x", "y"), ("y", "z")]).topological_order == ("x", "y", "z")


@pytest.mark.parametrize(
    "edges, message",
    [
        ([("a", "b"), ("b", "c"), ("c", "a")], "causal graph has a cycle: a -> b -> c -> a"),
        ([("a", "b"), ("b", "a"), ("b", "c")], "causal graph has a cycle: a -> b -> a"),
        ([("c", "c")], "causal graph has a cycle: c -> c"),
        ([("a", "shadow")], "edge \\('a', 'shadow'\\) names unknown factor 'shadow'; the factors are \\['a', 'b', 'c'\\]"),
        ([("a", "b", "c")], "must be a \\(parent, child\\) pair"),
    ],
)
def test_causal_graph_errors(edges, message):
    with pytest.raises(ValueError, match=message):
        CausalGraph(("a", "b", "c"), edges)


def test_causal_graph_lookup_and_adjacency_errors():
    g = CausalGraph(("a", "b"), [("a", "b")])
    with pytest.raises(ValueError, match="unknown factor 'q'; the factors are \\['a', 'b'\\]"):
        g.parents("q")
    with pytest.raises(ValueError, match="shape \\(2, 2\\)"):
        CausalGraph.from_adjacency(("a", "b"), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unique"):
        CausalGraph(("a", "a"))


# -- interventions ------------------------------------------------------------------------------


class Chain(GroundTruthData):
    """x -> y -> z with y = 2 x and z = y + 1; w is an unrelated discrete root; z is not intervenable."""

    def __init__(self):
        self._space = ContinuousFactorSpace((
            Factor.continuous("x", 0.0, 1.0), Factor.continuous("y", 0.0, 2.0),
            Factor.continuous("z", 1.0, 3.0), Factor.discrete("w", 3),
        ))
        self._graph = CausalGraph(self._space.names, [("x", "y"), ("y", "z")])

    factor_space = property(lambda self: self._space)
    observation_shape = property(lambda self: (1, 1, 4))
    causal_graph = property(lambda self: self._graph)
    intervenable_factors = property(lambda self: ("x", "y", "w"))

    def _structural_equation(self, name, factors):
        return {"y": lambda: 2 * factors[:, 0], "z": lambda: factors[:, 1] + 1}[name]()

    def sample_factors(self, n, rng):
        out = self._space.sample_uniform(n, rng)
        return self._propagate(out, ["x"])

    def _render(self, factors, rng):
        return (factors / self._space.high).astype(np.float32).reshape(-1, 1, 1, 4)


def test_sampled_factors_follow_the_equations():
    f = Chain().sample_factors(50, rng=0)
    np.testing.assert_allclose(f[:, 1], 2 * f[:, 0])
    np.testing.assert_allclose(f[:, 2], 2 * f[:, 0] + 1)


def test_intervention_on_a_cause_recomputes_its_descendants():
    data = Chain()
    f = np.array([[0.1, 0.2, 1.2, 0], [0.4, 0.8, 1.8, 2]])
    out = data.intervene(f, do={"x": 0.25})
    np.testing.assert_allclose(out, [[0.25, 0.5, 1.5, 0], [0.25, 0.5, 1.5, 2]])
    per_row = data.intervene(f, do={"x": np.array([0.0, 1.0])})
    np.testing.assert_allclose(per_row, [[0.0, 0.0, 1.0, 0], [1.0, 2.0, 3.0, 2]])
    np.testing.assert_array_equal(f, [[0.1, 0.2, 1.2, 0], [0.4, 0.8, 1.8, 2]])  # input unchanged


def test_intervention_on_an_effect_leaves_its_causes():
    data = Chain()
    f = np.array([[0.1, 0.2, 1.2, 1]])
    np.testing.assert_allclose(data.intervene(f, do={"y": 1.5}), [[0.1, 1.5, 2.5, 1]])
    np.testing.assert_allclose(data.intervene(f, do={"w": 2}), [[0.1, 0.2, 1.2, 2]])
    np.testing.assert_allclose(data.intervene(f, do={}), f)
    # setting a cause and its child together keeps the set child
    np.testing.assert_allclose(data.intervene(f, do={"x": 0.5, "y": 0.3}), [[0.5, 0.3, 1.3, 1]])


@pytest.mark.parametrize(
    "do, message",
    [
        ({"z": 2.0}, "factor 'z' of Chain is not intervenable; intervenable factors: \\['x', 'y', 'w'\\]"),
        ({"shadow": 1.0}, "unknown factor 'shadow'; the factors are \\['x', 'y', 'z', 'w'\\]"),
        ({"x": 1.5}, "factor 'x' must be in \\[0, 1\\]"),
        ({"w": 0.5}, "factor 'w' must be integer indices"),
        ({"x": [0.1, 0.2, 0.3]}, "do value of 'x' must be a number or one number per row \\(1,\\)"),
        ({"x": "high"}, "do value of 'x' must be a number"),
        ([("x", 0.1)], "do must be a mapping"),
    ],
)
def test_bad_interventions(do, message):
    with pytest.raises(ValueError, match=message):
        Chain().intervene([[0.1, 0.2, 1.2, 1]], do=do)


class Copy(GroundTruthData):
    """Discrete a -> b with b = a."""

    factor_space = property(lambda self: FactorSpace(("a", "b"), (3, 3)))
    observation_shape = property(lambda self: (1, 1, 2))
    causal_graph = property(lambda self: CausalGraph(("a", "b"), [("a", "b")]))
    intervenable_factors = property(lambda self: ("a", "b"))

    def _structural_equation(self, name, factors):
        return factors[:, 0]

    def _render(self, factors, rng):
        return factors.astype(np.float32).reshape(-1, 1, 1, 2) / 2


def test_discrete_interventions_keep_integer_indices():
    out = Copy().intervene([[0, 0], [1, 1]], do={"a": 2})
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, [[2, 2], [2, 2]])


def test_datasets_without_causal_structure():
    with pytest.raises(ValueError, match="DummyData declares no causal graph, so it has no interventions"):
        DummyData(num_factors=2).intervene([[0, 0]], do={"factor0": 1})
    assert DummyData().causal_graph is None and DummyData().intervenable_factors == ()
    assert dd.get("dsprites").causal_graph is None


def test_continuous_datasets_reject_grid_only_operations():
    data = Chain()
    with pytest.raises(ValueError, match="num_states is defined only for discrete factors"):
        len(data)
    with pytest.raises(ValueError, match="sizes is defined only for discrete factors"):
        data.factor_sizes
    with pytest.raises(ValueError, match="FactorSubset needs discrete factors; Chain has continuous factors"):
        FactorSubset(data, ["x"])
    images = data.observations(data.sample_factors(4, rng=1))
    assert images.shape == (4, 1, 1, 4) and images.dtype == np.float32
