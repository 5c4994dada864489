"""Test helpers for the Akida model and the engine (not a test module): random variables
calibrated with the chip reference (chip_reference.py) so that levels vary, and Akida models
covering every layer type and option.
"""
from __future__ import annotations

import numpy as np

from chip_reference import ref_layer, ref_potentials


# -- random, calibrated variables -----------------------------------------------------------------
def random_weights(layer, name, rng, density=1.0):
    spec = layer.variable_spec(name)
    low, high = int(spec.low), int(spec.high)
    values = rng.integers(low, high + 1, spec.shape)
    if density < 1.0:
        values = np.where(rng.random(spec.shape) < density, values, 0)
    return values.astype(np.int8)


def calibrate(layer, potentials, rng):
    """Threshold / act_step per channel so that levels spread over the range on ``potentials``.

    Thresholds sit around the 20-40th percentile of the channel's potentials and the step makes
    the 90-99th percentile land near the top level (some channels saturate, most vary).
    """
    p = layer.parameters
    flat = potentials.reshape(-1, potentials.shape[-1]).astype(np.float64)
    t_low, t_high = layer.variable_spec("threshold").low, layer.variable_spec("threshold").high
    s_high = layer.variable_spec("act_step").high
    thresholds, steps = [], []
    levels = 2 ** p.act_bits - 1 if p.activation else 1
    for channel in range(flat.shape[1]):
        values = flat[:, channel]
        threshold = np.percentile(values, rng.uniform(20, 40))
        top = np.percentile(values, rng.uniform(90, 99))
        span = max(top - threshold, 1.0)
        # step_eff = act_step * 2**(4 - b) / 16 * 16... keep it simple: step_eff ~ span / levels
        act_step = span / levels / 2 ** (4 - p.act_bits) if p.activation else span / 10
        act_step = float(np.clip(act_step, 1 / 16, (s_high or 2 ** 16) * 0.99))
        act_step = np.float32(np.floor(act_step * 16 + rng.uniform(0, 0.9)) / 16 +
                              rng.choice([0.0, 0.01]))
        threshold = int(np.floor(threshold))
        if t_low is not None:
            threshold = int(np.clip(threshold, t_low, t_high))
        thresholds.append(threshold)
        steps.append(max(act_step, np.float32(1 / 16)))
    layer.set_variable("threshold", np.array(thresholds, np.int32))
    layer.set_variable("act_step", np.array(steps, np.float32))


def randomize(model, x, rng, density=1.0):
    """Random weights on every layer, thresholds / act_steps calibrated on ``x`` with the
    reference, layer by layer. Returns the reference output."""
    for layer in model.layers:
        if layer.layer_type == "InputData":
            continue
        for name in layer.variables:
            if name.startswith("weights"):
                layer.set_variable(name, random_weights(layer, name, rng, density))
        calibrate(layer, ref_potentials(layer, x), rng)
        x = ref_layer(layer, x)
    return x


def random_input(model, rng, n):
    first = model.layers[0]
    high = 255 if first.layer_type == "InputConvolutional" else \
        2 ** first.parameters.input_bits - 1
    return rng.integers(0, high + 1, (n,) + tuple(model.input_shape)).astype(np.uint8)


# -- models covering every layer type and option (used against the runtime and the reference) --
def _build(*layers):
    from cnn2snn_tfmot.akida import Model
    model = Model()
    for layer in layers:
        model.add(layer)
    return model


def image_max_model():
    """InputConvolutional 8-bit weights + max pool -> Conv valid stride 2 -> FC no activation."""
    from cnn2snn_tfmot.akida import Convolutional, FullyConnected, InputConvolutional
    return _build(
        InputConvolutional((16, 16, 3), (3, 3), 8, padding="same", weights_bits=8, act_bits=4,
                           pool_type="max", pool_size=(2, 2), padding_value=7),
        Convolutional((3, 3), 16, padding="valid", kernel_stride=(2, 2), weights_bits=4,
                      act_bits=2),
        FullyConnected(10, weights_bits=4, activation=False))


def image_gap_model():
    """InputConvolutional valid stride 2, 1-bit act -> Separable + max pool 3/2 -> Conv with
    global average pooling -> FC 2-bit act."""
    from cnn2snn_tfmot.akida import (
        Convolutional,
        FullyConnected,
        InputConvolutional,
        SeparableConvolutional,
    )
    return _build(
        InputConvolutional((15, 13, 1), (5, 5), 6, padding="valid", kernel_stride=(2, 2),
                           weights_bits=4, act_bits=1),
        SeparableConvolutional((3, 3), 12, padding="same", weights_bits=4, act_bits=4,
                               pool_type="max", pool_size=(3, 3), pool_stride=(2, 2)),
        Convolutional((3, 3), 10, padding="same", weights_bits=2, act_bits=4,
                      pool_type="average"),
        FullyConnected(5, weights_bits=2, act_bits=2))


def events_separable_model():
    """InputData 4-bit -> Separable valid stride 2 -> Conv 1x1 8-bit weights -> FC no act."""
    from cnn2snn_tfmot.akida import Convolutional, FullyConnected, InputData, SeparableConvolutional
    return _build(
        InputData((12, 12, 4), input_bits=4),
        SeparableConvolutional((3, 3), 8, padding="valid", kernel_stride=(2, 2),
                               weights_bits=2, act_bits=2),
        Convolutional((1, 1), 16, weights_bits=8, act_bits=1),
        FullyConnected(6, weights_bits=8, activation=False))


def events_conv_gap_model():
    """InputData 2-bit -> Conv + max pool 'same' on odd sizes -> Conv + global average pooling
    without activation."""
    from cnn2snn_tfmot.akida import Convolutional, InputData
    return _build(
        InputData((9, 11, 8), input_bits=2),
        Convolutional((3, 3), 12, padding="same", weights_bits=4, act_bits=4,
                      pool_type="max", pool_size=(2, 2)),
        Convolutional((3, 3), 10, padding="same", weights_bits=4, activation=False,
                      pool_type="average"))


def dense_model():
    """InputData 1-bit (3, 4, 5) -> FC 4-bit act -> FC 2-bit act -> FC 8-bit, no activation."""
    from cnn2snn_tfmot.akida import FullyConnected, InputData
    return _build(
        InputData((3, 4, 5), input_bits=1),
        FullyConnected(32, weights_bits=2, act_bits=4),
        FullyConnected(8, weights_bits=4, act_bits=2),
        FullyConnected(4, weights_bits=8, activation=False))


def strided_model():
    """InputConvolutional strides (2, 1) valid + max pool valid -> Separable 5x5 strides (1, 2)
    'same' + global pooling, 1-bit act -> FC 1-bit weights, no activation."""
    from cnn2snn_tfmot.akida import FullyConnected, InputConvolutional, SeparableConvolutional
    return _build(
        InputConvolutional((17, 17, 1), (3, 3), 6, padding="valid", kernel_stride=(2, 1),
                           weights_bits=2, act_bits=2, pool_type="max", pool_size=(3, 3),
                           pool_stride=(2, 2)),
        SeparableConvolutional((5, 5), 9, padding="same", kernel_stride=(1, 2),
                               weights_bits=8, act_bits=1, pool_type="average"),
        FullyConnected(3, weights_bits=1, activation=False))


def binary_model():
    """InputData 3-bit -> Conv 1-bit weights 'valid' -> Separable 1-bit weights stride 2."""
    from cnn2snn_tfmot.akida import Convolutional, InputData, SeparableConvolutional
    return _build(
        InputData((10, 10, 3), input_bits=3),
        Convolutional((3, 3), 8, padding="valid", weights_bits=1, act_bits=4),
        SeparableConvolutional((3, 3), 4, kernel_stride=(2, 2), weights_bits=1, act_bits=2))


MODEL_FACTORIES = {f.__name__: f for f in (image_max_model, image_gap_model,
                                           events_separable_model, events_conv_gap_model,
                                           dense_model, strided_model, binary_model)}
