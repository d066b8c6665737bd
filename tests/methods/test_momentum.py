"""The EMA update (``ema_update_``, ``EMAPairs``) and its τ schedules against the formula, on
hand-made weights."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from disentkit.methods.momentum import (
    EMAPairs,
    constant_momentum,
    cosine_momentum,
    ema_update_,
    make_target,
    momentum_at,
)


def test_cosine_schedule_at_start_middle_end():
    assert cosine_momentum(0, 1000, 0.99) == pytest.approx(0.99, abs=1e-15)
    assert cosine_momentum(500, 1000, 0.99) == pytest.approx(0.995, abs=1e-15)
    assert cosine_momentum(1000, 1000, 0.99) == pytest.approx(1.0, abs=1e-15)
    k, total, base = 123, 1000, 0.996
    assert cosine_momentum(k, total, base) == pytest.approx(
        1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2, abs=1e-15)
    values = [cosine_momentum(s, 50, 0.9) for s in range(51)]
    assert all(a <= b for a, b in zip(values, values[1:]))  # τ rises monotonically


def test_constant_schedule_and_named_lookup():
    assert constant_momentum(7, 10, 0.0) == 0.0
    assert constant_momentum(10, 10, 0.5) == 0.5
    assert momentum_at("constant", 3, 10, 0.9) == 0.9
    assert momentum_at("cosine", 5, 10, 0.9) == pytest.approx(0.95)
    with pytest.raises(ValueError, match=r"^schedule must be one of 'cosine', 'constant'; got 'linear'$"):
        momentum_at("linear", 0, 10)


@pytest.mark.parametrize("args, match", [
    ((0, 0, 0.9), r"^total_steps must be an integer >= 1, got 0$"),
    ((11, 10, 0.9), r"^step must be an integer in \[0, 10\], got 11$"),
    ((-1, 10, 0.9), r"^step must be an integer in \[0, 10\], got -1$"),
    ((0, 10, 1.5), r"^base must be >= 0.0 and <= 1.0, got 1.5$"),
    ((0.5, 10, 0.9), r"^step must be an integer in \[0, 10\], got 0.5$"),
])
def test_schedule_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        cosine_momentum(*args)


def _pair():
    torch.manual_seed(0)  # only to build the stand-in networks
    online = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    target = make_target(online)
    with torch.no_grad():
        online[0].weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
        online[0].bias.copy_(torch.tensor([1.0, -1.0, 0.0]))
        target[0].weight.copy_(torch.tensor([[3.0, 0.0], [1.0, 0.0], [-1.0, 2.0]]))
        target[0].bias.zero_()
    online[1].running_mean.copy_(torch.tensor([2.0, 4.0, 6.0]))
    online[1].running_var.copy_(torch.tensor([3.0, 3.0, 3.0]))
    online[1].num_batches_tracked.fill_(7)
    target[1].num_batches_tracked.fill_(1)
    return online, target


def test_make_target_is_a_frozen_copy():
    online = nn.Linear(3, 2)
    target = make_target(online)
    assert target is not online
    assert all(not p.requires_grad for p in target.parameters())
    assert all(p.requires_grad for p in online.parameters())
    assert torch.equal(target.weight, online.weight) and target.weight.data_ptr() != online.weight.data_ptr()


def test_ema_update_half_on_hand_made_weights():
    online, target = _pair()
    online_before = {k: v.clone() for k, v in online.state_dict().items()}
    ema_update_(target, online, 0.5, buffers="none")
    assert torch.equal(target[0].weight, torch.tensor([[2.0, 1.0], [2.0, 2.0], [2.0, 4.0]]))
    assert torch.equal(target[0].bias, torch.tensor([0.5, -0.5, 0.0]))
    assert torch.equal(target[1].weight, torch.ones(3)) and torch.equal(target[1].bias, torch.zeros(3))
    assert torch.equal(target[1].running_mean, torch.zeros(3))  # "none": buffers untouched
    assert int(target[1].num_batches_tracked) == 1
    assert all(torch.equal(v, online_before[k]) for k, v in online.state_dict().items())  # online untouched


def test_ema_update_general_tau_and_extremes():
    online, target = _pair()
    w_t, w_o = target[0].weight.clone(), online[0].weight.clone()
    ema_update_(target, online, 0.9)
    assert torch.allclose(target[0].weight, 0.9 * w_t + 0.1 * w_o, atol=1e-6)
    online, target = _pair()
    ema_update_(target, online, 0.0)  # τ = 0: an exact copy
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), online.parameters()))
    online, target = _pair()
    w_t = target[0].weight.clone()
    ema_update_(target, online, 1.0)  # τ = 1: frozen
    assert torch.equal(target[0].weight, w_t)


def test_ema_buffer_modes():
    online, target = _pair()
    ema_update_(target, online, 0.5, buffers="copy")
    assert torch.equal(target[1].running_mean, torch.tensor([2.0, 4.0, 6.0]))
    assert torch.equal(target[1].running_var, torch.tensor([3.0, 3.0, 3.0]))
    assert int(target[1].num_batches_tracked) == 7

    online, target = _pair()
    ema_update_(target, online, 0.5, buffers="ema")
    assert torch.equal(target[1].running_mean, torch.tensor([1.0, 2.0, 3.0]))  # 0.5·0 + 0.5·online
    assert torch.equal(target[1].running_var, torch.tensor([2.0, 2.0, 2.0]))  # 0.5·1 + 0.5·3
    assert int(target[1].num_batches_tracked) == 7  # integer buffer: copied
    assert target[1].num_batches_tracked.dtype == torch.int64


def test_ema_update_errors():
    online, target = _pair()
    with pytest.raises(ValueError, match="tau"):
        ema_update_(target, online, 1.5)
    with pytest.raises(ValueError, match=r"^buffers must be one of 'copy', 'ema', 'none'; got 'avg'$"):
        ema_update_(target, online, 0.5, buffers="avg")
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 2\) in target, \(3, 4\) in online"):
        ema_update_(nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(4, 3)), 0.5)
    with pytest.raises(ValueError, match="missing in target"):
        ema_update_(nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)), 0.5)
    no_stats, stats = nn.BatchNorm1d(3, track_running_stats=False), nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="buffers differ: missing in target"):
        ema_update_(no_stats, stats, 0.5, buffers="copy")
    ema_update_(no_stats, stats, 0.5, buffers="none")  # buffers not compared when not touched


def test_ema_pairs_update_on_hand_made_weights():
    online, target = _pair()
    EMAPairs(target, online, buffers="ema").update_(0.5)
    assert torch.equal(target[0].weight, torch.tensor([[2.0, 1.0], [2.0, 2.0], [2.0, 4.0]]))
    assert torch.equal(target[0].bias, torch.tensor([0.5, -0.5, 0.0]))
    assert torch.equal(target[1].running_mean, torch.tensor([1.0, 2.0, 3.0]))  # 0.5·0 + 0.5·online
    assert torch.equal(target[1].running_var, torch.tensor([2.0, 2.0, 2.0]))  # 0.5·1 + 0.5·3
    assert int(target[1].num_batches_tracked) == 7  # an integer buffer is copied


@pytest.mark.parametrize("buffers", ["copy", "ema", "none"])
def test_ema_pairs_repeated_updates_equal_ema_update_bit_for_bit(buffers):
    online, target = _pair()
    online_b, target_b = copy.deepcopy(online), copy.deepcopy(target)
    pairs = EMAPairs(target, online, buffers)
    gen = torch.Generator().manual_seed(0)
    for tau in (0.9, 0.37, 0.0, 1.0, 0.996):
        with torch.no_grad():  # the online network moves between updates
            for p, p_b in zip(online.parameters(), online_b.parameters()):
                step = torch.randn(p.shape, generator=gen)
                p.add_(step)
                p_b.add_(step)
            online[1].running_mean.add_(1.5)
            online_b[1].running_mean.add_(1.5)
        pairs.update_(tau)
        ema_update_(target_b, online_b, tau, buffers)
        for (name, a), b in zip(target.state_dict().items(), target_b.state_dict().values()):
            assert torch.equal(a, b), name


def test_ema_pairs_follow_tensors_replaced_by_a_conversion():
    online, target = _pair()
    pairs = EMAPairs(target, online, buffers="copy")
    online.double()  # replaces the buffer tensors of both modules
    target.double()
    pairs.update_(0.5)
    assert target[0].weight.dtype == torch.float64
    assert torch.equal(target[0].weight, torch.tensor([[2.0, 1.0], [2.0, 2.0], [2.0, 4.0]], dtype=torch.float64))
    assert torch.equal(target[1].running_mean, torch.tensor([2.0, 4.0, 6.0], dtype=torch.float64))


def test_ema_pairs_reject_mismatches_when_paired():
    with pytest.raises(ValueError, match=r"'0.weight' has shape \(3, 2\) in target, \(3, 4\) in online"):
        EMAPairs(nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(4, 3)))
    with pytest.raises(ValueError, match="parameters differ: missing in target"):
        EMAPairs(nn.Sequential(nn.Linear(2, 3)), nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1)))
    with pytest.raises(ValueError, match=r"^buffers must be one of 'copy', 'ema', 'none'; got 'avg'$"):
        EMAPairs(*_pair()[::-1], buffers="avg")
    no_stats, stats = nn.BatchNorm1d(3, track_running_stats=False), nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="buffers differ: missing in target"):
        EMAPairs(no_stats, stats, buffers="copy")
    EMAPairs(no_stats, stats, buffers="none").update_(0.5)  # buffers not paired when not touched
    online, target = _pair()
    with pytest.raises(ValueError, match=r"^tau must be >= 0.0 and <= 1.0, got 1.5$"):
        EMAPairs(target, online).update_(1.5)
