"""Edge learning of Akida 1.0: the ``AkidaUnsupervised`` rule of BrainChip's runtime, bit for bit.

The last layer of an Akida 1.0 model can learn on the chip: a FullyConnected layer with 1-bit
weights fed 1-bit spikes. ``Model.compile(AkidaUnsupervised(...))`` prepares it and
``Model.fit(x, y)`` learns (:class:`cnn2snn_tfmot.akida.Model`); this module is the rule itself,
on plain arrays: :func:`learn` is its definition, a NumPy loop, which ``fit`` runs when the
compiled library does not load (when it does, ``fit`` runs its bit-identical compiled twin,
:mod:`cnn2snn_tfmot.engine.learning`). It was measured against BrainChip's runtime (akida
2.19.3, docs/akida-v1.md section 9), which it reproduces exactly: from the same weights and the
same inputs, ours and the runtime's give the same weights, learning thresholds and swap counts
after every sample. Only the initial connections drawn by ``compile`` are random; the runtime
draws them unseeded, we draw them from ``seed``.

Per neuron the layer keeps its binary connections (``weights``), a learning threshold
(``threshold_learning``) and a swap budget (``thswap``, the plasticity in connections); per
model, a round-robin register that picks which connections move (reset to 0 by ``compile`` and
by any ``set_variable``, as on the runtime). One learning step on a spike vector ``s``:

1. potentials ``P = s @ W`` (counts of active connected inputs); in labelled mode only the
   neurons of the label's class block compete;
2. the winner is the neuron with the highest ``P`` among those with ``P > threshold_learning``
   (the lowest index on ties); no such neuron, no learning;
3. ``k = min(thswap, connections on inactive inputs, active inputs not connected)`` connections
   move from inactive inputs to active ones (which ones: :func:`round_robin`); if ``k > 0``,
   ``threshold_learning = min(P, round((1 - learning_competition) * num_weights))``;
4. ``thswap = max(thswap - ceil(plasticity_decay * round(initial_plasticity * num_weights)),
   ceil(min_plasticity * num_weights))``.

(Ported from the issue-24-learning branch, where the rule was measured and written; here it
lives beside the layers it changes, below the Akida model.)

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import Model, InputData, FullyConnected, AkidaUnsupervised
    >>> model = Model()
    >>> model.add(InputData((1, 1, 32), input_bits=1))
    >>> model.add(FullyConnected(4, weights_bits=1, activation=False))
    >>> model.compile(AkidaUnsupervised(num_weights=6, num_classes=2, seed=0))
    >>> spikes = np.zeros((1, 1, 1, 32), np.uint8)
    >>> spikes[..., :10] = 1
    >>> _ = model.fit(spikes, np.array([1]))          # class 1: neurons 2 and 3 compete
    >>> int(model.forward(spikes).max())              # the winner is now fully connected
    6
"""
from __future__ import annotations

import math
import numbers
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.chip import params as P
from cnn2snn_tfmot.chip.limits import POTENTIAL_MAX, POTENTIAL_MIN
from cnn2snn_tfmot.chip.variables import VariableSpec

__all__ = ["AkidaUnsupervised", "check_learnable", "initial_learning_variables",
           "learning_variable_specs", "check_labels", "spike_rows", "learn", "round_robin",
           "Learner", "DEFAULT_MIN_PLASTICITY", "INT32_MAX"]

#: BrainChip's default ``min_plasticity``: 0.1 rounded to float32 (0.10000000149011612), which
#: the runtime then computes with in double precision: ``ceil(min_plasticity * 20)`` is 3, not 2.
DEFAULT_MIN_PLASTICITY = float(np.float32(0.1))
#: The largest value of the int32 learning variables (and of num_weights, num_classes).
INT32_MAX = 2 ** 31 - 1


def _round_half_away(value: float) -> int:
    """``std::round`` of a non-negative double (halves away from zero), exactly."""
    low = math.floor(value)
    return int(low + 1 if value - low >= 0.5 else low)


class AkidaUnsupervised:
    """BrainChip's edge-learning optimizer for the last layer of an Akida 1.0 model, with a seed.

    Give it to :meth:`cnn2snn_tfmot.akida.Model.compile`. The arguments and defaults are those
    of ``akida.AkidaUnsupervised`` (akida 2.19.3), which accepts the same values (ours also
    refuses ``num_classes=0``, with which the runtime never learns, and NaN, which it turns into
    a negative swap budget). How each one enters the rule is in the module docstring.

    Arguments:
        num_weights: connections (1-bit weights set to 1) per neuron, at most the layer's
            number of inputs.
        num_classes: classes of the labelled mode; the layer's units must be a multiple of it
            (``units // num_classes`` neurons per class, in consecutive blocks). 1 (default)
            is the unlabelled mode: labels are ignored and every neuron competes.
        initial_plasticity: in [0, 1]: a neuron may first move
            ``round(initial_plasticity * num_weights)`` connections per learning step.
        learning_competition: in [0, 1]: caps a winner's learning threshold at
            ``round((1 - learning_competition) * num_weights)``, so that a neuron that learned
            keeps learning on patterns it matches less closely.
        min_plasticity: in [0, 1]: the swap budget never falls below
            ``ceil(min_plasticity * num_weights)``. Defaults to float32(0.1), as BrainChip's.
        plasticity_decay: in [0, 1]: each learning step lowers the winner's swap budget by
            ``ceil(plasticity_decay * round(initial_plasticity * num_weights))``.
        seed: seed of the initial connections drawn by ``compile`` (an int >= 0, or None for
            fresh entropy, as BrainChip's unseedable runtime). Everything after ``compile`` is
            deterministic.

    Raises:
        TypeError / ValueError: a value of the wrong type or out of range (the message names
            the argument and the valid range).

    Example:
        >>> from cnn2snn_tfmot.akida import AkidaUnsupervised
        >>> optimizer = AkidaUnsupervised(num_weights=12, num_classes=2, seed=0)
        >>> optimizer.initial_swaps, optimizer.swap_decrement, optimizer.min_swaps
        (12, 3, 2)
        >>> AkidaUnsupervised(**optimizer.get_config()) == optimizer
        True
    """

    def __init__(self, num_weights: int, num_classes: int = 1, initial_plasticity: float = 1.0,
                 learning_competition: float = 0.0,
                 min_plasticity: float = DEFAULT_MIN_PLASTICITY, plasticity_decay: float = 0.25,
                 seed: Optional[int] = None):
        what = "AkidaUnsupervised: argument"
        self._num_weights = P.check_int(num_weights, f"{what} 'num_weights'", low=1,
                                        high=INT32_MAX)
        self._num_classes = P.check_int(num_classes, f"{what} 'num_classes'", low=1,
                                        high=INT32_MAX)
        self._initial_plasticity = _check_unit(initial_plasticity, "initial_plasticity")
        self._learning_competition = _check_unit(learning_competition, "learning_competition")
        self._min_plasticity = _check_unit(min_plasticity, "min_plasticity")
        self._plasticity_decay = _check_unit(plasticity_decay, "plasticity_decay")
        self._seed = None if seed is None else P.check_int(seed, f"{what} 'seed'", low=0)

    # -- the arguments -------------------------------------------------------------------------
    @property
    def num_weights(self) -> int:
        """Connections per neuron."""
        return self._num_weights

    @property
    def num_classes(self) -> int:
        """Classes of the labelled mode (1: unlabelled)."""
        return self._num_classes

    @property
    def initial_plasticity(self) -> float:
        """Initial plasticity, in [0, 1]."""
        return self._initial_plasticity

    @property
    def learning_competition(self) -> float:
        """Learning competition, in [0, 1]."""
        return self._learning_competition

    @property
    def min_plasticity(self) -> float:
        """Minimum plasticity, in [0, 1]."""
        return self._min_plasticity

    @property
    def plasticity_decay(self) -> float:
        """Plasticity decay, in [0, 1]."""
        return self._plasticity_decay

    @property
    def seed(self) -> Optional[int]:
        """Seed of the initial connections (None: fresh entropy)."""
        return self._seed

    # -- the integers the rule uses (computed in double precision, as the runtime does) ---------
    @property
    def initial_swaps(self) -> int:
        """``thswap`` after ``compile``: ``round(initial_plasticity * num_weights)``."""
        return _round_half_away(self._initial_plasticity * self._num_weights)

    @property
    def swap_decrement(self) -> int:
        """What a learning step takes from the winner's ``thswap``:
        ``ceil(plasticity_decay * initial_swaps)``."""
        return math.ceil(self._plasticity_decay * self.initial_swaps)

    @property
    def min_swaps(self) -> int:
        """The floor of ``thswap``: ``ceil(min_plasticity * num_weights)``."""
        return math.ceil(self._min_plasticity * self._num_weights)

    @property
    def threshold_cap(self) -> int:
        """The highest learning threshold a step sets:
        ``round((1 - learning_competition) * num_weights)``."""
        return _round_half_away((1.0 - self._learning_competition) * self._num_weights)

    # -- serialisation -------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments (JSON-friendly).

        Returns:
            ``{"num_weights": ..., ..., "seed": ...}``.

        Example:
            >>> from cnn2snn_tfmot.akida import AkidaUnsupervised
            >>> AkidaUnsupervised(5).get_config()["min_plasticity"]
            0.10000000149011612
        """
        return {"num_weights": self._num_weights, "num_classes": self._num_classes,
                "initial_plasticity": self._initial_plasticity,
                "learning_competition": self._learning_competition,
                "min_plasticity": self._min_plasticity,
                "plasticity_decay": self._plasticity_decay, "seed": self._seed}

    def __eq__(self, other) -> bool:
        return isinstance(other, AkidaUnsupervised) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash(tuple(self.get_config().items()))

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"AkidaUnsupervised({args})"


def _check_unit(value, name: str) -> float:
    what = f"AkidaUnsupervised: argument '{name}'"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{what} must be a number in [0, 1], got {value!r}.")
    value = float(value)
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(f"{what} must be in [0, 1], got {value}.")
    return value


def learning_variable_specs(units: int) -> Dict[str, VariableSpec]:
    """The two variables a compiled learning layer adds (as on BrainChip's runtime).

    Arguments:
        units: the layer's units.

    Returns:
        ``{"threshold_learning": spec, "thswap": spec}``, int32 (units,) each.

    Example:
        >>> from cnn2snn_tfmot.chip.learning import learning_variable_specs
        >>> sorted(learning_variable_specs(3))
        ['threshold_learning', 'thswap']
    """
    return {
        "threshold_learning": VariableSpec(
            "threshold_learning", np.dtype(np.int32), (units,),
            note="one per neuron: a neuron learns only when its potential exceeds it"),
        "thswap": VariableSpec(
            "thswap", np.dtype(np.int32), (units,),
            note="one per neuron: how many connections its next learning step may move"),
    }


def round_robin(count: int, k: int, register: int) -> Tuple[np.ndarray, int]:
    """Which ``k`` of ``count`` candidates a learning step picks, and the new register.

    The candidates (in input order) are cut into ``k`` consecutive blocks, the first
    ``count % k`` of ``count // k + 1`` candidates and the others of ``count // k``; block ``b``
    gives its candidate at offset ``o_b = r_b mod size_b``, where ``r_0`` is the register and
    ``r_(b+1) = o_b + 1``; the register ends at ``o_(k-1) + 1``. A step first picks the
    connections to remove among those on inactive inputs, then the active inputs to connect,
    with one register that carries over to the next step (measured on BrainChip's runtime).

    Arguments:
        count: number of candidates (> 0).
        k: number to pick, 1..count.
        register: the register (>= 0).

    Returns:
        ``(positions, register)``: sorted int64 positions in ``range(count)`` and the new value.

    Example:
        >>> from cnn2snn_tfmot.chip.learning import round_robin
        >>> round_robin(9, 3, 0)
        (array([0, 4, 8]), 3)
        >>> round_robin(10, 3, 3)
        (array([3, 5, 9]), 3)
    """
    positions, register = _round_robin(count, k, register)
    return np.asarray(positions, dtype=np.int64), register


def _round_robin(count: int, k: int, register: int):
    """:func:`round_robin` as a list (few picks: a Python loop is fastest) or an array."""
    size, big = divmod(count, k)
    if k <= 32:
        positions, start = [], 0
        for block in range(k):
            span = size + 1 if block < big else size
            register %= span
            positions.append(start + register)
            register += 1
            start += span
        return positions, register
    blocks = np.arange(k, dtype=np.int64)
    # Within blocks of one size the offsets advance by one, modulo that size.
    first = (register + blocks[:big]) % (size + 1)
    second = register if big == 0 else int(first[-1]) + 1
    offsets = np.concatenate((first, (second + blocks[:k - big]) % size))
    return blocks * size + np.minimum(blocks, big) + offsets, int(offsets[-1]) + 1


# -- compile ---------------------------------------------------------------------------------------
def check_learnable(layers: Sequence, optimizer: AkidaUnsupervised,
                    current: Optional[AkidaUnsupervised] = None):
    """The learning layer of a model after checking everything BrainChip's runtime checks.

    Arguments:
        layers: the model's layers (``model.layers``).
        optimizer: an :class:`AkidaUnsupervised`.
        current: the optimizer the model is already compiled with (``model.learning``), or
            None.

    Returns:
        The last layer (a FullyConnected layer).

    Raises:
        TypeError: ``optimizer`` is not an AkidaUnsupervised.
        ValueError: the model cannot learn (the message names the layer and the fix).

    Example:
        >>> from cnn2snn_tfmot.akida import AkidaUnsupervised, FullyConnected, InputData, Model
        >>> from cnn2snn_tfmot.chip.learning import check_learnable
        >>> model = Model()
        >>> model.add(InputData((1, 1, 8), input_bits=4))
        >>> model.add(FullyConnected(2, weights_bits=1, activation=False))
        >>> try:
        ...     check_learnable(model.layers, AkidaUnsupervised(4))
        ... except ValueError as err:
        ...     print(str(err).split(" (")[0])
        FullyConnected layer 'Fully_2' cannot learn: its inputs are 4-bit
    """
    if not isinstance(optimizer, AkidaUnsupervised):
        raise TypeError(f"Model.compile expects a cnn2snn_tfmot.akida.AkidaUnsupervised, got "
                        f"{type(optimizer).__name__}.")
    layers = list(layers)
    if not layers:
        raise ValueError("cannot compile an empty model: add a feature extractor and a "
                         "FullyConnected layer with 1-bit weights first.")
    if current is not None:
        raise ValueError(f"the model is already compiled (its last layer "
                         f"'{layers[-1].name}' learns with {current!r}); as on "
                         f"BrainChip's runtime a model is compiled once: build a new model to "
                         f"learn with other arguments.")
    layer = layers[-1]
    what = layer.label
    if layer.layer_type != "FullyConnected" or len(layers) < 2:
        raise ValueError(f"{what} cannot learn: only a FullyConnected last layer (after the "
                         f"input) learns on Akida 1.0; add a FullyConnected layer with "
                         f"weights_bits=1 after the feature extractor.")
    if layer.parameters.weights_bits != 1:
        raise ValueError(f"{what} cannot learn: it has {layer.parameters.weights_bits}-bit "
                         f"weights; only binary weights learn (FullyConnected(..., "
                         f"weights_bits=1)).")
    previous = layers[-2]
    bits = previous.output_bits
    if bits != 1:
        source = (f"InputData layer '{previous.name}' has input_bits={bits}"
                  if previous.layer_type == "InputData"
                  else f"layer '{previous.name}' fires {bits}-bit activations")
        raise ValueError(f"{what} cannot learn: its inputs are {bits}-bit ({source}); only "
                         f"binary spikes are learned from: give the feature extractor's last "
                         f"block 1-bit activations (act_bits=1, or input_bits=1).")
    fan_in = math.prod(layer.input_dims)
    if optimizer.num_weights > fan_in:
        raise ValueError(f"{what} cannot learn with num_weights={optimizer.num_weights}: it has "
                         f"only {fan_in} inputs (num_weights must be 1..{fan_in}).")
    units = layer.parameters.units
    if units % optimizer.num_classes:
        raise ValueError(f"{what} cannot learn {optimizer.num_classes} classes: its {units} "
                         f"units are not a multiple of num_classes (each class gets "
                         f"units // num_classes neurons).")
    return layer


def initial_learning_variables(optimizer: AkidaUnsupervised, fan_in: int,
                               units: int) -> Dict[str, np.ndarray]:
    """What ``compile`` sets on the learning layer: ``num_weights`` connections per neuron at
    random inputs (drawn from ``optimizer.seed``), ``threshold_learning`` 0 and ``thswap``
    ``optimizer.initial_swaps``.

    Arguments:
        optimizer: an :class:`AkidaUnsupervised`.
        fan_in: the layer's inputs (H*W*C), at least ``num_weights``.
        units: the layer's units.

    Returns:
        ``{"weights": int8 (1, 1, fan_in, units), "threshold_learning": int32 (units,),
        "thswap": int32 (units,)}``.

    Example:
        >>> from cnn2snn_tfmot.chip.learning import AkidaUnsupervised, initial_learning_variables
        >>> values = initial_learning_variables(AkidaUnsupervised(3, seed=0), 10, 2)
        >>> values["weights"].sum(axis=2).ravel().tolist(), values["thswap"].tolist()
        ([3, 3], [3, 3])
    """
    # Uniform random subsets of num_weights inputs, independent per neuron (measured: the
    # runtime's subsets and pairwise overlaps pass chi-square tests against this law).
    rng = np.random.default_rng(optimizer.seed)
    keys = rng.random((units, fan_in))
    chosen = np.argpartition(keys, optimizer.num_weights - 1, axis=1)[:, :optimizer.num_weights]
    weights = np.zeros((fan_in, units), dtype=np.int8)
    weights[chosen, np.arange(units)[:, None]] = 1
    return {"weights": weights.reshape(1, 1, fan_in, units),
            "threshold_learning": np.zeros(units, dtype=np.int32),
            "thswap": np.full(units, min(optimizer.initial_swaps, INT32_MAX), dtype=np.int32)}


# -- fit -------------------------------------------------------------------------------------------
def check_labels(labels, count: int, num_classes: int, where: str) -> Optional[np.ndarray]:
    """The class of each sample (-1: learned without label) after BrainChip's rules.

    Arguments:
        labels: integer labels (count,), one integer for every sample, or None.
        count: samples.
        num_classes: the optimizer's classes (1: unlabelled mode, labels are ignored).
        where: how messages name the labels (e.g. "y").

    Returns:
        int64 (count,) labels, or None in unlabelled mode or without labels.

    Raises:
        TypeError: labels that are not integers.
        ValueError: not one label per sample, or a label >= num_classes.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.learning import check_labels
        >>> check_labels(np.array([1, -1]), 2, 3, "y").tolist()
        [1, -1]
        >>> check_labels(np.array([1, 5]), 2, 1, "y") is None     # unlabelled mode
        True
    """
    if labels is None or num_classes == 1:
        return None  # unlabelled mode: the runtime ignores labels
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{where} must be integer class labels, got dtype {labels.dtype}.")
    if labels.ndim == 0:
        labels = np.full(count, int(labels), dtype=np.int64)
    if labels.shape != (count,):
        raise ValueError(f"{where} must hold one label per sample ({count}), got shape "
                         f"{labels.shape}.")
    labels = labels.astype(np.int64)
    if labels.size and labels.max() >= num_classes:
        raise ValueError(f"{where} has label {int(labels.max())} but the model learns "
                         f"{num_classes} classes (labels 0..{num_classes - 1}, or a negative "
                         f"label for a sample learned without label); nothing of this batch "
                         f"was learned.")
    return labels


def spike_rows(levels: np.ndarray) -> np.ndarray:
    """The learning layer's inputs as spikes, flattened in the runtime's row order of
    FullyConnected weights, ``h + H*w + H*W*c``.

    Arguments:
        levels: (N, H, W, C) outputs of the layer before the learning one (1-bit).

    Returns:
        bool (N, H*W*C).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.learning import spike_rows
        >>> levels = np.zeros((1, 2, 1, 2), np.uint8)
        >>> levels[0, 1, 0, 0] = 1                          # h=1, w=0, c=0: row 1
        >>> np.flatnonzero(spike_rows(levels)[0]).tolist()
        [1]
    """
    count = levels.shape[0]
    return np.ascontiguousarray(levels.transpose(0, 3, 2, 1).reshape(count, -1)) != 0


def learn(weights: np.ndarray, spikes: np.ndarray, labels: Optional[np.ndarray],
          threshold_learning: np.ndarray, thswap: np.ndarray, register: int,
          optimizer: AkidaUnsupervised) -> Tuple[np.ndarray, int]:
    """Applies the rule to ``spikes`` one sample after the other, updating the arrays in place.

    Arguments:
        weights: uint8 (inputs, units) binary connections, updated in place.
        spikes: bool (samples, inputs).
        labels: int64 (samples,) classes (negative: unlabelled sample), or None (unlabelled).
        threshold_learning, thswap: int64 (units,), updated in place.
        register: the round-robin register.
        optimizer: the :class:`AkidaUnsupervised` arguments.

    Returns:
        ``(potentials, register)``: int64 (samples, units) potentials of each sample before its
        own learning step, and the register afterwards.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.learning import AkidaUnsupervised, learn
        >>> w = np.zeros((6, 2), np.uint8); w[[0, 1], 0] = 1; w[[2, 3], 1] = 1
        >>> thl, ts = np.zeros(2, np.int64), np.full(2, 2, np.int64)
        >>> spikes = np.array([[1, 0, 0, 0, 1, 1]], bool)
        >>> learn(w, spikes, None, thl, ts, 0, AkidaUnsupervised(2))
        (array([[1, 0]]), 2)
        >>> w[:, 0].tolist(), thl.tolist(), ts.tolist()
        ([1, 0, 0, 0, 0, 1], [1, 0], [1, 2])
    """
    units = weights.shape[1]
    per_class = units // optimizer.num_classes
    cap, decrement, floor = optimizer.threshold_cap, optimizer.swap_decrement, \
        optimizer.min_swaps
    potentials = np.empty((spikes.shape[0], units), dtype=np.int64)
    for index, active in enumerate(spikes):
        rows = np.flatnonzero(active)
        pots = weights[rows].sum(axis=0, dtype=np.int64)
        potentials[index] = pots
        low, high = 0, units
        if labels is not None and labels[index] >= 0:
            low = int(labels[index]) * per_class
            high = low + per_class
        # Potentials are >= 0, so -1 marks the neurons that may not learn.
        candidates = np.where(pots[low:high] > threshold_learning[low:high],
                              pots[low:high], -1)
        best = int(candidates.argmax())  # the first of equal maxima, as the runtime
        if candidates[best] < 0:
            continue
        winner = low + best
        connected = weights[:, winner].astype(bool)
        inactive = np.flatnonzero(connected & ~active)
        free = np.flatnonzero(active & ~connected)
        moved = min(int(thswap[winner]), inactive.size, free.size)
        if moved > 0:
            removed, register = _round_robin(inactive.size, moved, register)
            added, register = _round_robin(free.size, moved, register)
            weights[inactive[removed], winner] = 0
            weights[free[added], winner] = 1
            threshold_learning[winner] = min(int(pots[winner]), cap)
        thswap[winner] = max(int(thswap[winner]) - decrement, floor)
    return potentials, register


def _outputs(layer, potentials: np.ndarray) -> np.ndarray:
    """The layer's outputs (what ``forward`` gives) for these potentials."""
    pots = np.clip(potentials, POTENTIAL_MIN, POTENTIAL_MAX)
    p = layer.parameters
    if not p.activation:
        return pots.astype(np.int32).reshape(-1, 1, 1, p.units)
    # docs/akida-v1.md section 5, in integers: level = ceil(16 (P - t) / (floor(16 s) 2^(4-b))).
    threshold = layer.variable("threshold").astype(np.int64)
    step = np.floor(layer.variable("act_step").astype(np.float64) * 16).astype(np.int64) \
        * 2 ** (4 - p.act_bits)
    numerator = 16 * (pots - threshold)
    levels = np.clip(-(-numerator // step), 0, 2 ** p.act_bits - 1)
    return levels.astype(np.uint8).reshape(-1, 1, 1, p.units)


class Learner:
    """The learning layer during one ``fit`` call: the rule's working arrays, read from the
    layer once and written back once (through ``set_variable``, validated) by :meth:`store`.

    Arguments:
        layer: a FullyConnected layer compiled for learning (it has ``threshold_learning`` and
            ``thswap``).
        optimizer: the model's :class:`AkidaUnsupervised`.
        register: the round-robin register to start from.
        rule: the function that applies the rule, with the signature of :func:`learn`: that
            NumPy loop (default) or its compiled twin, which ``Model.fit`` takes when the op
            library loads (:func:`cnn2snn_tfmot.engine.learning.learning_rule`).

    Attributes:
        register: the register after the samples learned so far.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida import AkidaUnsupervised, FullyConnected, InputData, Model
        >>> from cnn2snn_tfmot.chip.learning import Learner
        >>> model = Model()
        >>> model.add(InputData((1, 1, 8), input_bits=1))
        >>> model.add(FullyConnected(2, weights_bits=1, activation=False))
        >>> model.compile(AkidaUnsupervised(3, seed=0))
        >>> learner = Learner(model.layers[-1], model.learning, 0)
        >>> spikes = np.arange(8)[None] >= 4                 # inputs 4..7 active
        >>> learner.learn(spikes, None).ravel().tolist()     # potentials before learning
        [0, 2]
        >>> learner.store()                                  # neuron 1 won, moved 1 connection
        >>> model.layers[-1].get_variable("threshold_learning").tolist()
        [0, 2]
        >>> model.forward(spikes.astype(np.uint8).reshape(1, 1, 1, 8)).ravel().tolist()
        [0, 3]
    """

    def __init__(self, layer, optimizer: AkidaUnsupervised, register: int,
                 rule: Callable = learn):
        self._layer = layer
        self._optimizer = optimizer
        self._rule = rule
        self.register = register
        self._fan_in = math.prod(layer.input_dims)
        self._weights = np.ascontiguousarray(
            layer.variable("weights").reshape(self._fan_in, -1).astype(np.uint8))
        self._threshold_learning = layer.variable("threshold_learning").astype(np.int64)
        self._thswap = layer.variable("thswap").astype(np.int64)

    def learn(self, spikes: np.ndarray, labels: Optional[np.ndarray]) -> np.ndarray:
        """Learns ``spikes`` one sample after the other (with the ``rule`` it was given).

        Arguments:
            spikes: bool (samples, inputs), in the runtime's row order (:func:`spike_rows`).
            labels: int64 (samples,) classes (negative: unlabelled), or None.

        Returns:
            The layer's outputs for each sample before its own learning step, (samples, 1, 1,
            units): int32 potentials, or uint8 levels with an activation.
        """
        potentials, self.register = self._rule(self._weights, spikes, labels,
                                               self._threshold_learning, self._thswap,
                                               self.register, self._optimizer)
        return _outputs(self._layer, potentials)

    def store(self) -> None:
        """Writes what was learned into the layer's variables."""
        layer = self._layer
        layer.set_variable("weights", self._weights.astype(np.int8).reshape(
            1, 1, self._fan_in, -1))
        layer.set_variable("threshold_learning", self._threshold_learning.astype(np.int32))
        layer.set_variable("thswap", np.clip(self._thswap, -2 ** 31, INT32_MAX)
                           .astype(np.int32))
