"""Quantization-aware Keras layers and quantized activations (the seeds' module).

The neural layers derive from their Keras counterparts and share one mechanism,
:class:`QuantizedLayerMixin`: each class declares which kernel attribute is quantized by which
quantizer attribute, and the mixin builds the quantizers, swaps the quantized kernels in for
the parent's ``call`` and serializes the quantizers. Biases are not quantized here: Akida
folds them into the thresholds at conversion.
"""
from __future__ import annotations

import contextlib
from typing import Dict, Tuple

from cnn2snn_tfmot._keras import keras, tf
from cnn2snn_tfmot.quantization_ops import (WeightFloat, WeightQuantizerBase,
                                            check_activation_bitwidth, discrete_relu_parameters,
                                            quantized_activation)

__all__ = [
    "QuantizedLayerMixin", "QuantizedConv2D", "QuantizedDepthwiseConv2D",
    "QuantizedSeparableConv2D", "QuantizedDense", "QuantizedActivation",
    "ActivationDiscreteRelu", "QuantizedReLU", "as_weight_quantizer", "depthwise_quantizer",
    "call_once_with",
]

_register = keras.utils.register_keras_serializable(package="cnn2snn_tfmot")


def as_weight_quantizer(value, argument: str, owner: str) -> WeightQuantizerBase:
    """Returns ``value`` as a weight quantizer: an instance, a serialized one or None (float).

    Arguments:
        value: a WeightQuantizerBase, its ``serialize_keras_object`` dict, or None.
        argument: the argument's name, for the message.
        owner: the layer (or config) that receives it, for the message.

    Returns:
        A WeightQuantizerBase instance.

    Example:
        >>> as_weight_quantizer(None, "quantizer", "dense")
        WeightFloat()
    """
    if value is None:
        return WeightFloat()
    if isinstance(value, dict):
        value = keras.utils.deserialize_keras_object(value)
    if not isinstance(value, WeightQuantizerBase):
        raise TypeError(
            f"{owner}: `{argument}` must be a weight quantizer (MaxQuantizer, "
            f"MaxPerAxisQuantizer, StdWeightQuantizer, TrainableStdWeightQuantizer, WeightFloat "
            f"or a LinearWeightQuantizer subclass); got {type(value).__name__}.")
    return value


def depthwise_quantizer(quantizer_dw, quantizer: WeightQuantizerBase,
                        owner: str) -> WeightQuantizerBase:
    """The depthwise quantizer of a separable convolution: per-tensor, one instance per weight.

    Arguments:
        quantizer_dw: the quantizer given for the depthwise kernel, or None.
        quantizer: the pointwise quantizer, copied (same configuration) when quantizer_dw is None.
        owner: the layer or config name, for the message.

    Returns:
        A per-tensor WeightQuantizerBase.

    Raises:
        ValueError: when the depthwise quantizer is per-axis (Akida needs per-tensor).

    Example:
        >>> depthwise_quantizer(None, MaxQuantizer(4), "sep")
        MaxQuantizer(bitwidth=4)
    """
    if quantizer_dw is None:
        # Same configuration as the pointwise quantizer, but its own instance: a trainable
        # quantizer holds the variable of one weight.
        quantizer_dw = type(quantizer).from_config(quantizer.get_config())
    quantizer_dw = as_weight_quantizer(quantizer_dw, "quantizer_dw", owner)
    if quantizer_dw.per_axis:
        raise ValueError(
            f"{owner}: the depthwise kernel of a separable convolution must be quantized per "
            f"tensor for Akida, but `quantizer_dw` is {quantizer_dw!r}, a per-axis quantizer "
            f"(when `quantizer_dw` is not given it copies `quantizer`). Pass e.g. "
            f"quantizer_dw=MaxQuantizer(bitwidth={quantizer_dw.bitwidth}) or "
            f"StdWeightQuantizer.")
    return quantizer_dw


@contextlib.contextmanager
def _swapped_attributes(layer, values: Dict[str, tf.Tensor]):
    """Temporarily replaces layer attributes (kernels) without Keras attribute tracking."""
    saved = {name: getattr(layer, name) for name in values}
    try:
        for name, value in values.items():
            object.__setattr__(layer, name, value)
        yield
    finally:
        for name, value in saved.items():
            object.__setattr__(layer, name, value)


def call_once_with(layer, values: Dict[str, tf.Tensor]) -> None:
    """Makes the next ``layer.call`` run with ``values`` swapped in, then restores them.

    TFMOT's wrapper sets quantized kernels on the wrapped layer and calls it; left in place,
    those tensors belong to the graph that was being traced, and a later trace of the layer
    (SavedModel export) captures them and fails. The one-shot ``call`` puts the variables back
    as soon as the wrapper's call returns.

    Arguments:
        layer: the wrapped Keras layer.
        values: attribute name -> tensor to use during the next call.
    """
    original = type(layer).call

    def call(inputs, *args, **kwargs):
        layer.__dict__.pop("call", None)
        with _swapped_attributes(layer, values):
            return original(layer, inputs, *args, **kwargs)

    object.__setattr__(layer, "call", call)


class QuantizedLayerMixin:
    """Shared mechanism of the quantized neural layers.

    A subclass lists its ``QUANTIZED_KERNELS``, pairs of (kernel attribute, quantizer
    attribute), and places the mixin before the Keras class it extends. The mixin builds every
    quantizer on the layer (so a trainable quantizer's variable is a weight of the layer),
    quantizes the kernels on each call and runs the Keras computation on them.

    Example:
        >>> class QuantizedConv1D(QuantizedLayerMixin, keras.layers.Conv1D):
        ...     QUANTIZED_KERNELS = (("kernel", "quantizer"),)
    """

    QUANTIZED_KERNELS: Tuple[Tuple[str, str], ...] = ()

    def build(self, input_shape):
        super().build(input_shape)
        self._quantizer_variables = {
            kernel: getattr(self, quantizer).build(getattr(self, kernel).shape, kernel, self)
            for kernel, quantizer in self.QUANTIZED_KERNELS}

    def quantized_weights(self, training=None) -> Dict[str, tf.Tensor]:
        """Returns the quantized kernels, by kernel attribute name.

        Arguments:
            training: the Keras training flag (the quantizers behave the same either way).

        Returns:
            A dict such as ``{"kernel": <quantized kernel>}``.
        """
        return {kernel: getattr(self, quantizer)(
                    getattr(self, kernel), training, self._quantizer_variables[kernel])
                for kernel, quantizer in self.QUANTIZED_KERNELS}

    def call(self, inputs, training=None):
        with _swapped_attributes(self, self.quantized_weights(training)):
            return super().call(inputs)

    def get_config(self) -> dict:
        config = super().get_config()
        for _, quantizer in self.QUANTIZED_KERNELS:
            config[quantizer] = keras.utils.serialize_keras_object(getattr(self, quantizer))
        return config


@_register
class QuantizedConv2D(QuantizedLayerMixin, keras.layers.Conv2D):
    """A quantization-aware Keras Conv2D: the kernel is quantized on every forward pass.

    Arguments:
        filters, kernel_size, strides, padding, use_bias, ...: as keras.layers.Conv2D.
        quantizer: the weight quantizer of the kernel (default WeightFloat: no quantization).

    Example:
        >>> QuantizedConv2D(8, 3, quantizer=MaxPerAxisQuantizer(bitwidth=8))
    """

    QUANTIZED_KERNELS = (("kernel", "quantizer"),)

    def __init__(self, filters, kernel_size, *args, quantizer=None, **kwargs):
        super().__init__(filters, kernel_size, *args, **kwargs)
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", f"QuantizedConv2D "
                                             f"'{self.name}'")


@_register
class QuantizedDepthwiseConv2D(QuantizedLayerMixin, keras.layers.DepthwiseConv2D):
    """A quantization-aware Keras DepthwiseConv2D.

    Arguments:
        kernel_size, strides, padding, use_bias, ...: as keras.layers.DepthwiseConv2D.
        quantizer: the weight quantizer of the depthwise kernel (default WeightFloat).

    Example:
        >>> QuantizedDepthwiseConv2D(3, padding="same", quantizer=MaxQuantizer(bitwidth=4))
    """

    QUANTIZED_KERNELS = (("depthwise_kernel", "quantizer"),)

    def __init__(self, kernel_size, *args, quantizer=None, **kwargs):
        super().__init__(kernel_size, *args, **kwargs)
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", f"QuantizedDepthwiseConv2D "
                                             f"'{self.name}'")


@_register
class QuantizedSeparableConv2D(QuantizedLayerMixin, keras.layers.SeparableConv2D):
    """A quantization-aware Keras SeparableConv2D.

    Arguments:
        filters, kernel_size, strides, padding, use_bias, ...: as keras.layers.SeparableConv2D.
        quantizer: the quantizer of the pointwise kernel (default WeightFloat).
        quantizer_dw: the quantizer of the depthwise kernel; it must be per-tensor (Akida).
            Defaults to a quantizer configured like ``quantizer``.

    Example:
        >>> QuantizedSeparableConv2D(32, 3, quantizer=MaxPerAxisQuantizer(4),
        ...                          quantizer_dw=MaxQuantizer(4))
    """

    QUANTIZED_KERNELS = (("depthwise_kernel", "quantizer_dw"), ("pointwise_kernel", "quantizer"))

    def __init__(self, filters, kernel_size, *args, quantizer=None, quantizer_dw=None,
                 **kwargs):
        super().__init__(filters, kernel_size, *args, **kwargs)
        owner = f"QuantizedSeparableConv2D '{self.name}'"
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", owner)
        self.quantizer_dw = depthwise_quantizer(quantizer_dw, self.quantizer, owner)


@_register
class QuantizedDense(QuantizedLayerMixin, keras.layers.Dense):
    """A quantization-aware Keras Dense layer.

    Arguments:
        units, use_bias, ...: as keras.layers.Dense.
        quantizer: the weight quantizer of the kernel (default WeightFloat).

    Example:
        >>> QuantizedDense(10, quantizer=MaxQuantizer(bitwidth=4))
    """

    QUANTIZED_KERNELS = (("kernel", "quantizer"),)

    def __init__(self, units, *args, quantizer=None, **kwargs):
        super().__init__(units, *args, **kwargs)
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", f"QuantizedDense "
                                             f"'{self.name}'")


class QuantizedActivation(keras.layers.Layer):
    """Abstract quantized activation: ``step_height * clip(ceil((x - t) / step_width), 0, levels)``.

    Subclasses provide the three properties ``threshold``, ``step_height`` and ``step_width``
    (scalar tensors or variables). ``levels = 2**bitwidth - 1``. The gradient is that of the
    clipped linear function (straight-through estimator).

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).

    Example:
        >>> class Clipped3(QuantizedActivation):
        ...     threshold = property(lambda self: tf.constant(0.1))
        ...     step_height = property(lambda self: tf.constant(0.2))
        ...     step_width = property(lambda self: tf.constant(0.2))
    """

    def __init__(self, bitwidth: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.bitwidth = check_activation_bitwidth(bitwidth)
        self.levels = 2 ** self.bitwidth - 1

    @property
    def threshold(self):
        """The input value above which the first level fires."""
        raise NotImplementedError(f"{type(self).__name__} must define `threshold`.")

    @property
    def step_height(self):
        """The output value of one level."""
        raise NotImplementedError(f"{type(self).__name__} must define `step_height`.")

    @property
    def step_width(self):
        """The input width of one level."""
        raise NotImplementedError(f"{type(self).__name__} must define `step_width`.")

    def quantized_activation(self, x):
        """Evaluates the quantized activation of ``x``.

        Arguments:
            x: the input values.

        Returns:
            The quantized activations, a tensor like ``x``.
        """
        return quantized_activation(x, self.threshold, self.step_height, self.step_width,
                                    self.levels)

    def call(self, inputs):
        return self.quantized_activation(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config["bitwidth"] = self.bitwidth
        return config


@_register
class ActivationDiscreteRelu(QuantizedActivation):
    """A discrete ReLU: ``2**bitwidth`` values in [0, 6] (in [0, levels] for 1 and 2 bits).

    ``step = min(levels, 6) / levels``, ``step_height = step_width = step``,
    ``threshold = step / 2``: 4 bits gives steps of 0.4.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).

    Example:
        >>> ActivationDiscreteRelu(bitwidth=4).step_height.numpy()
        0.4
    """

    def __init__(self, bitwidth: int = 1, **kwargs):
        super().__init__(bitwidth, **kwargs)
        self._threshold, self._step = discrete_relu_parameters(self.bitwidth)

    @property
    def threshold(self):
        return tf.constant(self._threshold, tf.float32)

    @property
    def step_height(self):
        return tf.constant(self._step, tf.float32)

    @property
    def step_width(self):
        return tf.constant(self._step, tf.float32)


@_register
class QuantizedReLU(QuantizedActivation):
    """A trainable quantized ReLU: the threshold and the step are two trainable variables.

    They start at the values of ActivationDiscreteRelu(bitwidth); ``step_height`` equals
    ``step_width`` (slope 1, as a ReLU). Inputs below ``threshold`` give 0, inputs above
    ``threshold + levels * step`` give ``levels * step``.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).

    Example:
        >>> QuantizedReLU(bitwidth=4, name="relu")  # 2 trainable parameters
    """

    def __init__(self, bitwidth: int = 1, **kwargs):
        super().__init__(bitwidth, **kwargs)
        self._initial_threshold, self._initial_step = discrete_relu_parameters(self.bitwidth)

    def build(self, input_shape):
        self.threshold_ = self.add_weight(
            name="threshold", shape=(), dtype=tf.float32, trainable=True,
            initializer=keras.initializers.Constant(self._initial_threshold))
        self.step_ = self.add_weight(
            name="step", shape=(), dtype=tf.float32, trainable=True,
            initializer=keras.initializers.Constant(self._initial_step))
        super().build(input_shape)

    @property
    def threshold(self):
        return self.threshold_

    @property
    def step_height(self):
        return self.step_

    @property
    def step_width(self):
        return self.step_
