"""Validation of layer constructor arguments, and the read-only ``Parameters`` bag.

Each checker returns the normalised value (Python ints, tuples, enums) or raises a ValueError
(TypeError for a wrong type) whose message starts with ``what`` (e.g. "Convolutional layer
'conv1': parameter 'kernel_size'") and says which values are valid.
"""
from __future__ import annotations

import numbers
from typing import Iterable, Optional

import numpy as np

from cnn2snn_tfmot.chip.enums import Padding, PoolType


class Parameters:
    """Read-only parameters of a layer: ``layer.parameters.kernel_size`` etc.

    Example:
        >>> from cnn2snn_tfmot.chip.params import Parameters
        >>> p = Parameters(layer_type="FullyConnected", units=10)
        >>> p.units
        10
    """

    def __init__(self, **values):
        object.__setattr__(self, "_values", dict(values))

    def __getattr__(self, name):
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        raise AttributeError(f"{values.get('layer_type', 'layer')} has no parameter {name!r}; "
                             f"its parameters are: {', '.join(sorted(values))}")

    def __setattr__(self, name, value):
        raise AttributeError("layer parameters are fixed at construction: create a new layer "
                             "with the parameters you want")

    def __dir__(self):
        return sorted(object.__getattribute__(self, "_values"))

    def __eq__(self, other):
        return isinstance(other, Parameters) and self.to_dict() == other.to_dict()

    def __repr__(self):
        items = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"Parameters({items})"

    def keys(self):
        """Names of the parameters, in constructor order."""
        return list(object.__getattribute__(self, "_values"))

    def to_dict(self) -> dict:
        """JSON-friendly copy: enums become their member name, tuples become lists."""
        out = {}
        for key, value in object.__getattribute__(self, "_values").items():
            if isinstance(value, (Padding, PoolType)):
                value = value.name
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        return out


def layer_prefix(layer_type: str, name) -> str:
    """How messages name a layer: "Convolutional layer 'conv1'" (or without the name if unset).

    Example:
        >>> from cnn2snn_tfmot.chip.params import layer_prefix
        >>> layer_prefix("FullyConnected", "head")
        "FullyConnected layer 'head'"
    """
    return f"{layer_type} layer {name!r}" if isinstance(name, str) and name else \
        f"{layer_type} layer"


def check_int(value, what: str, *, low: Optional[int] = None, high: Optional[int] = None,
              choices: Optional[Iterable[int]] = None) -> int:
    """An integer (Python or numpy, not bool) within [low, high] or among ``choices``.

    Example:
        >>> from cnn2snn_tfmot.chip.params import check_int
        >>> check_int(4, "act_bits", choices=(1, 2, 4))
        4
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{what} must be an integer, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if choices is not None:
        choices = tuple(choices)
        if value not in choices:
            raise ValueError(f"{what} must be one of {_fmt_choices(choices)}, got {value}.")
    if low is not None and value < low:
        raise ValueError(f"{what} must be >= {low}" +
                         (f" and <= {high}" if high is not None else "") + f", got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{what} must be <= {high}" +
                         (f" and >= {low}" if low is not None else "") + f", got {value}.")
    return value


def check_pair(value, what: str, *, low: Optional[int] = None, odd: bool = False,
               allow_unset: bool = False) -> tuple:
    """Two integers (an int is repeated) >= ``low``; ``odd`` requires odd values;
    ``allow_unset`` also accepts the runtime's "unset" value (-1, -1).

    Example:
        >>> from cnn2snn_tfmot.chip.params import check_pair
        >>> check_pair(3, "kernel_size", low=1, odd=True)
        (3, 3)
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = (value, value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{what} must be an integer or a pair of integers, got {value!r}.")
    pair = tuple(check_int(v, what) for v in value)
    if allow_unset and pair == (-1, -1):
        return pair
    for v in pair:
        if low is not None and v < low:
            raise ValueError(f"{what} must contain integers >= {low}, got {pair}.")
        if odd and v % 2 == 0:
            raise ValueError(f"{what} must contain odd integers (the runtime only supports "
                             f"odd kernel sizes), got {pair}.")
    return pair


def check_bool(value, what: str) -> bool:
    """A bool (Python or numpy).

    Example:
        >>> from cnn2snn_tfmot.chip.params import check_bool
        >>> check_bool(True, "activation")
        True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{what} must be True or False, got {value!r}.")
    return bool(value)


def check_shape3(value, what: str) -> tuple:
    """A 3D shape (height, width, channels) of positive integers.

    Example:
        >>> from cnn2snn_tfmot.chip.params import check_shape3
        >>> check_shape3([28, 28, 1], "input_shape")
        (28, 28, 1)
    """
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise TypeError(f"{what} must be a 3D shape (height, width, channels), got {value!r}.")
    shape = tuple(check_int(v, what) for v in value)
    if min(shape) < 1:
        raise ValueError(f"{what} must contain positive integers, got {shape}.")
    return shape


def check_name(value, what: str) -> str:
    """A layer name: a string ('' lets the model choose one).

    Example:
        >>> from cnn2snn_tfmot.chip.params import check_name
        >>> check_name("conv1", "name")
        'conv1'
    """
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, got {value!r}.")
    if any(ord(c) < 32 for c in value):
        raise ValueError(f"{what} must not contain control characters, got {value!r}.")
    return value


def check_pooling(pool_type, pool_size, pool_stride, prefix: str) -> tuple:
    """Validates pooling parameters like the runtime: returns (pool_type, pool_size, pool_stride).

    With ``PoolType.Max`` the size must be positive and a stride of (-1, -1) becomes the size (the
    runtime's default); a stride larger than the size is refused. With ``NoPooling`` and
    ``Average`` (global pooling) both must be (-1, -1).

    Example:
        >>> from cnn2snn_tfmot.chip.params import check_pooling
        >>> check_pooling("max", (2, 2), (-1, -1), "layer")
        (<PoolType.Max: 1>, (2, 2), (2, 2))
    """
    pool_type = PoolType.coerce(pool_type, f"{prefix}: parameter 'pool_type'")
    size = check_pair(pool_size, f"{prefix}: parameter 'pool_size'", allow_unset=True)
    stride = check_pair(pool_stride, f"{prefix}: parameter 'pool_stride'", allow_unset=True)
    if pool_type is PoolType.Max:
        if min(size) < 1:
            raise ValueError(f"{prefix}: parameter 'pool_size' must be positive with "
                             f"PoolType.Max, got {size}.")
        if stride == (-1, -1):
            stride = size
        if min(stride) < 1:
            raise ValueError(f"{prefix}: parameter 'pool_stride' must be positive, or (-1, -1) "
                             f"for 'equal to pool_size', got {stride}.")
        if stride[0] > size[0] or stride[1] > size[1]:
            raise ValueError(f"{prefix}: parameter 'pool_stride' {stride} cannot be larger than "
                             f"pool_size {size}.")
        return pool_type, size, stride
    for pname, pair in (("pool_size", size), ("pool_stride", stride)):
        if pair != (-1, -1):
            raise ValueError(f"{prefix}: parameter '{pname}' must be (-1, -1) with "
                             f"PoolType.{pool_type.name} (only PoolType.Max uses a window; "
                             f"PoolType.Average pools the whole map), got {pair}.")
    return pool_type, size, stride


def _fmt_choices(choices) -> str:
    return ", ".join(str(c) for c in choices)
