"""The study report: one self-contained ``report.html`` (plots and images inlined as data URIs).

Sections: a sortable table of runs and scores; score distributions per method and hyperparameter;
the Spearman rank correlation between metrics; MED against top-k MED per method, the per-code
disentanglement distribution and the finding of Cao et al. in words (when the runs have ``med``
results; see :func:`med_summary` and :func:`med_finding`); the mutual-information and importance
matrices, latent traversals and reconstructions of the best run per method (pictures only where the
run wrote them: a method without a decoder has none); training curves.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from disentkit.io import atomic_path
from disentkit.study.finding import finding_section

# headline score columns, in the order the report prefers them
HEADLINE = (
    "dci.disentanglement", "mig.discrete_mig", "sap.SAP_score", "modularity_explicitness.modularity_score",
    "irs.IRS", "med.disentanglement", "med.top1_disentanglement", "factor_vae_score.eval_accuracy",
    "beta_vae_score.eval_accuracy", "dci.completeness", "dci.informativeness_test", "linear_probe.test_accuracy",
    "unsupervised.gaussian_total_correlation",
)
SECTIONS = ("runs", "distributions", "correlation", "med", "best-runs", "curves")


def _plain(text: Any) -> str:
    """``text`` for a matplotlib label, drawn as written: a ``$`` is escaped, so a hostile name
    (``$\\foo$``) is not parsed as mathtext (which fails to draw)."""
    return str(text).replace("$", r"\$")


def _warn(message: str) -> None:
    from disentkit.study.store import MalformedRunWarning

    warnings.warn(message, MalformedRunWarning, stacklevel=3)


def png_data_uri(fig) -> str:
    """A matplotlib figure as a ``data:image/png;base64`` URI (the figure is closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/gif": (b"GIF87a", b"GIF89a")}


def _file_uri(path: Path, mime: str) -> str | None:
    """A data URI of a picture a run wrote; None (with a warning when it is there but unusable) when
    it is missing, not a file, unreadable or not the image it claims to be."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = path.read_bytes()
    except OSError as err:
        why = "a folder, not a file" if isinstance(err, IsADirectoryError) else (err.strerror or str(err))
        _warn(f"{path} is {why}: the picture is left out of the report")
        return None
    if not data.startswith(_MAGIC.get(mime, (b"",))):
        _warn(f"{path} is not a {mime.split('/')[1].upper()} image: the picture is left out of the report")
        return None
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def read_matrices(path: Path) -> dict[str, np.ndarray] | None:
    """The report's matrices from a run's ``matrices.npz`` (see ``disentkit.study.worker.score_matrices``),
    checked: ``mutual_information`` and ``importance`` numeric (codes, factors), ``factor_names`` one
    per factor, ``importance_codes`` indices of codes. None when the file is missing; None with a
    warning naming the file when it cannot be read or has the wrong shapes."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            if not isinstance(data, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            arrays = {name: np.asarray(data[name]) for name in
                      ("mutual_information", "importance", "importance_codes", "factor_names") if name in data.files}
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as err:
        why = "a folder, not a file" if isinstance(err, IsADirectoryError) else f"unreadable ({type(err).__name__}: {err})"
        _warn(f"{path} is {why}: the run's matrices are left out of the report")
        return None
    problem = _matrices_problem(arrays)
    if problem:
        _warn(f"{path} {problem}: the run's matrices are left out of the report")
        return None
    return arrays


def _matrices_problem(arrays: dict[str, np.ndarray]) -> str | None:
    shapes = {}
    for name in ("mutual_information", "importance"):
        if name in arrays:
            matrix = arrays[name]
            if matrix.ndim != 2 or matrix.dtype.kind not in "fiu" or 0 in matrix.shape:
                return f"has {name} of shape {matrix.shape} and type {matrix.dtype} (expected numbers, codes x factors)"
            shapes[name] = matrix.shape
    if len(set(shapes.values())) > 1:
        return f"has matrices of different shapes {sorted(set(shapes.values()))}"
    codes, factors = next(iter(shapes.values()), (None, None))
    names = arrays.get("factor_names")
    if names is not None and (names.ndim != 1 or (factors is not None and len(names) != factors)):
        return f"has factor_names of shape {names.shape} for {factors} factors"
    fitted = arrays.get("importance_codes")
    if fitted is not None and (fitted.ndim != 1 or fitted.dtype.kind not in "iu"
                               or (codes is not None and (len(fitted) > codes or (fitted.size and (
                                   fitted.min() < 0 or fitted.max() >= codes))))):
        return f"has importance_codes of shape {fitted.shape} and type {fitted.dtype} that are not indices of {codes} codes"
    return None


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
                values = sel[score].to_numpy(float)
                values = values[np.isfinite(values)]
                if values.size:
                    groups.append(values)
                    labels.append(_plain(method if key is None else f"{method}\n{param.split('.')[-1]}={key:g}"
                                         if isinstance(key, (int, float)) else f"{method}\n{key}"))
        if not groups:
            continue
        fig, ax = plt.subplots(figsize=(max(4.5, 0.9 * len(groups) + 1.5), 3.2))
        ax.boxplot(groups, widths=0.5, showfliers=False)
        rng = np.random.default_rng(0)
        for i, values in enumerate(groups, start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, values.size), values, s=16, alpha=0.8, zorder=3)
        ax.set_xticks(range(1, len(groups) + 1), labels, fontsize=7)
        ax.set_title(_plain(score))
        ax.grid(axis="y", alpha=0.3)
        figures.append(png_data_uri(fig))
    return figures


def _heatmap(matrix: np.ndarray, xlabels, ylabels, title: str, *, vmin=None, vmax=None, annotate=True) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(0.55 * len(xlabels) + 2.2, 0.32 * len(ylabels) + 1.6))
    im = ax.imshow(matrix, cmap="viridis", vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(xlabels)), [_plain(x) for x in xlabels], rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(ylabels)), [_plain(y) for y in ylabels], fontsize=7)
    if annotate and matrix.size <= 400:
        lo, hi = im.get_clim()
        for (i, j), v in np.ndenumerate(matrix):
            if np.isfinite(v):  # dark text on the light (upper) end of viridis, white on the dark end
                light = hi > lo and (v - lo) / (hi - lo) > 0.6
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="black" if light else "white")
    fig.colorbar(im, ax=ax, fraction=0.04)
    ax.set_title(_plain(title), fontsize=9)
    return png_data_uri(fig)


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
    terms = [t for t in ("loss", "reconstruction", "kl", "regularizer", "embedding_std") if t in set(curves["term"])]
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
        if term == "loss" and (sel["value"] > 0).all():  # SimSiam's loss is negative
            ax.set_yscale("log")
    handles = [plt.Line2D([], [], color=colours[m], label=_plain(m)) for m in methods]
    axes[0][0].legend(handles=handles, fontsize=7)
    return png_data_uri(fig)


# -- MED and top-k MED (Cao et al., NeurIPS 2022; spec disentanglement_lib.md §5) -------------------

#: the negative-free self-supervised methods (no negative pairs): the three of Cao et al., and VICReg
NEGATIVE_FREE = ("byol", "simsiam", "barlow_twins", "vicreg")
#: the finding's first claim, "a well-disentangled subset": the negative-free runs' mean top-k MED
#: is at least this much above their mean full MED
SUBSET_MARGIN = 0.1
#: the second claim, "comparable to the VAEs": the negative-free runs' mean top-k MED is at most this
#: much below the VAE runs'
COMPARABLE_TOLERANCE = 0.05
#: med's per-code distribution keys: ``code_disentanglement_bin_0`` .. ``_9`` (the share of the
#: informative codes whose D_j falls in each tenth of [0, 1]) and ``informative_codes``
CODE_BINS = 10
_FAMILY_ORDER = {"negative-free": 0, "VAE": 1, "other": 2}


def has_decoder(method: str) -> bool | None:
    """``capabilities.decoder`` of a registered method; None for a name the registry does not know."""
    from disentkit import methods

    try:
        return bool(methods.method_class(method).capabilities.decoder)
    except ValueError:
        return None


def method_family(method: str) -> str:
    """``"negative-free"`` (a name in :data:`NEGATIVE_FREE`), ``"VAE"`` (a method with a decoder,
    ``capabilities.decoder``) or ``"other"``."""
    if method in NEGATIVE_FREE:
        return "negative-free"
    return "VAE" if has_decoder(method) else "other"


def topk_column(frame) -> str | None:
    """The top-k MED column with the smallest k that has values (``med.top1_disentanglement``)."""
    found = sorted((int(m.group(1)), c) for c in frame.columns
                   if (m := re.fullmatch(r"med\.top(\d+)_disentanglement", str(c))) and frame[c].notna().any())
    return found[0][1] if found else None


def code_bin_columns(frame) -> list[str]:
    """The ``med.code_disentanglement_bin_*`` columns when every bin is present with values, else []."""
    columns = [f"med.code_disentanglement_bin_{i}" for i in range(CODE_BINS)]
    if all(c in frame.columns for c in columns) and frame[columns].notna().all(axis=1).any():
        return columns
    return []


def _med_runs(frame):
    """Finished runs with a full MED value, with a ``family`` column, in family then method order."""
    if frame.empty or "med.disentanglement" not in frame.columns or "method" not in frame.columns:
        return frame.iloc[0:0]
    rows = frame[frame["med.disentanglement"].notna()].copy()
    if "state" in rows.columns:
        rows = rows[rows["state"] == "done"]
    if "dataset" not in rows.columns:
        rows["dataset"] = "-"
    rows["family"] = [method_family(str(m)) for m in rows["method"]]
    rows["_order"] = rows["family"].map(_FAMILY_ORDER)
    return rows.sort_values(["dataset", "_order", "method"], kind="stable").drop(columns="_order")


def _mean_sem(values) -> tuple[float, float]:
    """Mean and standard error ``std(ddof=1) / sqrt(n)`` (NaN for one value) of the finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    sem = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else math.nan
    return float(values.mean()), sem


def med_summary(frame):
    """One row per (dataset, method) with MED results: ``family``, ``runs``, the mean and standard
    error over runs of full MED (``med``, ``med_sem``) and top-k MED (``topk``, ``topk_sem``), and the
    mean ``linear_probe.test_accuracy`` (``probe``) and ``med.informative_codes`` where present."""
    import pandas as pd

    rows = _med_runs(frame)
    top = topk_column(rows) if not rows.empty else None
    out = []
    for (dataset, method), sel in rows.groupby(["dataset", "method"], sort=False):
        full, full_sem = _mean_sem(sel["med.disentanglement"])
        topk, topk_sem = _mean_sem(sel[top]) if top else (math.nan, math.nan)
        record = {"dataset": dataset, "method": method, "family": sel["family"].iloc[0], "runs": len(sel),
                  "med": full, "med_sem": full_sem, "topk": topk, "topk_sem": topk_sem}
        for key, column in (("probe", "linear_probe.test_accuracy"), ("informative_codes", "med.informative_codes")):
            record[key] = _mean_sem(sel[column])[0] if column in sel.columns else math.nan
        out.append(record)
    columns = ["dataset", "method", "family", "runs", "med", "med_sem", "topk", "topk_sem", "probe",
               "informative_codes"]
    return pd.DataFrame(out, columns=columns)


def _group(rows, family: str, top: str) -> dict[str, Any]:
    sel = rows[rows["family"] == family]
    full, full_sem = _mean_sem(sel["med.disentanglement"])
    topk, topk_sem = _mean_sem(sel[top])
    return {"methods": sorted(map(str, sel["method"].unique())), "runs": int(len(sel)),
            "full": full, "full_sem": full_sem, "top": topk, "top_sem": topk_sem}


def _pm(mean: float, sem: float) -> str:
    return f"{mean:.3f}" if not math.isfinite(sem) else f"{mean:.3f} ± {sem:.3f}"


def med_finding(frame) -> list[dict[str, Any]]:
    """Cao et al.'s finding checked on the numbers, per dataset (and over all datasets when there are
    several): negative-free methods learn a well-disentangled subset of codes, so

    1. their top-k MED is well above their full MED: mean top-k - mean full >= :data:`SUBSET_MARGIN`;
    2. their top-k MED is comparable to or above the VAEs': mean top-k >= VAE mean top-k -
       :data:`COMPARABLE_TOLERANCE`.

    Means are over the finished runs of each family (:func:`method_family`). Each record holds the
    two groups' numbers, ``subset`` and ``comparable`` (True, False, or None when a group is
    missing) and ``text``, the sentence the report prints.
    """
    rows = _med_runs(frame)
    top = topk_column(rows) if not rows.empty else None
    if rows.empty or top is None:
        return []
    k = re.fullmatch(r"med\.top(\d+)_disentanglement", top).group(1)
    datasets = list(dict.fromkeys(rows["dataset"]))
    scopes = [(d, rows[rows["dataset"] == d]) for d in datasets]
    if len(datasets) > 1:
        scopes.append(("all datasets", rows))
    out = []
    for scope, sel in scopes:
        free, vae = _group(sel, "negative-free", top), _group(sel, "VAE", top)
        record: dict[str, Any] = {"dataset": scope, "k": int(k), "negative_free": free, "vae": vae,
                                  "subset": None, "comparable": None}
        missing = [name for name, g in (("negative-free", free), ("VAE", vae)) if g["runs"] == 0]
        parts = []
        if free["runs"] and vae["runs"]:
            parts.append(f"{scope}: top-{k} MED of the negative-free methods ({', '.join(free['methods'])}; "
                         f"{free['runs']} runs) {_pm(free['top'], free['top_sem'])} vs the VAEs "
                         f"({', '.join(vae['methods'])}; {vae['runs']} runs) {_pm(vae['top'], vae['top_sem'])}; "
                         f"full MED {_pm(free['full'], free['full_sem'])} vs {_pm(vae['full'], vae['full_sem'])}.")
        if free["runs"]:
            gap = free["top"] - free["full"]
            record["subset"] = bool(gap >= SUBSET_MARGIN)
            if not vae["runs"]:
                parts.append(f"{scope}: negative-free methods ({', '.join(free['methods'])}; {free['runs']} runs): "
                             f"top-{k} MED {_pm(free['top'], free['top_sem'])}, full MED "
                             f"{_pm(free['full'], free['full_sem'])}.")
            parts.append(f"A well-disentangled subset (their top-{k} MED at least {SUBSET_MARGIN:g} above their "
                         f"full MED): {'holds' if record['subset'] else 'does not hold'} (gap {gap:+.3f}).")
        if free["runs"] and vae["runs"]:
            diff = free["top"] - vae["top"]
            record["comparable"] = bool(diff >= -COMPARABLE_TOLERANCE)
            verdict = ("holds, above the VAEs" if diff > 0 else "holds, within the tolerance") \
                if record["comparable"] else "does not hold"
            parts.append(f"Top-{k} MED comparable to or above the VAEs' (at most {COMPARABLE_TOLERANCE:g} below): "
                         f"{verdict} (difference {diff:+.3f}).")
        if missing:
            parts.append(f"The comparison cannot be judged on {scope}: no {' and no '.join(missing)} runs "
                         "with MED results.")
        record["text"] = " ".join(parts)
        out.append(record)
    return out


def _med_plot(frame) -> str | None:
    """Grouped bars per dataset: full MED and top-k MED per method (the mean), every run as a point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _med_runs(frame)
    top = topk_column(rows) if not rows.empty else None
    if rows.empty:
        return None
    datasets = list(dict.fromkeys(rows["dataset"]))
    width = max(len(rows[rows["dataset"] == d]["method"].unique()) for d in datasets)
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(4.0, 0.85 * width + 1.4) * len(datasets), 3.4),
                             squeeze=False, sharey=True, layout="constrained")
    rng = np.random.default_rng(0)
    series = [("med.disentanglement", "full MED", "#9ecae1", -0.2)]
    if top:
        series.append((top, top.split(".")[1].replace("_disentanglement", "").replace("top", "top-") + " MED",
                       "#08519c", 0.2))
    for ax, dataset in zip(axes[0], datasets):
        sel = rows[rows["dataset"] == dataset]
        methods = list(dict.fromkeys(sel["method"]))
        for column, label, colour, shift in series:
            for i, method in enumerate(methods):
                values = sel.loc[sel["method"] == method, column].dropna().to_numpy(float)
                if not values.size:
                    continue
                ax.bar(i + shift, values.mean(), width=0.38, color=colour, label=label if i == 0 else None)
                ax.scatter(i + shift + rng.uniform(-0.08, 0.08, values.size), values, s=12, color="black",
                           alpha=0.7, zorder=3)
        families = [method_family(m) for m in methods]
        ax.set_xticks(range(len(methods)), [_plain(f"{m}\n({f})") for m, f in zip(methods, families)], fontsize=7)
        ax.set_ylim(0, 1)
        ax.set_title(_plain(dataset), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("disentanglement")
    axes[0][0].legend(fontsize=7, loc="upper left")
    return png_data_uri(fig)


def code_distribution(frame) -> dict[tuple[str, str], dict[str, Any]]:
    """The per-code disentanglement distribution per (dataset, method), from med's bin keys:
    ``share`` (CODE_BINS,) the mean over runs of the share of informative codes with D_j in each
    tenth of [0, 1], ``spread`` its standard deviation over runs (ddof 0), ``runs``, and
    ``informative_codes`` (the mean, NaN when not recorded). Empty without the bin keys."""
    rows = _med_runs(frame)
    bins = code_bin_columns(rows) if not rows.empty else []
    if not bins:
        return {}
    rows = rows[rows[bins].notna().all(axis=1)]
    out = {}
    for (dataset, method), sel in rows.groupby(["dataset", "method"], sort=False):
        shares = sel[bins].to_numpy(float)
        codes = sel["med.informative_codes"] if "med.informative_codes" in sel.columns else []
        out[(str(dataset), str(method))] = {"share": shares.mean(axis=0), "spread": shares.std(axis=0),
                                            "runs": len(sel), "informative_codes": _mean_sem(codes)[0]}
    return out


def _code_histogram_plot(frame) -> str | None:
    """Per dataset (rows) and method (columns): the bars of :func:`code_distribution`, with the
    spread over runs as error bars; None without the bin keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    distribution = code_distribution(frame)
    if not distribution:
        return None
    datasets = list(dict.fromkeys(d for d, _ in distribution))
    per = {d: [m for dd, m in distribution if dd == d] for d in datasets}
    ncols = max(len(m) for m in per.values())
    fig, axes = plt.subplots(len(datasets), ncols, figsize=(2.1 * ncols + 0.6, 2.0 * len(datasets) + 0.4),
                             squeeze=False, sharex=True, sharey=True, layout="constrained")
    centres = (np.arange(CODE_BINS) + 0.5) / CODE_BINS
    for r, dataset in enumerate(datasets):
        for c in range(ncols):
            ax = axes[r][c]
            if c >= len(per[dataset]):
                ax.axis("off")
                continue
            method = per[dataset][c]
            entry = distribution[(dataset, method)]
            colour = "#08519c" if method_family(method) == "negative-free" else "#d94801"
            ax.bar(centres, entry["share"], width=0.9 / CODE_BINS, color=colour,
                   yerr=entry["spread"] if entry["runs"] > 1 else None, error_kw={"lw": 0.8})
            title = f"{method} ({dataset})\n{entry['runs']} run(s)"
            if math.isfinite(entry["informative_codes"]):
                title += f", {entry['informative_codes']:.0f} informative codes"
            ax.set_title(_plain(title), fontsize=7)
            ax.set_xlim(0, 1)
            ax.grid(axis="y", alpha=0.3)
            if r == len(datasets) - 1:
                ax.set_xlabel("per-code disentanglement D_j", fontsize=7)
            if c == 0:
                ax.set_ylabel("share of codes", fontsize=7)
    return png_data_uri(fig)


def _med_table(summary) -> str:
    head = ("<tr><th class='text'>dataset</th><th class='text'>method</th><th class='text'>family</th><th>runs</th>"
            "<th>full MED</th><th>± s.e.</th><th>top-k MED</th><th>± s.e.</th><th>linear probe</th>"
            "<th>informative codes</th></tr>")
    body = "".join("<tr>" + "".join(_cell(row[c]) for c in summary.columns) + "</tr>" for _, row in summary.iterrows())
    return f'<table class="sortable" id="med-table"><thead>{head}</thead><tbody>{body}</tbody></table>'


def _med_section(frame) -> tuple[str, list[dict[str, Any]]]:
    """The MED section's HTML and the finding records (for the report's JSON data)."""
    parts = ['<section id="med"><h2>MED and top-k MED (Cao et al., NeurIPS 2022)</h2>']
    summary = med_summary(frame)
    if summary.empty:
        parts.append("<p>No MED results: add <code>med</code> to the study's evaluation metrics.</p></section>")
        return "".join(parts), []
    findings = med_finding(frame)
    parts.append("<p class='meta'>Full MED weights every code by its share of the mutual-information importance; "
                 "top-k MED keeps, for each factor, its k most disentangled codes. Negative-free methods: "
                 f"{', '.join(NEGATIVE_FREE)}; VAEs: methods with a decoder. ± is the standard error over runs; "
                 "with few runs, a difference within about two standard errors is no evidence either way.</p>")
    if findings:
        parts.append('<ul id="med-finding">' + "".join(f"<li>{html.escape(f['text'])}</li>" for f in findings)
                     + "</ul>")
    parts.append(_med_table(summary))
    parts.append('<div class="grid">')
    plot = _med_plot(frame)
    if plot:
        parts.append(f'<img alt="MED and top-k MED per method" src="{plot}">')
    histogram = _code_histogram_plot(frame)
    parts.append("</div>")
    if histogram:
        parts.append("<h3>Per-code disentanglement</h3><div class='grid'>"
                     f'<img alt="per-code disentanglement distribution" src="{histogram}"></div>')
    else:
        parts.append("<p class='meta'>No per-code disentanglement distribution: the med results have no "
                     "<code>code_disentanglement_bin_*</code> keys.</p>")
    parts.append("</section>")
    return "".join(parts), findings


def _importance_title(data: Any) -> str:
    """The importance heatmap's title; says how many codes were fitted when the worker screened them."""
    if "importance_codes" in data and "importance" in data:
        fitted, total = len(data["importance_codes"]), data["importance"].shape[0]
        if fitted < total:
            return f"DCI importance (fitted on the {fitted} of {total} codes with the most mutual information)"
    return "DCI importance"


def _top_rows(matrix: np.ndarray, limit: int = 32) -> tuple[np.ndarray, list[str], str]:
    """At most ``limit`` rows (codes) of a codes x factors matrix, those with the largest row sums
    (in code order), their labels, and a title note when rows were left out."""
    labels = [f"z{i}" for i in range(matrix.shape[0])]
    if matrix.shape[0] <= limit:
        return matrix, labels, ""
    keep = np.sort(np.argsort(-np.nan_to_num(matrix).sum(axis=1), kind="stable")[:limit])
    return matrix[keep], [labels[i] for i in keep], f" ({limit} of {matrix.shape[0]} codes, largest totals)"


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
                state = html.escape(str(row[c]))
                cells.append(f'<td class="text state-{state}" data-value="{state}">{state}</td>')
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
        parts = [f'<div class="card"><h3>{html.escape(str(method))}: run {html.escape(str(best["run_id"]))} '
                 f'({html.escape(key)} = {best[key]:.3f})</h3><div class="grid">']
        data = read_matrices(folder / "matrices.npz")
        if data is not None:
            names = [str(n) for n in data["factor_names"]] if "factor_names" in data else None
            for name, title in (("importance", _importance_title(data)),
                                ("mutual_information", "mutual information (nats)")):
                if name in data:
                    m, rows, note = _top_rows(np.asarray(data[name], float))
                    plot = _heatmap(m, names or range(m.shape[1]), rows, f"{title}: codes x factors{note}", vmin=0)
                    parts.append(f'<img alt="{html.escape(title)}" src="{plot}">')
        pictures = 0
        for file, mime, alt in (("traversal.gif", "image/gif", "latent traversal (animated)"),
                                ("traversal.png", "image/png", "latent traversal"),
                                ("reconstructions.png", "image/png", "reconstructions")):
            uri = _file_uri(folder / file, mime)  # only what the run wrote (no decoder: no pictures)
            if uri:
                pictures += 1
                parts.append(f'<figure><img alt="{alt}" src="{uri}"><figcaption>{alt}</figcaption></figure>')
        parts.append("</div>")
        if not pictures and has_decoder(str(method)) is False:
            parts.append("<p class='meta'>No traversals or reconstructions: the method has no decoder.</p>")
        parts.append("</div>")
        cards.append("".join(parts))
    return "".join(cards)


def _finite(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays as Python numbers and lists, every
    non-finite float as None (strict JSON has no NaN or Infinity), keys as strings, anything else
    (a path, a timestamp) as its text."""
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return str(value)


def script_json(data: Any) -> str:
    """``data`` as strict JSON (:func:`_finite`) that is safe as the text of a ``<script>`` element:
    ``<``, ``>`` and ``&`` (which only occur inside strings) are written as ``\\u003c``, ``\\u003e``,
    ``\\u0026``, so no string can close the element (``</script>``) or open a comment, and every other
    non-ASCII character (U+2028, U+2029 included) as its ``\\u`` escape. ``JSON.parse`` of the
    element's text, and :func:`json.loads`, give ``data`` back."""
    text = json.dumps(_finite(data), allow_nan=False, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _text(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _study_finding(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The finding ``study.json`` records (:mod:`disentkit.study.finding`), or None with a warning
    when it is malformed."""
    from disentkit.study.finding import check_finding

    if meta.get("finding") is None:
        return None
    try:
        return check_finding(meta["finding"])
    except ValueError as err:
        _warn(f"the finding in study.json is left out of the report: {err}")
        return None


def write_report(study_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a study folder (from ``results.duckdb``); returns its path."""
    import duckdb

    from disentkit.study.records import read_json
    from disentkit.study.store import STORE_NAME, MalformedRunWarning, load, status_counts, write_store

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
    meta = read_json(study_dir / "study.json")
    meta = meta if isinstance(meta, dict) else {}
    with warnings.catch_warnings():  # the store warned about these folders when it read them
        warnings.simplefilter("ignore", MalformedRunWarning)
        counts = status_counts(study_dir)
    scores = score_columns(frame) if not frame.empty else []
    name = _text(meta.get("name"), study_dir.name)
    body = [f"<h1>disentkit study: {html.escape(name)}</h1>",
            f"<p class='meta'>{html.escape(_text(meta.get('description')))}</p>",
            "<p class='counts'>" + "".join(f"<span class='state-{k}'>{k}: {v}</span>" for k, v in counts.items()) + "</p>",
            '<pre id="js-errors" style="color:#c62828"></pre>']
    done = frame[frame["state"] == "done"] if not frame.empty else frame
    finding_html, finding_table = finding_section(done, _study_finding(meta), _plain)
    body.append(finding_html)
    body.append('<section id="runs"><h2>Runs and scores</h2><p class="meta">Click a column to sort.</p>')
    body.append(_runs_table(frame, scores) if not frame.empty else "<p>No runs.</p>")
    body.append("</section>")
    body.append('<section id="distributions"><h2>Score distributions per method and hyperparameter</h2><div class="grid">')
    body.extend(f'<img alt="score distribution" src="{uri}">' for uri in (_distribution_plots(done, scores) if not done.empty else []))
    body.append("</div></section>")
    body.append('<section id="correlation"><h2>Rank correlation between metrics (Spearman)</h2>')
    if len(scores) >= 2 and len(done) >= 3:
        rho = spearman_matrix(done, scores)
        body.append(f'<img alt="Spearman correlation" src="{_heatmap(rho, scores, scores, "Spearman rank correlation over runs", vmin=-1, vmax=1)}">')
    else:
        body.append("<p>Needs at least three finished runs and two metrics.</p>")
    body.append("</section>")
    med_html, findings = _med_section(done)
    body.append(med_html)
    body.append('<section id="best-runs"><h2>Best run per method</h2>')
    body.append(f"<p class='meta'>Best by {html.escape(scores[0]) if scores else '–'}: importance and mutual-information "
                "matrices (codes x factors), latent traversals and reconstructions.</p>")
    body.append(_best_runs(frame, scores) if not frame.empty else "")
    body.append("</section>")
    body.append('<section id="curves"><h2>Training curves</h2>')
    curve = _curves_plot(curves, frame) if not frame.empty else None
    body.append(f'<img alt="training curves" src="{curve}">' if curve else "<p>No training logs.</p>")
    body.append("</section>")
    runs = [{"run_id": row.get("run_id"), "state": row.get("state"), "method": row.get("method")}
            for row in (frame.to_dict("records") if not frame.empty else [])]
    data = {"counts": counts, "scores": scores, "runs": runs, "med": findings, "finding": finding_table}
    page = ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>disentkit study {html.escape(name)}</title><style>{_STYLE}</style>"
            f"<script>{_SCRIPT}</script></head><body>{''.join(body)}"
            f"<script type='application/json' id='report-data'>{script_json(data)}</script>"
            "</body></html>")
    path = Path(out) if out else study_dir / "report.html"
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path
