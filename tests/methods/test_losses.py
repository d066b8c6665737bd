"""Loss terms of the VAE family against values worked out independently (math / numpy loops)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from disentkit.methods import losses as L
from disentkit.methods.ada_gvae import adaptive_shared_mask, aggregate_posterior, pair_divergence
from disentkit.methods.annealed_vae import annealed_capacity
from disentkit.methods.factor_vae import discriminator_loss, factor_vae_tc, permute_dims

MU = [[0.5, -1.0], [0.0, 2.0], [1.5, 0.25]]
LOGVAR = [[0.0, math.log(2.0)], [-1.0, 0.5], [0.3, -0.7]]
Z = [[0.2, -0.5], [0.1, 1.5], [1.0, 0.0]]


def t(x):
    return torch.tensor(x, dtype=torch.float64)


def normal_logpdf(x, m, lv):
    return -0.5 * math.log(2 * math.pi) - 0.5 * lv - (x - m) ** 2 / (2 * math.exp(lv))


def logsumexp(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


# -- reconstruction and KL -------------------------------------------------------------------------
def test_kl_matches_closed_form_per_entry():
    kl = L.gaussian_kl(t(MU), t(LOGVAR))
    assert kl.shape == (3, 2)
    for i, d in itertools.product(range(3), range(2)):
        m, lv = MU[i][d], LOGVAR[i][d]
        # KL(N(m, s2) || N(0, 1)) = log(1/s) + (s2 + m^2)/2 - 1/2
        expected = -0.5 * lv + (math.exp(lv) + m * m) / 2 - 0.5
        assert kl[i, d].item() == pytest.approx(expected, rel=1e-12)
    assert L.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)).abs().max().item() == 0.0


def test_bernoulli_and_mse_sum_over_pixels_mean_over_batch():
    logits = t([[[[0.0, 2.0], [-1.0, 3.0]]], [[[1.0, -2.0], [0.5, 0.0]]]])  # (2, 1, 2, 2)
    target = t([[[[1.0, 0.25], [0.0, 1.0]]], [[[0.5, 0.0], [1.0, 0.75]]]])
    bce, sq = [], []
    for b in range(2):
        total_bce = total_sq = 0.0
        for y, x in itertools.product(range(2), range(2)):
            l, v = logits[b, 0, y, x].item(), target[b, 0, y, x].item()
            p = 1 / (1 + math.exp(-l))
            total_bce += -(v * math.log(p) + (1 - v) * math.log(1 - p))
            total_sq += (p - v) ** 2
        bce.append(total_bce)
        sq.append(total_sq)
    assert L.bernoulli_reconstruction(logits, target).item() == pytest.approx(np.mean(bce), rel=1e-12)
    assert L.mse_reconstruction(logits, target).item() == pytest.approx(np.mean(sq), rel=1e-12)
    assert L.reconstruction_loss(logits, target, "bernoulli").item() == pytest.approx(np.mean(bce))
    with pytest.raises(ValueError, match="bernoulli, mse, box_blur"):
        L.reconstruction_loss(logits, target, "l1")


def direct_box_blur(img: np.ndarray, r: int) -> np.ndarray:
    """A slow 'same' 2-D convolution with a (2r+1)^2 uniform kernel and zero padding."""
    out = np.zeros_like(img)
    h, w = img.shape[-2:]
    for y, x in itertools.product(range(h), range(w)):
        acc = np.zeros(img.shape[:-2])
        for dy, dx in itertools.product(range(-r, r + 1), range(-r, r + 1)):
            if 0 <= y + dy < h and 0 <= x + dx < w:
                acc = acc + img[..., y + dy, x + dx]
        out[..., y, x] = acc / (2 * r + 1) ** 2
    return out


@pytest.mark.parametrize("radius", [0, 1, 2, 6])
def test_box_blur_equals_direct_convolution(radius):
    img = np.random.default_rng(0).random((2, 3, 5, 7))
    got = L.box_blur(torch.from_numpy(img), radius).numpy()
    np.testing.assert_allclose(got, direct_box_blur(img, radius), rtol=1e-12, atol=1e-14)


def test_box_blur_reconstruction_value():
    rng = np.random.default_rng(1)
    logits, target = rng.normal(size=(2, 1, 6, 6)), rng.random((2, 1, 6, 6))
    recon = 1 / (1 + np.exp(-logits))
    r, wk = 2, 25.0
    expected = ((recon - target) ** 2).sum() / 2 + wk * (
        (direct_box_blur(recon, r) - direct_box_blur(target, r)) ** 2).sum() / 2
    got = L.box_blur_reconstruction(torch.from_numpy(logits), torch.from_numpy(target), r, wk).item()
    assert got == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match=r"^radius must be an integer >= 0, got -1$"):
        L.box_blur(torch.zeros(1, 1, 4, 4), -1)


# -- beta-TCVAE estimators ---------------------------------------------------------------------------
def test_pairwise_log_density_entries():
    dens = L.pairwise_log_density(t(Z), t(MU), t(LOGVAR))
    assert dens.shape == (3, 3, 2)
    for i, j, d in itertools.product(range(3), range(3), range(2)):
        assert dens[i, j, d].item() == pytest.approx(normal_logpdf(Z[i][d], MU[j][d], LOGVAR[j][d]))


def expected_estimates(log_w):
    """log q(z_i) and log prod_d q(z_id) by explicit loops, with weights log_w[i][j]."""
    log_qz, log_prod = [], []
    for i in range(3):
        joint = [log_w[i][j] + sum(normal_logpdf(Z[i][d], MU[j][d], LOGVAR[j][d]) for d in range(2))
                 for j in range(3)]
        log_qz.append(logsumexp(joint))
        log_prod.append(sum(
            logsumexp([log_w[i][j] + normal_logpdf(Z[i][d], MU[j][d], LOGVAR[j][d]) for j in range(3)])
            for d in range(2)))
    return np.array(log_qz), np.array(log_prod)


def test_mws_and_dlib_estimates_by_loops():
    n = 100
    const = -math.log(n * 3)
    exp_qz, exp_prod = expected_estimates([[const] * 3] * 3)
    qz, prod = L.log_qz_estimates(t(Z), t(MU), t(LOGVAR), "mws", n)
    np.testing.assert_allclose(qz.numpy(), exp_qz, rtol=1e-12)
    np.testing.assert_allclose(prod.numpy(), exp_prod, rtol=1e-12)
    qz_d, prod_d = L.log_qz_estimates(t(Z), t(MU), t(LOGVAR), "dlib")
    np.testing.assert_allclose(qz_d.numpy(), exp_qz - const, rtol=1e-12)
    np.testing.assert_allclose(prod_d.numpy(), exp_prod - 2 * const, rtol=1e-12)
    tc_mws = L.total_correlation(t(Z), t(MU), t(LOGVAR), "mws", n).item()
    tc_dlib = L.total_correlation(t(Z), t(MU), t(LOGVAR), "dlib").item()
    assert tc_mws == pytest.approx(np.mean(exp_qz - exp_prod))
    assert tc_dlib - tc_mws == pytest.approx(-(2 - 1) * math.log(n * 3))  # -(D-1) log(N B)


def chen_mss_matrix(batch: int, n: int) -> np.ndarray:
    """Chen App. C.2 with batch size B: own point 1/N, the stratum point (N-B+1)/(N(B-1)), else 1/(B-1)."""
    w = np.full((batch, batch), 1 / (batch - 1))
    for i in range(batch):
        w[i, i] = 1 / n
        w[i, (i + 1) % batch] = (n - batch + 1) / (n * (batch - 1))
    return w


def test_mss_weight_matrix_corrected():
    w = L.mss_log_weights(3, 10).exp().numpy()
    np.testing.assert_allclose(w, [[0.1, 0.4, 0.5], [0.5, 0.1, 0.4], [0.4, 0.5, 0.1]], rtol=1e-12)
    w5 = L.mss_log_weights(5, 1000).exp().numpy()
    np.testing.assert_allclose(w5, chen_mss_matrix(5, 1000), rtol=1e-12)
    np.testing.assert_allclose(w5.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(np.diag(w5), 1 / 1000)
    with pytest.raises(ValueError, match="dataset_size"):
        L.mss_log_weights(5, 4)


def test_mss_reference_bug_matrix():
    bug = L.mss_log_weights(3, 10, reference_bug=True).exp().numpy()
    # official code: 1/N in column 0, stratum weight (0.4) in column 1 and at W[M-1, 0] = W[1, 0]
    np.testing.assert_allclose(bug, [[0.1, 0.4, 0.5], [0.4, 0.4, 0.5], [0.1, 0.4, 0.5]], rtol=1e-12)
    b, n = 6, 1000
    m = b - 1
    bug = L.mss_log_weights(b, n, reference_bug=True).exp().numpy()
    good = chen_mss_matrix(b, n)
    assert not np.allclose(np.diag(bug)[2:], 1 / n)  # the self-term is 1/M for rows >= 2
    np.testing.assert_allclose(np.diag(bug)[2:], 1 / m)
    sums = bug.sum(1)
    assert sums[m - 1] == pytest.approx(1 + 1 / m - 2 / n)  # about 1 + 1/M
    np.testing.assert_allclose(np.delete(sums, m - 1), 1.0)
    differs = ~np.isclose(bug, good).all(axis=1)
    assert differs.tolist() == [False] + [True] * (b - 1)  # only row 0 is right


def test_mss_estimates_by_loops():
    n = 10
    for bug in (False, True):
        w = L.mss_log_weights(3, n, reference_bug=bug).exp().numpy()
        exp_qz, exp_prod = expected_estimates(np.log(w).tolist())
        qz, prod = L.log_qz_estimates(t(Z), t(MU), t(LOGVAR), "mss_reference_bug" if bug else "mss", n)
        np.testing.assert_allclose(qz.numpy(), exp_qz, rtol=1e-12)
        np.testing.assert_allclose(prod.numpy(), exp_prod, rtol=1e-12)
    with pytest.raises(ValueError, match="mss, mws, mss_reference_bug, dlib"):
        L.log_qz_estimates(t(Z), t(MU), t(LOGVAR), "iwae", n)
    with pytest.raises(ValueError, match="dataset_size"):
        L.log_qz_estimates(t(Z), t(MU), t(LOGVAR), "mss", None)


# -- DIP-VAE -----------------------------------------------------------------------------------------
def test_dip_covariance_and_penalties():
    mu = np.array([[1.0, 2.0], [3.0, 0.0], [-1.0, 1.0]])
    logvar = np.array([[0.0, 1.0], [-1.0, 0.0], [0.5, -0.5]])
    mean = mu.mean(0)
    cov = sum(np.outer(r - mean, r - mean) for r in mu) / 3  # biased
    np.testing.assert_allclose(L.biased_covariance(t(mu.tolist())).numpy(), cov, rtol=1e-12)
    lam_od, lam_d = 2.0, 20.0
    pen_i = lam_od * 2 * cov[0, 1] ** 2 + lam_d * ((cov[0, 0] - 1) ** 2 + (cov[1, 1] - 1) ** 2)
    got_i = L.dip_penalty(L.dip_covariance(t(mu.tolist()), t(logvar.tolist()), "i"), lam_od, lam_d)
    assert got_i.item() == pytest.approx(pen_i, rel=1e-12)
    cov2 = cov + np.diag(np.exp(logvar).mean(0))
    pen_ii = lam_od * 2 * cov2[0, 1] ** 2 + lam_od * ((cov2[0, 0] - 1) ** 2 + (cov2[1, 1] - 1) ** 2)
    got_ii = L.dip_penalty(L.dip_covariance(t(mu.tolist()), t(logvar.tolist()), "ii"), lam_od, lam_od)
    assert got_ii.item() == pytest.approx(pen_ii, rel=1e-12)
    with pytest.raises(ValueError, match="'i', 'ii'"):
        L.dip_covariance(t(mu.tolist()), t(logvar.tolist()), "iii")


# -- HFS ---------------------------------------------------------------------------------------------
def test_hfs_two_dimensional_example():
    # Points on a diagonal: the product support adds the corners (0, 2) and (2, 0).
    codes = t([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    # corner (0, 2): squared distances to the actual points 8, 2, 4 -> min 2; (2, 0) likewise.
    assert L.hausdorff_factorized_support(codes, torch.tensor([[0, 1]])).item() == pytest.approx(2.0)
    # A full grid has a factorised support: zero.
    grid = t([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert L.hausdorff_factorized_support(grid, torch.tensor([[0, 1]])).item() == 0.0
    # Sum over pairs, brute force on a random 3-D example.
    rng = np.random.default_rng(0)
    c = rng.normal(size=(4, 3))
    pairs = [(0, 1), (1, 2), (0, 2)]
    expected = 0.0
    for i, j in pairs:
        worst = max(min((c[a, i] - c[b, i]) ** 2 + (c[k, j] - c[b, j]) ** 2 for b in range(4))
                    for a in range(4) for k in range(4))
        expected += worst
    got = L.hausdorff_factorized_support(torch.from_numpy(c), torch.tensor(pairs)).item()
    assert got == pytest.approx(expected, rel=1e-12)


def test_hfs_gradient_matches_brute_force():
    codes = torch.from_numpy(np.random.default_rng(2).normal(size=(5, 3))).requires_grad_()
    pairs = [(0, 2), (1, 2)]
    brute = sum(
        torch.stack([torch.stack([(codes[a, i] - codes[b, i]) ** 2 + (codes[k, j] - codes[b, j]) ** 2
                                  for b in range(5)]).min() for a in range(5) for k in range(5)]).max()
        for i, j in pairs)
    (g_brute,) = torch.autograd.grad(brute, codes)
    value = L.hausdorff_factorized_support(codes, torch.tensor(pairs))
    (g_fast,) = torch.autograd.grad(value, codes)
    assert value.item() == pytest.approx(brute.item(), rel=1e-12)
    assert torch.allclose(g_fast, g_brute, atol=1e-12)
    assert g_fast.abs().sum() > 0


def _brute_distances(codes, i, j):
    n = codes.shape[0]
    return torch.stack([torch.stack([(codes[a, i] - codes[b, i]) ** 2 + (codes[k, j] - codes[b, j]) ** 2
                                     for b in range(n)]) for a in range(n) for k in range(n)])  # (n^2, n)


def test_hfs_mean_and_soft_matchings_against_brute_force():
    codes = torch.from_numpy(np.random.default_rng(3).normal(size=(4, 3))).requires_grad_()
    pairs = [(0, 1), (0, 2)]
    mean_brute = sum(_brute_distances(codes, i, j).min(dim=1).values.mean() for i, j in pairs)
    tau1, tau2 = 0.5, 2.0

    def soft(d):  # sum_b softmax(-d/τ1) d, then sum_f softmax(m/τ2) m
        w = torch.exp(-d / tau1)
        m = (w / w.sum(dim=1, keepdim=True) * d).sum(dim=1)
        v = torch.exp(m / tau2)
        return (v / v.sum() * m).sum()

    soft_brute = sum(soft(_brute_distances(codes, i, j)) for i, j in pairs)
    for matching, brute, temps in (("hausdorff_hard_mean", mean_brute, (1.0, 1.0)),
                                   ("hausdorff_soft_full", soft_brute, (tau1, tau2))):
        value = L.hausdorff_factorized_support(codes, torch.tensor(pairs), matching, temps)
        assert value.item() == pytest.approx(brute.item(), rel=1e-12)
        (g_fast,) = torch.autograd.grad(value, codes)
        (g_brute,) = torch.autograd.grad(brute, codes, retain_graph=True)
        assert torch.allclose(g_fast, g_brute, atol=1e-12)
    # a factorised support is zero under the hard matchings; the soft one is positive but smaller
    grid = t([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert L.hausdorff_factorized_support(grid, torch.tensor([[0, 1]]), "hausdorff_hard_mean").item() == 0.0
    diagonal = t([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    hard = L.hausdorff_factorized_support(diagonal, torch.tensor([[0, 1]]))
    assert 0 < L.hausdorff_factorized_support(diagonal, torch.tensor([[0, 1]]), "hausdorff_hard_mean") < hard
    with pytest.raises(ValueError, match="matching must be one of hausdorff_hard, hausdorff_hard_mean"):
        L.hausdorff_factorized_support(diagonal, torch.tensor([[0, 1]]), "hausdorff_prob")


def test_latent_pair_sampling():
    gen = torch.Generator().manual_seed(0)
    pairs = L.sample_latent_pairs(10, 25, gen)
    assert pairs.shape == (25, 2)
    assert (pairs[:, 0] < pairs[:, 1]).all() and pairs.max() < 10
    assert len({tuple(p) for p in pairs.tolist()}) == 25
    assert L.sample_latent_pairs(3, 25, gen).shape == (3, 2)  # capped at D(D-1)/2
    again = L.sample_latent_pairs(10, 25, torch.Generator().manual_seed(0))
    assert torch.equal(pairs, again)
    assert torch.equal(L.sample_latent_pairs(10, 25, rng=0), pairs)  # an int rng is a seed


# -- FactorVAE, AnnealedVAE, Ada-GVAE -----------------------------------------------------------------
def test_factor_vae_tc_and_discriminator_signs():
    logits = t([[2.0, -1.0], [0.5, 0.5], [1.0, 3.0]])
    assert factor_vae_tc(logits).item() == pytest.approx((3.0 + 0.0 - 2.0) / 3)
    real_says_real = t([[3.0, -3.0]] * 4)
    real_says_fake = t([[-3.0, 3.0]] * 4)
    fake_says_fake = t([[-3.0, 3.0]] * 4)
    good = discriminator_loss(real_says_real, fake_says_fake).item()
    bad = discriminator_loss(real_says_fake, real_says_real).item()
    assert good < math.log(2) < bad
    p = 1 / (1 + math.exp(-6.0))  # softmax of (3, -3)
    assert good == pytest.approx(-math.log(p))
    assert bad == pytest.approx(-math.log(1 - p))
    # probabilities are clipped at 1e-6: a confidently wrong discriminator costs at most -log(1e-6)
    assert discriminator_loss(t([[-100.0, 100.0]]), t([[100.0, -100.0]])).item() == pytest.approx(
        -math.log(1e-6), rel=1e-6)


def test_permute_dims_shuffles_each_column():
    z = torch.arange(40.0).view(8, 5)
    perm = permute_dims(z, torch.Generator().manual_seed(3))
    for d in range(5):
        assert sorted(perm[:, d].tolist()) == z[:, d].tolist()
    assert not torch.equal(perm, z)
    columns = [tuple((perm[:, d] - d).tolist()) for d in range(5)]
    assert len(set(columns)) > 1  # the columns use different permutations
    assert torch.equal(permute_dims(z, rng=3), perm)  # an int rng is a seed


def test_annealed_capacity_schedule():
    assert annealed_capacity(0, 25.0, 1000) == 0.0
    assert annealed_capacity(500, 25.0, 1000) == pytest.approx(12.5)
    assert annealed_capacity(1000, 25.0, 1000) == pytest.approx(25.0)
    assert annealed_capacity(2000, 25.0, 1000) == pytest.approx(25.0)


def test_ada_gvae_shared_dims_and_aggregates():
    mu1 = t([[0.0, 0.0, 0.0, 0.0]])
    lv1 = t([[0.0, 0.0, 0.0, 0.0]])
    mu2 = t([[0.1, 3.0, 1.0, 2.0]])
    lv2 = t([[0.0, 0.0, 0.0, 0.0]])
    delta = pair_divergence(mu1, lv1, mu2, lv2)
    np.testing.assert_allclose(delta.numpy(), [[0.01, 9.0, 1.0, 4.0]], rtol=1e-12)  # (mu2-mu1)^2
    # midpoint (0.01 + 9) / 2 = 4.505: dims 0, 2, 3 shared, dim 1 keeps its own posterior
    assert adaptive_shared_mask(delta).tolist() == [[True, False, True, True]]
    assert adaptive_shared_mask(t([[1.0, 1.0, 1.0]])).tolist() == [[False, False, False]]
    # delta with unequal variances: s1^2/s2^2 + (m2-m1)^2/s2^2 - 1 + log s2^2 - log s1^2
    d = pair_divergence(t([[1.0]]), t([[math.log(2.0)]]), t([[2.0]]), t([[math.log(4.0)]])).item()
    assert d == pytest.approx(2 / 4 + 1 / 4 - 1 + math.log(4) - math.log(2))
    m_a, v_a = t([[1.0, -1.0]]), t([[2.0, 0.5]])
    m_b, v_b = t([[3.0, 1.0]]), t([[6.0, 0.5]])
    g_mu, g_lv = aggregate_posterior(m_a, v_a.log(), m_b, v_b.log(), "gvae")
    np.testing.assert_allclose(g_mu.numpy(), [[2.0, 0.0]])
    np.testing.assert_allclose(g_lv.exp().numpy(), [[4.0, 0.5]], rtol=1e-12)
    ml_mu, ml_lv = aggregate_posterior(m_a, v_a.log(), m_b, v_b.log(), "mlvae")
    # var = 2*2*6/(2+6) = 3, mean = (1/2 + 3/6) * 3 / 2 = 1.5; dim 1: var 0.5, mean 0
    np.testing.assert_allclose(ml_lv.exp().numpy(), [[3.0, 0.5]], rtol=1e-12)
    np.testing.assert_allclose(ml_mu.numpy(), [[1.5, 0.0]], atol=1e-12)
    with pytest.raises(ValueError, match="gvae, mlvae"):
        aggregate_posterior(m_a, v_a, m_b, v_b, "mean")


def test_vae_config_selects_the_hfs_matching():
    from disentkit import methods
    from disentkit.methods.losses import sample_latent_pairs

    x = torch.rand(8, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    for matching in L.HFS_MATCHINGS:
        model = methods.get("beta_vae", (1, 64, 64), seed=0, beta=0.0, hfs_gamma=5.0, hfs_matching=matching,
                            hfs_temperatures=(0.5, 2.0))
        twin = methods.get("beta_vae", (1, 64, 64), seed=0)
        terms = model(x, 0)
        mu, logvar = twin.encode(x)  # the same weights (same seed), so the same means
        twin.sample_latent(mu, logvar)  # the draws forward makes before the pairs
        pairs = sample_latent_pairs(10, 25, twin.generator)
        want = L.hausdorff_factorized_support(mu, pairs, matching, (0.5, 2.0))
        assert terms["hfs"].item() == pytest.approx(want.item(), rel=1e-6)
        assert terms["loss"].item() == pytest.approx(terms["reconstruction"].item() + 5.0 * want.item(), rel=1e-5)
    with pytest.raises(ValueError, match="hfs_matching must be one of"):
        methods.config_for("beta_vae", {"hfs_matching": "hausdorff_prob"})
    with pytest.raises(ValueError, match=r"hfs_temperatures\[1\] must be > 0.0"):
        methods.config_for("beta_tc_vae", {"hfs_temperatures": (1.0, 0.0)})
