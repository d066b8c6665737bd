"""The reference encoders rebuilt from parts draw exactly the weights of the single-module versions.

The checksums below were printed by the single-module ``ConvEncoder``/``FCEncoder`` (commit
1cb5b5d, before the trunks were split out): for each weight, its float64 sum and absolute sum;
biases are zero. ``_old_conv_encoder`` re-derives the old construction independently.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from disentkit.nn import (
    ConvDecoder,
    ConvEncoder,
    ConvTrunk,
    FCDecoder,
    FCEncoder,
    GaussianHead,
    MLPTrunk,
    glorot_init_,
)

# (state_dict key of the weight, float64 sum, float64 sum of |w|), in parameter order
CONV_1_10_SEED0 = [
    ("backbone.convs.0.weight", -0.3111219410056947, 27.864171645094757),
    ("backbone.convs.2.weight", 5.584274481962893, 625.3742014227037),
    ("backbone.convs.4.weight", 2.237820625305176, 510.5096380710602),
    ("backbone.convs.6.weight", 2.9427779379238928, 882.7644981822868),
    ("backbone.dense.weight", 0.1588037109313376, 8979.43989809081),
    ("mean_head.weight", 1.2673812679277034, 192.95083913546114),
    ("logvar_head.weight", 0.6225171985574889, 194.3917893218163),
]
FC_1_10_SEED0 = [
    ("backbone.hidden.0.weight", 41.46620771703144, 82748.12674563585),
    ("backbone.hidden.2.weight", -16.621225440977238, 36013.36261403939),
    ("mean_head.weight", -3.6471044990025803, 421.7419720404946),
    ("logvar_head.weight", -2.9979658796432886, 419.7873680839425),
]
# methods/vae.py's pattern: encoder then decoder from one generator seeded 7 (C = 3, D = 6)
CONV_3_6_GEN7 = [
    ("backbone.convs.0.weight", 0.831404622298578, 80.77368753950941),
    ("backbone.convs.2.weight", -5.217927055019572, 629.1169570372867),
    ("backbone.convs.4.weight", 7.466945603489876, 511.73447404801846),
    ("backbone.convs.6.weight", 0.494417307186211, 888.4335104024385),
    ("backbone.dense.weight", 13.595240026330288, 8976.547030697137),
    ("mean_head.weight", 0.5618676372032496, 115.68824932695861),
    ("logvar_head.weight", -0.3728845436562551, 114.49178059092083),
]
DECODER_AFTER_GEN7 = [
    ("dense.0.weight", 9.511456442880444, 115.17378185811685),
    ("dense.2.weight", 23.46325170036107, 8969.768837848256),
    ("deconvs.0.weight", -18.579530526647318, 1772.4970844925074),
    ("deconvs.2.weight", -0.8942900970578194, 1022.3484754487872),
    ("deconvs.4.weight", 1.8875633760824257, 629.2490547522987),
    ("deconvs.6.weight", -3.385069108044263, 80.68765494530089),
]
# float64 sums of (mu, logvar) on _images(c) (B = 2); the weights above are exact, the forward
# pass is float32 and its summation order differs between CPUs (AVX2 vs AVX-512 kernels)
FWD_CONV_1_10_SEED0 = (-0.0598199930973351, 0.10268516023643315)
FWD_FC_1_10_SEED0 = (-1.4113274216651917, 3.577048808336258)
FWD_CONV_3_6_GEN7 = (-0.06109340232796967, -0.18034031335264444)


def _images(c: int, size: int = 64, b: int = 2) -> torch.Tensor:
    """A fixed, RNG-free image batch in [0, 1): frac(0.618034 * i)."""
    n = b * c * size * size
    return torch.arange(n, dtype=torch.float64).mul(0.618034).remainder(1.0).float().view(b, c, size, size)


def _check_checksums(module: nn.Module, expected: list[tuple[str, float, float]]) -> None:
    state = module.state_dict()
    weights = [k for k in state if k.endswith("weight")]
    assert weights == [k for k, _, _ in expected]
    for key, total, abs_total in expected:
        w = state[key].double()
        assert w.sum().item() == pytest.approx(total, rel=1e-12, abs=1e-12), key
        assert w.abs().sum().item() == pytest.approx(abs_total, rel=1e-12), key
    for key in state:
        if key.endswith("bias"):
            assert torch.count_nonzero(state[key]).item() == 0, key


def test_conv_encoder_weights_match_single_module_checksums():
    enc = ConvEncoder(1, 10, rng=0)
    _check_checksums(enc, CONV_1_10_SEED0)
    mu, logvar = enc(_images(1))
    assert mu.double().sum().item() == pytest.approx(FWD_CONV_1_10_SEED0[0], rel=1e-5, abs=1e-5)
    assert logvar.double().sum().item() == pytest.approx(FWD_CONV_1_10_SEED0[1], rel=1e-5, abs=1e-5)


def test_fc_encoder_weights_match_single_module_checksums():
    enc = FCEncoder(1, 10, rng=0)
    _check_checksums(enc, FC_1_10_SEED0)
    mu, logvar = enc(_images(1))
    assert mu.double().sum().item() == pytest.approx(FWD_FC_1_10_SEED0[0], rel=1e-5, abs=1e-5)
    assert logvar.double().sum().item() == pytest.approx(FWD_FC_1_10_SEED0[1], rel=1e-5, abs=1e-5)


def test_shared_generator_advances_as_before():
    gen = torch.Generator().manual_seed(7)
    enc, dec = ConvEncoder(3, 6, rng=gen), ConvDecoder(6, 3, rng=gen)
    _check_checksums(enc, CONV_3_6_GEN7)
    _check_checksums(dec, DECODER_AFTER_GEN7)
    mu, logvar = enc(_images(3))
    assert mu.double().sum().item() == pytest.approx(FWD_CONV_3_6_GEN7[0], rel=1e-5, abs=1e-5)
    assert logvar.double().sum().item() == pytest.approx(FWD_CONV_3_6_GEN7[1], rel=1e-5, abs=1e-5)


def _old_conv_encoder(c: int, d: int, seed: int) -> nn.ModuleDict:
    """The single-module construction: every layer, then one Glorot pass in module order."""
    with torch.random.fork_rng(devices=[]):
        layers = nn.ModuleDict({
            "convs": nn.Sequential(
                nn.Conv2d(c, 32, 4, 2, 1), nn.ReLU(), nn.Conv2d(32, 32, 4, 2, 1), nn.ReLU(),
                nn.Conv2d(32, 64, 2, 2, 0), nn.ReLU(), nn.Conv2d(64, 64, 2, 2, 0), nn.ReLU(),
            ),
            "dense": nn.Linear(1024, 256),
            "mean_head": nn.Linear(256, d),
            "logvar_head": nn.Linear(256, d),
        })
    return glorot_init_(layers, seed)


@pytest.mark.parametrize("c,d,seed", [(1, 10, 0), (3, 4, 11)])
def test_conv_encoder_bit_identical_to_old_construction(c, d, seed):
    old, new = _old_conv_encoder(c, d, seed), ConvEncoder(c, d, rng=seed)
    old_tensors, new_tensors = list(old.state_dict().values()), list(new.state_dict().values())
    assert len(old_tensors) == len(new_tensors)
    assert all(torch.equal(a, b) for a, b in zip(old_tensors, new_tensors))
    x = _images(c)
    h = torch.relu(old["dense"](old["convs"](x).permute(0, 2, 3, 1).reshape(2, -1)))
    mu, logvar = new(x)
    assert torch.equal(mu, old["mean_head"](h)) and torch.equal(logvar, old["logvar_head"](h))


def test_encoders_are_gaussian_heads_over_trunks():
    enc = ConvEncoder(3, 5, rng=0)
    assert isinstance(enc, GaussianHead) and isinstance(enc.backbone, ConvTrunk)
    assert enc.dense is enc.backbone.dense and enc.convs is enc.backbone.convs
    assert (enc.in_channels, enc.latent_dim, enc.feature_dim) == (3, 5, 256)
    fc = FCEncoder(2, 4, 16, rng=0)
    assert isinstance(fc.backbone, MLPTrunk) and fc.hidden is fc.backbone.hidden
    assert (fc.in_channels, fc.latent_dim, fc.image_size, fc.feature_dim) == (2, 4, 16, 1200)
    # the same encoder assembled by hand from the parts, one generator
    gen = torch.Generator().manual_seed(3)
    by_hand = GaussianHead(ConvTrunk(3, rng=gen), 5, rng=gen)
    ref = ConvEncoder(3, 5, rng=3)
    assert all(torch.equal(a, b) for a, b in zip(by_hand.parameters(), ref.parameters()))


def test_reset_parameters_reproduces_construction():
    enc = ConvEncoder(1, 10, rng=0)
    enc.reset_parameters(5)
    assert all(torch.equal(a, b) for a, b in zip(enc.parameters(), ConvEncoder(1, 10, rng=5).parameters()))
    fc = FCEncoder(1, 3, 8, rng=0)
    fc.reset_parameters(2)
    assert all(torch.equal(a, b) for a, b in zip(fc.parameters(), FCEncoder(1, 3, 8, rng=2).parameters()))


@pytest.mark.parametrize("make,renames", [
    (lambda s: ConvEncoder(1, 10, rng=s), {"backbone.convs.": "convs.", "backbone.dense.": "dense."}),
    (lambda s: FCEncoder(1, 10, 8, rng=s), {"backbone.hidden.": "hidden."}),
])
def test_state_dicts_with_pre_backbone_keys_load(make, renames):
    source = make(1)
    legacy = {}
    for key, value in source.state_dict().items():
        for new, old in renames.items():
            if key.startswith(new):
                key = old + key[len(new):]
        legacy[key] = value
    assert not any(k.startswith("backbone.") for k in legacy)
    target = make(2)
    target.load_state_dict(legacy)  # strict: every key matched after the renaming
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), source.parameters()))
    # nested under a prefix too (a method's state_dict holds "encoder.convs.0.weight", ...)
    holder, nested = nn.ModuleDict({"encoder": make(3)}), {f"encoder.{k}": v for k, v in legacy.items()}
    holder.load_state_dict(nested)
    assert all(torch.equal(a, b) for a, b in zip(holder["encoder"].parameters(), source.parameters()))


def test_fc_decoder_unchanged_by_shared_generator():
    gen = torch.Generator().manual_seed(7)
    FCEncoder(3, 6, 32, rng=gen)
    dec = FCDecoder(6, 3, 32, rng=gen)
    # printed by the single-module code: FCDecoder after FCEncoder(3, 6, 32) from seed 7
    assert dec.net[0].weight.double().sum().item() == pytest.approx(-2.9939001716261373, rel=1e-12)
    assert dec.net[6].weight.double().abs().sum().item() == pytest.approx(69149.6028353197, rel=1e-12)
