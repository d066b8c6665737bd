"""Shared tiny studies for the study tests.

``tiny_study`` is a dict study (five runs of 6 steps on 8-image batches, cheap metrics on 200/100
samples): beta_vae with beta in {1, 4} and seeds {0, 1}, plus one beta_tc_vae run that also writes its
pictures. ``finished_study`` runs it once per test session with the local executor (two workers)
and hands the folder to every test that only reads a finished study.

Tests get these through fixtures only (``from conftest import ...`` is ambiguous with several
``conftest.py`` files and no packages).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

TINY_TRAIN: dict[str, Any] = {
    "dataset": "dsprites", "steps": 6, "batch_size": 8, "checkpoint_every": 5, "log_every": 2,
    "images": False, "device": "cpu", "num_threads": 1,
}
TINY_EVALUATION: dict[str, Any] = {
    "metrics": ["mig", "sap", "irs", "unsupervised"], "preset": "fast", "seed": 0,
    "settings": {"num_train": 200, "num_test": 100},
}
TINY_GRID: dict[str, Any] = {"chain": [
    {"product": [{"fixed": {"method": "beta_vae"}}, {"sweep": {"method_params.beta": [1, 4]}},
                 {"sweep": {"seed": [0, 1]}}]},
    {"fixed": {"method": "beta_tc_vae", "method_params.beta": 6, "images": True}},
]}


def make_study(name: str = "tiny", grid: dict[str, Any] | None = None, **train: Any) -> dict[str, Any]:
    """A tiny study as a dict (``train`` overrides the tiny defaults)."""
    return {"name": name, "description": "a tiny test study",
            "train": {**copy.deepcopy(TINY_TRAIN), **train}, "evaluation": copy.deepcopy(TINY_EVALUATION),
            "grid": copy.deepcopy(grid if grid is not None else TINY_GRID)}


def write_study(folder: Path, study: dict[str, Any]) -> Path:
    """Write ``study`` as ``<folder>/<name>.yaml``; returns the path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{study['name']}.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def tiny_study():
    """A factory ``tiny_study(name=..., grid=..., **train)`` -> study dict."""
    return make_study


@pytest.fixture(scope="session")
def study_writer():
    """``study_writer(folder, study_dict)`` -> the YAML file's path."""
    return write_study


@pytest.fixture(scope="session")
def finished_study(tmp_path_factory):
    """The tiny study run once (local executor, two workers): ``(spec path, study folder, result)``."""
    from disentkit.study import run_study

    root = tmp_path_factory.mktemp("finished")
    path = write_study(root, make_study())
    result = run_study(path, root / "study", workers=2, progress=False)
    assert result.failed == [], [(run_id, (root / "study" / "runs" / run_id / "status.json").read_text())
                                 for run_id in result.failed]
    return path, root / "study", result
