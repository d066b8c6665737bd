"""``disentkit train`` / ``disentkit evaluate``: argument checking before any work, and the wiring."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from _train_standins import TINY
from disentkit.cli import build_parser, main
from disentkit.train.cli import config_from_args

TINY_ARGS = ["train", TINY, "--dataset", "dummy", "--steps", "6", "--seed", "2", "--batch-size", "4",
             "--checkpoint-every", "3", "--log-every", "2", "--threads", "1", "--quiet",
             "--set", "dataset_params.image_size=8", "--set", "dataset_params.num_factors=3"]


def _parse(argv):
    return config_from_args(build_parser().parse_args(argv))


@pytest.mark.parametrize("assignment, message", [
    ("bta=4", r"unknown key 'bta'; valid config keys: method, dataset, steps.*valid parameters of method "
              r"'beta_vae': latent_dim, architecture, lr.*beta"),
    ("method_params.bta=4", r"unknown parameter\(s\) \['bta'\] for method 'beta_vae'; valid keys: .*beta"),
    ("beta=-1", "beta must be >= 0"),
    ("precision=fp8", r"precision must be one of 'fp32', 'bf16'; got 'fp8'"),
    ("model.beta=4", "dotted keys are method_params.NAME"),
])
def test_bad_set_values_are_rejected_before_any_work(tmp_path, capsys, assignment, message):
    out = tmp_path / "run"
    argv = ["train", "beta_vae", "--dataset", "dsprites", "--steps", "5", "--out", str(out), "--set", assignment]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("disentkit: error: ")
    import re

    assert re.search(message, err), err
    assert not out.exists()


def test_unknown_method_dataset_and_bad_flags(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "bvae", "--dataset", "dsprites", "--steps", "5", "--out", out]) == 2
    assert "valid methods: " in capsys.readouterr().err
    assert main(["train", "beta_vae", "--dataset", "dsprite", "--steps", "5", "--out", out]) == 2
    assert "valid datasets: dsprites" in capsys.readouterr().err
    assert main(["train", "beta_vae", "--dataset", "dsprites", "--steps", "0", "--out", out]) == 2
    assert "steps must be an integer >= 1" in capsys.readouterr().err
    assert main(["train", "beta_vae", "--dataset", "dsprites", "--steps", "5", "--out", out, "--device", "tpu"]) == 2
    assert "device must be one of 'auto', 'cpu'" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_flags_and_set_build_the_config():
    short = _parse(["train", "beta_vae", "--dataset", "dsprites", "--steps", "9", "--out", "x", "--set", "beta=4",
                    "--batch-size", "16", "--threads", "2", "--no-images", "--set", "dataset_params.path=/d"])
    long = _parse(["train", "beta_vae", "--dataset", "dsprites", "--steps", "9", "--out", "x",
                   "--set", "method_params.beta=4.0", "--batch-size", "16", "--set", "num_threads=2",
                   "--set", "images=false", "--set", "dataset_params.path=/d"])
    assert short == long
    assert short.method_params == {"beta": 4} and short.dataset_params == {"path": "/d"}
    assert (short.batch_size, short.num_threads, short.images, short.seed) == (16, 2, False, 0)


def test_train_then_evaluate(tiny_registry, tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    assert main([*TINY_ARGS, "--out", str(run)]) == 0
    assert capsys.readouterr().out.strip() == str(run)
    saved = json.loads((run / "config.json").read_text())
    assert saved["method"] == TINY and saved["steps"] == 6 and saved["dataset_params"] == {"image_size": 8, "num_factors": 3}
    assert (run / "traversal.png").is_file() and (run / "model.safetensors").is_file()
    # resuming a finished run is a no-op on the weights
    before = (run / "model.safetensors").read_bytes()
    assert main([*TINY_ARGS, "--out", str(run), "--resume"]) == 0
    assert (run / "model.safetensors").read_bytes() == before
    # a second run into the same folder without --resume is refused
    assert main([*TINY_ARGS, "--out", str(run)]) == 2
    assert "already holds a run" in capsys.readouterr().err

    import disentkit.metrics as metrics

    seen = {}

    def fake_evaluate(dataset, representation, metrics="all", seed=0, preset="reference", progress=True, **kw):
        seen.update(dataset=dataset, metrics=metrics, seed=seed, preset=preset)
        codes = representation.represent(torch.as_tensor(dataset.sample_observations(4, rng=0)))
        seen["codes"] = codes
        return {"mig": {"values": {"discrete_mig": 0.25}, "settings": {"num_train": 10}, "seconds": 0.1}}

    monkeypatch.setattr(metrics, "evaluate", fake_evaluate, raising=False)
    assert main(["evaluate", str(run), "--metrics", "mig", "--preset", "fast", "--seed", "7", "--quiet"]) == 0
    assert seen["dataset"].name == "dummy" and seen["dataset"].num_factors == 3
    assert (seen["metrics"], seen["seed"], seen["preset"]) == (["mig"], 7, "fast")
    assert seen["codes"].shape == (4, 3) and np.isfinite(seen["codes"].numpy()).all()
    record = json.loads((run / "metrics.json").read_text())
    assert record == {"mig": {"values": {"discrete_mig": 0.25}, "settings": {"num_train": 10}, "seconds": 0.1}}


def test_evaluate_needs_a_finished_run(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_evaluate_with_the_real_metrics(tiny_registry, tmp_path):
    run = tmp_path / "run"
    assert main([*TINY_ARGS, "--no-images", "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--metrics", "mig", "--preset", "fast", "--quiet"]) == 0
    mig = json.loads((run / "metrics.json").read_text())["mig"]
    assert 0.0 <= mig["values"]["discrete_mig"] <= 1.0
    assert mig["settings"]["num_train"] == 2000 and mig["settings"]["codes"] == "mean"


def test_unknown_dataset_parameter_is_rejected_before_training():
    import pytest as _pytest

    from disentkit.train import TrainConfig

    with _pytest.raises(ValueError, match="unknown parameter\\(s\\) \\['spacing'\\].*grid_spacing"):
        TrainConfig(method="beta_vae", dataset="xysquares", steps=1, dataset_params={"spacing": 2})
    TrainConfig(method="beta_vae", dataset="xysquares", steps=1, dataset_params={"grid_spacing": 4})
