"""Model transforms: BatchNorm folding proven exact, pooling swaps, separable merge."""
import numpy as np
import pytest

from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.rewriting.chain import model_chain
from cnn2snn_tfmot.rewriting.merging import merge_separable_conv
from cnn2snn_tfmot.rewriting.quantizing import quantize
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def set_batchnorm_statistics(model, seed=0):
    """Non-trivial BN parameters: gammas in [0.3, 3], means and variances far from 0 and 1."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            values = {"gamma": rng.uniform(0.3, 3, n), "beta": rng.normal(size=n),
                      "moving_mean": rng.normal(size=n) * 2,
                      "moving_variance": rng.uniform(0.1, 5, n)}
            for variable in layer.weights:
                variable.assign(values[variable.name.split("/")[-1].split(":")[0]])


NEURAL = {
    "conv": lambda bias: L.Conv2D(6, 3, padding="same", use_bias=bias, name="n"),
    "separable": lambda bias: L.SeparableConv2D(6, 3, padding="same", use_bias=bias, name="n"),
    "depthwise": lambda bias: L.DepthwiseConv2D(3, padding="same", use_bias=bias, name="n"),
}
POOLINGS = {
    "none": lambda: [L.BatchNormalization(name="bn")],
    "bn_then_max": lambda: [L.BatchNormalization(name="bn"), L.MaxPool2D(name="pool")],
    "max_then_bn": lambda: [L.MaxPool2D(name="pool"), L.BatchNormalization(name="bn")],
    "bn_then_gap": lambda: [L.BatchNormalization(name="bn"), L.GlobalAveragePooling2D(name="gap")],
    "gap_then_bn": lambda: [L.GlobalAveragePooling2D(name="gap"), L.BatchNormalization(name="bn")],
}


def assert_same_function(model, quantized, x):
    expected = model(x, training=False).numpy()
    got = quantized(x, training=False).numpy()
    scale = np.max(np.abs(expected))
    assert scale > 0.1
    assert np.max(np.abs(got - expected)) <= 1e-5 * scale, np.max(np.abs(got - expected)) / scale


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("neural", NEURAL)
def test_folding_keeps_the_float_function(neural, bias, pooling):
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((9, 9, 4)), NEURAL[neural](bias), *POOLINGS[pooling](),
                              L.ReLU(name="relu")])
    set_batchnorm_statistics(model)
    quantized = quantize(model, 0, 0)
    assert not any(isinstance(layer, L.BatchNormalization) for layer in quantized.layers)
    x = np.random.default_rng(2).normal(size=(4, 9, 9, 4)).astype(np.float32)
    assert_same_function(model, quantized, x)


@pytest.mark.parametrize("bias", [True, False])
def test_folding_dense_keeps_the_float_function(bias):
    keras.utils.set_random_seed(2)
    model = keras.Sequential([keras.Input((7, 7, 3)), L.Flatten(name="f"),
                              L.Dense(12, use_bias=bias, name="d"), L.BatchNormalization(name="bn"),
                              L.ReLU(name="r"), L.Dense(5, name="out"),
                              L.BatchNormalization(name="bn_out")])
    set_batchnorm_statistics(model, seed=3)
    quantized = quantize(model, 0, 0)
    assert [type(layer).__name__ for layer in quantized.layers] == \
        ["Flatten", "QuantizedDense", "ReLU", "QuantizedDense"]
    assert quantized.get_layer("d").use_bias
    x = np.random.default_rng(4).normal(size=(5, 7, 7, 3)).astype(np.float32)
    assert_same_function(model, quantized, x)


def test_functional_model_folds_and_stays_functional():
    inputs = keras.Input((8, 8, 2), name="image")
    x = L.Conv2D(4, 3, name="c")(inputs)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(name="r")(x)
    model = keras.Model(inputs, L.Dense(3, name="d")(L.Flatten(name="f")(x)))
    set_batchnorm_statistics(model)
    quantized = quantize(model, 0, 0)
    assert not isinstance(quantized, keras.Sequential)
    assert quantized.layers[0].name == "image"
    assert_same_function(model, quantized,
                         np.random.default_rng(5).normal(size=(3, 8, 8, 2)).astype(np.float32))


def test_relu_before_max_pool_is_swapped():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="c"), L.ReLU(name="r"),
                              L.MaxPool2D(name="p")])
    quantized = quantize(model, 4, 4)
    assert [layer.name for layer in quantized.layers] == ["c", "p", "r"]


def test_max_pool_before_negative_gammas_is_refused():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="c"),
                              L.MaxPool2D(name="pool"), L.BatchNormalization(name="bn")])
    model.get_layer("bn").gamma.assign([1.0, -0.5, -0.1, 2.0])
    with pytest.raises(ValueError, match=r"MaxPool2D 'pool'.*'bn', which has 2 non-positive"):
        quantize(model, 4, 4)


def separable_pair(bias=False, quantizer_dw=None):
    return keras.Sequential([
        keras.Input((8, 8, 3)),
        qlayers.QuantizedDepthwiseConv2D(3, padding="same", use_bias=bias, name="dw",
                                         quantizer=quantizer_dw or qops.MaxQuantizer(4)),
        qlayers.QuantizedConv2D(5, 1, name="pw", quantizer=qops.MaxPerAxisQuantizer(4)),
        qlayers.ActivationDiscreteRelu(4, name="r")])


def test_merge_separable_conv_keeps_outputs():
    model = separable_pair()
    merged = merge_separable_conv(model)
    assert [type(layer).__name__ for layer in merged.layers] == \
        ["QuantizedSeparableConv2D", "ActivationDiscreteRelu"]
    separable = merged.get_layer("dw")
    assert separable.quantizer_dw == qops.MaxQuantizer(4)
    assert separable.quantizer == qops.MaxPerAxisQuantizer(4)
    x = np.random.default_rng(6).normal(size=(4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(merged(x).numpy(), model(x).numpy(), atol=1e-6)


def test_merge_keeps_trained_quantizer_variables():
    model = separable_pair(quantizer_dw=qops.TrainableStdWeightQuantizer(2, 4))
    model.get_layer("dw")._quantizer_variables["depthwise_kernel"]["threshold"].assign(1.7)
    merged = merge_separable_conv(model).get_layer("dw")
    assert float(merged._quantizer_variables["depthwise_kernel"]["threshold"]) == \
        pytest.approx(1.7)


def test_depthwise_bias_is_folded_into_the_pointwise_bias():
    model = separable_pair(bias=True)
    model.get_layer("dw").bias.assign([0.5, -1.0, 2.0])
    merged = merge_separable_conv(model)
    assert [layer.name for layer in merged.layers] == ["dw", "r"]
    x = np.random.default_rng(7).normal(size=(4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(merged(x).numpy(), model(x).numpy(), atol=1e-5)


def test_float_pairs_merge_into_a_float_separable_convolution():
    model = keras.Sequential([keras.Input((8, 8, 3)),
                              L.DepthwiseConv2D(3, padding="same", name="dw"),
                              L.Conv2D(5, 1, name="pw"), L.ReLU(name="r")])
    model.get_layer("dw").bias.assign([0.5, -1.0, 2.0])
    merged = merge_separable_conv(model)
    assert [type(layer) for layer in merged.layers] == [L.SeparableConv2D, L.ReLU]
    x = np.random.default_rng(8).normal(size=(4, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(merged(x).numpy(), model(x).numpy(), atol=1e-5)


def test_a_pair_that_cannot_merge_is_an_error_naming_both_layers():
    model = keras.Sequential([
        keras.Input((8, 8, 4)),
        qlayers.QuantizedDepthwiseConv2D(3, padding="same", use_bias=False, name="dw",
                                         quantizer=qops.MaxQuantizer(4)),
        qlayers.QuantizedConv2D(4, 1, groups=2, name="pw", quantizer=qops.MaxPerAxisQuantizer(4)),
        qlayers.ActivationDiscreteRelu(4, name="r")])
    with pytest.raises(ValueError, match=r"'dw' \+ 'pw' cannot be merged.*'pw' has groups=2"):
        merge_separable_conv(model)
    mixed = keras.Sequential([keras.Input((8, 8, 3)), L.DepthwiseConv2D(3, name="dw"),
                              qlayers.QuantizedConv2D(4, 1, name="pw")])
    with pytest.raises(ValueError, match="'dw'.*'pw'.*quantize both or neither"):
        merge_separable_conv(mixed)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = L.Dense(2)

    def call(self, inputs):
        return self.dense(inputs)


def test_model_chain_errors():
    subclassed = Subclassed()
    subclassed(np.zeros((1, 3), np.float32))
    with pytest.raises(ValueError, match="subclassed model"):
        model_chain(subclassed)
    inner = keras.Sequential([keras.Input((3,)), L.Dense(3)], name="inner")
    nested = keras.Sequential([keras.Input((3,)), inner, L.Dense(2)])
    with pytest.raises(ValueError, match="'inner' is a nested model"):
        model_chain(nested)
    inputs = keras.Input((3,))
    branch = L.Dense(3, name="a")(inputs)
    two_branches = keras.Model(inputs, L.Add(name="add")([branch, L.Dense(3, name="b")(inputs)]))
    with pytest.raises(ValueError, match="single-branch"):
        model_chain(two_branches)
    with pytest.raises(ValueError, match="built model"):
        model_chain(keras.Sequential([L.Dense(2)]))
    channels_first = keras.Sequential([keras.Input((2, 8, 8)),
                                       L.Conv2D(2, 3, data_format="channels_first", name="cf")])
    with pytest.raises(ValueError, match="'cf' has data_format='channels_first'"):
        model_chain(channels_first)


def test_input_model_is_not_modified():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="c"),
                              L.BatchNormalization(name="bn"), L.ReLU(name="r")])
    set_batchnorm_statistics(model)
    before = [w.copy() for w in model.get_weights()]
    types = [type(layer) for layer in model.layers]
    quantize(model, 4, 4)
    merge_separable_conv(model)
    assert [type(layer) for layer in model.layers] == types
    for old, new in zip(before, model.get_weights()):
        np.testing.assert_array_equal(old, new)
