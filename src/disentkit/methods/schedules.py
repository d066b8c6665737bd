"""Learning-rate schedules laid over a run's length (the SSL family's linear warm-up + cosine).

``warmup_cosine_factor(k, W, K) = (k + 1) / W`` for ``k < W`` (linear warm-up), then
``final + (1 - final) (1 + cos(π (k - W) / (K - W))) / 2`` (cosine decay to ``final`` at the last
step), the multiplier of the base learning rate at step k of K (Goyal et al. 2017 for the warm-up,
Loshchilov & Hutter, ICLR 2017, for the cosine; BYOL and SimSiam train with it).
:func:`warmup_cosine_scheduler` wraps it in a ``torch.optim.lr_scheduler.LambdaLR`` whose
``state_dict`` holds only numbers (the trainer checkpoints it with ``weights_only`` loading).

>>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
>>> sched = warmup_cosine_scheduler(opt, warmup_steps=10, total_steps=100)
>>> opt.param_groups[0]["lr"]  # step 0 of the warm-up: 0.1 * 1/10
0.01
"""

from __future__ import annotations

import math

import torch

from disentkit.validation import check_int, check_number

__all__ = ["WarmupCosine", "warmup_cosine_factor", "warmup_cosine_scheduler"]


def warmup_cosine_factor(step: int, warmup_steps: int, total_steps: int, final: float = 0.0) -> float:
    """The learning-rate multiplier at 0-based ``step`` of ``total_steps`` (see the module docstring).

    ``warmup_steps = 0`` starts the cosine at once; steps past the end keep ``final``.
    """
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(total_steps - warmup_steps, 1)
    progress = min((step - warmup_steps) / decay_steps, 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosine:
    """The callable ``step -> warmup_cosine_factor(step, warmup_steps, total_steps, final)``.

    A class rather than a closure so that ``LambdaLR.state_dict`` records its numbers.
    """

    def __init__(self, warmup_steps: int, total_steps: int, final: float = 0.0) -> None:
        self.total_steps = check_int("total_steps", total_steps, 1)
        self.warmup_steps = check_int("warmup_steps", warmup_steps, 0)
        if self.warmup_steps > self.total_steps:
            raise ValueError(f"warmup_steps ({warmup_steps}) must be <= total_steps ({total_steps})")
        self.final = check_number("final", final, 0.0, 1.0)

    def __call__(self, step: int) -> float:
        return warmup_cosine_factor(step, self.warmup_steps, self.total_steps, self.final)


def warmup_cosine_scheduler(optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int,
                            final: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` giving every parameter group ``base_lr * warmup_cosine_factor(step, ...)``;
    step it once after every optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(warmup_steps, total_steps, final))
