"""Loaders for the original dataset files (the registry's ``source="file"`` entries).

Each factory takes ``path`` (the file, its folder, or a data root; ``None`` looks under
``$DISENTKIT_DATA`` at the conventional place below) and returns a dataset whose images are read
from the file, never rendered. Factor names and orders follow disentanglement_lib (spec §1.2).

- ``dsprites_file``: ``dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz``; shape 3, scale 6,
  orientation 40, posX 32, posY 32. ``dsprites_noshape_file``: the same file, shape a nuisance.
- ``shapes3d_file``: ``3dshapes/3dshapes.h5``; floor_hue 10, wall_hue 10, object_hue 10, scale 8,
  shape 4, orientation 15.
- ``mpi3d_toy``, ``mpi3d_realistic``, ``mpi3d_real``: ``mpi3d_toy/mpi3d_toy.npz`` (and likewise);
  object_color 6 (or 4), object_shape 6 (or 4), object_size 2, camera_height 3,
  background_color 3, first_dof 40, second_dof 40.
- ``smallnorb``: the folder ``small_norb/`` with the six ``smallnorb-*.mat`` files; category 5,
  elevation 9, azimuth 18, lighting 6 (instance 10 is a nuisance factor).
- ``cars3d``: the folder ``cars/`` with 183 ``*.mat`` files; elevation 4, azimuth 24, object_type 183.

Factor sizes are read from the file where it records them (dSprites ``latents_classes``, 3dshapes
``labels``, NORB ``info``/``cat``, the Cars3D file count) and the image order is checked against the
C-order grid, so a smaller file in the same format (a test fixture) loads too. MPI3D files carry no
labels: the sizes follow from the image count or an explicit ``factor_sizes``.

Memory: dSprites is bit-packed while it is read (377 MB instead of 3 GB); 3dshapes is read lazily
from the HDF5 file (``in_memory=True`` loads its 5.9 GB); an uncompressed MPI3D ``.npz`` is
memory-mapped, a compressed one is loaded (1,036,800 images = 12.7 GB); SmallNORB (200 MB) and
Cars3D (17,568 images, 216 MB) are resized once at load time with Pillow-exact Lanczos.

A file that is missing raises FileNotFoundError; a truncated, corrupt or wrong one raises a single
ValueError naming the expected keys and shapes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from disentkit.data.base import FactorSubset
from disentkit.data.factors import FactorSpace
from disentkit.data.files.arraydata import (
    ArrayGroundTruthData,
    ArrayStore,
    H5Store,
    MemmapStore,
    PackedBitsStore,
)
from disentkit.data.files.norb import read_norb
from disentkit.data.files.npz import NpzFormatError, npz_keys, npz_member
from disentkit.data.files.paths import DATA_ENV, find_data
from disentkit.data.files.resize import resize_lanczos

__all__ = [
    "ArrayGroundTruthData",
    "DATA_ENV",
    "cars3d",
    "dsprites_file",
    "dsprites_noshape_file",
    "mpi3d_real",
    "mpi3d_realistic",
    "mpi3d_toy",
    "shapes3d_file",
    "smallnorb",
]

PathLike = str | os.PathLike

DSPRITES_REL = "dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
DSPRITES_URL = "https://github.com/deepmind/dsprites-dataset (the .npz in the repository root)"
DSPRITES_NAMES = ("shape", "scale", "orientation", "posX", "posY")

SHAPES3D_REL = "3dshapes/3dshapes.h5"
SHAPES3D_URL = "https://storage.googleapis.com/3d-shapes/3dshapes.h5 (github.com/deepmind/3d-shapes)"
SHAPES3D_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")

MPI3D_URL = (
    "https://storage.googleapis.com/mpi3d_disentanglement_dataset/data/{variant}.npz "
    "(github.com/rr-learning/disentanglement_dataset)"
)
MPI3D_NAMES = (
    "object_color", "object_shape", "object_size", "camera_height", "background_color",
    "first_dof", "second_dof",  # the robot arm's horizontal and vertical axes
)
#: MPI3D factor sizes by image count: the 2019 challenge files (4 colours, 4 shapes) and the
#: public files (6 colours, 6 shapes; mpi3d_toy.npz, mpi3d_realistic.npz, mpi3d_real.npz).
MPI3D_SIZES_BY_COUNT: dict[int, tuple[int, ...]] = {
    460_800: (4, 4, 2, 3, 3, 40, 40),
    1_036_800: (6, 6, 2, 3, 3, 40, 40),
}

NORB_REL = "small_norb"
NORB_URL = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (gunzip the six .mat.gz files)"
NORB_FILES = tuple(
    f"smallnorb-5x{ids}x9x18x6x2x96x96-{split}-{kind}.mat"
    for ids, split in (("46789", "training"), ("01235", "testing"))
    for kind in ("dat", "cat", "info")
)
NORB_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")

CARS3D_REL = "cars"
CARS3D_URL = "http://www.scottreed.info/files/nips2015-analogy-data.tar.gz (its folder data/cars)"
CARS3D_NAMES = ("elevation", "azimuth", "object_type")

IMAGE_SIZE = 64  # SmallNORB and Cars3D are resized to IMAGE_SIZE x IMAGE_SIZE


def _invalid(what: str, file: Path, problem: str, expected: str, found: Sequence[str] | None = None) -> ValueError:
    """One message for every way a file can be wrong."""
    keys = f"; found keys {sorted(found)}" if found is not None else ""
    return ValueError(f"{what} file {file} is not valid: {problem}. Expected {expected}{keys}")


def _grid_sizes(classes: np.ndarray) -> tuple[int, ...] | str:
    """The sizes of the grid that ``classes`` (N, F) enumerates in C order, or what is wrong with it.

    ``classes`` is the grid exactly when every column starts at 0, ``N == prod(sizes)`` with
    ``sizes = max + 1``, and row ``i`` has grid index ``i`` (a bijection onto ``0..N-1``).
    """
    if classes.shape[0] == 0:
        return "it holds no images"
    if classes.min() < 0:
        return "negative factor classes"
    sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
    n = int(np.prod(sizes, dtype=np.int64))
    if n != classes.shape[0]:
        return f"{classes.shape[0]} rows do not fill the factor grid {sizes} ({n} points)"
    strides = FactorSpace(tuple(map(str, range(len(sizes)))), sizes).strides
    if not np.array_equal(classes.astype(np.int64) @ strides, np.arange(n)):
        return f"the rows are not the factor grid {sizes} in C (row-major) order"
    return sizes


# -- dSprites ---------------------------------------------------------------------------------------
def _pack_binary(block: np.ndarray) -> np.ndarray:
    if block.size and block.max() > 1:
        raise NpzFormatError(f"dSprites pixels must be 0 or 1, found the value {int(block.max())}")
    return np.packbits(block, axis=-1)


def dsprites_file(path: PathLike | None = None) -> ArrayGroundTruthData:
    """dSprites read from ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` (Matthey et al. 2017).

    Uses the keys ``imgs`` ((737280, 64, 64) uint8, 0/1) and ``latents_classes`` ((737280, 6) int:
    colour, shape, scale, orientation, posX, posY). Factor sizes are ``latents_classes.max(0) + 1``
    (the same numbers as ``metadata['latents_sizes']``, but read without unpickling, so loading the
    file cannot run code); the rows must be the C-order grid. The constant colour factor (size 1)
    is dropped. Images are bit-packed while streamed in (377 MB) and render as exact 0.0 / 1.0.
    """
    file = find_data(path, DSPRITES_REL, "dsprites", DSPRITES_URL)
    expected = (
        "key 'imgs' of shape (737280, 64, 64) uint8 with values 0/1 and key 'latents_classes' of shape "
        "(737280, 6) int (colour, shape, scale, orientation, posX, posY) in the dsprites npz"
    )
    keys: list[str] | None = None
    try:
        keys = npz_keys(str(file))
        if "imgs" not in keys or "latents_classes" not in keys:
            raise _invalid("dsprites", file, "missing key", expected, keys)
        imgs = npz_member(str(file), "imgs")
        classes_member = npz_member(str(file), "latents_classes")
        if imgs.dtype != np.uint8 or len(imgs.shape) != 3:
            raise _invalid("dsprites", file, f"'imgs' is {imgs.dtype} {imgs.shape}", expected, keys)
        n = imgs.shape[0]
        if classes_member.dtype.kind not in "iu" or classes_member.shape != (n, 6):
            raise _invalid(
                "dsprites", file, f"'latents_classes' is {classes_member.dtype} {classes_member.shape}",
                expected, keys,
            )
        grid = _grid_sizes(classes_member.read())
        if isinstance(grid, str):
            raise _invalid("dsprites", file, f"'latents_classes': {grid}", expected, keys)
        if grid[0] != 1:
            raise _invalid("dsprites", file, f"the colour factor has {grid[0]} values, not 1", expected, keys)
        packed = imgs.read(transform=_pack_binary)
    except NpzFormatError as err:
        raise _invalid("dsprites", file, str(err), expected, keys) from err
    store = PackedBitsStore(packed, width=imgs.shape[2])
    return ArrayGroundTruthData(store, FactorSpace(DSPRITES_NAMES, grid[1:]), max_value=1)


def dsprites_noshape_file(path: PathLike | None = None) -> FactorSubset:
    """dSprites from its file, scored on scale, orientation, posX, posY; shape is drawn uniformly."""
    return FactorSubset(dsprites_file(path), ["scale", "orientation", "posX", "posY"])


# -- 3dshapes ---------------------------------------------------------------------------------------
def shapes3d_file(path: PathLike | None = None, in_memory: bool = False) -> ArrayGroundTruthData:
    """3dshapes read from ``3dshapes.h5`` (Burgess & Kim 2018).

    Keys: ``images`` ((480000, 64, 64, 3) uint8) and ``labels`` ((480000, 6) float: floor hue, wall
    hue, object hue, scale, shape, orientation). Factor ``k``'s values are the sorted distinct values
    of ``labels[:, k]`` (10, 10, 10, 8, 4, 15), and the rows must be their C-order grid. Images are
    read lazily, each batch in increasing row order; ``in_memory=True`` loads all of them (5.9 GB).
    """
    import h5py

    file = find_data(path, SHAPES3D_REL, "3dshapes", SHAPES3D_URL)
    expected = (
        "key 'images' of shape (480000, 64, 64, 3) uint8 and key 'labels' of shape (480000, 6) "
        "(floor hue, wall hue, object hue, scale, shape, orientation) in the 3dshapes h5"
    )
    keys: list[str] | None = None
    try:
        with h5py.File(file, "r") as f:
            keys = list(f.keys())
            if "images" not in keys or "labels" not in keys:
                raise _invalid("3dshapes", file, "missing key", expected, keys)
            images, labels = f["images"], f["labels"]
            if not isinstance(images, h5py.Dataset) or images.dtype != np.uint8 or images.ndim != 4 \
                    or images.shape[3] != 3:
                raise _invalid("3dshapes", file, f"'images' is {getattr(images, 'dtype', '?')} "
                               f"{getattr(images, 'shape', '?')}", expected, keys)
            if not isinstance(labels, h5py.Dataset) or labels.dtype.kind not in "iuf" \
                    or labels.shape != (images.shape[0], 6):
                raise _invalid("3dshapes", file, f"'labels' is {getattr(labels, 'dtype', '?')} "
                               f"{getattr(labels, 'shape', '?')}", expected, keys)
            values = labels[()]
            shape = tuple(int(s) for s in images.shape)
            loaded = images[()] if in_memory else None
    except OSError as err:
        raise _invalid("3dshapes", file, f"h5py cannot read it ({err})", expected, keys) from err
    classes = np.stack([np.unique(col, return_inverse=True)[1].reshape(-1) for col in values.T], axis=1)
    grid = _grid_sizes(classes)
    if isinstance(grid, str):
        raise _invalid("3dshapes", file, f"'labels': {grid}", expected, keys)
    store = ArrayStore(loaded) if loaded is not None else H5Store(str(file), "images", shape)
    return ArrayGroundTruthData(store, FactorSpace(SHAPES3D_NAMES, grid))


# -- MPI3D ------------------------------------------------------------------------------------------
def _mpi3d(variant: str, path: PathLike | None, factor_sizes: Sequence[int] | None) -> ArrayGroundTruthData:
    """MPI3D ``variant`` from ``<variant>/<variant>.npz``; see :func:`mpi3d_toy`."""
    url = MPI3D_URL.format(variant=variant)
    file = find_data(path, f"{variant}/{variant}.npz", variant, url)
    counts = " or ".join(f"{n:,} images ({', '.join(map(str, s))})" for n, s in MPI3D_SIZES_BY_COUNT.items())
    expected = f"key 'images' of shape (N, 64, 64, 3) uint8 with N = {counts} in the {variant} npz"
    keys: list[str] | None = None
    try:
        keys = npz_keys(str(file))
        if "images" not in keys:
            raise _invalid(variant, file, "missing key", expected, keys)
        member = npz_member(str(file), "images")
        if member.dtype != np.uint8 or len(member.shape) != 4 or member.shape[3] != 3:
            raise _invalid(variant, file, f"'images' is {member.dtype} {member.shape}", expected, keys)
        n = member.shape[0]
        if factor_sizes is None:
            if n not in MPI3D_SIZES_BY_COUNT:
                raise _invalid(variant, file, f"{n:,} images match no known MPI3D factor grid (pass "
                               "factor_sizes= for another grid)", expected, keys)
            sizes = MPI3D_SIZES_BY_COUNT[n]
        else:
            sizes = tuple(int(s) for s in factor_sizes)
            if len(sizes) != len(MPI3D_NAMES) or int(np.prod(sizes, dtype=np.int64)) != n:
                raise ValueError(
                    f"factor_sizes must be {len(MPI3D_NAMES)} sizes ({', '.join(MPI3D_NAMES)}) whose product "
                    f"is the image count {n:,} of {file}, got {list(sizes)}"
                )
        if member.compressed:
            store: ArrayStore | MemmapStore = ArrayStore(member.read())
        else:
            member.memmap()  # checks that the file holds every byte
            store = MemmapStore(str(file), member.data_offset, member.shape)  # type: ignore[arg-type]
    except NpzFormatError as err:
        raise _invalid(variant, file, str(err), expected, keys) from err
    return ArrayGroundTruthData(store, FactorSpace(MPI3D_NAMES, sizes))


def mpi3d_toy(path: PathLike | None = None, factor_sizes: Sequence[int] | None = None) -> ArrayGroundTruthData:
    """MPI3D-toy renderings (Gondal et al. 2019) from ``mpi3d_toy.npz`` (key ``images``, (N, 64, 64, 3)).

    The images are in C order over object_color, object_shape, object_size (2), camera_height (3),
    background_color (3), first_dof (40), second_dof (40) (the arm's horizontal and vertical
    axes). The file has no labels, so the sizes come from the image count: 1,036,800 (the public
    file) -> colour 6, shape 6; 460,800 (the 2019 challenge file) -> 4, 4. disentanglement_lib
    hard-codes 4, 4, which indexes the wrong images of the public file. ``factor_sizes`` (7 ints,
    product = N) overrides the inference.
    """
    return _mpi3d("mpi3d_toy", path, factor_sizes)


def mpi3d_realistic(path: PathLike | None = None, factor_sizes: Sequence[int] | None = None) -> ArrayGroundTruthData:
    """MPI3D-realistic renderings from ``mpi3d_realistic.npz``; factors as in :func:`mpi3d_toy`."""
    return _mpi3d("mpi3d_realistic", path, factor_sizes)


def mpi3d_real(path: PathLike | None = None, factor_sizes: Sequence[int] | None = None) -> ArrayGroundTruthData:
    """MPI3D real-world photographs from ``mpi3d_real.npz``; factors as in :func:`mpi3d_toy`."""
    return _mpi3d("mpi3d_real", path, factor_sizes)


# -- SmallNORB --------------------------------------------------------------------------------------
def smallnorb(path: PathLike | None = None) -> FactorSubset:
    """SmallNORB (LeCun et al. 2004) from its six NORB binary-matrix files, train and test together.

    Files (gunzipped): ``{split}-dat`` ((N, 2, 96, 96) uint8 stereo pairs), ``{split}-cat`` ((N,)
    int32 category) and ``{split}-info`` ((N, 4) int32: instance, elevation, azimuth 0, 2, .., 34,
    lighting). Only the first camera is used, resized 96 -> 64 exactly as Pillow's Lanczos does.
    Each image gets the grid point (category, instance, elevation, azimuth / 2, lighting); the
    files must cover that grid (5 x 10 x 9 x 18 x 6 = 48,600) exactly once. Scored factors:
    category, elevation, azimuth, lighting; instance is a nuisance factor drawn uniformly.
    """
    folder = find_data(path, NORB_REL, "smallnorb", NORB_URL, is_dir=True)
    missing = [name for name in NORB_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"smallnorb: {folder} lacks {', '.join(missing)}. Set {DATA_ENV} to the folder holding "
            f"{NORB_REL}/ or pass path=. Get the data from {NORB_URL}"
        )
    expected = (
        "for each split: dat (N, 2, 96, 96) uint8, cat (N,) int32 in 0..4, info (N, 4) int32 (instance, "
        "elevation, even azimuth 0..34, lighting), together covering the 5x10x9x18x6 grid once"
    )
    images, features = [], []
    for split in range(2):
        dat_name, cat_name, info_name = NORB_FILES[3 * split : 3 * split + 3]
        try:
            dat = read_norb(str(folder / dat_name), mmap=True)
            cat = read_norb(str(folder / cat_name))
            info = read_norb(str(folder / info_name))
        except ValueError as err:
            raise _invalid("smallnorb", folder, str(err), expected) from err
        n = dat.shape[0]
        if dat.dtype != np.uint8 or dat.ndim != 4 or dat.shape[1] != 2:
            raise _invalid("smallnorb", folder / dat_name, f"dat is {dat.dtype} {dat.shape}", expected)
        if cat.dtype.kind != "i" or cat.shape != (n,) or info.dtype.kind != "i" or info.shape != (n, 4):
            raise _invalid("smallnorb", folder, f"{cat_name} is {cat.dtype} {cat.shape} and {info_name} is "
                           f"{info.dtype} {info.shape} for {n} images", expected)
        if np.any(info[:, 2] % 2):
            raise _invalid("smallnorb", folder / info_name, "odd azimuth values", expected)
        features.append(np.column_stack([cat, info[:, 0], info[:, 1], info[:, 2] // 2, info[:, 3]]))
        images.append(resize_lanczos(dat[:, 0], (IMAGE_SIZE, IMAGE_SIZE)))
    feats = np.concatenate(features).astype(np.int64)
    if feats.size and feats.min() < 0:
        raise _invalid("smallnorb", folder, "negative labels", expected)
    sizes = tuple(int(s) for s in feats.max(axis=0) + 1)
    space = FactorSpace(NORB_NAMES, sizes)
    rows = feats @ space.strides
    if rows.size != space.num_states or np.unique(rows).size != rows.size:
        raise _invalid("smallnorb", folder, f"{rows.size} images with {np.unique(rows).size} distinct label "
                       f"rows do not cover the grid {sizes} ({space.num_states} points) once", expected)
    grid_images = np.empty((space.num_states, IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.uint8)
    grid_images[rows] = np.concatenate(images)[..., None]
    base = ArrayGroundTruthData(ArrayStore(grid_images), space)
    return FactorSubset(base, ["category", "elevation", "azimuth", "lighting"])


# -- Cars3D -----------------------------------------------------------------------------------------
def cars3d(path: PathLike | None = None) -> ArrayGroundTruthData:
    """Cars3D (Reed et al. 2015) from the folder of ``*.mat`` files (``data/cars`` of the archive).

    Each file holds one car: ``im`` of shape (128, 128, 3, 24, 4) uint8, i.e. (height, width, RGB,
    azimuth, elevation). Images are resized to 64 x 64 as Pillow's Lanczos does (the reference's
    ``thumbnail``, which for square images is the same resize). Factors: elevation 4, azimuth 24,
    object_type = the number of files (183 in the real set; a folder with fewer files, such as a
    test fixture, gives a smaller object_type factor). The object index is the position in the
    **sorted** file-name list; disentanglement_lib used the directory-listing order, which depends
    on the filesystem, so its object indices are not reproducible.
    """
    from scipy.io import loadmat, whosmat

    folder = find_data(path, CARS3D_REL, "cars3d", CARS3D_URL, is_dir=True)
    files = sorted(p for p in folder.iterdir() if p.suffix == ".mat" and p.is_file())
    if not files:
        raise FileNotFoundError(
            f"cars3d: no .mat files in {folder}. Set {DATA_ENV} to the folder holding {CARS3D_REL}/ or "
            f"pass path=. Get the data from {CARS3D_URL}"
        )
    expected = "key 'im' of shape (128, 128, 3, 24, 4) uint8 (height, width, RGB, azimuth, elevation) in each .mat"
    n_obj = len(files)
    grid = np.empty((4, 24, n_obj, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for obj, file in enumerate(files):
        try:
            contents = loadmat(str(file), variable_names=["im"])
        except Exception as err:  # scipy raises many types (MatReadError, ValueError, OSError, ...)
            raise _invalid("cars3d", file, f"scipy cannot read it ({type(err).__name__}: {err})", expected) from err
        im = contents.get("im")
        if im is None:
            raise _invalid("cars3d", file, "missing key", expected, [v[0] for v in whosmat(str(file))])
        if im.dtype != np.uint8 or im.shape != (128, 128, 3, 24, 4):
            raise _invalid("cars3d", file, f"'im' is {im.dtype} {im.shape}", expected)
        views = np.ascontiguousarray(im.transpose(4, 3, 0, 1, 2))  # (elevation, azimuth, H, W, 3)
        small = resize_lanczos(views.reshape(96, 128, 128, 3), (IMAGE_SIZE, IMAGE_SIZE))
        grid[:, :, obj] = small.reshape(4, 24, IMAGE_SIZE, IMAGE_SIZE, 3)
    store = ArrayStore(grid.reshape(-1, IMAGE_SIZE, IMAGE_SIZE, 3))
    return ArrayGroundTruthData(store, FactorSpace(CARS3D_NAMES, (4, 24, n_obj)))

