"""The training loop: determinism, checkpoints, NaN handling, the log, pictures, configs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from _train_standins import TINY, TINY_DATA, TinyVAE, crash_tiny_at
from disentkit.train import NonFiniteLossError, TrainConfig, load_run, train
from disentkit.train import checkpoint as ckpt
from disentkit.train import trainer


def _cfg(**kw) -> TrainConfig:
    base = dict(method=TINY, steps=30, batch_size=8, checkpoint_every=10, log_every=5, num_threads=1,
                images=False, **TINY_DATA)
    base.update(kw)
    return TrainConfig(**base)


def _records(run) -> list[dict]:
    lines = (run / "train_log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "event" not in r]


def test_same_seed_same_run_different_seed_differs(tiny_registry, tmp_path):
    a = train(_cfg(seed=3), tmp_path / "a", progress=False)
    b = train(_cfg(seed=3), tmp_path / "b", progress=False)
    c = train(_cfg(seed=4), tmp_path / "c", progress=False)
    d = train(_cfg(seed=3, prefetch=2), tmp_path / "d", progress=False)  # prefetching changes nothing
    wa, wb, wc, wd = ((r / "model.safetensors").read_bytes() for r in (a, b, c, d))
    assert wa == wb == wd and wa != wc
    la = [r["loss"] for r in _records(a)]
    assert la == [r["loss"] for r in _records(b)]
    assert la != [r["loss"] for r in _records(c)]


def test_train_leaves_caller_rng_and_threads_alone(tiny_registry, tmp_path):
    # The caller asks for 2 threads but runs nothing parallel: a process that has run a 2-thread
    # OpenMP region cannot fork safely afterwards (the study tests fork workers in this process).
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    torch.set_num_threads(2)
    try:
        run = train(_cfg(num_threads=1, steps=5), tmp_path / "r", progress=False)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(1)
    assert torch.equal(torch.rand(3), expected)
    header = json.loads((run / "train_log.jsonl").read_text().splitlines()[0])
    assert header["event"] == "start" and header["threads"] == 1 and header["device"] == "cpu"
    assert json.loads((run / "run.json").read_text())["threads"] == 1


def test_checkpoints_every_k_steps_and_loadable_without_code(tiny_registry, tmp_path):
    run = train(_cfg(steps=25, keep_checkpoints=10), tmp_path / "r", progress=False)
    found = ckpt.list_checkpoints(run / "checkpoints")
    assert [s for s, _ in found] == [10, 20, 25]  # every K and at the end
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]
    folder = found[-1][1]
    state = torch.load(folder / "state.pt", weights_only=True)
    assert set(state) == {"optimizers", "schedulers", "rng", "log"} and set(state["optimizers"]) == {"vae"}
    assert json.loads((folder / "state.json").read_text())["step"] == 25
    assert (folder / "model.safetensors").read_bytes() == (run / "model.safetensors").read_bytes()
    # keep_checkpoints=1 (the default) keeps only the newest
    run1 = train(_cfg(steps=25), tmp_path / "r1", progress=False)
    assert [s for s, _ in ckpt.list_checkpoints(run1 / "checkpoints")] == [25]


def test_checkpoint_write_is_atomic(tiny_registry, tmp_path, monkeypatch):
    real_save = torch.save
    calls = {"n": 0}

    def failing_save(obj, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint dies half-written
            (tmp_path / "marker").write_text(str(path))
            raise OSError("disk full")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(ckpt.torch, "save", failing_save)
    with pytest.raises(OSError):
        train(_cfg(steps=30), tmp_path / "r", progress=False)
    root = tmp_path / "r" / "checkpoints"
    assert [s for s, _ in ckpt.list_checkpoints(root)] == [10]  # the half-written one is invisible
    assert any(p.name.startswith(".tmp-") for p in root.iterdir())
    monkeypatch.setattr(ckpt.torch, "save", real_save)
    train(_cfg(steps=30), tmp_path / "r", resume=True, progress=False)
    assert not any(p.name.startswith(".tmp-") for p in root.iterdir())  # cleaned on resume
    ref = train(_cfg(steps=30), tmp_path / "ref", progress=False)
    assert (tmp_path / "r" / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()


def test_resume_after_crash_and_extend_are_bit_identical(tiny_registry, tmp_path, monkeypatch):
    # log every 4 steps, checkpoint every 10: the checkpoint at 20 carries 0 pending steps, at 30 two
    ref = train(_cfg(steps=40, log_every=4), tmp_path / "ref", progress=False)
    # a crash at step 37 (between the checkpoints at 30 and 40) ...
    restore = crash_tiny_at(monkeypatch, 37)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(steps=40, log_every=4), tmp_path / "crash", progress=False)
    restore()
    train(_cfg(steps=40, log_every=4), tmp_path / "crash", resume=True, progress=False)
    assert (tmp_path / "crash" / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    # the log after the resume holds each interval once, with the uninterrupted means (the record at
    # 32 averages steps 29..32, two of them from before the checkpoint)
    assert [(r["step"], r["loss"], r["kl_per_dim"]) for r in _records(tmp_path / "crash")] == \
        [(r["step"], r["loss"], r["kl_per_dim"]) for r in _records(ref)]
    # ... and a finished run extended to more steps equals the longer run
    train(_cfg(steps=25, log_every=4), tmp_path / "ext", progress=False)
    train(_cfg(steps=40, log_every=4), tmp_path / "ext", resume=True, progress=False)
    assert (tmp_path / "ext" / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()


def test_resume_without_checkpoint_starts_over_and_drops_stale_records(tiny_registry, tmp_path, monkeypatch):
    restore = crash_tiny_at(monkeypatch, 3)
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(steps=12, log_every=1), tmp_path / "r", progress=False)
    assert [r["step"] for r in _records(tmp_path / "r")] == [1, 2, 3]
    restore()
    train(_cfg(steps=12, log_every=1), tmp_path / "r", resume=True, progress=False)
    ref = train(_cfg(steps=12, log_every=1), tmp_path / "ref", progress=False)
    assert [(r["step"], r["loss"]) for r in _records(tmp_path / "r")] == [(r["step"], r["loss"]) for r in _records(ref)]
    assert (tmp_path / "r" / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()


def test_resume_refuses_changed_config_and_new_run_refuses_used_dir(tiny_registry, tmp_path):
    train(_cfg(steps=10), tmp_path / "r", progress=False)
    with pytest.raises(ValueError, match=r"differs in \['seed'\]"):
        train(_cfg(steps=20, seed=1), tmp_path / "r", resume=True, progress=False)
    with pytest.raises(ValueError, match="already holds a run"):
        train(_cfg(steps=10), tmp_path / "r", progress=False)


def test_nan_loss_stops_with_clear_error_and_keeps_last_good_checkpoint(tiny_registry, tmp_path):
    with pytest.raises(NonFiniteLossError, match=r"not finite at step 25 \(loss=nan") as info:
        train(_cfg(steps=40, method_params={"nan_at": 25}), tmp_path / "r", progress=False)
    assert isinstance(info.value, ValueError) and info.value.step == 25
    assert np.isnan(info.value.terms["loss"]) and np.isfinite(info.value.terms["reconstruction"])
    found = ckpt.list_checkpoints(tmp_path / "r" / "checkpoints")
    assert [s for s, _ in found] == [20] and info.value.checkpoint == found[0][1]
    assert not (tmp_path / "r" / "model.safetensors").exists()
    weights = load_file(str(found[0][1] / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())


def test_log_records_are_interval_means(tiny_registry, tmp_path):
    fine = _records(train(_cfg(steps=12, log_every=1), tmp_path / "a", progress=False))
    coarse = _records(train(_cfg(steps=12, log_every=5), tmp_path / "b", progress=False))
    assert [r["step"] for r in coarse] == [5, 10, 12]  # every L steps and at the end
    assert set(coarse[0]) == {"step", "loss", "reconstruction", "kl", "kl_per_dim", "images_per_s", "images_per_cpu_s",
                              "seconds"}
    for rec, lo, hi in zip(coarse, (0, 5, 10), (5, 10, 12)):
        for key in ("loss", "reconstruction", "kl"):
            assert rec[key] == pytest.approx(np.mean([f[key] for f in fine[lo:hi]]), rel=1e-6)
        assert rec["kl_per_dim"] == pytest.approx(np.mean([f["kl_per_dim"] for f in fine[lo:hi]], axis=0), rel=1e-5)
        assert len(rec["kl_per_dim"]) == 3 and rec["images_per_s"] > 0 and rec["images_per_cpu_s"] > 0
    assert coarse[0]["seconds"] < coarse[1]["seconds"] < coarse[2]["seconds"]


def test_load_run_round_trip_and_pictures(tiny_registry, tmp_path):
    run = train(_cfg(steps=10, images=True), tmp_path / "r", progress=False)
    model = load_run(run)
    assert not model.training
    x = torch.rand(5, 1, 8, 8)
    weights = load_file(str(run / "checkpoints" / "step_00000010" / "model.safetensors"))
    fresh = TinyVAE((1, 8, 8))
    fresh.load_state_dict(weights)
    with torch.no_grad():
        assert torch.equal(model.represent(x), fresh.represent(x))
    assert model.represent(x).shape == (5, 3)
    # D=3 rows x 9 values of 8x8 tiles, 2-pixel padding; 8 inputs above 8 reconstructions
    assert Image.open(run / "traversal.png").size == (9 * 10 + 2, 3 * 10 + 2)
    assert Image.open(run / "reconstructions.png").size == (8 * 10 + 2, 2 * 10 + 2)
    gif = Image.open(run / "traversal.gif")
    assert gif.size == (3 * 10 + 2, 10 + 2) and gif.n_frames == 16 + 14


def test_config_validation_names_valid_choices(tiny_registry):
    with pytest.raises(ValueError, match="valid keys: method, dataset, steps"):
        TrainConfig.from_dict({"method": TINY, "dataset": "dummy", "steps": 1, "stpes": 3})
    with pytest.raises(ValueError, match="unknown method 'nope'; valid methods: .*tiny_vae"):
        TrainConfig(method="nope", dataset="dummy", steps=1)
    with pytest.raises(ValueError, match="unknown dataset 'nope'; valid datasets: .*dsprites"):
        TrainConfig(method=TINY, dataset="nope", steps=1)
    with pytest.raises(ValueError, match=r"valid parameters: \['latent_dim', 'lr', 'nan_at'\]"):
        TrainConfig(method=TINY, dataset="dummy", steps=1, method_params={"beta": 4})
    with pytest.raises(ValueError, match="precision must be one of 'fp32', 'bf16'; got"):
        TrainConfig(method=TINY, dataset="dummy", steps=1, precision="fp16")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        TrainConfig(method=TINY, dataset="dummy", steps=0)
    with pytest.raises(ValueError, match="device must be one of 'auto', 'cpu'"):
        TrainConfig(method=TINY, dataset="dummy", steps=1, device="gpu")
    with pytest.raises(ValueError, match="missing config key"):
        TrainConfig.from_dict({"method": TINY, "dataset": "dummy"})


def test_set_values_parses_yaml_scalars(tiny_registry):
    cfg = TrainConfig(method=TINY, dataset="dummy", steps=1)
    out = cfg.set_values(["latent_dim=4", "method_params.lr=1e-3", "steps=7", "images=false",
                          "dataset_params.size=3", "precision=bf16"])
    assert out.method_params == {"latent_dim": 4, "lr": 1e-3} and isinstance(out.method_params["lr"], float)
    assert (out.steps, out.images, out.dataset_params, out.precision) == (7, False, {"size": 3}, "bf16")
    assert cfg.method_params == {} and cfg.steps == 1  # the original is unchanged
    with pytest.raises(ValueError, match="unknown key 'beta'; valid config keys: .*valid parameters of method 'tiny_vae': latent_dim, lr, nan_at"):
        cfg.set_values(["beta=4"])
    with pytest.raises(ValueError, match="expects key=value"):
        cfg.set_values(["steps"])
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        cfg.set_values(["batch_size=big"])
    assert TrainConfig.from_dict(out.to_dict()) == out


@pytest.mark.parametrize("method", __import__("disentkit.methods", fromlist=["names"]).names())
def test_every_method_trains_and_resumes_exactly(method, tmp_path, monkeypatch):
    """Each registered method (pairs, a discriminator and its optimiser included) resumes bit-identically."""

    # cmi needs two binary factors, which dSprites lacks: noise images with binary factors instead
    data = dict(dataset="dummy", dataset_params={"size": 2}) if method == "cmi" else dict(dataset="dsprites")
    cfg = TrainConfig(method=method, steps=4, batch_size=4, checkpoint_every=2, log_every=2,
                      num_threads=1, images=False, method_params={"lr": 1e-3}, **data)
    ref = train(cfg, tmp_path / "ref", progress=False)
    real_build = trainer.build_stream

    def dying_stream(*args, **kwargs):
        stream = real_build(*args, **kwargs)
        real_next = type(stream).__next__

        class Dying(type(stream)):
            def __next__(self):
                if self.batches_drawn == 3:
                    raise KeyboardInterrupt
                return real_next(self)

        stream.__class__ = Dying
        return stream

    monkeypatch.setattr(trainer, "build_stream", dying_stream)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "crash", progress=False)
    monkeypatch.setattr(trainer, "build_stream", real_build)
    train(cfg, tmp_path / "crash", resume=True, progress=False)
    assert (tmp_path / "crash" / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    state = torch.load(ref / "checkpoints" / "step_00000004" / "state.pt", weights_only=True)
    # every optimiser the method builds is checkpointed (vae, factor_vae's discriminator, ssl, ...)
    model = trainer.build_method(cfg, (1, 64, 64))
    expected = set(model.configure_optimizers(cfg.steps))
    assert set(state["optimizers"]) == expected and expected
    first = _records(ref)[0]
    assert first["images_per_s"] > 0
    if model.capabilities.gaussian_posterior:  # the VAEs log the KL of each of their 10 latents
        assert len(first["kl_per_dim"]) == 10


def test_samplers_are_named_in_the_config_and_checked_against_the_method(tmp_path):
    cfg = TrainConfig(method="ada_gvae", dataset="dsprites", steps=1, batch_size=2, num_threads=1, images=False)
    assert cfg.resolved_sampler() == "weak_pairs"
    with pytest.raises(ValueError, match=r"k must be -1 \(random\) or in \[1, 5\]"):
        train(cfg.replace(sampler_params={"k": 9}), tmp_path / "a", progress=False)
    with pytest.raises(ValueError, match=r"unknown sampler 'weak_pairs' parameter\(s\) \['kk'\]; valid: k, allow_same_value"):
        cfg.replace(sampler_params={"kk": 1})
    with pytest.raises(ValueError, match="trains on 'pairs' batches; sampler 'uniform' makes 'images' batches; "
                                         "valid samplers for it: weak_pairs"):
        cfg.replace(sampler="uniform")
    with pytest.raises(ValueError, match="unknown sampler 'pairz'; valid samplers: uniform, correlated, weak_pairs, views"):
        cfg.replace(sampler="pairz")
    single = TrainConfig(method="beta_vae", dataset="dsprites", steps=1, batch_size=2, images=False)
    with pytest.raises(ValueError, match="valid samplers for it: uniform, correlated"):
        single.replace(sampler="weak_pairs")
    with pytest.raises(ValueError, match="unknown correlation setting 'dsprites_single_9_01'"):
        single.replace(sampler="correlated", sampler_params={"setting": "dsprites_single_9_01"})
    assert not (tmp_path / "a").exists()


def test_correlated_sampler_and_cache_from_a_config(tmp_path, monkeypatch):
    """A run on correlated factors draws exactly the correlated sampler's factors; ``cache`` reads the
    on-disk grid and gives the same batches as rendering."""
    from disentkit.data.samplers import CorrelatedSampler

    monkeypatch.setenv("DISENTKIT_CACHE", str(tmp_path / "cache"))
    cfg = TrainConfig(method="beta_vae", dataset="dsprites", steps=1, batch_size=16, seed=3, images=False,
                      sampler="correlated", sampler_params={"setting": "dsprites_single_1_01"})
    dataset = trainer.build_dataset(cfg)
    method = trainer.build_method(cfg, dataset.observation_shape)
    stream = trainer.build_stream(cfg, dataset, method, 11, torch.device("cpu"))
    expected = CorrelatedSampler.from_setting(dataset, "dsprites_single_1_01").sample(16, np.random.default_rng(11))
    batch = next(stream)
    np.testing.assert_array_equal(batch.factors[0].numpy(), expected)
    cached = cfg.replace(cache=True)
    cached_data = trainer.build_dataset(cached)
    assert type(cached_data).__name__ == "CachedData"
    again = next(trainer.build_stream(cached, cached_data, method, 11, torch.device("cpu")))
    assert torch.equal(again.images, batch.images)


def test_traversal_rows_sweep_one_latent_each():
    from disentkit.viz.traversal import latent_traversal, reconstructions

    torch.manual_seed(0)
    model = TinyVAE((1, 8, 8)).eval()
    images = np.random.default_rng(0).random((4, 1, 8, 8), dtype=np.float32)
    values = [-2.0, 0.5, 2.0]
    rows = latent_traversal(model, images[0], values)
    assert rows.shape == (3, 3, 1, 8, 8) and rows.dtype == np.float32
    with torch.no_grad():
        mu = model.encode(torch.from_numpy(images[:1]))[0][0]
        for d in range(3):
            for k, v in enumerate(values):
                z = mu.clone()
                z[d] = v
                expected = torch.sigmoid(model.decode(z[None]))[0].numpy()
                np.testing.assert_allclose(rows[d, k], expected, rtol=1e-5, atol=1e-6)
        pair = reconstructions(model, images)
        assert pair.shape == (2, 4, 1, 8, 8)
        np.testing.assert_array_equal(pair[0], images)
        np.testing.assert_allclose(pair[1], torch.sigmoid(model.decode(model.encode(torch.from_numpy(images))[0])).numpy(),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"one \(C, H, W\) image"):
        latent_traversal(model, images, values)


def test_beta_tc_vae_dataset_size_is_filled_from_the_dataset_and_recorded(tmp_path):
    cfg = TrainConfig(method="beta_tc_vae", dataset="xyobject", steps=1, batch_size=4, images=False,
                      num_threads=1, method_params={"beta": 6})
    run = train(cfg, tmp_path / "run", progress=False)
    saved = json.loads((run / "config.json").read_text())
    import disentkit.data as dd

    assert saved["method_params"]["dataset_size"] == len(dd.get("xyobject")) == 25 * 25 * 5 * 24
    assert load_run(run).config.dataset_size == len(dd.get("xyobject"))
    train(cfg, tmp_path / "run", resume=True, progress=False)  # the unfilled config resumes the filled run
    from disentkit.study.store import _filled_train

    spec_train = {"method": "beta_tc_vae", "method_params": {"beta": 6, "dataset_size": None}}
    assert _filled_train(spec_train, run)["method_params"]["dataset_size"] == 75000
