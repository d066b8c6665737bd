"""Weight initialisation and torch generators.

Three schemes, each drawn from an explicit ``torch.Generator`` (the same seed gives the same
weights and the global torch RNG is left untouched):

- :func:`glorot_init_`: disentanglement_lib builds its networks with TensorFlow's defaults,
  Glorot-uniform ("Xavier-uniform") kernels ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``, and
  zero biases (Glorot & Bengio, AISTATS 2010).
- :func:`kaiming_init_`: ResNets (He et al., ICCV 2015 and CVPR 2016), ``N(0, 2 / fan_out)`` conv
  kernels, BatchNorm scale 1 and shift 0 (torchvision's ResNet initialisation).
- :func:`torch_default_init_`: PyTorch's own ``nn.Linear`` default, ``U(-b, b)`` with
  ``b = 1 / sqrt(fan_in)`` for the weight and the bias (what the PyTorch BYOL/SimSiam heads use).
"""

from __future__ import annotations

import math
from typing import Callable, Union

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


def _copy_draw(param: torch.Tensor, draw: Callable[[torch.Tensor], object]) -> None:
    """Fill a CPU float32 tensor of ``param``'s shape with ``draw``, then copy it into ``param``.

    Drawing on the CPU generator and copying works for a module on any device.
    """
    value = torch.empty(param.shape, dtype=torch.float32)
    draw(value)
    with torch.no_grad():
        param.copy_(value)


def _reset_batch_norm(layer: nn.modules.batchnorm._BatchNorm) -> None:
    layer.reset_running_stats()
    if layer.affine:
        with torch.no_grad():
            layer.weight.fill_(1.0)
            layer.bias.zero_()


def kaiming_init_(module: nn.Module, rng: GeneratorLike) -> nn.Module:
    """Re-initialise ``module`` in place the ResNet way (He et al., ICCV 2015; torchvision).

    Conv2d kernels: ``N(0, std^2)`` with ``std = sqrt(2 / fan_out)``, ``fan_out = c_out * k_h *
    k_w`` (He's "fan_out" mode for ReLU networks); conv biases (if any) zero. BatchNorm: scale 1,
    shift 0, running statistics reset. Linear layers: PyTorch's default (see
    :func:`torch_default_init_`). Layers are visited in ``module.modules()`` order.
    """
    gen = make_generator(rng)
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            _copy_draw(layer.weight, lambda w: nn.init.kaiming_normal_(
                w, mode="fan_out", nonlinearity="relu", generator=gen))
            if layer.bias is not None:
                with torch.no_grad():
                    layer.bias.zero_()
        elif isinstance(layer, nn.Linear):
            _torch_default_linear_(layer, gen)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            _reset_batch_norm(layer)
    return module


def _torch_default_linear_(layer: nn.Linear | nn.Conv2d, gen: torch.Generator) -> None:
    fan_in = layer.weight[0].numel()
    bound = 1.0 / math.sqrt(fan_in)
    _copy_draw(layer.weight, lambda w: nn.init.uniform_(w, -bound, bound, generator=gen))
    if layer.bias is not None:
        _copy_draw(layer.bias, lambda b: nn.init.uniform_(b, -bound, bound, generator=gen))


def torch_default_init_(module: nn.Module, rng: GeneratorLike) -> nn.Module:
    """Re-initialise ``module`` in place with PyTorch's default Linear/Conv2d initialisation.

    Weight and bias ``U(-b, b)``, ``b = 1 / sqrt(fan_in)`` (``kaiming_uniform_(a=sqrt(5))`` is the
    same bound for the weight), weight drawn before bias, layer by layer in ``module.modules()``
    order; BatchNorm scale 1, shift 0, running statistics reset.
    """
    gen = make_generator(rng)
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)):
            _torch_default_linear_(layer, gen)
        elif isinstance(layer, nn.modules.batchnorm._BatchNorm):
            _reset_batch_norm(layer)
    return module
