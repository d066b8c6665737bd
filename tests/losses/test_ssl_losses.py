"""Self-supervised losses against values computed independently (numpy and plain loops, float64)."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from torch import nn

import disentkit.losses as L
import disentkit.methods.losses as vae_losses

RNG = np.random.default_rng(0)
A = RNG.normal(size=(5, 3))
B = RNG.normal(size=(5, 3))


def t(x, grad=False):
    return torch.tensor(np.asarray(x), dtype=torch.float64, requires_grad=grad)


def cos(u, v):
    return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))


def log_softmax_first(values):
    """log(exp(v0) / sum exp(v)) for a plain list."""
    m = max(values)
    return values[0] - (m + math.log(sum(math.exp(v - m) for v in values)))


def softplus(x):
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


# -- the public namespace -------------------------------------------------------------------------
def test_vae_loss_functions_are_reexported_unchanged():
    public = [name for name, obj in vars(vae_losses).items()
              if inspect.isfunction(obj) and obj.__module__ == vae_losses.__name__ and not name.startswith("_")]
    assert len(public) >= 15
    missing = [name for name in public if getattr(L, name, None) is not getattr(vae_losses, name)]
    assert missing == []
    assert set(public) <= set(L.__all__)
    assert all(hasattr(L, name) for name in L.__all__)


# -- BYOL / SimSiam -------------------------------------------------------------------------------
def test_byol_loss_is_two_minus_two_cosine():
    expected = np.mean([2 - 2 * cos(A[b], B[b]) for b in range(5)])
    assert L.BYOLLoss()(t(A), t(B)).item() == pytest.approx(expected, rel=1e-12)
    assert L.BYOLLoss()(t(A), t(3 * A)).item() == pytest.approx(0.0, abs=1e-12)  # scale-free
    assert L.BYOLLoss()(t(A), t(-A)).item() == pytest.approx(4.0, abs=1e-12)


def test_byol_symmetric_and_target_detached():
    p1, p2 = t(A, True), t(B, True)
    z1, z2 = t(B[::-1].copy(), True), t(A[::-1].copy(), True)
    loss = L.BYOLLoss().symmetric(p1, p2, z1, z2)
    expected = sum(np.mean([2 - 2 * cos(p[b], z[b]) for b in range(5)])
                   for p, z in ((A, A[::-1]), (B, B[::-1])))
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    assert z1.grad is None and z2.grad is None
    assert p1.grad is not None and p1.grad.abs().sum() > 0


def test_negative_cosine_and_simsiam_stop_gradient():
    d = L.NegativeCosineLoss()
    assert d(t(A), t(B)).item() == pytest.approx(-np.mean([cos(A[b], B[b]) for b in range(5)]), rel=1e-12)
    z1, z2 = t(A, True), t(B, True)
    p1, p2 = 2.0 * z1 + 1.0, z2 * z2  # gradients reach z only through the predictions
    loss = L.SimSiamLoss()(p1, p2, z1, z2)
    p1n, p2n = 2 * A + 1, B * B
    expected = (-0.5 * np.mean([cos(p1n[b], B[b]) for b in range(5)])
                - 0.5 * np.mean([cos(p2n[b], A[b]) for b in range(5)]))
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    # stop-gradient: z1 gets gradient only through p1 = 2 z1 + 1 (none as the target of p2)
    loss.backward()
    hand = np.stack([-(B[b] / np.linalg.norm(B[b]) - cos(p1n[b], B[b]) * p1n[b] / np.linalg.norm(p1n[b]))
                     / np.linalg.norm(p1n[b]) / 5 for b in range(5)])
    np.testing.assert_allclose(z1.grad.numpy(), 0.5 * 2.0 * hand, rtol=1e-10, atol=1e-12)
    # with the z's as leaves used only as targets, they get no gradient
    zt = t(B, True)
    d(t(A, True), zt).backward()
    assert zt.grad is None
    # gradient of -cos(p, sg z) wrt p, by hand: -(z/|z| - cos * p/|p|) / |p| / B
    p = t(A, True)
    d(p, t(B)).backward()
    hand = np.stack([-(B[b] / np.linalg.norm(B[b]) - cos(A[b], B[b]) * A[b] / np.linalg.norm(A[b]))
                     / np.linalg.norm(A[b]) / 5 for b in range(5)])
    np.testing.assert_allclose(p.grad.numpy(), hand, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: L.BYOLLoss(), lambda: L.NegativeCosineLoss()])
def test_cosine_losses_reject_bad_shapes(make):
    with pytest.raises(ValueError, match="same shape"):
        make()(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        make()(torch.zeros(4), torch.zeros(4))


# -- Barlow Twins ---------------------------------------------------------------------------------
def test_barlow_twins_terms_against_loops():
    lam = 0.3
    n, d = A.shape
    za = (A - A.mean(0)) / A.std(0)  # numpy std: biased (ddof=0)
    zb = (B - B.mean(0)) / B.std(0)
    c = np.zeros((d, d))
    for i in range(d):
        for j in range(d):
            c[i, j] = sum(za[b, i] * zb[b, j] for b in range(n)) / n
    on = sum((1 - c[i, i]) ** 2 for i in range(d))
    off = sum(c[i, j] ** 2 for i in range(d) for j in range(d) if i != j)
    loss_fn = L.BarlowTwinsLoss(lambda_offdiag=lam, eps=0.0)
    terms = loss_fn.terms(t(A), t(B))
    assert terms["on_diag"].item() == pytest.approx(on, rel=1e-10)
    assert terms["off_diag"].item() == pytest.approx(off, rel=1e-10)
    assert terms["loss"].item() == pytest.approx(on + lam * off, rel=1e-10)
    assert loss_fn(t(A), t(B)).item() == pytest.approx(on + lam * off, rel=1e-10)
    # C is the Pearson correlation matrix: identical views give C_ii = 1
    np.testing.assert_allclose(np.diag(loss_fn.cross_correlation(t(A), t(A)).numpy()), 1.0, rtol=1e-12)


def test_barlow_twins_eps_is_added_to_the_biased_variance():
    eps = 0.5
    za = (A - A.mean(0)) / np.sqrt(A.var(0) + eps)
    zb = (B - B.mean(0)) / np.sqrt(B.var(0) + eps)
    c = za.T @ zb / A.shape[0]
    expected = ((1 - np.diag(c)) ** 2).sum() + 5.1e-3 * ((c ** 2).sum() - (np.diag(c) ** 2).sum())
    assert L.BarlowTwinsLoss(eps=eps)(t(A), t(B)).item() == pytest.approx(expected, rel=1e-10)


def test_barlow_twins_errors():
    with pytest.raises(ValueError, match="at least 2"):
        L.BarlowTwinsLoss()(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="lambda_offdiag"):
        L.BarlowTwinsLoss(lambda_offdiag=-1.0)


# -- VICReg ---------------------------------------------------------------------------------------
def _vicreg_by_hand(x, y, gamma, eps):
    n, d = x.shape
    inv = sum((x[b, j] - y[b, j]) ** 2 for b in range(n) for j in range(d)) / (n * d)

    def var_term(z):
        out = 0.0
        for j in range(d):
            m = sum(z[:, j]) / n
            var = sum((z[b, j] - m) ** 2 for b in range(n)) / (n - 1)
            out += max(0.0, gamma - math.sqrt(var + eps))
        return out / d

    def cov_term(z):
        m = z.mean(0)
        total = 0.0
        for i in range(d):
            for j in range(d):
                if i != j:
                    cij = sum((z[b, i] - m[i]) * (z[b, j] - m[j]) for b in range(n)) / (n - 1)
                    total += cij ** 2
        return total / d

    return inv, var_term(x) + var_term(y), cov_term(x) + cov_term(y)


def test_vicreg_terms_against_loops():
    x, y = 0.6 * A, 1.7 * B  # x has std < γ in every dim (hinge active), y mostly above
    gamma, eps = 1.0, 1e-4
    inv, var, cov = _vicreg_by_hand(x, y, gamma, eps)
    assert var > 0
    loss_fn = L.VICRegLoss(sim_weight=2.0, var_weight=3.0, cov_weight=0.5, gamma=gamma, eps=eps)
    terms = loss_fn.terms(t(x), t(y))
    assert terms["invariance"].item() == pytest.approx(inv, rel=1e-10)
    assert terms["variance"].item() == pytest.approx(var, rel=1e-10)
    assert terms["covariance"].item() == pytest.approx(cov, rel=1e-10)
    assert loss_fn(t(x), t(y)).item() == pytest.approx(2 * inv + 3 * var + 0.5 * cov, rel=1e-10)
    half = L.VICRegLoss(average_variance=True).terms(t(x), t(y))["variance"].item()
    assert half == pytest.approx(var / 2, rel=1e-10)
    default = L.VICRegLoss()(t(x), t(y)).item()
    assert default == pytest.approx(25 * inv + 25 * var + cov, rel=1e-10)


def test_vicreg_errors():
    with pytest.raises(ValueError, match="at least 2"):
        L.VICRegLoss()(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="same shape"):
        L.VICRegLoss()(torch.zeros(4, 3), torch.zeros(5, 3))


# -- InfoNCE and CMC's N views --------------------------------------------------------------------
def _infonce_by_hand(a, b, tau):
    n = a.shape[0]
    total = 0.0
    for i in range(n):
        total -= log_softmax_first([cos(a[i], b[i]) / tau] + [cos(a[i], b[j]) / tau for j in range(n) if j != i])
    return total / n


def test_infonce_with_temperature():
    tau = 0.5
    one_way = _infonce_by_hand(A, B, tau)
    other_way = _infonce_by_hand(B, A, tau)
    assert L.InfoNCELoss(tau, symmetric=False)(t(A), t(B)).item() == pytest.approx(one_way, rel=1e-10)
    assert L.InfoNCELoss(tau)(t(A), t(B)).item() == pytest.approx(one_way + other_way, rel=1e-10)
    assert L.InfoNCELoss(0.07, symmetric=False)(t(A), t(B)).item() == pytest.approx(
        _infonce_by_hand(A, B, 0.07), rel=1e-10)


def test_multiview_core_and_full():
    views = [A, B, RNG.normal(size=(5, 3))]
    tau = 0.2

    def pair(i, j):
        return _infonce_by_hand(views[i], views[j], tau) + _infonce_by_hand(views[j], views[i], tau)

    tv = [t(v) for v in views]
    core = L.multiview_contrastive_loss(tv, mode="core", temperature=tau)
    full = L.multiview_contrastive_loss(tv, mode="full", temperature=tau)
    assert core.item() == pytest.approx(pair(0, 1) + pair(0, 2), rel=1e-10)
    assert full.item() == pytest.approx(pair(0, 1) + pair(0, 2) + pair(1, 2), rel=1e-10)
    custom = L.multiview_contrastive_loss(tv, mode="full", pair_loss=lambda a, b: (a - b).pow(2).sum())
    expected = sum(((views[i] - views[j]) ** 2).sum() for i, j in ((0, 1), (0, 2), (1, 2)))
    assert custom.item() == pytest.approx(expected, rel=1e-12)


def test_contrastive_errors():
    with pytest.raises(ValueError, match=r"^mode must be one of 'core', 'full'; got 'star'$"):
        L.multiview_contrastive_loss([t(A), t(B)], mode="star")
    with pytest.raises(ValueError, match="at least 2 views"):
        L.multiview_contrastive_loss([t(A)])
    with pytest.raises(ValueError, match="same shape"):
        L.multiview_contrastive_loss([t(A), t(B[:4])])
    with pytest.raises(ValueError, match=r"^temperature must be > 0.0, got 0.0$"):
        L.InfoNCELoss(temperature=0.0)
    with pytest.raises(ValueError, match=r"^eps must be a finite number, got inf$"):
        L.InfoNCELoss(eps=math.inf)


# -- memory bank, NCE, softmax --------------------------------------------------------------------
def test_memory_bank_init_is_seeded_buffer_in_range():
    n, d = 200, 12
    bound = 1 / math.sqrt(d / 3)
    bank = L.MemoryBank(n, d, rng=torch.Generator().manual_seed(3))
    m = bank.memory
    assert m.shape == (n, d) and "memory" in bank.state_dict() and not m.requires_grad
    assert m.min() >= -bound and m.max() <= bound
    assert m.min() < -0.9 * bound and m.max() > 0.9 * bound  # fills the interval
    assert abs(m.mean().item()) < 0.05 * bound
    again = L.MemoryBank(n, d, rng=torch.Generator().manual_seed(3)).memory
    assert torch.equal(m, again)
    restored = L.MemoryBank(n, d, rng=torch.Generator().manual_seed(99))
    restored.load_state_dict(bank.state_dict())
    assert torch.equal(restored.memory, m)


def test_memory_bank_sampling_and_update():
    n, d, m = 10, 3, 0.25
    bank = L.MemoryBank(n, d, momentum=m, rng=torch.Generator().manual_seed(0))
    idx = torch.tensor([4, 1])
    slots = bank.sample_negatives(idx, k=2000, rng=torch.Generator().manual_seed(1))
    assert slots.shape == (2, 2001) and torch.equal(slots[:, 0], idx)
    counts = torch.bincount(slots[:, 1:].flatten(), minlength=n).double()
    assert counts.min() > 0.8 * 400 and counts.max() < 1.2 * 400  # uniform over all 10 items
    same = bank.sample_negatives(idx, k=2000, rng=torch.Generator().manual_seed(1))
    assert torch.equal(slots, same)

    before = bank.memory.clone().double().numpy()
    feats = torch.tensor([[1.0, 2.0, 2.0], [0.0, -3.0, 4.0]])
    feats_leaf = feats.clone().requires_grad_(True)
    scores = bank.similarities(feats_leaf, slots[:, :5])
    hand = [[float(before[int(slots[b, j])] @ feats[b].double().numpy()) for j in range(5)] for b in range(2)]
    np.testing.assert_allclose(scores.detach().double().numpy(), hand, rtol=1e-5)
    scores.sum().backward()
    assert feats_leaf.grad is not None

    bank.update(idx, feats)
    after = bank.memory.double().numpy()
    for row, i in enumerate(idx.tolist()):
        mixed = m * before[i] + (1 - m) * feats[row].double().numpy()
        np.testing.assert_allclose(after[i], mixed / np.linalg.norm(mixed), rtol=1e-6)
    untouched = [i for i in range(n) if i not in idx.tolist()]
    np.testing.assert_array_equal(after[untouched], before[untouched])


def test_memory_bank_errors():
    g = torch.Generator().manual_seed(0)
    bank = L.MemoryBank(5, 3, rng=g)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        bank.sample_negatives(torch.tensor([5]), 2, g)
    with pytest.raises(ValueError, match="must not repeat"):
        bank.update(torch.tensor([1, 1]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        bank.update(torch.tensor([1, 2]), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"^rng must be an int seed or a torch.Generator, got float$"):
        L.MemoryBank(5, 3, rng=0.5)
    with pytest.raises(ValueError, match=r"^rng must be an int seed or a torch.Generator, got str$"):
        bank.sample_negatives(torch.tensor([1]), 2, "0")
    with pytest.raises(ValueError, match=r"^momentum must be >= 0.0 and <= 1.0, got 1.5$"):
        L.MemoryBank(5, 3, momentum=1.5, rng=g)
    with pytest.raises(ValueError, match=r"^k must be an integer >= 1, got 0$"):
        bank.sample_negatives(torch.tensor([1]), 0, g)
    with pytest.raises(ValueError, match=r"^dim must be an integer >= 1, got 2.0$"):
        L.MemoryBank(5, 2.0, rng=g)


def test_memory_bank_int_rng_is_a_seed():
    """``rng=3`` draws what ``rng=torch.Generator().manual_seed(3)`` draws (``make_generator``)."""
    assert torch.equal(L.MemoryBank(20, 4, rng=3).memory,
                       L.MemoryBank(20, 4, rng=torch.Generator().manual_seed(3)).memory)
    bank, idx = L.MemoryBank(20, 4, rng=0), torch.tensor([2, 5])
    assert torch.equal(bank.sample_negatives(idx, 50, rng=7),
                       bank.sample_negatives(idx, 50, rng=torch.Generator().manual_seed(7)))


def _nce_by_hand(s, n_items, tau, z):
    b_size, kp1 = s.shape
    k = kp1 - 1
    pn = 1.0 / n_items
    total = 0.0
    for b in range(b_size):
        p = [math.exp(s[b, j] / tau) / z for j in range(kp1)]
        total += math.log(p[0] / (p[0] + k * pn))
        total += sum(math.log(k * pn / (p[j] + k * pn)) for j in range(1, kp1))
    return -total / b_size


def test_nce_loss_with_fixed_z():
    n_items, tau = 50, 0.3
    s1 = RNG.uniform(-1, 1, size=(4, 6))
    s2 = RNG.uniform(-1, 1, size=(4, 6))
    z1 = np.exp(s1 / tau).mean() * n_items
    nce = L.NCELoss(n_items, temperature=tau)
    assert math.isnan(nce.z)
    assert nce(t(s1)).item() == pytest.approx(_nce_by_hand(s1, n_items, tau, z1), rel=1e-6)
    assert nce.z == pytest.approx(z1, rel=1e-6)
    # second batch: Z stays the first batch's
    assert nce(t(s2)).item() == pytest.approx(_nce_by_hand(s2, n_items, tau, z1), rel=1e-6)
    state = nce.state_dict()
    assert set(state) == {"log_z", "z_fixed"}
    fresh = L.NCELoss(n_items, temperature=tau)
    fresh.load_state_dict(state)
    assert fresh(t(s2)).item() == pytest.approx(_nce_by_hand(s2, n_items, tau, z1), rel=1e-6)
    # re-estimated every batch
    z2 = np.exp(s2 / tau).mean() * n_items
    free = L.NCELoss(n_items, temperature=tau, fix_z=False)
    free(t(s1))
    assert free(t(s2)).item() == pytest.approx(_nce_by_hand(s2, n_items, tau, z2), rel=1e-6)
    nce.reset_z()
    nce(t(s2))
    assert nce.z == pytest.approx(z2, rel=1e-6)


def test_nce_softmax_loss():
    tau = 0.1
    s = RNG.uniform(-1, 1, size=(3, 5))
    expected = -np.mean([log_softmax_first(list(s[b] / tau)) for b in range(3)])
    assert L.NCESoftmaxLoss(tau)(t(s)).item() == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="K >= 1"):
        L.NCESoftmaxLoss()(torch.zeros(3, 1))
    with pytest.raises(ValueError, match="num_items"):
        L.NCELoss(0)


# -- Deep InfoMax ---------------------------------------------------------------------------------
def test_local_global_scores_index_convention():
    bsz, c, h, w = 3, 4, 2, 2
    local = RNG.normal(size=(bsz, c, h, w))
    glob = RNG.normal(size=(bsz, c))
    u = L.local_global_scores(t(local), t(glob))
    assert u.shape == (bsz, bsz, h * w)
    for i in range(bsz):
        for j in range(bsz):
            for y in range(h):
                for x in range(w):
                    assert u[i, j, y * w + x].item() == pytest.approx(float(glob[i] @ local[j, :, y, x]), rel=1e-12)
    flat = np.transpose(local.reshape(bsz, c, h * w), (0, 2, 1))  # (B, L, C)
    assert torch.allclose(L.local_global_scores(t(flat), t(glob)), u)
    with pytest.raises(ValueError, match="agree on B and C"):
        L.local_global_scores(t(local), t(glob[:, :3]))
    with pytest.raises(ValueError, match=r"\(B, C, H, W\) or \(B, L, C\)"):
        L.local_global_scores(t(glob), t(glob))


U = RNG.normal(size=(3, 3, 2))  # scores u[i, j, l]


def _pos_neg_lists(u):
    n, _, n_loc = u.shape
    pos = [u[i, i, l] for i in range(n) for l in range(n_loc)]
    neg = [u[i, j, l] for i in range(n) for j in range(n) if i != j for l in range(n_loc)]
    return pos, neg


def test_infomax_jsd_gan_dv():
    pos, neg = _pos_neg_lists(U)
    jsd = np.mean([softplus(-x) + x - math.log(2) for x in neg]) - np.mean([math.log(2) - softplus(-x) for x in pos])
    gan = np.mean([softplus(-x) + x for x in neg]) - np.mean([-softplus(-x) for x in pos])
    dv = math.log(np.mean([math.exp(x) for x in neg])) - np.mean(pos)
    assert L.infomax_loss(t(U), "jsd").item() == pytest.approx(jsd, rel=1e-10)
    assert L.infomax_loss(t(U)).item() == pytest.approx(jsd, rel=1e-10)  # the default
    assert L.infomax_loss(t(U), "gan").item() == pytest.approx(gan, rel=1e-10)
    assert L.infomax_loss(t(U), "dv").item() == pytest.approx(dv, rel=1e-10)
    big = L.infomax_loss(t(U + 1000.0), "dv").item()  # max-shifted: no overflow
    assert big == pytest.approx(dv, rel=1e-8)


def test_infomax_infonce_masks_self_pairs():
    n, _, n_loc = U.shape
    exact, reference = 0.0, 0.0
    for i in range(n):
        for l in range(n_loc):
            negs = [U[i, j, m] for j in range(n) if j != i for m in range(n_loc)]
            exact -= log_softmax_first([U[i, i, l]] + negs)
            reference -= log_softmax_first([U[i, i, l]] + negs + [-10.0] * n_loc)
    exact, reference = exact / (n * n_loc), reference / (n * n_loc)
    assert L.infomax_loss(t(U), "infonce").item() == pytest.approx(exact, rel=1e-10)
    assert L.infomax_loss(t(U), "infonce", reference_masking=True).item() == pytest.approx(reference, rel=1e-10)
    assert reference != pytest.approx(exact, rel=1e-9)


def test_infomax_errors():
    with pytest.raises(ValueError, match=r"^estimator must be one of 'jsd', 'gan', 'dv', 'infonce'; got 'mine'$"):
        L.infomax_loss(t(U), "mine")
    with pytest.raises(ValueError, match=r"\(B, B, L\)"):
        L.infomax_loss(t(U[:2]), "jsd")
    with pytest.raises(ValueError, match="B >= 2"):
        L.infomax_loss(t(U[:1, :1]), "jsd")


def test_prior_matching_losses():
    d_prior = RNG.normal(size=4)
    d_enc = RNG.normal(size=4)
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    disc_expected = -np.mean([math.log(sig(x)) for x in d_prior]) - np.mean([math.log(1 - sig(x)) for x in d_enc])
    gen_expected = -np.mean([math.log(sig(x)) for x in d_enc])
    assert L.prior_discriminator_loss(t(d_prior), t(d_enc)).item() == pytest.approx(disc_expected, rel=1e-10)
    assert L.prior_generator_loss(t(d_enc)).item() == pytest.approx(gen_expected, rel=1e-10)

    disc = nn.Linear(3, 1).double()
    y = t(A, True)
    pm = L.PriorMatchingLoss("uniform")
    g = torch.Generator().manual_seed(0)
    prior = pm.sample_prior(y, torch.Generator().manual_seed(0))
    assert torch.equal(pm.sample_prior(y, rng=0), prior)  # an int rng is a seed
    assert prior.min() >= 0 and prior.max() <= 1 and prior.shape == y.shape
    d_loss = pm.discriminator_loss(disc, y, g)
    with torch.no_grad():
        hand = L.prior_discriminator_loss(disc(prior).flatten(), disc(torch.sigmoid(y)).flatten())
    assert d_loss.item() == pytest.approx(hand.item(), rel=1e-12)
    d_loss.backward()
    assert y.grad is None and disc.weight.grad is not None  # the encoder is detached
    g_loss = pm.generator_loss(disc, y)
    with torch.no_grad():
        assert g_loss.item() == pytest.approx(L.prior_generator_loss(disc(torch.sigmoid(y)).flatten()).item())
    g_loss.backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"^prior must be one of 'uniform', 'gaussian'; got 'laplace'$"):
        L.PriorMatchingLoss("laplace")
    with pytest.raises(ValueError, match="one logit per code"):
        pm.generator_loss(nn.Linear(3, 2).double(), y)
