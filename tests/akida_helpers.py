"""Test helpers for the Akida model and the engine: an independent numpy int64 reference of the
runtime's arithmetic, random variables calibrated so that levels vary, and model factories.

The reference is written from the measured rules (docs/akida-v1.md section 5 and
cnn2snn_tfmot/akida/limits.py), with plain loops where that makes it obviously right; it shares
no code with the engine.
"""
from __future__ import annotations

import numpy as np

SAT_MIN, SAT_MAX = -(2 ** 19), 2 ** 19 - 1


# -- numpy reference -------------------------------------------------------------------------------
def _out_pad(n, k, s, padding):
    if padding == "same":
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return out, total // 2, total - total // 2
    return -(-(n - k + 1) // s), 0, 0


def ref_conv(x, kernel, strides, padding, pad_value=0):
    """Cross-correlation of int64 NHWC ``x`` with (kh, kw, C, F) ``kernel``."""
    x = x.astype(np.int64)
    kernel = kernel.astype(np.int64)
    kh, kw = kernel.shape[:2]
    oh, top, bottom = _out_pad(x.shape[1], kh, strides[0], padding)
    ow, left, right = _out_pad(x.shape[2], kw, strides[1], padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=pad_value)
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]), np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i:i + strides[0] * (oh - 1) + 1:strides[0],
                       j:j + strides[1] * (ow - 1) + 1:strides[1], :]
            out += patch @ kernel[i, j]
    return out


def ref_depthwise(x, kernel, strides, padding):
    """Depthwise cross-correlation of ``x`` with (kh, kw, C) ``kernel``, zero padding."""
    x = x.astype(np.int64)
    kernel = kernel.astype(np.int64)
    kh, kw = kernel.shape[:2]
    oh, top, bottom = _out_pad(x.shape[1], kh, strides[0], padding)
    ow, left, right = _out_pad(x.shape[2], kw, strides[1], padding)
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    out = np.zeros((x.shape[0], oh, ow, x.shape[3]), np.int64)
    for i in range(kh):
        for j in range(kw):
            out += xp[:, i:i + strides[0] * (oh - 1) + 1:strides[0],
                      j:j + strides[1] * (ow - 1) + 1:strides[1], :] * kernel[i, j]
    return out


def ref_maxpool(p, size, stride, padding):
    oh, top, bottom = _out_pad(p.shape[1], size[0], stride[0], padding)
    ow, left, right = _out_pad(p.shape[2], size[1], stride[1], padding)
    low = np.iinfo(np.int64).min
    xp = np.pad(p, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=low)
    out = np.full((p.shape[0], oh, ow, p.shape[3]), low, np.int64)
    for i in range(size[0]):
        for j in range(size[1]):
            out = np.maximum(out, xp[:, i:i + stride[0] * (oh - 1) + 1:stride[0],
                                     j:j + stride[1] * (ow - 1) + 1:stride[1], :])
    return out


def ref_global_sum(p):
    """Row-major sequential sum with a 20-bit saturating accumulator."""
    acc = np.zeros((p.shape[0], p.shape[3]), np.int64)
    for h in range(p.shape[1]):
        for w in range(p.shape[2]):
            acc = np.clip(acc + p[:, h, w, :], SAT_MIN, SAT_MAX)
    return acc[:, None, None, :]


def ref_fire(p, threshold, act_step, bits):
    """Levels: ceil((P - T) / step_eff) clipped to [0, 2**bits - 1], step_eff =
    floor(16 * act_step) / 16 * 2**(4 - bits), all in int64 (16 * (P - T) against the step in
    1/16 units, ceiling as -((-n) // d))."""
    step16 = np.floor(np.asarray(act_step, np.float64) * 16).astype(np.int64) * 2 ** (4 - bits)
    num = 16 * (np.asarray(p, np.int64) - np.asarray(threshold, np.int64))
    return np.clip(-((-num) // step16), 0, 2 ** bits - 1).astype(np.uint8)


def ref_potentials(layer, x):
    """Potentials of one neural layer (after pooling / saturation), int64."""
    p = layer.parameters
    kind = layer.layer_type
    if kind == "FullyConnected":
        flat = x.astype(np.int64).transpose(0, 3, 2, 1).reshape(x.shape[0], -1)
        pot = flat @ layer.get_variable("weights")[0, 0].astype(np.int64)
        return np.clip(pot, SAT_MIN, SAT_MAX)[:, None, None, :]
    padding = p.padding.name.lower()
    if kind == "InputConvolutional":
        pot = ref_conv(x, layer.get_variable("weights"), p.kernel_stride, padding,
                       p.padding_value)
    elif kind == "Convolutional":
        pot = ref_conv(x, layer.get_variable("weights")[::-1, ::-1], p.kernel_stride, padding)
    else:
        depth = ref_depthwise(x, layer.get_variable("weights")[::-1, ::-1, :, 0],
                              p.kernel_stride, padding)
        pot = depth @ layer.get_variable("weights_pw")[0, 0].astype(np.int64)
    if p.pool_type.name == "Max":
        pot = np.clip(ref_maxpool(pot, p.pool_size, p.pool_stride, padding), SAT_MIN, SAT_MAX)
    elif p.pool_type.name == "Average":
        pot = ref_global_sum(pot)
    return pot


def ref_layer(layer, x):
    """Output of one layer: uint8 levels, or int64 potentials without activation."""
    if layer.layer_type == "InputData":
        return x
    pot = ref_potentials(layer, x)
    if not layer.parameters.activation:
        return pot
    return ref_fire(pot, layer.get_variable("threshold"), layer.get_variable("act_step"),
                    layer.parameters.act_bits)


def ref_forward(model, x):
    """Reference forward pass of a whole model (int64 potentials or uint8 levels)."""
    for layer in model.layers:
        x = ref_layer(layer, x)
    return x


# -- random, calibrated variables -----------------------------------------------------------------
def random_weights(layer, name, rng, density=1.0):
    spec = layer._spec(name)
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
    t_low, t_high = layer._spec("threshold").low, layer._spec("threshold").high
    s_high = layer._spec("act_step").high
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
    from cnn2snn_tfmot.akida import (Convolutional, FullyConnected, InputConvolutional,
                                     SeparableConvolutional)
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
    from cnn2snn_tfmot.akida import (Convolutional, FullyConnected, InputData,
                                     SeparableConvolutional)
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
