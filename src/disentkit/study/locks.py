"""Locks: one trainer per run, one writer of a study's store and report at a time.

Every process that trains a run holds the run's lock, ``runs/<run_id>/run.lock``, for as long as it
trains and evaluates it: the worker process (or Ray task) takes it, not the main process, so a
worker left alive by a killed ``study run`` keeps its run. Two ``study run`` processes on one folder
therefore share the work: each trains only runs that nobody holds, and reports the others as held.

The lock is two things in one file:

- an exclusive :func:`fcntl.flock` on the file, taken without waiting. The kernel decides who
  holds it and releases it when the holder exits in any way (``kill -9`` and out-of-memory kills
  included), so a lock left by a dead process is stale by construction and is taken over by the next
  process that asks; the record the dead holder left is kept in :attr:`RunLock.previous`;
- a JSON record of the holder, ``{"pid", "host", "started"}``, written when the lock is taken,
  touched (its mtime) every :data:`HEARTBEAT_SECONDS` by a thread of the holder, and emptied when it
  is released. It names the holder in messages ("held by pid 123 on host a since ...").

Other hosts (Ray on a shared file system): the Ray executor takes the same lock inside each task.
On NFS the Linux client implements ``flock`` with NFS byte-range locks (since Linux 2.6.12), so the
lock excludes workers on every host that mounts the folder, and the server releases it when the
holder dies (when a whole host dies, after the NFS lease, about 90 s). On a file system whose
``flock`` is local to one host (Lustre mounted with ``localflock``, some FUSE file systems) the record
is the second line of defence: a record written by another host whose heartbeat is younger than
:data:`STALE_SECONDS` counts as held; an older one counts as stale (that host's worker is presumed
dead) and is taken over. On such a file system two hosts that start the same run at the same moment
are not excluded; use NFS or a file system with cluster-wide locks for a multi-host study.

The study lock (:func:`study_lock`, ``<study>/.study.lock``) serialises the writes of
``results.duckdb`` and ``report.html`` by processes sharing a folder, so the last database written
is the one collected last.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator

__all__ = ["HEARTBEAT_SECONDS", "LOCK_FILE", "STALE_SECONDS", "STUDY_LOCK_FILE", "RunLock", "describe_holder",
           "study_lock"]

LOCK_FILE = "run.lock"
STUDY_LOCK_FILE = ".study.lock"
#: The holder touches its lock file this often (seconds).
HEARTBEAT_SECONDS = 30.0
#: A record from another host whose heartbeat is older than this (seconds) is stale.
STALE_SECONDS = 600.0
_RECORD_BYTES = 4096


def _read_record(fd: int) -> dict[str, Any] | None:
    """The holder record in an open lock file (None when empty or unreadable: never written, released,
    or being written right now)."""
    try:
        data = os.pread(fd, _RECORD_BYTES, 0)
        record = json.loads(data.decode())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def describe_holder(record: dict[str, Any] | None) -> str:
    """``"pid 123 on host a since 2026-05-09 07:35:25"`` for a holder record (``"another process"`` when
    the record is empty: the holder is writing it or could not)."""
    if not record:
        return "another process"
    text = f"pid {record.get('pid')} on host {record.get('host')}"
    started = record.get("started")
    if isinstance(started, (int, float)):
        text += " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started))
    return text


class RunLock:
    """The lock of one run folder (see the module docstring); not reentrant.

    >>> lock = RunLock(folder)              # doctest: +SKIP
    >>> if lock.acquire():                  # doctest: +SKIP
    ...     try: train(...)
    ...     finally: lock.release()
    ... else: print("held by", describe_holder(lock.holder))
    """

    def __init__(self, folder: str | os.PathLike, *, heartbeat: float | None = HEARTBEAT_SECONDS,
                 stale_after: float = STALE_SECONDS):
        self.path = Path(folder) / LOCK_FILE
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        #: the live holder's record after a failed :meth:`acquire` (``{}`` when it has none yet)
        self.holder: dict[str, Any] | None = None
        #: the record of a dead holder that :meth:`acquire` took over
        self.previous: dict[str, Any] | None = None
        #: why the holder record could not be written (the kernel lock is held all the same)
        self.record_error: OSError | None = None
        self._fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def _live_on_other_host(self, record: dict[str, Any] | None, fd: int) -> bool:
        if not record or record.get("host") == socket.gethostname():
            return False  # on this host the kernel lock is the truth: we got it, so the holder is gone
        try:
            age = time.time() - os.fstat(fd).st_mtime
        except OSError:
            return True
        return age < self.stale_after

    def acquire(self) -> bool:
        """Take the lock without waiting; False (and :attr:`holder` set) when a live process holds it.

        Raises ``OSError`` only when the lock file cannot be opened (a missing or read-only folder).
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this object")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.holder = _read_record(fd) or {}
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        record = _read_record(fd)
        if self._live_on_other_host(record, fd):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            self.holder = record
            return False
        self.previous, self.holder, self._fd = record, None, fd
        self._write_record({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()})
        if self.heartbeat:
            self._stop.clear()
            self._thread = threading.Thread(target=self._beat, name=f"lock-heartbeat-{self.path.parent.name}",
                                            daemon=True)
            self._thread.start()
        return True

    def _write_record(self, record: dict[str, Any]) -> None:
        data = json.dumps(record, sort_keys=True).encode()
        try:
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
            os.fsync(self._fd)
        except OSError as err:  # a full disk: the kernel lock holds all the same
            self.record_error = err

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                os.utime(self._fd)
            except (OSError, TypeError):  # released meanwhile
                return

    def release(self) -> None:
        """Empty the record and release the lock (a no-op when not held)."""
        if self._fd is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        fd, self._fd = self._fd, None
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


@contextlib.contextmanager
def study_lock(study_dir: str | os.PathLike) -> Iterator[bool]:
    """Hold ``<study>/.study.lock`` (waiting for it) while the block runs; yields whether it is held.

    A folder where the lock file cannot be created (read-only) yields False: the block runs unlocked
    and meets the same error when it writes.
    """
    try:
        fd = os.open(Path(study_dir) / STUDY_LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError:
        yield False
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield True
    finally:
        os.close(fd)  # closing the only descriptor releases the flock
