"""check_model_compatibility(): every Akida rule a quantized Keras model breaks, at once.

:func:`checked_blocks` is the one check behind both ``check_model_compatibility()`` and
``convert()``: the model's blocks and their rule violations (:mod:`cnn2snn_tfmot.conversion.blocks`,
:mod:`cnn2snn_tfmot.chip.rules`), and, given an input scaling, the registers of every block and what
does not fit them. So the check accepts exactly what ``convert()`` converts.
"""
from __future__ import annotations

import warnings
from typing import List, Optional, Tuple

from cnn2snn_tfmot.chip.rules import IncompatibleModelError, check_input_scaling, register_problems
from cnn2snn_tfmot.conversion.blocks import Analysis, analyze
from cnn2snn_tfmot.conversion.hardware_check import check_device, hardware_problems
from cnn2snn_tfmot.conversion.registers import BlockRegisters, model_registers
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.input_scaling import resolve_input_scaling

__all__ = ["check_model_compatibility", "checked_blocks", "AkidaChipWarning"]


class AkidaChipWarning(UserWarning):
    """Something BrainChip's software runtime accepts but the Akida 1.0 chip cannot map.

    Example:
        >>> from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning
        >>> import warnings
        >>> warnings.simplefilter("ignore", AkidaChipWarning)
    """


def _listed(problems: List[str]) -> str:
    return "\n  - " + "\n  - ".join(problems)


def checked_blocks(model, input_is_sparse: bool = False, input_scaling=None,
                   ) -> Tuple[Analysis, Optional[List[BlockRegisters]]]:
    """The blocks of a quantized model, after every Akida rule (and register) check.

    Chip-only problems are emitted as :class:`AkidaChipWarning` warnings.

    Arguments:
        model: the quantized tf_keras model.
        input_is_sparse: whether the Akida model starts with InputData.
        input_scaling: ``(scale, shift)``, or None to skip the register checks.

    Returns:
        ``(analysis, registers)``; ``registers`` is None without an input scaling.

    Raises:
        IncompatibleModelError: listing every rule the model breaks.
        ValueError: a register that does not fit, naming the layer, the value, the limit and
            the fix; a bad ``input_scaling``.

    Example:
        >>> from cnn2snn_tfmot.conversion.compatibility import checked_blocks
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> analysis, registers = checked_blocks(model_quantized, input_scaling=(255, 0))
        >>> len(registers) == len(analysis.blocks)
        True
    """
    scaling = None if input_scaling is None else check_input_scaling(input_scaling,
                                                                     input_is_sparse)
    analysis = analyze(model, input_is_sparse)
    for message in analysis.warnings:
        warnings.warn(message, AkidaChipWarning, stacklevel=3)
    if analysis.violations:
        count = len(analysis.violations)
        raise IncompatibleModelError(
            f"Model '{model.name}' is not compatible with Akida ({count} problem"
            f"{'s' if count > 1 else ''}):" + _listed(analysis.violations))
    if scaling is None:
        return analysis, None
    registers = model_registers(analysis, scaling, input_is_sparse)
    problems = [problem for block in registers for problem in register_problems(block)]
    if problems:
        raise ValueError(f"Model '{model.name}' does not fit Akida 1.0's registers with "
                         f"input_scaling={scaling}:" + _listed(problems))
    return analysis, registers


def check_model_compatibility(model_keras, input_is_sparse: bool = False,
                              input_scaling=None, device: Optional[str] = None) -> bool:
    """Checks that a quantized Keras model can be converted to Akida, and run on the chip.

    The rules are BrainChip's cnn2snn "How to build a compatible Keras quantized model": block
    structure, input constraints, layer parameters and order of layers. All violations are
    reported together, each naming the layer and the rule. What only the chip refuses (not the
    software runtime: 8-bit weights on inner layers, image widths, pooling sizes) is a warning
    (:class:`AkidaChipWarning`). Registers (thresholds and act_steps) depend on the input
    scaling: given one, they are checked too, so that the check passes exactly when
    ``convert(model_keras, input_scaling=...)`` succeeds.

    Arguments:
        model_keras: the quantized tf_keras model (cnn2snn-style or TFMOT-quantized).
        input_is_sparse: True if the Akida model starts with InputData (events), False for an
            InputConvolutional first layer (images).
        input_scaling: ``(scale, shift)`` as for ``convert``, or None (default): the one the
            model remembers (``quantize(..., input_scaling=...)``), else the rules only.
        device: None (default) or "AKD1000": also require the model to run in hardware on it.

    Returns:
        True when the model is compatible.

    Raises:
        IncompatibleModelError: one error listing every violation.
        ValueError: with ``input_scaling``, the registers that do not fit; an unknown device.

    Example:
        >>> from cnn2snn_tfmot.conversion.compatibility import check_model_compatibility
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> check_model_compatibility(model_quantized)
        True
        >>> check_model_compatibility(model_quantized, device="AKD1000")
        True
    """
    model_keras = check_keras_model(model_keras, "model_keras")
    device_name = None if device is None else check_device(device)
    scaling, _ = resolve_input_scaling(model_keras, input_scaling, input_is_sparse)
    analysis, registers = checked_blocks(model_keras, input_is_sparse, scaling)
    problems = hardware_problems(analysis, input_is_sparse, device_name or "AKD1000",
                                 registers)
    if problems and device_name is not None:
        count = len(problems)
        raise IncompatibleModelError(
            f"Model '{model_keras.name}' cannot run in hardware on the {device_name} in one "
            f"sequence ({count} problem{'s' if count > 1 else ''}):" + _listed(problems))
    if problems:
        more = len(problems) - 1
        warnings.warn(f"Model '{model_keras.name}' would not run in hardware on the AKD1000 in "
                      f"one sequence: {problems[0]}"
                      + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")
                      + " check_model_compatibility(model, device='AKD1000') (command line: "
                      "check --device AKD1000) lists them.", AkidaChipWarning, stacklevel=2)
    return True
