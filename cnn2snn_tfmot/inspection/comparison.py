"""Keras-vs-Akida agreement: how often the converted model decides as the Keras model does.

The chip's floored thresholds and act_steps truncated to 1/16 make it fire at most one level
higher than the quantized Keras model at a given layer (docs/akida-v1.md section 5), so the two
models can disagree on a few inputs. :func:`compare` runs both on the same images in one
streamed pass and counts, overall and per class, the accuracy of each and how often their
decisions (argmax) agree.

Example:
    >>> from cnn2snn_tfmot.inspection.comparison import compare
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> result = compare(model_quantized, akida_model, images, labels, input_scaling=(255, 0),
    ...                  backend="tf")
    >>> result.samples, 0.0 <= result.agreement <= 1.0
    (32, True)
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

import numpy as np

from cnn2snn_tfmot.akida.inputs import batches
from cnn2snn_tfmot.chip.rules import check_input_scaling
from cnn2snn_tfmot.engine import resolve_backend
from cnn2snn_tfmot.keras3 import check_keras_model

__all__ = ["Comparison", "compare"]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What :func:`compare` counted.

    Arguments:
        samples: the number of images.
        agreement: the fraction of images on which both models' argmax are equal.
        keras_accuracy: the Keras model's accuracy (None without labels).
        akida_accuracy: the Akida model's accuracy (None without labels).
        classes: the class indices, sorted: the true labels when given, else the Keras
            model's decisions.
        per_class: ``{class: {"samples", "agreement", "keras_accuracy", "akida_accuracy"}}``
            (accuracies None without labels).

    Example:
        >>> from cnn2snn_tfmot.inspection.comparison import compare
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> result = compare(model_quantized, akida_model, images, labels,
        ...                  input_scaling=(255, 0), backend="tf")
        >>> sum(row["samples"] for row in result.per_class.values())
        32
    """
    samples: int
    agreement: float
    keras_accuracy: Optional[float]
    akida_accuracy: Optional[float]
    classes: List[int]
    per_class: Dict[int, dict]

    def to_dict(self) -> dict:
        """The figures as a dict of plain Python values.

        Returns:
            ``{"samples", "agreement", "keras_accuracy", "akida_accuracy", "classes",
            "per_class"}``.

        Example:
            >>> from cnn2snn_tfmot.inspection.comparison import compare
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> compare(model_quantized, akida_model, images, input_scaling=(255, 0),
            ...         backend="tf").to_dict()["keras_accuracy"] is None
            True
        """
        return dataclasses.asdict(self)


def _decisions(outputs) -> np.ndarray:
    outputs = np.asarray(outputs)
    return outputs.reshape(outputs.shape[0], -1).argmax(axis=1)


def compare(keras_model, akida_model, x, y: Optional[np.ndarray] = None, input_scaling=(1.0, 0),
            batch_size: int = 256, backend: Optional[str] = None, *,
            engine: Optional[str] = None) -> Comparison:
    """Runs the Keras and the Akida model on the same images and counts their agreement.

    The Keras model receives ``(images - shift) / scale`` as float32, the inverse of
    ``convert``'s ``input_akida = scale * input_keras + shift``; the Akida model the uint8
    images. Decisions are the argmax of the flattened outputs (ties: the first index).

    Arguments:
        keras_model: the quantized tf_keras model that was converted.
        akida_model: the converted :class:`cnn2snn_tfmot.akida.Model`.
        x: uint8 images as for ``Model.forward``: an array, a ``tf.data.Dataset`` of images or
            (images, labels), or an iterable of such batches.
        y: integer labels (N,) with an array ``x``; None when the labels come with ``x`` or
            there are none.
        input_scaling: the ``(scale, shift)`` given to ``convert``.
        batch_size: samples per step for arrays and unbatched datasets.
        backend: the emulator's back-end: None, "direct", "custom" or "tf".
        engine: the former name of ``backend``, still accepted.

    Returns:
        A :class:`Comparison`.

    Raises:
        ValueError: no samples, labels on some batches only, or a bad input scaling.

    Example:
        >>> from cnn2snn_tfmot.inspection.comparison import compare
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> result = compare(model_quantized, akida_model, images, labels,
        ...                  input_scaling=(255, 0), backend="tf")
        >>> result.akida_accuracy == akida_model.evaluate(images, labels, backend="tf")
        True
    """

    check_keras_model(keras_model, "keras_model")
    backend = resolve_backend(backend, engine)
    input_bits = akida_model.input_bits if akida_model.layers else None
    sparse = input_bits is not None
    scale, shift = check_input_scaling(input_scaling, sparse)
    keras_all, akida_all, labels_all = [], [], []
    with_labels = None
    for images, labels in batches(x, batch_size, akida_model.input_shape, input_bits, y):
        if images.shape[0] == 0:
            continue
        if with_labels is None:
            with_labels = labels is not None
        elif with_labels != (labels is not None):
            raise ValueError("some batches of x have labels and others do not.")
        keras_inputs = ((images.astype(np.float32) - np.float32(shift))
                        / np.float32(scale))
        keras_all.append(_decisions(keras_model.predict_on_batch(keras_inputs)))
        akida_all.append(_decisions(akida_model.predict(images, backend=backend)))
        if labels is not None:
            labels_all.append(np.asarray(labels).astype(np.int64))
    if not keras_all:
        raise ValueError("x has no samples: agreement is undefined.")
    keras_decisions, akida_decisions = np.concatenate(keras_all), np.concatenate(akida_all)
    labels = np.concatenate(labels_all) if with_labels else None
    same = keras_decisions == akida_decisions
    groups = labels if labels is not None else keras_decisions
    per_class = {}
    for cls in np.unique(groups):
        mask = groups == cls
        per_class[int(cls)] = {
            "samples": int(mask.sum()), "agreement": float(same[mask].mean()),
            "keras_accuracy": None if labels is None else
            float(np.mean(keras_decisions[mask] == cls)),
            "akida_accuracy": None if labels is None else
            float(np.mean(akida_decisions[mask] == cls))}
    return Comparison(
        samples=int(same.size), agreement=float(same.mean()),
        keras_accuracy=None if labels is None else float(np.mean(keras_decisions == labels)),
        akida_accuracy=None if labels is None else float(np.mean(akida_decisions == labels)),
        classes=sorted(per_class), per_class=per_class)
