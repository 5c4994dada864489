"""Keras models rewritten through one chain of layer specs: ``quantize``, ``sanitize``,
``adapt``, ``merge_separable_conv``.

Every function here takes a single-branch Keras model and returns a new one (the user's model is
never changed). Each reads the model into a :class:`~cnn2snn_tfmot.rewriting.chain.Chain`
(layer specs with shapes, layer-table look-ups and change records), runs passes over it and
builds the result. The modules, in import order:

* :mod:`~cnn2snn_tfmot.rewriting.chain`: the chain, reading and building models, the records;
* :mod:`~cnn2snn_tfmot.rewriting.transforms`: the exact model transforms of docs/akida-v1.md
  section 3 (split fused activations, swap activation / pooling and pooling /
  BatchNormalization, fold BatchNormalization);
* :mod:`~cnn2snn_tfmot.rewriting.merging`: depthwise + pointwise pairs made separable
  convolutions (``merge_separable_conv``);
* :mod:`~cnn2snn_tfmot.rewriting.quantizing`: ``quantize`` (the transforms, then float layers
  replaced by quantized ones), ``quantize_layer``, ``create_trainable_quantizer_model``;
* :mod:`~cnn2snn_tfmot.rewriting.sanitizing`: ``sanitize``, rewrites that keep the function;
* :mod:`~cnn2snn_tfmot.rewriting.adapting`: ``adapt``, architecture changes toward Akida, each
  said in its change records.

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
from cnn2snn_tfmot.rewriting.merging import merge_separable_conv
from cnn2snn_tfmot.rewriting.quantizing import (
    create_trainable_quantizer_model,
    quantize,
    quantize_layer,
)
from cnn2snn_tfmot.rewriting.sanitizing import sanitize

__all__ = ["quantize", "quantize_layer", "create_trainable_quantizer_model", "learned_steps",
           "merge_separable_conv", "sanitize", "adapt", "Change", "Changes"]
