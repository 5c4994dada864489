"""Keras models rewritten through one chain of layer specs: ``quantize``, ``sanitize``,
``adapt``, ``merge_separable_conv``.

Every function here takes a single-branch Keras model and returns a new one (the user's model is
never changed): :mod:`~cnn2snn_tfmot.rewriting.quantizing` replaces float layers by quantized
ones after the model transforms of docs/akida-v1.md section 3
(:mod:`~cnn2snn_tfmot.rewriting.transforms`); :mod:`~cnn2snn_tfmot.rewriting.sanitizing` keeps
the function exactly; :mod:`~cnn2snn_tfmot.rewriting.adapting` changes the architecture toward
Akida and says so in its change records (:mod:`~cnn2snn_tfmot.rewriting.chain`).

Example:
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.rewriting import quantize
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
    ...                           keras.layers.ReLU(), keras.layers.Flatten(),
    ...                           keras.layers.Dense(2)])
    >>> [type(layer).__name__ for layer in quantize(model, 4, 4, 8).layers]
    ['QuantizedConv2D', 'ActivationDiscreteRelu', 'Flatten', 'QuantizedDense']
"""
from cnn2snn_tfmot.rewriting.adapting import adapt
from cnn2snn_tfmot.rewriting.chain import Change, Changes
from cnn2snn_tfmot.rewriting.learning import learned_steps
from cnn2snn_tfmot.rewriting.quantizing import (
    create_trainable_quantizer_model,
    quantize,
    quantize_layer,
)
from cnn2snn_tfmot.rewriting.sanitizing import sanitize
from cnn2snn_tfmot.rewriting.transforms import merge_separable_conv

__all__ = ["quantize", "quantize_layer", "create_trainable_quantizer_model", "learned_steps",
           "merge_separable_conv", "sanitize", "adapt", "Change", "Changes"]
