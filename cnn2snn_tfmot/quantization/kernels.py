"""What a quantized neural layer type quantizes, carried by the type itself.

Every quantized layer class (``QuantizedConv2D``...) and every TFMOT ``QuantizeConfig`` of a
neural layer carries a :class:`KernelDescription` as class data, the way TFMOT configs carry
their weight attributes: the float Keras class it quantizes, its kernels (attribute, quantizer
argument, role in an Akida block, per-axis or per-tensor default quantizer) and the Akida kind
it becomes. A layer calls, saves and reloads from its own class data alone; the layer table
(:mod:`cnn2snn_tfmot.quantization.layer_table`) indexes the classes for the functions that go
from a float layer type to its quantized one.

Example:
    >>> from cnn2snn_tfmot.quantization.kernels import SEPARABLE_CONV2D
    >>> [kernel.attribute for kernel in SEPARABLE_CONV2D.kernels], SEPARABLE_CONV2D.akida_kind
    (['depthwise_kernel', 'pointwise_kernel'], 'separable')
"""
from __future__ import annotations

import dataclasses
from typing import Tuple

from cnn2snn_tfmot.tfkeras import keras

__all__ = ["Kernel", "KernelDescription", "AKIDA_KINDS", "CONV2D", "DEPTHWISE_CONV2D",
           "SEPARABLE_CONV2D", "DENSE"]

#: Akida kinds of neural layers: "depthwise" is only convertible merged with a 1x1 convolution
#: into a separable one.
AKIDA_KINDS = ("conv", "depthwise", "separable", "dense")


@dataclasses.dataclass(frozen=True)
class Kernel:
    """One quantized kernel of a neural layer type.

    Arguments:
        attribute: the weight attribute of the Keras layer ("kernel", "depthwise_kernel"...).
        quantizer: the constructor argument (quantized layer and QuantizeConfig) holding its
            weight quantizer ("quantizer" or "quantizer_dw").
        role: its role in an Akida block: "kernel", "depthwise" or "pointwise".
        per_axis: whether ``quantize()`` gives it a per-output-channel quantizer
            (MaxPerAxisQuantizer) or a per-tensor one (MaxQuantizer, required for depthwise
            kernels).

    Example:
        >>> from cnn2snn_tfmot.quantization.kernels import Kernel
        >>> Kernel("kernel", "quantizer", "kernel", per_axis=True).role
        'kernel'
    """
    attribute: str
    quantizer: str
    role: str
    per_axis: bool


@dataclasses.dataclass(frozen=True)
class KernelDescription:
    """What a quantized neural layer type quantizes and which Akida layer it becomes.

    Arguments:
        keras_class: the float Keras layer class it quantizes (its computation).
        kernels: the quantized kernels, in order; the last one is the output kernel, which a
            folded BatchNormalization scales.
        akida_kind: one of :data:`AKIDA_KINDS`.

    Example:
        >>> from cnn2snn_tfmot.quantization.kernels import Kernel, KernelDescription
        >>> from cnn2snn_tfmot.tfkeras import keras
        >>> dense = KernelDescription(keras.layers.Dense,
        ...                           (Kernel("kernel", "quantizer", "kernel", True),), "dense")
        >>> dense.output_kernel.attribute
        'kernel'
    """
    keras_class: type
    kernels: Tuple[Kernel, ...]
    akida_kind: str

    def __post_init__(self):
        if self.akida_kind not in AKIDA_KINDS:
            raise ValueError(f"KernelDescription of {self.keras_class.__name__}: `akida_kind` "
                             f"must be one of {AKIDA_KINDS}; got {self.akida_kind!r}.")
        if not self.kernels or not all(isinstance(k, Kernel) for k in self.kernels):
            raise ValueError(f"KernelDescription of {self.keras_class.__name__}: `kernels` "
                             f"must be a non-empty tuple of Kernel; got {self.kernels!r}.")

    @property
    def output_kernel(self) -> Kernel:
        """The kernel whose output channels are the layer's (scaled by BatchNorm folding)."""
        return self.kernels[-1]


_L = keras.layers
_KERNEL = Kernel("kernel", "quantizer", "kernel", per_axis=True)

#: The package's own neural layer types.
CONV2D = KernelDescription(_L.Conv2D, (_KERNEL,), "conv")
DEPTHWISE_CONV2D = KernelDescription(
    _L.DepthwiseConv2D, (Kernel("depthwise_kernel", "quantizer", "depthwise", per_axis=False),),
    "depthwise")
SEPARABLE_CONV2D = KernelDescription(
    _L.SeparableConv2D,
    (Kernel("depthwise_kernel", "quantizer_dw", "depthwise", per_axis=False),
     Kernel("pointwise_kernel", "quantizer", "pointwise", per_axis=True)),
    "separable")
DENSE = KernelDescription(_L.Dense, (_KERNEL,), "dense")
