"""Loading of the compiled op library (``custom_ops/``, built by setup.py).

The library is loaded once per process. When it cannot be loaded (not built, or built against
another TensorFlow), :func:`load_library` raises :class:`OpLibraryUnavailable` with the reason;
the engine then falls back to the pure-TensorFlow back-end with one warning. The ops are listed
in ``custom_ops/README.md``.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Optional, Sequence

#: Environment variable forcing the ops' kernel set ("generic", "avx2", "avx512bw",
#: "avx512vnni"); unset or "auto" picks the fastest one the CPU supports.
ISA_ENV_VAR = "CNN2SNN_TFMOT_OPS_ISA"

#: Environment variable that, set to "1", keeps the compiled ops from loading (the engine then
#: uses the pure-TensorFlow back-end).
DISABLE_ENV_VAR = "CNN2SNN_TFMOT_DISABLE_OPS"

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
        >>> from cnn2snn_tfmot.engine.ops import load_library
        >>> library = load_library()
        >>> hasattr(library, "cnn2snn_tfmot_akida_conv_fire")
        True
    """
    with _LOCK:
        if "module" in _STATE:
            return _STATE["module"]
        if "error" in _STATE:
            raise OpLibraryUnavailable(_STATE["error"])
        if os.environ.get(DISABLE_ENV_VAR, "0") == "1":
            _STATE["error"] = (f"the compiled Akida ops are disabled by the environment "
                               f"variable {DISABLE_ENV_VAR}=1")
            raise OpLibraryUnavailable(_STATE["error"])
        path = library_path()
        if path is None:
            _STATE["error"] = (
                "the op library cnn2snn_tfmot/engine/_akida_ops*.so was not built; reinstall "
                "with `pip install --no-build-isolation -e .` (TensorFlow must be installed first)")
            raise OpLibraryUnavailable(_STATE["error"])
        # TensorFlow itself, not tf_keras: this runs from the package's import hook, right
        # after TensorFlow is imported, and must stay light.
        import tensorflow as tf

        try:
            module = tf.load_op_library(path)
        except (tf.errors.NotFoundError, OSError) as err:
            _STATE["error"] = (f"the op library {path} could not be loaded ({err}); it was "
                               "probably built against another TensorFlow: reinstall with "
                               "`pip install --no-build-isolation -e .`")
            raise OpLibraryUnavailable(_STATE["error"]) from err
        _STATE["module"] = module
        return module


def c_function(name: str, restype: Optional[type], argtypes: Sequence[type]):
    """A plain C entry point of the op library, typed for ctypes.

    The library is the copy TensorFlow loaded (:func:`load_library` runs first; ``dlopen``
    then returns the same copy), opened once per process; every module that calls into it
    shares that handle.

    Arguments:
        name: the exported C symbol (``extern "C"`` in ``custom_ops/``).
        restype: its ctypes return type (None for void).
        argtypes: its ctypes argument types.

    Returns:
        The ctypes function, ready to call.

    Raises:
        OpLibraryUnavailable: the library does not load, or it was built from older sources
            without ``name``.

    Example:
        >>> import ctypes
        >>> from cnn2snn_tfmot.engine.ops import c_function
        >>> destroy = c_function("cnn2snn_tfmot_direct_destroy", None, [ctypes.c_void_p])
        >>> destroy.restype is None
        True
    """
    load_library()  # raises OpLibraryUnavailable, with the reason
    with _LOCK:
        if "cdll" not in _STATE:
            _STATE["cdll"] = ctypes.CDLL(library_path())
        try:
            function = getattr(_STATE["cdll"], name)
        except AttributeError as err:
            raise OpLibraryUnavailable(
                f"the op library {library_path()} has no entry point {name} (built from older "
                "sources); rebuild it with `pip install --no-build-isolation -e .`") from err
        function.restype = restype
        function.argtypes = list(argtypes)
    return function


def is_available() -> bool:
    """Whether the compiled op library loads in this process."""
    try:
        load_library()
    except OpLibraryUnavailable:
        return False
    return True


def kernel_set() -> dict:
    """The instruction-set kernels the ops use now, and those this CPU supports.

    Returns:
        ``{"selected": name, "supported": [names, fastest first]}``.

    Raises:
        OpLibraryUnavailable: when the library cannot be loaded.
        tf.errors.InvalidArgumentError: when ``CNN2SNN_TFMOT_OPS_ISA`` names an unknown or
            unsupported kernel set.

    Example:
        >>> from cnn2snn_tfmot.engine.ops import kernel_set
        >>> kernel_set()["selected"] in kernel_set()["supported"]
        True
    """
    selected, supported = load_library().cnn2snn_tfmot_akida_kernel_set()
    return {"selected": selected.numpy().decode(),
            "supported": [name.decode() for name in supported.numpy()]}
