"""Every registered method: a train step, determinism, resume, config validation."""

from __future__ import annotations

import pytest
import torch

from disentkit import methods
from disentkit.methods.annealed_vae import annealed_capacity
from disentkit.data.batch import Batch
from disentkit.methods.base import Method

SHAPE = (1, 64, 64)
EXTRA_TERMS = {
    "beta_vae": set(),
    "annealed_vae": {"capacity"},
    "beta_tc_vae": {"tc"},
    "factor_vae": {"tc", "discriminator_loss"},
    "dip_vae_i": {"dip_penalty"},
    "dip_vae_ii": {"dip_penalty"},
    "ada_gvae": {"shared_dims"},
    "ada_ml_vae": {"shared_dims"},
}
# small settings that make every regulariser active on a 4-image batch
PARAMS = {
    "beta_vae": {"beta": 4.0},
    "annealed_vae": {"c_max": 10.0, "iteration_threshold": 10},
    "beta_tc_vae": {"beta": 6.0, "dataset_size": 1000},
    "factor_vae": {"gamma": 10.0, "disc_hidden": 32},
    "dip_vae_i": {"lambda_od": 5.0},
    "dip_vae_ii": {"lambda_od": 5.0},
    "ada_gvae": {"beta": 2.0},
    "ada_ml_vae": {"beta": 2.0},
}


def make_batch(method: Method, seed: int = 0, size: int = 4):
    gen = torch.Generator().manual_seed(seed)
    views = tuple(torch.rand(size, *SHAPE, generator=gen) for _ in range(method.num_views))
    factors = torch.zeros(size, 2, dtype=torch.int64)
    return Batch(method.batch_kind, views, (factors,) * len(views))


def build(name: str, seed: int = 0, **extra) -> Method:
    return methods.get(name, SHAPE, seed=seed, **{**PARAMS[name], **extra})


def run_steps(method: Method, steps: int, start: int = 0, opts=None):
    opts = method.configure_optimizers(100) if opts is None else opts
    return [method.train_step(make_batch(method, s), s, opts) for s in range(start, start + steps)], opts


def test_registry_names():
    from disentkit.methods.vae import GaussianVAE

    vaes = {n for n in methods.names() if issubclass(methods.method_class(n), GaussianVAE)}
    assert vaes == set(EXTRA_TERMS)  # every VAE is covered here (the SSL family in test_ssl.py)
    for name in methods.names():
        assert methods.method_class(name).name == name
    with pytest.raises(ValueError, match="valid methods: ada_gvae"):
        methods.method_class("vae_gan")


@pytest.mark.parametrize("name", sorted(EXTRA_TERMS))
def test_train_step_terms_and_parameter_update(name):
    method = build(name)
    assert method.latent_dim == 10
    before = {k: v.clone() for k, v in method.state_dict().items() if k != "_extra_state"}
    opts = method.configure_optimizers(100)
    terms = method.train_step(make_batch(method), 0, opts)
    expected = {"loss", "reconstruction", "kl", "regularizer", "kl_per_dim"} | EXTRA_TERMS[name]
    assert set(terms) == expected
    for key, value in terms.items():
        assert not value.requires_grad
        assert torch.isfinite(value).all(), key
        assert value.shape == ((10,) if key == "kl_per_dim" else ()), key
    assert terms["kl_per_dim"].sum().item() == pytest.approx(terms["kl"].item(), rel=1e-5)
    assert terms["loss"].item() == pytest.approx(
        (terms["reconstruction"] + terms["regularizer"]).item(), rel=1e-6)
    after = method.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == set(before), f"unchanged: {sorted(set(before) - changed)}"
    x = make_batch(method)
    x = x.images
    assert method.represent(x).shape == (4, 10)
    recon = method.reconstruct(x)
    assert recon.shape == x.shape and recon.min() >= 0 and recon.max() <= 1


@pytest.mark.parametrize("name", sorted(EXTRA_TERMS))
def test_same_seed_identical_different_seed_differs(name):
    a, _ = run_steps(build(name, seed=3), 2)
    b, _ = run_steps(build(name, seed=3), 2)
    c, _ = run_steps(build(name, seed=4), 2)
    for ta, tb in zip(a, b):
        assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert a[1]["loss"] != c[1]["loss"]


@pytest.mark.parametrize("name", ["beta_vae", "factor_vae", "ada_gvae"])
def test_resume_from_state_dict_is_exact(name):
    straight, _ = run_steps(build(name, seed=1), 3)
    first = build(name, seed=1)
    _, opts = run_steps(first, 2)
    state = {k: v.clone() for k, v in first.state_dict().items()}
    assert state["_extra_state"].dtype == torch.uint8  # the generator travels with the weights
    opt_states = {k: o.state_dict() for k, o in opts.items()}
    resumed = build(name, seed=99)  # a different seed: everything must come from the state
    resumed.load_state_dict(state, strict=True)
    new_opts = resumed.configure_optimizers(100)
    for key, opt in new_opts.items():
        opt.load_state_dict(opt_states[key])
    last, _ = run_steps(resumed, 1, start=2, opts=new_opts)
    assert all(torch.equal(last[0][k], straight[2][k]) for k in straight[2])


def test_train_step_leaves_global_rng_alone():
    method = build("factor_vae", hfs_gamma=1.0)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    run_steps(method, 1)
    assert torch.equal(before, torch.get_rng_state())


def test_seed_none_uses_the_global_rng():
    torch.manual_seed(7)
    a = methods.get("beta_vae", SHAPE)
    torch.manual_seed(7)
    b = methods.get("beta_vae", SHAPE)
    assert a.seed == b.seed
    assert torch.equal(a.encoder.dense.weight, b.encoder.dense.weight)


def test_factor_vae_updates_are_separated():
    """The VAE optimiser sees d(vae loss)/d(VAE params), the discriminator's d(D loss)/d(D params)."""
    ref = build("factor_vae", seed=2)
    terms = ref(make_batch(ref), 0)
    vae_params, disc_params = ref.vae_parameters(), list(ref.discriminator.parameters())
    g_vae = torch.autograd.grad(terms["loss"], vae_params, retain_graph=True)
    g_disc = torch.autograd.grad(terms["discriminator_loss"], disc_params)
    method = build("factor_vae", seed=2)
    run_steps(method, 1)
    for p, g in zip(method.vae_parameters(), g_vae):
        assert torch.allclose(p.grad, g, atol=1e-6)
    for p, g in zip(method.discriminator.parameters(), g_disc):
        assert torch.allclose(p.grad, g, atol=1e-7)
    opts = method.configure_optimizers(100)
    assert opts["discriminator"].defaults["betas"] == (0.5, 0.9)
    assert opts["vae"].defaults["betas"] == (0.9, 0.999)
    assert opts["vae"].defaults["lr"] == opts["discriminator"].defaults["lr"] == 1e-4


def test_factor_vae_two_batch():
    method = build("factor_vae", permutation="two_batch")
    terms, _ = run_steps(method, 1)
    assert torch.isfinite(terms[0]["discriminator_loss"])
    with pytest.raises(ValueError, match="even batch"):
        method.train_step(torch.rand(5, *SHAPE), 1, method.configure_optimizers(100))


def test_annealed_capacity_reported():
    method = build("annealed_vae")
    terms, _ = run_steps(method, 1, start=5)
    assert terms[0]["capacity"].item() == pytest.approx(annealed_capacity(5, 10.0, 10))
    assert terms[0]["regularizer"].item() == pytest.approx(
        1000.0 * abs(terms[0]["kl"].item() - 5.0), rel=1e-5)


@pytest.mark.parametrize("estimator", ["mss", "mws", "mss_reference_bug", "dlib"])
def test_beta_tc_estimators(estimator):
    terms, _ = run_steps(build("beta_tc_vae", estimator=estimator), 1)
    t = terms[0]
    assert t["regularizer"].item() == pytest.approx((t["kl"] + 5.0 * t["tc"]).item(), rel=1e-5)


@pytest.mark.parametrize("reconstruction", ["mse", "box_blur"])
def test_reconstruction_variants(reconstruction):
    terms, _ = run_steps(build("beta_vae", reconstruction=reconstruction, blur_radius=3), 1)
    assert torch.isfinite(terms[0]["loss"])
    assert terms[0]["reconstruction"].item() > 0


def test_hfs_term_composes():
    terms, _ = run_steps(build("dip_vae_ii", hfs_gamma=100.0), 1)
    t = terms[0]
    assert t["hfs"].item() > 0
    assert t["loss"].item() == pytest.approx(
        (t["reconstruction"] + t["regularizer"] + 100.0 * t["hfs"]).item(), rel=1e-5)


def test_fc_architecture():
    method = build("beta_vae", architecture="fc")
    terms = method(make_batch(method), 0)
    assert torch.isfinite(terms["loss"]) and terms["loss"].requires_grad
    assert method.represent(make_batch(method).images).shape == (4, 10)


@pytest.mark.parametrize("name", ["beta_tc_vae", "factor_vae", "ada_ml_vae"])
def test_bf16_autocast_step(name):
    method = build(name, hfs_gamma=1.0)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        terms, _ = run_steps(method, 1)
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in terms[0].values())


def test_method_rejects_the_wrong_batch():
    pairs = build("ada_gvae")
    assert (pairs.batch_kind, pairs.num_views, pairs.default_sampler) == ("pairs", 2, "weak_pairs")
    with pytest.raises(ValueError, match="trains on 'pairs' batches with 2 view.*use the sampler 'weak_pairs'"):
        pairs.train_step(torch.rand(4, *SHAPE), 0, pairs.configure_optimizers(100))
    single = build("beta_vae")
    with pytest.raises(ValueError, match="trains on 'images' batches with 1 view.*got 'pairs' batch"):
        single(make_batch(pairs), 0)
    with pytest.raises(ValueError, match="expects images"):
        single(torch.rand(4, 3, 64, 64), 0)


def test_beta_tc_vae_without_dataset_size_says_how_to_set_it():
    method = methods.get("beta_tc_vae", SHAPE, seed=0, beta=6.0)
    assert method.config.dataset_size is None
    with pytest.raises(ValueError, match="dataset_size"):
        method(make_batch(method), 0)
    filled = type(method).fill_from_dataset(method.config, range(4321))
    assert filled.dataset_size == 4321 and method.config.dataset_size is None


def test_capabilities_and_register():
    from disentkit.methods.base import Capabilities

    rows = {row["name"]: row for row in methods.describe()}
    assert rows["beta_vae"]["decoder"] and rows["beta_vae"]["gaussian_posterior"]
    assert rows["ada_gvae"]["batch_kind"] == "pairs"
    cls = methods.method_class("beta_vae")
    assert cls.capabilities == Capabilities(decoder=True, gaussian_posterior=True)
    methods.register("my_beta_vae", cls)
    try:
        assert methods.method_class("my_beta_vae") is cls and "my_beta_vae" in methods.names()
    finally:
        methods._REGISTRY.pop("my_beta_vae")
        methods._CLASSES.pop("my_beta_vae")
    with pytest.raises(ValueError, match="Method subclass"):
        methods.register("bad", int)
    with pytest.raises(ValueError, match="module:Class"):
        methods.register("bad", "no_colon")


def test_config_validation(monkeypatch):
    import disentkit.methods.vae as vae_module

    def no_network(*args, **kwargs):
        raise AssertionError("a network was built before the config was validated")

    monkeypatch.setattr(vae_module, "ConvEncoder", no_network)
    with pytest.raises(ValueError, match="unknown parameter.*valid keys: latent_dim.*beta"):
        methods.get("beta_vae", SHAPE, betta=4)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        methods.get("beta_vae", SHAPE, beta=-1)
    with pytest.raises(ValueError, match="'mss', 'mws', 'mss_reference_bug', 'dlib'"):
        methods.config_for("beta_tc_vae", {"estimator": "mss_legacy"})
    with pytest.raises(ValueError, match="'bernoulli', 'mse', 'box_blur'"):
        methods.config_for("dip_vae_i", {"reconstruction": "l1"})
    with pytest.raises(ValueError, match="'same_batch', 'two_batch'"):
        methods.config_for("factor_vae", {"permutation": "other"})
    with pytest.raises(ValueError, match="latent_dim must be an integer"):
        methods.config_for("ada_gvae", {"latent_dim": 2.5})
    with pytest.raises(ValueError, match="must be a number"):
        methods.config_for("annealed_vae", {"gamma": "big"})
    with pytest.raises(ValueError, match=r"\(1, 64, 64\)"):
        methods.get("beta_vae", (1, 32, 32))
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match=rf"^seed \(or None\) must be an integer >= 0, got {bad!r}$"):
            methods.get("beta_vae", SHAPE, seed=bad)


def test_config_defaults():
    assert methods.config_for("beta_vae", {}).beta == 1.0
    annealed = methods.config_for("annealed_vae", {})
    assert (annealed.gamma, annealed.c_max, annealed.iteration_threshold) == (1000.0, 5.0, 100_000)
    assert methods.config_for("dip_vae_i", {}).lambda_d_factor == 10.0
    assert methods.config_for("dip_vae_ii", {}).lambda_d_factor == 1.0
    assert methods.config_for("factor_vae", {}).gamma == 10.0
    tc = methods.config_for("beta_tc_vae", {})
    assert (tc.estimator, tc.dataset_size) == ("mss", None)  # filled from the training set by the trainer
    base = methods.config_for("beta_vae", {"beta": 4})
    assert (base.lr, base.adam_beta1, base.adam_beta2, base.adam_eps, base.latent_dim) == (
        1e-4, 0.9, 0.999, 1e-8, 10)
    assert (base.reconstruction, base.hfs_gamma, base.hfs_pairs) == ("bernoulli", 0.0, 25)


@pytest.mark.parametrize("name", methods.names())
def test_every_default_config_round_trips_through_json(name):
    """Configs are recorded as JSON (config.json, run ids, resume checks): no tuple may come back a list."""
    import dataclasses
    import json

    params = dataclasses.asdict(methods.config_for(name, {}))
    assert json.loads(json.dumps(params)) == params
