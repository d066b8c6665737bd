"""One trainer per run: two ``study run`` processes on one folder, a rerun after the main process was
killed while its worker lives on, stale locks, locks from another host (issue 9, item 3)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from disentkit.study import StudySpec, run_study, status_counts
from disentkit.study.executors import _ray_task
from disentkit.study.locks import LOCK_FILE, STALE_SECONDS, RunLock
from disentkit.study.records import read_status, run_dir

STEPS = 6  # log_every 2: three step records per run

def _train_only(run, folder):
    """The real trainer; the scoring (LightGBM matrices, seconds per run) is a one-line metrics.json."""
    from disentkit.train import TrainConfig, train

    train(TrainConfig.from_dict(run.train), folder, resume=True, progress=False)
    (folder / "metrics.json").write_text(json.dumps({"none": {"values": {}}}))


def _study_run_command(argv: list[str], go, log: Path) -> None:
    """A forked process that runs the `disentkit study run` command line once ``go`` is set (both
    processes have started by then, so they race from the first run); its output goes to ``log``."""
    import contextlib

    import disentkit.study.executors as executors
    import disentkit.study.worker as worker
    from disentkit.cli import main

    worker.train_and_evaluate = _train_only  # in this child only
    executors.preload = lambda *a, **k: None
    go.wait()
    with open(log, "w") as out, contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(argv)
    sys.exit(code)


def _four_runs(tiny_study, name: str, **train) -> dict:
    return tiny_study(name=name, grid={"product": [{"fixed": {"method": "beta_vae"}},
                                                   {"sweep": {"seed": [0, 1, 2, 3]}}]}, **train)


def _log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


def test_two_study_run_processes_on_one_folder_train_each_run_once(tmp_path, tiny_study, study_writer):
    """Two `study run` commands started together on one folder: every run is trained by one of them,
    once (one start and one end in its log, each step once, in the log and in results.duckdb)."""
    path = study_writer(tmp_path, _four_runs(tiny_study, "shared", steps=STEPS, checkpoint_every=5))
    out = tmp_path / "study"
    context = multiprocessing.get_context("fork")
    go = context.Event()
    logs = [tmp_path / f"run{i}.log" for i in range(2)]
    children = [context.Process(target=_study_run_command, args=(
        ["study", "run", str(path), "--out", str(out), "--no-report"], go, log)) for log in logs]
    for child in children:
        child.start()
    go.set()
    for child in children:
        child.join(120)
    outputs = [log.read_text() for log in logs]
    for child, text in zip(children, outputs):
        assert child.exitcode == 0, text
        assert "Traceback" not in text
    counts = [re.search(r"4 run\(s\), (\d+) already done, (\d+) executed, 0 failed", text) for text in outputs]
    assert all(counts), outputs
    executed = [int(c.group(2)) for c in counts]
    assert sum(executed) == 4 and min(executed) >= 1, outputs  # the work was shared, each run once

    runs = [r.run_id for r in StudySpec.load(path).runs()]
    assert status_counts(out) == {"pending": 0, "running": 0, "done": 4, "failed": 0}
    for run_id in runs:
        folder = run_dir(out, run_id)
        log = _log(folder)
        assert [r["event"] for r in log if "event" in r] == ["start", "end"]  # trained once, never resumed
        assert [r["step"] for r in log if "event" not in r] == list(range(2, STEPS + 1, 2))
        assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == [f"step_{STEPS:08d}"]
        assert (folder / LOCK_FILE).read_text() == ""  # released
    con = duckdb.connect(str(out / "results.duckdb"), read_only=True)
    try:
        # the loss of every logged step, once; events (start, end) are no curve rows
        curves = con.execute("SELECT run_id, count(DISTINCT step), count(*) FROM curves WHERE term = 'loss' "
                             "GROUP BY run_id").fetchall()
        duplicates = con.execute("SELECT count(*) FROM (SELECT run_id, step, term FROM curves "
                                 "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
        states = dict(con.execute("SELECT run_id, state FROM runs").fetchall())
    finally:
        con.close()
    assert duplicates == 0
    assert sorted(r for r, _, _ in curves) == sorted(runs)
    assert {(steps, rows) for _, steps, rows in curves} == {(STEPS // 2, STEPS // 2)}
    assert states == dict.fromkeys(runs, "done")


# -- a rerun after the main process was killed, its worker still training --------------------------

def _wait_for(predicate, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _fake_run(calls: Path, hold: tuple[str, Path, Path] | None = None):
    """A run function that appends ``run_id pid`` to ``calls`` and writes a metrics.json; for the
    run ``hold = (run_id, started_marker, release_file)`` it marks that it started, then waits for
    the release file."""
    def run_fn(run, folder):
        with open(calls, "a") as f:
            f.write(f"{run.run_id} {os.getpid()}\n")
        if hold and run.run_id == hold[0]:
            hold[1].touch()
            while not hold[2].exists():
                time.sleep(0.01)
        (folder / "metrics.json").write_text("{}")
    return run_fn


def _calls(calls: Path) -> list[str]:
    return [line.split()[0] for line in calls.read_text().splitlines()] if calls.exists() else []


def test_a_rerun_leaves_a_run_that_a_live_worker_of_a_killed_study_holds(tmp_path, tiny_study):
    spec = StudySpec.from_dict(tiny_study(name="orphan", grid={"sweep": {"seed": [0, 1]}}, method="beta_vae"))
    held, other = (r.run_id for r in spec.runs())
    out, started, release = tmp_path / "study", tmp_path / "started", tmp_path / "release"
    first_calls, second_calls = tmp_path / "first.txt", tmp_path / "second.txt"
    main = multiprocessing.get_context("fork").Process(
        target=run_study, args=(spec, out),
        kwargs={"report": False, "progress": False, "run_fn": _fake_run(first_calls, (held, started, release))})
    main.start()
    worker_pid = None
    try:
        _wait_for(started.exists)
        main.kill()  # kill -9 of `study run`; its worker lives on, training `held`
        main.join()
        status = read_status(run_dir(out, held))
        worker_pid = status["pid"]
        assert status["state"] == "running" and worker_pid != main.pid
        os.kill(worker_pid, 0)  # alive

        result = run_study(spec, out, report=False, progress=False, run_fn=_fake_run(second_calls))
        assert result.held == [held] and result.failed == [] and result.executed == 1
        assert f"pid {worker_pid} on host {socket.gethostname()}" in result.holders[held]
        assert _calls(second_calls) == [other]  # the held run was not started again
        assert read_status(run_dir(out, held)) == status  # nor its record touched

        release.touch()  # the orphaned worker finishes and records its run
        _wait_for(lambda: read_status(run_dir(out, held))["state"] == "done")
        _wait_for(lambda: RunLock(run_dir(out, held), heartbeat=None).acquire())
        assert _calls(first_calls) == [held]
        again = run_study(spec, out, report=False, progress=False, run_fn=_fake_run(second_calls))
        assert (again.skipped, again.executed, again.held) == (2, 0, [])
    finally:
        release.touch()
        if worker_pid:
            try:
                os.kill(worker_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# -- stale locks and locks of another host ----------------------------------------------------------

def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def _leave_lock(folder: Path, record: dict, age: float = 0.0) -> None:
    """A lock file with ``record`` (nobody holds its flock) and a running status, as a kill -9 leaves them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / LOCK_FILE).write_text(json.dumps(record))
    (folder / "status.json").write_text(json.dumps({"state": "running", "pid": record["pid"],
                                                    "host": record["host"], "started": record["started"]}))
    if age:
        stamp = time.time() - age
        os.utime(folder / LOCK_FILE, (stamp, stamp))


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, tiny_study):
    spec = StudySpec.from_dict(tiny_study(name="stale", grid={"sweep": {"seed": [0]}}, method="beta_vae"))
    (run,) = spec.runs()
    folder = run_dir(tmp_path, run.run_id)
    dead = {"pid": _dead_pid(), "host": socket.gethostname(), "started": time.time() - 5}
    _leave_lock(folder, dead)
    calls = tmp_path / "calls.txt"
    result = run_study(spec, tmp_path, report=False, progress=False, run_fn=_fake_run(calls))
    assert (result.executed, result.failed, result.held) == (1, [], [])
    assert _calls(calls) == [run.run_id]
    status = read_status(folder)
    assert status["state"] == "done" and status["took_over"] == dead and status["pid"] != dead["pid"]


def test_a_lock_of_another_host_is_held_while_its_heartbeat_is_fresh(tmp_path, tiny_study):
    spec = StudySpec.from_dict(tiny_study(name="remote", grid={"sweep": {"seed": [0, 1]}}, method="beta_vae"))
    fresh, old = spec.runs()
    remote = {"pid": os.getpid(), "host": "another-node.cluster", "started": time.time() - 60}
    _leave_lock(run_dir(tmp_path, fresh.run_id), remote)
    _leave_lock(run_dir(tmp_path, old.run_id), remote, age=STALE_SECONDS + 60)
    calls = tmp_path / "calls.txt"
    result = run_study(spec, tmp_path, report=False, progress=False, run_fn=_fake_run(calls))
    assert result.held == [fresh.run_id] and result.executed == 1 and result.failed == []
    assert f"pid {os.getpid()} on host another-node.cluster" in result.holders[fresh.run_id]
    assert _calls(calls) == [old.run_id]  # the silent one (a dead node) was taken over
    assert read_status(run_dir(tmp_path, old.run_id))["took_over"] == remote
    assert read_status(run_dir(tmp_path, fresh.run_id))["state"] == "running"


def test_the_ray_task_takes_the_run_lock(tmp_path, tiny_study):
    """Ray tasks run :func:`execute_run` in the task, so the lock holds across the hosts of a cluster
    that share the study folder."""
    spec = StudySpec.from_dict(tiny_study(name="raylock", grid={"sweep": {"seed": [0]}}, method="beta_vae"))
    (run,) = spec.runs()
    calls = tmp_path / "calls.txt"
    folder = run_dir(tmp_path, run.run_id)
    folder.mkdir(parents=True)
    with RunLock(folder) as lock:
        assert lock.acquire()
        status = _ray_task(run, str(tmp_path), _fake_run(calls), 1)
        assert status["held_by"]["pid"] == os.getpid() and status["state"] == "pending"
        assert _calls(calls) == [] and not (folder / "status.json").exists()
    status = _ray_task(run, str(tmp_path), _fake_run(calls), 1)
    assert status["state"] == "done" and _calls(calls) == [run.run_id]


def test_run_lock_excludes_a_second_holder_and_names_the_first(tmp_path):
    first, second = RunLock(tmp_path, heartbeat=0.05), RunLock(tmp_path)
    assert first.acquire()
    started = os.stat(tmp_path / LOCK_FILE).st_mtime
    assert not second.acquire()
    assert second.holder["pid"] == os.getpid() and second.holder["host"] == socket.gethostname()
    _wait_for(lambda: os.stat(tmp_path / LOCK_FILE).st_mtime > started, 5)  # the heartbeat touches it
    with pytest.raises(RuntimeError, match="already held"):
        first.acquire()
    first.release()
    assert (tmp_path / LOCK_FILE).read_text() == ""
    assert second.acquire() and second.previous is None
    second.release()
