"""adapt(): the architecture changes Akida 1.0 needs, listed, weights carried over; exact
rewrites checked to 1e-5; keras.applications.MobileNet through adapt -> quantize -> check ->
convert with no hand edit."""
import os

import numpy as np
import pytest

from cnn2snn_tfmot import adapt
from cnn2snn_tfmot.tfkeras import keras

from helpers import adapted_to_akida, mobilenet

L = keras.layers


def randomized_batchnorms(model, seed=0):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            n = layer.moving_mean.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, n), rng.normal(size=n),
                               rng.normal(size=n) * 0.5, rng.uniform(0.5, 2, n)])
    return model


def outputs(model, seed=0):
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(seed).uniform(0, 1, (4,) + shape).astype(np.float32)
    return model(x, training=False).numpy()


def assert_same_outputs(model, adapted):
    expected, got = outputs(model), outputs(adapted)
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-5 * max(1.0, np.max(np.abs(expected)))


def sequential(*layers, shape=(12, 12, 3)):
    keras.utils.set_random_seed(0)
    return randomized_batchnorms(keras.Sequential([keras.Input(shape), *layers], name="m"))


@pytest.mark.parametrize("bias", [True, False])
def test_depthwise_batchnorm_pointwise_merge_exactly(bias):
    model = sequential(L.DepthwiseConv2D(3, padding="same", use_bias=bias, name="dw"),
                       L.BatchNormalization(name="dw_bn"),
                       L.Conv2D(8, 1, use_bias=bias, name="pw"), L.BatchNormalization(name="bn"),
                       L.ReLU(name="relu"))
    adapted, changes = adapt(model)
    assert [type(layer).__name__ for layer in adapted.layers] == [
        "SeparableConv2D", "BatchNormalization", "ReLU"]
    assert changes.function_kept
    assert "dw_bn: folded into 'dw'" in str(changes)
    assert_same_outputs(model, adapted)


def test_the_activation_between_depthwise_and_pointwise_is_dropped():
    model = sequential(L.DepthwiseConv2D(3, strides=2, padding="same", name="dw"),
                       L.BatchNormalization(name="dw_bn"), L.ReLU(6.0, name="dw_relu"),
                       L.Conv2D(8, 1, name="pw"), L.BatchNormalization(name="bn"),
                       L.ReLU(6.0, name="relu"))
    adapted, changes = adapt(model)
    assert [layer.name for layer in adapted.layers] == ["dw", "bn", "relu"]
    dropped = [change for change in changes if change.layer == "dw_relu"]
    assert len(dropped) == 1 and not dropped[0].exact and not changes.function_kept
    # The same as the model without that ReLU: the weights were carried over exactly.
    without = sequential(L.DepthwiseConv2D(3, strides=2, padding="same", name="dw"),
                         L.BatchNormalization(name="dw_bn"), L.Conv2D(8, 1, name="pw"),
                         L.BatchNormalization(name="bn"), L.ReLU(6.0, name="relu"))
    without.set_weights(model.get_weights())
    assert_same_outputs(without, adapted)


def test_a_lone_depthwise_becomes_separable_exactly():
    model = sequential(L.DepthwiseConv2D(3, name="dw"), L.BatchNormalization(name="bn"),
                       L.ReLU(name="relu"), L.Flatten(), L.Dense(2))
    adapted, changes = adapt(model)
    assert type(adapted.get_layer("dw")).__name__ == "SeparableConv2D"
    assert changes.function_kept and "identity pointwise kernel" in str(changes)
    assert_same_outputs(model, adapted)


def test_a_convolutional_head_becomes_dense_exactly():
    model = sequential(L.Conv2D(8, 3, name="c"), L.ReLU(name="r"),
                       L.GlobalAveragePooling2D(keepdims=True, name="gap"),
                       L.Dropout(0.1, name="drop"), L.Conv2D(5, 1, name="head"),
                       L.Reshape((5,), name="flat"), L.Activation("softmax", name="soft"))
    adapted, changes = adapt(model)
    assert [layer.name for layer in adapted.layers] == ["c", "gap", "r", "head", "soft"]
    assert type(adapted.get_layer("head")) is L.Dense
    assert adapted.get_layer("gap").keepdims is False
    head = next(change for change in changes if change.layer == "head")
    assert head.exact and "Dense" in head.what
    moved = next(change for change in changes if change.what.startswith("moved before"))
    assert moved.layer == "gap" and not moved.exact
    # Without the pooling move, the function is unchanged: check the head alone.
    exact_model = sequential(L.Conv2D(8, 3, name="c"),
                             L.GlobalAveragePooling2D(keepdims=True, name="gap"),
                             L.Conv2D(5, 1, name="head"), L.Reshape((5,), name="flat"))
    exact, exact_changes = adapt(exact_model)
    assert exact_changes.function_kept
    assert_same_outputs(exact_model, exact)


def test_activations_akida_cannot_run_become_relus_and_batchnorm_moves_before_them():
    model = sequential(L.Conv2D(4, 3, name="c"), L.LeakyReLU(name="leaky"),
                       L.BatchNormalization(name="bn"), L.Conv2D(4, 3, activation="swish",
                                                                 name="c2"),
                       L.ReLU(max_value=6.0, negative_slope=0.1, name="r"),
                       L.Flatten(), L.Dense(2, activation="sigmoid", name="d"))
    adapted, changes = adapt(model)
    names = [layer.name for layer in adapted.layers]
    assert names[:4] == ["c", "bn", "leaky", "c2"]
    assert type(adapted.get_layer("leaky")) is L.ReLU
    assert type(adapted.get_layer("c2_swish")) is L.ReLU
    assert adapted.get_layer("r").get_config()["negative_slope"] == 0.0
    assert float(adapted.get_layer("r").max_value) == 6.0
    assert adapted.get_layer("d_sigmoid").get_config()["activation"] == "sigmoid"  # final, kept
    assert not changes.function_kept


def test_zero_padding_that_same_padding_does_not_reproduce_is_accepted_as_a_change():
    model = sequential(L.ZeroPadding2D(((0, 2), (0, 2)), name="pad"), L.Conv2D(4, 3, name="c"),
                       shape=(15, 15, 3))
    adapted, changes = adapt(model)
    assert adapted.get_layer("c").padding == "same"
    assert not changes[0].exact and "((1, 1), (1, 1))" in changes[0].why


def test_a_pair_that_cannot_merge_is_named():
    model = sequential(L.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
                       L.Conv2D(4, 1, name="pw"))
    with pytest.raises(ValueError, match="'dw' \\+ 'pw' cannot be merged.*depth_multiplier=2"):
        adapt(model)


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
def test_keras_applications_mobilenet_converts_with_no_hand_edit(flavour):
    model = mobilenet(flavour, alpha=0.25, size=64)
    adapted, changes, quantized, akida_model = adapted_to_akida(model)
    assert [layer.layer_type for layer in akida_model.layers] == (
        ["InputConvolutional"] + ["SeparableConvolutional"] * 13 + ["FullyConnected"])
    assert akida_model.input_shape == (64, 64, 3) and akida_model.output_shape == (1, 1, 10)
    layers = {change.layer for change in changes}
    assert {"conv_pad_2", "conv_preds"} <= layers
    for automatic in ("dropout", "global_average_pooling2d"):  # Keras numbers repeated names
        assert any(name.startswith(automatic) for name in layers), automatic
    assert not changes.function_kept
    x = np.random.default_rng(0).integers(0, 256, (2, 64, 64, 3)).astype(np.uint8)
    assert akida_model.predict(x).shape == (2, 1, 1, 10)


#: Every alpha from 0.25 to 1.0 and input sizes from 64 to 224, for both Keras (the fast test
#: above has alpha 0.25 at 64 for both). About 12 s each on 2 cores.
COVERING = [("tf_keras", 0.5, 96), ("keras3", 0.5, 128), ("tf_keras", 0.75, 160),
            ("keras3", 0.75, 192), ("tf_keras", 1.0, 224), ("keras3", 1.0, 224)]
#: The whole grid (24 models, about 5 minutes): CNN2SNN_TFMOT_MOBILENET_GRID=1 runs it.
GRID = [(flavour, alpha, size) for flavour in ("tf_keras", "keras3")
        for alpha in (0.25, 0.5, 0.75, 1.0) for size in (64, 128, 224)]


@pytest.mark.slow
@pytest.mark.parametrize("flavour,alpha,size", COVERING + [
    pytest.param(*case, marks=pytest.mark.skipif(
        not os.environ.get("CNN2SNN_TFMOT_MOBILENET_GRID"),
        reason="the whole grid: set CNN2SNN_TFMOT_MOBILENET_GRID=1"))
    for case in GRID if case not in COVERING])
def test_mobilenet_converts_with_no_hand_edit_across_alphas_and_sizes(flavour, alpha, size):
    _, changes, _, akida_model = adapted_to_akida(mobilenet(flavour, alpha=alpha, size=size))
    assert [layer.layer_type for layer in akida_model.layers] == (
        ["InputConvolutional"] + ["SeparableConvolutional"] * 13 + ["FullyConnected"])
    assert akida_model.input_shape == (size, size, 3)
    assert akida_model.layers[-1].parameters.units == 10
