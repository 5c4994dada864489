"""quantize(), quantize_layer() and create_trainable_quantizer_model()."""
import numpy as np
import pytest

from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.quantization.saving import load_partial_weights
from cnn2snn_tfmot.rewriting.quantizing import (
    create_trainable_quantizer_model,
    quantize,
    quantize_layer,
)
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def float_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((16, 16, 3)),
        L.Conv2D(8, 3, padding="same", name="conv"), L.BatchNormalization(name="bn1"),
        L.ReLU(name="relu1"), L.MaxPool2D(name="pool1"),
        L.SeparableConv2D(16, 3, padding="same", name="sep"), L.BatchNormalization(name="bn2"),
        L.ReLU(6.0, name="relu2"), L.GlobalAveragePooling2D(name="gap"),
        L.Dropout(0.1, name="drop"), L.Dense(10, name="dense"), L.Softmax(name="softmax")])


def test_layers_and_quantizers():
    quantized = quantize(float_model(), weight_quantization=4, activ_quantization=2,
                         input_weight_quantization=8)
    types = {layer.name: type(layer) for layer in quantized.layers}
    assert types == {"conv": qlayers.QuantizedConv2D, "pool1": L.MaxPooling2D,
                     "relu1": qlayers.ActivationDiscreteRelu,
                     "sep": qlayers.QuantizedSeparableConv2D,
                     "relu2": qlayers.ActivationDiscreteRelu, "gap": L.GlobalAveragePooling2D,
                     "drop": L.Dropout, "dense": qlayers.QuantizedDense, "softmax": L.Softmax}
    assert quantized.get_layer("conv").quantizer == qops.MaxPerAxisQuantizer(8)
    assert quantized.get_layer("sep").quantizer == qops.MaxPerAxisQuantizer(4)
    assert quantized.get_layer("sep").quantizer_dw == qops.MaxQuantizer(4)
    assert quantized.get_layer("dense").quantizer == qops.MaxPerAxisQuantizer(4)
    assert quantized.get_layer("relu1").bitwidth == 2


def test_input_weight_quantization_defaults_to_weight_quantization():
    quantized = quantize(float_model(), 2, 1)
    assert quantized.get_layer("conv").quantizer == qops.MaxPerAxisQuantizer(2)


def test_zero_leaves_weights_or_activations_float():
    model = float_model()
    floats = quantize(model, 0, 0)
    assert isinstance(floats.get_layer("conv").quantizer, qops.WeightFloat)
    assert type(floats.get_layer("relu1")) is L.ReLU
    weights_only = quantize(model, 4, 0)
    assert type(weights_only.get_layer("relu1")) is L.ReLU
    activations_only = quantize(model, 0, 4)
    assert isinstance(activations_only.get_layer("dense").quantizer, qops.WeightFloat)
    assert type(activations_only.get_layer("relu1")) is qlayers.ActivationDiscreteRelu
    first_float = quantize(model, 4, 4, input_weight_quantization=0)
    assert isinstance(first_float.get_layer("conv").quantizer, qops.WeightFloat)
    assert first_float.get_layer("sep").quantizer == qops.MaxPerAxisQuantizer(4)


def test_quantized_model_outputs_follow_the_quantizers():
    model = float_model()
    quantized = quantize(model, 4, 4, 8)
    x = np.random.default_rng(0).random((2, 16, 16, 3)).astype(np.float32)
    floats = quantize(model, 0, 0)
    assert not np.allclose(quantized(x).numpy(), floats(x).numpy(), atol=1e-4)
    # The kernels seen by the layers are on the quantizers' grids.
    conv = quantized.get_layer("conv")
    kernel = conv.quantized_weights()["kernel"].numpy()
    sf = 127 / np.max(np.abs(conv.kernel.numpy()), axis=(0, 1, 2))
    np.testing.assert_allclose(kernel * sf, np.round(kernel * sf), atol=1e-3)


def test_names_are_kept_for_load_partial_weights():
    model = float_model()
    quantized = quantize(model, 4, 4)
    copy = quantize(model, 4, 4)
    copy.get_layer("dense").kernel.assign(np.zeros_like(copy.get_layer("dense").kernel))
    load_partial_weights(copy, quantized)
    np.testing.assert_array_equal(copy.get_layer("dense").kernel.numpy(),
                                  quantized.get_layer("dense").kernel.numpy())
    load_partial_weights(quantized, model)  # float -> quantized works too


@pytest.mark.parametrize("arguments,match", [
    ((1, 4), r"`weight_quantization`.*2\.\.8"), ((9, 4), r"`weight_quantization`.*2\.\.8"),
    ((4, 9), r"`activ_quantization`.*1\.\.8"), ((4, -1), r"`activ_quantization`"),
    ((4, 4, 1), r"`input_weight_quantization`.*2\.\.8"), ((4.5, 4), "weight_quantization"),
])
def test_bitwidth_errors(arguments, match):
    with pytest.raises(ValueError, match=match):
        quantize(float_model(), *arguments)


@pytest.mark.parametrize("layer,match", [
    (L.Conv2D(4, 3, dilation_rate=2, name="dil"),
     r"'dil' has dilation_rate=\(2, 2\).*use dilation_rate=1"),
    (L.AveragePooling2D(name="avg"),
     r"'avg' of type AveragePooling2D is not supported.*supported: Conv2D"),
    (L.ReLU(negative_slope=0.2, name="leaky"), r"'leaky' has negative_slope=0.2"),
    (L.BatchNormalization(axis=1, name="bn_h"), r"'bn_h' normalizes axis \[1\].*axis=-1"),
    (L.DepthwiseConv2D(3, depth_multiplier=2, name="dm"), r"'dm' has depth_multiplier=2"),
])
def test_unsupported_layers_name_the_layer_and_the_fix(layer, match):
    model = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(2, 1, name="first"), layer])
    with pytest.raises(ValueError, match=match):
        quantize(model, 4, 4)


def test_zero_gammas_are_refused():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(3, 3, name="c"),
                              L.BatchNormalization(name="bn")])
    model.get_layer("bn").gamma.assign([1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=r"'bn' has 1 zero gamma.*add_gamma_constraint"):
        quantize(model, 4, 4)


def test_quantize_layer_changes_only_the_target():
    quantized = quantize(float_model(), 4, 4, 8)
    by_name = quantize_layer(quantized, "sep", 2)
    assert by_name.get_layer("sep").quantizer == qops.MaxPerAxisQuantizer(2)
    assert by_name.get_layer("sep").quantizer_dw == qops.MaxQuantizer(2)
    assert by_name.get_layer("conv").quantizer == qops.MaxPerAxisQuantizer(8)
    for layer in quantized.layers:
        for old, new in zip(layer.get_weights(), by_name.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(old, new)
    index = [layer.name for layer in quantized.layers].index("relu2")
    by_index = quantize_layer(quantized, index, 1)
    assert by_index.get_layer("relu2").bitwidth == 1
    assert by_index.get_layer("relu1").bitwidth == 4
    to_float = quantize_layer(quantized, "dense", 0)
    assert isinstance(to_float.get_layer("dense").quantizer, qops.WeightFloat)
    from_float = quantize_layer(float_model(), "conv", 4)
    assert from_float.get_layer("conv").quantizer == qops.MaxPerAxisQuantizer(4)
    trainable = create_trainable_quantizer_model(quantized)
    assert type(quantize_layer(trainable, "relu1", 2).get_layer("relu1")) is qlayers.QuantizedReLU


def test_quantize_layer_errors():
    quantized = quantize(float_model(), 4, 4)
    with pytest.raises(ValueError, match="'nope' is not a layer"):
        quantize_layer(quantized, "nope", 4)
    with pytest.raises(ValueError, match="index 99 is out of range"):
        quantize_layer(quantized, 99, 4)
    with pytest.raises(ValueError, match=r"'pool1' \(MaxPooling2D\) has neither"):
        quantize_layer(quantized, "pool1", 4)
    with pytest.raises(ValueError, match=r"2\.\.8"):
        quantize_layer(quantized, "conv", 1)
    with pytest.raises(ValueError, match=r"1\.\.8"):
        quantize_layer(quantized, "relu1", 9)


def test_create_trainable_quantizer_model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((8, 8, 2)),
        qlayers.QuantizedConv2D(6, 3, quantizer=qops.StdWeightQuantizer(2.5, 4), name="c"),
        qlayers.ActivationDiscreteRelu(2, name="r"), L.Flatten(name="f"),
        qlayers.QuantizedDense(4, quantizer=qops.MaxPerAxisQuantizer(4), name="d")])
    trainable = create_trainable_quantizer_model(model)
    assert trainable.get_layer("c").quantizer == qops.TrainableStdWeightQuantizer(2.5, 4)
    assert trainable.get_layer("d").quantizer == qops.MaxPerAxisQuantizer(4)
    assert type(trainable.get_layer("r")) is qlayers.QuantizedReLU
    x = (3 * np.random.default_rng(7).random((16, 8, 8, 2))).astype(np.float32)
    np.testing.assert_array_equal(trainable(x).numpy(), model(x).numpy())
    names = {v.name.split("/")[-1].split(":")[0] for v in trainable.trainable_weights}
    assert {"kernel_threshold", "threshold", "step"} <= names
    before = {v.name: v.numpy().copy() for v in trainable.trainable_weights}
    trainable.compile(keras.optimizers.Adam(1e-2), "mse")
    trainable.fit(x, np.ones((16, 4), np.float32), epochs=2, batch_size=8, verbose=0)
    for variable in trainable.trainable_weights:
        if variable.name.endswith(("threshold:0", "step:0")):
            assert not np.array_equal(before[variable.name], variable.numpy()), variable.name


def test_without_activation_bits_activations_stay_exactly_as_they_were():
    """Issue 10.4: ReLU(max_value=6) used to become an unbounded ReLU (outputs off by 674)."""
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6, 6, 2)), L.Conv2D(4, 3, name="c"),
                              L.ReLU(max_value=6.0, name="relu6"), L.Flatten(),
                              L.Dense(3, name="d"), L.ReLU(max_value=2.5, name="clip")])
    x = np.random.default_rng(0).normal(size=(8, 6, 6, 2)).astype(np.float32) * 50
    quantized = quantize(model, 0, 0)
    np.testing.assert_array_equal(quantized(x).numpy(), model(x).numpy())
    assert quantized.get_layer("relu6").get_config()["max_value"] == 6.0


def test_bounded_relu_keeps_its_clip_as_the_top_level():
    model = keras.Sequential([keras.Input((8,)), L.Dense(4, name="d"),
                              L.ReLU(max_value=6.0, name="relu6"),
                              L.Dense(4, name="d2"), L.ReLU(max_value=3.0, name="relu3"),
                              L.Dense(2, name="d3")])
    with pytest.warns(UserWarning) as caught:
        quantized = quantize(model, 4, 4)
    messages = [str(w.message) for w in caught if "clips at" in str(w.message)]
    # ReLU6 matches the 4-bit top level (6): kept as is; relu3 keeps its clip, said once.
    assert len(messages) == 1 and "ReLU 'relu3' clips at max_value=3" in messages[0]
    assert quantized.get_layer("relu6").max_value is None
    assert quantized.get_layer("relu3").max_value == 3.0
    assert float(quantized.get_layer("relu3").step_height) == pytest.approx(0.2)
    trainable = create_trainable_quantizer_model(quantized)
    x = np.random.default_rng(1).normal(size=(16, 8)).astype(np.float32) * 5
    np.testing.assert_array_equal(trainable(x).numpy(), quantized(x).numpy())
    with pytest.warns(UserWarning, match="'relu6' clips at max_value=6.*steps of 2"):
        two_bits = quantize(model, 4, 2)  # 2 bits top at 3: relu6 keeps 6 (steps of 2)
    assert two_bits.get_layer("relu6").max_value == 6.0
    assert two_bits.get_layer("relu3").max_value is None
