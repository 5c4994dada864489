"""Akida 1.0 as measured: its layers and their integer variables, value limits and model rules.

The bottom of the pipeline: everything here is plain values and numpy, written once and read by
every stage above (quantization, conversion, the Akida model, the emulator). docs/akida-v1.md
says where each number comes from.

* :mod:`~cnn2snn_tfmot.chip.layers`: the Akida layers, with BrainChip's constructor arguments
  and variables (:mod:`~cnn2snn_tfmot.chip.params`, :mod:`~cnn2snn_tfmot.chip.variables`,
  :mod:`~cnn2snn_tfmot.chip.enums`, :mod:`~cnn2snn_tfmot.chip.shapes`);
* :mod:`~cnn2snn_tfmot.chip.limits`: value limits (bitwidths, registers, sizes);
* :mod:`~cnn2snn_tfmot.chip.learning`: the edge-learning rule of the last layer
  (``AkidaUnsupervised``), on plain arrays;
* :mod:`~cnn2snn_tfmot.chip.rules`: the model rules, functions of plain values that quantize,
  the rewrites, the compatibility check and the converter call.
* :mod:`~cnn2snn_tfmot.chip.hardware`: the AKD1000's hardware limits (what its neural
  processors take, how a layer spreads over them), read by the mapper
  (:mod:`cnn2snn_tfmot.akida.mapping`) and ``check_model_compatibility(device="AKD1000")``.

Example:
    >>> from cnn2snn_tfmot.chip import FullyConnected
    >>> FullyConnected(10, weights_bits=4, activation=False).layer_type
    'FullyConnected'
"""
from cnn2snn_tfmot.chip.enums import Padding, PoolType
from cnn2snn_tfmot.chip.layers import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    Layer,
    SeparableConvolutional,
)
from cnn2snn_tfmot.chip.learning import AkidaUnsupervised
from cnn2snn_tfmot.chip.rules import IncompatibleModelError

__all__ = ["Layer", "InputData", "InputConvolutional", "Convolutional", "SeparableConvolutional",
           "FullyConnected", "Padding", "PoolType", "IncompatibleModelError", "AkidaUnsupervised"]
