"""The Akida TFMOT scheme: which config each layer gets, and the scope that reloads models.

``AkidaQuantizeScheme`` is what ``quantize_apply(model, scheme)`` takes: its registry
(:class:`AkidaQuantizeRegistry`) gives each supported layer type its QuantizeConfig
(:mod:`cnn2snn_tfmot.quantization.configs`), derived from the layer table
(:mod:`cnn2snn_tfmot.quantization.layer_table`); its layout transform leaves the model as it is,
so none of TFMOT's default 8-bit quantizers are inserted. :func:`quantize_scope` deserializes
every object of the package and of TFMOT.

Example:
    >>> import tensorflow_model_optimization as tfmot
    >>> from cnn2snn_tfmot import AkidaQuantizeScheme, keras, quantize_scope
    >>> annotate = tfmot.quantization.keras.quantize_annotate_layer
    >>> annotated = keras.Sequential([
    ...     keras.Input((8, 8, 1)), annotate(keras.layers.Conv2D(4, 3)),
    ...     annotate(keras.layers.ReLU()), keras.layers.Flatten(),
    ...     annotate(keras.layers.Dense(2))])
    >>> with quantize_scope():
    ...     qat = tfmot.quantization.keras.quantize_apply(annotated, AkidaQuantizeScheme())
    >>> type(qat.layers[0].quantize_config).__name__
    'Conv2DQuantizeConfig'
"""
from __future__ import annotations

from typing import Optional

import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.quantization import layer_table, learned, quantizers
from cnn2snn_tfmot.quantization import layers as quantized_layers
from cnn2snn_tfmot.quantization.configs import ActivationQuantizer, ReLUQuantizeConfig
from cnn2snn_tfmot.quantization.learned import LearnedActivationQuantizer, LearnedStepQuantizer
from cnn2snn_tfmot.quantization.quantizers import (
    check_activation_bitwidth,
    check_weight_bitwidth,
    default_weight_quantizer,
    relu_max_value,
)

_tfmot_keras = tfmot.quantization.keras

__all__ = ["AkidaQuantizeRegistry", "AkidaQuantizeLayoutTransform", "AkidaQuantizeScheme",
           "quantize_scope", "custom_objects"]


class AkidaQuantizeRegistry(_tfmot_keras.QuantizeRegistry):
    """Which layers the Akida scheme quantizes by default, and with which config.

    Derived from the layer table (:mod:`cnn2snn_tfmot.quantization.layer_table`): every neural
    layer type gets its QuantizeConfig with ``weight_bits`` quantizers, per-axis or per-tensor as
    ``quantize()`` chooses (per-tensor for depthwise kernels); a ReLU (keras.layers.ReLU or
    Activation('relu')) gets ``activ_bits`` activations. Used for layers annotated without a
    config.

    Arguments:
        weight_bits: default weight bitwidth, 2..8.
        activ_bits: default activation bitwidth, 1..8.
        learned_steps: None (default: MaxPerAxisQuantizer / MaxQuantizer weights and discrete
            ReLUs), or "lsq" / "lsq+": learned steps
            (:class:`~cnn2snn_tfmot.quantization.learned.LearnedStepQuantizer`, per output
            channel except depthwise kernels, and
            :class:`~cnn2snn_tfmot.quantization.learned.LearnedActivationQuantizer`).

    Example:
        >>> from cnn2snn_tfmot.quantization.scheme import AkidaQuantizeRegistry
        >>> from cnn2snn_tfmot import keras
        >>> AkidaQuantizeRegistry(4, 4).get_quantize_config(keras.layers.Dense(3))
        DenseQuantizeConfig(quantizer=MaxPerAxisQuantizer(bitwidth=4))
        >>> AkidaQuantizeRegistry(2, 2, learned_steps="lsq").get_quantize_config(
        ...     keras.layers.ReLU())
        ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(bitwidth=2, method='lsq', \
gradient_scale=True))
    """

    def __init__(self, weight_bits: int = 4, activ_bits: int = 4,
                 learned_steps: Optional[str] = None):
        self.weight_bits = check_weight_bitwidth(weight_bits, "weight_bits")
        self.activ_bits = check_activation_bitwidth(activ_bits, "activ_bits")
        if learned_steps is not None and learned_steps not in learned.METHODS:
            raise ValueError(f"AkidaQuantizeRegistry: `learned_steps` must be None or one of "
                             f"{', '.join(map(repr, learned.METHODS))}; got {learned_steps!r}.")
        self.learned_steps = learned_steps

    def _weight_quantizer(self, per_axis: bool):
        if self.learned_steps is None:
            return default_weight_quantizer(self.weight_bits, per_axis)
        return LearnedStepQuantizer(self.weight_bits, per_axis, self.learned_steps)

    def supports(self, layer) -> bool:
        table = layer_table.current()
        return (type(layer) in {entry.keras_class for entry in table.neural_types()}
                or table.role(type(layer), layer.get_config()) == "relu")

    def get_quantize_config(self, layer):
        table = layer_table.current()
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
            if self.learned_steps is not None:
                return ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(
                    self.activ_bits, self.learned_steps, max_value=max_value))
            return ReLUQuantizeConfig(quantizer=ActivationQuantizer(self.activ_bits,
                                                                    max_value=max_value))
        return entry.quantize_config(**{
            kernel.quantizer: self._weight_quantizer(kernel.per_axis)
            for kernel in entry.kernels})


class AkidaQuantizeLayoutTransform(_tfmot_keras.QuantizeLayoutTransform):
    """Layout transform of the Akida scheme: the model is kept as it is.

    TFMOT's default transform folds layers and inserts 8-bit input quantizers; Akida
    quantization adds nothing beyond the annotated layers, so model inputs are taken out of
    the quantize map (TFMOT adds them so that default schemes quantize the input).

    Example:
        >>> from cnn2snn_tfmot.quantization.scheme import AkidaQuantizeLayoutTransform
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> kept, quantize_map = AkidaQuantizeLayoutTransform().apply(model, {})
        >>> kept is model
        True
    """

    def apply(self, model, layer_quantize_map):
        input_names = set(model.input_names)
        return model, {name: value for name, value in layer_quantize_map.items()
                       if name not in input_names}


class AkidaQuantizeScheme(_tfmot_keras.QuantizeScheme):
    """TFMOT quantize scheme for Akida: pass it to ``quantize_apply(..., scheme=...)``.

    Arguments:
        weight_bits: weight bitwidth for layers annotated without a config (default 4).
        activ_bits: activation bitwidth for ReLUs annotated without a config (default 4).
        learned_steps: None, "lsq" or "lsq+": learned-step quantizers for layers annotated
            without a config (see :class:`AkidaQuantizeRegistry`).

    Example:
        >>> from cnn2snn_tfmot.quantization.scheme import AkidaQuantizeScheme, quantize_scope, tfmot
        >>> from cnn2snn_tfmot import keras
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

    def __init__(self, weight_bits: int = 4, activ_bits: int = 4,
                 learned_steps: Optional[str] = None):
        self._registry = AkidaQuantizeRegistry(weight_bits, activ_bits, learned_steps)

    def get_layout_transformer(self):
        return AkidaQuantizeLayoutTransform()

    def get_quantize_registry(self):
        return self._registry


def custom_objects() -> dict:
    """The Keras custom objects of cnn2snn_tfmot (layers, quantizers, configs), by class name.

    Returns:
        A dict from class name to class, usable as ``custom_objects`` of Keras loaders.

    Example:
        >>> from cnn2snn_tfmot.quantization.scheme import custom_objects
        >>> "QuantizedConv2D" in custom_objects()
        True
    """
    objects = {}
    for module in (quantizers, quantized_layers, learned):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type):
                objects[name] = value
    for entry in layer_table.current().neural_types():
        for value in (entry.quantized_class, entry.quantize_config):
            objects[value.__name__] = value
    for value in (ActivationQuantizer, ReLUQuantizeConfig):
        objects[value.__name__] = value
    for value in layer_table.current().role_classes():  # the package's own, e.g. InputScaling
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
        >>> from cnn2snn_tfmot.quantization.scheme import quantize_scope
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> model_quantized.save("quantized.h5")
        >>> with quantize_scope():
        ...     reloaded = keras.models.load_model("quantized.h5")
        >>> type(reloaded.layers[0]).__name__
        'QuantizedConv2D'
    """
    return _tfmot_keras.quantize_scope(custom_objects(), *args)
