"""Model transforms on single-branch Keras models (akida-v1.md section 3).

A model is read into a chain of :class:`LayerSpec` (class, config, weights by name), each
transform maps a chain to a new chain, and :func:`build_model` makes a new model of the same
kind (Sequential or Functional) from it. Input models are never modified.

Transforms: split fused activations into their own layers, ``ReLU -> MaxPool2D`` to
``MaxPool2D -> ReLU``, ``MaxPool2D / GlobalAveragePooling2D -> BatchNormalization`` to
``BatchNormalization -> pooling``, BatchNormalization folding into the preceding neural layer,
and the merge of depthwise + pointwise pairs into separable convolutions.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot._keras import check_keras_model, keras, tf
from cnn2snn_tfmot.quantization_layers import (QuantizedConv2D, QuantizedDense,
                                               QuantizedDepthwiseConv2D, QuantizedSeparableConv2D,
                                               as_weight_quantizer)
from cnn2snn_tfmot.saving import weight_key

__all__ = [
    "LayerSpec", "model_chain", "single_branch_layers", "channels_first_error", "build_model", "split_fused_activations",
    "swap_activation_pooling", "swap_pooling_batchnorm", "fold_batchnorms",
    "merge_separable_conv", "NEURAL_TYPES", "is_relu", "check_batchnorm", "fold_batchnorm",
]

L = keras.layers

#: Neural layer types (float and quantized) -> names of their kernels, in folding order.
NEURAL_TYPES: Dict[type, tuple] = {
    L.Conv2D: ("kernel",), QuantizedConv2D: ("kernel",),
    L.DepthwiseConv2D: ("depthwise_kernel",), QuantizedDepthwiseConv2D: ("depthwise_kernel",),
    L.SeparableConv2D: ("depthwise_kernel", "pointwise_kernel"),
    QuantizedSeparableConv2D: ("depthwise_kernel", "pointwise_kernel"),
    L.Dense: ("kernel",), QuantizedDense: ("kernel",),
}
_CONVOLUTIONS = (L.Conv2D, L.DepthwiseConv2D, L.SeparableConv2D)


@dataclasses.dataclass
class LayerSpec:
    """One layer of a chain: its class, its config and its weights by short name.

    Arguments:
        cls: the Keras layer class.
        config: the layer's ``get_config()``.
        weights: ``{weight_key: numpy array}``.
        input_shape: the layer's input shape in the model it was read from (batch included).

    Example:
        >>> LayerSpec.of(keras.layers.Dense(3, name="d"))
    """
    cls: type
    config: dict
    weights: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    input_shape: Optional[Tuple] = None

    @classmethod
    def of(cls, layer) -> "LayerSpec":
        """The spec of an existing layer (configs and weights are copies)."""
        return cls(type(layer), layer.get_config(),
                   {weight_key(v): np.array(v.numpy()) for v in layer.weights},
                   tuple(layer.input_shape))

    @property
    def name(self) -> str:
        return self.config["name"]

    def replace(self, **changes) -> "LayerSpec":
        """A copy with some fields replaced (``config`` and ``weights`` copied shallowly)."""
        spec = LayerSpec(self.cls, dict(self.config), dict(self.weights), self.input_shape)
        for key, value in changes.items():
            setattr(spec, key, value)
        return spec


def is_relu(spec: LayerSpec) -> bool:
    """Whether the spec is a ReLU that Akida can quantize (plain, any max_value)."""
    if spec.cls is L.ReLU:
        return not spec.config.get("negative_slope") and not spec.config.get("threshold")
    return spec.cls is L.Activation and spec.config.get("activation") == "relu"


def _chain_error(model, message: str) -> ValueError:
    return ValueError(f"Model '{model.name}': {message}")


def single_branch_layers(model, caller: str = "quantize") -> list:
    """Returns the layers of a single-branch Sequential or Functional model, input excluded.

    Arguments:
        model: a built tf_keras model with one input, one output and no branches.
        caller: the public function's name, for messages.

    Returns:
        The live layers after the input, in order.

    Raises:
        ValueError: for subclassed, nested, multi-branch or unbuilt models, naming the layer
            and the fix.

    Example:
        >>> [layer.name for layer in single_branch_layers(model)]
    """
    check_keras_model(model)
    if not isinstance(model, keras.Sequential) and not getattr(model, "_is_graph_network",
                                                               False):
        raise _chain_error(model, f"{caller}() needs a Sequential or Functional model; this is "
                           f"a subclassed model ({type(model).__name__}). Rebuild it with "
                           "keras.Sequential or the functional API.")
    if not model.built or not model.inputs:
        raise _chain_error(model, f"{caller}() needs a built model with a known input shape: "
                           "start it with keras.Input(shape) or call model.build(input_shape).")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise _chain_error(model, f"{caller}() needs one input and one output; the model has "
                           f"{len(model.inputs)} and {len(model.outputs)}.")
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    previous = model.inputs[0].node.layer
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise _chain_error(model, f"layer '{layer.name}' is a nested model; {caller}() "
                               "needs a flat model. Add the nested model's layers directly.")
        # Only this model's nodes count: a layer can also belong to other models (TFMOT's
        # quantize_apply reuses the layers it does not wrap).
        nodes = [node for index, node in enumerate(layer._inbound_nodes)  # noqa: SLF001
                 if f"{layer.name}_ib-{index}" in model._network_nodes]  # noqa: SLF001
        inbound = [] if len(nodes) != 1 else tf.nest.flatten(nodes[0].inbound_layers)
        if len(inbound) != 1 or inbound[0] is not previous:
            raise _chain_error(model, f"layer '{layer.name}' does not take the output of the "
                               f"layer before it, or is used twice: {caller}() supports "
                               "single-branch models only.")
        previous = layer
    return layers


def channels_first_error(layer) -> Optional[str]:
    """The message for a layer in channels_first format, or None."""
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return (f"layer '{layer.name}' has data_format='channels_first'; Akida needs "
                "channels_last (NHWC): rebuild it with data_format='channels_last'.")
    return None


def model_chain(model, caller: str = "quantize") -> List[LayerSpec]:
    """Reads a single-branch Sequential or Functional model into a chain of LayerSpecs.

    Arguments:
        model: a built tf_keras model with one input, one output and no branches.
        caller: the public function's name, for messages.

    Returns:
        The layers after the input, in order, as LayerSpecs.

    Raises:
        ValueError: for subclassed, nested, multi-branch, unbuilt or channels_first models, each
            naming the layer and the fix.

    Example:
        >>> [spec.name for spec in model_chain(model)]
    """
    layers = single_branch_layers(model, caller)
    for layer in layers:
        message = channels_first_error(layer)
        if message:
            raise _chain_error(model, message)
    return [LayerSpec.of(layer) for layer in layers]


def _unique_name(name: str, taken: set) -> str:
    candidate, index = name, 1
    while candidate in taken:
        candidate, index = f"{name}_{index}", index + 1
    taken.add(candidate)
    return candidate


def build_model(model, chain: List[LayerSpec]):
    """Builds a new model of the same kind as ``model`` (same input) from a chain.

    Arguments:
        model: the model the chain was read from (gives the input and the model kind).
        chain: the LayerSpecs, in order.

    Returns:
        A new Sequential or Functional model with the chain's layers and weights.

    Example:
        >>> clone = build_model(model, model_chain(model))
    """
    source_input = model.inputs[0]
    input_name = model.layers[0].name if isinstance(model.layers[0], L.InputLayer) else None
    inputs = keras.Input(shape=tuple(source_input.shape[1:]), dtype=source_input.dtype,
                         name=input_name)
    layers = [spec.cls.from_config(dict(spec.config)) for spec in chain]
    if isinstance(model, keras.Sequential):
        new_model = keras.Sequential([inputs] + layers, name=model.name)
    else:
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        new_model = keras.Model(inputs, outputs, name=model.name)
    for layer, spec in zip(layers, chain):
        keys = {weight_key(variable): variable for variable in layer.weights}
        unknown = set(spec.weights) - set(keys)
        if unknown:
            raise ValueError(f"Layer '{layer.name}': no variable for weights {sorted(unknown)}.")
        for key, value in spec.weights.items():
            variable = keys[key]
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"Layer '{layer.name}': weight '{key}' has shape {value.shape}, "
                                 f"the layer expects {tuple(variable.shape)}.")
            variable.assign(value)
    return new_model


# Transforms --------------------------------------------------------------------------------

def split_fused_activations(chain: List[LayerSpec]) -> List[LayerSpec]:
    """Moves a neural layer's fused activation into a layer of its own, after it.

    ``Conv2D(activation="relu", name="c")`` becomes ``Conv2D(name="c")`` + ``ReLU(name="c_relu")``;
    other activations become an ``Activation`` layer.

    Arguments:
        chain: the layers.

    Returns:
        The new chain.
    """
    taken = {spec.name for spec in chain}
    result = []
    for spec in chain:
        activation = spec.config.get("activation")
        if spec.cls not in NEURAL_TYPES or activation in (None, "linear"):
            result.append(spec)
            continue
        result.append(spec.replace(config={**spec.config, "activation": "linear"}))
        name = _unique_name(f"{spec.name}_{activation}", taken)
        if activation == "relu":
            result.append(LayerSpec(L.ReLU, {"name": name}))
        else:
            result.append(LayerSpec(L.Activation, {"name": name, "activation": activation}))
        result[-1].input_shape = spec.input_shape
    return result


def _is_max_pool(spec: LayerSpec) -> bool:
    return spec.cls is L.MaxPooling2D


def swap_activation_pooling(chain: List[LayerSpec]) -> List[LayerSpec]:
    """``ReLU -> MaxPool2D`` becomes ``MaxPool2D -> ReLU`` (exact: the ReLU is monotonic).

    Arguments:
        chain: the layers.

    Returns:
        The new chain, where pooling comes before the activation of its block.
    """
    result = list(chain)
    for index in range(len(result) - 1):
        if is_relu(result[index]) and _is_max_pool(result[index + 1]):
            result[index], result[index + 1] = result[index + 1], result[index]
    return result


def _batchnorm_parameters(spec: LayerSpec):
    """(gamma, beta, mean, variance, epsilon) of a BatchNormalization spec, as float64."""
    size = spec.weights["moving_mean"].shape[0]
    gamma = spec.weights.get("gamma", np.ones(size)).astype(np.float64)
    beta = spec.weights.get("beta", np.zeros(size)).astype(np.float64)
    return (gamma, beta, spec.weights["moving_mean"].astype(np.float64),
            spec.weights["moving_variance"].astype(np.float64), float(spec.config["epsilon"]))


def check_batchnorm(spec: LayerSpec, rank: int) -> None:
    """Raises unless the BatchNormalization works on the last axis and has no zero gamma.

    Arguments:
        spec: the BatchNormalization spec.
        rank: the rank of its input, batch included.
    """
    axis = spec.config.get("axis")
    axes = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else [int(axis)]
    if len(axes) != 1 or axes[0] not in (-1, rank - 1):
        raise ValueError(f"BatchNormalization '{spec.name}' normalizes axis {axes}; Akida "
                         "needs the last (channel) axis: rebuild it with axis=-1.")
    gamma = _batchnorm_parameters(spec)[0]
    zeros = int(np.sum(gamma == 0))
    if zeros:
        raise ValueError(
            f"BatchNormalization '{spec.name}' has {zeros} zero gamma(s): folding them gives "
            "channels of zero weights, whose scale factors are undefined on Akida. Retrain with "
            "add_gamma_constraint(model) (gammas >= 1e-2).")


def swap_pooling_batchnorm(chain: List[LayerSpec]) -> List[LayerSpec]:
    """``MaxPool2D / GlobalAveragePooling2D -> BatchNormalization`` become ``BN -> pooling``.

    Exact for global average pooling (BN is affine per channel); for max pooling only when
    every gamma is positive, else a ValueError naming the layer and the count.

    Arguments:
        chain: the layers.

    Returns:
        The new chain.
    """
    result = list(chain)
    for index in range(len(result) - 1):
        pool, batchnorm = result[index], result[index + 1]
        if batchnorm.cls is not L.BatchNormalization:
            continue
        if _is_max_pool(pool):
            non_positive = int(np.sum(_batchnorm_parameters(batchnorm)[0] <= 0))
            if non_positive:
                raise ValueError(
                    f"MaxPool2D '{pool.name}' comes before BatchNormalization "
                    f"'{batchnorm.name}', which has {non_positive} non-positive gamma(s): the "
                    "two cannot be swapped (max pooling only commutes with increasing maps). "
                    "Put the BatchNormalization before the pooling and retrain, or constrain "
                    "gammas with add_gamma_constraint.")
        elif pool.cls is not L.GlobalAveragePooling2D:
            continue
        # Its axis was stored as a number for its old input rank: -1 is the channel axis of
        # both the pooled and the unpooled tensor.
        moved = batchnorm.replace(config={**batchnorm.config, "axis": -1},
                                  input_shape=pool.input_shape)
        result[index], result[index + 1] = moved, pool
    return result


def _fold_scale(kernel: np.ndarray, scale: np.ndarray, attribute: str) -> np.ndarray:
    if attribute == "depthwise_kernel":  # output channel c * multiplier + m
        scale = scale.reshape(kernel.shape[2], kernel.shape[3])
    return (kernel.astype(np.float64) * scale).astype(kernel.dtype)


def fold_batchnorm(neural: LayerSpec, batchnorm: LayerSpec) -> LayerSpec:
    """Folds a BatchNormalization into the neural layer before it (akida-v1.md section 3).

    ``scale = gamma / sqrt(variance + epsilon)``; the output kernel (pointwise for a separable
    convolution) is multiplied by ``scale`` per output channel and the bias becomes
    ``beta + (bias - mean) * scale``. The folded layer always has a bias.

    Arguments:
        neural: the neural layer's spec.
        batchnorm: the BatchNormalization's spec.

    Returns:
        The folded neural layer's spec.
    """
    gamma, beta, mean, variance, epsilon = _batchnorm_parameters(batchnorm)
    scale = gamma / np.sqrt(variance + epsilon)
    attribute = NEURAL_TYPES[neural.cls][-1]
    weights = dict(neural.weights)
    weights[attribute] = _fold_scale(weights[attribute], scale, attribute)
    bias = weights.get("bias", np.zeros_like(mean)).astype(np.float64)
    weights["bias"] = (beta + (bias - mean) * scale).astype(np.float32)
    return neural.replace(config={**neural.config, "use_bias": True}, weights=weights)


def fold_batchnorms(chain: List[LayerSpec]) -> List[LayerSpec]:
    """Folds every BatchNormalization that directly follows a neural layer into it.

    Arguments:
        chain: the layers (BN already moved before pooling).

    Returns:
        The new chain, without the folded BatchNormalization layers.
    """
    result: List[LayerSpec] = []
    for spec in chain:
        if spec.cls is L.BatchNormalization and result and result[-1].cls in NEURAL_TYPES:
            result[-1] = fold_batchnorm(result[-1], spec)
        else:
            result.append(spec)
    return result


def _mergeable(depthwise: LayerSpec, pointwise: LayerSpec) -> bool:
    if depthwise.cls is not QuantizedDepthwiseConv2D or pointwise.cls is not QuantizedConv2D:
        return False
    config = pointwise.config
    return (not depthwise.config.get("use_bias")
            and depthwise.config.get("depth_multiplier", 1) == 1
            and depthwise.config.get("activation") in (None, "linear")
            and tuple(config["kernel_size"]) == (1, 1) and tuple(config["strides"]) == (1, 1)
            and tuple(config.get("dilation_rate", (1, 1))) == (1, 1)
            and config.get("groups", 1) == 1)


def _merge_pair(depthwise: LayerSpec, pointwise: LayerSpec) -> LayerSpec:
    dw_config, pw_config = depthwise.config, pointwise.config
    quantizer_dw = as_weight_quantizer(dw_config.get("quantizer"), "quantizer",
                                       f"QuantizedDepthwiseConv2D '{depthwise.name}'")
    config = {
        "name": depthwise.name, "filters": pw_config["filters"],
        "kernel_size": dw_config["kernel_size"], "strides": dw_config["strides"],
        "padding": dw_config["padding"], "use_bias": pw_config["use_bias"],
        "activation": pw_config.get("activation"),
        "quantizer": pw_config.get("quantizer"),
        "quantizer_dw": keras.utils.serialize_keras_object(quantizer_dw),
        "dtype": dw_config.get("dtype"), "trainable": dw_config.get("trainable", True),
    }
    # Trainable quantizer variables keep their trained values under their new kernel names.
    weights = {"depthwise_kernel": depthwise.weights["depthwise_kernel"],
               "pointwise_kernel": pointwise.weights["kernel"]}
    for key, value in depthwise.weights.items():
        if key.startswith("depthwise_kernel_"):
            weights[key] = value
    for key, value in pointwise.weights.items():
        if key.startswith("kernel_"):
            weights["pointwise_" + key] = value
    if "bias" in pointwise.weights:
        weights["bias"] = pointwise.weights["bias"]
    return LayerSpec(QuantizedSeparableConv2D, config, weights, depthwise.input_shape)


def merge_separable_conv(model):
    """Returns a new model where depthwise + pointwise pairs are single separable convolutions.

    A QuantizedDepthwiseConv2D without bias (depth multiplier 1, linear) followed by a 1x1,
    stride-1 QuantizedConv2D becomes one QuantizedSeparableConv2D with the same outputs; it
    takes the depthwise layer's name, strides and padding, and the pointwise layer's filters,
    bias and quantizer. The depthwise quantizer must be per-tensor (Akida), else a ValueError.

    Arguments:
        model: a Sequential or Functional tf_keras model.

    Returns:
        A new model; the input model is not modified.

    Example:
        >>> merged = merge_separable_conv(model)
    """
    chain = model_chain(model, "merge_separable_conv")
    result: List[LayerSpec] = []
    index = 0
    while index < len(chain):
        if index + 1 < len(chain) and _mergeable(chain[index], chain[index + 1]):
            result.append(_merge_pair(chain[index], chain[index + 1]))
            index += 2
        else:
            result.append(chain[index])
            index += 1
    return build_model(model, result)
