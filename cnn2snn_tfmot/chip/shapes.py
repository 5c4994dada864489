"""Spatial size arithmetic shared by the Akida layers and the engine.

The runtime follows TensorFlow's conventions exactly (measured on odd and even sizes, strides 1-3,
kernel and pool windows 1-3, for both the convolution and the max pooling): 'same' gives
``ceil(n / stride)`` outputs and pads ``pad_total = max((out - 1) * stride + k - n, 0)``, the
top/left side getting ``pad_total // 2``; 'valid' gives ``ceil((n - k + 1) / stride)`` outputs.
Max pooling ignores padded positions (TensorFlow's -inf padding), measured with negative
potentials.
"""
from __future__ import annotations

from typing import Tuple


def out_size(size: int, window: int, stride: int, padding: str) -> int:
    """Number of outputs along one axis ("same" or "valid"); <= 0 means the window does not fit.

    Example:
        >>> from cnn2snn_tfmot.chip.shapes import out_size
        >>> out_size(7, 3, 2, "same"), out_size(7, 3, 2, "valid")
        (4, 3)
    """
    if padding == "same":
        return -(-size // stride)
    return -(-(size - window + 1) // stride)


def pad_amounts(size: int, window: int, stride: int, padding: str) -> Tuple[int, int]:
    """(before, after) padding along one axis, TensorFlow's convention.

    Example:
        >>> from cnn2snn_tfmot.chip.shapes import pad_amounts
        >>> pad_amounts(8, 3, 2, "same")
        (0, 1)
    """
    if padding != "same":
        return (0, 0)
    total = max((out_size(size, window, stride, padding) - 1) * stride + window - size, 0)
    return (total // 2, total - total // 2)
