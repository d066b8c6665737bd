"""Executing a whole study: plan, skip finished runs, execute the rest, store, report.

The work of one run lives in :mod:`disentkit.study.worker`; the executors run it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from disentkit.io import write_json_atomic
from disentkit.study.executors import make_executor
from disentkit.study.records import read_status, run_dir
from disentkit.study.spec import RunSpec, StudySpec
from disentkit.study.store import write_store
from disentkit.study.worker import RunFunction, execute_run, preload, score_matrices, train_and_evaluate

# the per-run functions lived here before disentkit.study.worker; importable from here still
__all__ = ["RunFunction", "StudyResult", "execute_run", "pending_runs", "preload", "run_study", "score_matrices",
           "train_and_evaluate"]


@dataclass
class StudyResult:
    """What :func:`run_study` did."""

    study_dir: Path
    planned: int
    skipped: int
    executed: int
    failed: list[str]
    report: Path | None
    seconds: float


def pending_runs(runs: Iterable[RunSpec], study_dir: Path) -> tuple[list[RunSpec], int]:
    """Runs that are not done (missing, failed, or left running by a killed worker), and the done count."""
    todo, done = [], 0
    for run in runs:
        if read_status(run_dir(study_dir, run.run_id))["state"] == "done":
            done += 1
        else:
            todo.append(run)
    return todo, done


def run_study(study: StudySpec | str | Path, out: str | Path, *, only: Iterable[str] = (), executor: str = "local",
              workers: int = 1, address: str | None = None, cpus_per_run: float = 1, gpus_per_run: float = 0,
              report: bool = True, progress: bool = True, run_fn: RunFunction | None = None) -> StudyResult:
    """Plan a study, skip finished runs, execute the rest, update ``results.duckdb`` and write the report.

    Failing runs are recorded with their error and never stop the others; rerunning retries them.
    """
    start = time.time()
    spec = study if isinstance(study, StudySpec) else StudySpec.load(study)
    runs = spec.runs(only)  # validates everything before any work
    study_dir = Path(out)
    study_dir.mkdir(parents=True, exist_ok=True)
    planned = runs if not only else spec.runs()
    write_json_atomic(study_dir / "study.json", {"name": spec.name, "description": spec.description,
                                                 "runs": [r.run_id for r in planned]}, sort_keys=True, default=str)
    todo, done = pending_runs(runs, study_dir)
    failed: list[str] = []
    if todo:
        runner = make_executor(executor, workers=workers, address=address, cpus_per_run=cpus_per_run,
                               gpus_per_run=gpus_per_run)
        for run, status in runner.map(todo, study_dir, run_fn=run_fn, progress=progress):
            if status["state"] != "done":
                failed.append(run.run_id)
    write_store(study_dir)
    report_path = None
    if report:
        from disentkit.study.report import write_report

        report_path = write_report(study_dir)
    return StudyResult(study_dir, len(runs), done, len(todo), failed, report_path, time.time() - start)
