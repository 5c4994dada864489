"""The exact model transforms of docs/akida-v1.md section 3, as passes over a chain.

Each pass edits a :class:`~cnn2snn_tfmot.rewriting.chain.Chain` in place and records a
:class:`~cnn2snn_tfmot.rewriting.chain.Change` per rewrite; none changes what the model
computes (up to float rounding). ``quantize`` runs them in this order:

* :func:`split_fused_activations`: a neural layer's fused activation gets a layer of its own
  (``sanitize`` splits the same way);
* :func:`swap_activation_pooling`: ``ReLU -> MaxPool2D`` becomes ``MaxPool2D -> ReLU``;
* :func:`swap_pooling_batchnorm`: ``MaxPool2D / GlobalAveragePooling2D -> BatchNormalization``
  becomes ``BatchNormalization -> pooling``;
* :func:`fold_batchnorms`: a BatchNormalization right after a neural layer is folded into it
  (:func:`fold_batchnorm`, which ``adapt`` uses too).

Example:
    >>> from cnn2snn_tfmot.rewriting.transforms import (split_fused_activations,
    ...     swap_activation_pooling)
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.rewriting.chain import Chain
    >>> model = keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
    ...     keras.layers.MaxPool2D(name="pool"), keras.layers.Flatten(name="flat")])
    >>> chain = Chain(model, "example")
    >>> split_fused_activations(chain)
    >>> swap_activation_pooling(chain)
    >>> chain.names()
    ['conv', 'pool', 'conv_relu', 'flat']
    >>> print(chain.changes)
    - conv: fused activation 'relu' moved to the new layer 'conv_relu' (Akida activations are \
layers of their own)
    - conv_relu: moved after 'pool' (max pooling commutes with a ReLU, which is increasing)
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.rewriting.chain import (
    Chain,
    LayerSpec,
    is_plain_relu,
    spec_neural,
    spec_role,
)
from cnn2snn_tfmot.tfkeras import keras

__all__ = [
    "RELU_MAX_VALUES", "relu_spec", "split_fused_activation", "split_fused_activations",
    "swap_activation_pooling", "batchnorm_parameters", "swap_pooling_batchnorm",
    "fold_batchnorm", "fold_batchnorms",
]

L = keras.layers

#: The activations that are ReLU layers, with their ``max_value`` (None: unbounded).
RELU_MAX_VALUES = {"relu": None, "relu6": 6.0}


def relu_spec(name: str, max_value: Optional[float], input_shape=None) -> LayerSpec:
    """The spec of a plain ReLU layer.

    Arguments:
        name: the layer's name.
        max_value: its ``max_value`` (None: unbounded).
        input_shape: its input shape, if known.

    Returns:
        A ``ReLU`` LayerSpec.

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import relu_spec
        >>> relu_spec("act", 6).config
        {'name': 'act', 'max_value': 6.0}
    """
    config = {"name": name}
    if max_value is not None:
        config["max_value"] = float(max_value)
    return LayerSpec(L.ReLU, config, {}, input_shape)


def split_fused_activation(chain: Chain, index: int) -> bool:
    """Moves the fused activation of layer ``index`` (a neural layer) into a new layer after it.

    ``Conv2D(activation="relu", name="c")`` becomes ``Conv2D(name="c")`` + ``ReLU(name="c_relu")``;
    ``relu6`` becomes ``ReLU(max_value=6)``, other activations an ``Activation`` layer. The new
    layer's name is the first free one of ``<layer>_<activation>``, ``<layer>_<activation>_1``...

    Arguments:
        chain: the chain being rewritten.
        index: the layer's index.

    Returns:
        Whether the layer had a fused activation (the new layer is then at ``index + 1``).

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import split_fused_activation
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(2, activation="sigmoid", name="d")]), "example")
        >>> split_fused_activation(chain, 0), chain.specs[1].cls.__name__, chain.names()
        (True, 'Activation', ['d', 'd_sigmoid'])
    """
    spec = chain.specs[index]
    activation = spec.config.get("activation")
    if spec_neural(spec) is None or activation in (None, "linear"):
        return False
    chain.specs[index] = spec.replace(config={**spec.config, "activation": "linear"})
    name = chain.free_name(f"{spec.name}_{activation}")
    if activation in RELU_MAX_VALUES:
        new = relu_spec(name, RELU_MAX_VALUES[activation], spec.input_shape)
    else:
        new = LayerSpec(L.Activation, {"name": name, "activation": activation}, {},
                        spec.input_shape)
    chain.specs.insert(index + 1, new)
    chain.record(spec.name, f"fused activation '{activation}' moved to the new layer '{name}'",
                 "Akida activations are layers of their own")
    chain.refresh()
    return True


def split_fused_activations(chain: Chain) -> None:
    """Moves every neural layer's fused activation into a layer of its own, after it
    (:func:`split_fused_activation`).

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import split_fused_activations
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(3, activation="relu", name="d"),
        ...     keras.layers.Dense(2, activation="relu6", name="e")]), "example")
        >>> split_fused_activations(chain)
        >>> chain.names(), chain.specs[3].config
        (['d', 'd_relu', 'e', 'e_relu6'], {'name': 'e_relu6', 'max_value': 6.0})
    """
    index = 0
    while index < len(chain.specs):
        index += 2 if split_fused_activation(chain, index) else 1


def swap_activation_pooling(chain: Chain) -> None:
    """``ReLU -> MaxPool2D`` becomes ``MaxPool2D -> ReLU`` (exact: the ReLU is increasing).

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import swap_activation_pooling
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4, 4, 1)),
        ...     keras.layers.ReLU(name="r"), keras.layers.MaxPooling2D(name="p")]), "example")
        >>> swap_activation_pooling(chain)
        >>> chain.names()
        ['p', 'r']
    """
    specs = chain.specs
    for index in range(len(specs) - 1):
        if is_plain_relu(specs[index]) and spec_role(specs[index + 1]) == "max_pool":
            relu, pool = specs[index], specs[index + 1]
            specs[index], specs[index + 1] = pool, relu
            chain.record(relu.name, f"moved after '{pool.name}'",
                         "max pooling commutes with a ReLU, which is increasing")
    chain.refresh()


def batchnorm_parameters(spec: LayerSpec) -> Tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray, float]:
    """(gamma, beta, mean, variance, epsilon) of a BatchNormalization spec, as float64.

    A BatchNormalization without scale or center has gammas 1 and betas 0.

    Arguments:
        spec: the BatchNormalization's spec (see :meth:`LayerSpec.of`).

    Returns:
        Four float64 arrays and the epsilon.

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import batchnorm_parameters
        >>> from cnn2snn_tfmot import keras, tf
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec
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


def swap_pooling_batchnorm(chain: Chain) -> None:
    """``MaxPool2D / GlobalAveragePooling2D -> BatchNormalization`` become ``BN -> pooling``.

    Exact for global average pooling (BN is affine per channel); for max pooling only when
    every gamma is positive, else a ValueError naming the layer and the count.

    Arguments:
        chain: the chain being rewritten.

    Raises:
        ValueError: a max pooling before a BatchNormalization with non-positive gammas.

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import swap_pooling_batchnorm
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4, 4, 2)),
        ...     keras.layers.GlobalAveragePooling2D(name="gap"),
        ...     keras.layers.BatchNormalization(name="bn")]), "example")
        >>> swap_pooling_batchnorm(chain)
        >>> chain.names(), chain.output_shape(1)
        (['bn', 'gap'], (None, 2))
    """
    specs = chain.specs
    for index in range(len(specs) - 1):
        pool, batchnorm = specs[index], specs[index + 1]
        role = spec_role(pool)
        if spec_role(batchnorm) != "batchnorm" or role not in ("max_pool", "global_pool"):
            continue
        if role == "max_pool":
            problems = rules.max_pool_swap_problems(pool.name, batchnorm.name,
                                                    batchnorm_parameters(batchnorm)[0])
            if problems:
                raise ValueError(problems[0])
        # Its axis was stored as a number for its old input rank: -1 is the channel axis of
        # both the pooled and the unpooled tensor.
        moved = batchnorm.replace(config={**batchnorm.config, "axis": -1},
                                  input_shape=pool.input_shape)
        specs[index], specs[index + 1] = moved, pool
        chain.record(batchnorm.name, f"moved before '{pool.name}'",
                     "max pooling commutes with a BatchNormalization whose gammas are positive"
                     if role == "max_pool" else
                     "average pooling commutes with a per-channel affine map")
    chain.refresh()


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
        >>> from cnn2snn_tfmot.rewriting.transforms import fold_batchnorm
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import model_chain
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, use_bias=False, name="conv"),
        ...     keras.layers.BatchNormalization(name="bn")])
        >>> conv, bn = model_chain(model)
        >>> folded = fold_batchnorm(conv, bn)
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
    attribute = spec_neural(neural).output_kernel.attribute
    weights = dict(neural.weights)
    weights[attribute] = _fold_scale(weights[attribute], scale, attribute)
    bias = weights.get("bias", np.zeros_like(mean)).astype(np.float64)
    weights["bias"] = (beta + (bias - mean) * scale).astype(np.float32)
    return neural.replace(config={**neural.config, "use_bias": True}, weights=weights)


def fold_batchnorms(chain: Chain) -> None:
    """Folds every BatchNormalization that directly follows a neural layer into it
    (:func:`fold_batchnorm`).

    Arguments:
        chain: the chain being rewritten (BatchNormalization already moved before pooling).

    Raises:
        ValueError: a BatchNormalization that cannot be folded.

    Example:
        >>> from cnn2snn_tfmot.rewriting.transforms import fold_batchnorms
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d"),
        ...     keras.layers.BatchNormalization(name="bn")]), "example")
        >>> fold_batchnorms(chain)
        >>> print(chain.changes)
        - bn: folded into 'd' (a BatchNormalization after a linear layer is a per-channel \
scale and bias of its outputs)
    """
    result: List[LayerSpec] = []
    for spec in chain.specs:
        if spec_role(spec) == "batchnorm" and result and spec_neural(result[-1]) is not None:
            result[-1] = fold_batchnorm(result[-1], spec)
            chain.record(spec.name, f"folded into '{result[-1].name}'",
                         "a BatchNormalization after a linear layer is a per-channel scale and "
                         "bias of its outputs")
        else:
            result.append(spec)
    chain.specs = result
    chain.refresh()
