"""The emulator: it runs the lowered layers of an Akida model (:mod:`cnn2snn_tfmot.chip.lowering`)
on one of three back-ends, which give bit-identical results:

* ``"direct"``: the compiled library's whole-model C entry point (:mod:`.direct`), one call per
  batch with no TensorFlow dispatch;
* ``"custom"``: a TensorFlow graph of the compiled ops of ``custom_ops/``
  (:mod:`.custom_backend`), the graph an exported SavedModel carries;
* ``"tf"``: a TensorFlow graph of stock ops (:mod:`.tf_backend`): always available, exact, runs
  in any TensorFlow.

``backend=`` of ``Model.forward`` / ``predict`` / ``evaluate`` / ``statistics`` picks one;
``None`` (the default) takes the faster of the direct back-end and the graph of the compiled
ops (:mod:`.choice`: the direct one, unless the graph measured faster on the model and batch size
once the model has run long enough), the graph of the compiled ops when the direct back-end
cannot run the model, else the pure-TF graph (with one warning per process saying why).
The argument's former name, ``engine=``, is still accepted. :mod:`.graph` builds the graphs,
:mod:`.probe` the graphs that keep every layer's potentials; the Akida model caches all of them.
"""
from __future__ import annotations

import threading
import warnings
from types import ModuleType
from typing import Optional

from cnn2snn_tfmot.engine import custom_backend, ops, tf_backend
from cnn2snn_tfmot.engine.ops import OpLibraryUnavailable

__all__ = ["get_backend", "resolve_backend", "BACKENDS", "GRAPH_BACKENDS",
           "EngineFallbackWarning", "OpLibraryUnavailable"]

#: The back-ends ``backend=`` picks (None: the fastest that runs the model).
BACKENDS = ("direct", "custom", "tf")
#: The back-ends that build a TensorFlow graph (a tf.function, a SavedModel).
GRAPH_BACKENDS = ("custom", "tf")

_LOCK = threading.Lock()
_WARNED = []


class EngineFallbackWarning(UserWarning):
    """Emitted once per process when ``backend=None`` falls back to the pure-TF back-end."""


def _load_custom() -> ModuleType:
    """The custom back-end module; raises OpLibraryUnavailable saying why the ops cannot load."""
    ops.load_library()
    return custom_backend


def resolve_backend(backend: Optional[str] = None, engine: Optional[str] = None,
                    allowed=BACKENDS) -> Optional[str]:
    """The back-end a public function was asked for: ``backend``, or ``engine``, its former name.

    Arguments:
        backend: None or one of ``allowed``.
        engine: the same argument under its former name (kept for code written before the
            rename), or None.
        allowed: the back-ends the caller runs (:data:`BACKENDS` or :data:`GRAPH_BACKENDS`).

    Returns:
        None or one of ``allowed``.

    Raises:
        ValueError: an unknown back-end, or ``backend`` and ``engine`` both given and different.

    Example:
        >>> from cnn2snn_tfmot.engine import resolve_backend
        >>> resolve_backend(engine="tf")
        'tf'
    """
    if engine is not None:
        if backend is not None and backend != engine:
            raise ValueError(f"give `backend` (or its former name `engine`), not both: got "
                             f"backend={backend!r} and engine={engine!r}.")
        backend = engine
    if backend is not None and (not isinstance(backend, str) or backend not in allowed):
        choices = ", ".join(repr(name) for name in allowed)
        raise ValueError(f"backend must be None or one of {choices}, got {backend!r}.")
    return backend


def get_backend(backend: Optional[str] = None) -> ModuleType:
    """Returns the graph back-end module for ``backend``.

    Arguments:
        backend: "custom" (the compiled ops; an error if they cannot load), "tf" (pure
            TensorFlow), or None: "custom" when the op library loads, else "tf" with one
            :class:`EngineFallbackWarning` per process saying why and how to fix it.

    Returns:
        A module implementing :class:`cnn2snn_tfmot.engine.backend.Backend` (its ``name`` is
        "custom" or "tf").

    Raises:
        ValueError: ``backend`` is not None, "custom" or "tf".
        OpLibraryUnavailable: ``backend="custom"`` and the compiled ops cannot be loaded.

    Example:
        >>> from cnn2snn_tfmot.engine import get_backend
        >>> get_backend("tf").name
        'tf'
    """
    backend = resolve_backend(backend, allowed=GRAPH_BACKENDS)
    if backend is None:
        try:
            return _load_custom()
        except OpLibraryUnavailable as err:
            _warn_fallback(str(err))
            return tf_backend
    if backend == "tf":
        return tf_backend
    try:
        return _load_custom()
    except OpLibraryUnavailable as err:
        raise OpLibraryUnavailable(
            f"backend='custom' was requested but the compiled Akida ops are unavailable: "
            f"{err}. Use backend='tf' (pure TensorFlow, exact but slower) or backend=None to "
            f"fall back automatically.") from err


def _warn_fallback(reason: str) -> None:
    with _LOCK:
        if _WARNED:
            return
        _WARNED.append(reason)
    warnings.warn(
        f"cnn2snn_tfmot: the compiled Akida ops are unavailable ({reason}); using the "
        f"pure-TensorFlow back-end instead, which gives identical results, more slowly. Pass "
        f"backend='tf' to choose it explicitly and silence this warning.",
        EngineFallbackWarning, stacklevel=3)
