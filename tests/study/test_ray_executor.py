"""The Ray executor on a local Ray instance gives the same runs and numbers as the local executor."""

from __future__ import annotations

import json
import os
import signal

import pytest

from disentkit.study import StudySpec, load, run_study, status_counts
from disentkit.study.worker import train_and_evaluate

ray = pytest.importorskip("ray", reason="the Ray executor needs ray (pip install 'disentkit[ray]')")


@pytest.fixture
def local_ray():
    """A two-CPU local Ray instance, shut down after the test."""
    if ray.is_initialized():  # pragma: no cover - left over by another test
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def _scores(folder, run_id) -> dict:
    metrics = json.loads((folder / "runs" / run_id / "metrics.json").read_text())
    return {m: (v["values"], v["settings"]) for m, v in metrics.items()}


def _kill_one(target: str):
    """A run function that trains and evaluates every run but ``target``, whose worker SIGKILLs itself.

    Built inside a function so that Ray pickles it by value (workers cannot import test modules)."""
    def run_fn(run, folder):
        if run.run_id == target:
            os.kill(os.getpid(), signal.SIGKILL)
        return train_and_evaluate(run, folder)
    return run_fn


def test_ray_and_local_executors_agree(tmp_path, finished_study, local_ray):
    path, local, _ = finished_study
    only = ["method=beta_vae"]  # four of the five runs
    planned = [r.run_id for r in StudySpec.load(path).runs(only=only)]
    killed = StudySpec.load(path).runs(only=["method=beta_vae", "seed=1", "beta=1"])[0].run_id
    result = run_study(path, tmp_path, executor="ray", only=only, report=False, progress=False,
                       run_fn=_kill_one(killed))
    assert (result.planned, result.executed, result.failed) == (4, 4, [killed])
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == sorted(planned)  # the same run ids
    # a crashed Ray worker fails only its own run, with the reason
    error = json.loads((tmp_path / "runs" / killed / "status.json").read_text())["error"]
    assert error.startswith("ray task failed: ") and "died" in error.lower(), error
    for run_id in planned:
        if run_id != killed:  # the same numbers as the local executor, bit for bit
            assert _scores(tmp_path, run_id) == _scores(local, run_id)
            status = json.loads((tmp_path / "runs" / run_id / "status.json").read_text())
            assert status["state"] == "done" and status["pid"] != os.getpid()  # ran in a Ray worker

    # a second pass submits only the failed run, which now completes
    again = run_study(path, tmp_path, executor="ray", only=only, report=False, progress=False)
    assert (again.skipped, again.executed, again.failed) == (3, 1, [])
    assert _scores(tmp_path, killed) == _scores(local, killed)
    assert status_counts(tmp_path) == {"pending": 1, "running": 0, "done": 4, "failed": 0}  # beta_tc_vae left
    frame, reference = load(tmp_path).set_index("run_id"), load(local).set_index("run_id")
    assert (frame.loc[planned, "mig.discrete_mig"] == reference.loc[planned, "mig.discrete_mig"]).all()
