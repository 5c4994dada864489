"""Will a quantized Keras model run in hardware on the AKD1000? The Keras side of the chip's
limits.

The blocks ``check_model_compatibility`` reads (:mod:`cnn2snn_tfmot.conversion.blocks`) are
described by the plain values of the Akida layers ``convert`` would make
(:class:`cnn2snn_tfmot.chip.hardware.HardwareLayer`), and this project's mapper
(:func:`cnn2snn_tfmot.akida.mapping.map_layers`) maps them: the same rules, written once in
:mod:`cnn2snn_tfmot.chip.hardware`, as ``akida_model.map("AKD1000", hw_only=True)`` after
conversion. Without registers (no input scaling) the checks that need the integer values
(all-zero kernels, thresholds and act_steps of a last layer without activation) are skipped.

Example:
    >>> from cnn2snn_tfmot.conversion.hardware_check import hardware_problems
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> from cnn2snn_tfmot.conversion.blocks import analyze
    >>> hardware_problems(analyze(model_quantized))
    []
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import numpy as np

from cnn2snn_tfmot.akida.mapping import AkidaMappingError, Mapping, map_layers
from cnn2snn_tfmot.chip import hardware as hw
from cnn2snn_tfmot.chip.shapes import out_size
from cnn2snn_tfmot.conversion.blocks import Analysis, Block, akida_kind, weights_bits

__all__ = ["DEVICES", "check_device", "block_hardware_layers", "map_blocks", "hardware_problems"]

#: Devices ``check_model_compatibility(device=...)`` knows.
DEVICES = hw.DEVICES


def check_device(device) -> str:
    """Validates a device name (:func:`cnn2snn_tfmot.chip.hardware.check_device`).

    Arguments:
        device: "AKD1000" (any case).

    Returns:
        The device's name.

    Raises:
        ValueError: another name, listing the valid ones.

    Example:
        >>> from cnn2snn_tfmot.conversion.hardware_check import check_device
        >>> check_device("akd1000")
        'AKD1000'
    """
    return hw.check_device(device)


def _pair(value) -> tuple:
    return (int(value), int(value)) if np.isscalar(value) else tuple(int(v) for v in value)


def _block_input_shape(block: Block) -> tuple:
    neural = block.neural
    if neural.kind == "dense":
        if neural.flattened_shape is not None and len(neural.flattened_shape) == 3:
            return tuple(int(v) for v in neural.flattened_shape)
        return (1, 1, int(np.prod(neural.input_shape)))
    return tuple(int(v) for v in neural.input_shape)


def block_hardware_layers(analysis: Analysis, input_is_sparse: bool = False,
                          registers: Optional[Sequence] = None) -> List[hw.HardwareLayer]:
    """The Akida layers ``convert`` makes of a model's blocks, as plain values.

    Arguments:
        analysis: the model's blocks (:func:`cnn2snn_tfmot.conversion.blocks.analyze`).
        input_is_sparse: True when the Akida model starts with InputData (4-bit events).
        registers: the blocks' :class:`cnn2snn_tfmot.registers.BlockRegisters`, or None: the
            checks of integer values are then skipped.

    Returns:
        One :class:`~cnn2snn_tfmot.chip.hardware.HardwareLayer` per Akida layer (InputData
        first for sparse inputs).

    Example:
        >>> from cnn2snn_tfmot.conversion.hardware_check import block_hardware_layers
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> [layer.kind for layer in block_hardware_layers(analyze(model_quantized))]
        ['input_conv', 'separable', 'dense']
    """
    layers: List[hw.HardwareLayer] = []
    input_bits = 8
    if input_is_sparse:
        shape = tuple(analysis.input_shape)
        shape = shape if len(shape) == 3 else (1, 1, int(np.prod(shape)))
        layers.append(hw.HardwareLayer("input", "input_data", shape, shape, 4))
        input_bits = 4
    for index, block in enumerate(analysis.blocks):
        kind = {"input": "input_conv", "conv": "conv", "separable": "separable",
                "dense": "dense"}[akida_kind(block, index, input_is_sparse)]
        input_shape = _block_input_shape(block)
        filters = int(block.neural.output_shape[-1])
        activation = block.activation is not None
        values = dict(filters=filters, weights_bits=weights_bits(block), activation=activation,
                      act_bits=block.activation.bitwidth if activation else 1)
        output_shape = (1, 1, filters)
        if kind != "dense":
            config = block.neural.config
            kernel, stride = _pair(config["kernel_size"]), _pair(config["strides"])
            padding = config["padding"]
            pool = block.pool
            pool_type = "none" if pool is None else pool.kind
            pool_size = tuple(pool.size) if pool_type == "max" else (1, 1)
            pool_stride = tuple(pool.strides) if pool_type == "max" else (1, 1)
            values.update(kernel_size=kernel, kernel_stride=stride, padding=padding,
                          pool_type=pool_type, pool_size=pool_size, pool_stride=pool_stride)
            dims = []
            for axis in range(2):
                n = out_size(input_shape[axis], kernel[axis], stride[axis], padding)
                if pool_type == "max":
                    n = out_size(n, pool_size[axis], pool_stride[axis], padding)
                dims.append(1 if pool_type == "global" else n)
            output_shape = (dims[0], dims[1], filters)
        if registers is not None:
            block_registers = registers[index]
            kernels = [block_registers.weights] + \
                ([block_registers.weights_pw] if block_registers.weights_pw is not None else [])
            values["weights_all_zero"] = any(not np.any(k) for k in kernels)
            if not activation:
                values["threshold_range"] = (int(block_registers.threshold.min()),
                                             int(block_registers.threshold.max()))
                values["act_step_max"] = float(block_registers.act_step.max())
        layers.append(hw.HardwareLayer(block.name, kind, input_shape, output_shape, input_bits,
                                       **values))
        input_bits = values["act_bits"]
    return layers


def map_blocks(analysis: Analysis, input_is_sparse: bool = False, device: str = "AKD1000",
               mode: str = "all_nps", registers: Optional[Sequence] = None,
               hw_only: bool = False) -> Mapping:
    """The mapping of the Akida model ``convert`` would make of these blocks, before converting
    (the mapper of ``akida_model.map``, on :func:`block_hardware_layers`).

    Arguments:
        analysis: the model's blocks (:func:`cnn2snn_tfmot.conversion.blocks.analyze`).
        input_is_sparse: True when the Akida model starts with InputData.
        device: "AKD1000".
        mode: "all_nps" (default), "hw_pr" or "minimal".
        registers: the blocks' registers, or None (integer-value checks skipped).
        hw_only: True to require one hardware sequence.

    Returns:
        The :class:`cnn2snn_tfmot.akida.Mapping`.

    Raises:
        ValueError: an unknown device or mode.
        AkidaMappingError: with ``hw_only=True``, the layers that stop one hardware sequence.

    Example:
        >>> from cnn2snn_tfmot.conversion.hardware_check import map_blocks
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> map_blocks(analyze(model_quantized), mode="minimal").total_nps
        2
    """
    return map_layers(block_hardware_layers(analysis, input_is_sparse, registers),
                      check_device(device), hw_only=hw_only, mode=mode)


def hardware_problems(analysis: Analysis, input_is_sparse: bool = False,
                      device: str = "AKD1000", registers: Optional[Sequence] = None,
                      mode: str = "all_nps") -> List[str]:
    """Why the Akida model of these blocks would not run in one hardware sequence.

    Every layer's own problems (whatever its neighbours), then what stops the mapping
    (max pooling at the end of a sequence, NPs running out), each naming the layer, the limit
    and its source, and a fix.

    Arguments:
        analysis: the model's blocks (:func:`cnn2snn_tfmot.conversion.blocks.analyze`).
        input_is_sparse: True when the Akida model starts with InputData.
        device: "AKD1000".
        registers: the blocks' registers, or None (integer-value checks skipped).
        mode: the mapping mode ("all_nps" by default, as ``Model.map``).

    Returns:
        The messages, empty when the model maps in hardware.

    Example:
        >>> from cnn2snn_tfmot.conversion.hardware_check import hardware_problems
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> hardware_problems(analyze(model_quantized), device="AKD1000")
        []
    """
    device = check_device(device)
    layers = block_hardware_layers(analysis, input_is_sparse, registers)
    try:
        map_layers(layers, device, hw_only=True, mode=mode)
        return []
    except AkidaMappingError as err:
        problems = err.problems
    named = {name for name, _ in problems}
    # The mapper stops at the first layer that cannot map: list the others' problems too.
    for layer in layers:
        if layer.name not in named:
            problems = problems + [(layer.name, reason) for reason in hw.layer_problems(layer)]
    order = [layer.name for layer in layers]
    problems = sorted(problems, key=lambda item: order.index(item[0]))
    return [f"Layer '{name}' {reason}" for name, reason in problems]
