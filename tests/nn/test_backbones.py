"""Backbones: shapes, feature maps, hand-counted parameters, wiring, init, determinism, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from disentkit.nn import (
    BACKBONES,
    Backbone,
    BasicBlock,
    ConvTrunk,
    MLPTrunk,
    ResNet18,
    build_backbone,
)


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def resnet18_count(c: int, w: int) -> int:
    """By hand: bias-free convs k*k*c_in*c_out, BN 2 per channel, 1x1 shortcut at each widening."""
    stem = 9 * c * w + 2 * w
    stage1 = 4 * (9 * w * w + 2 * w)
    total = stem + stage1
    for s in (2 * w, 4 * w, 8 * w):
        first = 9 * (s // 2) * s + 2 * s + 9 * s * s + 2 * s + (s // 2) * s + 2 * s
        second = 2 * (9 * s * s + 2 * s)
        total += first + second
    return total


def test_resnet18_shapes_on_rgb_and_grey_64x64():
    for c in (3, 1):
        net = ResNet18(c, rng=0)
        x = torch.rand(2, c, 64, 64)
        assert net.feature_dim == 512 and net.feature_map_channels == 512 and net.in_channels == c
        assert net(x).shape == (2, 512)
        assert net.feature_map(x).shape == (2, 512, 8, 8)


def test_resnet18_parameter_count_by_hand():
    assert n_params(ResNet18(3, rng=0)) == resnet18_count(3, 64) == 11_168_832
    assert n_params(ResNet18(1, rng=0)) == resnet18_count(1, 64) == 11_167_680
    small = ResNet18(2, rng=0, width=8)
    assert small.feature_dim == 64 and n_params(small) == resnet18_count(2, 8)


def test_resnet18_layout():
    net = ResNet18(3, rng=0)
    assert (net.conv1.kernel_size, net.conv1.stride, net.conv1.bias) == ((3, 3), (1, 1), None)
    assert not any(isinstance(m, nn.MaxPool2d) for m in net.modules())
    blocks = [m for m in net.modules() if isinstance(m, BasicBlock)]
    assert len(blocks) == 8
    assert [b.conv1.stride[0] for b in blocks] == [1, 1, 2, 1, 2, 1, 2, 1]
    assert [b.downsample is not None for b in blocks] == [False, False, True, False, True, False, True, False]
    assert [b.conv2.out_channels for b in blocks] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert all(m.inplace for m in net.modules() if isinstance(m, nn.ReLU))
    assert all(m.bias is None for m in net.modules() if isinstance(m, nn.Conv2d))


def _bn(x: torch.Tensor, state: dict, name: str) -> torch.Tensor:
    return F.batch_norm(x, state[f"{name}.running_mean"], state[f"{name}.running_var"],
                        state[f"{name}.weight"], state[f"{name}.bias"], training=False)


def _reference_resnet18(x: torch.Tensor, state: dict) -> torch.Tensor:
    """A functional ResNet-18 (eval mode) written from the paper, reading the module's weights."""
    h = F.relu(_bn(F.conv2d(x, state["conv1.weight"], padding=1), state, "bn1"))
    for stage, stride in zip(range(1, 5), (1, 2, 2, 2)):
        for block in range(2):
            p = f"layer{stage}.{block}"
            s = stride if block == 0 else 1
            out = F.relu(_bn(F.conv2d(h, state[f"{p}.conv1.weight"], stride=s, padding=1), state, f"{p}.bn1"))
            out = _bn(F.conv2d(out, state[f"{p}.conv2.weight"], padding=1), state, f"{p}.bn2")
            if f"{p}.downsample.0.weight" in state:
                short = _bn(F.conv2d(h, state[f"{p}.downsample.0.weight"], stride=s), state, f"{p}.downsample.1")
            else:
                short = h
            h = F.relu(out + short)
    return h


def test_resnet18_matches_functional_reference():
    net = ResNet18(2, rng=1, width=8)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial BN statistics and affine parameters
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2, generator=gen)
                m.running_var.uniform_(0.5, 1.5, generator=gen)
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.2, 0.2, generator=gen)
    net.eval()
    x = torch.rand(3, 2, 16, 16, generator=gen)
    ref = _reference_resnet18(x, net.state_dict())
    assert ref.shape == (3, 64, 2, 2)
    torch.testing.assert_close(net.feature_map(x), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(net(x), ref.mean(dim=(2, 3)), rtol=1e-5, atol=1e-5)


def test_resnet18_trains_with_inplace_relus():
    net = ResNet18(1, rng=0, width=4)
    net(torch.rand(4, 1, 16, 16)).square().mean().backward()
    grads = [p.grad for p in net.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(g.abs().sum().item() for g in grads) > 0


def test_resnet18_kaiming_init():
    net = ResNet18(3, rng=0, width=16)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            if m.weight.numel() >= 2000:
                assert m.weight.std().item() == pytest.approx(math.sqrt(2 / fan_out), rel=0.1)
                assert abs(m.weight.mean().item()) < 0.1 * math.sqrt(2 / fan_out)
        if isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.bias, torch.zeros_like(m.bias))
    zero = ResNet18(3, rng=0, width=16, zero_init_residual=True)
    for block in (m for m in zero.modules() if isinstance(m, BasicBlock)):
        assert torch.count_nonzero(block.bn2.weight).item() == 0
        assert torch.equal(block.bn1.weight, torch.ones_like(block.bn1.weight))
    # the conv weights are the same draws with or without the zeroed BN scales
    assert torch.equal(zero.layer2[0].conv1.weight, net.layer2[0].conv1.weight)


def test_conv_trunk_shapes_feature_map_and_count():
    trunk = ConvTrunk(3, rng=0)
    x = torch.rand(2, 3, 64, 64)
    assert (trunk.feature_dim, trunk.feature_map_channels) == (256, 64)
    fmap = trunk.feature_map(x)
    assert fmap.shape == (2, 64, 4, 4) and fmap.min().item() >= 0  # after the ReLU
    flat = fmap.permute(0, 2, 3, 1).reshape(2, -1)  # TF (H, W, C) order
    torch.testing.assert_close(trunk(x), torch.relu(flat @ trunk.dense.weight.T + trunk.dense.bias))
    conv = lambda k, ci, co: k * k * ci * co + co  # noqa: E731
    assert n_params(trunk) == conv(4, 3, 32) + conv(4, 32, 32) + conv(2, 32, 64) + conv(2, 64, 64) + 1024 * 256 + 256


def test_mlp_trunk_shapes_and_count():
    trunk = MLPTrunk(1, rng=0)
    assert trunk.feature_dim == 1200 and trunk.feature_map_channels is None
    x = torch.rand(2, 1, 64, 64)
    assert trunk(x).shape == (2, 1200)
    assert n_params(trunk) == 4096 * 1200 + 1200 + 1200 * 1200 + 1200
    small = MLPTrunk(3, 8, hidden_dims=(16, 5), rng=0)
    assert small(torch.rand(2, 3, 8, 8)).shape == (2, 5) and small.feature_dim == 5
    with pytest.raises(NotImplementedError, match=r"'conv', 'resnet18'"):
        trunk.feature_map(x)


def test_build_backbone_names_and_params():
    assert sorted(BACKBONES) == ["conv", "fc", "resnet18"]
    assert isinstance(build_backbone("conv", 1, rng=0), ConvTrunk)
    fc = build_backbone("fc", 3, rng=0, image_size=16)
    assert isinstance(fc, MLPTrunk) and fc(torch.rand(2, 3, 16, 16)).shape == (2, 1200)
    net = build_backbone("resnet18", 3, rng=4, width=8)
    assert isinstance(net, ResNet18) and isinstance(net, Backbone) and net.feature_dim == 64
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), ResNet18(3, rng=4, width=8).parameters()))
    with pytest.raises(ValueError, match=r"unknown backbone 'resnet50'.*\['conv', 'fc', 'resnet18'\]"):
        build_backbone("resnet50", 3, rng=0)
    with pytest.raises(ValueError, match=r"unknown parameter.*'depth'.*valid: \['width', 'zero_init_residual'\]"):
        build_backbone("resnet18", 3, rng=0, depth=34)


@pytest.mark.parametrize("name,params", [("conv", {}), ("fc", {"image_size": 8}), ("resnet18", {"width": 8})])
def test_determinism_and_global_rng_untouched(name, params):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = build_backbone(name, 2, rng=0, **params)
    b = build_backbone(name, 2, rng=0, **params)
    c = build_backbone(name, 2, rng=1, **params)
    gen = torch.Generator().manual_seed(0)
    d, e = build_backbone(name, 2, rng=gen, **params), build_backbone(name, 2, rng=gen, **params)
    assert torch.equal(before, torch.get_rng_state())
    first = lambda m: next(m.parameters())  # noqa: E731
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(first(a), first(c))
    assert torch.equal(first(a), first(d))  # a generator seeded 0 draws what seed 0 draws
    assert not torch.equal(first(d), first(e))  # ... and advances


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        ResNet18(3, rng=0, width=4)(torch.rand(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"\(B, 1, 64, 64\)"):
        ConvTrunk(1, rng=0)(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 1, 64, 64\)"):
        MLPTrunk(1, rng=0)(torch.rand(2, 3, 64, 64))
    with pytest.raises(ValueError, match="width"):
        ResNet18(3, rng=0, width=0)
    with pytest.raises(ValueError, match="in_channels"):
        ConvTrunk(0, rng=0)
    with pytest.raises(ValueError, match="zero_init_residual"):
        ResNet18(3, rng=0, zero_init_residual=1)
    with pytest.raises(ValueError, match="hidden_dims"):
        MLPTrunk(1, hidden_dims=(), rng=0)
    with pytest.raises(ValueError, match="seed"):
        ResNet18(3, rng=-1)
