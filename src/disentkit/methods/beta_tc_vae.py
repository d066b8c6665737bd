"""β-TCVAE (Chen, Li, Grosse, Duvenaud, NeurIPS 2018): ``loss = reconstruction + KL + (β − 1) TC``.

With α = γ = 1 Chen's decomposition ``MI + β TC + DWKL`` equals ``KL + (β − 1) TC``; like
disentanglement_lib (``disentanglement_lib.md`` §2.2) the KL is the analytic one and the total
correlation ``TC = mean_i [log q(z_i) − log prod_d q(z_{i,d})]`` is estimated on the batch of
samples z (Chen's code uses a one-sample KL instead; both have the same expectation).

Estimators (``methods_vae.md`` §1.2–1.3; see :func:`disentkit.methods.losses.log_qz_estimates`):

- ``"mss"`` (default): minibatch stratified sampling with the **corrected** weight matrix
  (1/N on the diagonal).
- ``"mws"``: minibatch weighted sampling, with the ``−log(N B)`` normalisers.
- ``"mss_reference_bug"``: MSS with the official code's weight matrix (1/N in column 0), for
  bug-compatible reproduction of Chen's and the HFS repository's numbers.
- ``"dlib"``: disentanglement_lib's MWS without the constants (reported TC offset by
  ``−(D − 1) log(N B)``, same gradients as ``"mws"``).

``dataset_size`` is N, the number of training images: it sets the MSS weights (1/N for the own
datapoint, ``(N − B + 1) / (N (B − 1))`` for the stratum point) and the MWS constant. Left unset
(``None``), the trainer fills it from the training dataset (``len(dataset)``, :meth:`BetaTCVAE.fill_from_dataset`)
and records the value in the run's ``config.json``; a model built by hand must be given it. MSS
needs N >= B. The TC estimates are not true nats (the estimators are biased; MWS/"dlib" carry
constants).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from disentkit.methods.config import VAEConfig, check_choice, check_int, check_number
from disentkit.methods.losses import TC_ESTIMATORS, total_correlation
from disentkit.methods.vae import GaussianVAE

@dataclass(kw_only=True)
class BetaTCVAEConfig(VAEConfig):
    """β-TCVAE hyperparameters.

    beta: the TC weight β >= 0 (default 1, the first value of the study's sweep {1, 2, 4, 6, 8, 10};
        β = 1 is a plain VAE).
    estimator: ``"mss"`` | ``"mws"`` | ``"mss_reference_bug"`` | ``"dlib"``.
    dataset_size: N for the MSS weights and MWS normalisers (``None``: the training set's size,
        filled in by the trainer; dSprites has 737,280).
    """

    beta: float = 1.0
    estimator: str = "mss"
    dataset_size: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.beta = check_number("beta", self.beta, 0.0)
        check_choice("estimator", self.estimator, TC_ESTIMATORS)
        if self.dataset_size is not None:
            self.dataset_size = check_int("dataset_size", self.dataset_size, 2)


class BetaTCVAE(GaussianVAE):
    """β-TCVAE: the regulariser is ``KL + (β − 1) TC``; reports ``tc``."""

    name = "beta_tc_vae"
    config_class = BetaTCVAEConfig

    def regularizer(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
                    kl: torch.Tensor, step: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``KL + (β − 1) TC`` with the configured estimator."""
        cfg = self.config
        if cfg.dataset_size is None:
            raise ValueError("beta_tc_vae needs dataset_size (N, the number of training images) for its TC "
                             "estimator: pass dataset_size=len(dataset), or train through disentkit.train, "
                             "which fills it from the dataset")
        tc = total_correlation(z, mu, logvar, cfg.estimator, cfg.dataset_size)
        return kl + (cfg.beta - 1.0) * tc, {"tc": tc}

    @classmethod
    def fill_from_dataset(cls, config: BetaTCVAEConfig, dataset: Any) -> BetaTCVAEConfig:
        """``config`` with ``dataset_size = len(dataset)`` when it is unset."""
        if config.dataset_size is None:
            return dataclasses.replace(config, dataset_size=len(dataset))
        return config
