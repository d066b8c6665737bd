"""Score a representation with :func:`disentkit.metrics.evaluate` and write ``metrics.json``.

- :func:`evaluate_run`: a finished run directory, on the run's own dataset (``RUN_DIR/metrics.json``);
- :func:`evaluate_representation`: a researcher's own encoder, named by a reference string
  (``package.module:callable`` or a TorchScript file; see
  :func:`disentkit.metrics.load_representation`), on a registered dataset, without a run folder:
  writes ``OUT/metrics.json`` and a one-page ``OUT/report.html``.

Both files hold what :func:`disentkit.metrics.evaluate` returns, ``{metric: {"values",
"settings", "seconds"}}`` (the format study runs write too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from disentkit.io import write_json_atomic
from disentkit.train.trainer import build_dataset, load_config, load_run

METRICS_FILE = "metrics.json"
REPORT_FILE = "report.html"
# images encoded once before any metric runs, to report a broken representation in one line
_PROBE_IMAGES = 2


def evaluate_run(run_dir: str | os.PathLike, *, metrics: Sequence[str] | str | None = None, preset: str = "reference",
                 seed: int = 0, device: str = "cpu", progress: bool = True,
                 settings: Mapping[str, Mapping[str, Any]] | None = None, **flat_settings: Any) -> Path:
    """Score the run's mean representation on the run's own dataset; writes ``RUN_DIR/metrics.json``.

    ``settings`` (per metric) and ``flat_settings`` go to :func:`disentkit.metrics.evaluate`. An
    existing file is replaced. The run's config (method, dataset, seed, steps) is in
    ``config.json`` beside it.
    """
    from disentkit.metrics import evaluate

    run_dir = Path(run_dir)
    config = load_config(run_dir)
    model = load_run(run_dir, device=device)
    dataset = build_dataset(config)
    extra = {"settings": settings} if settings else {}
    results = evaluate(dataset, model, metrics="all" if metrics is None else metrics, seed=seed, preset=preset,
                       progress=progress, **extra, **flat_settings)
    return write_json_atomic(run_dir / METRICS_FILE, results)


class _Guarded:
    """Calls a representation and turns an exception raised inside the user's code into a one-line
    ``ValueError`` (the validation errors of :class:`~disentkit.metrics._representation.Representation`,
    already ``ValueError``, pass through)."""

    def __init__(self, representation: Any, spec: str) -> None:
        self.representation = representation
        self.spec = spec

    def __call__(self, images: np.ndarray) -> np.ndarray:
        try:
            return self.representation(images)
        except ValueError:
            raise
        except Exception as err:
            first = (str(err).strip().splitlines() or [""])[0]
            raise ValueError(
                f"the representation {self.spec} failed on images of shape {tuple(np.shape(images))}: "
                f"{type(err).__name__}: {first}"
            ) from None


def _checked_representation(obj: Any, spec: str, dataset: Any, device: Any, batch_size: int) -> tuple[Any, int]:
    """``obj`` as a validated numpy representation and its code size, tried on a couple of the
    dataset's images first: codes must be a finite (N, D) array with one row per image."""
    from disentkit.metrics import Representation, as_representation

    base = as_representation(obj, batch_size=batch_size, device=device)
    guarded = Representation(_Guarded(base, spec), batch_size=2**31 - 1, source=obj, name=base.name)
    codes = guarded(dataset.sample_observations(_PROBE_IMAGES, rng=0))
    if codes.shape[1] < 1:
        raise ValueError(
            f"the representation {spec} returned codes of shape {codes.shape}; codes must be (N, D), D >= 1"
        )
    return guarded, int(codes.shape[1])


def evaluate_representation(
    representation: str,
    dataset: str,
    out: str | os.PathLike,
    *,
    metrics: Sequence[str] | str | None = None,
    preset: str = "reference",
    seed: int = 0,
    device: str | None = None,
    progress: bool = True,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    dataset_params: Mapping[str, Any] | None = None,
    encode_batch_size: int = 256,
    **flat_settings: Any,
) -> Path:
    """Score a researcher's own encoder on the registered dataset ``dataset``; returns ``OUT``.

    ``device``: where the images go (default: the module's own device; a TorchScript file is loaded
    there). ``representation`` is ``"package.module:callable"`` or a TorchScript file path, loaded by
    :func:`disentkit.metrics.load_representation` (a representation images -> codes, a
    zero-argument factory returning one, or an ``nn.Module`` with ``represent``). Before any metric
    runs, every argument is checked (metric names and settings by
    :func:`disentkit.metrics.resolve_settings`, the dataset name) and the representation is tried
    on two images, so a broken one fails in one line. Writes ``OUT/metrics.json`` (the
    :func:`~disentkit.metrics.evaluate` result) and ``OUT/report.html``
    (:func:`~disentkit.metrics.write_html_report`: the value table and, with ``med``, the chart of
    its code-disentanglement bins).

    Raises
    ------
    ValueError: a bad reference (unknown module, missing attribute, not callable, a TorchScript
    file that does not load), a representation that fails or returns anything but (N, D) codes, an
    unknown dataset (naming the valid ones), metric or setting.
    """
    from disentkit.data import registry
    from disentkit.metrics import evaluate, load_representation, resolve_settings, write_html_report

    chosen = "all" if metrics is None else metrics
    resolve_settings(chosen, preset, settings, **flat_settings)  # every setting error before any work
    data = registry.get(dataset, **dict(dataset_params or {}))
    obj = load_representation(representation, device=device)
    rep, code_size = _checked_representation(obj, representation, data, device, encode_batch_size)
    results = evaluate(data, rep, metrics=chosen, seed=seed, preset=preset, progress=progress,
                       settings=settings, encode_batch_size=encode_batch_size, device=device, **flat_settings)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / METRICS_FILE, results)
    details = {"representation": representation, "dataset": dataset, "preset": preset, "seed": seed,
               "code size": code_size}
    write_html_report(results, out / REPORT_FILE, title=f"disentkit evaluate: {representation} on {dataset}",
                      details=details)
    return out
