"""The results store: ``results.duckdb`` in the study folder, rebuilt from the run folders.

Tables
------
``runs``     one row per run: ``run_id``, ``state``, ``error``, ``seconds``, and every config value as a
             flat column (``method``, ``dataset``, ``seed``, ``method_params.beta`` ...), plus ``config``
             (the resolved config as JSON).
``metrics``  long form: ``run_id``, ``metric``, ``key``, ``value``.
``curves``   training curves: ``run_id``, ``step``, ``term``, ``value`` (from ``train_log.jsonl``).

The database is written to a temporary file and renamed over the old one, so a kill while the store
is being written leaves the previous database intact and readable. A write that fails (a full or
read-only disk) raises :class:`StoreError` naming the database and the reason, removes its temporary
files (the database and its ``.wal``) and leaves the previous database as it was; temporary files
left by a killed writer are swept by the next :func:`write_store` (:func:`sweep_temporaries`).

One bad run never stops the store, ``study status`` or the report: a run folder that cannot be read
(a ``run_spec.json`` that is not JSON, not UTF-8 or has no run id, a file where a run folder should
be) is skipped with a :class:`MalformedRunWarning` naming the file, and the other runs are written;
a log line that is not a JSON record is skipped with a warning. A run recorded done whose
``metrics.json`` cannot be read is not done: :func:`run_status` reports it ``pending`` (with
``needs_evaluation``, the reason), so the next ``study run`` evaluates it again.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from disentkit.io import atomic_path
from disentkit.study.records import DISK_ERRNOS, SPEC_FILE, STATES, STATUS_FILE, read_status
from disentkit.study.spec import RunSpec

STORE_NAME = "results.duckdb"
METRICS_FILE = "metrics.json"
LOG_FILE = "train_log.jsonl"
#: A temporary file (of the store, or a run's ``status.json``) whose writer is not a live process on
#: this host is swept once it is this old (seconds); the grace keeps the file of a writer on another
#: host sharing the folder, which a pid cannot name.
TEMP_GRACE_SECONDS = 60.0
#: ... and one this old is swept whoever wrote it (no write of these files lasts an hour).
TEMP_STALE_SECONDS = 3600.0

# temporaries of disentkit.io.atomic_path (".results.<pid>-<thread>-<n>.tmp.duckdb", and the ".wal"
# DuckDB keeps beside a database) and of the store before it (".results.duckdb.<pid>.tmp")
_TEMP_NAMES = {
    "study": re.compile(r"\.results\.(?P<pid>\d+)-\d+-\d+\.tmp\.duckdb(\.wal)?|\.results\.duckdb\.(?P<old>\d+)\.tmp(\.wal)?"),
    "run": re.compile(r"\.status\.(?P<pid>\d+)-\d+-\d+\.tmp\.json"),
}


class StoreError(OSError):
    """``results.duckdb`` could not be written; the previous database is left as it was.

    ``errno`` is the disk's error (``ENOSPC``, ``EROFS``, ``EDQUOT``) when the write failed for lack of
    space or permission, else None; ``filename`` is the database's path.
    """

    def __init__(self, path: str | os.PathLike, reason: str, code: int | None = None, *, existed: bool = True):
        super().__init__(code, reason, str(path))
        kept = f"the previous {Path(path).name} is left as it was" if existed else f"no {Path(path).name} was written"
        self.message = f"could not write {path}: {reason}; {kept}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):
        return (_store_error, (self.filename, self.strerror, self.errno, self.message))


def _store_error(path, reason, code, message) -> StoreError:
    err = StoreError(path, reason, code)
    err.message = message
    return err


class MalformedRunWarning(RuntimeWarning):
    """A run folder, or a file in one, that the store, ``study status`` and the report skip."""


def _warn(message: str) -> None:
    warnings.warn(message, MalformedRunWarning, stacklevel=3)


# -- reading run folders ---------------------------------------------------------------------------

def read_checked(path: Path) -> tuple[Any, str | None]:
    """``(value, None)`` for a JSON file, else ``(None, why)``: ``"missing"``, ``"a folder, not a
    file"``, ``"not UTF-8 text (...)"``, ``"not valid JSON (...)"`` or the read error."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except IsADirectoryError:
        return None, "a folder, not a file"
    except OSError as err:
        return None, f"unreadable ({err.strerror or err})"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, f"not UTF-8 text (byte {err.start})"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        return None, f"not valid JSON ({err.msg} at line {err.lineno} column {err.colno})"
    except RecursionError:
        return None, "not valid JSON (nested too deeply)"


def _read_metrics(folder: Path) -> tuple[dict[str, Any], str | None]:
    """The scores of a run (``{}`` when it has none yet) and why they cannot be read (None: fine)."""
    path = Path(folder) / METRICS_FILE
    value, why = read_checked(path)
    if why == "missing":
        return {}, None
    if why:
        return {}, f"{path} is {why}"
    if not isinstance(value, dict):
        return {}, f"{path} is not a JSON object of metric results (got {type(value).__name__})"
    bad = sorted(name for name, result in value.items()
                 if not isinstance(result, dict) or not isinstance(result.get("values", {}), dict))
    if bad:
        return {}, f"{path} has malformed result(s) for {', '.join(map(repr, bad[:5]))} (expected {{'values': {{...}}}})"
    return value, None


def metrics_problem(folder: str | os.PathLike) -> str | None:
    """Why a run's ``metrics.json`` cannot be read as scores (naming the file), or None when it is
    fine or missing. Scores are ``{metric: {"values": {key: number}, ...}}``, as ``evaluate`` writes."""
    return _read_metrics(Path(folder))[1]


def run_status(folder: str | os.PathLike) -> dict[str, Any]:
    """A run's status (:func:`~disentkit.study.records.read_status`), except that a run recorded done
    whose ``metrics.json`` cannot be read (:func:`metrics_problem`) is ``pending`` with
    ``needs_evaluation`` (the reason): its scores are lost, so it is evaluated again."""
    status = read_status(Path(folder))
    return _needs_evaluation(status, metrics_problem(folder) if status["state"] == "done" else None)


def _needs_evaluation(status: dict[str, Any], problem: str | None) -> dict[str, Any]:
    if status["state"] == "done" and problem:
        return {**status, "state": "pending", "needs_evaluation": problem}
    return status


def _spec_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"is not a JSON object (got {type(record).__name__})"
    run_id = record.get("run_id")
    if not isinstance(run_id, str) or not run_id.strip():
        return "has no run id (a non-empty string under 'run_id')"
    train = record.get("train", {})
    if not isinstance(train, dict) or not isinstance(train.get("method"), str):
        return "has no train config with a method name (a mapping under 'train')"
    if not isinstance(record.get("evaluation", {}), dict):
        return "has an evaluation that is not a mapping"
    return None


@dataclass
class _RunFolder:
    """What a run folder holds, read once: the parsed ``run_spec.json`` (None: the folder is skipped),
    the status, the scores, and one line per problem found (for the warnings)."""

    folder: Path
    record: dict[str, Any] | None = None
    status: dict[str, Any] = field(default_factory=lambda: {"state": "pending"})
    metrics: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def _inspect(folder: Path) -> _RunFolder:
    out = _RunFolder(folder)
    spec_path = folder / SPEC_FILE
    record, why = read_checked(spec_path)
    problem = f"is {why}" if why else _spec_problem(record)
    if problem:
        out.problems.append(f"skipping run folder {folder}: {spec_path} {problem}")
    else:
        out.record = record
    status_path = folder / STATUS_FILE
    recorded, why = read_checked(status_path)
    valid = isinstance(recorded, dict) and recorded.get("state") in STATES
    if why != "missing" and not valid:
        what = f"is {why}" if why else "has no valid state"
        out.problems.append(f"{status_path} {what}; the run counts as pending and is run again")
    out.metrics, problem = _read_metrics(folder)
    out.status = _needs_evaluation(recorded if valid else {"state": "pending"}, problem)
    if problem:
        again = "; the run will be evaluated again" if "needs_evaluation" in out.status else ""
        out.problems.append(f"{problem}: its scores are left out{again}")
    return out


def _run_folders(study_dir: Path) -> list[Path]:
    """The run folders (with a ``run_spec.json``) under ``runs/``, warning about anything else there."""
    runs = Path(study_dir) / "runs"
    if not runs.exists():
        return []
    if not runs.is_dir():
        _warn(f"{runs} is a file, not the folder of runs: no run is read")
        return []
    try:
        entries = sorted(runs.iterdir())
    except OSError as err:
        _warn(f"cannot list {runs}: {err.strerror or err}")
        return []
    folders = []
    for entry in entries:
        if not entry.is_dir():
            _warn(f"skipping {entry}: a file where a run folder should be")
        elif (entry / SPEC_FILE).exists() or (entry / SPEC_FILE).is_symlink():
            folders.append(entry)
    return folders


def _filled_train(train: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The run's train config with the values the trainer filled in from the dataset (method
    parameters left ``None`` in the study, such as beta-TCVAE's ``dataset_size``, read from the
    run's ``config.json``)."""
    path = folder / "config.json"
    trained, why = read_checked(path)
    if why and why != "missing":
        _warn(f"{path} is {why}: the method parameters the trainer filled in are left out")
    if not isinstance(trained, dict) or not isinstance(trained.get("method_params"), dict):
        return train
    params = dict(train.get("method_params") or {})
    for key, value in trained["method_params"].items():
        if key in params and params[key] is None:
            params[key] = value
    return {**train, "method_params": params}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _curve_rows(run_id: str, path: Path) -> list[tuple[str, int, str, float]]:
    """The finite numbers of every JSON record line of a training log; other lines are skipped with
    one warning (a line cut by a kill, non-UTF-8 bytes, a line that is not a JSON object)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as err:
        _warn(f"{path} is {'a folder, not a file' if isinstance(err, IsADirectoryError) else err.strerror or err}: "
              "the run's training curves are left out")
        return []
    rows, bad = [], []
    for number, raw in enumerate(data.splitlines(), start=1):  # bytes: only \n and \r end a line
        if not raw.strip():
            continue
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            entry = None
        if not isinstance(entry, dict):
            bad.append(number)
            continue
        step = entry.get("step")
        if "event" in entry or not isinstance(step, int) or isinstance(step, bool):
            continue  # an event record (start, resume, end: its step, seconds and threads are no curve)
        rows.extend((run_id, step, term, float(value)) for term, value in entry.items()
                    if term != "step" and _number(value) and math.isfinite(value))
    if bad:
        lines = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        _warn(f"{path}: skipped {len(bad)} line(s) that are not JSON records (line {lines})")
    return rows


def collect(study_dir: str | Path) -> dict[str, Any]:
    """Read every run folder into three pandas DataFrames: ``runs``, ``metrics``, ``curves``.

    A folder that cannot be read is skipped with a :class:`MalformedRunWarning` naming the file; a
    run whose ``metrics.json`` cannot be read has no scores and the state of :func:`run_status`.
    """
    import pandas as pd

    run_rows, metric_rows, curve_rows = [], [], []
    for folder in _run_folders(Path(study_dir)):
        found = _inspect(folder)
        for problem in found.problems:
            _warn(problem)
        if found.record is None:
            continue
        record, status = found.record, found.status
        run_id = record["run_id"]
        spec = RunSpec(run_id, _filled_train(record.get("train", {}), folder), record.get("evaluation", {}))
        error = status.get("error")
        if "needs_evaluation" in status:
            error = f"needs evaluation again: {status['needs_evaluation']}"
        row = {"run_id": run_id, "state": status["state"], "error": None if error is None else str(error),
               "seconds": status.get("seconds") if _number(status.get("seconds")) else None, "folder": str(folder)}
        row.update({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in spec.flat().items()})
        row["config"] = json.dumps(spec.config, sort_keys=True)
        run_rows.append(row)
        for metric, result in found.metrics.items():
            for key, value in (result.get("values") or {}).items():
                if _number(value):
                    metric_rows.append((run_id, metric, key, float(value)))
        curve_rows.extend(_curve_rows(run_id, folder / LOG_FILE))
    runs = pd.DataFrame(run_rows)
    if not runs.empty:  # mixed-type config columns are stored as text
        for column in runs.columns:
            kinds = {type(v) for v in runs[column].dropna()}
            if len(kinds) > 1 and not kinds <= {int, float}:
                runs[column] = runs[column].map(lambda v: None if v is None else str(v))
    return {
        "runs": runs,
        "metrics": pd.DataFrame(metric_rows, columns=["run_id", "metric", "key", "value"]),
        "curves": pd.DataFrame(curve_rows, columns=["run_id", "step", "term", "value"]),
    }


# -- writing the database --------------------------------------------------------------------------

def _pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one we may not signal counts as running)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists
        return True
    return True


def _stale(path: Path, pid: int, now: float) -> bool:
    try:
        age = now - path.lstat().st_mtime
    except OSError:
        return False
    if pid == os.getpid():
        return False  # this process's own writes remove their temporaries
    return age > TEMP_STALE_SECONDS or (age > TEMP_GRACE_SECONDS and not _pid_alive(pid))


def sweep_temporaries(study_dir: str | Path, *, now: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writers left in a study folder; returns those removed.

    Swept: the store's (``.results.<pid>-*.tmp.duckdb`` and its ``.wal``, and the older
    ``.results.duckdb.<pid>.tmp``) in the study folder, and ``.status.<pid>-*.tmp.json`` in the run
    folders, once older than :data:`TEMP_GRACE_SECONDS` when the writer ``pid`` no longer runs on
    this host, or older than :data:`TEMP_STALE_SECONDS` whoever wrote them.
    """
    study_dir = Path(study_dir)
    now = time.time() if now is None else now
    places = [(study_dir, _TEMP_NAMES["study"])]
    runs = study_dir / "runs"
    if runs.is_dir():
        try:
            places += [(folder, _TEMP_NAMES["run"]) for folder in runs.iterdir() if folder.is_dir()]
        except OSError:
            pass
    removed = []
    for folder, pattern in places:
        try:
            names = [entry.name for entry in os.scandir(folder) if entry.name.startswith(".")]
        except OSError:
            continue
        for name in names:
            match = pattern.fullmatch(name)
            if not match:
                continue
            path = folder / name
            pid = int(match.group("pid") or match.groupdict().get("old") or 0)
            if _stale(path, pid, now):
                try:
                    path.unlink()
                except OSError:
                    continue
                removed.append(path)
    return removed


def _disk_errno(err: BaseException) -> int | None:
    """The errno of a full or read-only disk in ``err``, the exceptions it came from, or its words
    (DuckDB's ``IOException`` says "No space left on device" and has no errno)."""
    seen: set[int] = set()
    chain = err
    while chain is not None and id(chain) not in seen:
        seen.add(id(chain))
        if isinstance(chain, OSError) and chain.errno in DISK_ERRNOS:
            return chain.errno
        lowered = str(chain).lower()
        for code, words in DISK_ERRNOS.items():
            if words in lowered:
                return code
        chain = chain.__cause__ or chain.__context__
    return None


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass


def _write_tables(path: Path, tables: dict[str, Any]) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for name, frame in tables.items():
            if frame.empty and name == "runs":
                con.execute("CREATE TABLE runs (run_id VARCHAR, state VARCHAR, error VARCHAR, seconds DOUBLE)")
                continue
            con.register("frame", frame)
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
        con.execute("CHECKPOINT")
    finally:
        con.close()


def write_store(study_dir: str | Path) -> Path:
    """Rebuild ``results.duckdb`` from the run folders, atomically; returns its path.

    Sweeps the temporaries of killed writers first (:func:`sweep_temporaries`). A failed write raises
    :class:`StoreError` (naming the database and the reason: "no space left on device" ...) after
    removing its own temporary files; the previous database is left as it was.
    """
    import duckdb

    study_dir = Path(study_dir)
    sweep_temporaries(study_dir)
    tables = collect(study_dir)
    final = study_dir / STORE_NAME
    existed = final.exists()
    try:
        with atomic_path(final) as tmp:
            try:
                _write_tables(tmp, tables)
            except BaseException:
                _remove(Path(f"{tmp}.wal"))
                raise
            # a log beside the old database belongs to it: never replay it into the new one
            _remove(Path(f"{final}.wal"))
    except (OSError, duckdb.Error) as err:
        code = _disk_errno(err)
        detail = f"{type(err).__name__}: {err}"
        reason = f"{DISK_ERRNOS[code]} ({detail})" if code is not None else detail
        raise StoreError(final, reason, code, existed=existed) from err
    return final


def load(study_dir: str | Path):
    """A pandas DataFrame with one row per run: config values and ``metric.key`` score columns.

    Reads ``results.duckdb`` (building it first if it is missing).
    """
    import duckdb

    study_dir = Path(study_dir)
    path = study_dir / STORE_NAME
    if not path.exists():
        if not (study_dir / "runs").exists():
            raise FileNotFoundError(f"{study_dir} is not a study folder (no runs/ and no {STORE_NAME})")
        write_store(study_dir)
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as err:
        raise ValueError(f"cannot read {path}: {err}; rebuild it with `disentkit study report {study_dir}`") from None
    try:
        runs = con.execute("SELECT * FROM runs").df()
        metrics = con.execute("SELECT * FROM metrics").df() if _has_table(con, "metrics") else None
    finally:
        con.close()
    if metrics is not None and not metrics.empty:
        metrics["column"] = metrics["metric"] + "." + metrics["key"]
        wide = metrics.pivot_table(index="run_id", columns="column", values="value", aggfunc="first")
        wide.columns.name = None
        runs = runs.merge(wide, left_on="run_id", right_index=True, how="left")
    return runs


def _has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0])


def _safe_run_id(value: Any) -> bool:
    """A run id that names a folder inside ``runs/`` (no separator, not ``.`` or ``..``)."""
    return isinstance(value, str) and value not in ("", ".", "..") and not set(value) & {"/", "\\", "\0"}


def planned_runs(study_dir: str | Path) -> list[str]:
    """The run ids ``study.json`` lists (warning about a ``study.json`` that cannot be read, and
    skipping ids that are not folder names)."""
    path = Path(study_dir) / "study.json"
    meta, why = read_checked(path)
    if why == "missing":
        return []
    if why or not isinstance(meta, dict) or not isinstance(meta.get("runs", []), list):
        _warn(f"{path} is {why or 'not a study record with a list of runs'}: only the run folders are counted")
        return []
    ids = meta.get("runs", [])
    bad = [run_id for run_id in ids if not _safe_run_id(run_id)]
    if bad:
        _warn(f"{path} lists {len(bad)} run id(s) that are not folder names (such as {bad[0]!r}): they are skipped")
    return [run_id for run_id in ids if _safe_run_id(run_id)]


def status_counts(study_dir: str | Path) -> dict[str, int]:
    """Counts of runs by state (:func:`run_status`): the runs the study planned (``study.json``) and
    any other run folder. Malformed run folders are counted by their status, with a warning."""
    study_dir = Path(study_dir)
    folders = {f.name: f for f in _run_folders(study_dir)}
    ids = set(planned_runs(study_dir)) | set(folders)
    counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
    for run_id in sorted(ids):
        folder = study_dir / "runs" / run_id
        if run_id in folders:
            found = _inspect(folder)
            for problem in found.problems:
                _warn(problem)
            status = found.status
        else:
            status = run_status(folder)
        counts[status["state"]] += 1
    return counts
