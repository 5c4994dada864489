"""The input scaling a model remembers: InputScaling, quantize(input_scaling=...), convert,
check_model_compatibility and ScaleFactorMonitor."""
import warnings

import numpy as np
import pytest

from cnn2snn_tfmot import (
    InputScaling,
    InputScalingWarning,
    ScaleFactorMonitor,
    check_model_compatibility,
    convert,
    input_scaling_of,
    load_quantized_model,
    quantize,
)
from cnn2snn_tfmot.conversion.blocks import analyze
from cnn2snn_tfmot.quantization.input_scaling import resolve_input_scaling
from cnn2snn_tfmot.tfkeras import keras

from helpers import float_cnn, images, make_qat_model, set_bn

L = keras.layers


@pytest.fixture(scope="module")
def float_model():
    model = float_cnn()
    set_bn(model, seed=3)
    return model


@pytest.fixture(scope="module")
def remembering(float_model):
    return quantize(float_model, 4, 4, 8, input_scaling=(255, 0))


def test_the_layer_is_an_identity_that_remembers_its_pair():
    layer = InputScaling(127.5, 1, name="scaling")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(layer(x).numpy(), x)
    assert layer.akida_input_scaling == (127.5, 1)
    clone = InputScaling.from_config(layer.get_config())
    assert clone.akida_input_scaling == (127.5, 1) and clone.name == "scaling"


@pytest.mark.parametrize("scale,shift,match", [(0, 0, "positive"), (255, 0.5, "integer"),
                                                (255, 300, "0..255")])
def test_the_layer_refuses_invalid_pairs(scale, shift, match):
    with pytest.raises(ValueError, match=match):
        InputScaling(scale, shift)


def test_quantize_remembers_the_scaling_and_keeps_everything_else(float_model, remembering):
    plain = quantize(float_model, 4, 4, 8)
    assert input_scaling_of(plain) is None
    assert input_scaling_of(remembering) == (255.0, 0)
    assert remembering.layers[0].name == "input_scaling"
    assert [layer.name for layer in remembering.layers[1:]] == [layer.name for layer in
                                                               plain.layers]
    x = images(8, seed=1) / 255
    np.testing.assert_array_equal(remembering(x).numpy(), plain(x).numpy())
    # The block reader treats it as an identity: same blocks, convertible.
    assert [block.name for block in analyze(remembering).blocks] == \
        [block.name for block in analyze(plain).blocks]


def test_convert_uses_the_remembered_scaling(float_model, remembering):
    plain = quantize(float_model, 4, 4, 8)
    x = images(16, seed=2)
    expected = convert(plain, input_scaling=(255, 0)).forward(x, engine="tf")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScalingWarning)
        np.testing.assert_array_equal(convert(remembering).forward(x, engine="tf"), expected)


def test_a_contradicting_scaling_is_an_error_naming_both(remembering):
    with pytest.raises(ValueError, match=r"input_scaling=\(1\.0, 0\).*\(255\.0, 0\)"):
        convert(remembering, input_scaling=(1, 0))
    with pytest.raises(ValueError, match=r"\(2\.0, 0\).*\(255\.0, 0\)"):
        check_model_compatibility(remembering, input_scaling=(2, 0))
    # The same pair, written differently, agrees.
    assert convert(remembering, input_scaling=(255.0, 0.0)) is not None


def test_convert_without_any_scaling_warns_and_uses_the_seeds_default(float_model):
    plain = quantize(float_model, 4, 4, 8)
    with pytest.warns(InputScalingWarning, match=r"input_scaling=\(255, 0\)"):
        default = convert(plain)
    x = images(8, seed=3)
    np.testing.assert_array_equal(default.forward(x, engine="tf"),
                                  convert(plain, input_scaling=(1, 0)).forward(x, engine="tf"))


def test_check_uses_the_remembered_scaling_for_the_registers(float_model):
    tiny = quantize(float_model, 4, 4, 8, input_scaling=(1e-6, 0))
    with pytest.raises(ValueError, match="act_step .* is below 1/16"):
        check_model_compatibility(tiny)
    assert check_model_compatibility(quantize(float_model, 4, 4, 8))  # rules only


def test_quantize_keeps_a_remembered_scaling_and_refuses_another(float_model):
    scaled = keras.Sequential([keras.Input((16, 16, 1)), InputScaling(255, 0)]
                              + list(float_cnn().layers))
    scaled.set_weights(float_model.get_weights())
    assert input_scaling_of(quantize(scaled, 4, 4, 8)) == (255.0, 0)
    assert input_scaling_of(quantize(scaled, 4, 4, 8, input_scaling=(255, 0))) == (255.0, 0)
    assert sum(isinstance(layer, InputScaling) for layer in
               quantize(scaled, 4, 4, 8, input_scaling=(255, 0)).layers) == 1
    with pytest.raises(ValueError, match=r"\(2\.0, 0\) contradicts .*\(255\.0, 0\)"):
        quantize(scaled, 4, 4, 8, input_scaling=(2, 0))


@pytest.mark.parametrize("suffix", [".h5", "_savedmodel"])
def test_the_scaling_survives_saving(remembering, tmp_path, suffix):
    path = str(tmp_path / f"q{suffix}")
    remembering.save(path)
    assert input_scaling_of(load_quantized_model(path)) == (255.0, 0)


def test_plain_keras_reloads_it_once_the_package_is_imported(remembering, tmp_path,
                                                             python_runner):
    scaled = keras.Sequential([keras.Input((8, 8, 1)), InputScaling(255, 0), L.Conv2D(2, 3)])
    paths = [str(tmp_path / "float.h5"), str(tmp_path / "quantized_savedmodel"),
             str(tmp_path / "quantized.h5")]
    scaled.save(paths[0])
    remembering.save(paths[1])
    remembering.save(paths[2])
    result = python_runner("import cnn2snn_tfmot\nfrom tensorflow import keras\n"
                           f"for path in {paths!r}:\n"
                           "    print(cnn2snn_tfmot.input_scaling_of("
                           "keras.models.load_model(path)))")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-3:] == ["(255.0, 0)"] * 3


def test_duck_typing_reads_any_layer_that_exposes_a_scaling():
    class Exposing(L.Layer):
        akida_input_scaling = (64, 2)

        def call(self, inputs):
            return inputs

    model = keras.Sequential([keras.Input((3,)), L.Dense(2), Exposing()])
    assert input_scaling_of(model) == (64.0, 2)
    assert resolve_input_scaling(model, None) == ((64.0, 2), "remembered")
    assert input_scaling_of(keras.Sequential([keras.Input((3,)), L.Dense(2)])) is None


def tfmot_model(*first):
    """A TFMOT-annotated model (Akida QuantizeConfigs), quantize_apply'd."""
    from tensorflow_model_optimization.quantization.keras import quantize_annotate_layer

    from cnn2snn_tfmot import Conv2DQuantizeConfig, DenseQuantizeConfig, ReLUQuantizeConfig
    from cnn2snn_tfmot.quantization.quantizers import MaxPerAxisQuantizer

    annotated = keras.Sequential([
        keras.Input((8, 8, 1)), *first,
        quantize_annotate_layer(L.Conv2D(4, 3, name="conv"),
                                Conv2DQuantizeConfig(MaxPerAxisQuantizer(8))),
        quantize_annotate_layer(L.ReLU(name="relu"), ReLUQuantizeConfig(4)),
        L.Flatten(), quantize_annotate_layer(L.Dense(3, name="dense"),
                                             DenseQuantizeConfig(MaxPerAxisQuantizer(4)))])
    return make_qat_model(annotated)


def test_tfmot_annotated_models_keep_and_ignore_it():
    qat = tfmot_model(InputScaling(255, 0))
    assert input_scaling_of(qat) == (255.0, 0)
    assert check_model_compatibility(qat)
    assert [layer.name for layer in convert(qat).layers] == ["conv", "dense"]


# ScaleFactorMonitor -------------------------------------------------------------------------

def fit(model, monitor, shape=(16, 16, 1)):
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = images(32, shape=shape, seed=4) / 255, np.arange(32) % 3
    model.fit(x, y, epochs=1, verbose=0, callbacks=[monitor])


def test_monitor_uses_the_remembered_scaling(float_model):
    model = quantize(float_model, 4, 4, 8, input_scaling=(255, 0))
    monitor = ScaleFactorMonitor(on_violation="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScalingWarning)
        fit(model, monitor)
    assert sorted(monitor.margins) == ["c0", "c2", "d", "s1"]
    assert monitor.get_config()["input_scaling"] is None


def test_monitor_without_any_scaling_says_how_to_give_one(float_model):
    with pytest.raises(ValueError, match=r"does not remember .*input_scaling=\(255, 0\)"):
        fit(quantize(float_model, 4, 4, 8), ScaleFactorMonitor())


@pytest.mark.parametrize("kind", ["seed", "tfmot"])
def test_monitor_makes_the_model_remember_an_explicit_scaling(float_model, kind, tmp_path,
                                                              capsys):
    if kind == "seed":
        model = quantize(float_model, 4, 4, 8)
    else:
        model = tfmot_model()
    assert input_scaling_of(model) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScalingWarning)
        fit(model, ScaleFactorMonitor((255, 0)), shape=tuple(model.inputs[0].shape[1:]))
    first = "c0" if kind == "seed" else "conv"
    assert f"now remembers input_scaling=(255.0, 0) (in layer '{first}')" in \
        capsys.readouterr().out
    assert input_scaling_of(model) == (255.0, 0)
    for path in (str(tmp_path / "m.h5"), str(tmp_path / "m_savedmodel")):
        model.save(path)
        assert input_scaling_of(load_quantized_model(path)) == (255.0, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScalingWarning)
        convert(model)  # the remembered scaling, no warning


def test_monitor_refuses_a_contradicting_scaling(float_model):
    with pytest.raises(ValueError, match=r"\(1\.0, 0\) contradicts .*\(255\.0, 0\)"):
        fit(quantize(float_model, 4, 4, 8, input_scaling=(255, 0)), ScaleFactorMonitor((1, 0)))


def test_hardware_exact_uses_the_remembered_scaling(remembering):
    from cnn2snn_tfmot import hardware_exact

    with warnings.catch_warnings():
        warnings.simplefilter("error", InputScalingWarning)
        exact = hardware_exact(remembering)
    assert input_scaling_of(exact) == (255.0, 0)
    with pytest.raises(ValueError, match=r"\(1\.0, 0\) contradicts .*\(255\.0, 0\)"):
        hardware_exact(remembering, (1, 0))
    x = images(8, seed=5)
    np.testing.assert_array_equal(exact.predict(x / 255, verbose=0).ravel(),
                                  convert(exact).predict(x).ravel())


BAD_SCALINGS = [("25", r"got the string '25'"), ("255", r"got the string '255'"),
                ((255,), r"got 1 value: \(255,\)"), ([255], r"got 1 value: \[255\]"),
                ((255, 0, 0), r"got 3 values"), (255, r"got int 255"),
                ((float("nan"), 0), "scale must be a positive number; got nan"),
                ((255, float("inf")), "shift must be an integer; got inf"),
                ((True, 0), "scale must be a positive number; got True"),
                (("255", 0), "scale must be a positive number; got '255'"),
                ({"scale": 255}, "got dict")]


@pytest.mark.parametrize("scaling, match", BAD_SCALINGS)
def test_one_parser_refuses_ambiguous_scalings_at_every_entry_point(float_model, scaling,
                                                                   match):
    from cnn2snn_tfmot import hardware_exact

    quantized = quantize(float_model, 4, 4, 8)
    entry_points = {
        "quantize": lambda: quantize(float_model, 4, 4, 8, input_scaling=scaling),
        "convert": lambda: convert(quantized, input_scaling=scaling),
        "check_model_compatibility": lambda: check_model_compatibility(
            quantized, input_scaling=scaling),
        "hardware_exact": lambda: hardware_exact(quantized, input_scaling=scaling),
        "ScaleFactorMonitor": lambda: ScaleFactorMonitor(scaling)}
    for name, call in entry_points.items():
        with pytest.raises(ValueError, match=r"`input_scaling` ") as caught:
            call()
        assert caught.match(match), (name, str(caught.value))
        assert "e.g. (255, 0)" in str(caught.value), name


def test_numpy_pairs_are_taken(float_model):
    assert resolve_input_scaling(float_model, np.array([255.0, 0.0]))[0] == (255.0, 0)
    assert resolve_input_scaling(float_model, (np.float32(255), np.int64(0)))[0] == (255.0, 0)
