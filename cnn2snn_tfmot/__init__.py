"""cnn2snn_tfmot: quantize Keras CNNs, convert them to Akida 1.0 models, emulate the chip.

Importing the package selects Keras 2 (tf_keras) for TensorFlow (``TF_USE_LEGACY_KERAS=1``);
see ``cnn2snn_tfmot._keras``. Public names follow BrainChip's cnn2snn.

Example:
    >>> import cnn2snn_tfmot            # before tensorflow.keras, or set TF_USE_LEGACY_KERAS=1
    >>> from cnn2snn_tfmot import quantization_layers as qlayers, quantization_ops as qops
    >>> layer = qlayers.QuantizedDense(10, quantizer=qops.MaxPerAxisQuantizer(bitwidth=4))
"""
__version__ = "0.1.0"

from cnn2snn_tfmot import _keras  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS)
from cnn2snn_tfmot.callbacks import (AkidaRegisterWarning, GammaClipping, MinValueConstraint,
                                     ScaleFactorMonitor, add_gamma_constraint)
from cnn2snn_tfmot.compatibility import AkidaChipWarning, check_model_compatibility
from cnn2snn_tfmot.converter import IncompatibleModelError, convert
from cnn2snn_tfmot.engine import ops as _ops
from cnn2snn_tfmot.engine.export import (EmulatorLoadError, export, export_saved_model,
                                         load_saved_model)
from cnn2snn_tfmot.quantization_layers import (ActivationDiscreteRelu, QuantizedActivation,
                                               QuantizedConv2D, QuantizedDense,
                                               QuantizedDepthwiseConv2D, QuantizedReLU,
                                               QuantizedSeparableConv2D)
from cnn2snn_tfmot.quantization_ops import (LinearWeightQuantizer, MaxPerAxisQuantizer,
                                            MaxQuantizer, StdWeightQuantizer,
                                            TrainableStdWeightQuantizer,
                                            TrainableWeightQuantizer, WeightFloat,
                                            WeightQuantizer, WeightQuantizerBase)
from cnn2snn_tfmot.quantize_configs import (ActivationQuantizer, AkidaQuantizeScheme,
                                            Conv2DQuantizeConfig, DenseQuantizeConfig,
                                            DepthwiseConv2DQuantizeConfig, ReLUQuantizeConfig,
                                            SeparableConv2DQuantizeConfig, quantize_scope)
from cnn2snn_tfmot.quantize import create_trainable_quantizer_model, quantize, quantize_layer
from cnn2snn_tfmot.saving import load_partial_weights, load_quantized_model
from cnn2snn_tfmot.transforms import merge_separable_conv

# Registers the compiled Akida ops (when built), so that emulator SavedModels exported with
# them reload in any process that imports the package. A missing library is reported when an
# engine is first chosen, not here.
_ops.is_available()
