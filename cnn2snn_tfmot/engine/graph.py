"""Builds one ``tf.function`` per Akida model from its layers, through a back-end.

The Akida model stores variables exactly as BrainChip's runtime does; this module turns them into
the back-end's conventions once, at build time: Convolutional / Separable kernels are un-flipped
(the runtime convolves, the back-ends cross-correlate), the FullyConnected input is transposed
to the runtime's column-major order before flattening, and pooling / fire parameters become
:class:`PoolSpec` / :class:`FireSpec`.

The Akida model caches the function (:meth:`cnn2snn_tfmot.akida.Model.emulator_function`) and
asks for a new one when a layer is added or a variable is set.

Example:
    >>> fn = model_function(akida_model, "tf")
    >>> fn(tf.constant(images)).numpy().dtype   # int32 potentials of the last layer
    dtype('int32')
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from cnn2snn_tfmot.chip.enums import PoolType
from cnn2snn_tfmot.engine.backend import FireSpec, PoolSpec
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["model_function", "build_function", "BUILDERS"]

_POOL_KINDS = {PoolType.NoPooling: "none", PoolType.Max: "max", PoolType.Average: "global_sum"}


def model_function(model, engine: Optional[str] = None):
    """The ``tf.function`` computing ``model``'s output for a uint8 NHWC batch.

    The same as ``model.emulator_function(engine)``, which caches it.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model` with at least one neural layer.
        engine: None, "custom" or "tf" (see :func:`cnn2snn_tfmot.engine.get_backend`).

    Returns:
        A ``tf.function`` with input signature ``uint8 [None, H, W, C]`` returning the last
        layer's uint8 levels or int32 potentials, shape ``[None] + output_shape``.

    Example:
        >>> model_function(akida_model, "tf").input_signature
        (TensorSpec(shape=(None, 16, 16, 1), dtype=tf.uint8, name=None),)
    """
    return model.emulator_function(engine)


def build_function(model, backend):
    """Builds (without caching) the ``tf.function`` of ``model`` with ``backend``.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        backend: a back-end module (see :mod:`cnn2snn_tfmot.engine.backend`).

    Returns:
        The ``tf.function`` (see :func:`model_function`).

    Example:
        >>> from cnn2snn_tfmot.engine import tf_backend
        >>> fn = build_function(akida_model, tf_backend)
        >>> np.array_equal(fn(tf.constant(images)), akida_model.forward(images))
        True
    """
    layers = model.layers
    if not any(not layer.is_input or layer.layer_type == "InputConvolutional"
               for layer in layers):
        raise ValueError("the model has no neural layer: add a layer after InputData before "
                         "running it.")
    steps = [_build_step(layer, backend) for layer in layers]
    height, width, channels = model.input_shape

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8)],
                 autograph=False)
    def run(x):
        for step in steps:
            x = step(x)
        return x

    run.get_concrete_function()  # trace now, so that build errors surface here
    return run


def _build_step(layer, backend) -> Callable:
    def named(call, *args):
        try:
            return call(*args)
        except (ValueError, TypeError) as err:
            if type(err) not in (ValueError, TypeError):
                raise
            raise type(err)(f"{layer.layer_type} layer '{layer.name}': {err}") from err

    step = named(BUILDERS[layer.layer_type], layer, backend)
    return lambda x: named(step, x)


def _pool(layer) -> PoolSpec:
    p = layer.parameters
    kind = _POOL_KINDS[p.pool_type]
    if kind == "max":
        return PoolSpec(kind, tuple(p.pool_size), tuple(p.pool_stride))
    return PoolSpec(kind)


def _fire(layer) -> Optional[FireSpec]:
    p = layer.parameters
    if not p.activation:
        return None
    return FireSpec(layer.get_variable("threshold"), layer.get_variable("act_step"), p.act_bits)


def _input_data(layer, backend):
    return lambda x: x


def _input_convolutional(layer, backend):
    p = layer.parameters
    kernel = layer.get_variable("weights")  # stored in cross-correlation orientation
    pool, fire = _pool(layer), _fire(layer)
    return lambda x: backend.conv_block(
        x, kernel, strides=tuple(p.kernel_stride), padding=p.padding.tf_name,
        padding_value=p.padding_value, pool=pool, fire=fire)


def _convolutional(layer, backend):
    p = layer.parameters
    kernel = np.ascontiguousarray(layer.get_variable("weights")[::-1, ::-1])  # un-flip
    pool, fire = _pool(layer), _fire(layer)
    return lambda x: backend.conv_block(
        x, kernel, strides=tuple(p.kernel_stride), padding=p.padding.tf_name,
        padding_value=0, pool=pool, fire=fire)


def _separable_convolutional(layer, backend):
    p = layer.parameters
    depthwise = np.ascontiguousarray(layer.get_variable("weights")[::-1, ::-1, :, 0])  # un-flip
    pointwise = np.ascontiguousarray(layer.get_variable("weights_pw")[0, 0])
    pool, fire = _pool(layer), _fire(layer)
    return lambda x: backend.separable_block(
        x, depthwise, pointwise, strides=tuple(p.kernel_stride), padding=p.padding.tf_name,
        pool=pool, fire=fire)


def _fully_connected(layer, backend):
    height, width, channels = layer.input_dims
    weights = np.ascontiguousarray(layer.get_variable("weights")[0, 0])
    fire = _fire(layer)
    units = layer.parameters.units

    def step(x):
        # Runtime order h + H*w + H*W*c: transpose (N, H, W, C) to (N, C, W, H), flatten.
        flat = tf.reshape(tf.transpose(x, [0, 3, 2, 1]), [-1, height * width * channels])
        y = backend.dense_block(flat, weights, fire=fire)
        return tf.reshape(y, [-1, 1, 1, units])

    return step


#: Layer type -> builder(layer, backend) returning a function of the layer input tensor.
BUILDERS = {
    "InputData": _input_data,
    "InputConvolutional": _input_convolutional,
    "Convolutional": _convolutional,
    "SeparableConvolutional": _separable_convolutional,
    "FullyConnected": _fully_connected,
}
