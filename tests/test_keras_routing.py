"""Importing cnn2snn_tfmot selects tf_keras; Keras 3 models are rebuilt as tf_keras."""
import pytest

import cnn2snn_tfmot
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.tfkeras import keras


@pytest.mark.parametrize("first_imports", [
    "",
    "import tensorflow as tf\n",
    "import keras\nimport tensorflow as tf\n",
])
def test_tensorflow_keras_is_tf_keras_after_import(python_runner, first_imports):
    result = python_runner(
        first_imports + "import cnn2snn_tfmot\nimport tensorflow as tf\n"
        "from tensorflow.keras import layers\n"
        "print(layers.Dense.__module__, tf.keras.Sequential.__module__)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["tf_keras.src.layers.core.dense",
                                     "tf_keras.src.engine.sequential"]


def test_warns_when_tf_keras_was_already_keras3(python_runner):
    result = python_runner("import tensorflow as tf\ntf.keras.layers\nimport cnn2snn_tfmot\n")
    assert result.returncode == 0
    assert "already loaded as Keras 3" in result.stderr


@pytest.fixture(scope="module")
def keras3_model():
    keras3 = pytest.importorskip("keras")
    if not keras3.__version__.startswith("3."):
        pytest.skip("Keras 3 is not installed")
    return keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])


def test_keras3_models_are_rebuilt_unless_changed_in_place(keras3_model):
    rebuilt = check_keras_model(keras3_model)
    assert isinstance(rebuilt, keras.Model) and rebuilt is not keras3_model
    with pytest.raises(TypeError, match=r"Keras 3 model.*in place.*from_keras3"):
        check_keras_model(keras3_model, rebuild=False)
    with pytest.raises(TypeError, match=r"Keras 3 model.*in place.*from_keras3"):
        cnn2snn_tfmot.load_partial_weights(keras3_model, rebuilt)


def test_non_model_is_refused():
    with pytest.raises(TypeError, match="must be a tf_keras Model"):
        check_keras_model("model.h5")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert check_keras_model(model) is model
