"""The results store: ``results.duckdb`` in the study folder, rebuilt from the run folders.

Tables
------
``runs``     one row per run: ``run_id``, ``state``, ``error``, ``seconds``, and every config value as a
             flat column (``method``, ``dataset``, ``seed``, ``method_params.beta`` ...), plus ``config``
             (the resolved config as JSON).
``metrics``  long form: ``run_id``, ``metric``, ``key``, ``value``.
``curves``   training curves: ``run_id``, ``step``, ``term``, ``value`` (from ``train_log.jsonl``).

The database is written to a temporary file and renamed over the old one, so a kill while the store
is being written leaves the previous database intact and readable.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from disentkit.io import atomic_path
from disentkit.study.records import SPEC_FILE, read_json, read_status
from disentkit.study.spec import RunSpec

STORE_NAME = "results.duckdb"


def _run_folders(study_dir: Path) -> list[Path]:
    runs = Path(study_dir) / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir() and (p / SPEC_FILE).exists()) if runs.exists() else []


def _filled_train(train: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The run's train config with the values the trainer filled in from the dataset (method
    parameters left ``None`` in the study, such as beta-TCVAE's ``dataset_size``, read from the
    run's ``config.json``)."""
    trained = read_json(folder / "config.json")
    if not isinstance(trained, dict) or not isinstance(trained.get("method_params"), dict):
        return train
    params = dict(train.get("method_params") or {})
    for key, value in trained["method_params"].items():
        if key in params and params[key] is None:
            params[key] = value
    return {**train, "method_params": params}


def collect(study_dir: str | Path) -> dict[str, Any]:
    """Read every run folder into three pandas DataFrames: ``runs``, ``metrics``, ``curves``."""
    import pandas as pd

    run_rows, metric_rows, curve_rows = [], [], []
    for folder in _run_folders(Path(study_dir)):
        record = read_json(folder / SPEC_FILE)
        if not isinstance(record, dict):
            continue
        run_id = record["run_id"]
        status = read_status(folder)
        spec = RunSpec(run_id, _filled_train(record.get("train", {}), folder), record.get("evaluation", {}))
        row = {"run_id": run_id, "state": status["state"], "error": status.get("error"),
               "seconds": status.get("seconds"), "folder": str(folder)}
        row.update({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in spec.flat().items()})
        row["config"] = json.dumps(spec.config, sort_keys=True)
        run_rows.append(row)
        metrics = read_json(folder / "metrics.json") or {}
        for metric, result in metrics.items():
            for key, value in (result.get("values") or {}).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    metric_rows.append((run_id, metric, key, float(value)))
        log = folder / "train_log.jsonl"
        if log.exists():
            for line in log.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a kill
                step = entry.get("step")
                if not isinstance(step, int):
                    continue
                for term, value in entry.items():
                    if term != "step" and isinstance(value, (int, float)) and not isinstance(value, bool) \
                            and math.isfinite(value):
                        curve_rows.append((run_id, step, term, float(value)))
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


def write_store(study_dir: str | Path) -> Path:
    """Rebuild ``results.duckdb`` from the run folders, atomically; returns its path."""
    import duckdb

    study_dir = Path(study_dir)
    tables = collect(study_dir)
    final = study_dir / STORE_NAME
    with atomic_path(final) as tmp:
        con = duckdb.connect(str(tmp))
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
    con = duckdb.connect(str(path), read_only=True)
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


def status_counts(study_dir: str | Path) -> dict[str, int]:
    """Counts of runs by state: the runs the study planned (``study.json``) and any other run folder."""
    study_dir = Path(study_dir)
    planned = (read_json(study_dir / "study.json") or {}).get("runs", [])
    ids = set(planned) | {f.name for f in _run_folders(study_dir)}
    counts = {"pending": 0, "running": 0, "done": 0, "failed": 0}
    for run_id in ids:
        counts[read_status(study_dir / "runs" / run_id)["state"]] += 1
    return counts
