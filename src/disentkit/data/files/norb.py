"""The NORB "binary matrix" file format (``smallnorb-*-{dat,cat,info}.mat``).

Layout (little-endian): an int32 magic number giving the element type, an int32 ``ndim``, then
``max(ndim, 3)`` int32 dimensions (unused ones are 1), then the elements in C order. Magic numbers:
``0x1E3D4C55`` uint8, ``0x1E3D4C54`` int32, ``0x1E3D4C56`` int16, ``0x1E3D4C51`` float32,
``0x1E3D4C53`` float64 (source: the small NORB readme, cs.nyu.edu/~ylclab/data/norb-v1.0-small).
"""

from __future__ import annotations

import os

import numpy as np

NORB_DTYPES: dict[int, np.dtype] = {
    0x1E3D4C55: np.dtype(np.uint8),
    0x1E3D4C54: np.dtype("<i4"),
    0x1E3D4C56: np.dtype("<i2"),
    0x1E3D4C51: np.dtype("<f4"),
    0x1E3D4C53: np.dtype("<f8"),
}


def read_norb_header(path: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """``(dtype, shape, data_offset)`` of a NORB binary-matrix file; ValueError if malformed or truncated."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = np.frombuffer(f.read(8), dtype="<i4")
        if head.size != 2:
            raise ValueError(f"{path} is too short for a NORB binary-matrix header")
        magic, ndim = int(head[0]) & 0xFFFFFFFF, int(head[1])
        if magic not in NORB_DTYPES:
            raise ValueError(f"{path}: unknown NORB magic number {magic:#x}; expected one of "
                             f"{', '.join(hex(m) for m in NORB_DTYPES)}")
        if not 1 <= ndim <= 16:
            raise ValueError(f"{path}: implausible NORB ndim {ndim}")
        ndims_stored = max(ndim, 3)
        dims = np.frombuffer(f.read(4 * ndims_stored), dtype="<i4")
    if dims.size != ndims_stored or np.any(dims < 0):
        raise ValueError(f"{path}: truncated or corrupt NORB header")
    dtype = NORB_DTYPES[magic]
    shape = tuple(int(d) for d in dims[:ndim])
    offset = 8 + 4 * ndims_stored
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != expected:
        raise ValueError(
            f"{path}: a NORB {dtype} matrix of shape {shape} takes {expected} bytes, the file has {size} "
            "(truncated, or still gzipped?)"
        )
    return dtype, shape, offset


def read_norb(path: str, mmap: bool = False) -> np.ndarray:
    """The array in a NORB binary-matrix file (read-only memory map if ``mmap``)."""
    dtype, shape, offset = read_norb_header(path)
    if mmap:
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    with open(path, "rb") as f:
        f.seek(offset)
        return np.fromfile(f, dtype=dtype, count=int(np.prod(shape, dtype=np.int64))).reshape(shape)


def write_norb(path: str, array: np.ndarray) -> None:
    """Write ``array`` (uint8, int32, int16, float32 or float64) in NORB binary-matrix format."""
    arr = np.ascontiguousarray(array)
    magic = {np.dtype(v).newbyteorder("<"): k for k, v in NORB_DTYPES.items()}.get(arr.dtype.newbyteorder("<"))
    if magic is None:
        raise ValueError(f"NORB files hold uint8, int16, int32, float32 or float64, got {arr.dtype}")
    dims = list(arr.shape) + [1] * max(0, 3 - arr.ndim)
    header = np.array([magic, arr.ndim, *dims], dtype="<i4")  # every magic is < 2**31
    with open(path, "wb") as f:
        f.write(header.tobytes())
        f.write(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
