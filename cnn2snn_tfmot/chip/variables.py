"""Layer variables: their exact dtype, shape and value range, and the checks on assignment.

A value is never cast: a float64 threshold or an int32 weight tensor is an error that says which
conversion to make. Limits come from :mod:`cnn2snn_tfmot.chip.limits`.
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Tuple

import numpy as np


@dataclasses.dataclass(frozen=True)
class VariableSpec:
    """What a layer variable must be.

    Arguments:
        name: variable name ("weights", "weights_pw", "threshold", "act_step").
        dtype: exact numpy dtype.
        shape: exact shape.
        low, high: inclusive value range (None: unbounded on that side).
        high_exclusive: whether ``high`` itself is refused (act_step's register limit).
        default: fill value of a variable never set (the runtime's: 0, and 1.0 for act_step).
        note: what the shape is made of, for error messages.
        range_note: why the range is what it is, for error messages.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.variables import VariableSpec
        >>> VariableSpec("threshold", np.dtype(np.int32), (4,)).default_value().tolist()
        [0, 0, 0, 0]
    """
    name: str
    dtype: np.dtype
    shape: Tuple[int, ...]
    low: Optional[float] = None
    high: Optional[float] = None
    high_exclusive: bool = False
    default: float = 0
    note: str = ""
    range_note: str = ""

    def default_value(self) -> np.ndarray:
        """A fresh array holding the default value."""
        return np.full(self.shape, self.default, dtype=self.dtype)

    def validate(self, value, owner: str) -> np.ndarray:
        """Returns a private copy of ``value`` after checking type, dtype, shape and range.

        Arguments:
            value: the candidate array.
            owner: e.g. "Convolutional layer 'conv1'", used in messages.

        Raises:
            TypeError: not a numpy array, or wrong dtype.
            ValueError: wrong shape, non-finite or out-of-range values.
        """
        what = f"{owner}: variable '{self.name}'"
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{what} must be a numpy array of dtype {self.dtype.name} and shape "
                            f"{self.shape}, got {type(value).__name__}.")
        if value.dtype != self.dtype:
            raise TypeError(f"{what} must have dtype {self.dtype.name}, got {value.dtype} "
                            f"(values are never cast silently: convert explicitly, e.g. "
                            f"`.astype(np.{self.dtype.name})`, after checking the range).")
        if value.shape != self.shape:
            note = f" ({self.note})" if self.note else ""
            raise ValueError(f"{what} must have shape {self.shape}{note}, got {value.shape}.")
        value = np.array(value, dtype=self.dtype, copy=True, order="C")
        if value.size == 0:
            return value
        if self.dtype.kind == "f" and not np.all(np.isfinite(value)):
            bad = np.flatnonzero(~np.isfinite(value.ravel()))[0]
            raise ValueError(f"{what} must be finite, got {value.ravel()[bad]} at flat index "
                             f"{bad}.")
        self._check_range(value, what)
        return value

    def _check_range(self, value: np.ndarray, what: str) -> None:
        flat = value.ravel()
        bad = np.zeros(flat.shape, dtype=bool)
        if self.low is not None:
            bad |= flat < self.low
        if self.high is not None:
            bad |= (flat >= self.high) if self.high_exclusive else (flat > self.high)
        if not bad.any():
            return
        index = int(np.flatnonzero(bad)[0])
        upper = f"{self.high})" if self.high_exclusive else f"{self.high}]"
        lower = "(-inf" if self.low is None else f"[{self.low}"
        note = f" ({self.range_note})" if self.range_note else ""
        raise ValueError(
            f"{what} must be within {lower}, {upper}{note}; {int(bad.sum())} value(s) are "
            f"not, e.g. {flat[index]} at index {np.unravel_index(index, value.shape)} "
            f"(value range found: [{flat.min()}, {flat.max()}]).")
