"""Figures of quantization and of the Akida model, with matplotlib (the ``plot`` extra:
``pip install 'cnn2snn_tfmot[plot]'``).

Every function returns a ``matplotlib.figure.Figure`` built without pyplot (no global state, no
window): show it in a notebook, or ``fig.savefig("name.png")``. matplotlib is imported when a
function is called, not with this module.

* :func:`weight_histograms`: per-layer histograms of the integer weights (Akida model, or the
  integers ``convert`` would produce from a quantized Keras model);
* :func:`discretized_weights`: float weights next to their discretized values (the figure of
  BrainChip's cnn2snn tutorial);
* :func:`transfer_curves`: float input -> quantized output of each quantized activation, with
  the clipped linear function its gradient follows (BrainChip's cnn2snn tutorial figure);
* :func:`activation_histograms` and :func:`layer_activity`: output levels, events and
  sparsity per layer (from :meth:`cnn2snn_tfmot.akida.Model.statistics`);
* :func:`margins`: the register margins logged during training (CSV, TensorBoard, History);
* :func:`agreement`: per class, the Keras and Akida accuracies and their agreement.

Example:
    >>> from cnn2snn_tfmot.inspection.plots import weight_histograms
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> fig = weight_histograms(akida_model)
    >>> [axes.get_title() for axes in fig.axes]
    ['conv_0 (8-bit)', 'separable_1 depthwise (4-bit)', 'separable_1 pointwise (4-bit)', \
'dense (4-bit)']
    >>> fig.savefig("weights.png")
"""
from __future__ import annotations

import csv
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.akida.statistics import Statistics
from cnn2snn_tfmot.chip.limits import weight_range
from cnn2snn_tfmot.conversion.blocks import (
    ActivationItem,
    NeuralItem,
    analyze,
    read_layer,
    weights_bits,
)
from cnn2snn_tfmot.conversion.registers import block_registers
from cnn2snn_tfmot.engine import GRAPH_BACKENDS, resolve_backend
from cnn2snn_tfmot.inspection.comparison import compare
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.layers import expand_networks
from cnn2snn_tfmot.quantization.quantizers import quantized_activation
from cnn2snn_tfmot.tfkeras import keras, tf
from cnn2snn_tfmot.training.tensorboard import read_scalars

__all__ = ["weight_histograms", "discretized_weights", "transfer_curves",
           "activation_histograms", "layer_activity", "margins", "read_margins", "agreement",
           "comparison_figure"]

MARGIN_PREFIX = "akida_margin/"


def require_matplotlib():
    """matplotlib's Figure class, or an ImportError that names the extra to install."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:
        raise ImportError("cnn2snn_tfmot.inspection.plots needs matplotlib: pip install "
                          "'cnn2snn_tfmot[plot]' (or pip install matplotlib).") from err
    return Figure


def _figure(panels: int, columns: int = 3, size: Tuple[float, float] = (3.6, 2.8)):
    """A constrained-layout Figure with ``panels`` axes on a grid (extra cells removed)."""
    Figure = require_matplotlib()
    panels = max(int(panels), 1)
    columns = max(1, min(int(columns), panels))
    rows = math.ceil(panels / columns)
    fig = Figure(figsize=(size[0] * columns, size[1] * rows), layout="constrained")
    axes = [fig.add_subplot(rows, columns, index + 1) for index in range(panels)]
    return fig, axes


def _integer_ticks(ax) -> None:
    """Ticks on integers only (levels, integer weights, epochs)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _selected(names: Sequence[str], layers: Optional[Sequence[str]], what: str) -> List[str]:
    if layers is None:
        return list(names)
    if isinstance(layers, str):
        layers = [layers]
    unknown = [name for name in layers if name not in names]
    if unknown:
        raise ValueError(f"{what} has no layer named {', '.join(map(repr, unknown))}; its "
                         f"layers are: {', '.join(map(repr, names)) or 'none'}.")
    return [name for name in names if name in layers]


def _is_akida(model) -> bool:

    return isinstance(model, Model)


# -- weights --------------------------------------------------------------------------------
def _akida_weights(model) -> List[Tuple[str, np.ndarray, int]]:
    panels = []
    for layer in model.layers:
        if layer.layer_type == "InputData":
            continue
        bits = layer.parameters.weights_bits
        if layer.layer_type == "SeparableConvolutional":
            panels.append((f"{layer.name} depthwise", layer.get_variable("weights"), bits))
            panels.append((f"{layer.name} pointwise", layer.get_variable("weights_pw"), bits))
        else:
            panels.append((layer.name, layer.get_variable("weights"), bits))
    return panels


def _keras_weights(model, input_is_sparse: bool) -> List[Tuple[str, np.ndarray, int]]:

    panels = []
    for index, block in enumerate(analyze(model, input_is_sparse).blocks):
        # The integer weights do not depend on the input scaling (only the registers do).
        registers = block_registers(block, (1.0, 0), index, input_is_sparse)
        bits = weights_bits(block)
        if registers.weights_pw is None:
            panels.append((block.name, registers.weights, bits))
        else:
            panels.append((f"{block.name} depthwise", registers.weights, bits))
            panels.append((f"{block.name} pointwise", registers.weights_pw, bits))
    return panels


def weight_histograms(model, layers: Optional[Sequence[str]] = None, columns: int = 3,
                      input_is_sparse: bool = False):
    """Histograms of the integer weights, one panel per kernel (two for a separable layer).

    Arguments:
        model: an Akida model (:class:`cnn2snn_tfmot.akida.Model`), or a quantized tf_keras
            model: its integer weights are computed with the converter's own code.
        layers: names of the layers to draw (default: all neural layers).
        columns: panels per row.
        input_is_sparse: for a Keras model, as for ``convert`` (the first layer's kind).

    Returns:
        A ``matplotlib.figure.Figure``; each panel has one bar per integer value of the layer's
        weight range, titled ``"<layer> (<bits>-bit)"``.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import weight_histograms
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> fig = weight_histograms(model_quantized, layers=["dense"])
        >>> len(fig.axes[0].patches)                # one bar per integer in [-7, 7]
        15
    """

    if _is_akida(model):
        panels = _akida_weights(model)
    else:

        panels = _keras_weights(check_keras_model(model), input_is_sparse)
    names = list(dict.fromkeys(name.split(" ")[0] for name, _, _ in panels))
    chosen = _selected(names, layers, "the model")
    panels = [panel for panel in panels if panel[0].split(" ")[0] in chosen]
    fig, axes = _figure(len(panels), columns)
    for ax, (name, weights, bits) in zip(axes, panels):
        low, high = weight_range(bits)
        low, high = min(low, int(weights.min())), max(high, int(weights.max()))
        values = np.arange(low, high + 1)
        counts = np.bincount(weights.astype(np.int64).ravel() - low, minlength=values.size)
        ax.bar(values, counts, width=0.8, color="tab:blue")
        _integer_ticks(ax)
        ax.set_title(f"{name} ({bits}-bit)")
        ax.set_xlabel("integer weight")
        ax.set_ylabel("count")
    return fig


def discretized_weights(weights, quantizer=None, bins: int = 50):
    """cnn2snn's tutorial figure: the float weights' distribution next to the distribution of
    their discretized values ``quantizer.quantize(weights)``.

    Arguments:
        weights: a float array of weights, or a quantized Keras layer (``Quantized*`` or a
            TFMOT-wrapped layer): its kernel(s) and quantizer(s) are used, one row per kernel.
        quantizer: the weight quantizer (e.g. ``MaxPerAxisQuantizer(4)``), when ``weights`` is
            an array.
        bins: the number of bins of the float histogram.

    Returns:
        A ``matplotlib.figure.Figure`` with two panels per kernel: "Original weights
        distribution" (histogram) and "Discretized weights distribution" (one bar per
        discretized value).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.inspection.plots import discretized_weights
        >>> from cnn2snn_tfmot import MaxQuantizer
        >>> w = np.random.default_rng(0).normal(0, 0.05, (64, 10)).astype(np.float32)
        >>> fig = discretized_weights(w, MaxQuantizer(bitwidth=4))
        >>> [axes.get_title() for axes in fig.axes]
        ['Original weights distribution', 'Discretized weights distribution']
        >>> len(fig.axes[1].patches) <= 15                      # at most 2 * 7 + 1 values
        True
    """

    if isinstance(weights, keras.layers.Layer):

        item = read_layer(weights)
        if not isinstance(item, NeuralItem):
            raise ValueError(f"layer '{weights.name}' ({type(weights).__name__}) is not a "
                             f"quantized neural layer: give a Quantized* or TFMOT-quantized "
                             f"Conv2D / SeparableConv2D / DepthwiseConv2D / Dense layer, or "
                             f"an array and its quantizer.")
        rows = [(f"{weights.name} {role}", item.kernels[role], item.quantizers[role])
                for role in item.kernels]
    else:
        if quantizer is None:
            raise ValueError("discretized_weights needs the weight quantizer when `weights` "
                             "is an array, e.g. discretized_weights(w, MaxQuantizer(4)).")
        rows = [("", np.asarray(weights, np.float32), quantizer)]
    fig, axes = _figure(2 * len(rows), columns=2, size=(4.2, 2.8))
    for index, (name, kernel, row_quantizer) in enumerate(rows):
        discretized = row_quantizer.quantize(tf.constant(kernel)).numpy()
        original, quantized = axes[2 * index], axes[2 * index + 1]
        original.hist(kernel.ravel(), bins=bins, color="tab:blue")
        values, counts = np.unique(discretized, return_counts=True)
        spread = float(np.ptp(kernel)) or 1.0
        quantized.bar(values, counts, width=spread / 100, color="tab:orange")
        xlim = (min(kernel.min(), values.min()), max(kernel.max(), values.max()))
        pad = 0.05 * ((xlim[1] - xlim[0]) or 1.0)
        for ax, title in ((original, "Original weights distribution"),
                          (quantized, "Discretized weights distribution")):
            ax.set_xlim(xlim[0] - pad, xlim[1] + pad)
            ax.set_title(f"{name}\n{title}" if name else title)
            ax.set_xlabel("weight")
    return fig


# -- activations ----------------------------------------------------------------------------
def activation_items(model) -> list:
    """The quantized activations of a quantized Keras model (those :func:`transfer_curves`
    draws), as the block reader reads them; empty for a model without any."""

    layers = [model] if not isinstance(model, keras.Model) else model.layers
    layers = expand_networks(layers)
    items = []
    for layer in layers:
        item = read_layer(layer, io=((), ()))  # shapes are not needed for activations
        if isinstance(item, ActivationItem):
            items.append(item)
    return items


def transfer_curves(model, layers: Optional[Sequence[str]] = None, columns: int = 3,
                    points: int = 2000):
    """The transfer curve of each quantized activation: float input -> quantized output, with
    the clipped linear function that its straight-through gradient follows (dashed).

    Arguments:
        model: a quantized tf_keras model (``ActivationDiscreteRelu`` / ``QuantizedReLU``
            layers or TFMOT-quantized ReLUs), or one quantized activation layer.
        layers: names of the activation layers to draw (default: all).
        columns: panels per row.
        points: samples of the input axis.

    Returns:
        A ``matplotlib.figure.Figure``, one panel per activation, each with two lines:
        "quantized" (the staircase, computed by the package's own quantized activation) and
        "clipped linear".

    Raises:
        ValueError: the model has no quantized activation.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import transfer_curves
        >>> from cnn2snn_tfmot import ActivationDiscreteRelu
        >>> fig = transfer_curves(ActivationDiscreteRelu(bitwidth=4, name="relu"))
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['quantized', 'clipped linear']
        >>> float(fig.axes[0].get_lines()[0].get_ydata().max())          # 15 steps of 0.4
        6.0...
    """

    items = activation_items(model)
    if not items:
        raise ValueError(f"{getattr(model, 'name', model)!r} has no quantized activation "
                         f"(ActivationDiscreteRelu, QuantizedReLU or a TFMOT-quantized ReLU).")
    chosen = _selected([item.name for item in items], layers, "the model's activations")
    items = [item for item in items if item.name in chosen]
    fig, axes = _figure(len(items), columns)
    for ax, item in zip(axes, items):
        levels = 2 ** item.bitwidth - 1
        top = item.threshold + levels * item.step_width
        x = np.linspace(item.threshold - 2 * item.step_width, top + 2 * item.step_width,
                        points).astype(np.float32)
        y = quantized_activation(x, item.threshold, item.step_height, item.step_width,
                                 levels).numpy()
        linear = np.clip((x - item.threshold) / item.step_width, 0, levels) * item.step_height
        ax.plot(x, y, label="quantized", color="tab:orange")
        ax.plot(x, linear, "--", label="clipped linear", color="tab:blue")
        ax.set_title(f"{item.name} ({item.bitwidth}-bit, step {item.step_height:.3g})")
        ax.set_xlabel("input potential")
        ax.set_ylabel("activation")
        ax.legend(loc="upper left", fontsize="small")
    return fig


def _statistics(model_or_statistics, x, batch_size: int, backend: Optional[str]):

    if isinstance(model_or_statistics, Statistics):
        return model_or_statistics
    if _is_akida(model_or_statistics):
        if x is None:
            raise ValueError("give the images `x` with an Akida model (or pass the result of "
                             "model.statistics(x)).")
        return model_or_statistics.statistics(x, batch_size=batch_size, backend=backend)
    raise TypeError(f"expected an Akida model with images, or the Statistics of "
                    f"model.statistics(x); got {type(model_or_statistics).__name__}.")


def activation_histograms(model_or_statistics, x=None, layers: Optional[Sequence[str]] = None,
                          columns: int = 3, batch_size: int = 256,
                          backend: Optional[str] = None, *, engine: Optional[str] = None):
    """Histograms of the output levels of each layer with an activation (InputData: of the
    input values), on a log scale, with the layer's sparsity.

    Arguments:
        model_or_statistics: an Akida model (then ``x`` is required), or the
            :class:`cnn2snn_tfmot.akida.Statistics` of ``model.statistics(x)``.
        x: uint8 images as for ``Model.forward``, with an Akida model.
        layers: names of the layers to draw (default: every layer with levels).
        columns: panels per row.
        batch_size: samples per step when computing the statistics.
        backend: the emulator's graph back-end when computing the statistics.
        engine: the former name of ``backend``, still accepted.

    Returns:
        A ``matplotlib.figure.Figure``, one panel per layer, one bar per level
        ``0 .. 2**bits - 1``.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import activation_histograms
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> fig = activation_histograms(akida_model, images, backend="tf")
        >>> [len(axes.patches) for axes in fig.axes]             # 4-bit levels
        [16, 16]
    """
    stats = _statistics(model_or_statistics, x, batch_size,
                        resolve_backend(backend, engine, GRAPH_BACKENDS))
    rows = [layer for layer in stats if layer.level_counts is not None]
    chosen = _selected([layer.name for layer in rows], layers, "the statistics' layers with "
                       "levels")
    rows = [layer for layer in rows if layer.name in chosen]
    fig, axes = _figure(len(rows), columns)
    for ax, layer in zip(axes, rows):
        counts = np.asarray(layer.level_counts)
        ax.bar(np.arange(counts.size), counts, width=0.8, color="tab:green")
        ax.set_yscale("symlog", linthresh=1)
        _integer_ticks(ax)
        ax.set_title(f"{layer.name} ({layer.output_bits}-bit, "
                     f"{100 * layer.sparsity:.1f}% zeros)")
        ax.set_xlabel("output level")
        ax.set_ylabel("count")
    return fig


def layer_activity(model_or_statistics, x=None, batch_size: int = 256,
                   backend: Optional[str] = None, *, engine: Optional[str] = None):
    """Two panels over the layers: output events per image, and the fraction of non-zero
    outputs: where the chip's work (power, latency) goes.

    Arguments:
        model_or_statistics: an Akida model (then ``x`` is required), or the
            :class:`cnn2snn_tfmot.akida.Statistics` of ``model.statistics(x)``.
        x: uint8 images as for ``Model.forward``, with an Akida model.
        batch_size: samples per step when computing the statistics.
        backend: the emulator's graph back-end when computing the statistics.
        engine: the former name of ``backend``, still accepted.

    Returns:
        A ``matplotlib.figure.Figure`` with two bar charts, one bar per layer.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import layer_activity
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> stats = akida_model.statistics(images, backend="tf")
        >>> fig = layer_activity(stats)
        >>> [bar.get_height() for bar in fig.axes[0].patches] == [
        ...     layer.events_per_image for layer in stats]
        True
    """
    stats = _statistics(model_or_statistics, x, batch_size,
                        resolve_backend(backend, engine, GRAPH_BACKENDS))
    names = [layer.name for layer in stats]
    fig, (events, nonzero) = _figure(2, columns=2, size=(max(3.6, 0.9 * len(names)), 3.2))
    positions = np.arange(len(names))
    events.bar(positions, [layer.events_per_image for layer in stats], color="tab:purple")
    events.set_title("output events per image")
    nonzero.bar(positions, [100 * layer.nonzero_fraction for layer in stats], color="tab:gray")
    nonzero.set_title("non-zero outputs (%)")
    nonzero.set_ylim(0, 100)
    for ax in (events, nonzero):
        ax.set_xticks(positions, names, rotation=30, ha="right")
    return fig


# -- training -------------------------------------------------------------------------------
def _margins_from_csv(path: str) -> Dict[str, Tuple[list, list]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = [name for name in (rows[0] if rows else {}) if name.startswith(MARGIN_PREFIX)]
    found = {}
    for column in columns:
        steps, values = [], []
        for index, row in enumerate(rows):
            if row.get(column) not in (None, ""):
                steps.append(int(float(row["epoch"])) if row.get("epoch") else index)
                values.append(float(row[column]))
        found[column[len(MARGIN_PREFIX):]] = (steps, values)
    return found


def read_margins(log) -> Dict[str, Tuple[List[int], List[float]]]:
    """The register margins logged during training, by layer.

    Arguments:
        log: where they were logged: a CSV file of ``keras.callbacks.CSVLogger`` (placed
            after :class:`cnn2snn_tfmot.ScaleFactorMonitor`), a TensorBoard log directory
            (of :class:`cnn2snn_tfmot.AkidaTensorBoard`, or of Keras's ``TensorBoard`` after the
            monitor), a Keras ``History`` or its ``history`` dict.

    Returns:
        ``{layer: (steps, margins in bits)}``; steps are epochs (or TensorBoard steps).

    Raises:
        FileNotFoundError: the file or directory does not exist.
        ValueError: no ``akida_margin/<layer>`` values are found (the message says how to
            log them).

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import read_margins
        >>> read_margins({"loss": [1.0, 0.5], "akida_margin/conv_0": [6.5, 6.25]})
        {'conv_0': ([0, 1], [6.5, 6.25])}
    """

    if isinstance(log, keras.callbacks.History):
        log = log.history
    if isinstance(log, dict):
        found = {key[len(MARGIN_PREFIX):]: (list(range(len(values))), [float(v) for v in values])
                 for key, values in log.items() if key.startswith(MARGIN_PREFIX)}
        where = "the History"
    else:
        path = os.fspath(log)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no training log at {path!r} (expected a CSVLogger file or "
                                    f"a TensorBoard log directory).")
        if os.path.isdir(path):

            scalars = read_scalars(path, prefix=MARGIN_PREFIX)
            found = {tag[len(MARGIN_PREFIX):]: ([s for s, _ in values], [v for _, v in values])
                     for tag, values in scalars.items()}
        else:
            found = _margins_from_csv(path)
        where = repr(path)
    if not found:
        raise ValueError(f"no akida_margin/<layer> values in {where}: log them with "
                         f"ScaleFactorMonitor placed before CSVLogger / TensorBoard in the "
                         f"callbacks, or with AkidaTensorBoard.")
    return found


def margins(log, layers: Optional[Sequence[str]] = None):
    """The register margin of each layer over training, in bits: the headroom that
    :class:`cnn2snn_tfmot.ScaleFactorMonitor` computes; below 0 the layer would not fit.

    Arguments:
        log: a CSVLogger file, a TensorBoard log directory, a Keras ``History`` or its dict
            (see :func:`read_margins`).
        layers: names of the layers to draw (default: all).

    Returns:
        A ``matplotlib.figure.Figure`` with one line per layer and a dashed line at 0.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import margins
        >>> fig = margins({"akida_margin/conv_0": [6.5, 6.2], "akida_margin/dense": [3.0, 2.5]})
        >>> [line.get_label() for line in fig.axes[0].get_lines()]
        ['conv_0', 'dense', 'limit']
    """
    found = read_margins(log)
    chosen = _selected(list(found), layers, "the training log")
    fig, (ax,) = _figure(1, size=(6.4, 3.6))
    for name in chosen:
        steps, values = found[name]
        ax.plot(steps, values, marker="o", markersize=3, label=name)
    ax.axhline(0.0, color="tab:red", linestyle="--", label="limit")
    _integer_ticks(ax)
    ax.set_xlabel("epoch (or step)")
    ax.set_ylabel("register margin (bits)")
    ax.set_title("Akida register margins during training")
    ax.legend(fontsize="small")
    return fig


# -- Keras vs Akida -------------------------------------------------------------------------
def comparison_figure(result):
    """Draws a :class:`cnn2snn_tfmot.inspection.comparison.Comparison` (see :func:`agreement`).

    Arguments:
        result: what :func:`cnn2snn_tfmot.inspection.comparison.compare` returned.

    Returns:
        A ``matplotlib.figure.Figure``.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import comparison_figure
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.inspection.comparison import compare
        >>> result = compare(model_quantized, akida_model, images, labels,
        ...                  input_scaling=(255, 0), backend="tf")
        >>> len(comparison_figure(result).axes[0].containers)
        3
    """
    classes = result.classes
    positions = np.arange(len(classes))
    fig, (ax,) = _figure(1, size=(max(6.4, 0.6 * len(classes)), 3.6))
    series = [("agreement", [result.per_class[c]["agreement"] for c in classes])]
    if result.keras_accuracy is not None:
        series = [("Keras accuracy", [result.per_class[c]["keras_accuracy"] for c in classes]),
                  ("Akida accuracy", [result.per_class[c]["akida_accuracy"] for c in classes]),
                  ] + series
    width = 0.8 / len(series)
    for index, (label, values) in enumerate(series):
        ax.bar(positions + (index - (len(series) - 1) / 2) * width,
               [100 * v for v in values], width, label=label)
    ax.set_xticks(positions, [str(c) for c in classes])
    ax.set_xlabel("class" if result.keras_accuracy is not None else "class (Keras decision)")
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    title = f"Keras vs Akida: {100 * result.agreement:.2f}% agreement"
    if result.keras_accuracy is not None:
        title += (f", accuracy {100 * result.keras_accuracy:.2f}% / "
                  f"{100 * result.akida_accuracy:.2f}%")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="lower right")
    return fig


def agreement(keras_model, akida_model, x, y=None, input_scaling=(1.0, 0),
              batch_size: int = 256, backend: Optional[str] = None, *,
              engine: Optional[str] = None):
    """Per class: the Keras model's accuracy, the Akida model's, and how often their decisions
    agree (see :func:`cnn2snn_tfmot.inspection.comparison.compare`).

    Arguments:
        keras_model: the quantized tf_keras model that was converted.
        akida_model: the converted Akida model.
        x: uint8 images as for ``Model.forward`` (with labels, or ``y``).
        y: integer labels for an array ``x``; without labels, classes are the Keras model's
            decisions and only the agreement is drawn.
        input_scaling: the ``(scale, shift)`` given to ``convert``.
        batch_size: samples per step.
        backend: the emulator's back-end: None, "direct", "custom" or "tf".
        engine: the former name of ``backend``, still accepted.

    Returns:
        A ``matplotlib.figure.Figure``: grouped bars per class (three series with labels, one
        without), the overall figures in the title.

    Example:
        >>> from cnn2snn_tfmot.inspection.plots import agreement
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> fig = agreement(model_quantized, akida_model, images, labels,
        ...                 input_scaling=(255, 0), backend="tf")
        >>> [container.get_label() for container in fig.axes[0].containers]
        ['Keras accuracy', 'Akida accuracy', 'agreement']
    """

    return comparison_figure(compare(keras_model, akida_model, x, y, input_scaling,
                                     batch_size, backend, engine=engine))
