"""This project's mapper of an Akida model onto the AKD1000's neural processors.

``Model.map(device="AKD1000", hw_only=False, mode="all_nps")`` answers what BrainChip's
``akida.Model.map(akida.AKD1000(), ...)`` answers, without BrainChip's runtime: which layers run
in hardware and in which sequences, on how many NPs of which types, with how large a program.
Every rule comes from :mod:`cnn2snn_tfmot.chip.hardware`; the allocation and the modes below
were measured against the runtime's mapper (akida 2.19.3, docs/akida-v1.md section 10):

* Layers are placed in order. A layer that breaks a hardware rule runs in software; so does a
  convolutional layer with max pooling that would end a hardware sequence (or precede a layer
  that is not convolutional), and then the one before it if it pools too. Consecutive software
  layers form one software sequence. InputData is not mapped.
* A hardware sequence holds the HRC (the input convolution) and the 78 NPs. Convolutional layers
  take ``row parts x column parts x filter groups`` CNPs
  (:func:`~cnn2snn_tfmot.chip.hardware.cnp_spatial_split`,
  :func:`~cnn2snn_tfmot.chip.hardware.cnp_filter_split`), from the CNP-only NPs first, then
  those that can also be CNP2, FNP3 and FNP2; a fully connected layer takes one FNP3 or FNP2.
  When a layer does not fit in the NPs left, a new hardware sequence starts with it. Each
  sequence runs in one pass on the AKD1000.
* ``mode="minimal"`` maps with at most 504 filters per CNP. ``"all_nps"`` and ``"hw_pr"``
  search that limit by bisection for the mapping with the most layers in hardware, then the
  fewest sequences, then (``"all_nps"`` only) the fewest passes, then the most NPs, as
  BrainChip's ``MapMode.AllNps`` and ``MapMode.HwPr`` do.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import Model, InputConvolutional, FullyConnected, PoolType
    >>> model = Model()
    >>> model.add(InputConvolutional((28, 28, 1), (3, 3), 8, weights_bits=8, act_bits=4,
    ...                              pool_type=PoolType.Max, pool_size=(2, 2)))
    >>> model.add(FullyConnected(10, weights_bits=4, activation=False))
    >>> model.layers[0].set_variable("weights", np.ones((3, 3, 1, 8), np.int8))
    >>> mapping = model.map("AKD1000", mode="minimal")
    >>> mapping.np_counts()
    {'InputConv_1': {'HRC': 1}, 'Fully_2': {'FNP3': 1}}
"""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.chip import hardware as hw
from cnn2snn_tfmot.chip.params import check_bool

__all__ = ["Mapping", "MappedSequence", "MappedNP", "AkidaMappingError", "MAP_MODES",
           "map_model", "map_layers", "hardware_layers", "program_bytes", "check_mode"]

#: Mapping modes, as BrainChip's ``MapMode.AllNps``, ``HwPr`` and ``Minimal``.
MAP_MODES = ("all_nps", "hw_pr", "minimal")
_CNP_KINDS = ("conv", "separable")


class AkidaMappingError(ValueError):
    """The model cannot run in one hardware sequence (``hw_only=True``): the message lists each
    layer that stops it, with the reason and a fix.

    Attributes:
        problems: ``[(layer name, reason), ...]``.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import AkidaMappingError
        >>> error = AkidaMappingError([("conv", "has 8-bit weights ...")])
        >>> error.problems[0][0]
        'conv'
    """

    def __init__(self, problems: Sequence[Tuple[str, str]], device: str = "AKD1000"):
        self.problems = [(str(name), str(reason)) for name, reason in problems]
        lines = [f"  - Layer '{name}' {reason}" for name, reason in self.problems]
        layers = sorted({name for name, _ in self.problems}, key=[n for n, _ in self.problems]
                        .index)
        super().__init__(f"The model cannot run in hardware on the {device} in one sequence "
                         f"(layer{'s' if len(layers) > 1 else ''} "
                         f"{', '.join(repr(n) for n in layers)}):\n" + "\n".join(lines))


@dataclasses.dataclass(frozen=True)
class MappedNP:
    """One NP given to a layer.

    Attributes:
        ident: ``(column, row, index)`` of the NP on the mesh; ``(0, 0, 0)`` for the HRC.
        type: "HRC", "CNP1", "CNP2", "FNP2" or "FNP3".
        filters: the filters (units) it computes; 0 for the HRC (it computes them all).

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import MappedNP
        >>> MappedNP((1, 3, 0), "FNP3", 10).type
        'FNP3'
    """
    ident: Tuple[int, int, int]
    type: str
    filters: int


@dataclasses.dataclass
class MappedSequence:
    """A sequence of consecutive layers, run in hardware or in software.

    Attributes:
        hardware: True for a hardware sequence.
        passes: the layer names of each pass (one pass per sequence on the AKD1000).
        nps: per layer name, its NPs (empty for software layers).
        program_bytes: the size of the sequence's program (:func:`program_bytes`), None in
            software.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import MappedSequence
        >>> MappedSequence(False, [["conv"]], {}).name
        'SW/conv'
    """
    hardware: bool
    passes: List[List[str]]
    nps: Dict[str, List[MappedNP]]
    program_bytes: Optional[int] = None

    @property
    def layers(self) -> List[str]:
        """The layer names, in order."""
        return [name for names in self.passes for name in names]

    @property
    def name(self) -> str:
        """BrainChip's style of name: "HW/first-last" or "SW/first-last"."""
        names = self.layers
        span = names[0] if len(names) == 1 else f"{names[0]}-{names[-1]}"
        return f"{'HW' if self.hardware else 'SW'}/{span}"


class Mapping:
    """Where each layer of an Akida model runs on a device: the result of ``Model.map``.

    Attributes:
        device: "AKD1000".
        mode: "all_nps", "hw_pr" or "minimal".
        hw_only: whether one hardware sequence was required.
        sequences: the :class:`MappedSequence` list, in order.
        max_filters: the most filters per CNP the mode settled on.

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> mapping = akida_model.map("AKD1000")
        >>> [sequence.name for sequence in mapping.sequences]
        ['HW/conv_0-dense']
    """

    def __init__(self, device: str, mode: str, hw_only: bool,
                 sequences: List[MappedSequence], max_filters: int):
        self.device, self.mode, self.hw_only = device, mode, hw_only
        self.sequences, self.max_filters = sequences, max_filters

    def np_counts(self) -> Dict[str, Dict[str, int]]:
        """NPs per layer and type, for the layers that run in hardware.

        Returns:
            ``{layer name: {np type: count}}``, in layer order.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.map("AKD1000", mode="minimal").np_counts()["conv_0"]
            {'HRC': 1}
        """
        counts = {}
        for sequence in self.sequences:
            for name in sequence.layers:
                if sequence.nps.get(name):
                    per_type: Dict[str, int] = {}
                    for np_ in sequence.nps[name]:
                        per_type[np_.type] = per_type.get(np_.type, 0) + 1
                    counts[name] = per_type
        return counts

    @property
    def total_nps(self) -> int:
        """NPs used, the HRC excluded (as BrainChip's model zoo counts them)."""
        return sum(n for per_type in self.np_counts().values()
                   for kind, n in per_type.items() if kind != "HRC")

    @property
    def passes(self) -> int:
        """Passes over all sequences (hardware and software)."""
        return sum(len(sequence.passes) for sequence in self.sequences)

    @property
    def program_bytes(self) -> int:
        """Program bytes of all hardware sequences."""
        return sum(s.program_bytes or 0 for s in self.sequences)

    @property
    def software_layers(self) -> List[str]:
        """Names of the layers that run in software."""
        return [name for s in self.sequences if not s.hardware for name in s.layers]

    def layer_nps(self, layer_name: str) -> str:
        """A layer's NPs as text, as the summaries show them.

        Arguments:
            layer_name: a layer's name.

        Returns:
            "2 CNP1", "1 FNP3"... for a hardware layer, "software" for a software one, "-" for
            a layer that is not mapped (InputData).

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.map("AKD1000", mode="minimal").layer_nps("conv_0")
            '1 HRC'
        """
        counts = self.np_counts().get(layer_name)
        if counts:
            return ", ".join(f"{n} {kind}" for kind, n in counts.items())
        return "software" if layer_name in self.software_layers else "-"

    def layer_rows(self) -> List[Tuple[str, str, str]]:
        """``(sequence name, layer name, NPs)`` per mapped layer, in order: the table the
        command line and the HTML report show.

        Returns:
            The rows.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.map("AKD1000", mode="minimal").layer_rows()[0]
            ('HW/conv_0-dense', 'conv_0', '1 HRC')
        """
        return [(sequence.name, name, self.layer_nps(name)) for sequence in self.sequences
                for name in sequence.layers]

    def sequence_of(self, layer_name: str) -> MappedSequence:
        """The sequence that holds a layer.

        Arguments:
            layer_name: a mapped layer's name.

        Returns:
            Its :class:`MappedSequence`.

        Raises:
            ValueError: no sequence holds it (the message lists the mapped layers).

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.map("AKD1000").sequence_of("dense").hardware
            True
        """
        for sequence in self.sequences:
            if layer_name in sequence.layers:
                return sequence
        names = ", ".join(repr(n) for s in self.sequences for n in s.layers)
        raise ValueError(f"no sequence holds a layer named {layer_name!r}; the mapped layers "
                         f"are {names} (InputData is not mapped).")

    def to_dict(self) -> dict:
        """A JSON-ready description (sequences, passes, NPs per layer, program bytes).

        Returns:
            A dict.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> sorted(akida_model.map("AKD1000").to_dict())
            ['device', 'hw_only', 'max_filters', 'mode', 'sequences']
        """
        return {
            "device": self.device, "mode": self.mode, "hw_only": self.hw_only,
            "max_filters": self.max_filters,
            "sequences": [{
                "name": s.name, "backend": "hardware" if s.hardware else "software",
                "passes": [list(names) for names in s.passes],
                "program_bytes": s.program_bytes,
                "nps": {name: [{"ident": list(n.ident), "type": n.type, "filters": n.filters}
                               for n in nps] for name, nps in s.nps.items()},
            } for s in self.sequences],
        }

    def summary_lines(self) -> List[str]:
        """One line per sequence: name, backend, passes, NPs per type, program bytes.

        Returns:
            The lines.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.map("AKD1000").summary_lines()[0].startswith("AKD1000")
            True
        """
        totals: Dict[str, int] = {}
        for per_type in self.np_counts().values():
            for kind, n in per_type.items():
                totals[kind] = totals.get(kind, 0) + n
        used = ", ".join(f"{totals[k]} {k}" for k in hw.NP_TYPES if k in totals) or "no NP"
        lines = [f"{self.device} mapping ({self.mode}{', hw_only' if self.hw_only else ''}): "
                 f"{len(self.sequences)} sequence{'s' if len(self.sequences) > 1 else ''}, "
                 f"{used}, program {self.program_bytes} bytes"]
        for s in self.sequences:
            if s.hardware:
                lines.append(f"  {s.name}: hardware, {len(s.passes)} pass, program "
                             f"{s.program_bytes} bytes")
            else:
                lines.append(f"  {s.name}: software")
        return lines

    def __repr__(self) -> str:
        return (f"<Mapping {self.device} {self.mode}: "
                f"{', '.join(s.name for s in self.sequences)}; {self.total_nps} NPs>")


# -- plain descriptions of an Akida model's layers -------------------------------------------

def hardware_layers(model) -> List[hw.HardwareLayer]:
    """The :class:`~cnn2snn_tfmot.chip.hardware.HardwareLayer` of each layer of an Akida model
    (variables included: all-zero weights, thresholds and act_steps).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.

    Returns:
        One description per layer, InputData included.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import hardware_layers
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> [layer.kind for layer in hardware_layers(akida_model)]
        ['input_conv', 'separable', 'dense']
    """
    described = []
    input_bits = None
    for layer in model.layers:
        p = layer.parameters
        kind = {"InputData": "input_data", "InputConvolutional": "input_conv",
                "Convolutional": "conv", "SeparableConvolutional": "separable",
                "FullyConnected": "dense"}[layer.layer_type]
        if kind == "input_data":
            described.append(hw.HardwareLayer(layer.name, kind, layer.input_dims,
                                              layer.output_dims, p.input_bits))
            input_bits = p.input_bits
            continue
        values = dict(weights_bits=p.weights_bits, activation=p.activation,
                      act_bits=p.act_bits)
        if kind == "dense":
            values["filters"] = p.units
        else:
            pool = {"NoPooling": "none", "Max": "max", "Average": "global"}[p.pool_type.name]
            size = tuple(p.pool_size) if pool == "max" else (1, 1)
            stride = tuple(p.pool_stride) if pool == "max" else (1, 1)
            if pool == "max" and stride[0] < 1:
                stride = size
            values.update(kernel_size=tuple(p.kernel_size), kernel_stride=tuple(p.kernel_stride),
                          padding=p.padding.tf_name, filters=p.filters, pool_type=pool,
                          pool_size=size, pool_stride=stride)
        weights = [layer.variable(name) for name in ("weights", "weights_pw")
                   if name in layer.variables]
        values["weights_all_zero"] = any(not np.any(w) for w in weights)
        if not p.activation:
            threshold = layer.variable("threshold")
            values["threshold_range"] = (int(threshold.min()), int(threshold.max()))
            values["act_step_max"] = float(layer.variable("act_step").max())
        bits = 8 if kind == "input_conv" else input_bits
        described.append(hw.HardwareLayer(layer.name, kind, tuple(layer.input_dims),
                                          tuple(layer.output_dims), bits, **values))
        input_bits = p.act_bits
    return described


# -- the core: placing layers for one limit of filters per CNP -------------------------------

@dataclasses.dataclass
class _Plan:
    """What one layer needs: its NPs (type, filters), or why it cannot map."""
    problems: List[str]
    demand: List[Tuple[str, int]] = dataclasses.field(default_factory=list)


def _plan(layer: hw.HardwareLayer, max_filters: int) -> _Plan:
    problems = hw.layer_problems(layer)
    if problems:
        return _Plan(problems)
    if layer.kind == "input_conv":
        return _Plan([], [("HRC", 0)])
    if layer.kind == "dense":
        inputs = int(np.prod(layer.input_shape))
        return _Plan([], [(hw.fnp_type(inputs, layer.filters, layer.weights_bits),
                           layer.filters)])
    kernel = layer.kernel_size[0]
    groups = hw.cnp_filter_split(layer.kind, kernel, layer.weights_bits,
                                 layer.input_shape[2], layer.filters, max_filters)
    if layer.pool_type == "global":  # only the 256-column limit splits it (measured)
        spatial = (1, -(-layer.input_shape[1] // hw.CNP_MAX_COLUMNS))
    else:
        spatial = hw.cnp_spatial_split(layer.input_shape, layer.input_bits, kernel,
                                       layer.pool_stride if layer.pool_type == "max" else (1, 1))
    problems = hw.cnp_split_problems(layer.kind, layer.input_shape, layer.input_bits,
                                     layer.kernel_stride,
                                     layer.pool_type, layer.pool_size, layer.pool_stride,
                                     spatial, groups or [])
    if problems:
        return _Plan(problems)
    parts = spatial[0] * spatial[1]
    return _Plan([], [("CNP1", filters) for filters in groups for _ in range(parts)])


class _Pool:
    """The NPs of one hardware sequence, given out in the runtime's order (measured)."""

    def __init__(self):
        self.mesh = hw.akd1000_mesh()
        self.free = [True] * len(self.mesh)
        self.hrc_free = True
        # CNPs take the NPs that can do nothing else first, then those that can be CNP2, FNP3
        # and last FNP2 (measured on the runtime's NP idents).
        rank = {("CNP1",): 0, ("CNP1", "CNP2"): 1, ("CNP1", "FNP3"): 2, ("CNP1", "FNP2"): 3}
        self.cnp_order = sorted(range(len(self.mesh)), key=lambda i: rank[self.mesh[i].types])

    def _free(self, kind: str, order=None) -> List[int]:
        order = range(len(self.mesh)) if order is None else order
        return [i for i in order if self.free[i] and kind in self.mesh[i].types]

    def take(self, demand: List[Tuple[str, int]]) -> Optional[List[MappedNP]]:
        """The NPs for a layer's demand (one HRC, one FNP, or CNPs), or None (nothing taken)
        when they are not free."""
        kind = demand[0][0]
        if kind == "HRC":
            if not self.hrc_free:
                return None
            self.hrc_free = False
            return [MappedNP((0, 0, 0), "HRC", 0)]
        if kind == "CNP1":
            found = self._free("CNP1", self.cnp_order)[:len(demand)]
            if len(found) < len(demand):
                return None
            kinds = ["CNP1"] * len(found)
        else:
            # An FC layer whose weights fit an FNP3 takes an FNP2 when no FNP3 is left
            # (measured).
            found, kinds = self._free(kind)[:1], [kind]
            if not found and kind == "FNP3":
                found, kinds = self._free("FNP2")[:1], ["FNP2"]
            if not found:
                return None
        for index in found:
            self.free[index] = False
        return [MappedNP(self.mesh[i].ident, k, filters)
                for i, k, (_, filters) in zip(found, kinds, demand)]

    def missing(self, demand: List[Tuple[str, int]]) -> Tuple[str, int, int]:
        """(type, needed, free) of a demand :meth:`take` could not meet."""
        kind = demand[0][0]
        if kind == "HRC":
            return "HRC", 1, 0
        if kind == "FNP3":
            kind = "FNP2"
        return kind, len(demand), len(self._free(kind))


@dataclasses.dataclass
class _Result:
    sequences: List[MappedSequence]
    error: Optional[List[Tuple[str, str]]] = None

    def criteria(self) -> Optional[dict]:
        if self.error is not None:
            return None
        hardware = [s for s in self.sequences if s.hardware]
        layers = sum(len(s.layers) for s in hardware)
        nps = sum(1 for s in hardware for nps in s.nps.values() for n in nps if n.type != "HRC")
        return {"layers": layers, "sequences": len(self.sequences),
                "passes": sum(len(s.passes) for s in self.sequences), "nps": nps}


def _place(layers: List[hw.HardwareLayer], max_filters: int, hw_only: bool) -> _Result:
    """Places the layers in sequences for one limit of filters per CNP (see module docstring)."""
    by_name = {layer.name: layer for layer in layers}
    sequences: List[MappedSequence] = []
    state = {"pool": None}

    def current() -> Optional[MappedSequence]:
        if sequences and sequences[-1].hardware and state["pool"] is not None:
            return sequences[-1]
        return None

    def to_software(names: List[str]) -> None:
        if not names:
            return
        if sequences and not sequences[-1].hardware:
            sequences[-1].passes[0].extend(names)
        else:
            sequences.append(MappedSequence(False, [list(names)], {}))

    def close(reasons: Optional[List[Tuple[str, str]]] = None) -> List[str]:
        """Ends the open hardware sequence; its trailing max-pooling CNP layers go to software
        (returned), ``reasons`` gets why."""
        sequence, state["pool"] = current(), None
        if sequence is None:
            return []
        moved = []
        names = sequence.passes[0]
        while names and hw.max_pool_sequence_problems(by_name[names[-1]], None):
            name = names.pop()
            sequence.nps.pop(name, None)
            moved.insert(0, name)
        if reasons is not None:
            for name in moved:
                reasons.append((name, hw.max_pool_sequence_problems(by_name[name], None)[0]))
        if not names:
            sequences.pop()
        return moved

    def open_sequence() -> None:
        state["pool"] = _Pool()
        sequences.append(MappedSequence(True, [[]], {}))

    # With hw_only, the runtime lists the max-pooling problems and goes on, and stops at the
    # first layer that cannot map at all (measured).
    reasons: List[Tuple[str, str]] = []
    for layer in layers:
        if layer.kind == "input_data":
            continue
        plan = _plan(layer, max_filters)
        sequence = current()
        if not plan.problems and sequence is not None:
            previous = by_name[sequence.passes[0][-1]]
            if hw.max_pool_sequence_problems(previous, layer):
                moved = close(reasons if hw_only else None)
                if hw_only:
                    reasons.append((layer.name, _follow_reason(previous)))
                to_software(moved)
                sequence = None
        if plan.problems:
            moved = close(reasons if hw_only else None)
            if hw_only:
                return _Result(sequences, reasons + [(layer.name, r) for r in plan.problems])
            to_software(moved)
            to_software([layer.name])
            continue
        if sequence is None:
            open_sequence()
        nps = state["pool"].take(plan.demand)
        if nps is None:
            if hw_only:
                kind, needed, free = state["pool"].missing(plan.demand)
                close(reasons)
                return _Result(sequences, reasons + [(layer.name, (
                    f"needs {needed} {kind} NP{'s' if needed > 1 else ''} but "
                    f"{free} {'is' if free == 1 else 'are'} left in the sequence (AKD1000: 78 "
                    "NPs, of which 18 FNP3 and 4 FNP2, and one HRC); use fewer filters, "
                    "smaller inputs, or mode='minimal'."))])
            to_software(close())
            open_sequence()
            nps = state["pool"].take(plan.demand)
            if nps is None:  # more than a whole device
                state["pool"] = None
                sequences.pop()
                to_software([layer.name])
                continue
        sequences[-1].passes[0].append(layer.name)
        sequences[-1].nps[layer.name] = nps
    to_software(close(reasons if hw_only else None))
    return _Result(sequences, reasons or None)


def _follow_reason(previous: hw.HardwareLayer) -> str:
    return (f"follows '{previous.name}', which has max pooling: a convolutional layer with max "
            "pooling must be followed by another convolutional layer on the chip (measured); "
            "add a convolutional layer between them or move the pooling.")


def _better(reference: Optional[dict], candidate: Optional[dict], count_passes: bool) -> bool:
    """BrainChip's order of mappings: more layers in hardware, fewer sequences, fewer passes
    (all_nps only), then more NPs (ties go to the candidate)."""
    if reference is None:
        return True
    if candidate is None:
        return False
    for key, fewer in (("layers", False), ("sequences", True), ("passes", True)):
        if key == "passes" and not count_passes:
            continue
        if reference[key] != candidate[key]:
            return (candidate[key] < reference[key]) if fewer else \
                (candidate[key] > reference[key])
    return reference["nps"] <= candidate["nps"]


def map_layers(layers: Sequence[hw.HardwareLayer], device: str = "AKD1000",
               hw_only: bool = False, mode: str = "all_nps") -> Mapping:
    """Maps layers described by plain values (see :func:`map_model`).

    Arguments:
        layers: :class:`~cnn2snn_tfmot.chip.hardware.HardwareLayer` descriptions, in order.
        device, hw_only, mode: as for :func:`map_model`.

    Returns:
        The :class:`Mapping`.

    Raises:
        ValueError: an unknown device or mode (the message lists the valid ones).
        TypeError: ``hw_only`` not a bool.
        AkidaMappingError: with ``hw_only=True``, the layers that stop one hardware sequence.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import hw, map_layers
        >>> layer = hw.HardwareLayer("fc", "dense", (1, 1, 64), (1, 1, 10), 4, filters=10)
        >>> map_layers([layer], mode="minimal").np_counts()
        {'fc': {'FNP3': 1}}
    """
    device, mode = _check_device(device), check_mode(mode)
    hw_only = check_bool(hw_only, "hw_only")
    layers = list(layers)
    max_filters = hw.CNP_MAX_FILTERS
    if mode != "minimal" and any(layer.kind in _CNP_KINDS for layer in layers):
        # BrainChip's search: bisect the filters per CNP between 0 and 504, keeping the best.
        best = _place(layers, max_filters, hw_only).criteria()
        low, high, chosen = 0, hw.CNP_MAX_FILTERS, hw.CNP_MAX_FILTERS
        while low + 2 <= high:
            middle = (low + high) // 2
            candidate = _place(layers, middle, hw_only).criteria()
            if _better(best, candidate, mode == "all_nps"):
                best, chosen, high = candidate, middle, middle
            else:
                low = middle
        if best is not None:
            max_filters = chosen
    result = _place(layers, max_filters, hw_only)
    if result.error is not None:
        raise AkidaMappingError(result.error, device)
    by_name = {layer.name: layer for layer in layers}
    for sequence in result.sequences:
        if sequence.hardware:
            sequence.program_bytes = program_bytes([by_name[n] for n in sequence.layers],
                                                   sequence.nps)
    return Mapping(device, mode, hw_only, result.sequences, max_filters)


def map_model(model, device: str = "AKD1000", hw_only: bool = False,
              mode: str = "all_nps") -> Mapping:
    """Maps an Akida model onto a device's NPs, as BrainChip's ``model.map(device)`` does.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        device: "AKD1000".
        hw_only: True to require one hardware sequence (else :class:`AkidaMappingError`).
        mode: "all_nps" (default: the most NPs in the fewest passes), "hw_pr" (the most NPs)
            or "minimal" (the fewest NPs).

    Returns:
        The :class:`Mapping`.

    Raises:
        ValueError: an unknown device or mode, or an empty model.
        AkidaMappingError: with ``hw_only=True``, naming each layer that stops it and why.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import map_model
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> map_model(akida_model, mode="minimal").total_nps
        2
    """
    if not model.layers:
        raise ValueError("the model is empty: add layers before mapping it.")
    return map_layers(hardware_layers(model), device, hw_only, mode)


def _check_device(device) -> str:
    # BrainChip's akida.AKD1000() object too ("VirtualDevice/BC.00.000.002", measured).
    if str(getattr(device, "desc", "")).endswith("BC.00.000.002"):
        return "AKD1000"
    return hw.check_device(device)


def check_mode(mode) -> str:
    """Validates a mapping mode.

    Arguments:
        mode: "all_nps", "hw_pr" or "minimal" (any case; BrainChip's ``MapMode`` members and
            names "AllNps", "HwPr", "Minimal" too).

    Returns:
        The mode's name as in :data:`MAP_MODES`.

    Raises:
        ValueError: another value, listing the valid ones.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import check_mode
        >>> check_mode("HwPr")
        'hw_pr'
    """
    name = getattr(mode, "name", mode)  # BrainChip's MapMode members too
    aliases = {"allnps": "all_nps", "hwpr": "hw_pr"}
    if isinstance(name, str):
        key = name.strip().lower()
        key = aliases.get(key, key)
        if key in MAP_MODES:
            return key
    raise ValueError(f"mode: unknown mapping mode {mode!r}; valid choices are "
                     f"{', '.join(repr(m) for m in MAP_MODES)}.")


def program_bytes(layers: Sequence[hw.HardwareLayer], nps: Dict[str, List[MappedNP]]) -> int:
    """The size of a hardware sequence's program, in bytes: what BrainChip's runtime reports as
    ``len(sequence.program)`` (measured: exact on 587 of 589 sequences of random models, 16
    bytes off on the others; docs/akida-v1.md section 10).

    The program is a header (a flatbuffer of 228 bytes for a sequence of the input convolution
    alone, else 276, plus 24 per record, 8 per extra track, 8 + 12 per FNP2, 8 per output
    channel of a last layer without activation, and 8 (4 without activation) when the input
    convolution starts a longer sequence) and the data: one record per layer (and one
    of 3, or 6 with the input convolution, 32-bit words first), each record in tracks of at
    most 65,536 words, and the external weights of FNP2 layers. Per NP (32-bit words):

    * HRC: ``43 + 6 * floor((filters - 1) / 192) + filters * (ceil(n / 4) + ceil(n / 8))``,
      ``n`` = kernel x kernel x channels (31 instead of 43 for a 3x3 kernel on 1 channel);
    * convolutional CNP: ``56 + 16 * channels * words + 2 * filters``
      (:func:`~cnn2snn_tfmot.chip.hardware.conv_weight_words`);
    * separable CNP: ``58 + 2 * filters + 2 * ceil(channels * depthwise / 2) + 2 * channels *
      pointwise`` (:func:`~cnn2snn_tfmot.chip.hardware.separable_words`);
    * FNP3: ``54`` + its weight bytes / 4; FNP2: ``52``, its weights outside (+4 bytes each).

    Arguments:
        layers: the sequence's layers.
        nps: their NPs.

    Returns:
        Bytes.

    Example:
        >>> from cnn2snn_tfmot.akida.mapping import MappedNP, hw, program_bytes
        >>> layer = hw.HardwareLayer("fc", "dense", (1, 1, 512), (1, 1, 10), 4, filters=10)
        >>> program_bytes([layer], {"fc": [MappedNP((1, 3, 0), "FNP3", 10)]})
        4680
    """
    mapped_layers = [layer for layer in layers if nps.get(layer.name)]
    records, tracks, fnp2, external = 1, 1, 0, 0
    words = 6 if mapped_layers and mapped_layers[0].kind == "input_conv" else 3
    for layer in mapped_layers:
        records += 1
        per_np = [_np_words(layer, np_) for np_ in nps[layer.name]]
        words += sum(per_np)
        tracks += _tracks(per_np)
        for np_ in nps[layer.name]:
            if np_.type == "FNP2":
                fnp2 += 1
                external += hw.fnp_weight_bytes(int(np.prod(layer.input_shape)), np_.filters,
                                                layer.weights_bits)
    data = 4 * words + external + 64 + 32 * records + 16 * (tracks - records) + \
        (16 + 20 * fnp2 if fnp2 else 0)
    hrc_first = bool(mapped_layers) and mapped_layers[0].kind == "input_conv"
    hrc_only = all(layer.kind == "input_conv" for layer in mapped_layers)
    info = (228 if hrc_only else 276) + 24 * records + 8 * (tracks - records) + \
        (8 + 12 * fnp2 if fnp2 else 0)
    last_activation = not mapped_layers or mapped_layers[-1].activation
    if not last_activation:
        info += 8 * mapped_layers[-1].output_shape[2]
    if hrc_first and not hrc_only:
        info += 8 if last_activation else 4
    return info + data


_TRACK_WORDS = 65536


def _tracks(per_np: List[int]) -> int:
    """Tracks of a record: NPs packed in order into tracks of at most 65,536 words."""
    count, current = 1, 0
    for words in per_np:
        if current and current + words > _TRACK_WORDS:
            count, current = count + 1, 0
        current += words
    return count


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _np_words(layer: hw.HardwareLayer, np_: MappedNP) -> int:
    """32-bit words of one NP's part of the program (measured, see :func:`program_bytes`)."""
    channels = layer.input_shape[2]
    if np_.type == "HRC":
        n = layer.kernel_size[0] ** 2 * channels
        return (31 if n == 9 else 43) + 6 * ((layer.filters - 1) // 192) + \
            layer.filters * (_ceil(n, 4) + _ceil(n, 8))
    if np_.type == "FNP3":
        return 54 + hw.fnp_weight_bytes(int(np.prod(layer.input_shape)), np_.filters,
                                        layer.weights_bits) // 4
    if np_.type == "FNP2":
        return 52
    kernel = layer.kernel_size[0]
    if layer.kind == "separable":
        depthwise, pointwise = hw.separable_words(kernel, layer.weights_bits, np_.filters)
        return 58 + 2 * np_.filters + 2 * _ceil(channels * depthwise, 2) + \
            2 * channels * pointwise
    return 56 + 16 * channels * hw.conv_weight_words(kernel, layer.weights_bits, np_.filters) \
        + 2 * np_.filters
