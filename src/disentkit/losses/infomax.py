"""Deep InfoMax: local-global critic scores, the JSD / GAN / DV / InfoNCE estimators, prior matching.

Reference: Hjelm, Fedorov, Lavoie-Marchildon, Grewal, Bachman, Trischler, Bengio, "Learning Deep
Representations by Mutual Information Estimation and Maximization" (ICLR 2019), §3.1-3.4 and the
official ``rdevon/DIM`` estimators. The critic networks (φ_L, φ_G) are parts in ``disentkit.nn``;
here everything starts from their outputs.

**Index convention.** ``u[i, j, l] = <global_i, local_j at location l>``: row i is the global
vector of image i, column j the local feature map of image j. Positives are ``i == j`` (an
image's own locals), negatives ``i != j`` (other images' locals). A local map (B, C, H, W) has
``L = H·W`` locations, numbered row-major, ``l = h·W + w``.

Each loss is the **negative** of an MI lower-bound estimate (minimise it to maximise MI).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from disentkit.losses._checks import check_features
from disentkit.nn.init import GeneratorLike, make_generator
from disentkit.validation import check_choice

ESTIMATORS = ("jsd", "gan", "dv", "infonce")
PRIORS = ("uniform", "gaussian")
_LOG2 = math.log(2.0)


def local_global_scores(local: torch.Tensor, global_: torch.Tensor) -> torch.Tensor:
    """``u[i, j, l] = <global_[i], local[j, l]>``, a (B, B, L) tensor.

    ``local`` is a feature map (B, C, H, W) (L = H·W, row-major) or already flat (B, L, C);
    ``global_`` is (B, C) (both after the critic's embeddings φ_L, φ_G, so C = ``mi_units``).
    """
    if not isinstance(local, torch.Tensor) or local.dim() not in (3, 4):
        shape = tuple(local.shape) if isinstance(local, torch.Tensor) else type(local).__name__
        raise ValueError(f"local must have shape (B, C, H, W) or (B, L, C), got {shape}")
    check_features("global_", global_)
    if local.dim() == 4:
        local = local.flatten(2).transpose(1, 2)  # (B, H*W, C)
    if local.shape[0] != global_.shape[0] or local.shape[2] != global_.shape[1]:
        raise ValueError(
            f"local (B, L, C) = {tuple(local.shape)} and global_ (B, C) = {tuple(global_.shape)} must agree on B and C")
    return torch.einsum("ic,jlc->ijl", global_, local)


def _check_scores(scores: torch.Tensor) -> None:
    if not isinstance(scores, torch.Tensor) or scores.dim() != 3 or scores.shape[0] != scores.shape[1]:
        shape = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise ValueError(f"scores must have shape (B, B, L), got {shape}")
    if scores.shape[0] < 2 or scores.shape[2] < 1:
        raise ValueError(f"scores need B >= 2 images (for negatives) and L >= 1 locations, got {tuple(scores.shape)}")
    if not scores.is_floating_point():
        raise ValueError(f"scores must be a floating tensor, got dtype {scores.dtype}")


def _pos_neg(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The positive scores (B, L) and the flat negative scores (B (B-1) L,)."""
    b = scores.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=scores.device)
    return scores[eye], scores[~eye].flatten()


def infomax_loss(scores: torch.Tensor, estimator: str = "jsd", reference_masking: bool = False) -> torch.Tensor:
    """The DIM loss of local-global scores ``u`` (B, B, L) (:func:`local_global_scores`).

    With positives ``u⁺ = u[i, i, l]`` and negatives ``u⁻ = u[i, j, l]``, i != j, and each E a
    mean over its B·L positive or B·(B-1)·L negative entries:

    - ``"jsd"`` (Jensen-Shannon, DIM's default): ``E_P = E[log 2 - softplus(-u⁺)]``,
      ``E_N = E[softplus(-u⁻) + u⁻ - log 2]``, loss ``E_N - E_P``;
    - ``"gan"``: ``E_P = E[-softplus(-u⁺)]``, ``E_N = E[softplus(-u⁻) + u⁻]``, loss ``E_N - E_P``;
    - ``"dv"`` (Donsker-Varadhan): ``E_P = E[u⁺]``, ``E_N = log E[exp u⁻]`` (one log-mean-exp over
      all negatives, max-shifted by ``logsumexp``), loss ``E_N - E_P``;
    - ``"infonce"``: for every image i and location l, a softmax over the positive ``u[i, i, l]``
      and the (B-1)·L negatives ``u[i, j, l']`` (every location of every other image):
      ``loss = -mean_{i,l} log[e^{u[i,i,l]} / (e^{u[i,i,l]} + sum_{j != i, l'} e^{u[i,j,l']})]``.
      Self pairs (j = i) are left out of the denominator; ``reference_masking=True`` reproduces the
      official code, which instead sets them to -10 and keeps them (adding ``L·e^-10``).
    """
    _check_scores(scores)
    check_choice("estimator", estimator, ESTIMATORS)
    if estimator == "infonce":
        b, _, n_loc = scores.shape
        eye = torch.eye(b, dtype=torch.bool, device=scores.device)[:, :, None].expand(b, b, n_loc)
        fill = -10.0 if reference_masking else -math.inf
        negatives = scores.masked_fill(eye, fill).flatten(1)  # (B, B*L): image i's row of candidates
        positives = torch.diagonal(scores).T  # (B, L): [i, l] = u[i, i, l]
        log_denominator = torch.logaddexp(positives, torch.logsumexp(negatives, dim=1, keepdim=True))
        return -(positives - log_denominator).mean()
    pos, neg = _pos_neg(scores)
    if estimator == "jsd":
        e_pos = (_LOG2 - F.softplus(-pos)).mean()
        e_neg = (F.softplus(-neg) + neg - _LOG2).mean()
    elif estimator == "gan":
        e_pos = (-F.softplus(-pos)).mean()
        e_neg = (F.softplus(-neg) + neg).mean()
    else:  # dv
        e_pos = pos.mean()
        e_neg = torch.logsumexp(neg, dim=0) - math.log(neg.numel())
    return e_neg - e_pos


def prior_discriminator_loss(prior_logits: torch.Tensor, encoded_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log σ(D(y_prior))] - E[log(1 - σ(D(y_enc)))] = mean softplus(-d_prior) + mean softplus(d_enc)``.

    The discriminator's binary cross-entropy: prior samples are "real", encodings "fake"
    (DIM §3.4; feed ``D`` the *detached* encodings).
    """
    return F.softplus(-prior_logits).mean() + F.softplus(encoded_logits).mean()


def prior_generator_loss(encoded_logits: torch.Tensor) -> torch.Tensor:
    """The encoder's non-saturating loss ``-E[log σ(D(y_enc))] = mean softplus(-d_enc)``."""
    return F.softplus(-encoded_logits).mean()


class PriorMatchingLoss(nn.Module):
    """DIM's adversarial prior matching (DIM §3.4): push the law of the global code towards a prior.

    ``prior="uniform"`` (DIM's default) compares ``sigmoid(y)`` with samples of U[0, 1]^D;
    ``"gaussian"`` compares ``y`` itself with N(0, I). The discriminator D (a network, e.g. DIM's
    1000-200 ReLU MLP, owned by the method) maps (B, D) codes to (B,) or (B, 1) logits:

    - :meth:`discriminator_loss` = :func:`prior_discriminator_loss` on D(prior sample) and
      D(encoded(y).detach()) (no gradient to the encoder);
    - :meth:`generator_loss` = :func:`prior_generator_loss` on D(encoded(y)), scaled by γ by the
      method; it also puts gradients on D, so zero D's gradients before its own step.

    >>> disc = nn.Sequential(nn.Linear(64, 200), nn.ReLU(), nn.Linear(200, 1))
    >>> prior_loss = PriorMatchingLoss("uniform")
    >>> y = torch.randn(8, 64, requires_grad=True)
    >>> d_loss = prior_loss.discriminator_loss(disc, y, torch.Generator().manual_seed(0))
    >>> g_loss = prior_loss.generator_loss(disc, y)
    """

    def __init__(self, prior: str = "uniform") -> None:
        super().__init__()
        self.prior = check_choice("prior", prior, PRIORS)

    def encoded(self, y: torch.Tensor) -> torch.Tensor:
        """What D sees of the codes: ``sigmoid(y)`` for the uniform prior, ``y`` for the Gaussian."""
        check_features("y", y)
        return torch.sigmoid(y) if self.prior == "uniform" else y

    def sample_prior(self, like: torch.Tensor, rng: GeneratorLike) -> torch.Tensor:
        """Prior samples of ``like``'s shape, dtype and device, drawn from ``rng`` (a
        ``torch.Generator``, advanced by the draw, or an int seed) on the generator's device."""
        gen = make_generator(rng)
        draw = torch.rand if self.prior == "uniform" else torch.randn
        return draw(like.shape, generator=gen, device=gen.device, dtype=like.dtype).to(like.device)

    @staticmethod
    def _logits(discriminator: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = discriminator(x)
        if out.numel() != x.shape[0]:
            raise ValueError(
                f"the discriminator must return one logit per code, (B,) or (B, 1), got {tuple(out.shape)}")
        return out.reshape(-1)

    def discriminator_loss(self, discriminator: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor,
                           rng: GeneratorLike) -> torch.Tensor:
        """D's loss: prior samples (drawn from ``rng``) vs the detached encodings of ``y`` (B, D)."""
        encoded = self.encoded(y).detach()
        prior = self.sample_prior(encoded, rng)
        return prior_discriminator_loss(self._logits(discriminator, prior), self._logits(discriminator, encoded))

    def generator_loss(self, discriminator: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """The encoder's non-saturating loss on the encodings of ``y`` (B, D)."""
        return prior_generator_loss(self._logits(discriminator, self.encoded(y)))
