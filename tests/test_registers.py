"""The register formula (registers.register_tensors, in TensorFlow, used by convert() and by
hardware-exact training) equals, bit for bit, an independent numpy transcription of
docs/akida-v1.md section 4 in BrainChip's float order (the converter's previous implementation),
over random blocks of every kind; and graph evaluation equals eager evaluation."""
import zlib

import numpy as np
import pytest

from cnn2snn_tfmot.conversion.blocks import akida_kind, analyze
from cnn2snn_tfmot.conversion.registers import (
    RegisterInputs,
    block_inputs,
    block_registers,
    register_tensors,
)
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras, tf

L = keras.layers


# -- the numpy transcription (float64 for thresholds, float32 steps, BrainChip's order) ----------
def _integer_weights(kernel: np.ndarray, quantizer, name: str, role: str):
    """(int8 integer kernel, float32 scale factor) from a kernel and its quantizer."""
    weights = tf.constant(kernel)
    scale_factor = np.asarray(quantizer.scale_factor(weights).numpy(), np.float32)
    quantized = quantizer.quantize(weights).numpy().astype(np.float64)
    scaled = quantized * scale_factor.astype(np.float64)
    integers = np.round(scaled)
    if np.max(np.abs(scaled - integers), initial=0.0) > 1e-3:
        raise ValueError(f"Layer '{name}': the {role} quantizer {quantizer!r} does not put the "
                         "weights on the grid of its scale factor (quantize(w) * "
                         "scale_factor(w) must be integers).")
    kmax = quantizer.kmax_
    if kmax is None or np.max(np.abs(integers), initial=0) > kmax:
        raise ValueError(f"Layer '{name}': {role} integer weights exceed the quantizer's "
                         f"range +-{kmax}.")
    return integers.astype(np.int8), scale_factor


def _per_channel(values, channels: int) -> np.ndarray:
    values = np.asarray(values)
    return np.broadcast_to(values, (channels,)) if values.ndim == 0 or values.size == 1 \
        else values.reshape(channels)


def numpy_registers(block, input_scaling, kind):
    neural = block.neural
    scale, shift = input_scaling
    if neural.kind == "separable":
        depthwise, sf_dw = _integer_weights(neural.kernels["depthwise"],
                                            neural.quantizers["depthwise"], neural.name,
                                            "depthwise")
        weights_pw, sf_pw = _integer_weights(neural.kernels["pointwise"],
                                             neural.quantizers["pointwise"], neural.name,
                                             "pointwise")
        channels = weights_pw.shape[-1]
        scale_factor = (np.float32(_per_channel(sf_dw, 1)[0])
                        * _per_channel(sf_pw, channels)).astype(np.float32)
        weights = depthwise
        sums = None
    else:
        weights, sf = _integer_weights(neural.kernels["kernel"], neural.quantizers["kernel"],
                                       neural.name, "kernel")
        weights_pw = None
        channels = weights.shape[-1]
        scale_factor = _per_channel(sf, channels).astype(np.float32)
        sums = weights.reshape(-1, channels).astype(np.int64).sum(axis=0)
    bias = (neural.bias.astype(np.float64) if neural.bias is not None
            else np.zeros(channels, np.float64))
    activation = block.activation
    if activation is not None:
        threshold, step = (np.full(channels, activation.threshold, np.float64),
                           np.full(channels, activation.step_width, np.float64))
    else:
        threshold, step = np.zeros(channels, np.float64), np.ones(channels, np.float64)
    if block.batchnorm is not None:  # u = a y + c: fire when a y + c > t
        bn = block.batchnorm
        a = bn.gamma / np.sqrt(bn.variance + bn.epsilon)
        c = bn.beta - bn.mean * a
        threshold, step = (threshold - c) / a, step / a
    scaled_sf = (np.float64(scale) * scale_factor.astype(np.float64)).astype(np.float32)
    if activation is not None:
        factor = step * 2.0 ** activation.bitwidth / 16
        act_step = (scaled_sf.astype(np.float64) * factor).astype(np.float32)
    else:
        act_step = (scaled_sf.astype(np.float64) * step).astype(np.float32)
    threshold_float = scaled_sf.astype(np.float64) * (threshold - bias)
    if kind == "input" and shift:
        threshold_float = threshold_float + shift * sums
    if block.pool is not None and block.pool.kind == "global":
        area = int(neural.output_shape[0] * neural.output_shape[1])
        act_step = (act_step * np.float32(area)).astype(np.float32)
        threshold_float = threshold_float * area
    return {"weights": weights, "weights_pw": weights_pw, "scale_factor": scale_factor,
            "threshold_float": threshold_float,
            "threshold": np.floor(threshold_float).astype(np.int64), "act_step": act_step}


# -- random blocks -------------------------------------------------------------------------------
QUANTIZERS = {
    "per_axis": lambda bits: qops.MaxPerAxisQuantizer(bits),
    "max": lambda bits: qops.MaxQuantizer(bits),
    "std": lambda bits: qops.StdWeightQuantizer(2.5, bits),
    "trainable_std": lambda bits: qops.TrainableStdWeightQuantizer(2.0, bits),
}


def random_model(rng, kind, quantizer, act_bits, trainable_relu, batchnorm, pool, bits):
    make = QUANTIZERS[quantizer]
    per_tensor = qops.MaxQuantizer if quantizer == "per_axis" else QUANTIZERS[quantizer]
    size = int(rng.integers(5, 9))
    layers = [keras.Input((size, size, 3))]
    if kind == "conv":
        layers.append(qlayers.QuantizedConv2D(6, 3, padding="same", quantizer=make(bits),
                                              name="n"))
    elif kind == "separable":
        layers.append(qlayers.QuantizedSeparableConv2D(6, 3, padding="same", quantizer=make(bits),
                                                       quantizer_dw=per_tensor(bits), name="n"))
    else:
        layers += [L.Flatten(), qlayers.QuantizedDense(6, quantizer=make(bits), name="n")]
    if batchnorm:
        layers.append(L.BatchNormalization(name="bn"))
    if pool == "global":
        layers.append(L.GlobalAveragePooling2D(name="gap"))
    elif pool == "max":
        layers.append(L.MaxPool2D(padding="same", name="pool"))
    if act_bits:
        layers.append(qlayers.QuantizedReLU(act_bits, name="act") if trainable_relu
                      else qlayers.ActivationDiscreteRelu(act_bits, name="act"))
    model = keras.Sequential(layers)
    for variable in model.weights:
        name = variable.name.split("/")[-1].split(":")[0]
        shape = tuple(variable.shape)
        if name in ("gamma", "moving_variance"):
            value = rng.uniform(0.2, 3.0, shape)
        elif name in ("beta", "moving_mean", "bias"):
            value = rng.normal(size=shape)
        elif name.endswith("threshold") and "kernel" in name:  # trainable quantizer threshold
            value = rng.uniform(1.5, 4.0, shape)
        elif name == "threshold":
            value = rng.uniform(0.05, 1.0, shape)
        elif name == "step":
            value = rng.uniform(0.1, 1.2, shape)
        else:
            value = rng.normal(size=shape) * rng.uniform(0.01, 1.0)
        variable.assign(value.astype(np.float32))
    return model


CASES = [(kind, quantizer, act_bits, trainable, batchnorm, pool, bits)
         for kind in ("conv", "separable", "dense")
         for quantizer, act_bits, trainable, batchnorm, pool, bits in (
             ("per_axis", 4, False, True, "none", 4), ("max", 2, True, False, "global", 8),
             ("std", 1, False, True, "max", 2), ("trainable_std", 4, True, True, "global", 4),
             ("per_axis", None, False, False, "none", 8), ("per_axis", None, False, True,
                                                          "global", 4))
         if not (kind == "dense" and pool != "none")]


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, c)) for c in CASES])
@pytest.mark.parametrize("scaling", [(255.0, 0), (127.5, 3), (1 / np.float32(0.4), 0), (3.0, 0),
                                     (1.0 / float(np.float32(0.4)), 0), (1.0 / 3.0, 0)])
def test_tensorflow_formula_equals_the_numpy_transcription(case, scaling):
    rng = np.random.default_rng(zlib.crc32(repr((case, scaling)).encode()))
    for _ in range(3):
        model = random_model(rng, *case)
        block = analyze(model).blocks[0]
        for index in (0, 1):  # the input layer (shift) and an inner layer
            if index == 0 and case[0] != "conv":
                continue
            kind = akida_kind(block, index, False)
            expected = numpy_registers(block, scaling if index == 0 else (scaling[0], 0), kind)
            got = block_registers(block, scaling if index == 0 else (scaling[0], 0), index)
            np.testing.assert_array_equal(got.weights, expected["weights"])
            if expected["weights_pw"] is not None:
                np.testing.assert_array_equal(got.weights_pw, expected["weights_pw"])
            np.testing.assert_array_equal(got.scale_factor, expected["scale_factor"])
            np.testing.assert_array_equal(got.act_step, expected["act_step"])
            np.testing.assert_array_equal(got.threshold_float, expected["threshold_float"])
            np.testing.assert_array_equal(got.threshold, expected["threshold"])


@pytest.mark.parametrize("case", CASES[:6], ids=["-".join(map(str, c)) for c in CASES[:6]])
def test_graph_evaluation_equals_eager(case):
    """Grappler may rewrite graphs: the formula must give the same bits in a tf.function."""
    rng = np.random.default_rng(11)
    model = random_model(rng, *case)
    inputs = block_inputs(analyze(model).blocks[0], "input", (127.5, 3))
    eager = register_tensors(inputs)
    graph = tf.function(lambda: register_tensors(inputs))()
    for key in ("scale_factor", "threshold_float", "threshold", "act_step"):
        np.testing.assert_array_equal(graph[key].numpy(), eager[key].numpy())
    for role, integers in eager["integers"].items():
        np.testing.assert_array_equal(graph["integers"][role].numpy(), integers.numpy())


@pytest.mark.parametrize("act_bits", [4, None])
def test_graph_evaluation_on_variables_equals_eager(act_bits):
    """Hardware-exact training evaluates the formula in a tf.function on variables, which
    Grappler does not fold as constants: a BatchNormalization's ``gamma / sqrt(variance + eps)``
    there became ``gamma * rsqrt(...)``, one ulp off on a third of the channels, moving rare
    thresholds and act_steps (hence levels and dequantized outputs) away from convert()'s."""
    rng = np.random.default_rng(12)
    channels = 4096  # rare float64 -> float32 rounding flips need many channels to show
    kernel = tf.Variable(rng.normal(size=(3, 3, 2, channels)).astype(np.float32))
    gamma, beta, mean, variance = (tf.Variable(rng.uniform(low, high, channels)
                                               .astype(np.float32))
                                   for low, high in ((0.2, 3.0), (-1, 1), (-1, 1), (0.2, 3.0)))
    activation = None if act_bits is None else (
        act_bits, tf.Variable(np.float32(0.3)), tf.Variable(np.float32(0.45)))
    inputs = RegisterInputs("conv", {"kernel": kernel}, {"kernel": qops.MaxPerAxisQuantizer(4)},
                            None, activation, (gamma, beta, mean, variance, 1e-3), None,
                            1 / 0.35, 0)
    eager = register_tensors(inputs)
    graph = tf.function(lambda: register_tensors(inputs))()
    for key in ("scale_factor", "threshold_float", "threshold", "act_step"):
        np.testing.assert_array_equal(graph[key].numpy(), eager[key].numpy(), err_msg=key)
