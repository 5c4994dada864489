"""Edge learning on a converted model: the feature extractor's spikes and a learning layer.

BrainChip's recipe for learning new classes on the AKD1000: a feature extractor whose last layer
fires 1-bit spikes (quantized to 1 bit and trained by QAT before converting), then a
FullyConnected layer with 1-bit weights, no activation and ``num_classes x neurons_per_class``
units, compiled with ``AkidaUnsupervised(num_weights, ...)`` where ``num_weights`` is about 1.2
times the median number of spikes the extractor fires. :func:`add_learning_layer` builds it;
:meth:`cnn2snn_tfmot.akida.Model.compile` / ``fit`` learn (the rule:
:mod:`cnn2snn_tfmot.chip.learning`).

(Ported from the issue-24-learning branch, where these functions were written.)

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import InputConvolutional, Model, add_learning_layer
    >>> extractor = Model()
    >>> extractor.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=1))
    >>> extractor.layers[0].set_variable("weights", np.ones((3, 3, 1, 4), np.int8))
    >>> learner = add_learning_layer(extractor, 2, 3, num_weights=20, seed=0)
    >>> learner.layers[-1].parameters.units, learner.learning.num_classes
    (6, 2)
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from cnn2snn_tfmot.akida.model import Model
from cnn2snn_tfmot.chip import params as P
from cnn2snn_tfmot.chip.layers import FullyConnected
from cnn2snn_tfmot.chip.learning import AkidaUnsupervised
from cnn2snn_tfmot.engine import resolve_backend

__all__ = ["add_learning_layer", "spike_counts", "SPIKE_MARGIN"]

#: BrainChip's recipe for ``num_weights``: about this times the median spike count of the
#: feature extractor (:func:`add_learning_layer`).
SPIKE_MARGIN = 1.2


def spike_counts(model: Model, x, batch_size: int = 256, backend: Optional[str] = None, *,
                 engine: Optional[str] = None) -> np.ndarray:
    """Non-zero outputs of ``model``'s last layer per sample (its spikes).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model` whose last layer fires.
        x, batch_size, backend: as for ``Model.forward``.
        engine: the former name of ``backend``, still accepted.

    Returns:
        int64 (samples,) counts.

    Example:
        >>> from cnn2snn_tfmot.akida.learning import spike_counts
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> extractor = akida_model.truncated(len(akida_model.layers) - 1)
        >>> spike_counts(extractor, images).shape
        (32,)
    """
    outputs = model.forward(x, batch_size=batch_size, backend=resolve_backend(backend, engine))
    return np.count_nonzero(outputs.reshape(outputs.shape[0], -1), axis=1).astype(np.int64)


def add_learning_layer(akida_model: Model, num_classes: int, neurons_per_class: int,
                       num_weights: Optional[int] = None, x=None, *,
                       replace_classifier: bool = False, name: str = "",
                       batch_size: int = 256, backend: Optional[str] = None,
                       engine: Optional[str] = None, **optimizer_args) -> Model:
    """A new Akida model: ``akida_model``'s feature extractor, then a FullyConnected layer of
    ``num_classes * neurons_per_class`` neurons with 1-bit weights, compiled for edge learning.

    This is BrainChip's recipe: the extractor's last layer fires 1-bit spikes (quantize its
    activation to 1 bit and train with QAT before converting), the learning layer has no
    activation (its potentials are the class scores) and, when ``num_weights`` is not given,
    about 1.2 times the median number of spikes the extractor fires on ``x``:
    ``round(1.2 * median)``, within 1..inputs. ``akida_model`` is not modified.

    Arguments:
        akida_model: a :class:`cnn2snn_tfmot.akida.Model` (e.g. from ``convert``).
        num_classes: classes to learn (>= 1).
        neurons_per_class: neurons per class (>= 1).
        num_weights: connections per neuron; None measures the spikes on ``x``.
        x: uint8 samples of the model's input (array, dataset or batches, as ``forward``
            takes), needed when ``num_weights`` is None.
        replace_classifier: drop ``akida_model``'s last layer when it has no activation (the
            classifier of a converted model); False refuses such a model.
        name: the learning layer's name ('' lets the model choose).
        batch_size, backend: for the spike measurement, as for ``forward``.
        engine: the former name of ``backend``, still accepted.
        **optimizer_args: the other :class:`~cnn2snn_tfmot.akida.AkidaUnsupervised` arguments
            (``learning_competition``, ``initial_plasticity``, ``min_plasticity``,
            ``plasticity_decay``, ``seed``).

    Returns:
        A compiled :class:`cnn2snn_tfmot.akida.Model`, ready for ``fit``.

    Raises:
        TypeError: ``akida_model`` is not one of our Akida models.
        ValueError: the extractor does not fire 1-bit spikes, a classifier is present without
            ``replace_classifier=True``, ``x`` is missing, or the spikes are too few.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida import InputConvolutional, Model, add_learning_layer
        >>> extractor = Model()
        >>> extractor.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=1))
        >>> extractor.layers[0].set_variable("weights", np.ones((3, 3, 1, 4), np.int8))
        >>> extractor.layers[0].set_variable("threshold", np.array([3, 4, 5, 6], np.int32))
        >>> spikes = np.random.default_rng(0).integers(0, 2, (20, 8, 8, 1)).astype(np.uint8)
        >>> learner = add_learning_layer(extractor, 3, 2, x=spikes, seed=0)
        >>> learner.layers[-1].parameters.units, learner.learning.num_weights  # 1.2 x 76.5
        (6, 92)
    """
    if not isinstance(akida_model, Model):
        raise TypeError(f"add_learning_layer expects a cnn2snn_tfmot.akida.Model, got "
                        f"{type(akida_model).__name__}.")
    num_classes = P.check_int(num_classes, "add_learning_layer: argument 'num_classes'", low=1)
    neurons_per_class = P.check_int(neurons_per_class,
                                    "add_learning_layer: argument 'neurons_per_class'", low=1)
    replace_classifier = P.check_bool(replace_classifier,
                                      "add_learning_layer: argument 'replace_classifier'")
    backend = resolve_backend(backend, engine)
    layers = akida_model.layers
    if not layers:
        raise ValueError("add_learning_layer: the model is empty.")
    last = layers[-1]
    if last.layer_type != "InputData" and not last.parameters.activation:
        if not replace_classifier:
            raise ValueError(f"add_learning_layer: the model's last layer '{last.name}' has no "
                             f"activation (a classifier); pass replace_classifier=True to "
                             f"replace it with the learning layer.")
        layers = layers[:-1]
        if not layers:
            raise ValueError("add_learning_layer: nothing is left before the classifier.")
    extractor_last = layers[-1]
    if extractor_last.output_bits != 1:
        raise ValueError(f"add_learning_layer: layer '{extractor_last.name}' outputs "
                         f"{extractor_last.output_bits}-bit values; the learning layer needs "
                         f"1-bit spikes: quantize that block's activation to 1 bit "
                         f"(quantize_layer(model, '<its ReLU>', 1)), retrain with QAT and "
                         f"convert again.")
    model = akida_model.truncated(len(layers))
    fan_in = math.prod(extractor_last.output_dims)
    if num_weights is None:
        if x is None:
            raise ValueError("add_learning_layer: give num_weights, or samples x to measure "
                             "the extractor's spikes (num_weights = 1.2 x their median count).")
        counts = spike_counts(model, x, batch_size=batch_size, backend=backend)
        if counts.size == 0:
            raise ValueError("add_learning_layer: x has no samples.")
        median = float(np.median(counts))
        if median <= 0:
            raise ValueError(f"add_learning_layer: layer '{extractor_last.name}' fires no "
                             f"spike on most samples of x (median 0): it cannot feed a "
                             f"learning layer; check the input scaling and the extractor.")
        # round() halves away from zero, as BrainChip's recipe computes it in C++.
        num_weights = min(max(int(math.floor(SPIKE_MARGIN * median + 0.5)), 1), fan_in)
    model.add(FullyConnected(num_classes * neurons_per_class, name=name, weights_bits=1,
                             activation=False))
    model.compile(AkidaUnsupervised(num_weights, num_classes, **optimizer_args))
    return model
