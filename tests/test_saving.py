"""Saving and loading quantized models; copying weights by layer name."""
import os

import numpy as np
import pytest

from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.quantization.saving import load_partial_weights, load_quantized_model
from cnn2snn_tfmot.tfkeras import keras

from helpers import annotated_and_seed_models, make_qat_model, randomize_batchnorm

L = keras.layers
X = np.random.default_rng(3).random((4, 12, 12, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def models():
    annotated, seed = annotated_and_seed_models()
    randomize_batchnorm(annotated)
    qat = make_qat_model(annotated)
    load_partial_weights(seed, qat)
    # Move the trainable quantizer variables away from their initial values, so that a
    # loader that forgets them would be caught.
    for model in (qat, seed):
        for variable in model.weights:
            short = variable.name.split("/")[-1]
            if variable.dtype.is_floating and short.startswith(("threshold", "step", "kernel_th",
                                                                 "output_")):
                variable.assign(variable * 1.1)
    qat.compile("adam", "mse")
    return {"tfmot": qat, "seed": seed}


@pytest.mark.parametrize("kind", ["tfmot", "seed"])
@pytest.mark.parametrize("suffix", [".h5", "_savedmodel"])
def test_round_trip_gives_identical_outputs(models, kind, suffix, tmp_path):
    model = models[kind]
    path = str(tmp_path / f"model{suffix}")
    model.save(path)
    loaded = load_quantized_model(path)
    np.testing.assert_array_equal(loaded(X).numpy(), model(X).numpy())
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in model.layers]
    assert (loaded.optimizer is not None) == (model.optimizer is not None)


def test_h5_loads_in_a_fresh_process_without_custom_objects(models, tmp_path, python_runner):
    path = str(tmp_path / "qat.h5")
    models["tfmot"].save(path)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", models["tfmot"](X).numpy())
    result = python_runner(
        "import numpy as np, cnn2snn_tfmot\n"
        f"m = cnn2snn_tfmot.load_quantized_model({path!r})\n"
        f"x = np.load({str(tmp_path / 'x.npy')!r}); y = np.load({str(tmp_path / 'y.npy')!r})\n"
        "assert np.array_equal(m(x).numpy(), y)\nprint('SAME')\n")
    assert "SAME" in result.stdout, result.stderr[-2000:]


def test_keras_archive_of_tfmot_model_is_a_clear_error(models, tmp_path):
    path = str(tmp_path / "qat.keras")
    models["tfmot"].save(path)
    with pytest.raises(ValueError, match=r"TFMOT-wrapped.*\.h5.*SavedModel"):
        load_quantized_model(path)


def test_keras_archive_of_seed_model_loads(models, tmp_path):
    path = str(tmp_path / "seed.keras")
    models["seed"].save(path)
    np.testing.assert_array_equal(load_quantized_model(path)(X).numpy(),
                                  models["seed"](X).numpy())


@pytest.mark.parametrize("suffix", [".h5", "_savedmodel"])
def test_lambda_layers_are_refused(tmp_path, suffix):
    model = keras.Sequential([keras.Input((3,)), L.Lambda(lambda t: t * 2, name="double")])
    path = str(tmp_path / f"lambda{suffix}")
    model.save(path)
    with pytest.raises(ValueError, match="'double' is a Lambda layer"):
        load_quantized_model(path)


def test_path_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        load_quantized_model(str(tmp_path / "missing.h5"))
    (tmp_path / "model.txt").write_text("x")
    with pytest.raises(ValueError, match=r"\.h5.*SavedModel"):
        load_quantized_model(str(tmp_path / "model.txt"))
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not a readable HDF5"):
        load_quantized_model(str(tmp_path / "bad.h5"))
    os.mkdir(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_quantized_model(str(tmp_path / "empty_dir"))


def small_float_model():
    return keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(4, 3, name="c"),
                             L.ReLU(name="r"), L.Flatten(name="f"), L.Dense(3, name="d")])


def test_load_partial_weights_tolerates_quantizer_variables():
    float_model = small_float_model()
    quantized = keras.Sequential([
        keras.Input((6, 6, 1)),
        qlayers.QuantizedConv2D(4, 3, quantizer=qops.TrainableStdWeightQuantizer(), name="c"),
        qlayers.QuantizedReLU(4, name="r"), L.Flatten(name="f"),
        qlayers.QuantizedDense(3, quantizer=qops.WeightFloat(), name="d")])
    load_partial_weights(quantized, float_model)
    np.testing.assert_array_equal(quantized.get_layer("c").kernel.numpy(),
                                  float_model.get_layer("c").kernel.numpy())
    np.testing.assert_array_equal(quantized.get_layer("d").bias.numpy(),
                                  float_model.get_layer("d").bias.numpy())
    assert float(quantized.get_layer("r").threshold) == pytest.approx(0.2)  # untouched
    # And back: the float model ignores the quantization variables.
    quantized.get_layer("d").kernel.assign(quantized.get_layer("d").kernel * 2)
    load_partial_weights(float_model, quantized)
    np.testing.assert_array_equal(float_model.get_layer("d").kernel.numpy(),
                                  quantized.get_layer("d").kernel.numpy())


def test_load_partial_weights_errors():
    float_model = small_float_model()
    no_bias = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(4, 3, use_bias=False, name="c")])
    with pytest.raises(ValueError, match=r"layer 'c'.*\['bias'\]"):
        load_partial_weights(no_bias, float_model)
    wider = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(5, 3, name="c")])
    with pytest.raises(ValueError, match=r"'kernel' of layer 'c' has shape"):
        load_partial_weights(wider, float_model)
    other = keras.Sequential([keras.Input((6, 6, 1)), L.Conv2D(4, 3, name="other")])
    with pytest.raises(ValueError, match="share no layer name"):
        load_partial_weights(other, float_model)


def test_weights_learned_by_hardware_exact_training_go_back_to_the_quantized_model():
    """load_partial_weights reads a hardware_exact model's network as its layers: after
    copying, converting the quantized model gives the Akida model of the trained network."""
    from cnn2snn_tfmot import convert, hardware_exact, keras, quantize
    from cnn2snn_tfmot.data.examples import example_float_model

    quantized = quantize(example_float_model(), 4, 4, 8, input_scaling=(255, 0))
    exact = hardware_exact(quantized)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (64, 16, 16, 1)).astype(np.uint8)
    exact.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    exact.fit(images / np.float32(255), rng.integers(0, 10, 64), epochs=2, verbose=0)
    trained, untrained = convert(exact), convert(quantized)
    load_partial_weights(quantized, exact)
    copied = convert(quantized)

    def same(first, second):
        return all(np.array_equal(a.get_variable(name), b.get_variable(name))
                   for a, b in zip(first.layers, second.layers) for name in a.variables)

    assert not same(trained, untrained)  # training changed the weights
    assert same(trained, copied)


def test_arguments_of_the_wrong_type_are_named(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    path = str(tmp_path / "m.h5")
    model.save(path)
    with pytest.raises(TypeError, match=r"`custom_objects` must be a dict \{name: class\}.*"
                                        r"got list"):
        load_quantized_model(path, custom_objects=[qops.MaxQuantizer])
    with pytest.raises(TypeError, match="`filepath` must be a path"):
        load_quantized_model(42)
    for name in ("m.AKIDA", "m.zip"):
        (tmp_path / name).write_bytes(b"PK")
        with pytest.raises(ValueError, match=rf"'.*{name}' is not a Keras model file; Akida "
                                             r"model files end in .akida"):
            load_quantized_model(str(tmp_path / name))
    (tmp_path / "m.akida").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"m.akida' is an Akida model file, not a Keras model"):
        load_quantized_model(str(tmp_path / "m.akida"))
