"""Run directories: each run writes its own folder with atomic writes, so workers never collide.

``<study>/runs/<run_id>/`` holds ``run_spec.json`` (the run id and resolved config), ``status.json``
(state, times, error), ``run.lock`` (the lock of the process training it, :mod:`disentkit.study.locks`)
and what the trainer and the evaluation write (``config.json``, ``run.json``, checkpoints,
``train_log.jsonl``, ``model.safetensors``, pictures, ``metrics.json``, ``matrices.npz``).

A full or read-only disk: :func:`record_status` never raises for a status that cannot be written; it
returns the status with ``status_error`` (what could not be written, and why), which the executors
pass back to the main process in memory. :func:`describe_error` names the disk problem and the path.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from disentkit.io import write_json_atomic
from disentkit.validation import check_choice

STATES = ("pending", "running", "done", "failed")
# the study's record of a run (the trainer owns ``run.json`` and ``config.json`` in the same folder)
SPEC_FILE = "run_spec.json"
STATUS_FILE = "status.json"
#: errors of a disk that cannot take a write
DISK_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
               errno.EROFS: "read-only file system"}


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None when it is missing or unreadable (not JSON, not UTF-8, a folder)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):  # ValueError: JSONDecodeError and UnicodeDecodeError
        return None


def run_dir(study_dir: Path, run_id: str) -> Path:
    """The folder of run ``run_id`` in a study folder."""
    return Path(study_dir) / "runs" / run_id


def read_status(folder: Path) -> dict[str, Any]:
    """A run's status record; ``{"state": "pending"}`` when it never started."""
    status = read_json(Path(folder) / STATUS_FILE)
    return status if isinstance(status, dict) and status.get("state") in STATES else {"state": "pending"}


def write_status(folder: Path, state: str, **fields: Any) -> dict[str, Any]:
    """Record a run's state (keeping earlier fields such as ``started``); raises ``OSError`` when the
    file cannot be written (see :func:`record_status`)."""
    check_choice("state", state, STATES)
    record = {k: v for k, v in read_status(folder).items() if k not in ("error", "traceback", "status_error")}
    record.update(state=state, updated=time.time(), host=socket.gethostname(), **fields)
    write_json_atomic(Path(folder) / STATUS_FILE, record, sort_keys=True, default=str)
    return record


def record_status(folder: Path, state: str, **fields: Any) -> dict[str, Any]:
    """:func:`write_status`, except that a status that cannot be written (a full or read-only disk) is
    returned with ``status_error`` saying so instead of raising."""
    try:
        return write_status(folder, state, **fields)
    except OSError as err:
        return {"state": state, "updated": time.time(), "host": socket.gethostname(), **fields,
                "status_error": f"could not write {Path(folder) / STATUS_FILE}: {describe_error(err, folder)}"}


def _disk_errno(err: BaseException) -> int | None:
    """The errno of a full or read-only disk in ``err`` or the exceptions it was raised from."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
            return err.errno
        err = err.__cause__ or err.__context__
    return None


def _disk_state(folder: Path) -> str | None:
    """"no space left on device" or "read-only file system" when the file system of ``folder`` (or
    of its nearest existing parent) is in that state, else None."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return DISK_ERRNOS[errno.EROFS]
    if info.f_bavail * info.f_frsize < 1 << 20:  # under 1 MiB: no write of a checkpoint fits
        return DISK_ERRNOS[errno.ENOSPC]
    return None


def describe_error(err: BaseException, folder: Path) -> str:
    """``"Type: message"`` for a failed run, naming the disk problem and the path when a write failed.

    A full or read-only disk is recognised by the ``errno`` of an ``OSError`` in the exception or
    its chain, or by the words of the error (safetensors' "No space left on device (os error 28)"
    and torch's writers raise other types). Such an error without a file name (a failed ``write()``
    has none) gets the run folder; any other error gets the state of the disk when it is full or
    read-only.
    """
    text = f"{type(err).__name__}: {err}"
    code = _disk_errno(err)
    if code is None:
        lowered = str(err).lower()
        code = next((c for c, words in DISK_ERRNOS.items() if words in lowered), None)
    if code is not None:
        if not (isinstance(err, OSError) and err.filename):
            text += f" ({DISK_ERRNOS[code]} while writing in {folder})"
    elif (state := _disk_state(folder)) is not None:
        text += f" ({state} at {folder})"
    return text
