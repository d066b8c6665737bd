"""BYOL: Bootstrap Your Own Latent (Grill et al., NeurIPS 2020; ``methods_ssl_causal.md`` §1).

An online network (backbone f_θ, projector g_θ, predictor q_θ) predicts the projection of the
other view by a target network (f_ξ, g_ξ) that gets no gradient and follows the online one by an
exponential moving average after every step:

    L = l(q_θ(g_θ(f_θ(v))), g_ξ(f_ξ(v'))) + l(q_θ(g_θ(f_θ(v'))), g_ξ(f_ξ(v))),   l(p, z) = 2 - 2 cos(p, z)
    ξ <- τ_k ξ + (1 - τ_k) θ,   τ_k = 1 - (1 - τ_base) (cos(π k / K) + 1) / 2

(:class:`~disentkit.losses.BYOLLoss`, :func:`~disentkit.methods.momentum.cosine_momentum`). The
target starts as a copy of the online network; τ_k is a function of the step, so a resumed run
updates exactly as the uninterrupted one.

>>> model = BYOL((3, 64, 64), BYOLConfig(projector_hidden=512), seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from disentkit.losses import BYOLLoss
from disentkit.validation import check_choice, check_int, check_number
from disentkit.methods.momentum import BUFFER_MODES, MOMENTUM_SCHEDULES, EMAPairs, make_target, momentum_at
from disentkit.methods.ssl import SelfSupervisedMethod, SSLConfig
from disentkit.nn import PredictionHead


@dataclass(kw_only=True)
class BYOLConfig(SSLConfig):
    """BYOL's hyperparameters: :class:`~disentkit.methods.ssl.SSLConfig` plus

    predictor_hidden: the predictor MLP's hidden width (4096; output = ``projector_out``).
    momentum_base: τ_base (0.99, the paper's value for 100-300 epochs).
    momentum_schedule: ``"cosine"`` (τ rises to 1) or ``"constant"``.
    target_buffers: what the target does with BatchNorm statistics: ``"copy"`` the online ones
        (default), ``"ema"`` them, or keep its own (``"none"``).
    """

    predictor_hidden: int = 4096
    momentum_base: float = 0.99
    momentum_schedule: str = "cosine"
    target_buffers: str = "copy"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.predictor_hidden = check_int("predictor_hidden", self.predictor_hidden, 1)
        self.momentum_base = check_number("momentum_base", self.momentum_base, 0.0, 1.0)
        check_choice("momentum_schedule", self.momentum_schedule, tuple(MOMENTUM_SCHEDULES))
        check_choice("target_buffers", self.target_buffers, BUFFER_MODES)


class BYOL(SelfSupervisedMethod):
    """BYOL (see the module docstring): online backbone + projector + predictor, EMA target."""

    name: ClassVar[str] = "byol"
    config_class: ClassVar[type] = BYOLConfig

    def __init__(self, observation_shape: tuple[int, int, int], config: Any = None,
                 *, seed: int | None = None) -> None:
        super().__init__(observation_shape, config, seed=seed)
        out = self.config.projector_out
        self.predictor = PredictionHead(out, self.config.predictor_hidden, out, rng=self.generator)
        self.target_backbone = make_target(self.backbone)
        self.target_projector = make_target(self.projector)
        buffers = self.config.target_buffers
        self.ema_pairs = (EMAPairs(self.target_backbone, self.backbone, buffers),
                          EMAPairs(self.target_projector, self.projector, buffers))
        self.loss_fn = BYOLLoss()

    def view_terms(self, first: torch.Tensor, second: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        """``loss = l(p1, z2) + l(p2, z1)`` with online predictions p and target projections z."""
        proj1, proj2 = self.project(first), self.project(second)
        p1, p2 = self.predictor(proj1), self.predictor(proj2)
        with torch.no_grad():
            z1 = self.target_projector(self.target_backbone(first))
            z2 = self.target_projector(self.target_backbone(second))
        loss = self.loss_fn.symmetric(p1.float(), p2.float(), z1.float(), z2.float())
        return {"loss": loss, "embedding_std": self.embedding_std(proj1)}

    def momentum(self, step: int) -> float:
        """τ after 0-based ``step`` of the run (the configured schedule)."""
        cfg = self.config
        return momentum_at(cfg.momentum_schedule, step, self.run_length(), cfg.momentum_base)

    def after_step(self, step: int) -> None:
        """The EMA update ``ξ <- τ ξ + (1 - τ) θ`` of the target backbone and projector."""
        tau = self.momentum(step)
        for pairs in self.ema_pairs:
            pairs.update_(tau)
