"""Deep InfoMax: local/global critics, the estimators, the separate prior discriminator."""

from __future__ import annotations

import math

import pytest
import torch

from disentkit import methods
from disentkit.data.batch import Batch
from disentkit.losses import infomax_loss, local_global_scores
from disentkit.methods.dim import DeepInfoMax, DIMConfig, MIEmbedding
from disentkit.nn import build_backbone

SHAPE = (3, 64, 64)
SMALL = {"mi_units": 32, "disc_hidden": (48, 24)}


def build(seed: int = 0, shape=SHAPE, **params) -> DeepInfoMax:
    return DeepInfoMax(shape, DIMConfig(**{**SMALL, **params}), seed=seed)


def images(seed: int, size: int = 8, shape=SHAPE) -> torch.Tensor:
    return torch.rand(size, *shape, generator=torch.Generator().manual_seed(seed))


def run_steps(model, steps, start=0, opts=None, fixed=None):
    opts = model.configure_optimizers(100) if opts is None else opts
    terms = [model.train_step(images(s) if fixed is None else fixed, s, opts) for s in range(start, start + steps)]
    return terms, opts


def test_contract_and_represent():
    assert (DeepInfoMax.batch_kind, DeepInfoMax.num_views, DeepInfoMax.default_sampler) == ("images", 1, "uniform")
    assert not DeepInfoMax.capabilities.decoder and not DeepInfoMax.capabilities.gaussian_posterior
    assert not DeepInfoMax.schedules_depend_on_steps
    model = build()
    x = images(0)
    assert model.code_size == 256 and model.represent(x).shape == (8, 256)
    torch.testing.assert_close(model.represent(x), model.backbone(x))
    glob = build(representation="global", global_dim=10)
    assert glob.code_size == 10 and glob.represent(x).shape == (8, 10)
    torch.testing.assert_close(glob.represent(x), glob.global_head(glob.backbone(x)))
    # DIM(L) defaults; the global critic exists only when alpha > 0
    cfg = DIMConfig()
    assert (cfg.alpha, cfg.beta, cfg.gamma, cfg.mi_units, cfg.global_dim, cfg.estimator) == (0, 1, 0.1, 2048, 64, "jsd")
    assert cfg.disc_hidden == [1000, 200] and cfg.lr == cfg.disc_lr == 1e-4
    assert hasattr(model, "local_critic") and not hasattr(model, "global_critic")
    both = build(alpha=0.5)
    assert hasattr(both, "global_critic") and both.global_critic.shortcut.in_channels == 64 * 4 * 4


@pytest.mark.parametrize("params", [{}, {"estimator": "gan"}, {"estimator": "dv"}, {"estimator": "infonce"},
                                    {"alpha": 1.0, "beta": 0.0, "gamma": 1.0}, {"alpha": 0.5, "prior": "gaussian"}])
def test_train_steps_finite_and_every_weight_moves(params):
    model = build(**params)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    terms, _ = run_steps(model, 2)
    expected = {"loss", "prior_generator", "discriminator_loss"}
    expected |= {"local"} if model.config.beta > 0 else set()
    expected |= {"global"} if model.config.alpha > 0 else set()
    for t in terms:
        assert set(t) == expected
        assert all(v.shape == () and torch.isfinite(v) and not v.requires_grad for v in t.values())
    cfg = model.config
    t = terms[-1]
    total = cfg.beta * t.get("local", 0) + cfg.alpha * t.get("global", 0) + cfg.gamma * t["prior_generator"]
    assert t["loss"].item() == pytest.approx(float(total), rel=1e-6, abs=1e-6)
    after = dict(model.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n in before), "every parameter must train"


def test_local_term_is_the_estimator_on_the_critic_scores():
    model = build(estimator="dv")
    x = images(4)
    terms = model(x, 0)
    with torch.no_grad():
        _, fmap, y = model.encode(x)
        scores = local_global_scores(model.local_critic(fmap), model.local_global(y))  # (8, 8, 16)
    assert scores.shape == (8, 8, 16)
    # Donsker-Varadhan by hand: log mean exp over the 8*7*16 negatives minus the mean positive
    eye = torch.eye(8, dtype=torch.bool)
    positives, negatives = scores[eye], scores[~eye]
    expected = torch.logsumexp(negatives.flatten(), 0) - math.log(negatives.numel()) - positives.mean()
    assert terms["local"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert terms["local"].item() == pytest.approx(infomax_loss(scores, "dv").item(), rel=1e-6)


def test_the_loss_falls_on_a_fixed_batch():
    model = build(seed=3, lr=1e-3)
    fixed = images(9)
    terms, _ = run_steps(model, 20, fixed=fixed)
    local = [t["local"].item() for t in terms]
    assert local[-1] < 0.5 * local[0]
    # the JSD loss is bounded below by -2 log 2 (E_P <= log 2, E_N >= -log 2)
    assert min(local) > -2 * math.log(2)


def test_discriminator_has_its_own_optimiser_and_gradients():
    model = build(seed=2, gamma=1.0)
    opts = model.configure_optimizers(10)
    assert set(opts) == {"dim", "discriminator"}
    disc = {id(p) for p in model.discriminator.parameters()}
    dim = {id(p) for g in opts["dim"].param_groups for p in g["params"]}
    assert {id(p) for g in opts["discriminator"].param_groups for p in g["params"]} == disc
    assert dim.isdisjoint(disc) and dim | disc == {id(p) for p in model.parameters()}

    x = images(1)
    ref = build(seed=2, gamma=1.0)
    terms = ref(x, 0)
    g_enc = torch.autograd.grad(terms["loss"], ref.encoder_parameters(), retain_graph=True)
    g_disc = torch.autograd.grad(terms["discriminator_loss"], list(ref.discriminator.parameters()))
    model.train_step(x, 0, opts)
    for p, g in zip(model.encoder_parameters(), g_enc):
        torch.testing.assert_close(p.grad, g)
    # D's gradient is its own loss's only (the generator term, which also reaches D, is left out)
    for p, g in zip(model.discriminator.parameters(), g_disc):
        torch.testing.assert_close(p.grad, g)
    # the discriminator trains on detached codes: its loss sends nothing to the encoder
    terms = ref(x, 1)
    grads = torch.autograd.grad(terms["discriminator_loss"], ref.encoder_parameters(), allow_unused=True)
    assert all(g is None for g in grads)


def test_seeding_is_bit_identical_and_resume_is_exact():
    a, b, c = build(seed=5, gamma=1.0), build(seed=5, gamma=1.0), build(seed=6, gamma=1.0)
    straight = [run_steps(m, 3)[0] for m in (a, b, c)]
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["global_head.weight"], sc["global_head.weight"])

    torch.manual_seed(0)
    global_state = torch.get_rng_state()
    first = build(seed=5, gamma=1.0)
    _, opts = run_steps(first, 2)
    assert torch.equal(global_state, torch.get_rng_state())  # prior samples come from self.generator
    state = {k: v.clone() for k, v in first.state_dict().items()}
    opt_state = {k: o.state_dict() for k, o in opts.items()}
    resumed = build(seed=99, gamma=1.0)
    resumed.load_state_dict(state, strict=True)
    new_opts = resumed.configure_optimizers(100)
    for key, opt in new_opts.items():
        opt.load_state_dict(opt_state[key])
    (last,), _ = run_steps(resumed, 1, start=2, opts=new_opts)
    assert all(torch.equal(last[k], straight[0][2][k]) for k in last)
    final = resumed.state_dict()
    assert all(torch.equal(final[k], sa[k]) for k in sa)


def test_features_and_map_match_the_backbone():
    x = torch.rand(2, 3, 64, 64)
    for name, params in (("conv", {}), ("resnet18", {"width": 4})):
        backbone = build_backbone(name, 3, rng=0, **params).eval()
        feature, fmap = backbone.features_and_map(x)
        assert torch.equal(feature, backbone(x))
        assert torch.equal(fmap, backbone.feature_map(x))
    model = build(backbone="resnet18", backbone_width=4, alpha=0.5)
    assert model.code_size == 32
    terms, _ = run_steps(model, 1)
    assert torch.isfinite(terms[0]["loss"])


def test_mi_embedding_shortcut_starts_at_the_identity():
    emb = MIEmbedding(3, 5, rng=torch.Generator().manual_seed(0))
    w = emb.shortcut.weight[:, :, 0, 0]
    assert torch.equal(w[:3].diagonal(), torch.ones(3))  # near the identity: 1 on the diagonal,
    off = w.clone().detach()
    off[torch.arange(3), torch.arange(3)] = 0
    assert 0 < off.abs().max() <= 0.01  # U(-0.01, 0.01) elsewhere
    out = emb(torch.rand(4, 3, 2, 2))
    assert out.shape == (4, 5, 2, 2)
    # LayerNorm over channels: every location has zero mean and unit variance across the 5 units
    torch.testing.assert_close(out.mean(1), torch.zeros(4, 2, 2), atol=1e-5, rtol=0)
    assert emb(torch.rand(4, 3)).shape == (4, 5)


def test_wrong_batch_and_bad_config_values():
    model = build()
    views = Batch("views", (images(0),) * 2, (torch.zeros(8, 1, dtype=torch.int64),) * 2)
    with pytest.raises(ValueError, match="trains on 'images' batches with 1 view.*use the sampler 'uniform'"):
        model(views, 0)
    with pytest.raises(ValueError, match="at least 2 images"):
        model(images(0, size=1), 0)
    with pytest.raises(ValueError, match="estimator must be one of 'jsd', 'gan', 'dv', 'infonce'"):
        DIMConfig(estimator="nwj")
    with pytest.raises(ValueError, match="backbone must be one of 'conv', 'resnet18'"):
        DIMConfig(backbone="fc")
    with pytest.raises(ValueError, match="gamma must be >= 0.0"):
        DIMConfig(gamma=-1)
    with pytest.raises(ValueError, match="must not both be 0"):
        DIMConfig(alpha=0, beta=0)
    with pytest.raises(ValueError, match="prior must be one of 'uniform', 'gaussian'"):
        DIMConfig(prior="laplace")
    with pytest.raises(ValueError, match="disc_hidden"):
        DIMConfig(disc_hidden=())
    with pytest.raises(ValueError, match="representation must be one of 'backbone', 'global'"):
        DIMConfig(representation="local")
    with pytest.raises(ValueError, match=r"'conv' backbone needs \(3, 64, 64\)"):
        build(shape=(3, 32, 32))


@pytest.mark.slow
def test_dim_trains_through_the_trainer(tmp_path):
    import json

    from disentkit.train import load_run, train

    methods.register("dim", DeepInfoMax)
    cfg = {"dataset": "shapes3d", "method": "dim", "steps": 30, "batch_size": 8, "log_every": 10,
           "num_threads": 1, "images": False, "method_params": {"mi_units": 32, "disc_hidden": [48, 24]}}
    run = train(cfg, tmp_path / "run", progress=False)
    logged = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    records = [r for r in logged if "event" not in r]
    assert [r["step"] for r in records] == [10, 20, 30]
    assert all(math.isfinite(r[k]) for r in records for k in ("loss", "local", "discriminator_loss"))
    assert load_run(run).represent(torch.rand(2, *SHAPE)).shape == (2, 256)
