"""The zoo's AkidaNet-like and VGG-like networks: layout, widths, argument errors, conversion."""
import numpy as np
import pytest

from cnn2snn_tfmot import check_model_compatibility, convert, quantize
from cnn2snn_tfmot.data.zoo import akidanet_like, calibrate_batchnorm, cifar_vgg
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def test_layout_at_width_one_half():
    model = akidanet_like((64, 64, 3))
    neural = [layer for layer in model.layers
              if isinstance(layer, (L.Conv2D, L.SeparableConv2D, L.Dense))]
    kinds = [type(layer).__name__ for layer in neural]
    assert kinds == ["Conv2D"] * 4 + ["SeparableConv2D"] * 10 + ["Dense"]
    assert [layer.strides for layer in neural[:4]] == [(2, 2), (1, 1), (2, 2), (1, 1)]
    widths = [layer.filters if hasattr(layer, "filters") else layer.units for layer in neural]
    assert widths == [16, 32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512, 1000]
    pools = [type(layer).__name__ for layer in model.layers
             if isinstance(layer, (L.MaxPool2D, L.GlobalAveragePooling2D))]
    assert pools == ["MaxPooling2D"] * 3 + ["GlobalAveragePooling2D"]
    # Global average pooling belongs to the last block: before its ReLU.
    names = [layer.name for layer in model.layers]
    assert names.index("separable_13_pool") < names.index("separable_13_relu")
    assert model.output_shape == (None, 1000)


def test_width_and_classes():
    model = akidanet_like((32, 48, 1), width=1.0, classes=10)
    assert model.input_shape == (None, 32, 48, 1) and model.output_shape == (None, 10)
    assert model.get_layer("separable_13").filters == 1024


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (64, 64, 4)}, "1 or 3 channels"),
    ({"input_shape": (16, 64, 3)}, ">= 32"),
    ({"input_shape": (64, 64)}, "input_shape"),
    ({"width": 0}, "width must be a positive"),
    ({"classes": 0}, "classes must be a positive"),
])
def test_argument_errors_name_the_argument(kwargs, match):
    kwargs.setdefault("input_shape", (64, 64, 3))
    with pytest.raises(ValueError, match=match):
        akidanet_like(**kwargs)


def test_converts_to_akida_layers():

    model = akidanet_like((32, 32, 3), width=0.25, classes=5)
    calibrate_batchnorm(model, np.random.default_rng(0).random((4, 32, 32, 3), np.float32))
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    assert [layer.layer_type for layer in akida_model.layers] == (
        ["InputConvolutional"] + ["Convolutional"] * 3 + ["SeparableConvolutional"] * 10 +
        ["FullyConnected"])
    assert akida_model.output_shape == (1, 1, 5)


def test_cifar_vgg_layout_and_conversion():
    model = cifar_vgg()
    neural = [layer for layer in model.layers if isinstance(layer, (L.Conv2D, L.Dense))]
    assert [getattr(layer, "filters", None) or layer.units for layer in neural] == [
        32, 64, 64, 256, 256, 256, 256, 10]
    # Pooling before the BatchNormalization of its block; global pooling in the last block.
    names = [layer.name for layer in model.layers]
    assert names.index("conv_1_pool") < names.index("conv_1_bn")
    assert isinstance(model.get_layer("conv_6_pool"), L.GlobalAveragePooling2D)
    assert {float(layer.max_value) for layer in model.layers if isinstance(layer, L.ReLU)} == {6.0}
    rng = np.random.default_rng(0)
    small = cifar_vgg(widths=(16, 32), stem=8)
    calibrate_batchnorm(small, rng.random((64, 32, 32, 3), np.float32))
    quantized = quantize(small, 4, 4, 8, input_scaling=(255, 0))
    check_model_compatibility(quantized)
    akida_model = convert(quantized)
    assert [layer.layer_type for layer in akida_model.layers][:2] == [
        "InputConvolutional", "Convolutional"]
    assert akida_model.output_shape == (1, 1, 10)


@pytest.mark.parametrize("kwargs, match", [
    ({"input_shape": (32, 32, 4)}, "1 or 3 channels"),
    ({"input_shape": (32, 32, 3), "widths": (8, 8, 8, 8)}, "at least 3 rows"),
    ({"widths": ()}, "widths must be"),
    ({"stem": 0}, "stem and classes must be positive"),
])
def test_cifar_vgg_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cifar_vgg(**kwargs)
