"""The HTML report: self-contained, every section present, and it loads in headless Chromium without
script errors.

The browser checks need Chromium (``/usr/bin/chromium``, Debian's ``chromium`` package; ``make test``
installs it in CI) and are skipped without it. ``DISENTKIT_KEEP_ARTIFACTS=1`` copies the screenshot
to ``tests/artifacts/report.png``.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disentkit.study import StudySpec, run_study
from disentkit.study.report import SECTIONS, write_report

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "/usr/bin/chromium"):
        found = shutil.which(name)
        if found:
            return found
    return None


needs_chromium = pytest.mark.skipif(_chromium() is None,
                                    reason="headless checks need Chromium: apt-get install chromium (Debian)")


def _browse(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Open ``page`` in headless Chromium, isolated from the network and the user's profile."""
    command = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args, page.resolve().as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=90)


def _console_problems(stderr: str) -> list[str]:
    """Chromium's log lines for page console messages and uncaught exceptions."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


class _Page(HTMLParser):
    """Collects the ids, the src/href attributes and the #js-errors text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.body: dict[str, str | None] = {}
        self.js_errors: str | None = None
        self._in_errors = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        self.links += [attrs[k] for k in ("src", "href") if attrs.get(k) is not None]
        if tag == "body":
            self.body = attrs
        if attrs.get("id") == "js-errors":
            self._in_errors, self.js_errors = True, ""

    def handle_endtag(self, tag):
        self._in_errors = self._in_errors and tag != "pre"

    def handle_data(self, data):
        if self._in_errors:
            self.js_errors += data


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture(scope="module")
def report(finished_study, tmp_path_factory) -> Path:
    _, folder, _ = finished_study
    return write_report(folder, tmp_path_factory.mktemp("report") / "report.html")


def test_report_is_self_contained_with_every_section(report, finished_study):
    path, _, _ = finished_study
    text = report.read_text(encoding="utf-8")
    page = _parse(text)
    assert [i for i in page.ids if i in SECTIONS] == list(SECTIONS)
    assert not re.search(r"https?://", text)  # no remote scripts, styles, fonts or images
    images = [link for link in page.links if link.startswith("data:")]
    assert images and len(images) == len(page.links)  # every picture inlined
    for link in images:  # every inlined picture decodes as the image it claims to be
        kind = re.match(r"data:image/(png|gif);base64,", link).group(1)
        assert Image.open(io.BytesIO(base64.b64decode(link.split(",", 1)[1]))).format.lower() == kind
    runs = StudySpec.load(path).runs()
    assert all(r.run_id in text for r in runs)
    assert text.count("<tr>") == 1 + len(runs)  # header + one row per run
    assert 'alt="Spearman correlation"' in text  # five finished runs: the correlation section renders
    assert text.count('<div class="card">') == 2  # best run of beta_vae and of beta_tc_vae
    assert 'alt="latent traversal (animated)" src="data:image/gif;base64,' in text  # the images: true run
    assert text.count('alt="DCI importance"') == 2 and 'alt="training curves"' in text
    data = json.loads(html.unescape(re.search(r"id='report-data'>(.*?)</script>", text).group(1)))
    assert data["counts"] == {"pending": 0, "running": 0, "done": 5, "failed": 0}
    assert data["scores"][0] == "mig.discrete_mig"


@needs_chromium
def test_report_loads_in_headless_chromium(report, tmp_path):
    dom = _browse(report, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = _parse(dom.stdout)
    assert page.js_errors == ""
    assert page.body.get("data-ready") == "yes"  # the report's script ran to the end
    assert set(SECTIONS) <= set(page.ids) and "runs-table" in page.ids
    assert _console_problems(dom.stderr) == []

    shot = tmp_path / "report.png"
    result = _browse(report, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1400,2400")
    assert result.returncode == 0, result.stderr[-2000:]
    assert _console_problems(result.stderr) == []
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
    assert pixels.shape == (2400, 1400)
    assert pixels.std() > 20  # text, tables and plots, not a blank page
    if os.environ.get("DISENTKIT_KEEP_ARTIFACTS") == "1":
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(shot, ARTIFACTS / "report.png")


@needs_chromium
def test_clicking_a_column_sorts_the_runs_table(report, finished_study, tmp_path):
    from disentkit.study import load

    _, folder, _ = finished_study
    probe = """<script>window.addEventListener('load', function () {
      var heads = Array.prototype.slice.call(document.querySelectorAll('#runs-table th'));
      var th = heads.filter(function (h) { return h.textContent === 'mig.discrete_mig'; })[0];
      var order = function () { return Array.prototype.map.call(document.querySelectorAll('#runs-table tbody tr'),
        function (r) { return r.cells[0].textContent; }).join(','); };
      th.click(); var up = order(); th.click();
      document.getElementById('probe').textContent = up + ';' + order();
    });</script><pre id="probe"></pre></body>"""
    page = tmp_path / "probe.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", probe), encoding="utf-8")
    dom = _browse(page, tmp_path / "profile", "--dump-dom")
    up, down = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout).group(1).split(";")
    expected = load(folder).sort_values("mig.discrete_mig")["run_id"].tolist()
    assert up.split(",") == expected and down.split(",") == expected[::-1]
    assert _console_problems(dom.stderr) == []


@needs_chromium
def test_report_of_failed_runs_loads_and_the_checks_catch_script_errors(tmp_path, tiny_study):
    def fail(run, folder):
        raise RuntimeError(f"no luck <b>{run.flat()['seed']}</b>")

    study = tiny_study(name="failing", grid={"sweep": {"seed": [0, 1, 2]}}, method="beta_vae")
    result = run_study(StudySpec.from_dict(study), tmp_path / "study", progress=False, run_fn=fail)
    text = result.report.read_text()
    assert "RuntimeError: no luck &lt;b&gt;0&lt;/b&gt;" in text  # escaped, not markup
    assert "Needs at least three finished runs" in text and "No finished runs yet." in text
    dom = _browse(result.report, tmp_path / "profile", "--dump-dom")
    page = _parse(dom.stdout)
    assert (page.js_errors, page.body.get("data-ready"), _console_problems(dom.stderr)) == ("", "yes", [])
    assert set(SECTIONS) <= set(page.ids)

    # the same checks see a script error: the page records it and Chromium logs it
    broken = tmp_path / "broken.html"
    broken.write_text(text.replace("document.body.dataset.ready = 'yes';", "undefinedFunction();"))
    dom = _browse(broken, tmp_path / "profile", "--dump-dom")
    page = _parse(dom.stdout)
    assert "undefinedFunction is not defined" in page.js_errors
    assert page.body.get("data-ready") is None
    assert any("Uncaught ReferenceError" in line for line in _console_problems(dom.stderr))
