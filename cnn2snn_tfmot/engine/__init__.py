"""The emulator engine: back-end selection, graph building (``graph``), back-ends.

Two back-ends implement the contract of :mod:`cnn2snn_tfmot.engine.backend`:

* ``"custom"``: the compiled TF ops of ``custom_ops/`` (:mod:`.custom_backend`), fast;
* ``"tf"``: plain TensorFlow ops (:mod:`.tf_backend`), always available, exact.

:func:`get_backend` picks one; ``Model.forward(engine=...)`` passes its argument here. With
``engine=None`` or ``"custom"``, ``forward`` first tries :mod:`.direct`, the compiled library's
whole-model C entry point (no TensorFlow dispatch), which gives the same results.
"""
from __future__ import annotations

import importlib
import threading
import warnings
from types import ModuleType
from typing import Optional

from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.engine.ops import OpLibraryUnavailable

__all__ = ["get_backend", "ENGINES", "EngineFallbackWarning", "OpLibraryUnavailable"]

#: Valid values of the ``engine`` argument (None = "custom" when available, else "tf").
ENGINES = ("custom", "tf")

_LOCK = threading.Lock()
_WARNED = []


class EngineFallbackWarning(UserWarning):
    """Emitted once per process when the default engine falls back to the pure-TF back-end."""


def _load_custom() -> ModuleType:
    """The custom back-end module; raises OpLibraryUnavailable saying why it cannot load."""
    ops.load_library()
    try:
        return importlib.import_module("cnn2snn_tfmot.engine.custom_backend")
    except ImportError as err:
        raise OpLibraryUnavailable(
            f"the op library loads but the module cnn2snn_tfmot.engine.custom_backend could "
            f"not be imported ({err}); reinstall with `pip install --no-build-isolation -e .`"
        ) from err


def _load_tf() -> ModuleType:
    return importlib.import_module("cnn2snn_tfmot.engine.tf_backend")


def get_backend(engine: Optional[str] = None) -> ModuleType:
    """Returns the back-end module for ``engine``.

    Arguments:
        engine: "custom" (the compiled ops; an error if they cannot load), "tf" (pure
            TensorFlow), or None: "custom" when the op library loads, else "tf" with one
            :class:`EngineFallbackWarning` per process saying why and how to fix it.

    Returns:
        A module implementing :class:`cnn2snn_tfmot.engine.backend.Backend` (its ``name`` is
        "custom" or "tf").

    Raises:
        ValueError: ``engine`` is not None, "custom" or "tf".
        OpLibraryUnavailable: ``engine="custom"`` and the compiled ops cannot be loaded.

    Example:
        >>> get_backend("tf").name
        'tf'
    """
    if engine is None:
        try:
            return _load_custom()
        except OpLibraryUnavailable as err:
            _warn_fallback(str(err))
            return _load_tf()
    if not isinstance(engine, str) or engine not in ENGINES:
        raise ValueError(f"engine must be None, 'custom' or 'tf', got {engine!r}.")
    if engine == "tf":
        return _load_tf()
    try:
        return _load_custom()
    except OpLibraryUnavailable as err:
        raise OpLibraryUnavailable(
            f"engine='custom' was requested but the compiled Akida ops are unavailable: {err}. "
            f"Use engine='tf' (pure TensorFlow, exact but slower) or engine=None to fall back "
            f"automatically.") from err


def _warn_fallback(reason: str) -> None:
    with _LOCK:
        if _WARNED:
            return
        _WARNED.append(reason)
    warnings.warn(
        f"cnn2snn_tfmot: the compiled Akida ops are unavailable ({reason}); using the "
        f"pure-TensorFlow back-end instead, which gives identical results, more slowly. Pass "
        f"engine='tf' to choose it explicitly and silence this warning.",
        EngineFallbackWarning, stacklevel=3)
