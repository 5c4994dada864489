"""Builds the ``tf.function`` of an Akida model from its lowered layers, through a back-end.

Each :class:`~cnn2snn_tfmot.chip.lowering.LoweredLayer` becomes one *step*, a function of the
layer's input tensor: the block function of the back-end (convolution, separable or dense
product, pooling and fire, fused by the compiled back-end) with the lowered kernels, pooling and
fire. The Akida model caches the function it builds
(:meth:`cnn2snn_tfmot.akida.Model.emulator_function`) and builds a new one when a layer is
added or a variable is set; the probe (:mod:`.probe`) runs the same steps.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
    >>> from cnn2snn_tfmot.engine import graph, tf_backend
    >>> from cnn2snn_tfmot.tfkeras import tf
    >>> model = Model()
    >>> model.add(InputData((1, 1, 4), input_bits=4))
    >>> model.add(FullyConnected(2, weights_bits=4, activation=False))
    >>> model.layers[1].set_variable("weights", np.ones((1, 1, 4, 2), np.int8))
    >>> run = graph.build_function(model.lowered(), model.input_shape, tf_backend)
    >>> run(tf.constant(np.full((1, 1, 1, 4), 3, np.uint8))).numpy().ravel().tolist()
    [12, 12]
"""
from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

from cnn2snn_tfmot.chip.lowering import LoweredLayer
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["build_function", "layer_step", "STEPS"]


def build_function(lowered: Sequence[LoweredLayer], input_shape: Tuple[int, int, int],
                   backend):
    """Builds (without caching) the ``tf.function`` running ``lowered`` with ``backend``.

    Arguments:
        lowered: the model's lowered layers (:meth:`cnn2snn_tfmot.akida.Model.lowered`).
        input_shape: (height, width, channels) of the model input.
        backend: a back-end module (see :mod:`cnn2snn_tfmot.engine.backend`).

    Returns:
        A ``tf.function`` with input signature ``uint8 [None, H, W, C]`` returning the last
        layer's uint8 levels or int32 potentials, shape ``[None] + output_dims``.

    Raises:
        ValueError: the model has no neural layer (only an InputData).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
        >>> from cnn2snn_tfmot.engine import graph, tf_backend
        >>> model = Model()
        >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
        >>> run = graph.build_function(model.lowered(), model.input_shape, tf_backend)
        >>> run.input_signature
        (TensorSpec(shape=(None, 8, 8, 1), dtype=tf.uint8, name=None),)
    """
    if all(layer.kind == "input" for layer in lowered):
        raise ValueError("the model has no neural layer: add a layer after InputData before "
                         "running it.")
    steps = [layer_step(layer, backend) for layer in lowered]

    @tf.function(input_signature=[tf.TensorSpec([None, *input_shape], tf.uint8)],
                 autograph=False)
    def run(x):
        for step in steps:
            x = step(x)
        return x

    run.get_concrete_function()  # trace now, so that build errors surface here
    return run


def layer_step(layer: LoweredLayer, backend) -> Callable:
    """The function computing one lowered layer's output from its input tensor.

    Errors raised while building or tracing name the layer.

    Arguments:
        layer: a :class:`~cnn2snn_tfmot.chip.lowering.LoweredLayer`.
        backend: a back-end module (or a proxy with the same block functions, as the probe's).

    Returns:
        A function of the layer's input tensor.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.lowering import LoweredLayer
        >>> from cnn2snn_tfmot.engine import tf_backend
        >>> from cnn2snn_tfmot.engine.graph import layer_step
        >>> step = layer_step(LoweredLayer("in", "InputData", "input", (2, 2, 1), (2, 2, 1), 15),
        ...                   tf_backend)
        >>> step(np.zeros((1, 2, 2, 1), np.uint8)).shape
        (1, 2, 2, 1)
    """
    def named(call, *args):
        try:
            return call(*args)
        except (ValueError, TypeError) as err:
            if type(err) not in (ValueError, TypeError):
                raise
            raise type(err)(f"{layer.layer_type} layer '{layer.name}': {err}") from err

    step = named(STEPS[layer.kind], layer, backend)
    return lambda x: named(step, x)


def _input(layer: LoweredLayer, backend) -> Callable:
    return lambda x: x


def _conv(layer: LoweredLayer, backend) -> Callable:
    return lambda x: backend.conv_block(
        x, layer.kernel, strides=layer.strides, padding=layer.padding,
        padding_value=layer.padding_value, pool=layer.pool, fire=layer.fire)


def _separable(layer: LoweredLayer, backend) -> Callable:
    return lambda x: backend.separable_block(
        x, layer.kernel, layer.pointwise, strides=layer.strides, padding=layer.padding,
        pool=layer.pool, fire=layer.fire)


def _dense(layer: LoweredLayer, backend) -> Callable:
    rows = layer.kernel.shape[0]
    units = layer.output_dims[-1]

    def step(x):
        # The lowered rows are in NHWC order: the input flattens as it is.
        y = backend.dense_block(tf.reshape(x, [-1, rows]), layer.kernel, fire=layer.fire)
        return tf.reshape(y, [-1, 1, 1, units])

    return step


#: Lowered kind -> builder(layer, backend) returning a function of the layer input tensor.
STEPS: Dict[str, Callable] = {"input": _input, "conv": _conv, "separable": _separable,
                              "dense": _dense}
