"""The seeds' high-level quantization entry points: quantize(), quantize_layer() and
create_trainable_quantizer_model().

``quantize`` reads the model into a chain (see :mod:`cnn2snn_tfmot.rewriting.transforms`), applies
the model transforms of docs/akida-v1.md section 3 (fused activations split, ``ReLU -> MaxPool`` and
``pooling -> BatchNormalization`` swapped, BatchNormalization folded), then replaces neural
layers by Quantized* layers and ReLUs by ActivationDiscreteRelu. Layer names are kept, so
``load_partial_weights`` works between the float and the quantized model.
"""
from __future__ import annotations

from typing import List, Optional, Union

import numpy as np

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.quantization.input_scaling import InputScaling
from cnn2snn_tfmot.quantization.layers import (
    ActivationDiscreteRelu,
    QuantizedActivation,
    QuantizedReLU,
    as_weight_quantizer,
)
from cnn2snn_tfmot.quantization.quantizers import (
    StdWeightQuantizer,
    TrainableStdWeightQuantizer,
    WeightFloat,
    WeightQuantizerBase,
    check_activation_bitwidth,
    check_weight_bitwidth,
    default_weight_quantizer,
    relu_max_value,
)
from cnn2snn_tfmot.rewriting.transforms import (
    LayerSpec,
    build_model,
    fold_batchnorms,
    is_relu,
    model_chain,
    split_fused_activations,
    swap_activation_pooling,
    swap_pooling_batchnorm,
)
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["quantize", "quantize_layer", "create_trainable_quantizer_model"]

L = keras.layers


def _is_activation(spec: LayerSpec) -> bool:
    return is_relu(spec) or issubclass(spec.cls, QuantizedActivation)


def _layer_problems(spec: LayerSpec) -> List[str]:
    """What keeps quantize() from handling a layer (the rules it cannot fix by itself)."""
    table = registry.current()
    entry = table.neural(spec.cls)
    if entry is not None:
        return rules.layer_parameter_problems(spec.name, spec.config, entry.akida_kind)
    if issubclass(spec.cls, QuantizedActivation):
        return []
    role = table.role(spec.cls, spec.config)
    if role == "relu":
        return rules.relu_problems(spec.name, spec.config)
    if role is not None:
        return []
    return [f"Layer '{spec.name}' of type {spec.cls.__name__} is not supported by quantize(); "
            f"supported: {table.supported_names()}, ActivationDiscreteRelu and QuantizedReLU. "
            "Replace or remove it."]


def _check_layers(chain: List[LayerSpec], caller: str) -> None:
    problems = [problem for spec in chain for problem in _layer_problems(spec)]
    problems += [problem for spec in chain for problem in rules.value_problems(
        spec.name, spec.weights,
        "BatchNormalization" if "moving_variance" in spec.weights else "Layer")]
    if problems:
        raise ValueError(f"{caller}(): " + (problems[0] if len(problems) == 1 else
                         f"{len(problems)} problems:\n  - " + "\n  - ".join(problems)))


def _quantized_neural(spec: LayerSpec, bitwidth: int) -> LayerSpec:
    entry = registry.current().neural(spec.cls)
    config = dict(spec.config)
    for kernel in entry.kernels:
        config[kernel.quantizer] = keras.utils.serialize_keras_object(
            default_weight_quantizer(bitwidth, kernel.per_axis))
    kept = {kernel.attribute for kernel in entry.kernels} | {"bias"}
    weights = {key: value for key, value in spec.weights.items() if key in kept}
    return LayerSpec(entry.quantized_class, config, weights, spec.input_shape)


def _activation(spec: LayerSpec, bitwidth: int, trainable: bool = False) -> LayerSpec:
    """The activation ``spec`` becomes with ``bitwidth`` bits (0: a float ReLU).

    A float ReLU keeps its clip: ``max_value`` goes to the quantized activation when it is not
    the default top level (a warning says so), and back to the float ReLU.
    """
    max_value = spec.config.get("max_value")
    if bitwidth and not issubclass(spec.cls, QuantizedActivation):
        max_value = relu_max_value(spec.name, max_value, bitwidth)
    if bitwidth == 0:
        config = {"name": spec.name}
        if max_value is not None:
            config["max_value"] = max_value
        return LayerSpec(L.ReLU, config, {}, spec.input_shape)
    cls = QuantizedReLU if trainable else ActivationDiscreteRelu
    config = {"name": spec.name, "bitwidth": bitwidth}
    if max_value is not None:
        config["max_value"] = max_value
    return LayerSpec(cls, config, {}, spec.input_shape)


def _is_zero(bitwidth) -> bool:
    """0 (float) as an integer; anything else (arrays, bools, strings) is checked."""
    return isinstance(bitwidth, (int, np.integer)) and not isinstance(
        bitwidth, (bool, np.bool_)) and bitwidth == 0


def _check_bitwidths(weight_quantization, activ_quantization, input_weight_quantization):
    if not _is_zero(weight_quantization):
        check_weight_bitwidth(weight_quantization, "weight_quantization")
    if not _is_zero(activ_quantization):
        check_activation_bitwidth(activ_quantization, "activ_quantization")
    if input_weight_quantization is None:
        return weight_quantization
    if not _is_zero(input_weight_quantization):
        check_weight_bitwidth(input_weight_quantization, "input_weight_quantization")
    return input_weight_quantization


def _remember_input_scaling(chain: List[LayerSpec], input_scaling) -> List[LayerSpec]:
    """Puts an InputScaling layer first, unless the chain already remembers the same pair."""
    scaling = rules.check_input_scaling(input_scaling, input_is_sparse=False)
    for spec in chain:
        if issubclass(spec.cls, InputScaling):
            remembered = spec.cls.from_config(spec.config).akida_input_scaling
            if remembered != scaling:
                raise ValueError(f"quantize(): input_scaling={scaling} contradicts the input "
                                 f"scaling the model remembers, {remembered} (layer "
                                 f"'{spec.name}'); a model is meant for one input scaling.")
            return chain
    taken = {spec.name for spec in chain}
    name, index = "input_scaling", 1
    while name in taken:
        name, index = f"input_scaling_{index}", index + 1
    first = chain[0].input_shape if chain else None
    config = {"name": name, "scale": scaling[0], "shift": scaling[1]}
    return [LayerSpec(InputScaling, config, {}, first)] + chain


def quantize(model, weight_quantization: int = 0, activ_quantization: int = 0,
             input_weight_quantization: Optional[int] = None, input_scaling=None):
    """Converts a Keras model into a quantized model compatible with Akida conversion.

    Conv2D, SeparableConv2D, DepthwiseConv2D and Dense become Quantized* layers with
    MaxPerAxisQuantizer (MaxQuantizer for depthwise kernels), every ReLU becomes
    ActivationDiscreteRelu (a ReLU with a ``max_value`` other than the default top level keeps
    its clip as the top level, with a warning naming it; without activation bits activations
    are kept exactly as they are), ``MaxPool2D -> BN`` and ``GlobalAveragePooling2D -> BN``
    are swapped, ``ReLU -> MaxPool2D`` becomes ``MaxPool2D -> ReLU``, fused activations get
    their own layer, and BatchNormalization layers are folded into the neural layer before
    them. The model can be converted directly, or retrained a few epochs first.

    Arguments:
        model: a Sequential or single-branch Functional tf_keras model; not modified.
        weight_quantization: weight bitwidth, 2..8, or 0 for float weights.
        activ_quantization: activation bitwidth, 1..8, or 0 to keep the activations as they
            are.
        input_weight_quantization: weight bitwidth of the first neural layer only (None:
            ``weight_quantization``).
        input_scaling: ``(scale, shift)``, the input scaling the model is meant for
            (``x_akida = scale * x_keras + shift``; ``(255, 0)`` for Keras inputs ``img / 255``),
            or None. When given, the returned model remembers it: an
            :class:`~cnn2snn_tfmot.quantization.input_scaling.InputScaling` layer (an identity,
            shown by ``summary()``) comes first, and ``convert``, ``ScaleFactorMonitor`` and the
            command line use it. A float model that already remembers one keeps it (a different pair
            is a ValueError).

    Returns:
        A new quantized tf_keras model with the same layer names (plus ``input_scaling`` when
        one is given).

    Example:
        >>> model_quantized = quantize(model, weight_quantization=4, activ_quantization=4,
        ...                            input_weight_quantization=8)
        >>> remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
        >>> [layer.name for layer in remembering.layers][:2]
        ['input_scaling', 'conv_0']
    """
    input_bits = _check_bitwidths(weight_quantization, activ_quantization,
                                  input_weight_quantization)
    model = check_keras_model(model)
    chain = model_chain(model, "quantize")
    if input_scaling is not None:
        chain = _remember_input_scaling(chain, input_scaling)
    _check_layers(chain, "quantize")
    for transform in (split_fused_activations, swap_activation_pooling, swap_pooling_batchnorm,
                      fold_batchnorms):
        chain = transform(chain)
    result, first = [], True
    for spec in chain:
        if registry.current().neural(spec.cls) is not None:
            result.append(_quantized_neural(spec, input_bits if first else weight_quantization))
            first = False
        elif _is_activation(spec):
            # Without activation bits every activation stays exactly as it was.
            result.append(_activation(spec, activ_quantization) if activ_quantization else spec)
        else:
            result.append(spec)
    return build_model(model, result)


def _resolve_target(model, chain: List[LayerSpec], target_layer: Union[str, int]) -> int:
    names = [spec.name for spec in chain]
    if isinstance(target_layer, bool) or not isinstance(target_layer, (str, int)):
        raise TypeError(f"`target_layer` must be a layer name or an index into model.layers; "
                        f"got {type(target_layer).__name__}.")
    if isinstance(target_layer, int):
        if not -len(model.layers) <= target_layer < len(model.layers):
            raise ValueError(f"`target_layer` index {target_layer} is out of range: the model "
                             f"has {len(model.layers)} layers.")
        name = model.layers[target_layer].name
    else:
        name = target_layer
    if name not in names:
        raise ValueError(f"`target_layer` '{name}' is not a layer of model '{model.name}' that "
                         f"can be quantized; its layers are {names}.")
    return names.index(name)


def _requantized(quantizer: WeightQuantizerBase, bitwidth: int,
                 per_axis: bool) -> WeightQuantizerBase:
    if bitwidth == 0 or isinstance(quantizer, WeightFloat):
        return default_weight_quantizer(bitwidth, per_axis)
    return type(quantizer).from_config({**quantizer.get_config(), "bitwidth": bitwidth})


def quantize_layer(model, target_layer: Union[str, int], bitwidth: int):
    """Converts one layer to a quantized version with the given bitwidth.

    A neural layer gets ``bitwidth``-bit weights (its quantizer type is kept; float layers get
    MaxPerAxisQuantizer, MaxQuantizer for depthwise kernels); an activation (ReLU,
    ActivationDiscreteRelu, QuantizedReLU) gets ``bitwidth``-bit activations (a QuantizedReLU
    restarts from its initial threshold and step). 0 makes it float. Other layers are untouched.

    Arguments:
        model: a Sequential or single-branch Functional tf_keras model; not modified.
        target_layer: the layer's name, or its index in ``model.layers``.
        bitwidth: the new bitwidth (weights: 2..8, activations: 1..8, or 0).

    Returns:
        A new model.

    Example:
        >>> model = quantize_layer(model, "conv_0", 8)
    """
    model = check_keras_model(model)
    chain = model_chain(model, "quantize_layer")
    index = _resolve_target(model, chain, target_layer)
    spec = chain[index]
    entry = registry.current().neural(spec.cls)
    if entry is not None:
        if bitwidth != 0 or isinstance(bitwidth, bool):
            check_weight_bitwidth(bitwidth)
        config, changed = dict(spec.config), False
        for kernel in entry.kernels:
            old = as_weight_quantizer(config.get(kernel.quantizer), kernel.quantizer,
                                      f"layer '{spec.name}'")
            new = _requantized(old, bitwidth, kernel.per_axis)
            changed |= type(new) is not type(old)
            config[kernel.quantizer] = keras.utils.serialize_keras_object(new)
        base = {kernel.attribute for kernel in entry.kernels} | {"bias"}
        weights = spec.weights if not changed else {
            key: value for key, value in spec.weights.items() if key in base}
        chain[index] = LayerSpec(entry.quantized_class, config, weights, spec.input_shape)
    elif _is_activation(spec):
        if bitwidth != 0 or isinstance(bitwidth, bool):
            check_activation_bitwidth(bitwidth)
        chain[index] = _activation(spec, bitwidth, trainable=spec.cls is QuantizedReLU)
    else:
        raise ValueError(f"Layer '{spec.name}' ({spec.cls.__name__}) has neither weights nor an "
                         "activation to quantize; target a neural layer or a ReLU.")
    return build_model(model, chain)


def create_trainable_quantizer_model(quantized_model):
    """Converts a quantized model to one using trainable quantizers.

    StdWeightQuantizer becomes TrainableStdWeightQuantizer (same threshold and bitwidth) and
    ActivationDiscreteRelu becomes QuantizedReLU (same bitwidth): the new model computes the
    same outputs until it is trained, and then learns its quantization ranges.

    Arguments:
        quantized_model: a Sequential or single-branch Functional quantized model.

    Returns:
        A new model with trainable quantizers.

    Example:
        >>> trainable = create_trainable_quantizer_model(model_quantized)
    """
    quantized_model = check_keras_model(quantized_model, "quantized_model")
    chain = model_chain(quantized_model, "create_trainable_quantizer_model")
    for index, spec in enumerate(chain):
        if spec.cls is ActivationDiscreteRelu:
            chain[index] = _activation(spec, spec.config["bitwidth"], trainable=True)
        elif registry.current().neural(spec.cls) is not None:
            config = dict(spec.config)
            for kernel in registry.current().neural(spec.cls).kernels:
                key = kernel.quantizer
                quantizer = as_weight_quantizer(config.get(key), key, f"layer '{spec.name}'")
                if type(quantizer) is StdWeightQuantizer:
                    config[key] = keras.utils.serialize_keras_object(
                        TrainableStdWeightQuantizer(quantizer.threshold, quantizer.bitwidth))
            chain[index] = spec.replace(config=config)
    return build_model(quantized_model, chain)
