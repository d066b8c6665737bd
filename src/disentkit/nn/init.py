"""Weight initialisation and torch generators.

disentanglement_lib builds its networks with TensorFlow's defaults: Glorot-uniform
("Xavier-uniform") kernels, ``U(-a, a)`` with ``a = sqrt(6 / (fan_in + fan_out))``, and zero
biases (Glorot & Bengio, AISTATS 2010). The draws come from an explicit ``torch.Generator`` so that
the same seed gives the same weights and the global torch RNG is left untouched.
"""

from __future__ import annotations

from typing import Union

import torch
from torch import nn

GeneratorLike = Union[int, torch.Generator]


def make_generator(rng: GeneratorLike) -> torch.Generator:
    """Return a CPU ``torch.Generator`` for ``rng``.

    An int seed (>= 0) gives a new generator seeded with it; a ``torch.Generator`` is returned as
    is (so draws advance it). Anything else raises ``ValueError``.
    """
    if isinstance(rng, torch.Generator):
        return rng
    if isinstance(rng, int) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"a seed must be a non-negative integer, got {rng}")
        gen = torch.Generator(device="cpu")
        gen.manual_seed(rng)
        return gen
    raise ValueError(f"rng must be an int seed or a torch.Generator, got {type(rng).__name__}")


def glorot_init_(module: nn.Module, rng: GeneratorLike) -> nn.Module:
    """Re-initialise every Linear / Conv / ConvTranspose layer of ``module`` in place, TF style.

    Weights: Glorot uniform, ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))`` with
    ``fan_in = in_channels * k_h * k_w`` and ``fan_out = out_channels * k_h * k_w`` (the sum is the
    same for a transposed convolution, so PyTorch's ``xavier_uniform_`` matches TF's
    ``glorot_uniform`` for every layer type). Biases: zero. Layers are visited in
    ``module.modules()`` order, so the draws are deterministic given ``rng``.
    """
    gen = make_generator(rng)
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            with torch.no_grad():
                # Draw on the CPU generator, then copy (works for a module on any device).
                weight = torch.empty(layer.weight.shape, dtype=torch.float32)
                nn.init.xavier_uniform_(weight, generator=gen)
                layer.weight.copy_(weight)
                if layer.bias is not None:
                    layer.bias.zero_()
    return module
