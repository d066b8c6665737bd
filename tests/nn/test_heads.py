"""Heads: MLPHead layer placement, hand-computed forward, counts, init; GaussianHead over backbones."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from disentkit.nn import (
    ConvTrunk,
    GaussianHead,
    MLPHead,
    PredictionHead,
    ProjectionHead,
    ResNet18,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layout(head: MLPHead) -> list[str]:
    names = []
    for m in head.net:
        if isinstance(m, nn.Linear):
            names.append("Linear" if m.bias is not None else "Linear-nobias")
        elif isinstance(m, nn.BatchNorm1d):
            names.append("BN" if m.affine else "BN-noaffine")
        else:
            names.append(type(m).__name__)
    return names


def test_mlp_head_batch_norm_placement():
    assert layout(MLPHead(8, 16, 4, rng=0)) == ["Linear-nobias", "BN", "ReLU", "Linear"]
    assert layout(MLPHead(8, 16, 4, num_layers=3, last_batch_norm=True, rng=0)) == [
        "Linear-nobias", "BN", "ReLU", "Linear-nobias", "BN", "ReLU", "Linear-nobias", "BN-noaffine"]
    assert layout(MLPHead(8, 16, 4, num_layers=3, batch_norm=False, rng=0)) == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert layout(MLPHead(8, 16, 4, num_layers=1, rng=0)) == ["Linear"]
    assert all(m.inplace for m in MLPHead(8, 16, 4, rng=0).net if isinstance(m, nn.ReLU))


def test_byol_defaults_and_counts():
    proj, pred = ProjectionHead(512, rng=0), PredictionHead(rng=0)
    assert (proj.in_dim, proj.hidden_dim, proj.out_dim) == (512, 4096, 256)
    assert (pred.in_dim, pred.hidden_dim, pred.out_dim) == (256, 4096, 256)
    assert n_params(proj) == 512 * 4096 + 2 * 4096 + 4096 * 256 + 256
    assert n_params(pred) == 256 * 4096 + 2 * 4096 + 4096 * 256 + 256
    assert proj(torch.rand(3, 512)).shape == (3, 256)
    # SimSiam's projector and bottleneck predictor (spec/methods_ssl_causal.md §1b)
    simsiam_proj = MLPHead(512, 2048, 2048, num_layers=3, last_batch_norm=True, rng=0)
    assert n_params(simsiam_proj) == 512 * 2048 + 2 * 2048 + 2048 * 2048 + 2 * 2048 + 2048 * 2048
    assert n_params(MLPHead(2048, 512, 2048, rng=0)) == 2048 * 512 + 2 * 512 + 512 * 2048 + 2048
    custom = ProjectionHead(64, hidden_dim=32, out_dim=8, num_layers=3, rng=0)
    assert custom(torch.rand(4, 64)).shape == (4, 8) and layout(custom).count("BN") == 2


def test_mlp_head_forward_by_hand():
    head = MLPHead(5, 7, 3, rng=0)
    x = torch.rand(6, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    head = head.double().train()
    w1, bn, w2 = head.net[0].weight, head.net[1], head.net[3]
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, 7, dtype=torch.float64))
        bn.bias.copy_(torch.linspace(-0.3, 0.3, 7, dtype=torch.float64))
    h = x @ w1.T
    h = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
    expected = torch.clamp(h, min=0) @ w2.weight.T + w2.bias
    torch.testing.assert_close(head(x), expected)


def test_last_batch_norm_standardises_output_in_training():
    head = MLPHead(6, 8, 4, last_batch_norm=True, rng=0).train()
    out = head(torch.rand(32, 6, generator=torch.Generator().manual_seed(0)))
    torch.testing.assert_close(out.mean(0), torch.zeros(4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.var(0, unbiased=False), torch.ones(4), atol=1e-3, rtol=0)


def test_mlp_head_init_determinism_and_global_rng():
    torch.manual_seed(5)
    before = torch.get_rng_state()
    a, b, c = MLPHead(64, 128, 32, batch_norm=False, rng=0), MLPHead(64, 128, 32, batch_norm=False, rng=0), \
        MLPHead(64, 128, 32, batch_norm=False, rng=1)
    GaussianHead(ConvTrunk(1, rng=0), 4, rng=0)
    assert torch.equal(before, torch.get_rng_state())
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.net[0].weight, c.net[0].weight)
    for layer in (a.net[0], a.net[2]):  # PyTorch's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        bound = 1 / math.sqrt(layer.in_features)
        for p in (layer.weight, layer.bias):
            assert p.abs().max().item() <= bound and p.abs().max().item() > 0.8 * bound
        assert layer.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.1)


def test_gaussian_head_over_resnet_and_conv_trunk():
    net = ResNet18(1, rng=0, width=8)
    enc = GaussianHead(net, 6, rng=1)
    assert enc.feature_dim == 64 and enc.latent_dim == 6
    x = torch.rand(2, 1, 32, 32)
    mu, logvar = enc(x)
    assert mu.shape == logvar.shape == (2, 6)
    h = net(x)
    torch.testing.assert_close(mu, h @ enc.mean_head.weight.T + enc.mean_head.bias)
    torch.testing.assert_close(logvar, h @ enc.logvar_head.weight.T + enc.logvar_head.bias)
    # Glorot heads, zero biases; the mean head is drawn first from rng
    limit = math.sqrt(6 / (64 + 6))
    assert enc.mean_head.weight.abs().max().item() <= limit
    assert torch.count_nonzero(enc.logvar_head.bias).item() == 0
    assert not torch.equal(enc.mean_head.weight, enc.logvar_head.weight)
    again = GaussianHead(ResNet18(1, rng=0, width=8), 6, rng=1)
    assert all(torch.equal(p, q) for p, q in zip(enc.parameters(), again.parameters()))
    # construction leaves the backbone's weights as built
    assert torch.equal(enc.backbone.conv1.weight, ResNet18(1, rng=0, width=8).conv1.weight)


def test_head_errors():
    with pytest.raises(ValueError, match="num_layers"):
        MLPHead(4, 4, 4, num_layers=0)
    with pytest.raises(ValueError, match="in_dim"):
        MLPHead(0, 4, 4)
    with pytest.raises(ValueError, match="batch_norm must be True or False"):
        MLPHead(4, 4, 4, batch_norm="yes")
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        MLPHead(4, 4, 4, rng=0)(torch.rand(3, 5))
    with pytest.raises(ValueError, match="nn.Module"):
        GaussianHead("resnet18", 4)
    with pytest.raises(ValueError, match="feature_dim"):
        GaussianHead(nn.Linear(3, 3), 4)
    with pytest.raises(ValueError, match="latent_dim"):
        GaussianHead(ConvTrunk(1, rng=0), 0)
