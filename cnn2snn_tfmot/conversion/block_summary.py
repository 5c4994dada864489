"""A Keras model's Akida blocks, and the chip layers they become, as a text table (the
command line's ``summary`` of Keras model files).

A quantized model is read by :func:`cnn2snn_tfmot.conversion.blocks.analyze`, as ``convert`` reads
it. A float model is shown as ``quantize(model, 4, 4, 8)`` would make it (a preview: the weights and
activations bitwidths are those defaults). Problems (rules the model breaks) follow the table.

Example:
    >>> from cnn2snn_tfmot.conversion.block_summary import block_summary_lines
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> print("\\n".join(block_summary_lines(model_quantized)))
    Model 'doctest_cnn': quantized; input (16, 16, 1); input scaling: not remembered
    ...
    conv_0  InputConvolutional  conv_0, conv_0_pool, conv_0_relu  (8, 8, 8)  8  4
    ...
"""
from __future__ import annotations

from typing import List, Optional

from cnn2snn_tfmot.akida.mapping import check_mode
from cnn2snn_tfmot.akida.summary import format_table
from cnn2snn_tfmot.chip.layers import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    SeparableConvolutional,
)
from cnn2snn_tfmot.conversion.blocks import Block, akida_kind, analyze, weights_bits
from cnn2snn_tfmot.conversion.hardware_check import check_device, map_blocks
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.input_scaling import input_scaling_of
from cnn2snn_tfmot.rewriting.quantizing import quantize

__all__ = ["block_summary_lines", "AKIDA_LAYER_TYPES"]

#: Akida kind of a block (:func:`cnn2snn_tfmot.conversion.blocks.akida_kind`) -> the Akida layer
#: type.
AKIDA_LAYER_TYPES = {"input": InputConvolutional.layer_type, "conv": Convolutional.layer_type,
                     "separable": SeparableConvolutional.layer_type,
                     "dense": FullyConnected.layer_type}
HEADERS = ("Akida layer", "Type", "Keras layers", "Output shape", "Weight bits", "Act bits")


def _is_quantized(analysis) -> bool:
    return bool(analysis.blocks) or not any("is a float model" in problem
                                            for problem in analysis.violations)


def _block_layers(block: Block) -> List[str]:
    names = list(block.neural.layers)
    names += [item.name for item in (block.batchnorm, block.pool, block.activation) if item]
    return names


def _row(model, block: Block, index: int, input_is_sparse: bool) -> tuple:
    layers = _block_layers(block)
    last = model.get_layer(layers[-1])
    shape = tuple(int(d) for d in last.output_shape[1:])
    return (block.name, AKIDA_LAYER_TYPES[akida_kind(block, index, input_is_sparse)],
            ", ".join(layers), str(shape), str(weights_bits(block)),
            "-" if block.activation is None else str(block.activation.bitwidth))


def block_summary_lines(model, input_is_sparse: bool = False, device: Optional[str] = None,
                        mode: str = "all_nps") -> List[str]:
    """The blocks of a Keras model and the Akida layers they become, as lines of text.

    Arguments:
        model: a quantized (or float: previewed as ``quantize(model, 4, 4, 8)``) model.
        input_is_sparse: as for ``convert`` (InputData first).
        device: None, or "AKD1000": also the mapping of those Akida layers onto the chip
            (:func:`cnn2snn_tfmot.conversion.hardware_check.map_blocks`).
        mode: the mapping mode with ``device``: "all_nps" (default), "hw_pr" or "minimal".

    Returns:
        The lines: a title, the table (one row per Akida layer: its Keras layers, output
        shape, weight and activation bits), then the problems, if any; with ``device``, the
        sequences and the NPs of each layer.

    Raises:
        ValueError: an unknown device or mode.

    Example:
        >>> from cnn2snn_tfmot.conversion.block_summary import block_summary_lines
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> block_summary_lines(model)[0]
        "Model 'doctest_cnn': float, shown as quantize(model, 4, 4, 8) would make it; input \
(16, 16, 1); input scaling: not remembered"
    """
    model = check_keras_model(model)
    if device is not None:
        device, mode = check_device(device), check_mode(mode)
    analysis = analyze(model, input_is_sparse)
    state = "quantized"
    if not _is_quantized(analysis):

        try:
            model = quantize(model, 4, 4, 8)
        except ValueError as err:
            return [f"Model '{model.name}': float, and quantize() refuses it:", f"  {err}",
                    "adapt(model) (command line: cnn2snn_tfmot adapt) rewrites what Akida "
                    "cannot run; then fine-tune and quantize."]
        analysis = analyze(model, input_is_sparse)
        state = "float, shown as quantize(model, 4, 4, 8) would make it"
    scaling = input_scaling_of(model)
    lines = [f"Model '{model.name}': {state}; input {analysis.input_shape}; input scaling: "
             + ("not remembered" if scaling is None else f"{scaling} (remembered)")]
    lines += format_table(HEADERS, [_row(model, block, index, input_is_sparse)
                                    for index, block in enumerate(analysis.blocks)])
    if analysis.violations:
        lines.append(f"{len(analysis.violations)} problem(s) before conversion:")
        lines += [f"  - {problem}" for problem in analysis.violations]
    lines += [f"  warning: {warning}" for warning in analysis.warnings]
    if device is not None and analysis.violations:
        lines.append(f"Not mapped onto the {device}: the model does not convert.")
    elif device is not None:
        mapping = map_blocks(analysis, input_is_sparse, device, mode)
        lines += mapping.summary_lines()
        lines += format_table(("Sequence", "Akida layer", "NPs"), mapping.layer_rows())
    return lines
