"""The MED study of Cao et al. (NeurIPS 2022): the built-in studies plan, a study that mixes a
method with no decoder (BYOL) and a VAE runs and reports, and the report's MED section (full vs
top-k MED, the per-code distribution, the finding in words) computes what it says on hand-made runs.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from disentkit.study import StudySpec, builtin_names, run_study
from disentkit.study.records import SPEC_FILE, write_json_atomic, write_status
from disentkit.study.report import (
    CODE_BINS,
    code_bin_columns,
    code_distribution,
    med_finding,
    med_summary,
    method_family,
    write_report,
)
from disentkit.train import TrainConfig

SSL = ("byol", "simsiam", "barlow_twins")
VAES = ("beta_vae", "beta_tc_vae", "factor_vae")
PICTURES = ("traversal.png", "traversal.gif", "reconstructions.png")


def _report_data(text: str) -> dict:
    return json.loads(html.unescape(re.search(r"id='report-data'>(.*?)</script>", text).group(1)))


@pytest.mark.parametrize("name, backbone, runs, seeds", [("negative_free_med_cpu", "conv", 24, 2),
                                                         ("negative_free_med", "resnet18", 210, 5)])
def test_builtin_med_studies_parse_and_plan(name, backbone, runs, seeds):
    assert name in builtin_names()
    spec = StudySpec.load(name)
    planned = spec.runs()
    assert len(planned) == runs and len({r.run_id for r in planned}) == runs
    assert {r.train["method"] for r in planned} == set(SSL + VAES)
    assert {r.train["dataset"] for r in planned} == {"dsprites", "shapes3d"}
    assert {r.train["seed"] for r in planned} == set(range(seeds))
    assert len({r.train["steps"] for r in planned}) == 1  # the same budget for every method
    for run in planned:
        assert run.evaluation["metrics"] == ["med", "linear_probe"]
        method, params = run.train["method"], run.train["method_params"]
        config = TrainConfig.from_dict(run.train)  # validates the method params and the sampler
        assert run.train["sampler"] is None  # each method's default sampler, resolved per run
        if method in SSL:
            assert config.resolved_sampler() == "views" and params["backbone"] == backbone
            assert params["representation"] == "backbone"
        else:
            assert config.resolved_sampler() == "uniform" and params["latent_dim"] == 10
        if method == "beta_tc_vae":
            assert params["estimator"] == "dlib"  # as the reference study the paper compares with
    cpu = StudySpec.load("negative_free_med_cpu").runs()
    assert max(r.train["steps"] for r in cpu) <= 1500
    assert {r.train["method_params"].get("projector_hidden") for r in cpu if r.train["method"] in SSL} == {512}
    assert planned[0].evaluation["preset"] == ("fast" if backbone == "conv" else "reference")


def test_only_selects_a_part_of_the_full_grid():
    spec = StudySpec.load("negative_free_med")
    part = spec.runs(["dataset=shapes3d", "seed=0", "method=byol,beta_vae"])
    assert sorted(r.train["method"] for r in part) == ["beta_vae"] * 6 + ["byol"]


def test_a_study_with_a_method_without_a_decoder_runs_and_reports(tmp_path):
    study = {
        "name": "tiny_med", "description": "one BYOL and one beta-VAE run",
        "train": {"dataset": "dsprites", "steps": 5, "batch_size": 8, "checkpoint_every": 5, "log_every": 1,
                  "images": True, "device": "cpu", "num_threads": 1},
        "evaluation": {"metrics": ["med", "linear_probe"], "preset": "fast", "seed": 0,
                       "settings": {"num_train": 200, "num_test": 100}},
        "grid": {"chain": [
            {"fixed": {"method": "byol", "method_params.projector_hidden": 16, "method_params.projector_out": 8,
                       "method_params.predictor_hidden": 16}},
            {"fixed": {"method": "beta_vae"}},
        ]},
    }
    spec = StudySpec.from_dict(study)
    byol, vae = spec.runs()
    result = run_study(spec, tmp_path / "study", progress=False)
    assert result.failed == [], [(r, (tmp_path / "study" / "runs" / r / "status.json").read_text())
                                 for r in result.failed]
    byol_dir, vae_dir = (tmp_path / "study" / "runs" / r.run_id for r in (byol, vae))
    assert not any((byol_dir / p).exists() for p in PICTURES)  # no decoder: the trainer drew nothing
    assert all((vae_dir / p).exists() for p in PICTURES)
    values = json.loads((byol_dir / "metrics.json").read_text())["med"]["values"]
    assert 0 <= values["disentanglement"] <= 1 and 0 <= values["top1_disentanglement"] <= 1

    text = result.report.read_text(encoding="utf-8")
    assert byol.run_id in text and vae.run_id in text
    assert '<section id="med">' in text and 'alt="MED and top-k MED per method"' in text
    assert "No traversals or reconstructions: the method has no decoder." in text
    assert text.count('alt="latent traversal (animated)"') == 1 and text.count('alt="reconstructions"') == 1
    links = re.findall(r'(?:src|href)="([^"]*)"', text)
    assert links and all(link.startswith("data:image/") for link in links)  # nothing points at a file
    for link in links:
        Image.open(io.BytesIO(base64.b64decode(link.split(",", 1)[1]))).verify()
    if "code_disentanglement_bin_0" in values:
        assert 'alt="per-code disentanglement distribution"' in text
    else:
        assert "No per-code disentanglement distribution" in text
    (finding,) = _report_data(text)["med"]
    assert finding["negative_free"]["methods"] == ["byol"] and finding["vae"]["methods"] == ["beta_vae"]
    assert finding["negative_free"]["top"] == pytest.approx(values["top1_disentanglement"])


def _frame(rows: list[tuple]) -> pd.DataFrame:
    """Hand-made finished runs: (dataset, method, full MED, top-1 MED)."""
    return pd.DataFrame([{"run_id": f"r{i}", "state": "done", "dataset": d, "method": m, "seed": i,
                          "med.disentanglement": full, "med.top1_disentanglement": top}
                         for i, (d, m, full, top) in enumerate(rows)])


def test_med_summary_and_finding_by_hand():
    frame = _frame([("a", "byol", 0.1, 0.6), ("a", "byol", 0.2, 0.8), ("a", "simsiam", 0.3, 0.7),
                    ("a", "beta_vae", 0.3, 0.5), ("a", "beta_vae", 0.5, 0.7),
                    ("b", "byol", 0.15, 0.2), ("b", "factor_vae", 0.4, 0.6)])
    assert [method_family(m) for m in ("byol", "vicreg", "beta_vae", "factor_vae")] == \
        ["negative-free", "negative-free", "VAE", "VAE"]
    summary = med_summary(frame)
    assert list(zip(summary["dataset"], summary["method"])) == \
        [("a", "byol"), ("a", "simsiam"), ("a", "beta_vae"), ("b", "byol"), ("b", "factor_vae")]
    byol_a = summary.iloc[0]
    assert (byol_a["runs"], byol_a["med"], byol_a["topk"]) == (2, pytest.approx(0.15), pytest.approx(0.7))
    assert byol_a["topk_sem"] == pytest.approx(np.std([0.6, 0.8], ddof=1) / np.sqrt(2))

    a, b, both = med_finding(frame)
    # dataset a: negative-free top-1 (0.6 + 0.8 + 0.7) / 3 = 0.7, full 0.2; VAEs top-1 0.6, full 0.4
    assert (a["negative_free"]["top"], a["negative_free"]["full"]) == (pytest.approx(0.7), pytest.approx(0.2))
    assert (a["vae"]["top"], a["vae"]["full"]) == (pytest.approx(0.6), pytest.approx(0.4))
    assert a["subset"] is True and a["comparable"] is True
    assert "top-1 MED of the negative-free methods (byol, simsiam; 3 runs) 0.700 ± 0.058" in a["text"]
    assert "holds, above the VAEs (difference +0.100)" in a["text"]
    # dataset b: top-1 0.2 is only 0.05 above full 0.15, and 0.4 below the VAE's 0.6
    assert b["subset"] is False and b["comparable"] is False
    assert "does not hold (gap +0.050)" in b["text"] and "does not hold (difference -0.400)" in b["text"]
    assert both["dataset"] == "all datasets" and both["negative_free"]["runs"] == 4
    assert both["negative_free"]["top"] == pytest.approx((0.6 + 0.8 + 0.7 + 0.2) / 4)

    (alone,) = med_finding(frame[frame["method"] == "byol"].iloc[:2])
    assert alone["comparable"] is None and alone["subset"] is True
    assert "cannot be judged on a: no VAE runs" in alone["text"]
    assert med_finding(frame.drop(columns="med.top1_disentanglement")) == []


def _write_run(study: Path, run_id: str, method: str, med: dict[str, float]) -> None:
    folder = study / "runs" / run_id
    write_json_atomic(folder / SPEC_FILE, {"run_id": run_id, "train": {"method": method, "dataset": "dsprites",
                                                                       "seed": int(run_id[-1]), "steps": 10},
                                           "evaluation": {"metrics": ["med"]}})
    write_json_atomic(folder / "metrics.json", {"med": {"values": med, "settings": {}, "seconds": 0.0}})
    write_status(folder, "done", seconds=1.0)


def test_code_distribution_plot_from_a_hand_made_store(tmp_path):
    shares = {"r0": [0.5, 0.5] + [0.0] * 8, "r1": [0.0, 1.0] + [0.0] * 8, "r2": [0.0] * 9 + [1.0]}
    methods = {"r0": "byol", "r1": "byol", "r2": "beta_vae"}
    for run_id, share in shares.items():
        bins = {f"code_disentanglement_bin_{i}": v for i, v in enumerate(share)}
        _write_run(tmp_path, run_id, methods[run_id], {"disentanglement": 0.2, "top1_disentanglement": 0.6,
                                                       "informative_codes": 4.0 + int(run_id[-1]), **bins})
    from disentkit.study import load

    frame = load(tmp_path)
    assert len(code_bin_columns(frame)) == CODE_BINS
    dist = code_distribution(frame)
    np.testing.assert_allclose(dist[("dsprites", "byol")]["share"], [0.25, 0.75] + [0.0] * 8)
    np.testing.assert_allclose(dist[("dsprites", "byol")]["spread"], [0.25, 0.25] + [0.0] * 8)
    assert dist[("dsprites", "byol")]["informative_codes"] == pytest.approx(4.5)
    assert dist[("dsprites", "beta_vae")]["runs"] == 1
    text = write_report(tmp_path).read_text(encoding="utf-8")
    assert 'alt="per-code disentanglement distribution"' in text and 'alt="MED and top-k MED per method"' in text
    assert "No traversals or reconstructions: the method has no decoder." in text  # byol's card

    # without the bin keys: no histogram, a note instead, and the rest of the section
    for run_id in ("r3", "r4"):
        _write_run(tmp_path / "plain", run_id, "simsiam", {"disentanglement": 0.1, "top1_disentanglement": 0.5})
    frame = load(tmp_path / "plain")
    assert code_bin_columns(frame) == [] and code_distribution(frame) == {}
    text = write_report(tmp_path / "plain").read_text(encoding="utf-8")
    assert "per-code disentanglement distribution\"" not in text and "No per-code disentanglement" in text
    assert 'alt="MED and top-k MED per method"' in text
