"""CMC: the Lab conversion, the view splits, in-batch InfoNCE and the memory-bank NCE variants."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from disentkit import methods
from disentkit.data.batch import Batch
from disentkit.methods.cmc import CMC, CMCConfig, first_occurrences, rgb_to_lab
from disentkit.methods.ssl import SelfSupervisedMethod

SHAPE = (3, 64, 64)
SMALL = {"projector_out": 16}  # a linear head to 16-D keeps a step at a few tens of milliseconds
BANK = {"loss": "nce", "dataset_size": 40, "nce_k": 12}


def build(seed: int = 0, shape=SHAPE, **params) -> CMC:
    return CMC(shape, CMCConfig(**{**SMALL, **params}), seed=seed)


def views_batch(seed: int, size: int = 8, channels: int = 3, num_items: int = 40) -> Batch:
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(size, channels, 64, 64, generator=gen)
    factors = torch.zeros(size, 2, dtype=torch.int64)
    index = torch.randperm(num_items, generator=gen)[:size]
    return Batch("views", (x, x.flip(-1)), (factors, factors), {"index": index})


def run_steps(model, steps, start=0, opts=None, scheds=None, total=20, channels=3):
    if opts is None:
        opts = model.configure_optimizers(total)
        scheds = model.configure_schedulers(opts, total)
    terms = []
    for s in range(start, start + steps):
        terms.append(model.train_step(views_batch(s, channels=channels), s, opts))
        for sched in scheds.values():
            sched.step()
    return terms, opts, scheds


def params_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k != "_extra_state"}


# -- Lab ---------------------------------------------------------------------------------------------
def test_rgb_to_lab_hand_computed_values():
    colours = torch.tensor([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]])
    lab = rgb_to_lab(colours.T.reshape(1, 3, 6, 1).float())[0, :, :, 0].T
    # grey 0.5: linear = ((0.5 + 0.055) / 1.055)^2.4, Y = linear (a grey has X/Xn = Y = Z/Zn), L = 116 Y^(1/3) - 16
    grey_l = 116 * (((0.5 + 0.055) / 1.055) ** 2.4) ** (1 / 3) - 16
    expected = torch.tensor([[100.0, 0, 0], [0, 0, 0],
                             [53.2408, 80.0925, 67.2032],   # sRGB red (the standard D65 value)
                             [87.7347, -86.1827, 83.1793],  # green
                             [32.2970, 79.1875, -107.8602],  # blue
                             [grey_l, 0, 0]])
    assert grey_l == pytest.approx(53.389, abs=1e-3)
    torch.testing.assert_close(lab, expected, atol=2e-3, rtol=0)


def test_rgb_to_lab_low_branch_and_shape_check():
    # below the sRGB knee and below δ³: c = 0.01 -> linear c / 12.92 = Y; f(Y) = Y / (3 δ²) + 4/29
    y = 0.01 / 12.92
    expected_l = 116 * (y / (3 * (6 / 29) ** 2) + 4 / 29) - 16  # = 903.3 Y
    lab = rgb_to_lab(torch.full((1, 3, 2, 2), 0.01))
    assert lab[0, 0].flatten().tolist() == pytest.approx([expected_l] * 4, abs=1e-4)
    assert expected_l == pytest.approx(903.296 * y, rel=1e-4)
    with pytest.raises(ValueError, match=r"RGB images \(B, 3, H, W\)"):
        rgb_to_lab(torch.rand(2, 1, 4, 4))


# -- views and encoders -------------------------------------------------------------------------------
def test_views_encoders_and_represent_shapes():
    model = build()
    assert isinstance(model, SelfSupervisedMethod) and model.mode == "channels"
    assert model.channel_groups == ((0,), (1, 2))  # L | ab
    assert [b.in_channels for b in model.backbones] == [1, 2]
    x = views_batch(0).views[0]
    inputs = model.view_inputs(x, x.flip(-1))
    lab = rgb_to_lab(x) / 100
    assert torch.equal(inputs[0], lab[:, :1]) and torch.equal(inputs[1], lab[:, 1:])
    code = model.represent(x)
    assert model.code_size == 512 and code.shape == (8, 512)  # two 256-D conv trunks
    expected = torch.cat([model.backbones[0](lab[:, :1]), model.backbones[1](lab[:, 1:])], dim=1)
    torch.testing.assert_close(code, expected)
    proj = build(representation="projector")
    assert proj.code_size == 32 and proj.represent(x).shape == (8, 32)
    assert torch.allclose(proj.represent(x)[:, :16].norm(dim=1), torch.ones(8))

    mono = build(shape=(1, 64, 64))
    assert mono.mode == "augmented" and [b.in_channels for b in mono.backbones] == [1, 1]
    y = torch.rand(4, 1, 64, 64)
    assert mono.view_inputs(y, 1 - y)[1].equal(1 - y) and mono.represent(y).shape == (4, 512)

    alt = build(channel_views="alternate", color_space="rgb", channel_groups=[[0], [1], [2]])
    a, b = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    got = alt.view_inputs(a, b)
    assert [t.shape[1] for t in got] == [1, 1, 1]
    assert got[0].equal(a[:, :1]) and got[1].equal(b[:, 1:2]) and got[2].equal(a[:, 2:])
    assert alt.code_size == 768


@pytest.mark.parametrize("params, channels", [({}, 3), ({}, 1), (BANK, 3), ({**BANK, "loss": "nce_softmax"}, 3),
                                              ({"channel_groups": [[0], [1], [2]], "multiview_mode": "full"}, 3)])
def test_train_steps_finite_loss_and_every_weight_moves(params, channels):
    model = build(shape=(channels, 64, 64), **params)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    terms, _, _ = run_steps(model, 2, channels=channels)
    for t in terms:
        assert set(t) == {"loss", "embedding_std"}
        assert all(v.shape == () and torch.isfinite(v) and not v.requires_grad for v in t.values())
    after = dict(model.named_parameters())
    assert all(not torch.equal(before[n], after[n]) for n in before), "every parameter must train"


def test_infonce_loss_equals_the_hand_computed_symmetric_cross_entropy():
    model = build(temperature=0.1)
    batch = views_batch(3)
    terms = model(batch, 0)
    with torch.no_grad():
        z1, z2 = model.embed(model.view_inputs(*batch.views))
    logits = (z1 @ z2.T) / 0.1
    log_p_rows = logits.diagonal() - torch.logsumexp(logits, dim=1)
    log_p_cols = logits.diagonal() - torch.logsumexp(logits, dim=0)
    expected = -(log_p_rows.mean() + log_p_cols.mean())
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    # three views, full graph: L(1,2) + L(1,3) + L(2,3); core: L(1,2) + L(1,3)
    full = build(channel_groups=[[0], [1], [2]], multiview_mode="full", color_space="rgb")
    core = build(channel_groups=[[0], [1], [2]], multiview_mode="core", color_space="rgb")
    core.load_state_dict(full.state_dict())
    with torch.no_grad():
        feats = full.embed(full.view_inputs(*batch.views))
        pair = {(i, j): full.infonce(feats[i], feats[j]).item() for i, j in ((0, 1), (0, 2), (1, 2))}
        assert full(batch, 0)["loss"].item() == pytest.approx(sum(pair.values()), rel=1e-5)
        assert core(batch, 0)["loss"].item() == pytest.approx(pair[0, 1] + pair[0, 2], rel=1e-5)


def test_seeding_is_bit_identical_and_the_seed_matters():
    for params in ({}, BANK):
        a, b, c = build(seed=5, **params), build(seed=5, **params), build(seed=6, **params)
        for model in (a, b, c):
            run_steps(model, 3)
        pa, pb, pc = params_of(a), params_of(b), params_of(c)
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
        assert not torch.equal(pa["heads.0.net.0.weight"], pc["heads.0.net.0.weight"])


def test_memory_bank_state_dict_round_trip_is_bit_identical():
    straight = build(seed=2, **BANK)
    straight_terms, _, _ = run_steps(straight, 4)

    first = build(seed=2, **BANK)
    _, opts, scheds = run_steps(first, 2)
    state = {k: v.clone() for k, v in first.state_dict().items()}
    assert {"banks.0.memory", "banks.1.memory", "nce_losses.0_1.log_z", "nce_losses.1_0.z_fixed"} <= set(state)
    assert state["banks.0.memory"].shape == (40, 16) and bool(state["nce_losses.0_1.z_fixed"])
    opt_state = {k: o.state_dict() for k, o in opts.items()}
    sched_state = {k: s.state_dict() for k, s in scheds.items()}

    resumed = build(seed=77, **BANK)  # another seed: everything must come from the saved state
    resumed.load_state_dict(state, strict=True)
    new_opts = resumed.configure_optimizers(20)
    new_scheds = resumed.configure_schedulers(new_opts, 20)
    for key in new_opts:
        new_opts[key].load_state_dict(opt_state[key])
        new_scheds[key].load_state_dict(sched_state[key])
    resumed_terms, _, _ = run_steps(resumed, 2, start=2, opts=new_opts, scheds=new_scheds)
    assert all(torch.equal(a[k], b[k]) for a, b in zip(resumed_terms, straight_terms[2:]) for k in a)
    final, reference = resumed.state_dict(), straight.state_dict()
    assert all(torch.equal(final[k], reference[k]) for k in reference)


def test_bank_rows_move_to_the_features_of_their_first_occurrence():
    model = build(seed=1, **BANK, bank_momentum=0.25)
    batch = views_batch(0)
    index = torch.tensor([5, 9, 5, 30, 9, 1, 2, 3])  # a uniform sampler may draw an item twice
    batch = dataclasses.replace(batch, extras={"index": index})
    old = [b.memory.clone() for b in model.banks]
    with torch.no_grad():
        feats = model.embed(model.view_inputs(*batch.views))
        model(batch, 0)
    first = {5: 0, 9: 1, 30: 3, 1: 5, 2: 6, 3: 7}
    for bank, before, f in zip(model.banks, old, feats):
        for item, row in first.items():
            expected = F.normalize(0.25 * before[item] + 0.75 * f[row], dim=0)
            torch.testing.assert_close(bank.memory[item], expected)
        untouched = [i for i in range(40) if i not in first]
        assert torch.equal(bank.memory[untouched], before[untouched])
    items, rows = first_occurrences(index)
    assert items.tolist() == [1, 2, 3, 5, 9, 30] and rows.tolist() == [5, 6, 7, 0, 1, 3]


def test_nce_fixes_z_on_the_first_batch():
    model = build(seed=0, **BANK)
    run_steps(model, 1)
    z = {k: float(m.log_z) for k, m in model.nce_losses.items()}
    assert set(z) == {"0_1", "1_0"} and all(math.isfinite(v) for v in z.values())
    run_steps(model, 1, start=1, total=20)
    assert {k: float(m.log_z) for k, m in model.nce_losses.items()} == z


# -- the contract: batches, configs, dataset size -----------------------------------------------------
def test_wrong_batch_and_bad_config_values():
    model = build()
    with pytest.raises(ValueError, match="trains on 'views' batches with 2 view.*use the sampler 'views'"):
        model(torch.rand(4, *SHAPE), 0)
    with pytest.raises(ValueError, match="loss must be one of 'infonce', 'nce', 'nce_softmax'"):
        CMCConfig(loss="triplet")
    with pytest.raises(ValueError, match="views must be one of 'auto', 'channels', 'augmented'"):
        CMCConfig(views="crops")
    with pytest.raises(ValueError, match="temperature must be > 0.0"):
        CMCConfig(temperature=0.0)
    with pytest.raises(ValueError, match="bank_momentum must be >= 0.0 and <= 1.0"):
        CMCConfig(bank_momentum=1.5)
    with pytest.raises(ValueError, match="multiview_mode must be one of 'core', 'full'"):
        CMCConfig(multiview_mode="star")
    with pytest.raises(ValueError, match="at least 2 non-empty lists"):
        CMCConfig(channel_groups=[[0, 1, 2]])
    with pytest.raises(ValueError, match="at least 2 non-empty lists"):
        CMCConfig(channel_groups=[[0, 0], [1]])
    with pytest.raises(ValueError, match="color_space='lab' needs 3-channel"):
        build(shape=(1, 64, 64), views="channels")
    with pytest.raises(ValueError, match=r"must index channels 0\.\.2"):
        build(channel_groups=[[0], [3]], color_space="rgb")
    with pytest.raises(ValueError, match="needs dataset_size"):
        build(loss="nce")
    bank = build(**BANK)
    with pytest.raises(ValueError, match=r"needs batch.extras\['index'\]"):
        bank(dataclasses.replace(views_batch(0), extras={}), 0)


def test_fill_from_dataset_sets_dataset_size_only_for_the_bank():
    class Data:
        def __len__(self) -> int:
            return 1234

    assert CMC.fill_from_dataset(CMCConfig(loss="nce_softmax"), Data()).dataset_size == 1234
    assert CMC.fill_from_dataset(CMCConfig(loss="nce", dataset_size=7), Data()).dataset_size == 7
    assert CMC.fill_from_dataset(CMCConfig(), Data()).dataset_size is None


# -- through the real trainer ------------------------------------------------------------------------
@pytest.mark.slow
def test_cmc_trains_through_the_trainer(tmp_path):
    import json

    from disentkit.train import load_run, train

    methods.register("cmc", CMC)
    base = {"method": "cmc", "batch_size": 8, "log_every": 10, "num_threads": 1, "images": False}
    run = train({**base, "dataset": "shapes3d", "steps": 30, "method_params": SMALL}, tmp_path / "lab", progress=False)
    logged = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logged if "event" not in r]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert load_run(run).represent(torch.rand(2, *SHAPE)).shape == (2, 512)
    # the memory bank gets its size from the dataset (xyobject: 75,000 images) and is checkpointed
    run = train({**base, "dataset": "xyobject", "steps": 10, "method_params": {**SMALL, "loss": "nce", "nce_k": 32}},
                tmp_path / "bank", progress=False)
    assert json.loads((run / "config.json").read_text())["method_params"]["dataset_size"] == 75000
    assert load_run(run).banks[0].memory.shape == (75000, 16)
