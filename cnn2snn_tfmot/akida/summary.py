"""The text table printed by ``Model.summary()``.

Example:
    >>> from cnn2snn_tfmot.akida.summary import summary_lines
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> print("\\n".join(summary_lines(akida_model)))
    Model: 3 layers, input (16, 16, 1), output (1, 1, 10)
    ...
"""
from __future__ import annotations

from typing import List

import numpy as np

HEADERS = ("Layer (name)", "Type", "Input shape", "Output shape", "Kernel shape",
           "Weight bits", "Act bits")


def _shape(dims) -> str:
    return "-" if dims is None else "(" + ", ".join(str(d) for d in dims) + ")"


def summary_rows(model) -> List[tuple]:
    """One tuple of strings per layer, in the order of :data:`HEADERS` (and, once the model is
    mapped, :data:`MAPPED_HEADER`).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.

    Returns:
        A list of 7-tuples of strings.

    Example:
        >>> from cnn2snn_tfmot.akida.summary import summary_rows
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> summary_rows(akida_model)[0][1]
        'InputConvolutional'
    """
    rows = []
    for layer in model.layers:
        kernels = " + ".join(_shape(s) for s in layer.kernel_shapes()) or "-"
        weight_bits = "-" if layer.layer_type == "InputData" else \
            str(layer.parameters.weights_bits)
        out_bits = layer.output_bits
        rows.append((layer.name, layer.layer_type, _shape(layer.input_dims),
                     _shape(layer.output_dims), kernels, weight_bits,
                     "-" if out_bits is None else str(out_bits)))
    mapping = model.mapping
    if mapping is not None:
        rows = [row + (mapping.layer_nps(row[0]),) for row in rows]
    return rows


# -- the NPs of a mapped model (Model.map) ------------------------------------------------------
#: The column added once the model is mapped: the NPs of each layer, as BrainChip's summary.
MAPPED_HEADER = "NPs"


def format_table(headers, rows) -> List[str]:
    """Left-aligned columns between rules of "=": rule, header, rule, rows, rule.

    Arguments:
        headers: the column titles.
        rows: tuples of strings, one per line.

    Returns:
        The lines of the table.

    Example:
        >>> print("\\n".join(format_table(("a", "bb"), [("1", "2"), ("333", "4")])))
        =======
        a    bb
        =======
        1    2
        333  4
        =======
    """
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]

    def fmt(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()

    rule = "=" * len(fmt(["-" * w for w in widths]))
    return [rule, fmt(headers), rule] + [fmt(r) for r in rows] + [rule]


def summary_lines(model) -> List[str]:
    """The summary table as lines of text (header, rule, one line per layer, totals).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.

    Returns:
        A list of strings.

    Example:
        >>> from cnn2snn_tfmot.akida.summary import summary_lines
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> summary_lines(akida_model)[0].startswith("Model:")
        True
    """
    rows = summary_rows(model)
    mapping = model.mapping
    headers = HEADERS + ((MAPPED_HEADER,) if mapping is not None else ())
    lines = [f"Model: {len(rows)} layers, input {_shape(model.input_shape)}, output "
             f"{_shape(model.output_shape)}"] + format_table(headers, rows)
    weights = sum(int(np.prod(shape)) for layer in model.layers
                  for shape in layer.kernel_shapes())
    lines.append(f"Weights: {weights} integers; act bits '-' = int32 potentials "
                 f"(no activation); InputData shows its input bits.")
    learning = model.learning
    if learning is not None:  # as the runtime's "Learning Summary"
        last = model.layers[-1]
        lines.append(f"Learning: layer '{last.name}', {int(np.prod(last.input_dims))} inputs, "
                     f"{learning.num_weights} connections per neuron, "
                     f"{learning.num_classes} class(es) x "
                     f"{last.parameters.units // learning.num_classes} neurons.")
    if mapping is not None:
        lines += mapping.summary_lines()
    return lines
