"""convert(): a quantized Keras model -> an Akida 1.0 model (akida-v1.md sections 4 to 6).

The model is read into blocks by :mod:`cnn2snn_tfmot.blocks` (the same for seed-style and
TFMOT-quantized models), then each block becomes one Akida layer whose integer weights,
thresholds and act_steps come from :func:`block_registers`, which the training callback
:class:`cnn2snn_tfmot.callbacks.ScaleFactorMonitor` uses too.

Per output channel, with ``(s, z)`` the block's input scaling, ``sf`` the weight scale factor
(``sf_dw * sf_pw`` for a separable layer), ``B`` the bias, ``t`` and ``step`` from the
activation (after absorbing a BatchNormalization ``u = a y + c``: ``t <- (t - c) / a``,
``step <- step / a``)::

    threshold = floor(s * sf * (t - B) [+ z * sum of integer weights, input layer])
    act_step  = s * sf * step * 2**b / 16     (no activation: t = 0, step = 1, act_step = s*sf)

both multiplied by ``H * W`` under global average pooling (the chip sums). Floating-point
order: ``sf`` is float32; ``s * sf`` is rounded to float32; ``act_step`` is that times
``step * 2**b / 16`` rounded to float32, then times ``H * W`` in float32; the threshold is
computed in float64 from the float32 ``s * sf``.
"""
from __future__ import annotations

import dataclasses
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot._keras import check_keras_model, tf
from cnn2snn_tfmot.akida import limits
from cnn2snn_tfmot.akida.enums import PoolType
from cnn2snn_tfmot.akida.layers import (Convolutional, FullyConnected, InputConvolutional,
                                        InputData, SeparableConvolutional)
from cnn2snn_tfmot.akida.model import Model
from cnn2snn_tfmot.blocks import Block, akida_kind, analyze, weights_bits

__all__ = ["convert", "block_registers", "register_problems", "BlockRegisters",
           "IncompatibleModelError", "check_input_scaling", "model_registers"]


class IncompatibleModelError(ValueError):
    """The Keras model breaks Akida rules; the message lists every violation."""


@dataclasses.dataclass
class BlockRegisters:
    """The integer variables of one block's Akida layer, and how they were obtained.

    Attributes:
        name: the block's (neural layer's) name.
        kind: "input", "conv", "separable" or "dense".
        weights: int8 integer kernel in Keras orientation ((kh, kw, C, F), (kh, kw, C, 1) for a
            separable's depthwise kernel, (N, U) for dense).
        weights_pw: int8 (1, 1, C, F) pointwise kernel of a separable layer, else None.
        scale_factor: float32 (F,) weight scale factor per output channel.
        threshold_float: float64 (F,) before flooring.
        threshold: int64 (F,) floored thresholds (may be out of the register range).
        act_step: float32 (F,).
        act_bits: activation bits, or None for a block without activation.
        output_scaling: the input scaling of the next block, ``(1 / step_height, 0)``.
    """
    name: str
    kind: str
    weights: np.ndarray
    weights_pw: Optional[np.ndarray]
    scale_factor: np.ndarray
    threshold_float: np.ndarray
    threshold: np.ndarray
    act_step: np.ndarray
    act_bits: Optional[int]
    output_scaling: Tuple[float, int]


def check_input_scaling(input_scaling, input_is_sparse: bool) -> Tuple[float, int]:
    """Validates ``input_scaling = (scale, shift)``: scale > 0, shift an integer.

    Arguments:
        input_scaling: the pair given to convert().
        input_is_sparse: sparse inputs need shift 0; image inputs a shift in 0..255.

    Returns:
        ``(scale, shift)`` as (float, int).

    Example:
        >>> check_input_scaling((255, 0), False)
        (255.0, 0)
    """
    try:
        scale, shift = input_scaling
        scale = float(scale)
    except (TypeError, ValueError) as err:
        raise ValueError(f"`input_scaling` must be a pair (scale, shift), e.g. (255, 0) for "
                         f"Keras inputs img / 255; got {input_scaling!r}.") from err
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(f"`input_scaling` scale must be a positive number; got {scale}.")
    if isinstance(shift, bool) or not float(shift).is_integer():
        raise ValueError(f"`input_scaling` shift must be an integer; got {shift!r}.")
    shift = int(shift)
    if input_is_sparse and shift != 0:
        raise ValueError(f"`input_scaling` shift must be 0 for sparse inputs "
                         f"(input_is_sparse=True); got {shift}.")
    if not 0 <= shift <= 255:
        raise ValueError(f"`input_scaling` shift must be in 0..255 (it pads the input image); "
                         f"got {shift}.")
    return scale, shift


def _integer_weights(kernel: np.ndarray, quantizer, name: str, role: str):
    """(int8 integer kernel, float32 scale factor) from a kernel and its quantizer."""
    weights = tf.constant(kernel)
    scale_factor = np.asarray(quantizer.scale_factor(weights).numpy(), np.float32)
    quantized = quantizer.quantize(weights).numpy().astype(np.float64)
    scaled = quantized * scale_factor.astype(np.float64)
    integers = np.round(scaled)
    if np.max(np.abs(scaled - integers), initial=0.0) > 1e-3:
        raise ValueError(f"Layer '{name}': the {role} quantizer {quantizer!r} does not put the "
                         "weights on the grid of its scale factor (quantize(w) * "
                         "scale_factor(w) must be integers).")
    kmax = quantizer.kmax_
    if kmax is None or np.max(np.abs(integers), initial=0) > kmax:
        raise ValueError(f"Layer '{name}': {role} integer weights exceed the quantizer's "
                         f"range +-{kmax}.")
    return integers.astype(np.int8), scale_factor


def _per_channel(values, channels: int) -> np.ndarray:
    values = np.asarray(values)
    return np.broadcast_to(values, (channels,)) if values.ndim == 0 or values.size == 1 \
        else values.reshape(channels)


def block_registers(block: Block, input_scaling: Tuple[float, int], index: int = 1,
                    input_is_sparse: bool = False) -> BlockRegisters:
    """Computes one block's Akida integer weights, thresholds and act_steps.

    Arguments:
        block: a block from :func:`cnn2snn_tfmot.blocks.analyze`.
        input_scaling: ``(s, z)``, the block's input scaling.
        index: the block's position (0 is the input layer unless ``input_is_sparse``).
        input_is_sparse: whether the model starts with InputData.

    Returns:
        A :class:`BlockRegisters` (thresholds not yet checked against the registers: see
        :func:`register_problems`).

    Example:
        >>> registers = block_registers(analyze(model).blocks[0], (255, 0), index=0)
    """
    neural = block.neural
    kind = akida_kind(block, index, input_is_sparse)
    scale, shift = input_scaling
    if neural.kind == "separable":
        depthwise, sf_dw = _integer_weights(neural.kernels["depthwise"],
                                            neural.quantizers["depthwise"], neural.name,
                                            "depthwise")
        weights_pw, sf_pw = _integer_weights(neural.kernels["pointwise"],
                                             neural.quantizers["pointwise"], neural.name,
                                             "pointwise")
        channels = weights_pw.shape[-1]
        scale_factor = (np.float32(_per_channel(sf_dw, 1)[0])
                        * _per_channel(sf_pw, channels)).astype(np.float32)
        weights = depthwise
        sums = None
    else:
        weights, sf = _integer_weights(neural.kernels["kernel"], neural.quantizers["kernel"],
                                       neural.name, "kernel")
        weights_pw = None
        channels = weights.shape[-1]
        scale_factor = _per_channel(sf, channels).astype(np.float32)
        sums = weights.reshape(-1, channels).astype(np.int64).sum(axis=0)
    bias = (neural.bias.astype(np.float64) if neural.bias is not None
            else np.zeros(channels, np.float64))
    activation = block.activation
    if activation is not None:
        threshold, step = (np.full(channels, activation.threshold, np.float64),
                           np.full(channels, activation.step_width, np.float64))
    else:
        threshold, step = np.zeros(channels, np.float64), np.ones(channels, np.float64)
    if block.batchnorm is not None:  # u = a y + c: fire when a y + c > t
        bn = block.batchnorm
        a = bn.gamma / np.sqrt(bn.variance + bn.epsilon)
        c = bn.beta - bn.mean * a
        threshold, step = (threshold - c) / a, step / a
    scaled_sf = (np.float64(scale) * scale_factor.astype(np.float64)).astype(np.float32)
    if activation is not None:
        factor = step * 2.0 ** activation.bitwidth / 16
        act_step = (scaled_sf.astype(np.float64) * factor).astype(np.float32)
    else:
        act_step = (scaled_sf.astype(np.float64) * step).astype(np.float32)
    threshold_float = scaled_sf.astype(np.float64) * (threshold - bias)
    if kind == "input" and shift:
        threshold_float = threshold_float + shift * sums
    if block.pool is not None and block.pool.kind == "global":
        area = int(neural.output_shape[0] * neural.output_shape[1])
        act_step = (act_step * np.float32(area)).astype(np.float32)
        threshold_float = threshold_float * area
    output_scaling = (1.0 / activation.step_height, 0) if activation is not None else (1.0, 0)
    return BlockRegisters(
        name=neural.name, kind=kind, weights=weights, weights_pw=weights_pw,
        scale_factor=scale_factor, threshold_float=threshold_float,
        threshold=np.floor(threshold_float).astype(np.int64), act_step=act_step,
        act_bits=None if activation is None else activation.bitwidth,
        output_scaling=output_scaling)


_FIX_TOO_LARGE = ("its scale factors are too high, usually from very small weights after "
                  "BatchNormalization folding: retrain with BatchNormalization gammas kept "
                  ">= 1e-2 (add_gamma_constraint, GammaClipping), or use a smaller input scaling")
_FIX_TOO_SMALL = ("its weights are too large for their input scaling: use a larger input "
                  "scaling, or retrain with smaller weights or larger activation steps")


def register_problems(registers: BlockRegisters) -> List[str]:
    """The ways a block's registers do not fit Akida 1.0 (akida-v1.md section 6).

    Each message names the layer, the value, the limit and the fix; empty when it fits.

    Arguments:
        registers: from :func:`block_registers`.

    Returns:
        A list of messages.

    Example:
        >>> register_problems(block_registers(block, (255, 0), index=0))
        []
    """
    problems = []
    name, is_input = registers.name, registers.kind == "input"
    act_step = registers.act_step
    if not np.all(np.isfinite(act_step)):
        problems.append(f"Layer '{name}': non-finite act_step; {_FIX_TOO_LARGE}.")
        return problems
    smallest = int(np.argmin(act_step))
    if act_step[smallest] < limits.ACT_STEP_MIN:
        problems.append(f"Layer '{name}': act_step {act_step[smallest]:.6g} (channel {smallest}) "
                        f"is below 1/16, the smallest step Akida represents; {_FIX_TOO_SMALL}.")
    if registers.act_bits is None:
        return problems  # raw potentials out: thresholds and steps only serve predict()
    limit = limits.act_step_limit(is_input)
    largest = int(np.argmax(act_step))
    if act_step[largest] >= limit:
        problems.append(f"Layer '{name}': act_step {act_step[largest]:.6g} (channel {largest}) "
                        f"does not fit the {24 if is_input else 20}-bit register (limit "
                        f"{limit:g}); {_FIX_TOO_LARGE}.")
    low, high = limits.threshold_range(is_input)
    outside = np.nonzero((registers.threshold < low) | (registers.threshold > high))[0]
    if outside.size:
        channel = int(outside[np.argmax(np.abs(registers.threshold[outside]))])
        problems.append(f"Layer '{name}': threshold {int(registers.threshold[channel])} (channel "
                        f"{channel}) does not fit the signed {24 if is_input else 20}-bit "
                        f"register [{low}, {high}]; {_FIX_TOO_LARGE}.")
    return problems


def model_registers(analysis, input_scaling: Tuple[float, int],
                    input_is_sparse: bool) -> List[BlockRegisters]:
    """The registers of every block of an analysed model, chaining the input scalings.

    Arguments:
        analysis: from :func:`cnn2snn_tfmot.blocks.analyze`, without violations.
        input_scaling: the model's ``(scale, shift)``.
        input_is_sparse: whether the model starts with InputData.

    Returns:
        One BlockRegisters per block.
    """
    result, scaling = [], input_scaling
    for index, block in enumerate(analysis.blocks):
        registers = block_registers(block, scaling, index, input_is_sparse)
        result.append(registers)
        scaling = registers.output_scaling
    return result


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


def _dense_rows(weights: np.ndarray, flattened_shape) -> np.ndarray:
    """Keras flattens (H, W, C) row-major; the runtime stores rows column-major."""
    units = weights.shape[-1]
    if flattened_shape is not None and len(flattened_shape) == 3:
        height, width, channels = flattened_shape
        weights = weights.reshape(height, width, channels, units).transpose(2, 1, 0, 3)
    return weights.reshape(1, 1, -1, units)


def _set_variables(layer, block: Block, registers: BlockRegisters) -> None:
    kind = registers.kind
    if kind == "dense":
        layer.set_variable("weights", _dense_rows(registers.weights,
                                                  block.neural.flattened_shape))
    elif kind == "input":
        layer.set_variable("weights", registers.weights)
    else:  # the runtime does true convolutions: kernels flipped on both spatial axes
        layer.set_variable("weights", np.ascontiguousarray(registers.weights[::-1, ::-1]))
    if registers.weights_pw is not None:
        layer.set_variable("weights_pw", registers.weights_pw)
    layer.set_variable("threshold", registers.threshold.astype(np.int32))
    layer.set_variable("act_step", registers.act_step)


def _input_data_shape(input_shape: Sequence[int]) -> Tuple[int, int, int]:
    return tuple(input_shape) if len(input_shape) == 3 else (1, 1, int(input_shape[0]))


def convert(model, file_path: Optional[str] = None, input_scaling=(1.0, 0),
            input_is_sparse: bool = False) -> Model:
    """Converts a quantized Keras model to an Akida model.

    Depthwise + pointwise pairs are merged, Dropout, Flatten, Reshape and a final Softmax are
    absorbed, BatchNormalization layers left in blocks are folded into the thresholds, and each
    block becomes an Akida layer (InputConvolutional first for image inputs, InputData then
    normal layers for sparse inputs). Seed-style and TFMOT-quantized models go through the same
    path.

    The relation between inputs is ``input_akida = scale * input_keras + shift``: for Keras
    inputs ``img / 255`` use ``input_scaling=(255, 0)``.

    Arguments:
        model: a quantized tf_keras model (see check_model_compatibility for the rules).
        file_path: where to save the Akida model (our safe format), or None.
        input_scaling: ``(scale, shift)``, scale > 0, shift an integer (0 for sparse inputs).
        input_is_sparse: True for an InputData first layer (events / low-bit data, 4 bits),
            False for an InputConvolutional first layer (uint8 images).

    Returns:
        The :class:`cnn2snn_tfmot.akida.Model`.

    Raises:
        IncompatibleModelError: listing every rule the model breaks.
        ValueError: a register (threshold, act_step) that does not fit the chip, naming the
            layer, the value, the limit and the fix; a bad ``input_scaling``.

    Example:
        >>> akida_model = convert(model_quantized, input_scaling=(255, 0))
        >>> akida_model.evaluate(x_test_uint8, y_test)
    """
    check_keras_model(model)
    scaling = check_input_scaling(input_scaling, input_is_sparse)
    analysis = analyze(model, input_is_sparse)
    if analysis.violations:
        raise IncompatibleModelError(
            f"Model '{model.name}' cannot be converted to Akida:\n  - "
            + "\n  - ".join(analysis.violations))
    registers = model_registers(analysis, scaling, input_is_sparse)
    problems = [problem for block_registers_ in registers
                for problem in register_problems(block_registers_)]
    if problems:
        raise ValueError(f"Model '{model.name}' does not fit Akida 1.0's registers:\n  - "
                         + "\n  - ".join(problems))
    akida_model = Model()
    if input_is_sparse:
        akida_model.add(InputData(_input_data_shape(analysis.input_shape), input_bits=4,
                                  name="input"))
    for block, block_regs in zip(analysis.blocks, registers):
        common = _common_arguments(block, block_regs)
        layer = _LAYER_BUILDERS[block_regs.kind](block, common, analysis.input_shape,
                                                 scaling[1])
        akida_model.add(layer)
        _set_variables(layer, block, block_regs)
    if file_path is not None:
        akida_model.save(os.fspath(file_path))
    return akida_model
