"""From a quantized Keras model to an Akida model: blocks, registers, compatibility, convert,
export.

:mod:`~cnn2snn_tfmot.conversion.blocks` reads either kind of quantized model (the ``Quantized*``
layers, or TFMOT-wrapped layers) as Akida blocks; :mod:`~cnn2snn_tfmot.conversion.registers`
computes each block's integer weights, thresholds and act_steps (one formula, also used by the
training callbacks and hardware-exact training);
:mod:`~cnn2snn_tfmot.conversion.compatibility` checks every rule at once;
:mod:`~cnn2snn_tfmot.conversion.converter` builds the Akida model;
:mod:`~cnn2snn_tfmot.conversion.export` writes the emulator as a SavedModel.

Example:
    >>> from cnn2snn_tfmot import keras, quantize
    >>> from cnn2snn_tfmot.conversion import check_model_compatibility
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...                           keras.layers.ReLU(), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> check_model_compatibility(quantize(model, 4, 4, 8))
    True
"""
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning, check_model_compatibility
from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.conversion.export import (
    EmulatorLoadError,
    export,
    export_saved_model,
    load_saved_model,
)

__all__ = ["check_model_compatibility", "AkidaChipWarning", "convert", "export",
           "export_saved_model", "load_saved_model", "EmulatorLoadError"]
