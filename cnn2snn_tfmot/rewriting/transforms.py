"""Model transforms on single-branch Keras models (docs/akida-v1.md section 3).

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

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.quantization.configs import NeuralQuantizeConfig, ReLUQuantizeConfig
from cnn2snn_tfmot.quantization.layers import as_weight_quantizer
from cnn2snn_tfmot.quantization.saving import weight_key
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = [
    "LayerSpec", "model_chain", "single_branch_layers", "build_model", "split_fused_activations",
    "swap_activation_pooling", "swap_pooling_batchnorm", "fold_batchnorms", "fold_batchnorm",
    "batchnorm_parameters", "merge_separable_conv", "merged_separable_bias", "merge_pair",
    "is_relu", "seed_style_chain",
]

L = keras.layers


@dataclasses.dataclass
class LayerSpec:
    """One layer of a chain: its class, its config and its weights by short name.

    Arguments:
        cls: the Keras layer class.
        config: the layer's ``get_config()``.
        weights: ``{weight_key: numpy array}``.
        input_shape: the layer's input shape in the model it was read from (batch included).

    Example:
        >>> spec = LayerSpec.of(model.get_layer("dense"))
        >>> spec.cls.__name__, sorted(spec.weights), spec.input_shape
        ('Dense', ['bias', 'kernel'], (None, 1024))
    """
    cls: type
    config: dict
    weights: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    input_shape: Optional[Tuple] = None

    @classmethod
    def of(cls, layer) -> "LayerSpec":
        """The spec of an existing layer (configs and weights are copies).

        Arguments:
            layer: a Keras layer (its input shape is kept when it is known).

        Returns:
            A LayerSpec.
        """
        try:
            input_shape = tuple(layer.input_shape)
        except AttributeError:  # never called in a model: no input shape
            input_shape = None
        return cls(type(layer), layer.get_config(),
                   {weight_key(v): np.array(v.numpy()) for v in layer.weights}, input_shape)

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
    """Whether the spec is a ReLU that Akida can quantize (plain, any max_value).

    Arguments:
        spec: a layer spec.

    Returns:
        True for a ReLU without slope or threshold, or an Activation('relu').

    Example:
        >>> is_relu(LayerSpec(keras.layers.ReLU, {"name": "r", "negative_slope": 0.0}))
        True
    """
    return (registry.current().role(spec.cls, spec.config) == "relu"
            and not rules.relu_problems(spec.name, spec.config))


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
        >>> [layer.name for layer in single_branch_layers(model)][-2:]
        ['flatten', 'dense']
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
        nodes = [node for index, node in enumerate(layer._inbound_nodes)
                 if f"{layer.name}_ib-{index}" in model._network_nodes]
        inbound = [] if len(nodes) != 1 else tf.nest.flatten(nodes[0].inbound_layers)
        if len(inbound) != 1 or inbound[0] is not previous:
            raise _chain_error(model, f"layer '{layer.name}' does not take the output of the "
                               f"layer before it, or is used twice: {caller}() supports "
                               "single-branch models only.")
        previous = layer
    return layers


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
        >>> [spec.name for spec in model_chain(model)][:3]
        ['conv_0', 'conv_0_bn', 'conv_0_relu']
    """
    layers = single_branch_layers(model, caller)
    problems = [problem for layer in layers
                for problem in rules.data_format_problems(layer.name, layer.get_config())]
    if problems:
        raise _chain_error(model, "; ".join(problems))
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

def _neural(spec: LayerSpec):
    """The registry row of a neural layer spec, or None."""
    return registry.current().neural(spec.cls)


def split_fused_activations(chain: List[LayerSpec]) -> List[LayerSpec]:
    """Moves a neural layer's fused activation into a layer of its own, after it.

    ``Conv2D(activation="relu", name="c")`` becomes ``Conv2D(name="c")`` + ``ReLU(name="c_relu")``;
    other activations become an ``Activation`` layer.

    Arguments:
        chain: the layers.

    Returns:
        The new chain.

    Example:
        >>> [s.name for s in split_fused_activations(
        ...     [LayerSpec(keras.layers.Dense, {"name": "d", "activation": "relu"})])]
        ['d', 'd_relu']
    """
    taken = {spec.name for spec in chain}
    result = []
    for spec in chain:
        activation = spec.config.get("activation")
        if _neural(spec) is None or activation in (None, "linear"):
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


def _role(spec: LayerSpec) -> Optional[str]:
    return registry.current().role(spec.cls, spec.config)


def swap_activation_pooling(chain: List[LayerSpec]) -> List[LayerSpec]:
    """``ReLU -> MaxPool2D`` becomes ``MaxPool2D -> ReLU`` (exact: the ReLU is monotonic).

    Arguments:
        chain: the layers.

    Returns:
        The new chain, where pooling comes before the activation of its block.

    Example:
        >>> chain = [LayerSpec(keras.layers.ReLU, {"name": "r"}),
        ...          LayerSpec(keras.layers.MaxPooling2D, {"name": "p"})]
        >>> [s.name for s in swap_activation_pooling(chain)]
        ['p', 'r']
    """
    result = list(chain)
    for index in range(len(result) - 1):
        if is_relu(result[index]) and _role(result[index + 1]) == "max_pool":
            result[index], result[index + 1] = result[index + 1], result[index]
    return result


def batchnorm_parameters(spec: LayerSpec):
    """(gamma, beta, mean, variance, epsilon) of a BatchNormalization spec, as float64.

    A BatchNormalization without scale or center has gammas 1 and betas 0.

    Arguments:
        spec: the BatchNormalization's spec (see :meth:`LayerSpec.of`).

    Returns:
        Four float64 arrays and the epsilon.

    Example:
        >>> bn = keras.layers.BatchNormalization(name="bn")
        >>> _ = bn(tf.ones((1, 3)))
        >>> batchnorm_parameters(LayerSpec.of(bn))[0]
        array([1., 1., 1.])
    """
    size = spec.weights["moving_mean"].shape[0]
    gamma = spec.weights.get("gamma", np.ones(size)).astype(np.float64)
    beta = spec.weights.get("beta", np.zeros(size)).astype(np.float64)
    return (gamma, beta, spec.weights["moving_mean"].astype(np.float64),
            spec.weights["moving_variance"].astype(np.float64), float(spec.config["epsilon"]))


def swap_pooling_batchnorm(chain: List[LayerSpec]) -> List[LayerSpec]:
    """``MaxPool2D / GlobalAveragePooling2D -> BatchNormalization`` become ``BN -> pooling``.

    Exact for global average pooling (BN is affine per channel); for max pooling only when
    every gamma is positive, else a ValueError naming the layer and the count.

    Arguments:
        chain: the layers.

    Returns:
        The new chain.

    Example:
        >>> swap_pooling_batchnorm([])
        []
    """
    result = list(chain)
    for index in range(len(result) - 1):
        pool, batchnorm = result[index], result[index + 1]
        if _role(batchnorm) != "batchnorm" or _role(pool) not in ("max_pool", "global_pool"):
            continue
        if _role(pool) == "max_pool":
            problems = rules.max_pool_swap_problems(pool.name, batchnorm.name,
                                                    batchnorm_parameters(batchnorm)[0])
            if problems:
                raise ValueError(problems[0])
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
    """Folds a BatchNormalization into the neural layer before it (docs/akida-v1.md section 3).

    ``scale = gamma / sqrt(variance + epsilon)``; the output kernel (pointwise for a separable
    convolution) is multiplied by ``scale`` per output channel and the bias becomes
    ``beta + (bias - mean) * scale``. The folded layer always has a bias.

    Arguments:
        neural: the neural layer's spec.
        batchnorm: the BatchNormalization's spec.

    Returns:
        The folded neural layer's spec.

    Raises:
        ValueError: a BatchNormalization that cannot be folded (axis, zero gammas).

    Example:
        >>> chain = model_chain(model)
        >>> folded = fold_batchnorm(chain[0], chain[1])   # conv_0 and conv_0_bn
        >>> folded.config["use_bias"], sorted(folded.weights)
        (True, ['bias', 'kernel'])
    """
    gamma, beta, mean, variance, epsilon = batchnorm_parameters(batchnorm)
    problems = rules.batchnorm_problems(batchnorm.name, batchnorm.config.get("axis", -1),
                                        len(batchnorm.input_shape or neural.input_shape),
                                        gamma, use="fold")
    if problems:
        raise ValueError("; ".join(problems))
    scale = gamma / np.sqrt(variance + epsilon)
    attribute = _neural(neural).output_kernel.attribute
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

    Example:
        >>> fold_batchnorms([])
        []
    """
    result: List[LayerSpec] = []
    for spec in chain:
        if _role(spec) == "batchnorm" and result and _neural(result[-1]) is not None:
            result[-1] = fold_batchnorm(result[-1], spec)
        else:
            result.append(spec)
    return result


# TFMOT-wrapped layers as seed-style layers ---------------------------------------------------

def _seed_spec_of_wrapper(wrapper) -> LayerSpec:
    """The seed-style spec computing what a TFMOT ``QuantizeWrapper`` computes."""

    config, inner = wrapper.quantize_config, wrapper.layer
    weights = {weight_key(v): np.array(v.numpy()) for v in wrapper.weights
               if weight_key(v) != "optimizer_step"}
    if isinstance(config, NeuralQuantizeConfig):
        entry = registry.current().for_config(type(config))
        layer_config = dict(inner.get_config())
        for kernel in entry.kernels:
            layer_config[kernel.quantizer] = keras.utils.serialize_keras_object(
                getattr(config, kernel.quantizer))
        return LayerSpec(entry.quantized_class, layer_config, weights,
                         tuple(wrapper.input_shape))
    if isinstance(config, ReLUQuantizeConfig):

        # The quantizer names its seed-style twin; its variables are the wrapper's output_*.
        cls, layer_config, names = config.quantizer.seed_equivalent()
        return LayerSpec(cls, {"name": inner.name, **layer_config},
                         {ours: weights[f"output_{theirs}"] for ours, theirs in names.items()},
                         tuple(wrapper.input_shape))
    raise ValueError(f"Layer '{wrapper.name}' is wrapped with {type(config).__name__}, not an "
                     "Akida QuantizeConfig; annotate it with the configs of "
                     "cnn2snn_tfmot.quantization.configs.")


def seed_style_chain(model, caller: str = "hardware_exact") -> List[LayerSpec]:
    """The model's layers as seed-style layers: TFMOT wrappers become the Quantized* layer (or
    the quantized activation) that computes the same, with the same names and weights.

    Arguments:
        model: a single-branch quantized tf_keras model (seed-style or TFMOT-quantized).
        caller: the public function's name, for messages.

    Returns:
        The chain of LayerSpecs (see :func:`build_model`).

    Example:
        >>> [spec.cls.__name__ for spec in seed_style_chain(model_quantized)][:2]
        ['QuantizedConv2D', 'MaxPooling2D']
    """
    import tensorflow_model_optimization as tfmot

    wrapper_class = tfmot.quantization.keras.QuantizeWrapper
    chain = []
    for layer in single_branch_layers(model, caller):
        chain.append(_seed_spec_of_wrapper(layer) if isinstance(layer, wrapper_class)
                     else LayerSpec.of(layer))
    return chain


# Separable merge ---------------------------------------------------------------------------

def merged_separable_bias(depthwise_bias: Optional[np.ndarray], pointwise_kernel: np.ndarray,
                          pointwise_bias: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The bias of a depthwise + pointwise pair merged into one separable convolution.

    A depthwise bias ``b`` passes through the pointwise kernel ``W``: the merged bias is
    ``pointwise_bias + b @ W`` (exact for the kernel the pair computes with).

    Arguments:
        depthwise_bias: (C,) or None.
        pointwise_kernel: the kernel the pointwise layer computes with, (1, 1, C, F).
        pointwise_bias: (F,) or None.

    Returns:
        float32 (F,), or None when neither layer has a bias.

    Example:
        >>> merged_separable_bias(np.ones(2), np.ones((1, 1, 2, 3)), None).tolist()
        [2.0, 2.0, 2.0]
    """
    if depthwise_bias is None:
        return pointwise_bias
    total = depthwise_bias.astype(np.float64) @ pointwise_kernel.reshape(
        pointwise_kernel.shape[-2], -1).astype(np.float64)
    if pointwise_bias is not None:
        total = total + pointwise_bias.astype(np.float64)
    return total.astype(np.float32)


def _separable_entry():
    for entry in registry.current().neural_types():
        if entry.akida_kind == "separable":
            return entry
    raise ValueError("the layer registry has no separable convolution type to merge into.")


def merge_pair(depthwise: LayerSpec, pointwise: LayerSpec, pointwise_layer=None) -> LayerSpec:
    """One separable spec from a depthwise spec and the 1x1 convolution spec after it.

    The pair must merge (:func:`cnn2snn_tfmot.chip.rules.separable_merge_problems` is empty).

    Arguments:
        depthwise: the DepthwiseConv2D (or QuantizedDepthwiseConv2D) spec.
        pointwise: the 1x1 Conv2D (or QuantizedConv2D) spec right after it.
        pointwise_layer: the live pointwise layer, needed only when it is quantized (its
            quantized kernel carries a depthwise bias into the merged bias).

    Returns:
        The SeparableConv2D (QuantizedSeparableConv2D) spec, named after the depthwise layer.

    Example:
        >>> dw = LayerSpec(keras.layers.DepthwiseConv2D, {"name": "dw", "kernel_size": (3, 3),
        ...     "strides": (1, 1), "padding": "same", "use_bias": False},
        ...     {"depthwise_kernel": np.ones((3, 3, 2, 1), np.float32)})
        >>> pw = LayerSpec(keras.layers.Conv2D, {"name": "pw", "filters": 4, "use_bias": False},
        ...     {"kernel": np.ones((1, 1, 2, 4), np.float32)})
        >>> merged = merge_pair(dw, pw)
        >>> merged.cls.__name__, sorted(merged.weights)
        ('SeparableConv2D', ['depthwise_kernel', 'pointwise_kernel'])
    """
    table = registry.current()
    sources = {"depthwise": (depthwise, table.neural(depthwise.cls)),
               "pointwise": (pointwise, table.neural(pointwise.cls))}
    quantized = [table.is_quantized(spec.cls) for spec, _ in sources.values()]
    if quantized[0] != quantized[1]:
        raise ValueError(f"Layers '{depthwise.name}' ({depthwise.cls.__name__}) and "
                         f"'{pointwise.name}' ({pointwise.cls.__name__}) cannot be merged: "
                         "quantize both or neither.")
    target = _separable_entry()
    dw_config, pw_config = depthwise.config, pointwise.config
    config = {
        "name": depthwise.name, "filters": pw_config["filters"],
        "kernel_size": dw_config["kernel_size"], "strides": dw_config["strides"],
        "padding": dw_config["padding"],
        "use_bias": bool(dw_config.get("use_bias") or pw_config.get("use_bias")),
        "activation": pw_config.get("activation"),
        "dtype": dw_config.get("dtype"), "trainable": dw_config.get("trainable", True),
    }
    weights = {}
    for kernel in target.kernels:  # by role: depthwise <- depthwise, pointwise <- kernel
        spec, entry = sources["depthwise" if kernel.role == "depthwise" else "pointwise"]
        source = entry.kernels[0]
        weights[kernel.attribute] = spec.weights[source.attribute]
        if quantized[0]:
            config[kernel.quantizer] = keras.utils.serialize_keras_object(as_weight_quantizer(
                spec.config.get(source.quantizer), source.quantizer,
                f"{spec.cls.__name__} '{spec.name}'"))
        # Trainable quantizer variables keep their trained values under the new kernel name.
        for key, value in spec.weights.items():
            if key.startswith(source.attribute + "_"):
                weights[kernel.attribute + key[len(source.attribute):]] = value
    if config["use_bias"]:
        if quantized[1]:
            attribute = sources["pointwise"][1].kernels[0].attribute
            pointwise_kernel = pointwise_layer.quantized_weights()[attribute].numpy()
        else:
            pointwise_kernel = pointwise.weights["kernel"]
        weights["bias"] = merged_separable_bias(
            depthwise.weights.get("bias"), pointwise_kernel,
            pointwise.weights.get("bias", np.zeros(pw_config["filters"], np.float32)))
    cls = target.quantized_class if quantized[0] else target.keras_class
    return LayerSpec(cls, config, weights, depthwise.input_shape)


def merge_separable_conv(model):
    """Returns a new model where depthwise + pointwise pairs are single separable convolutions.

    A DepthwiseConv2D followed directly by a 1x1 Conv2D (both float, or both quantized) becomes
    one SeparableConv2D (QuantizedSeparableConv2D) with the same outputs: it takes the
    depthwise layer's name, strides and padding, and the pointwise layer's filters, activation
    and quantizer; a depthwise bias is folded into the pointwise bias. A pair that cannot be
    merged (the rule is :func:`cnn2snn_tfmot.chip.rules.separable_merge_problems`), or a quantized
    depthwise kernel quantized per axis, is an error naming the layers.

    Arguments:
        model: a Sequential or Functional tf_keras model; not modified.

    Returns:
        A new model.

    Raises:
        ValueError: naming each pair that cannot be merged and why.

    Example:
        >>> pair = keras.Sequential([keras.Input((8, 8, 3)),
        ...                          keras.layers.DepthwiseConv2D(3, name="dw"),
        ...                          keras.layers.Conv2D(4, 1, name="pw")])
        >>> [type(layer).__name__ for layer in merge_separable_conv(pair).layers]
        ['SeparableConv2D']
    """
    model = check_keras_model(model)
    chain = model_chain(model, "merge_separable_conv")
    kinds = [getattr(_neural(spec), "akida_kind", None) for spec in chain]
    result: List[LayerSpec] = []
    problems: List[str] = []
    index = 0
    while index < len(chain):
        following = chain[index + 1] if index + 1 < len(chain) else None
        if rules.is_separable_merge_candidate(kinds[index],
                                              kinds[index + 1] if following else None,
                                              following.config if following else None):
            reasons = rules.separable_merge_problems(chain[index].name, chain[index].config,
                                                     following.name, following.config)
            if not reasons:
                result.append(merge_pair(chain[index], following,
                                          model.get_layer(following.name)))
                index += 2
                continue
            problems += reasons
        result.append(chain[index])
        index += 1
    if problems:
        raise ValueError(f"merge_separable_conv: model '{model.name}':\n  - "
                         + "\n  - ".join(problems))
    return build_model(model, result)
