"""The compiled back-end: the contract of :mod:`.backend` with the fused ops of ``custom_ops/``.

Each block is one op (convolution or product, pooling and fire fused, so potentials never leave
the cache); see ``custom_ops/README.md``. The ops compute in exact integer arithmetic (int32
lanes, proven wide enough from the kernel before use, else int64), so no float rounding can
occur. Numpy parameters become graph constants once, when the caller traces its ``tf.function``.

The parameters are validated here, at build time, with the same errors as the pure-TF back-end
(TypeError / ValueError naming the argument); the ops validate their inputs again at run time
(InvalidArgumentError).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot import tf
    >>> from cnn2snn_tfmot.engine import custom_backend
    >>> x = tf.constant([[1, 2, 3]], tf.uint8)
    >>> custom_backend.dense_block(x, np.ones((3, 2), np.int8), fire=None).numpy()
    array([[6, 6]], dtype=int32)
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.engine.backend import (
    FireSpec,
    PoolSpec,
    check_fire,
    check_kernel,
    check_padding,
    check_pool,
)
from cnn2snn_tfmot.tfkeras import tf

name = "custom"


def conv_block(x, kernel: np.ndarray, *, strides: Tuple[int, int], padding: str,
               padding_value: int, pool: PoolSpec, fire: Optional[FireSpec]):
    """Convolution (cross-correlation, kernel int8 (kh, kw, C, F)), pooling, fire, as one op.

    Arguments:
        x: uint8 tensor (N, H, W, C).
        kernel: int8 numpy array (kh, kw, C, F), cross-correlation orientation.
        strides: (sh, sw).
        padding: "same" or "valid".
        padding_value: level of the padded pixels with "same" (0..255).
        pool: a :class:`PoolSpec`.
        fire: a :class:`FireSpec`, or None for int32 potentials.

    Returns:
        uint8 levels (N, H', W', F) when ``fire`` is given, else int32 potentials.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.engine.custom_backend import PoolSpec, conv_block
        >>> x = tf.constant(np.arange(2 * 4 * 4 * 2, dtype=np.uint8).reshape(2, 4, 4, 2))
        >>> conv_block(x, np.ones((3, 3, 2, 1), np.int8), strides=(1, 1), padding="same",
        ...            padding_value=0, pool=PoolSpec("max", (2, 2), (2, 2)), fire=None).shape
        TensorShape([2, 2, 2, 1])
    """
    kernel = check_kernel(kernel, 4, "kernel")
    if not 0 <= int(padding_value) <= 255:
        raise ValueError(f"padding_value must be in [0, 255], got {padding_value!r}.")
    attrs = _block_attrs(strides, padding, pool)
    lib = ops.load_library()
    if fire is None:
        return lib.cnn2snn_tfmot_akida_conv(x, tf.constant(kernel),
                                            padding_value=int(padding_value), **attrs)
    threshold, act_step = _fire_constants(fire, kernel.shape[3])
    return lib.cnn2snn_tfmot_akida_conv_fire(x, tf.constant(kernel), threshold, act_step,
                               padding_value=int(padding_value), act_bits=fire.act_bits,
                               **attrs)


def separable_block(x, depthwise: np.ndarray, pointwise: np.ndarray, *,
                    strides: Tuple[int, int], padding: str, pool: PoolSpec,
                    fire: Optional[FireSpec]):
    """Depthwise (int8 (kh, kw, C)) then pointwise (int8 (C, F)), exact, zero padding, then
    pooling and fire, as one op.

    Arguments:
        x: uint8 tensor (N, H, W, C).
        depthwise: int8 numpy array (kh, kw, C), cross-correlation orientation.
        pointwise: int8 numpy array (C, F).
        strides: depthwise strides (sh, sw).
        padding: "same" or "valid".
        pool: a :class:`PoolSpec`.
        fire: a :class:`FireSpec`, or None for int32 potentials.

    Returns:
        uint8 levels when ``fire`` is given, else int32 potentials.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.engine.custom_backend import PoolSpec, separable_block
        >>> x = tf.constant(np.arange(2 * 4 * 4 * 2, dtype=np.uint8).reshape(2, 4, 4, 2))
        >>> separable_block(x, np.ones((3, 3, 2), np.int8), np.ones((2, 4), np.int8),
        ...                 strides=(1, 1), padding="valid", pool=PoolSpec(), fire=None).shape
        TensorShape([2, 2, 2, 4])
    """
    depthwise = check_kernel(depthwise, 3, "depthwise")
    pointwise = check_kernel(pointwise, 2, "pointwise")
    if pointwise.shape[0] != depthwise.shape[2]:
        raise ValueError(f"pointwise kernel has {pointwise.shape[0]} input channels, the "
                         f"depthwise kernel {depthwise.shape[2]}.")
    attrs = _block_attrs(strides, padding, pool)
    lib = ops.load_library()
    dw, pw = tf.constant(depthwise), tf.constant(pointwise)
    if fire is None:
        return lib.cnn2snn_tfmot_akida_separable(x, dw, pw, **attrs)
    threshold, act_step = _fire_constants(fire, pointwise.shape[1])
    return lib.cnn2snn_tfmot_akida_separable_fire(x, dw, pw, threshold, act_step,
                                                  act_bits=fire.act_bits,
                                    **attrs)


def dense_block(x, weights: np.ndarray, *, fire: Optional[FireSpec]):
    """Dense product of x (uint8 (N, K), already in the runtime's order) with weights int8
    (K, U), saturated to [-2**19, 2**19 - 1], then fire, as one op.

    Arguments:
        x: uint8 tensor (N, K).
        weights: int8 numpy array (K, U).
        fire: a :class:`FireSpec`, or None for int32 potentials.

    Returns:
        uint8 levels (N, U) when ``fire`` is given, else int32 potentials (N, U).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.engine.custom_backend import FireSpec, dense_block
        >>> x = tf.constant([[1, 2, 3]], tf.uint8)
        >>> dense_block(x, np.ones((3, 2), np.int8), fire=FireSpec(
        ...     np.zeros(2, np.int32), np.full(2, 0.5, np.float32), 4)).numpy()  # ceil(6 / 0.5)
        array([[12, 12]], dtype=uint8)
    """
    weights = check_kernel(weights, 2, "weights")
    lib = ops.load_library()
    if fire is None:
        return lib.cnn2snn_tfmot_akida_dense(x, tf.constant(weights))
    threshold, act_step = _fire_constants(fire, weights.shape[1])
    return lib.cnn2snn_tfmot_akida_dense_fire(x, tf.constant(weights), threshold, act_step,
                                act_bits=fire.act_bits)


# -- helpers -----------------------------------------------------------------------------------
def _pair(value, what: str) -> list:
    pair = [int(v) for v in value]
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{what} must be two positive integers, got {value!r}.")
    return pair


def _block_attrs(strides, padding: str, pool: PoolSpec) -> dict:
    check_padding(padding)
    check_pool(pool)
    attrs = {"strides": _pair(strides, "strides"), "padding": padding.upper(),
             "pool_type": pool.kind}
    if pool.kind == "max":
        attrs["pool_size"] = _pair(pool.size, "pool.size")
        attrs["pool_strides"] = _pair(pool.stride, "pool.stride")
    return attrs


def _fire_constants(fire: FireSpec, filters: int):
    """threshold and act_step as graph constants, checked as the op would at run time."""
    threshold, act_step = check_fire(fire, filters)
    return tf.constant(threshold), tf.constant(act_step)


def fire_potentials(potentials, fire: FireSpec):
    """Fires int32 potentials (N, ..., F) into uint8 levels with the compiled ``AkidaFire`` op
    (the standalone fire the probe uses; the blocks fuse it).

    Arguments:
        potentials: int32 tensor, channels last.
        fire: the FireSpec of the layer.

    Returns:
        uint8 levels, shaped like ``potentials``.
    """
    threshold, act_step = _fire_constants(fire, int(potentials.shape[-1]))
    return ops.load_library().cnn2snn_tfmot_akida_fire(
        potentials, threshold, act_step, act_bits=fire.act_bits)
