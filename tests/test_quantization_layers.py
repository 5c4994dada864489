"""Quantized neural layers and activations."""
import numpy as np
import pytest

from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def np_quantize(w, sf, kmax):
    return (np.clip(np.round(w * sf), -kmax, kmax) / sf).astype(np.float32)


def per_axis(w, bitwidth):
    kmax = 2 ** (bitwidth - 1) - 1
    return np_quantize(w, np.float32(kmax) / np.max(np.abs(w), axis=tuple(range(w.ndim - 1))),
                       kmax)


def per_tensor(w, bitwidth):
    kmax = 2 ** (bitwidth - 1) - 1
    return np_quantize(w, np.float32(kmax) / np.max(np.abs(w)), kmax)


# (quantized layer, float twin, input shape, {kernel attribute: numpy quantization})
CASES = {
    "conv": (lambda: qlayers.QuantizedConv2D(6, 3, strides=2, padding="same",
                                             quantizer=qops.MaxPerAxisQuantizer(4)),
             lambda: L.Conv2D(6, 3, strides=2, padding="same"), (9, 9, 3),
             {"kernel": lambda w: per_axis(w, 4)}),
    "depthwise": (lambda: qlayers.QuantizedDepthwiseConv2D(3, quantizer=qops.MaxQuantizer(8)),
                  lambda: L.DepthwiseConv2D(3), (8, 8, 5),
                  {"depthwise_kernel": lambda w: per_tensor(w, 8)}),
    "separable": (lambda: qlayers.QuantizedSeparableConv2D(
                      7, 3, padding="same", quantizer=qops.MaxPerAxisQuantizer(2),
                      quantizer_dw=qops.MaxQuantizer(4)),
                  lambda: L.SeparableConv2D(7, 3, padding="same"), (8, 8, 4),
                  {"depthwise_kernel": lambda w: per_tensor(w, 4),
                   "pointwise_kernel": lambda w: per_axis(w, 2)}),
    "dense": (lambda: qlayers.QuantizedDense(5, quantizer=qops.MaxQuantizer(3)),
              lambda: L.Dense(5), (20,), {"kernel": lambda w: per_tensor(w, 3)}),
}


@pytest.mark.parametrize("case", CASES)
def test_quantized_layer_computes_parent_layer_on_quantized_kernels(case):
    make_quantized, make_float, shape, quantizations = CASES[case]
    quantized, reference = make_quantized(), make_float()
    quantized.build((None,) + shape)
    reference.build((None,) + shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=w.shape).astype(np.float32) * 0.3 for w in quantized.weights]
    quantized.set_weights(weights)
    reference.set_weights(weights)
    for attribute, quantize in quantizations.items():
        variable = getattr(reference, attribute)
        variable.assign(quantize(variable.numpy()))
    x = rng.normal(size=(2,) + shape).astype(np.float32)
    np.testing.assert_array_equal(quantized(x).numpy(), reference(x).numpy())
    # Quantization really happened: the float layer on the raw kernels differs.
    raw = make_float()
    raw.build((None,) + shape)
    raw.set_weights(weights)
    assert not np.array_equal(raw(x).numpy(), quantized(x).numpy())


def test_quantizer_is_keyword_only_so_keras_positional_arguments_still_work():
    layer = qlayers.QuantizedConv2D(4, 3, (2, 2), "same", quantizer=qops.MaxQuantizer(4))
    assert layer.strides == (2, 2) and layer.padding == "same"
    dense = qlayers.QuantizedDense(3, "relu")
    assert dense.activation is keras.activations.relu
    assert isinstance(dense.quantizer, qops.WeightFloat)


@pytest.mark.parametrize("case", CASES)
def test_layer_config_round_trip(case):
    layer = CASES[case][0]()
    clone = type(layer).from_config(layer.get_config())
    for attribute in (kernel.quantizer for kernel in layer.quantized_kernels):
        assert getattr(clone, attribute) == getattr(layer, attribute)
        assert getattr(clone, attribute) is not getattr(layer, attribute)
    assert clone.get_config() == layer.get_config()


def test_bad_quantizer_argument_names_layer_and_choices():
    with pytest.raises(TypeError, match=r"QuantizedDense 'my_dense'.*MaxQuantizer"):
        qlayers.QuantizedDense(3, quantizer="max", name="my_dense")


def test_per_axis_depthwise_quantizer_is_refused():
    with pytest.raises(ValueError, match=r"'sep'.*per tensor.*quantizer_dw=MaxQuantizer"):
        qlayers.QuantizedSeparableConv2D(4, 3, quantizer=qops.MaxQuantizer(4),
                                         quantizer_dw=qops.MaxPerAxisQuantizer(4), name="sep")
    with pytest.raises(ValueError, match="copies `quantizer`"):
        qlayers.QuantizedSeparableConv2D(4, 3, quantizer=qops.MaxPerAxisQuantizer(4))


def test_separable_default_depthwise_quantizer_copies_pointwise_config():
    layer = qlayers.QuantizedSeparableConv2D(
        4, 3, quantizer=qops.TrainableStdWeightQuantizer(threshold=2, bitwidth=4))
    assert layer.quantizer_dw == layer.quantizer and layer.quantizer_dw is not layer.quantizer
    layer.build((None, 6, 6, 3))
    names = sorted(v.name.split("/")[-1] for v in layer.weights)
    assert "depthwise_kernel_threshold:0" in names and "pointwise_kernel_threshold:0" in names


def tutorial_models():
    float_model = keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(8, 3, name="c"), L.MaxPool2D(name="p"),
        L.BatchNormalization(name="bn"), L.ReLU(name="r"), L.Flatten(name="f"),
        L.Dense(10, name="d"), L.Softmax(name="s")])
    quantized = keras.Sequential([
        keras.Input((28, 28, 1)),
        qlayers.QuantizedConv2D(8, 3, quantizer=qops.MaxQuantizer(8), name="c"),
        L.MaxPool2D(name="p"), L.BatchNormalization(name="bn"),
        qlayers.QuantizedReLU(bitwidth=4, name="r"), L.Flatten(name="f"),
        qlayers.QuantizedDense(10, quantizer=qops.MaxQuantizer(4), name="d"),
        L.Softmax(name="s")])
    return float_model, quantized


def test_parameter_counts_match_the_tutorial():
    float_model, quantized = tutorial_models()
    assert float_model.count_params() == 13642
    assert quantized.count_params() == 13644  # QuantizedReLU adds 2
    relu = quantized.get_layer("r")
    assert len(relu.trainable_weights) == 2


@pytest.mark.parametrize("bitwidth,step", [(1, 1.0), (2, 1.0), (4, 0.4), (8, 6 / 255)])
def test_activation_discrete_relu_steps(bitwidth, step):
    layer = qlayers.ActivationDiscreteRelu(bitwidth)
    assert layer.levels == 2 ** bitwidth - 1
    assert float(layer.step_height) == pytest.approx(step)
    assert float(layer.step_width) == pytest.approx(step)
    assert float(layer.threshold) == pytest.approx(step / 2)
    top = layer(np.array([100.0], np.float32)).numpy()[0]
    assert top == pytest.approx(min(6.0, layer.levels * step))


def test_quantized_relu_starts_as_discrete_relu():
    x = np.linspace(-1, 8, 901).astype(np.float32)
    for bitwidth in (1, 2, 4):
        np.testing.assert_array_equal(qlayers.QuantizedReLU(bitwidth)(x).numpy(),
                                      qlayers.ActivationDiscreteRelu(bitwidth)(x).numpy())


def test_activation_config_round_trip_and_bitwidth_errors():
    for cls in (qlayers.ActivationDiscreteRelu, qlayers.QuantizedReLU):
        layer = cls(bitwidth=2, name="act")
        assert cls.from_config(layer.get_config()).bitwidth == 2
        with pytest.raises(ValueError, match=r"1\.\.8"):
            cls(bitwidth=0)


def test_abstract_activation_says_what_to_implement():
    with pytest.raises(NotImplementedError, match="threshold"):
        qlayers.QuantizedActivation(2)(np.zeros(3, np.float32))


def test_quantized_relu_and_trainable_quantizer_variables_train():
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        qlayers.QuantizedConv2D(8, 3, quantizer=qops.MaxQuantizer(8), name="c"),
        qlayers.QuantizedReLU(bitwidth=4, name="r"), L.Flatten(),
        qlayers.QuantizedDense(10, quantizer=qops.TrainableStdWeightQuantizer(bitwidth=4),
                               name="d")])
    relu, dense = model.get_layer("r"), model.get_layer("d")
    before = [float(relu.threshold), float(relu.step_height),
              float(dense._quantizer_variables["kernel"]["threshold"])]
    rng = np.random.default_rng(1)
    x = rng.random((64, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    after = [float(relu.threshold), float(relu.step_height),
             float(dense._quantizer_variables["kernel"]["threshold"])]
    assert all(b != a for b, a in zip(before, after)), (before, after)
    assert np.all(np.isfinite(history.history["loss"]))
