"""cnn2snn_tfmot: quantize Keras CNNs, convert them to Akida 1.0 models, emulate the chip.

Importing the package makes ``tensorflow.keras`` mean Keras 2 (tf_keras), as TensorFlow Model
Optimization needs (see :mod:`cnn2snn_tfmot.tfkeras`); ``cnn2snn_tfmot.keras`` is that module.
Public names follow BrainChip's cnn2snn. They are loaded on first use, so that ``import
cnn2snn_tfmot`` (and the command line) does not import TensorFlow before it is needed.

Example:
    >>> import cnn2snn_tfmot            # before tensorflow.keras, or set TF_USE_LEGACY_KERAS=1
    >>> from cnn2snn_tfmot import QuantizedDense, MaxPerAxisQuantizer
    >>> QuantizedDense(10, quantizer=MaxPerAxisQuantizer(bitwidth=4)).quantizer
    MaxPerAxisQuantizer(bitwidth=4)
"""
import importlib
import importlib.util
import os
import sys

__version__ = "0.2.0"

# TensorFlow reads this when it is imported: tf.keras then means tf_keras (Keras 2).
os.environ["TF_USE_LEGACY_KERAS"] = "1"

#: Public name -> the module that defines it (loaded on first access).
_PUBLIC = {
    # the Keras this package uses
    "keras": "cnn2snn_tfmot.tfkeras", "tf": "cnn2snn_tfmot.tfkeras",
    # quantizers (the seeds' quantization_ops)
    "WeightQuantizerBase": "cnn2snn_tfmot.quantization_ops",
    "LinearWeightQuantizer": "cnn2snn_tfmot.quantization_ops",
    "MaxQuantizer": "cnn2snn_tfmot.quantization_ops",
    "MaxPerAxisQuantizer": "cnn2snn_tfmot.quantization_ops",
    "StdWeightQuantizer": "cnn2snn_tfmot.quantization_ops",
    "WeightQuantizer": "cnn2snn_tfmot.quantization_ops",
    "TrainableStdWeightQuantizer": "cnn2snn_tfmot.quantization_ops",
    "TrainableWeightQuantizer": "cnn2snn_tfmot.quantization_ops",
    "WeightFloat": "cnn2snn_tfmot.quantization_ops",
    # quantized layers (the seeds' quantization_layers)
    "QuantizedConv2D": "cnn2snn_tfmot.quantization_layers",
    "QuantizedDepthwiseConv2D": "cnn2snn_tfmot.quantization_layers",
    "QuantizedSeparableConv2D": "cnn2snn_tfmot.quantization_layers",
    "QuantizedDense": "cnn2snn_tfmot.quantization_layers",
    "QuantizedActivation": "cnn2snn_tfmot.quantization_layers",
    "ActivationDiscreteRelu": "cnn2snn_tfmot.quantization_layers",
    "QuantizedReLU": "cnn2snn_tfmot.quantization_layers",
    # the TFMOT way
    "ActivationQuantizer": "cnn2snn_tfmot.quantize_configs",
    "Conv2DQuantizeConfig": "cnn2snn_tfmot.quantize_configs",
    "DepthwiseConv2DQuantizeConfig": "cnn2snn_tfmot.quantize_configs",
    "SeparableConv2DQuantizeConfig": "cnn2snn_tfmot.quantize_configs",
    "DenseQuantizeConfig": "cnn2snn_tfmot.quantize_configs",
    "ReLUQuantizeConfig": "cnn2snn_tfmot.quantize_configs",
    "AkidaQuantizeScheme": "cnn2snn_tfmot.quantize_configs",
    "quantize_scope": "cnn2snn_tfmot.quantize_configs",
    # quantize, transforms, files
    "quantize": "cnn2snn_tfmot.quantization",
    "quantize_layer": "cnn2snn_tfmot.quantization",
    "create_trainable_quantizer_model": "cnn2snn_tfmot.quantization",
    "merge_separable_conv": "cnn2snn_tfmot.transforms",
    "load_quantized_model": "cnn2snn_tfmot.saving",
    "load_partial_weights": "cnn2snn_tfmot.saving",
    # training callbacks
    "GammaClipping": "cnn2snn_tfmot.callbacks",
    "ScaleFactorMonitor": "cnn2snn_tfmot.callbacks",
    "MinValueConstraint": "cnn2snn_tfmot.callbacks",
    "add_gamma_constraint": "cnn2snn_tfmot.callbacks",
    "AkidaRegisterWarning": "cnn2snn_tfmot.callbacks",
    # compatibility and conversion
    "check_model_compatibility": "cnn2snn_tfmot.compatibility",
    "AkidaChipWarning": "cnn2snn_tfmot.compatibility",
    "convert": "cnn2snn_tfmot.converter",
    "IncompatibleModelError": "cnn2snn_tfmot.rules",
    # the emulator
    "export": "cnn2snn_tfmot.engine.export",
    "export_saved_model": "cnn2snn_tfmot.engine.export",
    "load_saved_model": "cnn2snn_tfmot.engine.export",
    "EmulatorLoadError": "cnn2snn_tfmot.engine.export",
}

#: Public subpackages and modules, importable as attributes too.
_SUBMODULES = ("akida", "quantization_ops", "quantization_layers", "quantize_configs",
               "registry", "datasets", "zoo")

__all__ = sorted(_PUBLIC) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name):
    module_name = _PUBLIC.get(name)
    if module_name is not None:
        value = getattr(importlib.import_module(module_name), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'cnn2snn_tfmot' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


def _register_ops() -> None:
    """Loads the compiled Akida ops, so that emulator SavedModels exported with them reload in
    this process; a missing library is reported when an engine is first chosen, not here."""
    from cnn2snn_tfmot.engine import ops

    ops.is_available()


class _AfterTensorFlowImport:
    """A one-shot import hook: once TensorFlow is imported, register the compiled ops.

    Registering them at our own import would import TensorFlow, which the command line and
    light uses do not need; waiting for TensorFlow keeps ``import cnn2snn_tfmot`` followed by
    ``tf.saved_model.load(...)`` working as it always did.
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            _register_ops()

        spec.loader.exec_module = exec_then_register
        return spec


if "tensorflow" in sys.modules:
    # TensorFlow came first: route tensorflow.keras to tf_keras now (or warn that it is too
    # late), and register the ops.
    importlib.import_module("cnn2snn_tfmot.tfkeras")
    _register_ops()
elif not any(isinstance(finder, _AfterTensorFlowImport) for finder in sys.meta_path):
    sys.meta_path.insert(0, _AfterTensorFlowImport())
