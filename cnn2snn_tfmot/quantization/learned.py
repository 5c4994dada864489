"""Learned step sizes: the LSQ and LSQ+ quantizers, for weights and activations.

LSQ (Esser et al., "Learned Step Size Quantization", ICLR 2020) makes the quantizer's step a
trainable variable and gives it the gradient of the quantized value (the straight-through
estimator inside the range, the clipped level outside), multiplied by ``g = 1 / sqrt(N * Qp)``,
with ``N`` the number of values the step quantizes (weights of the tensor or of the channel;
features of one example for an activation) and ``Qp`` the top integer level. LSQ+ (Bhalgat et
al., CVPRW 2020) adds a learned offset and initialises from the tensor's moments (weights) or by
minimising the quantization error (activations).

On Akida the weights are symmetric integers in ``[-kmax, kmax]`` and an activation fires level
``clip(ceil((x - threshold) / step), 0, levels)`` (docs/akida-v1.md sections 1 and 2), so:

* :class:`LearnedStepQuantizer`: ``w_int = round(clip(w / s, -kmax, kmax))``, scale factor
  ``1 / s``, one ``s`` per tensor or per output channel (a ``<weight>_step`` variable of the
  layer);
* :class:`LearnedStepReLU` (a quantized activation layer) and :class:`LearnedActivationQuantizer`
  (its TFMOT twin, for ``ReLUQuantizeConfig``): ``step = s`` and ``threshold = s / 2`` (round to
  nearest, as LSQ does), plus the learned offset ``b`` with LSQ+ (``threshold = s / 2 + b``: on
  the chip the offset costs nothing, it is the threshold).

They are ordinary quantizers and quantized activations of the package: ``convert()``,
``hardware_exact`` and ``ScaleFactorMonitor`` read their scale factors, thresholds and steps as
they read the others', and take the chip's act_steps and thresholds from the learned steps. The
activation steps receive exactly LSQ's gradient through
:func:`~cnn2snn_tfmot.quantization.quantizers.quantized_activation`.

Initialisation: a weight step starts from the kernel the layer holds when it is built (TFMOT's
``quantize_apply`` builds its wrappers on the trained weights) by the method's formula; an
activation step starts at the step of ``ActivationDiscreteRelu`` of the same bitwidth. After
loading other weights, or to start activations from data as the papers do, call
:func:`initialize_steps`.

Example:
    >>> from cnn2snn_tfmot.quantization.learned import LearnedStepQuantizer, LearnedStepReLU
    >>> from cnn2snn_tfmot.quantization.layers import QuantizedDense
    >>> from cnn2snn_tfmot.tfkeras import keras
    >>> model = keras.Sequential([keras.Input((6,)), QuantizedDense(
    ...     4, quantizer=LearnedStepQuantizer(2, per_axis=True), name="dense"),
    ...     LearnedStepReLU(2, name="relu")])
    >>> sorted(weight.name for weight in model.trainable_weights)
    ['dense/bias:0', 'dense/kernel:0', 'dense/kernel_step:0', 'relu/step:0']
"""
from __future__ import annotations

import math
from typing import Dict, Optional, Tuple

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.quantization.configs import (
    ActivationQuantizer,
    NeuralQuantizeConfig,
    ReLUQuantizeConfig,
)
from cnn2snn_tfmot.quantization.layers import QuantizedActivation, QuantizedLayerMixin
from cnn2snn_tfmot.quantization.quantizers import (
    WeightQuantizerBase,
    check_activation_bitwidth,
    check_max_value,
    discrete_relu_parameters,
    quantized_activation,
)
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = ["LearnedStepQuantizer", "LearnedStepReLU", "LearnedActivationQuantizer",
           "initialize_steps", "initial_weight_step", "initial_activation_step",
           "gradient_scale", "scale_gradient", "METHODS"]

#: The initialisation and parametrisation methods: "lsq" (Esser et al.), "lsq+" (Bhalgat et al.).
METHODS = ("lsq", "lsq+")
#: A step never computes below this (a variable driven through zero acts as its absolute value).
_MIN_STEP = 1e-8
_register = keras.utils.register_keras_serializable(package="cnn2snn_tfmot")
_QuantizeWrapper = tfmot.quantization.keras.QuantizeWrapper


def _check_method(method, owner: str) -> str:
    if method not in METHODS:
        raise ValueError(f"{owner}: `method` must be one of {', '.join(map(repr, METHODS))} "
                         f"(LSQ, or LSQ+ with its initialisation and learned offset); got "
                         f"{method!r}.")
    return method


def gradient_scale(count: int, top_level: int) -> float:
    """LSQ's gradient scale of a step, ``g = 1 / sqrt(count * top_level)``.

    Arguments:
        count: the number of values the step quantizes (weights of the tensor, or of one output
            channel; features of one example for an activation).
        top_level: ``Qp``, the largest integer level (``kmax`` for weights, ``2**b - 1`` for
            activations).

    Returns:
        The scale, a Python float.

    Example:
        >>> from cnn2snn_tfmot.quantization.learned import gradient_scale
        >>> gradient_scale(9 * 16, 1)   # a 2-bit 3x3x16 channel: 1 / sqrt(144)
        0.08333333333333333
    """
    return 1.0 / math.sqrt(max(int(count), 1) * max(int(top_level), 1))


@tf.custom_gradient
def _scaled_gradient(x, scale):
    def gradient(upstream):
        return upstream * scale, None

    return tf.identity(x), gradient


def scale_gradient(x, scale: float):
    """``x`` unchanged forward (bit for bit), its gradient multiplied by ``scale`` backward.

    Arguments:
        x: a tensor or variable.
        scale: the gradient factor.

    Returns:
        A tensor equal to ``x``.

    Example:
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.quantization.learned import scale_gradient
        >>> step = tf.Variable(0.5)
        >>> with tf.GradientTape() as tape:
        ...     y = 3.0 * scale_gradient(step, 0.1)
        >>> float(y), round(float(tape.gradient(y, step)), 6)
        (1.5, 0.3)
    """
    x = tf.convert_to_tensor(x)
    return _scaled_gradient(x, tf.constant(scale, x.dtype))


def _positive(step):
    """The step as computed: its absolute value, never below _MIN_STEP (exactly the variable's
    value when it is positive)."""
    return tf.maximum(tf.abs(step), tf.constant(_MIN_STEP, step.dtype))


def _reciprocal(step):
    """``1 / step``, correctly rounded in graphs too: TensorFlow's graph optimizer turns
    ``1.0 / x`` into a Reciprocal, whose vectorized float32 kernel is off by one unit in the
    last place on a third of the values, and the chip's scale factors must be those of
    ``convert()`` bit for bit. DivNoNan is not rewritten (and the step is never zero)."""
    return tf.math.divide_no_nan(tf.ones_like(step), step)


def initial_weight_step(w, bitwidth: int, per_axis: bool = False, method: str = "lsq"):
    """The initial step of a weight quantizer, from the weights.

    * "lsq": ``2 * mean(|w|) / sqrt(kmax)`` (Esser et al.);
    * "lsq+": ``max(|mean - 3 std|, |mean + 3 std|) / 2**(b-1)`` (Bhalgat et al.).

    A tensor (or channel) of zeros gets step 1.

    Arguments:
        w: the float weights (tensor or array), output channels on the last axis.
        bitwidth: the weight bitwidth, 2..8 (``kmax = 2**(b-1) - 1``).
        per_axis: one step per output channel (last axis) instead of one per tensor.
        method: "lsq" or "lsq+".

    Returns:
        A float32 tensor: a scalar, or one step per output channel.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.quantization.learned import initial_weight_step
        >>> float(initial_weight_step(np.array([0.5, -1.0, 1.5], np.float32), bitwidth=2))
        2.0
    """
    _check_method(method, "initial_weight_step")
    w = tf.cast(tf.convert_to_tensor(w), tf.float32)
    axes = list(range(len(w.shape) - 1)) if per_axis else None
    if method == "lsq":
        kmax = 2 ** (int(bitwidth) - 1) - 1
        step = 2.0 * tf.reduce_mean(tf.abs(w), axis=axes) / math.sqrt(kmax)
    else:
        mean = tf.reduce_mean(w, axis=axes)
        std = tf.math.reduce_std(w, axis=axes)
        step = tf.maximum(tf.abs(mean - 3 * std), tf.abs(mean + 3 * std)) / 2.0 ** (bitwidth - 1)
    return tf.where(step > 0, step, tf.ones_like(step))


def _fire(values, step: float, offset: float, levels: int):
    return step * np.clip(np.ceil((values - offset) / step - 0.5), 0, levels)


def initial_activation_step(x, bitwidth: int, method: str = "lsq",
                            max_value: Optional[float] = None) -> Tuple[float, float]:
    """The initial step and offset of a learned activation, from a sample of its inputs.

    The activation quantizes ``relu(x)``:

    * "lsq": ``step = 2 * mean(relu(x)) / sqrt(levels)`` (Esser et al.), offset 0;
    * "lsq+": the step minimising the mean squared quantization error of ``relu(x)`` (Bhalgat et
      al.), searched on 200 candidates between ``top / 1000`` and ``top`` per level, with ``top``
      the largest value; offset 0 (the minimum of a ReLU's output).

    Inputs that are all zero give the step of ``ActivationDiscreteRelu(bitwidth, max_value)``.

    Arguments:
        x: the activation's inputs (any shape).
        bitwidth: the activation bitwidth, 1..8 (``levels = 2**b - 1``).
        method: "lsq" or "lsq+".
        max_value: the top level of the fallback step (None: ``min(levels, 6)``).

    Returns:
        ``(step, offset)`` as Python floats.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.quantization.learned import initial_activation_step
        >>> initial_activation_step(np.array([0.0, 1.0, 2.0, -5.0]), bitwidth=2)  # 1.5 / 3**.5
        (0.8660254037844387, 0.0)
    """
    _check_method(method, "initial_activation_step")
    levels = 2 ** check_activation_bitwidth(bitwidth) - 1
    values = np.maximum(np.asarray(x, np.float64).ravel(), 0.0)
    if not values.size or not np.any(values > 0):
        return discrete_relu_parameters(bitwidth, max_value)[1], 0.0
    if method == "lsq":
        return float(2.0 * values.mean() / math.sqrt(levels)), 0.0
    sample = values[::max(1, values.size // (1 << 18))]
    candidates = float(sample.max()) / levels * np.geomspace(1e-3, 1.0, 200)
    errors = [np.mean((sample - _fire(sample, step, 0.0, levels)) ** 2) for step in candidates]
    return float(candidates[int(np.argmin(errors))]), 0.0


def _kernel_of(layer, name: str):
    """The weight a quantizer quantizes, on a quantized layer or a TFMOT wrapper's layer."""
    for owner in (layer, getattr(layer, "layer", None)):
        value = getattr(owner, name, None) if owner is not None else None
        if isinstance(value, tf.Variable) or hasattr(value, "numpy"):
            return value
    return None


@_register
class LearnedStepQuantizer(WeightQuantizerBase):
    """A weight quantizer whose step is learned (LSQ; LSQ+ initialisation with "lsq+").

    ``w_int = round(clip(w / s, -kmax, kmax))`` with a straight-through estimator inside the
    range; the scale factor the chip uses is ``1 / s``. The step ``s`` is a trainable variable
    of the layer (``<weight>_step``, e.g. ``kernel_step``): one per tensor, or one per output
    channel with ``per_axis=True`` (not for depthwise kernels, which Akida quantizes per
    tensor). Its gradient is LSQ's: ``round(w / s) - w / s`` inside the range, ``+-kmax``
    outside, times ``1 / sqrt(N * kmax)`` (``N`` weights per step) when ``gradient_scale``.
    The weights get gradient 1 inside the range and 0 outside.

    The step starts from the kernel the layer holds when it is built (see
    :func:`initial_weight_step`); one instance serves one weight of one layer.

    Arguments:
        bitwidth: the weight bitwidth, 2..8.
        per_axis: one step per output channel (last axis) instead of one per tensor.
        method: "lsq" (default) or "lsq+": the initialisation formula.
        gradient_scale: multiply the step's gradient by ``1 / sqrt(N * kmax)`` (LSQ).

    Example:
        >>> from cnn2snn_tfmot.quantization.learned import LearnedStepQuantizer
        >>> from cnn2snn_tfmot import tf
        >>> quantizer = LearnedStepQuantizer(bitwidth=4)   # unbuilt: the initial step
        >>> quantizer.quantize(tf.constant([0.1, -0.5, 2.0])).numpy()
        array([ 0.       , -0.6551384,  1.9654151], dtype=float32)
    """

    # It owns a variable: Keras's shared-object tracking (keyed by hash) must not merge two
    # instances of the same configuration.
    __hash__ = None

    def __init__(self, bitwidth: int = 4, per_axis: bool = False, method: str = "lsq",
                 gradient_scale: bool = True):
        super().__init__(bitwidth)
        self.per_axis = bool(per_axis)
        self.method = _check_method(method, "LearnedStepQuantizer")
        self.gradient_scale = bool(gradient_scale)

    def build(self, tensor_shape, name: str, layer) -> dict:
        self._check_unbuilt(layer)
        shape = (int(tensor_shape[-1]),) if self.per_axis else ()
        kernel = _kernel_of(layer, name)

        def initializer(shape, dtype=None, **kwargs):
            if kernel is None:
                return tf.ones(shape, dtype or tf.float32)
            return tf.reshape(self.initial_step(kernel), shape)

        variable = layer.add_weight(name=f"{name}_step", shape=shape, dtype=tf.float32,
                                    trainable=True, initializer=initializer)
        self._variables = {"step": variable}
        return self._variables

    @property
    def step_variable(self) -> Optional[tf.Variable]:
        """The trainable step variable (``<weight>_step`` of the layer), None before ``build``."""
        return None if self._variables is None else self._variables["step"]

    def initial_step(self, w):
        """The method's initial step for the weights ``w`` (:func:`initial_weight_step`).

        Arguments:
            w: the float weights.

        Returns:
            A float32 tensor, scalar or per output channel.
        """
        return initial_weight_step(tf.stop_gradient(tf.convert_to_tensor(w)), self.bitwidth,
                                   self.per_axis, self.method)

    def step(self, w):
        """The step that quantizes ``w``: the variable (positive), with LSQ's gradient scale.

        Arguments:
            w: the float weights (their shape gives ``N``; unbuilt: the initial step of ``w``).

        Returns:
            A float32 tensor, scalar or per output channel.
        """
        if self._variables is None:  # used outside a layer: the initial value
            return self.initial_step(w)
        step = _positive(self._variables["step"])
        if self.gradient_scale:
            shape = [int(d) for d in w.shape]
            count = int(np.prod(shape[:-1] if self.per_axis else shape))
            step = scale_gradient(step, gradient_scale(count, self.kmax_))
        return step

    def initialize(self, w) -> None:
        """Sets the step variable to the method's initial step for ``w`` (after new weights).

        Arguments:
            w: the weights it quantizes.
        """
        if self._variables is None:
            raise ValueError(f"{self!r} is not built: it has no step variable to initialise.")
        variable = self._variables["step"]
        variable.assign(tf.reshape(self.initial_step(w), variable.shape))

    def set_bitwidth(self, bitwidth: int, kernel=None) -> None:
        """Changes the bitwidth; the step restarts from the method's formula for ``kernel``, or
        (without it) is multiplied by ``sqrt(old kmax / new kmax)``, LSQ's initial ratio.

        Arguments:
            bitwidth: the new weight bitwidth, 2..8.
            kernel: the weights it quantizes, or None.
        """
        old = self.kmax_
        super().set_bitwidth(bitwidth)
        if self._variables is None:
            return
        if kernel is not None:
            self.initialize(kernel)
        else:
            variable = self._variables["step"]
            variable.assign(variable * math.sqrt(old / self.kmax_))

    def scale_factor(self, w):
        w = tf.convert_to_tensor(w)
        return _reciprocal(tf.stop_gradient(tf.cast(self.step(w), w.dtype)))

    def integer_weights(self, w):
        w = tf.convert_to_tensor(w)
        step = tf.cast(self.step(w), w.dtype)
        # LSQ: the clip comes before the rounding, so that outside the range w gets no gradient
        # and the step gets +-kmax.
        scaled = tf.clip_by_value(w / step, -float(self.kmax_), float(self.kmax_))
        return scaled + tf.stop_gradient(tf.round(scaled) - scaled), _reciprocal(step)

    def quantize(self, w):
        integers, sf = self.integer_weights(w)
        return integers / sf

    def get_config(self) -> dict:
        return {"bitwidth": self.bitwidth, "per_axis": self.per_axis, "method": self.method,
                "gradient_scale": self.gradient_scale}


def _activation_parameters(step, offset, count: Optional[int], levels: int, scaled: bool):
    """(threshold, step) of a learned activation from its variables."""
    step = _positive(step)
    if scaled and count:
        scale = gradient_scale(count, levels)
        step = scale_gradient(step, scale)
        offset = None if offset is None else scale_gradient(offset, scale)
    threshold = step / 2.0
    if offset is not None:
        threshold = threshold + offset
    return threshold, step


def _count(shape) -> Optional[int]:
    dims = [d for d in list(shape)[1:] if d is not None]
    return int(np.prod(dims)) if dims else None


@_register
class LearnedStepReLU(QuantizedActivation):
    """A quantized ReLU whose step is learned (LSQ), and its offset with "lsq+" (LSQ+).

    ``step * clip(ceil((x - threshold) / step), 0, levels)`` with ``threshold = step / 2``
    (``+ offset`` with LSQ+): a ReLU rounded to the nearest of ``2**bitwidth`` levels. The
    step's gradient is LSQ's (``round(x / s) - x / s`` inside the range, ``levels`` above it),
    times ``1 / sqrt(N * levels)`` with ``N`` the features of one example when
    ``gradient_scale``. The step starts at ActivationDiscreteRelu's (so a model computes what
    it computed with ActivationDiscreteRelu); :func:`initialize_steps` starts it from data.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).
        method: "lsq" (default) or "lsq+" (a learned offset ``offset``, and MSE
            initialisation in :func:`initialize_steps`).
        gradient_scale: multiply the gradients of the step (and offset) by
            ``1 / sqrt(N * levels)``.
        max_value: the initial top level (None: ``min(levels, 6)``, as ActivationDiscreteRelu).

    Example:
        >>> from cnn2snn_tfmot.quantization.learned import LearnedStepReLU
        >>> from cnn2snn_tfmot import tf
        >>> relu = LearnedStepReLU(bitwidth=2, name="relu")
        >>> relu(tf.constant([[0.4, 0.6, 1.7, 9.0]])).numpy()   # step 1: levels 0, 1, 2, 3
        array([[0., 1., 2., 3.]], dtype=float32)
        >>> [weight.name for weight in relu.trainable_weights]
        ['relu/step:0']
    """

    def __init__(self, bitwidth: int = 1, method: str = "lsq", gradient_scale: bool = True,
                 max_value: Optional[float] = None, **kwargs):
        super().__init__(bitwidth, **kwargs)
        self.method = _check_method(method, f"LearnedStepReLU '{self.name}'")
        self.gradient_scale = bool(gradient_scale)
        self.max_value = None if max_value is None else check_max_value(max_value)
        self.count: Optional[int] = None
        self.offset_ = None

    def build(self, input_shape):
        _, step = discrete_relu_parameters(self.bitwidth, self.max_value)
        self.step_ = self.add_weight(name="step", shape=(), dtype=tf.float32, trainable=True,
                                     initializer=keras.initializers.Constant(step))
        if self.method == "lsq+":
            self.offset_ = self.add_weight(name="offset", shape=(), dtype=tf.float32,
                                           trainable=True, initializer="zeros")
        self.count = _count(input_shape)
        super().build(input_shape)

    def _parameters(self):
        return _activation_parameters(self.step_, self.offset_, self.count, self.levels,
                                      self.gradient_scale)

    @property
    def threshold(self):
        return self._parameters()[0]

    @property
    def step_height(self):
        return self._parameters()[1]

    @property
    def step_width(self):
        return self._parameters()[1]

    def initialize(self, x) -> Tuple[float, float]:
        """Sets the step (and offset) from a sample of the layer's inputs
        (:func:`initial_activation_step`).

        Arguments:
            x: inputs of the layer (pre-activations).

        Returns:
            ``(step, offset)``.
        """
        step, offset = initial_activation_step(x, self.bitwidth, self.method, self.max_value)
        self.step_.assign(step)
        if self.offset_ is not None:
            self.offset_.assign(offset)
        return step, offset

    def set_bitwidth(self, bitwidth: int) -> None:
        """Changes the bitwidth; the step is multiplied by ``sqrt(old levels / new levels)``,
        the ratio of LSQ's initial steps (:func:`initialize_steps` restarts it from data).

        Arguments:
            bitwidth: the new activation bitwidth, 1..8.
        """
        old = self.levels
        super().set_bitwidth(bitwidth)
        if self.built:
            self.step_.assign(self.step_ * math.sqrt(old / self.levels))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"method": self.method, "gradient_scale": self.gradient_scale})
        if self.max_value is not None:
            config["max_value"] = self.max_value
        return config


@_register
class LearnedActivationQuantizer(ActivationQuantizer):
    """The TFMOT twin of :class:`LearnedStepReLU`, for ``ReLUQuantizeConfig``.

    It owns the variables ``<name>_step`` (and ``<name>_offset`` with "lsq+") of the wrapper
    (TFMOT names them ``output_step``, ``output_offset``); a TFMOT model using it converts,
    trains hardware-exact and saves as the seed-style model with :class:`LearnedStepReLU`.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).
        method: "lsq" (default) or "lsq+".
        gradient_scale: LSQ's gradient scale of the step (and offset).
        max_value: the initial top level (None: ``min(levels, 6)``).

    Example:
        >>> from cnn2snn_tfmot.quantization.learned import LearnedActivationQuantizer
        >>> from cnn2snn_tfmot.quantization.configs import ReLUQuantizeConfig
        >>> ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(2))
        ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(bitwidth=2, method='lsq', \
gradient_scale=True))
    """

    def __init__(self, bitwidth: int = 4, method: str = "lsq", gradient_scale: bool = True,
                 max_value: Optional[float] = None):
        super().__init__(bitwidth, trainable=True, max_value=max_value)
        self.method = _check_method(method, "LearnedActivationQuantizer")
        self.gradient_scale = bool(gradient_scale)

    def build(self, tensor_shape, name: str, layer) -> dict:
        _, step = discrete_relu_parameters(self.bitwidth, self.max_value)
        variables = {"step": layer.add_weight(
            name=f"{name}_step", shape=(), dtype=tf.float32, trainable=True,
            initializer=keras.initializers.Constant(step))}
        if self.method == "lsq+":
            variables["offset"] = layer.add_weight(name=f"{name}_offset", shape=(),
                                                   dtype=tf.float32, trainable=True,
                                                   initializer="zeros")
        return variables

    def parameters(self, weights: dict, count: Optional[int] = None):
        """Returns (threshold, step_height, step_width) from the variables of ``build``.

        Arguments:
            weights: the dict ``build`` returned.
            count: the features of one example (for the gradient scale), or None.

        Returns:
            Three scalar tensors.
        """
        threshold, step = _activation_parameters(weights["step"], weights.get("offset"), count,
                                                 self.levels, self.gradient_scale)
        return threshold, step, step

    def __call__(self, inputs, training=None, weights=None, **kwargs):
        threshold, height, width = self.parameters(weights, _count(inputs.shape))
        return quantized_activation(inputs, threshold, height, width, self.levels)

    def cnn2snn_equivalent(self):
        config = {"bitwidth": self.bitwidth, "method": self.method,
                  "gradient_scale": self.gradient_scale}
        if self.max_value is not None:
            config["max_value"] = self.max_value
        names = {"step": "step", "offset": "offset"} if self.method == "lsq+" else \
            {"step": "step"}
        return LearnedStepReLU, config, names

    def initialize(self, weights: dict, x) -> Tuple[float, float]:
        """Sets the step (and offset) from a sample of the quantizer's inputs.

        Arguments:
            weights: the variables of ``build``.
            x: inputs of the quantizer (the ReLU's outputs).

        Returns:
            ``(step, offset)``.
        """
        step, offset = initial_activation_step(x, self.bitwidth, self.method, self.max_value)
        weights["step"].assign(step)
        if "offset" in weights:
            weights["offset"].assign(offset)
        return step, offset

    def set_bitwidth(self, bitwidth: int, weights: Optional[dict] = None) -> None:
        old = self.levels
        self.bitwidth = check_activation_bitwidth(bitwidth)
        self.levels = 2 ** self.bitwidth - 1
        if weights:
            weights["step"].assign(weights["step"] * math.sqrt(old / self.levels))

    def get_config(self) -> dict:
        config = {"bitwidth": self.bitwidth, "method": self.method,
                  "gradient_scale": self.gradient_scale}
        if self.max_value is not None:
            config["max_value"] = self.max_value
        return config


# Initialisation of a model's steps -----------------------------------------------------------

def _chain(model) -> list:
    """The model's layers in order, as one chain (a hardware-exact network's own layers)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if not isinstance(model, keras.Sequential):
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise ValueError(f"initialize_steps: model '{model.name}' has several inputs or "
                             "outputs; it takes a single-branch model.")
        previous = model.inputs[0]
        for layer in layers:
            try:
                source = layer.input
            except AttributeError:
                source = None
            if source is not previous:
                raise ValueError(f"initialize_steps: layer '{layer.name}' of model "
                                 f"'{model.name}' does not take the previous layer's output; "
                                 "it takes a single-branch model (a chain of layers).")
            previous = layer.output
    chain = []
    for layer in layers:
        inner = getattr(layer, "akida_layers", None)
        chain += list(inner) if inner is not None else [layer]
    return chain


def _learned_weights(layer) -> list:
    """(quantizer, kernel) of every LearnedStepQuantizer of a layer or TFMOT wrapper."""
    found = []
    if isinstance(layer, QuantizedLayerMixin):
        for kernel in layer.quantized_kernels:
            found.append((getattr(layer, kernel.quantizer), getattr(layer, kernel.attribute)))
    elif isinstance(layer, _QuantizeWrapper) and isinstance(layer.quantize_config,
                                                           NeuralQuantizeConfig):
        config = layer.quantize_config
        for kernel in config.kernel_description.kernels:
            found.append((getattr(config, kernel.quantizer),
                          getattr(layer.layer, kernel.attribute)))
    return [(q, kernel) for q, kernel in found if isinstance(q, LearnedStepQuantizer)]


def _learned_wrapper_activation(layer):
    if isinstance(layer, _QuantizeWrapper) and isinstance(layer.quantize_config,
                                                         ReLUQuantizeConfig):
        quantizer = layer.quantize_config.quantizer
        if isinstance(quantizer, LearnedActivationQuantizer):
            return quantizer
    return None


def _apply(layer, values, batch_size: int):
    """``layer(values)`` in inference mode, ``batch_size`` examples at a time."""
    return tf.concat([layer(values[start:start + batch_size], training=False)
                      for start in range(0, int(values.shape[0]), batch_size)], axis=0)


def initialize_steps(model, x=None, weights: bool = True, activations: bool = True,
                     layers=None, batch_size: int = 128) -> Dict[str, float]:
    """(Re)initialises the learned steps of a model: weights from its weights, activations from
    data, as LSQ and LSQ+ do.

    Every :class:`LearnedStepQuantizer` gets its method's step for the kernel it quantizes now
    (:func:`initial_weight_step`). With ``x``, every learned activation (:class:`LearnedStepReLU`,
    or a TFMOT ReLU with :class:`LearnedActivationQuantizer`) gets the step of
    :func:`initial_activation_step` for its inputs on ``x``, layer after layer: each activation
    sees the outputs of the layers before it, already re-initialised (the quantized Keras
    computation; a hardware-exact model's layers run as the model it was made from).

    Arguments:
        model: a single-branch quantized tf_keras model (seed-style, TFMOT-wrapped, or made by
            ``hardware_exact``), modified in place.
        x: a batch of the model's inputs (a few hundred examples), or None (weights only).
        weights: whether to initialise the weight steps.
        activations: whether to initialise the activation steps (needs ``x``).
        layers: names of the layers to initialise (None: all).
        batch_size: examples per forward call.

    Returns:
        ``{layer name: step}`` of the activations initialised (their new step).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.quantization.learned import (LearnedStepQuantizer, LearnedStepReLU,
        ...     initialize_steps)
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedDense
        >>> model = keras.Sequential([keras.Input((4,)),
        ...     QuantizedDense(3, quantizer=LearnedStepQuantizer(4), name="dense"),
        ...     LearnedStepReLU(2, name="relu")])
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype(np.float32)
        >>> sorted(initialize_steps(model, x))
        ['relu']
    """
    names = None if layers is None else set(layers)
    chain = _chain(model)
    values = None if x is None else tf.convert_to_tensor(x, tf.float32)
    initialised = {}
    for layer in chain:
        wanted = names is None or layer.name in names or getattr(
            getattr(layer, "layer", None), "name", None) in names
        if weights and wanted:
            for quantizer, kernel in _learned_weights(layer):
                quantizer.initialize(kernel)
        if values is None:
            continue
        if activations and wanted:
            quantizer = _learned_wrapper_activation(layer)
            if isinstance(layer, LearnedStepReLU):
                initialised[layer.name] = layer.initialize(values.numpy())[0]
            elif quantizer is not None:
                inputs = _apply(layer.layer, values, batch_size)
                initialised[layer.layer.name] = quantizer.initialize(
                    layer._output_quantizer_vars, inputs.numpy())[0]
        values = _apply(layer, values, batch_size)
    return initialised
