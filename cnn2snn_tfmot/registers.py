"""The registers of an Akida layer: integer weights, thresholds and act_steps (docs/akida-v1.md
section 4), computed once for ``convert()`` and for the training callbacks.

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
from typing import List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.blocks import Block, akida_kind
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["BlockRegisters", "block_registers", "model_registers"]


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
        :func:`cnn2snn_tfmot.rules.register_problems`).

    Example:
        >>> from cnn2snn_tfmot.blocks import analyze
        >>> block = analyze(model_quantized).blocks[0]
        >>> registers = block_registers(block, (255, 0), index=0)
        >>> registers.kind, registers.weights.shape, registers.act_bits
        ('input', (3, 3, 1, 8), 4)

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
