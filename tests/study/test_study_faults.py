"""Faults in a study: a bad value found at run time, a NaN loss, a killed worker, a kill while storing."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from disentkit.io import write_json_atomic
from disentkit.study import StudySpec, load, run_study, status_counts, write_store
from disentkit.study.records import SPEC_FILE
from disentkit.study.worker import train_and_evaluate

FAULT_GRID = {"chain": [
    # healthy: two runs that the shared tiny study also has
    {"product": [{"fixed": {"method": "beta_vae", "method_params.beta": 1}}, {"sweep": {"seed": [0, 1]}}]},
    # (a) passes planning (the dataset name is valid), fails when the run builds its dataset
    {"fixed": {"method": "beta_vae", "dataset": "xysquares", "dataset_params.grid_spacing": 0}},
    # (b) an absurd learning rate: the loss is NaN after the first update
    {"fixed": {"method": "beta_vae", "method_params.lr": 1.0e20}},
    # (c) killed after 5 of its 6 steps (by the run function below); the tiny study has it too
    {"fixed": {"method": "beta_vae", "method_params.beta": 4, "seed": 0}},
]}


def _killed_after_five_steps(target: str):
    """A run function that trains ``target`` for 5 steps (one checkpoint), then SIGKILLs its worker."""
    def run_fn(run, folder):
        if run.run_id == target:
            from disentkit.train import TrainConfig, train

            train(TrainConfig.from_dict(run.train).replace(steps=5), folder, progress=False)
            os.kill(os.getpid(), signal.SIGKILL)
        return train_and_evaluate(run, folder)
    return run_fn


def _status(folder: Path, run_id: str) -> dict:
    return json.loads((folder / "runs" / run_id / "status.json").read_text())


def _scores(folder: Path, run_id: str) -> dict:
    metrics = json.loads((folder / "runs" / run_id / "metrics.json").read_text())
    return {m: (v["values"], v["settings"]) for m, v in metrics.items()}


def test_faults_are_recorded_and_a_rerun_completes_only_what_is_missing(tmp_path, tiny_study, study_writer,
                                                                       finished_study):
    path = study_writer(tmp_path, tiny_study(name="faults", grid=FAULT_GRID))
    healthy0, healthy1, bad_value, nan, killed = (r.run_id for r in StudySpec.load(path).runs())
    out = tmp_path / "study"

    result = run_study(path, out, workers=2, progress=False, run_fn=_killed_after_five_steps(killed))
    assert (result.planned, result.executed) == (5, 5)
    assert sorted(result.failed) == sorted([bad_value, nan, killed])
    assert status_counts(out) == {"pending": 0, "running": 0, "done": 2, "failed": 3}
    errors = {run_id: _status(out, run_id)["error"] for run_id in (bad_value, nan, killed)}
    assert errors[bad_value].startswith("ValueError: grid_spacing must be") and errors[bad_value].endswith("got 0")
    assert errors[nan].startswith("NonFiniteLossError: the loss is not finite at step 1 ")
    assert errors[killed] == "the worker was killed by SIGKILL"
    assert "Traceback" in _status(out, nan)["traceback"]
    con = duckdb.connect(str(out / "results.duckdb"), read_only=True)
    try:
        rows = dict(con.execute("SELECT run_id, state || ': ' || coalesce(error, '') FROM runs").fetchall())
    finally:
        con.close()
    assert rows == {healthy0: "done: ", healthy1: "done: ", **{k: f"failed: {v}" for k, v in errors.items()}}
    report = (out / "report.html").read_text()
    assert "grid_spacing must be an int" in report and "killed by SIGKILL" in report

    # rerun with the killer gone: only the three failed runs execute; the killed one resumes from its
    # step-5 checkpoint and ends bit-identical to the uninterrupted run of the shared tiny study
    stamps = {r: (out / "runs" / r / "status.json").stat().st_mtime_ns for r in (healthy0, healthy1)}
    result = run_study(path, out, workers=2, progress=False, report=False)
    assert (result.skipped, result.executed, sorted(result.failed)) == (2, 3, sorted([bad_value, nan]))
    assert {r: (out / "runs" / r / "status.json").stat().st_mtime_ns for r in stamps} == stamps
    assert _status(out, killed)["state"] == "done"
    log = [json.loads(line) for line in (out / "runs" / killed / "train_log.jsonl").read_text().splitlines()]
    assert [r["event"] for r in log if "event" in r] == ["start", "end", "resume", "end"]
    assert [r["step"] for r in log if "event" not in r] == [2, 4, 5, 6]
    _, shared, _ = finished_study
    assert _scores(out, killed) == _scores(shared, killed)
    assert _scores(out, healthy0) == _scores(shared, healthy0)
    assert {r: _status(out, r)["error"] for r in (bad_value, nan)} == {r: errors[r] for r in (bad_value, nan)}

    # and once more: the two config faults are all that is left
    result = run_study(path, out, workers=1, progress=False, report=False)
    assert (result.skipped, result.executed, len(result.failed)) == (3, 2, 2)
    frame = load(out).set_index("run_id")
    assert frame.loc[killed, "state"] == "done" and frame.loc[nan, "state"] == "failed"
    assert frame.loc[killed, "mig.discrete_mig"] == _scores(shared, killed)["mig"][0]["discrete_mig"]


def test_a_worker_that_exits_without_a_record_fails_only_its_run(tmp_path, tiny_study):
    def run_fn(run, folder):
        if run.flat()["seed"] == 1:
            os._exit(3)  # no status written, no exception: the executor records the exit code
        (folder / "metrics.json").write_text("{}")

    study = tiny_study(name="exits", grid={"sweep": {"seed": [0, 1, 2]}}, method="beta_vae")
    result = run_study(StudySpec.from_dict(study), tmp_path, workers=2, progress=False, report=False, run_fn=run_fn)
    assert (result.executed, len(result.failed)) == (3, 1)
    assert _status(tmp_path, result.failed[0])["error"] == "the worker exited with code 3 before recording a result"
    assert status_counts(tmp_path) == {"pending": 0, "running": 0, "done": 2, "failed": 1}


# -- a kill while the store is written ------------------------------------------------------------

def _fake_runs(study_dir: Path, first: int, count: int, template: dict) -> None:
    """``count`` finished run folders with metrics and a 40-record training log (no training)."""
    for i in range(first, first + count):
        run_id = f"{i:012x}"
        folder = study_dir / "runs" / run_id
        train = {**template["train"], "seed": i}
        write_json_atomic(folder / SPEC_FILE, {"run_id": run_id, "train": train, "evaluation": template["evaluation"]})
        write_json_atomic(folder / "status.json", {"state": "done", "seconds": 1.0 + i})
        write_json_atomic(folder / "metrics.json", {"mig": {"values": {"discrete_mig": i / 1000}},
                                                    "sap": {"values": {"SAP_score": 1 - i / 1000}}})
        (folder / "train_log.jsonl").write_text("".join(
            json.dumps({"step": s, "loss": 100.0 / s, "kl": 0.1 * s}) + "\n" for s in range(1, 41)))


def _stored(study_dir: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(study_dir / "results.duckdb"), read_only=True)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "metrics", "curves"))
    finally:
        con.close()


_CHILD = """
import sys, time
import duckdb
from disentkit.study import write_store
if sys.argv[2] == "pause":  # stop after the first table is in the temporary database
    real = duckdb.connect
    class Slow:
        def __init__(self, con): self.con = con
        def __getattr__(self, name): return getattr(self.con, name)
        def execute(self, sql, *args):
            out = self.con.execute(sql, *args)
            if sql.startswith("CREATE TABLE"):
                print("table written", flush=True)
                time.sleep(60)
            return out
    duckdb.connect = lambda *a, **k: Slow(real(*a, **k))
print("start", flush=True)
write_store(sys.argv[1])
print("done", flush=True)
"""


def _child(study_dir: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(study_dir), mode], stdout=subprocess.PIPE, text=True)


def test_a_kill_while_writing_the_store_keeps_the_previous_database(tmp_path, finished_study):
    _, shared, _ = finished_study
    template = json.loads(next((shared / "runs").glob(f"*/{SPEC_FILE}")).read_text())
    _fake_runs(tmp_path, 0, 150, template)
    start = time.perf_counter()
    write_store(tmp_path)
    write_seconds = time.perf_counter() - start
    old = _stored(tmp_path)
    assert old == (150, 300, 150 * 40 * 2)
    _fake_runs(tmp_path, 150, 50, template)  # the next write would store 200 runs
    new = (200, 400, 200 * 40 * 2)

    # a kill in the middle of the write, for certain
    child = _child(tmp_path, "pause")
    assert child.stdout.readline() == "start\n"
    assert child.stdout.readline() == "table written\n"
    assert list(tmp_path.glob(".results.*.tmp.duckdb"))  # the new database is being written aside
    child.send_signal(signal.SIGKILL)
    assert child.wait() == -signal.SIGKILL
    assert _stored(tmp_path) == old
    assert len(load(tmp_path)) == 150

    # kills at random moments of the write: the database is always the old or the new one
    rng = random.Random(0)
    for _ in range(4):
        child = _child(tmp_path, "run")
        assert child.stdout.readline() == "start\n"
        time.sleep(rng.uniform(0.0, 1.5 * write_seconds))
        child.send_signal(signal.SIGKILL)
        child.wait()
        stored = _stored(tmp_path)
        assert stored in (old, new)
    write_store(tmp_path)  # a later write succeeds whatever was left behind
    assert _stored(tmp_path) == new
    assert len(load(tmp_path)) == 200
