"""Keras 3 intake: every supported layer type and option rebuilt with the same outputs, files
checked before loading, and every public function taking Keras 3 models."""
import json
import os
import zipfile

import numpy as np
import pytest

import cnn2snn_tfmot
from cnn2snn_tfmot import Keras3IntakeError, from_keras3, load_quantized_model
from cnn2snn_tfmot.keras3 import TRANSLATIONS, is_keras3_file
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.tfkeras import keras

keras3 = pytest.importorskip("keras")
if not keras3.__version__.startswith("3."):
    pytest.skip("Keras 3 is not installed", allow_module_level=True)
K = keras3.layers

#: Every supported layer type with its options: (input shape, [Keras 3 layers]).
CASES = {
    "conv_same_bias_relu": ((9, 9, 3), [K.Conv2D(5, 3, padding="same", activation="relu")]),
    "conv_valid_strided_nobias": ((9, 9, 3), [K.Conv2D(4, (3, 5), strides=2, use_bias=False)]),
    "conv_dilated_grouped": ((9, 9, 4), [K.Conv2D(4, 3, dilation_rate=2, groups=2)]),
    "conv_relu6": ((9, 9, 3), [K.Conv2D(4, 1, activation="relu6")]),
    "depthwise": ((9, 9, 3), [K.DepthwiseConv2D(3, padding="same", depth_multiplier=2)]),
    "depthwise_strided_nobias": ((9, 9, 3), [K.DepthwiseConv2D(3, strides=2, use_bias=False)]),
    "separable": ((9, 9, 3), [K.SeparableConv2D(6, 3, padding="same", activation="relu")]),
    "separable_strided": ((9, 9, 3), [K.SeparableConv2D(4, 3, strides=2, use_bias=False)]),
    "dense": ((7,), [K.Dense(5, activation="softmax")]),
    "dense_4d": ((2, 2, 3), [K.Dense(4, use_bias=False)]),
    "batchnorm": ((6, 6, 3), [K.BatchNormalization(epsilon=0.01)]),
    "batchnorm_no_scale_center": ((6, 6, 3), [K.BatchNormalization(scale=False, center=False)]),
    "relu_bounded": ((6, 6, 3), [K.ReLU(max_value=6.0)]),
    "relu_slope_threshold": ((6, 6, 3), [K.ReLU(negative_slope=0.1, threshold=0.2)]),
    "activations": ((6, 6, 3), [K.Activation("relu"), K.Activation("relu6"),
                                K.Activation("linear"), K.Activation("sigmoid")]),
    "softmax": ((5,), [K.Softmax()]),
    "max_pool": ((9, 9, 3), [K.MaxPooling2D(3, strides=2, padding="same")]),
    "max_pool_valid": ((9, 9, 3), [K.MaxPooling2D((2, 3))]),
    "global_pool": ((6, 6, 3), [K.GlobalAveragePooling2D()]),
    "global_pool_keepdims": ((6, 6, 3), [K.GlobalAveragePooling2D(keepdims=True)]),
    "flatten_reshape": ((4, 4, 3), [K.Flatten(), K.Reshape((1, 1, 48))]),
    "zero_padding": ((6, 6, 3), [K.ZeroPadding2D(((0, 1), (2, 1)))]),
    "identities": ((6, 6, 3), [K.Dropout(0.5, seed=1), K.SpatialDropout2D(0.2),
                               K.GaussianNoise(0.1), K.GaussianDropout(0.1),
                               K.AlphaDropout(0.1), K.ActivityRegularization(0.1),
                               K.Identity()]),
}


def randomized(model, seed=0):
    """Random values for every weight (BatchNorm statistics included)."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for variable in layer.weights:
            shape = tuple(variable.shape)
            low = 0.5 if "variance" in variable.name or "gamma" in variable.name else -1
            variable.assign(rng.uniform(low, 2 if low > 0 else 1, shape).astype(np.float32))
    return model


def same_outputs(model3, rebuilt, shape, seed=1):
    x = np.random.default_rng(seed).normal(size=(3,) + shape).astype(np.float32)
    expected = np.asarray(model3(x, training=False))
    got = rebuilt(x, training=False).numpy()
    assert got.shape == expected.shape
    return float(np.max(np.abs(got - expected)))


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_every_supported_layer_is_rebuilt_with_the_same_outputs(name, kind):
    shape, layers = CASES[name]
    layers = [type(layer).from_config(layer.get_config()) for layer in layers]  # fresh
    if kind == "sequential":
        model3 = keras3.Sequential([keras3.Input(shape)] + layers, name="m")
    else:
        inputs = keras3.Input(shape, name="image")
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        model3 = keras3.Model(inputs, outputs, name="m")
    randomized(model3)
    rebuilt = from_keras3(model3)
    assert isinstance(rebuilt, keras.Model) and rebuilt.name == "m"
    rebuilt_layers = [layer for layer in rebuilt.layers
                      if not isinstance(layer, keras.layers.InputLayer)]
    assert [layer.name for layer in rebuilt_layers] == [layer.name for layer in layers]
    assert same_outputs(model3, rebuilt, shape) <= 1e-5


def test_the_table_covers_every_registry_type():
    table = registry.current()
    ours = {cls.__name__ for cls in table.role_classes()
            if not cls.__module__.startswith("cnn2snn_tfmot")}
    ours |= {entry.keras_class.__name__ for entry in table.neural_types()}
    assert ours <= set(TRANSLATIONS), ours - set(TRANSLATIONS)


def test_keras_applications_mobilenet_and_nested_models():
    base = keras3.applications.MobileNet(alpha=0.25, input_shape=(32, 32, 3), weights=None,
                                         include_top=False, pooling="avg")
    model3 = keras3.Sequential([base, K.Dense(4, name="head")])  # initialized weights
    rebuilt = from_keras3(model3)
    assert isinstance(rebuilt.layers[0], keras.Model)
    assert same_outputs(model3, rebuilt, (32, 32, 3)) <= 1e-5


def test_an_unsupported_layer_is_named():
    inputs = keras3.Input((8, 8, 3))
    model3 = keras3.Model(inputs, K.AveragePooling2D(2, name="avg")(K.Conv2D(2, 3)(inputs)))
    with pytest.raises(Keras3IntakeError, match=r"Layer 'avg' \(.*AveragePooling2D\) cannot be "
                                                r"rebuilt.*Conv2D.*SeparableConv2D"):
        from_keras3(model3)


def test_custom_subclasses_and_options_are_refused():
    class MyDense(K.Dense):
        pass

    with pytest.raises(Keras3IntakeError, match="'mine'.*MyDense"):
        from_keras3(keras3.Sequential([keras3.Input((3,)), MyDense(2, name="mine")]))
    lora = keras3.Sequential([keras3.Input((3,)), K.Dense(2, name="d")])
    lora.layers[0].enable_lora(2)
    with pytest.raises(Keras3IntakeError, match="'d'.*lora_rank=2"):
        from_keras3(lora)


def test_multi_input_layers_and_subclassed_models_are_refused():
    a, b = keras3.Input((3,)), keras3.Input((3,))
    with pytest.raises(Keras3IntakeError, match="'add'.*2 inputs|'add'.*Add"):
        from_keras3(keras3.Model([a, b], K.Add(name="add")([a, b])))

    class Subclassed(keras3.Model):
        def call(self, x):
            return x

    with pytest.raises(Keras3IntakeError, match="subclassed"):
        from_keras3(Subclassed())


def test_an_unbuilt_sequential_is_refused():
    with pytest.raises(Keras3IntakeError, match="not built.*keras.Input"):
        from_keras3(keras3.Sequential([K.Dense(2)]))


# Files ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small3():
    model3 = keras3.Sequential([keras3.Input((8, 8, 1)), K.Conv2D(4, 3, name="conv"),
                                K.BatchNormalization(name="bn"), K.ReLU(name="relu"),
                                K.Flatten(name="flat"), K.Dense(3, name="dense")], name="small")
    return randomized(model3)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_keras3_files_load_rebuilt(small3, tmp_path, suffix):
    path = str(tmp_path / f"small{suffix}")
    small3.save(path)
    assert is_keras3_file(path)
    for loaded in (from_keras3(path), load_quantized_model(path)):
        assert isinstance(loaded, keras.Model)
        assert same_outputs(small3, loaded, (8, 8, 1)) <= 1e-5


def test_tf_keras_files_are_not_keras3_files(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.save(str(tmp_path / "m.keras"))
    assert not is_keras3_file(str(tmp_path / "m.keras"))
    with pytest.raises(Keras3IntakeError, match="not a Keras 3 model file"):
        from_keras3(str(tmp_path / "m.keras"))


def _rewritten_archive(source, target, edit):
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("edit,match", [
    (lambda c: c["config"]["layers"][2].update(class_name="Lambda"), "'bn' holds Python code"),
    (lambda c: c["config"]["layers"][2].update(registered_name="evil>Thing"),
     r"'bn' \(BatchNormalization\) cannot be rebuilt.*Custom layers are refused"),
    (lambda c: c["config"]["layers"][2]["config"].update(
        function={"class_name": "__lambda__", "config": {"code": "x"}}), "holds Python code"),
])
def test_code_in_a_file_is_refused_before_keras_reads_it(small3, tmp_path, monkeypatch, edit,
                                                         match):
    path = str(tmp_path / "small.keras")
    small3.save(path)
    evil = str(tmp_path / "evil.keras")
    _rewritten_archive(path, evil, edit)

    def never(*args, **kwargs):
        raise AssertionError("Keras was asked to load a file that should have been refused")

    monkeypatch.setattr(keras3.saving, "load_model", never)
    with pytest.raises(Keras3IntakeError, match=match):
        from_keras3(evil)
    with pytest.raises(Keras3IntakeError, match=match):
        load_quantized_model(evil)


def test_a_real_lambda_model_is_refused(tmp_path):
    model3 = keras3.Sequential([keras3.Input((3,)), K.Lambda(lambda x: x * 2, name="double")])
    path = str(tmp_path / "lambda.keras")
    model3.save(path)
    with pytest.raises(Keras3IntakeError, match="'double' holds Python code"):
        from_keras3(path)


# Every public function takes Keras 3 models ------------------------------------------------

def public_functions(model):
    from cnn2snn_tfmot import (
        adapt,
        add_gamma_constraint,
        check_model_compatibility,
        convert,
        create_trainable_quantizer_model,
        merge_separable_conv,
        quantize,
        quantize_layer,
        sanitize,
    )

    return {
        "quantize": lambda: quantize(model, 4, 4, 8),
        "quantize_layer": lambda: quantize_layer(model, "conv", 4),
        "add_gamma_constraint": lambda: add_gamma_constraint(model),
        "merge_separable_conv": lambda: merge_separable_conv(model),
        "create_trainable_quantizer_model": lambda: create_trainable_quantizer_model(model),
        "sanitize": lambda: sanitize(model)[0],
        "adapt": lambda: adapt(model)[0],
        "from_keras3": lambda: from_keras3(model),
        "check_model_compatibility": lambda: check_model_compatibility(model),
        "convert": lambda: convert(model),
    }


@pytest.mark.parametrize("name", sorted(public_functions(None)))
def test_every_public_function_takes_a_keras3_model(small3, name):
    call = public_functions(small3)[name]
    if name in ("check_model_compatibility", "convert"):  # a float model: quantize first
        with pytest.raises(cnn2snn_tfmot.IncompatibleModelError, match="Quantize it first"):
            call()
        return
    result = call()
    assert isinstance(result, keras.Model)


def test_load_partial_weights_takes_a_keras3_source_not_a_keras3_destination(small3):
    twin = from_keras3(small3)
    for layer in twin.layers:
        for variable in layer.weights:
            variable.assign(np.zeros(variable.shape))
    cnn2snn_tfmot.load_partial_weights(twin, small3)
    np.testing.assert_array_equal(twin.get_layer("dense").kernel.numpy(),
                                  small3.get_layer("dense").kernel.numpy())
    with pytest.raises(TypeError, match="changes? .*in place.*from_keras3"):
        cnn2snn_tfmot.load_partial_weights(small3, twin)


def test_the_full_pipeline_from_a_keras3_file(small3, tmp_path):
    path = str(tmp_path / "small.keras")
    small3.save(path)
    quantized = cnn2snn_tfmot.quantize(load_quantized_model(path), 4, 4, 8,
                                       input_scaling=(255, 0))
    akida_model = cnn2snn_tfmot.convert(quantized)
    assert os.path.basename(path) and [layer.name for layer in akida_model.layers] == \
        ["conv", "dense"]
