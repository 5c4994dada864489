"""Importing cnn2snn_tfmot selects tf_keras; Keras 3 models are refused with the fix."""
import pytest

import cnn2snn_tfmot
from cnn2snn_tfmot.tfkeras import check_keras_model, keras


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


def public_functions_taking_a_model():
    """Every public function whose first argument is a model (grows with the package)."""
    return {
        "load_partial_weights": lambda m: cnn2snn_tfmot.load_partial_weights(m, m),
        "add_gamma_constraint": lambda m: cnn2snn_tfmot.add_gamma_constraint(m),
        "quantize": lambda m: cnn2snn_tfmot.quantize(m, 4, 4),
        "quantize_layer": lambda m: cnn2snn_tfmot.quantize_layer(m, 0, 4),
        "merge_separable_conv": lambda m: cnn2snn_tfmot.merge_separable_conv(m),
        "create_trainable_quantizer_model":
            lambda m: cnn2snn_tfmot.create_trainable_quantizer_model(m),
        "convert": lambda m: cnn2snn_tfmot.convert(m),
        "check_model_compatibility": lambda m: cnn2snn_tfmot.check_model_compatibility(m),
        "export": lambda m: cnn2snn_tfmot.export(m, None, "unused"),
    }


@pytest.fixture(scope="module")
def keras3_model():
    keras3 = pytest.importorskip("keras")
    if not keras3.__version__.startswith("3."):
        pytest.skip("Keras 3 is not installed")
    return keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2)])


@pytest.mark.parametrize("name", sorted(public_functions_taking_a_model()))
def test_keras3_model_is_refused_with_the_fix(keras3_model, name):
    with pytest.raises(TypeError, match=r"Keras 3 model.*tf_keras.*TF_USE_LEGACY_KERAS=1"):
        public_functions_taking_a_model()[name](keras3_model)


def test_non_model_is_refused():
    with pytest.raises(TypeError, match="must be a tf_keras Model"):
        check_keras_model("model.h5")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    assert check_keras_model(model) is model
