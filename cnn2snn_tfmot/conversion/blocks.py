"""Reading a quantized Keras model as Akida blocks: the one adapter of the converter.

Both kinds of quantized model, cnn2snn-style (Quantized* layers, quantized activations) and
TFMOT-wrapped (the Akida QuantizeConfigs), are read layer by layer into small items
(neural, activation, pooling, BatchNormalization, other). Items are grouped into blocks,
``[neural layer][BatchNormalization][pooling][quantized activation]``, and every rule of
BrainChip's cnn2snn "How to build a compatible Keras quantized model" that the model breaks is
collected as one message naming the layer and the rule. Everything after this module (compatibility
report, conversion, the scale-factor callback) works on blocks and does not care which kind of
model they came from.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.quantization.configs import NeuralQuantizeConfig, ReLUQuantizeConfig
from cnn2snn_tfmot.quantization.layers import QuantizedActivation, expand_networks
from cnn2snn_tfmot.quantization.quantizers import WeightQuantizerBase
from cnn2snn_tfmot.quantization.saving import layer_key
from cnn2snn_tfmot.rewriting.chain import LayerSpec, single_branch_layers
from cnn2snn_tfmot.rewriting.merging import merged_separable_bias
from cnn2snn_tfmot.rewriting.transforms import batchnorm_parameters
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["NeuralItem", "ActivationItem", "PoolItem", "BatchNormItem", "OtherItem", "Block",
           "Analysis", "analyze", "analyze_layers", "read_layer", "akida_kind", "weights_bits",
           "value_rules"]

_QuantizeWrapper = tfmot.quantization.keras.QuantizeWrapper


@dataclasses.dataclass
class NeuralItem:
    """A neural layer: kernels by role ("kernel", or "depthwise" and "pointwise"), quantizers."""
    name: str
    kind: str  # "conv", "depthwise", "separable" or "dense"
    kernels: Dict[str, np.ndarray]
    quantizers: Dict[str, WeightQuantizerBase]
    bias: Optional[np.ndarray]
    config: dict
    input_shape: Tuple[int, ...]
    output_shape: Tuple[int, ...]
    layers: Tuple[str, ...] = ()
    #: For a dense layer after Flatten: the (H, W, C) shape that was flattened.
    flattened_shape: Optional[Tuple[int, ...]] = None


@dataclasses.dataclass
class ActivationItem:
    """A quantized activation: ``step_height * clip(ceil((x - threshold) / step_width), ...)``."""
    name: str
    bitwidth: int
    threshold: float
    step_height: float
    step_width: float


@dataclasses.dataclass
class PoolItem:
    """Max pooling (size, strides, padding) or global average pooling."""
    name: str
    kind: str  # "max" or "global"
    size: Tuple[int, int] = (1, 1)
    strides: Tuple[int, int] = (1, 1)
    padding: str = "valid"


@dataclasses.dataclass
class BatchNormItem:
    """A BatchNormalization left in the model: absorbed into thresholds and steps."""
    name: str
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    variance: np.ndarray
    epsilon: float
    axes: Tuple[int, ...]
    rank: int


@dataclasses.dataclass
class OtherItem:
    """Any other layer. ``kind``: identity (Dropout, linear activation), flatten, reshape,
    final (a softmax-like activation), float_relu, float_neural or unsupported."""
    name: str
    kind: str
    type_name: str
    input_shape: Tuple[int, ...] = ()
    output_shape: Tuple[int, ...] = ()


@dataclasses.dataclass
class Block:
    """One Akida layer's worth of Keras layers."""
    neural: NeuralItem
    batchnorm: Optional[BatchNormItem] = None
    pool: Optional[PoolItem] = None
    activation: Optional[ActivationItem] = None

    @property
    def name(self) -> str:
        return self.neural.name


@dataclasses.dataclass
class Analysis:
    """What ``analyze`` found: the blocks, the rule violations and the chip-only warnings."""
    blocks: List[Block]
    violations: List[str]
    warnings: List[str]
    input_shape: Tuple[int, ...]


def _scalar(value) -> float:
    """A number, a tensor or a variable as a float. A distributed variable (a MirroredVariable
    under ``tf.distribute``) has no ``float()``; its ``numpy()`` is the value every replica
    holds (in a callback, outside the replicas)."""
    return float(np.asarray(value.numpy() if hasattr(value, "numpy") else value))


def _shape(shape) -> Tuple[int, ...]:
    return tuple(int(d) for d in shape[1:])


# Layer readers -----------------------------------------------------------------------------

_CONFIG_KEYS = ("strides", "padding", "kernel_size", "dilation_rate", "depth_multiplier",
                "groups", "activation", "use_bias", "data_format")


def _neural_item(name, layer, entry, kernels, quantizers, io) -> NeuralItem:
    config = {key: value for key, value in layer.get_config().items() if key in _CONFIG_KEYS}
    bias = getattr(layer, "bias", None) if getattr(layer, "use_bias", False) else None
    return NeuralItem(name=name, kind=entry.akida_kind, kernels=kernels, quantizers=quantizers,
                      bias=None if bias is None else np.array(bias.numpy(), np.float32),
                      config=config, input_shape=io[0], output_shape=io[1], layers=(name,))


def _read_seed_neural(layer, entry, io):
    kernels = {kernel.role: np.array(getattr(layer, kernel.attribute).numpy(), np.float32)
               for kernel in entry.kernels}
    quantizers = {kernel.role: getattr(layer, kernel.quantizer) for kernel in entry.kernels}
    return _neural_item(layer.name, layer, entry, kernels, quantizers, io)


def _read_wrapper(layer, io):
    inner, config = layer.layer, layer.quantize_config
    name = layer_key(layer)
    if isinstance(config, NeuralQuantizeConfig):
        entry = config.kernel_description
        kernels, quantizers = {}, {}
        for kernel, (variable, quantizer, _) in zip(entry.kernels, layer._weight_vars):
            kernels[kernel.role] = np.array(variable.numpy(), np.float32)
            quantizers[kernel.role] = quantizer
        return _neural_item(name, inner, entry, kernels, quantizers, io)
    if isinstance(config, ReLUQuantizeConfig):
        quantizer = config.quantizer
        threshold, height, width = quantizer.parameters(
            getattr(layer, "_output_quantizer_vars", None) or {})
        return ActivationItem(name, quantizer.bitwidth, _scalar(threshold), _scalar(height),
                              _scalar(width))
    return OtherItem(name, "unsupported", f"QuantizeWrapper({type(config).__name__})", *io)


def _read_batchnorm(layer, io):
    gamma, beta, mean, variance, epsilon = batchnorm_parameters(LayerSpec.of(layer))
    axes = tuple(int(a) for a in (layer.axis if isinstance(layer.axis, (list, tuple))
                                  else [layer.axis]))
    return BatchNormItem(layer.name, gamma, beta, mean, variance, epsilon, axes, len(io[0]) + 1)


def _read_pool(layer, role, io):
    if role == "global_pool":
        return PoolItem(layer.name, "global")
    return PoolItem(layer.name, "max", tuple(layer.pool_size), tuple(layer.strides),
                    layer.padding)


def _other(layer, kind, io):
    return OtherItem(layer.name, kind, type(layer).__name__, *io)


#: Role of a non-neural layer (registry) -> its item. Float ReLUs are kept as "float_relu"
#: items, for the message that says to quantize them.
_ROLE_READERS = {
    "max_pool": _read_pool, "global_pool": _read_pool,
    "batchnorm": lambda layer, role, io: _read_batchnorm(layer, io),
    "relu": lambda layer, role, io: _other(layer, "float_relu", io),
    "identity": _other, "flatten": _other, "reshape": _other, "final": _other,
    # The remembered input scaling computes nothing: read as an identity.
    "input_scaling": lambda layer, role, io: _other(layer, "identity", io),
}


def read_layer(layer, io: Optional[Tuple[tuple, tuple]] = None):
    """Reads one Keras layer into an item (see the module docstring).

    Arguments:
        layer: a layer of a cnn2snn-style or TFMOT-quantized model.
        io: its (input, output) shapes without the batch axis; by default those of the model
            it was called in.

    Returns:
        A NeuralItem, ActivationItem, PoolItem, BatchNormItem or OtherItem.

    Example:
        >>> from cnn2snn_tfmot.conversion.blocks import read_layer
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> read_layer(model_quantized.get_layer("flatten"))
        OtherItem(name='flatten', kind='flatten', type_name='Flatten', input_shape=(8, 8, 16), \
output_shape=(1024,))
    """
    if io is None:
        io = (_shape(layer.input_shape), _shape(layer.output_shape))
    if isinstance(layer, _QuantizeWrapper):
        return _read_wrapper(layer, io)
    table = registry.current()
    if isinstance(layer, QuantizedActivation):
        return ActivationItem(layer.name, layer.bitwidth, _scalar(layer.threshold),
                              _scalar(layer.step_height), _scalar(layer.step_width))
    entry = table.neural(type(layer))
    if entry is not None:
        if table.is_quantized(type(layer)):
            return _read_seed_neural(layer, entry, io)
        return _other(layer, "float_neural", io)
    role = table.role(type(layer), layer.get_config())
    if role is None:
        return _other(layer, "unsupported", io)
    return _ROLE_READERS[role](layer, role, io)


# Rules -------------------------------------------------------------------------------------

#: The variable a kernel role is, as the layers name it.
_KERNEL_VARIABLES = {"kernel": "kernel", "depthwise": "depthwise_kernel",
                     "pointwise": "pointwise_kernel"}


def value_rules(item) -> List[str]:
    """The non-finite weights, biases, BatchNormalization statistics (and negative variances),
    thresholds and steps of one item (:func:`cnn2snn_tfmot.chip.rules.value_problems`).

    Arguments:
        item: an item from :func:`read_layer`.

    Returns:
        The messages (empty when every value is finite).

    Example:
        >>> from cnn2snn_tfmot.conversion.blocks import read_layer, value_rules
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> value_rules(read_layer(model_quantized.get_layer("dense")))
        []
    """
    if isinstance(item, NeuralItem):
        variables = {_KERNEL_VARIABLES.get(role, role): kernel
                     for role, kernel in item.kernels.items()}
        return rules.value_problems(item.name, {**variables, "bias": item.bias})
    if isinstance(item, ActivationItem):
        return rules.value_problems(item.name, {"threshold": item.threshold,
                                                "step_height": item.step_height,
                                                "step_width": item.step_width})
    if isinstance(item, BatchNormItem):
        return rules.value_problems(item.name, {"gamma": item.gamma, "beta": item.beta,
                                                "moving_mean": item.mean,
                                                "moving_variance": item.variance},
                                    what="BatchNormalization")
    return []


def _supported() -> str:
    return (f"{registry.current().supported_names()}, ActivationDiscreteRelu or another "
            "QuantizedActivation, TFMOT-annotated layers with the Akida QuantizeConfigs, and a "
            "final Softmax/Activation")


def _merged(depthwise: NeuralItem, pointwise: NeuralItem) -> NeuralItem:
    config = dict(depthwise.config)
    config["use_bias"] = depthwise.bias is not None or pointwise.bias is not None
    config["activation"] = pointwise.config.get("activation")
    bias = pointwise.bias
    if depthwise.bias is not None:
        quantized = pointwise.quantizers["kernel"].quantize(
            tf.constant(pointwise.kernels["kernel"])).numpy()
        bias = merged_separable_bias(depthwise.bias, quantized, pointwise.bias)
    return NeuralItem(
        name=depthwise.name, kind="separable",
        kernels={"depthwise": depthwise.kernels["depthwise"],
                 "pointwise": pointwise.kernels["kernel"]},
        quantizers={"depthwise": depthwise.quantizers["depthwise"],
                    "pointwise": pointwise.quantizers["kernel"]},
        bias=bias, config=config, input_shape=depthwise.input_shape,
        output_shape=pointwise.output_shape, layers=(depthwise.name, pointwise.name))


def _merge_pairs(items: list, violations: List[str]) -> list:
    """Depthwise + 1x1 convolution pairs -> one separable item (the rule of
    :func:`cnn2snn_tfmot.chip.rules.separable_merge_problems`); a lone depthwise breaks a rule."""
    result, index = [], 0
    while index < len(items):
        item = items[index]
        following = items[index + 1] if index + 1 < len(items) else None
        if isinstance(item, NeuralItem) and item.kind == "depthwise":
            neural_next = isinstance(following, NeuralItem)
            if rules.is_separable_merge_candidate(
                    item.kind, following.kind if neural_next else None,
                    following.config if neural_next else None):
                reasons = rules.separable_merge_problems(item.name, item.config,
                                                         following.name, following.config)
                if not reasons:
                    result.append(_merged(item, following))
                    index += 2
                    continue
                violations.extend(reasons)
            else:
                violations.append(rules.lone_depthwise_problem(item.name))
        result.append(item)
        index += 1
    return result


def _neural_rules(item: NeuralItem, violations: List[str]) -> None:
    violations.extend(rules.fused_activation_problems(item.name, item.config))
    violations.extend(rules.layer_parameter_problems(item.name, item.config, item.kind))
    violations.extend(rules.quantizer_problems(item.name, item.kind, item.quantizers))
    if item.kind == "dense":
        violations.extend(rules.dense_input_problems(item.name, item.input_shape))


def _group(items: list, violations: List[str]) -> List[Block]:
    blocks: List[Block] = []
    current: Optional[Block] = None
    flattened: Optional[Tuple[int, ...]] = None
    meaningful = [item for item in items
                  if not (isinstance(item, OtherItem) and item.kind == "identity")]
    for position, item in enumerate(meaningful):
        following = meaningful[position + 1] if position + 1 < len(meaningful) else None
        if isinstance(item, NeuralItem):
            if current is not None and current.activation is None:
                violations.append(f"Block of layer '{current.name}' has no quantized activation: "
                                  "every block but the last needs exactly one "
                                  "(ActivationDiscreteRelu).")
            _neural_rules(item, violations)
            if item.kind == "dense" and flattened is not None:
                item.flattened_shape = flattened
            current, flattened = Block(item), None
            blocks.append(current)
            continue
        if isinstance(item, OtherItem):
            if item.kind == "flatten":
                if not (isinstance(following, NeuralItem) and following.kind == "dense"):
                    violations.append(f"Flatten '{item.name}' can only be used before a "
                                      "QuantizedDense layer.")
                flattened = item.input_shape
            elif item.kind == "reshape":
                shapes = {item.input_shape, item.output_shape}
                sizes = {int(np.prod(s)) for s in shapes}
                if len(sizes) != 1 or not all(len(s) == 1 or (len(s) == 3 and s[:2] == (1, 1))
                                              for s in shapes):
                    violations.append(f"Reshape '{item.name}' maps {item.input_shape} to "
                                      f"{item.output_shape}: Reshape layers may only turn (N,) "
                                      "into (1, 1, N) and back.")
            elif item.kind == "final":
                if following is not None:
                    violations.append(f"Activation '{item.name}' ({item.type_name}): an "
                                      "activation other than a quantized one can only be the "
                                      "last layer.")
            elif item.kind == "float_relu":
                violations.append(f"Layer '{item.name}' ({item.type_name}) is a float ReLU: "
                                  "replace it by ActivationDiscreteRelu (quantize() does).")
            elif item.kind == "float_neural":
                violations.append(f"Layer '{item.name}' ({item.type_name}) is not quantized: "
                                  "use quantize(), the Quantized* layers or TFMOT annotation "
                                  "with the Akida QuantizeConfigs.")
            elif item.kind == "unsupported":
                violations.append(f"Layer '{item.name}' ({item.type_name}) is not supported; "
                                  f"supported layers: {_supported()}.")
            continue
        if current is None:
            violations.append(f"Layer '{item.name}' comes before any processing layer: a block "
                              "must start with a processing quantized layer (QuantizedConv2D, "
                              "QuantizedSeparableConv2D or QuantizedDense).")
            continue
        if isinstance(item, ActivationItem):
            violations.extend(rules.activation_bits_problems(item.name, item.bitwidth))
            if current.activation is not None:
                violations.append(f"Activation '{item.name}' is the second activation of the "
                                  f"block of '{current.name}': a block has exactly one.")
            else:
                current.activation = item
        elif isinstance(item, BatchNormItem):
            if current.activation is not None:
                violations.append(f"BatchNormalization '{item.name}' comes after the activation "
                                  f"of the block of '{current.name}': it must be placed before "
                                  "the activation.")
            elif current.batchnorm is not None:
                violations.append(f"BatchNormalization '{item.name}' is the second of the block "
                                  f"of '{current.name}': a block has at most one.")
            else:
                current.batchnorm = item
            violations.extend(rules.batchnorm_problems(item.name, list(item.axes), item.rank,
                                                       item.gamma, use="absorb"))
        elif isinstance(item, PoolItem):
            if current.activation is not None:
                violations.append(f"Pooling layer '{item.name}' comes after the activation of "
                                  f"the block of '{current.name}': it must be placed before "
                                  "the activation.")
            elif current.pool is not None:
                violations.append(f"Pooling layer '{item.name}': only one pooling layer can be "
                                  f"used in each block (the block of '{current.name}' has "
                                  f"'{current.pool.name}').")
            else:
                current.pool = item
            violations.extend(rules.pool_problems(
                item.name, item.kind, item.size, item.strides, item.padding, current.neural.name,
                current.neural.kind, current.neural.config.get("padding")))
    return blocks


def _input_rules(blocks: List[Block], input_shape, input_is_sparse: bool,
                 violations: List[str]) -> None:
    if not blocks:
        violations.append("The model has no processing layer (QuantizedConv2D, "
                          "QuantizedSeparableConv2D or QuantizedDense).")
        return
    first = blocks[0].neural
    if input_is_sparse:
        if len(input_shape) not in (1, 3):
            violations.append(f"The model input has shape {input_shape}: Akida inputs are "
                              "(H, W, C) or (N,).")
        return
    if first.kind != "conv":
        violations.append(f"Layer '{first.name}': with image inputs the first layer must be a "
                          "QuantizedConv2D (or convert with input_is_sparse=True).")
    if len(input_shape) != 3 or input_shape[2] not in (1, 3):
        violations.append(f"The model input has shape {input_shape}: image inputs must be "
                          "(H, W, 1) or (H, W, 3) (or convert with input_is_sparse=True).")


def akida_kind(block: Block, index: int, input_is_sparse: bool) -> str:
    """The Akida layer kind of a block: "input", "conv", "separable" or "dense".

    Arguments:
        block: the block.
        index: its position in the model.
        input_is_sparse: whether the model starts with InputData.

    Returns:
        The kind; the first block of an image model is "input" (InputConvolutional).

    Example:
        >>> from cnn2snn_tfmot.conversion.blocks import akida_kind, analyze
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> akida_kind(analyze(model_quantized).blocks[0], 0, False)
        'input'
    """
    if index == 0 and not input_is_sparse:
        return "input"
    return block.neural.kind


def weights_bits(block: Block) -> int:
    """The Akida weights_bits of a block (its quantizers' bitwidth).

    Arguments:
        block: the block.

    Returns:
        The largest bitwidth of its quantizers (they must agree, see the quantizer rules).

    Example:
        >>> from cnn2snn_tfmot.conversion.blocks import analyze, weights_bits
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> weights_bits(analyze(model_quantized).blocks[0])
        8
    """
    return max(q.bitwidth for q in block.neural.quantizers.values())


def _runtime_rules(blocks: List[Block], input_shape, input_is_sparse: bool,
                   violations: List[str]) -> List[str]:
    """Appends what BrainChip's runtime refuses; returns what only the chip refuses."""
    warnings = []
    for index, block in enumerate(blocks):
        kind = akida_kind(block, index, input_is_sparse)
        bits = weights_bits(block)
        if bits:
            refused, chip_only = rules.weight_bits_problems(block.name, kind, bits)
            violations.extend(refused)
            warnings.extend(chip_only)
        violations.extend(rules.stride_problems(block.name, block.neural.config, kind))
        global_width = (block.neural.output_shape[1]
                        if block.pool is not None and block.pool.kind == "global" else None)
        warnings.extend(rules.chip_size_warnings(block.name, kind, input_shape, global_width))
    return warnings


def analyze(model, input_is_sparse: bool = False) -> Analysis:
    """Reads a quantized Keras model into Akida blocks and checks every compatibility rule.

    A layer that holds a quantized network of its own (a ``HardwareExactNetwork``, which lists
    it as ``akida_layers``) is read as those layers.

    Arguments:
        model: a cnn2snn-style or TFMOT-quantized tf_keras model.
        input_is_sparse: whether the Akida model starts with InputData (events) instead of an
            InputConvolutional layer (images).

    Returns:
        An :class:`Analysis` (blocks, violations, chip-only warnings, input shape).

    Example:
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> analyze(model_quantized).violations
        []
    """
    try:
        layers = single_branch_layers(model, "check_model_compatibility")
    except ValueError as err:
        return Analysis([], [str(err)], [], ())
    shape = tuple(model.inputs[0].shape[1:])
    undefined = rules.input_shape_problems((getattr(model, "input_names", None) or
                                            ["input"])[0], shape)
    if undefined:
        return Analysis([], undefined, [], ())
    return analyze_layers(expand_networks(layers), _shape(model.inputs[0].shape),
                          input_is_sparse, model.name)


def _output_shape(layer, shape):
    """``layer.compute_output_shape(shape)``; TFMOT's wrapper would ask its inner layer for the
    input shape of its last call, which the inner layers of a cloned or reloaded model never
    had."""
    if isinstance(layer, _QuantizeWrapper):
        return layer.layer.compute_output_shape(shape)
    return layer.compute_output_shape(shape)


def analyze_layers(layers, input_shape, input_is_sparse: bool = False,
                   model_name: str = "model") -> Analysis:
    """Reads a chain of built Keras layers into Akida blocks and checks every rule.

    Arguments:
        layers: the layers after the model's input, in order.
        input_shape: the model's input shape, batch excluded.
        input_is_sparse: whether the Akida model starts with InputData.
        model_name: the model's name, for messages.

    Returns:
        An :class:`Analysis`.

    Example:
        >>> from cnn2snn_tfmot.conversion.blocks import analyze_layers
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> len(analyze_layers(model_quantized.layers, (16, 16, 1)).blocks)
        3
    """
    input_shape = tuple(input_shape)
    violations: List[str] = [problem for layer in layers
                             for problem in rules.data_format_problems(layer.name,
                                                                       layer.get_config())]
    items, shape = [], (None,) + input_shape
    for layer in layers:  # shapes propagated: the layers need not have been called
        output = tuple(_output_shape(layer, shape))
        items.append(read_layer(layer, (_shape(shape), _shape(output))))
        shape = output
    violations += [problem for item in items for problem in value_rules(item)]
    float_layers = [item.name for item in items
                    if isinstance(item, OtherItem) and item.kind == "float_neural"]
    if float_layers and not any(isinstance(item, NeuralItem) for item in items):
        # A float model breaks every block rule: one message says what to do instead.
        refused = [f"{item.type_name} '{item.name}'" for item in items
                   if isinstance(item, OtherItem) and item.kind == "unsupported"]
        return Analysis([], [rules.float_model_problem(model_name, float_layers, refused)],
                        [], input_shape)
    items = _merge_pairs(items, violations)
    blocks = _group(items, violations)
    _input_rules(blocks, input_shape, input_is_sparse, violations)
    warnings = _runtime_rules(blocks, input_shape, input_is_sparse, violations)
    return Analysis(blocks, violations, warnings, input_shape)
