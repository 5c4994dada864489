"""The emulator's probe: every layer's potentials and outputs in one graph.

The model function of :mod:`.graph` fuses each layer (product, pooling, fire) into one op, so
the potentials never leave it. The probe evaluates each layer with the same builders
(:data:`cnn2snn_tfmot.engine.graph.BUILDERS`: same kernels, same orientation, same flattening)
through a back-end proxy that calls the block functions with ``fire=None``, which gives the
potentials the fire compares with the thresholds (after pooling and its saturation), and then
fires them with the back-end's standalone fire (the compiled ``AkidaFire`` op, or the pure-TF
fire). The levels equal :meth:`cnn2snn_tfmot.akida.Model.forward`'s bit for bit (tested on every
layer type and both back-ends); the probe is slower than the fused path, as the potentials of
every layer are materialised.

:func:`probe_function` returns every tensor; :func:`statistics_function` reduces them in the
graph to the per-batch figures of :meth:`cnn2snn_tfmot.akida.Model.statistics`, so that only a
few numbers per layer leave the graph. Both are cached per model until a layer is added or a
variable is set.

Example:
    >>> probe = probe_function(akida_model, "tf")
    >>> outputs = probe(tf.constant(images))
    >>> [(layer.name, tuple(out["potentials"].shape), out["outputs"].dtype.name)
    ...  for layer, out in zip(akida_model.layers, outputs)]      # doctest: +NORMALIZE_WHITESPACE
    [('conv_0', (32, 8, 8, 8), 'uint8'), ('separable_1', (32, 8, 8, 16), 'uint8'),
     ('dense', (32, 1, 1, 10), 'int32')]
"""
from __future__ import annotations

import threading
import weakref
from typing import Callable, List, Optional

from cnn2snn_tfmot.chip import limits
from cnn2snn_tfmot.engine import get_backend
from cnn2snn_tfmot.engine.backend import FireSpec
from cnn2snn_tfmot.engine.graph import BUILDERS
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["probe_function", "statistics_function", "potential_register", "STATISTICS_KEYS"]

#: What :func:`statistics_function` returns per layer (one batch): ``events`` int64 (N,), the
#: non-zero outputs of each image; ``potential_min`` / ``potential_max`` int32 scalars;
#: ``saturated`` int64, the potentials at a bound of a saturating register; ``level_counts``
#: int64 (2**bits,), the histogram of the output levels. Absent where not applicable
#: (InputData has no potentials; a layer without activation has no levels).
STATISTICS_KEYS = ("events", "potential_min", "potential_max", "saturated", "level_counts")

_LOCK = threading.Lock()
#: model -> {(kind, back-end name): (model state key, tf.function)}
_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Recorder:
    """A back-end that computes each block's potentials, keeps them, then fires them."""

    def __init__(self, backend):
        self._backend = backend
        self.name = backend.name
        self.potentials = None

    def conv_block(self, x, kernel, *, fire, **options):
        return self._fire(self._backend.conv_block(x, kernel, fire=None, **options), fire)

    def separable_block(self, x, depthwise, pointwise, *, fire, **options):
        return self._fire(self._backend.separable_block(x, depthwise, pointwise, fire=None,
                                                        **options), fire)

    def dense_block(self, x, weights, *, fire):
        return self._fire(self._backend.dense_block(x, weights, fire=None), fire)

    def _fire(self, potentials, fire: Optional[FireSpec]):
        self.potentials = potentials
        return potentials if fire is None else self._backend.fire_potentials(potentials, fire)


def _layer_steps(model, backend) -> List[Callable]:
    """One function per layer: input tensor -> (potentials or None, outputs)."""

    if not model.layers:
        raise ValueError("the model is empty: add layers before running it.")
    steps = []
    for layer in model.layers:
        recorder = _Recorder(backend)
        try:
            step = BUILDERS[layer.layer_type](layer, recorder)
        except (ValueError, TypeError) as err:
            raise type(err)(f"{layer.layer_type} layer '{layer.name}': {err}") from err

        def run(x, step=step, recorder=recorder, layer=layer):
            recorder.potentials = None
            outputs = step(x)
            potentials = recorder.potentials
            if potentials is not None:  # FullyConnected: (N, U) -> (N, 1, 1, U)
                potentials = tf.reshape(potentials, [-1, *layer.output_dims])
            return potentials, outputs

        steps.append(run)
    return steps


def _cached(model, kind: str, engine: Optional[str], build: Callable):

    backend = get_backend(engine)
    key = model._state_key()
    with _LOCK:
        functions = _CACHE.setdefault(model, {})
        cached = functions.get((kind, backend.name))
    if cached is None or cached[0] != key:
        cached = (key, build(model, backend))
        with _LOCK:
            functions[(kind, backend.name)] = cached
    return cached[1]


def _signature(model):
    return [tf.TensorSpec([None, *model.input_shape], tf.uint8)]


def _build_probe(model, backend):
    steps = _layer_steps(model, backend)

    @tf.function(input_signature=_signature(model), autograph=False)
    def probe(x):
        results = []
        for step in steps:
            potentials, x = step(x)
            results.append({"potentials": potentials, "outputs": x})
        return results

    probe.get_concrete_function()  # trace now, so that build errors surface here
    return probe


def probe_function(model, engine: Optional[str] = None):
    """The ``tf.function`` giving every layer's potentials and outputs for a uint8 batch.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        engine: None (compiled ops when available, else pure TF), "custom" or "tf".

    Returns:
        A ``tf.function`` of a uint8 NHWC batch returning one dict per layer, in order:
        ``"potentials"``, the int32 potentials the fire compares, shape ``(N,) +
        output_dims`` (after pooling and its saturation; None for InputData), and
        ``"outputs"``, what the layer passes on (uint8 levels, or the potentials of a layer
        without activation; the input itself for InputData).

    Example:
        >>> outputs = probe_function(akida_model, "tf")(tf.constant(images))
        >>> np.array_equal(outputs[-1]["outputs"], akida_model.forward(images, engine="tf"))
        True
    """
    return _cached(model, "probe", engine, _build_probe)


def _layer_statistics(layer, potentials, outputs) -> dict:
    figures = {"events": tf.math.count_nonzero(outputs, axis=[1, 2, 3], dtype=tf.int64)}
    if potentials is not None:
        figures["potential_min"] = tf.reduce_min(potentials)
        figures["potential_max"] = tf.reduce_max(potentials)
        _, low, high, saturates = potential_register(layer)
        at_bound = tf.logical_or(tf.equal(potentials, low), tf.equal(potentials, high)) \
            if saturates else tf.zeros_like(potentials, tf.bool)
        figures["saturated"] = tf.math.count_nonzero(at_bound, dtype=tf.int64)
    bits = layer.output_bits
    if bits is not None:
        figures["level_counts"] = tf.math.bincount(
            tf.reshape(tf.cast(outputs, tf.int32), [-1]), minlength=2 ** bits,
            maxlength=2 ** bits, dtype=tf.int64)
    return figures


def _build_statistics(model, backend):
    steps = _layer_steps(model, backend)
    layers = model.layers

    @tf.function(input_signature=_signature(model), autograph=False)
    def statistics(x):
        results = [{"events": tf.math.count_nonzero(x, axis=[1, 2, 3], dtype=tf.int64)}]
        for layer, step in zip(layers, steps):
            potentials, x = step(x)
            results.append(_layer_statistics(layer, potentials, x))
        return results

    statistics.get_concrete_function()
    return statistics


def statistics_function(model, engine: Optional[str] = None):
    """The ``tf.function`` reducing one uint8 batch to per-layer statistics, in the graph.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model` with images of shape ``(N,) +
            model.input_shape`` as input.
        engine: None (compiled ops when available, else pure TF), "custom" or "tf".

    Returns:
        A ``tf.function`` returning a list of dicts: first the model input's (``events`` only),
        then one per layer with the keys of :data:`STATISTICS_KEYS` that apply.

    Example:
        >>> figures = statistics_function(akida_model, "tf")(tf.constant(images))
        >>> sorted(figures[1])
        ['events', 'level_counts', 'potential_max', 'potential_min', 'saturated']
        >>> int(figures[1]["level_counts"].numpy().sum()) == images.shape[0] * 8 * 8 * 8
        True
    """
    return _cached(model, "statistics", engine, _build_statistics)


def _pooled(layer) -> bool:
    return layer.layer_type != "FullyConnected" and \
        layer.parameters.pool_type.name != "NoPooling"


def potential_register(layer) -> tuple:
    """The register of an Akida layer's potentials (see
    :func:`cnn2snn_tfmot.chip.limits.potential_register`).

    Arguments:
        layer: a neural Akida layer.

    Returns:
        ``(bits, low, high, saturates)``.

    Example:
        >>> potential_register(akida_model.get_layer("dense"))
        (20, -524288, 524287, True)
    """
    return limits.potential_register(layer.layer_type, _pooled(layer))
