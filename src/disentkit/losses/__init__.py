"""Every loss of disentkit, importable from one public place.

Self-supervised losses are small ``nn.Module``\\ s (formula, paper and a usage example in each
docstring), one job per module:

==========================  ==============================================================
:mod:`.byol`                :class:`BYOLLoss`, :class:`NegativeCosineLoss`, :class:`SimSiamLoss`
:mod:`.barlow_twins`        :class:`BarlowTwinsLoss`
:mod:`.vicreg`              :class:`VICRegLoss`
:mod:`.contrastive`         :class:`InfoNCELoss`, :func:`multiview_contrastive_loss` (CMC)
:mod:`.memory_bank`         :class:`MemoryBank`, :class:`NCELoss`, :class:`NCESoftmaxLoss` (CMC)
:mod:`.infomax`             :func:`local_global_scores`, :func:`infomax_loss`,
                            :class:`PriorMatchingLoss` (Deep InfoMax)
:mod:`.nashae`              :class:`AdversarialCovarianceLoss`, :func:`batch_covariance` (NashAE)
:mod:`.conditional_mi`      :func:`group_shuffle`, :class:`ShuffleDiscriminatorLoss`,
                            :class:`ShuffleMMDLoss`, :func:`rbf_mmd` (CMI minimisation)
:mod:`.rate_reduction`      :func:`coding_rate`, :func:`class_coding_rate`, :func:`rate_reduction`,
                            :func:`rate_reduction_between` (MCR², CTRL)
==========================  ==============================================================

The VAE family's loss terms are plain tensor functions that live in
:mod:`disentkit.methods.losses` and are re-exported here unchanged.

>>> from disentkit.losses import BarlowTwinsLoss, gaussian_kl
>>> loss = BarlowTwinsLoss()(torch.randn(16, 8), torch.randn(16, 8))
"""

from __future__ import annotations

from disentkit.losses.barlow_twins import BarlowTwinsLoss
from disentkit.losses.byol import BYOLLoss, NegativeCosineLoss, SimSiamLoss
from disentkit.losses.conditional_mi import (
    ShuffleDiscriminatorLoss,
    ShuffleMMDLoss,
    group_permutation,
    group_shuffle,
    rbf_mmd,
)
from disentkit.losses.contrastive import MULTIVIEW_MODES, InfoNCELoss, multiview_contrastive_loss
from disentkit.losses.infomax import (
    ESTIMATORS as INFOMAX_ESTIMATORS,
    PRIORS as INFOMAX_PRIORS,
    PriorMatchingLoss,
    infomax_loss,
    local_global_scores,
    prior_discriminator_loss,
    prior_generator_loss,
)
from disentkit.losses.memory_bank import MemoryBank, NCELoss, NCESoftmaxLoss
from disentkit.losses.nashae import AdversarialCovarianceLoss, batch_covariance
from disentkit.losses.rate_reduction import class_coding_rate, coding_rate, rate_reduction, rate_reduction_between
from disentkit.losses.vicreg import VICRegLoss
from disentkit.methods.losses import (
    HFS_MATCHINGS,
    RECONSTRUCTIONS,
    TC_ESTIMATORS,
    bernoulli_reconstruction,
    biased_covariance,
    box_blur,
    box_blur_reconstruction,
    dip_covariance,
    dip_penalty,
    gaussian_kl,
    gaussian_log_density,
    hausdorff_factorized_support,
    log_qz_estimates,
    mse_reconstruction,
    mss_log_weights,
    pairwise_log_density,
    reconstruction_loss,
    sample_latent_pairs,
    total_correlation,
)

__all__ = [
    # self-supervised
    "AdversarialCovarianceLoss",
    "BYOLLoss",
    "BarlowTwinsLoss",
    "INFOMAX_ESTIMATORS",
    "INFOMAX_PRIORS",
    "InfoNCELoss",
    "MULTIVIEW_MODES",
    "MemoryBank",
    "NCELoss",
    "NCESoftmaxLoss",
    "NegativeCosineLoss",
    "PriorMatchingLoss",
    "ShuffleDiscriminatorLoss",
    "ShuffleMMDLoss",
    "SimSiamLoss",
    "VICRegLoss",
    "batch_covariance",
    "class_coding_rate",
    "coding_rate",
    "group_permutation",
    "group_shuffle",
    "infomax_loss",
    "local_global_scores",
    "multiview_contrastive_loss",
    "prior_discriminator_loss",
    "prior_generator_loss",
    "rate_reduction",
    "rbf_mmd",
    "rate_reduction_between",
    # VAE family (disentkit.methods.losses)
    "HFS_MATCHINGS",
    "RECONSTRUCTIONS",
    "TC_ESTIMATORS",
    "bernoulli_reconstruction",
    "biased_covariance",
    "box_blur",
    "box_blur_reconstruction",
    "dip_covariance",
    "dip_penalty",
    "gaussian_kl",
    "gaussian_log_density",
    "hausdorff_factorized_support",
    "log_qz_estimates",
    "mse_reconstruction",
    "mss_log_weights",
    "pairwise_log_density",
    "reconstruction_loss",
    "sample_latent_pairs",
    "total_correlation",
]
