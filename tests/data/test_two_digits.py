"""The two-digit data of CMI minimisation (spec §5.2): sklearn's digits and MNIST idx files, the
exemplar factors, occlusion, the correlated sampler over the two digit attributes, and the CMI
method training and scoring on it."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from disentkit.data import registry
from disentkit.data.samplers import CorrelatedSampler
from disentkit.data.two_digits import TwoDigits, read_idx, two_digits, two_digits_mnist


@pytest.fixture(scope="module")
def data() -> TwoDigits:
    return two_digits()


def _resized(image: np.ndarray) -> np.ndarray:
    """An independent 32 x 32 bilinear resize of one grey image."""
    return F.interpolate(torch.tensor(image, dtype=torch.float32)[None, None], size=(32, 32), mode="bilinear",
                         align_corners=False)[0, 0].clamp(0, 1).numpy()


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


def test_occlusion_greys_the_pixels_of_a_low_mask_and_is_fixed_per_image(data):
    factors = data.sample_factors(300, rng=0)
    plain = data.observations(factors)
    fractions = []
    for t in (0.2, 0.5, 0.8):
        occluded = two_digits(occlusion=t, occlusion_seed=3)
        images = occluded.observations(factors)
        grey = images == 0.5
        np.testing.assert_array_equal(images[~grey], plain[~grey])  # nothing else changes
        # the mask value of a pixel is a bilinear mix of uniforms; check the fraction independently
        grids = np.random.default_rng(3).random((4 * occluded.num_exemplars, 4, 4)).astype(np.float32)
        smooth = F.interpolate(torch.from_numpy(grids)[:, None], size=(32, 32), mode="bilinear",
                               align_corners=False)[:, 0].numpy()
        expected = (smooth <= t).mean()
        fractions.append(grey.mean())
        assert abs(grey.mean() - expected) < 0.05
        np.testing.assert_array_equal(two_digits(occlusion=t, occlusion_seed=3).observations(factors), images)
    assert fractions[0] < fractions[1] < fractions[2]
    np.testing.assert_array_equal(two_digits(occlusion=0.0).observations(factors), plain)
    assert not np.array_equal(two_digits(occlusion=0.5, occlusion_seed=4).observations(factors),
                              two_digits(occlusion=0.5, occlusion_seed=3).observations(factors))


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
    with pytest.raises(FileNotFoundError, match="does not exist"):
        two_digits_mnist(mnist_folder / "nowhere")
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
