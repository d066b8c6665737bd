"""The study report: one self-contained ``report.html`` (plots and images inlined as data URIs).

Sections: a sortable table of runs and scores; score distributions per method and hyperparameter;
the Spearman rank correlation between metrics; the mutual-information and importance matrices,
latent traversals and reconstructions of the best run per method; training curves.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

# headline score columns, in the order the report prefers them
HEADLINE = (
    "dci.disentanglement", "mig.discrete_mig", "sap.SAP_score", "modularity_explicitness.modularity_score",
    "irs.IRS", "med.disentanglement", "factor_vae_score.eval_accuracy", "beta_vae_score.eval_accuracy",
    "dci.completeness", "dci.informativeness_test", "unsupervised.gaussian_total_correlation",
)
SECTIONS = ("runs", "distributions", "correlation", "best-runs", "curves")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _file_uri(path: Path, mime: str) -> str | None:
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode() if path.exists() else None


def score_columns(frame) -> list[str]:
    """The headline score columns present in ``frame`` (all metric columns if none is)."""
    present = [c for c in HEADLINE if c in frame.columns and frame[c].notna().any()]
    if present:
        return present
    return [c for c in frame.columns if "." in c and frame[c].dtype.kind == "f" and not c.startswith("method_params")]


def swept_parameter(frame, method: str) -> str | None:
    """The method hyperparameter that varies across this method's runs (None if none does)."""
    rows = frame[frame["method"] == method]
    for column in sorted(c for c in frame.columns if c.startswith("method_params.")):
        if rows[column].nunique(dropna=True) > 1:
            return column
    return None


def _distribution_plots(frame, scores: list[str]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figures = []
    methods = sorted(frame["method"].dropna().unique())
    for score in scores[:6]:
        groups, labels = [], []
        for method in methods:
            rows = frame[frame["method"] == method]
            param = swept_parameter(frame, method)
            keys = sorted(rows[param].dropna().unique()) if param else [None]
            for key in keys:
                sel = rows if key is None else rows[rows[param] == key]
                values = sel[score].dropna().to_numpy(float)
                if values.size:
                    groups.append(values)
                    labels.append(method if key is None else f"{method}\n{param.split('.')[-1]}={key:g}"
                                  if isinstance(key, (int, float)) else f"{method}\n{key}")
        if not groups:
            continue
        fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(groups) + 1.5), 3.2))
        ax.boxplot(groups, widths=0.5, showfliers=False)
        rng = np.random.default_rng(0)
        for i, values in enumerate(groups, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, values.size), values, s=16, alpha=0.8, zorder=3)
        ax.set_xticks(range(1, len(groups) + 1), labels, fontsize=7)
        ax.set_title(score)
        ax.grid(axis="y", alpha=0.3)
        figures.append(_png(fig))
    return figures


def _heatmap(matrix: np.ndarray, xlabels, ylabels, title: str, *, vmin=None, vmax=None, annotate=True) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(0.55 * len(xlabels) + 2.2, 0.32 * len(ylabels) + 1.6))
    im = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(xlabels)), xlabels, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(ylabels)), ylabels, fontsize=7)
    if annotate and matrix.size <= 400:
        lo, hi = im.get_clim()
        for (i, j), v in np.ndenumerate(matrix):
            if np.isfinite(v):  # dark text on the light (upper) end of viridis, white on the dark end
                light = hi > lo and (v - lo) / (hi - lo) > 0.6
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="black" if light else "white")
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title(title, fontsize=9)
    return _png(fig)


def spearman_matrix(frame, scores: list[str]) -> np.ndarray:
    """Spearman rank correlation between score columns over the runs that have both."""
    from scipy.stats import spearmanr

    n = len(scores)
    out = np.full((n, n), np.nan)
    for i in range(n):
        for j in range(n):
            pair = frame[[scores[i], scores[j]]].dropna()
            if len(pair) >= 3 and pair.iloc[:, 0].nunique() > 1 and pair.iloc[:, 1].nunique() > 1:
                out[i, j] = spearmanr(pair.iloc[:, 0], pair.iloc[:, 1]).statistic
    return out


def _curves_plot(curves, frame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if curves is None or curves.empty:
        return None
    terms = [t for t in ("loss", "reconstruction", "kl", "regularizer") if t in set(curves["term"])]
    if not terms:
        return None
    method_of = dict(zip(frame["run_id"], frame["method"]))
    methods = sorted(set(method_of.values()))
    colours = {m: plt.get_cmap("tab10")(i % 10) for i, m in enumerate(methods)}
    fig, axes = plt.subplots(1, len(terms), figsize=(3.2 * len(terms), 3.0), squeeze=False, layout="constrained")
    for ax, term in zip(axes[0], terms):
        sel = curves[curves["term"] == term]
        for run_id, rows in sel.groupby("run_id"):
            method = method_of.get(run_id, "?")
            ax.plot(rows["step"], rows["value"], color=colours.get(method), alpha=0.7, lw=1)
        ax.set_title(term, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.grid(alpha=0.3)
        if term == "loss":
            ax.set_yscale("log")
    handles = [plt.Line2D([], [], color=colours[m], label=m) for m in methods]
    axes[0][0].legend(handles=handles, fontsize=7)
    return _png(fig)


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{margin-bottom:4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:36px}
.meta{color:#666}.grid{display:flex;flex-wrap:wrap;gap:14px}.grid img{border:1px solid #eee}
img{max-width:100%;height:auto}.grid>*{min-width:0;max-width:100%}figure{margin:0}
table{border-collapse:collapse;font-size:12px;width:100%}th,td{padding:4px 6px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{cursor:pointer;background:#f6f6f6;position:sticky;top:0}th:hover{background:#e8e8e8}td.text,th.text{text-align:left}
.state-done{color:#1a7f37}.state-failed{color:#c62828}.state-pending,.state-running{color:#8a6d00}
.card{border:1px solid #e4e4e4;border-radius:6px;padding:10px 12px;margin:10px 0}.card h3{margin:0 0 8px 0}
.counts span{margin-right:14px}.tablewrap{max-height:520px;overflow:auto;border:1px solid #eee}
"""

_SCRIPT = """
window.__reportErrors = [];
window.addEventListener('error', function (e) {
  window.__reportErrors.push(String(e.message));
  document.getElementById('js-errors').textContent = window.__reportErrors.join('\\n');
});
function sortTable(th) {
  var table = th.closest('table'), body = table.tBodies[0];
  var index = Array.prototype.indexOf.call(th.parentNode.children, th);
  var ascending = th.dataset.order !== 'asc';
  th.parentNode.querySelectorAll('th').forEach(function (h) { delete h.dataset.order; });
  th.dataset.order = ascending ? 'asc' : 'desc';
  var rows = Array.prototype.slice.call(body.rows);
  rows.sort(function (a, b) {
    var x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
    var nx = parseFloat(x), ny = parseFloat(y), cmp;
    if (!isNaN(nx) && !isNaN(ny)) { cmp = nx - ny; } else { cmp = String(x).localeCompare(String(y)); }
    return ascending ? cmp : -cmp;
  });
  rows.forEach(function (r) { body.appendChild(r); });
}
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('table.sortable th').forEach(function (th) {
    th.addEventListener('click', function () { sortTable(th); });
  });
  document.body.dataset.ready = 'yes';
});
"""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td data-value="">–</td>'
    if isinstance(value, (float, np.floating)):
        return f'<td data-value="{float(value):.10g}">{float(value):.3f}</td>'
    if isinstance(value, (int, np.integer)):
        return f'<td data-value="{int(value)}">{int(value)}</td>'
    text = html.escape(str(value))
    return f'<td class="text" data-value="{text}">{text}</td>'


def _runs_table(frame, scores: list[str]) -> str:
    params = sorted(c for c in frame.columns if c.startswith("method_params.") and frame[c].nunique(dropna=True) > 1)
    columns = ["run_id", "state", "method", "dataset", *params, "seed", "steps", *scores, "seconds", "error"]
    columns = [c for c in columns if c in frame.columns]
    head = "".join(f'<th class="{"text" if frame[c].dtype.kind not in "fi" else ""}">'
                   f'{html.escape(c.replace("method_params.", ""))}</th>' for c in columns)
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            if c == "state":
                cells.append(f'<td class="text state-{row[c]}" data-value="{row[c]}">{row[c]}</td>')
            elif c == "error" and isinstance(row[c], str):
                text = html.escape(row[c][:160])
                cells.append(f'<td class="text" data-value="{text}">{text}</td>')
            else:
                cells.append(_cell(row[c]))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="tablewrap"><table class="sortable" id="runs-table"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def _best_runs(frame, scores: list[str]) -> str:
    done = frame[frame["state"] == "done"]
    if done.empty or not scores:
        return "<p>No finished runs yet.</p>"
    key = scores[0]
    cards = []
    for method in sorted(done["method"].dropna().unique()):
        rows = done[done["method"] == method].sort_values(key, ascending=False, na_position="last")
        best = rows.iloc[0]
        folder = Path(best["folder"])
        parts = [f'<div class="card"><h3>{html.escape(method)}: run {best["run_id"]} '
                 f'({html.escape(key)} = {best[key]:.3f})</h3><div class="grid">']
        matrices = folder / "matrices.npz"
        if matrices.exists():
            with np.load(matrices, allow_pickle=False) as data:
                names = [str(n) for n in data["factor_names"]] if "factor_names" in data else None
                for name, title in (("importance", "DCI importance"), ("mutual_information", "mutual information (nats)")):
                    if name in data:
                        m = np.asarray(data[name], float)
                        parts.append(f'<img alt="{title}" src="{_heatmap(m, names or range(m.shape[1]), [f"z{i}" for i in range(m.shape[0])], f"{title}: codes x factors", vmin=0)}">')
        for file, mime, alt in (("traversal.gif", "image/gif", "latent traversal (animated)"),
                                ("traversal.png", "image/png", "latent traversal"),
                                ("reconstructions.png", "image/png", "reconstructions")):
            uri = _file_uri(folder / file, mime)
            if uri:
                parts.append(f'<figure><img alt="{alt}" src="{uri}"><figcaption>{alt}</figcaption></figure>')
        parts.append("</div></div>")
        cards.append("".join(parts))
    return "".join(cards)


def write_report(study_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a study folder (from ``results.duckdb``); returns its path."""
    import duckdb

    from disentkit.study.records import read_json
    from disentkit.study.store import STORE_NAME, load, status_counts, write_store

    study_dir = Path(study_dir)
    if not (study_dir / STORE_NAME).exists():
        write_store(study_dir)
    frame = load(study_dir)
    con = duckdb.connect(str(study_dir / STORE_NAME), read_only=True)
    try:
        curves = con.execute("SELECT * FROM curves").df()
    except duckdb.Error:
        curves = None
    finally:
        con.close()
    meta = read_json(study_dir / "study.json") or {}
    counts = status_counts(study_dir)
    scores = score_columns(frame) if not frame.empty else []
    body = [f"<h1>disentkit study: {html.escape(meta.get('name', study_dir.name))}</h1>",
            f"<p class='meta'>{html.escape(meta.get('description', ''))}</p>",
            "<p class='counts'>" + "".join(f"<span class='state-{k}'>{k}: {v}</span>" for k, v in counts.items()) + "</p>",
            '<pre id="js-errors" style="color:#c62828"></pre>']
    body.append('<section id="runs"><h2>Runs and scores</h2><p class="meta">Click a column to sort.</p>')
    body.append(_runs_table(frame, scores) if not frame.empty else "<p>No runs.</p>")
    body.append("</section>")
    body.append('<section id="distributions"><h2>Score distributions per method and hyperparameter</h2><div class="grid">')
    done = frame[frame["state"] == "done"] if not frame.empty else frame
    body.extend(f'<img alt="score distribution" src="{uri}">' for uri in (_distribution_plots(done, scores) if not done.empty else []))
    body.append("</div></section>")
    body.append('<section id="correlation"><h2>Rank correlation between metrics (Spearman)</h2>')
    if len(scores) >= 2 and len(done) >= 3:
        rho = spearman_matrix(done, scores)
        body.append(f'<img alt="Spearman correlation" src="{_heatmap(rho, scores, scores, "Spearman rank correlation over runs", vmin=-1, vmax=1)}">')
    else:
        body.append("<p>Needs at least three finished runs and two metrics.</p>")
    body.append("</section>")
    body.append('<section id="best-runs"><h2>Best run per method</h2>')
    body.append(f"<p class='meta'>Best by {html.escape(scores[0]) if scores else '–'}: importance and mutual-information "
                "matrices (codes x factors), latent traversals and reconstructions.</p>")
    body.append(_best_runs(frame, scores) if not frame.empty else "")
    body.append("</section>")
    body.append('<section id="curves"><h2>Training curves</h2>')
    curve = _curves_plot(curves, frame) if not frame.empty else None
    body.append(f'<img alt="training curves" src="{curve}">' if curve else "<p>No training logs.</p>")
    body.append("</section>")
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>disentkit study {html.escape(meta.get('name', ''))}</title><style>{_STYLE}</style>"
            f"<script>{_SCRIPT}</script></head><body>{''.join(body)}"
            f"<script type='application/json' id='report-data'>{html.escape(json.dumps({'counts': counts, 'scores': scores}))}</script>"
            "</body></html>")
    path = Path(out) if out else study_dir / "report.html"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
