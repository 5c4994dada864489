"""The chain of layer specs every rewrite edits, and the change records."""
import contextlib

import pytest

from cnn2snn_tfmot import Change, Changes
from cnn2snn_tfmot.rewriting.chain import Chain
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def test_changes_print_one_line_each_and_say_whether_the_function_is_kept():
    changes = Changes([Change("a", "removed", "an identity"),
                       Change("b", "moved", "Akida pools first", exact=False)])
    assert str(changes) == ("- a: removed (an identity)\n"
                            "- b: moved (Akida pools first) [changes the function]")
    assert not changes.function_kept and Changes().function_kept
    assert changes[0] == Change("a", "removed", "an identity", True)


def test_the_chain_follows_the_shapes_through_edits():
    model = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, name="c"),
                              L.Flatten(name="f"), L.Dense(2, name="d")])
    chain = Chain(model, "test")
    assert chain.input_shape(1) == (None, 6, 6, 4) and chain.output_shape(2) == (None, 2)
    chain.specs[0] = chain.specs[0].replace(config={**chain.specs[0].config,
                                                    "padding": "same"})
    chain.refresh()
    assert chain.input_shape(1) == (None, 8, 8, 4)
    assert chain.free_name("c") == "c_1" and chain.free_name("x") == "x"
    chain.specs[2].weights = {}  # a new Dense, initialized
    assert chain.build().output_shape == (None, 2)


# One chain for every rewrite: the passes quantize and sanitize share behave the same in both.

def _fused():
    return keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu", name="c"),
                             L.ReLU(name="c_relu"), L.Conv2D(4, 3, activation="relu6", name="e"),
                             L.Flatten(name="f"), L.Dense(2, activation="softmax", name="d")])


def _layers(model):
    return [(layer.name, type(layer).__name__, layer.get_config().get("max_value"),
             layer.get_config().get("activation")) for layer in model.layers]


def test_quantize_and_sanitize_split_fused_activations_the_same_way():
    from cnn2snn_tfmot import quantize, sanitize

    expected = [("c", "Conv2D", None, "linear"), ("c_relu_1", "ReLU", None, None),
                ("c_relu", "ReLU", None, None), ("e", "Conv2D", None, "linear"),
                ("e_relu6", "ReLU", 6.0, None), ("f", "Flatten", None, None),
                ("d", "Dense", None, "linear"), ("d_softmax", "Activation", None, "softmax")]
    clean, changes = sanitize(_fused())
    assert _layers(clean) == expected
    assert [change.layer for change in changes] == ["c", "e", "d"]
    # Without bits quantize keeps every activation as split; neural layers become Quantized*.
    floats = quantize(_fused(), 0, 0)
    assert [(name, kind.replace("Quantized", ""), top, activation)
            for name, kind, top, activation in _layers(floats)] == expected
    # With bits the split relu6 is quantized as a ReLU(6.0) layer is.
    unfused = keras.Sequential([keras.Input((6, 6, 4)), L.Conv2D(4, 3, name="e"),
                                L.ReLU(6.0, name="e_relu6")])
    fused = keras.Sequential([keras.Input((6, 6, 4)), L.Conv2D(4, 3, activation="relu6",
                                                               name="e")])
    for bits in (2, 4):
        with pytest.warns(UserWarning) if bits == 2 else contextlib.nullcontext():
            expected_layer = quantize(unfused, 4, bits).get_layer("e_relu6")
        with pytest.warns(UserWarning) if bits == 2 else contextlib.nullcontext():
            layer = quantize(fused, 4, bits).get_layer("e_relu6")
        assert type(layer).__name__ == "ActivationDiscreteRelu"
        assert layer.get_config() == expected_layer.get_config()


def test_quantize_transforms_record_each_change():
    from cnn2snn_tfmot import quantize
    from cnn2snn_tfmot.rewriting.quantizing import quantize_layers
    from cnn2snn_tfmot.rewriting.transforms import (
        fold_batchnorms,
        split_fused_activations,
        swap_activation_pooling,
        swap_pooling_batchnorm,
    )

    model = keras.Sequential([
        keras.Input((8, 8, 3)), L.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
        L.MaxPool2D(name="p1"), L.Conv2D(4, 3, padding="same", name="c2"),
        L.MaxPool2D(name="p2"), L.BatchNormalization(name="bn2"), L.Flatten(name="f"),
        L.Dense(2, name="d")])
    chain = Chain(model, "quantize")
    for transform in (split_fused_activations, swap_activation_pooling, swap_pooling_batchnorm,
                      fold_batchnorms):
        transform(chain)
    quantize_layers(chain, 4, 4, 8)
    assert chain.names() == ["c1", "p1", "c1_relu", "c2", "p2", "f", "d"]
    assert [(change.layer, change.what) for change in chain.changes] == [
        ("c1", "fused activation 'relu' moved to the new layer 'c1_relu'"),
        ("c1_relu", "moved after 'p1'"), ("bn2", "moved before 'p2'"),
        ("bn2", "folded into 'c2'"),
        ("c1", "Conv2D replaced by QuantizedConv2D (8-bit weights)"),
        ("c1_relu", "ReLU replaced by ActivationDiscreteRelu (4-bit activations)"),
        ("c2", "Conv2D replaced by QuantizedConv2D (4-bit weights)"),
        ("d", "Dense replaced by QuantizedDense (4-bit weights)")]
    assert [change.exact for change in chain.changes] == [True] * 4 + [False] * 4
    assert chain.input_shape(5) == (None, 2, 2, 4)
    assert [layer.name for layer in quantize(model, 4, 4, 8).layers] == chain.names()


def test_one_free_name_rule_for_split_activations_and_the_input_scaling_layer():
    from cnn2snn_tfmot import quantize
    from cnn2snn_tfmot.rewriting.chain import free_name

    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="input_scaling"),
                              L.ReLU(name="input_scaling_1"), L.Flatten(), L.Dense(2)])
    quantized = quantize(model, 4, 4, input_scaling=(255, 0))
    assert quantized.layers[0].name == "input_scaling_2"
    assert free_name("input_scaling", [layer.name for layer in model.layers]) == "input_scaling_2"


def test_one_walker_over_nested_configurations():
    from cnn2snn_tfmot.keras3 import walk_config

    config = {"a": [{"b": ({"c": 1},)}], "d": {"e": {}}}
    assert list(walk_config(config)) == [config, {"b": ({"c": 1},)}, {"c": 1}, {"e": {}}, {}]
