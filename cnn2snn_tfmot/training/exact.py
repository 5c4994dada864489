"""Hardware-exact quantization-aware training: the Keras model computes what the chip computes.

``hardware_exact(model, input_scaling)`` returns a tf_keras model whose forward pass is the Akida
1.0 arithmetic of docs/akida-v1.md sections 4 and 5, block by block: integer input levels,
integer potentials, max pooling and 20-bit saturations, the global-pooling saturating sum, and
the integer fire with thresholds floored and act_steps truncated to 1/16. The thresholds and
act_steps are recomputed from the current trainable weights at every step by the converter's own
formula (:func:`cnn2snn_tfmot.conversion.registers.register_tensors`), and the arithmetic is the
emulator's (:mod:`cnn2snn_tfmot.engine.tf_backend`). Its outputs are bit for bit those of
``convert(model, input_scaling).predict(uint8 images)``.

Training: each block's output value is the chip's, but its gradient is that of the standard
quantized Keras computation of the same block (straight-through estimators through the floors,
rounds and clips): ``output = keras + stop_gradient(chip - keras)``. Both share one integer
product per block, from which the Keras pre-activation is an exact rescaling
(``z = P / (s * sf) + bias``). Every trainable variable of the quantized model keeps learning:
kernels, biases, trainable quantizer thresholds, ``QuantizedReLU`` thresholds and steps,
BatchNormalization gammas and betas (a BatchNormalization left in a block is applied with its
moving statistics, as the chip does: they are not updated).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot import convert, keras, quantize
    >>> from cnn2snn_tfmot.training.exact import hardware_exact
    >>> model = keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(4, 3, padding="same", name="conv"),
    ...     keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"),
    ...     keras.layers.Dense(3, name="dense")])
    >>> model_quantized = quantize(model, 4, 4, 8)
    >>> images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype(np.uint8)
    >>> x = (images / 255).astype(np.float32)
    >>> exact = hardware_exact(model_quantized, input_scaling=(255, 0))
    >>> np.array_equal(exact.predict(x, verbose=0).ravel(),
    ...                convert(model_quantized, input_scaling=(255, 0)).predict(images).ravel())
    True
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida.model import dequantize
from cnn2snn_tfmot.chip import limits
from cnn2snn_tfmot.chip.rules import check_input_scaling
from cnn2snn_tfmot.conversion.blocks import Block, akida_kind, analyze_layers
from cnn2snn_tfmot.conversion.compatibility import checked_blocks
from cnn2snn_tfmot.conversion.registers import RegisterInputs, register_tensors
from cnn2snn_tfmot.engine import tf_backend
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.input_scaling import scaling_for_conversion
from cnn2snn_tfmot.quantization.layers import QuantizedActivation
from cnn2snn_tfmot.quantization.scheme import custom_objects
from cnn2snn_tfmot.rewriting.chain import single_branch_layers
from cnn2snn_tfmot.rewriting.merging import merge_separable_conv
from cnn2snn_tfmot.rewriting.quantizing import cnn2snn_style_chain
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = ["hardware_exact", "HardwareExactNetwork"]

_register = keras.utils.register_keras_serializable(package="cnn2snn_tfmot")


@tf.custom_gradient
def _straight_through(value, keras_value):
    """``value`` forward, bit for bit, the gradient of ``keras_value`` backward.

    (Not ``keras_value + stop_gradient(value - keras_value)``: that sum rounds, and moved the
    dequantized outputs of a trained model by one unit in the last place.)"""
    def gradient(upstream):
        return None, upstream

    return tf.identity(value), gradient


@dataclasses.dataclass
class _BlockLayers:
    """The Keras layers of one Akida block, and what the block needs to know statically."""
    neural: keras.layers.Layer
    batchnorm: Optional[keras.layers.Layer]
    pool: Optional[keras.layers.Layer]
    activation: Optional[QuantizedActivation]
    block: Block
    kind: str              # Akida kind: "input", "conv", "separable" or "dense"
    input_max: int         # the largest input level the block can receive
    kernels: tuple = ()    # the registry's kernels of the neural layer's type
    bound: int = 0         # the largest |partial sum| of its potentials (exact float dtype)


@_register
class HardwareExactNetwork(keras.layers.Layer):
    """A quantized network computing the Akida 1.0 chip's integers (see the module docstring).

    Built by :func:`hardware_exact`, which is the way to make one. Its sublayers are the
    cnn2snn-style quantized layers of the model it was made from (same names and weights), so
    that ``convert()`` reads it as it reads that model.

    Arguments:
        layers: the quantized Keras layers, in order (cnn2snn-style; serialized configs ok):
            the network makes its own copies of them, without weights.
        input_scaling: ``(scale, shift)``: Akida inputs are ``scale * x + shift``.
        input_is_sparse: whether the Akida model starts with InputData (4-bit events).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import convert, keras, quantize
        >>> from cnn2snn_tfmot.training.exact import hardware_exact
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, padding="same", name="conv"),
        ...     keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"),
        ...     keras.layers.Dense(3, name="dense")])
        >>> model_quantized = quantize(model, 4, 4, 8)
        >>> images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype(np.uint8)
        >>> x = (images / 255).astype(np.float32)
        >>> exact = hardware_exact(model_quantized, input_scaling=(255, 0))
        >>> network = exact.get_layer("hardware_exact")
        >>> network.akida_input_scaling, [len(levels) for levels in network.block_outputs(x)]
        ((255.0, 0), [4, 4])
    """

    def __init__(self, layers, input_scaling=(1.0, 0), input_is_sparse: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.input_is_sparse = bool(input_is_sparse)
        self.scale, self.shift = check_input_scaling(input_scaling, self.input_is_sparse)
        self.chain = [_fresh_layer(layer) for layer in layers]
        self._blocks: List[_BlockLayers] = []

    @property
    def akida_input_scaling(self) -> Tuple[float, int]:
        """The input scaling this network computes with: ``convert()`` uses it."""
        return (self.scale, self.shift)

    @property
    def akida_layers(self) -> list:
        """The quantized Keras layers the block reader reads (``convert()``, the callbacks)."""
        return list(self.chain)

    # -- structure --------------------------------------------------------------------------
    def build(self, input_shape):
        shape = tf.TensorShape(input_shape)
        for layer in self.chain:
            if not layer.built:  # (a SavedModel revives them built)
                with tf.name_scope(layer.name):  # unique variable names (.h5 files need them)
                    layer.build(shape)
            shape = layer.compute_output_shape(shape)
        self._input_shape = tuple(input_shape)
        self.update_blocks()
        super().build(input_shape)

    def update_blocks(self) -> None:
        """Reads the blocks again from the layers: after their bitwidths changed
        (``BitwidthSchedule`` calls it), the largest input levels and potentials change.

        Raises:
            ValueError: the layers now break an Akida rule (e.g. a bitwidth the chip does not
                run).

        Example:
            >>> from cnn2snn_tfmot import hardware_exact, keras, quantize
            >>> float_model = keras.Sequential([keras.Input((8, 8, 1)),
            ...     keras.layers.Conv2D(4, 3), keras.layers.ReLU(name="relu"),
            ...     keras.layers.Flatten(), keras.layers.Dense(2)])
            >>> exact = hardware_exact(quantize(float_model, 4, 4, 8), input_scaling=(255, 0))
            >>> network = exact.get_layer("hardware_exact")
            >>> network.chain[1].set_bitwidth(2)     # the activation, now 2 bits
            >>> network.update_blocks()
            >>> network.chain[1].levels
            3
        """
        input_shape = self._input_shape
        shape, shapes = tf.TensorShape(input_shape), {}
        for layer in self.chain:
            shape = shapes[layer.name] = layer.compute_output_shape(shape)
        analysis = analyze_layers(self.chain, tuple(int(d) for d in input_shape[1:]),
                                  self.input_is_sparse)
        if analysis.violations:
            raise ValueError("HardwareExactNetwork: the layers break Akida rules:\n  - "
                             + "\n  - ".join(analysis.violations))
        by_name = {layer.name: layer for layer in self.chain}
        input_max = 2 ** limits.INPUT_BITS[-1] - 1 if self.input_is_sparse else \
            limits.IMAGE_MAX
        self._blocks = []
        for index, block in enumerate(analysis.blocks):
            if len(block.neural.layers) != 1:
                raise ValueError(f"HardwareExactNetwork: layers {block.neural.layers} form one "
                                 "separable convolution; merge them first "
                                 "(merge_separable_conv).")

            def layer_of(item):
                return None if item is None else by_name[item.name]

            layers = _BlockLayers(
                neural=by_name[block.neural.name], batchnorm=layer_of(block.batchnorm),
                pool=layer_of(block.pool), activation=layer_of(block.activation), block=block,
                kind=akida_kind(block, index, self.input_is_sparse), input_max=input_max,
                kernels=type(by_name[block.neural.name]).kernel_description.kernels)
            layers.bound = _potential_bound(layers)
            self._blocks.append(layers)
            if block.activation is not None:
                input_max = 2 ** block.activation.bitwidth - 1
        last = self._blocks[-1]
        self._output_shape = shapes[(last.pool or last.neural).name][1:]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0]] + list(self._output_shape))

    # -- computation ------------------------------------------------------------------------
    # Python loops over the blocks only, no tensor-dependent control flow: nothing for
    # autograph to convert.
    @tf.autograph.experimental.do_not_convert
    def call(self, inputs, training=None):  # the chip has no training mode
        return self._forward(inputs)[-1]

    def block_outputs(self, x) -> List[np.ndarray]:
        """Every block's output for ``x``: the chip's levels (uint8 values as float32), and
        the dequantized outputs of a last block without activation.

        Arguments:
            x: a batch of the model's (float) inputs.

        Returns:
            One numpy array per block.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot import convert, keras, quantize
            >>> from cnn2snn_tfmot.training.exact import hardware_exact
            >>> model = keras.Sequential([keras.Input((8, 8, 1)),
            ...     keras.layers.Conv2D(4, 3, padding="same", name="conv"),
            ...     keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"),
            ...     keras.layers.Dense(3, name="dense")])
            >>> model_quantized = quantize(model, 4, 4, 8)
            >>> images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype(np.uint8)
            >>> x = (images / 255).astype(np.float32)
            >>> exact = hardware_exact(model_quantized, input_scaling=(255, 0))
            >>> levels = exact.get_layer("hardware_exact").block_outputs(x)[0]
            >>> bool(levels.min() >= 0 and levels.max() <= 15
            ...      and np.all(levels == np.round(levels)))
            True
        """
        return [output.numpy() for output in self._forward(tf.convert_to_tensor(x, tf.float32))]

    def _input_levels(self, x):
        """The chip's integer input levels ``clip(round(scale * x + shift))`` (gradient
        straight through)."""
        x = tf.cast(x, tf.float32)
        levels = x * np.float32(self.scale) + np.float32(self.shift)
        high = self._blocks[0].input_max
        return _straight_through(tf.clip_by_value(tf.round(levels), 0.0, float(high)), levels)

    def _forward(self, x) -> list:
        levels = self._input_levels(x)
        scale = tf.constant(self.scale, tf.float64)
        outputs = []
        for block in self._blocks:
            levels, step_height = self._block(block, levels, scale)
            outputs.append(levels)
            if step_height is not None:
                scale = 1.0 / tf.cast(step_height, tf.float64)
        return outputs

    def _register_inputs(self, block: _BlockLayers, scale) -> RegisterInputs:
        activation = block.activation
        batchnorm = block.batchnorm
        return RegisterInputs(
            kind=block.kind,
            kernels={k.role: getattr(block.neural, k.attribute) for k in block.kernels},
            quantizers={k.role: getattr(block.neural, k.quantizer) for k in block.kernels},
            bias=block.neural.bias if block.neural.use_bias else None,
            activation=None if activation is None else (
                activation.bitwidth, activation.threshold, activation.step_width),
            batchnorm=None if batchnorm is None else _batchnorm_tensors(batchnorm),
            pool_area=self._pool_area(block), scale=scale,
            shift=self.shift if block.kind == "input" else 0)

    @staticmethod
    def _pool_area(block: _BlockLayers) -> Optional[int]:
        pool = block.block.pool
        if pool is None or pool.kind != "global":
            return None
        height, width = block.block.neural.output_shape[:2]
        return int(height * width)

    def _potentials(self, block: _BlockLayers, levels, integers):
        """The block's integer potentials (exact floats, with the gradient of the product)."""
        dtype = tf_backend.exact_dtype(block.bound)
        levels = tf.cast(levels, dtype)
        if block.kind == "dense":
            flat = tf.reshape(levels, [-1, int(np.prod(levels.shape[1:]))])
            return tf.matmul(flat, tf.cast(integers["kernel"], dtype))
        strides, padding = tuple(block.neural.strides), block.neural.padding
        if block.kind == "separable":
            sums = tf_backend.depthwise_conv2d(levels, tf.cast(integers["depthwise"], dtype),
                                               strides, padding)
            return tf_backend.conv2d(sums, tf.cast(integers["pointwise"], dtype), (1, 1),
                                     (1, 1), "valid", 0.0)
        kernel = integers["kernel"]
        return tf_backend.conv2d(levels, tf.cast(kernel, dtype),
                                 tuple(int(k) for k in kernel.shape[:2]), strides, padding,
                                 float(self.shift if block.kind == "input" else 0))

    def _block(self, block: _BlockLayers, levels, scale):
        registers = register_tensors(self._register_inputs(block, scale))
        potentials = self._potentials(block, levels, registers["integers"])
        exact = tf.stop_gradient(self._chip(block, potentials, registers))
        keras_value = self._keras(block, potentials, registers, scale)
        step_height = None if block.activation is None else block.activation.step_height
        return _straight_through(exact, keras_value), step_height

    def _chip(self, block: _BlockLayers, potentials, registers):
        """The chip's output: levels (float32), or the dequantized potentials without
        activation.

        The potentials stay in their exact float dtype (integers below 2**24 in float32, 2**53
        in float64): pooling and 20-bit saturation are exact on them, and the fire is exact
        from any dtype (:func:`cnn2snn_tfmot.engine.tf_backend.fire_levels`); int64 tensors
        as large as the feature maps only where a global sum can saturate."""
        p = potentials
        pool = block.block.pool
        if pool is not None and pool.kind == "max":
            p = tf_backend.saturate(tf.nn.max_pool2d(p, list(pool.size), list(pool.strides),
                                                     pool.padding.upper()))
        elif pool is not None:
            p = tf_backend.saturating_global_sum(p, block.bound)
            p = tf.reshape(p, [-1, int(p.shape[-1])])
        elif block.kind == "dense":
            p = tf_backend.saturate(p)
        if block.activation is None:
            return dequantize(p, tf.cast(registers["threshold"], tf.int64),
                              registers["act_step"], tf.cast)
        bits = block.activation.bitwidth
        return tf_backend.fire_levels(p, registers["threshold"], tf_backend.step16(
            registers["act_step"], bits), bits)

    def _keras(self, block: _BlockLayers, potentials, registers, scale):
        """The quantized Keras computation of the block, from the same potentials: its values
        differ from the chip's by the chip's roundings; its gradient is standard QAT's."""
        potentials = tf.cast(potentials, tf.float32)
        if block.kind == "input" and self.shift:
            sums = tf.reduce_sum(tf.reshape(registers["integers"]["kernel"],
                                            [-1, int(potentials.shape[-1])]), axis=0)
            potentials = potentials - self.shift * sums
        pool = block.block.pool
        if pool is not None and pool.kind == "max":
            potentials = tf.nn.max_pool2d(potentials, list(pool.size), list(pool.strides),
                                          pool.padding.upper())
        elif pool is not None:
            potentials = tf.reduce_mean(potentials, axis=[1, 2])
        scaled_sf = tf.cast(scale, tf.float32) * tf.cast(registers["scale_factor"], tf.float32)
        value = potentials / scaled_sf
        if block.neural.use_bias:
            value = value + block.neural.bias
        if block.batchnorm is not None:
            gamma, beta, mean, variance, epsilon = _batchnorm_tensors(block.batchnorm)
            value = (value - mean) * (gamma / tf.sqrt(variance + epsilon)) + beta
        if block.activation is None:
            return value
        return block.activation(value) / block.activation.step_height

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"layers": [_layer_config(layer) for layer in self.chain],
                       "input_scaling": [self.scale, self.shift],
                       "input_is_sparse": self.input_is_sparse})
        return config


def _layer_config(layer) -> dict:
    """A layer's serialized config, without its build state (the network builds its layers
    itself, in its own name scope)."""
    config = keras.layers.serialize(layer)
    config.pop("build_config", None)
    return config


def _fresh_layer(layer):
    """An unbuilt layer from a layer or its serialized config."""
    config = _layer_config(layer) if not isinstance(layer, dict) else {
        k: v for k, v in layer.items() if k != "build_config"}
    # Keras's .h5 loader looks nested layers up by class name: name the package's classes.
    return keras.layers.deserialize(config, custom_objects=custom_objects())


def _potential_bound(block: _BlockLayers) -> int:
    """The largest absolute value any partial sum of the block's potentials can take."""
    kmax = max(getattr(block.neural, kernel.quantizer).kmax_ for kernel in block.kernels)
    shapes = {kernel.role: tuple(getattr(block.neural, kernel.attribute).shape)
              for kernel in block.kernels}
    if block.kind == "separable":  # (taps) depthwise sums, then C of them per output
        depthwise = shapes["depthwise"]
        return block.input_max * kmax * int(np.prod(depthwise[:2])) * kmax * depthwise[2]
    return block.input_max * kmax * int(np.prod(shapes["kernel"][:-1]))


def _batchnorm_tensors(layer):
    size = int(layer.moving_mean.shape[0])
    gamma = layer.gamma if layer.gamma is not None else tf.ones([size])
    beta = layer.beta if layer.beta is not None else tf.zeros([size])
    return gamma, beta, layer.moving_mean, layer.moving_variance, float(layer.epsilon)


def hardware_exact(model, input_scaling=None, input_is_sparse: bool = False):
    """A tf_keras model computing, bit for bit, what the Akida chip computes from ``model``.

    It takes the same float input as ``model`` (e.g. ``img / 255`` with
    ``input_scaling=(255, 0)``) and outputs ``convert(model, input_scaling).predict(images)``
    (the dequantized logits; the levels of a last layer with an activation). Train it with
    ``model.fit`` (a loss on logits: ``from_logits=True``): the accuracy it reports is the
    chip's. ``convert()`` accepts it and gives the same Akida model as converting ``model``
    with the same weights; it remembers its input scaling.

    Arguments:
        model: a quantized tf_keras model: ``Quantized*`` layers (as BrainChip's cnn2snn makes
            them) or a TFMOT model built with the Akida QuantizeConfigs (not modified; its
            weights are copied).
        input_scaling: ``(scale, shift)`` with ``x_akida = scale * x + shift``, as for
            ``convert``; None (default): the one the model remembers
            (``quantize(..., input_scaling=...)``), as ``convert`` does.
        input_is_sparse: True for an InputData first layer (events), as for ``convert``.

    Returns:
        A Functional tf_keras model: the input, then one :class:`HardwareExactNetwork` layer
        named "hardware_exact".

    Raises:
        IncompatibleModelError: what ``convert`` refuses, naming the layers.
        ValueError: registers that do not fit the chip, or a bad ``input_scaling``.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import convert, keras, quantize
        >>> from cnn2snn_tfmot.training.exact import hardware_exact
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, padding="same", name="conv"),
        ...     keras.layers.ReLU(name="relu"), keras.layers.Flatten(name="flat"),
        ...     keras.layers.Dense(3, name="dense")])
        >>> model_quantized = quantize(model, 4, 4, 8)
        >>> images = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 1)).astype(np.uint8)
        >>> x = (images / 255).astype(np.float32)
        >>> y = np.array([0, 1, 2, 1])
        >>> exact = hardware_exact(model_quantized, input_scaling=(255, 0))
        >>> exact.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        ...               metrics=["accuracy"])
        >>> _ = exact.fit(x, y, epochs=1, verbose=0)
        >>> akida_model = convert(exact, input_scaling=(255, 0))
        >>> np.array_equal(exact.predict(x, verbose=0).ravel(),
        ...                akida_model.predict(images).ravel())
        True
    """
    model = check_keras_model(model)
    scaling = scaling_for_conversion(model, input_scaling, input_is_sparse)
    checked_blocks(model, input_is_sparse, scaling)
    # cnn2snn-style layers, depthwise + pointwise pairs merged: the same function, and the same
    # blocks for the converter.
    unwrapped = merge_separable_conv(cnn2snn_style_chain(model, "hardware_exact").build())
    layers = single_branch_layers(unwrapped, "hardware_exact")
    network = HardwareExactNetwork(layers, scaling, input_is_sparse, name="hardware_exact")
    inputs = keras.Input(tuple(model.inputs[0].shape[1:]))
    exact = keras.Model(inputs, network(inputs), name=f"{model.name}_hardware_exact")
    for source, target in zip(layers, network.chain):
        target.set_weights(source.get_weights())
    return exact
