"""The report escapes everything it reads from disk, and its embedded JSON is valid JSON (issue 9, item 8).

Found with hostile strings in the run folders a report reads: a run id, method and dataset names, a
config value, metric names, an error message and factor names that hold ``</script>``, quotes, HTML
tags with event handlers, ``$...$`` (matplotlib mathtext) and U+2028, and scores that are NaN or inf.
"""

from __future__ import annotations

import json
import re
import warnings
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from disentkit.io import write_json_atomic
from disentkit.study import write_store
from disentkit.study.records import SPEC_FILE
from disentkit.study.report import script_json, write_report
from disentkit.study.store import MalformedRunWarning

HOSTILE_ID = "</script><script>window.__pwned = 1</script><img src=x onerror=\"window.__pwned=2\">'\"&amp;\u2028"
HOSTILE_METHOD = "<b onmouseover=alert(1)>$\\frac{$</b>"
HOSTILE_NOTES = ["</script><!-- \"'", "<svg onload=window.__pwned=3>\u2029&lt;"]
HOSTILE_METRIC = "</script>m\"e'tric"
HOSTILE_ERROR = "RuntimeError: <script>window.__pwned=4</script> \"quoted\" \u2028 & more"
HOSTILE_FACTORS = np.asarray(["$\\alpha{$", "</script>", "a\u2028b"])
#: the only start tags the report writes
REPORT_TAGS = {"html", "head", "meta", "title", "style", "script", "body", "h1", "h2", "h3", "p", "span", "pre",
               "section", "div", "table", "thead", "tbody", "tr", "th", "td", "img", "figure", "figcaption", "ul",
               "li", "code"}


def _hostile_study(root: Path) -> Path:
    """Four runs written by hand (no training): two of the hostile method, done, one failed, and one
    with a NaN and an infinite score."""
    study = root / "study"
    rows = [("run-a", HOSTILE_ID, HOSTILE_NOTES[0], "done", 0.25),
            ("run-b", "plain-id-b", HOSTILE_NOTES[1], "done", float("nan")),
            ("run-c", "plain-id-c", HOSTILE_NOTES[0], "failed", None),
            ("run-d", "plain-id-d", HOSTILE_NOTES[1], "done", float("inf"))]
    for folder_name, run_id, note, state, score in rows:
        folder = study / "runs" / folder_name
        train = {"method": HOSTILE_METHOD, "dataset": "<i>data</i>", "seed": 0,
                 "method_params": {"note": note, "beta": 1.0}}
        write_json_atomic(folder / SPEC_FILE, {"run_id": run_id, "train": train, "evaluation": {"metrics": []}})
        status = {"state": state, "seconds": 1.5}
        if state == "failed":
            status["error"] = HOSTILE_ERROR
        write_json_atomic(folder / "status.json", status)
        if score is not None:  # json writes NaN and Infinity, as Python's json module does
            (folder / "metrics.json").write_text(json.dumps({HOSTILE_METRIC: {"values": {"<k>": score, "$k2$": 0.5}}}))
        (folder / "train_log.jsonl").write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n"
                                                        for s in (1, 2, 3)))
        np.savez(folder / "matrices.npz", mutual_information=np.full((2, 3), 0.5), importance=np.full((2, 3), 0.3),
                 importance_codes=np.arange(2), factor_names=HOSTILE_FACTORS)
    write_json_atomic(study / "study.json", {"name": "<script>alert('name')</script>", "description": HOSTILE_ERROR,
                                            "runs": ["run-a", "run-b", "run-c", "run-d"]})
    return study


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _embedded(text: str) -> str:
    return re.search(r"<script type='application/json' id='report-data'>(.*?)</script>", text, re.S).group(1)


def _strict(text: str):
    def no_constant(name):
        raise ValueError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=no_constant)


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    study = _hostile_study(tmp_path_factory.mktemp("hostile"))
    write_store(study)
    return write_report(study)


def test_the_report_escapes_every_string_it_reads(hostile_report):
    text = hostile_report.read_text(encoding="utf-8")
    page = _Collect()
    page.feed(text)
    tags = [tag for tag, _ in page.tags]
    assert set(tags) <= REPORT_TAGS, set(tags) - REPORT_TAGS
    assert tags.count("script") == 2  # the report's own script and its JSON data, nothing injected
    assert not [attrs for _, attrs in page.tags if any(a.startswith("on") for a in attrs)]  # no event handlers
    assert all(attrs["src"].startswith("data:image/png;base64,") for tag, attrs in page.tags if tag == "img")
    shown = "".join(page.text)  # the hostile strings are shown as text, as written
    for value in (HOSTILE_ID, HOSTILE_METHOD, *HOSTILE_NOTES, HOSTILE_METRIC + ".<k>", HOSTILE_ERROR, "<i>data</i>",
                  "<script>alert('name')</script>"):
        assert value in shown, value
    assert "Needs at least three finished runs" not in text  # three done runs: the correlation plot drew


def test_the_embedded_json_is_strict_json_with_the_hostile_strings(hostile_report):
    text = hostile_report.read_text(encoding="utf-8")
    raw = _embedded(text)
    assert "<" not in raw and ">" not in raw and "&" not in raw and "\u2028" not in raw
    data = _strict(raw)
    assert data["counts"] == {"pending": 0, "running": 0, "done": 3, "failed": 1}
    assert {r["run_id"]: r["state"] for r in data["runs"]} == {HOSTILE_ID: "done", "plain-id-b": "done",
                                                              "plain-id-c": "failed", "plain-id-d": "done"}
    assert {r["method"] for r in data["runs"]} == {HOSTILE_METHOD}
    assert f"{HOSTILE_METRIC}.<k>" in data["scores"]


def test_script_json_round_trips_hostile_values():
    value = {"a</script>b": ["<!--", "]]>", "\u2028\u2029", "'\"&"], "nan": float("nan"), "inf": float("-inf"),
             "numpy": [np.float32(0.5), np.int64(3), np.float64("nan"), np.bool_(True)], "array": np.arange(2),
             "path": Path("x")}
    raw = script_json(value)
    assert "</" not in raw and "<!--" not in raw
    assert _strict(raw) == {"a</script>b": ["<!--", "]]>", "\u2028\u2029", "'\"&"], "nan": None, "inf": None,
                            "numpy": [0.5, 3, None, True], "array": [0, 1], "path": "x"}


def test_a_wrong_shape_or_broken_matrices_file_is_left_out_with_a_warning(tmp_path):
    study = _hostile_study(tmp_path)
    cases = {b"not a zip archive": "unreadable", None: "importance of shape (4,)"}
    for content, words in cases.items():
        for folder in (study / "runs").iterdir():
            if content is None:
                np.savez(folder / "matrices.npz", importance=np.zeros(4), factor_names=HOSTILE_FACTORS)
            else:
                (folder / "matrices.npz").write_bytes(content)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            write_store(study)
            page = write_report(study).read_text(encoding="utf-8")
        messages = [str(w.message) for w in caught if issubclass(w.category, MalformedRunWarning)]
        best = re.search(r"run (plain-id-\w|&lt;/script&gt;)", page).group(1)  # the card of the best run
        folder = study / "runs" / ("run-a" if best.startswith("&") else "run-" + best[-1])
        matrices = [m for m in messages if "matrices.npz" in m]  # one warning, for the file the report read
        assert len(matrices) == 1 and matrices[0].startswith(f"{folder / 'matrices.npz'} "), matrices
        assert words in matrices[0] and matrices[0].endswith("the run's matrices are left out of the report")
        assert 'alt="DCI importance"' not in page and "mutual information (nats)" not in page
        assert "plain-id-d" in page and page.count('<div class="card">') == 1


def _chromium() -> str | None:
    import shutil

    return next((found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None)


@pytest.mark.skipif(_chromium() is None, reason="the browser check needs Chromium (apt-get install chromium)")
def test_json_parse_in_the_browser_reads_the_hostile_run_id(hostile_report, tmp_path):
    import subprocess

    probe = """<script>window.addEventListener('load', function () {
      var out = document.getElementById('probe');
      try {
        var data = JSON.parse(document.getElementById('report-data').textContent);
        out.textContent = JSON.stringify({ids: data.runs.map(function (r) { return r.run_id; }),
                                          pwned: window.__pwned === undefined ? null : window.__pwned,
                                          ready: document.body.dataset.ready || null});
      } catch (e) { out.textContent = 'ERROR ' + e; }
    });</script><pre id="probe"></pre></body>"""
    page = tmp_path / "probe.html"
    page.write_text(hostile_report.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.resolve().as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=90)
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S)
    assert found, dom.stdout[-2000:]
    import html

    result = json.loads(html.unescape(found.group(1)))  # the DOM dump escapes the probe's text
    assert result == {"ids": [HOSTILE_ID, "plain-id-b", "plain-id-c", "plain-id-d"], "pwned": None, "ready": "yes"}


@pytest.mark.skipif(__import__("shutil").which("node") is None, reason="the JavaScript check needs Node.js")
def test_json_parse_of_javascript_reads_the_embedded_data(hostile_report):
    """JavaScript's own ``JSON.parse`` (Node.js) on the text a browser gives the data element: its
    content up to the first ``</script`` in any case, as the HTML tokeniser ends script data."""
    import shutil
    import subprocess

    page = hostile_report.read_text(encoding="utf-8")
    start = page.index("id='report-data'>") + len("id='report-data'>")
    text = page[start:start + re.search(r"</script", page[start:], re.I).start()]
    script = ("const data = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "process.stdout.write(JSON.stringify({ids: data.runs.map(r => r.run_id), counts: data.counts}));")
    done = subprocess.run([shutil.which("node"), "-e", script], input=text, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == {"ids": [HOSTILE_ID, "plain-id-b", "plain-id-c", "plain-id-d"],
                                       "counts": {"pending": 0, "running": 0, "done": 3, "failed": 1}}
