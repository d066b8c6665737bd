"""The momentum (EMA) target of BYOL-style methods: the τ schedule and the in-place update.

BYOL (Grill et al., NeurIPS 2020, §3.1 and App. J) updates the target parameters ξ after every
step from the online parameters θ,

    ξ <- τ_k ξ + (1 - τ_k) θ,      τ_k = 1 - (1 - τ_base) (cos(π k / K) + 1) / 2,

so τ rises from τ_base at step 0 to 1 at the last step K. ``constant_momentum`` keeps τ fixed
(τ = 0 makes the target a copy of the online network, i.e. no EMA). What happens to buffers
(BatchNorm running statistics) is an explicit choice, ``buffers="copy" | "ema" | "none"``.

>>> online = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8))
>>> target = make_target(online)
>>> tau = cosine_momentum(step=100, total_steps=1000, base=0.99)
>>> ema_update_(target, online, tau, buffers="copy")
>>> pairs = EMAPairs(target, online, buffers="copy")      # matched once, for a training loop
>>> pairs.update_(tau)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator

import torch
from torch import nn

from disentkit.validation import check_choice, check_int, check_number

BUFFER_MODES = ("copy", "ema", "none")


def _check_steps(step: int, total_steps: int) -> None:
    """``total_steps`` an int >= 1 and ``step`` an int in [0, total_steps]."""
    total_steps = check_int("total_steps", total_steps, 1)
    check_int("step", step, 0, maximum=total_steps)


def cosine_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    """``τ_k = 1 - (1 - τ_base) (cos(π k / K) + 1) / 2`` for k = ``step`` in [0, K = ``total_steps``].

    τ_0 = ``base``, τ_{K/2} = (1 + base) / 2, τ_K = 1 (BYOL's schedule; base 0.99 for 100-300
    epochs, 0.996 for 1000).
    """
    _check_steps(step, total_steps)
    base = check_number("base", base, 0.0, 1.0)
    return 1.0 - (1.0 - base) * (math.cos(math.pi * step / total_steps) + 1.0) / 2.0


def constant_momentum(step: int, total_steps: int, base: float = 0.99) -> float:
    """``τ_k = base`` at every step (``base = 0``: the target copies the online network)."""
    _check_steps(step, total_steps)
    return check_number("base", base, 0.0, 1.0)


MOMENTUM_SCHEDULES: dict[str, Callable[[int, int, float], float]] = {
    "cosine": cosine_momentum,
    "constant": constant_momentum,
}


def momentum_at(schedule: str, step: int, total_steps: int, base: float = 0.99) -> float:
    """τ at ``step`` of the schedule named ``schedule`` (``"cosine"`` or ``"constant"``)."""
    check_choice("schedule", schedule, tuple(MOMENTUM_SCHEDULES))
    return MOMENTUM_SCHEDULES[schedule](step, total_steps, base)


def _matched_slots(kind: str, target: nn.Module, online: nn.Module
                   ) -> list[tuple[nn.Module, nn.Module, str]]:
    """``(target submodule, online submodule, local name)`` of every parameter (``kind`` is
    ``"parameters"``) or buffer (``"buffers"``), in ``named_parameters()`` / ``named_buffers()``
    order; ``ValueError`` on any name or shape mismatch."""
    target_tensors = dict(getattr(target, f"named_{kind}")())
    online_tensors = dict(getattr(online, f"named_{kind}")())
    if list(target_tensors) != list(online_tensors):
        missing = sorted(set(online_tensors) - set(target_tensors))
        extra = sorted(set(target_tensors) - set(online_tensors))
        raise ValueError(f"target and online {kind} differ: missing in target {missing}, extra in target {extra}"
                         if missing or extra else f"target and online {kind} are in a different order")
    slots = []
    for name, t in target_tensors.items():
        o = online_tensors[name]
        if t.shape != o.shape:
            raise ValueError(f"{kind[:-1]} {name!r} has shape {tuple(t.shape)} in target, {tuple(o.shape)} in online")
        prefix, _, local = name.rpartition(".")
        slots.append((target.get_submodule(prefix), online.get_submodule(prefix), local))
    return slots


class EMAPairs:
    """The parameters (and buffers) of an EMA ``target`` matched once, by name, to ``online``'s.

    The names and shapes are checked when the pairs are made (``ValueError`` on a mismatch);
    :meth:`update_` then applies ``ξ <- τ ξ + (1 - τ) θ`` to the stored pairs, in the same order and
    with the same arithmetic as :func:`ema_update_`. The pairs are held as ``(submodule, name)`` and
    read on every update, so a later ``.to(device)`` (which replaces buffer tensors) stays paired.
    ``buffers`` is the mode of :func:`ema_update_` (``"none"``: buffers are neither paired nor
    checked).
    """

    def __init__(self, target: nn.Module, online: nn.Module, buffers: str = "copy") -> None:
        self.buffers = check_choice("buffers", buffers, BUFFER_MODES)
        self.parameter_slots = _matched_slots("parameters", target, online)
        self.buffer_slots = [] if buffers == "none" else _matched_slots("buffers", target, online)

    @staticmethod
    def _tensors(slots: list[tuple[nn.Module, nn.Module, str]]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return ((getattr(t, name), getattr(o, name)) for t, o, name in slots)

    @torch.no_grad()
    def update_(self, tau: float) -> None:
        """In place: ``ξ <- τ ξ + (1 - τ) θ`` for every paired parameter, then the buffer mode."""
        tau = check_number("tau", tau, 0.0, 1.0)
        for t, o in self._tensors(self.parameter_slots):
            t.lerp_(o.to(t.dtype), 1.0 - tau)  # t + (1 - τ)(o - t) = τ t + (1 - τ) o
        ema_buffers = self.buffers == "ema"
        for t, o in self._tensors(self.buffer_slots):
            if ema_buffers and t.is_floating_point():
                t.lerp_(o.to(t.dtype), 1.0 - tau)
            else:
                t.copy_(o)


def ema_update_(target: nn.Module, online: nn.Module, tau: float, buffers: str = "copy") -> None:
    """In place: ``ξ <- τ ξ + (1 - τ) θ`` for every parameter of ``target`` (ξ) from ``online`` (θ).

    ``buffers``: ``"copy"`` copies every online buffer into the target (BN running statistics
    follow the online network); ``"ema"`` averages floating buffers with the same τ and copies the
    others (integer counters such as ``num_batches_tracked``); ``"none"`` leaves the target's
    buffers alone. Both modules must have the same parameter (and, unless ``"none"``, buffer)
    names and shapes. τ = 0 copies, τ = 1 leaves the target unchanged (both exactly).

    This matches the modules on every call; a method that updates the same pair at every step
    keeps an :class:`EMAPairs` instead.
    """
    tau = check_number("tau", tau, 0.0, 1.0)
    EMAPairs(target, online, buffers).update_(tau)


def make_target(online: nn.Module) -> nn.Module:
    """A deep copy of ``online`` whose parameters do not require gradients (the EMA target)."""
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target
