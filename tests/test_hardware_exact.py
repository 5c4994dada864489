"""hardware_exact(): a Keras model computing the chip's integers, bit for bit, that trains.

Random quantized models cover every block kind (input, inner and separable convolutions,
dense), both paddings, strides 1 and 2, max and global pooling, BatchNormalization left in a
block, activations of 1, 2 and 4 bits (fixed and trainable), weights of 2, 4 and 8 bits, and
image and sparse inputs. Outputs and every block's levels are compared with the emulator (and
BrainChip's runtime where installed), before and after training.
"""
import dataclasses
import warnings

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot import (
    GammaClipping,
    IncompatibleModelError,
    ScaleFactorMonitor,
    convert,
    hardware_exact,
    load_partial_weights,
    load_quantized_model,
    quantize_scope,
)
from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot.akida import Model as AkidaModel
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras, tf
from cnn2snn_tfmot.training import exact as exact_module

from helpers import AKIDA

L = keras.layers


@dataclasses.dataclass
class Case:
    """A random model: its blocks, its input and its scaling."""
    name: str
    shape: tuple
    blocks: list  # (kind, options) per block
    scaling: tuple = (255.0, 0)
    sparse: bool = False


def quantizer(bits, per_axis=True, trainable=False):
    if trainable:
        return qops.TrainableStdWeightQuantizer(2.5, bits)
    return qops.MaxPerAxisQuantizer(bits) if per_axis else qops.MaxQuantizer(bits)


def build(case: Case, seed: int):
    """The quantized model of a case, with random weights (positive gammas)."""
    rng = np.random.default_rng(seed)
    layers = [keras.Input(case.shape)]
    for index, (kind, options) in enumerate(case.blocks):
        name = f"b{index}"
        bits, padding = options.get("bits", 4), options.get("padding", "same")
        strides, trainable = options.get("strides", 1), options.get("trainable_q", False)
        if kind == "conv":
            layers.append(qlayers.QuantizedConv2D(
                options.get("filters", 6), options.get("kernel", 3), strides=strides,
                padding=padding, quantizer=quantizer(bits, trainable=trainable), name=name))
        elif kind == "separable":
            layers.append(qlayers.QuantizedSeparableConv2D(
                options.get("filters", 6), 3, strides=strides, padding=padding,
                quantizer=quantizer(bits, trainable=trainable),
                quantizer_dw=quantizer(bits, per_axis=False, trainable=trainable), name=name))
        else:
            layers += [L.Flatten(name=f"{name}_flat"), qlayers.QuantizedDense(
                options.get("filters", 5), quantizer=quantizer(bits, trainable=trainable),
                name=name)]
        if options.get("batchnorm"):
            layers.append(L.BatchNormalization(name=f"{name}_bn"))
        pool = options.get("pool")
        if pool == "max":
            layers.append(L.MaxPool2D(options.get("pool_size", 2), options.get("pool_strides"),
                                      padding=padding, name=f"{name}_pool"))
        elif pool == "global":
            layers.append(L.GlobalAveragePooling2D(name=f"{name}_gap"))
        act_bits = options.get("act_bits")
        if act_bits:
            cls = qlayers.QuantizedReLU if options.get("trainable_relu") else \
                qlayers.ActivationDiscreteRelu
            layers.append(cls(act_bits, name=f"{name}_relu"))
    model = keras.Sequential(layers, name=case.name)
    for variable in model.weights:
        key = variable.name.split("/")[-1].split(":")[0]
        shape = tuple(variable.shape)
        if key in ("gamma", "moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif key in ("beta", "moving_mean"):
            value = rng.normal(size=shape) * 0.3
        elif key == "bias":
            value = rng.normal(size=shape) * 0.5
        elif key.endswith("_threshold"):  # a trainable quantizer's
            value = rng.uniform(2.0, 3.0, shape)
        elif key == "threshold":
            value = rng.uniform(0.1, 0.4, shape)
        elif key == "step":
            value = rng.uniform(0.2, 0.6, shape)
        else:
            value = rng.normal(size=shape) * 0.4
        variable.assign(value.astype(np.float32))
    return model


def calibrate(model, x):
    """Per block, an affine map of the pre-activations (through the kernel and bias, or the
    BatchNormalization) so that they spread over the activation's range: levels vary."""
    layers = model.layers
    for index, layer in enumerate(layers):
        if not isinstance(layer, qlayers.QuantizedActivation):
            continue
        before = layers[index - 1]
        z = keras.Model(model.inputs, before.output)(x).numpy()
        z = z.reshape(-1, z.shape[-1])
        low, high = np.percentile(z, 10, axis=0), np.percentile(z, 90, axis=0)
        threshold, step = float(layer.threshold), float(layer.step_width)
        target_low, target_high = threshold, threshold + 0.8 * layer.levels * step
        a = np.where(high > low, (target_high - target_low) / np.maximum(high - low, 1e-9), 1.0)
        b = target_low - a * low
        owner = next(candidate for candidate in reversed(layers[:index])
                     if isinstance(candidate, (L.BatchNormalization, qlayers.QuantizedLayerMixin)))
        if isinstance(owner, L.BatchNormalization):
            owner.gamma.assign(owner.gamma * a)
            owner.beta.assign(owner.beta * a + b)
        else:
            kernel = owner.quantized_kernels[-1].attribute  # the output kernel
            getattr(owner, kernel).assign(getattr(owner, kernel) * a)
            owner.bias.assign(owner.bias * a + b)


CASES = [
    Case("conv_max_2bit_weights", (12, 12, 1), [
        ("conv", {"bits": 8, "act_bits": 4, "pool": "max"}),
        ("conv", {"bits": 2, "act_bits": 2, "padding": "valid"}),
        ("dense", {"bits": 4})]),
    Case("rgb_valid_strides", (13, 11, 3), [
        ("conv", {"bits": 8, "act_bits": 1, "strides": 2, "padding": "valid"}),
        ("separable", {"bits": 4, "act_bits": 4, "pool": "max", "pool_size": 3,
                       "pool_strides": 2}),
        ("dense", {"bits": 8, "act_bits": 2})]),
    Case("shifted_input_batchnorm_global", (10, 10, 1), [
        ("conv", {"bits": 4, "act_bits": 4, "batchnorm": True}),
        ("separable", {"bits": 8, "act_bits": 1, "strides": 2, "batchnorm": True}),
        ("conv", {"bits": 4, "pool": "global", "act_bits": 4, "trainable_relu": True})],
        scaling=(127.5, 2)),
    Case("trainable_everything", (10, 10, 1), [
        ("conv", {"bits": 4, "act_bits": 2, "trainable_relu": True, "trainable_q": True}),
        ("separable", {"bits": 4, "act_bits": 4, "trainable_relu": True, "trainable_q": True,
                       "pool": "max", "padding": "valid"}),
        ("dense", {"bits": 4, "trainable_q": True})]),
    Case("sparse_events", (8, 8, 4), [
        ("conv", {"bits": 4, "act_bits": 4, "pool": "max"}),
        ("separable", {"bits": 2, "act_bits": 1, "pool": "global"}),
        ("dense", {"bits": 4})], scaling=(15.0, 0), sparse=True),
    Case("sparse_dense_only", (1, 1, 16), [
        ("dense", {"bits": 4, "act_bits": 4, "filters": 12}),
        ("dense", {"bits": 2, "act_bits": 4, "trainable_relu": True}),
        ("dense", {"bits": 8})], scaling=(15.0, 0), sparse=True),
    Case("last_block_with_activation", (9, 9, 1), [
        ("conv", {"bits": 8, "act_bits": 2, "strides": 2}),
        ("conv", {"bits": 4, "act_bits": 4, "kernel": 1})]),
]


def inputs(case: Case, seed: int, count: int = 48):
    """Float Keras inputs and the uint8 Akida inputs they map to exactly."""
    rng = np.random.default_rng(seed)
    scale, shift = case.scaling
    high = 15 if case.sparse else 255
    levels = rng.integers(shift, high + 1, (count,) + case.shape).astype(np.uint8)
    return ((levels.astype(np.float32) - shift) / np.float32(scale)).astype(np.float32), levels


def akida_prefix(akida_model, depth: int):
    """The Akida model's first ``depth + 1`` layers (an InputData layer is not counted)."""
    prefix = AkidaModel()
    offset = 1 if akida_model.layers[0].layer_type == "InputData" else 0
    for source in akida_model.layers[:depth + 1 + offset]:
        prefix.add(type(source)(**source.constructor_arguments()))
        for name in source.variables:
            prefix.layers[-1].set_variable(name, source.get_variable(name))
    return prefix


def assert_chip_equal(exact, case, akida_model, x, levels):
    """The model's output and every block's output equal the emulator's, bit for bit."""
    got = exact.predict(x, verbose=0)
    np.testing.assert_array_equal(got.reshape(len(x), -1),
                                  akida_model.predict(levels).reshape(len(x), -1))
    network = exact.get_layer("hardware_exact")
    outputs = network.block_outputs(x)
    blocks = len(outputs)
    for depth, output in enumerate(outputs):
        prefix = akida_prefix(akida_model, depth)
        last = depth == blocks - 1
        expected = prefix.predict(levels) if last else prefix.forward(levels)
        np.testing.assert_array_equal(output.reshape(len(x), -1),
                                      expected.reshape(len(x), -1).astype(np.float32))
        if not last:  # the levels vary: the comparison means something
            assert len(np.unique(output)) > 1, f"block {depth} outputs a constant"
        if AKIDA is not None and not last:
            runtime = prefix.to_akida().forward(levels)
            np.testing.assert_array_equal(output.reshape(len(x), -1),
                                          runtime.reshape(len(x), -1).astype(np.float32))


@pytest.fixture(autouse=True)
def _no_chip_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AkidaChipWarning)
        yield


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_outputs_and_block_levels_equal_the_chip(case):
    model = build(case, seed=1)
    x, levels = inputs(case, seed=2)
    calibrate(model, x)
    exact = hardware_exact(model, case.scaling, input_is_sparse=case.sparse)
    akida_model = convert(model, input_scaling=case.scaling, input_is_sparse=case.sparse)
    assert_chip_equal(exact, case, akida_model, x, levels)
    network = exact.get_layer("hardware_exact")
    assert tuple(network.compute_output_shape((None,) + case.shape))[1:] == \
        tuple(exact(x[:2]).shape)[1:]
    # convert() reads the hardware-exact model as the model it was made from.
    again = convert(exact, input_scaling=case.scaling, input_is_sparse=case.sparse)
    assert_same_akida_model(again, akida_model)


def assert_same_akida_model(first, second):
    assert [layer.constructor_arguments() for layer in first.layers] == \
        [layer.constructor_arguments() for layer in second.layers]
    for a, b in zip(first.layers, second.layers):
        for name in a.variables:
            np.testing.assert_array_equal(a.get_variable(name), b.get_variable(name))


@pytest.mark.parametrize("case", [CASES[2], CASES[3]], ids=[CASES[2].name, CASES[3].name])
def test_training_keeps_every_variable_learning_and_the_model_exact(case):
    model = build(case, seed=3)
    x, levels = inputs(case, seed=4, count=64)
    calibrate(model, x)
    exact = hardware_exact(model, case.scaling, input_is_sparse=case.sparse)
    y = np.random.default_rng(5).integers(0, 4, len(x))
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        value = loss(y, exact(x, training=True))
    gradients = tape.gradient(value, exact.trainable_variables)
    for variable, gradient in zip(exact.trainable_variables, gradients):
        assert gradient is not None, variable.name
        assert np.all(np.isfinite(gradient.numpy())), variable.name
        assert np.any(gradient.numpy() != 0), variable.name
    names = [variable.name for variable in exact.trainable_variables]
    options = [options for _, options in case.blocks]
    if any(option.get("trainable_q") for option in options):  # trainable quantizers
        assert any("kernel_threshold" in name for name in names)
    assert any(name.endswith("relu/step:0") for name in names)  # QuantizedReLU
    if any(option.get("batchnorm") for option in options):
        assert any(name.endswith("bn/gamma:0") for name in names)

    before = [variable.numpy().copy() for variable in exact.trainable_variables]
    exact.compile(keras.optimizers.Adam(1e-2), loss)
    monitor = ScaleFactorMonitor(case.scaling, input_is_sparse=case.sparse)
    history = exact.fit(x, y, epochs=2, batch_size=16, verbose=0,
                        callbacks=[GammaClipping(0.3), monitor])
    assert np.all(np.isfinite(history.history["loss"]))
    assert sorted(key for key in history.history if key.startswith("akida_margin/")) == \
        [f"akida_margin/b{index}" for index in range(len(case.blocks))]
    changed = [not np.array_equal(b, v.numpy()) for b, v in zip(before,
                                                                 exact.trainable_variables)]
    assert all(changed), [n for n, c in zip(names, changed) if not c]
    # Still the chip, bit for bit, with the trained weights.
    akida_model = convert(exact, input_scaling=case.scaling, input_is_sparse=case.sparse)
    assert_chip_equal(exact, case, akida_model, x, levels)
    # ... and the Akida model of the model it was made from, given the same weights.
    for layer in exact.get_layer("hardware_exact").chain:
        model.get_layer(layer.name).set_weights(layer.get_weights())
    assert_same_akida_model(akida_model, convert(model, input_scaling=case.scaling,
                                                 input_is_sparse=case.sparse))


def test_gamma_clipping_reaches_the_batchnorms_inside():
    exact = hardware_exact(build(CASES[2], seed=6), CASES[2].scaling)
    batchnorm = exact.get_layer("hardware_exact").chain[1]
    assert isinstance(batchnorm, L.BatchNormalization)
    batchnorm.gamma.assign(np.full(batchnorm.gamma.shape, 1e-4, np.float32))
    clipping = GammaClipping(0.05)
    clipping.set_model(exact)
    clipping.on_train_begin()
    assert np.all(batchnorm.gamma.numpy() >= np.float32(0.05))


def test_input_levels_are_recovered_exactly():
    exact = hardware_exact(build(CASES[0], seed=7), (255, 0))
    images = np.arange(256, dtype=np.uint8).reshape(256, 1, 1, 1) * np.ones((1, 12, 12, 1),
                                                                              np.uint8)
    network = exact.get_layer("hardware_exact")
    levels = network._input_levels(tf.constant(images.astype(np.float32) / 255)).numpy()
    np.testing.assert_array_equal(levels, images.astype(np.float32))


@pytest.mark.parametrize("suffix", [".h5", "_savedmodel"])
def test_saves_and_reloads(tmp_path, suffix):
    case = CASES[3]
    x, levels = inputs(case, seed=9)
    model = build(case, seed=8)
    calibrate(model, x)
    exact = hardware_exact(model, case.scaling)
    path = str(tmp_path / f"exact{suffix}")
    exact.save(path)
    for reloaded in (load_quantized_model(path), keras.models.load_model(path)):
        np.testing.assert_array_equal(reloaded.predict(x, verbose=0), exact.predict(x, verbose=0))
        network = reloaded.get_layer("hardware_exact")
        assert network.akida_input_scaling == (255.0, 0)
        assert_same_akida_model(convert(reloaded, input_scaling=case.scaling),
                                convert(exact, input_scaling=case.scaling))


@pytest.mark.parametrize("max_value", [None, 1.5])
def test_tfmot_model_gives_the_model_of_its_seed_twin(max_value):
    """Also with a bounded ReLU (ReLU(max_value)): its steps follow max_value."""
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    keras.utils.set_random_seed(10)
    annotated = keras.Sequential([
        keras.Input((10, 10, 1)),
        annotate(L.Conv2D(6, 3, name="conv"), qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(8))),
        annotate(L.ReLU(name="relu1"),
                 qc.ReLUQuantizeConfig(quantizer=qc.ActivationQuantizer(4, trainable=True))),
        annotate(L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw"),
                 qc.DepthwiseConv2DQuantizeConfig(qops.MaxQuantizer(4))),
        annotate(L.Conv2D(8, 1, name="pw"), qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(4))),
        annotate(L.ReLU(max_value=max_value, name="relu2"), qc.ReLUQuantizeConfig(
            quantizer=qc.ActivationQuantizer(2, max_value=max_value))),
        L.Flatten(name="flat"),
        annotate(L.Dense(4, name="dense"),
                 qc.DenseQuantizeConfig(qops.TrainableStdWeightQuantizer(bitwidth=4)))])
    with quantize_scope():
        tfmot_model = tfmot.quantization.keras.quantize_apply(annotated, qc.AkidaQuantizeScheme())
    case = Case("tfmot", (10, 10, 1), [])
    x, levels = inputs(case, seed=11)
    # Calibrated weights from a cnn2snn-style twin (same names), so that every block's levels vary.
    twin = keras.Sequential([
        keras.Input((10, 10, 1)),
        qlayers.QuantizedConv2D(6, 3, quantizer=qops.MaxPerAxisQuantizer(8), name="conv"),
        qlayers.QuantizedReLU(4, name="relu1"),
        qlayers.QuantizedDepthwiseConv2D(3, padding="same", use_bias=False,
                                         quantizer=qops.MaxQuantizer(4), name="dw"),
        qlayers.QuantizedConv2D(8, 1, quantizer=qops.MaxPerAxisQuantizer(4), name="pw"),
        qlayers.ActivationDiscreteRelu(2, max_value=max_value, name="relu2"),
        L.Flatten(name="flat"),
        qlayers.QuantizedDense(4, quantizer=qops.MaxPerAxisQuantizer(4), name="dense")])
    calibrate(twin, x)
    load_partial_weights(tfmot_model, twin)
    tfmot_model.get_layer("quant_relu1")._output_quantizer_vars["step"].assign(0.35)
    exact = hardware_exact(tfmot_model, (255, 0))
    # The depthwise + pointwise pair became one separable layer; names and weights are kept.
    assert [type(layer).__name__ for layer in exact.get_layer("hardware_exact").chain] == [
        "QuantizedConv2D", "QuantizedReLU", "QuantizedSeparableConv2D",
        "ActivationDiscreteRelu", "Flatten", "QuantizedDense"]
    akida_model = convert(tfmot_model, input_scaling=(255, 0))
    assert_chip_equal(exact, case, akida_model, x, levels)
    assert_same_akida_model(convert(exact, input_scaling=(255, 0)), akida_model)


def test_refuses_what_convert_refuses():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="float_conv"),
                              L.ReLU(name="float_relu"), L.Flatten(), L.Dense(2)])
    with pytest.raises(IncompatibleModelError, match="'float_conv'.* not quantized"):
        hardware_exact(model, (255, 0))
    tiny = build(CASES[0], seed=12)
    tiny.get_layer("b0").kernel.assign(tiny.get_layer("b0").kernel * 1e-7)
    with pytest.raises(ValueError, match="'b0': .*does not fit the .*register"):
        hardware_exact(tiny, (255, 0))
    with pytest.raises(ValueError, match="shift must be 0 for sparse"):
        hardware_exact(build(CASES[4], seed=13), (15, 1), input_is_sparse=True)


def test_straight_through_passes_the_chip_value_bit_for_bit():
    """The forward value is the chip's exactly (``keras + stop_gradient(chip - keras)`` rounds:
    it moved a trained model's dequantized outputs by one ulp); the gradient is the Keras
    value's."""
    rng = np.random.default_rng(14)
    chip, keras_value = ((rng.normal(size=10000) * 10.0 ** rng.uniform(-3, 3, 10000))
                         .astype(np.float32) for _ in range(2))
    chip, keras_value = tf.constant(chip), tf.Variable(keras_value)
    with tf.GradientTape() as tape:
        value = exact_module._straight_through(chip, keras_value)
        loss = tf.reduce_sum(value * 3.0)
    np.testing.assert_array_equal(value.numpy(), chip.numpy())
    np.testing.assert_array_equal(tape.gradient(loss, keras_value).numpy(), np.full(10000, 3.0))
