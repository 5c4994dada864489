"""convert(): cnn2snn-style, quantize()-made and TFMOT models through one path."""
import re

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot.akida import Model as AkidaModel
from cnn2snn_tfmot.chip.rules import IncompatibleModelError
from cnn2snn_tfmot.conversion.blocks import analyze
from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.conversion.registers import block_registers
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.rewriting.quantizing import quantize, quantize_layer
from cnn2snn_tfmot.tfkeras import keras

from helpers import float_cnn, images, set_bn

L = keras.layers
annotate = tfmot.quantization.keras.quantize_annotate_layer


def keras_levels(model, x, layer_name, step):
    """Integer levels of a quantized activation layer of a Keras model."""
    probe = keras.Model(model.inputs, model.get_layer(layer_name).output)
    return np.round(probe.predict(x, verbose=0) / step).astype(np.int64)


def test_quantize_made_model_converts_and_matches_keras():
    model = float_cnn()
    set_bn(model)
    quantized = quantize(model, 4, 4, 8)
    x = images()
    akida_model = convert(quantized, input_scaling=(255, 0))
    assert [layer.layer_type for layer in akida_model.layers] == \
        ["InputConvolutional", "SeparableConvolutional", "Convolutional", "FullyConnected"]
    first = akida_model.layers[0].parameters
    assert first.pool_type.name == "Max" and first.weights_bits == 8 and first.act_bits == 4
    # First layer: the chip fires the Keras level or at most one level higher.
    keras_first = keras_levels(quantized, x.astype(np.float32) / 255, "r0", 0.4)
    difference = first_layer_levels(akida_model, x) - keras_first
    assert np.mean(difference == 0) > 0.95 and np.mean(np.isin(difference, (0, 1))) > 0.999
    # Whole model: the logits agree closely.
    keras_logits = keras.Model(quantized.inputs, quantized.get_layer("d").output).predict(
        x.astype(np.float32) / 255, verbose=0)
    akida_logits = akida_model.predict(x, engine="tf").reshape(len(x), -1)
    assert np.mean(np.argmax(keras_logits, 1) == np.argmax(akida_logits, 1)) >= 0.9


def tutorial_style_model():
    """Built by hand: BN left in the block (after the pooling), QuantizedReLU, Softmax."""
    keras.utils.set_random_seed(5)
    return keras.Sequential([
        keras.Input((16, 16, 1)),
        qlayers.QuantizedConv2D(8, 3, quantizer=qops.MaxQuantizer(8), name="conv"),
        L.MaxPool2D(name="pool"), L.BatchNormalization(name="bn"),
        qlayers.QuantizedReLU(bitwidth=4, name="relu"), L.Flatten(name="flatten"),
        qlayers.QuantizedDense(10, quantizer=qops.MaxQuantizer(4), name="dense"),
        L.Softmax(name="softmax")])


def test_hand_built_model_with_batchnorm_in_the_block():
    model = tutorial_style_model()
    set_bn(model)
    model.get_layer("relu").threshold_.assign(0.3)
    model.get_layer("relu").step_.assign(0.35)
    x = images(seed=1)
    akida_model = convert(model, input_scaling=(255, 0))
    assert [layer.layer_type for layer in akida_model.layers] == \
        ["InputConvolutional", "FullyConnected"]
    levels = keras_levels(model, x.astype(np.float32) / 255, "relu", 0.35)
    difference = first_layer_levels(akida_model, x) - levels
    assert np.mean(difference == 0) > 0.95 and np.mean(np.isin(difference, (0, 1))) > 0.999


def test_tfmot_model_converts_like_its_seed_twin():
    keras.utils.set_random_seed(6)
    annotated = keras.Sequential([
        keras.Input((16, 16, 1)),
        annotate(L.Conv2D(8, 3, padding="same", name="conv"),
                 qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(8))),
        L.MaxPool2D(padding="same", name="pool"), L.BatchNormalization(name="bn"),
        annotate(L.ReLU(name="relu"), qc.ReLUQuantizeConfig(quantizer=qc.ActivationQuantizer(
            2, trainable=True))),
        annotate(L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw"),
                 qc.DepthwiseConv2DQuantizeConfig(qops.MaxQuantizer(4))),
        annotate(L.Conv2D(12, 1, name="pw"), qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(4))),
        annotate(L.ReLU(name="relu2"), qc.ReLUQuantizeConfig(1)),
        L.Flatten(name="flat"),
        annotate(L.Dense(5, name="dense"), qc.DenseQuantizeConfig(
            qops.TrainableStdWeightQuantizer(bitwidth=4)))])
    set_bn(annotated)
    with qc.quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(annotated, qc.AkidaQuantizeScheme())
    seed_twin = keras.Sequential([
        keras.Input((16, 16, 1)),
        qlayers.QuantizedConv2D(8, 3, padding="same", quantizer=qops.MaxPerAxisQuantizer(8),
                                name="conv"),
        L.MaxPool2D(padding="same", name="pool"), L.BatchNormalization(name="bn"),
        qlayers.QuantizedReLU(2, name="relu"),
        qlayers.QuantizedSeparableConv2D(12, 3, padding="same", name="dw",
                                         quantizer=qops.MaxPerAxisQuantizer(4),
                                         quantizer_dw=qops.MaxQuantizer(4)),
        qlayers.ActivationDiscreteRelu(1, name="relu2"), L.Flatten(name="flat"),
        qlayers.QuantizedDense(5, quantizer=qops.TrainableStdWeightQuantizer(bitwidth=4),
                               name="dense")])
    from cnn2snn_tfmot.quantization.saving import load_partial_weights
    load_partial_weights(seed_twin, qat)
    separable = seed_twin.get_layer("dw")
    separable.depthwise_kernel.assign(qat.get_layer("quant_dw").layer.depthwise_kernel)
    separable.pointwise_kernel.assign(qat.get_layer("quant_pw").layer.kernel)
    separable.bias.assign(qat.get_layer("quant_pw").layer.bias)
    from_tfmot = convert(qat, input_scaling=(255, 0))
    from_seed = convert(seed_twin, input_scaling=(255, 0))
    assert [layer.layer_type for layer in from_tfmot.layers] == \
        ["InputConvolutional", "SeparableConvolutional", "FullyConnected"]
    for mine, twin in zip(from_tfmot.layers, from_seed.layers):
        for name in mine.variables:
            np.testing.assert_array_equal(mine.get_variable(name), twin.get_variable(name))


def test_registers_follow_section_4():
    """An independent transcription of docs/akida-v1.md section 4: BN absorbed, GAP, input shift."""
    keras.utils.set_random_seed(7)
    model = keras.Sequential([
        keras.Input((10, 10, 3)),
        qlayers.QuantizedConv2D(6, 3, quantizer=qops.MaxPerAxisQuantizer(8), name="conv"),
        L.BatchNormalization(name="bn"), L.GlobalAveragePooling2D(name="gap"),
        qlayers.ActivationDiscreteRelu(2, name="relu"),
        qlayers.QuantizedDense(4, quantizer=qops.MaxPerAxisQuantizer(4), name="out")])
    set_bn(model, seed=2)
    scale, shift = 127.5, 3
    registers = block_registers(analyze(model).blocks[0], (scale, shift), index=0)
    kernel = model.get_layer("conv").kernel.numpy()
    bias = model.get_layer("conv").bias.numpy().astype(np.float64)
    gamma, beta, mean, variance = [weight.astype(np.float64)
                                   for weight in model.get_layer("bn").get_weights()]
    epsilon = model.get_layer("bn").epsilon
    sf = (np.float32(127) / np.max(np.abs(kernel), axis=(0, 1, 2))).astype(np.float32)
    integers = np.clip(np.round(kernel * sf), -127, 127)
    a = gamma / np.sqrt(variance + epsilon)
    c = beta - mean * a
    t, step = (0.5 - c) / a, 1.0 / a  # 2-bit ActivationDiscreteRelu: threshold 0.5, step 1
    scaled = np.float32(scale) * sf  # s exactly representable: float32(s * sf)
    area = 8 * 8
    act_step = (scaled.astype(np.float64) * (step * 4 / 16)).astype(np.float32)
    act_step = (act_step * np.float32(area)).astype(np.float32)
    threshold = np.floor((scaled.astype(np.float64) * (t - bias) + shift * integers.reshape(
        -1, 6).sum(0)) * area)
    np.testing.assert_array_equal(registers.weights, integers.astype(np.int8))
    np.testing.assert_array_equal(registers.act_step, act_step)
    np.testing.assert_array_equal(registers.threshold, threshold.astype(np.int64))
    assert registers.output_scaling == (1.0, 0)


def test_last_layer_without_activation_dequantizes_to_the_keras_logits():
    keras.utils.set_random_seed(8)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        qlayers.QuantizedConv2D(4, 3, quantizer=qops.MaxPerAxisQuantizer(8), name="conv"),
        qlayers.ActivationDiscreteRelu(4, name="relu"), L.Flatten(name="flat"),
        qlayers.QuantizedDense(3, quantizer=qops.MaxPerAxisQuantizer(4), name="out")])
    x = images(32, (8, 8, 1), seed=3)
    akida_model = convert(model, input_scaling=(255, 0))
    registers = block_registers(analyze(model).blocks[1], (2.5, 0))
    assert registers.act_bits is None
    # With identical first-layer levels, predict() returns the Keras logits (up to float32).
    levels = first_layer_levels(akida_model, x).astype(np.float32)
    logits = model.get_layer("out")(model.get_layer("flat")(levels * 0.4)).numpy()
    np.testing.assert_allclose(akida_model.predict(x, engine="tf").reshape(len(x), -1), logits,
                               rtol=1e-4, atol=1e-3)


def first_layer_levels(akida_model, x):
    """The levels of the Akida model's first layer alone (a one-layer copy of it), int64."""
    probe = AkidaModel()
    first = akida_model.layers[0]
    probe.add(type(first)(**first.constructor_arguments()))
    for name in ("weights", "threshold", "act_step"):
        probe.layers[0].set_variable(name, first.get_variable(name))
    return probe.forward(x, engine="tf").astype(np.int64)


def test_file_path_saves_the_model(tmp_path):
    model = quantize(float_cnn(), 4, 4, 8)
    path = tmp_path / "model.akida"
    akida_model = convert(model, file_path=str(path), input_scaling=(255, 0))
    reloaded = AkidaModel(str(path))
    x = images(8, seed=4)
    np.testing.assert_array_equal(reloaded.forward(x, engine="tf"),
                                  akida_model.forward(x, engine="tf"))


def test_sparse_input_model():
    keras.utils.set_random_seed(9)
    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        qlayers.QuantizedConv2D(4, 3, quantizer=qops.MaxPerAxisQuantizer(4), name="conv"),
        qlayers.ActivationDiscreteRelu(2, name="relu"), L.Flatten(name="flat"),
        qlayers.QuantizedDense(3, quantizer=qops.MaxPerAxisQuantizer(2), name="out")])
    akida_model = convert(model, input_scaling=(1, 0), input_is_sparse=True)
    assert [layer.layer_type for layer in akida_model.layers] == \
        ["InputData", "Convolutional", "FullyConnected"]
    with pytest.raises(ValueError, match="shift must be 0 for sparse"):
        convert(model, input_scaling=(1, 2), input_is_sparse=True)


@pytest.mark.parametrize("scaling,match", [((0, 0), "positive"), ((-1, 0), "positive"),
                                            ((1, 0.5), "integer"), ((1, 300), "0..255"),
                                            ((1,), "pair"), ("255", "pair")])
def test_input_scaling_errors(scaling, match):
    with pytest.raises(ValueError, match=match):
        convert(tutorial_style_model(), input_scaling=scaling)


def test_act_step_below_one_sixteenth_is_refused():
    model = tutorial_style_model()
    with pytest.raises(ValueError, match=r"'conv': act_step .* below 1/16.*input scaling"):
        convert(model, input_scaling=(1e-4, 0))


def test_registers_out_of_range_name_the_layer_the_value_the_limit_and_the_fix():
    model = tutorial_style_model()
    set_bn(model, low=1e-5, high=1e-5)  # tiny gammas -> huge steps and thresholds
    with pytest.raises(ValueError) as error:
        convert(model, input_scaling=(255, 0))
    message = str(error.value)
    # The layer, the value, the limit (the 24-bit input register) and the fix.
    assert re.search(r"Layer 'conv': act_step [0-9.e+]+ \(channel \d+\) does not fit the "
                     r"24-bit act_step register \(20 integer and 4 fractional bits: limit "
                     r"1\.04858e\+06\)", message), message
    assert re.search(r"Layer 'conv': threshold -?\d+ \(channel \d+\) does not fit the signed "
                     r"24-bit threshold register \[-8388608, 8388607\]", message), message
    assert "add_gamma_constraint" in message


def test_incompatible_model_lists_every_violation():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="float_conv"),
                              L.ReLU(name="float_relu"), L.Flatten(), L.Dense(2, name="dense")])
    partly = quantize_layer(model, "float_conv", 8)  # a float model only says: quantize it
    with pytest.raises(IncompatibleModelError) as error:
        convert(partly, input_scaling=(255, 0))
    assert "'float_relu'" in str(error.value) and "'dense'" in str(error.value)


def test_converted_model_runs_bit_exactly_on_brainchips_runtime(akida_runtime):
    model = float_cnn(channels=3)
    set_bn(model, seed=5)
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    x = images(32, (16, 16, 3), seed=6)
    ours = akida_model.forward(x, engine="tf")
    assert np.any(ours != 0)
    np.testing.assert_array_equal(ours, akida_model.to_akida().forward(x))
    np.testing.assert_array_equal(akida_model.predict(x, engine="tf"),
                                  akida_model.to_akida().predict(x))


@pytest.mark.parametrize("name", ["mnist_cnn", "cifar_separable_cnn"])
def test_zoo_models_convert(name):
    from cnn2snn_tfmot.conversion.compatibility import check_model_compatibility
    from cnn2snn_tfmot.data import zoo

    model = getattr(zoo, name)()
    shape = (64,) + tuple(model.inputs[0].shape[1:])
    zoo.calibrate_batchnorm(model, images(*shape[:1], shape[1:], seed=9).astype(np.float32) / 255)
    quantized = quantize(model, 4, 4, 8)
    assert check_model_compatibility(quantized)
    akida_model = convert(quantized, input_scaling=(255, 0))
    assert akida_model.layers[0].layer_type == "InputConvolutional"


def test_integer_weights_beyond_the_quantizer_range_are_refused():
    from cnn2snn_tfmot.tfkeras import tf

    class Unclipped(qops.WeightQuantizerBase):
        """On its scale factor's grid, but not clipped to +-kmax."""

        def scale_factor(self, w):
            return tf.constant(100.0)

        def quantize(self, w):
            return tf.round(w * 100.0) / 100.0

    keras.utils.set_random_seed(12)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        qlayers.QuantizedConv2D(4, 3, quantizer=Unclipped(bitwidth=4), name="conv"),
        qlayers.ActivationDiscreteRelu(4, name="relu")])
    with pytest.raises(ValueError, match=r"'conv': kernel integer weights exceed the "
                                         r"quantizer's range \+-7"):
        convert(model, input_scaling=(255, 0))


def test_convert_gives_the_akida_model_its_class_names(tmp_path):
    from cnn2snn_tfmot.akida import Model
    from cnn2snn_tfmot.data.examples import example_models

    _, model_quantized, _, _, _ = example_models()
    names = [f"digit {i}" for i in range(10)]
    path = tmp_path / "named.akida"
    akida_model = convert(model_quantized, str(path), input_scaling=(255, 0), class_names=names)
    assert akida_model.class_names == tuple(names)
    assert Model(path).class_names == tuple(names)
    with pytest.raises(ValueError, match="3 names but the model has 10 outputs"):
        convert(model_quantized, input_scaling=(255, 0), class_names=["a", "b", "c"])
