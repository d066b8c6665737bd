"""The two-digit data of CMI minimisation (spec §5.2): sklearn's digits and MNIST idx files, the
exemplar factors, occlusion, the correlated sampler over the two digit attributes, and the CMI
method training and scoring on it."""

from __future__ import annotations

import gzip

import time

import numpy as np
import pytest
from sklearn.datasets import load_digits

from disentkit.data import registry
from disentkit.data.samplers import CorrelatedSampler
from disentkit.data.two_digits import TwoDigits, read_idx, two_digits, two_digits_mnist


@pytest.fixture(scope="module")
def data() -> TwoDigits:
    return two_digits()


def _bilinear_matrix(size_in: int, size_out: int = 32) -> np.ndarray:
    """(size_out, size_in) weights of a 1-D bilinear resize with half-pixel centres
    (``align_corners=False``): output pixel i samples the input at ``(i + 0.5) * in / out - 0.5``,
    clamped to the first pixel on the left and the last on the right."""
    src = np.maximum((np.arange(size_out) + 0.5) * size_in / size_out - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(int), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    weight = src - low
    out = np.zeros((size_out, size_in))
    out[np.arange(size_out), low] += 1.0 - weight
    out[np.arange(size_out), high] += weight
    return out


def _resized(images: np.ndarray) -> np.ndarray:
    """An independent (numpy, separable) 32 x 32 bilinear resize of (..., h, h) grey images."""
    w = _bilinear_matrix(images.shape[-1])
    return np.einsum("ij,...jk,lk->...il", w, images, w)


def test_the_independent_resize_is_bilinear():
    """Hand-computed: 2 -> 4 pixels at half-pixel centres gives [a, 3a/4 + b/4, a/4 + 3b/4, b]."""
    np.testing.assert_allclose(_bilinear_matrix(2, 4), [[1, 0], [0.75, 0.25], [0.25, 0.75], [0, 1]])


def test_each_half_is_the_named_exemplar_of_the_named_class(data):
    bunch = load_digits()
    threes = np.flatnonzero(bunch.target == 3)
    eights = np.flatnonzero(bunch.target == 8)
    assert data.factor_names == ("digit_left", "digit_right", "exemplar_left", "exemplar_right")
    n = data.num_exemplars
    assert n == min(round(0.8 * threes.size), round(0.8 * eights.size))  # the train part of each class
    image = data.observations([[0, 1, 5, n - 1]])[0]
    assert image.shape == (3, 32, 64) and image.dtype == np.float32
    np.testing.assert_allclose(image[0, :, :32], _resized(bunch.images[threes[5]] / 16.0), atol=1e-6)
    np.testing.assert_allclose(image[0, :, 32:], _resized(bunch.images[eights[n - 1]] / 16.0), atol=1e-6)
    np.testing.assert_array_equal(image[0], image[2])  # grey copied to 3 channels


def test_the_splits_hold_disjoint_images_and_exemplars_differ():
    train, test, every = (two_digits(split=s) for s in ("train", "test", "all"))
    assert every.num_exemplars == 174 and train.num_exemplars + test.num_exemplars <= 183
    first_test = test.exemplars[0, 0]
    assert not any(np.array_equal(first_test, t) for t in train.exemplars[0])
    flat = train.exemplars.reshape(2 * train.num_exemplars, -1)
    assert np.unique(flat, axis=0).shape[0] == flat.shape[0]  # sklearn's digits hold no duplicates here


def test_occlusion_greys_exactly_the_pixels_of_the_upsampled_grid(data):
    """The mask of (side, class, exemplar) is the documented 4 x 4 draw, upsampled independently."""
    factors = data.sample_factors(300, rng=0)
    plain = data.observations(factors)
    t = 0.5
    occluded = two_digits(occlusion=t, occlusion_seed=3)
    images = occluded.observations(factors)
    n = occluded.num_exemplars
    grids = np.random.default_rng(3).random((n, 2, 2, 4, 4)).astype(np.float32)  # exemplar, side, class
    smooth = _resized(grids.astype(np.float64))
    for side in (0, 1):
        value = smooth[factors[:, 2 + side], side, factors[:, side]]  # (300, 32, 32)
        half = slice(32 * side, 32 * (side + 1))
        expected = np.where(value <= t, np.float32(0.5), plain[:, 0, :, half])
        wrong = images[:, 0, :, half] != expected
        assert wrong.mean() < 1e-4 and np.all(np.abs(value[wrong] - t) < 1e-5)  # float32 ties only
        assert (value <= t).mean() > 0.2  # the check is not vacuous
    np.testing.assert_array_equal(images[:, 0], images[:, 2])


def test_the_occluded_fraction_matches_the_probability_of_a_low_mask(data):
    """P(mask <= t) by Monte Carlo over fresh uniform grids; the dataset's masks within 4 standard
    errors; 0 at t = 0 (images unchanged), nearly 1 at t = 0.99, increasing in t."""
    mc = _resized(np.random.default_rng(12345).random((20_000, 4, 4)))
    factors = data.sample_factors(200, rng=1)
    plain = data.observations(factors)
    fractions = []
    for t in (0.0, 0.2, 0.5, 0.8, 0.99):
        occluded = two_digits(occlusion=t, occlusion_seed=7)
        if t == 0.0:
            assert occluded.masks is None
            np.testing.assert_array_equal(occluded.observations(factors), plain)
            fractions.append(0.0)
            continue
        per_mask = occluded.masks.reshape(-1, 32 * 32).mean(axis=1)  # one fraction per (side, class, exemplar)
        per_grid = (mc <= t).reshape(len(mc), -1).mean(axis=1)
        se = np.sqrt(per_grid.var() / per_mask.size + per_grid.var() / per_grid.size)
        assert abs(per_mask.mean() - per_grid.mean()) < 4 * se + 1e-9
        fractions.append(per_mask.mean())
    assert fractions[-1] > 0.97
    assert all(a < b for a, b in zip(fractions, fractions[1:]))


def test_rendering_is_a_pure_function_of_the_factor_row(data):
    factors = data.sample_factors(64, rng=2)
    a = two_digits(occlusion=0.4, occlusion_seed=5)
    b = two_digits(occlusion=0.4, occlusion_seed=5)
    first = a.observations(factors)
    np.testing.assert_array_equal(first, a.observations(factors, rng=99))  # rng is not used
    np.testing.assert_array_equal(first, b.observations(factors))  # a fresh instance
    np.testing.assert_array_equal(first[:1], a.observations(factors[:1]))  # independent of the batch
    assert not a.stochastic
    assert not np.array_equal(first, two_digits(occlusion=0.4, occlusion_seed=6).observations(factors))
    # exemplar k's masks do not depend on how many exemplars the split has
    test, every = two_digits(split="test", occlusion=0.4), two_digits(split="all", occlusion=0.4)
    np.testing.assert_array_equal(test.masks, every.masks[:, :, : test.num_exemplars])


def test_images_are_in_range_and_the_exemplars_index_distinct_images(data):
    for dataset in (data, two_digits(occlusion=0.3)):
        images = dataset.observations(dataset.sample_factors(64, rng=3))
        assert images.shape == (64, 3, 32, 64) and images.dtype == np.float32
        assert images.min() >= 0.0 and images.max() <= 1.0
    n = data.num_exemplars
    for digit in (0, 1):
        rows = np.column_stack([np.full(n, digit), np.full(n, 1 - digit), np.arange(n), np.zeros(n, int)])
        images = data.observations(rows)
        lefts = images[:, 0, :, :32].reshape(n, -1)
        assert np.unique(lefts, axis=0).shape[0] == n  # every exemplar is a different image
        assert np.all(images[:, :, :, 32:] == images[:1, :, :, 32:])  # the right half stays put


def test_the_registry_builds_it(data):
    built = registry.get("two_digits")
    assert built.name == "two_digits" and built.source == "procedural"
    assert built.factor_sizes == (2, 2, data.num_exemplars, data.num_exemplars)
    np.testing.assert_array_equal(built.observations([[1, 0, 3, 4]]), data.observations([[1, 0, 3, 4]]))
    other = registry.get("two_digits", digits=(0, 1), split="test", occlusion=0.2)
    assert other.digits == (0, 1) and other.occlusion == 0.2
    registry.check_params("two_digits", {"split": "test", "test_fraction": 0.3})
    with pytest.raises(ValueError, match="unknown parameter"):
        registry.check_params("two_digits", {"classes": (3, 8)})


def test_one_batch_of_64_renders_fast(data):
    """Timing (one thread): rendering is indexing into the pre-resized exemplars and masks."""
    occluded = two_digits(occlusion=0.4)
    factors = occluded.sample_factors(64, rng=4)
    occluded.observations(factors)
    start = time.perf_counter()
    for _ in range(20):
        occluded.observations(factors)
    per_batch = (time.perf_counter() - start) / 20
    assert per_batch < 0.05, per_batch


def test_the_correlated_sampler_sets_the_joint_of_the_two_digits(data):
    """P(a1 = a2) = (1 + c) / 2 under binary=[(0, 1, c)], within 4 binomial standard errors."""
    n = 40_000
    for c in (0.9, -0.6):
        factors = CorrelatedSampler(data, binary=[(0, 1, c)]).sample(n, np.random.default_rng(1))
        p = (1 + c) / 2
        assert abs((factors[:, 0] == factors[:, 1]).mean() - p) < 4 * np.sqrt(p * (1 - p) / n)
        assert abs(factors[:, 0].mean() - 0.5) < 0.02  # uniform marginals


def test_bad_parameters_are_one_line_errors():
    cases = [({"split": "valid"}, "split"), ({"digits": (3, 3)}, "two distinct classes"),
             ({"digits": (3, 12)}, "digits entry"), ({"occlusion": 1.0}, "occlusion"),
             ({"digits": [3]}, "two distinct classes")]
    for params, words in cases:
        with pytest.raises(ValueError, match=words):
            two_digits(**params)
    with pytest.raises(ValueError, match="class 8 has no images"):
        TwoDigits(np.zeros((3, 8, 8)), np.array([3, 3, 3]))
    with pytest.raises(ValueError, match="square grey images"):
        TwoDigits(np.zeros((3, 8, 6)), np.array([3, 8, 3]))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        TwoDigits(np.zeros((3, 8, 8)), np.array([3, 8]))
    with pytest.raises(ValueError, match="test_fraction"):
        two_digits(test_fraction=1.0)
    with pytest.raises(ValueError, match="digits entry"):
        two_digits(digits=(True, 8))
    with pytest.raises(ValueError, match="c must be > -1.0 and < 1.0"):
        CorrelatedSampler(two_digits(split="test"), binary=[(0, 1, 1.5)])


def _write_idx(path, array: np.ndarray, magic: int, compress: bool = False) -> None:
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)


@pytest.fixture
def mnist_folder(tmp_path):
    rng = np.random.default_rng(0)
    for split, n, compress in (("train", 7, False), ("t10k", 4, True)):
        images = rng.integers(0, 256, (n, 28, 28))
        labels = np.array([3, 8, 1, 3, 8, 8, 3][:n])
        suffix = ".gz" if compress else ""
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte{suffix}", images, 2051, compress)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte{suffix}", labels, 2049, compress)
    return tmp_path


def test_the_mnist_loader_reads_idx_files_exactly(mnist_folder):
    images = read_idx(mnist_folder / "train-images-idx3-ubyte", "images")
    assert images.shape == (7, 28, 28) and images.dtype == np.uint8
    labels = read_idx(mnist_folder / "t10k-labels-idx1-ubyte.gz", "labels")
    np.testing.assert_array_equal(labels, [3, 8, 1, 3])
    data = registry.get("two_digits", path=str(mnist_folder))
    assert data.source == "file" and data.num_exemplars == 3  # three 3s and three 8s in the train file
    threes = np.flatnonzero(read_idx(mnist_folder / "train-labels-idx1-ubyte", "labels") == 3)
    np.testing.assert_allclose(data.observations([[0, 0, 2, 0]])[0, 0, :, :32],
                               _resized(images[threes[2]] / 255.0), atol=1e-6)
    assert two_digits_mnist(mnist_folder, split="test").num_exemplars == 1
    assert two_digits_mnist(mnist_folder, split="all").num_exemplars == 4


def test_the_mnist_folder_is_found_under_the_data_root(mnist_folder, tmp_path_factory, monkeypatch):
    root = tmp_path_factory.mktemp("root")
    (root / "mnist").mkdir()
    for file in mnist_folder.iterdir():
        (root / "mnist" / file.name).write_bytes(file.read_bytes())
    assert two_digits_mnist(root).num_exemplars == 3  # a data root holding mnist/
    monkeypatch.setenv("DISENTKIT_DATA", str(root))
    data = registry.get("two_digits", source="file", split="test", occlusion=0.3)
    assert data.source == "file" and data.num_exemplars == 1 and data.masks.shape == (2, 2, 1, 32, 32)


def test_a_bad_mnist_file_is_an_error_naming_it(mnist_folder):
    file = mnist_folder / "train-images-idx3-ubyte"
    raw = file.read_bytes()
    file.write_bytes(raw[:-5])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte: \d+ data bytes, expected 5488"):
        two_digits_mnist(mnist_folder)
    file.write_bytes((2049).to_bytes(4, "big") + raw[4:])
    with pytest.raises(ValueError, match="idx magic number 2049, expected 2051"):
        two_digits_mnist(mnist_folder)
    file.write_bytes(raw[:6])
    with pytest.raises(ValueError, match="truncated idx header"):
        two_digits_mnist(mnist_folder)
    file.write_bytes(raw)
    (mnist_folder / "train-labels-idx1-ubyte").write_bytes((2049).to_bytes(4, "big") + (6).to_bytes(4, "big") + bytes(6))
    with pytest.raises(ValueError, match="7 images but .*train-labels-idx1-ubyte has 6 labels"):
        two_digits_mnist(mnist_folder)
    (mnist_folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz: not a readable gzip file"):
        two_digits_mnist(mnist_folder, split="test")
    with pytest.raises(FileNotFoundError, match=r"two_digits \(MNIST\): no folder found at .*nowhere"):
        two_digits_mnist(mnist_folder / "nowhere")
    with pytest.raises(ValueError, match="kind"):
        read_idx(file, "pixels")
    (mnist_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte .*is missing"):
        two_digits_mnist(mnist_folder, split="test")


def test_cmi_trains_on_correlated_digits_and_scores_its_attributes(tmp_path):
    from disentkit.metrics import evaluate
    from disentkit.train import TrainConfig, load_run, train

    config = TrainConfig.from_dict({
        "dataset": "two_digits", "dataset_params": {"split": "test", "occlusion": 0.2}, "method": "cmi",
        "steps": 3, "batch_size": 16, "checkpoint_every": 3, "log_every": 1, "images": False,
        "sampler": "correlated", "sampler_params": {"binary": [[0, 1, 0.9]]},
        "method_params": {"missing_labels": 0.5}})
    out = train(config, tmp_path / "run", progress=False)
    model = load_run(out)
    assert model.config.attribute_names == ["digit_left", "digit_right"]
    result = evaluate(two_digits(split="test"), model, ["attribute_accuracy"], progress=False,
                      settings={"attribute_accuracy": {"num_test": 200}})
    values = result["attribute_accuracy"]["values"]
    assert set(values) == {"accuracy_digit_left", "accuracy_digit_right", "mean"}
    assert all(0.0 <= v <= 1.0 for v in values.values())
