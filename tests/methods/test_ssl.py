"""The self-supervised family: BYOL, SimSiam, Barlow Twins, VICReg on the shared SSL base."""

from __future__ import annotations

import math

import pytest
import torch

from disentkit import methods
from disentkit.data.batch import Batch
from disentkit.methods.base import Capabilities
from disentkit.methods.schedules import WarmupCosine, warmup_cosine_factor, warmup_cosine_scheduler
from disentkit.methods.ssl import SelfSupervisedMethod

SHAPE = (3, 64, 64)
# small heads so that a step takes milliseconds
SSL_PARAMS = {
    "byol": {"projector_hidden": 64, "projector_out": 32, "predictor_hidden": 64},
    "simsiam": {"projector_hidden": 64, "projector_out": 32, "predictor_hidden": 16},
    "barlow_twins": {"projector_hidden": 64, "projector_out": 32},
    "vicreg": {"projector_hidden": 64, "projector_out": 32},
}
TERMS = {
    "byol": {"loss", "embedding_std"},
    "simsiam": {"loss", "embedding_std"},
    "barlow_twins": {"loss", "embedding_std"},
    "vicreg": {"loss", "embedding_std", "invariance", "variance", "covariance"},
}


def build(name: str, seed: int = 0, **extra) -> SelfSupervisedMethod:
    return methods.get(name, SHAPE, seed=seed, **{**SSL_PARAMS[name], **extra})


def views_batch(seed: int, size: int = 8) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(size, *SHAPE, generator=gen)
    factors = torch.zeros(size, 2, dtype=torch.int64)
    return Batch("views", (x, x.flip(-1)), (factors, factors))


def run_steps(method, steps, start=0, opts=None, total=20):
    opts = method.configure_optimizers(total) if opts is None else opts
    return [method.train_step(views_batch(s), s, opts) for s in range(start, start + steps)], opts


def test_the_ssl_family_is_registered_with_its_contract():
    for name in SSL_PARAMS:
        cls = methods.method_class(name)
        assert issubclass(cls, SelfSupervisedMethod) and cls.name == name
        assert (cls.batch_kind, cls.num_views, cls.default_sampler) == ("views", 2, "views")
        assert cls.capabilities == Capabilities(decoder=False, gaussian_posterior=False)
        assert cls.schedules_depend_on_steps
    rows = {row["name"]: row for row in methods.describe()}
    assert not rows["byol"]["decoder"] and rows["byol"]["batch_kind"] == "views"


@pytest.mark.parametrize("name", sorted(SSL_PARAMS))
def test_train_step_terms_update_and_represent(name):
    method = build(name)
    trainable = {n for n, p in method.named_parameters() if p.requires_grad}
    before = {n: p.detach().clone() for n, p in method.named_parameters()}
    (terms,), _ = run_steps(method, 1)
    assert set(terms) == TERMS[name]
    assert all(v.shape == () and torch.isfinite(v) and not v.requires_grad for v in terms.values())
    after = dict(method.named_parameters())
    changed = {n for n in before if not torch.equal(before[n], after[n])}
    # with a 10 % warm-up over 20 steps the first step has lr/2 > 0: every trainable weight moves
    assert trainable <= changed
    x = views_batch(0).views[0]
    assert method.code_size == 256
    assert method.represent(x).shape == (8, 256)
    assert build(name, representation="projector").represent(x).shape == (8, 32)


@pytest.mark.parametrize("name", sorted(SSL_PARAMS))
def test_same_seed_identical_and_state_dict_resume_exact(name):
    straight, _ = run_steps(build(name, seed=3), 3)
    again, _ = run_steps(build(name, seed=3), 3)
    other, _ = run_steps(build(name, seed=4), 3)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(straight, again) for k in a)
    assert straight[2]["loss"] != other[2]["loss"]

    first = build(name, seed=3)
    _, opts = run_steps(first, 2)
    state = {k: v.clone() for k, v in first.state_dict().items()}
    opt_state = {k: o.state_dict() for k, o in opts.items()}
    resumed = build(name, seed=11)
    resumed.load_state_dict(state, strict=True)
    new_opts = resumed.configure_optimizers(20)
    for key, opt in new_opts.items():
        opt.load_state_dict(opt_state[key])
    (last,), _ = run_steps(resumed, 1, start=2, opts=new_opts)
    assert all(torch.equal(last[k], straight[2][k]) for k in last)


def test_byol_target_follows_the_ema_formula_and_gets_no_gradient():
    model = build("byol", seed=0)
    online = dict(model.backbone.named_parameters())
    target = dict(model.target_backbone.named_parameters())
    assert all(torch.equal(online[n], target[n]) for n in online)  # the target starts as a copy
    assert not any(p.requires_grad for p in model.target_backbone.parameters())
    assert not any(p.requires_grad for p in model.target_projector.parameters())
    opts = model.configure_optimizers(10)
    for step in range(3):
        old_target = {n: p.detach().clone() for n, p in model.target_projector.named_parameters()}
        model.train_step(views_batch(step), step, opts)
        tau = 1 - (1 - 0.99) * (math.cos(math.pi * step / 10) + 1) / 2
        assert model.momentum(step) == pytest.approx(tau, abs=1e-15)
        for n, p in model.projector.named_parameters():
            expected = tau * old_target[n] + (1 - tau) * p.detach()
            torch.testing.assert_close(dict(model.target_projector.named_parameters())[n], expected,
                                       rtol=1e-6, atol=1e-7)
    # the optimiser holds only online parameters
    optimised = {id(p) for group in opts["ssl"].param_groups for p in group["params"]}
    assert optimised.isdisjoint(id(p) for p in model.target_backbone.parameters())
    assert model.momentum(10) == 1.0


def test_byol_needs_its_run_length_and_the_constant_schedule():
    model = build("byol", momentum_schedule="constant", momentum_base=0.9)
    with pytest.raises(RuntimeError, match="configure_optimizers"):
        model.after_step(0)
    model.configure_optimizers(5)
    assert model.momentum(3) == 0.9


def test_weight_decay_skips_biases_and_batch_norm():
    model = build("barlow_twins", weight_decay=0.1)
    decay, no_decay = model.configure_optimizers(10)["ssl"].param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))
    sgd = build("vicreg", optimizer="sgd", sgd_momentum=0.5).configure_optimizers(10)["ssl"]
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.5


def test_warmup_cosine_factor_by_hand():
    # W = 10 warm-up steps of K = 100: (k + 1) / 10, then (1 + cos(pi (k - 10) / 90)) / 2
    assert warmup_cosine_factor(0, 10, 100) == pytest.approx(0.1)
    assert warmup_cosine_factor(9, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine_factor(10, 10, 100) == pytest.approx(1.0)
    assert warmup_cosine_factor(55, 10, 100) == pytest.approx(0.5)
    assert warmup_cosine_factor(100, 10, 100) == pytest.approx(0.0, abs=1e-15)
    assert warmup_cosine_factor(40, 10, 100, final=0.2) == pytest.approx(0.2 + 0.8 * 0.75)
    assert warmup_cosine_factor(0, 0, 4) == 1.0


def test_warmup_cosine_scheduler_steps_and_round_trips(tmp_path):
    param = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([param], lr=0.5)
    sched = warmup_cosine_scheduler(opt, warmup_steps=2, total_steps=6)
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    expected = [0.5 * warmup_cosine_factor(k, 2, 6) for k in range(6)]
    assert lrs == pytest.approx(expected)
    assert lrs[:3] == pytest.approx([0.25, 0.5, 0.5])
    torch.save(sched.state_dict(), tmp_path / "s.pt")
    opt2 = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    sched2 = warmup_cosine_scheduler(opt2, 2, 6)
    sched2.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert sched2.last_epoch == 6 and sched2.get_last_lr() == sched.get_last_lr()
    assert sched2.lr_lambdas[0].__dict__ == {"total_steps": 6, "warmup_steps": 2, "final": 0.0}
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupCosine(7, 6)


def test_ssl_methods_reject_bad_batches_and_configs():
    model = build("simsiam")
    with pytest.raises(ValueError, match="trains on 'views' batches with 2 view.*use the sampler 'views'"):
        model(torch.rand(4, *SHAPE), 0)
    with pytest.raises(ValueError, match="expects images"):
        model(Batch("views", (torch.rand(4, 1, 64, 64),) * 2, (torch.zeros(4, 0, dtype=torch.int64),) * 2), 0)
    with pytest.raises(ValueError, match="backbone must be one of 'conv', 'fc', 'resnet18'"):
        methods.config_for("byol", {"backbone": "vit"})
    with pytest.raises(ValueError, match="representation must be one of 'backbone', 'projector'"):
        methods.config_for("vicreg", {"representation": "target"})
    with pytest.raises(ValueError, match="momentum_base must be >= 0.0 and <= 1.0"):
        methods.config_for("byol", {"momentum_base": 1.5})
    with pytest.raises(ValueError, match="unknown parameter.*valid keys: backbone"):
        methods.config_for("barlow_twins", {"lambda": 1.0})
    with pytest.raises(ValueError, match=r"'conv' backbone needs \(3, 64, 64\)"):
        methods.get("byol", (3, 32, 32), **SSL_PARAMS["byol"])


def test_resnet18_backbone_gives_a_512_d_code():
    model = methods.get("simsiam", (3, 32, 32), seed=0, backbone="resnet18", backbone_width=8,
                        **SSL_PARAMS["simsiam"])
    assert model.code_size == 64  # 8 x width
    assert model.represent(torch.rand(2, 3, 32, 32)).shape == (2, 64)
    assert methods.config_for("byol", {"backbone": "resnet18"}).backbone_width == 64  # 512-D by default
