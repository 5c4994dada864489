"""check_model_compatibility(): one test per rule of cnn2snn's sections 2 to 5, plus warnings."""
import warnings

import pytest

from cnn2snn_tfmot.chip.rules import IncompatibleModelError
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning, check_model_compatibility
from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def conv(name="conv", filters=4, kernel=3, bits=4, **kwargs):
    return qlayers.QuantizedConv2D(filters, kernel, name=name,
                                   quantizer=qops.MaxPerAxisQuantizer(bits), **kwargs)


def relu(name="relu", bits=4):
    return qlayers.ActivationDiscreteRelu(bits, name=name)


def dense(name="dense", units=3, bits=4):
    return qlayers.QuantizedDense(units, name=name, quantizer=qops.MaxPerAxisQuantizer(bits))


def separable(name="sep", bits=4, dw=None, **kwargs):
    return qlayers.QuantizedSeparableConv2D(4, 3, name=name, quantizer=qops.MaxPerAxisQuantizer(
        bits), quantizer_dw=dw or qops.MaxQuantizer(bits), **kwargs)


def model(*layers, shape=(12, 12, 1)):
    return keras.Sequential([keras.Input(shape), *layers])


def compatible():
    return model(conv(bits=8), L.BatchNormalization(name="bn"), L.MaxPool2D(name="pool"),
                 relu(), separable(padding="same"), relu("relu2"), L.Dropout(0.1),
                 L.Flatten(name="flat"), dense(), L.Softmax(name="softmax"))


def violations_of(keras_model, input_is_sparse=False):
    with warnings.catch_warnings(), pytest.raises(IncompatibleModelError) as error:
        warnings.simplefilter("ignore", AkidaChipWarning)  # warnings are tested below
        check_model_compatibility(keras_model, input_is_sparse)
    return str(error.value)


def test_compatible_model_returns_true():
    assert check_model_compatibility(compatible()) is True


# Section 2: blocks and supported layers ---------------------------------------------------

def test_every_block_but_the_last_needs_an_activation():
    message = violations_of(model(conv(bits=8), conv("conv2"), relu(), L.Flatten(), dense()))
    assert "Block of layer 'conv' has no quantized activation" in message


def test_last_block_may_have_no_activation():
    assert check_model_compatibility(model(conv(bits=8), relu(), L.Flatten(), dense()))


def test_unsupported_layer():
    message = violations_of(model(conv(bits=8), L.AveragePooling2D(name="avg"), relu()))
    assert "Layer 'avg' (AveragePooling2D) is not supported" in message


def test_float_layers_are_not_quantized():
    message = violations_of(model(conv(bits=8), relu(), L.Conv2D(4, 3, name="float_conv"),
                                  L.ReLU(name="float_relu")))
    assert "'float_conv' (Conv2D) is not quantized" in message
    assert "'float_relu' (ReLU) is a float ReLU" in message


def test_a_float_model_is_told_to_quantize_first_in_one_message():
    float_model = model(L.ZeroPadding2D(1, name="pad"), L.Conv2D(4, 3, name="c0"),
                        L.BatchNormalization(name="bn"), L.ReLU(name="r0"),
                        L.Conv2D(4, 3, name="c1"), L.ReLU(name="r1"), L.Flatten(),
                        L.Dense(3, name="d"))
    with pytest.raises(IncompatibleModelError) as caught:
        check_model_compatibility(float_model)
    message = str(caught.value)
    assert "(1 problem):" in message
    assert "is a float model: its neural layers ('c0', 'c1', 'd') are not quantized" in message
    assert "quantize(model, weight_quantization=4" in message
    assert "cnn2snn_tfmot quantize MODEL OUTPUT" in message
    assert "ZeroPadding2D 'pad'" in message and "adapt(model)" in message


def test_float_weights_are_not_quantized():
    message = violations_of(model(qlayers.QuantizedConv2D(4, 3, name="wf"), relu()))
    assert "'wf': the kernel weights are float" in message


# Section 3: inputs ------------------------------------------------------------------------

def test_image_input_first_layer_must_be_a_conv():
    message = violations_of(model(separable(), relu()))
    assert "'sep': with image inputs the first layer must be a QuantizedConv2D" in message


def test_image_input_has_one_or_three_channels():
    message = violations_of(model(conv(bits=8), relu(), shape=(12, 12, 2)))
    assert "image inputs must be (H, W, 1) or (H, W, 3)" in message


def test_sparse_input_may_start_with_any_processing_layer():
    sparse = model(separable(), relu(), L.Flatten(), dense(), shape=(12, 12, 2))
    assert check_model_compatibility(sparse, input_is_sparse=True)


# Section 4: layer parameters --------------------------------------------------------------

def test_channels_last():
    message = violations_of(model(conv(bits=8), relu(),
                                  L.MaxPool2D(data_format="channels_first", name="cf")))
    assert "Layer 'cf' has data_format='channels_first'" in message


def test_activation_bitwidth_must_be_1_2_or_4():
    message = violations_of(model(conv(bits=8), relu(bits=3)))
    assert "Activation 'relu' has 3 bits" in message


def test_inner_weight_bitwidth_accepted_by_the_runtime():
    message = violations_of(model(conv(bits=8), relu(), conv("conv2", bits=3), relu("r2")))
    assert "Layer 'conv2' has 3-bit weights" in message


def test_dense_input_shape():
    message = violations_of(model(conv(bits=8), relu(), dense()))
    assert "'dense': a QuantizedDense must have an input of shape (N,) or (1, 1, N)" in message


def test_dense_after_reshape_to_1_1_n_is_fine():
    assert check_model_compatibility(model(conv(bits=8), L.GlobalAveragePooling2D(), relu(),
                                           L.Reshape((1, 1, 4)), dense()))


def test_batchnorm_axis():
    message = violations_of(model(conv(bits=8), L.BatchNormalization(axis=1, name="bn1"),
                                  relu()))
    assert "BatchNormalization 'bn1' normalizes axis [1]" in message


def test_batchnorm_negative_gammas():
    keras_model = model(conv(bits=8), L.BatchNormalization(name="bn"), relu())
    keras_model.get_layer("bn").gamma.assign([1.0, -1.0, 2.0, -0.5])
    assert "'bn' has 2 non-positive gamma(s)" in violations_of(keras_model)


def test_reshape_only_between_n_and_1_1_n():
    message = violations_of(model(conv(bits=8), relu(), L.Reshape((5, 80), name="rs")))
    assert "Reshape 'rs' maps (10, 10, 4) to (5, 80)" in message


def test_one_pooling_layer_per_block():
    message = violations_of(model(conv(bits=8), L.MaxPool2D(name="p1"), L.MaxPool2D(name="p2"),
                                  relu()))
    assert "Pooling layer 'p2': only one pooling layer" in message


def test_max_pool_padding_matches_the_processing_layer():
    message = violations_of(model(conv(bits=8, padding="same"), L.MaxPool2D(name="p"), relu()))
    assert "MaxPool2D 'p' has padding 'valid' but its processing layer 'conv' has 'same'" in \
        message


def test_layer_parameters_akida_lacks():
    message = violations_of(model(conv(bits=8, dilation_rate=2), relu(),
                                  conv("even", kernel=2), relu("r2"),
                                  conv("strided", kernel=1, strides=2), relu("r3")))
    assert "'conv' has dilation_rate=(2, 2)" in message
    assert "'even' has kernel_size=(2, 2)" in message
    assert "'strided' has strides (2, 2) larger than its kernel_size (1, 1)" in message


def test_separable_quantizers():
    per_axis = qlayers.QuantizedSeparableConv2D(4, 3, name="pa",
                                                quantizer=qops.MaxPerAxisQuantizer(4),
                                                quantizer_dw=qops.MaxQuantizer(4))
    per_axis.quantizer_dw = qops.MaxPerAxisQuantizer(4)  # bypassing the layer's own check
    mixed = separable("mixed", dw=qops.MaxQuantizer(2))
    message = violations_of(model(conv(bits=8), relu(), per_axis, relu("r2"), mixed, relu("r3")))
    assert "'pa': the depthwise kernel must be quantized per tensor" in message
    assert "'mixed': depthwise (2 bits) and pointwise (4 bits)" in message


def test_lone_depthwise_layer():
    message = violations_of(model(conv(bits=8), relu(), qlayers.QuantizedDepthwiseConv2D(
        3, name="dw", quantizer=qops.MaxQuantizer(4)), relu("r2")))
    assert "Layer 'dw' (depthwise convolution): Akida has no depthwise layer" in message


def test_depthwise_then_pointwise_is_a_separable_block():
    keras_model = model(conv(bits=8), relu(), qlayers.QuantizedDepthwiseConv2D(
        3, name="dw", use_bias=False, quantizer=qops.MaxQuantizer(4)),
        conv("pw", kernel=1), relu("r2"))
    assert check_model_compatibility(keras_model)


def test_fused_activation():
    message = violations_of(model(conv(bits=8, activation="relu")))
    assert "'conv' has the fused activation 'relu'" in message


# Section 5: order of layers ---------------------------------------------------------------

def test_block_starts_with_a_processing_layer():
    message = violations_of(model(L.BatchNormalization(name="bn0"), conv(bits=8), relu()))
    assert "Layer 'bn0' comes before any processing layer" in message


def test_batchnorm_and_global_pooling_before_the_activation():
    message = violations_of(model(conv(bits=8), relu(), L.BatchNormalization(name="late_bn"),
                                  L.GlobalAveragePooling2D(name="late_gap")))
    assert "BatchNormalization 'late_bn' comes after the activation" in message
    assert "Pooling layer 'late_gap' comes after the activation" in message


def test_flatten_only_before_dense():
    message = violations_of(model(conv(bits=8), relu(), L.Flatten(name="flat"),
                                  L.Reshape((1, 1, 400))))
    assert "Flatten 'flat' can only be used before a QuantizedDense" in message


def test_other_activations_only_last():
    message = violations_of(model(conv(bits=8), L.Activation("sigmoid", name="sig"),
                                  conv("conv2"), relu()))
    assert "Activation 'sig' (Activation): an activation other than a quantized one can only " \
           "be the last layer" in message


def test_grouped_pointwise_after_depthwise_is_refused_naming_the_layers():
    """The pair merge_separable_conv cannot merge: check refuses it, convert fails the same."""
    keras_model = model(conv(bits=8), relu(), qlayers.QuantizedDepthwiseConv2D(
        3, name="dw", use_bias=False, padding="same", quantizer=qops.MaxQuantizer(4)),
        conv("pw", kernel=1, groups=2), relu("r2"))
    message = violations_of(keras_model)
    assert "Layers 'dw' + 'pw' cannot be merged into a separable convolution: 'pw' has " \
           "groups=2" in message
    with pytest.raises(IncompatibleModelError, match="'pw' has groups=2"):
        convert(keras_model, input_scaling=(255, 0))


def test_all_violations_in_one_error():
    message = violations_of(model(L.BatchNormalization(name="bn0"), conv(bits=8, dilation_rate=2),
                                  relu(bits=3), L.AveragePooling2D(name="avg")))
    assert message.count("\n  - ") == 4 and "(4 problems)" in message


# Warnings: what only the chip refuses --------------------------------------------------------

def collect_warnings(keras_model, input_is_sparse=False):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert check_model_compatibility(keras_model, input_is_sparse)
    return [str(w.message) for w in caught if issubclass(w.category, AkidaChipWarning)]


def test_warns_about_8_bit_inner_weights():
    found = collect_warnings(model(conv(bits=8), relu(), conv("conv2", bits=8), relu("r2")))
    assert any("'conv2': the Akida 1.0 chip maps 1, 2, 4-bit weights" in w for w in found)


def test_warns_about_input_width_and_global_pooling_width():
    narrow = collect_warnings(model(conv(bits=8, kernel=1), relu(), shape=(4, 4, 1)))
    assert any("5 to 256 pixels wide, not 4" in w for w in narrow)
    wide = collect_warnings(model(conv(bits=8, kernel=1), relu(), conv("conv2", kernel=1),
                                  L.GlobalAveragePooling2D(), relu("r2"), shape=(40, 40, 1)))
    assert any("maps 1 to 32 wide, not 40" in w for w in wide)


def test_no_warning_for_chip_friendly_model():
    assert collect_warnings(compatible()) == []
