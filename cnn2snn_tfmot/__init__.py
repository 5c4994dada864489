"""cnn2snn_tfmot: quantize Keras CNNs, convert them to Akida 1.0 models, emulate the chip.

Importing the package makes ``tensorflow.keras`` mean Keras 2 (tf_keras), as TensorFlow Model
Optimization needs (see :mod:`cnn2snn_tfmot.tfkeras`); ``cnn2snn_tfmot.keras`` and
``cnn2snn_tfmot.tf`` are the modules the package uses. It also registers the compiled Akida ops
(so that emulator SavedModels reload) and the package's Keras objects (so that
``keras.models.load_model`` reloads quantized models). Public names follow BrainChip's cnn2snn;
``__all__`` lists them.

Example:
    >>> import cnn2snn_tfmot            # before tensorflow.keras, or set TF_USE_LEGACY_KERAS=1
    >>> from cnn2snn_tfmot import QuantizedDense, MaxPerAxisQuantizer
    >>> QuantizedDense(10, quantizer=MaxPerAxisQuantizer(bitwidth=4)).quantizer
    MaxPerAxisQuantizer(bitwidth=4)
"""

# First: sets TF_USE_LEGACY_KERAS before TensorFlow is imported.
from cnn2snn_tfmot.tfkeras import keras, tf  # noqa: I001
from cnn2snn_tfmot.version import __version__

# The stages, bottom to top (the import-linter contract in setup.cfg keeps this order).
from cnn2snn_tfmot.keras3 import Keras3IntakeError, from_keras3
from cnn2snn_tfmot.chip import IncompatibleModelError
from cnn2snn_tfmot.engine.ops import is_available as _ops_available
from cnn2snn_tfmot import akida
from cnn2snn_tfmot.akida import AkidaMappingError, AkidaUnsupervised, add_learning_layer
from cnn2snn_tfmot import quantization
from cnn2snn_tfmot.quantization import (
    ActivationDiscreteRelu, ActivationQuantizer, AkidaQuantizeScheme, Conv2DQuantizeConfig,
    DenseQuantizeConfig, DepthwiseConv2DQuantizeConfig, InputScaling, InputScalingWarning,
    LearnedActivationQuantizer, LearnedStepQuantizer, LearnedStepReLU, initialize_steps,
    LinearWeightQuantizer, MaxPerAxisQuantizer, MaxQuantizer, QuantizedActivation,
    QuantizedConv2D, QuantizedDense, QuantizedDepthwiseConv2D, QuantizedReLU,
    QuantizedSeparableConv2D, ReLUQuantizeConfig, SeparableConv2DQuantizeConfig,
    StdWeightQuantizer, TrainableStdWeightQuantizer, TrainableWeightQuantizer, WeightFloat,
    WeightQuantizer, WeightQuantizerBase, input_scaling_of, layer_table, load_partial_weights,
    load_quantized_model, quantize_scope)
from cnn2snn_tfmot import quantization_layers, quantization_ops
from cnn2snn_tfmot.rewriting import (
    Change, Changes, adapt, create_trainable_quantizer_model, learned_steps, merge_separable_conv,
    quantize, quantize_layer, sanitize)
from cnn2snn_tfmot.conversion import (
    AkidaChipWarning, EmulatorLoadError, check_model_compatibility, convert, export,
    export_saved_model, load_saved_model)
from cnn2snn_tfmot import distributed
from cnn2snn_tfmot.distributed import ChiefOnly, evaluate_sharded, is_chief, synchronize_batchnorm
from cnn2snn_tfmot.training import (
    AkidaRegisterWarning, AkidaTensorBoard, BitwidthSchedule, BitwidthStage, Distiller,
    GammaClipping, MinValueConstraint, ScaleFactorMonitor, add_gamma_constraint, distill,
    hardware_exact)
from cnn2snn_tfmot.data import datasets, zoo
from cnn2snn_tfmot.inspection import plots, report

# Module names of earlier versions, kept: the layer table was ``registry``, the TFMOT configs
# and scheme were ``quantize_configs`` (now the quantization stage, which holds both).
registry = layer_table
quantize_configs = quantization

__all__ = [
    # the Keras and TensorFlow the package uses
    "keras", "tf",
    # quantizers and quantized layers (BrainChip's cnn2snn quantization_ops / quantization_layers)
    "WeightQuantizerBase", "LinearWeightQuantizer", "MaxQuantizer", "MaxPerAxisQuantizer",
    "StdWeightQuantizer", "WeightQuantizer", "TrainableStdWeightQuantizer",
    "TrainableWeightQuantizer", "WeightFloat", "QuantizedConv2D", "QuantizedDepthwiseConv2D",
    "QuantizedSeparableConv2D", "QuantizedDense", "QuantizedActivation",
    "ActivationDiscreteRelu", "QuantizedReLU",
    # the TFMOT way
    "ActivationQuantizer", "Conv2DQuantizeConfig", "DepthwiseConv2DQuantizeConfig",
    "SeparableConv2DQuantizeConfig", "DenseQuantizeConfig", "ReLUQuantizeConfig",
    "AkidaQuantizeScheme", "quantize_scope",
    # quantize, transforms, files
    "quantize", "quantize_layer", "create_trainable_quantizer_model", "merge_separable_conv",
    "load_quantized_model", "load_partial_weights",
    # bring your own model: Keras 3 intake, exact rewrites, architecture changes
    "from_keras3", "Keras3IntakeError", "sanitize", "adapt", "Change", "Changes",
    # the input scaling a model is meant for
    "InputScaling", "input_scaling_of", "InputScalingWarning",
    # training callbacks
    "GammaClipping", "ScaleFactorMonitor", "MinValueConstraint", "add_gamma_constraint",
    "AkidaRegisterWarning", "AkidaTensorBoard",
    # compatibility and conversion
    "check_model_compatibility", "AkidaChipWarning", "convert", "IncompatibleModelError",
    # running on the chip: akida_model.map("AKD1000", hw_only=True) raises AkidaMappingError
    "AkidaMappingError",
    # training what the chip computes
    "hardware_exact",
    # low bitwidths: learned step sizes (LSQ, LSQ+), bitwidth schedules, distillation
    "LearnedStepQuantizer", "LearnedStepReLU", "LearnedActivationQuantizer", "learned_steps",
    "initialize_steps", "BitwidthSchedule", "BitwidthStage", "distill", "Distiller",
    # scaling out (tf.distribute)
    "synchronize_batchnorm", "ChiefOnly", "is_chief", "evaluate_sharded",
    # the emulator
    "export", "export_saved_model", "load_saved_model", "EmulatorLoadError",
    # seeing inside: the HTML report (statistics: akida.Model.statistics; figures: plots)
    "report",
    # edge learning of the last layer (akida.Model.compile / fit)
    "AkidaUnsupervised", "add_learning_layer",
    # public modules
    "akida", "quantization_ops", "quantization_layers", "quantize_configs", "registry",
    "datasets", "zoo", "plots", "distributed",
    "__version__",
]

# Registers the compiled Akida ops (when built), so that emulator SavedModels exported with
# them reload in any process that imports the package. A missing library is reported when an
# engine is first chosen, not here.
_ops_available()
del _ops_available
