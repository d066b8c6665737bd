"""Architectures: output shapes, parameter counts of the TF reference, TF padding, init, layouts."""

from __future__ import annotations

import math

import pytest
import torch

from disentkit.nn import (
    ConvDecoder,
    ConvEncoder,
    FactorDiscriminator,
    FCDecoder,
    FCEncoder,
    tf_same_padding,
)


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def conv(k: int, c_in: int, c_out: int) -> int:  # TF kernel k x k x c_in x c_out + bias
    return k * k * c_in * c_out + c_out


@pytest.mark.parametrize("channels,latents", [(1, 10), (3, 10), (3, 6)])
def test_conv_encoder_decoder_shapes_and_counts(channels, latents):
    enc, dec = ConvEncoder(channels, latents, rng=0), ConvDecoder(latents, channels, rng=0)
    mu, logvar = enc(torch.rand(2, channels, 64, 64))
    assert mu.shape == logvar.shape == (2, latents)
    assert dec(mu).shape == (2, channels, 64, 64)
    enc_ref = (conv(4, channels, 32) + conv(4, 32, 32) + conv(2, 32, 64) + conv(2, 64, 64)
               + dense(4 * 4 * 64, 256) + 2 * dense(256, latents))
    dec_ref = (dense(latents, 256) + dense(256, 1024) + conv(4, 64, 64) + conv(4, 64, 32)
               + conv(4, 32, 32) + conv(4, 32, channels))
    assert n_params(enc) == enc_ref
    assert n_params(dec) == dec_ref


def test_reference_counts_literal():
    # dSprites (C = 1, D = 10), counted by hand from the TF layers
    assert n_params(ConvEncoder(1, 10)) == 544 + 16_416 + 8_256 + 16_448 + 262_400 + 2 * 2_570 == 309_204
    assert n_params(ConvDecoder(10, 1)) == 2_816 + 263_168 + 65_600 + 32_800 + 16_416 + 513 == 381_313
    assert n_params(FactorDiscriminator(10)) == 11_000 + 5 * 1_001_000 + 2_002 == 5_018_002


def test_fc_shapes_and_counts():
    enc, dec = FCEncoder(1, 10, rng=0), FCDecoder(10, 1, rng=0)
    mu, logvar = enc(torch.rand(3, 1, 64, 64))
    assert mu.shape == logvar.shape == (3, 10)
    assert dec(mu).shape == (3, 1, 64, 64)
    assert n_params(enc) == dense(4096, 1200) + dense(1200, 1200) + 2 * dense(1200, 10)
    assert n_params(dec) == dense(10, 1200) + 2 * dense(1200, 1200) + dense(1200, 4096)
    small = FCDecoder(4, 3, image_size=8, rng=0)
    assert small(torch.zeros(2, 4)).shape == (2, 3, 8, 8)


def test_discriminator_shape_and_layers():
    disc = FactorDiscriminator(5, hidden=16, num_layers=3, rng=0)
    assert disc(torch.zeros(7, 5)).shape == (7, 2)
    assert n_params(disc) == dense(5, 16) + 2 * dense(16, 16) + dense(16, 2)
    slopes = [m.negative_slope for m in disc.modules() if isinstance(m, torch.nn.LeakyReLU)]
    assert slopes == [0.2] * 3


def test_tf_same_padding():
    assert tf_same_padding(64, 4, 2) == (1, 1)
    assert tf_same_padding(16, 2, 2) == (0, 0)
    assert tf_same_padding(5, 3, 2) == (1, 1)
    assert tf_same_padding(6, 3, 2) == (0, 1)  # TF puts the odd pixel after
    # PyTorch's symmetric padding reproduces TF "same" for the encoder's layers
    convs = [m for m in ConvEncoder(1, 10).modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.padding for c in convs] == [(1, 1), (1, 1), (0, 0), (0, 0)]


def test_glorot_uniform_init_zero_bias_and_seeding():
    dec = ConvDecoder(10, 1, rng=0)
    for m in dec.modules():
        if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)):
            w = m.weight
            if isinstance(m, torch.nn.Linear):
                fan_in, fan_out = w.shape[1], w.shape[0]
            else:  # (in, out, k, k)
                fan_in, fan_out = w.shape[1] * 16, w.shape[0] * 16
            limit = math.sqrt(6 / (fan_in + fan_out))
            assert w.abs().max().item() <= limit
            assert w.abs().max().item() > 0.9 * limit  # spread over the whole range
            assert w.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.1)
            assert torch.count_nonzero(m.bias).item() == 0
    same = ConvDecoder(10, 1, rng=0)
    other = ConvDecoder(10, 1, rng=1)
    assert all(torch.equal(a, b) for a, b in zip(dec.parameters(), same.parameters()))
    assert not torch.equal(dec.dense[0].weight, other.dense[0].weight)


def test_global_rng_untouched():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    ConvEncoder(1, 10, rng=0)
    FactorDiscriminator(10, rng=0)
    assert torch.equal(before, torch.get_rng_state())


def test_channels_last_input_same_output():
    enc, dec = ConvEncoder(3, 10, rng=0), ConvDecoder(10, 3, rng=0)
    x = torch.rand(2, 3, 64, 64)
    mu, logvar = enc(x)
    mu_cl, logvar_cl = enc(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(mu_cl, mu, atol=1e-6) and torch.allclose(logvar_cl, logvar, atol=1e-6)
    enc_cl = ConvEncoder(3, 10, rng=0).to(memory_format=torch.channels_last)
    assert torch.allclose(enc_cl(x.contiguous(memory_format=torch.channels_last))[0], mu, atol=1e-6)
    out_cl = dec.to(memory_format=torch.channels_last)(mu)
    assert torch.allclose(out_cl, ConvDecoder(10, 3, rng=0)(mu), atol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\(B, 1, 64, 64\)"):
        ConvEncoder(1, 10)(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\(B, 10\)"):
        ConvDecoder(10, 1)(torch.rand(2, 9))
    with pytest.raises(ValueError, match="latent_dim"):
        ConvEncoder(1, 0)
    with pytest.raises(ValueError, match="seed"):
        ConvEncoder(1, 10, rng=-1)


def test_flatten_is_a_view_for_channels_last():
    from disentkit.nn.architectures import _flatten_hwc

    x = torch.rand(2, 64, 4, 4).contiguous(memory_format=torch.channels_last)
    flat = _flatten_hwc(x)
    assert flat.data_ptr() == x.data_ptr()
    # TF order (h, w, c): the first 64 entries are the channels of pixel (0, 0)
    assert torch.equal(flat[:, :64], x[:, :, 0, 0])
