"""Executing one run (train, then evaluate) and a whole study (plan, skip, execute, store, report)."""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from disentkit.study.records import SPEC_FILE, read_json, read_status, run_dir, write_json_atomic, write_status
from disentkit.study.spec import RunSpec, StudySpec

RunFunction = Callable[[RunSpec, Path], dict[str, Any]]


def train_and_evaluate(run: RunSpec, folder: Path) -> dict[str, Any]:
    """Train the run (resuming from its last checkpoint) and write ``metrics.json`` and ``matrices.npz``."""
    import numpy as np

    from disentkit import data as datasets
    from disentkit.metrics import evaluate
    from disentkit.train import TrainConfig, load_run, train

    config = TrainConfig.from_dict(run.train)
    # resume=True also starts from scratch when there is no checkpoint, and it accepts a folder that
    # a killed attempt left with a config.json but no checkpoint yet
    train(config, folder, resume=True, progress=False)
    representation = load_run(folder)
    dataset = datasets.get(config.dataset, **config.dataset_params)
    ev = run.evaluation
    results = evaluate(dataset, representation, metrics=ev["metrics"], seed=ev["seed"], preset=ev["preset"],
                       progress=False, **ev["settings"])
    write_json_atomic(folder / "metrics.json", results)
    sizes = [r["settings"]["num_train"] for r in results.values()
             if isinstance(r.get("settings", {}).get("num_train"), int)]
    matrices = score_matrices(dataset, representation, seed=ev["seed"], num_samples=min([5000, *sizes]))
    tmp = folder / ".matrices.tmp.npz"
    np.savez(tmp, **matrices)
    os.replace(tmp, folder / "matrices.npz")
    return results


def preload(metrics: Iterable[str] = ()) -> None:
    """Import what :func:`train_and_evaluate` needs (torch, the trainer, the data, the ``metrics``' modules).

    The local executor calls it once before forking its workers, so each run does not pay the
    imports again (seconds per run).
    """
    import importlib

    import disentkit.metrics as metric_functions
    from disentkit.metrics import METRICS

    for module in ("torch", "torch._dynamo", "disentkit.data", "disentkit.methods", "disentkit.train",
                   "disentkit.metrics._evaluate", "disentkit.metrics._common", "disentkit.metrics._dci",
                   "lightgbm"):  # score_matrices fits LightGBM
        importlib.import_module(module)
    for name in metrics:
        if name in METRICS:
            getattr(metric_functions, METRICS[name].function)


def score_matrices(dataset, representation, *, seed: int, num_samples: int = 5000) -> dict[str, Any]:
    """The code x factor matrices shown in the report, from ``num_samples`` fresh samples: mutual
    information (20-bin histograms, nats) and DCI importance (LightGBM gain, columns sum to 1).

    Runs train it with at most 5000 samples, and no more than the evaluation's largest ``num_train``.
    """
    import numpy as np

    from disentkit.metrics._common import histogram_discretize, mutual_information_matrix
    from disentkit.metrics._dci import gbt_importance_matrix
    from disentkit.metrics._representation import as_representation

    encode = as_representation(representation)
    factors, images = dataset.sample(num_samples, np.random.default_rng(seed))
    codes = encode(images)
    # the importances only need a fit; the test split (here the train split) feeds an unused accuracy
    importance, _, _ = gbt_importance_matrix(codes, factors, codes, factors, seed=seed)
    return {"mutual_information": mutual_information_matrix(histogram_discretize(codes), factors),
            "importance": importance, "factor_names": np.asarray(dataset.factor_names)}


def execute_run(run: RunSpec, study_dir: str | Path, run_fn: RunFunction | None = None,
                num_threads: int | None = None) -> dict[str, Any]:
    """Run one study run in this process and record its outcome; never raises for a failing run.

    The run's folder gets ``run_spec.json`` and a ``status.json`` that moves running -> done | failed
    (with the error and traceback). ``num_threads`` sets torch's CPU threads for the run, unless the
    run's own config fixes them (``train.num_threads``), which then holds for its evaluation too, so
    a run's numbers do not depend on the executor that ran it.
    """
    folder = run_dir(Path(study_dir), run.run_id)
    folder.mkdir(parents=True, exist_ok=True)
    if read_json(folder / SPEC_FILE) is None:
        write_json_atomic(folder / SPEC_FILE, {"run_id": run.run_id, **run.config})
    num_threads = run.train.get("num_threads") or num_threads
    if num_threads:
        import torch

        torch.set_num_threads(num_threads)
    start = time.time()
    write_status(folder, "running", started=start, pid=os.getpid())
    try:
        (run_fn or train_and_evaluate)(run, folder)
    except BaseException as err:  # record every failure, including KeyboardInterrupt in a worker
        write_status(folder, "failed", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(),
                     seconds=time.time() - start)
        if not isinstance(err, Exception):
            raise
        return read_status(folder)
    return write_status(folder, "done", seconds=time.time() - start, finished=time.time())


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
    from disentkit.study.executors import make_executor
    from disentkit.study.store import write_store

    start = time.time()
    spec = study if isinstance(study, StudySpec) else StudySpec.load(study)
    runs = spec.runs(only)  # validates everything before any work
    study_dir = Path(out)
    study_dir.mkdir(parents=True, exist_ok=True)
    planned = runs if not only else spec.runs()
    write_json_atomic(study_dir / "study.json", {"name": spec.name, "description": spec.description,
                                                 "runs": [r.run_id for r in planned]})
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
