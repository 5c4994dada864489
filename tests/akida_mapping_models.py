"""Test helpers (not a test module): random single-branch Akida models built to cross every
AKD1000 limit, for the differential tests of the mapper and ``benchmarks/mapping.py``.

``random_model(choose)`` builds one model; ``choose(name, options)`` picks one of ``options``
(``random.Random.choice`` for sweeps, a hypothesis ``draw`` for property tests). Weights are
random non-zero integers (the mapper refuses all-zero kernels), thresholds 0, act_steps 1.
"""
from __future__ import annotations

import random

import numpy as np

SIZES = [5, 6, 7, 8, 12, 16, 24, 28, 31, 32, 33, 48, 56, 63, 64, 65, 96, 100, 128, 150, 160,
         200, 224, 256, 257, 300]
FILTERS = [1, 2, 8, 10, 16, 17, 24, 32, 33, 48, 64, 96, 100, 128, 192, 193, 256, 384, 512, 513,
           768, 1024]


def fill_weights(layer, seed: int) -> None:
    """Random non-zero weights in the layer's range (an all-zero kernel does not map)."""
    rng = np.random.default_rng(seed)
    for name in layer.variables:
        if name.startswith("weights"):
            spec = layer.variable_spec(name)
            low, high = int(spec.low), int(spec.high)
            values = rng.integers(low, high + 1, spec.shape, dtype=np.int8)
            values[values == 0] = high
            layer.set_variable(name, values)


def random_model(choose, max_layers: int = 7):
    """A random Akida model, or None when the draws make one our layers refuse.

    Arguments:
        choose: ``choose(name, options) -> one of options``.
        max_layers: the most neural layers.

    Returns:
        A :class:`cnn2snn_tfmot.akida.Model` or None.
    """
    from cnn2snn_tfmot.akida import (
        Convolutional,
        FullyConnected,
        InputConvolutional,
        InputData,
        Model,
        SeparableConvolutional,
    )
    model = Model()
    rows, columns = choose("rows", SIZES), choose("columns", SIZES)
    sparse = choose("sparse", [False, False, True])
    seed = choose("seed", list(range(1000)))
    try:
        if sparse:
            channels = choose("channels", [1, 2, 3, 8, 16, 64, 200])
            model.add(InputData((rows, columns, channels), input_bits=choose("input_bits",
                                                                            [1, 2, 4, 4])))
        else:
            channels = choose("channels", [1, 3, 3])
            kernel = choose("input_kernel", [3, 3, 5, 7, 1])
            stride = choose("input_stride", [1, 2, 2, 3, 4])
            pool = choose("input_pool", ["none", "none", "max2", "max2s1", "max3"])
            model.add(InputConvolutional(
                (rows, columns, channels), (kernel, kernel),
                choose("input_filters", [8, 16, 32, 64, 96, 192, 193, 512]),
                padding=choose("input_padding", ["same", "same", "valid"]),
                kernel_stride=(stride, stride), weights_bits=choose("input_wbits", [8, 4, 2]),
                act_bits=choose("input_abits", [4, 2, 1]), **_pool_args(pool)))
        count = choose("layers", list(range(0 if not sparse else 1, max_layers + 1)))
        for index in range(count):
            last = index == count - 1
            kind = choose(f"kind{index}", ["conv", "conv", "separable", "separable", "dense"])
            activation = not last or choose("last_activation", [True, False])
            abits = choose(f"abits{index}", [4, 4, 2, 1])
            if kind == "dense":
                inputs = int(np.prod(model.output_shape))
                if inputs > 400_000:  # far beyond the FNP limit; its weights would not fit
                    return None
                model.add(FullyConnected(choose(f"units{index}", [10, 16, 100, 1000])
                                         if inputs < 60_000 else 10,
                                         weights_bits=choose(f"wbits{index}", [4, 4, 2, 1, 8]),
                                         activation=activation, act_bits=abits))
                continue
            kernel = choose(f"kernel{index}", [3, 3, 3, 1, 5, 7] if kind == "conv"
                            else [3, 3, 3, 5, 7])
            stride = choose(f"stride{index}", [1, 1, 1, 2])
            pool = choose(f"pool{index}", ["none", "none", "none", "max2", "max2", "max2s1",
                                           "max3", "global"])
            wbits = choose(f"wbits{index}", [4, 4, 2, 1, 8] if kind == "conv" else [4, 4, 2])
            cls = Convolutional if kind == "conv" else SeparableConvolutional
            model.add(cls((kernel, kernel), choose(f"filters{index}", FILTERS),
                          padding=choose(f"padding{index}", ["same"] * 9 + ["valid"]),
                          kernel_stride=(stride, stride), weights_bits=wbits,
                          activation=activation, act_bits=abits, **_pool_args(pool)))
    except ValueError:
        return None
    if len(model.layers) == 1 and sparse:
        return None
    for index, layer in enumerate(model.layers):
        fill_weights(layer, seed * 100 + index)
    return model


def _pool_args(pool: str) -> dict:
    from cnn2snn_tfmot.akida import PoolType
    if pool == "none":
        return {}
    if pool == "global":
        return {"pool_type": PoolType.Average}
    size = 3 if pool == "max3" else 2
    stride = 1 if pool == "max2s1" else size
    return {"pool_type": PoolType.Max, "pool_size": (size, size), "pool_stride": (stride, stride)}


def seeded_model(seed: int, max_layers: int = 7):
    """The random model of one seed (None when our layers refuse its draws)."""
    rng = random.Random(seed)
    return random_model(lambda name, options: rng.choice(options), max_layers)


def akidanet_akida(size: int = 224, width: float = 0.5, classes: int = 1000, channels: int = 3):
    """The Akida model ``convert`` makes of ``zoo.akidanet_like`` (same layers, non-zero random
    weights), built directly: for tests of the mapper that need neither TensorFlow nor akida."""
    from cnn2snn_tfmot.akida import (
        Convolutional,
        FullyConnected,
        InputConvolutional,
        Model,
        PoolType,
        SeparableConvolutional,
    )

    def count(base):
        return max(8, int(base * width))

    model = Model()
    model.add(InputConvolutional((size, size, channels), (3, 3), count(32), name="conv_0",
                                 kernel_stride=(2, 2), weights_bits=8, act_bits=4))
    for index, (base, stride) in enumerate([(64, 1), (128, 2), (128, 1)], start=1):
        model.add(Convolutional((3, 3), count(base), name=f"conv_{index}",
                                kernel_stride=(stride, stride), weights_bits=4, act_bits=4))
    pools = [PoolType.Max, None, PoolType.Max] + [None] * 5 + [PoolType.Max, PoolType.Average]
    bases = [256, 256, 512] + [512] * 5 + [1024, 1024]
    for index, (base, pool) in enumerate(zip(bases, pools), start=4):
        extra = {} if pool is None else {"pool_type": pool}
        if pool is PoolType.Max:
            extra["pool_size"] = (2, 2)
        model.add(SeparableConvolutional((3, 3), count(base), name=f"separable_{index}",
                                         weights_bits=4, act_bits=4, **extra))
    model.add(FullyConnected(classes, name="dense", weights_bits=4, activation=False))
    for index, layer in enumerate(model.layers):
        fill_weights(layer, index)
    return model


def mnist_akida():
    """The Akida model ``convert`` makes of ``zoo.mnist_cnn`` (non-zero random weights)."""
    from cnn2snn_tfmot.akida import (
        FullyConnected,
        InputConvolutional,
        Model,
        PoolType,
        SeparableConvolutional,
    )
    model = Model()
    model.add(InputConvolutional((28, 28, 1), (3, 3), 32, name="conv_0", weights_bits=8,
                                 act_bits=4, pool_type=PoolType.Max, pool_size=(2, 2)))
    model.add(SeparableConvolutional((3, 3), 64, name="separable_1", weights_bits=4, act_bits=4,
                                     pool_type=PoolType.Max, pool_size=(2, 2)))
    model.add(SeparableConvolutional((3, 3), 64, name="separable_2", weights_bits=4,
                                     act_bits=4))
    model.add(FullyConnected(10, name="dense", weights_bits=4, activation=False))
    for index, layer in enumerate(model.layers):
        fill_weights(layer, index)
    return model


def ds_cnn_kws_akida():
    """BrainChip's DS-CNN keyword-spotting layout (akida_models ``ds_cnn_kws``: 49x10 MFCC
    input, a 5x5 stride-2 input convolution, four 3x3 separable convolutions of 64 filters, the
    last with global average pooling, 33 classes), non-zero random weights."""
    from cnn2snn_tfmot.akida import (
        FullyConnected,
        InputConvolutional,
        Model,
        PoolType,
        SeparableConvolutional,
    )
    model = Model()
    model.add(InputConvolutional((49, 10, 1), (5, 5), 64, name="conv_0", kernel_stride=(2, 2),
                                 weights_bits=8, act_bits=4))
    for index in range(1, 5):
        extra = {"pool_type": PoolType.Average} if index == 4 else {}
        model.add(SeparableConvolutional((3, 3), 64, name=f"separable_{index}", weights_bits=4,
                                         act_bits=4, **extra))
    model.add(FullyConnected(33, name="dense_5", weights_bits=4, activation=False))
    for index, layer in enumerate(model.layers):
        fill_weights(layer, index)
    return model


def converted_zoo_model(name: str, size: int):
    """A zoo network (``cnn2snn_tfmot.data.zoo``) quantized 4/4/8 and converted, its BatchNorm
    calibrated on 64 seeded random images (``input_scaling=(255, 0)``); ``size`` sets the input
    of ``akidanet_like`` and ``deep_separable_cnn`` (the others have their own). The models of
    the mapper's differential test and of ``benchmarks/mapping.py``."""
    from cnn2snn_tfmot import convert, quantize, zoo
    if name == "akidanet_like":
        keras_model = zoo.akidanet_like((size, size, 3))
    elif name == "deep_separable_cnn":
        keras_model = zoo.deep_separable_cnn((size, size, 1))
    else:
        keras_model = getattr(zoo, name)()
    images = np.random.default_rng(0).integers(0, 256, (64,) + keras_model.input_shape[1:])
    zoo.calibrate_batchnorm(keras_model, images.astype(np.float32) / 255)
    return convert(quantize(keras_model, 4, 4, 8), input_scaling=(255, 0))
