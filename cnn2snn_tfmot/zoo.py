"""Float Keras models shared by the examples, tests and benchmarks.

They are built to be Akida-compatible once quantized: blocks of neural layer, BatchNormalization,
optional max pooling and ReLU, and a last Dense layer without activation.
"""
from __future__ import annotations

from cnn2snn_tfmot._keras import keras

__all__ = ["mnist_cnn", "cifar_separable_cnn"]

L = keras.layers


def mnist_cnn(name: str = "mnist_cnn"):
    """A small MNIST CNN: conv 3x3x32 + pool, separable 3x3x64 + pool, separable 3x3x64, dense.

    Inputs are images scaled to [0, 1] (convert with ``input_scaling=(255, 0)``).

    Arguments:
        name: the model's name.

    Returns:
        An uncompiled float tf_keras Sequential model for (28, 28, 1) inputs and 10 logits.

    Example:
        >>> model = mnist_cnn(); model.count_params()
    """
    return keras.Sequential([
        keras.Input((28, 28, 1), name="image"),
        L.Conv2D(32, 3, padding="same", use_bias=False, name="conv_0"),
        L.BatchNormalization(name="conv_0_bn"), L.ReLU(name="conv_0_relu"),
        L.MaxPool2D(padding="same", name="conv_0_pool"),
        L.SeparableConv2D(64, 3, padding="same", use_bias=False, name="separable_1"),
        L.BatchNormalization(name="separable_1_bn"), L.ReLU(name="separable_1_relu"),
        L.MaxPool2D(padding="same", name="separable_1_pool"),
        L.SeparableConv2D(64, 3, padding="same", use_bias=False, name="separable_2"),
        L.BatchNormalization(name="separable_2_bn"), L.ReLU(name="separable_2_relu"),
        L.Flatten(name="flatten"),
        L.Dense(10, name="dense"),
    ], name=name)


def cifar_separable_cnn(name: str = "cifar_separable_cnn"):
    """A CIFAR-size (32x32x3) CNN: an input convolution and 4 separable blocks, then dense.

    Arguments:
        name: the model's name.

    Returns:
        An uncompiled float tf_keras Sequential model for (32, 32, 3) inputs and 10 logits.

    Example:
        >>> model = cifar_separable_cnn()
    """
    layers = [keras.Input((32, 32, 3), name="image"),
              L.Conv2D(32, 3, padding="same", use_bias=False, name="conv_0"),
              L.BatchNormalization(name="conv_0_bn"), L.ReLU(name="conv_0_relu")]
    for index, (filters, pool) in enumerate([(64, True), (128, True), (128, True), (256, False)],
                                            start=1):
        layers += [L.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                                     name=f"separable_{index}"),
                   L.BatchNormalization(name=f"separable_{index}_bn")]
        if pool:
            layers.append(L.MaxPool2D(padding="same", name=f"separable_{index}_pool"))
        layers.append(L.ReLU(name=f"separable_{index}_relu"))
    layers += [L.GlobalAveragePooling2D(name="gap"), L.Dense(10, name="dense")]
    return keras.Sequential(layers, name=name)
