"""``sanitize(model)``: rewrites that keep a model's function and bring it closer to Akida.

Each pass edits a :class:`cnn2snn_tfmot.rewriting.chain.Chain` and records a
:class:`cnn2snn_tfmot.rewriting.chain.Change` per rewrite:

* inference-time identities (the registry's "identity" role: Dropout, noise layers,
  ActivityRegularization, Identity, linear Activation) are removed;
* fused activations become layers of their own; ``Activation('relu')`` becomes a ``ReLU`` layer
  and ``relu6`` a ``ReLU(max_value=6)``; ReLU6 / ``ReLU(max_value)`` stay bounded activations;
* a ``ZeroPadding2D`` followed by a 'valid' convolution becomes a 'same' convolution when
  TensorFlow's 'same' padding pads exactly those rows and columns (otherwise refused, naming
  the layer; ``adapt`` accepts it as a function change);
* Reshape / Flatten before the classifier are normalized: no-op ones are removed,
  ``GlobalAveragePooling2D(keepdims=True)`` + Flatten/Reshape become one pooling without
  ``keepdims``, and a Reshape that flattens becomes a Flatten.

Example:
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.rewriting.sanitizing import sanitize
    >>> noisy = keras.Sequential([keras.Input((8, 8, 3)),
    ...     keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad"),
    ...     keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="conv"),
    ...     keras.layers.Dropout(0.5, name="drop"), keras.layers.Flatten(name="flat"),
    ...     keras.layers.Dense(2, name="dense")])
    >>> clean, changes = sanitize(noisy)
    >>> [layer.name for layer in clean.layers]
    ['conv', 'conv_relu', 'flat', 'dense']
"""
from __future__ import annotations

import math
from typing import Tuple

from cnn2snn_tfmot.rewriting.chain import Chain, Changes, LayerSpec
from cnn2snn_tfmot.rewriting.transforms import RELU_MAX_VALUES, relu_spec, split_fused_activation
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["sanitize", "sanitize_chain", "remove_identities", "split_activations",
           "absorb_zero_padding", "normalize_reshapes", "same_padding"]

L = keras.layers


def remove_identities(chain: Chain) -> None:
    """Removes the layers the registry calls inference-time identities (exact).

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import remove_identities
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.1),
        ...                                 keras.layers.Dense(2)]), "sanitize")
        >>> remove_identities(chain)
        >>> print(chain.changes)
        - dropout...: removed (Dropout computes nothing at inference)
    """
    kept = []
    for index, spec in enumerate(chain.specs):
        if chain.role(index) == "identity":
            chain.record(spec.name, "removed",
                         f"{spec.cls.__name__} computes nothing at inference")
        else:
            kept.append(spec)
    chain.specs = kept
    chain.refresh()


def split_activations(chain: Chain) -> None:
    """Fused activations become their own layers
    (:func:`~cnn2snn_tfmot.rewriting.transforms.split_fused_activation`, as ``quantize`` splits
    them); Activation('relu' / 'relu6') become ReLU layers (exact).

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import split_activations
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4,)),
        ...     keras.layers.Dense(2, activation="relu6", name="d"),
        ...     keras.layers.Activation("relu", name="act")]), "sanitize")
        >>> split_activations(chain)
        >>> chain.names(), chain.specs[1].config["max_value"], chain.specs[2].cls.__name__
        (['d', 'd_relu6', 'act'], 6.0, 'ReLU')
    """
    index = 0
    while index < len(chain.specs):
        spec = chain.specs[index]
        activation = spec.config.get("activation")
        if split_fused_activation(chain, index):
            index += 2
            continue
        if spec.cls is L.Activation and activation in RELU_MAX_VALUES:
            max_value = RELU_MAX_VALUES[activation]
            chain.specs[index] = relu_spec(spec.name, max_value, spec.input_shape)
            chain.record(spec.name, f"Activation('{activation}') replaced by a ReLU layer"
                         + ("" if max_value is None else " with max_value=6"),
                         "the same function, as the layer type Akida quantizes")
        index += 1
    chain.refresh()


def _pairs(value) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    if isinstance(value, int):
        return ((value, value), (value, value))
    first, second = value
    first = (first, first) if isinstance(first, int) else tuple(first)
    second = (second, second) if isinstance(second, int) else tuple(second)
    return (tuple(int(v) for v in first), tuple(int(v) for v in second))


def same_padding(size: int, kernel: int, stride: int) -> Tuple[int, int]:
    """The (before, after) padding of TensorFlow's 'same' convolution along one axis.

    ``out = ceil(size / stride)``, ``total = max((out - 1) * stride + kernel - size, 0)``,
    before = ``total // 2`` (docs/akida-v1.md section 5: Akida pads the same way).

    Arguments:
        size: the input size along the axis.
        kernel: the kernel size.
        stride: the stride.

    Returns:
        ``(before, after)``.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import same_padding
        >>> same_padding(64, 3, 2), same_padding(7, 3, 2)
        ((0, 1), (1, 1))
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return (total // 2, total - total // 2)


def _valid_output(size: int, kernel: int, stride: int, pads: Tuple[int, int]) -> int:
    return (size + sum(pads) - kernel) // stride + 1


def _padding_problem(chain: Chain, index: int):
    """(target index, same pads, exact, output kept) for the ZeroPadding2D at ``index``, or a
    message saying why it cannot be absorbed at all."""
    spec = chain.specs[index]
    target = chain.following(index)
    kind = None if target is None else chain.kind(target)
    if kind not in ("conv", "depthwise", "separable") or \
            chain.specs[target].config.get("padding") != "valid":
        found = "nothing" if target is None else \
            f"'{chain.specs[target].name}' ({chain.specs[target].cls.__name__})"
        return (f"ZeroPadding2D '{spec.name}' is followed by {found}: Akida pads only inside "
                "convolutions, so a ZeroPadding2D must come right before a Conv2D, "
                "DepthwiseConv2D or SeparableConv2D with padding='valid'.")
    config = chain.specs[target].config
    dilation = tuple(config.get("dilation_rate", (1, 1)))
    if any(d != 1 for d in dilation):
        return (f"ZeroPadding2D '{spec.name}' comes before '{config['name']}', which is "
                f"dilated ({dilation}): Akida has no dilated convolution.")
    padding = _pairs(spec.config["padding"])
    shape = chain.input_shape(index)
    same, outputs_kept = [], True
    for axis in (0, 1):
        size, kernel = shape[1 + axis], int(config["kernel_size"][axis])
        stride = int(config["strides"][axis])
        same.append(same_padding(size, kernel, stride))
        outputs_kept &= _valid_output(size, kernel, stride, padding[axis]) == math.ceil(
            size / stride)
    return target, tuple(same), tuple(same) == padding, outputs_kept


def absorb_zero_padding(chain: Chain, exact_only: bool = True) -> None:
    """``ZeroPadding2D`` + 'valid' convolution -> 'same' convolution.

    Exact when TensorFlow's 'same' padding pads the same rows and columns. Otherwise, with
    ``exact_only`` (``sanitize``), a ValueError naming the layer; without it (``adapt``), the
    convolution gets 'same' padding anyway when its output shape is kept, recorded as a
    change of function.

    Arguments:
        chain: the chain being rewritten.
        exact_only: refuse rewrites that change the function.

    Raises:
        ValueError: a ZeroPadding2D that cannot be absorbed, naming it and the fix.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import absorb_zero_padding
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((8, 8, 3)),
        ...     keras.layers.ZeroPadding2D(1, name="pad"),
        ...     keras.layers.Conv2D(4, 3, name="conv")]), "sanitize")
        >>> absorb_zero_padding(chain)
        >>> chain.names(), chain.specs[0].config["padding"]
        (['conv'], 'same')
    """
    index = 0
    while index < len(chain.specs):
        spec = chain.specs[index]
        if spec.cls is not L.ZeroPadding2D:
            index += 1
            continue
        found = _padding_problem(chain, index)
        if isinstance(found, str):
            raise ValueError(f"{chain.caller}(): {found}")
        target, same, exact, outputs_kept = found
        padding = _pairs(spec.config["padding"])
        conv = chain.specs[target]
        if not exact and (exact_only or not outputs_kept):
            fix = ("adapt(model) gives the convolution 'same' padding instead (a change of "
                   "function: fine-tune after)" if outputs_kept else
                   "change the padding so that the convolution's output keeps its size")
            raise ValueError(
                f"{chain.caller}(): ZeroPadding2D '{spec.name}' pads {padding} (rows, columns) "
                f"before '{conv.name}', but TensorFlow's and Akida's 'same' padding would pad "
                f"{same}, so the two are not equivalent: {fix}.")
        chain.specs[target] = conv.replace(config={**conv.config, "padding": "same"})
        del chain.specs[index]
        if exact:
            chain.record(spec.name, f"removed; '{conv.name}' gets padding='same'",
                         f"'same' pads the same rows and columns {padding}, as Akida does")
        else:
            chain.record(spec.name, f"removed; '{conv.name}' gets padding='same'",
                         f"Akida pads only as 'same' does, which pads {same}, not {padding}",
                         exact=False)
        chain.refresh()


def normalize_reshapes(chain: Chain) -> None:
    """Reshape / Flatten normalized (exact): no-op ones removed, ``GlobalAveragePooling2D(
    keepdims=True)`` + Flatten / Reshape to (C,) merged, a flattening Reshape made a Flatten.

    Arguments:
        chain: the chain being rewritten.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import normalize_reshapes
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((4, 4, 3)),
        ...     keras.layers.GlobalAveragePooling2D(keepdims=True, name="gap"),
        ...     keras.layers.Reshape((3,), name="r"), keras.layers.Dense(2)]), "sanitize")
        >>> normalize_reshapes(chain)
        >>> chain.names()[:1], chain.specs[0].config["keepdims"]
        (['gap'], False)
    """
    index = 0
    while index < len(chain.specs):
        spec = chain.specs[index]
        role = chain.role(index)
        before, after = chain.input_dims(index), chain.output_dims(index)
        following = chain.following(index)
        if role in ("flatten", "reshape") and before == after:
            del chain.specs[index]
            chain.record(spec.name, "removed", f"it does not change the shape {before}")
        elif role == "global_pool" and spec.config.get("keepdims") and following is not None \
                and chain.role(following) in ("flatten", "reshape") \
                and len(chain.output_dims(following)) == 1:
            follower = chain.specs[following]
            chain.specs[index] = spec.replace(config={**spec.config, "keepdims": False})
            del chain.specs[following]
            chain.record(follower.name, f"removed; '{spec.name}' gets keepdims=False",
                         f"the pooling gives the flat {after[-1]} channels directly")
        elif role == "reshape" and len(before) == 3 and len(after) == 1 and before[:2] != (1, 1):
            chain.specs[index] = LayerSpec(L.Flatten, {"name": spec.name}, {},
                                           spec.input_shape)
            chain.record(spec.name, "Reshape replaced by Flatten",
                         f"it flattens {before} row-major, as Flatten does; Akida takes a "
                         "Flatten before a dense layer")
        else:
            index += 1
            continue
        chain.refresh()


def sanitize_chain(chain: Chain, exact_only: bool = True) -> None:
    """Runs every pass of ``sanitize`` on a chain (``adapt`` runs them with
    ``exact_only=False``).

    Arguments:
        chain: the chain being rewritten.
        exact_only: refuse the padding rewrites that change the function.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import sanitize_chain
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> chain = Chain(keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu"),
        ...     keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="dense")]),
        ...     "sanitize")
        >>> sanitize_chain(chain)
        >>> print(chain.changes)
        no change
    """
    remove_identities(chain)
    split_activations(chain)
    absorb_zero_padding(chain, exact_only)
    normalize_reshapes(chain)


def sanitize(model) -> Tuple[object, Changes]:
    """Rewrites a float model into an equivalent one that is closer to what Akida runs.

    Every rewrite keeps the model's outputs (up to float rounding): inference-time identities
    (Dropout...) are removed, activations become ReLU layers (ReLU6 and ``ReLU(max_value)``
    stay bounded), a ``ZeroPadding2D`` before a 'valid' convolution becomes 'same' padding when
    that pads the same rows and columns, and Reshape / Flatten before the classifier are
    normalized. Each rewrite is listed in ``changes``. Architecture changes that need
    fine-tuning are :func:`adapt`'s.

    Arguments:
        model: a single-branch Sequential or Functional model (tf_keras, or Keras 3: rebuilt);
            not modified.

    Returns:
        ``(new_model, changes)``: a new tf_keras model and a :class:`Changes` list of
        :class:`Change` records (layer, what, why).

    Raises:
        ValueError: a layer that cannot be rewritten exactly (e.g. a ZeroPadding2D that
            'same' padding does not reproduce), naming it and the fix.

    Example:
        >>> from cnn2snn_tfmot.rewriting.sanitizing import sanitize
        >>> from cnn2snn_tfmot import keras
        >>> clean, changes = sanitize(keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
        ...     keras.layers.Dropout(0.2, name="drop"), keras.layers.Flatten(name="flat"),
        ...     keras.layers.Dense(10, name="dense")]))
        >>> print(changes)
        - drop: removed (Dropout computes nothing at inference)
        - conv: fused activation 'relu' moved to the new layer 'conv_relu' (Akida activations \
are layers of their own)
    """
    chain = Chain(model, "sanitize")
    sanitize_chain(chain, exact_only=True)
    return chain.build(), chain.changes
