"""Shared test helpers (not a test module): small Keras models and data, a fresh-process
runner, and the one switch for BrainChip's optional ``akida`` runtime."""
import os
import subprocess
import sys

import numpy as np
import pytest
from tensorflow_model_optimization.quantization.keras import quantize_annotate_layer as annotate
from tensorflow_model_optimization.quantization.keras import quantize_apply

from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot.akida import import_akida
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The CIFAR-10 training set's class folders: ../shared beside the repository, as CI lays it
# out, or CNN2SNN_TFMOT_CIFAR10. Tests that read it skip when it is absent.
CIFAR10_DATA = os.environ.get("CNN2SNN_TFMOT_CIFAR10", os.path.join(
    os.path.dirname(REPO), "shared", "data", "cifar10", "train"))


# BrainChip's runtime: optional, imported the package's one way (import_akida). Tests that need
# it use the ``akida_runtime`` fixture (or ``requires_akida``), and every test passes when it is
# absent (CI runs the suite both ways: `make test-without-akida` hides it).
def _import_akida():
    try:
        return import_akida()
    except ImportError:
        return None


AKIDA = _import_akida()
requires_akida = pytest.mark.skipif(AKIDA is None,
                                    reason="BrainChip's akida runtime is not installed")


def run_python(code_or_args, timeout=600, cwd=None, env=None):
    """Runs Python in a fresh process; returns the CompletedProcess (stdout+stderr text)."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    # Not inherited: importing cnn2snn_tfmot set it in this process, and a child must show
    # what happens on a user's machine, where it is not set.
    environment = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    environment.update(env or {})
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=environment)


def images(n=64, shape=(16, 16, 1), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n,) + shape).astype(np.uint8)


def set_bn(model, seed=0, low=0.5, high=2.0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(low, high, n), rng.normal(size=n) * 0.3,
                               rng.normal(size=n) * 0.3, rng.uniform(0.5, 2, n)])


def float_cnn(channels=1):
    keras.utils.set_random_seed(4)
    return keras.Sequential([
        keras.Input((16, 16, channels)),
        L.Conv2D(8, 3, padding="same", name="c0"), L.BatchNormalization(name="bn0"),
        L.ReLU(name="r0"), L.MaxPool2D(padding="same", name="p0"),
        L.SeparableConv2D(16, 3, padding="same", name="s1"), L.BatchNormalization(name="bn1"),
        L.ReLU(name="r1"), L.Dropout(0.1, name="drop"),
        L.Conv2D(16, 3, strides=2, padding="valid", name="c2"), L.BatchNormalization(name="bn2"),
        L.ReLU(name="r2"), L.Flatten(name="flat"), L.Dense(10, name="d"),
        L.Softmax(name="softmax")])


def annotated_and_seed_models(seed=0):
    """A model using every config, and its Quantized* twin (same layer names)."""
    keras.utils.set_random_seed(seed)
    annotated = keras.Sequential([
        keras.Input((12, 12, 3)),
        annotate(L.Conv2D(8, 3, name="conv"), qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(8))),
        L.MaxPool2D(name="pool"), L.BatchNormalization(name="bn"),
        annotate(L.ReLU(name="relu1"),
                 qc.ReLUQuantizeConfig(quantizer=qc.ActivationQuantizer(4, trainable=True))),
        annotate(L.SeparableConv2D(6, 3, padding="same", name="sep"),
                 qc.SeparableConv2DQuantizeConfig(qops.MaxPerAxisQuantizer(4),
                                                  qops.MaxQuantizer(4))),
        annotate(L.ReLU(name="relu2"), qc.ReLUQuantizeConfig(2)),
        annotate(L.DepthwiseConv2D(3, name="dw"),
                 qc.DepthwiseConv2DQuantizeConfig(qops.StdWeightQuantizer(2, 4))),
        annotate(L.Activation("relu", name="relu3"), qc.ReLUQuantizeConfig(1)),
        L.Flatten(name="flat"),
        annotate(L.Dense(10, name="dense"),
                 qc.DenseQuantizeConfig(qops.TrainableStdWeightQuantizer(bitwidth=4))),
    ])
    seed = keras.Sequential([
        keras.Input((12, 12, 3)),
        qlayers.QuantizedConv2D(8, 3, quantizer=qops.MaxPerAxisQuantizer(8), name="conv"),
        L.MaxPool2D(name="pool"), L.BatchNormalization(name="bn"),
        qlayers.QuantizedReLU(4, name="relu1"),
        qlayers.QuantizedSeparableConv2D(6, 3, padding="same", name="sep",
                                         quantizer=qops.MaxPerAxisQuantizer(4),
                                         quantizer_dw=qops.MaxQuantizer(4)),
        qlayers.ActivationDiscreteRelu(2, name="relu2"),
        qlayers.QuantizedDepthwiseConv2D(3, quantizer=qops.StdWeightQuantizer(2, 4), name="dw"),
        qlayers.ActivationDiscreteRelu(1, name="relu3"),
        L.Flatten(name="flat"),
        qlayers.QuantizedDense(10, quantizer=qops.TrainableStdWeightQuantizer(bitwidth=4),
                               name="dense"),
    ])
    return annotated, seed


def make_qat_model(annotated):
    with qc.quantize_scope():
        return quantize_apply(annotated, qc.AkidaQuantizeScheme())


def randomize_batchnorm(model, seed=0):
    rng = np.random.default_rng(seed)
    bn = model.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 2, 8), rng.normal(size=8), rng.normal(size=8) * 0.1,
                    rng.uniform(0.5, 2, 8)])


def mobilenet(flavour="tf_keras", alpha=0.25, size=64, classes=10):
    """keras.applications.MobileNet without pretrained weights (nothing downloads), from
    tf_keras or from Keras 3."""
    if flavour == "keras3":
        import keras as keras3

        keras3.utils.set_random_seed(0)
        return keras3.applications.MobileNet(alpha=alpha, input_shape=(size, size, 3),
                                             weights=None, classes=classes)
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNet(alpha=alpha, input_shape=(size, size, 3), weights=None,
                                        classes=classes)


def adapted_to_akida(model, seed=0):
    """adapt -> quantize (remembering (255, 0)) -> check -> convert, with no hand edit; the
    adapted model's BatchNorm statistics are calibrated on random images first (a stand-in for
    fine-tuning: the defaults, mean 0 and variance 1, say nothing of the activations)."""
    from cnn2snn_tfmot import adapt, check_model_compatibility, convert, quantize
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm

    adapted, changes = adapt(model)
    shape = tuple(adapted.inputs[0].shape[1:])
    x = np.random.default_rng(seed).uniform(0, 1, (8,) + shape).astype(np.float32)
    calibrate_batchnorm(adapted, x)
    quantized = quantize(adapted, 4, 4, 8, input_scaling=(255, 0))
    assert check_model_compatibility(quantized)
    return adapted, changes, quantized, convert(quantized)


def converted_cnn(seed=0, n=48):
    """(quantized Keras model, its Akida model, uint8 images, labels) of ``float_cnn`` with
    calibrated BatchNormalization, input_scaling (255, 0): for the inspection tools."""
    from cnn2snn_tfmot import convert, quantize
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm

    model = float_cnn()
    x = images(n, seed=seed)
    calibrate_batchnorm(model, x / 255)
    model_q = quantize(model, 4, 4, 8)
    labels = np.random.default_rng(seed).integers(0, 10, n).astype(np.int64)
    return model_q, convert(model_q, input_scaling=(255, 0)), x, labels


def write_idx(path, array):
    """Writes an array as an IDX file of int32 (for int32 arrays) or uint8 (else) values,
    gzip-compressed for a path ending in .gz: MNIST's format, as the command line reads it."""
    import gzip

    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    if array.dtype not in codes:  # e.g. int64 labels: written as uint8
        array = array.astype(np.uint8)
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as handle:
        handle.write(data)
