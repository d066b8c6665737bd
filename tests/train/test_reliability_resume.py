"""Issue 9, items 1 and 7: a resume continues only the run it belongs to; values and folders are
checked up front. Each test does what the hostile user did and asserts that nothing is lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _train_standins import TINY, TINY_DATA
from disentkit.cli import main
from disentkit.methods.config import VAEConfig
from disentkit.train import TrainConfig, train
from disentkit.train import checkpoint as ckpt
from disentkit.validation import check_number

BVAE = ["train", "beta_vae", "--dataset", "dsprites", "--seed", "1", "--batch-size", "4", "--checkpoint-every", "2",
        "--log-every", "2", "--threads", "1", "--no-images", "--quiet"]
TINY_ARGS = ["train", TINY, "--dataset", "dummy", "--seed", "2", "--batch-size", "4", "--checkpoint-every", "3",
             "--log-every", "3", "--threads", "1", "--quiet", "--no-images",
             "--set", "dataset_params.image_size=8", "--set", "dataset_params.num_factors=3",
             "--set", "dataset_params.size=4"]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("disentkit: error: ")]
    assert len(lines) == 1, err
    return lines[0]


def _snapshot(run: Path) -> dict[str, bytes]:
    """Every file of a run folder (relative path -> bytes)."""
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def _cfg(**kw) -> TrainConfig:
    base = dict(method=TINY, steps=20, batch_size=8, checkpoint_every=10, log_every=5, num_threads=1,
                images=False, **TINY_DATA)
    base.update(kw)
    return TrainConfig(**base)


# -- item 1: the checkpoint's own config guards the resume --------------------------------------

def test_deleted_config_json_then_resume_with_another_beta_is_refused(tmp_path, capsys):
    run = tmp_path / "bvae"
    assert main([*BVAE, "--steps", "4", "--out", str(run), "--set", "beta=4"]) == 0
    capsys.readouterr()
    (run / "config.json").unlink()
    before = _snapshot(run)
    assert main([*BVAE, "--steps", "6", "--out", str(run), "--set", "beta=6", "--resume"]) == 2
    line = _one_line_error(capsys)
    assert "method_params.beta" in line and "4" in line and "6" in line and "step_00000004" in line, line
    # nothing was trained on or rewritten: the beta=4 checkpoint and weights are as they were
    assert _snapshot(run) == before and not (run / "config.json").exists()
    # the run it belongs to (beta=4) still resumes, and config.json is written again from it
    assert main([*BVAE, "--steps", "6", "--out", str(run), "--set", "beta=4", "--resume"]) == 0
    assert json.loads((run / "config.json").read_text())["method_params"]["beta"] == 4


def test_checkpoint_config_is_compared_even_when_config_json_was_edited(tiny_registry, tmp_path):
    run = train(_cfg(), tmp_path / "r", progress=False)
    saved = json.loads((run / "config.json").read_text())
    saved["method_params"] = {"lr": 0.5}  # config.json made to agree with the new config
    (run / "config.json").write_text(json.dumps(saved))
    weights = (run / "model.safetensors").read_bytes()
    with pytest.raises(ValueError, match=r"differs in \['method_params.lr'\] from the checkpoint \S*step_00000020"):
        train(_cfg(steps=30, method_params={"lr": 0.5}), run, resume=True, progress=False)
    assert (run / "model.safetensors").read_bytes() == weights
    state = json.loads((ckpt.latest_checkpoint(run / "checkpoints") / "state.json").read_text())
    assert state["config"]["method_params"] == {} and state["config_sha256"] == ckpt.config_sha256(state["config"])


def test_resume_with_steps_below_the_newest_checkpoint_is_refused(tiny_registry, tmp_path, capsys):
    run = tmp_path / "r"
    assert main([*TINY_ARGS, "--steps", "9", "--out", str(run)]) == 0
    capsys.readouterr()
    before = _snapshot(run)
    assert main([*TINY_ARGS, "--steps", "6", "--out", str(run), "--resume"]) == 2
    line = _one_line_error(capsys)
    assert "steps=6 is below" in line and "step_00000009" in line and "steps >= 9" in line, line
    assert _snapshot(run) == before  # config.json still says 9 steps, the weights are from step 9
    # equal or more steps are fine (the documented resumable change)
    assert main([*TINY_ARGS, "--steps", "12", "--out", str(run), "--resume"]) == 0


def test_the_resumable_fields_are_documented():
    from disentkit.train import trainer

    doc = trainer.train.__doc__
    assert all(f"``{name}``" in doc for name in trainer._RESUMABLE_CHANGES), doc


def _strip_to_legacy(folder: Path) -> None:
    """Make a checkpoint look like one written before checksums and recorded configs."""
    (folder / ckpt.MANIFEST).unlink()
    state = json.loads((folder / ckpt.JSON_STATE).read_text())
    del state["config"], state["config_sha256"]
    (folder / ckpt.JSON_STATE).write_text(json.dumps(state))


def test_legacy_checkpoint_resumes_against_config_json_and_is_refused_without_it(tiny_registry, tmp_path):
    ref = train(_cfg(steps=30), tmp_path / "ref", progress=False)
    run = train(_cfg(steps=20), tmp_path / "old", progress=False)
    _strip_to_legacy(ckpt.latest_checkpoint(run / "checkpoints"))
    with pytest.raises(ValueError, match=r"differs in \['seed'\] from the config.json"):
        train(_cfg(steps=30, seed=9), run, resume=True, progress=False)
    train(_cfg(steps=30), run, resume=True, progress=False)  # accepted: every file reads
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()

    legacy = train(_cfg(steps=20), tmp_path / "old2", progress=False)
    _strip_to_legacy(ckpt.latest_checkpoint(legacy / "checkpoints"))
    (legacy / "config.json").unlink()
    with pytest.raises(ValueError, match=r"config.json is missing and checkpoint .*step_00000020 does not record"):
        train(_cfg(steps=30), legacy, resume=True, progress=False)


# -- item 7: --out, half-made folders, non-finite numbers -----------------------------------------

def test_out_that_is_a_file_is_a_one_line_error(tiny_registry, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    assert main([*TINY_ARGS, "--steps", "3", "--out", str(target)]) == 2
    assert f"the run directory {target} is a file" in _one_line_error(capsys)
    assert main([*TINY_ARGS, "--steps", "3", "--out", str(target / "run")]) == 2
    assert f"cannot be made: {target} is a file" in _one_line_error(capsys)
    assert target.read_text() == "keep me"


def test_run_that_failed_at_step_0_does_not_block_a_corrected_retry(tiny_registry, tmp_path, capsys):
    ref = tmp_path / "ref"
    assert main([*TINY_ARGS, "--steps", "6", "--out", str(ref)]) == 0
    for resume in ([], ["--resume"]):
        run = tmp_path / f"half{len(resume)}"
        assert main([*TINY_ARGS, "--steps", "6", "--out", str(run), "--set", "nan_at=0"]) == 2
        assert "not finite at step 0" in _one_line_error(capsys)
        assert (run / "config.json").is_file() and not ckpt.list_checkpoints(run / "checkpoints")
        # the corrected retry (nan_at unset) trains, with or without --resume, to the fresh run's weights
        assert main([*TINY_ARGS, "--steps", "6", "--out", str(run), *resume]) == 0
        assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
        assert "nan_at" not in json.loads((run / "config.json").read_text())["method_params"]
    # a folder that holds trained steps is still protected, and the error says how to start over
    capsys.readouterr()
    assert main([*TINY_ARGS, "--steps", "6", "--out", str(ref)]) == 2
    line = _one_line_error(capsys)
    assert "already holds a run" in line and "--resume" in line and f"delete {ref}" in line


@pytest.mark.parametrize("assignment", ["lr=1e999", "lr=.inf", "beta=1.0e999", "beta=-.inf", "beta=.nan",
                                        "beta=1" + "0" * 400])
def test_non_finite_and_overflowing_floats_are_refused_when_the_config_is_built(tmp_path, capsys, assignment):
    out = tmp_path / "run"
    assert main([*BVAE, "--steps", "2", "--out", str(out), "--set", assignment]) == 2
    line = _one_line_error(capsys)
    name = assignment.partition("=")[0]
    assert f"{name} must be a" in line and ("finite number" in line or "must be a number" in line), line
    assert not out.exists()


def test_check_number_rejects_infinity_by_default():
    for bad in (float("inf"), -float("inf"), 10**400):
        with pytest.raises(ValueError, match=r"^x must be a finite number, got "):
            check_number("x", bad)
    assert check_number("x", float("inf"), finite=False) == float("inf")  # only where asked for
    with pytest.raises(ValueError, match=r"^lr must be a finite number, got inf$"):
        VAEConfig(lr=float("inf"))
    with pytest.raises(ValueError, match=r"^beta must be a finite number, got inf$"):
        TrainConfig(method="beta_vae", dataset="dsprites", steps=2, method_params={"beta": float("inf")})
