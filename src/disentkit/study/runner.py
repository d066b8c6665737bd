"""Executing a whole study: plan, skip finished runs, execute the rest, store, report.

The work of one run lives in :mod:`disentkit.study.worker`; the executors run it.

Several ``study run`` processes may share a study folder: each run is trained by the one process
that holds its lock (:mod:`disentkit.study.locks`), the others leave it (:attr:`StudyResult.held`),
and the database and report are written by one process at a time. A disk that fills up or turns
read-only fails the runs that cannot write (their error names the disk problem and the path) and
the study steps that cannot write (:attr:`StudyResult.problems`); it never stops the main process.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from disentkit.io import write_json_atomic
from disentkit.study.executors import make_executor
from disentkit.study.locks import describe_holder, study_lock
from disentkit.study.records import describe_error, run_dir
from disentkit.study.spec import RunSpec, StudySpec
from disentkit.study.store import run_status, write_store
from disentkit.study.worker import RunFunction, execute_run, preload, score_matrices, train_and_evaluate

# the per-run functions lived here before disentkit.study.worker; importable from here still
__all__ = ["RunFunction", "StudyResult", "execute_run", "pending_runs", "preload", "run_study", "score_matrices",
           "train_and_evaluate"]


@dataclass
class StudyResult:
    """What :func:`run_study` did.

    ``skipped``: runs found done (before or after taking their lock); ``executed``: runs this process
    trained, successfully or not; ``failed``: their ids whose outcome is not done, with the error of
    each in ``errors`` (it includes ``status_error``, why ``status.json`` could not be written, when it
    could not); ``held``: runs left to the live process that holds them, with who holds each in
    ``holders``; ``problems``: one line per study step that could not be done (``study.json``,
    ``results.duckdb``, ``report.html``), each naming the file and the error.
    """

    study_dir: Path
    planned: int
    skipped: int
    executed: int
    failed: list[str]
    report: Path | None
    seconds: float
    held: list[str] = field(default_factory=list)
    holders: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def pending_runs(runs: Iterable[RunSpec], study_dir: Path) -> tuple[list[RunSpec], int]:
    """Runs that are not done (missing, failed, or left running by a killed worker), and the done count."""
    todo, done = [], 0
    for run in runs:
        if run_status(run_dir(study_dir, run.run_id))["state"] == "done":
            done += 1
        else:
            todo.append(run)
    return todo, done


def _run_error(status: dict[str, Any]) -> str:
    error = str(status.get("error") or f"the run ended {status['state']!r}")
    return f"{error}; {status['status_error']}" if status.get("status_error") else error


def _step_errors() -> tuple[type[BaseException], ...]:
    import duckdb

    return OSError, ValueError, duckdb.Error


def _study_step(problems: list[str], what: str, step: Callable[[], Any]) -> Any:
    """Run one study step; a failure (a full disk, a database error) becomes a line of ``problems``."""
    try:
        return step()
    except _step_errors() as err:  # evaluated only when the step raised
        line = f"could not write {what}: {describe_error(err, Path(what).parent)}"
        problems.append(line)
        warnings.warn(line, RuntimeWarning, stacklevel=3)
        return None


def run_study(study: StudySpec | str | Path, out: str | Path, *, only: Iterable[str] = (), executor: str = "local",
              workers: int = 1, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
              report: bool = True, progress: bool = True, run_fn: RunFunction | None = None) -> StudyResult:
    """Plan a study, skip finished runs, execute the rest, update ``results.duckdb`` and write the report.

    Failing runs are recorded with their error and never stop the others; rerunning retries them.
    Runs that another live process holds are left to it (``held``); a full disk fails runs and study
    steps, never the call (see :class:`StudyResult`). Raises ``ValueError`` up front for a bad study
    and for a study folder that cannot be created.
    """
    start = time.time()
    spec = study if isinstance(study, StudySpec) else StudySpec.load(study)
    runs = spec.runs(only)  # validates everything before any work
    study_dir = Path(out)
    try:
        study_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create the study folder {study_dir}: {err.strerror or err}") from None
    if not study_dir.is_dir():
        raise ValueError(f"the study folder {study_dir} is not a folder")
    planned = runs if not only else spec.runs()
    problems: list[str] = []
    _study_step(problems, str(study_dir / "study.json"), lambda: write_json_atomic(
        study_dir / "study.json", {"name": spec.name, "description": spec.description, "finding": spec.finding,
                                   "runs": [r.run_id for r in planned]}, sort_keys=True, default=str))
    todo, done = pending_runs(runs, study_dir)
    failed: list[str] = []
    held: dict[str, str] = {}
    errors: dict[str, str] = {}
    executed = 0
    if todo:
        runner = make_executor(executor, workers=workers, address=address, cpus_per_run=cpus_per_run,
                               gpus_per_run=gpus_per_run)
        for run, status in runner.map(todo, study_dir, run_fn=run_fn, progress=progress):
            if status["state"] == "done" and ("held_by" in status or status.get("already_done")):
                done += 1  # finished by another process
            elif "held_by" in status:
                held[run.run_id] = describe_holder(status["held_by"])
            else:
                executed += 1
                if status["state"] != "done" or status.get("status_error"):
                    failed.append(run.run_id)
                    errors[run.run_id] = _run_error(status)
    report_path = None
    with study_lock(study_dir):  # one writer of the database and report at a time
        from disentkit.study.store import STORE_NAME

        stored = _study_step(problems, str(study_dir / STORE_NAME), lambda: write_store(study_dir))
        if report and stored is not None:
            from disentkit.study.report import write_report

            report_path = _study_step(problems, str(study_dir / "report.html"), lambda: write_report(study_dir))
    return StudyResult(study_dir, len(runs), done, executed, failed, report_path, time.time() - start,
                       held=list(held), holders=held, errors=errors, problems=problems)
