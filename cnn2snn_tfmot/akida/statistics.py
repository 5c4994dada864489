"""Per-layer statistics of an Akida model on data: activity, events, potentials, registers.

On Akida the work of a layer, hence its power and latency, grows with the events it receives:
the non-zero values of the previous layer. :meth:`cnn2snn_tfmot.akida.Model.statistics` runs the
emulator's probe (:mod:`cnn2snn_tfmot.engine.probe`) over the data in one streamed pass (one
batch in memory at a time) and accumulates, per layer:

* ``nonzero_fraction``: the fraction of the layer's outputs that are not zero (its sparsity is
  ``1 - nonzero_fraction``);
* ``events_per_image`` and ``max_events_per_image``: the number of non-zero outputs of one
  image, on average and at most;
* ``potential_min`` / ``potential_max``: the range of the potentials the fire compares with the
  thresholds (after pooling), and ``potential_headroom_bits``, their headroom in the register
  that holds them (below); ``saturated_fraction``, the fraction of potentials at a bound of a
  saturating register (information clipped away);
* ``threshold_min`` / ``threshold_max``, ``act_step_min`` / ``act_step_max`` and
  ``register_margin_bits``, the headroom of the thresholds and act_steps in their registers,
  the figure :class:`cnn2snn_tfmot.ScaleFactorMonitor` logs during training;
* ``level_counts``: how many outputs took each level ``0 .. 2**bits - 1``.

Registers (docs/akida-v1.md sections 5, 6 and 8; numbers in :mod:`cnn2snn_tfmot.chip.limits`):

* potentials of FullyConnected layers and pooled potentials (max or global average pooling)
  are held in a signed 20-bit register that saturates: ``[-2**19, 2**19 - 1]``;
* unpooled convolutional potentials are exact sums in a signed 32-bit accumulator;
* thresholds are signed 20-bit registers (24-bit on InputConvolutional); act_steps are unsigned
  fixed-point numbers with 4 fractional bits in 20 bits (24 on InputConvolutional), so
  ``1/16 <= act_step < 2**16`` (``2**20``).

Headroom in bits of values in ``[vmin, vmax]`` against a register ``[low, high]`` is
``min(log2(high / vmax) if vmax > 0, log2(low / vmin) if vmin < 0)`` (``inf`` when every
value is 0): how many more bits the largest value could grow before reaching the register's
bound. 0 means a value reached the bound (for a saturating register: possibly clipped).

Example:
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> stats = akida_model.statistics(images, backend="tf")
    >>> print(stats)                                     # doctest: +ELLIPSIS
    Statistics of 3 layers over 32 images (input: ... events per image)
    ...
    >>> round(stats["conv_0"].sparsity + stats["conv_0"].nonzero_fraction, 6)
    1.0
"""
from __future__ import annotations

import dataclasses
import math
import textwrap
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida.inputs import batches, sample_count
from cnn2snn_tfmot.akida.summary import format_table
from cnn2snn_tfmot.chip import limits
from cnn2snn_tfmot.chip import params as P
from cnn2snn_tfmot.engine.probe import potential_register
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = ["LayerStatistics", "Statistics", "model_statistics", "headroom_bits"]


def headroom_bits(low: float, high: float, vmin: float, vmax: float) -> float:
    """Headroom, in bits, of values in ``[vmin, vmax]`` against a register ``[low, high]``.

    Arguments:
        low: the register's lowest value (negative, or 0 for an unsigned register).
        high: the register's highest value (positive).
        vmin: the smallest value seen.
        vmax: the largest value seen.

    Returns:
        ``min(log2(high / vmax) if vmax > 0, log2(low / vmin) if vmin < 0)``; ``inf`` when
        both are 0; negative when a value lies outside the register.

    Example:
        >>> from cnn2snn_tfmot.akida.statistics import headroom_bits
        >>> headroom_bits(-2 ** 19, 2 ** 19 - 1, -1000, 2 ** 17)
        1.99...
        >>> headroom_bits(-8, 7, 0, 0)
        inf
    """
    margins = []
    if vmax > 0:
        margins.append(math.log2(high / vmax) if high > 0 else -math.inf)
    if vmin < 0:
        margins.append(math.log2(low / vmin) if low < 0 else -math.inf)
    return float(min(margins)) if margins else math.inf


@dataclasses.dataclass(frozen=True)
class LayerStatistics:
    """The statistics of one layer (see :mod:`cnn2snn_tfmot.akida.statistics` for each figure
    and for the registers). Figures that do not apply are None: InputData has no potentials nor
    registers; a layer without activation has no levels and unbounded (software-only)
    threshold and act_step.

    Arguments:
        name: the layer name.
        layer_type: "InputData", "InputConvolutional", "Convolutional",
            "SeparableConvolutional" or "FullyConnected".
        output_bits: bits of the output levels, None for int32 potentials (no activation).
        outputs_per_image: the number of outputs of one image (height x width x channels).
        nonzero_fraction: fraction of the outputs that are not zero, over every image.
        events_per_image: mean number of non-zero outputs per image.
        max_events_per_image: the largest number of non-zero outputs of one image.
        potential_min: the smallest potential seen.
        potential_max: the largest potential seen.
        potential_bits: the width of the potentials' signed register (20 or 32).
        potential_saturates: whether that register saturates (20-bit) or is exact (32-bit).
        potential_headroom_bits: headroom of the potentials in that register.
        saturated_fraction: fraction of the potentials at a bound of a saturating register
            (None for an exact 32-bit one).
        threshold_min: the smallest threshold.
        threshold_max: the largest threshold.
        act_step_min: the smallest act_step.
        act_step_max: the largest act_step.
        register_margin_bits: the smallest headroom of the thresholds and act_steps in their
            registers (:func:`cnn2snn_tfmot.chip.limits.register_margin`).
        level_counts: number of outputs at each level ``0 .. 2**output_bits - 1``.

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> layer = akida_model.statistics(images, backend="tf")["separable_1"]
        >>> layer.outputs_per_image, layer.output_bits, len(layer.level_counts)
        (1024, 4, 16)
    """
    name: str
    layer_type: str
    output_bits: Optional[int]
    outputs_per_image: int
    nonzero_fraction: float
    events_per_image: float
    max_events_per_image: int
    potential_min: Optional[int] = None
    potential_max: Optional[int] = None
    potential_bits: Optional[int] = None
    potential_saturates: Optional[bool] = None
    potential_headroom_bits: Optional[float] = None
    saturated_fraction: Optional[float] = None
    threshold_min: Optional[int] = None
    threshold_max: Optional[int] = None
    act_step_min: Optional[float] = None
    act_step_max: Optional[float] = None
    register_margin_bits: Optional[float] = None
    level_counts: Optional[List[int]] = None

    @property
    def sparsity(self) -> float:
        """The fraction of the outputs that are zero, ``1 - nonzero_fraction``."""
        return 1.0 - self.nonzero_fraction

    def to_dict(self) -> dict:
        """The figures as a dict of plain Python values (JSON-serialisable, except ``inf``).

        Returns:
            ``{figure: value}`` in the order of the fields.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> figures = akida_model.statistics(images, backend="tf")["dense"].to_dict()
            >>> figures["output_bits"], figures["potential_bits"], figures["level_counts"]
            (None, 20, None)
        """
        return dataclasses.asdict(self)


class Statistics:
    """Per-layer statistics of an Akida model over a data set (from
    :meth:`cnn2snn_tfmot.akida.Model.statistics`).

    It prints as a table, indexes by layer name or position, iterates over
    :class:`LayerStatistics` in layer order, and converts with :meth:`to_dict` and
    :meth:`to_pandas`.

    Arguments:
        layers: the :class:`LayerStatistics` of every layer, in order.
        samples: the number of images seen.
        input_events_per_image: mean number of non-zero input values per image.

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> stats = akida_model.statistics(images, backend="tf")
        >>> [layer.name for layer in stats], stats.samples
        (['conv_0', 'separable_1', 'dense'], 32)
        >>> stats[0] is stats["conv_0"]
        True
    """

    def __init__(self, layers: List[LayerStatistics], samples: int,
                 input_events_per_image: float):
        self.layers = list(layers)
        self.samples = int(samples)
        self.input_events_per_image = float(input_events_per_image)

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self) -> Iterator[LayerStatistics]:
        return iter(self.layers)

    def __getitem__(self, key) -> LayerStatistics:
        if isinstance(key, str):
            for layer in self.layers:
                if layer.name == key:
                    return layer
            names = ", ".join(repr(layer.name) for layer in self.layers)
            raise KeyError(f"no statistics for a layer named {key!r}; the layers are: {names}.")
        return self.layers[key]

    @property
    def total_events_per_image(self) -> float:
        """Mean number of events per image summed over the layers' outputs."""
        return float(sum(layer.events_per_image for layer in self.layers
                         if layer.layer_type != "InputData"))

    def to_dict(self) -> Dict[str, dict]:
        """The figures of every layer by layer name, in layer order.

        Returns:
            ``{layer name: {figure: value}}`` (see :class:`LayerStatistics`); plain Python
            values. ``samples`` and ``input_events_per_image`` are attributes.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> stats = akida_model.statistics(images, backend="tf")
            >>> stats.to_dict()["conv_0"]["outputs_per_image"]
            512
        """
        return {layer.name: layer.to_dict() for layer in self.layers}

    def to_pandas(self):
        """The figures as a ``pandas.DataFrame``, one row per layer (index: layer name).

        Returns:
            A DataFrame whose columns are the fields of :class:`LayerStatistics` but ``name``.

        Raises:
            ImportError: pandas is not installed (it is not a dependency of this package).

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> frame = akida_model.statistics(images, backend="tf").to_pandas()
            >>> int(frame.loc["conv_0", "outputs_per_image"])
            512
        """
        try:
            import pandas
        except ImportError as err:
            raise ImportError("Statistics.to_pandas() needs pandas, which cnn2snn_tfmot does "
                              "not install: `pip install pandas`, or use to_dict().") from err
        rows = self.to_dict()
        frame = pandas.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "name"
        return frame.drop(columns="name")

    def rows(self) -> Tuple[Tuple[str, ...], List[Tuple[str, ...]]]:
        """The table's cells as text: the headers and one row per layer (what :meth:`table`
        prints and the HTML report shows).

        Returns:
            ``(headers, rows)``, tuples of strings.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> headers, rows = akida_model.statistics(images, backend="tf").rows()
            >>> headers[:2], [row[0] for row in rows]
            (('Layer', 'Bits'), ['conv_0', 'separable_1', 'dense'])
        """
        return HEADERS, [_row(layer) for layer in self.layers]

    def table(self) -> List[str]:
        """The table that ``print`` shows, as lines.

        Returns:
            A list of strings: a title, the header, one line per layer, the registers' legend.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.statistics(images, backend="tf").table()[2].split()[:3]
            ['Layer', 'Bits', 'Non-zero']
        """

        headers, rows = self.rows()
        title = (f"Statistics of {len(self.layers)} layers over {self.samples} images (input: "
                 f"{self.input_events_per_image:.1f} events per image)")
        legend = (f"Events/img: non-zero outputs per image ({self.total_events_per_image:.1f} "
                  f"in all). Headroom: bits left in the potentials' register (20-bit, "
                  f"saturating; '*': exact 32-bit accumulator). Margin: bits left in the "
                  f"threshold and act_step registers (as ScaleFactorMonitor).")
        lines = format_table(headers, rows)
        return [title] + lines + textwrap.wrap(legend, max(len(lines[0]), 60))

    def __str__(self) -> str:
        return "\n".join(self.table())

    __repr__ = __str__


#: The columns of the statistics table.
HEADERS = ("Layer", "Bits", "Non-zero", "Events/img", "Potentials [min, max]", "Headroom",
           "Saturated", "Thresholds [min, max]", "Act steps [min, max]", "Margin")


def _bits(value: Optional[float]) -> str:
    return "-" if value is None else ("inf" if math.isinf(value) else f"{value:.1f}")


def _range(low, high, fmt: str = "{}") -> str:
    return "-" if low is None else f"[{fmt.format(low)}, {fmt.format(high)}]"


def _row(layer: LayerStatistics) -> tuple:
    headroom = _bits(layer.potential_headroom_bits)
    if layer.potential_bits is not None and not layer.potential_saturates:
        headroom += "*"
    saturated = "-" if layer.saturated_fraction is None else \
        f"{100 * layer.saturated_fraction:.2f}%"
    return (layer.name, "-" if layer.output_bits is None else str(layer.output_bits),
            f"{100 * layer.nonzero_fraction:.1f}%", f"{layer.events_per_image:.1f}",
            _range(layer.potential_min, layer.potential_max), headroom, saturated,
            _range(layer.threshold_min, layer.threshold_max),
            _range(layer.act_step_min, layer.act_step_max, "{:.4g}"),
            _bits(layer.register_margin_bits))


class _Accumulator:
    """Running totals of one layer's per-batch figures (bounded memory)."""

    def __init__(self):
        self.events = 0
        self.max_events = 0
        self.potential_min: Optional[int] = None
        self.potential_max: Optional[int] = None
        self.saturated = 0
        self.level_counts: Optional[np.ndarray] = None

    def add(self, figures: dict) -> None:
        events = figures["events"].numpy()
        self.events += int(events.sum())
        self.max_events = max(self.max_events, int(events.max(initial=0)))
        if "potential_min" in figures:
            low, high = int(figures["potential_min"]), int(figures["potential_max"])
            self.potential_min = low if self.potential_min is None else \
                min(self.potential_min, low)
            self.potential_max = high if self.potential_max is None else \
                max(self.potential_max, high)
            self.saturated += int(figures["saturated"])
        if "level_counts" in figures:
            counts = figures["level_counts"].numpy()
            self.level_counts = counts if self.level_counts is None else \
                self.level_counts + counts


def _register_figures(layer, lowered, total: _Accumulator, samples: int) -> dict:
    """The potentials' and the registers' figures of a neural layer."""
    bits, low, high, saturates = potential_register(lowered)
    count = samples * int(np.prod(layer.output_dims))
    threshold = layer.variable("threshold").astype(np.int64)
    act_step = layer.variable("act_step")
    activation = layer.parameters.activation
    return dict(
        potential_min=total.potential_min, potential_max=total.potential_max,
        potential_bits=bits, potential_saturates=saturates,
        potential_headroom_bits=headroom_bits(low, high, total.potential_min,
                                              total.potential_max),
        saturated_fraction=total.saturated / count if saturates else None,
        threshold_min=int(threshold.min()), threshold_max=int(threshold.max()),
        act_step_min=float(act_step.min()), act_step_max=float(act_step.max()),
        register_margin_bits=limits.register_margin(
            threshold, act_step, layer.parameters.act_bits if activation else None,
            layer.is_input))


def _layer_result(layer, lowered, total: _Accumulator, samples: int) -> LayerStatistics:
    per_image = int(np.prod(layer.output_dims))
    figures = dict(
        name=layer.name, layer_type=layer.layer_type, output_bits=layer.output_bits,
        outputs_per_image=per_image, nonzero_fraction=total.events / (samples * per_image),
        events_per_image=total.events / samples, max_events_per_image=total.max_events,
        level_counts=None if total.level_counts is None else
        [int(c) for c in total.level_counts])
    if layer.layer_type != "InputData":
        figures.update(_register_figures(layer, lowered, total, samples))
    return LayerStatistics(**figures)


def model_statistics(model, x, batch_size: int = 256, verbose: int = 0,
                     backend: Optional[str] = None) -> Statistics:
    """Runs ``model`` on ``x`` in one streamed pass and returns its per-layer statistics.

    :meth:`cnn2snn_tfmot.akida.Model.statistics` calls it; see it for the arguments.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        x: uint8 images as for ``Model.forward`` (array, dataset or iterable of batches;
            labels, if any, are ignored).
        batch_size: samples per step for arrays and unbatched datasets.
        verbose: 1 shows a progress bar, 0 is silent.
        backend: a graph back-end: None, "custom" or "tf".

    Returns:
        A :class:`Statistics`.

    Raises:
        ValueError: an empty model, or ``x`` without any sample.

    Example:
        >>> from cnn2snn_tfmot.akida.statistics import model_statistics
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> model_statistics(akida_model, images, backend="tf").samples
        32
    """

    batch_size = P.check_int(batch_size, "batch_size", low=1)
    verbose = P.check_int(verbose, "verbose", choices=(0, 1, 2))
    function = model.statistics_function(backend).get_concrete_function()
    input_bits = model.input_bits
    progress = _progress(sample_count(x), verbose)
    totals = [_Accumulator() for _ in range(len(model.layers) + 1)]
    samples = 0
    for images, _ in batches(x, batch_size, model.input_shape, input_bits):
        if images.shape[0] == 0:
            continue
        for total, figures in zip(totals, function(tf.constant(images))):
            total.add(figures)
        samples += images.shape[0]
        progress(samples)
    if samples == 0:
        raise ValueError("x has no samples: statistics are undefined.")
    layers = [_layer_result(layer, lowered, total, samples)
              for layer, lowered, total in zip(model.layers, model.lowered(), totals[1:])]
    return Statistics(layers, samples, totals[0].events / samples)


def _progress(count: Optional[int], verbose: int) -> Callable[[int], None]:
    if not verbose:
        return lambda seen: None

    bar = keras.utils.Progbar(count, verbose=verbose, unit_name="sample")
    return bar.update
