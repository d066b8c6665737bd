"""An on-disk cache of a deterministic dataset's full grid of images, read by memory map.

Rendering procedural images can cost more than a training step; the cache renders the whole grid
once (in chunks, with a progress bar) and afterwards a batch is a gather from a memory-mapped
``.npy`` file. Storage:

- ``"bits"``: binary 1-channel images, 8 pixels a byte (``np.packbits`` along the width);
  dSprites' 737,280 x 64 x 64 grid takes 377 MB. Exact.
- ``"uint8"``: ``round(255 x)``; exact for images whose values are multiples of 1/255 (every
  original dataset file), otherwise off by at most 1/510 (the build records the error).
- ``"float32"``: exact, 4 bytes a pixel value.
- ``"auto"`` (default): bits for binary 1-channel images, else uint8.

Files live in ``$DISENTKIT_CACHE`` (default ``~/.cache/disentkit``), named by the dataset name and
a hash of its class, parameters, factor space, image shape, :data:`CACHE_VERSION` and the bytes of
a few rendered probe images (so a changed renderer gets a new file). Each cache is a ``.npy`` plus
a ``.json`` description, both written to temporary names and renamed into place (a reader never
sees a half-written cache).

>>> import disentkit.data as dd
>>> data = CachedData(dd.get("dsprites"))     # builds the cache the first time
>>> factors, images = data.sample(64, rng=0)  # gathers from the memory map
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from disentkit.data.base import GroundTruthData
from disentkit.data.factors import FactorSpace
from disentkit.io import atomic_path, write_json_atomic
from disentkit.validation import check_choice, check_int

CACHE_VERSION = 1
STORAGES = ("auto", "bits", "uint8", "float32")
_PROBES = 16
_CHUNK_BYTES = 64 << 20

__all__ = ["CACHE_VERSION", "CachedData", "build_cache", "cache_folder", "cache_key", "cache_path"]


def cache_folder(folder: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``folder``, else ``$DISENTKIT_CACHE``, else ``~/.cache/disentkit``."""
    if folder is None:
        folder = os.environ.get("DISENTKIT_CACHE") or Path.home() / ".cache" / "disentkit"
    return Path(folder).expanduser()


def _check_deterministic(dataset: GroundTruthData) -> None:
    if not isinstance(dataset, GroundTruthData):
        raise ValueError(f"expected a GroundTruthData dataset, got {type(dataset).__name__}")
    if dataset.stochastic:
        raise ValueError(
            f"{dataset.name or type(dataset).__name__} is stochastic (its images depend on an rng), "
            "so its grid cannot be cached; only deterministic datasets (stochastic=False) can"
        )


def _simple(value: Any) -> bool:
    if isinstance(value, (bool, int, float, str, type(None), np.integer, np.floating)):
        return True
    return isinstance(value, (tuple, list)) and len(value) <= 64 and all(_simple(v) for v in value)


def _params(dataset: GroundTruthData) -> dict[str, str]:
    """The dataset's simple attributes (numbers, strings and short tuples of them), as strings."""
    return {k: repr(v) for k, v in sorted(vars(dataset).items()) if _simple(v)}


def _probe_index(space: FactorSpace) -> np.ndarray:
    return np.unique(np.linspace(0, space.num_states - 1, _PROBES).round().astype(np.int64))


def cache_key(dataset: GroundTruthData) -> str:
    """The cache key ``<name>-<16 hex digits>`` of a deterministic dataset.

    The digest is SHA-256 over the class, the simple attributes, the factor space, the image
    shape, :data:`CACHE_VERSION` and the bytes of up to 16 probe images spread over the grid.
    """
    _check_deterministic(dataset)
    space = dataset.factor_space
    # render the probes first, so that attributes set lazily by a first render are in the identity
    probes = dataset.observations(space.factors_of(_probe_index(space)))
    h = hashlib.sha256()
    ident = {
        "class": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
        "name": dataset.name,
        "params": _params(dataset),
        "space": [list(space.names), list(space.sizes)],
        "shape": list(dataset.observation_shape),
        "version": CACHE_VERSION,
    }
    h.update(json.dumps(ident, sort_keys=True).encode())
    h.update(np.ascontiguousarray(probes).tobytes())
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in (dataset.name or type(dataset).__name__))
    return f"{label}-{h.hexdigest()[:16]}"


def cache_path(dataset: GroundTruthData, folder: str | os.PathLike | None = None) -> Path:
    """Where the cache of ``dataset`` is (or would be) stored: ``<folder>/<cache_key>.npy``."""
    return cache_folder(folder) / f"{cache_key(dataset)}.npy"


def _read_meta(path: Path) -> dict[str, Any] | None:
    meta_path = path.with_suffix(".json")
    if not (path.exists() and meta_path.exists()):
        return None
    try:
        return json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


class _NotBinary(Exception):
    pass


def _encode(images: np.ndarray, storage: str) -> tuple[np.ndarray, float]:
    """Encode float32 images for ``storage``; return them and the largest absolute error."""
    if storage == "bits":
        binary = images > 0.5
        if not np.array_equal(binary, images):  # images must be exactly 0 or 1
            raise _NotBinary
        return np.packbits(binary, axis=-1), 0.0
    if storage == "uint8":
        q = np.rint(np.clip(images, 0.0, 1.0) * 255.0).astype(np.uint8)
        return q, float(np.abs(_decode_uint8(q) - images).max(initial=0.0))
    return images, 0.0


def _decode_uint8(q: np.ndarray) -> np.ndarray:
    return q.astype(np.float32) / np.float32(255.0)


def _encoded_shape(shape: tuple[int, int, int], storage: str) -> tuple[int, ...]:
    c, h, w = shape
    if storage == "bits":
        return (c, h, (w + 7) // 8)
    return (c, h, w)


def _dtype(storage: str) -> np.dtype:
    return np.dtype(np.float32) if storage == "float32" else np.dtype(np.uint8)


def build_cache(
    dataset: GroundTruthData,
    folder: str | os.PathLike | None = None,
    storage: str = "auto",
    chunk_size: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Path:
    """Render the full grid of ``dataset`` into the cache (if it is not there yet); return its path.

    Parameters
    ----------
    dataset: a deterministic dataset (``stochastic=False``).
    folder: the cache folder (see :func:`cache_folder`).
    storage: ``"auto"``, ``"bits"``, ``"uint8"`` or ``"float32"`` (see the module docstring). An
        existing cache stored differently from an explicit choice is rebuilt.
    chunk_size: grid states rendered at a time (default: about 64 MB of float32 images).
    progress: show a tqdm progress bar.
    overwrite: rebuild even if a valid cache exists.
    """
    _check_deterministic(dataset)
    check_choice("storage", storage, STORAGES)
    path = cache_path(dataset, folder)
    meta = _read_meta(path)
    if meta is not None and not overwrite and storage in ("auto", meta.get("storage")):
        return path
    shape = tuple(int(s) for s in dataset.observation_shape)
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_BYTES // (4 * int(np.prod(shape))))
    chunk_size = check_int("chunk_size", chunk_size, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    if storage == "auto":
        storage = "bits" if shape[0] == 1 else "uint8"
        try:
            return _write(dataset, path, storage, int(chunk_size), progress)
        except _NotBinary:
            storage = "uint8"
    return _write(dataset, path, storage, int(chunk_size), progress)


def _write(dataset: GroundTruthData, path: Path, storage: str, chunk: int, progress: bool) -> Path:
    from tqdm.auto import tqdm

    space = dataset.factor_space
    n = space.num_states
    shape = tuple(int(s) for s in dataset.observation_shape)
    start = time.perf_counter()
    max_error = 0.0
    with atomic_path(path) as tmp:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=_dtype(storage), shape=(n, *_encoded_shape(shape, storage)))
        with tqdm(total=n, unit="img", disable=not progress, desc=f"caching {path.stem}") as bar:
            for lo in range(0, n, chunk):
                hi = min(n, lo + chunk)
                images = dataset.observations(space.factors_of(np.arange(lo, hi, dtype=np.int64)))
                out[lo:hi], err = _encode(images, storage)
                max_error = max(max_error, err)
                bar.update(hi - lo)
        out.flush()
        del out
    if max_error > 0:
        warnings.warn(
            f"the uint8 cache of {dataset.name or type(dataset).__name__} differs from the rendered "
            f"images by up to {max_error:.2g}; use storage='float32' for an exact cache",
            stacklevel=3,
        )
    meta = {
        "key": path.stem, "version": CACHE_VERSION, "storage": storage, "num_states": n,
        "observation_shape": list(shape), "max_abs_error": max_error,
        "build_seconds": round(time.perf_counter() - start, 3), "dataset": repr(dataset),
    }
    write_json_atomic(path.with_suffix(".json"), meta)
    return path


class CachedData(GroundTruthData):
    """A deterministic dataset whose images are read from its on-disk grid cache.

    Renders the same images as ``dataset`` (exactly for ``bits``/``float32`` storage, and for
    ``uint8`` when the images are multiples of 1/255); building the cache on first use when
    ``build`` is true. ``meta`` holds the cache description (storage, build time, error).

    ``in_memory=True`` reads the whole file into RAM at once (one sequential read); otherwise
    images are gathered from a memory map, which is as fast once the operating system has the file
    in its page cache, but slow (random disk reads) while it has not.

    Raises ValueError for a stochastic dataset, FileNotFoundError when ``build=False`` and there
    is no cache.
    """

    stochastic = False

    def __init__(
        self,
        dataset: GroundTruthData,
        folder: str | os.PathLike | None = None,
        build: bool = True,
        storage: str = "auto",
        progress: bool = True,
        in_memory: bool = False,
    ):
        _check_deterministic(dataset)
        self.in_memory = bool(in_memory)
        self.base = dataset
        self.name = dataset.name
        self.source = dataset.source
        if build:
            self.path = build_cache(dataset, folder, storage=storage, progress=progress)
        else:
            self.path = cache_path(dataset, folder)
        meta = _read_meta(self.path)
        if meta is None:
            raise FileNotFoundError(f"no cache of {dataset!r} at {self.path}; use build=True")
        self.meta: dict[str, Any] = meta
        self.storage: str = meta["storage"]
        self._images: np.ndarray | None = None
        if self.in_memory:
            self.images  # noqa: B018 (load now)

    @property
    def factor_space(self) -> FactorSpace:
        return self.base.factor_space

    @property
    def observation_shape(self) -> tuple[int, int, int]:
        return self.base.observation_shape

    @property
    def images(self) -> np.ndarray:
        """The encoded grid (a read-only memory map, or an array if ``in_memory``), by grid index."""
        if self._images is None:
            self._images = np.load(self.path, mmap_mode=None if self.in_memory else "r")
        return self._images

    def _render(self, factors: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        index = factors @ self.factor_space.strides
        order = np.argsort(index, kind="stable")  # read the file in increasing order
        raw = np.empty((index.shape[0], *self.images.shape[1:]), dtype=self.images.dtype)
        raw[order] = self.images[index[order]]
        if self.storage == "bits":
            return np.unpackbits(raw, axis=-1, count=self.observation_shape[2]).astype(np.float32)
        if self.storage == "uint8":
            return _decode_uint8(raw)
        return raw

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        if not self.in_memory:
            state["_images"] = None  # reopen the memory map after pickling (DataLoader workers)
        return state

    def __repr__(self) -> str:
        return f"<cached {self.base!r}: {self.storage} at {self.path}>"
