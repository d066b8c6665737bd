"""Read one array of an ``.npz`` archive without loading the others (and without pickle).

An ``.npz`` file is a zip archive of ``.npy`` files. :func:`npz_member` reads the header of one
member; :meth:`NpzMember.memmap` maps it straight from disk when it is stored uncompressed, and
:meth:`NpzMember.read` streams it in row chunks through a transform (so that, for example,
dSprites can be bit-packed on the way in instead of first holding its 3 GB of bytes).
Object arrays (which need pickle, and so could run code from the file) are refused.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass
from typing import Callable

import numpy as np


class NpzFormatError(ValueError):
    """The archive or the member is missing, truncated, or not a plain numeric ``.npy``."""


@dataclass(frozen=True)
class NpzMember:
    """Where one ``.npy`` member of an ``.npz`` archive lives, and its array header."""

    path: str
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    compressed: bool
    data_offset: int  # offset of the array data in the archive file (stored members only)

    @property
    def row_bytes(self) -> int:
        """Bytes per row (per index of the first axis)."""
        return int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize

    def memmap(self) -> np.memmap:
        """A read-only memory map of a stored (uncompressed) member."""
        if self.compressed or self.fortran_order:
            raise NpzFormatError(f"{self.key!r} in {self.path} is compressed or Fortran-ordered; use read()")
        needed = self.data_offset + self.row_bytes * (self.shape[0] if self.shape else 1)
        if os.path.getsize(self.path) < needed:
            raise NpzFormatError(f"{self.key!r} in {self.path} ends early (truncated file)")
        return np.memmap(self.path, dtype=self.dtype, mode="r", offset=self.data_offset, shape=self.shape)

    def read(
        self,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
        chunk_rows: int = 4096,
    ) -> np.ndarray:
        """The whole array, read in chunks of ``chunk_rows`` rows, each passed through ``transform``.

        ``transform`` maps a chunk ``(m, *shape[1:])`` to ``(m, *out_shape)``; the results are
        written into one preallocated array, so peak memory is the output plus one chunk.
        """
        if self.fortran_order:
            raise NpzFormatError(f"{self.key!r} in {self.path} is Fortran-ordered; expected C order")
        n = self.shape[0] if self.shape else 1
        row_shape = self.shape[1:]
        out: np.ndarray | None = None
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.key + ".npy") as f:
                _read_header(f)
                for start in range(0, n, chunk_rows):
                    m = min(chunk_rows, n - start)
                    raw = f.read(m * self.row_bytes)
                    if len(raw) != m * self.row_bytes:
                        raise NpzFormatError(f"{self.key!r} in {self.path} ends early (truncated file)")
                    block = np.frombuffer(raw, dtype=self.dtype).reshape((m, *row_shape))
                    block = transform(block) if transform is not None else block
                    if out is None:
                        out = np.empty((n, *block.shape[1:]), dtype=block.dtype)
                    out[start : start + m] = block
        except (zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
            if isinstance(err, NpzFormatError):
                raise
            raise NpzFormatError(f"cannot read {self.key!r} from {self.path}: {err}") from err
        if out is None:  # zero rows
            probe = np.zeros((0, *row_shape), dtype=self.dtype)
            out = transform(probe) if transform is not None else probe
        return out


def npz_keys(path: str) -> list[str]:
    """The array names in an ``.npz`` archive (member names without ``.npy``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [n[: -len(".npy")] if n.endswith(".npy") else n for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise NpzFormatError(f"{path} is not a readable .npz (zip) archive: {err}") from err


def npz_member(path: str, key: str) -> NpzMember:
    """The header of the array ``key`` in the ``.npz`` archive at ``path``.

    Raises :class:`NpzFormatError` if the archive is unreadable, ``key`` is absent, or the member
    holds Python objects.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            name = key + ".npy"
            if name not in archive.namelist():
                raise NpzFormatError(f"{path} has no array {key!r}")
            info = archive.getinfo(name)
            with archive.open(info) as f:
                shape, fortran, dtype, header_len = _read_header(f)
            with open(path, "rb") as raw:  # local file header: 30 bytes, then name and extra field
                raw.seek(info.header_offset)
                local = raw.read(30)
            if len(local) != 30 or local[:4] != b"PK\x03\x04":
                raise NpzFormatError(f"{path}: bad zip local header for {name}")
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            offset = info.header_offset + 30 + name_len + extra_len + header_len
    except (zipfile.BadZipFile, EOFError, OSError, struct.error) as err:
        raise NpzFormatError(f"{path} is not a readable .npz (zip) archive: {err}") from err
    if dtype.hasobject:
        raise NpzFormatError(f"{key!r} in {path} holds Python objects (pickle); expected a numeric array")
    return NpzMember(
        path=str(path),
        key=key,
        shape=shape,
        dtype=dtype,
        fortran_order=fortran,
        compressed=info.compress_type != zipfile.ZIP_STORED,
        data_offset=offset,
    )


def _read_header(f) -> tuple[tuple[int, ...], bool, np.dtype, int]:  # noqa: ANN001 (a binary file)
    """Parse an ``.npy`` header from ``f``: ``(shape, fortran_order, dtype, header_bytes)``."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise NpzFormatError(f"unsupported .npy format version {version}")
    except (ValueError, EOFError) as err:
        if isinstance(err, NpzFormatError):
            raise
        raise NpzFormatError(f"bad .npy header: {err}") from err
    return tuple(int(s) for s in shape), bool(fortran), np.dtype(dtype), int(f.tell())
