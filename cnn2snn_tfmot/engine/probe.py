"""The emulator's probe: every layer's potentials and outputs in one graph.

A model's function (:mod:`.graph`) fuses each layer (product, pooling, fire) into one op, so the
potentials never leave it. The probe runs the same steps (:func:`cnn2snn_tfmot.engine.graph.
layer_step`: same lowered kernels, same flattening) through a back-end proxy that calls the
block functions with ``fire=None``, which gives the potentials the fire compares with the
thresholds (after pooling and its saturation), and then fires them with the back-end's
standalone fire (``fire_potentials``: the compiled ``AkidaFire`` op, or the pure-TF fire). The
levels equal :meth:`cnn2snn_tfmot.akida.Model.forward`'s bit for bit (tested on every layer type
and both graph back-ends); the probe is slower than the fused path, as the potentials of every
layer are materialised.

:func:`build_probe` returns every tensor; :func:`build_statistics` reduces them in the graph to
the per-batch figures of :meth:`cnn2snn_tfmot.akida.Model.statistics`, so that only a few
numbers per layer leave the graph. The Akida model caches both
(:meth:`~cnn2snn_tfmot.akida.Model.probe_function`,
:meth:`~cnn2snn_tfmot.akida.Model.statistics_function`).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
    >>> from cnn2snn_tfmot.tfkeras import tf
    >>> model = Model()
    >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
    >>> outputs = model.probe_function("tf")(tf.constant(np.zeros((2, 8, 8, 1), np.uint8)))
    >>> [(tuple(out["potentials"].shape), out["outputs"].dtype.name) for out in outputs]
    [((2, 8, 8, 4), 'uint8')]
"""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

from cnn2snn_tfmot.chip import limits
from cnn2snn_tfmot.chip.lowering import FireSpec, LoweredLayer
from cnn2snn_tfmot.engine.graph import layer_step
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["build_probe", "build_statistics", "potential_register", "STATISTICS_KEYS"]

#: What the function of :func:`build_statistics` returns per layer (one batch): ``events``
#: int64 (N,), the non-zero outputs of each image; ``potential_min`` / ``potential_max``
#: int32 scalars; ``saturated`` int64, the potentials at a bound of a saturating register;
#: ``level_counts`` int64 (2**bits,), the histogram of the output levels. Absent where not
#: applicable (InputData has no potentials; a layer without activation has no levels).
STATISTICS_KEYS = ("events", "potential_min", "potential_max", "saturated", "level_counts")


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


def _layer_steps(lowered: Sequence[LoweredLayer], backend) -> List[Callable]:
    """One function per layer: input tensor -> (potentials or None, outputs)."""
    if not lowered:
        raise ValueError("the model is empty: add layers before running it.")
    steps = []
    for layer in lowered:
        recorder = _Recorder(backend)
        step = layer_step(layer, recorder)

        def run(x, step=step, recorder=recorder, layer=layer):
            recorder.potentials = None
            outputs = step(x)
            potentials = recorder.potentials
            if potentials is not None:  # FullyConnected: (N, U) -> (N, 1, 1, U)
                potentials = tf.reshape(potentials, [-1, *layer.output_dims])
            return potentials, outputs

        steps.append(run)
    return steps


def _signature(input_shape):
    return [tf.TensorSpec([None, *input_shape], tf.uint8)]


def build_probe(lowered: Sequence[LoweredLayer], input_shape: Tuple[int, int, int], backend):
    """The ``tf.function`` giving every layer's potentials and outputs for a uint8 batch.

    Arguments:
        lowered: the model's lowered layers (:meth:`cnn2snn_tfmot.akida.Model.lowered`).
        input_shape: (height, width, channels) of the model input.
        backend: a graph back-end module (:func:`cnn2snn_tfmot.engine.get_backend`).

    Returns:
        A ``tf.function`` of a uint8 NHWC batch returning one dict per layer, in order:
        ``"potentials"``, the int32 potentials the fire compares, shape ``(N,) +
        output_dims`` (after pooling and its saturation; None for InputData), and
        ``"outputs"``, what the layer passes on (uint8 levels, or the potentials of a layer
        without activation; the input itself for InputData).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
        >>> from cnn2snn_tfmot.engine import tf_backend
        >>> from cnn2snn_tfmot.engine.probe import build_probe
        >>> model = Model()
        >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
        >>> probe = build_probe(model.lowered(), model.input_shape, tf_backend)
        >>> images = np.zeros((2, 8, 8, 1), np.uint8)
        >>> np.array_equal(probe(images)[-1]["outputs"], model.forward(images))
        True
    """
    steps = _layer_steps(lowered, backend)

    @tf.function(input_signature=_signature(input_shape), autograph=False)
    def probe(x):
        results = []
        for step in steps:
            potentials, x = step(x)
            results.append({"potentials": potentials, "outputs": x})
        return results

    probe.get_concrete_function()  # trace now, so that build errors surface here
    return probe


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


def build_statistics(lowered: Sequence[LoweredLayer], input_shape: Tuple[int, int, int],
                     backend):
    """The ``tf.function`` reducing one uint8 batch to per-layer statistics, in the graph.

    Arguments:
        lowered: the model's lowered layers (:meth:`cnn2snn_tfmot.akida.Model.lowered`).
        input_shape: (height, width, channels) of the model input.
        backend: a graph back-end module (:func:`cnn2snn_tfmot.engine.get_backend`).

    Returns:
        A ``tf.function`` returning a list of dicts: first the model input's (``events`` only),
        then one per layer with the keys of :data:`STATISTICS_KEYS` that apply.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
        >>> from cnn2snn_tfmot.engine import tf_backend
        >>> from cnn2snn_tfmot.engine.probe import build_statistics
        >>> model = Model()
        >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
        >>> figures = build_statistics(model.lowered(), model.input_shape, tf_backend)(
        ...     np.zeros((2, 8, 8, 1), np.uint8))
        >>> sorted(figures[1])
        ['events', 'level_counts', 'potential_max', 'potential_min', 'saturated']
    """
    steps = _layer_steps(lowered, backend)

    @tf.function(input_signature=_signature(input_shape), autograph=False)
    def statistics(x):
        results = [{"events": tf.math.count_nonzero(x, axis=[1, 2, 3], dtype=tf.int64)}]
        for layer, step in zip(lowered, steps):
            potentials, x = step(x)
            results.append(_layer_statistics(layer, potentials, x))
        return results

    statistics.get_concrete_function()
    return statistics


def _pooled(layer: LoweredLayer) -> bool:
    return layer.kind != "dense" and layer.pool.kind != "none"


def potential_register(layer: LoweredLayer) -> tuple:
    """The register of a lowered layer's potentials (see
    :func:`cnn2snn_tfmot.chip.limits.potential_register`).

    Arguments:
        layer: a neural :class:`~cnn2snn_tfmot.chip.lowering.LoweredLayer`.

    Returns:
        ``(bits, low, high, saturates)``.

    Example:
        >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
        >>> from cnn2snn_tfmot.engine.probe import potential_register
        >>> model = Model()
        >>> model.add(InputData((1, 1, 4), input_bits=4))
        >>> model.add(FullyConnected(2, weights_bits=4, activation=False))
        >>> potential_register(model.lowered()[1])
        (20, -524288, 524287, True)
    """
    return limits.potential_register(layer.layer_type, _pooled(layer))
