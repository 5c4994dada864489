"""Float Keras models shared by the examples, tests and benchmarks.

They are built to be Akida-compatible once quantized: blocks of neural layer, BatchNormalization,
optional max pooling and ReLU, and a last Dense layer without activation.
"""
from __future__ import annotations

from cnn2snn_tfmot.tfkeras import keras

__all__ = ["mnist_cnn", "cifar_separable_cnn", "cifar_vgg", "deep_separable_cnn",
           "akidanet_like", "calibrate_batchnorm"]

L = keras.layers


def mnist_cnn(name: str = "mnist_cnn"):
    """A small MNIST CNN: conv 3x3x32 + pool, separable 3x3x64 + pool, separable 3x3x64, dense.

    Inputs are images scaled to [0, 1] (convert with ``input_scaling=(255, 0)``).

    Arguments:
        name: the model's name.

    Returns:
        An uncompiled float tf_keras Sequential model for (28, 28, 1) inputs and 10 logits.

    Example:
        >>> from cnn2snn_tfmot.data.zoo.networks import mnist_cnn
        >>> mnist_cnn().count_params()
        39306
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
        >>> from cnn2snn_tfmot.data.zoo.networks import cifar_separable_cnn
        >>> model = cifar_separable_cnn()
    """
    layers = [keras.Input((32, 32, 3), name="image"),
              L.Conv2D(32, 3, padding="same", use_bias=False, name="conv_0"),
              L.BatchNormalization(name="conv_0_bn"), L.ReLU(name="conv_0_relu")]
    # The last block pools globally before its activation: pooling belongs to the block.
    pools = {1: L.MaxPool2D, 2: L.MaxPool2D, 3: L.MaxPool2D, 4: L.GlobalAveragePooling2D}
    for index, filters in enumerate([64, 128, 128, 256], start=1):
        pool = pools[index]
        layers += [L.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                                     name=f"separable_{index}"),
                   L.BatchNormalization(name=f"separable_{index}_bn"),
                   pool(padding="same", name=f"separable_{index}_pool") if pool is L.MaxPool2D
                   else pool(name=f"separable_{index}_pool"),
                   L.ReLU(name=f"separable_{index}_relu")]
    layers.append(L.Dense(10, name="dense"))
    return keras.Sequential(layers, name=name)


def cifar_vgg(input_shape=(32, 32, 3), widths=(64, 256, 256), stem: int = 32,
              classes: int = 10, momentum: float = 0.9, name: str = "cifar_vgg"):
    """A VGG-like CIFAR network for Akida 1.0: an input convolution, then per stage a
    convolution with 2x2 max pooling and a convolution, then a dense classifier.

    Every block is convolution, (pooling,) BatchNormalization, ReLU(6): the pooling sits before
    the BatchNormalization, as the block converts (and as fast CIFAR-10 networks put it); the
    last stage's second convolution pools globally before its activation. ReLU(6) is the top
    level of a 4-bit (and 2-bit) activation, so the float model clips where the chip will.
    At the default widths: 7 convolutions (a 3x3 input convolution on 3 channels, 32 filters,
    then 64, 64, 256, 256, 256, 256), 152 M multiply-accumulates per 32x32 image,
    1.98 M parameters.

    Arguments:
        input_shape: (height, width, channels); channels 1 or 3 (an Akida input layer),
            height and width divisible by 2 ** len(widths) with at least 3 rows left for the
            global pooling.
        widths: the filters of each stage (one max pooling per stage).
        stem: the filters of the input convolution (at most 192 for AKD1000's 3x3 input
            convolution on 3 channels).
        classes: units of the dense classifier.
        momentum: the BatchNormalization momentum (0.9: the moving statistics follow the
            weights within a short schedule, and quantize() folds them).
        name: the model's name.

    Returns:
        An uncompiled float tf_keras Sequential model for inputs ``img / 255`` (convert with
        ``input_scaling=(255, 0)``) and ``classes`` logits.

    Raises:
        ValueError: a bad ``input_shape``, ``widths``, ``stem`` or ``classes``.

    Example:
        >>> from cnn2snn_tfmot.data.zoo.networks import cifar_vgg
        >>> model = cifar_vgg()
        >>> model.count_params()
        1980394
        >>> cifar_vgg(widths=(32, 64), stem=16).output_shape
        (None, 10)
    """
    shape = tuple(int(v) for v in input_shape)
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1:
        raise ValueError(f"widths must be a non-empty sequence of positive filter counts, got "
                         f"{widths!r}.")
    reduction = 2 ** len(widths)
    if (len(shape) != 3 or shape[2] not in (1, 3) or shape[0] % reduction or
            shape[1] % reduction or min(shape[:2]) // reduction < 3):
        raise ValueError(f"input_shape must be (height, width, channels) with 1 or 3 channels "
                         f"and height and width multiples of {reduction} (one 2x2 pooling per "
                         f"stage of widths={widths}) leaving at least 3 rows for the global "
                         f"pooling; got {input_shape!r}.")
    if int(stem) < 1 or int(classes) < 1:
        raise ValueError(f"stem and classes must be positive, got stem={stem!r}, "
                         f"classes={classes!r}.")

    def block(index, filters, pool=None):
        out = [L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv_{index}")]
        if pool is not None:
            out.append(pool)
        return out + [L.BatchNormalization(momentum=momentum, name=f"conv_{index}_bn"),
                      L.ReLU(6.0, name=f"conv_{index}_relu")]

    layers = [keras.Input(shape, name="image")] + block(0, int(stem))
    index = 1
    for stage, filters in enumerate(widths):
        layers += block(index, filters, L.MaxPool2D(padding="same", name=f"conv_{index}_pool"))
        last = stage == len(widths) - 1
        layers += block(index + 1, filters,
                        L.GlobalAveragePooling2D(name=f"conv_{index + 1}_pool") if last else None)
        index += 2
    layers.append(L.Dense(int(classes), name="dense"))
    return keras.Sequential(layers, name=name)


def deep_separable_cnn(input_shape=(28, 28, 1), classes: int = 10, momentum: float = 0.9,
                       name: str = "deep_separable_cnn"):
    """A 10-layer CNN: 2 convolutions, 7 separable convolutions, a dense classifier.

    Max pooling after the second and the fifth neural layer, global average pooling in the
    last convolutional block (before its ReLU, as Akida needs), a BatchNormalization after every
    neural layer but the last. ``momentum=0.9``: with Keras's default 0.99 the moving statistics
    still lag the weights after a few hundred steps, and quantize() folds them.

    Arguments:
        input_shape: (H, W, C) of the images (C is 1 or 3 for an Akida input layer).
        classes: the number of logits.
        momentum: the BatchNormalization momentum.
        name: the model's name.

    Returns:
        An uncompiled float tf_keras Sequential model (logits out).

    Example:
        >>> from cnn2snn_tfmot.data.zoo.networks import deep_separable_cnn
        >>> model = deep_separable_cnn()
        >>> [type(layer).__name__ for layer in model.layers].count("SeparableConv2D")
        7
    """
    def block(neural, index, pool=None):
        return [neural, L.BatchNormalization(momentum=momentum, name=f"{neural.name}_bn"),
                *([pool] if pool is not None else []), L.ReLU(name=f"{neural.name}_relu")]

    layers = [keras.Input(input_shape, name="image")]
    layers += block(L.Conv2D(32, 3, padding="same", use_bias=False, name="conv_0"), 0)
    layers += block(L.Conv2D(64, 3, padding="same", use_bias=False, name="conv_1"), 1,
                    L.MaxPool2D(padding="same", name="conv_1_pool"))
    widths = [64, 64, 128, 128, 128, 256, 256]
    for index, filters in enumerate(widths, start=2):
        pool = None
        if index == 4:
            pool = L.MaxPool2D(padding="same", name=f"separable_{index}_pool")
        elif index == len(widths) + 1:
            pool = L.GlobalAveragePooling2D(name=f"separable_{index}_pool")
        layers += block(L.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                                          name=f"separable_{index}"), index, pool)
    layers.append(L.Dense(classes, name="dense"))
    return keras.Sequential(layers, name=name)


def akidanet_like(input_shape=(224, 224, 3), width: float = 0.5, classes: int = 1000,
                  name: str = "akidanet_like"):
    """An AkidaNet-like ImageNet CNN (BrainChip's AkidaNet layout, Akida 1.0 compatible).

    An input convolution 3x3 stride 2, three 3x3 convolutions (the second with stride 2), ten
    separable 3x3 convolutions (max pooling after the 1st, 3rd and 9th, global average pooling
    before the last block's ReLU), and a dense classifier. Channels scale with ``width``:
    32, 64, 128, 128, 256, 256, 512 x 6, 1024 x 2 at width 1 (16 ... 512 at width 0.5).

    Inputs are images scaled to [0, 1] (convert with ``input_scaling=(255, 0)``).

    Arguments:
        input_shape: (height, width, channels), channels 1 or 3 (an Akida input layer); height
            and width at least 32 (the network divides them by 32).
        width: the channel multiplier (AkidaNet's ``alpha``), > 0.
        classes: units of the dense classifier, >= 1.
        name: the model's name.

    Returns:
        An uncompiled float tf_keras Sequential model with ``classes`` logits.

    Raises:
        ValueError: a bad ``input_shape``, ``width`` or ``classes`` (the message names it).

    Example:
        >>> from cnn2snn_tfmot.data.zoo.networks import akidanet_like
        >>> model = akidanet_like((128, 128, 3), width=0.5)
    """
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or shape[2] not in (1, 3) or min(shape[:2]) < 32:
        raise ValueError(f"input_shape must be (height, width, channels) with height and width "
                         f">= 32 and 1 or 3 channels (an Akida input layer), got {input_shape!r}.")
    if not width > 0:
        raise ValueError(f"width must be a positive channel multiplier, got {width!r}.")
    if int(classes) < 1:
        raise ValueError(f"classes must be a positive number of units, got {classes!r}.")

    def channels(base):
        return max(8, int(base * width))

    def block(layer, index, pool=None):
        kind = "separable" if isinstance(layer, L.SeparableConv2D) else "conv"
        out = [layer, L.BatchNormalization(name=f"{kind}_{index}_bn")]
        if pool == "max":
            out.append(L.MaxPool2D(padding="same", name=f"{kind}_{index}_pool"))
        elif pool == "global":
            # Global average pooling belongs to the block: before its activation.
            out.append(L.GlobalAveragePooling2D(name=f"{kind}_{index}_pool"))
        return out + [L.ReLU(name=f"{kind}_{index}_relu")]

    layers = [keras.Input(shape, name="image")]
    convs = [(32, 2), (64, 1), (128, 2), (128, 1)]
    for index, (base, stride) in enumerate(convs):
        layers += block(L.Conv2D(channels(base), 3, strides=stride, padding="same",
                                 use_bias=False, name=f"conv_{index}"), index)
    separables = [(256, "max"), (256, None), (512, "max")] + [(512, None)] * 5 + \
        [(1024, "max"), (1024, "global")]
    for index, (base, pool) in enumerate(separables, start=len(convs)):
        layers += block(L.SeparableConv2D(channels(base), 3, padding="same", use_bias=False,
                                          name=f"separable_{index}"), index, pool)
    layers.append(L.Dense(int(classes), name="dense"))
    return keras.Sequential(layers, name=name)


def calibrate_batchnorm(model, x) -> None:
    """Sets every BatchNormalization's moving statistics to those of the batch ``x``.

    For untrained models used in benchmarks and tests: their moving statistics (mean 0,
    variance 1) otherwise say nothing of the actual activations, and folding them gives
    meaningless weights. One forward pass in training mode with momentum 0 sets each
    layer's statistics in turn.

    Arguments:
        model: a tf_keras model (modified in place).
        x: a batch of inputs, as the model takes them.

    Example:
        >>> from cnn2snn_tfmot.data.zoo.networks import calibrate_batchnorm
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> calibrate_batchnorm(model, images[:512] / 255)
    """
    batchnorms = [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]
    momenta = [layer.momentum for layer in batchnorms]
    try:
        for layer in batchnorms:
            layer.momentum = 0.0
        model(x, training=True)
    finally:
        for layer, momentum in zip(batchnorms, momenta):
            layer.momentum = momentum
