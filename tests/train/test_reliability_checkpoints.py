"""Issue 9, item 2: checkpoints are verified and fall back. The newest checkpoint is corrupted the
way a crash, a full disk or a bad copy does it; the run resumes from the newest checkpoint that
verifies, ends with the uninterrupted run's weights, and nothing else is lost."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from _train_standins import TINY, TINY_DATA, TinyVAE, crash_tiny_at
from disentkit.cli import main
from disentkit.train import NonFiniteLossError, TrainConfig, train
from disentkit.train import checkpoint as ckpt
from disentkit.train.trainer import CheckpointWarning

TINY_ARGS = ["train", TINY, "--dataset", "dummy", "--seed", "3", "--batch-size", "4", "--checkpoint-every", "3",
             "--log-every", "3", "--threads", "1", "--quiet", "--no-images",
             "--set", "dataset_params.image_size=8", "--set", "dataset_params.num_factors=3",
             "--set", "dataset_params.size=4", "--set", "keep_checkpoints=3"]


def _cfg(**kw) -> TrainConfig:
    base = dict(method=TINY, steps=30, batch_size=8, checkpoint_every=10, log_every=5, num_threads=1,
                images=False, keep_checkpoints=3, **TINY_DATA)
    base.update(kw)
    return TrainConfig(**base)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


def _remove(path: Path) -> None:
    path.unlink()


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x80\x04not a pickle nor a safetensors header" * 4)


def _interrupted(tmp_path: Path, monkeypatch, name: str, crash_step: int = 35) -> Path:
    """A 40-step run killed at ``crash_step`` (checkpoints at 10, 20, 30 kept)."""
    restore = crash_tiny_at(monkeypatch, crash_step)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(steps=40), tmp_path / name, progress=False)
    restore()
    return tmp_path / name


@pytest.mark.parametrize("damage", [_flip_byte, _truncate, _remove, _garbage])
@pytest.mark.parametrize("file", [ckpt.WEIGHTS, ckpt.TENSOR_STATE, ckpt.JSON_STATE])
def test_corrupt_newest_checkpoint_is_reported_and_an_older_one_resumes(tiny_registry, tmp_path, monkeypatch,
                                                                         damage, file):
    ref = train(_cfg(steps=40), tmp_path / "ref", progress=False)
    run = _interrupted(tmp_path, monkeypatch, "run")
    newest = ckpt.checkpoint_path(run / "checkpoints", 30)
    damage(newest / file)
    older = {p.name: (p / ckpt.WEIGHTS).read_bytes() for _, p in ckpt.list_checkpoints(run / "checkpoints")[:-1]}
    warning = rf"checkpoint {re.escape(str(newest))} .*{file}.*trying an older checkpoint"
    with pytest.warns(CheckpointWarning, match=warning):
        train(_cfg(steps=40), run, resume=True, progress=False)
    # resumed from step 20: the same weights as the uninterrupted run, every interval logged once
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    steps = [json.loads(line)["step"] for line in (run / "train_log.jsonl").read_text().splitlines()
             if "event" not in json.loads(line)]
    assert steps == list(range(5, 41, 5))
    # the damaged checkpoint is kept aside for inspection, the older ones untouched
    assert (run / "checkpoints" / f"corrupt-{newest.name}").is_dir()
    assert older["step_00000020"] == (run / "checkpoints" / "step_00000020" / ckpt.WEIGHTS).read_bytes()
    assert [s for s, _ in ckpt.list_checkpoints(run / "checkpoints")] == [20, 30, 40]
    assert all(ckpt.verify_checkpoint(p) for _, p in ckpt.list_checkpoints(run / "checkpoints"))


def test_no_checkpoint_verifies_is_one_line_naming_the_files_and_deletes_nothing(tiny_registry, tmp_path, capsys):
    run = tmp_path / "r"
    assert main([*TINY_ARGS, "--steps", "6", "--out", str(run)]) == 0
    found = ckpt.list_checkpoints(run / "checkpoints")
    assert [s for s, _ in found] == [3, 6]
    _truncate(found[0][1] / ckpt.WEIGHTS)
    _garbage(found[1][1] / ckpt.TENSOR_STATE)
    before = {str(p): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    capsys.readouterr()
    assert main([*TINY_ARGS, "--steps", "9", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "SafetensorError" not in err.split("error:")[0]
    errors = [line for line in err.splitlines() if line.startswith("disentkit: error: ")]
    assert len(errors) == 1, err
    line = errors[0]
    assert "no checkpoint verifies" in line and f"delete {run}" in line
    assert f"{found[0][1]} fails verification: {ckpt.WEIGHTS}" in line
    assert f"{found[1][1]} fails verification: {ckpt.TENSOR_STATE}" in line
    # the warnings are one line each too, and nothing was deleted, moved or rewritten
    assert sum(line.startswith("disentkit: warning: checkpoint ") for line in err.splitlines()) == 2
    assert {str(p): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize("file", [ckpt.WEIGHTS, ckpt.TENSOR_STATE, ckpt.JSON_STATE])
def test_unreadable_legacy_checkpoint_reaches_the_cli_as_one_line(tiny_registry, tmp_path, capsys, file):
    """A checkpoint without a manifest (older disentkit) is read structurally: no raw
    SafetensorError / UnpicklingError / KeyError reaches the user."""
    run = tmp_path / "r"
    assert main([*TINY_ARGS, "--steps", "3", "--out", str(run)]) == 0
    folder = ckpt.latest_checkpoint(run / "checkpoints")
    (folder / ckpt.MANIFEST).unlink()
    _garbage(folder / file)
    capsys.readouterr()
    assert main([*TINY_ARGS, "--steps", "6", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"no checkpoint verifies (checkpoint {folder} is unreadable: {file}" in err


def test_legacy_checkpoint_without_the_stream_key_is_refused_not_a_key_error(tiny_registry, tmp_path):
    run = train(_cfg(steps=10), tmp_path / "r", progress=False)
    folder = ckpt.latest_checkpoint(run / "checkpoints")
    (folder / ckpt.MANIFEST).unlink()
    state = json.loads((folder / ckpt.JSON_STATE).read_text())
    del state["stream"]
    (folder / ckpt.JSON_STATE).write_text(json.dumps(state))
    with pytest.warns(CheckpointWarning, match=r"state.json lacks stream"), \
            pytest.raises(ValueError, match=r"no checkpoint verifies"):
        train(_cfg(steps=20), run, resume=True, progress=False)


def test_nan_stop_names_only_a_checkpoint_that_verifies(tiny_registry, tmp_path, monkeypatch):
    run = _interrupted(tmp_path, monkeypatch, "run")
    corrupt = ckpt.checkpoint_path(run / "checkpoints", 30)
    _flip_byte(corrupt / ckpt.WEIGHTS)
    real_forward = TinyVAE.forward

    def nan_at_25(self, batch, step):
        terms = real_forward(self, batch, step)
        if step == 25:
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(TinyVAE, "forward", nan_at_25)
    with pytest.warns(CheckpointWarning), pytest.raises(NonFiniteLossError) as info:
        train(_cfg(steps=40), run, resume=True, progress=False)
    good = ckpt.checkpoint_path(run / "checkpoints", 20)
    assert info.value.checkpoint == good and f"the last good checkpoint is {good}" in str(info.value)
    assert ckpt.verify_checkpoint(info.value.checkpoint)
    weights, _, state = ckpt.load_checkpoint(info.value.checkpoint)
    assert state["step"] == 20 and all(torch.isfinite(w).all() for w in weights.values())


def test_verify_checkpoint_names_the_file(tiny_registry, tmp_path):
    run = train(_cfg(steps=10), tmp_path / "r", progress=False)
    folder = ckpt.latest_checkpoint(run / "checkpoints")
    manifest = json.loads((folder / ckpt.MANIFEST).read_text())
    assert set(manifest["files"]) == {ckpt.WEIGHTS, ckpt.TENSOR_STATE, ckpt.JSON_STATE}
    assert manifest["files"][ckpt.WEIGHTS]["sha256"] == ckpt.file_sha256(folder / ckpt.WEIGHTS)
    assert ckpt.verify_checkpoint(folder) is True
    _flip_byte(folder / ckpt.TENSOR_STATE)
    flipped = rf"^checkpoint {re.escape(str(folder))} fails verification: state.pt does not match its recorded SHA-256"
    with pytest.raises(ckpt.CheckpointError, match=flipped + r" \(corrupt\)$"):
        ckpt.verify_checkpoint(folder)
    _truncate(folder / ckpt.WEIGHTS)
    with pytest.raises(ckpt.CheckpointError, match=r"model.safetensors has \d+ bytes, \d+ recorded \(truncated"):
        ckpt.load_checkpoint(folder)
    (folder / ckpt.MANIFEST).write_text("{")
    with pytest.raises(ckpt.CheckpointError, match=r"has an unreadable manifest.json"):
        ckpt.verify_checkpoint(folder)
    (folder / ckpt.JSON_STATE).unlink()
    with pytest.raises(ckpt.CheckpointError, match=r"is incomplete: state.json missing"):
        ckpt.verify_checkpoint(folder)


def test_corrupt_final_weights_are_one_line_for_evaluate(tiny_registry, tmp_path, capsys):
    run = tmp_path / "r"
    assert main([*TINY_ARGS, "--steps", "3", "--out", str(run)]) == 0
    _truncate(run / ckpt.WEIGHTS)
    capsys.readouterr()
    assert main(["evaluate", str(run), "--metrics", "mig", "--preset", "fast", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"cannot load weights {run / ckpt.WEIGHTS}" in err
