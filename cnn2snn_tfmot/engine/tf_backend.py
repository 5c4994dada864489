"""The pure-TensorFlow back-end: the contract of :mod:`.backend` with stock TF ops, exact.

Exactness strategy (every choice is made once, at graph-build time, from the actual kernel):

* Convolutions and products run in floating point, because TF's integer support is partial
  (conv2d has an int32 CPU kernel, slower than float64; depthwise conv has none; int8 none). A
  float sum is exact while every partial sum stays below 2**24 (float32) or 2**53 (float64).
  With inputs <= 255, ``bound = 255 * max over filters of sum(|w|)`` bounds every partial sum in
  any summation order, so float32 is used when ``bound < 2**24`` and float64 otherwise. float32 is
  never used when a GPU is visible with TensorFloat-32 enabled (TF32 keeps 10 mantissa bits).
* Potentials are cast to int32 (exact integers). A convolution potential beyond the int32 range
  (only possible with ``bound >= 2**31``, i.e. absurd fan-ins) is an InvalidArgumentError, as in
  the compiled ops; FullyConnected sums are saturated to 20 bits from the exact int64 value.
* The fire compares ``16 * (P - threshold)`` with the integer step
  ``floor(16 * act_step) * 2**(4 - b)`` by a correctly rounded float division and a ceiling,
  exact for these integers (float32 or float64: :func:`fire_levels`); a DivNoNan, since Grappler
  may rewrite a division by a constant as a multiplication by the rounded reciprocal and flip
  ceilings.
* Saturation (measured on akida 2.19.3, see :mod:`cnn2snn_tfmot.chip.limits`): FullyConnected
  and pooled potentials saturate to [-2**19, 2**19 - 1]; global pooling is a row-major sequential
  saturating sum, computed here exactly with a log-depth tree of clamp compositions (or a plain
  sum when the bound proves no step can saturate).

Example:
    >>> from cnn2snn_tfmot.engine import tf_backend
    >>> tf_backend.name
    'tf'
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip.limits import IMAGE_MAX, POTENTIAL_MAX, POTENTIAL_MIN
from cnn2snn_tfmot.chip.shapes import out_size, pad_amounts
from cnn2snn_tfmot.engine.backend import (
    FireSpec,
    PoolSpec,
    check_fire,
    check_kernel,
    check_padding,
    check_pool,
)
from cnn2snn_tfmot.tfkeras import tf

name = "tf"

SAT_MIN, SAT_MAX = POTENTIAL_MIN, POTENTIAL_MAX
_INPUT_MAX = IMAGE_MAX
_FLOAT32_EXACT = 2 ** 24
_FLOAT64_EXACT = 2 ** 53
# Identity element of the clamp-composition tree: wider than any reachable partial sum.
_BIG = 2 ** 60


def conv_block(x, kernel: np.ndarray, *, strides: Tuple[int, int], padding: str,
               padding_value: int, pool: PoolSpec, fire: Optional[FireSpec]):
    """Convolution (cross-correlation, kernel int8 (kh, kw, C, F)), pooling, fire.

    Arguments:
        x: uint8 tensor (N, H, W, C) with static H, W, C.
        kernel: int8 numpy array (kh, kw, C, F), cross-correlation orientation.
        strides: (sh, sw).
        padding: "same" or "valid".
        padding_value: value of the padded pixels with "same" (0..255).
        pool: a :class:`PoolSpec`.
        fire: a :class:`FireSpec`, or None for int32 potentials.

    Returns:
        uint8 levels (N, H', W', F) when ``fire`` is given, else int32 potentials.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.engine.tf_backend import PoolSpec, conv_block
        >>> x = tf.constant(np.arange(2 * 4 * 4 * 2, dtype=np.uint8).reshape(2, 4, 4, 2))
        >>> conv_block(x, np.ones((3, 3, 2, 1), np.int8), strides=(1, 1), padding="same",
        ...            padding_value=0, pool=PoolSpec(), fire=None).shape
        TensorShape([2, 4, 4, 1])
    """
    kernel = check_kernel(kernel, 4, "kernel")
    check_padding(padding)
    bound = _INPUT_MAX * int(np.abs(kernel.astype(np.int64)).sum(axis=(0, 1, 2)).max(
        initial=0))
    dtype = exact_dtype(bound)
    y = conv2d(tf.cast(x, dtype), tf.constant(kernel, dtype), kernel.shape[:2], strides,
                padding, float(padding_value))
    return _pool_fire(_to_int32(y, bound), bound, padding, pool, fire)


def separable_block(x, depthwise: np.ndarray, pointwise: np.ndarray, *,
                    strides: Tuple[int, int], padding: str, pool: PoolSpec,
                    fire: Optional[FireSpec]):
    """Depthwise (int8 (kh, kw, C)) then pointwise (int8 (C, F)) convolution, exact, with zero
    padding, then pooling and fire.

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
        >>> from cnn2snn_tfmot.engine.tf_backend import PoolSpec, separable_block
        >>> x = tf.constant(np.arange(2 * 4 * 4 * 2, dtype=np.uint8).reshape(2, 4, 4, 2))
        >>> separable_block(x, np.ones((3, 3, 2), np.int8), np.ones((2, 4), np.int8),
        ...                 strides=(2, 2), padding="same", pool=PoolSpec(), fire=None).shape
        TensorShape([2, 2, 2, 4])
    """
    depthwise = check_kernel(depthwise, 3, "depthwise")
    pointwise = check_kernel(pointwise, 2, "pointwise")
    check_padding(padding)
    if pointwise.shape[0] != depthwise.shape[2]:
        raise ValueError(f"pointwise kernel has {pointwise.shape[0]} input channels, the "
                         f"depthwise kernel {depthwise.shape[2]}.")
    channel_bound = _INPUT_MAX * np.abs(depthwise.astype(np.int64)).sum(axis=(0, 1))
    dw_dtype = exact_dtype(int(channel_bound.max(initial=0)))
    bound = int((channel_bound[:, None] * np.abs(pointwise.astype(np.int64))).sum(axis=0).max(
        initial=0))
    pw_dtype = exact_dtype(bound)
    d = depthwise_conv2d(tf.cast(x, dw_dtype), tf.constant(depthwise[..., None], dw_dtype),
                         strides, padding)
    d = tf.cast(d, pw_dtype)  # exact: integers, and float64 holds every float32 integer
    y = conv2d(d, tf.constant(pointwise[None, None], pw_dtype), (1, 1), (1, 1), "valid", 0.0)
    return _pool_fire(_to_int32(y, bound), bound, padding, pool, fire)


def dense_block(x, weights: np.ndarray, *, fire: Optional[FireSpec]):
    """Dense product of x (uint8 (N, K), already in the runtime's order) with weights int8
    (K, U); potentials saturate to [-2**19, 2**19 - 1]; then fire.

    Arguments:
        x: uint8 tensor (N, K).
        weights: int8 numpy array (K, U).
        fire: a :class:`FireSpec`, or None for int32 potentials.

    Returns:
        uint8 levels (N, U) when ``fire`` is given, else int32 potentials (N, U).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.engine.tf_backend import dense_block
        >>> from cnn2snn_tfmot import tf
        >>> dense_block(tf.constant([[1, 2, 3]], tf.uint8), np.ones((3, 2), np.int8),
        ...             fire=None).numpy()
        array([[6, 6]], dtype=int32)
    """
    weights = check_kernel(weights, 2, "weights")
    bound = _INPUT_MAX * int(np.abs(weights.astype(np.int64)).sum(axis=0).max(initial=0))
    dtype = exact_dtype(bound)
    y = tf.matmul(tf.cast(x, dtype), tf.constant(weights, dtype))
    potentials = _saturated_int32(y, bound)
    return potentials if fire is None else fire_potentials(potentials, fire)


# -- exact arithmetic on tensors (shared with hardware-exact training) --------------------------
def depthwise_conv2d(x, kernel, strides: Tuple[int, int], padding: str):
    """Depthwise cross-correlation with any strides, TensorFlow's padding, zero padding.

    Exact when ``x`` and ``kernel`` hold integers and the dtype holds every partial sum (see
    :func:`exact_dtype`).

    Arguments:
        x: float tensor (N, H, W, C).
        kernel: float tensor (kh, kw, C, 1).
        strides: (sh, sw).
        padding: "same" or "valid".

    Returns:
        The (N, H', W', C) sums.

    Example:
        >>> from cnn2snn_tfmot.engine.tf_backend import depthwise_conv2d
        >>> from cnn2snn_tfmot import tf
        >>> depthwise_conv2d(tf.ones((1, 4, 4, 2)), tf.ones((3, 3, 2, 1)), (1, 2), "same").shape
        TensorShape([1, 4, 2, 2])
    """
    window = tuple(int(k) for k in kernel.shape[:2])
    if strides[0] == strides[1]:
        return tf.nn.depthwise_conv2d(x, kernel, [1, strides[0], strides[1], 1],
                                      padding.upper())
    # tf.nn.depthwise_conv2d needs equal strides: pad as the strided op would, convolve with
    # stride 1 and subsample.
    out_h, out_w = _out_hw(x, window, strides, padding)
    if padding == "same":
        x = _pad_same(x, window, strides, 0.0)
    d = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")
    return d[:, :(out_h - 1) * strides[0] + 1:strides[0],
             :(out_w - 1) * strides[1] + 1:strides[1], :]


def fire_levels(p, threshold, step16, act_bits: int):
    """The chip's fire: ``clip(ceil(16 * (P - threshold) / step16), 0, L)``, exactly.

    A correctly rounded float division and a ceiling, not an integer floor division (which
    TensorFlow runs as a scalar loop; the fire runs on every activation of hardware-exact
    training). With integers ``n = P - threshold`` and ``d = step16``, the quotient
    ``q = n / (d / 16)`` (the same real as ``16 n / d``; ``d / 16`` is exact) is an integer, or
    at least ``1 / d`` from one. Where ``0 < q <= L + 1 <= 16`` (elsewhere the clip decides, and
    rounding is monotonic) its rounding error is below ``16 * 2**-24 = 2**-20`` in float32 and
    far below in float64, so the ceiling is exact when ``d < 2**20`` (float32: every act_step
    that fits its register) or ``d < 2**49`` (float64). ``n`` is exact below 2**24 (float32) or
    2**53 (float64); a rounded larger ``n`` keeps ``|q| > 16`` and its sign. So: float32 for
    float32 potentials (exact integers) when every ``|threshold| < 2**24`` and ``d < 2**20``,
    float64 otherwise (a ``tf.cond`` on the (F,) registers). Clipped before the ceiling (the
    same result for integer bounds), so that no level is ``-0.0``. DivNoNan, not ``/``: Grappler
    turns a division by a constant into a multiplication by its rounded reciprocal.

    Arguments:
        p: potentials (..., F), integer values of any integer or float dtype.
        threshold: thresholds (F,), integer values.
        step16: steps in 1/16 units, ``floor(16 * act_step) * 2**(4 - b)`` (F,), >= 1.
        act_bits: 1, 2 or 4.

    Returns:
        float32 levels in [0, 2**act_bits - 1] (integer values).

    Example:
        >>> from cnn2snn_tfmot.engine.tf_backend import fire_levels
        >>> from cnn2snn_tfmot import tf
        >>> fire_levels(tf.constant([7], tf.int64), tf.constant([1], tf.int64),
        ...             tf.constant([8], tf.int64), 4).numpy()  # ceil(16 * 6 / 8)
        array([12.], dtype=float32)
    """
    threshold = tf.cast(threshold, tf.float64)
    step16 = tf.cast(step16, tf.float64)
    top = float(2 ** act_bits - 1)

    def fire(dtype):
        n = tf.cast(p, dtype) - tf.cast(threshold, dtype)
        q = tf.math.divide_no_nan(n, tf.cast(step16 / 16, dtype))
        return tf.cast(tf.math.ceil(tf.clip_by_value(q, 0.0, top)), tf.float32)

    if p.dtype != tf.float32:
        return fire(tf.float64)
    fits = tf.logical_and(tf.reduce_max(tf.abs(threshold)) < 2.0 ** 24,
                          tf.reduce_max(step16) < 2.0 ** 20)
    return tf.cond(fits, lambda: fire(tf.float32), lambda: fire(tf.float64))


def step16(act_step, act_bits: int):
    """The integer step of :func:`fire_levels` from float32 act_steps, as an int64 tensor.

    Arguments:
        act_step: float32 tensor (F,), each >= 1/16.
        act_bits: 1, 2 or 4.

    Returns:
        ``floor(16 * act_step) * 2**(4 - act_bits)``, int64.

    Example:
        >>> from cnn2snn_tfmot.engine.tf_backend import step16
        >>> from cnn2snn_tfmot import tf
        >>> step16(tf.constant([0.3]), 4).numpy()
        array([4])
    """
    # 16 * act_step is exact in float32 (a power-of-two scaling).
    return tf.cast(tf.floor(act_step * 16), tf.int64) * 2 ** (4 - act_bits)


# -- helpers -----------------------------------------------------------------------------------
def _float32_is_exact() -> bool:
    """False when a GPU may run float32 products in TensorFloat-32."""
    if not tf.config.list_logical_devices("GPU"):
        return True
    return not tf.config.experimental.tensor_float_32_execution_enabled()


def exact_dtype(bound: int):
    """The float dtype whose sums are exact for partial sums up to ``bound``.

    Arguments:
        bound: a bound of every partial sum's absolute value.

    Returns:
        tf.float32 below 2**24 (unless a GPU runs float32 in TensorFloat-32), tf.float64 below
        2**53.

    Raises:
        ValueError: beyond exact float64 arithmetic.

    Example:
        >>> from cnn2snn_tfmot.engine.tf_backend import exact_dtype
        >>> exact_dtype(255 * 127 * 27)
        tf.float32
    """
    if bound < _FLOAT32_EXACT and _float32_is_exact():
        return tf.float32
    if bound < _FLOAT64_EXACT:
        return tf.float64
    raise ValueError(f"potentials may reach {bound}, beyond exact float64 arithmetic; the "
                     f"kernel's fan-in is too large for an Akida layer.")


def _out_hw(x, window, strides, padding):
    return (out_size(int(x.shape[1]), window[0], strides[0], padding),
            out_size(int(x.shape[2]), window[1], strides[1], padding))


def conv2d(x, kernel, window, strides, padding: str, padding_value: float):
    """``tf.nn.conv2d`` with TF's 'same' convention but any padding value, avoiding a oneDNN
    defect.

    Arguments:
        x: float tensor (N, H, W, C).
        kernel: float tensor (kh, kw, C, F), cross-correlation orientation.
        window: (kh, kw).
        strides: (sh, sw).
        padding: "same" or "valid".
        padding_value: the value of the padded cells with "same".

    Returns:
        The (N, H', W', F) sums, exact for integers within the dtype's exact range.

    Example:
        >>> from cnn2snn_tfmot.engine.tf_backend import conv2d
        >>> from cnn2snn_tfmot import tf
        >>> conv2d(tf.ones((1, 3, 3, 1)), tf.ones((3, 3, 1, 1)), (3, 3), (1, 1), "same",
        ...        2.0).numpy()[0, 0, 0]  # 4 ones and 5 padded twos
        array([14.], dtype=float32)

    Measured on TF 2.21 (CPU, oneDNN): float32 conv2d is WRONG when the batch is > 1, the input
    has 1 channel, the output width is 1 and the width stride is > 1 (e.g. 9x3 input, 1x3 kernel,
    strides (1, 2), 'valid'); float64 (Eigen) is right. On an axis with a single output the
    stride is irrelevant, so that axis is padded explicitly, cropped to the window and convolved
    with stride 1, which sidesteps the defect for every shape.
    """
    out_h, out_w = _out_hw(x, window, strides, padding)
    strides = list(strides)
    if padding == "same" and (padding_value != 0 or out_h == 1 or out_w == 1):
        # TF pads with zeros only: pad explicitly (the input shift), then convolve 'valid'.
        x = _pad_same(x, window, strides, padding_value)
        padding = "valid"
    if out_h == 1:
        x, strides[0] = x[:, :window[0]], 1
    if out_w == 1:
        x, strides[1] = x[:, :, :window[1]], 1
    return tf.nn.conv2d(x, kernel, strides=[1, strides[0], strides[1], 1],
                        padding=padding.upper())


def _pad_same(x, window, strides, value: float):
    top, bottom = pad_amounts(int(x.shape[1]), window[0], strides[0], "same")
    left, right = pad_amounts(int(x.shape[2]), window[1], strides[1], "same")
    return tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=value)


def _to_int32(y, bound: int):
    """Exact float sums -> int32 potentials; a potential beyond int32 is an error, never wrapped
    (as the compiled ops: ``InvalidArgumentError``)."""
    if bound < 2 ** 31:
        return tf.cast(y, tf.int32)
    exact = tf.cast(y, tf.int64)
    fits = tf.logical_and(tf.reduce_max(exact) <= 2 ** 31 - 1, tf.reduce_min(exact) >= -2 ** 31)
    check = tf.debugging.Assert(fits, [
        "a convolution potential does not fit int32: the layer's fan-in x 255 x max|weight| is "
        "beyond what Akida accumulates"])
    with tf.control_dependencies([check]):
        return tf.cast(exact, tf.int32)


def _saturated_int32(y, bound: int):
    """Exact float sums -> potentials saturated to 20 bits, without an int32 detour."""
    if bound < 2 ** 31:
        return saturate(tf.cast(y, tf.int32))
    return tf.cast(tf.clip_by_value(tf.cast(y, tf.int64), SAT_MIN, SAT_MAX), tf.int32)


def saturate(p):
    """Clips potentials to the chip's signed 20-bit range.

    Arguments:
        p: integer potentials.

    Returns:
        ``clip(p, -2**19, 2**19 - 1)``.

    Example:
        >>> from cnn2snn_tfmot.engine.tf_backend import saturate
        >>> from cnn2snn_tfmot import tf
        >>> saturate(tf.constant([2 ** 20, -5])).numpy()
        array([524287,     -5], dtype=int32)
    """
    return tf.clip_by_value(p, SAT_MIN, SAT_MAX)


def _pool_fire(p, bound: int, padding: str, pool: PoolSpec, fire: Optional[FireSpec]):
    check_pool(pool)
    if pool.kind == "max":
        p = saturate(tf.nn.max_pool2d(p, ksize=list(pool.size), strides=list(pool.stride),
                                       padding=padding.upper()))
    elif pool.kind == "global_sum":
        p = saturating_global_sum(p, bound)
    return p if fire is None else fire_potentials(p, fire)


def saturating_global_sum(p, bound: int):
    """Row-major sequential 20-bit saturating sum of (N, H, W, F) over H x W -> (N, 1, 1, F).

    Arguments:
        p: integer potentials (N, H, W, F) (int32 or int64).
        bound: a bound of ``|p|``; when ``H * W * bound`` cannot saturate, a plain sum is used.

    Returns:
        int32 sums (N, 1, 1, F).

    Example:
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.engine.tf_backend import saturating_global_sum
        >>> p = tf.constant([[[[975360]], [[-960120]]]], tf.int64)  # H=2, W=1
        >>> saturating_global_sum(p, 2 ** 20).numpy().ravel()  # 524287 - 960120, not 15240
        array([-435833], dtype=int32)

    Each position applies ``a -> clip(a + P, MIN, MAX)``; maps of the form
    ``a -> clip(a + s, lo, hi)`` are closed under composition
    (``g2(g1(a)) = clip(a + s1 + s2, clip(lo1 + s2, lo2, hi2), clip(hi1 + s2, lo2, hi2))``),
    so the ordered fold is evaluated as a balanced tree of compositions, exactly, in int64.
    """
    height, width, filters = int(p.shape[1]), int(p.shape[2]), int(p.shape[3])
    count = height * width
    if bound * count <= SAT_MAX:
        return tf.reduce_sum(p, axis=[1, 2], keepdims=True)  # no step can saturate
    s = tf.reshape(tf.cast(p, tf.int64), [-1, count, filters])
    lo = tf.fill(tf.shape(s), tf.constant(SAT_MIN, tf.int64))
    hi = tf.fill(tf.shape(s), tf.constant(SAT_MAX, tf.int64))
    size = 1
    while size < count:
        size *= 2
    if size > count:  # pad at the end with identity maps, keeping the order
        extra = [[0, 0], [0, size - count], [0, 0]]
        s = tf.pad(s, extra)
        lo = tf.pad(lo, extra, constant_values=-_BIG)
        hi = tf.pad(hi, extra, constant_values=_BIG)
    while size > 1:
        size //= 2
        s = tf.reshape(s, [-1, size, 2, filters])
        lo = tf.reshape(lo, [-1, size, 2, filters])
        hi = tf.reshape(hi, [-1, size, 2, filters])
        s1, s2 = s[:, :, 0], s[:, :, 1]
        lo1, lo2 = lo[:, :, 0], lo[:, :, 1]
        hi1, hi2 = hi[:, :, 0], hi[:, :, 1]
        s = s1 + s2
        lo = tf.minimum(tf.maximum(lo1 + s2, lo2), hi2)
        hi = tf.minimum(tf.maximum(hi1 + s2, lo2), hi2)
    total = tf.minimum(tf.maximum(s, lo), hi)  # the composed map applied to 0
    return tf.reshape(tf.cast(total, tf.int32), [-1, 1, 1, filters])


def fire_steps(fire: FireSpec) -> np.ndarray:
    """Integer step of each channel, in 1/16 units: ``floor(16 * act_step) * 2**(4 - b)``.

    Arguments:
        fire: a :class:`FireSpec`.

    Returns:
        int64 numpy array (F,), every value >= 1.

    Raises:
        ValueError: act_bits not in (1, 2, 4), or an act_step below 1/16 or not finite.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.engine.tf_backend import FireSpec, fire_steps
        >>> fire_steps(FireSpec(np.zeros(1, np.int32), np.array([0.3], np.float32), 4)).tolist()
        [4]
    """
    act_step = check_fire(fire, np.asarray(fire.act_step).size)[1].astype(np.float64)
    # 16 * act_step is exact in float64 (a power-of-two scaling of a float32).
    return np.floor(act_step * 16).astype(np.int64) * 2 ** (4 - fire.act_bits)


def fire_potentials(p, fire: FireSpec):
    """Fires int32 potentials (N, ..., F) into uint8 levels, in plain TensorFlow (the
    standalone fire the probe uses, and the fire of every block).

    Arguments:
        p: int32 tensor, channels last.
        fire: the FireSpec of the layer.

    Returns:
        uint8 levels, shaped like ``p``.
    """
    threshold, _ = check_fire(fire, int(p.shape[-1]))
    levels = fire_levels(tf.cast(p, tf.int64), tf.constant(threshold.astype(np.int64)),
                         tf.constant(fire_steps(fire)), fire.act_bits)
    return tf.cast(levels, tf.uint8)
