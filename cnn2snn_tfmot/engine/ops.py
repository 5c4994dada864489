"""Loading of the compiled op library (``custom_ops/``, built by setup.py).

The library is loaded once per process. When it cannot be loaded (not built, or built against
another TensorFlow), :func:`load_library` raises :class:`OpLibraryUnavailable` with the reason;
the engine then falls back to the pure-TensorFlow back-end with one warning.
"""
from __future__ import annotations

import glob
import os
import threading

from cnn2snn_tfmot._keras import tf

_LOCK = threading.Lock()
_STATE: dict = {}


class OpLibraryUnavailable(RuntimeError):
    """The compiled Akida op library could not be loaded; the message says why."""


def library_path() -> str | None:
    """Path of the built op library next to this module, or None when it was not built."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = sorted(glob.glob(os.path.join(here, "_akida_ops*.so")))
    return candidates[0] if candidates else None


def load_library():
    """Loads the op library (once) and returns the module of generated op wrappers.

    Returns:
        The module returned by ``tf.load_op_library``.

    Raises:
        OpLibraryUnavailable: when the library is missing or fails to load.

    Example:
        >>> ops = load_library()   # doctest: +SKIP
    """
    with _LOCK:
        if "module" in _STATE:
            return _STATE["module"]
        if "error" in _STATE:
            raise OpLibraryUnavailable(_STATE["error"])
        path = library_path()
        if path is None:
            _STATE["error"] = (
                "the op library cnn2snn_tfmot/engine/_akida_ops*.so was not built; reinstall "
                "with `pip install --no-build-isolation -e .` (TensorFlow must be installed first)")
            raise OpLibraryUnavailable(_STATE["error"])
        try:
            module = tf.load_op_library(path)
        except (tf.errors.NotFoundError, OSError) as err:
            _STATE["error"] = (f"the op library {path} could not be loaded ({err}); it was "
                               "probably built against another TensorFlow: reinstall with "
                               "`pip install --no-build-isolation -e .`")
            raise OpLibraryUnavailable(_STATE["error"]) from err
        _STATE["module"] = module
        return module


def is_available() -> bool:
    """Whether the compiled op library loads in this process."""
    try:
        load_library()
    except OpLibraryUnavailable:
        return False
    return True
