"""Executors: where the runs of a study execute.

- ``local`` (default): each run in its own forked worker process, ``workers`` at a time, one torch
  thread per worker unless a single worker gets every core. A worker that dies (killed, out of
  memory) fails only its own run.
- ``ray``: each run is a Ray task with the given CPU/GPU resources, on a running cluster
  (``address``) or a local Ray instance. Runs write to the study folder, which must be on a file
  system shared by the workers.

Both yield ``(run, status)`` as runs finish; the results are the same whichever executor ran them.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Iterator, Sequence

from disentkit.study.records import read_status, run_dir, write_status
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
        active: dict[Any, tuple[RunSpec, Any]] = {}
        bar = _progress(len(queue), progress)
        try:
            while queue or active:
                while queue and len(active) < self.workers:
                    run = queue.pop(0)
                    proc = context.Process(target=execute_run, args=(run, study_dir, run_fn, threads),
                                           name=f"disentkit-run-{run.run_id}", daemon=False)
                    proc.start()
                    active[proc.sentinel] = (run, proc)
                for sentinel in wait(list(active)):
                    run, proc = active.pop(sentinel)
                    proc.join()
                    folder = run_dir(study_dir, run.run_id)
                    status = read_status(folder)
                    if status["state"] not in ("done", "failed"):  # the worker died without a record
                        status = write_status(folder, "failed", error=_describe_exit(proc.exitcode))
                    bar.update(1)
                    yield run, status
        finally:
            for run, proc in active.values():  # interrupted: stop the workers we started
                proc.terminate()
                proc.join()
                write_status(run_dir(study_dir, run.run_id), "failed", error="the study was interrupted")
            bar.close()


def _ray_task(run: RunSpec, study_dir: str, run_fn, num_threads: int) -> dict[str, Any]:
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
                    status = write_status(folder, "failed", error=f"ray task failed: {type(err).__name__}: {err}")
                bar.update(1)
                yield run, status
        finally:
            bar.close()
