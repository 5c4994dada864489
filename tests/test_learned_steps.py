"""Learned step sizes (LSQ, LSQ+): gradients, the chip's arithmetic, TFMOT, saving.

The steps receive exactly LSQ's gradients (compared with the paper's formulas); models with
learned steps (1, 2 and 4-bit activations, 2, 4 and 8-bit weights, per tensor and per channel,
LSQ and LSQ+) convert to Akida models that the hardware-exact model, the emulator and BrainChip's
runtime compute alike, before and after training; TFMOT models with the learned configs give
the Akida model of their seed-style twin; models save and reload.
"""
import math
import warnings

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot import (
    ScaleFactorMonitor,
    convert,
    hardware_exact,
    learned_steps,
    load_quantized_model,
    quantize,
    quantize_layer,
    quantize_scope,
)
from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot.akida import Model as AkidaModel
from cnn2snn_tfmot.conversion.blocks import analyze
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning
from cnn2snn_tfmot.conversion.registers import model_registers
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization.learned import (
    LearnedActivationQuantizer,
    LearnedStepQuantizer,
    LearnedStepReLU,
    gradient_scale,
    initial_activation_step,
    initial_weight_step,
    initialize_steps,
)
from cnn2snn_tfmot.tfkeras import keras, tf

from helpers import AKIDA

L = keras.layers
annotate = tfmot.quantization.keras.quantize_annotate_layer


@pytest.fixture(autouse=True)
def _no_chip_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AkidaChipWarning)
        yield


# Gradients ---------------------------------------------------------------------------------------

def lsq_weight_reference(w, s, kmax, c):
    """LSQ's gradients of sum(c * q(w)) for q(w) = s * round(clip(w / s, -kmax, kmax)):
    (d/dw, d/ds per channel or total, before the gradient scale)."""
    v = w / s
    inside = np.abs(v) <= kmax
    levels = np.clip(np.round(v), -kmax, kmax)
    dw = c * inside
    ds = c * np.where(inside, levels - v, np.sign(v) * kmax)
    return dw, ds


@pytest.mark.parametrize("per_axis", [False, True])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_weight_steps_get_lsq_gradients(bits, per_axis):
    rng = np.random.default_rng(bits)
    kmax = 2 ** (bits - 1) - 1
    layer = qlayers.QuantizedDense(5, quantizer=LearnedStepQuantizer(bits, per_axis=per_axis),
                                   name="dense")
    layer.build((None, 12))
    w = rng.normal(size=(12, 5)).astype(np.float32)
    layer.kernel.assign(w)
    steps = rng.uniform(0.2, 0.6, 5 if per_axis else ()).astype(np.float32)
    layer.quantizer.step_variable.assign(steps)
    c = rng.normal(size=(12, 5)).astype(np.float32)
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(c * layer.quantizer.quantize(layer.kernel))
    dw, ds = tape.gradient(total, [layer.kernel, layer.quantizer.step_variable])
    expected_dw, expected_ds = lsq_weight_reference(w.astype(np.float64), steps, kmax, c)
    np.testing.assert_allclose(dw.numpy(), expected_dw, atol=1e-6)
    count = 12 if per_axis else 60
    expected = expected_ds.sum(axis=0) if per_axis else expected_ds.sum()
    np.testing.assert_allclose(ds.numpy(), expected / math.sqrt(count * kmax), rtol=1e-4,
                               atol=1e-6)
    assert np.any(ds.numpy() != 0)
    # The integers the chip stores: round(clip(w / s)), with scale factor 1 / s.
    integers, sf = layer.quantizer.integer_weights(layer.kernel)
    np.testing.assert_array_equal(integers.numpy(),
                                  np.clip(np.round(w / steps), -kmax, kmax).astype(np.float32))
    np.testing.assert_allclose(sf.numpy(), 1 / steps, rtol=1e-6)


def test_gradient_scale_can_be_turned_off():
    layer = qlayers.QuantizedDense(3, quantizer=LearnedStepQuantizer(4, gradient_scale=False))
    layer.build((None, 4))
    with tf.GradientTape(persistent=True) as tape:
        total = tf.reduce_sum(layer.quantizer.quantize(layer.kernel))
    step = layer.quantizer.step_variable
    unscaled = tape.gradient(total, step).numpy()
    w, s = layer.kernel.numpy().astype(np.float64), float(step.numpy())
    np.testing.assert_allclose(unscaled, lsq_weight_reference(w, s, 7, 1.0)[1].sum(), rtol=1e-4)


@pytest.mark.parametrize("method", ["lsq", "lsq+"])
@pytest.mark.parametrize("bits", [1, 2, 4])
def test_activation_steps_get_lsq_gradients(bits, method):
    rng = np.random.default_rng(10 + bits)
    levels = 2 ** bits - 1
    relu = LearnedStepReLU(bits, method=method, name="relu")
    x = rng.normal(0.5, 1.5, (4, 3, 3, 2)).astype(np.float32)
    relu.build(x.shape)
    relu.step_.assign(0.7)
    if method == "lsq+":
        relu.offset_.assign(0.1)
    offset = 0.1 if method == "lsq+" else 0.0
    c = rng.normal(size=x.shape).astype(np.float32)
    variables = [relu.step_] + ([relu.offset_] if method == "lsq+" else [])
    with tf.GradientTape() as tape:
        y = relu(x)
        total = tf.reduce_sum(c * y)
    gradients = tape.gradient(total, variables)
    # LSQ(+): y = s * clip(round((x - b) / s), 0, Qp); d/ds = round(v) - v inside, Qp above;
    # d/db = -1 inside (the output has no offset on the chip: the offset is the threshold).
    v = (x.astype(np.float64) - offset) / 0.7
    level = np.clip(np.ceil(v - 0.5), 0, levels)
    np.testing.assert_array_equal(y.numpy(), (0.7 * level).astype(np.float32))
    inside = (v > 0.5) & (v < levels + 0.5)
    scale = gradient_scale(18, levels)
    ds = np.sum(c * np.where(inside, level - v, np.where(v >= levels + 0.5, levels, 0.0)))
    np.testing.assert_allclose(gradients[0].numpy(), ds * scale, rtol=1e-4)
    if method == "lsq+":
        np.testing.assert_allclose(gradients[1].numpy(), -np.sum(c * inside) * scale,
                                   rtol=1e-4)
    # The TFMOT twin computes the same values and gradients.
    quantizer = LearnedActivationQuantizer(bits, method=method)
    holder = keras.layers.Layer()
    weights = quantizer.build(x.shape, "output", holder)
    weights["step"].assign(0.7)
    if method == "lsq+":
        weights["offset"].assign(0.1)
    with tf.GradientTape() as tape:
        twin = quantizer(tf.nn.relu(x), weights=weights)
        total = tf.reduce_sum(c * twin)
    np.testing.assert_array_equal(twin.numpy(), y.numpy())
    for ours, theirs in zip(tape.gradient(total, list(weights.values())), gradients):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-4, atol=1e-7)


def test_initialisation_formulas():
    w = np.random.default_rng(0).normal(0.1, 0.5, (3, 3, 4, 6)).astype(np.float32)
    np.testing.assert_allclose(initial_weight_step(w, 4).numpy(),
                               2 * np.abs(w).mean() / math.sqrt(7), rtol=1e-5)
    per_channel = initial_weight_step(w, 2, per_axis=True, method="lsq+").numpy()
    flat = w.reshape(-1, 6)
    mean, std = flat.mean(0), flat.std(0)
    np.testing.assert_allclose(per_channel, np.maximum(abs(mean - 3 * std),
                                                       abs(mean + 3 * std)) / 2, rtol=1e-5)
    assert float(initial_weight_step(np.zeros((2, 2)), 4)) == 1.0  # dead: finite
    x = np.random.default_rng(1).normal(size=10000)
    step, offset = initial_activation_step(x, 2)
    assert step == pytest.approx(2 * np.maximum(x, 0).mean() / math.sqrt(3)) and offset == 0
    # LSQ+: the least squared error over the candidates, better than LSQ's and the default's.
    mse_step, _ = initial_activation_step(x, 2, method="lsq+")
    relu = np.maximum(x, 0)

    def error(s):
        return np.mean((relu - s * np.clip(np.ceil(relu / s - 0.5), 0, 3)) ** 2)

    assert error(mse_step) <= min(error(step), error(1.0))
    assert initial_activation_step(-np.ones(5), 4) == (0.4, 0.0)  # no positive input
    with pytest.raises(ValueError, match="`method` must be one of 'lsq', 'lsq\\+'"):
        LearnedStepQuantizer(4, method="pact")


def test_learned_step_quantizer_serves_one_weight():
    quantizer = LearnedStepQuantizer(4)
    quantizer.build((3, 3), "kernel", keras.layers.Layer())
    with pytest.raises(ValueError, match="one weight of one layer.*layer 'second'"):
        quantizer.build((3, 3), "kernel", keras.layers.Layer(name="second"))


# The chip's arithmetic --------------------------------------------------------------------------

CASES = {
    # name: (input shape, input scaling, sparse, layers builder)
    "image": ((12, 12, 1), (255.0, 0), False),
    "rgb_dense": ((9, 9, 3), (127.5, 2), False),
}


def learned_model(name, method="lsq"):
    keras.utils.set_random_seed(3)
    if name == "image":
        layers = [
            qlayers.QuantizedConv2D(
                6, 3, padding="same", name="b0",
                quantizer=LearnedStepQuantizer(8, per_axis=True, method=method)),
            L.MaxPool2D(padding="same", name="b0_pool"),
            LearnedStepReLU(4, method=method, name="b0_relu"),
            qlayers.QuantizedSeparableConv2D(
                8, 3, padding="same", name="b1",
                quantizer=LearnedStepQuantizer(2, per_axis=True, method=method),
                quantizer_dw=LearnedStepQuantizer(2, method=method)),
            L.BatchNormalization(name="b1_bn"),
            LearnedStepReLU(2, method="lsq+", name="b1_relu"),
            qlayers.QuantizedConv2D(8, 3, strides=2, padding="valid", name="b2",
                                    quantizer=LearnedStepQuantizer(4, method=method)),
            LearnedStepReLU(1, method=method, name="b2_relu"),
            L.Flatten(name="flat"),
            qlayers.QuantizedDense(5, name="b3",
                                   quantizer=LearnedStepQuantizer(4, per_axis=True,
                                                                  method=method))]
    else:
        layers = [
            qlayers.QuantizedConv2D(6, 3, strides=2, padding="valid", name="b0",
                                    quantizer=LearnedStepQuantizer(8, method=method)),
            LearnedStepReLU(1, method=method, name="b0_relu"),
            qlayers.QuantizedConv2D(10, 3, padding="same", name="b1",
                                    quantizer=LearnedStepQuantizer(4, per_axis=True,
                                                                   method=method)),
            L.GlobalAveragePooling2D(name="b1_gap"),
            LearnedStepReLU(4, method=method, name="b1_relu"),
            qlayers.QuantizedDense(12, name="b2", quantizer=LearnedStepQuantizer(8, method=method)),
            LearnedStepReLU(2, method=method, name="b2_relu"),
            qlayers.QuantizedDense(4, name="b3",
                                   quantizer=LearnedStepQuantizer(2, per_axis=True,
                                                                  method=method))]
    shape = CASES[name][0]
    model = keras.Sequential([keras.Input(shape)] + layers, name=name)
    rng = np.random.default_rng(4)
    for variable in model.weights:
        key = variable.name.split("/")[-1].split(":")[0]
        if key in ("gamma", "moving_variance"):
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype(np.float32))
        elif key in ("beta", "moving_mean", "bias"):
            variable.assign((rng.normal(size=variable.shape) * 0.3).astype(np.float32))
        elif key in ("kernel", "depthwise_kernel", "pointwise_kernel"):
            variable.assign((rng.normal(size=variable.shape) * 0.4).astype(np.float32))
    return model


def inputs(name, seed, count=48):
    shape, (scale, shift), _ = CASES[name]
    levels = np.random.default_rng(seed).integers(shift, 256, (count,) + shape).astype(np.uint8)
    return ((levels.astype(np.float32) - shift) / np.float32(scale)).astype(np.float32), levels


def akida_prefix(akida_model, depth):
    prefix = AkidaModel()
    for source in akida_model.layers[:depth + 1]:
        prefix.add(type(source)(**source.constructor_arguments()))
        for variable in source.variables:
            prefix.layers[-1].set_variable(variable, source.get_variable(variable))
    return prefix


def assert_chip_equal(exact, akida_model, x, levels):
    """The hardware-exact model's output and block levels equal the emulator's and the
    runtime's, bit for bit."""
    got = exact.predict(x, verbose=0).reshape(len(x), -1)
    np.testing.assert_array_equal(got, akida_model.predict(levels).reshape(len(x), -1))
    outputs = exact.get_layer("hardware_exact").block_outputs(x)
    for depth, output in enumerate(outputs[:-1]):
        prefix = akida_prefix(akida_model, depth)
        expected = prefix.forward(levels).reshape(len(x), -1).astype(np.float32)
        np.testing.assert_array_equal(output.reshape(len(x), -1), expected)
        assert len(np.unique(output)) > 1, f"block {depth} outputs a constant"
        if AKIDA is not None:
            runtime = prefix.to_akida().forward(levels).reshape(len(x), -1)
            np.testing.assert_array_equal(output.reshape(len(x), -1),
                                          runtime.astype(np.float32))


def assert_same_akida_model(first, second):
    assert [layer.constructor_arguments() for layer in first.layers] == \
        [layer.constructor_arguments() for layer in second.layers]
    for a, b in zip(first.layers, second.layers):
        for name in a.variables:
            np.testing.assert_array_equal(a.get_variable(name), b.get_variable(name))


@pytest.mark.parametrize("method", ["lsq", "lsq+"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_converted_learned_models_are_the_chip(name, method):
    model = learned_model(name, method)
    x, levels = inputs(name, seed=5)
    initialize_steps(model, x)
    scaling = CASES[name][1]
    akida_model = convert(model, input_scaling=scaling)
    exact = hardware_exact(model, scaling)
    assert_chip_equal(exact, akida_model, x, levels)
    # The registers come from the learned steps: act_step = s * sf * step * 2**b / 16 with
    # sf = 1 / kernel step, and the next block's input scaling is 1 / activation step.
    first = akida_model.layers[0]
    relu = model.get_layer("b0_relu")
    step = np.float32(relu.step_height.numpy())
    sf = 1 / model.get_layer("b0").quantizer.step_variable.numpy().astype(np.float32)
    expected = np.float32(np.float32(scaling[0] * sf) * (step * 2.0 ** relu.bitwidth / 16))
    if name == "image":
        np.testing.assert_array_equal(first.get_variable("act_step"), expected)
    # Trained (every variable moves, the steps included), still the chip bit for bit.
    before = {v.name: v.numpy().copy() for v in exact.trainable_variables}
    exact.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    monitor = ScaleFactorMonitor(scaling)
    exact.fit(x, np.arange(len(x)) % 4, epochs=2, batch_size=16, verbose=0, callbacks=[monitor])
    moved = [v.name for v in exact.trainable_variables
             if not np.array_equal(before[v.name], v.numpy())]
    assert sorted(moved) == sorted(before), sorted(set(before) - set(moved))
    assert any(name.endswith("_step:0") for name in moved)
    trained = convert(exact, input_scaling=scaling)
    assert_chip_equal(exact, trained, x, levels)
    # The monitor computed the converter's registers from the learned steps.
    registers = model_registers(analyze(exact), scaling, False)
    assert monitor.margins == {r.name: r.margin() for r in registers}


def test_tfmot_models_with_learned_configs_give_their_seed_twin():
    keras.utils.set_random_seed(6)
    annotated = keras.Sequential([
        keras.Input((12, 12, 1)),
        annotate(L.Conv2D(6, 3, padding="same", name="b0"),
                 qc.Conv2DQuantizeConfig(LearnedStepQuantizer(8, per_axis=True))),
        L.MaxPool2D(padding="same", name="b0_pool"),
        annotate(L.ReLU(name="b0_relu"),
                 qc.ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(4))),
        annotate(L.SeparableConv2D(8, 3, padding="same", name="b1"),
                 qc.SeparableConv2DQuantizeConfig(LearnedStepQuantizer(2, per_axis=True),
                                                  LearnedStepQuantizer(2))),
        annotate(L.ReLU(name="b1_relu"),
                 qc.ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(2, "lsq+"))),
        L.Flatten(name="flat"),
        annotate(L.Dense(5, name="b2"), qc.DenseQuantizeConfig(LearnedStepQuantizer(4)))])
    float_kernel = annotated.layers[0].layer.kernel.numpy()
    with quantize_scope():
        model = tfmot.quantization.keras.quantize_apply(annotated, qc.AkidaQuantizeScheme())
    wrapper = model.get_layer("quant_b0")
    # quantize_apply built the wrapper on the trained kernel: the step starts from it.
    assert [weight.name for weight in wrapper.weights
            if "kernel_step" in weight.name] == ["quant_b0/kernel_step:0"]
    np.testing.assert_allclose(wrapper.quantize_config.quantizer.step_variable.numpy(),
                               initial_weight_step(float_kernel, 8, per_axis=True).numpy())
    x, levels = inputs("image", seed=7)
    initialize_steps(model, x)
    relu = model.get_layer("quant_b1_relu")
    assert set(relu._output_quantizer_vars) == {"step", "offset"}
    relu._output_quantizer_vars["offset"].assign(0.05)
    akida_model = convert(model, input_scaling=(255, 0))
    exact = hardware_exact(model, (255, 0))
    assert [type(layer).__name__ for layer in exact.get_layer("hardware_exact").chain] == [
        "QuantizedConv2D", "MaxPooling2D", "LearnedStepReLU", "QuantizedSeparableConv2D",
        "LearnedStepReLU", "Flatten", "QuantizedDense"]
    assert_chip_equal(exact, akida_model, x, levels)
    assert_same_akida_model(convert(exact, input_scaling=(255, 0)), akida_model)
    np.testing.assert_allclose(exact.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=0.5)  # the Keras model is close to the chip


def test_scheme_gives_learned_configs():
    keras.utils.set_random_seed(8)
    annotated = keras.Sequential([
        keras.Input((8, 8, 1)), annotate(L.Conv2D(4, 3, name="conv")),
        annotate(L.ReLU(name="relu")), annotate(L.DepthwiseConv2D(3, name="dw")), L.Flatten(),
        annotate(L.Dense(3, name="dense"))])
    with quantize_scope():
        model = tfmot.quantization.keras.quantize_apply(
            annotated, qc.AkidaQuantizeScheme(4, 2, learned_steps="lsq+"))
    configs = {layer.layer.name: layer.quantize_config for layer in model.layers
               if hasattr(layer, "quantize_config")}
    assert configs["conv"].quantizer.get_config() == {"bitwidth": 4, "per_axis": True,
                                                      "method": "lsq+", "gradient_scale": True}
    assert configs["dw"].quantizer.per_axis is False  # depthwise: per tensor
    assert isinstance(configs["relu"].quantizer, LearnedActivationQuantizer)
    with pytest.raises(ValueError, match="`learned_steps` must be None or one of"):
        qc.AkidaQuantizeScheme(learned_steps="pact")


@pytest.mark.parametrize("suffix", [".h5", "_savedmodel"])
def test_save_and_reload(tmp_path, suffix):
    model = learned_model("image", "lsq+")
    x, _ = inputs("image", seed=9)
    initialize_steps(model, x)
    exact = hardware_exact(model, (255, 0))
    for kind, source in (("seed", model), ("exact", exact)):
        path = str(tmp_path / f"{kind}{suffix}")
        source.save(path)
        for reloaded in (load_quantized_model(path), keras.models.load_model(path)):
            np.testing.assert_array_equal(reloaded.predict(x, verbose=0),
                                          source.predict(x, verbose=0))
            assert_same_akida_model(convert(reloaded, input_scaling=(255, 0)),
                                    convert(source, input_scaling=(255, 0)))
    with quantize_scope():  # the configs round-trip
        quantizer = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(
            LearnedStepQuantizer(2, per_axis=True, method="lsq+", gradient_scale=False)))
    assert quantizer.get_config() == {"bitwidth": 2, "per_axis": True, "method": "lsq+",
                                      "gradient_scale": False}


def test_tfmot_model_saves_and_reloads(tmp_path):
    keras.utils.set_random_seed(12)
    annotated = keras.Sequential([
        keras.Input((8, 8, 1)),
        annotate(L.Conv2D(4, 3, name="conv"),
                 qc.Conv2DQuantizeConfig(LearnedStepQuantizer(8, per_axis=True))),
        annotate(L.ReLU(name="relu"),
                 qc.ReLUQuantizeConfig(quantizer=LearnedActivationQuantizer(2, "lsq+"))),
        L.Flatten(), annotate(L.Dense(3, name="dense"),
                              qc.DenseQuantizeConfig(LearnedStepQuantizer(4)))])
    with quantize_scope():
        model = tfmot.quantization.keras.quantize_apply(annotated, qc.AkidaQuantizeScheme())
    x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)).astype(np.float32) / 255
    initialize_steps(model, x)
    model.get_layer("quant_relu")._output_quantizer_vars["offset"].assign(0.1)
    path = str(tmp_path / "tfmot.h5")
    model.save(path)
    reloaded = load_quantized_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert_same_akida_model(convert(reloaded, input_scaling=(255, 0)),
                            convert(model, input_scaling=(255, 0)))


def test_learned_steps_replaces_the_quantizers_of_a_quantized_model():
    keras.utils.set_random_seed(13)
    float_model = keras.Sequential([
        keras.Input((10, 10, 1)), L.Conv2D(6, 3, name="conv"), L.ReLU(name="relu"),
        L.SeparableConv2D(8, 3, name="sep"), L.ReLU(6.0, name="relu6"), L.Flatten(),
        L.Dense(3, name="dense")])
    quantized = quantize(float_model, 2, 2, 8)
    x = np.random.default_rng(0).random((32, 10, 10, 1)).astype(np.float32)
    model = learned_steps(quantized)
    conv = model.get_layer("conv")
    assert conv.quantizer.get_config() == {"bitwidth": 8, "per_axis": True, "method": "lsq",
                                           "gradient_scale": True}
    separable = model.get_layer("sep")
    assert separable.quantizer_dw.per_axis is False and separable.quantizer.per_axis is True
    np.testing.assert_allclose(separable.quantizer.step_variable.numpy(), initial_weight_step(
        quantized.get_layer("sep").pointwise_kernel, 2, per_axis=True).numpy())
    # Without data the activations compute what the discrete ReLUs computed.
    for name in ("relu", "relu6"):
        old, new = quantized.get_layer(name), model.get_layer(name)
        assert type(new) is LearnedStepReLU and new.bitwidth == old.bitwidth
        assert float(new.step_height) == pytest.approx(float(old.step_height))
        assert float(new.threshold) == pytest.approx(float(old.threshold))
    # With data, LSQ's initial steps, layer after layer.
    seeded = learned_steps(quantized, x, method="lsq+")
    steps = [float(seeded.get_layer(name).step_height) for name in ("relu", "relu6")]
    assert steps != [1.0, 2.0]
    assert seeded.get_layer("relu").offset_ is not None
    assert quantized.get_layer("conv").quantizer == qc.MaxPerAxisQuantizer(8)  # unchanged
    convert(seeded, input_scaling=(255, 0))


def test_quantize_layer_keeps_a_learned_activation():
    keras.utils.set_random_seed(14)
    float_model = keras.Sequential([keras.Input((6,)), L.Dense(4, name="dense"),
                                    L.ReLU(name="relu"), L.Dense(2, name="out")])
    model = learned_steps(quantize(float_model, 4, 4, 8), method="lsq+")
    model.get_layer("relu").offset_.assign(0.125)
    lowered = quantize_layer(model, "relu", 2)
    relu = lowered.get_layer("relu")
    assert type(relu) is LearnedStepReLU and relu.bitwidth == 2 and relu.method == "lsq+"
    assert float(relu.step_height) == pytest.approx(0.4 * 5 ** 0.5, rel=1e-6)
    assert float(relu.offset_) == 0.125
