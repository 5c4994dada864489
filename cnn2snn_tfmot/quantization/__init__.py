"""What a quantized Keras model is made of: quantizers, quantized layers, TFMOT configs, the
input scaling a model is meant for, and the table of supported layer types.

* :mod:`~cnn2snn_tfmot.quantization.quantizers`: weight quantizers and the quantized-activation
  formula (BrainChip's cnn2snn ``quantization_ops``);
* :mod:`~cnn2snn_tfmot.quantization.layers`: the ``Quantized*`` layers and quantized activations
  (cnn2snn's ``quantization_layers``), each carrying its
  :mod:`~cnn2snn_tfmot.quantization.kernels` description as class data;
* :mod:`~cnn2snn_tfmot.quantization.learned`: learned step sizes (LSQ, LSQ+) for weights and
  activations, both kinds of model;
* :mod:`~cnn2snn_tfmot.quantization.configs` and :mod:`~cnn2snn_tfmot.quantization.scheme`: the
  TFMOT way to the same layers (``QuantizeConfig``\\ s, ``AkidaQuantizeScheme``,
  ``quantize_scope``);
* :mod:`~cnn2snn_tfmot.quantization.input_scaling`: ``InputScaling``, remembered by the model;
* :mod:`~cnn2snn_tfmot.quantization.layer_table`: the one table of supported layer types;
* :mod:`~cnn2snn_tfmot.quantization.saving`: loading quantized models, copying weights.

Example:
    >>> from cnn2snn_tfmot.quantization import MaxPerAxisQuantizer, QuantizedDense
    >>> QuantizedDense(10, quantizer=MaxPerAxisQuantizer(bitwidth=4)).quantizer
    MaxPerAxisQuantizer(bitwidth=4)
"""
from cnn2snn_tfmot.quantization import layer_table
from cnn2snn_tfmot.quantization.configs import (
    ActivationQuantizer,
    Conv2DQuantizeConfig,
    DenseQuantizeConfig,
    DepthwiseConv2DQuantizeConfig,
    NeuralQuantizeConfig,
    ReLUQuantizeConfig,
    SeparableConv2DQuantizeConfig,
)
from cnn2snn_tfmot.quantization.input_scaling import (
    InputScaling,
    InputScalingWarning,
    input_scaling_of,
)
from cnn2snn_tfmot.quantization.kernels import Kernel, KernelDescription
from cnn2snn_tfmot.quantization.layers import (
    ActivationDiscreteRelu,
    QuantizedActivation,
    QuantizedConv2D,
    QuantizedDense,
    QuantizedDepthwiseConv2D,
    QuantizedLayerMixin,
    QuantizedReLU,
    QuantizedSeparableConv2D,
)
from cnn2snn_tfmot.quantization.learned import (
    LearnedActivationQuantizer,
    LearnedStepQuantizer,
    LearnedStepReLU,
    initialize_steps,
)
from cnn2snn_tfmot.quantization.quantizers import (
    LinearWeightQuantizer,
    MaxPerAxisQuantizer,
    MaxQuantizer,
    StdWeightQuantizer,
    TrainableStdWeightQuantizer,
    TrainableWeightQuantizer,
    WeightFloat,
    WeightQuantizer,
    WeightQuantizerBase,
)
from cnn2snn_tfmot.quantization.saving import load_partial_weights, load_quantized_model
from cnn2snn_tfmot.quantization.scheme import (
    AkidaQuantizeLayoutTransform,
    AkidaQuantizeRegistry,
    AkidaQuantizeScheme,
    custom_objects,
    quantize_scope,
)

__all__ = [
    # weight quantizers
    "WeightQuantizerBase", "LinearWeightQuantizer", "MaxQuantizer", "MaxPerAxisQuantizer",
    "StdWeightQuantizer", "WeightQuantizer", "TrainableStdWeightQuantizer",
    "TrainableWeightQuantizer", "WeightFloat",
    # quantized layers and activations
    "QuantizedLayerMixin", "QuantizedConv2D", "QuantizedDepthwiseConv2D",
    "QuantizedSeparableConv2D", "QuantizedDense", "QuantizedActivation",
    "ActivationDiscreteRelu", "QuantizedReLU", "Kernel", "KernelDescription",
    # learned step sizes (LSQ, LSQ+)
    "LearnedStepQuantizer", "LearnedStepReLU", "LearnedActivationQuantizer", "initialize_steps",
    # the TFMOT way
    "ActivationQuantizer", "NeuralQuantizeConfig", "Conv2DQuantizeConfig",
    "DepthwiseConv2DQuantizeConfig", "SeparableConv2DQuantizeConfig", "DenseQuantizeConfig",
    "ReLUQuantizeConfig", "AkidaQuantizeRegistry", "AkidaQuantizeLayoutTransform",
    "AkidaQuantizeScheme", "quantize_scope", "custom_objects",
    # the input scaling a model is meant for
    "InputScaling", "InputScalingWarning", "input_scaling_of",
    # files
    "load_quantized_model", "load_partial_weights",
    # the table of supported layer types
    "layer_table",
]
