"""Quantization-aware Keras layers and quantized activations (BrainChip's cnn2snn
``quantization_layers``).

The neural layers derive from their Keras counterparts and share one mechanism,
:class:`QuantizedLayerMixin`: each class's ``kernel_description``
(:mod:`cnn2snn_tfmot.quantization.kernels`) says which kernel attribute each quantizer argument
quantizes, and the mixin builds the quantizers,
quantizes the kernels on every call and runs the Keras class's own ``call`` on them through a
read-only view of the layer (:func:`call_with_kernels`): the layer's attributes are never replaced.
Biases are not quantized here: Akida folds them into the thresholds at conversion.
"""
from __future__ import annotations

from typing import Dict, Optional

from cnn2snn_tfmot.quantization import kernels
from cnn2snn_tfmot.quantization.kernels import KernelDescription
from cnn2snn_tfmot.quantization.quantizers import (
    WeightFloat,
    WeightQuantizerBase,
    add_activation_variables,
    check_activation_bitwidth,
    check_max_value,
    discrete_relu_parameters,
    quantized_activation,
)
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = [
    "QuantizedLayerMixin", "QuantizedConv2D", "QuantizedDepthwiseConv2D",
    "QuantizedSeparableConv2D", "QuantizedDense", "QuantizedActivation",
    "ActivationDiscreteRelu", "QuantizedReLU", "as_weight_quantizer", "depthwise_quantizer",
    "call_with_kernels", "call_once_with", "expand_networks",
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
        >>> from cnn2snn_tfmot.quantization.layers import as_weight_quantizer
        >>> as_weight_quantizer(None, "quantizer", "dense")
        WeightFloat()
    """
    if value is None:
        return WeightFloat()
    if isinstance(value, dict):
        # Keras's legacy (.h5) loader looks classes up by bare name only: give it the class
        # the serialized quantizer was registered under.
        registered = value.get("registered_name")
        cls = keras.utils.get_registered_object(registered) if registered else None
        value = keras.utils.deserialize_keras_object(
            value, custom_objects=None if cls is None else {value.get("class_name"): cls})
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
        >>> from cnn2snn_tfmot.quantization.layers import depthwise_quantizer
        >>> from cnn2snn_tfmot.quantization.quantizers import MaxQuantizer
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


class _KernelView:
    """A layer as its Keras ``call`` sees it, with some kernels replaced.

    Attribute reads fall through to the layer, except the replaced kernels; nothing is written
    on the layer, so no quantized tensor outlives the call that made it (a tensor left on a
    layer belongs to the graph being traced, and a later trace, such as a SavedModel export,
    would capture it and fail).
    """

    __slots__ = ("_layer", "_kernels")

    def __init__(self, layer, kernels: Dict[str, tf.Tensor]):
        object.__setattr__(self, "_layer", layer)
        object.__setattr__(self, "_kernels", kernels)

    def __getattr__(self, name):
        kernels = object.__getattribute__(self, "_kernels")
        if name in kernels:
            return kernels[name]
        return getattr(object.__getattribute__(self, "_layer"), name)

    def __setattr__(self, name, value):
        setattr(object.__getattribute__(self, "_layer"), name, value)


def call_with_kernels(keras_class: type, layer, inputs, kernels: Dict[str, tf.Tensor],
                      *args, **kwargs):
    """Runs ``keras_class.call`` for ``layer`` with ``kernels`` in place of its own.

    Arguments:
        keras_class: the Keras class whose computation to run (e.g. keras.layers.Conv2D).
        layer: the layer (its bias, strides, padding... are used as they are).
        inputs: the call's inputs.
        kernels: kernel attribute name -> tensor to use instead.
        *args, **kwargs: further arguments of ``call``.

    Returns:
        The outputs of the Keras computation.

    Example:
        >>> from cnn2snn_tfmot import keras, tf
        >>> from cnn2snn_tfmot.quantization.layers import call_with_kernels
        >>> dense = keras.layers.Dense(1, use_bias=False)
        >>> _ = dense(tf.ones((1, 2)))
        >>> call_with_kernels(keras.layers.Dense, dense, tf.ones((1, 2)),
        ...                   {"kernel": tf.fill((2, 1), 3.0)}).numpy()
        array([[6.]], dtype=float32)
    """
    return keras_class.call(_KernelView(layer, kernels), inputs, *args, **kwargs)


def call_once_with(layer, values: Dict[str, tf.Tensor]) -> None:
    """Makes the next ``layer.call`` run with ``values`` as kernels (TFMOT's wrapper protocol).

    TFMOT's ``QuantizeWrapper`` hands the quantized kernels to the config, then calls the
    wrapped layer's own ``call``, which reads ``self.kernel``. Rather than replacing the
    layer's attribute (which leaves a graph tensor on it), that one call is redirected to
    :func:`call_with_kernels`, and the redirection removes itself.

    Arguments:
        layer: the wrapped Keras layer.
        values: kernel attribute name -> tensor to use during the next call.
    """
    keras_class = type(layer)

    def call(inputs, *args, **kwargs):
        layer.__dict__.pop("call", None)
        return call_with_kernels(keras_class, layer, inputs, values, *args, **kwargs)

    object.__setattr__(layer, "call", call)


class QuantizedLayerMixin:
    """Shared mechanism of the quantized neural layers.

    A subclass places the mixin before the Keras class it extends and carries its
    :class:`~cnn2snn_tfmot.quantization.kernels.KernelDescription` as the class attribute
    ``kernel_description`` (the Keras class it computes, its kernels and their quantizer
    arguments). The mixin builds every quantizer on the layer (so a trainable quantizer's
    variable is a weight of the layer), quantizes the kernels on each call and runs the Keras
    computation on them. Nothing is looked up at call time: a layer calls, saves and reloads from
    its class data alone.

    Every quantized neural layer also takes ``akida_input_scaling=(scale, shift)``: the input
    scaling the model is meant for, remembered in its config (see
    :mod:`cnn2snn_tfmot.quantization.input_scaling`; ``ScaleFactorMonitor`` sets it on the first
    layer).

    Example:
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedDense
        >>> QuantizedDense(3).quantized_kernels[0].attribute
        'kernel'
    """

    #: The subclass's KernelDescription (class data).
    kernel_description: KernelDescription

    def __init__(self, *args, akida_input_scaling=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(getattr(type(self), "kernel_description", None), KernelDescription):
            raise TypeError(f"{type(self).__name__} derives from QuantizedLayerMixin without a "
                            "`kernel_description` class attribute (a KernelDescription: the "
                            "Keras class, kernels and Akida kind it quantizes).")
        self.akida_input_scaling = (None if akida_input_scaling is None
                                    else tuple(akida_input_scaling))

    @property
    def quantized_kernels(self):
        """This layer type's kernels: (attribute, quantizer argument, role, per_axis)."""
        return self.kernel_description.kernels

    def build(self, input_shape):
        super().build(input_shape)
        self._quantizer_variables = {
            kernel.attribute: getattr(self, kernel.quantizer).build(
                getattr(self, kernel.attribute).shape, kernel.attribute, self)
            for kernel in self.quantized_kernels}

    def quantized_weights(self, training=None) -> Dict[str, tf.Tensor]:
        """Returns the quantized kernels, by kernel attribute name.

        Arguments:
            training: the Keras training flag (the quantizers behave the same either way).

        Returns:
            A dict such as ``{"kernel": <quantized kernel>}``.
        """
        return {kernel.attribute: getattr(self, kernel.quantizer)(
                    getattr(self, kernel.attribute), training,
                    self._quantizer_variables[kernel.attribute])
                for kernel in self.quantized_kernels}

    def call(self, inputs, training=None):
        return call_with_kernels(self.kernel_description.keras_class, self, inputs,
                                 self.quantized_weights(training))

    def get_config(self) -> dict:
        config = super().get_config()
        for kernel in self.quantized_kernels:
            config[kernel.quantizer] = keras.utils.serialize_keras_object(
                getattr(self, kernel.quantizer))
        if getattr(self, "akida_input_scaling", None) is not None:
            config["akida_input_scaling"] = list(self.akida_input_scaling)
        return config


@_register
class QuantizedConv2D(QuantizedLayerMixin, keras.layers.Conv2D):
    """A quantization-aware Keras Conv2D: the kernel is quantized on every forward pass.

    Arguments:
        filters, kernel_size, strides, padding, use_bias, ...: as keras.layers.Conv2D.
        quantizer: the weight quantizer of the kernel (default WeightFloat: no quantization).

    Example:
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedConv2D
        >>> from cnn2snn_tfmot import MaxPerAxisQuantizer, tf
        >>> layer = QuantizedConv2D(8, 3, quantizer=MaxPerAxisQuantizer(bitwidth=8))
        >>> layer(tf.ones((1, 5, 5, 1))).shape
        TensorShape([1, 3, 3, 8])
    """

    kernel_description = kernels.CONV2D


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
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedDepthwiseConv2D
        >>> from cnn2snn_tfmot import MaxQuantizer, tf
        >>> layer = QuantizedDepthwiseConv2D(3, padding="same", quantizer=MaxQuantizer(4))
        >>> layer(tf.ones((1, 5, 5, 2))).shape
        TensorShape([1, 5, 5, 2])
    """

    kernel_description = kernels.DEPTHWISE_CONV2D


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
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedSeparableConv2D
        >>> from cnn2snn_tfmot import MaxPerAxisQuantizer, MaxQuantizer, tf
        >>> layer = QuantizedSeparableConv2D(32, 3, quantizer=MaxPerAxisQuantizer(4),
        ...                                  quantizer_dw=MaxQuantizer(4))
        >>> layer(tf.ones((1, 5, 5, 2))).shape
        TensorShape([1, 3, 3, 32])
    """

    kernel_description = kernels.SEPARABLE_CONV2D


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
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedDense
        >>> from cnn2snn_tfmot import MaxQuantizer, tf
        >>> QuantizedDense(10, quantizer=MaxQuantizer(bitwidth=4))(tf.ones((2, 3))).shape
        TensorShape([2, 10])
    """

    kernel_description = kernels.DENSE


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
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedActivation
        >>> from cnn2snn_tfmot import tf
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

    def set_bitwidth(self, bitwidth: int) -> None:
        """Changes the bitwidth in place (a bitwidth schedule, during training).

        Subclasses adapt their threshold and step; the variables keep their shapes. A model
        whose activations changed must retrace its training function (``BitwidthSchedule``
        does).

        Arguments:
            bitwidth: the new activation bitwidth, 1..8.

        Example:
            >>> from cnn2snn_tfmot.quantization.layers import ActivationDiscreteRelu
            >>> relu = ActivationDiscreteRelu(4)
            >>> relu.set_bitwidth(2)
            >>> relu.levels, float(relu.step_height)
            (3, 1.0)
        """
        self.bitwidth = check_activation_bitwidth(bitwidth)
        self.levels = 2 ** self.bitwidth - 1

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
    ``threshold = step / 2``: 4 bits gives steps of 0.4. With ``max_value`` the steps are
    ``max_value / levels``: the top level equals the clip of the bounded ReLU it replaces.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).
        max_value: the value of the top level, or None (default) for ``min(levels, 6)``.

    Example:
        >>> from cnn2snn_tfmot.quantization.layers import ActivationDiscreteRelu
        >>> from cnn2snn_tfmot import tf
        >>> float(ActivationDiscreteRelu(bitwidth=4).step_height)
        0.4000000059604645
        >>> ActivationDiscreteRelu(2, max_value=6.0)(tf.constant([3.0, 7.0])).numpy()
        array([2., 6.], dtype=float32)
    """

    def __init__(self, bitwidth: int = 1, max_value: Optional[float] = None, **kwargs):
        super().__init__(bitwidth, **kwargs)
        self.max_value = None if max_value is None else check_max_value(max_value)
        self._threshold, self._step = discrete_relu_parameters(self.bitwidth, self.max_value)

    def get_config(self) -> dict:
        config = super().get_config()
        if self.max_value is not None:
            config["max_value"] = self.max_value
        return config

    def set_bitwidth(self, bitwidth: int) -> None:
        """Changes the bitwidth: threshold and step become those of the new bitwidth."""
        super().set_bitwidth(bitwidth)
        self._threshold, self._step = discrete_relu_parameters(self.bitwidth, self.max_value)

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

    They start at the values of ActivationDiscreteRelu(bitwidth, max_value); ``step_height``
    equals ``step_width`` (slope 1, as a ReLU). Inputs below ``threshold`` give 0, inputs above
    ``threshold + levels * step`` give ``levels * step``.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).
        max_value: the initial top level, or None (default) for ``min(levels, 6)``.

    Example:
        >>> from cnn2snn_tfmot.quantization.layers import QuantizedReLU
        >>> from cnn2snn_tfmot import tf
        >>> relu = QuantizedReLU(bitwidth=4, name="relu")
        >>> relu(tf.constant([0.1, 0.3, 9.0])).numpy()
        array([0. , 0.4, 6. ], dtype=float32)
        >>> [weight.name for weight in relu.trainable_weights]
        ['relu/threshold:0', 'relu/step:0']
    """

    def __init__(self, bitwidth: int = 1, max_value: Optional[float] = None, **kwargs):
        super().__init__(bitwidth, **kwargs)
        self.max_value = None if max_value is None else check_max_value(max_value)

    def build(self, input_shape):
        variables = add_activation_variables(self, self.bitwidth, max_value=self.max_value)
        self.threshold_, self.step_ = variables["threshold"], variables["step"]
        super().build(input_shape)

    def set_bitwidth(self, bitwidth: int) -> None:
        """Changes the bitwidth: the threshold and step are multiplied by the ratio of the
        initial steps of the two bitwidths (they keep what they learned, relative to it)."""
        old = discrete_relu_parameters(self.bitwidth, self.max_value)[1]
        super().set_bitwidth(bitwidth)
        if self.built:
            ratio = discrete_relu_parameters(self.bitwidth, self.max_value)[1] / old
            self.threshold_.assign(self.threshold_ * ratio)
            self.step_.assign(self.step_ * ratio)

    def get_config(self) -> dict:
        config = super().get_config()
        if self.max_value is not None:
            config["max_value"] = self.max_value
        return config

    @property
    def threshold(self):
        return self.threshold_

    @property
    def step_height(self):
        return self.step_

    @property
    def step_width(self):
        return self.step_


def expand_networks(layers) -> list:
    """The layers, each layer that holds a quantized network of its own replaced by that
    network's layers (a ``HardwareExactNetwork`` lists them as ``akida_layers``): what the
    block reader, the figures and weight copies read.

    Arguments:
        layers: Keras layers (e.g. ``model.layers``).

    Returns:
        A list of layers.

    Example:
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.quantization.layers import expand_networks
        >>> dense = keras.layers.Dense(2)
        >>> expand_networks([dense]) == [dense]
        True
    """
    return [inner for layer in layers for inner in getattr(layer, "akida_layers", [layer])]
