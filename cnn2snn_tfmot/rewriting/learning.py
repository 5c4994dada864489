"""A quantized model with learned step sizes (LSQ, LSQ+): :func:`learned_steps`.

It reads a seed-style quantized model (``quantize()``'s output, or ``Quantized*`` layers) into a
chain and replaces every weight quantizer by a
:class:`~cnn2snn_tfmot.quantization.learned.LearnedStepQuantizer` of the same bitwidth and
granularity, and every quantized activation by a
:class:`~cnn2snn_tfmot.quantization.learned.LearnedStepReLU` of the same bitwidth. TFMOT users
annotate with the learned quantizers directly (or ``AkidaQuantizeScheme(learned_steps="lsq")``).
"""
from __future__ import annotations

import numpy as np

from cnn2snn_tfmot.quantization import layer_table
from cnn2snn_tfmot.quantization.layers import (
    ActivationDiscreteRelu,
    QuantizedReLU,
    as_weight_quantizer,
)
from cnn2snn_tfmot.quantization.learned import (
    METHODS,
    LearnedStepQuantizer,
    LearnedStepReLU,
    initialize_steps,
)
from cnn2snn_tfmot.quantization.quantizers import discrete_relu_parameters
from cnn2snn_tfmot.rewriting.chain import Chain, LayerSpec
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["learned_steps"]


def _learned_neural(spec: LayerSpec, entry, method: str, gradient_scale: bool) -> LayerSpec:
    config, weights = dict(spec.config), {}
    kept = {kernel.attribute for kernel in entry.kernels} | {"bias"}
    for key, value in spec.weights.items():
        if key in kept:
            weights[key] = value
    for kernel in entry.kernels:
        old = as_weight_quantizer(config.get(kernel.quantizer), kernel.quantizer,
                                  f"layer '{spec.name}'")
        if old.bitwidth == 0:  # float weights stay float
            continue
        new = LearnedStepQuantizer(old.bitwidth, per_axis=old.per_axis, method=method,
                                   gradient_scale=gradient_scale)
        config[kernel.quantizer] = keras.utils.serialize_keras_object(new)
        weights[f"{kernel.attribute}_step"] = np.asarray(
            new.initial_step(weights[kernel.attribute]).numpy(), np.float32)
    return spec.replace(config=config, weights=weights)


def _learned_activation(spec: LayerSpec, method: str, gradient_scale: bool) -> LayerSpec:
    bitwidth, max_value = spec.config["bitwidth"], spec.config.get("max_value")
    if spec.cls is QuantizedReLU:  # what it learned: its step, and its threshold as offset
        step = float(spec.weights["step"])
        offset = float(spec.weights["threshold"]) - step / 2
    else:
        threshold, step = discrete_relu_parameters(bitwidth, max_value)
        offset = threshold - step / 2
    config = {"name": spec.name, "bitwidth": bitwidth, "method": method,
              "gradient_scale": gradient_scale}
    if max_value is not None:
        config["max_value"] = max_value
    weights = {"step": np.float32(abs(step))}
    if method == "lsq+":
        weights["offset"] = np.float32(offset)
    return LayerSpec(LearnedStepReLU, config, weights, spec.input_shape)


def learned_steps(model, x=None, method: str = "lsq", gradient_scale: bool = True):
    """A copy of a quantized model whose quantizers learn their steps (LSQ, or LSQ+).

    Every weight quantizer becomes a
    :class:`~cnn2snn_tfmot.quantization.learned.LearnedStepQuantizer` of the same bitwidth, per
    output channel where the quantizer was per channel (``quantize()``'s MaxPerAxisQuantizer)
    and per tensor elsewhere (depthwise kernels), its step initialised from the weights by the
    method's formula. Every ``ActivationDiscreteRelu`` and ``QuantizedReLU`` becomes a
    :class:`~cnn2snn_tfmot.quantization.learned.LearnedStepReLU` of the same bitwidth: with
    ``x``, its step starts from the data (LSQ: ``2 mean / sqrt(levels)``; LSQ+: the least
    squared error), layer after layer; without, at the activation's current step (and, with
    "lsq+", its threshold kept as the offset). Float layers and other activations are kept.
    Names and other weights are kept; the input model is not modified.

    Arguments:
        model: a single-branch seed-style quantized tf_keras model (e.g. from ``quantize()``).
        x: a batch of inputs to initialise the activation steps from (a few hundred examples),
            or None.
        method: "lsq" (default) or "lsq+" (MSE initialisation and learned offsets).
        gradient_scale: LSQ's gradient scale ``1 / sqrt(N * Qp)`` of the steps.

    Returns:
        A new model with learned-step quantizers.

    Raises:
        ValueError: a bad ``method``, or a model ``quantize()`` could not read.

    Example:
        >>> from cnn2snn_tfmot.rewriting.learning import learned_steps
        >>> from cnn2snn_tfmot import keras, quantize
        >>> float_model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu"),
        ...     keras.layers.Flatten(), keras.layers.Dense(2, name="dense")])
        >>> model = learned_steps(quantize(float_model, 2, 2, 8))
        >>> model.get_layer("conv").quantizer, type(model.get_layer("relu")).__name__
        (LearnedStepQuantizer(bitwidth=8, per_axis=True, method='lsq', gradient_scale=True), \
'LearnedStepReLU')
    """
    if method not in METHODS:
        raise ValueError(f"learned_steps: `method` must be one of "
                         f"{', '.join(map(repr, METHODS))}; got {method!r}.")
    chain = Chain(model, "learned_steps")
    table = layer_table.current()
    for index, spec in enumerate(chain.specs):
        entry = table.neural(spec.cls)
        if entry is not None and table.is_quantized(spec.cls):
            chain.specs[index] = _learned_neural(spec, entry, method, gradient_scale)
            chain.record(spec.name, f"learned {method} weight steps", "learned_steps was asked",
                         exact=False)
        elif spec.cls in (ActivationDiscreteRelu, QuantizedReLU):
            chain.specs[index] = _learned_activation(spec, method, gradient_scale)
            chain.record(spec.name, f"a LearnedStepReLU ({method})", "learned_steps was asked",
                         exact=False)
    result = chain.build()
    if x is not None:
        initialize_steps(result, x, weights=False)
    return result
