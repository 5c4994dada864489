"""The direct engine: a whole Akida model run by one C call on numpy arrays.

A call of a TensorFlow function costs about 140 µs of executor and per-op dispatch before any
arithmetic, more than the arithmetic of a small network at batch 1. The op library also exports
a plain C entry point (``custom_ops/direct_api.h``) that runs every layer of a model with the
same exact integer kernels as the ops, from weights prepared once per model, on its own small
thread pool: ``Model.forward`` / ``predict`` use it by default (``engine=None`` or
``"custom"``), and fall back to the ops' TensorFlow graph when it is unavailable. Its outputs
are bit-identical to both engines'.

The plan of a model is cached with the model and rebuilt when a layer or a variable changes.
Models whose sums could leave the kernels' int32 lanes (or int16 depthwise sums) are left to the
TensorFlow graph, whose ops have wider paths for them.

Environment: ``CNN2SNN_TFMOT_DIRECT=0`` turns the direct engine off;
``CNN2SNN_TFMOT_THREADS`` sets its thread count (default: the CPUs this process may use).

Example:
    >>> from cnn2snn_tfmot.engine import direct
    >>> plan = direct.plan_for(akida_model)           # doctest: +SKIP
    >>> levels = plan.run(images)                     # doctest: +SKIP
"""
from __future__ import annotations

import ctypes
import os
import threading
import weakref
from typing import Callable, Optional

import numpy as np

from cnn2snn_tfmot.engine import ops

__all__ = ["DirectPlan", "DirectUnsupported", "plan_for", "runner", "is_enabled",
           "DIRECT_ENV_VAR", "THREADS_ENV_VAR"]

#: Environment variable that, set to "0", keeps forward / predict on the TensorFlow graph.
DIRECT_ENV_VAR = "CNN2SNN_TFMOT_DIRECT"
#: Environment variable setting the direct engine's thread count.
THREADS_ENV_VAR = "CNN2SNN_TFMOT_THREADS"

_KINDS = {"InputConvolutional": 1, "Convolutional": 1, "SeparableConvolutional": 2,
          "FullyConnected": 3}
_POOLS = {"NoPooling": 0, "Max": 1, "Average": 2}
_INT_FIELDS = ("kind", "in_h", "in_w", "in_c", "kh", "kw", "sh", "sw", "same", "padding_value",
               "pool", "pool_h", "pool_w", "pool_sh", "pool_sw", "filters", "act_bits",
               "input_max")


class _Layer(ctypes.Structure):
    """``AkidaDirectLayer`` of custom_ops/direct_api.h."""
    _fields_ = [(name, ctypes.c_int32) for name in _INT_FIELDS] + [
        ("weights", ctypes.c_void_p), ("pointwise", ctypes.c_void_p),
        ("threshold", ctypes.c_void_p), ("act_step", ctypes.c_void_p)]


class DirectUnsupported(RuntimeError):
    """The model cannot run on the direct engine (the message says why); the TensorFlow graph
    of the ops runs it instead."""


_LOCK = threading.Lock()
_STATE: dict = {}
_PLANS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_ERROR_BYTES = 1024


def _library() -> ctypes.CDLL:
    """The op library's C entry points (loaded by TensorFlow first, so the same copy)."""
    with _LOCK:
        if "lib" in _STATE:
            return _STATE["lib"]
    ops.load_library()  # raises OpLibraryUnavailable, with the reason
    lib = ctypes.CDLL(ops.library_path())
    lib.cnn2snn_tfmot_direct_create.restype = ctypes.c_void_p
    lib.cnn2snn_tfmot_direct_create.argtypes = [ctypes.POINTER(_Layer), ctypes.c_int32,
                                                ctypes.c_char_p, ctypes.c_int64]
    lib.cnn2snn_tfmot_direct_run.restype = ctypes.c_int32
    lib.cnn2snn_tfmot_direct_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                             ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p,
                                             ctypes.c_int64]
    lib.cnn2snn_tfmot_direct_kernel_set.restype = ctypes.c_char_p
    lib.cnn2snn_tfmot_direct_kernel_set.argtypes = [ctypes.c_void_p]
    lib.cnn2snn_tfmot_direct_layer_algorithm.restype = ctypes.c_char_p
    lib.cnn2snn_tfmot_direct_layer_algorithm.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    lib.cnn2snn_tfmot_direct_destroy.restype = None
    lib.cnn2snn_tfmot_direct_destroy.argtypes = [ctypes.c_void_p]
    with _LOCK:
        _STATE["lib"] = lib
    return lib


def is_enabled() -> bool:
    """Whether forward / predict may use the direct engine: not turned off by
    ``CNN2SNN_TFMOT_DIRECT=0`` and the op library loads."""
    return os.environ.get(DIRECT_ENV_VAR, "1") != "0" and ops.is_available()


def default_threads() -> int:
    """``CNN2SNN_TFMOT_THREADS``, else the number of CPUs this process may run on.

    Raises:
        ValueError: the variable is set to something else than a positive integer.
    """
    value = os.environ.get(THREADS_ENV_VAR, "")
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"{THREADS_ENV_VAR} must be a positive integer, got {value!r}.")
        return threads
    cpus = _STATE.get("cpus")
    if cpus is None:  # a system call: once per process
        try:
            cpus = max(1, len(os.sched_getaffinity(0)))
        except (AttributeError, OSError):  # pragma: no cover - not Linux
            cpus = max(1, os.cpu_count() or 1)
        _STATE["cpus"] = cpus
    return cpus


def _descriptors(model):
    """The ctypes layer descriptors of ``model`` and the arrays they point into."""
    layers = model.layers
    keep = []
    descriptors = []
    input_max = 255
    if layers and layers[0].layer_type == "InputData":
        input_max = 2 ** layers[0].parameters.input_bits - 1
        layers = layers[1:]
    if not layers:
        raise DirectUnsupported("the model has no neural layer")

    def pointer(array, dtype):
        array = np.ascontiguousarray(array, dtype=dtype)
        keep.append(array)
        return array.ctypes.data

    for layer in layers:
        kind = layer.layer_type
        if kind not in _KINDS:
            raise DirectUnsupported(f"layer type {kind} is not supported")
        p = layer.parameters
        height, width, channels = layer.input_dims
        fields = dict.fromkeys(_INT_FIELDS, 0)
        fields.update(kind=_KINDS[kind], in_h=height, in_w=width, in_c=channels, kh=1, kw=1,
                      sh=1, sw=1, pool_h=1, pool_w=1, pool_sh=1, pool_sw=1,
                      input_max=input_max)
        pointwise = None
        if kind == "FullyConnected":
            fields["filters"] = p.units
            # Runtime rows h + H*w + H*W*c become NHWC rows (h*W + w)*C + c.
            weights = layer._value("weights")[0, 0].reshape(channels, width, height, p.units)
            weights = weights.transpose(2, 1, 0, 3).reshape(-1, p.units)
        else:
            fields.update(filters=p.filters, kh=p.kernel_size[0], kw=p.kernel_size[1],
                          sh=p.kernel_stride[0], sw=p.kernel_stride[1],
                          same=int(p.padding.tf_name == "same"),
                          pool=_POOLS[p.pool_type.name])
            if p.pool_type.name == "Max":
                fields.update(pool_h=p.pool_size[0], pool_w=p.pool_size[1],
                              pool_sh=p.pool_stride[0], pool_sw=p.pool_stride[1])
            if kind == "InputConvolutional":
                fields["padding_value"] = p.padding_value
                weights = layer._value("weights")  # stored in cross-correlation orientation
            elif kind == "Convolutional":
                weights = layer._value("weights")[::-1, ::-1]  # un-flip
            else:
                weights = layer._value("weights")[::-1, ::-1, :, 0]  # un-flip
                pointwise = layer._value("weights_pw")[0, 0]
        descriptor = _Layer(**fields)
        descriptor.weights = pointer(weights, np.int8)
        if pointwise is not None:
            descriptor.pointwise = pointer(pointwise, np.int8)
        if p.activation:
            descriptor.act_bits = p.act_bits
            descriptor.threshold = pointer(layer._value("threshold"), np.int32)
            descriptor.act_step = pointer(layer._value("act_step"), np.float32)
            input_max = 2 ** p.act_bits - 1
        descriptors.append(descriptor)
    return descriptors, keep


class DirectPlan:
    """A model's layers prepared once (weights packed, fire tables built) for the direct engine.

    The plan holds copies of what it needs: later changes to the model do not affect it (use
    :func:`plan_for`, which rebuilds the plan when the model changes).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.

    Raises:
        DirectUnsupported: the model cannot run on the direct engine (no neural layer, sums that
            could leave the kernels' integer lanes, ...); the message says why.
        OpLibraryUnavailable: the compiled op library cannot be loaded.

    Example:
        >>> plan = DirectPlan(akida_model)   # doctest: +SKIP
        >>> plan.run(images).shape           # doctest: +SKIP
        (100, 1, 1, 10)
    """

    def __init__(self, model):
        self._lib = _library()
        self._handle = None
        descriptors, keep = _descriptors(model)
        array = (_Layer * len(descriptors))(*descriptors)
        error = ctypes.create_string_buffer(_ERROR_BYTES)
        handle = self._lib.cnn2snn_tfmot_direct_create(array, len(descriptors), error,
                                                       _ERROR_BYTES)
        del keep
        if not handle:
            raise DirectUnsupported(error.value.decode(errors="replace"))
        self._handle = handle
        self.input_shape = tuple(model.input_shape)
        self.output_shape = tuple(model.output_shape)
        self.dtype = np.dtype(np.uint8 if model.layers[-1].parameters.activation else np.int32)
        self.kernel_set = self._lib.cnn2snn_tfmot_direct_kernel_set(handle).decode()
        #: How each neural layer is computed ("convolution", "winograd", "separable", "dense").
        self.algorithms = [self._lib.cnn2snn_tfmot_direct_layer_algorithm(handle, i).decode()
                           for i in range(len(descriptors))]

    def run(self, x: np.ndarray, threads: Optional[int] = None) -> np.ndarray:
        """The model's output for a batch (as ``Model.forward``, without its input checks).

        Arguments:
            x: uint8 numpy array (N,) + input_shape, values within the first layer's range
                (``Model.forward`` checks them).
            threads: threads to use (default: :func:`default_threads`).

        Returns:
            uint8 levels or int32 potentials, shape (N,) + output_shape.

        Raises:
            TypeError / ValueError: x is not a uint8 array of the input shape.

        Example:
            >>> plan.run(np.zeros((1, 28, 28, 1), np.uint8)).shape   # doctest: +SKIP
            (1, 1, 1, 10)
        """
        if not isinstance(x, np.ndarray) or x.dtype != np.uint8:
            raise TypeError(f"x must be a uint8 numpy array, got "
                            f"{getattr(x, 'dtype', type(x).__name__)}.")
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"x must have shape (N,) + {self.input_shape}, got {x.shape}.")
        x = np.ascontiguousarray(x)
        out = np.empty((x.shape[0],) + self.output_shape, self.dtype)
        error = ctypes.create_string_buffer(_ERROR_BYTES)
        status = self._lib.cnn2snn_tfmot_direct_run(
            self._handle, x.ctypes.data, x.shape[0], out.ctypes.data,
            threads or default_threads(), error, _ERROR_BYTES)
        if status != 0:  # pragma: no cover - only an allocation failure can get here
            raise RuntimeError(f"the direct engine failed: {error.value.decode()}")
        return out

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.cnn2snn_tfmot_direct_destroy(self._handle)
            self._handle = None


def plan_for(model) -> DirectPlan:
    """The cached :class:`DirectPlan` of ``model``, rebuilt when a layer or variable changed.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.

    Returns:
        The plan.

    Raises:
        DirectUnsupported: the model cannot run on the direct engine (cached too).
        OpLibraryUnavailable: the compiled op library cannot be loaded.

    Example:
        >>> plan_for(akida_model).kernel_set   # doctest: +SKIP
        'avx512vnni'
    """
    key = model._state_key()
    with _LOCK:
        cached = _PLANS.get(model)
    if cached is not None and cached[0] == key:
        if isinstance(cached[1], DirectUnsupported):
            raise cached[1]
        return cached[1]
    try:
        plan = DirectPlan(model)
    except DirectUnsupported as err:
        with _LOCK:
            _PLANS[model] = (key, err)
        raise
    with _LOCK:
        _PLANS[model] = (key, plan)
    return plan


def runner(model, engine: Optional[str]) -> Optional[Callable[[np.ndarray], np.ndarray]]:
    """The direct engine's function for ``Model.forward``, or None to use the TensorFlow graph.

    None when ``engine`` is not None or "custom", when the direct engine is turned off or the op
    library does not load (the graph path then falls back or raises as documented), and when the
    model is not supported by the direct engine.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        engine: the ``engine`` argument of ``forward``.

    Returns:
        A function of a uint8 batch returning the model's output, or None.

    Example:
        >>> run = runner(akida_model, None)   # doctest: +SKIP
    """
    if engine not in (None, "custom") or not is_enabled():
        return None
    try:
        return plan_for(model).run
    except DirectUnsupported:
        return None
