"""Bit-exactness against BrainChip's runtime (akida 2.19.3) and the interop functions."""
import sys
import types

import numpy as np
import pytest

from cnn2snn_tfmot.akida import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    Model,
    from_akida,
    to_akida,
)

from akida_helpers import MODEL_FACTORIES, random_input, randomize
from chip_reference import ref_layer
from helpers import AKIDA as akida
from helpers import requires_akida


def _prepared(name, seed, n=24):
    rng = np.random.default_rng(seed)
    model = MODEL_FACTORIES[name]()
    x = random_input(model, rng, n)
    randomize(model, x, rng)
    return model, x


def _assert_levels_vary(model, x):
    """Every layer with an activation produces several levels, neither all 0 nor all maximal."""
    for layer in model.layers:
        x = ref_layer(layer, x)
        if layer.layer_type == "InputData":
            continue
        if layer.parameters.activation:
            top = 2 ** layer.parameters.act_bits - 1
            assert len(np.unique(x)) >= 2, layer.name
            assert 0 < (x == 0).mean() < 1 and (x == top).mean() < 1, layer.name
        else:
            assert len(np.unique(x)) > 2, layer.name


def test_models_cover_every_required_feature():
    seen = set()
    for factory in MODEL_FACTORIES.values():
        layers = factory().layers
        last = layers[-1]
        if not last.parameters.activation:
            seen.add("last layer without activation")
        for layer in layers:
            p = layer.parameters
            seen.add(layer.layer_type)
            if layer.layer_type == "InputData":
                continue
            if layer.parameters.activation:
                seen.add(f"act {p.act_bits}")
            seen.add(f"weights {p.weights_bits}")
            if layer.layer_type != "FullyConnected":
                seen.update({p.padding.name, p.pool_type.name} |
                            {f"stride {s}" for s in p.kernel_stride})
    required = {"InputData", "InputConvolutional", "Convolutional", "SeparableConvolutional",
                "FullyConnected", "Same", "Valid", "stride 1", "stride 2", "Max", "Average",
                "act 1", "act 2", "act 4", "weights 2", "weights 4", "weights 8",
                "last layer without activation"}
    assert required <= seen, required - seen
    assert len(MODEL_FACTORIES) >= 6


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
@requires_akida
def test_forward_equals_runtime_bit_for_bit(name):
    model, x = _prepared(name, seed=sorted(MODEL_FACTORIES).index(name))
    _assert_levels_vary(model, x)
    ours = model.forward(x, engine="tf", batch_size=10)
    runtime_model = to_akida(model)
    theirs = runtime_model.forward(x)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    np.testing.assert_array_equal(ours, theirs)
    if not model.layers[-1].parameters.activation:
        np.testing.assert_array_equal(model.predict(x, engine="tf"), runtime_model.predict(x))


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
@requires_akida
def test_every_layer_output_equals_runtime(name):
    model, x = _prepared(name, seed=50 + sorted(MODEL_FACTORIES).index(name), n=8)
    runtime_model = to_akida(model)
    for index in range(1, len(model.layers)):
        partial = Model()
        for layer in model.layers[:index + 1]:
            copy = type(layer)(name=layer.name, **_kwargs(layer))
            partial.add(copy)
            for var in layer.variables:
                copy.set_variable(var, layer.get_variable(var))
        runtime_partial = akida.Model(layers=runtime_model.layers[:index + 1])
        np.testing.assert_array_equal(partial.forward(x, engine="tf"),
                                      runtime_partial.forward(x))


def _kwargs(layer):
    values = {key: getattr(layer.parameters, key) for key in layer.parameters.keys()}
    values.pop("layer_type")
    return values


def _single_layer_pair(layer, input_layer):
    model = Model()
    model.add(input_layer)
    model.add(layer)
    return model


@requires_akida
def test_saturation_and_global_pooling_edge_cases_equal_runtime():
    # Potentials far beyond 20 bits: FullyConnected and pooled potentials saturate, global
    # pooling saturates step by step, unpooled convolutions do not.
    rng = np.random.default_rng(0)
    channels = 1024
    weights = np.zeros((1, 1, channels, 3), np.int8)
    weights[0, 0, :512, 0], weights[0, 0, 512:, 0] = 127, -127
    weights[0, 0, :, 1] = rng.integers(-128, 128, channels)
    weights[0, 0, :, 2] = 127
    x = np.zeros((8, 3, 4, channels), np.uint8)
    for index in np.ndindex(8, 3, 4):
        x[index][:rng.integers(0, 513)] = 15
        x[index][512:512 + rng.integers(0, 513)] = 15
    for pool in ({}, {"pool_type": "average"}, {"pool_type": "max", "pool_size": (2, 2)}):
        layer = Convolutional((1, 1), 3, weights_bits=8, activation=False, **pool)
        model = _single_layer_pair(layer, InputData((3, 4, channels), input_bits=4))
        layer.set_variable("weights", weights)
        ours = model.forward(x, engine="tf")
        np.testing.assert_array_equal(ours, to_akida(model).forward(x))
        if not pool:
            assert np.abs(ours).max() > 2 ** 19
        else:
            assert ours.max() == 2 ** 19 - 1
    dense = FullyConnected(3, weights_bits=8, activation=False)
    model = _single_layer_pair(dense, InputData((3, 4, channels), input_bits=4))
    dense.set_variable("weights", np.repeat(weights, 12, axis=2))
    ours = model.forward(x, engine="tf")
    assert ours.max() == 2 ** 19 - 1 and ours.min() == -2 ** 19
    np.testing.assert_array_equal(ours, to_akida(model).forward(x))


@requires_akida
def test_register_extremes_equal_runtime():
    rng = np.random.default_rng(1)
    layer = InputConvolutional((8, 8, 3), (5, 5), 4, weights_bits=8, act_bits=4,
                               padding_value=200)
    model = Model()
    model.add(layer)
    layer.set_variable("weights", rng.integers(-128, 128, (5, 5, 3, 4)).astype(np.int8))
    layer.set_variable("threshold", np.array([2 ** 23 - 1, -2 ** 23, 0, 1000], np.int32))
    layer.set_variable("act_step", np.array([1 / 16, 2 ** 20 - 1, 0.07, 3.3], np.float32))
    x = rng.integers(0, 256, (5, 8, 8, 3)).astype(np.uint8)
    np.testing.assert_array_equal(model.forward(x, engine="tf"), to_akida(model).forward(x))


@requires_akida
def test_fbz_file_round_trip(tmp_path):
    model, x = _prepared("image_gap_model", seed=3, n=6)
    path = str(tmp_path / "model.fbz")
    to_akida(model).save(path)
    reloaded = akida.Model(path)
    np.testing.assert_array_equal(reloaded.forward(x), model.forward(x, engine="tf"))
    back = from_akida(reloaded)
    np.testing.assert_array_equal(back.forward(x, engine="tf"), model.forward(x, engine="tf"))


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
@requires_akida
def test_from_akida_round_trip(name):
    model, _ = _prepared(name, seed=7, n=4)
    back = from_akida(to_akida(model))
    assert [layer.name for layer in back.layers] == [layer.name for layer in model.layers]
    for ours, theirs in zip(model.layers, back.layers):
        assert ours.layer_type == theirs.layer_type
        assert ours.parameters == theirs.parameters
        for var in ours.variables:
            value = theirs.get_variable(var)
            assert value.dtype == ours.get_variable(var).dtype
            np.testing.assert_array_equal(value, ours.get_variable(var))


@requires_akida
def test_runtime_stores_variables_as_we_do():
    model, _ = _prepared("image_gap_model", seed=9, n=4)
    runtime_model = to_akida(model)
    for ours, theirs in zip(model.layers, runtime_model.layers):
        assert sorted(theirs.get_variable_names()) == ours.variables
        assert tuple(theirs.output_dims) == ours.output_dims


@requires_akida
def test_from_akida_refuses_unsupported_layers():
    runtime_model = akida.Model()
    runtime_model.add(akida.InputData((8, 8, 2), input_bits=4))
    runtime_model.add(akida.Convolutional(kernel_size=(3, 3), filters=2, weights_bits=4,
                                          padding=akida.Padding.SameUpper))
    with pytest.raises(ValueError, match="SameUpper is not supported"):
        from_akida(runtime_model)


def test_missing_akida_gives_install_hint(monkeypatch):
    model, _ = _prepared("dense_model", seed=0, n=2)
    monkeypatch.setitem(sys.modules, "akida", None)
    with pytest.raises(ImportError, match="pip install akida.*cnn2snn_tfmot\\[akida\\]"):
        model.to_akida()
    with pytest.raises(ImportError, match="pip install akida"):
        from_akida(types.SimpleNamespace(layers=[]))  # what a runtime model looks like


def test_package_works_without_akida(tmp_path, python_runner):
    path = str(tmp_path / "m.zip")
    script = (
        "import sys; sys.modules['akida'] = None\n"
        "import numpy as np\n"
        "from cnn2snn_tfmot.akida import Model, InputData, FullyConnected\n"
        "m = Model(); m.add(InputData((1, 1, 3))); m.add(FullyConnected(2, activation=False))\n"
        "m.get_layer('Fully_2').set_variable('weights', np.ones((1, 1, 3, 2), np.int8))\n"
        "print(m.forward(np.full((1, 1, 1, 3), 2, np.uint8), engine='tf').ravel().tolist())\n"
        f"m.save({path!r}); print(len(Model({path!r}).layers))\n")
    result = python_runner(script, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[-3:-1] == ["[6, 6]", "2"]


@pytest.mark.parametrize("value", ["x.fbz", 42, None])
def test_from_akida_refuses_what_is_not_a_runtime_model(value):
    with pytest.raises(TypeError, match=r"`akida_model` must be a BrainChip runtime model"):
        from_akida(value)
    if isinstance(value, str):
        with pytest.raises(TypeError, match=r"from_akida\(akida.Model\('x.fbz'\)\)"):
            from_akida(value)
