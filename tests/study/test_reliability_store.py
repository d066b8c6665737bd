"""One bad run never stops the store, ``study status`` or the report, and a database write that fails
leaves the previous database readable (issue 9, items 4 and 5, the database step).

Found by corrupting one file of a finished study at a time (metrics.json cut short, run_spec.json
without an id, a log line that is not JSON, non-UTF-8 bytes, a wrong-shape matrices.npz, a file
where a run folder should be) and by a database write on a full disk (a write raising
``OSError(ENOSPC)``, and a real full tmpfs where one can be mounted).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import duckdb
import numpy as np
import pytest

from disentkit.cli import main
from disentkit.study import load, run_study, status_counts, write_store
from disentkit.study.records import SPEC_FILE, read_status, run_dir
from disentkit.study.store import (STORE_NAME, TEMP_GRACE_SECONDS, MalformedRunWarning, StoreError, metrics_problem,
                                   run_status, sweep_temporaries)


def _copy(folder: Path, to: Path, *, weights: bool = False) -> Path:
    """A copy of a finished study folder (without checkpoints and weights unless ``weights``)."""
    ignore = None if weights else shutil.ignore_patterns("checkpoints", "*.safetensors")
    shutil.copytree(folder, to, ignore=ignore)
    return to


def _tables(path: Path) -> dict[str, list[tuple]]:
    """Every row of the three tables of a database (opened read-only, as a reader would)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {"runs": sorted(con.execute("SELECT run_id, state, error FROM runs").fetchall()),
                "metrics": sorted(con.execute("SELECT * FROM metrics").fetchall()),
                "curves": sorted(con.execute("SELECT * FROM curves").fetchall())}
    finally:
        con.close()


def _without(rows: list[tuple], run_ids: set[str]) -> list[tuple]:
    return [row for row in rows if row[0] not in run_ids]


def _messages(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, MalformedRunWarning)]


# -- item 4: malformed run folders --------------------------------------------------------------

def _corrupt(study: Path) -> dict[str, Path]:
    """Break one file in each of four of the five runs, and add two broken entries to ``runs/``."""
    ids = sorted(p.name for p in (study / "runs").iterdir())
    bad_metrics, no_id, bad_log, bad_matrices, _ = ids
    runs = study / "runs"
    (runs / bad_metrics / "metrics.json").write_text('{"mig": {"values": {"discrete_mig": 0.1')  # cut short
    spec = json.loads((runs / no_id / SPEC_FILE).read_text())
    del spec["run_id"]
    (runs / no_id / SPEC_FILE).write_text(json.dumps(spec))
    with open(runs / bad_log / "train_log.jsonl", "ab") as f:
        f.write(b'{"step": 99, "loss": 1.0\n')  # a line cut by a kill
        f.write(b'{"step": 100, "loss": "\xff\xfe"}\n')  # not UTF-8
        f.write(b"[1, 2, 3]\n")  # JSON, not a record
    np.savez(runs / bad_matrices / "matrices.npz", mutual_information=np.zeros(5), importance=np.zeros((2, 3, 4)),
             factor_names=np.asarray(["a"]))
    (runs / "notes.txt").write_text("a file where a run folder should be")
    (runs / "feedface0001").mkdir()
    (runs / "feedface0001" / SPEC_FILE).write_bytes(b'{"run_id": "\xc3\x28"}')  # not UTF-8
    return {"bad_metrics": runs / bad_metrics, "no_id": runs / no_id, "bad_log": runs / bad_log,
            "bad_matrices": runs / bad_matrices, "file": runs / "notes.txt", "not_utf8": runs / "feedface0001"}


def test_malformed_run_folders_are_skipped_with_a_warning_and_everything_else_is_stored(tmp_path, finished_study):
    _, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    before = _tables(study / STORE_NAME)
    broken = _corrupt(study)
    bad_metrics, no_id = broken["bad_metrics"].name, broken["no_id"].name

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_store(study)
    messages = _messages(caught)
    expected = {  # each warning names the file at fault
        "bad_metrics": str(broken["bad_metrics"] / "metrics.json"),
        "no_id": str(broken["no_id"] / SPEC_FILE),
        "bad_log": str(broken["bad_log"] / "train_log.jsonl"),
        "file": str(broken["file"]),
        "not_utf8": str(broken["not_utf8"] / SPEC_FILE),
    }
    for what, name in expected.items():
        assert any(name in m for m in messages), (what, messages)
    assert any("not valid JSON" in m and "evaluated again" in m for m in messages)
    assert any("has no run id" in m for m in messages) and any("not UTF-8" in m for m in messages)
    assert any("skipped 3 line(s)" in m for m in messages)

    after = _tables(study / STORE_NAME)
    # nothing else is lost: every other run keeps its scores and every curve point (the bad lines aside)
    assert _without(after["metrics"], {bad_metrics}) == _without(before["metrics"], {bad_metrics, no_id})
    assert after["curves"] == _without(before["curves"], {no_id})
    states = {run_id: (state, error) for run_id, state, error in after["runs"]}
    assert set(states) == {r[0] for r in before["runs"]} - {no_id}
    # the run whose scores are lost is not left done with blank scores: it is to be evaluated again
    assert states[bad_metrics][0] == "pending" and states[bad_metrics][1].startswith("needs evaluation again: ")
    assert not [row for row in after["metrics"] if row[0] == bad_metrics]
    assert all(state == "done" for run_id, (state, _) in states.items() if run_id != bad_metrics)


def test_a_done_run_with_unreadable_metrics_counts_as_pending(tmp_path, finished_study):
    _, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    folder = next((study / "runs").iterdir())
    assert metrics_problem(folder) is None and run_status(folder)["state"] == "done"
    for content in (b"", b"[1, 2]", b'{"mig": 3}', b'{"mig": {"values": [1]}}', b"\xff\xfe{}"):
        (folder / "metrics.json").write_bytes(content)
        problem = metrics_problem(folder)
        assert problem is not None and str(folder / "metrics.json") in problem, content
        status = run_status(folder)
        assert status["state"] == "pending" and status["needs_evaluation"] == problem
        assert read_status(folder)["state"] == "done"  # the record itself is kept
    (folder / "metrics.json").unlink()
    (folder / "metrics.json").mkdir()  # a folder where the file should be
    assert "a folder, not a file" in metrics_problem(folder)
    with pytest.warns(MalformedRunWarning, match="metrics.json is a folder"):
        assert status_counts(study) == {"pending": 1, "running": 0, "done": 4, "failed": 0}


def test_status_and_report_of_a_corrupted_study_warn_and_name_the_files(tmp_path, finished_study, capsys):
    _, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    broken = _corrupt(study)
    assert main(["study", "status", str(study)]) == 0
    out, err = capsys.readouterr()
    # the run with unreadable scores and the folder that never got a status are pending; the run
    # without an id is counted by its status (done)
    assert out.startswith("pending: 2  running: 0  done: 4  failed: 0  (total 6)")
    assert "Traceback" not in err and str(broken["bad_metrics"] / "metrics.json") in err
    assert all(line.startswith("disentkit: warning: ") for line in err.splitlines())

    assert main(["study", "report", str(study)]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in err and out.startswith("report: ")
    for path in (broken["bad_metrics"] / "metrics.json", broken["no_id"] / SPEC_FILE,
                 broken["bad_log"] / "train_log.jsonl", broken["bad_matrices"] / "matrices.npz", broken["file"]):
        assert str(path) in err, (path, err)
    text = (study / "report.html").read_text(encoding="utf-8")
    assert broken["bad_matrices"].name in text and "needs evaluation again" in text
    assert broken["no_id"].name not in text  # skipped


def test_the_cli_prints_no_traceback_for_a_corrupted_study(tmp_path, finished_study):
    """The real command in a fresh process (the warnings as one line each, no traceback)."""
    _, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    broken = _corrupt(study)
    result = subprocess.run([sys.executable, "-m", "disentkit.cli", "study", "status", str(study)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pending: 2  running: 0  done: 4  failed: 0")
    assert "Traceback" not in result.stderr and "warnings.warn" not in result.stderr
    assert f"disentkit: warning: skipping run folder {broken['no_id']}" in result.stderr


def test_a_file_where_the_study_or_runs_folder_should_be(tmp_path, capsys):
    file = tmp_path / "study.txt"
    file.write_text("not a study")
    for command in ("status", "report"):
        assert main(["study", command, str(file)]) == 2
        err = capsys.readouterr().err
        assert err == f"disentkit: error: study folder {file} is a file, not a folder\n"
    study = tmp_path / "study"
    study.mkdir()
    (study / "runs").write_text("a file")
    with pytest.warns(MalformedRunWarning, match="runs is a file, not the folder of runs"):
        assert status_counts(study) == {"pending": 0, "running": 0, "done": 0, "failed": 0}
    with pytest.warns(MalformedRunWarning, match="runs is a file"):
        write_store(study)
    assert _tables(study / STORE_NAME)["runs"] == []


def test_a_done_run_with_unreadable_metrics_is_evaluated_again(tmp_path, finished_study):
    """Needs ``pending_runs`` (runner.py) and the worker's already-done check to use ``run_status``."""
    path, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study", weights=True)
    target = sorted((study / "runs").iterdir())[0]
    original = json.loads((target / "metrics.json").read_text())
    (target / "metrics.json").write_text("{")
    others = {f.name: (f / "status.json").stat().st_mtime_ns for f in (study / "runs").iterdir() if f != target}
    result = run_study(path, study, report=False, progress=False)
    assert (result.skipped, result.executed, result.failed) == (4, 1, [])
    scores = json.loads((target / "metrics.json").read_text())
    assert {m: r["values"] for m, r in scores.items()} == {m: r["values"] for m, r in original.items()}
    assert {f: (study / "runs" / f / "status.json").stat().st_mtime_ns for f in others} == others
    assert status_counts(study) == {"pending": 0, "running": 0, "done": 5, "failed": 0}


# -- item 5: a database write that fails --------------------------------------------------------

class _FailingConnection:
    """A DuckDB connection whose second ``CREATE TABLE`` fails as on a full disk (the first table
    is in the temporary database by then)."""

    def __init__(self, con, code: int):
        self.con, self.code, self.tables = con, code, 0

    def __getattr__(self, name):
        return getattr(self.con, name)

    def execute(self, sql, *args):
        if sql.startswith("CREATE TABLE"):
            self.tables += 1
            if self.tables == 2:
                raise OSError(self.code, os.strerror(self.code))
        return self.con.execute(sql, *args)


def _break_store(monkeypatch, stage: str, code: int, folder: Path) -> None:
    if stage == "table":
        real = duckdb.connect
        monkeypatch.setattr(duckdb, "connect", lambda *a, **k: _FailingConnection(real(*a, **k), code))
    elif stage == "flush":
        def fsync(path):
            raise OSError(code, os.strerror(code))
        monkeypatch.setattr("disentkit.io.fsync", fsync)
    else:  # the rename over the old database
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if Path(dst).name == STORE_NAME:
                raise OSError(code, os.strerror(code), str(dst))
            return real_replace(src, dst, *args, **kwargs)
        monkeypatch.setattr(os, "replace", replace)


def _leftovers(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(".*") if ".tmp" in p.name or p.name.endswith(".wal"))


@pytest.mark.parametrize("stage, code, words", [("table", errno.ENOSPC, "no space left on device"),
                                                ("flush", errno.ENOSPC, "no space left on device"),
                                                ("rename", errno.EROFS, "read-only file system")])
def test_a_failed_database_write_keeps_the_previous_database(tmp_path, finished_study, monkeypatch,
                                                              stage, code, words):
    _, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    database = study / STORE_NAME
    before = _tables(database)
    assert len(before["runs"]) == 5 and before["metrics"] and before["curves"]
    (study / "runs" / before["runs"][0][0] / "metrics.json").write_text("{}")  # the new database would differ

    _break_store(monkeypatch, stage, code, study)
    with pytest.raises(StoreError) as raised:
        write_store(study)
    message = str(raised.value)
    assert message.startswith(f"could not write {database}: {words} (") and "\n" not in message
    assert message.endswith(f"; the previous {STORE_NAME} is left as it was")
    assert raised.value.errno == code and raised.value.filename == str(database)
    monkeypatch.undo()
    assert _tables(database) == before  # the previous database opens and has all its rows
    assert len(load(study)) == 5
    assert _leftovers(study) == []  # the temporary database and its .wal are gone


def test_study_run_and_report_report_a_failed_database_write_once(tmp_path, finished_study, monkeypatch, capsys):
    path, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    database = study / STORE_NAME
    before = _tables(database)
    _break_store(monkeypatch, "table", errno.ENOSPC, study)

    with pytest.warns(RuntimeWarning, match=re.escape(f"could not write {database}")):
        result = run_study(path, study, progress=False)
    assert (result.skipped, result.executed, result.failed, result.report) == (5, 0, [], None)
    assert len(result.problems) == 1
    assert result.problems[0].startswith(f"could not write {database}: StoreError: could not write {database}: "
                                         "no space left on device")

    assert main(["study", "run", str(path), "--out", str(study)]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"disentkit: error: could not write {database}: ")
    assert "no space left on device" in lines[0] and "Traceback" not in err
    assert "5 already done" in out and f"results: {database}" not in out

    assert main(["study", "report", str(study)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"disentkit: error: could not write {database}: no space left on device")
    assert err.count("\n") == 1 and "Traceback" not in err
    monkeypatch.undo()
    assert _tables(database) == before
    assert all(read_status(run_dir(study, r[0]))["state"] == "done" for r in before["runs"])  # runs untouched


# -- temporaries left by killed writers -----------------------------------------------------------

_PAUSED_WRITER = """
import sys, time
import duckdb
from disentkit.study import write_store
real = duckdb.connect
class Paused:
    def __init__(self, con): self.con = con
    def __getattr__(self, name): return getattr(self.con, name)
    def execute(self, sql, *args):
        out = self.con.execute(sql, *args)
        if sql.startswith("CREATE TABLE"):
            print("table written", flush=True)
            time.sleep(60)
        return out
duckdb.connect = lambda *a, **k: Paused(real(*a, **k))
write_store(sys.argv[1])
"""


def test_temporaries_of_killed_writers_are_swept_by_the_next_write(tmp_path, finished_study):
    _, shared, _ = finished_study
    study = _copy(shared, tmp_path / "study")
    before = _tables(study / STORE_NAME)
    child = subprocess.Popen([sys.executable, "-c", _PAUSED_WRITER, str(study)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "table written\n"
    child.send_signal(signal.SIGKILL)  # killed in the middle of writing the database
    assert child.wait() == -signal.SIGKILL
    killed = [p for p in study.iterdir() if p.name.startswith(".results.")]
    assert killed and all(f".results.{child.pid}-" in p.name for p in killed)
    folder = next(p for p in (study / "runs").iterdir())
    status_tmp = folder / f".status.{child.pid}-1-0.tmp.json"  # a worker killed while writing its status
    status_tmp.write_text('{"state": "do')
    legacy = study / f".results.duckdb.{child.pid}.tmp"  # the store's temporaries before atomic_path
    legacy.write_bytes(b"\0" * 10)
    fresh = folder / f".status.{child.pid}-2-0.tmp.json"  # too young: its writer may be on another host
    fresh.write_text("{}")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = study / f".results.{sleeper.pid}-1-0.tmp.duckdb"  # a live writer's
        live.write_bytes(b"\0" * 10)
        old = time.time() - 2 * TEMP_GRACE_SECONDS
        for path in (*killed, status_tmp, legacy, live):
            os.utime(path, (old, old))

        write_store(study)
        assert all(not p.exists() for p in (*killed, status_tmp, legacy))
        assert fresh.exists() and live.exists()
        assert _tables(study / STORE_NAME) == before
        # once old enough, and its writer gone, the young one goes too
        later = time.time() + 2 * TEMP_GRACE_SECONDS
        assert sweep_temporaries(study, now=later) == [fresh]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert live.exists()


# -- a real full disk: DuckDB's own error on a small tmpfs ---------------------------------------------

_TMPFS_CHILD = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import duckdb
    from disentkit.io import write_json_atomic
    from disentkit.study import write_store
    from disentkit.study.store import StoreError

    root = Path(sys.argv[1])
    study = root / "study"

    def runs(first, count):
        for i in range(first, first + count):
            folder = study / "runs" / f"{i:012x}"
            write_json_atomic(folder / "run_spec.json", {"run_id": folder.name,
                              "train": {"method": "beta_vae", "seed": i}, "evaluation": {}})
            write_json_atomic(folder / "status.json", {"state": "done", "seconds": 1.0})
            write_json_atomic(folder / "metrics.json", {"mig": {"values": {"discrete_mig": i / 1000}}})
            (folder / "train_log.jsonl").write_text("".join(
                json.dumps({"step": s, "loss": 1.0 / s, "kl": 0.5 * s, "reconstruction": 2.0 * s}) + "\\n"
                for s in range(1, 301)))

    def stored():
        con = duckdb.connect(str(study / "results.duckdb"), read_only=True)
        try:
            return [con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("runs", "metrics", "curves")]
        finally:
            con.close()

    runs(0, 4)
    write_store(study)
    report = {"old": stored()}
    runs(4, 40)  # the next database is far larger
    filler = root / "filler"
    with open(filler, "wb") as f:  # fill the disk, then give back 64 KiB
        try:
            while True:
                f.write(b"\\0" * (1 << 16)); f.flush()
        except OSError:
            pass
    with open(filler, "r+b") as f:
        f.truncate(filler.stat().st_size - (64 << 10))
    try:
        write_store(study)
        report["error"] = None
    except StoreError as err:
        report["error"] = str(err)
        report["errno"] = err.errno
    report["after"] = stored()
    report["left"] = sorted(p.name for p in study.iterdir() if p.name.startswith(".results"))
    filler.unlink()
    write_store(study)
    report["again"] = stored()
    print(json.dumps(report))
""")


def test_a_full_tmpfs_fails_the_database_write_and_keeps_the_old_database(tmp_path):
    root = tmp_path / "disk"
    root.mkdir()
    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {root}"], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs unshare -rm and mount)")
    script = f"mount -t tmpfs -o size=24m tmpfs {root} && exec {sys.executable} -c \"$0\" \"$@\""
    child = subprocess.run(["unshare", "-rm", "sh", "-c", script, _TMPFS_CHILD, str(root)],
                           capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr
    report = json.loads(child.stdout.splitlines()[-1])
    assert report["old"] == [4, 4, 4 * 300 * 3]
    assert report["error"] is not None, report
    assert report["error"].startswith(f"could not write {root}/study/{STORE_NAME}: no space left on device (")
    assert report["errno"] == errno.ENOSPC, report["error"]
    assert report["after"] == report["old"]  # the old database still opens, with its rows
    assert report["left"] == []  # no temporary database or .wal left on the full disk
    assert report["again"] == [44, 44, 44 * 300 * 3]
