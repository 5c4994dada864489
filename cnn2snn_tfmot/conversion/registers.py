"""The registers of an Akida layer: integer weights, thresholds and act_steps (docs/akida-v1.md
section 4), one formula (:func:`register_tensors`, in TensorFlow) for ``convert()``, the training
callbacks and hardware-exact training.

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
from typing import Dict, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip import limits, rules
from cnn2snn_tfmot.conversion.blocks import Block, akida_kind
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["BlockRegisters", "RegisterInputs", "register_tensors", "block_inputs",
           "block_registers", "model_registers", "output_scaling"]


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

    def margin(self) -> float:
        """The smallest headroom of the thresholds and act_steps in their registers, in bits
        (:func:`cnn2snn_tfmot.chip.limits.register_margin`; negative: they do not fit)."""
        return limits.register_margin(self.threshold, self.act_step, self.act_bits,
                                      self.kind == "input")


@dataclasses.dataclass
class RegisterInputs:
    """What a block's registers are computed from: tensors (constants or trainable variables).

    Arguments:
        kind: the Akida layer kind: "input", "conv", "separable" or "dense".
        kernels: float kernels by role ("kernel", or "depthwise" and "pointwise").
        quantizers: their weight quantizers, by role.
        bias: the (F,) bias, or None.
        activation: None (raw potentials out), or ``(bits, threshold, step_width)`` with
            scalar tensors.
        batchnorm: None, or ``(gamma, beta, mean, variance, epsilon)`` of a BatchNormalization
            left in the block.
        pool_area: H * W of the map a global average pooling sums, or None.
        scale: the block's input scale ``s`` (a float or a scalar tensor).
        shift: the block's input shift ``z`` (an int; the input layer only).

    Example:
        >>> from cnn2snn_tfmot.conversion.registers import RegisterInputs, register_tensors
        >>> from cnn2snn_tfmot import MaxQuantizer, tf
        >>> inputs = RegisterInputs("dense", {"kernel": tf.ones((4, 2))},
        ...                         {"kernel": MaxQuantizer(4)}, None, None, None, None, 1.0, 0)
        >>> register_tensors(inputs)["act_step"].numpy()
        array([7., 7.], dtype=float32)
    """
    kind: str
    kernels: Dict[str, tf.Tensor]
    quantizers: Dict[str, object]
    bias: Optional[tf.Tensor]
    activation: Optional[Tuple[int, tf.Tensor, tf.Tensor]]
    batchnorm: Optional[Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, float]]
    pool_area: Optional[int]
    scale: object
    shift: int


def _f64(value):
    # A Python float would become a float32 tensor before the cast: convert it directly.
    if isinstance(value, (float, int, np.floating, np.integer)):
        return tf.constant(value, tf.float64)
    return tf.cast(value, tf.float64)


def _channels(values, channels: int):
    """A scalar or (F,) tensor as (F,)."""
    return tf.broadcast_to(tf.reshape(values, [-1]), [channels])


def register_tensors(inputs: RegisterInputs) -> Dict[str, tf.Tensor]:
    """The block's integer weights, thresholds and act_steps, as TensorFlow tensors.

    The one formula of docs/akida-v1.md section 4: ``convert()`` evaluates it on constants,
    hardware-exact training (:mod:`cnn2snn_tfmot.training.exact`) on the trainable variables at
    every step. The floating-point order is BrainChip's converter's (see the module docstring);
    every operation is an exactly rounded IEEE one, so eager and graph evaluations agree bit for
    bit. Integer kernels carry a straight-through gradient.

    Arguments:
        inputs: a :class:`RegisterInputs`.

    Returns:
        ``{"integers": {role: float tensor of integers}, "scale_factor": float32 (F,),
        "threshold_float": float64 (F,), "threshold": float64 (F,) floored,
        "act_step": float32 (F,)}``.

    Example:
        >>> from cnn2snn_tfmot.conversion.registers import RegisterInputs, register_tensors
        >>> from cnn2snn_tfmot import MaxPerAxisQuantizer, tf
        >>> inputs = RegisterInputs("conv", {"kernel": tf.ones((3, 3, 1, 2))},
        ...                         {"kernel": MaxPerAxisQuantizer(4)}, None,
        ...                         (4, tf.constant(0.2), tf.constant(0.4)), None, None, 255.0, 0)
        >>> registers = register_tensors(inputs)
        >>> registers["threshold"].numpy(), registers["act_step"].numpy()
        (array([357., 357.]), array([714., 714.], dtype=float32))
    """
    integers, factors = {}, {}
    for role, kernel in inputs.kernels.items():
        integers[role], factors[role] = inputs.quantizers[role].integer_weights(kernel)
    if inputs.kind == "separable":
        channels = int(integers["pointwise"].shape[-1])
        scale_factor = (tf.reshape(factors["depthwise"], [-1])[0]
                        * _channels(factors["pointwise"], channels))
    else:
        channels = int(integers["kernel"].shape[-1])
        scale_factor = _channels(factors["kernel"], channels)
    bias = (tf.zeros([channels], tf.float64) if inputs.bias is None
            else _f64(inputs.bias))
    if inputs.activation is not None:
        bits, threshold, step = inputs.activation
        # The float32 values the Keras model computes with.
        threshold = _channels(_f64(tf.cast(threshold, tf.float32)), channels)
        step = _channels(_f64(tf.cast(step, tf.float32)), channels)
    else:
        threshold, step = tf.zeros([channels], tf.float64), tf.ones([channels], tf.float64)
    if inputs.batchnorm is not None:  # u = a y + c: fire when a y + c > t
        gamma, beta, mean, variance, epsilon = inputs.batchnorm
        # DivNoNan, not ``/``: in a graph on variables (hardware-exact training) Grappler
        # turns x / sqrt(y) into x * rsqrt(y), one ulp off on a third of the values (the
        # variance + epsilon is never zero).
        a = tf.math.divide_no_nan(_f64(gamma), tf.sqrt(_f64(variance) + epsilon))
        c = _f64(beta) - _f64(mean) * a
        threshold, step = (threshold - c) / a, step / a
    scaled_sf = tf.cast(_f64(inputs.scale) * _f64(scale_factor), tf.float32)
    if inputs.activation is not None:
        act_step = tf.cast(_f64(scaled_sf) * (step * 2.0 ** bits / 16), tf.float32)
    else:
        act_step = tf.cast(_f64(scaled_sf) * step, tf.float32)
    threshold_float = _f64(scaled_sf) * (threshold - bias)
    if inputs.kind == "input" and inputs.shift:
        sums = tf.reduce_sum(tf.reshape(integers["kernel"], [-1, channels]), axis=0)
        threshold_float = threshold_float + inputs.shift * _f64(sums)
    if inputs.pool_area is not None:
        act_step = act_step * np.float32(inputs.pool_area)
        threshold_float = threshold_float * inputs.pool_area
    return {"integers": integers, "scale_factor": scale_factor,
            "threshold_float": threshold_float, "threshold": tf.floor(threshold_float),
            "act_step": act_step}


def _integer_array(integers, kernel: np.ndarray, quantizer, name: str, role: str) -> np.ndarray:
    """The int8 kernel of ``integers``, after checking the quantizer's grid and range."""
    values = integers.numpy().astype(np.float64)
    quantized = quantizer.quantize(tf.constant(kernel)).numpy().astype(np.float64)
    scale_factor = np.asarray(quantizer.scale_factor(tf.constant(kernel)).numpy(), np.float64)
    problems = rules.value_problems(name, {f"{role} quantizer's scale factor": scale_factor,
                                           f"{role} integer weights": values})
    if problems:  # a quantizer's own variable (a trainable threshold) is not finite
        raise ValueError(problems[0])
    if np.max(np.abs(quantized * scale_factor - values), initial=0.0) > 1e-3:
        raise ValueError(f"Layer '{name}': the {role} quantizer {quantizer!r} does not put the "
                         "weights on the grid of its scale factor (quantize(w) * "
                         "scale_factor(w) must be integers).")
    kmax = quantizer.kmax_
    if kmax is None or np.max(np.abs(values), initial=0) > kmax:
        raise ValueError(f"Layer '{name}': {role} integer weights exceed the quantizer's "
                         f"range +-{kmax}.")
    return values.astype(np.int8)


def block_inputs(block: Block, kind: str, input_scaling: Tuple[float, int]) -> RegisterInputs:
    """The :class:`RegisterInputs` of a block read from a model (constants).

    Arguments:
        block: a block from :func:`cnn2snn_tfmot.conversion.blocks.analyze`.
        kind: its Akida kind (see :func:`cnn2snn_tfmot.conversion.blocks.akida_kind`).
        input_scaling: ``(s, z)``, the block's input scaling.

    Returns:
        A RegisterInputs.

    Example:
        >>> from cnn2snn_tfmot.conversion.registers import block_inputs
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> block_inputs(analyze(model_quantized).blocks[0], "input", (255, 0)).pool_area
    """
    neural = block.neural
    activation = block.activation
    batchnorm = block.batchnorm
    pool_area = None
    if block.pool is not None and block.pool.kind == "global":
        pool_area = int(neural.output_shape[0] * neural.output_shape[1])
    return RegisterInputs(
        kind=kind, kernels={role: tf.constant(kernel) for role, kernel in neural.kernels.items()},
        quantizers=dict(neural.quantizers),
        bias=None if neural.bias is None else tf.constant(neural.bias),
        activation=None if activation is None else (
            activation.bitwidth, tf.constant(activation.threshold, tf.float32),
            tf.constant(activation.step_width, tf.float32)),
        batchnorm=None if batchnorm is None else (
            tf.constant(batchnorm.gamma), tf.constant(batchnorm.beta),
            tf.constant(batchnorm.mean), tf.constant(batchnorm.variance), batchnorm.epsilon),
        pool_area=pool_area, scale=float(input_scaling[0]), shift=int(input_scaling[1]))


def block_registers(block: Block, input_scaling: Tuple[float, int], index: int = 1,
                    input_is_sparse: bool = False) -> BlockRegisters:
    """Computes one block's Akida integer weights, thresholds and act_steps.

    Evaluates :func:`register_tensors` (the formula hardware-exact training uses too) on the
    block's weights, and checks that the quantizers put the weights on their integer grid.

    Arguments:
        block: a block from :func:`cnn2snn_tfmot.conversion.blocks.analyze`.
        input_scaling: ``(s, z)``, the block's input scaling.
        index: the block's position (0 is the input layer unless ``input_is_sparse``).
        input_is_sparse: whether the model starts with InputData.

    Returns:
        A :class:`BlockRegisters` (thresholds not yet checked against the registers: see
        :func:`cnn2snn_tfmot.chip.rules.register_problems`).

    Example:
        >>> from cnn2snn_tfmot.conversion.registers import block_registers
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> block = analyze(model_quantized).blocks[0]
        >>> registers = block_registers(block, (255, 0), index=0)
        >>> registers.kind, registers.weights.shape, registers.act_bits
        ('input', (3, 3, 1, 8), 4)
    """
    neural = block.neural
    kind = akida_kind(block, index, input_is_sparse)
    tensors = register_tensors(block_inputs(block, kind, input_scaling))
    arrays = {role: _integer_array(tensors["integers"][role], neural.kernels[role],
                                   neural.quantizers[role], neural.name, role)
              for role in neural.kernels}
    separable = neural.kind == "separable"
    activation = block.activation
    threshold_float = tensors["threshold_float"].numpy()
    return BlockRegisters(
        name=neural.name, kind=kind,
        weights=arrays["depthwise" if separable else "kernel"],
        weights_pw=arrays["pointwise"] if separable else None,
        scale_factor=tensors["scale_factor"].numpy(), threshold_float=threshold_float,
        threshold=_floored(threshold_float),
        act_step=tensors["act_step"].numpy(),
        act_bits=None if activation is None else activation.bitwidth,
        output_scaling=output_scaling(activation))


def _floored(threshold_float: np.ndarray) -> np.ndarray:
    """int64 thresholds; a non-finite or huge float (reported by
    :func:`cnn2snn_tfmot.chip.rules.register_problems` from ``threshold_float``) becomes a value
    far out of every register's range instead of an undefined cast."""
    finite = np.where(np.isfinite(threshold_float), threshold_float, 2.0 ** 62)
    return np.floor(np.clip(finite, -2.0 ** 62, 2.0 ** 62)).astype(np.int64)


def output_scaling(activation) -> Tuple[float, int]:
    """The input scaling of the block after one whose activation is ``activation``.

    The next block receives the activation's integer levels: ``(1 / step_height, 0)``.

    Arguments:
        activation: the block's ActivationItem, or None (raw potentials: ``(1.0, 0)``).

    Returns:
        ``(scale, shift)``.

    Example:
        >>> from cnn2snn_tfmot.conversion.registers import output_scaling
        >>> output_scaling(None)
        (1.0, 0)
    """
    if activation is None:
        return (1.0, 0)
    return (1.0 / float(np.float32(activation.step_height)), 0)


def model_registers(analysis, input_scaling: Tuple[float, int],
                    input_is_sparse: bool) -> List[BlockRegisters]:
    """The registers of every block of an analysed model, chaining the input scalings.

    Arguments:
        analysis: from :func:`cnn2snn_tfmot.conversion.blocks.analyze`, without violations.
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
