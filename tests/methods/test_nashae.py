"""NashAE: the regression ensemble, the adversarial covariance, the min-max step, the config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from disentkit import methods
from disentkit.losses import AdversarialCovarianceLoss, batch_covariance
from disentkit.methods.nashae import NashAE, NashAEConfig, RegressionEnsemble, active_latents


def _selu(x: np.ndarray) -> np.ndarray:
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return scale * np.where(x > 0, x, alpha * (np.exp(x) - 1))


def test_ensemble_is_m_separate_mlps_on_one_cold_inputs():
    m, h = 4, 6
    ens = RegressionEnsemble(m, hidden=h, rng=3)
    with torch.no_grad():  # non-zero biases, so that they are checked too
        for b in (ens.b1, ens.b2, ens.b3):
            b.copy_(torch.randn(b.shape, generator=torch.Generator().manual_seed(1)))
    z = torch.rand(5, m, dtype=torch.float32, generator=torch.Generator().manual_seed(2))
    got = ens(z).detach().numpy()
    w1, b1, w2, b2, w3, b3 = (p.detach().numpy().astype(np.float64) for p in
                              (ens.w1, ens.b1, ens.w2, ens.b2, ens.w3, ens.b3))
    for i in range(m):
        x = z.numpy().astype(np.float64).copy()
        x[:, i] = 0.0  # predictor i never sees latent i
        h1 = _selu(x @ w1[i] + b1[i, 0])
        h2 = _selu(h1 @ w2[i] + b2[i, 0])
        want = h2 @ w3[i, :, 0] + b3[i, 0, 0]
        np.testing.assert_allclose(got[:, i], want, rtol=1e-5, atol=1e-6)


def test_prediction_i_does_not_depend_on_latent_i():
    ens = RegressionEnsemble(3, hidden=5, rng=0)
    z = torch.rand(4, 3, requires_grad=True)
    for i in range(3):
        (grad,) = torch.autograd.grad(ens(z)[:, i].sum(), z)
        assert torch.all(grad[:, i] == 0) and torch.any(grad[:, [j for j in range(3) if j != i]] != 0)


def test_ensemble_init_is_kaiming_linear():
    ens = RegressionEnsemble(30, hidden=40, rng=0)
    assert ens.w1.std().item() == pytest.approx(1 / np.sqrt(30), rel=0.05)
    assert ens.w2.std().item() == pytest.approx(1 / np.sqrt(40), rel=0.05)
    assert torch.all(ens.b1 == 0) and torch.all(ens.b3 == 0)


def test_batch_covariance_and_the_adversarial_term_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    want = (a * b).mean(0) - a.mean(0) * b.mean(0)
    np.testing.assert_allclose(batch_covariance(torch.tensor(a), torch.tensor(b)).numpy(), want, rtol=1e-12)
    z = torch.tensor(a, requires_grad=True)
    z_hat = torch.tensor(b, requires_grad=True)
    loss = AdversarialCovarianceLoss()(z, z_hat)
    assert loss.item() == pytest.approx(want.sum(), rel=1e-12)
    loss.backward()
    assert z.grad is None  # sg(z): the gradient reaches only the predictions
    np.testing.assert_allclose(z_hat.grad.numpy(), (a - a.mean(0)) / 50, rtol=1e-12)


def test_predictable_latents_have_covariance_unpredictable_ones_none():
    rng = np.random.default_rng(1)
    z = rng.uniform(size=(2000, 2))
    copy = torch.tensor(np.stack([z[:, 1], z[:, 0]], axis=1))  # a perfect predictor of each from the other
    independent = torch.tensor(rng.uniform(size=(2000, 2)))
    loss = AdversarialCovarianceLoss()
    assert loss(torch.tensor(np.stack([z[:, 0], z[:, 0]], 1)), copy[:, [1, 1]]).item() == pytest.approx(
        2 * z[:, 0].var(), rel=1e-9)
    assert abs(loss(torch.tensor(z), independent).item()) < 0.01


def test_train_step_runs_the_predictor_steps_then_one_autoencoder_step():
    cfg = NashAEConfig(latent_dim=3, architecture="fc", predictor_steps=4, predictor_hidden=8)
    model = NashAE((1, 8, 8), cfg, seed=0)
    opts = model.configure_optimizers(10)
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    ens_before = {k: v.clone() for k, v in model.predictors.state_dict().items()}
    ae_before = [p.clone() for p in model.autoencoder_parameters()]
    # the same predictor updates by hand on a copy
    twin = NashAE((1, 8, 8), cfg, seed=0)
    twin_opt = twin.configure_optimizers(10)["predictors"]
    with torch.no_grad():
        z = twin.code(x)
    for _ in range(4):
        twin_opt.zero_grad()
        (0.5 * ((twin.predictors(z) - z) ** 2).mean()).backward()
        twin_opt.step()
    terms = model.train_step(x, 0, opts)
    assert opts["predictors"].state[model.predictors.w1]["step"].item() == 4
    assert opts["autoencoder"].state[model.code_layer.weight]["step"].item() == 1
    for k, v in model.predictors.state_dict().items():  # the AE step did not move the ensemble
        torch.testing.assert_close(v, twin.predictors.state_dict()[k], rtol=0, atol=0)
        assert not torch.equal(v, ens_before[k]) or k.startswith("b")
    assert all(not torch.equal(a, b) for a, b in zip(ae_before, model.autoencoder_parameters()))
    lam = cfg.adversarial_weight
    assert terms["loss"].item() == pytest.approx(
        (1 - lam) * terms["reconstruction"].item() + lam * terms["covariance"].item(), rel=1e-6)
    assert set(terms) == {"loss", "reconstruction", "covariance", "predictor_loss"}


def test_lambda_zero_is_the_plain_autoencoder():
    model = NashAE((1, 8, 8), NashAEConfig(latent_dim=2, architecture="fc", adversarial_weight=0.0), seed=0)
    x = torch.rand(4, 1, 8, 8)
    terms = model(x, 0)
    assert terms["loss"].item() == pytest.approx(terms["reconstruction"].item(), rel=1e-7)
    want = 0.5 * ((torch.sigmoid(model.decode(model.code(x))) - x) ** 2).mean()
    assert terms["reconstruction"].item() == pytest.approx(want.item(), rel=1e-6)


def test_standardised_reconstruction_divides_by_the_channel_std():
    cfg = NashAEConfig(latent_dim=2, architecture="fc", input_mean=[0.3, 0.3, 0.3], input_std=[0.5, 0.25, 1.0])
    model = NashAE((3, 8, 8), cfg, seed=0)
    x = torch.rand(4, 3, 8, 8)
    logits = torch.randn(4, 3, 8, 8)
    std = torch.tensor([0.5, 0.25, 1.0]).view(1, 3, 1, 1)
    want = 0.5 * (((torch.sigmoid(logits) - x) / std) ** 2).mean()
    assert model.reconstruction_loss(logits, x).item() == pytest.approx(want.item(), rel=1e-6)


def test_codes_are_bounded_and_the_method_is_registered():
    model = methods.get("nashae", (1, 64, 64), seed=0, latent_dim=4)
    codes = model.represent(torch.rand(3, 1, 64, 64))
    assert codes.shape == (3, 4) and torch.all((codes >= 0) & (codes <= 1))
    assert model.capabilities.decoder and not model.capabilities.gaussian_posterior
    assert model.reconstruct(torch.rand(2, 1, 64, 64)).shape == (2, 1, 64, 64)


def test_active_latents_counts_ranges_above_the_threshold():
    codes = np.array([[0.1, 0.5, 0.0], [0.25, 0.9, 0.19], [0.2, 0.6, 0.0]])
    np.testing.assert_array_equal(active_latents(codes), [False, True, False])
    np.testing.assert_array_equal(active_latents(codes, threshold=0.1), [True, True, True])
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        active_latents(np.zeros(3))


@pytest.mark.parametrize("params, match", [
    ({"adversarial_weight": 1.5}, "adversarial_weight must be >= 0.0 and <= 1.0"),
    ({"predictor_steps": 0}, "predictor_steps must be an integer >= 1"),
    ({"latent_dim": 1}, "latent_dim must be an integer >= 2"),
    ({"input_std": [0.5, 0.0]}, r"input_std\[1\] must be > 0.0"),
    ({"input_mean": "0.5"}, "input_mean must be None or a list"),
    ({"lr": float("inf")}, "lr must be a finite number"),
])
def test_config_errors(params, match):
    with pytest.raises(ValueError, match=match):
        NashAEConfig(**params)


def test_standardisation_must_match_the_channels():
    with pytest.raises(ValueError, match="input_std has 2 values for 1-channel images"):
        NashAE((1, 64, 64), NashAEConfig(input_std=[0.5, 0.5]), seed=0)


def test_mlp_architecture_takes_any_shape_and_mirrors_the_widths():
    model = NashAE((1, 1, 50), NashAEConfig(latent_dim=3, architecture="mlp", hidden_dims=(20, 8)), seed=0)
    widths = [layer.out_features for layer in model.backbone if isinstance(layer, torch.nn.Linear)]
    assert widths == [20, 8] and model.code_layer.out_features == 3
    dec = [layer.out_features for layer in model.decoder if isinstance(layer, torch.nn.Linear)]
    assert dec == [8, 20, 50]
    x = torch.rand(4, 1, 1, 50)
    assert model.reconstruct(x).shape == x.shape
    again = NashAE((1, 1, 50), NashAEConfig(latent_dim=3, architecture="mlp", hidden_dims=(20, 8)), seed=0)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(ValueError, match=r"hidden_dims\[1\] must be an integer >= 1"):
        NashAEConfig(hidden_dims=(20, 0))
