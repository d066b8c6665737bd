"""CelebA loader: each test writes a few tiny 178x218 JPEGs and the attribute/partition files in the
real format, then reads them back.

Images are random noise, so every image's pre-processed pixels are distinct: a returned image is
identified by exact equality with an independent Pillow computation of each fixture image.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disentkit.data import check_params, get
from disentkit.data.files.celeba import CELEBA_ATTRIBUTES, CelebA, CelebAFileError

N = 12  # images; image i has attribute pattern i % 4 (so 4 groups of 3 images)
MALE, SMILING = CELEBA_ATTRIBUTES.index("Male"), CELEBA_ATTRIBUTES.index("Smiling")
PARTITION = [0] * 6 + [1] * 3 + [2] * 3  # train 0-5, valid 6-8, test 9-11


def _name(i: int) -> str:
    return f"{i + 1:06d}.jpg"


def _patterns() -> np.ndarray:
    """4 distinct (4, 40) patterns in {1, -1}; (Male, Smiling) of pattern p are (p // 2, p % 2) as 0/1."""
    rng = np.random.default_rng(7)
    pat = np.where(rng.random((4, 40)) < 0.4, 1, -1)
    for p in range(4):
        pat[p, MALE] = 1 if p // 2 else -1
        pat[p, SMILING] = 1 if p % 2 else -1
    return pat


def _attr_text(values: np.ndarray, names=CELEBA_ATTRIBUTES, count: int | None = None) -> str:
    """The real layout: count, names (with a trailing space), then 'file v v ...' with values right-aligned."""
    lines = [str(len(values) if count is None else count), " ".join(names) + " "]
    lines += [f"{_name(i)} " + " ".join(f"{v:2d}" for v in row) for i, row in enumerate(values)]
    return "\n".join(lines) + "\n"


def _write(root: Path, partition: bool = True) -> tuple[Path, np.ndarray]:
    """A CelebA folder at ``root``: N noise JPEGs, the attribute file and (shuffled) partition file."""
    images = root / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(N):
        pixels = rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / _name(i), quality=90)
    values = _patterns()[np.arange(N) % 4]
    (root / "list_attr_celeba.txt").write_text(_attr_text(values))
    if partition:
        order = np.random.default_rng(1).permutation(N)  # the mapping goes by name, not by line
        (root / "list_eval_partition.txt").write_text("".join(f"{_name(i)} {PARTITION[i]}\n" for i in order))
    return root, values


def _pillow(file: Path, crop: int = 148, size: int = 64) -> np.ndarray:
    """The expected image, computed with Pillow alone: float32 (3, size, size)."""
    top, left = (218 - crop) // 2, (178 - crop) // 2
    with Image.open(file) as img:
        out = img.convert("RGB").crop((left, top, left + crop, top + crop))
    if size != crop:
        out = out.resize((size, size), Image.LANCZOS)
    return (np.asarray(out).astype(np.float64) / 255).astype(np.float32).transpose(2, 0, 1)


@pytest.fixture
def celeba(tmp_path):
    root, values = _write(tmp_path / "celeba")
    expected = np.stack([_pillow(root / "img_align_celeba" / _name(i)) for i in range(N)])
    return root, values, expected


def _identify(images: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """The fixture index of each image (exact match; fails if an image matches none)."""
    same = np.all(images[:, None] == expected[None], axis=(2, 3, 4))
    assert np.all(same.sum(axis=1) == 1)
    return same.argmax(axis=1)


# -- factors and images -----------------------------------------------------------------------------
def test_factors_images_and_sample(celeba):
    root, values, expected = celeba
    data = CelebA(root)
    assert data.factor_names == CELEBA_ATTRIBUTES and len(CELEBA_ATTRIBUTES) == 40
    assert data.factor_sizes == (2,) * 40 and data.source == "file" and data.stochastic
    assert len(data) == data.num_images == N and data.num_combinations == 4
    np.testing.assert_array_equal(data.factors, (values + 1) // 2)
    assert data.observation_shape == (3, 64, 64)
    factors, images = data.sample(20, rng=0)
    assert factors.dtype == np.int64 and factors.shape == (20, 40)
    assert images.dtype == np.float32 and images.shape == (20, 3, 64, 64)
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0.02
    ids = _identify(images, expected)
    np.testing.assert_array_equal(factors, (values[ids] + 1) // 2)  # each image comes with its own row
    assert "12 images" in repr(data) and "4 combinations" in repr(data)


def test_crop_and_resize_match_pillow(celeba):
    root, _, expected = celeba
    data = CelebA(root)
    np.testing.assert_array_equal(data.images(np.arange(N)), expected)
    np.testing.assert_array_equal(data.images([3, 0, 3]), expected[[3, 0, 3]])
    # no resize: the pixels are the crop itself, rows 89..128, columns 69..108
    small = CelebA(root, crop_size=40, image_size=40)
    with Image.open(root / "img_align_celeba" / _name(5)) as img:
        raw = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(np.round(small.images([5])[0] * 255).astype(np.uint8).transpose(1, 2, 0),
                                  raw[89:129, 69:109])
    # another crop and size, against Pillow
    other = CelebA(root, crop_size=128, image_size=32)
    np.testing.assert_array_equal(other.images([7])[0], _pillow(root / "img_align_celeba" / _name(7), 128, 32))


@pytest.mark.parametrize("attributes", [None, ["Smiling", "Male"]])
def test_observations_match_the_requested_attributes(celeba, attributes):
    root, values, expected = celeba
    data = CelebA(root, attributes=attributes)
    columns = [SMILING, MALE] if attributes else list(range(40))
    if attributes:
        assert data.factor_names == ("Smiling", "Male") and data.factor_sizes == (2, 2)
    table = (values[:, columns] + 1) // 2
    request = table[[0, 1, 2, 3] * 15]  # each of the 4 patterns, 15 times
    obs = data.observations(request, rng=3)
    ids = _identify(obs, expected)
    np.testing.assert_array_equal(table[ids], request)
    # drawn among all images of the group: pattern p has images p, p + 4, p + 8
    for p in range(4):
        assert set(ids[np.arange(60) % 4 == p].tolist()) == {p, p + 4, p + 8}
    np.testing.assert_array_equal(obs, data.observations(request, rng=3))
    assert not np.array_equal(ids, _identify(data.observations(request, rng=4), expected))
    with pytest.raises(ValueError, match="pass rng="):
        data.observations(request)


def test_absent_attribute_vector_is_named(celeba):
    root, values, _ = celeba
    data = CelebA(root, attributes=["Male", "Smiling"])
    full = CelebA(root)
    absent = (values[0] + 1) // 2
    absent[MALE] = 1 - absent[MALE]  # pattern 0 with Male flipped: no image has it
    assert not np.any(np.all(full.factors == absent, axis=1))
    with pytest.raises(ValueError, match=r"no celeba image .* has exactly the attributes \[.*\] \(1: .*4 combinations"):
        full.observations([(values[1] + 1) // 2, absent], rng=0)
    with pytest.raises(ValueError, match="must be in"):  # out of range is the factor space's error
        data.observations([[2, 0]], rng=0)


def test_sampling_is_uniform_over_images_and_seeded(celeba):
    root, values, expected = celeba
    data = CelebA(root)
    f1, x1 = data.sample(600, rng=5)
    f2, x2 = data.sample(600, rng=5)
    np.testing.assert_array_equal(f1, f2)
    np.testing.assert_array_equal(x1, x2)
    counts = np.bincount(_identify(x1, expected), minlength=N)
    assert counts.min() >= 25 and counts.max() <= 75  # expected 50 each, sd ~6.9
    # sample_factors draws observed rows: only the 4 patterns, about 1/4 each
    factors = data.sample_factors(4000, rng=1)
    rows = (factors[:, None] == data.factors[None, :4]).all(axis=2)
    assert np.all(rows.sum(axis=1) == 1)
    assert np.all(np.abs(rows.mean(axis=0) - 0.25) < 0.03)
    np.testing.assert_array_equal(factors, data.row_sampler().sample(4000, rng=1))
    assert data.sample(0, rng=0)[1].shape == (0, 3, 64, 64)


def test_row_sampler_feeds_image_batches(celeba):
    ImageBatches = pytest.importorskip("disentkit.data.batch").ImageBatches  # imports torch

    root, values, expected = celeba
    data = CelebA(root, attributes=["Male"])
    batch = ImageBatches(data, sampler=data.row_sampler()).draw(6, rng=0)
    ids = _identify(batch.views[0], expected)
    np.testing.assert_array_equal(batch.factors[0][:, 0], (values[ids, MALE] + 1) // 2)


def test_default_and_named_uniform_batches_draw_observed_rows(celeba):
    batch_module = pytest.importorskip("disentkit.data.batch")  # imports torch
    from disentkit.data.batch_samplers import build_sampler

    root, values, expected = celeba
    data = CelebA(root)  # all 40 attributes: 2^40 grid cells, 4 of them observed
    for sampler in (batch_module.ImageBatches(data), build_sampler("uniform", None, data, "celeba")):
        batch = sampler.draw(16, rng=3)
        ids = _identify(batch.views[0], expected)
        np.testing.assert_array_equal(batch.factors[0], (values[ids] + 1) // 2)
        np.testing.assert_array_equal(batch.factors[0], data.row_sampler().sample(16, rng=3))


def test_dataset_sampler_on_a_grid_dataset_is_the_uniform_sampler():
    from disentkit.data import DatasetSampler, UniformSampler, get

    data = get("dsprites")
    np.testing.assert_array_equal(DatasetSampler(data).sample(500, rng=7), UniformSampler(data).sample(500, rng=7))
    with pytest.raises(ValueError, match="DatasetSampler needs a dataset with sample_factors, got int"):
        DatasetSampler(3)


# -- splits -----------------------------------------------------------------------------------------
def test_splits(celeba):
    root, values, expected = celeba
    for split, want in (("train", range(6)), ("valid", range(6, 9)), ("test", range(9, 12)), ("all", range(N))):
        data = CelebA(root, split=split)
        assert list(data.file_names) == [_name(i) for i in want]
        np.testing.assert_array_equal(data.factors, (values[list(want)] + 1) // 2)
        np.testing.assert_array_equal(data.images(np.arange(len(want))), expected[list(want)])
    valid = CelebA(root, split="valid")  # images 6, 7, 8: patterns 2, 3, 0
    assert valid.num_combinations == 3
    with pytest.raises(ValueError, match="no celeba image \\(split 'valid'\\)"):
        valid.observations([(values[1] + 1) // 2], rng=0)
    with pytest.raises(ValueError, match="unknown split 'val'; valid splits: all, train, valid, test"):
        CelebA(root, split="val")


def test_split_errors(tmp_path):
    root, _ = _write(tmp_path / "a", partition=False)
    assert CelebA(root).num_images == N  # split="all" does not need the partition file
    with pytest.raises(ValueError, match=r"split='train' needs .*list_eval_partition\.txt, which is missing") as err:
        CelebA(root, split="train")
    assert isinstance(err.value, FileNotFoundError)
    part = root / "list_eval_partition.txt"
    part.write_text("".join(f"{_name(i)} {3 if i == 4 else 0}\n" for i in range(N)))
    with pytest.raises(ValueError, match=r"list_eval_partition\.txt is not valid: line 5: partition '3' is not 0, 1 or 2"):
        CelebA(root, split="train")
    part.write_text("".join(f"{_name(i)} 0\n" for i in range(N - 1)))
    with pytest.raises(ValueError, match=r"list_eval_partition\.txt is not valid: it does not list 1 image.*'000012\.jpg'"):
        CelebA(root, split="test")
    part.write_text("".join(f"{_name(i)} 0 1\n" for i in range(N)))
    with pytest.raises(ValueError, match=r"list_eval_partition\.txt is not valid: line 1 has 3 fields, not 2"):
        CelebA(root, split="test")
    part.write_text("".join(f"{_name(i)} 1\n" for i in range(N)))
    with pytest.raises(ValueError, match="split 'train' .* holds no images"):
        CelebA(root, split="train")


# -- parameters, registry, paths --------------------------------------------------------------------
def test_attribute_subset_and_parameters(celeba):
    root, _, _ = celeba
    assert CelebA(root, attributes=["Young", "Bald"]).factor_names == ("Young", "Bald")
    with pytest.raises(ValueError, match=r"unknown: \['Beard'\]\); valid names: 5_o_Clock_Shadow, .*Young$"):
        CelebA(root, attributes=["Male", "Beard"])
    with pytest.raises(ValueError, match="distinct"):
        CelebA(root, attributes=["Male", "Male"])
    with pytest.raises(ValueError, match="image_size must be an int"):
        CelebA(root, image_size=0)
    with pytest.raises(ValueError, match=r"crop_size must be an integer in \[1, 178\], got 200"):
        CelebA(root, crop_size=200)


def test_registry_env_and_missing_paths(tmp_path, monkeypatch):
    _write(tmp_path / "celeba")
    data = get("celeba", path=str(tmp_path / "celeba"), split="train", attributes=["Male"])
    assert data.name == "celeba" and data.num_images == 6 and data.factor_names == ("Male",)
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    assert get("celeba").num_images == N and CelebA(str(tmp_path)).num_images == N  # the data root also works
    check_params("celeba", {"split": "test", "image_size": 64})
    with pytest.raises(ValueError, match="unknown parameter"):
        check_params("celeba", {"splits": "test"})

    monkeypatch.delenv("DISENTKIT_DATA")
    with pytest.raises(CelebAFileError, match="DISENTKIT_DATA is not set.*mmlab"):
        CelebA()
    with pytest.raises(ValueError, match=r"no folder found at .*nowhere"):
        CelebA(tmp_path / "nowhere")
    (tmp_path / "b" / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"lacks .*b[/\\]list_attr_celeba\.txt") as err:
        CelebA(tmp_path / "b")
    assert isinstance(err.value, FileNotFoundError)
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "list_attr_celeba.txt").write_text(_attr_text(_patterns()))
    with pytest.raises(ValueError, match=r"lacks .*c[/\\]img_align_celeba"):
        CelebA(tmp_path / "c")


# -- bad files --------------------------------------------------------------------------------------
def _lines(values: np.ndarray) -> list[str]:
    return _attr_text(values).splitlines()


def _bad_attr_files():
    v = _patterns()[np.arange(N) % 4]
    lines = _lines(v)
    short = list(lines)
    short[5] = short[5].rsplit(" ", 1)[0]  # line 6 loses its last value
    zero = list(lines)
    zero[4] = zero[4][:-2] + " 0"  # line 5: its last value (Young) becomes 0
    twice = list(lines)
    twice[6] = twice[3]
    full = _attr_text(v)
    return [
        ("count", "\n".join(["twelve", *lines[1:]]) + "\n", r"line 1 is 'twelve', not the image count"),
        ("names", _attr_text(v[:, :39], CELEBA_ATTRIBUTES[:39]), r"line 2 holds 39 names \(39 distinct\), not 40"),
        ("too few", _attr_text(v, count=20), r"line 1 announces 20 images but 12 lines follow \(a truncated file\?\)"),
        ("too many", _attr_text(v, count=5), r"line 1 announces 5 images but 12 lines follow"),
        ("values", "\n".join(short) + "\n", r"line 6 has 40 fields, not 41 \(a file name and 40 values\)"),
        ("not +-1", "\n".join(zero) + "\n", r"line 5: attribute 'Young' is '0', not 1 or -1"),
        ("repeated", "\n".join(twice) + "\n", r"'000002\.jpg' is listed twice \(first on line 4\)"),
        ("truncated", full[: int(len(full) * 0.6)], r"line 8 has \d+ fields, not 41 .*the last line: a truncated file"),
        ("header", "12\n", r"it ends within its 2-line header"),
    ]


@pytest.mark.parametrize("case, text, message", _bad_attr_files(), ids=[c[0] for c in _bad_attr_files()])
def test_bad_attribute_file(tmp_path, case, text, message):
    root, _ = _write(tmp_path / "celeba", partition=False)
    (root / "list_attr_celeba.txt").write_text(text)
    with pytest.raises(ValueError, match=r"celeba file .*list_attr_celeba\.txt is not valid: " + message) as err:
        CelebA(root)
    assert "\n" not in str(err.value)


def test_attribute_file_tolerates_spacing_and_crlf(tmp_path):
    root, values = _write(tmp_path / "celeba", partition=False)
    text = _attr_text(values).replace(" ", "   ").replace("\n", "\r\n") + "\r\n"
    (root / "list_attr_celeba.txt").write_text(text)
    data = CelebA(root)
    np.testing.assert_array_equal(data.factors, (values + 1) // 2)
    assert data.factor_names == CELEBA_ATTRIBUTES


def test_bad_images_are_named_when_read(celeba):
    root, _, expected = celeba
    folder = root / "img_align_celeba"
    (folder / _name(1)).unlink()
    (folder / _name(2)).write_bytes(b"not a jpeg at all")
    good = (folder / _name(3)).read_bytes()
    (folder / _name(3)).write_bytes(good[: len(good) // 2])
    Image.fromarray(np.zeros((218, 178, 3), np.uint8)).save(folder / _name(4), format="PNG")
    Image.fromarray(np.zeros((100, 80, 3), np.uint8)).save(folder / _name(5))
    data = CelebA(root)  # nothing is decoded at construction
    np.testing.assert_array_equal(data.images([0, 6]), expected[[0, 6]])
    cases = [
        (1, CelebAFileError, r"000002\.jpg \(listed in list_attr_celeba\.txt\) is missing"),
        (2, ValueError, r"000003\.jpg .* is not a decodable JPEG"),
        (3, ValueError, r"000004\.jpg .* is not a decodable JPEG .*truncated"),
        (4, ValueError, r"000005\.jpg .* is a PNG file, not a JPEG"),
        (5, ValueError, r"000006\.jpg .* is 80x100, expected 178x218"),
    ]
    for row, kind, message in cases:
        with pytest.raises(kind, match=message) as err:
            data.images([0, row])
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"rows must be in \[0, 11\]"):
        data.images([12])


def test_lru_cache(celeba):
    root, _, expected = celeba
    data = CelebA(root, cache_size=2)
    np.testing.assert_array_equal(data.images([0, 1, 0]), expected[[0, 1, 0]])
    assert list(data._cache) == [0, 1]
    data.images([0])  # 0 becomes the most recent
    data.images([2])  # evicts 1
    assert list(data._cache) == [0, 2]
    (root / "img_align_celeba" / _name(0)).unlink()
    np.testing.assert_array_equal(data.images([0, 2]), expected[[0, 2]])  # served from the cache
    with pytest.raises(CelebAFileError, match=r"000001\.jpg"):
        CelebA(root).images([0])  # no cache: read from disk
    clone = pickle.loads(pickle.dumps(data))
    assert len(clone._cache) == 0 and clone.num_images == N
    np.testing.assert_array_equal(clone.images([3]), expected[[3]])
