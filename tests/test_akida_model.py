"""Akida Model: layer order, names, shapes, summary, forward / predict / evaluate, inputs."""
import numpy as np
import pytest

from cnn2snn_tfmot.akida import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    Model,
    SeparableConvolutional,
)

from akida_helpers import random_input, randomize
from chip_reference import ref_forward


def _small_model(activation_last=False):
    model = Model()
    model.add(InputData((6, 5, 3), input_bits=4))
    model.add(Convolutional((3, 3), 4, weights_bits=4, act_bits=2, pool_type="max",
                            pool_size=(2, 2)))
    model.add(FullyConnected(5, weights_bits=4, act_bits=4, activation=activation_last))
    return model


def _randomized(seed=0, n=40, activation_last=False):
    rng = np.random.default_rng(seed)
    model = _small_model(activation_last)
    x = random_input(model, rng, n)
    reference = randomize(model, x, rng)
    return model, x, reference


# -- structure --------------------------------------------------------------------------------
def test_layers_names_and_shapes():
    model = _small_model()
    assert [layer.name for layer in model.layers] == ["InputData_1", "Conv_2", "Fully_3"]
    assert model.input_shape == (6, 5, 3)
    assert model.output_shape == (1, 1, 5)
    conv = model.get_layer("Conv_2")
    assert conv.input_dims == (6, 5, 3) and conv.output_dims == (3, 3, 4)
    assert model.get_layer("Fully_3").input_dims == (3, 3, 4)
    model.layers.pop()  # a copy: the model is unchanged
    assert len(model.layers) == 3


def test_empty_model():
    model = Model()
    assert model.layers == [] and model.input_shape is None and model.output_shape is None
    with pytest.raises(ValueError, match="empty"):
        model.forward(np.zeros((1, 2, 2, 1), np.uint8))


def test_get_layer_unknown_lists_names():
    with pytest.raises(ValueError, match="no layer named 'conv'.*'InputData_1', 'Conv_2'"):
        _small_model().get_layer("conv")


@pytest.mark.parametrize("layers, match", [
    ([Convolutional((3, 3), 2)], "first layer of a model must be InputData or "
                                 "InputConvolutional"),
    ([InputData((4, 4, 1)), InputData((4, 4, 1))], "can only be the first layer"),
    ([InputData((4, 4, 1)), InputConvolutional((4, 4, 1), (3, 3), 2)],
     "can only be the first layer"),
    ([InputData((4, 4, 1)), Convolutional((3, 3), 2, activation=False),
      FullyConnected(2)], "activation is disabled"),
    ([InputData((4, 4, 1), name="a"), Convolutional((3, 3), 2, name="a")],
     "already has a layer named 'a'"),
    ([InputData((4, 4, 1)), Convolutional((5, 5), 2, padding="valid")], "does not fit"),
    ([InputData((4, 4, 1)), Convolutional((3, 3), 2, padding="valid", pool_type="max",
                                          pool_size=(3, 3))], "pool_size"),
])
def test_add_validates_order_names_and_shapes(layers, match):
    model = Model()
    with pytest.raises(ValueError, match=match):
        for layer in layers:
            model.add(layer)


def test_add_refuses_foreign_objects_and_reused_layers():
    model = _small_model()
    with pytest.raises(TypeError, match="cnn2snn_tfmot.akida layer"):
        model.add("conv")
    other = Model()
    layer = InputData((2, 2, 1))
    other.add(layer)
    with pytest.raises(ValueError, match="already belongs to a model"):
        Model().add(layer)


def test_failed_add_leaves_model_and_layer_unchanged():
    model = Model()
    model.add(InputData((4, 4, 1)))
    layer = Convolutional((5, 5), 2, padding="valid")
    with pytest.raises(ValueError):
        model.add(layer)
    assert len(model.layers) == 1 and layer.name == "" and layer.input_dims is None
    model.add(Convolutional((3, 3), 2))
    assert model.layers[-1].name == "Conv_2"


def test_summary_table():
    model = Model()
    model.add(InputConvolutional((8, 8, 1), (3, 3), 4, name="conv_in", weights_bits=8,
                                 act_bits=4))
    model.add(SeparableConvolutional((3, 3), 6, name="sep", weights_bits=4, act_bits=2,
                                     pool_type="average"))
    model.add(FullyConnected(3, name="head", weights_bits=2, activation=False))
    lines = []
    model.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert lines[0] == "Model: 3 layers, input (8, 8, 1), output (1, 1, 3)"
    header = next(line for line in lines if line.startswith("Layer (name)"))
    assert header.split() == ["Layer", "(name)", "Type", "Input", "shape", "Output", "shape",
                              "Kernel", "shape", "Weight", "bits", "Act", "bits"]
    rows = {line.split()[0]: line.split() for line in lines if line.split() and
            line.split()[0] in ("conv_in", "sep", "head")}
    assert rows["conv_in"][1] == "InputConvolutional"
    assert " ".join(rows["conv_in"][2:]) == "(8, 8, 1) (8, 8, 4) (3, 3, 1, 4) 8 4"
    assert " ".join(rows["sep"][2:]) == "(8, 8, 4) (1, 1, 6) (3, 3, 4, 1) + (1, 1, 4, 6) 4 2"
    assert " ".join(rows["head"][2:]) == "(1, 1, 6) (1, 1, 3) (1, 1, 6, 3) 2 -"
    assert "Weights: 114 integers" in text


def test_summary_prints_by_default(capsys):
    _small_model().summary()
    assert "Conv_2" in capsys.readouterr().out


# -- inference ---------------------------------------------------------------------------------
def test_forward_matches_reference_and_dtypes():
    model, x, reference = _randomized()
    out = model.forward(x, engine="tf")
    assert out.dtype == np.int32 and out.shape == (40, 1, 1, 5)
    np.testing.assert_array_equal(out, reference)
    model2, x2, reference2 = _randomized(1, activation_last=True)
    levels = model2.forward(x2, engine="tf")
    assert levels.dtype == np.uint8
    np.testing.assert_array_equal(levels, reference2)
    assert 0 < levels.mean() < 15


@pytest.mark.parametrize("batch_size", [1, 7, 40, 1000])
def test_forward_is_independent_of_batch_size(batch_size):
    model, x, reference = _randomized(2)
    np.testing.assert_array_equal(model.forward(x, batch_size=batch_size, engine="tf"),
                                  reference)


def test_forward_empty_batch():
    model, x, _ = _randomized(3)
    assert model.forward(x[:0], engine="tf").shape == (0, 1, 1, 5)


def test_progress_bar(capsys):
    model, x, _ = _randomized(4)
    model.forward(x, batch_size=16, verbose=1, engine="tf")
    out = capsys.readouterr().out
    assert "40/40" in out and "16/40" in out
    model.forward(x, batch_size=16, verbose=0, engine="tf")
    assert capsys.readouterr().out == ""


def test_predict_dequantizes_in_float32():
    model, x, reference = _randomized(5)
    last = model.layers[-1]
    threshold, act_step = last.get_variable("threshold"), last.get_variable("act_step")
    expected = (reference.astype(np.int64) - threshold).astype(np.float32) / act_step
    logits = model.predict(x, engine="tf")
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(logits, expected)


def test_predict_with_activation_returns_levels_as_float32():
    model, x, reference = _randomized(6, activation_last=True)
    logits = model.predict(x, engine="tf")
    assert logits.dtype == np.float32
    np.testing.assert_array_equal(logits, reference.astype(np.float32))


def test_evaluate_uses_argmax_of_predict():
    model, x, _ = _randomized(7)
    logits = model.predict(x, engine="tf").reshape(len(x), -1)
    labels = logits.argmax(axis=1).astype(np.int64)
    labels[:10] = (labels[:10] + 1) % 5
    assert model.evaluate(x, labels, engine="tf") == pytest.approx(0.75)
    assert model.evaluate(x, labels.astype(np.uint8), batch_size=3, engine="tf") == \
        pytest.approx(0.75)


@pytest.mark.parametrize("y, error, match", [
    (np.zeros(40, np.float32), TypeError, "integer numpy array"),
    ([0] * 40, TypeError, "integer numpy array"),
    (np.zeros(39, np.int64), ValueError, r"shape \(40,\)"),
    (np.zeros((40, 1), np.int64), ValueError, r"shape \(40,\)"),
])
def test_evaluate_label_errors(y, error, match):
    model, x, _ = _randomized(8)
    with pytest.raises(error, match=match):
        model.evaluate(x, y, engine="tf")


@pytest.mark.parametrize("make_x, error, match", [
    (lambda x: x.astype(np.float32), TypeError, "got dtype float32"),
    (lambda x: x.astype(np.int32), TypeError, "got dtype int32"),
    (lambda x: x.astype(np.int8), TypeError, "got dtype int8"),
    (lambda x: x.tolist(), TypeError, "got list"),
    (lambda x: x[0], ValueError, r"got shape \(6, 5, 3\) \(for one sample, use x\[None\]\)"),
    (lambda x: x[:, :5], ValueError, r"got shape \(40, 5, 5, 3\)"),
    (lambda x: x[..., None], ValueError, r"shape \(N, 6, 5, 3\)"),
    (lambda x: np.full_like(x, 16), ValueError, r"values up to 16.*input_bits=4.*\[0, 15\]"),
])
def test_forward_input_errors(make_x, error, match):
    model, x, _ = _randomized(9)
    with pytest.raises(error, match=match) as info:
        model.forward(make_x(x), engine="tf")
    assert "x must be" in str(info.value) or "x has values" in str(info.value)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"batch_size": 0}, ValueError, "batch_size must be >= 1"),
    ({"batch_size": 2.5}, TypeError, "batch_size must be an integer"),
    ({"verbose": 3}, ValueError, "verbose must be one of 0, 1, 2"),
    ({"engine": "gpu"}, ValueError, "'direct', 'custom', 'tf'"),
    ({"backend": "gpu"}, ValueError, "'direct', 'custom', 'tf'"),
    ({"backend": "tf", "engine": "custom"}, ValueError, "not both"),
])
def test_forward_argument_errors(kwargs, error, match):
    model, x, _ = _randomized(10)
    if "backend" not in kwargs:
        kwargs.setdefault("engine", "tf")
    with pytest.raises(error, match=match):
        model.forward(x, **kwargs)


def test_image_model_accepts_any_uint8():
    model = Model()
    model.add(InputConvolutional((5, 5, 3), (3, 3), 2, weights_bits=8, activation=False))
    model.get_layer("InputConv_1").set_variable("weights", np.ones((3, 3, 3, 2), np.int8))
    out = model.forward(np.full((2, 5, 5, 3), 255, np.uint8), engine="tf")
    assert out[0, 2, 2].tolist() == [255 * 27, 255 * 27]
    assert out[0, 0, 0].tolist() == [255 * 12, 255 * 12]


def test_model_without_neural_layer_cannot_run():
    model = Model()
    model.add(InputData((2, 2, 1)))
    with pytest.raises(ValueError, match="no neural layer"):
        model.forward(np.zeros((1, 2, 2, 1), np.uint8), engine="tf")


def test_graph_is_cached_and_rebuilt_when_variables_change():
    model, x, reference = _randomized(11)
    first = model.emulator_function("tf")
    assert model.emulator_function("tf") is first
    layer = model.layers[-1]
    layer.set_variable("weights", -layer.get_variable("weights"))
    second = model.emulator_function("tf")
    assert second is not first
    out = model.forward(x, engine="tf")
    np.testing.assert_array_equal(out, ref_forward(model, x))
    assert not np.array_equal(out, reference)


@pytest.mark.parametrize("engine", ["tf", None])
def test_threads_share_a_model(engine):
    """Threads calling one model at once get what one thread gets (the model's cached
    functions are built once and shared)."""
    import concurrent.futures

    model, x, _ = _randomized(11)
    expected = model.forward(x, engine=engine)
    fresh, _, _ = _randomized(11)  # nothing cached yet: the threads race to build it
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: fresh.forward(x, engine=engine), range(8)))
    for result in results:
        np.testing.assert_array_equal(result, expected)
