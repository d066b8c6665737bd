"""A study's finding: the claim of the paper it reproduces, and the plot that carries it.

A study file may name its finding::

    finding:
      claim: HFS raises the median DCI-D of beta-VAE under correlation
      x: method_params.hfs_weight            # a run-config column (the grid's swept key)
      y: [dci@inverse.disentanglement, dci.disentanglement]   # score columns, one row of panels each
      group: method                          # optional: one line per value
      panels: sampler_params.setting         # optional: one column of panels per value

The report's *finding* section draws, for each ``y`` and panel, every finished run as a point and
the median over runs (seeds) of each ``(group, x)`` as a line, and tables those medians with the
number of runs. Whether the claim holds is read off those numbers (and said in the closing note of
the issue that reproduced it); the section states the claim, never a verdict.
"""

from __future__ import annotations

import html
from typing import Any, Mapping

import numpy as np

__all__ = ["FINDING_KEYS", "check_finding", "finding_section", "median_table"]

FINDING_KEYS = ("claim", "x", "y", "group", "panels")


def check_finding(data: Any, metrics: list[str] | None = None, shifts: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The validated ``finding`` mapping (``y`` as a list). ``metrics`` and ``shifts`` (the study's
    evaluation; None: not checked) check that each ``y`` names a score the study computes:
    ``<metric>.<key>`` or ``<metric>@<shift>.<key>``. A ``ValueError`` names the bad key or value."""
    if not isinstance(data, Mapping):
        raise ValueError(f"finding must be a mapping with keys {', '.join(FINDING_KEYS)}, got {data!r}")
    unknown = sorted(set(data) - set(FINDING_KEYS))
    if unknown:
        raise ValueError(f"unknown finding key(s) {unknown}; valid keys: {', '.join(FINDING_KEYS)}")
    for key in ("claim", "x", "y"):
        if key not in data:
            raise ValueError(f"finding needs {key!r}")
    out = {"claim": data["claim"], "x": data["x"], "y": data["y"] if isinstance(data["y"], list) else [data["y"]]}
    out.update({k: data[k] for k in ("group", "panels") if data.get(k) is not None})
    for key, value in out.items():
        values = value if key == "y" else [value]
        if not values or not all(isinstance(v, str) and v.strip() for v in values):
            raise ValueError(f"finding.{key} must be a non-empty string{' or a list of them' if key == 'y' else ''}, "
                             f"got {value!r}")
    for column in out["y"]:
        metric, _, key = column.partition(".")
        name, _, shift = metric.partition("@")
        if not key:
            raise ValueError(f"finding.y {column!r} must be a score column, <metric>.<key> (e.g. dci.disentanglement)")
        if metrics is not None and name not in metrics:
            raise ValueError(f"finding.y {column!r}: metric {name!r} is not evaluated; evaluation.metrics: "
                             f"{', '.join(metrics)}")
        if shift and shifts is not None and shift not in shifts:
            raise ValueError(f"finding.y {column!r}: no evaluation shift {shift!r}; evaluation.shifts: "
                             f"{', '.join(shifts or {}) or 'none'}")
    return out


def _values(series) -> list[Any]:
    """The distinct values of a column, numbers in numeric order, then everything else as text."""
    values = list(dict.fromkeys(v for v in series.tolist() if v is not None and v == v))
    numbers = sorted(v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool))
    return numbers + sorted((v for v in values if v not in numbers), key=str)


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def median_table(frame, finding: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One record per ``(y, panel, group, x)``: the median of ``y`` over the finished runs there,
    with the number of runs (``n``); NaN scores are left out."""
    x, group, panels = finding["x"], finding.get("group"), finding.get("panels")
    rows = []
    for y in finding["y"]:
        if y not in frame.columns:
            continue
        for panel in _values(frame[panels]) if panels else [None]:
            in_panel = frame if panel is None else frame[frame[panels] == panel]
            for key in _values(in_panel[group]) if group else [None]:
                sel = in_panel if key is None else in_panel[in_panel[group] == key]
                for value in _values(sel[x]):
                    scores = sel.loc[sel[x] == value, y].to_numpy(float)
                    scores = scores[np.isfinite(scores)]
                    if scores.size:
                        rows.append({"y": y, "panel": panel, "group": key, "x": value,
                                     "median": float(np.median(scores)), "n": int(scores.size)})
    return rows


def _plot(frame, finding: Mapping[str, Any], table: list[dict[str, Any]], plain) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from disentkit.study.report import png_data_uri

    x, group, panels = finding["x"], finding.get("group"), finding.get("panels")
    ys = [y for y in finding["y"] if y in frame.columns]
    panel_values = _values(frame[panels]) if panels else [None]
    if not ys or not table:
        return None
    xs = _values(frame[x])
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    position = {v: (float(v) if numeric else i) for i, v in enumerate(xs)}
    groups = _values(frame[group]) if group else [None]
    colours = {g: plt.cm.tab10(i % 10) for i, g in enumerate(groups)}
    fig, axes = plt.subplots(len(ys), len(panel_values), figsize=(4.2 * len(panel_values), 3.2 * len(ys)),
                             squeeze=False)
    rng = np.random.default_rng(0)
    span = (max(position.values()) - min(position.values())) or 1.0
    for r, y in enumerate(ys):
        for c, panel in enumerate(panel_values):
            ax = axes[r][c]
            in_panel = frame if panel is None else frame[frame[panels] == panel]
            for k, key in enumerate(groups):
                sel = in_panel if key is None else in_panel[in_panel[group] == key]
                shift = (k - (len(groups) - 1) / 2) * 0.03 * span
                points = [(position[v] + shift, s) for v, s in zip(sel[x].tolist(), sel[y].to_numpy(float))
                          if v in position and np.isfinite(s)]
                if points:
                    px, py = np.asarray(points).T
                    ax.scatter(px + rng.uniform(-0.01, 0.01, px.size) * span, py, s=14, alpha=0.6,
                               color=colours[key])
                line = [(position[t["x"]] + shift, t["median"]) for t in table
                        if t["y"] == y and t["panel"] == panel and t["group"] == key]
                if line:
                    lx, ly = np.asarray(sorted(line)).T
                    ax.plot(lx, ly, "-o", color=colours[key], markersize=4, label=plain(_label(key)) if key is not None else None)
            if not numeric:
                ax.set_xticks(range(len(xs)), [plain(_label(v)) for v in xs], fontsize=7, rotation=20)
            ax.set_xlabel(plain(x), fontsize=8)
            ax.set_title(plain(y if panel is None else f"{y}\n{panels} = {_label(panel)}"), fontsize=8)
            ax.grid(alpha=0.3)
            if group and r == 0 and c == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    return png_data_uri(fig)


def finding_section(frame, finding: Mapping[str, Any] | None, plain) -> tuple[str, list[dict[str, Any]]]:
    """The report's finding section (HTML) and its median table (for the report's JSON data);
    ``("", [])`` when the study names no finding. ``plain`` escapes a label for matplotlib."""
    if not finding:
        return "", []
    parts = ['<section id="finding"><h2>Finding</h2>',
             f"<p class='claim'>Claim: {html.escape(str(finding.get('claim', '')))}</p>"]
    missing = [c for c in (finding.get("x"), finding.get("group"), finding.get("panels"), *finding.get("y", []))
               if c and (frame.empty or c not in frame.columns)]
    if missing:
        parts.append(f"<p>No finished run has {html.escape(', '.join(map(str, missing)))} yet.</p></section>")
        return "".join(parts), []
    table = median_table(frame, finding)
    plot = _plot(frame, finding, table, plain)
    parts.append(f'<img alt="finding" src="{plot}">' if plot else "<p>No finished run has these scores yet.</p>")
    if table:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in ("score", finding.get("panels") or "", finding.get("group") or "",
                                                              finding["x"], "median", "runs"))
        body = "".join("<tr>" + "".join(f"<td>{html.escape(_label(v))}</td>" for v in (
            t["y"], "" if t["panel"] is None else t["panel"], "" if t["group"] is None else t["group"], t["x"],
            f"{t['median']:.3f}", t["n"])) + "</tr>" for t in table)
        parts.append(f"<table id='finding-table'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
    parts.append("</section>")
    return "".join(parts), table
