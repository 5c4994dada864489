"""The contract between the emulator's graph builder and its two arithmetic back-ends.

An Akida layer is evaluated as one *block*: integer convolution (or separable convolution, or
dense product) -> optional pooling of the potentials -> optional fire. ``tf_backend`` composes
plain TensorFlow ops; ``custom_backend`` calls the compiled ops of ``custom_ops/`` and may fuse
the whole block. Both must give bit-identical results for every input; the definition they
implement is docs/akida-v1.md section 5 (copied into the docstrings below).

Conventions shared by both back-ends:

* Activations are ``uint8`` NHWC tensors (image pixels, sparse events or levels).
* Kernels are given in *cross-correlation* orientation (Keras orientation, as ``tf.nn.conv2d``
  uses them), as ``int8`` tensors: those of :class:`cnn2snn_tfmot.chip.lowering.LoweredLayer`
  (the Akida model stores Convolutional / Separable kernels flipped as the runtime does; the
  lowering un-flips them once).
* Potentials are exact ``int32`` sums. FullyConnected potentials saturate to the signed 20-bit
  range ``[-2**19, 2**19 - 1]`` after exact summation; unpooled convolutional ones do not
  saturate (measured up to 7.6e8 on akida 2.19.3), POOLED ones do (below).
* Padding follows TensorFlow: ``pad_total = max((out - 1) * stride + k - in, 0)``, top/left get
  ``pad_total // 2``. Convolutions pad with ``padding_value`` (the input shift, InputConvolutional
  only; 0 elsewhere).
* Max pooling acts on potentials with the block's padding mode (padded positions never win, as
  TF's max_pool) and its result saturates to the 20-bit range. "global_sum" (Akida's global
  average pooling, which does not divide) is a SEQUENTIAL SATURATING sum over H x W in row-major
  order (h outer, w inner): ``acc = 0; acc = clip(acc + P[h, w], -2**19, 2**19 - 1)`` at each
  position, so the order matters once a partial sum saturates (measured on akida 2.19.3:
  potentials +975360 then -960120 give -435833; a plain clipped sum would give 15240).
* Fire, with ``b = act_bits`` in {1, 2, 4}::

      step16 = floor(act_step * 16) * 2**(4 - b)          # integer, > 0
      level  = clip(ceil(16 * (P - threshold) / step16), 0, 2**b - 1)

  computed in integers (int64 for ``16 * (P - threshold)``) with an exact ceiling division.
"""
from __future__ import annotations

from typing import Optional, Protocol, Tuple

import numpy as np

from cnn2snn_tfmot.chip.limits import ACT_BITS, ACT_STEP_MIN
from cnn2snn_tfmot.chip.lowering import FireSpec, PoolSpec

PADDINGS = ("same", "valid")
POOL_KINDS = ("none", "max", "global_sum")


class Backend(Protocol):
    """What a back-end module provides (``tf_backend`` and ``custom_backend``).

    Each function returns uint8 levels when ``fire`` is given, else int32 potentials.
    All arguments except ``x`` are Python / numpy values known when the graph is built.
    """

    name: str

    def conv_block(self, x, kernel: np.ndarray, *, strides: Tuple[int, int], padding: str,
                   padding_value: int, pool: PoolSpec, fire: Optional[FireSpec]):
        """Convolution (kernel int8 (kh, kw, C, F), cross-correlation), pooling, fire."""

    def separable_block(self, x, depthwise: np.ndarray, pointwise: np.ndarray, *,
                        strides: Tuple[int, int], padding: str, pool: PoolSpec,
                        fire: Optional[FireSpec]):
        """Depthwise (int8 (kh, kw, C)) then pointwise (int8 (C, F)), exact, pooling, fire."""

    def dense_block(self, x, weights: np.ndarray, *, fire: Optional[FireSpec]):
        """x uint8 (N, K), already flattened in the runtime's order; weights int8 (K, U)."""

    def fire_potentials(self, potentials, fire: FireSpec):
        """int32 potentials (N, ..., F) -> uint8 levels (the fire of the blocks, standalone)."""


# Argument checks shared by the back-ends: one definition of what the contract accepts. -------

def check_kernel(kernel, rank: int, what: str) -> np.ndarray:
    """Returns ``kernel`` (C-contiguous) if it is an int8 numpy array of ``rank``, else raises.

    Arguments:
        kernel: the weights given to a block function.
        rank: the expected number of dimensions.
        what: the argument's name, for the message.

    Returns:
        The kernel as a C-contiguous int8 array.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.engine.backend import check_kernel
        >>> check_kernel(np.zeros((3, 3, 1, 2), np.int8), 4, "kernel").shape
        (3, 3, 1, 2)
    """
    if not isinstance(kernel, np.ndarray) or kernel.dtype != np.int8 or kernel.ndim != rank:
        raise TypeError(f"{what} must be an int8 numpy array of rank {rank}, got "
                        f"{getattr(kernel, 'dtype', type(kernel))} "
                        f"{getattr(kernel, 'shape', '')}.")
    return np.ascontiguousarray(kernel)


def check_padding(padding: str) -> None:
    """Raises unless ``padding`` is "same" or "valid"."""
    if padding not in PADDINGS:
        raise ValueError(f"padding must be one of {PADDINGS}, got {padding!r}.")


def check_pool(pool: PoolSpec) -> None:
    """Raises unless ``pool.kind`` is "none", "max" or "global_sum"."""
    if pool.kind not in POOL_KINDS:
        raise ValueError(f"pool.kind must be one of {POOL_KINDS}, got {pool.kind!r}.")


def check_fire(fire: FireSpec, filters: int) -> Tuple[np.ndarray, np.ndarray]:
    """Validates a FireSpec for ``filters`` output channels.

    Arguments:
        fire: the FireSpec.
        filters: the block's number of output channels.

    Returns:
        ``(threshold int32 (F,), act_step float32 (F,))``.

    Raises:
        ValueError: act_bits not in (1, 2, 4), a threshold that is not int32 (F,), an act_step
            not of shape (F,), not finite or below 1/16.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.engine.backend import FireSpec, check_fire
        >>> check_fire(FireSpec(np.zeros(2, np.int32), np.ones(2, np.float32), 4), 2)[1]
        array([1., 1.], dtype=float32)
    """
    if fire.act_bits not in ACT_BITS:
        raise ValueError(f"act_bits must be one of {ACT_BITS}, got {fire.act_bits!r}.")
    threshold = np.asarray(fire.threshold)
    act_step = np.asarray(fire.act_step, dtype=np.float32)
    if threshold.dtype != np.int32 or threshold.shape != (filters,):
        raise ValueError(f"threshold must be int32 of shape ({filters},), got "
                         f"{threshold.dtype} {threshold.shape}.")
    if act_step.shape != (filters,):
        raise ValueError(f"act_step must have shape ({filters},), got {act_step.shape}.")
    if not np.all(np.isfinite(act_step)) or np.any(act_step < ACT_STEP_MIN):
        raise ValueError(f"act_step must be finite and >= 1/16, got {act_step}.")
    return threshold, act_step
