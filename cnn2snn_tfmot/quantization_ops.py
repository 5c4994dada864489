"""BrainChip's cnn2snn module name for the weight quantizers, kept importable.

The quantizers and the quantized-activation formula live in
:mod:`cnn2snn_tfmot.quantization.quantizers`; this module hands on the same names, so that code
written for cnn2snn's ``quantization_ops`` runs unchanged.

Example:
    >>> from cnn2snn_tfmot.quantization_ops import MaxPerAxisQuantizer
    >>> MaxPerAxisQuantizer(bitwidth=4)
    MaxPerAxisQuantizer(bitwidth=4)
"""
from cnn2snn_tfmot.quantization import quantizers as _quantizers

# cnn2snn's names, whatever the module they moved to exports: one list, kept there.
from cnn2snn_tfmot.quantization.quantizers import *  # noqa: F403

__all__ = list(_quantizers.__all__)
