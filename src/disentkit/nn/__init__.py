"""Standard architectures: the 64x64 conv encoder/decoder, MLP variants, the FactorVAE discriminator."""

from disentkit.nn.architectures import (
    ConvDecoder,
    ConvEncoder,
    FactorDiscriminator,
    FCDecoder,
    FCEncoder,
    tf_same_padding,
)
from disentkit.nn.init import glorot_init_, make_generator

__all__ = [
    "ConvDecoder",
    "ConvEncoder",
    "FCDecoder",
    "FCEncoder",
    "FactorDiscriminator",
    "glorot_init_",
    "make_generator",
    "tf_same_padding",
]
