"""TFMOT QuantizeConfigs, registry, layout transform and scheme for Akida quantization.

The TFMOT way to the same quantized model as the seed-style ``Quantized*`` layers::

    import tensorflow_model_optimization as tfmot
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        annotate(keras.layers.Conv2D(8, 3), Conv2DQuantizeConfig(MaxPerAxisQuantizer(8))),
        annotate(keras.layers.ReLU(), ReLUQuantizeConfig(bitwidth=4)),
        keras.layers.Flatten(),
        annotate(keras.layers.Dense(10), DenseQuantizeConfig(MaxPerAxisQuantizer(4))),
    ])
    with quantize_scope():
        qat_model = tfmot.quantization.keras.quantize_apply(model, AkidaQuantizeScheme())

The weight quantizers are those of :mod:`cnn2snn_tfmot.quantization.quantizers`, and the activation
quantizer applies :func:`cnn2snn_tfmot.quantization.quantizers.quantized_activation`: one math for
both kinds of model. The scheme's layout transform leaves the model as it is, so none of TFMOT's
default 8-bit quantizers are inserted.
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.quantization import layers as quantization_layers
from cnn2snn_tfmot.quantization import quantizers as quantization_ops
from cnn2snn_tfmot.quantization.layers import (
    as_weight_quantizer,
    call_once_with,
    depthwise_quantizer,
)
from cnn2snn_tfmot.quantization.quantizers import (
    ConfigEqualityMixin,
    add_activation_variables,
    check_activation_bitwidth,
    check_max_value,
    check_weight_bitwidth,
    default_top_level,
    default_weight_quantizer,
    discrete_relu_parameters,
    quantized_activation,
    relu_max_value,
)
from cnn2snn_tfmot.tfkeras import keras

_tfmot_keras = tfmot.quantization.keras
QuantizeConfig = _tfmot_keras.QuantizeConfig
Quantizer = _tfmot_keras.quantizers.Quantizer

__all__ = [
    "ActivationQuantizer", "Conv2DQuantizeConfig", "DepthwiseConv2DQuantizeConfig",
    "SeparableConv2DQuantizeConfig", "DenseQuantizeConfig", "ReLUQuantizeConfig",
    "AkidaQuantizeRegistry", "AkidaQuantizeLayoutTransform", "AkidaQuantizeScheme",
    "quantize_scope", "custom_objects",
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

    def get_config(self) -> dict:
        config = {"bitwidth": self.bitwidth, "trainable": self.trainable}
        if self.max_value is not None:
            config["max_value"] = self.max_value
        return config


class NeuralQuantizeConfig(ConfigEqualityMixin, QuantizeConfig):
    """Base of the neural-layer configs: quantizes kernels, leaves bias and outputs float.

    The registry (:mod:`cnn2snn_tfmot.quantization.layer_table`) gives the layer type a config applies to and
    its kernels (attribute, quantizer argument), as it does for the Quantized* layers.

    Arguments:
        quantizer: the weight quantizer of the (output) kernel (default WeightFloat).

    A config may also carry ``akida_input_scaling``, the input scaling the model is meant for
    (set on the first layer by ``ScaleFactorMonitor``, saved in the config; see
    :mod:`cnn2snn_tfmot.quantization.input_scaling`).

    Example:
        >>> Conv2DQuantizeConfig(MaxPerAxisQuantizer(bitwidth=8)).neural_type.keras_class
        <class 'tf_keras.src.layers.convolutional.conv2d.Conv2D'>
    """

    akida_input_scaling = None

    def __init__(self, quantizer=None):
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", type(self).__name__)

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        scaling = config.pop("akida_input_scaling", None)
        instance = cls(**config)
        if scaling is not None:
            instance.akida_input_scaling = tuple(scaling)
        return instance

    @property
    def neural_type(self):
        """This config's row of the registry."""
        entry = registry.current().for_config(type(self))
        if entry is None:
            raise TypeError(f"{type(self).__name__} is not registered in the layer registry.")
        return entry

    def _check_layer(self, layer):
        entry = self.neural_type
        if type(layer) is not entry.keras_class:
            choices = ", ".join(f"{t.keras_class.__name__} -> {t.quantize_config.__name__}"
                                for t in registry.current().neural_types())
            raise ValueError(
                f"{type(self).__name__} quantizes {entry.keras_class.__name__} layers; layer "
                f"'{layer.name}' is a {type(layer).__name__}. Use the config of its type: "
                f"{choices}.")
        problems = rules.fused_activation_problems(layer.name, layer.get_config())
        if problems:
            raise ValueError(problems[0] + " (annotate the ReLU with ReLUQuantizeConfig).")

    def get_weights_and_quantizers(self, layer):
        self._check_layer(layer)
        return [(getattr(layer, kernel.attribute), getattr(self, kernel.quantizer))
                for kernel in self.neural_type.kernels]

    def get_activations_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        kernels = self.neural_type.kernels
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
                  for kernel in self.neural_type.kernels}
        if self.akida_input_scaling is not None:
            config["akida_input_scaling"] = list(self.akida_input_scaling)
        return config

    def _repr_arguments(self) -> dict:
        return {kernel.quantizer: getattr(self, kernel.quantizer)
                for kernel in reversed(self.neural_type.kernels)}


@_register
class Conv2DQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes the kernel of a keras.layers.Conv2D (as QuantizedConv2D does).

    Arguments:
        quantizer: the weight quantizer (default WeightFloat).

    Example:
        >>> Conv2DQuantizeConfig(MaxPerAxisQuantizer(bitwidth=8))
        Conv2DQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=8))
    """



@_register
class DepthwiseConv2DQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes the kernel of a keras.layers.DepthwiseConv2D (as QuantizedDepthwiseConv2D).

    Arguments:
        quantizer: the weight quantizer (default WeightFloat).

    Example:
        >>> DepthwiseConv2DQuantizeConfig(MaxQuantizer(bitwidth=4))
        DepthwiseConv2DQuantizeConfig(quantizer=MaxQuantizer(bitwidth=4))
    """



@_register
class DenseQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes the kernel of a keras.layers.Dense (as QuantizedDense does).

    Arguments:
        quantizer: the weight quantizer (default WeightFloat).

    Example:
        >>> DenseQuantizeConfig(MaxPerAxisQuantizer(bitwidth=4))
        DenseQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4))
    """



@_register
class SeparableConv2DQuantizeConfig(NeuralQuantizeConfig):
    """Quantizes both kernels of a keras.layers.SeparableConv2D (as QuantizedSeparableConv2D).

    Arguments:
        quantizer: the pointwise quantizer (default WeightFloat).
        quantizer_dw: the depthwise quantizer, per-tensor; defaults to one configured like
            ``quantizer`` (an error if that is per-axis).

    Example:
        >>> SeparableConv2DQuantizeConfig(MaxPerAxisQuantizer(4), MaxQuantizer(4))
        SeparableConv2DQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4), \
quantizer_dw=MaxQuantizer(bitwidth=4))
    """


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


class AkidaQuantizeRegistry(_tfmot_keras.QuantizeRegistry):
    """Which layers the Akida scheme quantizes by default, and with which config.

    Derived from the layer registry (:mod:`cnn2snn_tfmot.quantization.layer_table`): every neural layer type
    gets its QuantizeConfig with ``weight_bits`` quantizers, per-axis or per-tensor as
    ``quantize()`` chooses (per-tensor for depthwise kernels); a ReLU (keras.layers.ReLU or
    Activation('relu')) gets ``activ_bits`` activations. Used for layers annotated without a
    config.

    Arguments:
        weight_bits: default weight bitwidth, 2..8.
        activ_bits: default activation bitwidth, 1..8.

    Example:
        >>> AkidaQuantizeRegistry(4, 4).get_quantize_config(keras.layers.Dense(3))
        DenseQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4))
    """

    def __init__(self, weight_bits: int = 4, activ_bits: int = 4):
        self.weight_bits = check_weight_bitwidth(weight_bits, "weight_bits")
        self.activ_bits = check_activation_bitwidth(activ_bits, "activ_bits")

    def supports(self, layer) -> bool:
        table = registry.current()
        return (type(layer) in {entry.keras_class for entry in table.neural_types()}
                or table.role(type(layer), layer.get_config()) == "relu")

    def get_quantize_config(self, layer):
        table = registry.current()
        if not self.supports(layer):
            names = [entry.keras_class.__name__ for entry in table.neural_types()]
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) has no Akida quantization; "
                f"supported: {', '.join(names)}, ReLU and Activation('relu'). Leave other "
                "layers (pooling, BatchNormalization, Flatten, Dropout, Softmax) unannotated.")
        entry = table.neural(type(layer))
        if entry is None:  # a ReLU: a bounded one keeps its clip (said when it changes steps)
            max_value = relu_max_value(layer.name, layer.get_config().get("max_value"),
                                       self.activ_bits)
            return ReLUQuantizeConfig(quantizer=ActivationQuantizer(self.activ_bits,
                                                                    max_value=max_value))
        return entry.quantize_config(**{
            kernel.quantizer: default_weight_quantizer(self.weight_bits, kernel.per_axis)
            for kernel in entry.kernels})


class AkidaQuantizeLayoutTransform(_tfmot_keras.QuantizeLayoutTransform):
    """Layout transform of the Akida scheme: the model is kept as it is.

    TFMOT's default transform folds layers and inserts 8-bit input quantizers; Akida
    quantization adds nothing beyond the annotated layers, so model inputs are taken out of
    the quantize map (TFMOT adds them so that default schemes quantize the input).

    Example:
        >>> kept, quantize_map = AkidaQuantizeLayoutTransform().apply(model, {})
        >>> kept is model
        True
    """

    def apply(self, model, layer_quantize_map):
        input_names = {layer.name for layer in model._input_layers}
        return model, {name: value for name, value in layer_quantize_map.items()
                       if name not in input_names}


class AkidaQuantizeScheme(_tfmot_keras.QuantizeScheme):
    """TFMOT quantize scheme for Akida: pass it to ``quantize_apply(..., scheme=...)``.

    Arguments:
        weight_bits: weight bitwidth for layers annotated without a config (default 4).
        activ_bits: activation bitwidth for ReLUs annotated without a config (default 4).

    Example:
        >>> annotate = tfmot.quantization.keras.quantize_annotate_layer
        >>> annotated = keras.Sequential([
        ...     keras.Input((8, 8, 1)), annotate(keras.layers.Conv2D(4, 3)),
        ...     annotate(keras.layers.ReLU()), keras.layers.Flatten(),
        ...     annotate(keras.layers.Dense(2))])
        >>> with quantize_scope():
        ...     qat = tfmot.quantization.keras.quantize_apply(annotated, AkidaQuantizeScheme())
        >>> qat.layers[0].quantize_config
        Conv2DQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4))
    """

    def __init__(self, weight_bits: int = 4, activ_bits: int = 4):
        self._registry = AkidaQuantizeRegistry(weight_bits, activ_bits)

    def get_layout_transformer(self):
        return AkidaQuantizeLayoutTransform()

    def get_quantize_registry(self):
        return self._registry


def custom_objects() -> dict:
    """The Keras custom objects of cnn2snn_tfmot (layers, quantizers, configs), by class name.

    Returns:
        A dict from class name to class, usable as ``custom_objects`` of Keras loaders.

    Example:
        >>> "QuantizedConv2D" in custom_objects()
        True
    """
    objects = {}
    for module in (quantization_ops, quantization_layers):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type):
                objects[name] = value
    for entry in registry.current().neural_types():
        for value in (entry.quantized_class, entry.quantize_config):
            objects[value.__name__] = value
    for value in (ActivationQuantizer, ReLUQuantizeConfig):
        objects[value.__name__] = value
    for value in registry.current().role_classes():  # the package's own, e.g. InputScaling
        if value.__module__.startswith("cnn2snn_tfmot."):
            objects[value.__name__] = value
    return objects


def quantize_scope(*args):
    """A scope in which Keras and TFMOT deserialize every cnn2snn_tfmot and TFMOT object.

    Arguments:
        *args: extra ``{name: class}`` dicts (e.g. your own quantizers).

    Returns:
        A context manager (a Keras CustomObjectScope).

    Example:
        >>> model_quantized.save("quantized.h5")
        >>> with quantize_scope():
        ...     reloaded = keras.models.load_model("quantized.h5")
        >>> type(reloaded.layers[0]).__name__
        'QuantizedConv2D'
    """
    return _tfmot_keras.quantize_scope(custom_objects(), *args)
