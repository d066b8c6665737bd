"""Files and text values shared by every package: atomic writes and YAML value parsing.

- :func:`atomic_path` / :func:`write_json_atomic`: a file is written under a temporary name in its
  own folder and renamed over the target with :func:`os.replace`, so a process killed at any moment
  leaves either the old file or the complete new one, never a torn file; concurrent writers of the
  same path never share a temporary file.
- :func:`parse_yaml_value`: one ``key=value`` value from a command line (``--set``, ``--param``,
  ``--only``), read as a YAML scalar.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import threading
from pathlib import Path
from typing import Any, Callable, Iterator

__all__ = ["atomic_path", "fsync", "parse_yaml_value", "write_json_atomic"]

_counter = itertools.count()
_counter_lock = threading.Lock()
# YAML 1.1 (PyYAML) reads exponent floats without a dot (1e-4) as strings
_EXPONENT_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def fsync(path: str | os.PathLike) -> None:
    """Flush a file, or a folder's entries (after a rename into it), to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success, rename it over ``path``.

    The temporary name keeps ``path``'s suffix (``np.savez`` and other writers append theirs when it
    is missing) and starts with a dot. When the block raises, the temporary file is removed and
    ``path`` is left as it was. ``sync``: flush the file to disk (:func:`fsync`) before the rename.

    >>> with atomic_path("matrices.npz") as tmp:      # doctest: +SKIP
    ...     np.savez(tmp, mi=mi)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _counter_lock:
        token = next(_counter)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{threading.get_ident()}-{token}.tmp{path.suffix}")
    try:
        yield tmp
        if sync:
            fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | os.PathLike, data: Any, *, sort_keys: bool = False,
                      default: Callable[[Any], Any] | None = None, sync: bool = True) -> Path:
    """Write ``data`` as indented JSON (with a final newline) to ``path`` atomically; returns ``path``.

    ``default`` is :func:`json.dumps`' hook for values JSON cannot hold (``str`` writes them as text);
    without it such a value raises ``TypeError`` and ``path`` is left untouched.
    """
    text = json.dumps(data, indent=2, sort_keys=sort_keys, default=default) + "\n"
    with atomic_path(path, sync=sync) as tmp:
        tmp.write_text(text)
    return Path(path)


def parse_yaml_value(text: str) -> Any:
    """A command-line value read as a YAML scalar or flow collection.

    ``"4"`` -> 4, ``"0.5"`` and ``"1e-4"`` -> float, ``"true"`` -> True, ``"null"`` -> None,
    ``"[1, 2]"`` -> [1, 2], ``"{a: 1}"`` -> {"a": 1}, anything else the string itself. Unlike
    PyYAML's YAML 1.1, exponent floats without a dot (``1e-4``) are floats. Invalid YAML (``"[1"``)
    is a ``ValueError``.
    """
    import yaml

    if not isinstance(text, str):
        raise ValueError(f"a value to parse must be a string, got {type(text).__name__}")
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"cannot parse value {text!r}: {err}") from None
    if isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
        return float(value)
    return value
