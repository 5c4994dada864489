"""convert(): a quantized Keras model -> an Akida 1.0 model (docs/akida-v1.md sections 4 to 6).

The model is read into blocks and checked by
:func:`cnn2snn_tfmot.conversion.compatibility.checked_blocks` (the same check as
``check_model_compatibility``, for cnn2snn-style and TFMOT-quantized models alike); each block's
integer weights, thresholds and act_steps come from :mod:`cnn2snn_tfmot.conversion.registers`, which
the training callbacks use too. This module turns each block into its Akida layer.
"""
from __future__ import annotations

import os
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.akida.fileformat import AKIDA_MODEL_FILE
from cnn2snn_tfmot.akida.model import Model
from cnn2snn_tfmot.atomic import check_output
from cnn2snn_tfmot.chip.enums import PoolType
from cnn2snn_tfmot.chip.layers import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    SeparableConvolutional,
)
from cnn2snn_tfmot.chip.lowering import set_kernels
from cnn2snn_tfmot.conversion.blocks import Block, weights_bits
from cnn2snn_tfmot.conversion.compatibility import checked_blocks
from cnn2snn_tfmot.conversion.registers import BlockRegisters
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.input_scaling import scaling_for_conversion

__all__ = ["convert"]


# Akida layers -------------------------------------------------------------------------------

def _pool_arguments(block: Block) -> dict:
    pool = block.pool
    if pool is None:
        return {"pool_type": PoolType.NoPooling}
    if pool.kind == "global":
        return {"pool_type": PoolType.Average}
    return {"pool_type": PoolType.Max, "pool_size": tuple(pool.size),
            "pool_stride": tuple(pool.strides)}


def _conv_arguments(block: Block) -> dict:
    config = block.neural.config
    filters = block.neural.output_shape[-1]
    return {"kernel_size": tuple(config["kernel_size"]), "filters": int(filters),
            "padding": config["padding"], "kernel_stride": tuple(config["strides"]),
            **_pool_arguments(block)}


def _common_arguments(block: Block, registers: BlockRegisters) -> dict:
    arguments = {"name": block.name, "weights_bits": weights_bits(block),
                 "activation": registers.act_bits is not None}
    if registers.act_bits is not None:
        arguments["act_bits"] = registers.act_bits
    return arguments


_LAYER_BUILDERS: Dict[str, Callable] = {
    "input": lambda block, common, input_shape, shift: InputConvolutional(
        input_shape, padding_value=shift, **_conv_arguments(block), **common),
    "conv": lambda block, common, input_shape, shift: Convolutional(
        **_conv_arguments(block), **common),
    "separable": lambda block, common, input_shape, shift: SeparableConvolutional(
        **_conv_arguments(block), **common),
    "dense": lambda block, common, input_shape, shift: FullyConnected(
        int(block.neural.output_shape[-1]), **common),
}


def _set_variables(layer, registers: BlockRegisters) -> None:
    if registers.weights_pw is None:
        set_kernels(layer, registers.weights)
    else:  # Keras' (kh, kw, C, 1) and (1, 1, C, F) kernels as the emulator runs them
        set_kernels(layer, registers.weights[:, :, :, 0], registers.weights_pw[0, 0])
    layer.set_variable("threshold", registers.threshold.astype(np.int32))
    layer.set_variable("act_step", registers.act_step)


def _input_data_shape(input_shape: Sequence[int]) -> Tuple[int, int, int]:
    return tuple(input_shape) if len(input_shape) == 3 else (1, 1, int(input_shape[0]))


def convert(model, file_path: Optional[str] = None, input_scaling=None,
            input_is_sparse: bool = False, class_names: Optional[Sequence[str]] = None,
            overwrite: bool = False) -> Model:
    """Converts a quantized Keras model to an Akida model.

    Depthwise + pointwise pairs are merged, Dropout, Flatten, Reshape and a final Softmax are
    absorbed, BatchNormalization layers left in blocks are folded into the thresholds, and each
    block becomes an Akida layer (InputConvolutional first for image inputs, InputData then
    normal layers for sparse inputs). cnn2snn-style and TFMOT-quantized models go through the same
    path.

    The relation between inputs is ``input_akida = scale * input_keras + shift``: for Keras
    inputs ``img / 255`` use ``input_scaling=(255, 0)``. A model quantized with
    ``quantize(..., input_scaling=...)`` remembers its pair, and ``convert`` uses it.

    Arguments:
        model: a quantized tf_keras model (see check_model_compatibility for the rules).
        file_path: where to save the Akida model (our safe format), or None. An existing
            Akida model file is replaced; any other file only with ``overwrite``.
        input_scaling: ``(scale, shift)``, scale > 0, shift an integer (0 for sparse inputs),
            or None (default): the pair the model remembers (see
            :func:`cnn2snn_tfmot.input_scaling_of`), else cnn2snn's default ``(1.0, 0)`` with
            a warning. A pair that contradicts the remembered one is a ValueError.
        input_is_sparse: True for an InputData first layer (events / low-bit data, 4 bits),
            False for an InputConvolutional first layer (uint8 images).
        class_names: the names of the classes the outputs score, one per output, kept by the
            Akida model (:attr:`cnn2snn_tfmot.akida.Model.class_names`) and its file; None
            (default) for none.
        overwrite: replace whatever file is at ``file_path``.

    Returns:
        The :class:`cnn2snn_tfmot.akida.Model`.

    Raises:
        IncompatibleModelError: listing every rule the model breaks.
        ValueError: a register (threshold, act_step) that does not fit the chip, naming the
            layer, the value, the limit and the fix; a bad ``input_scaling``; a non-finite
            weight, bias, BatchNormalization statistic, threshold or step.
        cnn2snn_tfmot.atomic.OutputExistsError: ``file_path`` holds something else.

    Example:
        >>> from cnn2snn_tfmot.conversion.converter import convert
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> akida_model = convert(model_quantized, input_scaling=(255, 0))
        >>> [layer.layer_type for layer in akida_model.layers]
        ['InputConvolutional', 'SeparableConvolutional', 'FullyConnected']
        >>> 0 <= akida_model.evaluate(images, labels) <= 1  # uint8 images, as img / 255 in Keras
        True
    """
    model = check_keras_model(model)
    if file_path is not None:
        check_output(file_path, AKIDA_MODEL_FILE, overwrite, argument="file_path")
    scaling = scaling_for_conversion(model, input_scaling, input_is_sparse)
    analysis, registers = checked_blocks(model, input_is_sparse, scaling)
    akida_model = Model()
    if input_is_sparse:
        akida_model.add(InputData(_input_data_shape(analysis.input_shape), input_bits=4,
                                  name="input"))
    for block, block_regs in zip(analysis.blocks, registers):
        common = _common_arguments(block, block_regs)
        layer = _LAYER_BUILDERS[block_regs.kind](block, common, analysis.input_shape,
                                                 scaling[1])
        akida_model.add(layer)
        _set_variables(layer, block_regs)
    akida_model.class_names = class_names
    if file_path is not None:
        akida_model.save(os.fspath(file_path), overwrite)
    return akida_model
