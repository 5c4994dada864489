"""Emulator SavedModel export and export() of the three artefacts."""
import os

import numpy as np
import pytest

from cnn2snn_tfmot import load_quantized_model
from cnn2snn_tfmot.akida import Model as AkidaModel
from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.conversion.export import export, export_saved_model, load_saved_model
from cnn2snn_tfmot.rewriting.quantizing import quantize

from helpers import float_cnn, images, set_bn


@pytest.fixture(scope="module")
def converted():
    model = float_cnn()
    set_bn(model, seed=11)
    quantized = quantize(model, 4, 4, 8)
    return quantized, convert(quantized, input_scaling=(255, 0))


def fresh_process_outputs(python_runner, path, x_path, preamble):
    result = python_runner(
        f"{preamble}\nimport numpy as np, tensorflow as tf\n"
        f"m = tf.saved_model.load({path!r})\n"
        f"out = m.signatures['serving_default'](images=tf.constant(np.load({x_path!r})))\n"
        f"np.save({x_path!r} + '.outputs.npy', out['outputs'].numpy())\n"
        f"np.save({x_path!r} + '.floats.npy', out['float_outputs'].numpy())\n")
    return result


def test_tf_engine_savedmodel_runs_in_plain_tensorflow(converted, tmp_path, python_runner):
    _, akida_model = converted
    path = export_saved_model(akida_model, str(tmp_path / "emulator"), engine="tf")
    x = images(40, seed=12)
    x_path = str(tmp_path / "x.npy")
    np.save(x_path, x)
    result = fresh_process_outputs(python_runner, path, x_path, "")  # no cnn2snn_tfmot
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(x_path + ".outputs.npy"),
                                  akida_model.forward(x, engine="tf"))
    np.testing.assert_array_equal(np.load(x_path + ".floats.npy"),
                                  akida_model.predict(x, engine="tf"))
    readme = open(os.path.join(path, "assets.extra", "README.txt")).read()
    assert "stock TensorFlow ops only" in readme


def test_signature(converted, tmp_path):
    _, akida_model = converted
    served = load_saved_model(export_saved_model(akida_model, str(tmp_path / "e"), engine="tf"))
    signature = served.signatures["serving_default"]
    spec = signature.structured_input_signature[1]["images"]
    assert spec.dtype.name == "uint8" and spec.shape.as_list() == [None, 16, 16, 1]
    outputs = signature.structured_outputs
    assert outputs["outputs"].dtype.name == "int32" and outputs["float_outputs"].dtype.name == \
        "float32"


def test_export_writes_three_artefacts(converted, tmp_path):
    quantized, akida_model = converted
    paths = export(quantized, akida_model, str(tmp_path / "out"), engine="tf")
    assert sorted(os.listdir(tmp_path / "out")) == ["emulator_savedmodel", "keras_savedmodel",
                                                    "model.akida"]
    x = images(16, seed=13)
    keras_x = x.astype(np.float32) / 255
    np.testing.assert_array_equal(load_quantized_model(paths["keras"])(keras_x).numpy(),
                                  quantized(keras_x).numpy())
    np.testing.assert_array_equal(AkidaModel(paths["akida"]).forward(x, engine="tf"),
                                  akida_model.forward(x, engine="tf"))
    again = export(quantized, akida_model, str(tmp_path / "out"), engine="tf")  # replaces
    assert again == paths and not [n for n in os.listdir(tmp_path / "out") if n.startswith(".")]


def test_exports_never_replace_what_they_did_not_write(converted, tmp_path):
    quantized, akida_model = converted
    user = tmp_path / "dir"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"dir: it is a folder holding 'notes.txt', not a "
                                              r"SavedModel folder.*overwrite=True"):
        export_saved_model(akida_model, str(user), engine="tf")
    assert os.listdir(user) == ["notes.txt"]
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.akida").write_text("my notes, not a model")
    with pytest.raises(FileExistsError, match="model.akida: it is a file, not an Akida model"):
        export(quantized, akida_model, str(tmp_path / "out"), engine="tf")
    assert os.listdir(tmp_path / "out") == ["model.akida"]  # nothing written before the check
    path = export_saved_model(akida_model, str(user), engine="tf", overwrite=True)
    assert "notes.txt" not in os.listdir(path)
    assert os.stat(path).st_mode & 0o777 == 0o777 & ~_umask()


def _umask():
    current = os.umask(0)
    os.umask(current)
    return current


def test_export_argument_errors(converted, tmp_path):
    quantized, akida_model = converted
    with pytest.raises(TypeError, match="cnn2snn_tfmot.akida.Model"):
        export_saved_model(quantized, str(tmp_path / "x"))
    with pytest.raises(ValueError, match="backend must be None or one of 'custom', 'tf'"):
        export_saved_model(akida_model, str(tmp_path / "x"), engine="fast")
    with pytest.raises(ValueError, match="backend must be None or one of 'custom', 'tf'"):
        export_saved_model(akida_model, str(tmp_path / "x"), backend="direct")


@pytest.fixture(scope="module")
def custom_export(converted, tmp_path_factory):
    from cnn2snn_tfmot.engine import ops

    if not ops.is_available():
        pytest.fail("the compiled op library must be built for these tests (make test builds it)")
    _, akida_model = converted
    directory = tmp_path_factory.mktemp("custom")
    path = export_saved_model(akida_model, str(directory / "emulator"), engine="custom")
    x = images(40, seed=14)
    np.save(directory / "x.npy", x)
    return path, str(directory / "x.npy"), akida_model, x


def test_custom_savedmodel_reloads_in_a_process_that_imports_the_package(custom_export,
                                                                         python_runner):
    path, x_path, akida_model, x = custom_export
    with open(os.path.join(path, "saved_model.pb"), "rb") as handle:
        assert b"Cnn2snnTfmot>Akida" in handle.read()  # really the compiled ops
    result = fresh_process_outputs(python_runner, path, x_path, "import cnn2snn_tfmot")
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_array_equal(np.load(x_path + ".outputs.npy"),
                                  akida_model.forward(x, engine="custom"))
    np.testing.assert_array_equal(np.load(x_path + ".outputs.npy"),
                                  akida_model.forward(x, engine="tf"))
    np.testing.assert_array_equal(np.load(x_path + ".floats.npy"),
                                  akida_model.predict(x, engine="tf"))


def test_custom_savedmodel_without_the_op_library_names_the_package(custom_export,
                                                                     python_runner):
    path, x_path, _, _ = custom_export
    result = fresh_process_outputs(python_runner, path, x_path, "")  # plain TensorFlow
    assert result.returncode != 0
    assert "Op type not registered 'Cnn2snnTfmot>Akida" in result.stderr
    disabled = python_runner(
        "import os\nos.environ['CNN2SNN_TFMOT_DISABLE_OPS'] = '1'\nimport cnn2snn_tfmot\n"
        f"try:\n    cnn2snn_tfmot.load_saved_model({path!r})\n"
        "except cnn2snn_tfmot.EmulatorLoadError as err:\n    print('ERROR:', err)\n")
    assert "ERROR:" in disabled.stdout, disabled.stderr[-2000:]
    assert "compiled Akida ops" in disabled.stdout and "CNN2SNN_TFMOT_DISABLE_OPS=1" in \
        disabled.stdout and "engine='tf'" in disabled.stdout


def test_default_engine_falls_back_with_one_warning_when_ops_are_unavailable(python_runner,
                                                                             tmp_path):
    _ = tmp_path
    result = python_runner(
        "import os, warnings\nos.environ['CNN2SNN_TFMOT_DISABLE_OPS'] = '1'\n"
        "import numpy as np, cnn2snn_tfmot\nfrom cnn2snn_tfmot.akida import Model, InputData, "
        "FullyConnected\nm = Model(); m.add(InputData((1, 1, 4), 4))\n"
        "m.add(FullyConnected(2, weights_bits=4, activation=False))\n"
        "m.layers[1].set_variable('weights', np.ones((1, 1, 4, 2), np.int8))\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    out = [m.forward(np.full((1, 1, 1, 4), 3, np.uint8)) for _ in range(3)]\n"
        "names = [type(w.message).__name__ for w in caught]\n"
        "print(names.count('EngineFallbackWarning'), out[0].ravel().tolist())\n"
        "print([str(w.message) for w in caught][0])\n")
    assert result.returncode == 0, result.stderr[-2000:]
    first, message = result.stdout.splitlines()[:2]
    assert first == "1 [12, 12]"
    assert "CNN2SNN_TFMOT_DISABLE_OPS=1" in message and "pure-TensorFlow" in message
