"""Depthwise + pointwise pairs merged into single separable convolutions.

Akida runs a depthwise convolution only as the first half of a separable one.
:func:`merge_pair` makes one SeparableConv2D spec (or QuantizedSeparableConv2D) out of a
DepthwiseConv2D spec and the 1x1 Conv2D spec after it, with the same outputs;
:func:`merge_separable_pairs` is the pass over a chain, :func:`merge_separable_conv` the public
function on a model. ``adapt`` merges pairs with a BatchNormalization or an activation between
them through :func:`merge_pair` too.

Example:
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.rewriting.merging import merge_separable_conv
    >>> pair = keras.Sequential([keras.Input((8, 8, 3)),
    ...                          keras.layers.DepthwiseConv2D(3, name="dw"),
    ...                          keras.layers.Conv2D(4, 1, name="pw")])
    >>> merged = merge_separable_conv(pair)
    >>> [(layer.name, type(layer).__name__) for layer in merged.layers]
    [('dw', 'SeparableConv2D')]
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.quantization import layer_table
from cnn2snn_tfmot.quantization.layer_table import NeuralType
from cnn2snn_tfmot.quantization.layers import as_weight_quantizer
from cnn2snn_tfmot.rewriting.chain import Chain, LayerSpec
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["merged_separable_bias", "merge_pair", "merge_separable_pairs",
           "merge_separable_conv"]


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
        >>> from cnn2snn_tfmot.rewriting.merging import merged_separable_bias
        >>> import numpy as np
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


def _separable_entry() -> NeuralType:
    for entry in layer_table.current().neural_types():
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

    Raises:
        ValueError: one layer quantized and the other not.

    Example:
        >>> from cnn2snn_tfmot.rewriting.merging import merge_pair
        >>> import numpy as np
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec
        >>> dw = LayerSpec(keras.layers.DepthwiseConv2D, {"name": "dw", "kernel_size": (3, 3),
        ...     "strides": (1, 1), "padding": "same", "use_bias": False},
        ...     {"depthwise_kernel": np.ones((3, 3, 2, 1), np.float32)})
        >>> pw = LayerSpec(keras.layers.Conv2D, {"name": "pw", "filters": 4, "use_bias": False},
        ...     {"kernel": np.ones((1, 1, 2, 4), np.float32)})
        >>> merged = merge_pair(dw, pw)
        >>> merged.cls.__name__, sorted(merged.weights)
        ('SeparableConv2D', ['depthwise_kernel', 'pointwise_kernel'])
    """
    table = layer_table.current()
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


def merge_separable_pairs(chain: Chain) -> None:
    """Merges every DepthwiseConv2D directly followed by a 1x1 Conv2D into one separable
    convolution (:func:`merge_pair`), recording each merge.

    Arguments:
        chain: the chain being rewritten (its model gives the live quantized pointwise layers).

    Raises:
        ValueError: naming each pair that cannot be merged and why.

    Example:
        >>> from cnn2snn_tfmot.rewriting.merging import merge_separable_pairs
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((8, 8, 3)),
        ...     keras.layers.DepthwiseConv2D(3, name="dw"),
        ...     keras.layers.Conv2D(4, 1, name="pw")]), "example")
        >>> merge_separable_pairs(chain)
        >>> print(chain.changes)
        - dw + pw: merged into the SeparableConv2D 'dw' (Akida runs depthwise + pointwise \
convolutions as one separable layer)
    """
    specs = chain.specs
    kinds = [chain.kind(index) for index in range(len(specs))]
    result: List[LayerSpec] = []
    problems: List[str] = []
    index = 0
    while index < len(specs):
        following = specs[index + 1] if index + 1 < len(specs) else None
        if rules.is_separable_merge_candidate(kinds[index],
                                              kinds[index + 1] if following else None,
                                              following.config if following else None):
            reasons = rules.separable_merge_problems(specs[index].name, specs[index].config,
                                                     following.name, following.config)
            if not reasons:
                merged = merge_pair(specs[index], following, chain.model.get_layer(following.name))
                result.append(merged)
                chain.record(f"{specs[index].name} + {following.name}",
                             f"merged into the {merged.cls.__name__} '{merged.name}'",
                             "Akida runs depthwise + pointwise convolutions as one separable "
                             "layer")
                index += 2
                continue
            problems += reasons
        result.append(specs[index])
        index += 1
    if problems:
        raise ValueError(f"{chain.caller}: model '{chain.model.name}':\n  - "
                         + "\n  - ".join(problems))
    chain.specs = result
    chain.refresh()


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
        >>> from cnn2snn_tfmot.rewriting.merging import merge_separable_conv
        >>> from cnn2snn_tfmot import keras
        >>> pair = keras.Sequential([keras.Input((8, 8, 3)),
        ...                          keras.layers.DepthwiseConv2D(3, name="dw"),
        ...                          keras.layers.Conv2D(4, 1, name="pw")])
        >>> [type(layer).__name__ for layer in merge_separable_conv(pair).layers]
        ['SeparableConv2D']
    """
    chain = Chain(model, "merge_separable_conv")
    merge_separable_pairs(chain)
    return chain.build()
