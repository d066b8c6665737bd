"""Executors: where the runs of a study execute.

- ``local`` (default): each run in its own forked worker process, ``workers`` at a time, one torch
  thread per worker unless a single worker gets every core. A worker that dies (killed, out of
  memory) fails only its own run.
- ``ray``: each run is a Ray task with the given CPU/GPU resources, on a running cluster
  (``address``) or a local Ray instance. Runs write to the study folder, which must be on a file
  system shared by the workers.

Both yield ``(run, status)`` as runs finish; the results are the same whichever executor ran them.
The run's lock is taken where the run executes (in the worker process, in the Ray task), so two
studies on one folder, on one host or on the hosts of a Ray cluster sharing it, never train the same
run: a run held by a live process comes back with ``held_by`` and is not touched
(:mod:`disentkit.study.locks`). The main process writes a run's status only for a worker that died
without recording one, and only while it holds that run's lock itself. A status that cannot be
written (a full disk) never stops the study: it comes back with ``status_error``.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Iterator, Sequence

from disentkit.study.locks import RunLock
from disentkit.study.records import describe_error, read_status, record_status, run_dir
from disentkit.study.spec import RunSpec
from disentkit.study.worker import execute_run, preload
from disentkit.validation import check_choice, check_int, check_number

EXECUTORS = ("local", "ray")


def make_executor(name: str, *, workers: int = 1, address: str | None = None, cpus_per_run: float = 1,
                  gpus_per_run: float = 0):
    """Build an executor by name (``local`` or ``ray``)."""
    check_choice("executor", name, EXECUTORS)
    if name == "local":
        return LocalExecutor(workers=workers)
    return RayExecutor(address=address, cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run)


def _threads_per_worker(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // workers)


def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"the worker was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"the worker was killed by signal {-code}"
    return f"the worker exited with code {code} before recording a result"


#: the longest error text a worker sends back through its pipe (the whole one is in status.json)
_MAX_ERROR = 4000


def record_lost_run(folder: Path, error: str) -> dict[str, Any]:
    """Record ``failed`` with ``error`` for a run whose worker died without a record, if nobody else
    holds the run meanwhile (then the run's status on disk comes back with ``held_by``); a run found
    done or failed once the lock is taken keeps its record. Never raises for a disk that cannot be
    written (``status_error``)."""
    lock = RunLock(folder, heartbeat=None)
    try:
        acquired = lock.acquire()
    except OSError as err:
        return {"state": "failed", "error": error,
                "status_error": f"could not lock {lock.path}: {describe_error(err, folder)}"}
    if not acquired:
        return {**read_status(folder), "held_by": lock.holder or {}}
    try:
        status = read_status(folder)
        return status if status["state"] in ("done", "failed") else record_status(folder, "failed", error=error)
    finally:
        lock.release()


def _worker(conn: Connection, run: RunSpec, study_dir: Path, run_fn, threads: int) -> None:
    """A local worker: execute the run, send its status (without the traceback) to the main process."""
    status = execute_run(run, study_dir, run_fn, threads)
    message = {k: v for k, v in status.items() if k != "traceback"}
    if isinstance(message.get("error"), str) and len(message["error"]) > _MAX_ERROR:
        message["error"] = message["error"][:_MAX_ERROR] + " ..."
    try:
        conn.send(message)
    except OSError:  # the main process is gone (killed): the outcome is in status.json
        pass
    finally:
        conn.close()


def _received(conn: Connection) -> dict[str, Any] | None:
    try:
        return conn.recv() if conn.poll() else None
    except (EOFError, OSError):
        return None
    finally:
        conn.close()


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="runs", unit="run", disable=not enabled)


class LocalExecutor:
    """Run each run in a forked worker process, ``workers`` at a time."""

    def __init__(self, workers: int = 1):
        self.workers = check_int("workers", workers, 1)

    def map(self, runs: Sequence[RunSpec], study_dir: Path, *, run_fn=None,
            progress: bool = True) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        """Execute ``runs``; yield ``(run, status)`` in completion order."""
        if run_fn is None and runs:  # the workers inherit the imports instead of paying them per run
            preload({m for run in runs for m in run.evaluation.get("metrics", [])})
        context = multiprocessing.get_context("fork")
        threads = _threads_per_worker(self.workers)
        queue = list(runs)
        active: dict[Any, tuple[RunSpec, Any, Connection]] = {}
        bar = _progress(len(queue), progress)
        try:
            while queue or active:
                while queue and len(active) < self.workers:
                    run = queue.pop(0)
                    receive, send = context.Pipe(duplex=False)
                    proc = context.Process(target=_worker, args=(send, run, study_dir, run_fn, threads),
                                           name=f"disentkit-run-{run.run_id}", daemon=False)
                    proc.start()
                    send.close()  # the worker holds the other copy
                    active[proc.sentinel] = (run, proc, receive)
                for sentinel in wait(list(active)):
                    run, proc, receive = active.pop(sentinel)
                    proc.join()
                    status = _received(receive)
                    if status is None:  # the worker died before it sent its outcome
                        folder = run_dir(study_dir, run.run_id)
                        status = read_status(folder)
                        if status["state"] not in ("done", "failed"):  # ... and without a record
                            status = record_lost_run(folder, _describe_exit(proc.exitcode))
                    bar.update(1)
                    yield run, status
        finally:
            for run, proc, receive in active.values():  # interrupted: stop the workers we started
                proc.terminate()
                proc.join()
                receive.close()
                record_lost_run(run_dir(study_dir, run.run_id), "the study was interrupted")
            bar.close()


def _ray_task(run: RunSpec, study_dir: str, run_fn, num_threads: int) -> dict[str, Any]:
    # the run's lock is taken here, in the task, on the shared study folder (execute_run)
    return execute_run(run, study_dir, run_fn, num_threads)


class RayExecutor:
    """Run each run as a Ray task (``ray.init(address)``; a local instance when no address is given)."""

    def __init__(self, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0):
        self.address = address
        self.cpus_per_run = check_number("cpus_per_run", cpus_per_run, 0, strict_min=True, finite=True)
        self.gpus_per_run = check_number("gpus_per_run", gpus_per_run, 0, finite=True)

    def map(self, runs: Sequence[RunSpec], study_dir: Path, *, run_fn=None,
            progress: bool = True) -> Iterator[tuple[RunSpec, dict[str, Any]]]:
        """Submit every run as a task; yield ``(run, status)`` in completion order."""
        try:
            import ray
        except ImportError:
            raise ValueError("the ray executor needs Ray: pip install 'disentkit[ray]'") from None
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True, logging_level="ERROR")
        task = ray.remote(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0)(_ray_task)
        threads = max(1, int(self.cpus_per_run))
        refs = {task.remote(run, str(study_dir), run_fn, threads): run for run in runs}
        bar = _progress(len(refs), progress)
        try:
            pending = list(refs)
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                run = refs[ready[0]]
                folder = run_dir(study_dir, run.run_id)
                try:
                    status = ray.get(ready[0])
                except Exception as err:  # the worker crashed: record it, carry on
                    status = record_lost_run(folder, f"ray task failed: {type(err).__name__}: {err}")
                bar.update(1)
                yield run, status
        finally:
            bar.close()
