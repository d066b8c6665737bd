"""The typed batch and the batch samplers by name."""

import numpy as np
import pytest
import torch

import disentkit.data as dd
from disentkit.data.batch import Batch, ImageBatches, PairBatches, ViewBatches
from disentkit.data.batch_samplers import SAMPLERS, build_sampler, check_sampler, sampler_kind


class FlipViews:
    """Two views: the images and their mirror (the second view draws one number, to test the rng)."""

    num_views = 2

    def views(self, images, rng):
        rng.random()
        return images, images.flip(-1)


def test_batch_checks_lengths_and_kinds():
    x = torch.zeros(4, 1, 8, 8)
    f = torch.zeros(4, 2, dtype=torch.int64)
    with pytest.raises(ValueError, match="unknown batch kind 'pair'; valid kinds: images, pairs, views"):
        Batch("pair", (x,), (f,))
    with pytest.raises(ValueError, match="one factors array per view"):
        Batch("pairs", (x, x), (f,))
    with pytest.raises(ValueError, match=r"same length, got \[3, 4\]"):
        Batch("images", (x,), (f[:3],))
    b = Batch("pairs", (x, x), (f, f), {"changed": torch.zeros(4, 2, dtype=torch.bool)})
    assert (b.batch_size, b.num_images) == (4, 8)


def test_channels_last_touches_only_4d_images():
    images = torch.rand(2, 3, 8, 8)
    sequence = torch.rand(2, 5, 3, 8, 8)
    b = Batch("views", (images, sequence), (torch.zeros(2, 1),) * 2).channels_last()
    assert b.views[0].is_contiguous(memory_format=torch.channels_last)
    assert b.views[1] is sequence and torch.equal(b.views[0], images)


def test_image_and_pair_batches_match_the_samplers_draws():
    data = dd.get("dsprites")
    b = ImageBatches(data).draw(6, rng=3)
    gen = np.random.default_rng(3)
    factors = data.sample_factors(6, gen)
    np.testing.assert_array_equal(b.factors[0], factors)
    np.testing.assert_array_equal(b.images, data.observations(factors, gen))
    np.testing.assert_array_equal(b.extras["index"], data.factor_space.index_of(factors))
    pairs = PairBatches(data, dd.WeakPairSampler(data, k=2)).draw(5, rng=1)
    assert pairs.kind == "pairs" and (pairs.extras["changed"].sum(1) == 2).all()
    np.testing.assert_array_equal(pairs.extras["changed"], pairs.factors[0] != pairs.factors[1])


def test_view_batches_share_factors_and_are_seeded():
    data = dd.get("dsprites")
    a = ViewBatches(data, FlipViews()).draw(4, rng=0)
    b = ViewBatches(data, FlipViews()).draw(4, rng=0)
    assert a.kind == "views" and len(a.views) == 2 and a.factors[0] is a.factors[1]
    assert torch.equal(a.views[1], a.views[0].flip(-1)) and torch.equal(a.views[0], b.views[0])
    with pytest.raises(ValueError, match="num_views and views"):
        ViewBatches(data, object())


def test_samplers_by_name():
    data = dd.get("dsprites")
    assert SAMPLERS == {"uniform": "images", "correlated": "images", "weak_pairs": "pairs", "views": "views"}
    assert sampler_kind("weak_pairs") == "pairs"
    with pytest.raises(ValueError, match="unknown sampler 'x'; valid samplers: uniform, correlated, weak_pairs, views"):
        check_sampler("x")
    with pytest.raises(ValueError, match="either setting"):
        check_sampler("correlated", {})
    with pytest.raises(ValueError, match=r"unknown sampler 'uniform' parameter\(s\) \['k'\]; valid: none"):
        check_sampler("uniform", {"k": 1})
    corr = build_sampler("weak_pairs", {"k": 1, "correlation": {"pairs": [["shape", "scale", 0.1]]}}, data, "dsprites")
    f1 = corr.draw(4000, rng=0).factors[0]
    assert np.corrcoef(f1[:, 0], f1[:, 1])[0, 1] > 0.5  # the pairs' first views are correlated
    inverse = build_sampler("correlated", {"setting": "dsprites_single_1_01_inv"}, data, "dsprites").draw(4000, rng=0)
    assert np.corrcoef(inverse.factors[0][:, 0], inverse.factors[0][:, 1])[0, 1] < -0.5


def test_continuous_factors_stream_with_an_index_only_on_a_grid():
    from disentkit import data as dd
    from disentkit.data.batch import ImageBatches

    grid = dd.get("pendulum", mode="grid")
    batch = ImageBatches(grid).draw(5, np.random.default_rng(0))
    assert batch.factors[0].dtype == np.float64 and batch.views[0].shape == (5, 3, 64, 64)
    np.testing.assert_array_equal(batch.extras["index"], grid.grid_index(batch.factors[0]))
    continuous = ImageBatches(dd.get("pendulum", mode="continuous")).draw(5, np.random.default_rng(0))
    assert "index" not in continuous.extras  # no grid to index
