"""Loss terms of the VAE family, as plain tensor functions.

Reduction convention (spec ``methods_vae.md`` §0, disentanglement_lib, Chen, HFS): every
reconstruction loss is **summed over pixels and channels and averaged over the batch**; the KL is
summed over the D latents and averaged over the batch. β, γ and C values from the reference study
therefore carry over unchanged.

Notation: a batch of B posteriors ``q(z|x_i) = N(mu_i, diag exp(logvar_i))`` and samples ``z_i``;
N is the dataset size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from disentkit.nn.init import GeneratorLike, make_generator
from disentkit.validation import check_int

RECONSTRUCTIONS = ("bernoulli", "mse", "box_blur")
TC_ESTIMATORS = ("mss", "mws", "mss_reference_bug", "dlib")
_LOG_2PI = math.log(2.0 * math.pi)


# -- reconstruction -------------------------------------------------------------------------------
def bernoulli_reconstruction(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sigmoid cross-entropy on logits, summed per image, averaged over the batch.

    ``mean_b sum_p [softplus(l) - x*l]`` = ``mean_b sum_p -[x log s(l) + (1-x) log(1-s(l))]``;
    targets may be non-binary intensities in [0, 1] (disentanglement_lib ``bernoulli_loss``).
    """
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


def mse_reconstruction(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Squared error of ``sigmoid(logits)`` against the images, summed per image, batch mean.

    As disentanglement_lib's ``l2_loss`` with the "logits" activation.
    """
    return F.mse_loss(torch.sigmoid(logits), target, reduction="sum") / logits.shape[0]


def _box_sum_1d(x: torch.Tensor, radius: int, dim: int) -> torch.Tensor:
    """``out[i] = sum_{|k| <= radius} x[i + k]`` along ``dim`` with zeros outside (cumulative sums)."""
    n = x.shape[dim]
    csum = torch.cumsum(x, dim=dim)
    csum = torch.cat([torch.zeros_like(csum.narrow(dim, 0, 1)), csum], dim=dim)  # S[0] = 0
    idx = torch.arange(n, device=x.device)
    upper = (idx + radius + 1).clamp(max=n)
    lower = (idx - radius).clamp(min=0)
    return csum.index_select(dim, upper) - csum.index_select(dim, lower)


def box_blur(images: torch.Tensor, radius: int = 31) -> torch.Tensor:
    """Per-channel box blur, a (2r+1) x (2r+1) uniform kernel normalised to sum 1.

    ``(k*x)[y, x] = (2r+1)^-2 * sum_{|dy|, |dx| <= r} x[y+dy, x+dx]`` with zero padding and a
    "same"-size output, the ``box_r31 ... norm_sum`` kernel of Michlo et al. (``methods_vae.md``
    §6.2; r = 31 gives the 63 x 63 kernel). The kernel is separable, so it is computed exactly as
    two 1-D running sums (cumulative sums): O(H*W) per channel whatever the radius.
    """
    radius = check_int("radius", radius, 0)
    if images.dim() != 4:
        raise ValueError(f"expected images (B, C, H, W), got shape {tuple(images.shape)}")
    out = _box_sum_1d(_box_sum_1d(images, radius, 2), radius, 3)
    return out / float((2 * radius + 1) ** 2)


def box_blur_reconstruction(
    logits: torch.Tensor, target: torch.Tensor, radius: int = 31,
    blur_weight: float = 3969.0, mse_weight: float = 1.0,
) -> torch.Tensor:
    """Michlo et al.'s augmented loss ``w_l*MSE(x^, x) + w_k*MSE(k*x^, k*x)`` (``methods_vae.md`` §6.2).

    ``x^ = sigmoid(logits)``, k a box blur (:func:`box_blur`); both squared errors are summed per
    image and averaged over the batch (our convention, see the module docstring). The defaults
    ``w_l = 1``, ``w_k = 3969 = 63^2``, r = 31 are the paper's ``mse_box_r31_l1.0_k3969.0_norm_sum``.
    """
    recon = torch.sigmoid(logits)
    b = logits.shape[0]
    plain = F.mse_loss(recon, target, reduction="sum") / b
    blurred = F.mse_loss(box_blur(recon, radius), box_blur(target, radius), reduction="sum") / b
    return mse_weight * plain + blur_weight * blurred


def reconstruction_loss(
    logits: torch.Tensor, target: torch.Tensor, kind: str = "bernoulli",
    blur_radius: int = 31, blur_weight: float = 3969.0,
) -> torch.Tensor:
    """The reconstruction loss named ``kind`` (``"bernoulli"``, ``"mse"`` or ``"box_blur"``)."""
    if kind == "bernoulli":
        return bernoulli_reconstruction(logits, target)
    if kind == "mse":
        return mse_reconstruction(logits, target)
    if kind == "box_blur":
        return box_blur_reconstruction(logits, target, blur_radius, blur_weight)
    raise ValueError(f"unknown reconstruction {kind!r}; valid: {', '.join(RECONSTRUCTIONS)}")


# -- KL and Gaussian densities --------------------------------------------------------------------
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-dimension ``KL(N(mu, e^logvar) || N(0, 1)) = 0.5 (mu^2 + e^logvar - logvar - 1)``.

    Returns (B, D); the VAE's KL term is ``.sum(1).mean()``.
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(z; mu, e^logvar) = -0.5 (log 2 pi + logvar + (z - mu)^2 e^-logvar)``."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def pairwise_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``L[i, j, d] = log N(z_{i,d}; mu_{j,d}, e^{logvar_{j,d}})``, a (B, B, D) tensor."""
    return gaussian_log_density(z[:, None, :], mu[None, :, :], logvar[None, :, :])


# -- beta-TCVAE: minibatch estimates of log q(z) ---------------------------------------------------
def mss_log_weights(batch_size: int, dataset_size: int, reference_bug: bool = False) -> torch.Tensor:
    """Log importance weights of minibatch stratified sampling (Chen et al. 2018, App. C.2), (B, B).

    Row i (the sample z_i), column j (the conditioning point x_j); with M = B - 1:
    ``W[i, i] = 1/N`` (own datapoint), ``W[i, (i+1) mod B] = (N - M) / (N M)`` (the stratum
    point), every other entry ``1/M``. Each row sums to ``1/N + (N-M)/(NM) + (M-1)/M = 1``.

    ``reference_bug=True`` reproduces the official code's matrix (``methods_vae.md`` §1.3): the
    1/N entries land in **column 0** (flat stride M + 1 = B), the stratum weight in **column 1**
    and at ``W[M-1, 0]``; everything else is 1/M. Then the self-term of rows i >= 2 is 1/M and row
    M - 1 sums to about 1 + 1/M.
    """
    if batch_size < 2:
        raise ValueError(f"MSS needs a batch of at least 2, got {batch_size}")
    n, m = float(dataset_size), batch_size - 1
    if dataset_size <= m:
        raise ValueError(f"MSS needs dataset_size > batch_size - 1, got {dataset_size} <= {m}")
    strat = (n - m) / (n * m)
    w = torch.full((batch_size, batch_size), 1.0 / m, dtype=torch.float64)
    rows = torch.arange(batch_size)
    if reference_bug:
        w[:, 0] = 1.0 / n
        w[:, 1] = strat
        w[m - 1, 0] = strat
    else:
        w[rows, rows] = 1.0 / n
        w[rows, (rows + 1) % batch_size] = strat
    return w.log()


def log_qz_estimates(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
    estimator: str = "mss", dataset_size: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch estimates of ``log q(z_i)`` and ``log prod_d q(z_{i,d})``, each (B,).

    With ``L = pairwise_log_density(z, mu, logvar)``:

    - ``"mws"`` (minibatch weighted sampling, Chen §1.2):
      ``log q(z_i) = LSE_j sum_d L[i,j,d] - log(N B)``,
      ``log prod_d q(z_{i,d}) = sum_d [LSE_j L[i,j,d] - log(N B)]``.
    - ``"dlib"``: MWS without the ``-log(N B)`` constants (disentanglement_lib); the TC is then
      offset by ``-(D - 1) log(N B)``, with no effect on gradients.
    - ``"mss"`` (minibatch stratified sampling, Chen §1.3): ``LSE_j(log W[i,j] + sum_d L[i,j,d])``
      and ``sum_d LSE_j(log W[i,j] + L[i,j,d])`` with W from :func:`mss_log_weights`.
    - ``"mss_reference_bug"``: MSS with the official code's wrong weight matrix.

    ``dataset_size`` (N) is needed by every estimator but ``"dlib"``.
    """
    if estimator not in TC_ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; valid: {', '.join(TC_ESTIMATORS)}")
    if estimator != "dlib" and (dataset_size is None or dataset_size < 1):
        raise ValueError(f"estimator {estimator!r} needs dataset_size >= 1, got {dataset_size!r}")
    b = z.shape[0]
    log_density = pairwise_log_density(z, mu, logvar)  # (B, B, D)
    if estimator in ("mss", "mss_reference_bug"):
        log_w = mss_log_weights(b, dataset_size, estimator == "mss_reference_bug")
        log_w = log_w.to(device=z.device, dtype=log_density.dtype)
        log_qz = torch.logsumexp(log_w + log_density.sum(2), dim=1)
        log_qz_product = torch.logsumexp(log_w[:, :, None] + log_density, dim=1).sum(1)
        return log_qz, log_qz_product
    log_qz = torch.logsumexp(log_density.sum(2), dim=1)
    log_qz_product = torch.logsumexp(log_density, dim=1).sum(1)
    if estimator == "mws":
        const = math.log(dataset_size * b)
        log_qz = log_qz - const
        log_qz_product = log_qz_product - z.shape[1] * const
    return log_qz, log_qz_product


def total_correlation(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
    estimator: str = "mss", dataset_size: int | None = None,
) -> torch.Tensor:
    """Minibatch TC estimate ``mean_i [log q(z_i) - log prod_d q(z_{i,d})]`` (see :func:`log_qz_estimates`)."""
    log_qz, log_qz_product = log_qz_estimates(z, mu, logvar, estimator, dataset_size)
    return (log_qz - log_qz_product).mean()


# -- DIP-VAE --------------------------------------------------------------------------------------
def biased_covariance(x: torch.Tensor) -> torch.Tensor:
    """The batch covariance dividing by B: ``E[x x^T] - E[x] E[x]^T``, (D, D) for x (B, D)."""
    centred = x - x.mean(0, keepdim=True)
    return centred.T @ centred / x.shape[0]


def dip_penalty(cov: torch.Tensor, lambda_od: float, lambda_d: float) -> torch.Tensor:
    """``lambda_od sum_{i != j} cov_ij^2 + lambda_d sum_i (cov_ii - 1)^2`` (Kumar et al. 2018)."""
    diag = torch.diagonal(cov)
    off_diag_sq = cov.pow(2).sum() - diag.pow(2).sum()
    return lambda_od * off_diag_sq + lambda_d * (diag - 1.0).pow(2).sum()


def dip_covariance(mu: torch.Tensor, logvar: torch.Tensor, dip_type: str) -> torch.Tensor:
    """The matrix DIP-VAE pushes towards I: ``Cov[mu]`` (``"i"``) or ``Cov[mu] + diag E[e^logvar]`` (``"ii"``)."""
    cov = biased_covariance(mu)
    if dip_type == "i":
        return cov
    if dip_type == "ii":
        return cov + torch.diag(logvar.exp().mean(0))
    raise ValueError(f"unknown dip_type {dip_type!r}; valid: 'i', 'ii'")


# -- HFS ------------------------------------------------------------------------------------------
def sample_latent_pairs(latent_dim: int, num_pairs: int, rng: GeneratorLike) -> torch.Tensor:
    """``min(num_pairs, D(D-1)/2)`` distinct pairs ``(i, j)``, i < j, uniformly without replacement, (P, 2).

    The permutation is drawn from ``rng`` (a CPU ``torch.Generator``, advanced by the draw, or an
    int seed).
    """
    all_pairs = torch.triu_indices(latent_dim, latent_dim, offset=1).T  # (D(D-1)/2, 2)
    p = min(num_pairs, all_pairs.shape[0])
    order = torch.randperm(all_pairs.shape[0], generator=make_generator(rng))[:p]
    return all_pairs[order]


HFS_MATCHINGS = ("hausdorff_hard", "hausdorff_hard_mean", "hausdorff_soft_full")


def hausdorff_factorized_support(codes: torch.Tensor, pairs: torch.Tensor, matching: str = "hausdorff_hard",
                                 temperatures: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """HFS, the pairwise Hausdorff support distance, summed over ``pairs`` (Roth et al. 2023).

    For a pair (i, j): the actual points ``A_b = (c_{b,i}, c_{b,j})`` and every product point
    ``F_{a,c} = (c_{a,i}, c_{c,j})`` (the ``"full"`` support), with squared Euclidean distances
    ``d_{f,b} = ||F_f - A_b||^2`` (``methods_vae.md`` §3.2). ``matching``:

    - ``"hausdorff_hard"`` (default): ``HFS_ij = max_f min_b d_{f,b}``;
    - ``"hausdorff_hard_mean"``: ``mean_f min_b d_{f,b}``;
    - ``"hausdorff_soft_full"``: a soft min over b, ``m_f = sum_b softmax_b(-d_{f,:} / τ1) d_{f,b}``,
      then a softmax-weighted max over f, ``sum_f softmax_f(m / τ2) m_f`` (``temperatures`` =
      (τ1, τ2), 1 and 1 in the reference).

    Gradients flow into both point sets. ``codes`` are the posterior means (B, D); ``pairs`` is
    (P, 2). For the hard matchings the P * B^3 distance tensor (25 * 64^3 floats at the defaults)
    is built without autograd and the selected distances are recomputed with gradients, which
    gives the same (sub)gradient as differentiating through the max and min; the soft matching
    differentiates the whole tensor.
    """
    if matching not in HFS_MATCHINGS:
        raise ValueError(f"matching must be one of {', '.join(HFS_MATCHINGS)}; got {matching!r}")
    if pairs.numel() == 0:
        return codes.new_zeros(())
    pairs = pairs.to(codes.device)
    i, j = pairs[:, 0], pairs[:, 1]
    b = codes.shape[0]

    def distances(c: torch.Tensor) -> torch.Tensor:  # (P, a, c, b): ||(c_ai, c_cj) - (c_bi, c_bj)||^2
        sq = (c.T[:, :, None] - c.T[:, None, :]).pow(2)  # (D, B, B): [d, a, b] = (c_ad - c_bd)^2
        return sq[i][:, :, None, :] + sq[j][:, None, :, :]

    if matching == "hausdorff_soft_full":
        tau_min, tau_max = temperatures
        dist = distances(codes).flatten(1, 2)  # (P, B^2 product points, B actual points)
        soft_min = (torch.softmax(-dist / tau_min, dim=2) * dist).sum(dim=2)  # (P, B^2)
        return (torch.softmax(soft_min / tau_max, dim=1) * soft_min).sum()
    with torch.no_grad():  # locate the nearest actual point of every product point without a graph
        nearest = distances(codes).min(dim=3)  # over the actual points b: (P, a, c)
    if matching == "hausdorff_hard":
        flat = nearest.values.flatten(1).argmax(dim=1)[:, None]  # the worst product point (a, c)
    else:  # every product point
        flat = torch.arange(b * b, device=codes.device).expand(len(pairs), b * b)
    a_idx, c_idx = flat // b, flat % b
    b_idx = nearest.indices.flatten(1).gather(1, flat)
    # the selected distances recomputed with gradients (the subgradient flows into these points)
    value = (codes[a_idx, i[:, None]] - codes[b_idx, i[:, None]]).pow(2) \
        + (codes[c_idx, j[:, None]] - codes[b_idx, j[:, None]]).pow(2)  # (P, K)
    return value.sum() if matching == "hausdorff_hard" else value.mean(dim=1).sum()
