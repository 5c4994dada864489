"""Doctest set-up: the names the package's docstring examples use, and a fresh directory each.

Every public name of the package is defined, as after ``from cnn2snn_tfmot import *``. The
examples refer to a small float model (``model``), its quantized version
(``model_quantized``), the converted Akida model (``akida_model``), uint8 ``images`` with
``labels``, and Keras inputs ``x`` / ``y``; they are built once per session here.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest
from _pytest.doctest import DoctestItem

import cnn2snn_tfmot


def _float_model(keras):
    layers = keras.layers
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((16, 16, 1)),
        layers.Conv2D(8, 3, padding="same", use_bias=False, name="conv_0"),
        layers.BatchNormalization(name="conv_0_bn"), layers.ReLU(name="conv_0_relu"),
        layers.MaxPool2D(padding="same", name="conv_0_pool"),
        layers.SeparableConv2D(16, 3, padding="same", use_bias=False, name="separable_1"),
        layers.BatchNormalization(name="separable_1_bn"), layers.ReLU(name="separable_1_relu"),
        layers.Flatten(name="flatten"), layers.Dense(10, name="dense")], name="doctest_cnn")
    return model


@pytest.fixture(scope="session")
def _doctest_objects():
    from cnn2snn_tfmot import convert, keras, quantize, tf
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 16, 16, 1)).astype(np.uint8)
    labels = rng.integers(0, 10, 32).astype(np.int64)
    model = _float_model(keras)
    calibrate_batchnorm(model, images / 255)
    model_quantized = quantize(model, 4, 4, 8)
    akida_model = convert(model_quantized, input_scaling=(255, 0))
    public = {name: getattr(cnn2snn_tfmot, name) for name in cnn2snn_tfmot.__all__}
    return {**public, "np": np, "tf": tf, "keras": keras, "cnn2snn_tfmot": cnn2snn_tfmot,
            "model": model, "model_quantized": model_quantized, "akida_model": akida_model,
            "images": images, "labels": labels, "x": (images / 255).astype(np.float32),
            "y": labels}


@pytest.fixture(autouse=True)
def _doctest_environment(request, doctest_namespace, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        doctest_namespace.update(request.getfixturevalue("_doctest_objects"))
        monkeypatch.chdir(tmp_path)  # examples may write files
    yield
