"""A study's finding: validated in the study file, recorded in study.json, drawn and tabled by the report."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from disentkit.study import StudySpec, load
from disentkit.study.finding import check_finding, median_table
from disentkit.study.report import write_report

FINDING = {"claim": "larger beta, lower MIG", "x": "method_params.beta", "y": "mig.discrete_mig", "group": "method"}


def test_median_table_against_a_hand_computation():
    frame = pd.DataFrame({
        "method": ["a", "a", "a", "a", "b", "b", "b"],
        "w": [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0],
        "s": [0.1, 0.5, 0.3, 0.9, np.nan, 0.2, 0.4],
        "panel": ["p", "p", "q", "p", "p", "p", "p"],
    })
    table = median_table(frame, {"x": "w", "y": ["s"], "group": "method"})
    got = {(t["group"], t["x"]): (round(t["median"], 6), t["n"]) for t in table}
    assert got == {("a", 0.0): (0.3, 3), ("a", 1.0): (0.9, 1), ("b", 1.0): (0.3, 2)}  # b at 0 is NaN only
    panels = median_table(frame, {"x": "w", "y": ["s"], "panels": "panel"})
    assert {(t["panel"], t["x"]): round(t["median"], 6) for t in panels} == {
        ("p", 0.0): 0.3, ("p", 1.0): 0.4, ("q", 0.0): 0.3}


@pytest.mark.parametrize("finding, words", [
    ({"x": "seed", "y": "mig.discrete_mig"}, "finding needs 'claim'"),
    ({**FINDING, "colour": "red"}, r"unknown finding key\(s\) \['colour'\]"),
    ({**FINDING, "y": "mig"}, "must be a score column"),
    ({**FINDING, "y": "dci.disentanglement"}, "metric 'dci' is not evaluated"),
    ({**FINDING, "y": ["mig@inverse.discrete_mig"]}, "no evaluation shift 'inverse'"),
    ({**FINDING, "x": ""}, "finding.x must be a non-empty string"),
    ("beta lowers MIG", "finding must be a mapping"),
])
def test_a_bad_finding_is_an_error_naming_the_key(tiny_study, finding, words):
    study = tiny_study(name="finding")
    study["finding"] = finding
    with pytest.raises(ValueError, match=words):
        StudySpec.from_dict(study)
    assert check_finding(FINDING, ["mig"])["y"] == ["mig.discrete_mig"]


def test_the_report_draws_and_tables_the_finding(tmp_path, finished_study, tiny_study):
    path, shared, _ = finished_study
    study = tmp_path / "study"
    shutil.copytree(shared, study)
    spec = StudySpec.from_dict({**tiny_study(), "finding": FINDING})
    meta = json.loads((study / "study.json").read_text())
    (study / "study.json").write_text(json.dumps({**meta, "finding": spec.finding}))
    page = write_report(study).read_text(encoding="utf-8")
    section = re.search(r'<section id="finding">(.*?)</section>', page, re.S).group(1)
    assert "Claim: larger beta, lower MIG" in section and '<img alt="finding" src="data:image/png;base64,' in section
    frame = load(study)
    frame = frame[frame["state"] == "done"]
    rows = re.findall(r"<tr><td>mig\.discrete_mig</td><td></td><td>(\w+)</td><td>([\d.]+)</td><td>([\d.]+)</td>"
                      r"<td>(\d+)</td></tr>", section)
    expected = {(m, float(b)): (round(float(np.median(g["mig.discrete_mig"])), 3), len(g))
                for (m, b), g in frame.groupby(["method", "method_params.beta"])}
    assert {(m, float(b)): (float(med), int(n)) for m, b, med, n in rows} == expected
    data = json.loads(re.search(r"id='report-data'>(.*?)</script>", page, re.S).group(1))
    assert len(data["finding"]) == len(expected)


def test_a_study_without_a_finding_has_no_finding_section(finished_study):
    _, study, _ = finished_study
    assert json.loads((study / "study.json").read_text())["finding"] is None
    assert '<section id="finding">' not in (study / "report.html").read_text(encoding="utf-8")


def test_a_finding_on_a_shifted_score_reaches_the_report(tmp_path, finished_study, recwarn):
    """study.json records no evaluation, so the report must not re-check the shift names."""
    path, shared, _ = finished_study
    study = tmp_path / "study"
    shutil.copytree(shared, study)
    finding = {**FINDING, "y": ["mig@inverse.discrete_mig", "mig.discrete_mig"]}
    meta = json.loads((study / "study.json").read_text())
    (study / "study.json").write_text(json.dumps({**meta, "finding": check_finding(finding, ["mig"], {"inverse": "inverse"})}))
    page = write_report(study).read_text(encoding="utf-8")
    section = re.search(r'<section id="finding">(.*?)</section>', page, re.S).group(1)
    assert "No finished run has mig@inverse.discrete_mig yet." in section
    assert not [w for w in recwarn if "finding" in str(w.message)]
    with pytest.raises(ValueError, match="no evaluation shift 'inverse'; evaluation.shifts: none"):
        check_finding(finding, ["mig"], {})
