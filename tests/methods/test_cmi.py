"""CMI minimisation (Funke et al. 2022): the shuffles, the losses, missing labels, gradient routes,
training through the trainer with a bit-identical resume, and the attribute metrics on the model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from disentkit import methods
from disentkit.data import DummyData, FactorSpace, GroundTruthData
from disentkit.data.batch import Batch, ImageBatches
from disentkit.losses import ShuffleDiscriminatorLoss, ShuffleMMDLoss, group_permutation, group_shuffle, rbf_mmd
from disentkit.methods.cmi import CMI, CMIConfig, missing_label_mask
from disentkit.metrics import evaluate
from disentkit.train import TrainConfig, load_run, train
from disentkit.train import trainer


class Pixels(GroundTruthData):
    """Two binary attributes and two nuisance factors, each drawn as one pixel of a 1 x 1 x 4 image."""

    def __init__(self, sizes=(2, 2, 7, 9), names=("a1", "a2", "n1", "n2")):
        self._space = FactorSpace(names, sizes)

    @property
    def factor_space(self):
        return self._space

    @property
    def observation_shape(self):
        return (1, 1, self.num_factors)

    def _render(self, factors, rng):
        scale = np.asarray(self.factor_sizes, dtype=np.float32) - 1
        return (factors / scale).astype(np.float32)[:, None, None, :]


def _batch(data, n=32, seed=0) -> Batch:
    return ImageBatches(data).draw(n, seed).to_torch()


def _model(data=None, **params) -> CMI:
    data = data or Pixels()
    cfg = CMI.fill_from_dataset(CMIConfig(**{"latent_dim": 4, **params}), data)
    return CMI(data.observation_shape, cfg, seed=0)


# ----------------------------------------------------------------------------- the shuffle
def test_conditional_shuffle_permutes_only_within_a_class_and_keeps_missing_rows():
    gen = torch.Generator().manual_seed(3)
    labels = torch.tensor([0, 1, 0, 1, -1, 0, 1, 1, -1, 0, 0, 1])
    z = torch.arange(24, dtype=torch.float64).reshape(12, 2)
    moved = False
    for _ in range(20):
        perm = group_permutation(labels, gen)
        assert sorted(perm.tolist()) == list(range(12))  # a permutation
        assert torch.equal(labels[perm], labels)  # every row keeps its class
        assert torch.equal(perm[labels < 0], torch.nonzero(labels < 0).flatten())  # missing rows stay
        moved |= not torch.equal(perm, torch.arange(12))
        shuffled = group_shuffle(z, labels, gen)
        for v in (0, 1):  # the multiset of rows of each class is kept
            rows = labels == v
            assert sorted(map(tuple, shuffled[rows].tolist())) == sorted(map(tuple, z[rows].tolist()))
        assert torch.equal(shuffled[labels < 0], z[labels < 0])
    assert moved


def test_within_class_permutations_are_uniform():
    gen = torch.Generator().manual_seed(0)
    labels = torch.tensor([0, 1, 0, 0])  # class 0: rows 0, 2, 3 -> 6 orders
    counts = {}
    for _ in range(3000):
        key = tuple(group_permutation(labels, gen).tolist())
        counts[key] = counts.get(key, 0) + 1
    assert len(counts) == 6 and all(key[1] == 1 for key in counts)
    assert max(counts.values()) - min(counts.values()) < 150  # ~500 each, sd ~20


def test_method_shuffle_changes_only_one_half():
    model = _model(latent_dim=6)
    z = torch.randn(10, 6)
    groups = torch.tensor([0, 0, 1, 1, 0, 1, -1, 0, 1, 1])
    fake = model.shuffled(z, 1, groups)
    assert torch.equal(fake[:, :3], z[:, :3]) and not torch.equal(fake[:, 3:], z[:, 3:])


# ----------------------------------------------------------------------------- the losses
def _log_sigmoid(x):
    return -np.log1p(np.exp(-x))


def test_discriminator_and_encoder_losses_against_a_hand_computation():
    real = torch.tensor([[2.0], [-1.0], [0.5], [3.0]])
    fake = torch.tensor([[-0.5], [1.5], [0.0], [-2.0]])
    mask = torch.tensor([True, True, False, True])
    r, s, m = real.numpy().ravel(), fake.numpy().ravel(), mask.numpy()
    # BCE(x, 1) = -log σ(x), BCE(x, 0) = -log(1 - σ(x)) = -log σ(-x); the mean over the masked rows
    d_want = 0.5 * (np.mean(-_log_sigmoid(r[m])) + np.mean(-_log_sigmoid(-s[m])))
    e_want = 0.5 * (np.mean(-_log_sigmoid(-r[m])) + np.mean(-_log_sigmoid(s[m])))
    loss = ShuffleDiscriminatorLoss()
    assert loss(real, fake, mask).item() == pytest.approx(d_want, rel=1e-6)
    assert loss(real, fake, mask, flip=True).item() == pytest.approx(e_want, rel=1e-6)
    assert loss(real, fake).item() == pytest.approx(
        0.5 * (np.mean(-_log_sigmoid(r)) + np.mean(-_log_sigmoid(-s))), rel=1e-6)
    assert loss(real, fake, torch.zeros(4, dtype=torch.bool)).item() == 0.0


def test_the_cmi_terms_are_the_shuffle_losses_of_the_discriminators():
    model = _model(estimator="cmi")
    z = torch.randn(12, 4)
    labels = torch.tensor([[0, 1], [1, 1], [0, 0], [1, -1], [0, 1], [1, 0], [-1, 0], [0, 0], [1, 1], [0, 1],
                           [1, 0], [0, -1]])
    state = model.generator.get_state()
    terms = model.adversarial_terms(z, labels)
    model.generator.set_state(state)
    enc, disc = 0.0, 0.0
    for part in (0, 1):
        a = labels[:, part]
        perm = group_permutation(a, model.generator)
        fake = z.clone()
        cols = slice(0, 2) if part == 0 else slice(2, 4)
        fake[:, cols] = z[perm][:, cols]
        onehot = torch.nn.functional.one_hot(a.clamp_min(0), 2).float()
        with torch.no_grad():
            r = model.discriminators[part](torch.cat([z, onehot], 1)).numpy().ravel()
            s = model.discriminators[part](torch.cat([fake, onehot], 1)).numpy().ravel()
        known = (a >= 0).numpy()
        disc += 0.5 * (np.mean(-_log_sigmoid(r[known])) + np.mean(-_log_sigmoid(-s[known])))
        enc += 0.5 * (np.mean(-_log_sigmoid(-r[known])) + np.mean(-_log_sigmoid(s[known])))
    assert terms["adversarial"].item() == pytest.approx(enc, rel=1e-5)
    assert terms["discriminator_loss"].item() == pytest.approx(disc, rel=1e-5)


def _numpy_mmd(x, y, widths):
    def k(a, b):
        return sum(math.exp(-np.sum((a - b) ** 2) / (2 * s * s)) for s in widths)

    n = len(x)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n)) / n**2
    kyy = sum(k(y[i], y[j]) for i in range(n) for j in range(n)) / n**2
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / n**2
    return kxx + kyy - 2 * kxy


def test_mmd_against_a_direct_numpy_computation():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(loc=0.5, size=(7, 3))
    widths = (0.5, 2.0)
    got = rbf_mmd(torch.tensor(x), torch.tensor(y), widths).item()
    assert got == pytest.approx(_numpy_mmd(x, y, widths), rel=1e-10)
    # within classes: sum_v (n_v / n) MMD²(class v), rows with a negative label left out
    groups = np.array([0, 1, 0, -1, 1, 0, 1])
    want = sum((groups == v).sum() / 6 * _numpy_mmd(x[groups == v], y[groups == v], widths) for v in (0, 1))
    got = ShuffleMMDLoss(widths)(torch.tensor(x), torch.tensor(y), torch.tensor(groups)).item()
    assert got == pytest.approx(want, rel=1e-10)
    assert ShuffleMMDLoss(widths)(torch.tensor(x), torch.tensor(x)).item() == pytest.approx(0.0, abs=1e-12)


# ----------------------------------------------------------------------------- missing labels
def test_missing_labels_are_fixed_per_sample_and_their_fraction_is_p():
    grid = torch.tensor(list(itertools.product(range(2), range(2), range(50), range(50))))  # 10,000 rows
    for p in (0.3, 0.9):
        mask = missing_label_mask(grid, 2, p)
        assert mask.shape == (10_000, 2)
        assert abs(mask.float().mean(0) - p).max() < 0.02  # binomial sd 0.005
        both = (mask[:, 0] & mask[:, 1]).float().mean().item()
        assert both == pytest.approx(p * p, abs=0.02)  # independent per attribute
        perm = torch.randperm(10_000, generator=torch.Generator().manual_seed(0))
        assert torch.equal(missing_label_mask(grid[perm], 2, p), mask[perm])  # a function of the row
        assert not torch.equal(missing_label_mask(grid, 2, p, seed=1), mask)
    assert not missing_label_mask(grid, 2, 0.0).any()


def test_missing_labels_drop_out_of_the_classification_and_the_groups():
    data = Pixels()
    model = _model(data, missing_labels=0.5)
    batch = _batch(data, 64)
    labels, known = model.labels(batch.factors[0])
    assert known.float().mean().item() == pytest.approx(0.5, abs=0.2)
    assert torch.equal(labels == -1, ~known)
    # the CE is the mean over the known rows only
    z = model.code(batch.images)
    logits = model.head_logits(z)
    want = 0.5 * sum(torch.nn.functional.cross_entropy(lg[known[:, j]], labels[known[:, j], j])
                     for j, lg in enumerate(logits))
    assert model.classification_loss(z, labels)[0].item() == pytest.approx(want.item(), rel=1e-6)


# ----------------------------------------------------------------------------- gradient routes
@pytest.mark.parametrize("estimator", ["cmi", "mi", "mmd_cond", "none"])
def test_each_term_trains_only_its_own_network(estimator):
    model = _model(estimator=estimator)
    batch = _batch(Pixels(), 16)
    terms = model(batch, 0)
    enc, heads = model.encoder_parameters(), list(model.heads.parameters())
    discs = list(model.discriminators.parameters())
    assert (estimator in ("cmi", "mi")) == bool(discs)
    # the heads' loss reads detached codes: no gradient to the encoder
    assert all(g is None for g in torch.autograd.grad(terms["heads_loss"], enc, retain_graph=True, allow_unused=True))
    want = {id(p): g for p, g in zip(enc, torch.autograd.grad(terms["loss"], enc, retain_graph=True))}
    want.update({id(p): g for p, g in zip(heads, torch.autograd.grad(terms["heads_loss"], heads, retain_graph=True))})
    if discs:
        want.update({id(p): g for p, g in zip(discs, torch.autograd.grad(terms["discriminator_loss"], discs,
                                                                            retain_graph=True))})
    routes = model.gradient_routes()
    for i, (term, params) in enumerate(routes):  # what Method.train_step does
        terms[term].backward(inputs=params, retain_graph=i < len(routes) - 1)
    for p in model.parameters():
        torch.testing.assert_close(p.grad, want[id(p)], rtol=0, atol=0)
    # ... and each optimiser owns one network: the heads' step never moves the encoder
    opts = model.configure_optimizers(10)
    owned = {name: {id(p) for g in opt.param_groups for p in g["params"]} for name, opt in opts.items()}
    assert owned["encoder"] == {id(p) for p in enc} and owned["heads"] == {id(p) for p in heads}
    assert owned.get("discriminators", set()) == {id(p) for p in discs}
    assert opts["encoder"].param_groups[0]["lr"] == (1e-4 if estimator == "none" else 1e-5)


def test_the_heads_step_on_their_own_loss_and_the_encoder_on_its_own():
    model = _model(estimator="cmi")
    batch = _batch(Pixels(), 16)
    opts = model.configure_optimizers(10)
    before = {k: v.clone() for k, v in model.state_dict().items() if k != "_extra_state"}
    model.train_step(batch, 0, {"heads": opts["heads"]})  # only the heads' optimiser steps
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("heads.") for k in changed)


# ----------------------------------------------------------------------------- config, errors
def test_attributes_by_name_and_errors_for_a_non_binary_or_unknown_attribute():
    data = Pixels()
    cfg = CMI.fill_from_dataset(CMIConfig(attributes=["a2", "a1"]), data)
    assert cfg.attribute_columns == [1, 0] and cfg.attribute_names == ["a2", "a1"]
    assert CMI(data.observation_shape, cfg, seed=0).predicted_factors == ("a2", "a1")
    with pytest.raises(ValueError, match=r"attribute 'n1' of dataset Pixels is not binary \(size 7\).*binary factors here: \['a1', 'a2'\]"):
        CMI.fill_from_dataset(CMIConfig(attributes=["a1", "n1"]), data)
    with pytest.raises(ValueError, match="attribute 'smile' is not a factor"):
        CMI.fill_from_dataset(CMIConfig(attributes=["a1", "smile"]), data)
    with pytest.raises(ValueError, match="not binary"):
        CMI.fill_from_dataset(CMIConfig(), Pixels(sizes=(3, 2, 7, 9)))
    with pytest.raises(ValueError, match="must be resolved against the dataset"):
        CMI((1, 1, 4), CMIConfig(attributes=["a1", "a2"]))
    with pytest.raises(ValueError, match="estimator must be one of"):
        CMIConfig(estimator="tc")
    with pytest.raises(ValueError, match="missing_labels must be >= 0.0 and < 1.0"):
        CMIConfig(missing_labels=1.0)


def test_training_on_a_dataset_without_binary_factors_fails_before_any_step(tmp_path):
    cfg = TrainConfig(method="cmi", dataset="dsprites", steps=2, batch_size=4, num_threads=1, images=False)
    with pytest.raises(ValueError, match=r"attribute 'shape' of dataset dsprites is not binary \(size 3\)"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_the_model_learns_its_attributes_and_predicts_them():
    data = Pixels()
    model = _model(data, estimator="cmi", lr=3e-3, head_lr=3e-2, disc_lr=1e-3)
    opts = model.configure_optimizers(300)
    for step in range(300):
        model.train_step(_batch(data, 64, seed=step), step, opts)
    result = evaluate(data, model, ["attribute_accuracy", "subspace_mi"], progress=False,
                      settings={"attribute_accuracy": {"num_test": 500}, "subspace_mi": {"num_train": 1000}})
    acc = result["attribute_accuracy"]["values"]
    assert acc["accuracy_a1"] > 0.95 and acc["accuracy_a2"] > 0.95 and acc["mean"] > 0.95
    assert set(result["subspace_mi"]["values"]) == {"mi", "cmi_a1", "cmi_a2"}
    assert result["attribute_accuracy"]["settings"]["codes"] == "predictions"


# ----------------------------------------------------------------------------- the trainer
DUMMY = dict(dataset="dummy", dataset_params={"num_factors": 3, "size": 2, "image_size": 8})


def test_trains_through_the_trainer_and_resumes_bit_identically(tmp_path, monkeypatch):
    cfg = TrainConfig(method="cmi", steps=6, batch_size=16, checkpoint_every=3, log_every=2, num_threads=1,
                      images=False, method_params={"latent_dim": 4, "missing_labels": 0.5}, **DUMMY)
    ref = train(cfg, tmp_path / "ref", progress=False)
    real_build = trainer.build_stream

    def dying_stream(*args, **kwargs):
        stream = real_build(*args, **kwargs)
        real_next = type(stream).__next__

        class Dying(type(stream)):
            def __next__(self):
                if self.batches_drawn == 5:  # dies in step 6, after the checkpoint at step 3
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
    state = torch.load(ref / "checkpoints" / "step_00000006" / "state.pt", weights_only=True)
    assert set(state["optimizers"]) == {"encoder", "heads", "discriminators"}
    # the filled attributes are recorded, and the trained model is scored by both metrics
    model = load_run(ref)
    assert model.config.attribute_names == ["factor0", "factor1"]
    data = DummyData(num_factors=3, size=2, image_size=8)
    result = evaluate(data, model, ["attribute_accuracy", "subspace_mi"], progress=False,
                      settings={"attribute_accuracy": {"num_test": 200}, "subspace_mi": {"num_train": 300}})
    acc = result["attribute_accuracy"]["values"]
    assert set(acc) == {"accuracy_factor0", "accuracy_factor1", "mean"} and 0.0 <= acc["mean"] <= 1.0
    assert set(result["subspace_mi"]["values"]) == {"mi", "cmi_factor0", "cmi_factor1", "cmi_factor2"}
    # the metric's value is the model's accuracy on the images it draws (same seed -> same images)
    from disentkit.metrics._evaluate import metric_seed

    gen = np.random.default_rng(metric_seed(0, "attribute_accuracy"))
    factors = data.sample_factors(200, gen)
    images = torch.from_numpy(data.observations(factors, gen))
    pred = model.predict_factors(images).numpy()
    assert acc["accuracy_factor0"] == pytest.approx((pred[:, 0] == factors[:, 0]).mean())
    assert acc["accuracy_factor1"] == pytest.approx((pred[:, 1] == factors[:, 1]).mean())


def test_attribute_accuracy_needs_a_model_that_predicts():
    data = DummyData(num_factors=3, size=2, image_size=8)
    vae = methods.get("beta_vae", (1, 8, 8), seed=0, architecture="fc")
    assert not vae.capabilities.predicts_factors and methods.method_class("cmi").capabilities.predicts_factors
    with pytest.raises(ValueError, match="attribute_accuracy needs a model that predicts factors.*"
                                         "predicts_factors = False"):
        evaluate(data, vae, ["attribute_accuracy"], progress=False)
    with pytest.raises(ValueError, match="has no predict_factors"):
        evaluate(data, lambda x: x.reshape(len(x), -1)[:, :4], ["attribute_accuracy"], progress=False)
    mixed = evaluate(data, vae, ["subspace_mi", "attribute_accuracy"], progress=False,
                     settings={"subspace_mi": {"num_train": 200}})
    assert mixed["attribute_accuracy"]["skipped"] == "no factor predictions"
    assert mixed["attribute_accuracy"]["values"] == {} and "mi" in mixed["subspace_mi"]["values"]
