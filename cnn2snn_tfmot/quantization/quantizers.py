"""Weight quantizers and the quantized-activation formula (docs/akida-v1.md sections 1 and 2).

A weight quantizer is written once and serves twice: the cnn2snn-style ``Quantized*`` layers call
it, and the TFMOT ``QuantizeConfig``s of :mod:`cnn2snn_tfmot.quantization.configs` return it, since
every quantizer here implements TFMOT's ``Quantizer`` interface (``build`` creates its variables
on the layer, ``__call__`` quantizes). Quantizers are registered Keras serializables, so saved
models reload without ``custom_objects``.

The arithmetic, for bitwidth ``b`` and ``kmax = 2**(b-1) - 1``::

    w_q = clip(round(w * sf), -kmax, kmax) / sf       # round half to even

with a straight-through estimator: the gradient with respect to ``w`` is 1 (through the round
and the clip). The scale factor is computed from ``stop_gradient(w)``, so ``w`` gets no
gradient through ``sf`` either, while a trainable quantizer's own variables do.
"""
from __future__ import annotations

import json
import warnings
from typing import Optional, Tuple

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = [
    "WeightQuantizerBase", "LinearWeightQuantizer", "MaxQuantizer", "MaxPerAxisQuantizer",
    "StdWeightQuantizer", "WeightQuantizer", "TrainableStdWeightQuantizer",
    "TrainableWeightQuantizer", "WeightFloat", "check_weight_bitwidth",
    "check_activation_bitwidth", "default_weight_quantizer", "discrete_relu_parameters",
    "default_top_level", "check_max_value", "relu_max_value",
    "add_activation_variables", "quantized_activation",
]

WEIGHT_BITWIDTHS = range(2, 9)
ACTIVATION_BITWIDTHS = range(1, 9)
_register = keras.utils.register_keras_serializable(package="cnn2snn_tfmot")


def _check_bitwidth(bitwidth, argument: str, valid: range, what: str, hint: str) -> int:
    if isinstance(bitwidth, (bool, np.bool_)) or not isinstance(bitwidth, (int, np.integer)) \
            or int(bitwidth) not in valid:
        raise ValueError(f"`{argument}` must be an integer {what} bitwidth in "
                         f"{valid.start}..{valid.stop - 1} ({hint}); got {bitwidth!r}.")
    return int(bitwidth)


def check_weight_bitwidth(bitwidth, argument: str = "bitwidth") -> int:
    """Returns ``bitwidth`` as an int if it is a valid weight bitwidth (2..8), else raises.

    Arguments:
        bitwidth: the value to check.
        argument: the argument's name, for the message.

    Returns:
        The bitwidth as a Python int.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import check_weight_bitwidth
        >>> check_weight_bitwidth(4)
        4
    """
    return _check_bitwidth(bitwidth, argument, WEIGHT_BITWIDTHS, "weight",
                           "0 means float, with WeightFloat")


def check_activation_bitwidth(bitwidth, argument: str = "bitwidth") -> int:
    """Returns ``bitwidth`` as an int if it is a valid activation bitwidth (1..8), else raises.

    The chip itself runs 1, 2 and 4 bits; the converter enforces that.

    Arguments:
        bitwidth: the value to check.
        argument: the argument's name, for the message.

    Returns:
        The bitwidth as a Python int.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import check_activation_bitwidth
        >>> check_activation_bitwidth(2)
        2
    """
    return _check_bitwidth(bitwidth, argument, ACTIVATION_BITWIDTHS, "activation",
                           "Akida runs 1, 2 or 4")


class ConfigEqualityMixin:
    """Equality, hashing and ``from_config`` from ``get_config()``, for quantizers and configs.

    Two objects are equal when they have the same type and the same configuration.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import MaxQuantizer
        >>> MaxQuantizer(4) == MaxQuantizer(4)
        True
    """

    @classmethod
    def from_config(cls, config: dict):
        """Creates an object from ``get_config()``'s output."""
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__, json.dumps(self.get_config(), sort_keys=True,
                                                     default=str)))

    def __repr__(self):
        arguments = ", ".join(f"{k}={v!r}" for k, v in self._repr_arguments().items())
        return f"{type(self).__name__}({arguments})"

    def _repr_arguments(self) -> dict:
        """The constructor arguments ``repr`` shows (the config, unless overridden)."""
        return self.get_config()


def _safe_scale(kmax: float, limit):
    """``kmax / limit`` where ``limit > 0``, else 1: a dead (all-zero) channel stays finite."""
    positive = limit > 0
    return tf.where(positive, kmax / tf.where(positive, limit, tf.ones_like(limit)),
                    tf.ones_like(limit))


class WeightQuantizerBase(ConfigEqualityMixin, tfmot.quantization.keras.quantizers.Quantizer):
    """Abstract base of the weight quantizers: ``scale_factor(w)`` and ``quantize(w)``.

    It also implements TFMOT's ``Quantizer`` interface, so that any subclass can be returned by
    a ``QuantizeConfig``: ``build(tensor_shape, name, layer)`` creates the quantizer's variables
    on ``layer`` (none for most quantizers) and ``__call__`` quantizes.

    Arguments:
        bitwidth: the number of bits of the integer weights, 2..8.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import WeightQuantizerBase
        >>> from cnn2snn_tfmot import tf
        >>> class Halves(WeightQuantizerBase):
        ...     def scale_factor(self, w):
        ...         return tf.constant(2.0)
        ...     def quantize(self, w):
        ...         return tf.round(w * 2.0) / 2.0
    """

    #: True when ``scale_factor`` returns one value per output channel (last axis).
    per_axis = False

    def __init__(self, bitwidth: int = 4):
        self.bitwidth = check_weight_bitwidth(bitwidth)
        self.kmax_ = 2 ** (self.bitwidth - 1) - 1
        self._variables: Optional[dict] = None

    def scale_factor(self, w):
        """Evaluates the scale factor for the weights ``w``.

        Arguments:
            w: the float weights tensor.

        Returns:
            A scalar tensor, or one value per last-axis channel for a per-axis quantizer.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement scale_factor(w).")

    def quantize(self, w):
        """Quantizes the weights ``w``.

        Arguments:
            w: the float weights tensor.

        Returns:
            A tensor of the same shape and dtype holding the discretized float weights.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement quantize(w).")

    def integer_weights(self, w):
        """The integer weights the chip stores, and the scale factor: ``w_int = w_q * sf``.

        ``round(quantize(w) * scale_factor(w))``, with a straight-through gradient through the
        rounding; :class:`LinearWeightQuantizer` gives the integers of its formula directly.
        ``convert()`` and hardware-exact training both take their integers from here.

        Arguments:
            w: the float weights tensor.

        Returns:
            ``(integers, sf)``: a float tensor of integer values like ``w``, and the scale
            factor (scalar or per last-axis channel).

        Example:
            >>> from cnn2snn_tfmot.quantization.quantizers import MaxQuantizer
            >>> from cnn2snn_tfmot import tf
            >>> integers, sf = MaxQuantizer(4).integer_weights(tf.constant([0.7, -0.05, 0.2]))
            >>> integers.numpy(), float(sf)
            (array([7., 0., 2.], dtype=float32), 10.0)
        """
        w = tf.convert_to_tensor(w)
        sf = tf.cast(self.scale_factor(tf.stop_gradient(w)), w.dtype)
        scaled = self.quantize(w) * sf
        return scaled + tf.stop_gradient(tf.round(scaled) - scaled), sf

    def set_bitwidth(self, bitwidth: int, kernel=None) -> None:
        """Changes the bitwidth in place (a bitwidth schedule, during training).

        The quantizer's variables keep their shapes; a quantizer with a learned step restarts
        it (see :class:`~cnn2snn_tfmot.quantization.learned.LearnedStepQuantizer`). A model
        whose quantizers changed must retrace its training function (``BitwidthSchedule``
        does).

        Arguments:
            bitwidth: the new bitwidth, 2..8.
            kernel: the weights it quantizes (used by quantizers that re-initialise).

        Example:
            >>> from cnn2snn_tfmot.quantization.quantizers import MaxPerAxisQuantizer
            >>> quantizer = MaxPerAxisQuantizer(4)
            >>> quantizer.set_bitwidth(2)
            >>> quantizer
            MaxPerAxisQuantizer(bitwidth=2)
        """
        if self.kmax_ is None:
            raise ValueError(f"{self!r} has float weights: it has no bitwidth to change.")
        self.bitwidth = check_weight_bitwidth(bitwidth)
        self.kmax_ = 2 ** (self.bitwidth - 1) - 1

    # TFMOT Quantizer interface -------------------------------------------------------------
    def build(self, tensor_shape, name: str, layer) -> dict:
        """Creates the quantizer's variables on ``layer`` (TFMOT interface); none by default."""
        return {}

    def _check_unbuilt(self, layer) -> None:
        """Refuses a second ``build`` of a quantizer that owns variables: they belong to the
        one weight of the one layer that built it."""
        if self._variables is not None:
            raise ValueError(
                f"This {type(self).__name__} already quantizes another weight; a trainable "
                f"quantizer serves one weight of one layer. Give layer '{layer.name}' its own "
                f"instance, e.g. {type(self).__name__}.from_config(quantizer.get_config()).")

    def __call__(self, inputs, training=None, weights=None, **kwargs):
        """Quantizes ``inputs`` (TFMOT interface); same result in training and inference."""
        return self.quantize(inputs)

    def get_config(self) -> dict:
        """Returns the quantizer's configuration (its constructor arguments)."""
        return {"bitwidth": self.bitwidth}


class LinearWeightQuantizer(WeightQuantizerBase):
    """Abstract symmetric linear quantizer: subclasses override only ``scale_factor``.

    ``quantize(w) = clip(round(w * sf), -kmax, kmax) / sf`` with ``sf = scale_factor(w)``,
    rounding half to even, and a straight-through gradient (1 with respect to ``w``).

    Arguments:
        bitwidth: the number of bits of the integer weights, 2..8.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import LinearWeightQuantizer
        >>> from cnn2snn_tfmot import tf
        >>> class TwoSigma(LinearWeightQuantizer):
        ...     def scale_factor(self, w):
        ...         return self.kmax_ / (2 * tf.math.reduce_std(w))
        >>> TwoSigma(bitwidth=4).quantize(tf.constant([0.1, -0.5, 2.0])).numpy()
        array([ 0.        , -0.60892826,  2.131249  ], dtype=float32)
    """

    def quantize(self, w):
        integers, sf = self.integer_weights(w)
        return integers / sf

    def integer_weights(self, w):
        w = tf.convert_to_tensor(w)
        # sf from stop_gradient(w): w's gradient stays exactly 1, while trainable variables
        # inside scale_factor (TrainableStdWeightQuantizer's threshold) still get theirs.
        sf = tf.cast(self.scale_factor(tf.stop_gradient(w)), w.dtype)
        scaled = w * sf
        levels = tf.clip_by_value(tf.round(scaled), -float(self.kmax_), float(self.kmax_))
        return scaled + tf.stop_gradient(levels - scaled), sf


@_register
class MaxQuantizer(LinearWeightQuantizer):
    """Per-tensor quantizer on the range of the largest absolute weight.

    ``sf = kmax / max|w|`` (1 when all weights are zero).

    Arguments:
        bitwidth: the number of bits of the integer weights, 2..8.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import MaxQuantizer
        >>> from cnn2snn_tfmot import tf
        >>> MaxQuantizer(bitwidth=4).quantize(tf.constant([0.7, -0.05, 0.2])).numpy()  # 0.1 steps
        array([0.7, 0. , 0.2], dtype=float32)
    """

    def scale_factor(self, w):
        return _safe_scale(float(self.kmax_), tf.reduce_max(tf.abs(w)))


@_register
class MaxPerAxisQuantizer(LinearWeightQuantizer):
    """Per-output-channel quantizer: one ``kmax / max|w[..., f]|`` per last-axis index ``f``.

    The default quantizer of :func:`cnn2snn_tfmot.quantize`. On a depthwise kernel of depth
    multiplier 1 it equals :class:`MaxQuantizer`.

    Arguments:
        bitwidth: the number of bits of the integer weights, 2..8.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import MaxPerAxisQuantizer
        >>> from cnn2snn_tfmot import tf
        >>> MaxPerAxisQuantizer(bitwidth=8).scale_factor(tf.ones((3, 3, 1, 2))).numpy()
        array([127., 127.], dtype=float32)
    """

    per_axis = True

    def scale_factor(self, w):
        axes = list(range(len(w.shape) - 1))
        return _safe_scale(float(self.kmax_), tf.reduce_max(tf.abs(w), axis=axes))


@_register
class StdWeightQuantizer(LinearWeightQuantizer):
    """Per-tensor quantizer on a range of ``threshold`` standard deviations of the weights.

    ``sf = kmax / (threshold * std(w))``; weights beyond the range saturate at ``+-kmax``.
    Also exported as ``WeightQuantizer``.

    Arguments:
        threshold: the number of standard deviations of the range (default 3).
        bitwidth: the number of bits of the integer weights, 2..8.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.quantization.quantizers import StdWeightQuantizer
        >>> w = tf.constant(np.random.default_rng(0).normal(size=(64, 10)), tf.float32)
        >>> len(np.unique(StdWeightQuantizer(threshold=3, bitwidth=4).quantize(w)))  # 2 * 7 + 1
        15
    """

    def __init__(self, threshold: float = 3, bitwidth: int = 4):
        super().__init__(bitwidth)
        if not isinstance(threshold, (int, float, np.floating, np.integer)) or not threshold > 0:
            raise ValueError(f"`threshold` must be a positive number of standard deviations; "
                             f"got {threshold!r}.")
        self.threshold = float(threshold)

    def _threshold(self):
        return tf.constant(self.threshold, tf.float32)

    def scale_factor(self, w):
        limit = tf.cast(self._threshold(), w.dtype) * tf.math.reduce_std(w)
        return _safe_scale(float(self.kmax_), limit)

    def get_config(self) -> dict:
        return {"threshold": self.threshold, "bitwidth": self.bitwidth}


@_register
class TrainableStdWeightQuantizer(StdWeightQuantizer):
    """:class:`StdWeightQuantizer` whose ``threshold`` is a trainable variable of the layer.

    The variable (named ``<weight>_threshold``, e.g. ``kernel_threshold``) is created when the
    layer builds; it starts at ``threshold`` and learns through the straight-through estimator.
    One instance serves one weight of one layer. Also exported as ``TrainableWeightQuantizer``.

    Arguments:
        threshold: the initial number of standard deviations (default 3).
        bitwidth: the number of bits of the integer weights, 2..8.

    Example:
        >>> from cnn2snn_tfmot import QuantizedDense, tf
        >>> from cnn2snn_tfmot.quantization.quantizers import TrainableStdWeightQuantizer
        >>> layer = QuantizedDense(10, quantizer=TrainableStdWeightQuantizer(bitwidth=4), name="d")
        >>> _ = layer(tf.ones((1, 8)))
        >>> [weight.name for weight in layer.trainable_weights]
        ['d/kernel:0', 'd/bias:0', 'd/kernel_threshold:0']
    """

    # It owns a variable: two instances of the same configuration are still different objects
    # for Keras's shared-object tracking (keyed by hash), which would otherwise merge them.
    __hash__ = None

    def build(self, tensor_shape, name: str, layer) -> dict:
        self._check_unbuilt(layer)
        variable = layer.add_weight(
            name=f"{name}_threshold", shape=(), dtype=tf.float32, trainable=True,
            initializer=keras.initializers.Constant(self.threshold))
        self._variables = {"threshold": variable}
        return self._variables

    def _threshold(self):
        if self._variables is None:  # used outside a layer: the initial value
            return super()._threshold()
        return self._variables["threshold"]


@_register
class WeightFloat(WeightQuantizerBase):
    """A quantizer that does not quantize: float weights, for training or mixed models.

    Arguments:
        bitwidth: only 0 (float) is accepted; kept for symmetry with the other quantizers.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import WeightFloat
        >>> from cnn2snn_tfmot import tf
        >>> WeightFloat().quantize(tf.constant([0.123])).numpy()  # unchanged
        array([0.123], dtype=float32)
    """

    def __init__(self, bitwidth: int = 0):
        if bitwidth != 0 or isinstance(bitwidth, bool):
            raise ValueError(f"WeightFloat has `bitwidth` 0 (float weights); got {bitwidth!r}. "
                             "Use a quantizer such as MaxQuantizer for 2..8 bits.")
        self.bitwidth = 0
        self.kmax_ = None  # no integer grid
        self._variables = None

    def scale_factor(self, w):
        return tf.constant(1.0, tf.float32)

    def quantize(self, w):
        return tf.convert_to_tensor(w)

    def get_config(self) -> dict:
        return {}


WeightQuantizer = StdWeightQuantizer
TrainableWeightQuantizer = TrainableStdWeightQuantizer


def default_weight_quantizer(bitwidth: int, per_axis: bool) -> WeightQuantizerBase:
    """The quantizer ``quantize()`` and the Akida TFMOT scheme give a kernel by default.

    Arguments:
        bitwidth: 2..8, or 0 for float weights.
        per_axis: one scale factor per output channel (MaxPerAxisQuantizer) or one per tensor
            (MaxQuantizer, required for depthwise kernels).

    Returns:
        A new quantizer instance.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import default_weight_quantizer
        >>> default_weight_quantizer(4, per_axis=False)
        MaxQuantizer(bitwidth=4)
    """
    if bitwidth == 0 and not isinstance(bitwidth, bool):
        return WeightFloat()
    return MaxPerAxisQuantizer(bitwidth) if per_axis else MaxQuantizer(bitwidth)


# Activations ------------------------------------------------------------------------------

def discrete_relu_parameters(bitwidth: int, max_value: Optional[float] = None
                             ) -> Tuple[float, float]:
    """The (threshold, step) of ActivationDiscreteRelu(bitwidth, max_value), docs/akida-v1.md
    section 2.

    ``step = top / levels`` with ``levels = 2**bitwidth - 1`` and ``top = min(levels, 6)`` (or
    ``max_value`` when given: the top level then equals a bounded ReLU's clip),
    ``threshold = step / 2``: the activation covers [0, 6] (1-bit and 2-bit: [0, levels] with
    step 1).

    Arguments:
        bitwidth: the activation bitwidth, 1..8.
        max_value: the value of the top level, or None for BrainChip's cnn2snn default.

    Returns:
        ``(threshold, step)`` as Python floats.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import discrete_relu_parameters
        >>> discrete_relu_parameters(4)
        (0.2, 0.4)
        >>> discrete_relu_parameters(2, max_value=6.0)
        (1.0, 2.0)
    """
    levels = 2 ** check_activation_bitwidth(bitwidth) - 1
    top = default_top_level(bitwidth) if max_value is None else check_max_value(max_value)
    step = top / levels
    return step / 2, step


def default_top_level(bitwidth: int) -> float:
    """The value of the top level of a ``bitwidth``-bit discrete ReLU: ``min(levels, 6)``.

    Arguments:
        bitwidth: the activation bitwidth, 1..8.

    Returns:
        The top level's value (6 for 4 bits, 3 for 2 bits, 1 for 1 bit).

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import default_top_level
        >>> default_top_level(4), default_top_level(2)
        (6.0, 3.0)
    """
    return float(min(2 ** check_activation_bitwidth(bitwidth) - 1, 6))


def check_max_value(max_value, argument: str = "max_value") -> float:
    """Returns ``max_value`` as a float if it is a positive finite number, else raises.

    Arguments:
        max_value: the value to check.
        argument: the argument's name, for the message.

    Returns:
        The float.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import check_max_value
        >>> check_max_value(6)
        6.0
    """
    array = np.asarray(max_value)  # Keras stores a ReLU's max_value as a 0-d array
    if isinstance(max_value, bool) or array.shape != () or array.dtype.kind not in "iuf" \
            or not np.isfinite(array) or array <= 0:
        raise ValueError(f"`{argument}` must be a positive number (the value of the top "
                         f"activation level); got {max_value!r}.")
    return float(array)


def relu_max_value(name: str, max_value, bitwidth: int) -> Optional[float]:
    """The ``max_value`` a quantized activation needs to replace a ReLU clipping at
    ``max_value``: None when the default top level already equals it (or there is no clip).

    A ReLU is never changed silently: when its clip differs from the default top level, the
    quantized activation gets steps of ``max_value / levels`` (its top level is the clip), and
    a warning names the layer and what was done.

    Arguments:
        name: the ReLU's name.
        max_value: its ``max_value`` (None: unbounded).
        bitwidth: the activation bitwidth.

    Returns:
        None, or the top level to give the quantized activation.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import relu_max_value
        >>> relu_max_value("relu", 6.0, 4) is None  # ReLU6 at 4 bits: steps of 0.4 reach 6
        True
    """
    if max_value is None:
        return None
    top = check_max_value(max_value, f"max_value of ReLU '{name}'")
    if top == default_top_level(bitwidth):
        return None
    levels = 2 ** bitwidth - 1
    warnings.warn(f"ReLU '{name}' clips at max_value={top:g}, while a {bitwidth}-bit discrete "
                  f"ReLU tops at {default_top_level(bitwidth):g}: its quantized activation "
                  f"keeps the clip, with steps of {top / levels:g} (max_value={top:g}) instead "
                  f"of {default_top_level(bitwidth) / levels:g}.", UserWarning, stacklevel=3)
    return top


def add_activation_variables(layer, bitwidth: int, prefix: str = "",
                             max_value: Optional[float] = None) -> dict:
    """Creates the trainable ``threshold`` and ``step`` of a quantized ReLU on ``layer``.

    They start at the ActivationDiscreteRelu values of ``bitwidth`` (and ``max_value``).
    QuantizedReLU and the trainable TFMOT ActivationQuantizer both create theirs here.

    Arguments:
        layer: the Keras layer that owns the variables.
        bitwidth: the activation bitwidth, 1..8.
        prefix: a prefix of the variable names (e.g. "output_" gives "output_threshold").
        max_value: the initial top level (None: the default, see discrete_relu_parameters).

    Returns:
        ``{"threshold": variable, "step": variable}``.

    Example:
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.quantization.quantizers import add_activation_variables
        >>> layer = keras.layers.Layer()
        >>> sorted(add_activation_variables(layer, 4))
        ['step', 'threshold']
    """
    threshold, step = discrete_relu_parameters(bitwidth, max_value)
    return {name: layer.add_weight(name=f"{prefix}{name}", shape=(), dtype=tf.float32,
                                   trainable=True, initializer=keras.initializers.Constant(value))
            for name, value in (("threshold", threshold), ("step", step))}


def quantized_activation(x, threshold, step_height, step_width, levels: int):
    """The quantized activation ``step_height * clip(ceil((x - threshold) / step_width), 0, L)``.

    ``L`` is ``levels``.

    Gradient (straight-through): that of the clipped linear function, i.e.
    ``step_height / step_width`` where ``threshold < x < threshold + levels * step_width``, else
    0; ``threshold``, ``step_height`` and ``step_width`` get their gradients too, so they can be
    trainable variables. The gradient is written by hand: the same values as differentiating
    the clipped linear function, in a third of the elementwise passes.

    Arguments:
        x: the input potentials (float tensor).
        threshold: scalar tensor or float, the activation threshold.
        step_height: scalar, the height of one activation step.
        step_width: scalar, the width of one step of input.
        levels: the number of positive levels, ``2**bitwidth - 1``.

    Returns:
        A tensor like ``x`` holding ``step_height * level``.

    Example:
        >>> from cnn2snn_tfmot.quantization.quantizers import quantized_activation
        >>> from cnn2snn_tfmot import tf
        >>> quantized_activation(tf.constant([0.1, 0.3, 9.0]), 0.2, 0.4, 0.4, 15).numpy()
        array([0. , 0.4, 6. ], dtype=float32)
    """
    x = tf.convert_to_tensor(x)
    return _quantized_activation(x, tf.cast(threshold, x.dtype), tf.cast(step_height, x.dtype),
                                 tf.cast(step_width, x.dtype),
                                 tf.constant(float(levels), x.dtype))


@tf.custom_gradient
def _quantized_activation(x, threshold, step_height, step_width, levels):
    z = (x - threshold) / step_width
    level = tf.clip_by_value(tf.math.ceil(z), 0.0, levels)

    def gradient(upstream):
        inside = tf.cast(tf.logical_and(z > 0.0, z < levels), upstream.dtype)
        dx = upstream * inside * (step_height / step_width)
        # y = h * z inside the range: dy/dt = -h/w, dy/dw = -h z / w, dy/dh = level.
        return (dx, -tf.reduce_sum(dx), tf.reduce_sum(upstream * level),
                -tf.reduce_sum(dx * z), None)

    return step_height * level, gradient
