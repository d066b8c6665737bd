"""Datasets backed by stored images: one uint8 image per point of a factor grid, in C order.

:class:`ArrayGroundTruthData` renders factors by gathering rows: ``rows = factor_space.index_of(f)``
(C-order strides, see :class:`~disentkit.data.factors.FactorSpace`), then converts uint8 to
float32 in [0, 1] and (n, H, W, C) to (n, C, H, W). The rows come from an image store:

- :class:`ArrayStore`: an in-memory array;
- :class:`MemmapStore`: a raw uint8 block inside a file (an uncompressed ``.npz`` member), mapped
  lazily so that pickling (for DataLoader workers) sends the path, not the data;
- :class:`PackedBitsStore`: binary images packed 8 pixels to a byte (dSprites: 377 MB, not 3 GB);
- :class:`H5Store`: a dataset in an HDF5 file, read lazily (3dshapes.h5 is 5.9 GB).

Each store reads the requested rows in increasing order, each row once (h5py's fancy indexing
requires it; it is also the fastest order for memory maps).
"""

from __future__ import annotations

import os
from typing import Protocol

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace


class ImageStore(Protocol):
    """Rows of uint8 images ``(N, H, W, C)``; :meth:`take` reads sorted, distinct rows."""

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """``(N, H, W, C)``."""

    def take(self, rows: np.ndarray) -> np.ndarray:
        """uint8 images ``(len(rows), H, W, C)`` of increasing, distinct ``rows``."""


class ArrayStore:
    """Images held in a numpy array ``(N, H, W, C)`` uint8."""

    def __init__(self, images: np.ndarray):
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, H, W, C), got {images.dtype} {images.shape}")
        self.images = images

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return tuple(int(s) for s in self.images.shape)  # type: ignore[return-value]

    def take(self, rows: np.ndarray) -> np.ndarray:
        return self.images[rows]


class MemmapStore:
    """uint8 images ``shape = (N, H, W, C)`` stored raw at byte ``offset`` of the file ``path``."""

    def __init__(self, path: str, offset: int, shape: tuple[int, int, int, int]):
        self.path = str(path)
        self.offset = int(offset)
        self._shape = tuple(int(s) for s in shape)
        self._map: np.memmap | None = None

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self._shape  # type: ignore[return-value]

    def take(self, rows: np.ndarray) -> np.ndarray:
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode="r", offset=self.offset, shape=self._shape)
        return np.asarray(self._map[rows])

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_map": None}


class PackedBitsStore:
    """Binary images ``(N, H, W)`` kept as ``np.packbits(images, axis=-1)``: ``(N, H, ceil(W/8))``."""

    def __init__(self, packed: np.ndarray, width: int):
        if packed.dtype != np.uint8 or packed.ndim != 3 or packed.shape[2] != -(-width // 8):
            raise ValueError(f"packed must be uint8 (N, H, ceil({width}/8)), got {packed.dtype} {packed.shape}")
        self.packed = packed
        self.width = int(width)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        n, h, _ = self.packed.shape
        return (int(n), int(h), self.width, 1)

    def take(self, rows: np.ndarray) -> np.ndarray:
        return np.unpackbits(self.packed[rows], axis=-1, count=self.width)[..., None]


class H5Store:
    """uint8 images ``(N, H, W, C)`` in the dataset ``key`` of the HDF5 file ``path``, read lazily.

    The file is opened on first use and again in a new process (a forked DataLoader worker must
    not share the parent's HDF5 handle).
    """

    def __init__(self, path: str, key: str, shape: tuple[int, int, int, int]):
        self.path = str(path)
        self.key = key
        self._shape = tuple(int(s) for s in shape)
        self._file = None
        self._pid = -1

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return self._shape  # type: ignore[return-value]

    def take(self, rows: np.ndarray) -> np.ndarray:
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        if rows.size == 0:
            return np.zeros((0, *self._shape[1:]), dtype=np.uint8)
        return np.asarray(self._file[self.key][rows], dtype=np.uint8)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None, "_pid": -1}


class ArrayGroundTruthData(GroundTruthData):
    """A dataset whose image for factor vector ``f`` is row ``index_of(f)`` of ``store``.

    Parameters
    ----------
    store: the images in C-order grid order, ``store.shape[0] == factor_space.num_states``.
    factor_space: the factors (names and sizes) of the grid.
    max_value: the stored value of a full-intensity pixel: 255 (images become ``x / 255``) or 1
        (binary images, such as dSprites, become exactly 0.0 / 1.0).
    name: the registry name.
    """

    source = "file"
    stochastic = False

    def __init__(self, store: ImageStore, factor_space: FactorSpace, max_value: int = 255, name: str = ""):
        n, h, w, c = store.shape
        if n != factor_space.num_states:
            raise ValueError(
                f"the store holds {n} images but the factor grid {factor_space.describe()} has "
                f"{factor_space.num_states} points"
            )
        if max_value not in (1, 255):
            raise ValueError(f"max_value must be 1 or 255, got {max_value}")
        self.store = store
        self._space = factor_space
        self._shape = (int(c), int(h), int(w))
        self.max_value = int(max_value)
        self.name = name

    @property
    def factor_space(self) -> FactorSpace:
        return self._space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self._shape

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Gather the stored rows of ``factors`` (each distinct row read once, in increasing order)."""
        rows, inverse = np.unique(factors @ self._space.strides, return_inverse=True)
        images = self.store.take(rows)[inverse.reshape(-1)]
        out = images.astype(np.float32)
        if self.max_value != 1:
            out /= np.float32(self.max_value)  # correctly rounded, as float64 x/255 cast to float32
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))
