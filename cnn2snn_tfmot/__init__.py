"""cnn2snn_tfmot: quantize Keras CNNs, convert them to Akida 1.0 models, emulate the chip.

Importing the package selects Keras 2 (tf_keras) for TensorFlow; see ``cnn2snn_tfmot._keras``.
"""
__version__ = "0.1.0"

from cnn2snn_tfmot import _keras  # noqa: F401  (first: sets TF_USE_LEGACY_KERAS)
