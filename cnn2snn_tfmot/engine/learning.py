"""Edge learning in the compiled library: the AkidaUnsupervised rule at the emulator's speed.

The rule is defined once, as a NumPy loop, in :func:`cnn2snn_tfmot.chip.learning.learn` (measured
against BrainChip's runtime). The op library exports the same rule as a plain C entry point
(``custom_ops/learning_api.h``): :func:`learn` calls it through ctypes, with the same arguments
and bit-identical results (weights, learning thresholds, swap budgets, potentials and round-robin
register; tests/test_learning_engine.py checks it over random layers). Its potentials add only
the weight rows of the active inputs, and a learning step costs the winner's connections plus
the active inputs instead of a walk down its weight column.

:func:`learning_rule` is what ``Model.fit`` uses: this compiled rule when the op library loads,
else the NumPy loop. ``CNN2SNN_TFMOT_COMPILED_LEARNING=0`` keeps ``fit`` on the NumPy loop (read
at every call: benchmarks/edge_learning.py times both in one process).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.chip.learning import AkidaUnsupervised
    >>> from cnn2snn_tfmot.engine.learning import learn
    >>> w = np.zeros((6, 2), np.uint8); w[[0, 1], 0] = 1; w[[2, 3], 1] = 1
    >>> thl, ts = np.zeros(2, np.int64), np.full(2, 2, np.int64)
    >>> spikes = np.array([[1, 0, 0, 0, 1, 1]], bool)
    >>> learn(w, spikes, None, thl, ts, 0, AkidaUnsupervised(2))
    (array([[1, 0]]), 2)
    >>> w[:, 0].tolist(), thl.tolist(), ts.tolist()
    ([1, 0, 0, 0, 0, 1], [1, 0], [1, 2])
"""
from __future__ import annotations

import ctypes
import os
from typing import Callable, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip import learning as reference
from cnn2snn_tfmot.chip.learning import AkidaUnsupervised
from cnn2snn_tfmot.engine import ops

__all__ = ["learn", "learning_rule", "is_enabled", "COMPILED_LEARNING_ENV_VAR"]

#: Environment variable that, set to "0", keeps ``Model.fit`` on the NumPy rule.
COMPILED_LEARNING_ENV_VAR = "CNN2SNN_TFMOT_COMPILED_LEARNING"

_ERROR_BYTES = 256
_P = ctypes.c_void_p
_I64 = ctypes.c_int64


def _entry_point():
    """``cnn2snn_tfmot_learn`` of the op library (raises OpLibraryUnavailable, with the
    reason, when the library does not load or predates the entry point)."""
    return ops.c_function("cnn2snn_tfmot_learn", ctypes.c_int32,
                          [_P, _I64, _I64, _P, _I64, _P, _I64, _P, _P, ctypes.POINTER(_I64),
                           _I64, _I64, _I64, _P, ctypes.c_char_p, _I64])


def _working(array: np.ndarray, dtype) -> np.ndarray:
    """``array`` itself when the C code can write it in place, else a contiguous copy."""
    return np.ascontiguousarray(array, dtype=dtype)


def learn(weights: np.ndarray, spikes: np.ndarray, labels: Optional[np.ndarray],
          threshold_learning: np.ndarray, thswap: np.ndarray, register: int,
          optimizer: AkidaUnsupervised) -> Tuple[np.ndarray, int]:
    """:func:`cnn2snn_tfmot.chip.learning.learn` in the compiled library: the same arguments,
    the same in-place updates, bit-identical results.

    Arguments:
        weights: uint8 (inputs, units) binary connections, updated in place.
        spikes: bool (samples, inputs).
        labels: int64 (samples,) classes (negative: unlabelled sample), or None (unlabelled).
        threshold_learning, thswap: int64 (units,), updated in place.
        register: the round-robin register (>= 0).
        optimizer: the :class:`~cnn2snn_tfmot.chip.learning.AkidaUnsupervised` arguments.

    Returns:
        ``(potentials, register)``: int64 (samples, units) potentials of each sample before its
        own learning step, and the register afterwards.

    Raises:
        OpLibraryUnavailable: the compiled library does not load (:func:`learning_rule` then
            gives the NumPy rule).
        ValueError: shapes that do not match, or a label beyond the layer's classes.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.learning import AkidaUnsupervised
        >>> from cnn2snn_tfmot.engine.learning import learn
        >>> w = np.zeros((4, 2), np.uint8); w[0, :] = 1
        >>> pots, register = learn(w, np.array([[0, 1, 1, 0]], bool), None,
        ...                        np.zeros(2, np.int64), np.ones(2, np.int64), 0,
        ...                        AkidaUnsupervised(1))
        >>> pots.tolist(), register, w[:, 0].tolist()
        ([[0, 0]], 0, [1, 0, 0, 0])
    """
    function = _entry_point()
    inputs, units = weights.shape
    count = spikes.shape[0]
    if spikes.shape != (count, inputs) or threshold_learning.shape != (units,) \
            or thswap.shape != (units,) or (labels is not None and labels.shape != (count,)):
        raise ValueError(
            f"learn: weights {weights.shape} (inputs, units) need spikes (samples, {inputs}), "
            f"threshold_learning and thswap ({units},) and labels (samples,) or None; got "
            f"spikes {spikes.shape}, threshold_learning {threshold_learning.shape}, thswap "
            f"{thswap.shape}, labels {None if labels is None else labels.shape}.")
    work = [_working(weights, np.uint8), _working(threshold_learning, np.int64),
            _working(thswap, np.int64)]
    spikes = np.ascontiguousarray(spikes, dtype=np.bool_)
    if labels is not None:
        labels = np.ascontiguousarray(labels, dtype=np.int64)
    potentials = np.empty((count, units), dtype=np.int64)
    reg = _I64(register)
    error = ctypes.create_string_buffer(_ERROR_BYTES)
    status = function(work[0].ctypes.data, inputs, units, spikes.ctypes.data, count,
                      None if labels is None else labels.ctypes.data,
                      units // optimizer.num_classes, work[1].ctypes.data, work[2].ctypes.data,
                      ctypes.byref(reg), optimizer.threshold_cap, optimizer.swap_decrement,
                      optimizer.min_swaps, potentials.ctypes.data, error, _ERROR_BYTES)
    # Copies made for the C code go back to the caller's arrays, also after a refused sample
    # (the samples before it stay learned, as in the NumPy loop).
    for target, result in zip((weights, threshold_learning, thswap), work):
        if result is not target:
            target[...] = result
    if status != 0:
        raise ValueError(error.value.decode(errors="replace"))
    return potentials, int(reg.value)


def is_enabled() -> bool:
    """Whether ``Model.fit`` may use the compiled rule.

    Returns:
        True when ``CNN2SNN_TFMOT_COMPILED_LEARNING`` is not "0" and the op library loads with
        the rule's entry point.

    Example:
        >>> import os
        >>> from cnn2snn_tfmot.engine import ops
        >>> from cnn2snn_tfmot.engine.learning import is_enabled
        >>> (os.environ.get("CNN2SNN_TFMOT_COMPILED_LEARNING") == "0"
        ...  or is_enabled() == ops.is_available())
        True
    """
    if os.environ.get(COMPILED_LEARNING_ENV_VAR, "1") == "0":
        return False
    try:
        _entry_point()
    except ops.OpLibraryUnavailable:
        return False
    return True


def learning_rule() -> Callable:
    """The rule ``Model.fit`` applies: the compiled :func:`learn` when :func:`is_enabled`, else
    the NumPy :func:`cnn2snn_tfmot.chip.learning.learn` (the same arguments and results).

    Returns:
        A function with the signature of :func:`learn`.

    Example:
        >>> from cnn2snn_tfmot.engine.learning import learning_rule
        >>> learning_rule().__module__ in ("cnn2snn_tfmot.engine.learning",
        ...                                "cnn2snn_tfmot.chip.learning")
        True
    """
    return learn if is_enabled() else reference.learn
