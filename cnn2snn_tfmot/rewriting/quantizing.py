"""The quantization entry points of BrainChip's cnn2snn: quantize(), quantize_layer() and
create_trainable_quantizer_model(); and a TFMOT-quantized model read as cnn2snn's layers.

``quantize`` reads the model into a :class:`~cnn2snn_tfmot.rewriting.chain.Chain`, applies the
model transforms of docs/akida-v1.md section 3 (:mod:`cnn2snn_tfmot.rewriting.transforms`:
fused activations split, ``ReLU -> MaxPool`` and ``pooling -> BatchNormalization`` swapped,
BatchNormalization folded), then replaces neural layers by Quantized* layers and ReLUs by
ActivationDiscreteRelu (:func:`quantize_layers`). Layer names are kept, so
``load_partial_weights`` works between the float and the quantized model.

Example:
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.rewriting.quantizing import quantize
    >>> model = keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
    ...     keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="dense")])
    >>> quantized = quantize(model, weight_quantization=4, activ_quantization=4)
    >>> [(layer.name, type(layer).__name__) for layer in quantized.layers]
    [('conv', 'QuantizedConv2D'), ('conv_relu', 'ActivationDiscreteRelu'), \
('flat', 'Flatten'), ('dense', 'QuantizedDense')]
"""
from __future__ import annotations

from typing import List, Optional, Union

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.quantization import layer_table
from cnn2snn_tfmot.quantization.configs import NeuralQuantizeConfig, ReLUQuantizeConfig
from cnn2snn_tfmot.quantization.input_scaling import InputScaling
from cnn2snn_tfmot.quantization.layers import (
    ActivationDiscreteRelu,
    QuantizedActivation,
    QuantizedReLU,
    as_weight_quantizer,
)
from cnn2snn_tfmot.quantization.learned import LearnedStepReLU
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
from cnn2snn_tfmot.quantization.saving import weight_key
from cnn2snn_tfmot.rewriting.chain import (
    Chain,
    LayerSpec,
    is_plain_relu,
    single_branch_layers,
    spec_neural,
    spec_role,
)
from cnn2snn_tfmot.rewriting.transforms import (
    fold_batchnorms,
    split_fused_activations,
    swap_activation_pooling,
    swap_pooling_batchnorm,
)
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["quantize", "quantize_layer", "create_trainable_quantizer_model", "quantize_layers",
           "is_quantizable_activation", "cnn2snn_style_chain"]

L = keras.layers


def is_quantizable_activation(spec: LayerSpec) -> bool:
    """Whether ``quantize`` gives the spec quantized activations: a plain ReLU (see
    :func:`~cnn2snn_tfmot.rewriting.chain.is_plain_relu`) or an already quantized activation.

    Arguments:
        spec: a layer spec.

    Returns:
        True for a ReLU without slope or threshold, ``Activation('relu')`` and the
        QuantizedActivation layers.

    Example:
        >>> from cnn2snn_tfmot.rewriting.quantizing import is_quantizable_activation
        >>> from cnn2snn_tfmot import ActivationDiscreteRelu, keras
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec
        >>> is_quantizable_activation(LayerSpec(ActivationDiscreteRelu, {"name": "a"}))
        True
        >>> is_quantizable_activation(LayerSpec(keras.layers.Softmax, {"name": "s"}))
        False
    """
    return is_plain_relu(spec) or issubclass(spec.cls, QuantizedActivation)


def _layer_problems(spec: LayerSpec) -> List[str]:
    """What keeps quantize() from handling a layer (the rules it cannot fix by itself)."""
    entry = spec_neural(spec)
    if entry is not None:
        return rules.layer_parameter_problems(spec.name, spec.config, entry.akida_kind)
    if issubclass(spec.cls, QuantizedActivation):
        return []
    role = spec_role(spec)
    if role == "relu":
        return rules.relu_problems(spec.name, spec.config)
    if role is not None:
        return []
    return [f"Layer '{spec.name}' of type {spec.cls.__name__} is not supported by quantize(); "
            f"supported: {layer_table.current().supported_names()}, ActivationDiscreteRelu "
            "and QuantizedReLU. Replace or remove it."]


def _check_layers(chain: List[LayerSpec], caller: str) -> None:
    problems = [problem for spec in chain for problem in _layer_problems(spec)]
    problems += [problem for spec in chain for problem in rules.value_problems(
        spec.name, spec.weights,
        "BatchNormalization" if "moving_variance" in spec.weights else "Layer")]
    if problems:
        raise ValueError(f"{caller}(): " + (problems[0] if len(problems) == 1 else
                         f"{len(problems)} problems:\n  - " + "\n  - ".join(problems)))


def _quantized_neural(spec: LayerSpec, bitwidth: int) -> LayerSpec:
    entry = spec_neural(spec)
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


def _remember_input_scaling(chain: Chain, input_scaling) -> None:
    """Puts an InputScaling layer first, unless the chain already remembers the same pair."""
    scaling = rules.check_input_scaling(input_scaling, input_is_sparse=False)
    for spec in chain.specs:
        if issubclass(spec.cls, InputScaling):
            remembered = spec.cls.from_config(spec.config).akida_input_scaling
            if remembered != scaling:
                raise ValueError(f"quantize(): input_scaling={scaling} contradicts the input "
                                 f"scaling the model remembers, {remembered} (layer "
                                 f"'{spec.name}'); a model is meant for one input scaling.")
            return
    name = chain.free_name("input_scaling")
    first = chain.specs[0].input_shape if chain.specs else None
    config = {"name": name, "scale": scaling[0], "shift": scaling[1]}
    chain.specs.insert(0, LayerSpec(InputScaling, config, {}, first))
    chain.record(name, "InputScaling layer added first",
                 f"the model remembers the input scaling it is meant for, {scaling}")
    chain.refresh()


def quantize_layers(chain: Chain, weight_bits: int, activation_bits: int,
                    input_weight_bits: int) -> None:
    """Replaces float layers by quantized ones: neural layers by Quantized* layers with
    MaxPerAxisQuantizer (MaxQuantizer for depthwise kernels), ReLUs by ActivationDiscreteRelu.

    Arguments:
        chain: the chain being rewritten (after the model transforms).
        weight_bits: weight bitwidth (0: float weights).
        activation_bits: activation bitwidth (0: activations kept exactly as they are).
        input_weight_bits: weight bitwidth of the first neural layer.

    Example:
        >>> from cnn2snn_tfmot.rewriting.quantizing import quantize_layers
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
        ...     keras.layers.ReLU(name="r")]), "example")
        >>> quantize_layers(chain, 4, 2, 8)
        >>> [change.what for change in chain.changes]
        ['Dense replaced by QuantizedDense (8-bit weights)', \
'ReLU replaced by ActivationDiscreteRelu (2-bit activations)']
    """
    first = True
    for index, spec in enumerate(chain.specs):
        if spec_neural(spec) is not None:
            bits, values = (input_weight_bits if first else weight_bits), "weights"
            new = _quantized_neural(spec, bits)
            first = False
        elif is_quantizable_activation(spec) and activation_bits:
            # Without activation bits every activation stays exactly as it was.
            bits, values = activation_bits, "activations"
            new = _activation(spec, activation_bits)
        else:
            continue
        chain.specs[index] = new
        chain.record(spec.name, f"{spec.cls.__name__} replaced by {new.cls.__name__} ("
                     + (f"{bits}-bit {values})" if bits else f"float {values})"),
                     "Akida computes with quantized weights and activations", exact=not bits)
    chain.refresh()


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
        >>> from cnn2snn_tfmot.rewriting.quantizing import quantize
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((16, 16, 1)),
        ...     keras.layers.Conv2D(8, 3, use_bias=False, name="conv_0"),
        ...     keras.layers.BatchNormalization(name="conv_0_bn"),
        ...     keras.layers.ReLU(name="conv_0_relu"), keras.layers.MaxPool2D(name="pool"),
        ...     keras.layers.Flatten(name="flatten"), keras.layers.Dense(10, name="dense")])
        >>> model_quantized = quantize(model, weight_quantization=4, activ_quantization=4,
        ...                            input_weight_quantization=8)
        >>> [layer.name for layer in model_quantized.layers]
        ['conv_0', 'pool', 'conv_0_relu', 'flatten', 'dense']
        >>> remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
        >>> [layer.name for layer in remembering.layers][:2]
        ['input_scaling', 'conv_0']
    """
    input_bits = _check_bitwidths(weight_quantization, activ_quantization,
                                  input_weight_quantization)
    chain = Chain(model, "quantize")
    if input_scaling is not None:
        _remember_input_scaling(chain, input_scaling)
    _check_layers(chain.specs, "quantize")
    for transform in (split_fused_activations, swap_activation_pooling, swap_pooling_batchnorm,
                      fold_batchnorms):
        transform(chain)
    quantize_layers(chain, weight_quantization, activ_quantization, input_bits)
    return chain.build()


def _resolve_target(chain: Chain, target_layer: Union[str, int]) -> int:
    model, names = chain.model, chain.names()
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
    ActivationDiscreteRelu, QuantizedReLU, LearnedStepReLU) gets ``bitwidth``-bit activations (a
    QuantizedReLU restarts from its initial threshold and step; a LearnedStepReLU keeps learning,
    its step multiplied by ``sqrt(old levels / new levels)``). 0 makes it float. Other layers are
    untouched.

    Arguments:
        model: a Sequential or single-branch Functional tf_keras model; not modified.
        target_layer: the layer's name, or its index in ``model.layers``.
        bitwidth: the new bitwidth (weights: 2..8, activations: 1..8, or 0).

    Returns:
        A new model.

    Example:
        >>> from cnn2snn_tfmot.rewriting.quantizing import quantize_layer
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu")])
        >>> model = quantize_layer(model, "conv", 8)
        >>> model.get_layer("conv").quantizer
        MaxPerAxisQuantizer(bitwidth=8)
    """
    chain = Chain(model, "quantize_layer")
    index = _resolve_target(chain, target_layer)
    spec = chain.specs[index]
    entry = spec_neural(spec)
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
        chain.specs[index] = LayerSpec(entry.quantized_class, config, weights,
                                       spec.input_shape)
    elif issubclass(spec.cls, LearnedStepReLU) and bitwidth:
        # A learned activation stays one: its step follows LSQ's ratio of initial steps.
        ratio = ((2 ** spec.config["bitwidth"] - 1)
                 / (2 ** check_activation_bitwidth(bitwidth) - 1)) ** 0.5
        chain.specs[index] = spec.replace(config={**spec.config, "bitwidth": bitwidth}, weights={
            **spec.weights, "step": (spec.weights["step"] * ratio).astype("float32")})
    elif is_quantizable_activation(spec):
        if bitwidth != 0 or isinstance(bitwidth, bool):
            check_activation_bitwidth(bitwidth)
        chain.specs[index] = _activation(spec, bitwidth, trainable=spec.cls is QuantizedReLU)
    else:
        raise ValueError(f"Layer '{spec.name}' ({spec.cls.__name__}) has neither weights nor an "
                         "activation to quantize; target a neural layer or a ReLU.")
    return chain.build()


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
        >>> from cnn2snn_tfmot.rewriting.quantizing import create_trainable_quantizer_model
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.quantizing import quantize
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu")])
        >>> trainable = create_trainable_quantizer_model(quantize(model, 4, 4))
        >>> type(trainable.get_layer("relu")).__name__
        'QuantizedReLU'
    """
    chain = Chain(quantized_model, "create_trainable_quantizer_model",
                  argument="quantized_model")
    for index, spec in enumerate(chain.specs):
        if spec.cls is ActivationDiscreteRelu:
            chain.specs[index] = _activation(spec, spec.config["bitwidth"], trainable=True)
        elif spec_neural(spec) is not None:
            config = dict(spec.config)
            for kernel in spec_neural(spec).kernels:
                key = kernel.quantizer
                quantizer = as_weight_quantizer(config.get(key), key, f"layer '{spec.name}'")
                if type(quantizer) is StdWeightQuantizer:
                    config[key] = keras.utils.serialize_keras_object(
                        TrainableStdWeightQuantizer(quantizer.threshold, quantizer.bitwidth))
            chain.specs[index] = spec.replace(config=config)
    return chain.build()


# TFMOT-wrapped layers as BrainChip's cnn2snn layers ------------------------------------------

def _cnn2snn_spec_of_wrapper(wrapper) -> LayerSpec:
    """The cnn2snn-style spec computing what a TFMOT ``QuantizeWrapper`` computes."""
    config, inner = wrapper.quantize_config, wrapper.layer
    weights = {weight_key(v): np.array(v.numpy()) for v in wrapper.weights
               if weight_key(v) != "optimizer_step"}
    if isinstance(config, NeuralQuantizeConfig):
        entry = layer_table.current().for_config(type(config))
        layer_config = dict(inner.get_config())
        for kernel in entry.kernels:
            layer_config[kernel.quantizer] = keras.utils.serialize_keras_object(
                getattr(config, kernel.quantizer))
        return LayerSpec(entry.quantized_class, layer_config, weights,
                         tuple(wrapper.input_shape))
    if isinstance(config, ReLUQuantizeConfig):
        # The quantizer names its cnn2snn-style twin; its variables are the wrapper's output_*.
        cls, layer_config, names = config.quantizer.cnn2snn_equivalent()
        return LayerSpec(cls, {"name": inner.name, **layer_config},
                         {ours: weights[f"output_{theirs}"] for ours, theirs in names.items()},
                         tuple(wrapper.input_shape))
    raise ValueError(f"Layer '{wrapper.name}' is wrapped with {type(config).__name__}, not an "
                     "Akida QuantizeConfig; annotate it with the configs of "
                     "cnn2snn_tfmot.quantization.configs.")


def cnn2snn_style_chain(model, caller: str = "hardware_exact") -> Chain:
    """The model's layers as BrainChip's cnn2snn layers: TFMOT wrappers become the Quantized*
    layer (or the quantized activation) that computes the same, with the same names and
    weights; other layers are kept.

    Arguments:
        model: a single-branch quantized tf_keras model (cnn2snn-style or TFMOT-quantized).
        caller: the public function's name, for messages.

    Returns:
        A :class:`~cnn2snn_tfmot.rewriting.chain.Chain` (``.build()`` makes the model).

    Example:
        >>> from cnn2snn_tfmot.rewriting.quantizing import cnn2snn_style_chain
        >>> from cnn2snn_tfmot import keras, quantize
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu")])
        >>> chain = cnn2snn_style_chain(quantize(model, 4, 4))
        >>> [spec.cls.__name__ for spec in chain.specs]
        ['QuantizedConv2D', 'ActivationDiscreteRelu']
    """
    wrapper_class = tfmot.quantization.keras.QuantizeWrapper
    specs = [_cnn2snn_spec_of_wrapper(layer) if isinstance(layer, wrapper_class)
             else LayerSpec.of(layer) for layer in single_branch_layers(model, caller)]
    return Chain(model, caller, specs)
