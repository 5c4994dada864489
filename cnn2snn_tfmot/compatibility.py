"""check_model_compatibility(): every Akida rule a quantized Keras model breaks, at once."""
from __future__ import annotations

import warnings

from cnn2snn_tfmot._keras import check_keras_model
from cnn2snn_tfmot.blocks import analyze
from cnn2snn_tfmot.converter import IncompatibleModelError

__all__ = ["check_model_compatibility", "AkidaChipWarning"]


class AkidaChipWarning(UserWarning):
    """Something BrainChip's software runtime accepts but the Akida 1.0 chip cannot map."""


def check_model_compatibility(model_keras, input_is_sparse: bool = False) -> bool:
    """Checks that a quantized Keras model can be converted to Akida.

    The rules are the seeds' "How to build a compatible Keras quantized model": block
    structure, input constraints, layer parameters and order of layers. All violations are
    reported together, each naming the layer and the rule. What only the chip refuses (not the
    software runtime: 8-bit weights on inner layers, image widths, pooling sizes) is a warning
    (:class:`AkidaChipWarning`). Register overflows depend on the input scaling and are reported
    by ``convert``.

    Arguments:
        model_keras: the quantized tf_keras model (seed-style or TFMOT-quantized).
        input_is_sparse: True if the Akida model starts with InputData (events), False for an
            InputConvolutional first layer (images).

    Returns:
        True when the model is compatible.

    Raises:
        IncompatibleModelError: one error listing every violation.

    Example:
        >>> check_model_compatibility(model_quantized)
        True
    """
    check_keras_model(model_keras, "model_keras")
    analysis = analyze(model_keras, input_is_sparse)
    for message in analysis.warnings:
        warnings.warn(message, AkidaChipWarning, stacklevel=2)
    if analysis.violations:
        raise IncompatibleModelError(
            f"Model '{model_keras.name}' is not compatible with Akida "
            f"({len(analysis.violations)} problem{'s' if len(analysis.violations) > 1 else ''}):"
            "\n  - " + "\n  - ".join(analysis.violations))
    return True
