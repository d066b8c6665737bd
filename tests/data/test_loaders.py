"""File loaders: each test writes a small file in the real format, then reads it back.

Pixel values encode the grid index of each image, so a wrong gather or a wrong factor order shows
up as a wrong value.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

from disentkit.data import get
from disentkit.data.factors import FactorSpace
from disentkit.data.files.norb import read_norb, read_norb_header, write_norb
from disentkit.data.files.resize import resize_lanczos
from disentkit.data.loaders import (
    NORB_FILES,
    cars3d,
    dsprites_file,
    dsprites_noshape_file,
    mpi3d_real,
    mpi3d_toy,
    shapes3d_file,
    smallnorb,
)

DSPRITES_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"


def _truncate(path: Path, keep: float = 0.6) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _bits(index: np.ndarray, width: int) -> np.ndarray:
    """Binary pattern of each index: (n, width) with bit k of index i at [i, k]."""
    return ((index[:, None] >> np.arange(width)) & 1).astype(np.uint8)


# -- resize -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "shape, size",
    [((20, 96, 96), (64, 64)), ((4, 128, 128, 3), (64, 64)), ((6, 7, 13, 3), (5, 9)), ((3, 6, 6), (64, 64))],
)
def test_resize_matches_pillow_lanczos_exactly(shape, size):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, shape, dtype=np.uint8)
    ours = resize_lanczos(images, size, chunk=4)
    pil = np.stack([np.asarray(Image.fromarray(im).resize(size[::-1], Image.LANCZOS)) for im in images])
    assert ours.dtype == np.uint8 and ours.shape == pil.shape
    np.testing.assert_array_equal(ours, pil)


def test_resize_rejects_non_uint8():
    with pytest.raises(ValueError, match="uint8"):
        resize_lanczos(np.zeros((2, 8, 8), dtype=np.float32), (4, 4))


# -- dSprites ---------------------------------------------------------------------------------------
DS_SIZES = (1, 2, 2, 3, 2, 2)  # colour, shape, scale, orientation, posX, posY: 48 images


def _write_dsprites(path: Path, compressed: bool = True, **overrides) -> np.ndarray:
    """A small dSprites npz: image i is 8x8, its first row holds the bits of i."""
    space = FactorSpace(tuple("abcdef"), DS_SIZES)
    n = space.num_states
    imgs = np.zeros((n, 8, 8), dtype=np.uint8)
    imgs[:, 0, :] = _bits(np.arange(n), 8)
    imgs[:, 7, 7] = 1
    arrays = {
        "imgs": imgs,
        "latents_classes": space.grid(),
        "latents_values": space.grid().astype(np.float64),
        "metadata": np.array({"latents_sizes": np.array(DS_SIZES)}, dtype=object),
    }
    arrays.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return imgs


@pytest.mark.parametrize("compressed", [True, False])
def test_dsprites_reads_images_at_their_factors(tmp_path, compressed):
    file = tmp_path / DSPRITES_NAME
    imgs = _write_dsprites(file, compressed)
    data = dsprites_file(str(file))
    assert data.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert data.factor_sizes == (2, 2, 3, 2, 2)
    assert data.observation_shape == (1, 8, 8) and data.source == "file"
    factors = np.array([[1, 0, 2, 1, 0], [0, 0, 0, 0, 0], [1, 1, 2, 1, 1], [1, 0, 2, 1, 0]])
    obs = data.observations(factors)
    assert obs.dtype == np.float32 and obs.shape == (4, 1, 8, 8)
    expected_rows = factors @ np.array([24, 12, 4, 2, 1])  # C-order strides of (2, 2, 3, 2, 2)
    np.testing.assert_array_equal(obs[:, 0], imgs[expected_rows].astype(np.float32))
    assert set(np.unique(obs)) == {0.0, 1.0}
    # the row index is readable back from the first pixel row
    np.testing.assert_array_equal(obs[:, 0, 0, :6] @ (1 << np.arange(6)), expected_rows)


def test_dsprites_from_env_and_registry(tmp_path, monkeypatch):
    _write_dsprites(tmp_path / "dsprites" / DSPRITES_NAME)
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    data = get("dsprites", source="file")
    assert data.name == "dsprites" and data.factor_sizes == (2, 2, 3, 2, 2)
    # a folder or the data root also work as path=
    assert dsprites_file(str(tmp_path / "dsprites")).factor_sizes == (2, 2, 3, 2, 2)
    assert dsprites_file(str(tmp_path)).factor_sizes == (2, 2, 3, 2, 2)


def test_dsprites_noshape_draws_shape(tmp_path):
    file = tmp_path / DSPRITES_NAME
    imgs = _write_dsprites(file)
    data = dsprites_noshape_file(str(file))
    assert data.factor_names == ("scale", "orientation", "posX", "posY")
    assert data.stochastic
    factors = np.array([[1, 2, 1, 0]] * 40)
    obs = data.observations(factors, rng=0)
    rows = obs[:, 0, 0, :6] @ (1 << np.arange(6))
    # shape is the nuisance: rows are either 0*24 + r or 1*24 + r with r the index of the rest
    rest = 1 * 12 + 2 * 4 + 1 * 2 + 0
    assert set(rows.astype(int)) == {rest, 24 + rest}
    np.testing.assert_array_equal(obs, data.observations(factors, rng=0))
    np.testing.assert_array_equal(obs[:, 0], imgs[rows.astype(int)].astype(np.float32))


def test_dsprites_rejects_bad_files(tmp_path):
    missing_key = tmp_path / "a" / DSPRITES_NAME
    _write_dsprites(missing_key)
    np.savez(missing_key, images=np.zeros((48, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"Expected key 'imgs' of shape \(737280, 64, 64\).*found keys \['images'\]"):
        dsprites_file(str(missing_key))

    shuffled = tmp_path / "b" / DSPRITES_NAME
    grid = FactorSpace(tuple("abcdef"), DS_SIZES).grid()
    _write_dsprites(shuffled, latents_classes=grid[::-1].copy())
    with pytest.raises(ValueError, match="not the factor grid .* in C"):
        dsprites_file(str(shuffled))

    not_binary = tmp_path / "c" / DSPRITES_NAME
    _write_dsprites(not_binary, imgs=np.full((48, 8, 8), 255, np.uint8))
    with pytest.raises(ValueError, match="must be 0 or 1"):
        dsprites_file(str(not_binary))

    truncated = tmp_path / "d" / DSPRITES_NAME
    _write_dsprites(truncated, compressed=False)
    _truncate(truncated)
    with pytest.raises(ValueError, match="not a readable .npz.*Expected key 'imgs'"):
        dsprites_file(str(truncated))


def test_missing_file_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("DISENTKIT_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="DISENTKIT_DATA is not set.*github.com/deepmind/dsprites"):
        dsprites_file()
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"3dshapes/3dshapes\.h5.*from \$DISENTKIT_DATA"):
        shapes3d_file()
    with pytest.raises(FileNotFoundError, match="small_norb"):
        smallnorb()


# -- 3dshapes ---------------------------------------------------------------------------------------
S3_SIZES = (2, 2, 2, 2, 2, 3)  # 96 images


def _write_shapes3d(path: Path, shuffle: bool = False) -> np.ndarray:
    """A small 3dshapes h5: labels are real-looking values, pixel (y, x, c) of image i is (i + c) % 256."""
    space = FactorSpace(tuple("abcdef"), S3_SIZES)
    grid = space.grid()
    values = [
        np.array([0.0, 0.1]), np.array([0.0, 0.1]), np.array([0.0, 0.1]),
        np.linspace(0.75, 1.25, 2), np.array([0.0, 1.0]), np.linspace(-30, 30, 3),
    ]
    labels = np.stack([values[k][grid[:, k]] for k in range(6)], axis=1)
    n = space.num_states
    images = np.broadcast_to((np.arange(n)[:, None, None, None] + np.arange(3)) % 256, (n, 4, 5, 3)).astype(np.uint8)
    if shuffle:
        labels = labels[::-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)
        f.create_dataset("labels", data=labels)
    return images


@pytest.mark.parametrize("in_memory", [False, True])
def test_shapes3d_reads_images_at_their_factors(tmp_path, monkeypatch, in_memory):
    images = _write_shapes3d(tmp_path / "3dshapes" / "3dshapes.h5")
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    data = shapes3d_file(in_memory=in_memory)
    assert data.factor_names == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert data.factor_sizes == S3_SIZES and data.observation_shape == (3, 4, 5)
    factors = np.array([[1, 0, 1, 1, 0, 2], [0, 0, 0, 0, 0, 0], [1, 0, 1, 1, 0, 2], [1, 1, 1, 1, 1, 1]])
    rows = factors @ FactorSpace(tuple("abcdef"), S3_SIZES).strides
    obs = data.observations(factors)
    np.testing.assert_array_equal(obs, images[rows].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255))
    np.testing.assert_allclose(obs[:, 0, 0, 0] * 255, rows)
    # survives pickling (DataLoader workers): the HDF5 handle is reopened, not copied
    clone = pickle.loads(pickle.dumps(data))
    np.testing.assert_array_equal(clone.observations(factors), obs)


def test_shapes3d_rejects_bad_files(tmp_path):
    shuffled = tmp_path / "s.h5"
    _write_shapes3d(shuffled, shuffle=True)
    with pytest.raises(ValueError, match="'labels': the rows are not the factor grid"):
        shapes3d_file(str(shuffled))

    wrong_key = tmp_path / "k.h5"
    with h5py.File(wrong_key, "w") as f:
        f.create_dataset("imgs", data=np.zeros((2, 4, 4, 3), np.uint8))
    expected = r"Expected key 'images' of shape \(480000, 64, 64, 3\).*found keys \['imgs'\]"
    with pytest.raises(ValueError, match=expected):
        shapes3d_file(str(wrong_key))

    wrong_shape = tmp_path / "w.h5"
    with h5py.File(wrong_shape, "w") as f:
        f.create_dataset("images", data=np.zeros((2, 4, 4), np.uint8))
        f.create_dataset("labels", data=np.zeros((2, 6)))
    with pytest.raises(ValueError, match=r"'images' is uint8 \(2, 4, 4\)"):
        shapes3d_file(str(wrong_shape))

    truncated = tmp_path / "t.h5"
    _write_shapes3d(truncated)
    _truncate(truncated)
    with pytest.raises(ValueError, match="h5py cannot read it"):
        shapes3d_file(str(truncated))


# -- MPI3D ------------------------------------------------------------------------------------------
MPI_SIZES = (2, 2, 1, 1, 1, 3, 2)  # 24 images


def _mpi_images(n: int, hw: int = 2) -> np.ndarray:
    values = (np.arange(n)[:, None, None, None] * 7 + np.arange(3)) % 256
    return np.broadcast_to(values, (n, hw, hw, 3)).astype(np.uint8)


@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_with_explicit_sizes(tmp_path, compressed):
    file = tmp_path / "mpi3d_toy" / "mpi3d_toy.npz"
    file.parent.mkdir()
    images = _mpi_images(24)
    (np.savez_compressed if compressed else np.savez)(file, images=images)
    data = get("mpi3d_toy", path=str(tmp_path), factor_sizes=MPI_SIZES)
    assert data.name == "mpi3d_toy" and data.factor_sizes == MPI_SIZES
    assert data.factor_names[0] == "object_color" and data.factor_names[-1] == "second_dof"
    factors = np.array([[1, 0, 0, 0, 0, 2, 1], [0, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 1, 1]])
    rows = factors @ np.array([12, 6, 6, 6, 6, 2, 1])
    obs = data.observations(factors)
    np.testing.assert_array_equal(obs, images[rows].transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255))
    assert pickle.loads(pickle.dumps(data)).observations(factors).tobytes() == obs.tobytes()


@pytest.mark.parametrize("n, sizes", [(460_800, (4, 4, 2, 3, 3, 40, 40)), (1_036_800, (6, 6, 2, 3, 3, 40, 40))])
def test_mpi3d_sizes_follow_the_image_count(tmp_path, n, sizes):
    file = tmp_path / "mpi3d_real.npz"
    images = np.zeros((n, 1, 1, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(n) % 251
    np.savez(file, images=images)
    data = mpi3d_real(str(file))
    assert data.factor_sizes == sizes
    f = np.array([[s - 1 for s in sizes], [1, 2, 1, 2, 2, 39, 0]])
    rows = f @ FactorSpace(tuple("abcdefg"), sizes).strides
    np.testing.assert_array_equal(data.observations(f)[:, 0, 0, 0] * 255, rows % 251)


def test_mpi3d_rejects_bad_files(tmp_path):
    file = tmp_path / "mpi3d_toy.npz"
    np.savez(file, images=_mpi_images(24))
    with pytest.raises(ValueError, match="24 images match no known MPI3D factor grid.*460,800 images"):
        mpi3d_toy(str(file))
    with pytest.raises(ValueError, match="product is the image count 24"):
        mpi3d_toy(str(file), factor_sizes=(2, 2, 1, 1, 1, 3, 3))
    np.savez(file, imgs=_mpi_images(24))
    with pytest.raises(ValueError, match=r"Expected key 'images' of shape \(N, 64, 64, 3\).*found keys \['imgs'\]"):
        mpi3d_toy(str(file), factor_sizes=MPI_SIZES)
    np.savez(file, images=_mpi_images(24)[..., 0])
    with pytest.raises(ValueError, match=r"'images' is uint8 \(24, 2, 2\)"):
        mpi3d_toy(str(file), factor_sizes=MPI_SIZES)
    np.savez(file, images=_mpi_images(24))
    _truncate(file, keep=0.9)
    with pytest.raises(ValueError, match="mpi3d_toy file .* is not valid"):
        mpi3d_toy(str(file), factor_sizes=MPI_SIZES)


# -- SmallNORB --------------------------------------------------------------------------------------
NORB_SIZES = (2, 2, 2, 2, 2)  # category, instance, elevation, azimuth (raw 0, 2), lighting


def _write_norb(folder: Path, drop_last: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Six NORB files; instance 1 in training, 0 in testing (as the real split), rows shuffled.

    Returns the (category, instance, elevation, azimuth/2, lighting) rows and camera-0 images, in
    file order (training then testing).
    """
    folder.mkdir(parents=True, exist_ok=True)
    grid = FactorSpace(tuple("abcde"), NORB_SIZES).grid()
    rng = np.random.default_rng(1)
    feats, cams = [], []
    for split, instance in ((0, 1), (1, 0)):
        rows = grid[grid[:, 1] == instance]
        rows = rows[rng.permutation(len(rows))]
        if drop_last and split == 1:
            rows = rows[:-1]
        dat = rng.integers(0, 256, (len(rows), 2, 96, 96), dtype=np.uint8)
        info = np.column_stack([rows[:, 1], rows[:, 2], 2 * rows[:, 3], rows[:, 4]]).astype(np.int32)
        dat_name, cat_name, info_name = NORB_FILES[3 * split : 3 * split + 3]
        write_norb(str(folder / dat_name), dat)
        write_norb(str(folder / cat_name), rows[:, 0].astype(np.int32))
        write_norb(str(folder / info_name), info)
        feats.append(rows)
        cams.append(dat[:, 0])
    return np.concatenate(feats), np.concatenate(cams)


def test_norb_format_round_trip_and_header(tmp_path):
    file = tmp_path / "m.mat"
    arr = np.arange(12, dtype=np.int32)
    write_norb(str(file), arr)
    raw = file.read_bytes()
    # magic 0x1E3D4C54 (int32 matrix), ndim 1, three dims (12, 1, 1), little-endian
    assert raw[:20] == bytes.fromhex("544c3d1e" "01000000" "0c000000" "01000000" "01000000")
    assert read_norb_header(str(file)) == (np.dtype("<i4"), (12,), 20)
    np.testing.assert_array_equal(read_norb(str(file)), arr)
    file.write_bytes(raw[:-4])
    with pytest.raises(ValueError, match="takes 68 bytes, the file has 64"):
        read_norb(str(file))
    file.write_bytes(b"\x00" * 24)
    with pytest.raises(ValueError, match="unknown NORB magic"):
        read_norb(str(file))


def test_smallnorb_reads_images_at_their_factors(tmp_path, monkeypatch):
    feats, cams = _write_norb(tmp_path / "small_norb")
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    data = get("smallnorb")
    assert data.name == "smallnorb"
    assert data.factor_names == ("category", "elevation", "azimuth", "lighting")
    assert data.factor_sizes == (2, 2, 2, 2) and data.observation_shape == (1, 64, 64)
    # the full grid (instance included) gives exactly the resized camera-0 image of that row
    base = data.base
    probe = feats[[3, 20, 31]]
    expected = np.stack([np.asarray(Image.fromarray(cams[i]).resize((64, 64), Image.LANCZOS)) for i in (3, 20, 31)])
    np.testing.assert_array_equal(base.observations(probe)[:, 0], expected.astype(np.float32) / np.float32(255))
    # instance is a nuisance: each image is one of the two instances' images
    f = np.array([[1, 0, 1, 1]] * 12)
    obs = data.observations(f, rng=3)
    both = base.observations(np.array([[1, i, 0, 1, 1] for i in (0, 1)]))
    matches = [(np.array_equal(o, both[0]) or np.array_equal(o, both[1])) for o in obs]
    assert all(matches)
    assert not all(np.array_equal(o, obs[0]) for o in obs)  # 12 draws: both instances appear


def test_smallnorb_rejects_bad_files(tmp_path):
    _write_norb(tmp_path / "gap", drop_last=True)
    with pytest.raises(ValueError, match=r"31 images with 31 distinct label rows do not cover the grid"):
        smallnorb(str(tmp_path / "gap"))
    _write_norb(tmp_path / "cut")
    _truncate(tmp_path / "cut" / NORB_FILES[0])
    with pytest.raises(ValueError, match="truncated, or still gzipped"):
        smallnorb(str(tmp_path / "cut"))
    (tmp_path / "cut" / NORB_FILES[5]).unlink()
    with pytest.raises(FileNotFoundError, match=NORB_FILES[5]):
        smallnorb(str(tmp_path / "cut"))


# -- Cars3D -----------------------------------------------------------------------------------------
def test_cars3d_uses_sorted_file_order(tmp_path, monkeypatch):
    folder = tmp_path / "cars"
    folder.mkdir()
    rng = np.random.default_rng(2)
    ims = {}
    names = ("car_d_mesh.mat", "car_a_mesh.mat", "car_c_mesh.mat", "car_b_mesh.mat")  # written out of order
    for name in names:
        ims[name] = rng.integers(0, 256, (128, 128, 3, 24, 4), dtype=np.uint8)
        savemat(str(folder / name), {"im": ims[name]})
    (folder / "list.txt").write_text("".join(n[:-4] + "\n" for n in names))
    monkeypatch.setenv("DISENTKIT_DATA", str(tmp_path))
    data = cars3d()
    assert data.factor_names == ("elevation", "azimuth", "object_type")
    assert data.factor_sizes == (4, 24, 4) and data.observation_shape == (3, 64, 64)
    factors = np.array([[3, 5, 0], [0, 23, 2], [1, 0, 1], [2, 17, 3]])
    obs = data.observations(factors)
    for (el, az, obj), o in zip(factors, obs):
        im = ims[sorted(ims)[obj]][:, :, :, az, el]
        thumb = Image.fromarray(im)
        thumb.thumbnail((64, 64), Image.LANCZOS)  # the reference's resize
        np.testing.assert_array_equal(o, np.asarray(thumb).transpose(2, 0, 1).astype(np.float32) / np.float32(255))


def test_cars3d_rejects_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no .mat files"):
        cars3d(str(tmp_path))
    savemat(str(tmp_path / "x.mat"), {"img": np.zeros((4, 4), np.uint8)})
    with pytest.raises(ValueError, match=r"Expected key 'im' of shape \(128, 128, 3, 24, 4\).*found keys \['img'\]"):
        cars3d(str(tmp_path))
    savemat(str(tmp_path / "x.mat"), {"im": np.zeros((128, 128, 3, 24, 3), np.uint8)})
    with pytest.raises(ValueError, match=r"'im' is uint8 \(128, 128, 3, 24, 3\)"):
        cars3d(str(tmp_path))
    (tmp_path / "x.mat").write_bytes(os.urandom(300))
    with pytest.raises(ValueError, match="scipy cannot read it"):
        cars3d(str(tmp_path))
