"""The small models and data the documentation's examples share, built in a second.

Every example in the package's docstrings that needs a trained-looking model starts with::

    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()

so that it can be pasted as it stands: a 16x16 single-channel CNN (a 3x3 convolution with max
pooling, a separable convolution, a dense layer), its 4/4/8 quantized version (which does not
remember an input scaling) and the Akida model converted with ``input_scaling=(255, 0)``, with
32 random uint8 images and labels. The weights are random and the BatchNormalization statistics
calibrated on the images; the accuracies mean nothing. The objects are built once per process
and shared: copy a model before changing it.

Example:
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> [layer.layer_type for layer in akida_model.layers]
    ['InputConvolutional', 'SeparableConvolutional', 'FullyConnected']
    >>> images.shape, images.dtype, labels.shape
    ((32, 16, 16, 1), dtype('uint8'), (32,))
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from cnn2snn_tfmot.conversion import convert
from cnn2snn_tfmot.data.zoo import calibrate_batchnorm
from cnn2snn_tfmot.rewriting import quantize
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["ExampleModels", "example_models", "example_float_model"]


class ExampleModels(NamedTuple):
    """What :func:`example_models` returns.

    Arguments:
        model: the float tf_keras model (inputs ``images / 255``).
        model_quantized: ``quantize(model, 4, 4, 8)``.
        akida_model: ``convert(model_quantized, input_scaling=(255, 0))``.
        images: uint8 (32, 16, 16, 1).
        labels: int64 (32,), in 0..9.

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> example_models().akida_model.output_shape
        (1, 1, 10)
    """
    model: object
    model_quantized: object
    akida_model: object
    images: np.ndarray
    labels: np.ndarray


def example_float_model():
    """A new copy of the examples' float model (random weights, seeded, uncalibrated).

    Returns:
        A tf_keras Sequential model for (16, 16, 1) inputs and 10 logits.

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_float_model
        >>> [layer.name for layer in example_float_model().layers][:3]
        ['conv_0', 'conv_0_bn', 'conv_0_relu']
    """
    layers = keras.layers
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((16, 16, 1)),
        layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_0"),
        layers.BatchNormalization(name="conv_0_bn"), layers.ReLU(name="conv_0_relu"),
        layers.MaxPool2D(padding="same", name="conv_0_pool"),
        layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="separable_1"),
        layers.BatchNormalization(name="separable_1_bn"), layers.ReLU(name="separable_1_relu"),
        layers.Flatten(name="flatten"), layers.Dense(10, name="dense")], name="doctest_cnn")


@functools.lru_cache(maxsize=1)
def example_models() -> ExampleModels:
    """The float, quantized and Akida models and the data of the documentation's examples.

    Returns:
        An :class:`ExampleModels` (built on the first call, then shared).

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> 0.0 <= akida_model.evaluate(images, labels) <= 1.0
        True
    """
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 16, 16, 1)).astype(np.uint8)
    labels = rng.integers(0, 10, 32).astype(np.int64)
    model = example_float_model()
    calibrate_batchnorm(model, images / 255)
    model_quantized = quantize(model, 4, 4, 8)
    akida_model = convert(model_quantized, input_scaling=(255, 0))
    return ExampleModels(model, model_quantized, akida_model, images, labels)
