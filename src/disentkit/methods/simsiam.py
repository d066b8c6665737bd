"""SimSiam: Exploring Simple Siamese Representation Learning (Chen & He, CVPR 2021).

One network (backbone f, projector g) and a predictor h; the projection of the other view is
treated as a constant (stop-gradient), with no momentum target and no negatives:

    L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2,   D(p, z) = -cos(p, z),   z_i = g(f(v_i)), p_i = h(z_i)

(:class:`~disentkit.losses.SimSiamLoss`). The paper's heads: a 3-layer projector with BN on the
output (2048 wide) and a bottleneck predictor 2048 -> 512 -> 2048.

>>> model = SimSiam((1, 64, 64), SimSiamConfig(projector_hidden=256, projector_out=256, predictor_hidden=64), seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from disentkit.losses import SimSiamLoss
from disentkit.validation import check_int
from disentkit.methods.ssl import SelfSupervisedMethod, SSLConfig
from disentkit.nn import MLPHead


@dataclass(kw_only=True)
class SimSiamConfig(SSLConfig):
    """SimSiam's hyperparameters: :class:`~disentkit.methods.ssl.SSLConfig` with the paper's
    projector (3 layers, 2048, BN on the output) plus ``predictor_hidden`` (the bottleneck, 512)."""

    projector_hidden: int = 2048
    projector_out: int = 2048
    projector_layers: int = 3
    projector_last_batch_norm: bool = True
    predictor_hidden: int = 512

    def __post_init__(self) -> None:
        super().__post_init__()
        self.predictor_hidden = check_int("predictor_hidden", self.predictor_hidden, 1)


class SimSiam(SelfSupervisedMethod):
    """SimSiam (see the module docstring): projector + bottleneck predictor, stop-gradient."""

    name: ClassVar[str] = "simsiam"
    config_class: ClassVar[type] = SimSiamConfig

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        out = self.config.projector_out
        self.predictor = MLPHead(out, self.config.predictor_hidden, out, rng=self.generator)
        self.loss_fn = SimSiamLoss()

    def view_terms(self, first: torch.Tensor, second: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """``loss = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2`` (in [-1, 1])."""
        z1, z2 = self.project(first), self.project(second)
        p1, p2 = self.predictor(z1), self.predictor(z2)
        loss = self.loss_fn(p1.float(), p2.float(), z1.float(), z2.float())
        return {"loss": loss, "embedding_std": self.embedding_std(z1)}
