"""The AKD1000's hardware limits, written once as functions of plain values.

The AKD1000 (Akida 1.0, "NSoC v1") runs a sequential model on a mesh of neural processors (NPs):
one HRC (the input convolution), and 78 NPs that run convolutional layers as CNPs and, on some,
fully connected layers as FNPs (18 can be FNP3, whose weights are on the NP, 4 can be FNP2,
whose weights are in external memory). This module holds every limit of that hardware as a
function of plain values (kernel size, strides, filters, channels, bitwidths, shapes), so that
the Akida model's mapper (:mod:`cnn2snn_tfmot.akida.mapping`) and the Keras-side check of
``check_model_compatibility(device="AKD1000")`` (:mod:`cnn2snn_tfmot.conversion.hardware_check`)
call the same rules. It sits beside the chip's other rules and imports only them
(:mod:`~cnn2snn_tfmot.chip.limits`: the bitwidths, sizes and registers they share with the
runtime's rules; :mod:`~cnn2snn_tfmot.chip.shapes`).

Sources. "published" is BrainChip's "Akida 1.0 hardware constraints" page; "measured" is the
mapper of BrainChip's runtime (akida 2.19.3, ``model.map(akida.AKD1000(), hw_only=True)`` and
``MapMode``), queried by ``tests/test_akida_mapping.py`` and ``benchmarks/mapping.py``. Where
the two differ the mapper wins, and the docstring says so. docs/akida-v1.md section 10 lists
every limit.

Axes: shapes are ``(rows, columns, channels)``, the Akida model's ``(height, width, channels)``
order (BrainChip's runtime calls the first axis "x"/"width"; its messages about the second axis
say "second dimension").

Example:
    >>> from cnn2snn_tfmot.chip.hardware import input_conv_problems
    >>> input_conv_problems((224, 224, 3), (3, 3), (2, 2), "same", 256, "none", (1, 1), (1, 1),
    ...                     True)
    ['has 256 filters: a 3x3 input convolution on 3 channels takes at most 192 (measured, as \
published); use at most 192 filters.']
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

from cnn2snn_tfmot.chip import limits
from cnn2snn_tfmot.chip.shapes import out_size

__all__ = [
    "DEVICES", "check_device", "NP_TYPES", "NPInfo", "akd1000_mesh", "HardwareLayer", "LAYER_KINDS",
    "input_conv_problems", "cnp_problems", "fnp_problems", "layer_problems",
    "input_conv_max_filters", "cnp_input_row_bytes", "cnp_spatial_split",
    "cnp_weight_bytes", "conv_weight_words", "separable_words", "cnp_filter_split",
    "cnp_split_problems", "fnp_weight_bytes",
    "fnp_type", "max_pool_sequence_problems",
    "CNP_INPUT_BYTES", "CNP_WEIGHT_BYTES", "FNP3_WEIGHT_BYTES", "CNP_MAX_ROWS",
    "CNP_MAX_COLUMNS", "CNP_MAX_FILTERS", "CNP_MAX_CHANNELS", "FNP_MAX_INPUTS",
]

#: Devices this module describes.
DEVICES = ("AKD1000",)
#: NP types, in the order the mapper reports them.
NP_TYPES = ("HRC", "CNP1", "CNP2", "FNP2", "FNP3")
#: Akida layer kinds of :class:`HardwareLayer`.
LAYER_KINDS = ("input_data", "input_conv", "conv", "separable", "dense")

# -- memories (measured: ``akida.AKD1000().mesh.np_sram_size`` and the mapper's decisions) ---
#: Bytes of input memory of a CNP (``np_sram_size.input_bytes``).
CNP_INPUT_BYTES = 43008
#: Bytes of weight memory of a CNP (``np_sram_size.weight_bytes``).
CNP_WEIGHT_BYTES = 44800
#: An FC layer whose weights take at most this many bytes runs on an FNP3 (weights on the NP),
#: otherwise on an FNP2 (weights in external memory) (measured).
FNP3_WEIGHT_BYTES = 43008
#: A CNP takes at most this many rows (first spatial axis) and columns of its input
#: (``MapConstraints.cnp_max_width`` / ``cnp_max_height``); wider inputs are split spatially.
CNP_MAX_ROWS = 32
CNP_MAX_COLUMNS = 256
#: Filters per CNP (``MapConstraints.cnp_max_filters_default``); the "all_nps" and "hw_pr"
#: modes search smaller values to spread a layer over more NPs.
CNP_MAX_FILTERS = 504
#: Input channels of a convolutional layer (measured: "The maximum input channel value is 2048").
CNP_MAX_CHANNELS = 2048
#: Inputs (rows x columns x channels) of a fully connected layer (published and measured).
FNP_MAX_INPUTS = 57334


def check_device(device) -> str:
    """Validates a device name.

    Arguments:
        device: "AKD1000" (any case).

    Returns:
        The device's name as in :data:`DEVICES`.

    Raises:
        ValueError: another name, listing the valid ones.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import check_device
        >>> check_device("akd1000")
        'AKD1000'
    """
    if isinstance(device, str) and device.strip().upper() in DEVICES:
        return device.strip().upper()
    raise ValueError(f"device: unknown device {device!r}; valid choices are "
                     f"{', '.join(repr(d) for d in DEVICES)}.")


@dataclasses.dataclass(frozen=True)
class NPInfo:
    """One neural processor of the mesh.

    Attributes:
        ident: ``(column, row, index)``, as BrainChip's runtime numbers it.
        types: the NP types it can run (a subset of :data:`NP_TYPES`).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import akd1000_mesh
        >>> akd1000_mesh()[0]
        NPInfo(ident=(1, 3, 0), types=('CNP1', 'FNP3'))
    """
    ident: Tuple[int, int, int]
    types: Tuple[str, ...]


def akd1000_mesh() -> Tuple[NPInfo, ...]:
    """The AKD1000's 78 NPs (the HRC excluded), in the runtime's order (measured:
    ``akida.AKD1000().mesh.nps``).

    Node (3, 1) holds 2 CNP-only NPs (its other two are the DMAs), node (4, 1) 4 NPs that can be
    FNP2, every other node (18) one NP that can be FNP3 and three that can be CNP2. Every NP can
    be a CNP1.

    Returns:
        A tuple of :class:`NPInfo`.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import akd1000_mesh
        >>> mesh = akd1000_mesh()
        >>> len(mesh), sum("FNP3" in np_.types for np_ in mesh)
        (78, 18)
    """
    nodes = [(1, 3), (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (3, 1), (3, 2), (3, 3), (3, 4),
             (3, 5), (4, 1), (4, 2), (4, 3), (4, 4), (4, 5), (5, 2), (5, 3), (5, 4), (5, 5)]
    mesh = []
    for column, row in nodes:
        if (column, row) == (3, 1):
            mesh += [NPInfo((3, 1, index), ("CNP1",)) for index in (2, 3)]
        elif (column, row) == (4, 1):
            mesh += [NPInfo((4, 1, index), ("CNP1", "FNP2")) for index in range(4)]
        else:
            mesh.append(NPInfo((column, row, 0), ("CNP1", "FNP3")))
            mesh += [NPInfo((column, row, index), ("CNP1", "CNP2")) for index in (1, 2, 3)]
    return tuple(mesh)


@dataclasses.dataclass(frozen=True)
class HardwareLayer:
    """An Akida layer described by plain values: what the hardware rules read.

    Built from an Akida model's layer (:func:`cnn2snn_tfmot.akida.mapping.hardware_layers`) or,
    before conversion, from a quantized Keras model's blocks.

    Attributes:
        name: the layer's name.
        kind: one of :data:`LAYER_KINDS`.
        input_shape: ``(rows, columns, channels)`` of its input.
        output_shape: ``(rows, columns, channels)`` of its output.
        input_bits: bitwidth of its input values (8 for an image).
        kernel_size, kernel_stride: ``(rows, columns)`` pairs; (1, 1) for dense layers.
        padding: "same" or "valid".
        filters: filters (units of a dense layer).
        pool_type: "none", "max" or "global" (global average pooling).
        pool_size, pool_stride: ``(rows, columns)`` of max pooling; (1, 1) without it.
        weights_bits: bitwidth of the weights.
        activation: whether it fires levels (False: the last layer outputs potentials).
        act_bits: bitwidth of its output levels.
        weights_all_zero: whether all its weights are zero (None when unknown, before
            conversion); for a separable layer, whether either kernel is all zero.
        threshold_range: ``(lowest, highest)`` threshold, None when unknown.
        act_step_max: largest act_step, None when unknown.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import HardwareLayer
        >>> layer = HardwareLayer("conv", "conv", (16, 16, 8), (16, 16, 32), 4, (3, 3))
        >>> layer.pool_type, layer.weights_bits
        ('none', 4)
    """
    name: str
    kind: str
    input_shape: Tuple[int, int, int]
    output_shape: Tuple[int, int, int]
    input_bits: int
    kernel_size: Tuple[int, int] = (1, 1)
    kernel_stride: Tuple[int, int] = (1, 1)
    padding: str = "same"
    filters: int = 1
    pool_type: str = "none"
    pool_size: Tuple[int, int] = (1, 1)
    pool_stride: Tuple[int, int] = (1, 1)
    weights_bits: int = 4
    activation: bool = True
    act_bits: int = 4
    weights_all_zero: Optional[bool] = None
    threshold_range: Optional[Tuple[int, int]] = None
    act_step_max: Optional[float] = None

    @property
    def conv_output_shape(self) -> Tuple[int, int]:
        """``(rows, columns)`` of the convolution before pooling."""
        out = []
        for axis in range(2):
            size, k, s = self.input_shape[axis], self.kernel_size[axis], self.kernel_stride[axis]
            out.append(out_size(size, k, s, self.padding))
        return tuple(out)


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _pair_text(pair) -> str:
    return f"{pair[0]}x{pair[1]}"


def _choices(values) -> str:
    values = [str(v) for v in values]
    return values[0] if len(values) == 1 else f"{', '.join(values[:-1])} or {values[-1]}"


# -- the input convolution (HRC) -------------------------------------------------------------

#: Most filters of the input convolution per (kernel size, channels) (published, measured:
#: "The parameter num_neurons should be set between 1 and N").
_HRC_MAX_FILTERS = {(3, 1): 512, (3, 3): 192, (5, 1): 192, (5, 3): 64, (7, 1): 96, (7, 3): 32}
#: The input convolution's image columns (published: width 5 to 256; measured: the second axis).
HRC_COLUMNS = limits.CHIP_INPUT_WIDTH
#: Its smallest number of rows (measured: "Input first dimension size cannot be smaller than 5").
HRC_MIN_ROWS = 5


def input_conv_max_filters(kernel: int, channels: int) -> Optional[int]:
    """The most filters of an input convolution (HRC) (published, and measured).

    Arguments:
        kernel: the (square) kernel size, 3, 5 or 7.
        channels: the image channels, 1 or 3.

    Returns:
        512, 192, 96 (1 channel, 3x3 / 5x5 / 7x7) or 192, 64, 32 (3 channels); None for a kernel
        size or channel count the HRC does not take.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import input_conv_max_filters
        >>> input_conv_max_filters(5, 3)
        64
    """
    return _HRC_MAX_FILTERS.get((kernel, channels))


def input_conv_problems(input_shape: Sequence[int], kernel_size: Sequence[int],
                        kernel_stride: Sequence[int], padding: str, filters: int,
                        pool_type: str, pool_size: Sequence[int], pool_stride: Sequence[int],
                        activation: bool) -> List[str]:
    """What keeps an input convolution off the AKD1000's HRC.

    Rules (measured with BrainChip's mapper; "published" when the page says it too): 1 or 3
    channels (published); a square kernel of 3, 5 or 7 (published); strides of 1 to 3 on each
    axis (published; the axes may differ); at most :func:`input_conv_max_filters` filters
    (published); 5 to 256 columns (published "width 5 to 256"), at least 5 rows and, with
    'same' padding, at least as many rows as the kernel; with 'valid' padding at least 2 output
    columns; max pooling 1 or 2 per axis with a stride equal to its size and at least 2 output
    columns, no global average pooling; the activation on.

    Arguments:
        input_shape: ``(rows, columns, channels)`` of the image.
        kernel_size, kernel_stride: ``(rows, columns)``.
        padding: "same" or "valid".
        filters: the filters.
        pool_type: "none", "max" or "global".
        pool_size, pool_stride: ``(rows, columns)`` of max pooling.
        activation: whether the layer fires.

    Returns:
        The reasons, each with its limit, its source and a fix (empty when it maps).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import input_conv_problems
        >>> input_conv_problems((32, 300, 3), (3, 3), (1, 1), "same", 16, "none", (1, 1),
        ...                     (1, 1), True)
        ['has 300 image columns: the input convolution takes 5 to 256 (published "width 5 to \
256"); resize the images to at most 256 columns.']
    """
    rows, columns, channels = (int(v) for v in input_shape)
    kernel, stride = tuple(kernel_size), tuple(kernel_stride)
    problems = []
    if channels not in (1, 3):
        problems.append(f"has {channels} input channels: the input convolution takes 1 or 3 "
                        "(published); give it grayscale or RGB images, or start the model with "
                        "InputData (input_is_sparse=True).")
    if kernel[0] != kernel[1] or kernel[0] not in (3, 5, 7):
        problems.append(f"has a {_pair_text(kernel)} kernel: the input convolution takes "
                        "square 3x3, 5x5 or 7x7 kernels (published); use one of those.")
    if any(s not in (1, 2, 3) for s in stride):
        problems.append(f"has strides {stride}: the input convolution takes strides of 1 to 3 "
                        "(published); use at most 3.")
    limit = input_conv_max_filters(kernel[0], channels) if kernel[0] == kernel[1] else None
    if limit is not None and filters > limit:
        problems.append(f"has {filters} filters: a {_pair_text(kernel)} input convolution on "
                        f"{channels} channel{'s' if channels > 1 else ''} takes at most "
                        f"{limit} (measured, as published); use at most {limit} filters.")
    low, high = HRC_COLUMNS
    if not low <= columns <= high:
        problems.append(f"has {columns} image columns: the input convolution takes {low} to "
                        f"{high} (published \"width {low} to {high}\"); resize the images to "
                        f"{'at most ' + str(high) if columns > high else 'at least ' + str(low)}"
                        " columns.")
    min_rows = max(HRC_MIN_ROWS, kernel[0] if padding == "same" else 0)
    if rows < min_rows:
        problems.append(f"has {rows} image rows: the input convolution needs at least "
                        f"{min_rows} (measured); use taller images.")
    if padding == "valid" and columns - kernel[1] < stride[1]:
        problems.append(f"has {columns} columns for a {kernel[1]}-wide kernel with stride "
                        f"{stride[1]} and 'valid' padding: the input convolution needs at least "
                        "2 output columns (measured); use padding 'same' or wider images.")
    if pool_type == "global":
        problems.append("has global average pooling: the input convolution cannot pool "
                        "globally (measured); pool in a later layer.")
    elif pool_type == "max":
        if any(p not in (1, 2) for p in pool_size):
            problems.append(f"has {_pair_text(pool_size)} max pooling: the input convolution "
                            "pools 1 or 2 per axis (measured); use pool_size 2.")
        if tuple(pool_stride) != tuple(pool_size):
            problems.append(f"has max pooling {_pair_text(pool_size)} with strides "
                            f"{tuple(pool_stride)}: the input convolution needs pooling strides "
                            "equal to the pooling size (measured); use strides = pool_size.")
        conv_columns = out_size(columns, kernel[1], stride[1], padding)
        pooled = out_size(conv_columns, pool_size[1], pool_stride[1], padding)
        if pooled < 2:
            problems.append(f"max pools to {pooled} column: the input convolution needs at "
                            "least 2 output columns with max pooling (measured); use wider "
                            "images or no pooling.")
    if not activation:
        problems.append("has no activation: the input convolution maps only with its "
                        "activation on (measured); keep a ReLU after it.")
    return problems


# -- convolutional and separable layers (CNP) ------------------------------------------------

#: Weight memory of a convolution, per input channel, in 50-byte units for ``g`` groups of 8
#: filters: ``mult * ceil(num * g / den)`` (measured from the mapper's ``mem_info``).
_CONV_UNITS = {
    (1, 1): (1, 1, 24), (1, 2): (1, 1, 24), (1, 4): (2, 1, 24),
    (3, 1): (1, 1, 5), (3, 2): (1, 2, 5), (3, 4): (2, 3, 8),
    (5, 1): (1, 1, 2), (5, 2): (1, 1, 1), (5, 4): (2, 1, 1),
    (7, 1): (1, 1, 1), (7, 2): (2, 1, 1), (7, 4): (2, 21, 8),
}
#: Depthwise weights of a separable layer: 400-bit words per 16 channels (measured).
_SEPARABLE_DW = {(3, 2): 1, (3, 4): 2, (5, 2): 2, (5, 4): 6, (7, 2): 6, (7, 4): 14}
#: A convolution's per-channel weight words (``_CONV_UNITS``) cannot exceed this (measured: a
#: 7x7 4-bit convolution splits beyond 384 filters per NP, whatever its channels).
_CONV_MAX_UNITS = 256


def conv_weight_words(kernel: int, weights_bits: int, filters: int) -> int:
    """The weight words (400 bits, 50 bytes of a CNP's memory) that ``filters`` filters of a
    convolution take per input channel (measured: ``mem_info.weight_size`` / 50 / channels).

    ``mult * ceil(num * ceil(filters / 8) / den)`` with (mult, num, den) per kernel size and
    weight bitwidth: 1x1 (1, 1, 24) [2-bit or less] / (2, 1, 24) [4-bit], 3x3 (1, 1, 5) /
    (1, 2, 5) / (2, 3, 8) [1, 2, 4 bits], 5x5 (1, 1, 2) / (1, 1, 1) / (2, 1, 1), 7x7 (1, 1, 1) /
    (2, 1, 1) / (2, 21, 8).

    Arguments:
        kernel: the (square) kernel size, 1, 3, 5 or 7.
        weights_bits: 1, 2 or 4.
        filters: the filters on the NP.

    Returns:
        Words per input channel.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import conv_weight_words
        >>> conv_weight_words(3, 4, 64), conv_weight_words(7, 4, 8)
        (6, 6)
    """
    mult, num, den = _CONV_UNITS[(kernel, weights_bits)]
    return mult * _ceil(num * _ceil(filters, 8), den)


def separable_words(kernel: int, weights_bits: int, filters: int) -> Tuple[int, int]:
    """The weight words of a separable layer (measured): 400-bit words of its depthwise
    kernel per 16 input channels, and 50-bit words of its pointwise kernel per input channel
    (24 filters of 2 bits or 12 of 4 bits each, 16 or 4 more filters when the count is not a
    multiple of 8).

    Arguments:
        kernel: the (square) kernel size, 3, 5 or 7.
        weights_bits: 2 or 4.
        filters: the filters on the NP.

    Returns:
        ``(depthwise words per 16 channels, pointwise words per channel)``.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import separable_words
        >>> separable_words(3, 4, 64)
        (2, 6)
    """
    pad = 0 if filters % 8 == 0 else (16 if weights_bits == 2 else 4)
    per_word = 24 if weights_bits == 2 else 12
    return _SEPARABLE_DW[(kernel, weights_bits)], _ceil(8 * _ceil(filters, 8) + pad, per_word)


def cnp_weight_bytes(kind: str, kernel: int, weights_bits: int, channels: int,
                     filters: int) -> int:
    """Bytes of a CNP's weight memory that ``filters`` filters of a layer take (measured: the
    mapper's ``mem_info.weight_size``, exact on every layer tried).

    Convolution: per input channel, ``50 * mult * ceil(num * ceil(filters / 8) / den)`` bytes,
    with (mult, num, den) per kernel size and weight bitwidth (e.g. 3x3 4-bit: 2, 3, 8: 8
    filters take 100 bytes per channel, 64 filters 300). Separable: 400-bit words for the
    depthwise kernel (per 16 channels: 1 for 3x3 2-bit ... 14 for 7x7 4-bit) plus, per channel,
    50-bit words for the pointwise kernel (24 filters of 2 bits or 12 of 4 bits each, 16 or 4
    more filters when the count is not a multiple of 8).

    Arguments:
        kind: "conv" or "separable".
        kernel: the (square) kernel size.
        weights_bits: the weight bitwidth (1, 2 or 4; separable 2 or 4).
        channels: the input channels.
        filters: the filters on the NP.

    Returns:
        Bytes (compare with :data:`CNP_WEIGHT_BYTES`).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import cnp_weight_bytes
        >>> cnp_weight_bytes("conv", 3, 4, 16, 64), cnp_weight_bytes("separable", 3, 4, 32, 64)
        (4800, 1400)
    """
    if kind == "separable":
        depthwise, pointwise = separable_words(kernel, weights_bits, filters)
        return _ceil(400 * _ceil(channels * depthwise, 16) + 50 * channels * pointwise, 8)
    return 50 * channels * conv_weight_words(kernel, weights_bits, filters)


def _cnp_filters_fit(kind: str, kernel: int, weights_bits: int, channels: int,
                     filters: int) -> bool:
    if cnp_weight_bytes(kind, kernel, weights_bits, channels, filters) > CNP_WEIGHT_BYTES:
        return False
    return kind == "separable" or \
        conv_weight_words(kernel, weights_bits, filters) <= _CONV_MAX_UNITS


def cnp_filter_split(kind: str, kernel: int, weights_bits: int, channels: int, filters: int,
                     max_filters: int = CNP_MAX_FILTERS) -> Optional[List[int]]:
    """How the mapper spreads a layer's filters over NPs (measured, exact on every layer tried).

    The fewest groups of at most ``max_filters`` filters whose weights fit a CNP's memory,
    ``ceil(filters / groups)`` each and the remainder last (64 filters at most 31 per NP: 22,
    22, 20).

    Arguments:
        kind: "conv" or "separable".
        kernel, weights_bits, channels: as for :func:`cnp_weight_bytes`.
        filters: the layer's filters.
        max_filters: the most filters per NP (the mapping mode's search value).

    Returns:
        The filters of each group, or None when even one filter does not fit.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import cnp_filter_split
        >>> cnp_filter_split("conv", 3, 4, 16, 64, max_filters=31)
        [22, 22, 20]
    """
    groups = _ceil(filters, max_filters)
    while groups <= filters:
        per = _ceil(filters, groups)
        if _cnp_filters_fit(kind, kernel, weights_bits, channels, per):
            return [per] * (groups - 1) + [filters - per * (groups - 1)]
        groups += 1
    return None


def cnp_input_row_bytes(columns: int, channels: int, bits: int) -> int:
    """Bytes of a CNP's input memory that one input row of ``columns`` values takes (measured:
    the mapper's ``mem_info.input_size`` is this times the rows, exactly).

    ``8 / bits`` consecutive columns of a channel share a byte; a row's bytes round up to 32-bit
    words.

    Arguments:
        columns: the values along the first spatial axis (rows of the Akida layer's shape)
            held by the NP, halo included.
        channels: the input channels.
        bits: the input bitwidth.

    Returns:
        Bytes.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import cnp_input_row_bytes
        >>> cnp_input_row_bytes(5, 3, 4)
        12
    """
    return 4 * _ceil(_ceil(columns * bits, 8) * channels, 4)


def _parts(size: int, count: int, multiple: int = 1) -> List[int]:
    per = multiple * _ceil(_ceil(size, count), multiple)
    full = (size - 1) // per
    return [per] * full + [size - per * full]


def _spatial_fits(input_shape, bits: int, halo: int, row_parts: List[int],
                  column_parts: List[int]) -> bool:
    channels = input_shape[2]
    if max(row_parts) > CNP_MAX_ROWS or max(column_parts) > CNP_MAX_COLUMNS:
        return False
    for i, part in enumerate(row_parts):
        held_rows = part + halo * ((i > 0) + (i < len(row_parts) - 1))
        row_bytes = cnp_input_row_bytes(held_rows, channels, bits)
        for j, column_part in enumerate(column_parts):
            held_columns = column_part + halo * ((j > 0) + (j < len(column_parts) - 1))
            if row_bytes * held_columns > CNP_INPUT_BYTES:
                return False
    return True


def cnp_spatial_split(input_shape: Sequence[int], bits: int, kernel: int,
                      pool_stride: Sequence[int] = (1, 1),
                      max_parts: int = 78) -> Optional[Tuple[int, int]]:
    """How the mapper splits a convolutional layer's input over NPs (measured, exact on every
    layer tried).

    For 1, 2, 3... NPs (more parts along the rows first), parts of ``ceil(size / count)``,
    rounded up to a multiple of the max-pooling stride, the remainder last; the first split
    whose parts each hold at most :data:`CNP_MAX_ROWS` rows and :data:`CNP_MAX_COLUMNS` columns
    and whose input, with ``(kernel - 1) / 2`` neighbouring rows and columns on each inner side,
    fits :data:`CNP_INPUT_BYTES` (:func:`cnp_input_row_bytes` times the columns).

    Arguments:
        input_shape: ``(rows, columns, channels)`` of the layer's input.
        bits: the input bitwidth.
        kernel: the (square) kernel size.
        pool_stride: ``(rows, columns)`` of its max pooling, (1, 1) without.
        max_parts: the most parts to try (the NPs of the device).

    Returns:
        ``(row parts, column parts)``, or None when no split fits.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import cnp_spatial_split
        >>> cnp_spatial_split((64, 64, 64), 4, 3), cnp_spatial_split((32, 32, 141), 4, 7)
        ((4, 1), (1, 2))
    """
    shape = tuple(int(v) for v in input_shape)
    halo = (kernel - 1) // 2
    for total in range(1, max_parts + 1):
        for row_count in range(total, 0, -1):
            if total % row_count:
                continue
            row_parts = _parts(shape[0], row_count, pool_stride[0])
            column_parts = _parts(shape[1], total // row_count, pool_stride[1])
            if _spatial_fits(shape, bits, halo, row_parts, column_parts):
                return len(row_parts), len(column_parts)
    return None


def cnp_problems(kind: str, input_shape: Sequence[int], kernel_size: Sequence[int],
                 kernel_stride: Sequence[int], padding: str, pool_type: str,
                 pool_size: Sequence[int], pool_stride: Sequence[int], weights_bits: int,
                 conv_output_shape: Sequence[int]) -> List[str]:
    """What keeps a convolutional or separable layer off the AKD1000's CNPs, whatever the NP
    split (:func:`cnp_split_problems` has the rules that depend on it).

    Rules (measured with BrainChip's mapper; "published" when the page says it too): 'same'
    padding only; square kernels of 1, 3, 5 or 7 (published), 3, 5 or 7 for separable layers;
    equal strides of 1 or 2, 2 only with 3x3 kernels (published); weights of 1, 2 or 4 bits, 2
    or 4 for separable layers (published); at most 2048 input channels; max pooling square, of
    size 1 or 2 (BrainChip's mapper refuses 3), strides equal on both axes and at most the size,
    no larger than the layer's input; global average pooling of an input of at most 32
    rows (the published "width 1 to 32"; the mapper checks the first axis), on a convolution
    output of at least 3 columns; a weight memory that holds 8 filters.

    Arguments:
        kind: "conv" or "separable".
        input_shape: ``(rows, columns, channels)`` of the input.
        kernel_size, kernel_stride: ``(rows, columns)``.
        padding: "same" or "valid".
        pool_type: "none", "max" or "global".
        pool_size, pool_stride: ``(rows, columns)`` of max pooling.
        weights_bits: the weight bitwidth.
        conv_output_shape: ``(rows, columns)`` of the convolution before pooling.

    Returns:
        The reasons, each with its limit, its source and a fix (empty when it maps).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import cnp_problems
        >>> cnp_problems("conv", (16, 16, 8), (5, 5), (2, 2), "same", "none", (1, 1), (1, 1),
        ...              4, (8, 8))
        ['has a 5x5 kernel with stride 2: stride 2 needs a 3x3 kernel (published); use stride 1 \
or a 3x3 kernel.']
    """
    rows, columns, channels = (int(v) for v in input_shape)
    kernel, stride = tuple(kernel_size), tuple(kernel_stride)
    separable = kind == "separable"
    sizes = (3, 5, 7) if separable else (1, 3, 5, 7)
    bits_ok = limits.CHIP_WEIGHTS_BITS[kind]
    layer = "a separable layer" if separable else "a convolutional layer"
    problems = []
    if padding != "same":
        problems.append("has 'valid' padding: the chip's convolutional layers pad 'same' only "
                        "(measured); use padding 'same'.")
    if kernel[0] != kernel[1] or kernel[0] not in sizes:
        problems.append(f"has a {_pair_text(kernel)} kernel: {layer} takes square "
                        f"{', '.join(_pair_text((k, k)) for k in sizes)} kernels (published); "
                        "use one of those.")
    if stride[0] != stride[1] or stride[0] not in (1, 2):
        problems.append(f"has strides {stride}: the chip's convolutional layers take equal "
                        "strides of 1 or 2 (published); use strides 1 or 2.")
    elif stride[0] == 2 and kernel != (3, 3):
        problems.append(f"has a {_pair_text(kernel)} kernel with stride 2: stride 2 needs a "
                        "3x3 kernel (published); use stride 1 or a 3x3 kernel.")
    if weights_bits not in bits_ok:
        problems.append(f"has {weights_bits}-bit weights: {layer} takes "
                        f"{_choices(bits_ok)}-bit weights (published); quantize its weights to "
                        f"{bits_ok[-1]} bits.")
    if channels > CNP_MAX_CHANNELS:
        problems.append(f"has {channels} input channels: the chip's convolutional layers take "
                        f"at most {CNP_MAX_CHANNELS} (measured); use fewer channels.")
    if pool_type == "max":
        if pool_size[0] != pool_size[1] or pool_stride[0] != pool_stride[1]:
            problems.append(f"has max pooling {_pair_text(pool_size)} with strides "
                            f"{tuple(pool_stride)}: the chip pools with square windows and "
                            "equal strides (measured); use pool_size 2.")
        if any(p not in (1, 2) for p in pool_size):
            problems.append(f"has {_pair_text(pool_size)} max pooling: the chip's "
                            "convolutional layers pool 1x1 or 2x2 (measured: the mapper "
                            "refuses 3x3); use pool_size 2.")
        if any(s > p for s, p in zip(pool_stride, pool_size)):
            problems.append(f"has pooling strides {tuple(pool_stride)} larger than its pool "
                            f"size {tuple(pool_size)} (measured); use strides <= pool_size.")
        if any(p > o for p, o in zip(pool_size, (rows, columns))):
            problems.append(f"max pools {_pair_text(pool_size)} after an input of "
                            f"{_pair_text((rows, columns))}: the pooling window cannot exceed "
                            "the layer's input (measured); use a smaller pool_size.")
    elif pool_type == "global":
        low, high = limits.CHIP_GLOBAL_POOL_WIDTH
        if rows > high:
            problems.append(f"pools globally an input of {rows} rows: global average pooling "
                            f"takes at most {high} (published \"width {low} to {high}\"; the "
                            "mapper checks the first axis); downsample before this layer.")
        if conv_output_shape[1] < 3:
            problems.append(f"pools globally a map of {conv_output_shape[1]} column"
                            f"{'s' if conv_output_shape[1] != 1 else ''}: global average "
                            "pooling needs at least 3 (measured); pool earlier or use larger "
                            "inputs.")
    if channels <= CNP_MAX_CHANNELS and weights_bits in bits_ok and kernel[0] == kernel[1] and \
            kernel[0] in sizes and not _cnp_filters_fit(kind, kernel[0], weights_bits, channels, 1):
        problems.append(f"has {channels} input channels: one filter of its "
                        f"{_pair_text(kernel)} {weights_bits}-bit weights does not fit a "
                        f"CNP's {CNP_WEIGHT_BYTES}-byte weight memory (measured); use fewer "
                        "input channels or fewer weight bits.")
    return problems


def cnp_split_problems(kind: str, input_shape: Sequence[int], input_bits: int,
                       kernel_stride: Sequence[int], pool_type: str,
                       pool_size: Sequence[int], pool_stride: Sequence[int],
                       spatial: Optional[Tuple[int, int]],
                       filters_per_np: Sequence[int]) -> List[str]:
    """The CNP rules that depend on how the layer is split over NPs (measured).

    Rules: global average pooling needs its whole input in one NP's input memory (only its
    columns split, by 256); with a spatial split, no max pooling after a stride 2 convolution
    (separable layers can), nor a pooling window larger than its stride; a convolution of 1
    input channel and more than 16 filters needs an even number of groups of 8 filters on each
    NP.

    Arguments:
        kind: "conv" or "separable".
        input_shape: ``(rows, columns, channels)`` of the input.
        input_bits: the input bitwidth.
        kernel_stride: ``(rows, columns)``.
        pool_type: "none", "max" or "global".
        pool_size, pool_stride: ``(rows, columns)`` of max pooling.
        spatial: ``(row parts, column parts)`` (:func:`cnp_spatial_split`), None when no split
            fits the input memory.
        filters_per_np: the filters of each NP (:func:`cnp_filter_split`).

    Returns:
        The reasons, each with a fix (empty when the split maps).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import cnp_split_problems
        >>> cnp_split_problems("conv", (16, 16, 1), 4, (1, 1), "none", (1, 1), (1, 1), (1, 1),
        ...                    [24])
        ['has 24 filters on an NP with 1 input channel: above 16 filters, the chip needs an even \
number of groups of 8 filters on each NP (measured); use a multiple of 16 filters, or 16 or \
fewer.']
    """
    problems = []
    if spatial is None:
        return ["has an input too large for the CNPs' input memory however it is split "
                "(measured); use smaller inputs, fewer channels or fewer input bits."]
    split = spatial[0] * spatial[1] > 1
    if pool_type == "global" and \
            cnp_input_row_bytes(input_shape[0], input_shape[2], input_bits) * input_shape[1] \
            > CNP_INPUT_BYTES:
        problems.append(f"pools globally an input of {input_shape[0]}x{input_shape[1]}x"
                        f"{input_shape[2]} ({input_bits}-bit), more than one NP's "
                        f"{CNP_INPUT_BYTES}-byte input memory holds: global average pooling "
                        "cannot be split (measured); downsample or use fewer channels before "
                        "this layer.")
    if pool_type == "max" and split:
        if kind == "conv" and max(kernel_stride) > 1:
            problems.append("has a stride 2 convolution and max pooling on an input split over "
                            f"{spatial[0] * spatial[1]} NPs (measured); use stride 1 or no "
                            "pooling, or a smaller input.")
        if any(p > s for p, s in zip(pool_size, pool_stride)):
            problems.append(f"has pooling windows {tuple(pool_size)} larger than their strides "
                            f"{tuple(pool_stride)} on an input split over "
                            f"{spatial[0] * spatial[1]} NPs (measured); use strides = "
                            "pool_size.")
    if kind == "conv" and input_shape[2] == 1 and sum(filters_per_np) > 16:
        odd = sorted({count for count in filters_per_np if _ceil(count, 8) % 2})
        if odd:
            problems.append(f"has {odd[0]} filters on an NP with 1 input channel: above 16 "
                            "filters, the chip needs an even number of groups of 8 filters on "
                            "each NP (measured); use a multiple of 16 filters, or 16 or fewer.")
    return problems


# -- fully connected layers (FNP) --------------------------------------------------------------

def fnp_weight_bytes(inputs: int, units: int, weights_bits: int) -> int:
    """Bytes an FNP's weights take (measured: ``mem_info.weight_size`` of an FNP3 and
    ``external_size`` of an FNP2, exact).

    The inputs round up to 32; 4-bit weights take 6 bits; each unit adds 16 bytes.

    Arguments:
        inputs: rows x columns x channels of the input.
        units: the units.
        weights_bits: 1, 2 or 4.

    Returns:
        Bytes.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import fnp_weight_bytes
        >>> fnp_weight_bytes(3136, 10, 4)
        23680
    """
    stored_bits = 6 if weights_bits == 4 else weights_bits
    return 32 * _ceil(inputs, 32) * units * stored_bits // 8 + 16 * units


def fnp_type(inputs: int, units: int, weights_bits: int) -> str:
    """The NP type of a fully connected layer: "FNP3" when its weights fit
    :data:`FNP3_WEIGHT_BYTES`, else "FNP2" (weights in external memory) (measured).

    Arguments:
        inputs, units, weights_bits: as for :func:`fnp_weight_bytes`.

    Returns:
        "FNP3" or "FNP2".

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import fnp_type
        >>> fnp_type(3136, 10, 4), fnp_type(8192, 1000, 4)
        ('FNP3', 'FNP2')
    """
    return "FNP3" if fnp_weight_bytes(inputs, units, weights_bits) <= FNP3_WEIGHT_BYTES \
        else "FNP2"


def fnp_problems(inputs: int, weights_bits: int, input_bits: int) -> List[str]:
    """What keeps a fully connected layer off the AKD1000's FNPs.

    Rules: at most 57,334 inputs (published and measured), 1, 2 or 4-bit weights (published),
    1, 2 or 4-bit inputs (measured).

    Arguments:
        inputs: rows x columns x channels of the input.
        weights_bits: the weight bitwidth.
        input_bits: the input bitwidth.

    Returns:
        The reasons, each with a fix (empty when it maps).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import fnp_problems
        >>> fnp_problems(64 * 64 * 16, 4, 4)
        ['has 65536 inputs: a fully connected layer takes at most 57334 (published); pool or \
downsample before it.']
    """
    problems = []
    if inputs > FNP_MAX_INPUTS:
        problems.append(f"has {inputs} inputs: a fully connected layer takes at most "
                        f"{FNP_MAX_INPUTS} (published); pool or downsample before it.")
    bits_ok = limits.CHIP_WEIGHTS_BITS["dense"]
    if weights_bits not in bits_ok:
        problems.append(f"has {weights_bits}-bit weights: a fully connected layer takes "
                        f"{_choices(bits_ok)}-bit weights (published); quantize its weights to "
                        f"{bits_ok[-1]} bits.")
    if input_bits not in limits.ACT_BITS:
        problems.append(f"has {input_bits}-bit inputs: a fully connected layer takes 1, 2 or "
                        "4-bit inputs (measured); use input_bits 4.")
    return problems


# -- a whole layer, and the rules of a sequence ----------------------------------------------

def _register_problems(layer: HardwareLayer) -> List[str]:
    # Only CNPs check these without an activation (measured); with one, the Akida layer
    # already refuses what its registers cannot hold.
    if layer.kind not in ("conv", "separable") or layer.activation:
        return []
    problems = []
    if layer.threshold_range is not None:
        low, high = layer.threshold_range
        least, most = limits.threshold_range(False)
        if low < least or high > most:
            problems.append(f"has thresholds down to {low} / up to {high}: a CNP holds them in "
                            f"a signed {limits.REGISTER_BITS}-bit register even without "
                            "activation (measured); retrain with smaller biases, or end with a "
                            "FullyConnected layer.")
    step_limit = limits.act_step_limit(False)
    if layer.act_step_max is not None and layer.act_step_max >= step_limit:
        problems.append(f"has act_step {layer.act_step_max}: a CNP holds it below "
                        f"{step_limit:g} even without activation (measured); use a larger input "
                        "scaling, or end with a FullyConnected layer.")
    return problems


def layer_problems(layer: HardwareLayer) -> List[str]:
    """Every reason a layer cannot map, whatever its NP split and its neighbours.

    Arguments:
        layer: the layer.

    Returns:
        The reasons (empty when it can map; InputData always can: it is not mapped).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import HardwareLayer, layer_problems
        >>> layer_problems(HardwareLayer("fc", "dense", (64, 64, 16), (1, 1, 10), 4,
        ...                              filters=10))
        ['has 65536 inputs: a fully connected layer takes at most 57334 (published); pool or \
downsample before it.']
    """
    if layer.kind == "input_data":
        return []
    if layer.kind == "input_conv":
        problems = input_conv_problems(layer.input_shape, layer.kernel_size,
                                       layer.kernel_stride, layer.padding, layer.filters,
                                       layer.pool_type, layer.pool_size, layer.pool_stride,
                                       layer.activation)
        if layer.weights_all_zero:
            problems.append("has all its weights zero: the input convolution refuses it "
                            "(measured); train or convert the model again.")
        return problems
    if layer.kind == "dense":
        inputs = layer.input_shape[0] * layer.input_shape[1] * layer.input_shape[2]
        return fnp_problems(inputs, layer.weights_bits, layer.input_bits)
    problems = cnp_problems(layer.kind, layer.input_shape, layer.kernel_size,
                            layer.kernel_stride, layer.padding, layer.pool_type,
                            layer.pool_size, layer.pool_stride, layer.weights_bits,
                            layer.conv_output_shape)
    if layer.kind == "separable" and layer.weights_all_zero:
        problems.append("has a kernel of all-zero weights: a separable CNP refuses it "
                        "(measured); train or convert the model again.")
    return problems + _register_problems(layer)


def max_pool_sequence_problems(layer: HardwareLayer, next_layer: Optional[HardwareLayer],
                               ) -> List[str]:
    """The sequence rules of max pooling on a CNP (measured): a convolutional or separable
    layer with max pooling cannot end a hardware sequence, and the next layer must be
    convolutional or separable (the input convolution is not concerned).

    Arguments:
        layer: a layer.
        next_layer: the next layer of its hardware sequence, None when it would end it.

    Returns:
        The reasons (empty when the rule holds).

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import HardwareLayer, max_pool_sequence_problems
        >>> conv = HardwareLayer("c", "conv", (8, 8, 8), (4, 4, 8), 4, (3, 3), pool_type="max",
        ...                      pool_size=(2, 2), pool_stride=(2, 2))
        >>> max_pool_sequence_problems(conv, None)
        ['has max pooling and would end a hardware sequence: a convolutional layer with max \
pooling must be followed by another convolutional layer on the chip (measured); add a \
convolutional layer after it or move its pooling.']
    """
    if layer.kind not in ("conv", "separable") or layer.pool_type != "max":
        return []
    if next_layer is None:
        return ["has max pooling and would end a hardware sequence: a convolutional layer with "
                "max pooling must be followed by another convolutional layer on the chip "
                "(measured); add a convolutional layer after it or move its pooling."]
    if next_layer.kind not in ("conv", "separable"):
        return [f"has max pooling and is followed by '{next_layer.name}', which is not "
                "convolutional: a convolutional layer with max pooling must be followed by "
                "another convolutional layer on the chip (measured); add a convolutional "
                "layer after it or move its pooling."]
    return []


def fnp_counts() -> Dict[str, int]:
    """NPs of each FNP type on the AKD1000 (measured: the mesh).

    Returns:
        ``{"FNP3": 18, "FNP2": 4}``.

    Example:
        >>> from cnn2snn_tfmot.chip.hardware import fnp_counts
        >>> fnp_counts()
        {'FNP3': 18, 'FNP2': 4}
    """
    mesh = akd1000_mesh()
    return {kind: sum(kind in np.types for np in mesh) for kind in ("FNP3", "FNP2")}
