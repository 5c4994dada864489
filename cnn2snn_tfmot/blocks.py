"""Reading a quantized Keras model as Akida blocks: the one adapter of the converter.

Both kinds of quantized model, seed-style (Quantized* layers, quantized activations) and
TFMOT-wrapped (the Akida QuantizeConfigs), are read layer by layer into small items
(neural, activation, pooling, BatchNormalization, other). Items are grouped into blocks,
``[neural layer][BatchNormalization][pooling][quantized activation]``, and every rule of the
seeds' "How to build a compatible Keras quantized model" that the model breaks is collected
as one message naming the layer and the rule. Everything after this module (compatibility
report, conversion, the scale-factor callback) works on blocks and does not care which kind of
model they came from.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot._keras import keras
from cnn2snn_tfmot.quantization_layers import QuantizedActivation, QuantizedLayerMixin
from cnn2snn_tfmot.quantization_ops import WeightFloat, WeightQuantizerBase
from cnn2snn_tfmot.quantize_configs import ReLUQuantizeConfig, _WeightsQuantizeConfig
from cnn2snn_tfmot.saving import layer_key
from cnn2snn_tfmot.transforms import channels_first_error, single_branch_layers

__all__ = ["NeuralItem", "ActivationItem", "PoolItem", "BatchNormItem", "OtherItem", "Block",
           "Analysis", "analyze", "ACTIVATION_BITS"]

L = keras.layers
_QuantizeWrapper = tfmot.quantization.keras.QuantizeWrapper

#: Activation bitwidths Akida runs.
ACTIVATION_BITS = (1, 2, 4)
#: Weight bitwidths BrainChip's runtime accepts on inner layers (the input layer takes 2..8).
INNER_WEIGHT_BITS = (2, 4, 8)
#: What the chip itself maps (akida-v1.md section 6), per Akida layer kind.
CHIP_WEIGHT_BITS = {"input": (1, 2, 4, 8), "conv": (1, 2, 4), "separable": (2, 4),
                    "dense": (1, 2, 4)}


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
    """Any other layer. ``kind``: dropout, identity (linear activation), flatten, reshape,
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


def _shape(shape) -> Tuple[int, ...]:
    return tuple(int(d) for d in shape[1:])


# Layer readers -----------------------------------------------------------------------------

_NEURAL_KIND = ((L.SeparableConv2D, "separable"), (L.DepthwiseConv2D, "depthwise"),
                (L.Conv2D, "conv"), (L.Dense, "dense"))
_KERNEL_ROLE = {"kernel": "kernel", "depthwise_kernel": "depthwise",
                "pointwise_kernel": "pointwise"}
_CONFIG_KEYS = ("strides", "padding", "kernel_size", "dilation_rate", "depth_multiplier",
                "groups", "activation", "use_bias")


def _neural_kind(layer) -> Optional[str]:
    for cls, kind in _NEURAL_KIND:
        if isinstance(layer, cls) and not isinstance(layer, L.Conv2DTranspose):
            return kind
    return None


def _neural_item(name, layer, kernels, quantizers) -> NeuralItem:
    config = {key: value for key, value in layer.get_config().items() if key in _CONFIG_KEYS}
    bias = getattr(layer, "bias", None) if getattr(layer, "use_bias", False) else None
    return NeuralItem(name=name, kind=_neural_kind(layer), kernels=kernels,
                      quantizers=quantizers,
                      bias=None if bias is None else np.array(bias.numpy(), np.float32),
                      config=config, input_shape=_shape(layer.input_shape),
                      output_shape=_shape(layer.output_shape), layers=(name,))


def _read_seed_neural(layer):
    kernels, quantizers = {}, {}
    for attribute, quantizer in layer.QUANTIZED_KERNELS:
        role = "depthwise" if attribute == "depthwise_kernel" else _KERNEL_ROLE[attribute]
        kernels[role] = np.array(getattr(layer, attribute).numpy(), np.float32)
        quantizers[role] = getattr(layer, quantizer)
    return _neural_item(layer.name, layer, kernels, quantizers)


def _read_wrapper(layer):
    inner, config = layer.layer, layer.quantize_config
    name = layer_key(layer)
    if isinstance(config, _WeightsQuantizeConfig):
        kernels, quantizers = {}, {}
        for (attribute, _), (variable, quantizer, _) in zip(config.KERNELS, layer._weight_vars):
            role = "depthwise" if attribute == "depthwise_kernel" else _KERNEL_ROLE[attribute]
            kernels[role] = np.array(variable.numpy(), np.float32)
            quantizers[role] = quantizer
        return _neural_item(name, inner, kernels, quantizers)
    if isinstance(config, ReLUQuantizeConfig):
        quantizer = config.quantizer
        threshold, height, width = quantizer.parameters(
            getattr(layer, "_output_quantizer_vars", None) or {})
        return ActivationItem(name, quantizer.bitwidth, float(threshold), float(height),
                              float(width))
    return OtherItem(name, "unsupported", f"QuantizeWrapper({type(config).__name__})",
                     _shape(layer.input_shape), _shape(layer.output_shape))


def _read_activation(layer):
    return ActivationItem(layer.name, layer.bitwidth, float(layer.threshold),
                          float(layer.step_height), float(layer.step_width))


def _read_pool(layer):
    if isinstance(layer, L.GlobalAveragePooling2D):
        return PoolItem(layer.name, "global")
    return PoolItem(layer.name, "max", tuple(layer.pool_size), tuple(layer.strides),
                    layer.padding)


def _read_batchnorm(layer):
    size = layer.moving_mean.shape[0]
    gamma = layer.gamma.numpy() if layer.gamma is not None else np.ones(size)
    beta = layer.beta.numpy() if layer.beta is not None else np.zeros(size)
    axes = tuple(int(a) for a in (layer.axis if isinstance(layer.axis, (list, tuple))
                                  else [layer.axis]))
    return BatchNormItem(layer.name, gamma.astype(np.float64), beta.astype(np.float64),
                         layer.moving_mean.numpy().astype(np.float64),
                         layer.moving_variance.numpy().astype(np.float64),
                         float(layer.epsilon), axes, len(layer.input_shape))


def _other(kind):
    return lambda layer: OtherItem(layer.name, kind, type(layer).__name__,
                                   _shape(layer.input_shape), _shape(layer.output_shape))


def _read_activation_layer(layer):
    if layer.activation is keras.activations.relu:
        return _other("float_relu")(layer)
    if layer.activation is keras.activations.linear:
        return _other("identity")(layer)
    return _other("final")(layer)


def _read_relu(layer):
    return _other("float_relu")(layer)


# Exact layer type -> reader, for the layers that are not quantized.
_READERS = {
    L.MaxPooling2D: _read_pool, L.GlobalAveragePooling2D: _read_pool,
    L.BatchNormalization: _read_batchnorm,
    L.Dropout: _other("dropout"), L.Flatten: _other("flatten"), L.Reshape: _other("reshape"),
    L.Softmax: _other("final"), L.Activation: _read_activation_layer, L.ReLU: _read_relu,
    L.Conv2D: _other("float_neural"), L.SeparableConv2D: _other("float_neural"),
    L.DepthwiseConv2D: _other("float_neural"), L.Dense: _other("float_neural"),
}


def read_layer(layer):
    """Reads one Keras layer into an item (see the module docstring).

    Arguments:
        layer: a layer of a seed-style or TFMOT-quantized model.

    Returns:
        A NeuralItem, ActivationItem, PoolItem, BatchNormItem or OtherItem.
    """
    if isinstance(layer, _QuantizeWrapper):
        return _read_wrapper(layer)
    if isinstance(layer, QuantizedLayerMixin):
        return _read_seed_neural(layer)
    if isinstance(layer, QuantizedActivation):
        return _read_activation(layer)
    reader = _READERS.get(type(layer))
    if reader is None:
        return _other("unsupported")(layer)
    return reader(layer)


# Rules -------------------------------------------------------------------------------------

_SUPPORTED = ("QuantizedConv2D, QuantizedSeparableConv2D, QuantizedDepthwiseConv2D followed by "
              "a 1x1 QuantizedConv2D, QuantizedDense (or the TFMOT-annotated Conv2D, "
              "SeparableConv2D, DepthwiseConv2D, Dense), ActivationDiscreteRelu or another "
              "QuantizedActivation, MaxPool2D, GlobalAvgPool2D, BatchNormalization, Dropout, "
              "Flatten, Reshape, Input, and a final Softmax/Activation")


def _merge_pairs(items: list, violations: List[str]) -> list:
    """Depthwise (no bias) + 1x1 stride-1 conv -> one separable item; a lone depthwise breaks
    a rule."""
    result, index = [], 0
    while index < len(items):
        item = items[index]
        following = items[index + 1] if index + 1 < len(items) else None
        if isinstance(item, NeuralItem) and item.kind == "depthwise":
            if (isinstance(following, NeuralItem) and following.kind == "conv"
                    and item.bias is None
                    and tuple(following.config.get("kernel_size", ())) == (1, 1)
                    and tuple(following.config.get("strides", ())) == (1, 1)):
                config = dict(item.config)
                config["use_bias"] = following.bias is not None
                config["activation"] = following.config.get("activation")
                result.append(NeuralItem(
                    name=item.name, kind="separable",
                    kernels={"depthwise": item.kernels["depthwise"],
                             "pointwise": following.kernels["kernel"]},
                    quantizers={"depthwise": item.quantizers["depthwise"],
                                "pointwise": following.quantizers["kernel"]},
                    bias=following.bias, config=config, input_shape=item.input_shape,
                    output_shape=following.output_shape, layers=(item.name, following.name)))
                index += 2
                continue
            violations.append(
                f"Layer '{item.name}' (depthwise convolution): Akida has no depthwise layer; "
                "a QuantizedDepthwiseConv2D without bias must be followed directly by a 1x1 "
                "QuantizedConv2D (the two become a separable convolution), or use "
                "QuantizedSeparableConv2D.")
        result.append(item)
        index += 1
    return result


def _neural_rules(item: NeuralItem, violations: List[str]) -> None:
    where = f"Layer '{item.name}'"
    config = item.config
    if config.get("activation") not in (None, "linear"):
        violations.append(f"{where} has the fused activation '{config['activation']}': Akida "
                          "activations are separate layers (ActivationDiscreteRelu).")
    if tuple(config.get("dilation_rate", (1, 1))) not in ((1, 1), (1,)):
        violations.append(f"{where} has dilation_rate={tuple(config['dilation_rate'])}: Akida "
                          "convolutions have dilation 1.")
    if config.get("depth_multiplier", 1) != 1:
        violations.append(f"{where} has depth_multiplier={config['depth_multiplier']}: Akida "
                          "needs 1.")
    if config.get("groups", 1) != 1:
        violations.append(f"{where} has groups={config['groups']}: Akida needs 1.")
    kernel_size = tuple(config.get("kernel_size", ()))
    if kernel_size and any(k % 2 == 0 for k in kernel_size):
        violations.append(f"{where} has kernel_size={kernel_size}: Akida kernels have odd "
                          "sizes.")
    for role, quantizer in item.quantizers.items():
        if isinstance(quantizer, WeightFloat):
            violations.append(f"{where}: the {role} weights are float (WeightFloat); quantize "
                              "them (e.g. quantize(model, 4, 4) or a MaxPerAxisQuantizer).")
    if item.kind == "separable":
        depthwise, pointwise = item.quantizers["depthwise"], item.quantizers["pointwise"]
        if depthwise.per_axis:
            violations.append(f"{where}: the depthwise kernel must be quantized per tensor "
                              f"(e.g. MaxQuantizer), not with {type(depthwise).__name__}.")
        if depthwise.bitwidth != pointwise.bitwidth:
            violations.append(f"{where}: depthwise ({depthwise.bitwidth} bits) and pointwise "
                              f"({pointwise.bitwidth} bits) weights must have the same bitwidth "
                              "(one weights_bits per Akida layer).")
    if item.kind == "dense":
        shape = item.input_shape
        if not (len(shape) == 1 or (len(shape) == 3 and shape[:2] == (1, 1))):
            violations.append(f"{where}: a QuantizedDense must have an input of shape (N,) or "
                              f"(1, 1, N), not {shape}; add a Flatten before it.")


def _group(items: list, violations: List[str]) -> List[Block]:
    blocks: List[Block] = []
    current: Optional[Block] = None
    flattened: Optional[Tuple[int, ...]] = None
    meaningful = [item for item in items
                  if not (isinstance(item, OtherItem) and item.kind in ("dropout", "identity"))]
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
                                  f"supported layers: {_SUPPORTED}.")
            continue
        if current is None:
            violations.append(f"Layer '{item.name}' comes before any processing layer: a block "
                              "must start with a processing quantized layer (QuantizedConv2D, "
                              "QuantizedSeparableConv2D or QuantizedDense).")
            continue
        if isinstance(item, ActivationItem):
            if item.bitwidth not in ACTIVATION_BITS:
                violations.append(f"Activation '{item.name}' has {item.bitwidth} bits: Akida "
                                  f"activations have {', '.join(map(str, ACTIVATION_BITS))} bits.")
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
            _batchnorm_rules(item, violations)
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
            _pool_rules(item, current.neural, violations)
    return blocks


def _batchnorm_rules(item: BatchNormItem, violations: List[str]) -> None:
    if len(item.axes) != 1 or item.axes[0] not in (-1, item.rank - 1):
        violations.append(f"BatchNormalization '{item.name}' normalizes axis {list(item.axes)}: "
                          "it must have axis=-1.")
    non_positive = int(np.sum(item.gamma <= 0))
    if non_positive:
        violations.append(f"BatchNormalization '{item.name}' has {non_positive} non-positive "
                          "gamma(s): a BatchNormalization layer cannot have negative or zero "
                          "gammas (constrain them with add_gamma_constraint and retrain).")


def _pool_rules(item: PoolItem, neural: NeuralItem, violations: List[str]) -> None:
    if item.kind == "global":
        if neural.kind == "dense":
            violations.append(f"GlobalAvgPool2D '{item.name}' follows a dense layer: pooling "
                              "belongs to convolutional blocks.")
        return
    if neural.kind == "dense":
        violations.append(f"MaxPool2D '{item.name}' follows a dense layer: pooling belongs to "
                          "convolutional blocks.")
        return
    padding = neural.config.get("padding")
    if item.padding != padding:
        violations.append(f"MaxPool2D '{item.name}' has padding '{item.padding}' but its "
                          f"processing layer '{neural.name}' has '{padding}': a MaxPool2D "
                          "must have the same padding as its processing layer.")
    if any(s > k for s, k in zip(item.strides, item.size)):
        violations.append(f"MaxPool2D '{item.name}' has strides {item.strides} larger than its "
                          f"pool_size {item.size}: Akida needs strides <= pool_size.")


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
    """The Akida layer kind of a block: "input", "conv", "separable" or "dense"."""
    if index == 0 and not input_is_sparse:
        return "input"
    return block.neural.kind


def weights_bits(block: Block) -> int:
    """The Akida weights_bits of a block (its quantizers' bitwidth)."""
    return max(q.bitwidth for q in block.neural.quantizers.values())


def _runtime_rules(blocks: List[Block], input_is_sparse: bool, violations: List[str]) -> None:
    for index, block in enumerate(blocks):
        kind = akida_kind(block, index, input_is_sparse)
        bits = weights_bits(block)
        if kind != "input" and bits and bits not in INNER_WEIGHT_BITS:
            violations.append(f"Layer '{block.name}' has {bits}-bit weights: BrainChip's "
                              f"runtime accepts {', '.join(map(str, INNER_WEIGHT_BITS))} bits on "
                              "layers other than the input layer.")
        config = block.neural.config
        if kind in ("conv", "separable") and any(
                s > k for s, k in zip(config.get("strides", ()), config.get("kernel_size", ()))):
            violations.append(f"Layer '{block.name}' has strides {tuple(config['strides'])} "
                              f"larger than its kernel_size {tuple(config['kernel_size'])}: "
                              "BrainChip's runtime needs strides <= kernel_size on layers other "
                              "than the input layer.")


def _chip_warnings(blocks: List[Block], input_shape, input_is_sparse: bool) -> List[str]:
    warnings = []
    for index, block in enumerate(blocks):
        kind = akida_kind(block, index, input_is_sparse)
        bits = weights_bits(block)
        if bits and kind in CHIP_WEIGHT_BITS and bits not in CHIP_WEIGHT_BITS[kind]:
            warnings.append(f"Layer '{block.name}': the Akida 1.0 chip maps "
                            f"{', '.join(map(str, CHIP_WEIGHT_BITS[kind]))}-bit weights on this "
                            f"layer type, not {bits} (the software runtime accepts it).")
        if kind == "input" and len(input_shape) == 3 and not 5 <= input_shape[1] <= 256:
            warnings.append(f"Layer '{block.name}': the chip's input layer takes images 5 to "
                            f"256 pixels wide, not {input_shape[1]}.")
        if block.pool is not None and block.pool.kind == "global":
            width = block.neural.output_shape[1]
            if not 1 <= width <= 32:
                warnings.append(f"Layer '{block.name}': the chip's global average pooling "
                                f"takes maps 1 to 32 wide, not {width}.")
    return warnings


def analyze(model, input_is_sparse: bool = False) -> Analysis:
    """Reads a quantized Keras model into Akida blocks and checks every compatibility rule.

    Arguments:
        model: a seed-style or TFMOT-quantized tf_keras model.
        input_is_sparse: whether the Akida model starts with InputData (events) instead of an
            InputConvolutional layer (images).

    Returns:
        An :class:`Analysis` (blocks, violations, chip-only warnings, input shape).

    Example:
        >>> analysis = analyze(model_quantized)
        >>> analysis.violations
        []
    """
    try:
        layers = single_branch_layers(model, "check_model_compatibility")
    except ValueError as err:
        return Analysis([], [str(err)], [], ())
    input_shape = _shape(model.inputs[0].shape)
    violations: List[str] = []
    for layer in layers:
        message = channels_first_error(layer)
        if message:
            violations.append(message[0].upper() + message[1:])
    items = _merge_pairs([read_layer(layer) for layer in layers], violations)
    blocks = _group(items, violations)
    _input_rules(blocks, input_shape, input_is_sparse, violations)
    _runtime_rules(blocks, input_is_sparse, violations)
    return Analysis(blocks, violations, _chip_warnings(blocks, input_shape, input_is_sparse),
                    input_shape)
