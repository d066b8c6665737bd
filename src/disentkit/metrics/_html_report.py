"""A one-page, self-contained HTML report of an :func:`~disentkit.metrics.evaluate` result.

The page holds a table of every metric's values (with its sample sizes and seconds, the reason
of a skipped metric and the error of a failed one) and, when ``med`` ran, a bar chart of its per-code disentanglement
distribution (``code_disentanglement_bin_0`` ... ``_9``: the share of the informative codes per
tenth of ``D_i``). The chart is a PNG drawn with matplotlib and inlined as base64, so the file
needs nothing beside it; matplotlib is imported only to draw it (without matplotlib the page
says so and keeps the table).
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["html_report", "write_html_report", "med_bins_png"]

_BIN_KEYS = [f"code_disentanglement_bin_{b}" for b in range(10)]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: 0.2em; }
.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; width: 100%; margin: 1em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; }
th { background: #f4f4f4; }
td.value { font-variant-numeric: tabular-nums; text-align: right; }
tr.metric td { border-top: 2px solid #bbb; font-weight: 600; }
.skipped { color: #a60; }
.failed { color: #b00; }
"""


def med_bins_png(values: Mapping[str, float]) -> bytes:
    """A PNG bar chart of MED's ``code_disentanglement_bin_*`` shares (matplotlib, Agg)."""
    from matplotlib.figure import Figure  # no pyplot: no backend or global state is touched

    shares = [float(values[k]) for k in _BIN_KEYS]
    fig = Figure(figsize=(6.4, 2.8), dpi=100)
    ax = fig.subplots()
    ax.bar([b / 10 + 0.05 for b in range(10)], shares, width=0.09, color="#4a7ab7")
    ax.set_xlim(0, 1)
    ax.set_xticks([b / 10 for b in range(11)])
    ax.set_xlabel("per-code disentanglement D_i = 1 - H_F(P_i.)")
    ax.set_ylabel("share of informative codes")
    count = values.get("informative_codes")
    title = "MED: code disentanglement" + (f" ({int(count)} informative codes)" if count is not None else "")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e4 else f"{value:.4g}"
    return html.escape(str(value))


def _sizes(settings: Mapping[str, Any]) -> str:
    parts = [f"{key}={settings[key]}" for key in ("num_train", "num_test", "k", "estimator") if key in settings
             and settings[key] is not None]
    return html.escape(", ".join(parts))


def _table(results: Mapping[str, Mapping[str, Any]]) -> str:
    rows = ["<tr><th>metric / key</th><th>value</th><th>settings</th><th>seconds</th></tr>"]
    for name, record in results.items():
        settings = record.get("settings", {}) or {}
        seconds = record.get("seconds")
        seconds_text = f"{seconds:.2f}" if isinstance(seconds, (int, float)) else ""
        rows.append(f'<tr class="metric"><td>{html.escape(name)}</td><td></td>'
                    f"<td>{_sizes(settings)}</td><td class=\"value\">{seconds_text}</td></tr>")
        if record.get("skipped"):
            rows.append(f'<tr><td class="skipped" colspan="4">skipped: {html.escape(str(record["skipped"]))}'
                        "</td></tr>")
        if record.get("error"):
            rows.append(f'<tr><td class="failed" colspan="4">failed: {html.escape(str(record["error"]))}'
                        "</td></tr>")
        for key, value in (record.get("values") or {}).items():
            rows.append(f"<tr><td>&nbsp;&nbsp;{html.escape(key)}</td><td class=\"value\">{_format(value)}</td>"
                        "<td></td><td></td></tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def html_report(
    results: Mapping[str, Mapping[str, Any]],
    *,
    title: str = "disentkit evaluation",
    details: Mapping[str, Any] | None = None,
) -> str:
    """The report page of ``results`` (as :func:`~disentkit.metrics.evaluate` returns) as one HTML
    string; ``details`` (representation, dataset, preset, ...) are listed under the title."""
    meta = " &middot; ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in (details or {}).items())
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{meta}</p>' if meta else "",
    ]
    med_values = (results.get("med") or {}).get("values") or {}
    if all(key in med_values for key in _BIN_KEYS):
        try:
            png = med_bins_png(med_values)
        except ImportError:
            parts.append("<p>(matplotlib is not installed: no chart of MED's code-disentanglement bins)</p>")
        else:
            data = base64.b64encode(png).decode("ascii")
            parts.append('<figure><img alt="MED code-disentanglement distribution" '
                         f'src="data:image/png;base64,{data}"></figure>')
    parts.append(_table(results))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def write_html_report(
    results: Mapping[str, Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str = "disentkit evaluation",
    details: Mapping[str, Any] | None = None,
) -> Path:
    """Write :func:`html_report` to ``path`` (UTF-8, replacing it atomically); returns the path."""
    from disentkit.io import atomic_path

    path = Path(path)
    page = html_report(results, title=title, details=details)
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
