"""Batch streams (determinism, exact resume, prefetch, pairs) and the on-disk grid cache."""

import json
import pickle

import numpy as np
import pytest
import torch

from disentkit.data import DummyData, FactorSpace, GroundTruthData
from disentkit.data.cache import CachedData, build_cache, cache_folder, cache_key, cache_path
from disentkit.data.samplers import CorrelatedSampler, WeakPairSampler
from disentkit.data.streams import BatchStream, StreamDataset


class TinyBinary(GroundTruthData):
    """Deterministic 1x8x10 binary images: pixel (h, w) is on when (h * 10 + w) % (index + 2) == 0."""

    def __init__(self, offset: int = 0):
        self.offset = offset

    @property
    def factor_space(self) -> FactorSpace:
        return FactorSpace(("a", "b", "c"), (3, 4, 5))

    @property
    def observation_shape(self):
        return (1, 8, 10)

    def _render(self, factors, rng):
        index = factors @ self.factor_space.strides + self.offset
        pix = np.arange(80).reshape(8, 10)
        return ((pix[None] % (index[:, None, None] + 2)) == 0).astype(np.float32)[:, None]


class TinyColour(TinyBinary):
    """Deterministic 3x4x4 images with values k/255."""

    @property
    def observation_shape(self):
        return (3, 4, 4)

    def _render(self, factors, rng):
        index = factors @ self.factor_space.strides
        k = (index[:, None, None, None] * 37 + np.arange(48).reshape(1, 3, 4, 4) * 11) % 256
        return (k / 255.0).astype(np.float32)


def take(stream, n):
    return [next(stream) for _ in range(n)]


def assert_same_batches(xs, ys):
    assert len(xs) == len(ys)
    for x, y in zip(xs, ys):
        assert x.kind == y.kind and sorted(x.extras) == sorted(y.extras)
        for a, b in zip(x.views + x.factors + tuple(x.extras.values()),
                        y.views + y.factors + tuple(y.extras.values())):
            assert torch.equal(a, b)


# -- streams ------------------------------------------------------------------------------------

def test_stream_batches_shapes_and_content():
    data = TinyBinary()
    stream = BatchStream(data, batch_size=6, seed=0)
    batch = next(stream)
    images, factors = batch.images, batch.factors[0]
    assert batch.kind == "images" and len(batch.views) == 1
    assert torch.equal(batch.extras["index"], factors @ torch.tensor(data.factor_space.strides))
    assert images.dtype == torch.float32 and images.shape == (6, 1, 8, 10)
    assert factors.dtype == torch.int64 and factors.shape == (6, 3)
    np.testing.assert_array_equal(images.numpy(), data.observations(factors.numpy()))
    # the factors are the uniform sampler's draws from default_rng(seed)
    gen = np.random.default_rng(0)
    np.testing.assert_array_equal(factors.numpy(), data.sample_factors(6, gen))
    assert stream.batches_drawn == 1


def test_stream_determinism_with_a_stochastic_dataset():
    data = DummyData(num_factors=3, size=4, image_size=8)
    a = take(BatchStream(data, 5, seed=3), 4)
    b = take(BatchStream(data, 5, seed=3), 4)
    assert_same_batches(a, b)
    c = next(BatchStream(data, 5, seed=4))
    assert not torch.equal(a[0].images, c.images)


@pytest.mark.parametrize("prefetch", [0, 2])
def test_stream_resume_equals_uninterrupted(prefetch):
    data = DummyData(num_factors=3, size=4, image_size=8)
    full = take(BatchStream(data, 4, seed=7), 8)
    first = BatchStream(data, 4, seed=7, prefetch=prefetch)
    assert_same_batches(take(first, 5), full[:5])
    state = json.loads(json.dumps(first.state_dict()))  # JSON-able
    first.close()
    assert state["batches"] == 5
    resumed = BatchStream(data, 4, seed=7, prefetch=prefetch)
    resumed.load_state_dict(state)
    assert_same_batches(take(resumed, 3), full[5:])
    assert resumed.batches_drawn == 8
    resumed.close()
    # a stream reloaded with its own state mid-way continues unchanged
    again = BatchStream(data, 4, seed=7, prefetch=prefetch)
    take(again, 2)
    again.load_state_dict(again.state_dict())
    assert_same_batches(take(again, 2), full[2:4])
    again.close()


def test_stream_with_correlated_sampler_and_pairs():
    data = TinyBinary()
    sampler = CorrelatedSampler(data, pairs=[("b", "c", 0.2)])
    batches = take(BatchStream(data, 8, seed=1, sampler=sampler), 2)
    gen = np.random.default_rng(1)
    for batch in batches:
        np.testing.assert_array_equal(batch.factors[0].numpy(), sampler.sample(8, gen))
    pairs = WeakPairSampler(data, k=2)
    stream = BatchStream(data, 8, seed=2, pairs=pairs)
    batch = next(stream)
    (x1, x2), (f1, f2) = batch.views, batch.factors
    assert batch.kind == "pairs" and torch.equal(batch.extras["changed"], f1 != f2)
    assert x1.shape == x2.shape == (8, 1, 8, 10) and f1.shape == f2.shape == (8, 3)
    assert ((f1 != f2).sum(dim=1) == 2).all()
    np.testing.assert_array_equal(x2.numpy(), data.observations(f2.numpy()))
    gen = np.random.default_rng(2)
    np.testing.assert_array_equal(f1.numpy(), pairs.sample(8, gen)[0])
    # pairs resume exactly too
    full = take(BatchStream(data, 8, seed=2, pairs=pairs), 4)
    s = BatchStream(data, 8, seed=2, pairs=pairs, prefetch=1)
    take(s, 1)
    state = s.state_dict()
    s.close()
    r = BatchStream(data, 8, seed=2, pairs=pairs)
    r.load_state_dict(state)
    assert_same_batches(take(r, 3), full[1:])


def test_stream_dataset_adapter_matches_the_stream():
    data = TinyBinary()
    loader = torch.utils.data.DataLoader(StreamDataset(data, 4, seed=5), batch_size=None)
    it = iter(loader)
    assert_same_batches([next(it) for _ in range(3)], take(BatchStream(data, 4, seed=5), 3))


def test_stream_bad_arguments():
    data = TinyBinary()
    with pytest.raises(ValueError, match=">= 1"):
        BatchStream(data, 0, seed=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        BatchStream(data, 4, seed=-1)
    with pytest.raises(ValueError, match="one of sampler=, pairs= or batches="):
        BatchStream(data, 4, 0, sampler=CorrelatedSampler(data), pairs=WeakPairSampler(data))
    with pytest.raises(ValueError, match="differ from the dataset"):
        BatchStream(data, 4, 0, sampler=CorrelatedSampler(FactorSpace(("a",), (3,))))
    with pytest.raises(ValueError, match="stochastic"):
        BatchStream(DummyData(), 4, 0, cache=True)
    s = BatchStream(data, 4, seed=0)
    with pytest.raises(ValueError, match="batch_size=4"):
        s.load_state_dict(BatchStream(data, 5, seed=0).state_dict())
    with pytest.raises(ValueError, match="missing"):
        s.load_state_dict({"seed": 0})


# -- cache --------------------------------------------------------------------------------------

def test_cache_round_trip_binary_packs_bits(tmp_path):
    data = TinyBinary()
    cached = CachedData(data, folder=tmp_path, progress=False)
    assert cached.storage == "bits"
    assert cached.images.shape == (60, 1, 8, 2) and cached.images.dtype == np.uint8  # 10 px -> 2 bytes
    grid = data.factor_space.grid()
    np.testing.assert_array_equal(cached.observations(grid), data.observations(grid))
    f = data.sample_factors(40, rng=0)  # unsorted, repeated indices
    np.testing.assert_array_equal(cached.observations(f), data.observations(f))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([cached.path.name, cached.path.stem + ".json"])
    assert cached.meta["num_states"] == 60 and cached.meta["max_abs_error"] == 0.0
    # a second CachedData finds the file (no rebuild) and a stream through the cache is identical
    mtime = cached.path.stat().st_mtime_ns
    assert CachedData(data, folder=tmp_path, build=False).path == cached.path
    assert cached.path.stat().st_mtime_ns == mtime
    assert_same_batches(take(BatchStream(data, 7, 3, cache=tmp_path), 3), take(BatchStream(data, 7, 3), 3))


def test_cache_uint8_and_float32_round_trip(tmp_path):
    data = TinyColour()
    cached = CachedData(data, folder=tmp_path, progress=False)
    assert cached.storage == "uint8" and cached.images.shape == (60, 3, 4, 4)
    grid = data.factor_space.grid()
    np.testing.assert_array_equal(cached.observations(grid), data.observations(grid))
    exact = CachedData(data, folder=tmp_path, storage="float32", progress=False)
    assert exact.storage == "float32" and exact.images.dtype == np.float32
    np.testing.assert_array_equal(exact.observations(grid), data.observations(grid))
    ram = CachedData(data, folder=tmp_path, build=False, in_memory=True)
    assert not isinstance(ram.images, np.memmap)
    np.testing.assert_array_equal(ram.observations(grid), data.observations(grid))
    # a pickled memory-mapped cache (DataLoader workers) reopens its file
    clone = pickle.loads(pickle.dumps(exact))
    assert clone._images is None
    np.testing.assert_array_equal(clone.observations(grid[:7]), data.observations(grid[:7]))


def test_cache_non_binary_single_channel_falls_back_to_uint8(tmp_path):
    class Grey(TinyBinary):
        def _render(self, factors, rng):
            return super()._render(factors, rng) * np.float32(0.3)  # 76.5 / 255: not a multiple of 1/255

    with pytest.warns(UserWarning, match="float32"):
        cached = CachedData(Grey(), folder=tmp_path, progress=False, storage="auto")
    assert cached.storage == "uint8"
    grid = cached.factor_space.grid()
    np.testing.assert_allclose(cached.observations(grid), Grey().observations(grid), atol=1 / 510)
    assert 0 < cached.meta["max_abs_error"] <= 1 / 510
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".npy"]  # no temporary file left


def test_cache_key_folder_and_errors(tmp_path, monkeypatch):
    assert cache_key(TinyBinary(offset=0)) != cache_key(TinyBinary(offset=1))
    assert cache_key(TinyBinary()) == cache_key(TinyBinary())
    monkeypatch.setenv("DISENTKIT_CACHE", str(tmp_path / "env"))
    assert cache_folder() == tmp_path / "env"
    assert cache_path(TinyBinary()).parent == tmp_path / "env"
    assert build_cache(TinyBinary(), progress=False).exists()
    with pytest.raises(ValueError, match="stochastic"):
        CachedData(DummyData(), folder=tmp_path)
    with pytest.raises(FileNotFoundError):
        CachedData(TinyColour(), folder=tmp_path / "empty", build=False)
    with pytest.raises(ValueError, match="auto"):
        build_cache(TinyBinary(), folder=tmp_path, storage="png")


def test_prefetch_hands_a_render_error_to_the_consumer():
    class Broken(TinyBinary):
        def _render(self, factors, rng):
            raise ArithmeticError("renderer failed")

    stream = BatchStream(Broken(), 4, seed=0, prefetch=2)
    with pytest.raises(ArithmeticError, match="renderer failed"):
        next(stream)
    assert stream._thread is None
