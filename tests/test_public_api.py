"""The curated public API: every name in __all__ imports, is documented, and nothing private
leaks; importing the package does not import TensorFlow."""
import inspect
import re

import pytest

import cnn2snn_tfmot

PUBLIC = sorted(set(cnn2snn_tfmot.__all__) - {"__version__"})
#: The seeds' names (BrainChip's cnn2snn API reference and tutorial), kept by this package.
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
                            "quantize_configs", "registry", "datasets", "zoo"), name


def test_nothing_private_is_imported_at_the_root(python_runner):
    """What ``import cnn2snn_tfmot`` puts in the package namespace (in a fresh process)."""
    result = python_runner("import cnn2snn_tfmot\n"
                           "print(' '.join(sorted(n for n in vars(cnn2snn_tfmot)\n"
                           "                      if not n.startswith('__'))))")
    assert result.returncode == 0, result.stderr[-2000:]
    root = set(result.stdout.split())
    # The root's own helpers (lazy loading, the TensorFlow import hook) are its only privates;
    # no module of the package is imported until a public name is used.
    assert root == {"_PUBLIC", "_SUBMODULES", "_register_ops", "_AfterTensorFlowImport",
                    "importlib", "os", "sys"}, root


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


def test_import_does_not_import_tensorflow(python_runner):
    result = python_runner("import sys, cnn2snn_tfmot\n"
                           "print('tensorflow' in sys.modules, cnn2snn_tfmot.__version__)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[0] == "False"


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
