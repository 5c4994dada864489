"""The direct back-end: a whole Akida model run by one C call on numpy arrays.

A call of a TensorFlow function costs about 140 µs of executor and per-op dispatch before any
arithmetic, more than the arithmetic of a small network at batch 1. The op library also exports
a plain C entry point (``custom_ops/direct_api.h``) that runs every layer of a model with the
same exact integer kernels as the ops, from weights prepared once per model, on its own small
thread pool. :class:`DirectPlan` prepares the lowered layers of a model
(:mod:`cnn2snn_tfmot.chip.lowering`) for it; the Akida model caches the plan
(:meth:`cnn2snn_tfmot.akida.Model.direct_plan`) and runs it for ``backend="direct"``, and for
``backend=None`` when it can run the model. Its outputs are bit-identical to both graph
back-ends'. Models whose sums could leave the kernels' int32 lanes (or int16 depthwise sums) are
left to the TensorFlow graph, whose ops have wider paths for them.

Environment: ``CNN2SNN_TFMOT_DIRECT=0`` keeps ``backend=None`` off the direct back-end;
``CNN2SNN_TFMOT_THREADS`` sets its thread count (default: the CPUs this process may use).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
    >>> model = Model()
    >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
    >>> plan = model.direct_plan()
    >>> plan.run(np.zeros((2, 8, 8, 1), np.uint8)).shape
    (2, 8, 8, 4)
"""
from __future__ import annotations

import ctypes
import os
import threading
import types
from typing import List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.chip.lowering import LoweredLayer
from cnn2snn_tfmot.engine import ops

__all__ = ["DirectPlan", "DirectUnsupported", "is_enabled", "default_threads",
           "DIRECT_ENV_VAR", "THREADS_ENV_VAR"]

#: Environment variable that, set to "0", keeps forward / predict on the TensorFlow graph.
DIRECT_ENV_VAR = "CNN2SNN_TFMOT_DIRECT"
#: Environment variable setting the direct engine's thread count.
THREADS_ENV_VAR = "CNN2SNN_TFMOT_THREADS"

#: Lowered kind / pooling kind -> the codes of custom_ops/direct_api.h.
_KINDS = {"conv": 1, "separable": 2, "dense": 3}
_POOLS = {"none": 0, "max": 1, "global_sum": 2}
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
_ERROR_BYTES = 1024


#: The library's direct-engine entry points: name -> (return type, argument types).
_ENTRY_POINTS = {
    "cnn2snn_tfmot_direct_create": (ctypes.c_void_p, [ctypes.POINTER(_Layer), ctypes.c_int32,
                                                      ctypes.c_char_p, ctypes.c_int64]),
    "cnn2snn_tfmot_direct_run": (ctypes.c_int32, [ctypes.c_void_p, ctypes.c_void_p,
                                                  ctypes.c_int64, ctypes.c_void_p,
                                                  ctypes.c_int32, ctypes.c_char_p,
                                                  ctypes.c_int64]),
    "cnn2snn_tfmot_direct_kernel_set": (ctypes.c_char_p, [ctypes.c_void_p]),
    "cnn2snn_tfmot_direct_layer_algorithm": (ctypes.c_char_p, [ctypes.c_void_p, ctypes.c_int32]),
    "cnn2snn_tfmot_direct_layer_pools_in_gemm": (ctypes.c_int32,
                                                 [ctypes.c_void_p, ctypes.c_int32]),
    "cnn2snn_tfmot_direct_set_profiling": (None, [ctypes.c_void_p, ctypes.c_int32]),
    "cnn2snn_tfmot_direct_layer_seconds": (ctypes.c_double, [ctypes.c_void_p, ctypes.c_int32]),
    "cnn2snn_tfmot_direct_layer_macs": (ctypes.c_int64, [ctypes.c_void_p, ctypes.c_int32]),
    "cnn2snn_tfmot_direct_destroy": (None, [ctypes.c_void_p]),
}


def _library() -> types.SimpleNamespace:
    """The op library's direct-engine entry points, typed (raises OpLibraryUnavailable, with
    the reason, when the library does not load)."""
    with _LOCK:
        if "lib" in _STATE:
            return _STATE["lib"]
    lib = types.SimpleNamespace(**{name: ops.c_function(name, restype, argtypes)
                                   for name, (restype, argtypes) in _ENTRY_POINTS.items()})
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


def _threads_or_adaptive() -> int:
    """``CNN2SNN_TFMOT_THREADS`` when set, else minus the CPUs: the C entry point then picks 1
    or all of them (custom_ops/direct_api.h)."""
    threads = default_threads()
    return threads if os.environ.get(THREADS_ENV_VAR, "") else -threads


def _descriptors(lowered: Sequence[LoweredLayer]):
    """The ctypes layer descriptors of the lowered layers and the arrays they point into."""
    layers = [layer for layer in lowered if layer.kind != "input"]
    if not layers:
        raise DirectUnsupported("the model has no neural layer")
    keep = []
    descriptors = []

    def pointer(array, dtype):
        array = np.ascontiguousarray(array, dtype=dtype)
        keep.append(array)
        return array.ctypes.data

    for layer in layers:
        height, width, channels = layer.input_dims
        fields = dict.fromkeys(_INT_FIELDS, 0)
        fields.update(kind=_KINDS[layer.kind], in_h=height, in_w=width, in_c=channels,
                      kh=1, kw=1, sh=1, sw=1, pool_h=1, pool_w=1, pool_sh=1, pool_sw=1,
                      input_max=layer.input_max, filters=layer.output_dims[-1])
        if layer.kind != "dense":
            fields.update(kh=layer.kernel.shape[0], kw=layer.kernel.shape[1],
                          sh=layer.strides[0], sw=layer.strides[1],
                          same=int(layer.padding == "same"), padding_value=layer.padding_value,
                          pool=_POOLS[layer.pool.kind])
            if layer.pool.kind == "max":
                fields.update(pool_h=layer.pool.size[0], pool_w=layer.pool.size[1],
                              pool_sh=layer.pool.stride[0], pool_sw=layer.pool.stride[1])
        descriptor = _Layer(**fields)
        descriptor.weights = pointer(layer.kernel, np.int8)
        if layer.pointwise is not None:
            descriptor.pointwise = pointer(layer.pointwise, np.int8)
        if layer.fire is not None:
            descriptor.act_bits = layer.fire.act_bits
            descriptor.threshold = pointer(layer.fire.threshold, np.int32)
            descriptor.act_step = pointer(layer.fire.act_step, np.float32)
        descriptors.append(descriptor)
    return descriptors, keep


class DirectPlan:
    """A model's lowered layers prepared once (weights packed, fire tables built) for the direct
    back-end.

    The plan holds copies of what it needs: later changes to the model do not affect it
    (:meth:`cnn2snn_tfmot.akida.Model.direct_plan` makes a new one when the model changes).

    Arguments:
        lowered: the model's lowered layers (:meth:`cnn2snn_tfmot.akida.Model.lowered`).
        input_shape: (height, width, channels) of the model input.

    Raises:
        DirectUnsupported: the model cannot run on the direct engine (no neural layer, sums that
            could leave the kernels' integer lanes, ...); the message says why.
        OpLibraryUnavailable: the compiled op library cannot be loaded.

    Example:
        >>> from cnn2snn_tfmot.engine.direct import DirectPlan
        >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
        >>> model = Model()
        >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
        >>> plan = DirectPlan(model.lowered(), model.input_shape)
        >>> plan.algorithms
        ['convolution']
    """

    def __init__(self, lowered: Sequence[LoweredLayer], input_shape: Tuple[int, int, int]):
        self._lib = _library()
        self._handle = None
        descriptors, keep = _descriptors(lowered)
        array = (_Layer * len(descriptors))(*descriptors)
        error = ctypes.create_string_buffer(_ERROR_BYTES)
        handle = self._lib.cnn2snn_tfmot_direct_create(array, len(descriptors), error,
                                                       _ERROR_BYTES)
        del keep
        if not handle:
            raise DirectUnsupported(error.value.decode(errors="replace"))
        self._handle = handle
        self.input_shape = tuple(input_shape)
        self.output_shape = tuple(lowered[-1].output_dims)
        self.dtype = np.dtype(np.int32 if lowered[-1].fire is None else np.uint8)
        self.kernel_set = self._lib.cnn2snn_tfmot_direct_kernel_set(handle).decode()
        self._count = len(descriptors)

    @property
    def algorithms(self) -> List[str]:
        """How each neural layer is computed now: "convolution", "winograd", "separable",
        "separable_int16" or "dense", with "+events" for a layer that skips the output pixels
        whose input patch is all zero (their potentials are 0), or for a dense layer that
        accumulates only the weight rows of nonzero inputs. After the first runs the plan
        moves a separable layer whose depthwise sums often leave int8 to "separable_int16", and
        turns "+events" on in the layers where at least 1/8 of the patches were all zero (dense
        layers of 64+ units: a quarter of the input groups of 4, or 2 without VNNI)."""
        return [self._lib.cnn2snn_tfmot_direct_layer_algorithm(self._handle, i).decode()
                for i in range(self._count)]

    @property
    def pools_in_gemm(self) -> List[bool]:
        """Whether each neural layer's max pooling runs in the GEMM: the potentials are
        maxed over each pooling window in registers and only the pooled ones are stored (or
        fired), instead of a tile of every pixel's potentials pooled afterwards. It is the
        default for max pooling whose windows do not overlap, with the AVX-512 kernel sets,
        except in layers that skip all-zero patches ("+events"). Setting the environment
        variable ``CNN2SNN_TFMOT_DIRECT_POOL_GEMM=0`` turns it off from the next run (the
        outputs are the same bit for bit; the tests compare both).

        Returns:
            One bool per neural layer, as of the last run.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> plan = example_models()[2].direct_plan()   # conv + pool, separable, dense
            >>> plan.pools_in_gemm[1:]     # no max pooling in these two layers
            [False, False]
        """
        return [bool(self._lib.cnn2snn_tfmot_direct_layer_pools_in_gemm(self._handle, i))
                for i in range(self._count)]

    @property
    def layer_macs(self) -> List[int]:
        """Multiply-adds of each neural layer for one image, counted as a direct convolution
        over the output pixels (padding taps included; a separable layer: its depthwise and
        pointwise products), whatever algorithm computes them (Winograd does fewer).

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> plan = example_models()[2].direct_plan()   # conv + pool, separable, dense
            >>> plan.layer_macs[0]         # 16 x 16 pixels, 3 x 3 taps, 8 filters
            18432
        """
        return [int(self._lib.cnn2snn_tfmot_direct_layer_macs(self._handle, i))
                for i in range(self._count)]

    def set_profiling(self, on: bool) -> None:
        """Turns the per-layer timing on or off (off by default) and resets the times to 0.

        While it is on, each work item of a layer is timed (two clock reads per item) into
        :attr:`layer_seconds`; with several threads the seconds of all of them add up, so
        ``layer_macs[i] * images / layer_seconds[i]`` is the rate of one thread.

        Arguments:
            on: True to time the runs from now on, False to stop.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> plan = example_models()[2].direct_plan()   # conv + pool, separable, dense
            >>> plan.set_profiling(True)
            >>> _ = plan.run(np.zeros((4, 16, 16, 1), np.uint8))
            >>> [seconds > 0 for seconds in plan.layer_seconds]
            [True, True, True]
        """
        self._lib.cnn2snn_tfmot_direct_set_profiling(self._handle, int(bool(on)))

    @property
    def layer_seconds(self) -> List[float]:
        """Seconds spent in each neural layer's work items, summed over threads, since the last
        :meth:`set_profiling` call (0 while profiling is off).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> plan = example_models()[2].direct_plan()   # conv + pool, separable, dense
            >>> plan.layer_seconds          # profiling is off
            [0.0, 0.0, 0.0]
            >>> plan.set_profiling(True)
            >>> _ = plan.run(np.zeros((2, 16, 16, 1), np.uint8))
            >>> plan.layer_seconds[0] > 0
            True
        """
        return [float(self._lib.cnn2snn_tfmot_direct_layer_seconds(self._handle, i))
                for i in range(self._count)]

    def run(self, x: np.ndarray, threads: Optional[int] = None) -> np.ndarray:
        """The model's output for a batch (as ``Model.forward``, without its input checks).

        Arguments:
            x: uint8 numpy array (N,) + input_shape, values within the first layer's range
                (``Model.forward`` checks them).
            threads: threads to use. Default: ``CNN2SNN_TFMOT_THREADS`` when set, else 1 or
                all the CPUs this process may use (:func:`default_threads`), whichever the plan
                measured faster lately for this batch size (other work on the machine can make
                one thread faster).

        Returns:
            uint8 levels or int32 potentials, shape (N,) + output_shape.

        Raises:
            TypeError / ValueError: x is not a uint8 array of the input shape.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> plan = example_models()[2].direct_plan()   # conv + pool, separable, dense
            >>> plan.run(np.zeros((1, 16, 16, 1), np.uint8)).shape
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
            threads or _threads_or_adaptive(), error, _ERROR_BYTES)
        if status != 0:  # pragma: no cover - only an allocation failure can get here
            raise RuntimeError(f"the direct engine failed: {error.value.decode()}")
        return out

    def __del__(self):
        if getattr(self, "_handle", None):
            self._lib.cnn2snn_tfmot_direct_destroy(self._handle)
            self._handle = None
