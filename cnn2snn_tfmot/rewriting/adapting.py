"""``adapt(model)``: ``sanitize`` plus the architecture changes Akida 1.0 needs.

These change what the model computes (each is recorded as such) and call for fine-tuning;
weights are carried over wherever the shapes allow. The passes, in order:

* every ``sanitize`` pass, a ZeroPadding2D that 'same' padding does not reproduce exactly being
  replaced by 'same' padding;
* activations Akida cannot run (LeakyReLU, ELU, PReLU, a ReLU with a slope or threshold, swish,
  gelu... anywhere before the last neural layer) become ReLU layers;
* a BatchNormalization right after an activation moves before it;
* a 1x1 Conv2D on a 1x1 map (the classifier head of keras.applications models) becomes a Dense
  layer with the same weights (exact), its input flattened;
* DepthwiseConv2D (+ BatchNormalization) (+ activation) + 1x1 Conv2D becomes one
  SeparableConv2D: the BatchNormalization is folded into the depthwise kernel and bias, the
  depthwise bias into the pointwise bias, and the activation between them is dropped (an Akida
  separable convolution fires once); a depthwise convolution without a 1x1 convolution after it
  becomes a SeparableConv2D with an identity pointwise kernel (exact);
* a GlobalAveragePooling2D after a block's activation moves before it (Akida pools potentials
  before the block fires).

Example:
    >>> from cnn2snn_tfmot import check_model_compatibility, keras, quantize
    >>> from cnn2snn_tfmot.rewriting.adapting import adapt
    >>> from tensorflow.keras.applications import MobileNet
    >>> adapted, changes = adapt(MobileNet(alpha=0.25, input_shape=(32, 32, 3), weights=None,
    ...                                    classes=10))
    >>> quantized = quantize(adapted, 4, 4, 8, input_scaling=(255, 0))
    >>> check_model_compatibility(quantized)
    True
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.rewriting.chain import Chain, Changes, LayerSpec, spec_role
from cnn2snn_tfmot.rewriting.merging import merge_pair
from cnn2snn_tfmot.rewriting.sanitizing import normalize_reshapes, sanitize_chain
from cnn2snn_tfmot.rewriting.transforms import fold_batchnorm
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["adapt", "activations_to_relu", "batchnorm_before_activation",
           "classifier_convs_to_dense", "separable_convolutions", "pooling_before_activation"]

L = keras.layers

#: Activation layer classes Akida cannot run, that a ReLU replaces.
_RELU_LIKE_CLASSES = (L.LeakyReLU, L.ELU, L.PReLU)


def _may_become_relu(spec: LayerSpec) -> bool:
    """Whether ``activations_to_relu`` considers the spec: LeakyReLU, ELU, PReLU, ReLU and
    non-linear Activation layers (a Softmax layer is not one)."""
    return (spec.cls in _RELU_LIKE_CLASSES or spec_role(spec) in ("relu", "final")
            and spec.cls is not L.Softmax)


def activations_to_relu(chain: Chain) -> None:
    """Activations Akida cannot run, before the last neural layer, become plain ReLU layers.

    A ReLU keeps its ``max_value``; its slope and threshold go. The final activation (softmax
    or sigmoid after the last neural layer) stays: conversion absorbs it.

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.adapting import activations_to_relu
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
        ...     keras.layers.LeakyReLU(name="leaky"), keras.layers.Dense(2)]), "adapt")
        >>> activations_to_relu(chain)
        >>> chain.specs[1].cls.__name__
        'ReLU'
    """
    neural = [index for index in range(len(chain.specs)) if chain.kind(index) is not None]
    last = neural[-1] if neural else -1
    for index, spec in enumerate(chain.specs[:last]):
        if not _may_become_relu(spec):
            continue
        if spec.cls is L.ReLU:
            if not rules.relu_problems(spec.name, spec.config):
                continue
            config = {key: spec.config[key] for key in ("name", "max_value")
                      if spec.config.get(key) is not None}
            what = "ReLU without its slope and threshold"
        elif spec.cls is L.Activation and spec.config.get("activation") in ("relu", "relu6"):
            continue  # sanitize's
        else:
            config = {"name": spec.name}
            label = spec.config.get("activation", spec.cls.__name__)
            what = f"{label} replaced by ReLU"
        chain.specs[index] = LayerSpec(L.ReLU, config, {}, spec.input_shape)
        chain.record(spec.name, what, "Akida activations are (bounded) ReLUs", exact=False)
    chain.refresh()


def batchnorm_before_activation(chain: Chain) -> None:
    """A BatchNormalization right after a ReLU moves before it (in its block, the
    BatchNormalization is absorbed into the thresholds; the activation comes last).

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.adapting import batchnorm_before_activation
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3),
        ...     keras.layers.ReLU(name="relu"), keras.layers.BatchNormalization(name="bn"),
        ...     keras.layers.Dense(2)]), "adapt")
        >>> batchnorm_before_activation(chain)
        >>> chain.names()[1:3]
        ['bn', 'relu']
    """
    for index in range(len(chain.specs) - 1):
        if chain.role(index) == "relu" and chain.role(index + 1) == "batchnorm":
            relu, batchnorm = chain.specs[index], chain.specs[index + 1]
            chain.specs[index], chain.specs[index + 1] = batchnorm, relu
            chain.record(batchnorm.name, f"moved before the activation '{relu.name}'",
                         "an Akida block is neural layer, BatchNormalization, pooling, "
                         "activation", exact=False)
    chain.refresh()


def _flat_input(chain: Chain, index: int) -> int:
    """Makes the (1, 1, C) input of layer ``index`` a (C,) one; returns the layer's index."""
    previous = index - 1 if index > 0 else None
    spec = chain.specs[previous] if previous is not None else None
    if spec is not None and chain.role(previous) == "global_pool" and spec.config.get("keepdims"):
        chain.specs[previous] = spec.replace(config={**spec.config, "keepdims": False})
        chain.record(spec.name, "keepdims=False", "the dense layer after it takes the flat "
                     "channels")
        return index
    if spec is not None and chain.role(previous) == "reshape" and \
            len(chain.input_dims(previous)) == 1:
        del chain.specs[previous]
        chain.record(spec.name, "removed", "the dense layer after it takes the flat channels")
        return index - 1
    name = chain.free_name(f"{chain.specs[index].name}_flatten")
    chain.specs.insert(index, LayerSpec(L.Flatten, {"name": name}, {},
                                        chain.input_shape(index)))
    chain.record(name, "Flatten added", "a dense layer takes (C,) inputs")
    return index + 1


_SPATIAL_ROLES = ("max_pool", "global_pool")
_SPATIAL_KINDS = ("conv", "depthwise", "separable")


def _is_head(chain: Chain, index: int) -> bool:
    """Whether layer ``index`` is in the classifier head: nothing after it needs a feature map,
    and it is not the pointwise half of a depthwise + pointwise pair."""
    neural_before = [position for position in range(index) if chain.kind(position)]
    if neural_before and chain.kind(neural_before[-1]) == "depthwise":
        return False
    return not any(chain.role(position) in _SPATIAL_ROLES
                   or chain.kind(position) in _SPATIAL_KINDS
                   for position in range(index + 1, len(chain.specs)))


def classifier_convs_to_dense(chain: Chain) -> None:
    """A 1x1 Conv2D applied to a 1x1 map in the classifier head (no pooling or convolution
    after it) becomes a Dense layer with the same weights and name (exact), its input
    flattened.

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.adapting import classifier_convs_to_dense
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4, 4, 3)),
        ...     keras.layers.GlobalAveragePooling2D(keepdims=True),
        ...     keras.layers.Conv2D(10, 1, name="head")]), "adapt")
        >>> classifier_convs_to_dense(chain)
        >>> chain.specs[1].cls.__name__, chain.output_shape(1)
        ('Dense', (None, 10))
    """
    index = 0
    while index < len(chain.specs):
        spec = chain.specs[index]
        shape = chain.input_dims(index)
        if not (spec.cls is L.Conv2D and tuple(spec.config["kernel_size"]) == (1, 1)
                and spec.config.get("groups", 1) == 1 and len(shape) == 3
                and shape[:2] == (1, 1) and _is_head(chain, index)):
            index += 1
            continue
        config = {key: spec.config[key] for key in
                  ("name", "use_bias", "activation", "trainable", "dtype") if key in spec.config}
        config["units"] = spec.config["filters"]
        weights = {"kernel": spec.weights["kernel"].reshape(shape[-1], -1)}
        if "bias" in spec.weights:
            weights["bias"] = spec.weights["bias"]
        chain.specs[index] = LayerSpec(L.Dense, config, weights, spec.input_shape)
        chain.record(spec.name, "1x1 Conv2D on a 1x1 map replaced by a Dense layer, same "
                     "weights", "the same function, as the FullyConnected layer Akida has")
        index = _flat_input(chain, index) + 1
        chain.refresh()
    normalize_reshapes(chain)  # the Reshape((classes,)) after such a head is now a no-op


def _identity_pointwise(spec: LayerSpec, channels: int) -> LayerSpec:
    config = {"name": f"{spec.name}_identity", "filters": channels, "kernel_size": (1, 1),
              "use_bias": False}
    kernel = np.eye(channels, dtype=np.float32).reshape(1, 1, channels, channels)
    return LayerSpec(L.Conv2D, config, {"kernel": kernel}, spec.input_shape)


def _pointwise_after(chain: Chain, index: int) -> Tuple[Optional[int], Optional[int],
                                                        Optional[int]]:
    """(BatchNormalization, activation, 1x1 convolution) indices after a depthwise layer."""
    position, batchnorm, activation = index + 1, None, None
    if position < len(chain.specs) and chain.role(position) == "batchnorm":
        batchnorm, position = position, position + 1
    if position < len(chain.specs) and chain.role(position) == "relu":
        activation, position = position, position + 1
    if position < len(chain.specs) and rules.is_separable_merge_candidate(
            "depthwise", chain.kind(position), chain.specs[position].config):
        return batchnorm, activation, position
    return batchnorm, activation, None


def separable_convolutions(chain: Chain) -> None:
    """DepthwiseConv2D (+ BatchNormalization) (+ activation) + 1x1 Conv2D -> SeparableConv2D;
    a depthwise convolution alone -> SeparableConv2D with an identity pointwise kernel.

    The BatchNormalization between the two is folded into the depthwise kernel and bias and
    the depthwise bias into the pointwise bias (exact); an activation between them is
    dropped (a change of function). The separable convolution takes the depthwise layer's
    name.

    Arguments:
        chain: the chain being rewritten.

    Raises:
        ValueError: a pair that cannot merge (depth multiplier, strided pointwise...), naming
            both layers.

    Example:
        >>> from cnn2snn_tfmot.rewriting.adapting import separable_convolutions
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((8, 8, 3)),
        ...     keras.layers.DepthwiseConv2D(3, name="dw"),
        ...     keras.layers.BatchNormalization(name="bn"), keras.layers.ReLU(name="relu"),
        ...     keras.layers.Conv2D(8, 1, name="pw")]), "adapt")
        >>> separable_convolutions(chain)
        >>> [(spec.name, spec.cls.__name__) for spec in chain.specs]
        [('dw', 'SeparableConv2D')]
    """
    index = 0
    while index < len(chain.specs):
        if chain.kind(index) != "depthwise":
            index += 1
            continue
        depthwise = chain.specs[index]
        batchnorm, activation, pointwise = _pointwise_after(chain, index)
        if pointwise is None:
            channels = chain.output_dims(index)[-1]
            merged = merge_pair(depthwise, _identity_pointwise(depthwise, channels))
            chain.specs[index] = merged
            chain.record(depthwise.name, "DepthwiseConv2D replaced by a SeparableConv2D with "
                         "an identity pointwise kernel", "Akida has no depthwise layer, only "
                         "separable ones")
            chain.refresh()
            index += 1
            continue
        problems = rules.separable_merge_problems(depthwise.name, depthwise.config,
                                                  chain.specs[pointwise].name,
                                                  chain.specs[pointwise].config)
        if problems:
            raise ValueError(f"{chain.caller}(): " + "; ".join(problems))
        if batchnorm is not None:
            depthwise = fold_batchnorm(depthwise, chain.specs[batchnorm])
            chain.record(chain.specs[batchnorm].name, f"folded into '{depthwise.name}'",
                         "a BatchNormalization before a linear layer is a per-channel scale "
                         "and bias of the kernel")
        if activation is not None:
            chain.record(chain.specs[activation].name, "removed",
                         "an Akida separable convolution fires once, after its pointwise part",
                         exact=False)
        pointwise_spec = chain.specs[pointwise]
        chain.specs[index:pointwise + 1] = [merge_pair(depthwise, pointwise_spec)]
        chain.record(f"{depthwise.name} + {pointwise_spec.name}",
                     f"merged into the SeparableConv2D '{depthwise.name}'",
                     "Akida runs depthwise + pointwise convolutions as one separable layer")
        chain.refresh()
        index += 1


def pooling_before_activation(chain: Chain) -> None:
    """A GlobalAveragePooling2D right after a block's ReLU moves before it.

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.adapting import pooling_before_activation
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4, 4, 3)),
        ...     keras.layers.Conv2D(8, 3, name="conv"), keras.layers.ReLU(name="relu"),
        ...     keras.layers.GlobalAveragePooling2D(name="gap"), keras.layers.Dense(2)]),
        ...     "adapt")
        >>> pooling_before_activation(chain)
        >>> chain.names()[:3]
        ['conv', 'gap', 'relu']
    """
    for index in range(len(chain.specs) - 1):
        if chain.role(index) == "relu" and chain.role(index + 1) == "global_pool":
            relu, pool = chain.specs[index], chain.specs[index + 1]
            chain.specs[index], chain.specs[index + 1] = pool, relu
            chain.record(pool.name, f"moved before the activation '{relu.name}'",
                         "Akida averages a block's potentials before the block fires",
                         exact=False)
    chain.refresh()


def adapt(model) -> Tuple[object, Changes]:
    """``sanitize`` plus the architecture changes Akida 1.0 needs; the model then needs
    fine-tuning.

    What ``sanitize`` does (exact), then: ZeroPadding2D that 'same' padding does not reproduce
    replaced by 'same' padding; activations Akida cannot run made ReLUs; BatchNormalization
    after an activation moved before it; a 1x1-convolution classifier head made Dense;
    DepthwiseConv2D + BatchNormalization + ReLU + 1x1 Conv2D made SeparableConv2D +
    BatchNormalization + ReLU (BatchNormalization folded into the depthwise kernel, the
    activation between dropped); global average pooling moved into its block, before the
    activation. Weights are carried over wherever the shapes allow. Every change is listed
    (layer, what, why, and whether it keeps the function). ``keras.applications.MobileNet``
    (tf_keras or Keras 3) goes through adapt -> quantize -> convert with no hand edit.

    Arguments:
        model: a single-branch Sequential or Functional model (tf_keras, or Keras 3: rebuilt);
            not modified.

    Returns:
        ``(new_model, changes)``: a new float tf_keras model, and a :class:`Changes` list
        (``changes.function_kept`` is False when fine-tuning is needed).

    Raises:
        ValueError: a layer that cannot be adapted, naming it and the reason.

    Example:
        >>> from cnn2snn_tfmot.rewriting.adapting import adapt
        >>> from cnn2snn_tfmot import keras
        >>> adapted, changes = adapt(keras.Sequential([keras.Input((8, 8, 3)),
        ...     keras.layers.Conv2D(8, 3, name="conv"), keras.layers.ReLU(name="relu"),
        ...     keras.layers.GlobalAveragePooling2D(name="gap"),
        ...     keras.layers.Dense(2, name="dense")]))
        >>> print(changes)
        - gap: moved before the activation 'relu' (Akida averages a block's potentials \
before the block fires) [changes the function]
    """
    chain = Chain(model, "adapt")
    sanitize_chain(chain, exact_only=False)
    activations_to_relu(chain)
    batchnorm_before_activation(chain)
    classifier_convs_to_dense(chain)
    separable_convolutions(chain)
    pooling_before_activation(chain)
    normalize_reshapes(chain)
    return chain.build(), chain.changes
