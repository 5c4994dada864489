"""The curated public API: every name in __all__ imports and is documented, nothing private
leaks, and a plain Keras loader reloads the package's objects after ``import cnn2snn_tfmot``."""
import inspect
import re

import pytest

import cnn2snn_tfmot

PUBLIC = sorted(set(cnn2snn_tfmot.__all__) - {"__version__"})
#: The names of BrainChip's cnn2snn (its API reference and tutorial), kept by this package.
SEED_NAMES = {
    "quantize", "convert", "check_model_compatibility", "quantize_layer",
    "create_trainable_quantizer_model", "load_quantized_model", "load_partial_weights",
    "WeightQuantizer", "TrainableWeightQuantizer", "MaxQuantizer", "MaxPerAxisQuantizer",
    "WeightFloat", "LinearWeightQuantizer", "StdWeightQuantizer", "TrainableStdWeightQuantizer",
    "QuantizedConv2D", "QuantizedDepthwiseConv2D", "QuantizedDense", "QuantizedSeparableConv2D",
    "QuantizedActivation", "ActivationDiscreteRelu", "QuantizedReLU", "quantization_ops",
    "quantization_layers", "add_gamma_constraint",
}


def test_seed_names_are_public():
    assert SEED_NAMES <= set(cnn2snn_tfmot.__all__), SEED_NAMES - set(cnn2snn_tfmot.__all__)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_imports_and_is_the_right_object(name):
    value = getattr(cnn2snn_tfmot, name)
    assert value is not None
    if inspect.isfunction(value) or inspect.isclass(value):
        assert value.__name__ in (name, value.__name__), name


def test_importing_every_submodule_does_not_shadow_a_public_name():
    """A submodule named like a public function would replace it on the package."""
    import pkgutil

    for module in pkgutil.walk_packages(cnn2snn_tfmot.__path__, "cnn2snn_tfmot."):
        if not module.name.rsplit(".", 1)[-1].startswith("_"):  # the compiled op library
            __import__(module.name)
    for name in PUBLIC:
        value = getattr(cnn2snn_tfmot, name)
        if name not in ("keras", "tf") and inspect.ismodule(value):
            assert name in ("akida", "quantization_ops", "quantization_layers",
                            "quantize_configs", "registry", "datasets", "zoo", "plots",
                            "distributed"), name


def test_nothing_private_is_imported_at_the_root(python_runner):
    """What ``import cnn2snn_tfmot`` puts in the package namespace (in a fresh process): the
    public names and the package's own submodules, nothing private."""
    result = python_runner(
        "import inspect, cnn2snn_tfmot\n"
        "for name, value in sorted(vars(cnn2snn_tfmot).items()):\n"
        "    if name.startswith('__'):\n"
        "        continue\n"
        "    own = inspect.ismodule(value) and value.__name__.startswith('cnn2snn_tfmot.')\n"
        "    print(name, name in cnn2snn_tfmot.__all__ or own)\n")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [line.split() for line in result.stdout.splitlines()]
    assert [name for name, _ in rows if name.startswith("_")] == []
    assert [name for name, public in rows if public != "True"] == []
    assert {"quantize", "convert", "keras"} <= {name for name, _ in rows}


def _documented(name):
    value = getattr(cnn2snn_tfmot, name)
    return inspect.isfunction(value) or inspect.isclass(value)


@pytest.mark.parametrize("name", [name for name in PUBLIC if _documented(name)])
def test_public_functions_and_classes_have_arguments_and_an_example(name):
    value = getattr(cnn2snn_tfmot, name)
    doc = inspect.getdoc(value) or ""
    assert doc, f"{name} has no docstring"
    assert re.search(r"^Example", doc, re.M) and ">>>" in doc, f"{name} has no example"
    if inspect.isclass(value) and issubclass(value, BaseException):
        return  # exceptions and warnings take a message
    signature = inspect.signature(value)
    arguments = [p for p in signature.parameters.values()
                 if p.name not in ("self", "args", "kwargs")]
    if arguments:
        assert re.search(r"^Arguments:", doc, re.M), f"{name} takes arguments but documents none"
        for parameter in arguments:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            assert parameter.name in doc, f"{name}: argument {parameter.name!r} is undocumented"
    if inspect.isfunction(value) and signature.return_annotation not in (None, "None"):
        assert re.search(r"^Returns:", doc, re.M), f"{name} returns but documents nothing"


def test_plain_keras_reloads_our_layers_after_importing_the_package(python_runner, tmp_path):
    """import cnn2snn_tfmot registers the package's Keras serializables."""
    path = str(tmp_path / "q.h5")
    build = ("from cnn2snn_tfmot import keras, quantize, add_gamma_constraint\n"
             "m = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3),\n"
             "    keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.Flatten(),\n"
             "    keras.layers.Dense(2)])\n"
             f"add_gamma_constraint(m).save({path!r}); quantize(m, 4, 4).save({path!r} + '2')\n")
    assert python_runner(build).returncode == 0
    for first in ("import tf_keras as keras", "from tensorflow import keras"):
        result = python_runner(f"import cnn2snn_tfmot\n{first}\n"
                               f"a = keras.models.load_model({path!r})\n"
                               f"b = keras.models.load_model({path!r} + '2')\n"
                               "print(type(a.layers[1].gamma_constraint).__name__,\n"
                               "      type(b.layers[0]).__name__)")
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.split() == ["MinValueConstraint", "QuantizedConv2D"]


def test_examples_and_benchmarks_use_only_public_names():
    import os

    from helpers import REPO

    for folder in ("examples", "benchmarks"):
        for name in sorted(os.listdir(os.path.join(REPO, folder))):
            if not name.endswith(".py"):
                continue
            with open(os.path.join(REPO, folder, name)) as handle:
                source = handle.read()
            private = re.findall(r"cnn2snn_tfmot(?:\.\w+)*\._\w+|from cnn2snn_tfmot(?:\.\w+)* "
                                 r"import[^\n]*\b_\w+", source)
            assert not private, f"{folder}/{name} uses private names: {private}"
