"""Network parts: backbones, heads, the reference 64x64 architectures, initialisation.

- :mod:`disentkit.nn.backbones`: image trunks (``ConvTrunk``, ``MLPTrunk``, ``ResNet18``) and
  ``build_backbone(name, in_channels, rng=...)``.
- :mod:`disentkit.nn.heads`: ``MLPHead`` (``ProjectionHead``, ``PredictionHead``) and
  ``GaussianHead`` (a backbone with ``(mu, logvar)`` heads).
- :mod:`disentkit.nn.architectures`: disentanglement_lib's encoders (built from the parts above),
  decoders and the FactorVAE discriminator.
- :mod:`disentkit.nn.init`: Glorot, Kaiming and PyTorch-default initialisation from a generator.
"""

from disentkit.nn.architectures import (
    ConvDecoder,
    ConvEncoder,
    FactorDiscriminator,
    FCDecoder,
    FCEncoder,
    tf_same_padding,
)
from disentkit.nn.backbones import (
    BACKBONES,
    Backbone,
    BasicBlock,
    ConvTrunk,
    MLPTrunk,
    ResNet18,
    build_backbone,
)
from disentkit.nn.heads import GaussianHead, MLPHead, PredictionHead, ProjectionHead
from disentkit.nn.init import glorot_init_, kaiming_init_, make_generator, torch_default_init_

__all__ = [
    "BACKBONES",
    "Backbone",
    "BasicBlock",
    "ConvDecoder",
    "ConvEncoder",
    "ConvTrunk",
    "FCDecoder",
    "FCEncoder",
    "FactorDiscriminator",
    "GaussianHead",
    "MLPHead",
    "MLPTrunk",
    "PredictionHead",
    "ProjectionHead",
    "ResNet18",
    "build_backbone",
    "glorot_init_",
    "kaiming_init_",
    "make_generator",
    "tf_same_padding",
    "torch_default_init_",
]
