"""Every self-supervised method (warm-up + cosine learning rate; BYOL's EMA target, CMC's encoders,
DIM's prior discriminator) killed with SIGKILL between checkpoints and resumed ends with the
uninterrupted run's exact weight bytes and losses."""

from __future__ import annotations

import signal

import pytest

from _sigkill import logged_records, train_until_killed
from disentkit.cli import main

SMALL_HEADS = {
    "byol": ["projector_hidden=64", "projector_out=32", "predictor_hidden=64", "warmup_fraction=0.25"],
    "simsiam": ["projector_hidden=64", "projector_out=32", "predictor_hidden=16", "warmup_fraction=0.25"],
    "barlow_twins": ["projector_hidden=64", "projector_out=32", "warmup_fraction=0.25"],
    "vicreg": ["projector_hidden=64", "projector_out=32", "warmup_fraction=0.25"],
    "cmc": ["projector_out=32", "warmup_fraction=0.25"],
    "dim": ["mi_units=32", "gamma=0.1"],  # DIM trains with a constant Adam rate (Hjelm et al.)
}


def _args(name: str, steps: int) -> list[str]:
    sets = [a for kv in SMALL_HEADS[name] for a in ("--set", kv)]
    return ["train", name, "--dataset", "shapes3d", "--steps", str(steps), "--seed", "2", "--batch-size", "4",
            "--checkpoint-every", "10", "--log-every", "5", "--threads", "1", "--no-images", "--quiet", *sets]


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
@pytest.mark.parametrize("name", sorted(SMALL_HEADS))
def test_ssl_sigkill_then_resume_is_bit_identical(name, tmp_path, capsys):
    args = _args(name, 40)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    # the kill lands after step 25, past the checkpoint at step 20 and inside the cosine phase
    train_until_killed(args, killed, after_step=25, checkpoint=20)
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    assert main([*args, "--out", str(reference)]) == 0
    assert (killed / "model.safetensors").read_bytes() == (reference / "model.safetensors").read_bytes()
    assert [r["step"] for r in logged_records(killed)] == list(range(5, 41, 5))
    assert [r["loss"] for r in logged_records(killed)] == [r["loss"] for r in logged_records(reference)]
    if name == "byol":  # the schedules are laid over the run's length: a resume may not change it
        assert main([*_args(name, 90), "--out", str(reference), "--resume"]) != 0
        assert "steps" in capsys.readouterr().err
