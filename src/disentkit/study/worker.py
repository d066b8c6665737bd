"""The work of one study run, in the process that executes it: train, evaluate, record the outcome.

The executors (:mod:`disentkit.study.executors`) call :func:`execute_run` in a worker process or a
Ray task; :func:`disentkit.study.run_study` calls the executors. This module imports neither, so
the dependencies run one way: runner -> executors -> worker.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from disentkit.io import atomic_path, write_json_atomic
from disentkit.study.locks import RunLock
from disentkit.study.records import (SPEC_FILE, describe_error, read_json, read_status, record_status, run_dir,
                                     write_status)
from disentkit.study.spec import RunSpec
from disentkit.study.store import run_status

RunFunction = Callable[[RunSpec, Path], dict[str, Any]]
#: The report's importance matrix fits at most this many codes (dci's default ``screen``).
IMPORTANCE_SCREEN = 128


def train_and_evaluate(run: RunSpec, folder: Path) -> dict[str, Any]:
    """Train the run (resuming from its last checkpoint) and write ``metrics.json`` and ``matrices.npz``."""
    import numpy as np

    from disentkit import data as datasets
    from disentkit.metrics import evaluate
    from disentkit.study.spec import evaluation_dataset_params
    from disentkit.train import TrainConfig, load_run, train

    config = TrainConfig.from_dict(run.train)
    # resume=True also starts from scratch when there is no checkpoint, and it accepts a folder that
    # a killed attempt left with a config.json but no checkpoint yet
    train(config, folder, resume=True, progress=False)
    representation = load_run(folder)
    ev = run.evaluation
    dataset = datasets.get(config.dataset, **evaluation_dataset_params(ev, run.train))
    results = evaluate(dataset, representation, metrics=ev["metrics"], seed=ev["seed"], preset=ev["preset"],
                       progress=False, **ev["settings"])
    results.update(shifted_results(dataset, representation, run))
    write_json_atomic(folder / "metrics.json", results, sort_keys=True, default=str)
    sizes = [r["settings"]["num_train"] for r in results.values()
             if isinstance(r.get("settings", {}).get("num_train"), int)]
    matrices = score_matrices(dataset, representation, seed=ev["seed"], num_samples=min([5000, *sizes]))
    with atomic_path(folder / "matrices.npz") as tmp:
        np.savez(tmp, **matrices)
    return results


def shifted_results(dataset: Any, representation: Any, run: RunSpec) -> dict[str, Any]:
    """The run's metrics on the data of each evaluation shift (``evaluation.shifts``), as
    ``{"<metric>@<shift>": result}``: the same metrics, seed and settings as the uncorrelated
    evaluation, on :func:`~disentkit.data.batch_samplers.shifted_data` under the shift's
    correlation. Each result's settings record the data: ``evaluation_data`` (the shift's name,
    its correlation parameters and the sampler) and ``factor_correlation`` (the Pearson matrix of
    the factors of the shifted data, measured on 20,000 draws)."""
    import numpy as np

    from disentkit.data.batch_samplers import shifted_data
    from disentkit.data.samplers import pearson_matrix
    from disentkit.metrics import evaluate
    from disentkit.study.spec import check_shifts

    ev = run.evaluation
    out: dict[str, Any] = {}
    for name, correlation in check_shifts(ev.get("shifts", {}), run.train).items():
        data = shifted_data(dataset, correlation, name=f"{dataset.name}@{name}")
        measured = pearson_matrix(data.sample_factors(20000, np.random.default_rng(ev["seed"])))
        record = {"shift": name, "correlation": correlation, "sampler": repr(data.sampler)}
        for metric, result in evaluate(data, representation, metrics=ev["metrics"], seed=ev["seed"],
                                       preset=ev["preset"], progress=False, **ev["settings"]).items():
            result["settings"] = {**result.get("settings", {}), "evaluation_data": record,
                                  "factor_correlation": [[round(float(v), 4) if np.isfinite(v) else None for v in row]
                                                         for row in measured]}
            out[f"{metric}@{name}"] = result
    return out


def preload(metrics: Iterable[str] = ()) -> None:
    """Import what :func:`train_and_evaluate` needs (torch, the trainer, the data, the ``metrics``' modules).

    The local executor calls it once before forking its workers, so each run does not pay the
    imports again (seconds per run).
    """
    import disentkit.metrics as metric_functions
    from disentkit.metrics import METRICS

    for module in ("torch", "torch._dynamo", "disentkit.data", "disentkit.methods", "disentkit.train",
                   "lightgbm"):  # score_matrices fits LightGBM
        importlib.import_module(module)
    exports = ["evaluate", "discrete_mi_matrix", "as_representation", "gbt_importance_matrix", "screened_codes"]
    exports += [METRICS[name].function for name in metrics if name in METRICS]
    for name in exports:
        getattr(metric_functions, name)  # the lazy export imports the metric's module


def score_matrices(dataset: Any, representation: Any, *, seed: int, num_samples: int = 5000) -> dict[str, Any]:
    """The code x factor matrices shown in the report, from ``num_samples`` fresh samples: mutual
    information (20-bin histograms, nats) and DCI importance (LightGBM gain, columns sum to 1).

    Codes wider than :data:`IMPORTANCE_SCREEN` are screened as ``dci(screen=...)`` does: the
    classifiers see only the :data:`IMPORTANCE_SCREEN` codes that
    :func:`~disentkit.metrics.screened_codes` picks by mutual information, and the other codes get
    importance 0. ``importance_codes`` records the indices of the codes fitted (all of them when
    the code is narrower).

    Runs train it with at most 5000 samples, and no more than the evaluation's largest ``num_train``.
    """
    import numpy as np

    from disentkit.metrics import as_representation, discrete_mi_matrix, gbt_importance_matrix, screened_codes

    encode = as_representation(representation)
    factors, images = dataset.sample(num_samples, np.random.default_rng(seed))
    codes = encode(images)
    # 20 bins: the report's matrix is also the one dci's screening ranks codes by (SCREEN_NUM_BINS)
    mi = discrete_mi_matrix(codes, factors, num_bins=20)
    fitted = np.arange(codes.shape[1])
    if codes.shape[1] > IMPORTANCE_SCREEN:
        fitted = screened_codes(codes, factors, IMPORTANCE_SCREEN, mi_matrix=mi)
    # the importances only need a fit; the test split (here the train split) feeds an unused accuracy
    importance, _, _ = gbt_importance_matrix(codes, factors, codes, factors, seed=seed, screen=IMPORTANCE_SCREEN,
                                             mi_matrix=mi)
    return {"mutual_information": mi, "importance": importance, "importance_codes": fitted,
            "factor_names": np.asarray(dataset.factor_names)}


def execute_run(run: RunSpec, study_dir: str | Path, run_fn: RunFunction | None = None,
                num_threads: int | None = None) -> dict[str, Any]:
    """Run one study run in this process and record its outcome; never raises for a failing run.

    The process first takes the run's lock (:class:`~disentkit.study.locks.RunLock`), and holds it
    until the outcome is recorded. A run that another live process holds is left alone: the status
    returned is the one on disk with ``held_by`` (the holder's pid, host and start time). A run that
    is found done once the lock is taken (another process finished it meanwhile) is not run again:
    its status is returned with ``already_done``.

    The run's folder gets ``run_spec.json`` and a ``status.json`` that moves running -> done | failed
    (with the error and traceback). A status that cannot be written (a full or read-only disk) is
    returned with ``status_error`` instead (:func:`~disentkit.study.records.record_status`); a
    failure to write anything else fails the run with the error, the disk's state and the path
    (:func:`~disentkit.study.records.describe_error`). ``num_threads`` sets torch's CPU threads for
    the run, unless the run's own config fixes them (``train.num_threads``), which then holds for its
    evaluation too, so a run's numbers do not depend on the executor that ran it.
    """
    folder = run_dir(Path(study_dir), run.run_id)
    lock = RunLock(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        acquired = lock.acquire()
    except OSError as err:  # no lock, so not ours to record: the executor reports it
        error = describe_error(err, folder)
        return {"state": "failed", "error": error, "status_error": f"the run was not started: {error}"}
    if not acquired:
        return {**read_status(folder), "held_by": lock.holder or {}}
    try:
        return _execute_locked(run, folder, run_fn, num_threads, lock.previous)
    finally:
        lock.release()


def _execute_locked(run: RunSpec, folder: Path, run_fn: RunFunction | None, num_threads: int | None,
                    previous: dict[str, Any] | None) -> dict[str, Any]:
    status = run_status(folder)
    if status["state"] == "done":
        return {**status, "already_done": True}
    start = time.time()
    try:
        if read_json(folder / SPEC_FILE) is None:
            write_json_atomic(folder / SPEC_FILE, {"run_id": run.run_id, **run.config}, sort_keys=True, default=str)
        num_threads = run.train.get("num_threads") or num_threads
        if num_threads:
            import torch

            torch.set_num_threads(num_threads)
        # a dead holder's lock, taken over, is named in the record (its pid, host and start)
        write_status(folder, "running", started=start, pid=os.getpid(), took_over=previous)
        (run_fn or train_and_evaluate)(run, folder)
        return write_status(folder, "done", seconds=time.time() - start, finished=time.time())
    except BaseException as err:  # record every failure, including KeyboardInterrupt in a worker
        status = record_status(folder, "failed", error=describe_error(err, folder),
                               traceback=traceback.format_exc(), seconds=time.time() - start, pid=os.getpid())
        if not isinstance(err, Exception):
            raise
        return status
