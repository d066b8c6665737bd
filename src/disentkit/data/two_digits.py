"""Two handwritten digits side by side, with occlusion: the correlated-digits data of CMI
minimisation (Funke et al., CoLLAs 2022; spec ``methods_vae.md`` §5.2).

An image is two digits from the classes ``digits = (d0, d1)`` (default (3, 8)), each resized to
32 x 32 and copied to 3 channels, placed side by side: ``(3, 32, 64)`` float32 in [0, 1].

Factors (a discrete grid)
    ``digit_left`` and ``digit_right`` (size 2: 0 is class d0, 1 is class d1) are the binary
    attributes a1, a2; ``exemplar_left`` and ``exemplar_right`` (size n) say which image of that
    class is shown: exemplar k of class c is the k-th image of class c in the split, in file order,
    and n is the smaller of the two classes' counts in the split (the larger class's last images are
    unused; for (3, 8) in scikit-learn's digits n is 139 for ``"train"``, 35 for ``"test"``, 174 for
    ``"all"``). The exemplar factors make every image a pure function of its factor row (CMI fixes
    missing labels per sample by hashing the row).

Correlation
    The correlation c between the two digits is the sampler's: ``CorrelatedSampler(data,
    binary=[(0, 1, c)])`` (a config's ``sampler: correlated`` with ``sampler_params: {binary:
    [[0, 1, c]]}``) gives the joint of (a1, a2) proportional to ``[[1 + c, 1 - c], [1 - c, 1 + c]]``;
    the test sets of the paper are ``-c`` (anti-correlated) and the uniform sampler (uncorrelated).

Occlusion (``occlusion = t`` in [0, 1))
    For each (side, class, exemplar) a 4 x 4 grid of uniform [0, 1) values, drawn once at
    construction from ``numpy.random.default_rng(occlusion_seed).random((n, 2, 2, 4, 4))`` (exemplar
    first, so the grid of exemplar k does not depend on n), is bilinearly upsampled to 32 x 32
    (``align_corners=False``); pixels whose mask value is ``<= t`` become grey 0.5. The same factor
    row therefore always renders the same image: the dataset stays a pure function of its factors
    and draws no random numbers when rendering. A mask value is 0 with probability 0, so ``t = 0``
    occludes nothing (and skips the step).

Sources
    :func:`two_digits` uses the 8 x 8 handwritten digits that scikit-learn ships (1,797 images, no
    download; values 0..16 scaled to [0, 1]); ``split`` keeps the first ``1 - test_fraction`` of
    each class's images (file order, ``round((1 - test_fraction) * count)`` of them) for
    ``"train"``, the rest for ``"test"``, and every image for ``"all"``.
    :func:`two_digits_mnist` reads the original MNIST idx files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, optionally
    gzipped) from a folder: ``"train"`` is the 60,000 training images, ``"test"`` the 10,000 test
    images and ``"all"`` both (train first). For classes (3, 8), n is 5,851 (train) and 974 (test).

Example
-------
>>> data = two_digits(split="test")
>>> data.factor_names, data.observation_shape
(('digit_left', 'digit_right', 'exemplar_left', 'exemplar_right'), (3, 32, 64))
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Sequence

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.data.files.paths import find_data
from disentkit.validation import check_choice, check_int, check_number

__all__ = ["TwoDigits", "read_idx", "two_digits", "two_digits_mnist", "DIGIT_SIZE", "SPLITS"]

DIGIT_SIZE = 32
GRID = 4  # the occlusion mask's coarse grid side
SPLITS = ("train", "test", "all")
IDX_MAGIC = {"images": 2051, "labels": 2049}
MNIST_REL = "mnist"  # the folder under $DISENTKIT_DATA
MNIST_SOURCE = "the MNIST idx files (yann.lecun.com/exdb/mnist or a mirror), unpacked or .gz"
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of (n, h, w) float32 images to (n, size, size) (``align_corners=False``)."""
    import torch
    import torch.nn.functional as F

    tensor = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None]
    out = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False)
    return out[:, 0].clamp_(0.0, 1.0).numpy()


def _check_digits(digits: Sequence[int]) -> tuple[int, int]:
    if isinstance(digits, (str, bytes)) or not hasattr(digits, "__len__") or len(digits) != 2:
        raise ValueError(f"digits must be two distinct classes in 0..9, got {digits!r}")
    pair = tuple(check_int("digits entry", d, 0, maximum=9) for d in digits)
    if pair[0] == pair[1]:
        raise ValueError(f"digits must be two distinct classes in 0..9, got {list(digits)}")
    return pair  # type: ignore[return-value]


class TwoDigits(GroundTruthData):
    """Two digits side by side (see the module docstring for factors, occlusion and sources).

    Parameters
    ----------
    images: (m, h, w) grey images in [0, 1] (any square size; resized to 32 x 32).
    labels: (m,) their digit classes.
    digits: the two classes ``(d0, d1)``; attribute value 0 is d0, 1 is d1.
    occlusion: ``t`` in [0, 1): the occluded fraction's threshold (0: none).
    occlusion_seed: seeds the per-exemplar occlusion grids.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, digits: Sequence[int] = (3, 8),
                 occlusion: float = 0.0, occlusion_seed: int = 0, source: str = "procedural"):
        self.digits = _check_digits(digits)
        self.occlusion = check_number("occlusion", occlusion, 0.0, 1.0, strict_max=True)
        self.occlusion_seed = check_int("occlusion_seed", occlusion_seed, 0)
        self.source = source
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(f"two_digits: images must be (m, h, h) square grey images, got shape {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"two_digits: labels must have shape ({images.shape[0]},), got {labels.shape}")
        counts = [int(np.sum(labels == d)) for d in self.digits]
        if min(counts) == 0:
            raise ValueError(f"two_digits: class {self.digits[counts.index(0)]} has no images here "
                             f"(counts of {self.digits}: {counts})")
        self.num_exemplars = min(counts)
        chosen = [np.flatnonzero(labels == d)[: self.num_exemplars] for d in self.digits]
        # (2 classes, n, 32, 32): exemplar k of class c
        self.exemplars = _resize(images[np.concatenate(chosen)], DIGIT_SIZE).reshape(
            2, self.num_exemplars, DIGIT_SIZE, DIGIT_SIZE)
        self.masks = self._occlusion_masks() if self.occlusion > 0 else None
        self._space = FactorSpace(("digit_left", "digit_right", "exemplar_left", "exemplar_right"),
                                  (2, 2, self.num_exemplars, self.num_exemplars))

    def _occlusion_masks(self) -> np.ndarray:
        """Boolean (2 sides, 2 classes, n, 32, 32): True where a pixel is occluded.

        The grids are drawn exemplar first, (n, side, class, 4, 4), so exemplar k's grids are the
        same for every n (a split with more exemplars extends the draws, it does not reshuffle them).
        """
        n = self.num_exemplars
        grids = np.random.default_rng(self.occlusion_seed).random((n, 2, 2, GRID, GRID))
        smooth = _resize(grids.reshape(n * 4, GRID, GRID).astype(np.float32), DIGIT_SIZE)
        mask = smooth.reshape(n, 2, 2, DIGIT_SIZE, DIGIT_SIZE) <= self.occlusion
        return np.ascontiguousarray(mask.transpose(1, 2, 0, 3, 4))

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return (3, DIGIT_SIZE, 2 * DIGIT_SIZE)

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        halves = []
        for side in (0, 1):
            digit, exemplar = factors[:, side], factors[:, 2 + side]
            half = self.exemplars[digit, exemplar]
            if self.masks is not None:
                half = np.where(self.masks[side, digit, exemplar], np.float32(0.5), half)
            halves.append(half)
        grey = np.concatenate(halves, axis=2)  # (n, 32, 64)
        return np.repeat(grey[:, None], 3, axis=1)

    def __repr__(self) -> str:
        return (f"<TwoDigits {self.name or 'two_digits'}: classes {self.digits}, {self.num_exemplars} exemplars "
                f"per class, occlusion {self.occlusion:g}; {self.source}>")


def _split_rows(labels: np.ndarray, digits: tuple[int, int], split: str, test_fraction: float) -> np.ndarray:
    """Rows of ``split``: per class, the first ``round((1 - test_fraction) * count)`` (file order)
    are train, the rest test."""
    if split == "all":
        return np.flatnonzero(np.isin(labels, digits))
    rows = []
    for d in digits:
        own = np.flatnonzero(labels == d)
        cut = int(round((1.0 - test_fraction) * own.size))
        rows.append(own[:cut] if split == "train" else own[cut:])
    return np.sort(np.concatenate(rows))


def two_digits(digits: Sequence[int] = (3, 8), split: str = "train", test_fraction: float = 0.2,
               occlusion: float = 0.0, occlusion_seed: int = 0) -> TwoDigits:
    """Two digits from scikit-learn's bundled 8 x 8 handwritten digits (no download); see
    :class:`TwoDigits` and the module docstring."""
    from sklearn.datasets import load_digits

    check_choice("split", split, SPLITS)
    test_fraction = check_number("test_fraction", test_fraction, 0.0, 1.0, strict_min=True, strict_max=True)
    pair = _check_digits(digits)
    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    rows = _split_rows(bunch.target, pair, split, test_fraction)
    return TwoDigits(images[rows], bunch.target[rows], pair, occlusion, occlusion_seed)


def read_idx(file: str | Path, kind: str) -> np.ndarray:
    """An MNIST idx file (``kind`` ``"images"``: magic 2051, (n, rows, cols) uint8; ``"labels"``:
    magic 2049, (n,) uint8), optionally gzipped. The header is a big-endian int32 magic number
    followed by one big-endian int32 per dimension. A ``ValueError`` names the file and what was
    expected."""
    check_choice("kind", kind, tuple(IDX_MAGIC))
    file = Path(file)
    magic = IDX_MAGIC[kind]
    ndim = magic & 0xFF
    raw = file.read_bytes()
    if file.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as err:
            raise ValueError(f"{file}: not a readable gzip file ({err})") from None
    header = 4 * (1 + ndim)
    if len(raw) < header:
        raise ValueError(f"{file}: truncated idx header ({len(raw)} bytes; an idx {kind} file starts with {header})")
    found = int.from_bytes(raw[:4], "big")
    if found != magic:
        raise ValueError(f"{file}: idx magic number {found}, expected {magic} ({kind} file)")
    shape = tuple(int.from_bytes(raw[4 * (1 + i): 4 * (2 + i)], "big") for i in range(ndim))
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise ValueError(f"{file}: {len(raw) - header} data bytes, expected {size} for shape {shape} (truncated or padded)")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _idx_file(folder: Path, name: str) -> Path:
    for candidate in (folder / name, folder / f"{name}.gz", folder / name.replace("-idx", ".idx")):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"two_digits: MNIST file {folder / name} (or {name}.gz) is missing")


def _read_mnist(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = MNIST_FILES[split]
    images_file, labels_file = _idx_file(folder, images_name), _idx_file(folder, labels_name)
    images, labels = read_idx(images_file, "images"), read_idx(labels_file, "labels")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images_file}: {images.shape[0]} images but {labels_file} has {labels.shape[0]} labels")
    if images.shape[1] != images.shape[2]:
        raise ValueError(f"{images_file}: images of {images.shape[1]}x{images.shape[2]}, expected square images")
    return images, labels


def two_digits_mnist(path: str | Path | None = None, digits: Sequence[int] = (3, 8), split: str = "train",
                     occlusion: float = 0.0, occlusion_seed: int = 0) -> TwoDigits:
    """Two digits from the original MNIST idx files (see the module docstring).

    ``path`` is the folder holding the four files, or a data root holding ``mnist/`` (``None``:
    ``$DISENTKIT_DATA/mnist``); ``split`` ``"train"`` (the train files, 60,000 images), ``"test"``
    (the t10k files, 10,000) or ``"all"`` (both, train first). A missing folder or file is a
    ``FileNotFoundError`` naming the path; a bad magic number, a truncated file or an image count
    that differs from the label count is a ``ValueError`` naming the file (:func:`read_idx`).
    """
    check_choice("split", split, SPLITS)
    pair = _check_digits(digits)
    folder = find_data(path, MNIST_REL, "two_digits (MNIST)", MNIST_SOURCE, is_dir=True)
    parts = [_read_mnist(folder, s) for s in (("train", "test") if split == "all" else (split,))]
    images = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    keep = np.isin(labels, pair)
    return TwoDigits(images[keep], labels[keep], pair, occlusion, occlusion_seed, source="file")
