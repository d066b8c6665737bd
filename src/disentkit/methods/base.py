"""The method interface shared by every representation-learning method and the trainer.

A method owns its networks, its loss terms and its optimisers, and says how to represent an image
(the posterior mean code for the VAE family). The trainer only calls the members below, so any
method (a VAE, FactorVAE with its discriminator, a contrastive model) trains with the same loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import nn

Batch = Any  # an images tensor (B, C, H, W), or a pair (x1, x2) for weakly supervised methods


class Method(nn.Module, ABC):
    """Base class of every method.

    Class attributes
    ----------------
    name: the registry name (``"beta_vae"``).
    config_class: the dataclass of the method's hyperparameters (validated at construction).
    input_kind: ``"single"`` (a batch of images) or ``"pairs"`` (weakly supervised pairs
        ``(x1, x2)`` that differ in a few factors).
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type]
    input_kind: ClassVar[str] = "single"

    @abstractmethod
    def configure_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Create the optimisers, keyed by a stable name (``"vae"``, ``"discriminator"``).

        Called once by the trainer; their state is checkpointed under these names.
        """

    @abstractmethod
    def train_step(
        self, batch: Batch, step: int, optimizers: dict[str, torch.optim.Optimizer]
    ) -> dict[str, torch.Tensor]:
        """One optimisation step (forward, backward, every optimiser's ``step``).

        Returns detached loss terms: scalar tensors keyed by name, ``"loss"`` being the total
        that must stay finite, and optionally ``"kl_per_dim"``, a (D,) tensor.
        """

    @abstractmethod
    def represent(self, images: torch.Tensor) -> torch.Tensor:
        """The code of each image, (B, C, H, W) -> (B, D) (the mean code for the VAE family)."""
