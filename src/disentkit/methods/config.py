"""Typed, validated hyperparameters shared by the VAE family.

Every method has a ``@dataclass(kw_only=True)`` config deriving from :class:`VAEConfig`; values are
checked in ``__post_init__`` so that a bad value is a ``ValueError`` naming the valid range or
choices before any network is built. Defaults follow disentanglement_lib's ``unsupervised_study_v1``
(``shared.gin``: Adam lr 1e-4, betas (0.9, 0.999), eps 1e-8, 10 latents, Bernoulli decoder, the
conv architecture). disentanglement_lib's gin files leave the method weights (β, γ, C_max, λ_od)
``REQUIRED``; our default is the **first value of its sweep** (``disentanglement_lib.md`` §2.3),
stated on each config.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from disentkit.methods.losses import HFS_MATCHINGS, RECONSTRUCTIONS
from disentkit.validation import check_choice, check_int, check_number  # noqa: F401  (re-exported)

ARCHITECTURES = ("conv", "fc")


@dataclass(kw_only=True)
class VAEConfig:
    """Hyperparameters common to every Gaussian VAE.

    Fields
    ------
    latent_dim: number of latents D (10).
    architecture: ``"conv"`` (disentanglement_lib ``conv_encoder``/``deconv_decoder``, 64x64 images)
        or ``"fc"`` (``fc_encoder``/``fc_decoder``).
    lr, adam_beta1, adam_beta2, adam_eps: the VAE's Adam optimiser (1e-4, 0.9, 0.999, 1e-8).
    reconstruction: ``"bernoulli"`` (sigmoid cross-entropy on logits), ``"mse"`` (squared error of
        the sigmoid) or ``"box_blur"`` (MSE + ``blur_weight`` x MSE of box-blurred images, Michlo et
        al.). All are summed over pixels and averaged over the batch.
    blur_radius, blur_weight: the box kernel radius r (size 2r+1; 31) and weight w_k (3969).
    hfs_gamma: weight γ of the HFS regulariser on the posterior means (0 = off; Roth et al. 2023).
    hfs_pairs: latent pairs sampled per step for HFS (25, or all D(D-1)/2 if fewer).
    hfs_matching: ``"hausdorff_hard"`` (the reference default), ``"hausdorff_hard_mean"`` or
        ``"hausdorff_soft_full"`` (:func:`~disentkit.methods.losses.hausdorff_factorized_support`).
    hfs_temperatures: (τ1, τ2) of the soft matching ((1, 1)).
    """

    latent_dim: int = 10
    architecture: str = "conv"
    lr: float = 1e-4
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_eps: float = 1e-8
    reconstruction: str = "bernoulli"
    blur_radius: int = 31
    blur_weight: float = 3969.0
    hfs_gamma: float = 0.0
    hfs_pairs: int = 25
    hfs_matching: str = "hausdorff_hard"
    hfs_temperatures: Sequence[float] = (1.0, 1.0)

    def __post_init__(self) -> None:
        self.latent_dim = check_int("latent_dim", self.latent_dim, 1)
        check_choice("architecture", self.architecture, ARCHITECTURES)
        self.lr = check_number("lr", self.lr, 0.0, strict_min=True)
        self.adam_beta1 = check_number("adam_beta1", self.adam_beta1, 0.0, 1.0, strict_max=True)
        self.adam_beta2 = check_number("adam_beta2", self.adam_beta2, 0.0, 1.0, strict_max=True)
        self.adam_eps = check_number("adam_eps", self.adam_eps, 0.0, strict_min=True)
        check_choice("reconstruction", self.reconstruction, RECONSTRUCTIONS)
        self.blur_radius = check_int("blur_radius", self.blur_radius, 0)
        self.blur_weight = check_number("blur_weight", self.blur_weight, 0.0)
        self.hfs_gamma = check_number("hfs_gamma", self.hfs_gamma, 0.0)
        self.hfs_pairs = check_int("hfs_pairs", self.hfs_pairs, 1)
        check_choice("hfs_matching", self.hfs_matching, HFS_MATCHINGS)
        if isinstance(self.hfs_temperatures, (str, bytes)) or not isinstance(self.hfs_temperatures, Sequence) \
                or len(self.hfs_temperatures) != 2:
            raise ValueError(f"hfs_temperatures must be a pair (tau1, tau2), got {self.hfs_temperatures!r}")
        self.hfs_temperatures = [check_number(f"hfs_temperatures[{i}]", t, 0.0, strict_min=True)
                                 for i, t in enumerate(self.hfs_temperatures)]  # a list: JSON round-trips it
