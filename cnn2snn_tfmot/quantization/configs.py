"""TFMOT QuantizeConfigs for Akida quantization: the TFMOT way to the same quantized layers.

A :class:`NeuralQuantizeConfig` quantizes the kernels of a Conv2D, DepthwiseConv2D,
SeparableConv2D or Dense layer exactly as the ``Quantized*`` layers of
:mod:`cnn2snn_tfmot.quantization.layers` do; a :class:`ReLUQuantizeConfig` quantizes a ReLU's
output as ``ActivationDiscreteRelu`` / ``QuantizedReLU`` do. Each neural config carries the same
:class:`~cnn2snn_tfmot.quantization.kernels.KernelDescription` as its quantized layer (class
data), so it needs no table at call time. The scheme that picks a config per layer is in
:mod:`cnn2snn_tfmot.quantization.scheme`::

    annotated = tfmot.quantization.keras.quantize_annotate_model(model)
    with quantize_scope():
        qat_model = tfmot.quantization.keras.quantize_apply(model, AkidaQuantizeScheme())

The weight quantizers are those of :mod:`cnn2snn_tfmot.quantization.quantizers`, and the
activation quantizer applies :func:`cnn2snn_tfmot.quantization.quantizers.quantized_activation`:
one math for both kinds of model.
"""
from __future__ import annotations

import warnings
from typing import Dict, Optional, Tuple

import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.quantization import kernels
from cnn2snn_tfmot.quantization.kernels import KernelDescription
from cnn2snn_tfmot.quantization.layers import (
    ActivationDiscreteRelu,
    QuantizedReLU,
    as_weight_quantizer,
    call_once_with,
    depthwise_quantizer,
)
from cnn2snn_tfmot.quantization.quantizers import (
    ConfigEqualityMixin,
    add_activation_variables,
    check_activation_bitwidth,
    check_max_value,
    default_top_level,
    discrete_relu_parameters,
    quantized_activation,
)
from cnn2snn_tfmot.tfkeras import keras

QuantizeConfig = tfmot.quantization.keras.QuantizeConfig
Quantizer = tfmot.quantization.keras.quantizers.Quantizer

__all__ = [
    "ActivationQuantizer", "NeuralQuantizeConfig", "Conv2DQuantizeConfig",
    "DepthwiseConv2DQuantizeConfig", "SeparableConv2DQuantizeConfig", "DenseQuantizeConfig",
    "ReLUQuantizeConfig",
]

_register = keras.utils.register_keras_serializable(package="cnn2snn_tfmot")


@_register
class ActivationQuantizer(ConfigEqualityMixin, Quantizer):
    """TFMOT quantizer of a ReLU's output, equal to ActivationDiscreteRelu or QuantizedReLU.

    With ``trainable=False`` it computes ActivationDiscreteRelu(bitwidth, max_value); with
    ``trainable=True`` it owns two trainable variables, ``threshold`` and ``step``, initialised
    like QuantizedReLU(bitwidth, max_value).

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4).
        trainable: whether the threshold and step are trainable variables.
        max_value: the value of the top level, or None (default) for ``min(levels, 6)``.

    Example:
        >>> from cnn2snn_tfmot.quantization.configs import ActivationQuantizer, ReLUQuantizeConfig
        >>> ReLUQuantizeConfig(quantizer=ActivationQuantizer(bitwidth=2, trainable=True))
        ReLUQuantizeConfig(quantizer=ActivationQuantizer(bitwidth=2, trainable=True))
    """

    def __init__(self, bitwidth: int = 4, trainable: bool = False,
                 max_value: Optional[float] = None):
        self.bitwidth = check_activation_bitwidth(bitwidth)
        self.trainable = bool(trainable)
        self.max_value = None if max_value is None else check_max_value(max_value)
        self.levels = 2 ** self.bitwidth - 1

    @property
    def top_level(self) -> float:
        """The value of the top level (before training, for a trainable quantizer)."""
        return self.max_value if self.max_value is not None else default_top_level(
            self.bitwidth)

    def build(self, tensor_shape, name: str, layer) -> dict:
        if not self.trainable:
            return {}
        return add_activation_variables(layer, self.bitwidth, prefix=f"{name}_",
                                        max_value=self.max_value)

    def parameters(self, weights: dict) -> Tuple[object, object, object]:
        """Returns (threshold, step_height, step_width) given the variables from ``build``.

        Arguments:
            weights: the dict ``build`` returned (empty when not trainable).

        Returns:
            Three scalars (floats or variables).
        """
        if self.trainable:
            return weights["threshold"], weights["step"], weights["step"]
        threshold, step = discrete_relu_parameters(self.bitwidth, self.max_value)
        return threshold, step, step

    def __call__(self, inputs, training=None, weights=None, **kwargs):
        threshold, step_height, step_width = self.parameters(weights or {})
        return quantized_activation(inputs, threshold, step_height, step_width, self.levels)

    def cnn2snn_equivalent(self) -> Tuple[type, dict, Dict[str, str]]:
        """The cnn2snn-style activation computing what this quantizer computes.

        Returns:
            ``(class, config without the name, {its weight name: this quantizer's variable
            name})``: ActivationDiscreteRelu, or QuantizedReLU when trainable (its
            ``threshold`` and ``step`` are this quantizer's).

        Example:
            >>> from cnn2snn_tfmot.quantization.configs import ActivationQuantizer
            >>> ActivationQuantizer(2).cnn2snn_equivalent()[0].__name__
            'ActivationDiscreteRelu'
        """
        config = {"bitwidth": self.bitwidth}
        if self.max_value is not None:  # a bounded ReLU: its steps follow max_value
            config["max_value"] = self.max_value
        if self.trainable:
            return QuantizedReLU, config, {"threshold": "threshold", "step": "step"}
        return ActivationDiscreteRelu, config, {}

    def set_bitwidth(self, bitwidth: int, weights: Optional[dict] = None) -> None:
        """Changes the bitwidth in place (a bitwidth schedule), as
        ``QuantizedActivation.set_bitwidth`` does for the seed-style activations.

        Arguments:
            bitwidth: the new activation bitwidth, 1..8.
            weights: the variables of ``build`` (a trainable quantizer's threshold and step are
                multiplied by the ratio of the initial steps of the two bitwidths).

        Example:
            >>> from cnn2snn_tfmot.quantization.configs import ActivationQuantizer
            >>> quantizer = ActivationQuantizer(4)
            >>> quantizer.set_bitwidth(2)
            >>> quantizer.levels
            3
        """
        old = discrete_relu_parameters(self.bitwidth, self.max_value)[1]
        self.bitwidth = check_activation_bitwidth(bitwidth)
        self.levels = 2 ** self.bitwidth - 1
        if self.trainable and weights:
            ratio = discrete_relu_parameters(self.bitwidth, self.max_value)[1] / old
            for name in ("threshold", "step"):
                weights[name].assign(weights[name] * ratio)

    def get_config(self) -> dict:
        config = {"bitwidth": self.bitwidth, "trainable": self.trainable}
        if self.max_value is not None:
            config["max_value"] = self.max_value
        return config


class NeuralQuantizeConfig(ConfigEqualityMixin, QuantizeConfig):
    """Base of the neural-layer configs: quantizes kernels, leaves bias and outputs float.

    A subclass carries the :class:`~cnn2snn_tfmot.quantization.kernels.KernelDescription` of the
    layer type it quantizes as the class attribute ``kernel_description``, the same as its
    quantized layer's: the Keras class and its kernels (attribute, quantizer argument).

    Arguments:
        quantizer: the weight quantizer of the (output) kernel (default WeightFloat).

    A config may also carry ``akida_input_scaling``, the input scaling the model is meant for
    (set on the first layer by ``ScaleFactorMonitor``, saved in the config; see
    :mod:`cnn2snn_tfmot.quantization.input_scaling`).

    Example:
        >>> from cnn2snn_tfmot import Conv2DQuantizeConfig, MaxPerAxisQuantizer
        >>> Conv2DQuantizeConfig(MaxPerAxisQuantizer(bitwidth=8)).kernel_description.keras_class
        <class 'tf_keras.src.layers.convolutional.conv2d.Conv2D'>
    """

    akida_input_scaling = None
    #: The subclass's KernelDescription (class data).
    kernel_description: KernelDescription

    def __init__(self, quantizer=None):
        if not isinstance(getattr(type(self), "kernel_description", None), KernelDescription):
            raise TypeError(f"{type(self).__name__} derives from NeuralQuantizeConfig without a "
                            "`kernel_description` class attribute (a KernelDescription: the "
                            "Keras class, kernels and Akida kind it quantizes).")
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", type(self).__name__)

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        scaling = config.pop("akida_input_scaling", None)
        instance = cls(**config)
        if scaling is not None:
            instance.akida_input_scaling = tuple(scaling)
        return instance

    def _check_layer(self, layer):
        keras_class = self.kernel_description.keras_class
        if type(layer) is not keras_class:
            raise ValueError(
                f"{type(self).__name__} quantizes {keras_class.__name__} layers; layer "
                f"'{layer.name}' is a {type(layer).__name__}. Use the config of its type "
                "(AkidaQuantizeScheme().get_quantize_registry().get_quantize_config(layer) "
                "gives it).")
        problems = rules.fused_activation_problems(layer.name, layer.get_config())
        if problems:
            raise ValueError(problems[0] + " (annotate the ReLU with ReLUQuantizeConfig).")

    def get_weights_and_quantizers(self, layer):
        self._check_layer(layer)
        return [(getattr(layer, kernel.attribute), getattr(self, kernel.quantizer))
                for kernel in self.kernel_description.kernels]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        kernels = self.kernel_description.kernels
        if len(quantize_weights) != len(kernels):
            raise ValueError(f"{type(self).__name__} expects {len(kernels)} quantized "
                             f"weights for layer '{layer.name}', got {len(quantize_weights)}.")
        call_once_with(layer, {kernel.attribute: weight
                               for kernel, weight in zip(kernels, quantize_weights)})

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return []

    def get_config(self) -> dict:
        config = {kernel.quantizer: keras.utils.serialize_keras_object(
                      getattr(self, kernel.quantizer))
                  for kernel in self.kernel_description.kernels}
        if self.akida_input_scaling is not None:
            config["akida_input_scaling"] = list(self.akida_input_scaling)
        return config

    def _repr_arguments(self) -> dict:
        return {kernel.quantizer: getattr(self, kernel.quantizer)
                for kernel in reversed(self.kernel_description.kernels)}


@_register
class Conv2DQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes the kernel of a keras.layers.Conv2D (as QuantizedConv2D does).

    Arguments:
        quantizer: the weight quantizer (default WeightFloat).

    Example:
        >>> from cnn2snn_tfmot.quantization.configs import Conv2DQuantizeConfig
        >>> from cnn2snn_tfmot import MaxPerAxisQuantizer
        >>> Conv2DQuantizeConfig(MaxPerAxisQuantizer(bitwidth=8))
        Conv2DQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=8))
    """

    kernel_description = kernels.CONV2D


@_register
class DepthwiseConv2DQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes the kernel of a keras.layers.DepthwiseConv2D (as QuantizedDepthwiseConv2D).

    Arguments:
        quantizer: the weight quantizer (default WeightFloat).

    Example:
        >>> from cnn2snn_tfmot.quantization.configs import DepthwiseConv2DQuantizeConfig
        >>> from cnn2snn_tfmot import MaxQuantizer
        >>> DepthwiseConv2DQuantizeConfig(MaxQuantizer(bitwidth=4))
        DepthwiseConv2DQuantizeConfig(quantizer=MaxQuantizer(bitwidth=4))
    """

    kernel_description = kernels.DEPTHWISE_CONV2D


@_register
class DenseQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes the kernel of a keras.layers.Dense (as QuantizedDense does).

    Arguments:
        quantizer: the weight quantizer (default WeightFloat).

    Example:
        >>> from cnn2snn_tfmot.quantization.configs import DenseQuantizeConfig
        >>> from cnn2snn_tfmot import MaxPerAxisQuantizer
        >>> DenseQuantizeConfig(MaxPerAxisQuantizer(bitwidth=4))
        DenseQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4))
    """

    kernel_description = kernels.DENSE


@_register
class SeparableConv2DQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes both kernels of a keras.layers.SeparableConv2D (as QuantizedSeparableConv2D).

    Arguments:
        quantizer: the pointwise quantizer (default WeightFloat).
        quantizer_dw: the depthwise quantizer, per-tensor; defaults to one configured like
            ``quantizer`` (an error if that is per-axis).

    Example:
        >>> from cnn2snn_tfmot.quantization.configs import SeparableConv2DQuantizeConfig
        >>> from cnn2snn_tfmot import MaxPerAxisQuantizer, MaxQuantizer
        >>> SeparableConv2DQuantizeConfig(MaxPerAxisQuantizer(4), MaxQuantizer(4))
        SeparableConv2DQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4), \
quantizer_dw=MaxQuantizer(bitwidth=4))
    """

    kernel_description = kernels.SEPARABLE_CONV2D

    def __init__(self, quantizer=None, quantizer_dw=None):
        super().__init__(quantizer)
        self.quantizer_dw = depthwise_quantizer(quantizer_dw, self.quantizer,
                                                type(self).__name__)


@_register
class ReLUQuantizeConfig(ConfigEqualityMixin, QuantizeConfig):
    """Quantizes the output of a ReLU (keras.layers.ReLU or Activation('relu')).

    The result equals ActivationDiscreteRelu(bitwidth), or QuantizedReLU(bitwidth) when the
    quantizer is trainable. The ReLU must have no negative slope and no threshold; a
    ``max_value`` must not clip below the top quantization level.

    Arguments:
        bitwidth: the activation bitwidth, 1..8 (Akida runs 1, 2 and 4); ignored when
            ``quantizer`` is given.
        quantizer: an ActivationQuantizer (default ActivationQuantizer(bitwidth)).

    Example:
        >>> from cnn2snn_tfmot.quantization.configs import ReLUQuantizeConfig
        >>> ReLUQuantizeConfig(bitwidth=4)
        ReLUQuantizeConfig(quantizer=ActivationQuantizer(bitwidth=4, trainable=False))
    """

    def __init__(self, bitwidth: int = 4, quantizer=None):
        if isinstance(quantizer, dict):
            quantizer = keras.utils.deserialize_keras_object(quantizer)
        if quantizer is None:
            quantizer = ActivationQuantizer(bitwidth)
        if not isinstance(quantizer, ActivationQuantizer):
            raise TypeError(f"ReLUQuantizeConfig: `quantizer` must be an ActivationQuantizer; "
                            f"got {type(quantizer).__name__}.")
        self.quantizer = quantizer

    def _check_layer(self, layer):
        if isinstance(layer, keras.layers.Activation) and type(layer) is keras.layers.Activation:
            if layer.activation is not keras.activations.relu:
                raise ValueError(f"ReLUQuantizeConfig quantizes ReLUs; layer '{layer.name}' is "
                                 f"Activation('{getattr(layer.activation, '__name__', '?')}').")
            return
        if type(layer) is not keras.layers.ReLU:
            raise ValueError(f"ReLUQuantizeConfig quantizes keras.layers.ReLU or "
                             f"Activation('relu') layers; layer '{layer.name}' is a "
                             f"{type(layer).__name__}.")
        problems = rules.relu_problems(layer.name, layer.get_config())
        if problems:
            raise ValueError(problems[0])
        if layer.max_value is not None and float(layer.max_value) != self.quantizer.top_level:
            warnings.warn(
                f"ReLU '{layer.name}' clips at max_value={float(layer.max_value):g}, but its "
                f"ReLUQuantizeConfig quantizes to a top level of {self.quantizer.top_level:g}: "
                "the quantized activation replaces the clip. Use "
                f"ActivationQuantizer({self.quantizer.bitwidth}, "
                f"max_value={float(layer.max_value):g}) to keep it.", UserWarning,
                stacklevel=2)

    def get_weights_and_quantizers(self, layer):
        self._check_layer(layer)
        return []

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def set_quantize_activations(self, layer, quantize_activations):
        pass

    def get_output_quantizers(self, layer):
        return [self.quantizer]

    def get_config(self) -> dict:
        return {"quantizer": keras.utils.serialize_keras_object(self.quantizer)}

    def _repr_arguments(self) -> dict:
        return {"quantizer": self.quantizer}
