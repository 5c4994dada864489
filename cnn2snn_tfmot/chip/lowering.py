"""An Akida layer ready to run: its arithmetic in the orientation an emulator computes it.

BrainChip's runtime stores a layer's variables in its own conventions (docs/akida-v1.md section
5): Convolutional and SeparableConvolutional kernels flipped on both spatial axes (the chip
convolves, where TensorFlow and our kernels cross-correlate), InputConvolutional kernels not
flipped, FullyConnected rows in the order ``h + H*w + H*W*c`` (column-major over the input's
height, width and channels). :func:`lower` turns the layers of a model, once per state of the
model, into :class:`LoweredLayer` descriptions: kernels in cross-correlation orientation, dense
rows in NHWC order (``(h*W + w)*C + c``), pooling as a :class:`PoolSpec`, fire as a
:class:`FireSpec`, and the largest value the layer's input can take. Both emulator back-ends
run these descriptions (the TensorFlow graph of :mod:`cnn2snn_tfmot.engine.graph` and the
direct engine of :mod:`cnn2snn_tfmot.engine.direct`); the converter writes layer variables
through the inverse, :func:`set_kernels`. The orientation of each layer type is one row of one
table (:data:`ORIENTATIONS`).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.chip import Convolutional, InputData
    >>> from cnn2snn_tfmot.chip.lowering import lower, set_kernels
    >>> from cnn2snn_tfmot.akida import Model
    >>> model = Model()
    >>> model.add(InputData((4, 4, 1), input_bits=4))
    >>> model.add(Convolutional((1, 3), 1, weights_bits=4, activation=False))
    >>> layer = model.layers[1]
    >>> kernel = np.arange(3, dtype=np.int8).reshape(1, 3, 1, 1)  # cross-correlation
    >>> set_kernels(layer, kernel)
    >>> layer.get_variable("weights")[:, :, 0, 0].tolist()          # stored flipped
    [[2, 1, 0]]
    >>> lowered = lower(model.layers)[1]
    >>> lowered.kind, lowered.kernel[:, :, 0, 0].tolist(), lowered.input_max
    ('conv', [[0, 1, 2]], 15)
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.chip.enums import PoolType
from cnn2snn_tfmot.chip.limits import IMAGE_MAX

__all__ = ["PoolSpec", "FireSpec", "LoweredLayer", "Orientation", "ORIENTATIONS", "lower",
           "set_kernels", "runtime_dense_rows", "nhwc_dense_rows", "flip"]


@dataclasses.dataclass(frozen=True)
class PoolSpec:
    """Pooling of a block's potentials.

    Arguments:
        kind: "none", "max" or "global_sum" (Akida's global average pooling, which sums).
        size: (height, width) of the max-pooling window (ignored otherwise).
        stride: (height, width) stride of the max pooling (ignored otherwise).

    Example:
        >>> from cnn2snn_tfmot.chip.lowering import PoolSpec
        >>> PoolSpec("max", (2, 2), (2, 2))
        PoolSpec(kind='max', size=(2, 2), stride=(2, 2))
    """
    kind: str = "none"
    size: Tuple[int, int] = (1, 1)
    stride: Tuple[int, int] = (1, 1)


@dataclasses.dataclass(frozen=True, eq=False)
class FireSpec:
    """Fire parameters of a block: per-output-channel threshold and act_step, and act_bits.

    Arguments:
        threshold: int32 array of shape (F,).
        act_step: float32 array of shape (F,), each >= 1/16.
        act_bits: 1, 2 or 4.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.lowering import FireSpec
        >>> FireSpec(np.zeros(2, np.int32), np.ones(2, np.float32), 4).act_bits
        4
    """
    threshold: np.ndarray
    act_step: np.ndarray
    act_bits: int


@dataclasses.dataclass(frozen=True, eq=False)
class LoweredLayer:
    """One Akida layer as the emulator runs it (read-only arrays, made by :func:`lower`).

    Arguments:
        name: the layer's name.
        layer_type: the Akida layer type ("InputData", "InputConvolutional"...).
        kind: what the emulator computes: "input" (InputData passes its input on), "conv"
            (InputConvolutional and Convolutional), "separable" or "dense".
        input_dims: (height, width, channels) of the layer's input.
        output_dims: (height, width, channels) of its output.
        input_max: the largest value its input can take (255 for images, ``2**bits - 1``
            after a layer with ``bits`` activation bits or an InputData of ``bits`` bits).
        kernel: int8, cross-correlation orientation: (kh, kw, C, F) for "conv", the depthwise
            (kh, kw, C) for "separable", NHWC rows (H*W*C, U) for "dense"; None for "input".
        pointwise: int8 (C, F) pointwise kernel of "separable", else None.
        strides: (height, width) strides of the convolution.
        padding: "same" or "valid".
        padding_value: the value padded positions take (the input shift of an
            InputConvolutional; 0 elsewhere).
        pool: the pooling of the potentials.
        fire: the fire, or None for a layer without activation (int32 potentials out).

    Example:
        >>> from cnn2snn_tfmot.chip.lowering import LoweredLayer, PoolSpec
        >>> LoweredLayer("in", "InputData", "input", (2, 2, 1), (2, 2, 1), 15).kind
        'input'
    """
    name: str
    layer_type: str
    kind: str
    input_dims: Tuple[int, int, int]
    output_dims: Tuple[int, int, int]
    input_max: int
    kernel: Optional[np.ndarray] = None
    pointwise: Optional[np.ndarray] = None
    strides: Tuple[int, int] = (1, 1)
    padding: str = "valid"
    padding_value: int = 0
    pool: PoolSpec = PoolSpec()
    fire: Optional[FireSpec] = None

    @property
    def output_bits(self) -> Optional[int]:
        """The bits of the output levels (the input's bits for "input"), None for int32
        potentials (a layer without activation).

        Example:
            >>> from cnn2snn_tfmot.chip.lowering import LoweredLayer
            >>> LoweredLayer("in", "InputData", "input", (2, 2, 1), (2, 2, 1), 15).output_bits
            4
        """
        if self.kind == "input":
            return int(self.input_max).bit_length()
        return None if self.fire is None else self.fire.act_bits

    @property
    def output_max(self) -> int:
        """The largest value of the output (``2**act_bits - 1``), or of the input for "input".

        Example:
            >>> from cnn2snn_tfmot.chip.lowering import LoweredLayer
            >>> LoweredLayer("in", "InputData", "input", (2, 2, 1), (2, 2, 1), 15).output_max
            15
        """
        if self.kind == "input":
            return self.input_max
        return IMAGE_MAX if self.fire is None else 2 ** self.fire.act_bits - 1


# The two orientation rules, each written once with its inverse. ------------------------------

def flip(kernel: np.ndarray) -> np.ndarray:
    """A kernel flipped on both spatial axes (its own inverse): the runtime convolves.

    Arguments:
        kernel: an array whose first two axes are the kernel's height and width.

    Returns:
        The flipped kernel, C-contiguous.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.lowering import flip
        >>> flip(np.arange(4).reshape(2, 2)).tolist()
        [[3, 2], [1, 0]]
    """
    return np.ascontiguousarray(kernel[::-1, ::-1])


def nhwc_dense_rows(weights: np.ndarray, input_dims: Tuple[int, int, int]) -> np.ndarray:
    """FullyConnected weights (K, U) from the runtime's row order ``h + H*w + H*W*c`` to NHWC
    order ``(h*W + w)*C + c`` (the order of a Keras Flatten).

    Arguments:
        weights: (H*W*C, U) rows in the runtime's order.
        input_dims: (H, W, C) of the layer's input.

    Returns:
        (H*W*C, U) rows in NHWC order, C-contiguous.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.lowering import nhwc_dense_rows, runtime_dense_rows
        >>> rows = np.arange(12).reshape(12, 1)
        >>> np.array_equal(runtime_dense_rows(nhwc_dense_rows(rows, (2, 3, 2)), (2, 3, 2)), rows)
        True
    """
    height, width, channels = input_dims
    units = weights.shape[-1]
    return np.ascontiguousarray(weights.reshape(channels, width, height, units)
                                .transpose(2, 1, 0, 3).reshape(-1, units))


def runtime_dense_rows(weights: np.ndarray, input_dims: Tuple[int, int, int]) -> np.ndarray:
    """The inverse of :func:`nhwc_dense_rows`: NHWC rows (K, U) to the runtime's row order.

    Arguments:
        weights: (H*W*C, U) rows in NHWC order (a Keras Dense kernel after Flatten).
        input_dims: (H, W, C) of the layer's input.

    Returns:
        (H*W*C, U) rows in the runtime's order, C-contiguous.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.lowering import runtime_dense_rows
        >>> runtime_dense_rows(np.arange(4).reshape(4, 1), (1, 2, 2)).ravel().tolist()
        [0, 2, 1, 3]
    """
    height, width, channels = input_dims
    units = weights.shape[-1]
    return np.ascontiguousarray(weights.reshape(height, width, channels, units)
                                .transpose(2, 1, 0, 3).reshape(-1, units))


@dataclasses.dataclass(frozen=True)
class Orientation:
    """How one layer type's weight variables map to the kernels the emulator runs.

    Arguments:
        kind: the :attr:`LoweredLayer.kind` of the layer type.
        runnable: ``runnable(stored, input_dims) -> (kernel, pointwise)`` from the stored
            variables (a dict by variable name) to the emulator's kernels.
        stored: ``stored(kernel, pointwise, input_dims) -> {variable name: value}``, the
            inverse.

    Example:
        >>> from cnn2snn_tfmot.chip.lowering import ORIENTATIONS
        >>> ORIENTATIONS["SeparableConvolutional"].kind
        'separable'
    """
    kind: str
    runnable: Callable[[Dict[str, np.ndarray], Tuple[int, int, int]],
                       Tuple[Optional[np.ndarray], Optional[np.ndarray]]]
    stored: Callable[[np.ndarray, Optional[np.ndarray], Tuple[int, int, int]],
                     Dict[str, np.ndarray]]


#: Layer type -> its orientation: the only place that knows which kernels the runtime flips and
#: how it orders dense rows.
ORIENTATIONS: Dict[str, Orientation] = {
    "InputData": Orientation(
        "input", lambda stored, dims: (None, None), lambda kernel, pointwise, dims: {}),
    "InputConvolutional": Orientation(  # stored in cross-correlation orientation already
        "conv", lambda stored, dims: (np.ascontiguousarray(stored["weights"]), None),
        lambda kernel, pointwise, dims: {"weights": np.ascontiguousarray(kernel)}),
    "Convolutional": Orientation(
        "conv", lambda stored, dims: (flip(stored["weights"]), None),
        lambda kernel, pointwise, dims: {"weights": flip(kernel)}),
    "SeparableConvolutional": Orientation(
        "separable",
        lambda stored, dims: (flip(stored["weights"][:, :, :, 0]),
                              np.ascontiguousarray(stored["weights_pw"][0, 0])),
        lambda kernel, pointwise, dims: {
            "weights": flip(kernel)[:, :, :, None],
            "weights_pw": np.ascontiguousarray(pointwise)[None, None]}),
    "FullyConnected": Orientation(
        "dense", lambda stored, dims: (nhwc_dense_rows(stored["weights"][0, 0], dims), None),
        lambda kernel, pointwise, dims: {
            "weights": runtime_dense_rows(kernel, dims)[None, None]}),
}

_POOL_KINDS = {PoolType.NoPooling: "none", PoolType.Max: "max", PoolType.Average: "global_sum"}


def _readonly(array: Optional[np.ndarray]) -> Optional[np.ndarray]:
    if array is not None:
        array.setflags(write=False)
    return array


def _pool(parameters) -> PoolSpec:
    kind = _POOL_KINDS[parameters.pool_type]
    if kind == "max":
        return PoolSpec(kind, tuple(parameters.pool_size), tuple(parameters.pool_stride))
    return PoolSpec(kind)


def _lower_layer(layer, input_max: int) -> LoweredLayer:
    orientation = ORIENTATIONS[layer.layer_type]
    p = layer.parameters
    if orientation.kind == "input":
        return LoweredLayer(layer.name, layer.layer_type, "input", layer.input_dims,
                            layer.output_dims, 2 ** p.input_bits - 1)
    stored = {name: layer.variable(name) for name in layer.variables}
    kernel, pointwise = orientation.runnable(stored, layer.input_dims)
    fire = None
    if p.activation:
        fire = FireSpec(_readonly(np.array(stored["threshold"], np.int32)),
                        _readonly(np.array(stored["act_step"], np.float32)), p.act_bits)
    spatial = {}
    if orientation.kind != "dense":
        spatial = dict(strides=tuple(p.kernel_stride), padding=p.padding.tf_name,
                       padding_value=int(getattr(p, "padding_value", 0) or 0), pool=_pool(p))
    return LoweredLayer(layer.name, layer.layer_type, orientation.kind, layer.input_dims,
                        layer.output_dims, input_max, _readonly(kernel), _readonly(pointwise),
                        fire=fire, **spatial)


def lower(layers: Sequence) -> Tuple[LoweredLayer, ...]:
    """The layers of a model, in order, as the emulator runs them.

    Arguments:
        layers: the Akida layers of a model (``model.layers``), bound to their input shapes.

    Returns:
        One :class:`LoweredLayer` per layer (arrays are read-only copies: later changes to the
        model do not reach them).

    Raises:
        ValueError: a layer type without an orientation (the message lists the supported
            ones).

    Example:
        >>> from cnn2snn_tfmot.akida import Model
        >>> from cnn2snn_tfmot.chip import FullyConnected, InputData
        >>> from cnn2snn_tfmot.chip.lowering import lower
        >>> model = Model()
        >>> model.add(InputData((2, 2, 3), input_bits=2))
        >>> model.add(FullyConnected(5, weights_bits=4, activation=False))
        >>> [(layer.kind, layer.input_max) for layer in lower(model.layers)]
        [('input', 3), ('dense', 3)]
        >>> lower(model.layers)[1].kernel.shape
        (12, 5)
    """
    lowered = []
    input_max = IMAGE_MAX
    for layer in layers:
        if layer.layer_type not in ORIENTATIONS:
            raise ValueError(f"layer '{layer.name}' has type {layer.layer_type}; the emulator "
                             f"runs {sorted(ORIENTATIONS)}.")
        item = _lower_layer(layer, input_max)
        lowered.append(item)
        input_max = item.output_max
    return tuple(lowered)


def set_kernels(layer, kernel: np.ndarray, pointwise: Optional[np.ndarray] = None) -> None:
    """Sets a layer's weight variables from kernels in the emulator's orientation (the inverse
    of :func:`lower`): what the converter writes.

    Arguments:
        layer: an Akida layer already added to a model (its input shape is known).
        kernel: int8 kernel as :attr:`LoweredLayer.kernel` describes it.
        pointwise: int8 (C, F) pointwise kernel of a SeparableConvolutional layer, else None.

    Raises:
        ValueError / TypeError: a value the layer's variable refuses (dtype, shape, range);
            the message names the layer and the variable.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida import Model
        >>> from cnn2snn_tfmot.chip import FullyConnected, InputData
        >>> from cnn2snn_tfmot.chip.lowering import lower, set_kernels
        >>> model = Model()
        >>> model.add(InputData((1, 2, 2), input_bits=4))
        >>> model.add(FullyConnected(1, weights_bits=4, activation=False))
        >>> set_kernels(model.layers[1], np.array([[1], [2], [3], [4]], np.int8))
        >>> model.layers[1].get_variable("weights").ravel().tolist()   # runtime row order
        [1, 3, 2, 4]
        >>> lower(model.layers)[1].kernel.ravel().tolist()               # NHWC again
        [1, 2, 3, 4]
    """
    stored = ORIENTATIONS[layer.layer_type].stored(kernel, pointwise, layer.input_dims)
    for name, value in stored.items():
        layer.set_variable(name, value)
