"""sanitize(): every rewrite keeps the model's outputs (within 1e-5) and is listed."""
import numpy as np
import pytest

from cnn2snn_tfmot import InputScaling, quantize, sanitize
from cnn2snn_tfmot.rewriting.sanitizing import same_padding
from cnn2snn_tfmot.tfkeras import keras

from helpers import float_cnn, set_bn

L = keras.layers


def assert_same_outputs(model, rewritten, seed=0):
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(seed).uniform(0, 1, (4,) + shape).astype(np.float32)
    expected = model(x, training=False).numpy()
    got = rewritten(x, training=False).numpy()
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, np.max(np.abs(expected)))


def sequential(*layers, shape=(16, 16, 3)):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input(shape), *layers], name="m")


def test_identities_are_removed():
    model = sequential(L.Conv2D(4, 3, name="c"), L.Dropout(0.5, name="drop"),
                       L.SpatialDropout2D(0.1, name="sdrop"), L.GaussianNoise(0.2, name="noise"),
                       L.Activation("linear", name="lin"), L.Identity(name="same"),
                       L.Flatten(name="f"), L.Dense(2, name="d"))
    clean, changes = sanitize(model)
    assert [layer.name for layer in clean.layers] == ["c", "f", "d"]
    assert [change.layer for change in changes] == ["drop", "sdrop", "noise", "lin", "same"]
    assert all(change.exact for change in changes)
    assert "Dropout computes nothing at inference" in str(changes)
    assert_same_outputs(model, clean)


@pytest.mark.parametrize("activation,expected", [("relu", None), ("relu6", 6.0)])
def test_activations_become_relu_layers(activation, expected):
    model = sequential(L.Conv2D(4, 3, activation=activation, name="c"),
                       L.Activation(activation, name="act"), L.Flatten(name="f"),
                       L.Dense(2, activation="softmax", name="d"))
    clean, changes = sanitize(model)
    names = [layer.name for layer in clean.layers]
    assert names == ["c", f"c_{activation}", "act", "f", "d", "d_softmax"]
    for name in (f"c_{activation}", "act"):
        layer = clean.get_layer(name)
        assert type(layer) is L.ReLU
        assert (None if layer.max_value is None else float(layer.max_value)) == expected
    assert clean.get_layer("d_softmax").get_config()["activation"] == "softmax"
    assert len(changes) == 3
    assert_same_outputs(model, clean)


def test_bounded_relus_are_kept():
    model = sequential(L.Conv2D(4, 3, name="c"), L.ReLU(6.0, name="r6"), L.Flatten(),
                       L.Dense(2))
    clean, changes = sanitize(model)
    assert float(clean.get_layer("r6").max_value) == 6.0 and len(changes) == 0
    assert str(changes) == "no change"


@pytest.mark.parametrize("size,kernel,stride,padding", [
    (16, 3, 2, ((0, 1), (0, 1))), (15, 3, 1, 1), (15, 5, 2, 2), (16, 3, 1, 1),
    (16, 1, 2, 0)])
@pytest.mark.parametrize("layer", ["conv", "depthwise", "separable"])
def test_zero_padding_that_same_padding_reproduces_is_absorbed(size, kernel, stride, padding,
                                                                layer):
    neural = {"conv": lambda: L.Conv2D(4, kernel, strides=stride, name="n"),
              "depthwise": lambda: L.DepthwiseConv2D(kernel, strides=stride, name="n"),
              "separable": lambda: L.SeparableConv2D(4, kernel, strides=stride, name="n")}
    model = sequential(L.ZeroPadding2D(padding, name="pad"), neural[layer](),
                       shape=(size, size, 3))
    clean, changes = sanitize(model)
    assert [layer.name for layer in clean.layers] == ["n"]
    assert clean.get_layer("n").padding == "same"
    assert [change.layer for change in changes] == ["pad"] and changes.function_kept
    assert_same_outputs(model, clean)


@pytest.mark.parametrize("size,stride,padding,match", [
    (15, 1, ((0, 2), (0, 2)), r"pads \(\(0, 2\), \(0, 2\)\).*would pad \(\(1, 1\), "
                              r"\(1, 1\)\).*adapt\(model\) gives"),
    (15, 2, ((0, 1), (0, 1)), r"pads \(\(0, 1\), \(0, 1\)\).*change the padding"),
    (16, 2, 2, r"pads \(\(2, 2\), \(2, 2\)\).*change the padding"),
])
def test_zero_padding_that_same_padding_does_not_reproduce_is_refused(size, stride, padding,
                                                                      match):
    model = sequential(L.ZeroPadding2D(padding, name="pad"),
                       L.Conv2D(4, 3, strides=stride, name="n"), shape=(size, size, 3))
    with pytest.raises(ValueError, match="ZeroPadding2D 'pad' " + match):
        sanitize(model)


def test_zero_padding_not_before_a_valid_convolution_is_refused():
    model = sequential(L.ZeroPadding2D(1, name="pad"), L.MaxPool2D(name="pool"))
    with pytest.raises(ValueError, match=r"'pad' is followed by 'pool' \(MaxPooling2D\)"):
        sanitize(model)
    model = sequential(L.ZeroPadding2D(1, name="pad"), L.Conv2D(2, 3, padding="same", name="c"))
    with pytest.raises(ValueError, match="'pad' is followed by 'c'"):
        sanitize(model)


def test_same_padding_is_tensorflows():
    for size in range(5, 20):
        for kernel in (1, 3, 5):
            for stride in (1, 2, 3):
                before, after = same_padding(size, kernel, stride)
                x = np.ones((1, size, 1, 1), np.float32)
                padded = np.pad(x, ((0, 0), (before, after), (0, 0), (0, 0)))
                w = np.random.default_rng(size).normal(size=(kernel, 1, 1, 1)).astype(np.float32)
                import tensorflow as tf

                same = tf.nn.conv2d(x, w, (stride, 1), "SAME").numpy()
                valid = tf.nn.conv2d(padded, w, (stride, 1), "VALID").numpy()
                np.testing.assert_allclose(same, valid, atol=1e-6)


def test_reshapes_before_the_classifier_are_normalized():
    model = sequential(L.Conv2D(4, 3, name="c"), L.GlobalAveragePooling2D(keepdims=True,
                                                                         name="gap"),
                       L.Reshape((4,), name="r"), L.Flatten(name="noop"), L.Dense(3, name="d"))
    clean, changes = sanitize(model)
    assert [layer.name for layer in clean.layers] == ["c", "gap", "d"]
    assert clean.get_layer("gap").keepdims is False
    assert [change.layer for change in changes] == ["r", "noop"]
    assert_same_outputs(model, clean)


def test_a_flattening_reshape_becomes_a_flatten():
    model = sequential(L.Conv2D(4, 3, name="c"), L.Reshape((-1,), name="r"), L.Dense(3))
    clean, changes = sanitize(model)
    assert type(clean.get_layer("r")) is L.Flatten
    assert "Reshape replaced by Flatten" in str(changes)
    assert_same_outputs(model, clean)


def test_functional_models_and_the_remembered_scaling_are_kept():
    inputs = keras.Input((16, 16, 1), name="image")
    x = InputScaling(255, 0)(inputs)
    x = L.Conv2D(4, 3, activation="relu", name="c")(x)
    x = L.Dropout(0.2)(x)
    model = keras.Model(inputs, L.Dense(2, name="d")(L.Flatten(name="f")(x)), name="fn")
    clean, _ = sanitize(model)
    assert not isinstance(clean, keras.Sequential) and clean.name == "fn"
    assert [layer.name for layer in clean.layers] == ["image", "input_scaling", "c", "c_relu",
                                                      "f", "d"]
    assert_same_outputs(model, clean)


def test_the_input_model_is_not_modified_and_a_clean_model_converts():
    model = float_cnn()
    set_bn(model, seed=5)
    before = [layer.name for layer in model.layers]
    clean, changes = sanitize(model)
    assert [layer.name for layer in model.layers] == before
    assert [change.layer for change in changes] == ["drop"]
    assert_same_outputs(model, clean)
    quantize(clean, 4, 4, 8)
