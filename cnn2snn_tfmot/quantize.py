"""The seeds' high-level quantization entry points: quantize(), quantize_layer() and
create_trainable_quantizer_model().

``quantize`` reads the model into a chain (see :mod:`cnn2snn_tfmot.transforms`), applies the
model transforms of akida-v1.md section 3 (fused activations split, ``ReLU -> MaxPool`` and
``pooling -> BatchNormalization`` swapped, BatchNormalization folded), then replaces neural
layers by Quantized* layers and ReLUs by ActivationDiscreteRelu. Layer names are kept, so
``load_partial_weights`` works between the float and the quantized model.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Union

from cnn2snn_tfmot._keras import keras
from cnn2snn_tfmot.quantization_layers import (ActivationDiscreteRelu, QuantizedConv2D,
                                               QuantizedDense, QuantizedDepthwiseConv2D,
                                               QuantizedReLU, QuantizedSeparableConv2D,
                                               as_weight_quantizer)
from cnn2snn_tfmot.quantization_ops import (MaxPerAxisQuantizer, MaxQuantizer, StdWeightQuantizer,
                                            TrainableStdWeightQuantizer, WeightFloat,
                                            WeightQuantizerBase, check_activation_bitwidth,
                                            check_weight_bitwidth)
from cnn2snn_tfmot.transforms import (NEURAL_TYPES, LayerSpec, build_model, check_batchnorm,
                                      fold_batchnorms, is_relu, model_chain,
                                      split_fused_activations, swap_activation_pooling,
                                      swap_pooling_batchnorm)

__all__ = ["quantize", "quantize_layer", "create_trainable_quantizer_model"]

L = keras.layers

#: Neural layer type -> its quantized class.
_QUANTIZED_CLASS: Dict[type, type] = {
    L.Conv2D: QuantizedConv2D, QuantizedConv2D: QuantizedConv2D,
    L.DepthwiseConv2D: QuantizedDepthwiseConv2D,
    QuantizedDepthwiseConv2D: QuantizedDepthwiseConv2D,
    L.SeparableConv2D: QuantizedSeparableConv2D,
    QuantizedSeparableConv2D: QuantizedSeparableConv2D,
    L.Dense: QuantizedDense, QuantizedDense: QuantizedDense,
}
#: Config key of each kernel's quantizer, and whether quantize() quantizes it per axis.
#: Depthwise kernels are per tensor: Akida requires it for separable layers, and a standalone
#: depthwise layer must stay mergeable by merge_separable_conv.
_KERNEL_QUANTIZERS = {"kernel": ("quantizer", True), "pointwise_kernel": ("quantizer", True),
                      "depthwise_kernel": ("quantizer_dw", False)}
_ACTIVATION_TYPES = (ActivationDiscreteRelu, QuantizedReLU)
#: Layers quantize() keeps as they are.
_KEPT_TYPES = (L.MaxPooling2D, L.GlobalAveragePooling2D, L.BatchNormalization, L.Dropout,
               L.Flatten, L.Reshape, L.Softmax, L.Activation, L.ReLU)
_SUPPORTED = ("Conv2D, SeparableConv2D, DepthwiseConv2D, Dense (or their Quantized* versions), "
              "ReLU, ActivationDiscreteRelu, QuantizedReLU, BatchNormalization, MaxPool2D, "
              "GlobalAveragePooling2D, Dropout, Flatten, Reshape, Softmax and Activation")


def _quantizer_keys(spec: LayerSpec) -> List[tuple]:
    """(config key, kernel attribute, per axis) of each kernel of a neural spec."""
    kernels = NEURAL_TYPES[spec.cls]
    if spec.cls in (L.DepthwiseConv2D, QuantizedDepthwiseConv2D):
        return [("quantizer", "depthwise_kernel", False)]
    return [(_KERNEL_QUANTIZERS[k][0], k, _KERNEL_QUANTIZERS[k][1]) for k in kernels]


def _default_quantizer(bitwidth: int, per_axis: bool) -> WeightQuantizerBase:
    if bitwidth == 0:
        return WeightFloat()
    return MaxPerAxisQuantizer(bitwidth) if per_axis else MaxQuantizer(bitwidth)


def _is_activation(spec: LayerSpec) -> bool:
    return is_relu(spec) or spec.cls in _ACTIVATION_TYPES


def _check_layer(spec: LayerSpec) -> None:
    """Raises a ValueError naming the layer and the fix when quantize() cannot handle it."""
    if spec.cls in NEURAL_TYPES:
        dilation = tuple(spec.config.get("dilation_rate", (1, 1)))
        if spec.cls is not L.Dense and dilation != (1, 1):
            raise ValueError(f"Layer '{spec.name}' has dilation_rate={dilation}; Akida has no "
                             "dilated convolution: use dilation_rate=1.")
        if spec.config.get("groups", 1) != 1:
            raise ValueError(f"Layer '{spec.name}' has groups={spec.config['groups']}; Akida "
                             "convolutions are not grouped: use groups=1.")
        if spec.cls in (L.DepthwiseConv2D, QuantizedDepthwiseConv2D, L.SeparableConv2D,
                        QuantizedSeparableConv2D) and spec.config.get("depth_multiplier", 1) != 1:
            raise ValueError(f"Layer '{spec.name}' has depth_multiplier="
                             f"{spec.config['depth_multiplier']}; Akida needs 1.")
        return
    if spec.cls is L.ReLU and not is_relu(spec):
        raise ValueError(f"ReLU '{spec.name}' has negative_slope={spec.config.get('negative_slope')}"
                         f" and threshold={spec.config.get('threshold')}; Akida activations are "
                         "plain ReLUs: use negative_slope=0 and threshold=0.")
    if spec.cls is L.BatchNormalization:
        check_batchnorm(spec, len(spec.input_shape))
        return
    if spec.cls in _ACTIVATION_TYPES or spec.cls in _KEPT_TYPES:
        return
    raise ValueError(f"Layer '{spec.name}' of type {spec.cls.__name__} is not supported by "
                     f"quantize(); supported: {_SUPPORTED}. Replace or remove it.")


def _quantized_neural(spec: LayerSpec, bitwidth: int) -> LayerSpec:
    config = dict(spec.config)
    for key, _, per_axis in _quantizer_keys(spec):
        config[key] = keras.utils.serialize_keras_object(_default_quantizer(bitwidth, per_axis))
    kept = set(NEURAL_TYPES[spec.cls]) | {"bias"}
    weights = {key: value for key, value in spec.weights.items() if key in kept}
    return LayerSpec(_QUANTIZED_CLASS[spec.cls], config, weights, spec.input_shape)


def _activation(spec: LayerSpec, bitwidth: int, trainable: bool = False) -> LayerSpec:
    if bitwidth == 0:
        return LayerSpec(L.ReLU, {"name": spec.name}, {}, spec.input_shape)
    cls = QuantizedReLU if trainable else ActivationDiscreteRelu
    return LayerSpec(cls, {"name": spec.name, "bitwidth": bitwidth}, {}, spec.input_shape)


def _check_bitwidths(weight_quantization, activ_quantization, input_weight_quantization):
    if weight_quantization != 0 or isinstance(weight_quantization, bool):
        check_weight_bitwidth(weight_quantization, "weight_quantization")
    if activ_quantization != 0 or isinstance(activ_quantization, bool):
        check_activation_bitwidth(activ_quantization, "activ_quantization")
    if input_weight_quantization is None:
        return weight_quantization
    if input_weight_quantization != 0 or isinstance(input_weight_quantization, bool):
        check_weight_bitwidth(input_weight_quantization, "input_weight_quantization")
    return input_weight_quantization


def quantize(model, weight_quantization: int = 0, activ_quantization: int = 0,
             input_weight_quantization: Optional[int] = None):
    """Converts a Keras model into a quantized model compatible with Akida conversion.

    Conv2D, SeparableConv2D, DepthwiseConv2D and Dense become Quantized* layers with
    MaxPerAxisQuantizer (MaxQuantizer for depthwise kernels), every ReLU (any max_value)
    becomes ActivationDiscreteRelu, ``MaxPool2D -> BN`` and ``GlobalAveragePooling2D -> BN``
    are swapped, ``ReLU -> MaxPool2D`` becomes ``MaxPool2D -> ReLU``, fused activations get
    their own layer, and BatchNormalization layers are folded into the neural layer before
    them. The model can be converted directly, or retrained a few epochs first.

    Arguments:
        model: a Sequential or single-branch Functional tf_keras model; not modified.
        weight_quantization: weight bitwidth, 2..8, or 0 for float weights.
        activ_quantization: activation bitwidth, 1..8, or 0 to keep float ReLUs.
        input_weight_quantization: weight bitwidth of the first neural layer only (None:
            ``weight_quantization``).

    Returns:
        A new quantized tf_keras model with the same layer names.

    Example:
        >>> model_quantized = quantize(model, weight_quantization=4, activ_quantization=4,
        ...                            input_weight_quantization=8)
    """
    input_bits = _check_bitwidths(weight_quantization, activ_quantization,
                                  input_weight_quantization)
    chain = model_chain(model, "quantize")
    for spec in chain:
        _check_layer(spec)
    for transform in (split_fused_activations, swap_activation_pooling, swap_pooling_batchnorm,
                      fold_batchnorms):
        chain = transform(chain)
    result, first = [], True
    for spec in chain:
        if spec.cls in NEURAL_TYPES:
            result.append(_quantized_neural(spec, input_bits if first else weight_quantization))
            first = False
        elif _is_activation(spec):
            result.append(_activation(spec, activ_quantization))
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
    if bitwidth == 0:
        return WeightFloat()
    if isinstance(quantizer, WeightFloat):
        return _default_quantizer(bitwidth, per_axis)
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
    chain = model_chain(model, "quantize_layer")
    index = _resolve_target(model, chain, target_layer)
    spec = chain[index]
    if spec.cls in NEURAL_TYPES:
        if bitwidth != 0 or isinstance(bitwidth, bool):
            check_weight_bitwidth(bitwidth)
        config, changed = dict(spec.config), False
        for key, _, per_axis in _quantizer_keys(spec):
            old = as_weight_quantizer(config.get(key), key, f"layer '{spec.name}'")
            new = _requantized(old, bitwidth, per_axis)
            changed |= type(new) is not type(old)
            config[key] = keras.utils.serialize_keras_object(new)
        base = set(NEURAL_TYPES[spec.cls]) | {"bias"}
        weights = spec.weights if not changed else {
            key: value for key, value in spec.weights.items() if key in base}
        chain[index] = LayerSpec(_QUANTIZED_CLASS[spec.cls], config, weights, spec.input_shape)
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
    chain = model_chain(quantized_model, "create_trainable_quantizer_model")
    for index, spec in enumerate(chain):
        if spec.cls is ActivationDiscreteRelu:
            chain[index] = _activation(spec, spec.config["bitwidth"], trainable=True)
        elif spec.cls in NEURAL_TYPES:
            config = dict(spec.config)
            for key, _, _ in _quantizer_keys(spec):
                quantizer = as_weight_quantizer(config.get(key), key, f"layer '{spec.name}'")
                if type(quantizer) is StdWeightQuantizer:
                    config[key] = keras.utils.serialize_keras_object(
                        TrainableStdWeightQuantizer(quantizer.threshold, quantizer.bitwidth))
            chain[index] = spec.replace(config=config)
    return build_model(quantized_model, chain)
