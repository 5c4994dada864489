"""BrainChip's cnn2snn module name for the quantized layers, kept importable.

The quantized layers and activations live in :mod:`cnn2snn_tfmot.quantization.layers`; this
module hands on the same names, so that code written for cnn2snn's ``quantization_layers`` runs
unchanged.

Example:
    >>> from cnn2snn_tfmot.quantization_layers import QuantizedReLU
    >>> QuantizedReLU(bitwidth=4).bitwidth
    4
"""
from cnn2snn_tfmot.quantization import layers as _layers

# cnn2snn's names, whatever the module they moved to exports: one list, kept there.
from cnn2snn_tfmot.quantization.layers import *  # noqa: F403

__all__ = list(_layers.__all__)
