"""Planning and running a tiny study: run ids, filters, validation, the local executor, the store, the CLI."""

from __future__ import annotations

import json
import time

import duckdb
import numpy as np
import pytest

from disentkit.cli import main
from disentkit.study import StudySpec, load, run_study, status_counts
from disentkit.study.records import SPEC_FILE
from disentkit.study.spec import run_id

SCORES = {"mig": ["discrete_mig"], "sap": ["SAP_score"], "irs": ["IRS", "num_active_dims"],
          "unsupervised": ["gaussian_total_correlation", "gaussian_wasserstein_correlation",
                           "gaussian_wasserstein_correlation_norm", "mutual_info_score"]}


def _metrics(folder) -> dict:
    return json.loads((folder / "metrics.json").read_text())


def _scores(folder) -> dict:
    """A run's metric values and settings (without the timings)."""
    return {m: (v["values"], v["settings"]) for m, v in _metrics(folder).items()}


# -- planning -------------------------------------------------------------------------------------

def test_plan_counts_stable_ids_and_filters(tmp_path, tiny_study, study_writer):
    path = study_writer(tmp_path, tiny_study())
    first, second = StudySpec.load(path).runs(), StudySpec.load(path).runs()
    assert len(first) == 5
    assert [r.run_id for r in first] == [r.run_id for r in second]
    assert len({r.run_id for r in first}) == 5
    for run in first:  # the id is the hash of the resolved config, recomputable from the JSON record
        assert run.run_id == run_id(json.loads(json.dumps(run.config)))
        assert run.train["method_params"]["latent_dim"] == 10  # method defaults are resolved
    flats = [r.flat() for r in first]
    assert [(f["method"], f["method_params.beta"], f["seed"]) for f in flats] == [
        ("beta_vae", 1.0, 0), ("beta_vae", 1.0, 1), ("beta_vae", 4.0, 0), ("beta_vae", 4.0, 1),
        ("beta_tc_vae", 6.0, 0)]

    spec = StudySpec.load(path)
    assert [r.run_id for r in spec.runs(only=["method=beta_tc_vae"])] == [first[4].run_id]
    assert [r.run_id for r in spec.runs(only=["seed=1"])] == [first[1].run_id, first[3].run_id]
    assert [r.run_id for r in spec.runs(only=["beta=4"])] == [first[2].run_id, first[3].run_id]  # 4 == 4.0
    assert [r.run_id for r in spec.runs(only=["method_params.beta=1,6", "seed=0..0"])] == [
        first[0].run_id, first[4].run_id]
    with pytest.raises(ValueError, match="no run matches"):
        spec.runs(only=["seed=7"])
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        spec.runs(only=["colour=red"])

    # the same run in another study (another grid, the defaults written out) has the same id
    other = tiny_study(name="other", grid={"fixed": {"method": "beta_vae", "method_params.beta": 4.0, "seed": 1}},
                       log_every=2)
    assert [r.run_id for r in StudySpec.from_dict(other).runs()] == [first[3].run_id]
    # ... and a change of any config value, including an evaluation setting, changes it
    changed = tiny_study()
    changed["evaluation"]["settings"]["num_train"] = 300
    assert not {r.run_id for r in StudySpec.from_dict(changed).runs()} & {r.run_id for r in first}


def _set(study: dict, dotted: str, value) -> dict:
    node = study
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return study


BAD_SPECS = [
    ("grid", {"fixed": {"method": "beta_vea"}}, r"unknown method 'beta_vea'; valid methods: .*beta_vae"),
    ("train.dataset", "dsprite", r"unknown dataset 'dsprite'; valid datasets: dsprites"),
    ("train.step", 10, r"unknown config key\(s\) \['step'\]; valid keys: method, dataset, steps"),
    ("grid", {"fixed": {"method": "beta_vae", "method_params.betta": 2}},
     r"unknown parameter\(s\) \['betta'\] for method 'beta_vae'; valid keys: .*beta"),
    ("evaluation.metrics", ["mig", "mig_score"], r"unknown metric\(s\) \['mig_score'\]; valid metrics: mig, sap"),
    ("evaluation.preset", "quick", r"preset must be one of 'reference', 'fast'; got 'quick'"),
    ("evaluation.settings", {"num_train": 200, "num_bins_": 5},
     r"unknown setting 'num_bins_' .*valid settings: .*'num_bins'"),
    ("evaluation.settings", {"num_train": 0}, r"num_train must be .*got 0"),
    ("train.steps", 0, r"steps must be an integer >= 1, got 0"),
    ("train.batch_size", "8", r"batch_size must be an integer >= 1, got '8'"),
    ("grid", {"fixed": {"method": "beta_vae", "method_params.beta": -1}}, r"beta must be >= 0"),
    ("grid", {"sweep": {"seed": 3}}, r"expected a list of values"),
    ("grid", {"fixed": {"method": "beta_vae", "steps.x": 1}}, r"'steps' is not a group of parameters"),
]


@pytest.mark.parametrize("where, value, message", BAD_SPECS, ids=[b[0] + ":" + str(b[1])[:24] for b in BAD_SPECS])
def test_bad_specs_are_rejected_before_anything_runs(tmp_path, tiny_study, study_writer, where, value, message):
    study = _set(tiny_study(), where, value)
    if where != "grid":
        study["grid"] = {"fixed": {"method": "beta_vae"}}
    path = study_writer(tmp_path, study)
    with pytest.raises(ValueError, match=message):
        run_study(path, tmp_path / "out", progress=False, run_fn=_never)
    assert not (tmp_path / "out").exists()  # nothing was created, let alone run


def _never(run, folder):  # pragma: no cover - must not be called
    raise AssertionError("a run executed")


# -- running --------------------------------------------------------------------------------------

def test_finished_study_folders_store_and_load(finished_study):
    path, folder, result = finished_study
    runs = StudySpec.load(path).runs()
    assert (result.planned, result.skipped, result.executed, result.failed) == (5, 0, 5, [])
    assert status_counts(folder) == {"pending": 0, "running": 0, "done": 5, "failed": 0}
    for run in runs:
        run_folder = folder / "runs" / run.run_id
        assert json.loads((run_folder / SPEC_FILE).read_text()) == {"run_id": run.run_id, **run.config}
        status = json.loads((run_folder / "status.json").read_text())
        assert status["state"] == "done" and status["seconds"] > 0 and "error" not in status
        metrics = _metrics(run_folder)
        assert {m: sorted(v["values"]) for m, v in metrics.items()} == {m: sorted(k) for m, k in SCORES.items()}
        assert metrics["mig"]["settings"]["num_train"] == 200 and metrics["sap"]["settings"]["num_test"] == 100
        with np.load(run_folder / "matrices.npz") as matrices:
            assert matrices["importance"].shape == matrices["mutual_information"].shape == (10, 5)
            np.testing.assert_allclose(matrices["importance"].sum(0)[matrices["importance"].sum(0) > 0], 1.0)
            assert (matrices["mutual_information"] >= 0).all()
            assert list(matrices["factor_names"]) == ["shape", "scale", "orientation", "posX", "posY"]
    assert (folder / "runs" / runs[4].run_id / "traversal.png").exists()  # images: true for that run only
    assert not (folder / "runs" / runs[0].run_id / "traversal.png").exists()

    con = duckdb.connect(str(folder / "results.duckdb"), read_only=True)
    try:
        tables = {t for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"runs", "metrics", "curves"} <= tables
        assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs WHERE state = 'done'").fetchone() == (5, 5)
        assert con.execute("SELECT count(*) FROM metrics").fetchone()[0] == 5 * sum(map(len, SCORES.values()))
        stored = con.execute("SELECT value FROM metrics WHERE run_id = ? AND metric = 'mig' AND key = 'discrete_mig'",
                             [runs[2].run_id]).fetchone()[0]
        curve = con.execute("SELECT step, value FROM curves WHERE run_id = ? AND term = 'loss' ORDER BY step",
                            [runs[0].run_id]).fetchall()
        beta = con.execute('SELECT "method_params.beta" FROM runs WHERE run_id = ?', [runs[4].run_id]).fetchone()[0]
    finally:
        con.close()
    assert stored == _metrics(folder / "runs" / runs[2].run_id)["mig"]["values"]["discrete_mig"]
    log = [json.loads(line) for line in (folder / "runs" / runs[0].run_id / "train_log.jsonl").read_text().splitlines()]
    assert curve == [(r["step"], r["loss"]) for r in log if "event" not in r]
    assert [s for s, _ in curve] == [2, 4, 6]
    assert beta == 6.0

    frame = load(folder).set_index("run_id")
    assert sorted(frame.index) == sorted(r.run_id for r in runs)
    for run in runs:
        row, flat, metrics = frame.loc[run.run_id], run.flat(), _metrics(folder / "runs" / run.run_id)
        assert (row["method"], row["seed"], row["method_params.beta"]) == (flat["method"], flat["seed"],
                                                                           flat["method_params.beta"])
        for metric, keys in SCORES.items():
            for key in keys:
                assert row[f"{metric}.{key}"] == metrics[metric]["values"][key]


def test_one_worker_gives_the_same_runs_and_numbers(tmp_path, finished_study):
    path, folder, _ = finished_study
    result = run_study(path, tmp_path / "one", workers=1, only=["method=beta_vae", "seed=0"], report=False,
                       progress=False)
    assert (result.planned, result.executed, result.failed) == (2, 2, [])
    # the study knows all five runs; three were left out by the filter
    assert status_counts(tmp_path / "one") == {"pending": 3, "running": 0, "done": 2, "failed": 0}
    ids = sorted(p.name for p in (tmp_path / "one" / "runs").iterdir())
    assert len(ids) == 2
    for run_id_ in ids:  # same run ids as the two-worker study, and bit-identical scores
        assert _scores(tmp_path / "one" / "runs" / run_id_) == _scores(folder / "runs" / run_id_)
    assert len(load(tmp_path / "one")) == 2


def test_second_run_executes_nothing_and_is_fast(finished_study):
    path, folder, first = finished_study
    stamps = {p: p.stat().st_mtime_ns for p in folder.glob("runs/*/status.json")}
    start = time.perf_counter()
    result = run_study(path, folder, progress=False, report=False, run_fn=_never)
    seconds = time.perf_counter() - start
    assert (result.planned, result.skipped, result.executed, result.failed) == (5, 5, 0, [])
    assert {p: p.stat().st_mtime_ns for p in folder.glob("runs/*/status.json")} == stamps
    assert seconds < 5 and seconds < first.seconds / 3, (seconds, first.seconds)


# -- the command line -----------------------------------------------------------------------------

def test_cli_plan_run_status_report(finished_study, capsys, tmp_path):
    path, folder, _ = finished_study
    runs = StudySpec.load(path).runs()

    assert main(["study", "plan", str(path)]) == 0
    out = capsys.readouterr().out
    assert "5 run(s) in study 'tiny'" in out
    assert all(r.run_id in out for r in runs)
    lines = out.splitlines()
    assert lines[0].split()[:6] == ["run_id", "method", "dataset", "seed", "steps", "beta"]
    assert lines[5].split()[:6] == [runs[4].run_id, "beta_tc_vae", "dsprites", "0", "6", "6.0"]

    assert main(["study", "plan", str(path), "--only", "method=beta_tc_vae"]) == 0
    out = capsys.readouterr().out
    assert runs[4].run_id in out and runs[0].run_id not in out and "1 run(s)" in out

    assert main(["study", "status", str(folder)]) == 0
    assert capsys.readouterr().out.strip() == "pending: 0  running: 0  done: 5  failed: 0  (total 5)"

    assert main(["study", "run", str(path), "--out", str(folder), "--no-report"]) == 0
    out = capsys.readouterr().out
    assert "study 'tiny': 5 run(s), 5 already done, 0 executed, 0 failed" in out

    report = folder / "report.html"
    report.unlink(missing_ok=True)
    assert main(["study", "report", str(folder)]) == 0
    assert f"report: {report}" in capsys.readouterr().out
    assert report.stat().st_size > 10_000

    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("dataset: dsprites", "dataset: dsprite"))
    assert main(["study", "plan", str(bad)]) == 2
    assert "unknown dataset 'dsprite'; valid datasets: dsprites" in capsys.readouterr().err
    assert main(["study", "status", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
