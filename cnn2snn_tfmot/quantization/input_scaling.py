"""The input scaling a model is meant for, remembered by the model itself.

Akida takes uint8 images; a Keras model usually takes them rescaled. The relation is
``x_akida = scale * x_keras + shift`` (docs/akida-v1.md section 4): ``(255, 0)`` for Keras inputs
``img / 255``. Giving the wrong pair to ``convert`` gives a model that runs and is wrong, so a
model can carry the pair it is meant for:

* :class:`InputScaling` is an identity layer, placed right after the input, that holds the pair
  in its config (so it survives ``.h5`` and SavedModel files). ``quantize(...,
  input_scaling=...)`` adds it; ``quantize()``, ``check_model_compatibility()`` and
  ``convert()`` keep or ignore it like any inference-time identity.
* :func:`input_scaling_of` reads it back, duck-typed: the ``akida_input_scaling`` attribute of
  the first layer that has one (other layers, e.g. hardware-exact ones, may expose it too; a
  TFMOT wrapper's QuantizeConfig may carry it).
* :func:`remember_input_scaling` makes an existing quantized model remember a pair on its first
  quantized neural layer, in that layer's config (``ScaleFactorMonitor`` does this when it is
  given a pair the model does not remember yet).
* :func:`resolve_input_scaling` is the one rule shared by ``convert``,
  ``check_model_compatibility``, ``ScaleFactorMonitor`` and the command line: an explicit pair
  must agree with the remembered one; no pair means the remembered one.

Example:
    >>> from cnn2snn_tfmot import quantize
    >>> from cnn2snn_tfmot.quantization.input_scaling import input_scaling_of
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    >>> input_scaling_of(remembering)
    (255.0, 0)
"""
from __future__ import annotations

import warnings
from typing import Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip.rules import check_input_scaling
from cnn2snn_tfmot.quantization.configs import NeuralQuantizeConfig
from cnn2snn_tfmot.quantization.layers import QuantizedLayerMixin
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["InputScaling", "InputScalingWarning", "input_scaling_of", "remember_input_scaling",
           "resolve_input_scaling", "scaling_for_conversion", "DEFAULT_INPUT_SCALING"]

#: BrainChip's cnn2snn default of ``convert``: the Keras model takes the uint8 values themselves.
DEFAULT_INPUT_SCALING = (1.0, 0)


class InputScalingWarning(UserWarning):
    """An image model is converted with cnn2snn's default input scaling ``(1.0, 0)`` because
    neither the call nor the model says which one it is meant for.

    Pass ``input_scaling`` explicitly (``(1, 0)`` included) to silence it.

    Example:
        >>> from cnn2snn_tfmot.quantization.input_scaling import InputScalingWarning
        >>> import warnings
        >>> warnings.simplefilter("error", InputScalingWarning)  # make it an exception
        >>> warnings.resetwarnings()
    """


@keras.utils.register_keras_serializable(package="cnn2snn_tfmot")
class InputScaling(keras.layers.Layer):
    """An identity layer that records the input scaling a model is meant for.

    ``x_akida = scale * x_keras + shift``: ``InputScaling(255, 0)`` says that the model takes
    ``img / 255`` when Akida takes the uint8 ``img``. The layer computes nothing; ``convert``
    and the command line read the pair from it (see :func:`input_scaling_of`), and it is saved
    with the model (``.h5``, SavedModel).

    Arguments:
        scale: the scale, a positive number.
        shift: the shift, an integer in 0..255 (0 for sparse inputs).
        **kwargs: the usual Keras layer arguments (``name``...).

    Example:
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.quantization.input_scaling import InputScaling
        >>> scaled = keras.Sequential([keras.Input((4,)), InputScaling(255, 0),
        ...                            keras.layers.Dense(2)])
        >>> scaled.layers[0].akida_input_scaling
        (255.0, 0)
    """

    def __init__(self, scale: float, shift: int = 0, **kwargs):
        kwargs.setdefault("name", "input_scaling")
        super().__init__(**kwargs)
        self.scale, self.shift = check_input_scaling((scale, shift), input_is_sparse=False)
        self.supports_masking = True

    @property
    def akida_input_scaling(self) -> Tuple[float, int]:
        """``(scale, shift)``."""
        return (self.scale, self.shift)

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "shift": self.shift}


def input_scaling_of(model) -> Optional[Tuple[float, int]]:
    """The input scaling a model remembers, or None.

    Duck-typed: the ``akida_input_scaling`` attribute, a ``(scale, shift)`` pair, of the first
    layer that has one that is not None (:class:`InputScaling`, or any other layer exposing it).

    Arguments:
        model: a tf_keras model.

    Returns:
        ``(scale, shift)`` as (float, int), or None when no layer remembers one.

    Example:
        >>> from cnn2snn_tfmot.quantization.input_scaling import input_scaling_of
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> input_scaling_of(model) is None
        True
    """
    for layer in getattr(model, "layers", ()):
        value = getattr(layer, "akida_input_scaling", None)
        if value is None:  # a TFMOT wrapper: its QuantizeConfig carries it
            value = getattr(getattr(layer, "quantize_config", None), "akida_input_scaling", None)
        if value is not None:
            scale, shift = value
            return (float(scale), int(shift))
    return None


def remember_input_scaling(model, input_scaling) -> str:
    """Makes a quantized model remember its input scaling, on its first neural layer.

    For a model that already exists (``ScaleFactorMonitor`` cannot add a layer to the model it
    watches): the first quantized neural layer (a ``Quantized*`` layer, or a TFMOT wrapper with
    an Akida QuantizeConfig) keeps the pair in its config, so that it is saved with the model.

    Arguments:
        model: a quantized tf_keras model that remembers no scaling yet.
        input_scaling: ``(scale, shift)``.

    Returns:
        The name of the layer that remembers it.

    Raises:
        ValueError: the model has no quantized neural layer.

    Example:
        >>> from cnn2snn_tfmot.quantization.input_scaling import (input_scaling_of,
        ...     remember_input_scaling)
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> remember_input_scaling(model_quantized, (255, 0))
        'conv_0'
        >>> input_scaling_of(model_quantized)
        (255.0, 0)
        >>> model_quantized.layers[0].akida_input_scaling = None  # as it was
    """
    scaling = check_input_scaling(input_scaling, input_is_sparse=False)
    for layer in model.layers:
        config = getattr(layer, "quantize_config", None)
        if isinstance(config, NeuralQuantizeConfig):
            config.akida_input_scaling = scaling
            return layer.layer.name  # the wrapped layer's, as the user named it
        if isinstance(layer, QuantizedLayerMixin):
            layer.akida_input_scaling = scaling
            return layer.name
    raise ValueError(f"Model '{model.name}' has no quantized neural layer to remember its input "
                     "scaling: quantize it first (quantize(..., input_scaling=...)).")


def resolve_input_scaling(model, input_scaling, input_is_sparse: bool = False,
                          ) -> Tuple[Optional[Tuple[float, int]], str]:
    """The input scaling to use for ``model``, and where it came from.

    An explicit pair is checked against the one the model remembers (they must be equal); no
    pair (None) means the remembered one.

    Arguments:
        model: a tf_keras model.
        input_scaling: ``(scale, shift)`` given by the user, or None.
        input_is_sparse: as for ``convert`` (sparse inputs need shift 0).

    Returns:
        ``(scaling, source)``: the validated pair, or None when neither is known; ``source``
        is "given", "remembered" or "none".

    Raises:
        ValueError: an invalid pair, or one that contradicts the remembered one (naming both).
        TypeError: ``input_is_sparse`` is not a bool.

    Example:
        >>> from cnn2snn_tfmot.quantization.input_scaling import resolve_input_scaling
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> resolve_input_scaling(model, (255, 0))
        ((255.0, 0), 'given')
    """
    if not isinstance(input_is_sparse, (bool, np.bool_)):
        raise TypeError(f"`input_is_sparse` must be True or False, got "
                        f"{type(input_is_sparse).__name__} {input_is_sparse!r:.40}.")
    remembered = input_scaling_of(model)
    if remembered is not None:
        remembered = check_input_scaling(remembered, input_is_sparse)
    if input_scaling is None:
        return (remembered, "remembered") if remembered is not None else (None, "none")
    given = check_input_scaling(input_scaling, input_is_sparse)
    if remembered is not None and given != remembered:
        raise ValueError(
            f"input_scaling={given} contradicts the input scaling model '{model.name}' "
            f"remembers, {remembered} (its InputScaling layer): a model is meant for one "
            "input scaling. Leave input_scaling out to use the remembered one, or quantize the "
            "float model again with the scaling you mean.")
    return given, "given"


def scaling_for_conversion(model, input_scaling, input_is_sparse: bool = False,
                           ) -> Tuple[float, int]:
    """The input scaling ``convert`` uses: given, else remembered, else BrainChip's cnn2snn default.

    The default ``(1.0, 0)`` (the Keras model takes the uint8 values themselves) comes with an
    :class:`InputScalingWarning` for image inputs: it is rarely what a model trained on
    ``img / 255`` needs, and the converted model would run and be wrong.

    Arguments:
        model: a tf_keras model.
        input_scaling: ``(scale, shift)`` or None.
        input_is_sparse: as for ``convert``.

    Returns:
        The validated ``(scale, shift)``.

    Raises:
        ValueError: as :func:`resolve_input_scaling`.

    Example:
        >>> from cnn2snn_tfmot.quantization.input_scaling import scaling_for_conversion
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> scaling_for_conversion(model, (255, 0))
        (255.0, 0)
    """
    scaling, _ = resolve_input_scaling(model, input_scaling, input_is_sparse)
    if scaling is not None:
        return scaling
    if not input_is_sparse:
        warnings.warn(
            f"convert: model '{model.name}' does not remember an input scaling and none was "
            f"given: using the default {DEFAULT_INPUT_SCALING}, i.e. the Keras model takes the "
            "uint8 values themselves. For a model trained on img / 255 pass "
            "input_scaling=(255, 0), or quantize(..., input_scaling=(255, 0)) so that the "
            "model remembers it.", InputScalingWarning, stacklevel=3)
    return check_input_scaling(DEFAULT_INPUT_SCALING, input_is_sparse)
