"""Edge learning of Akida 1.0: the ``AkidaUnsupervised`` rule of BrainChip's runtime, bit for bit.

The last layer of an Akida 1.0 model can learn on the chip: a FullyConnected layer with 1-bit
weights fed 1-bit spikes. ``Model.compile(AkidaUnsupervised(...))`` prepares it and
``Model.fit(x, y)`` learns. The rule below was measured against BrainChip's runtime (akida
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

Example:
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
from typing import Dict, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida import params as P
from cnn2snn_tfmot.akida.limits import POTENTIAL_MAX, POTENTIAL_MIN
from cnn2snn_tfmot.akida.variables import VariableSpec

__all__ = ["AkidaUnsupervised", "add_learning_layer", "check_learnable", "learn", "round_robin",
           "spike_counts", "learning_variable_specs", "DEFAULT_MIN_PLASTICITY", "SPIKE_MARGIN"]

#: BrainChip's default ``min_plasticity``: 0.1 rounded to float32 (0.10000000149011612), which
#: the runtime then computes with in double precision: ``ceil(min_plasticity * 20)`` is 3, not 2.
DEFAULT_MIN_PLASTICITY = float(np.float32(0.1))
#: BrainChip's recipe for ``num_weights``: about this times the median spike count of the
#: feature extractor (:func:`add_learning_layer`).
SPIKE_MARGIN = 1.2

_INT32_MAX = 2 ** 31 - 1


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
                                        high=_INT32_MAX)
        self._num_classes = P.check_int(num_classes, f"{what} 'num_classes'", low=1,
                                        high=_INT32_MAX)
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


class _LearningState:
    """What a compiled model keeps besides the layer's variables."""

    def __init__(self, optimizer: AkidaUnsupervised):
        self.optimizer = optimizer
        self.register = 0
        self.key: Optional[tuple] = None    # the model's state key after our last update
        self.extractor = None               # (key, Model) of the layers before the learning one


# -- compile ---------------------------------------------------------------------------------------
def check_learnable(model, optimizer: AkidaUnsupervised):
    """The learning layer of ``model`` after checking everything BrainChip's runtime checks.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        optimizer: an :class:`AkidaUnsupervised`.

    Returns:
        The last layer (a FullyConnected layer).

    Raises:
        TypeError: ``optimizer`` is not an AkidaUnsupervised.
        ValueError: the model cannot learn (the message names the layer and the fix).

    Example:
        >>> from cnn2snn_tfmot.akida import Model, InputData, FullyConnected
        >>> model = Model()
        >>> model.add(InputData((1, 1, 8), input_bits=4))
        >>> model.add(FullyConnected(2, weights_bits=1, activation=False))
        >>> try:
        ...     check_learnable(model, AkidaUnsupervised(4))
        ... except ValueError as err:
        ...     print(str(err).split(" (")[0])
        FullyConnected layer 'Fully_2' cannot learn: its inputs are 4-bit
    """
    if not isinstance(optimizer, AkidaUnsupervised):
        raise TypeError(f"Model.compile expects a cnn2snn_tfmot.akida.AkidaUnsupervised, got "
                        f"{type(optimizer).__name__}.")
    layers = model.layers
    if not layers:
        raise ValueError("cannot compile an empty model: add a feature extractor and a "
                         "FullyConnected layer with 1-bit weights first.")
    if model.learning is not None:
        raise ValueError(f"the model is already compiled (its last layer "
                         f"'{layers[-1].name}' learns with {model.learning!r}); as on "
                         f"BrainChip's runtime a model is compiled once: build a new model to "
                         f"learn with other arguments.")
    layer = layers[-1]
    what = layer._describe()
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


def compile_model(model, optimizer: AkidaUnsupervised) -> None:
    """What :meth:`cnn2snn_tfmot.akida.Model.compile` does (see it)."""
    layer = check_learnable(model, optimizer)
    fan_in = math.prod(layer.input_dims)
    units = layer.parameters.units
    # Uniform random subsets of num_weights inputs, independent per neuron (measured: the
    # runtime's subsets and pairwise overlaps pass chi-square tests against this law).
    rng = np.random.default_rng(optimizer.seed)
    keys = rng.random((units, fan_in))
    chosen = np.argpartition(keys, optimizer.num_weights - 1, axis=1)[:, :optimizer.num_weights]
    weights = np.zeros((fan_in, units), dtype=np.int8)
    weights[chosen, np.arange(units)[:, None]] = 1
    layer._learning = True
    layer._store("weights", weights.reshape(1, 1, fan_in, units))
    layer._store("threshold_learning", np.zeros(units, dtype=np.int32))
    layer._store("thswap", np.full(units, min(optimizer.initial_swaps, _INT32_MAX),
                                   dtype=np.int32))
    state = _LearningState(optimizer)
    model._learning = state
    state.key = model._state_key()


# -- fit -------------------------------------------------------------------------------------------
def _labels_for(labels, count: int, num_classes: int, where: str) -> Optional[np.ndarray]:
    """Per-sample class (-1: unlabelled), after BrainChip's rules, or an error naming ``where``."""
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


def _extractor(model, state: _LearningState):
    """A model of the layers before the learning layer (cached), or None for an input layer."""
    from cnn2snn_tfmot.akida.model import Model

    layers = model.layers[:-1]
    if len(layers) == 1 and layers[0].layer_type == "InputData":
        return None
    key = tuple((layer._uid, layer._version) for layer in layers)
    if state.extractor is None or state.extractor[0] != key:
        copy = Model()
        for layer in layers:
            twin = type(layer)(**layer.constructor_arguments())
            copy.add(twin)
            for name in layer.variables:
                twin._store(name, layer._value(name))
        state.extractor = (key, copy)
    return state.extractor[1]


def _spikes(model, state, images: np.ndarray, engine) -> np.ndarray:
    """The learning layer's inputs, flattened in the runtime's order ``h + H*w + H*W*c``."""
    extractor = _extractor(model, state)
    levels = images if extractor is None else extractor.forward(
        images, batch_size=max(images.shape[0], 1), engine=engine)
    return np.ascontiguousarray(levels.transpose(0, 3, 2, 1).reshape(levels.shape[0], -1)) != 0


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
    threshold = layer._value("threshold").astype(np.int64)
    step = np.floor(layer._value("act_step").astype(np.float64) * 16).astype(np.int64) \
        * 2 ** (4 - p.act_bits)
    numerator = 16 * (pots - threshold)
    levels = np.clip(-(-numerator // step), 0, 2 ** p.act_bits - 1)
    return levels.astype(np.uint8).reshape(-1, 1, 1, p.units)


def fit_model(model, x, y, batch_size: int, verbose: int, engine) -> np.ndarray:
    """What :meth:`cnn2snn_tfmot.akida.Model.fit` does (see it)."""
    from cnn2snn_tfmot.akida.inputs import batches, sample_count

    state: Optional[_LearningState] = model._learning
    layers = model.layers
    if state is None:
        last = f" ('{layers[-1].name}')" if layers else ""
        raise ValueError(f"the model is not compiled for learning: call model.compile("
                         f"AkidaUnsupervised(num_weights, num_classes)) first; its last "
                         f"layer{last} must be a FullyConnected layer with 1-bit weights fed "
                         f"1-bit spikes.")
    batch_size = P.check_int(batch_size, "batch_size", low=1)
    verbose = P.check_int(verbose, "verbose", choices=(0, 1, 2))
    optimizer = state.optimizer
    count = sample_count(x)
    if y is not None and count is not None:
        y = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
        if y.ndim == 0 and y.dtype.kind in "iu":  # one label for every sample, as the runtime
            y = np.full(count, int(y), dtype=np.int64)
        # Checked before anything is learned (the runtime learns the samples before a bad one).
        y = _labels_for(y, count, optimizer.num_classes, "y")
    layer = layers[-1]
    if state.key != model._state_key():
        state.register = 0  # a variable was set: the runtime resets its register too
    fan_in = math.prod(layer.input_dims)
    weights = np.ascontiguousarray(layer._value("weights").reshape(fan_in, -1).astype(np.uint8))
    thl = layer._value("threshold_learning").astype(np.int64)
    thswap = layer._value("thswap").astype(np.int64)
    progbar = None
    if verbose:
        from cnn2snn_tfmot.tfkeras import keras
        progbar = keras.utils.Progbar(count, verbose=verbose, unit_name="sample")
    outputs: List[np.ndarray] = []
    seen = 0
    try:
        for index, (images, batch_labels) in enumerate(
                batches(x, batch_size, model.input_shape, model._input_bits(), y)):
            where = "y" if count is not None else f"the labels of batch {index}"
            labels = _labels_for(batch_labels, images.shape[0], optimizer.num_classes, where)
            if images.shape[0] == 0:
                continue
            spikes = _spikes(model, state, images, engine)
            potentials, state.register = learn(weights, spikes, labels, thl, thswap,
                                               state.register, optimizer)
            outputs.append(_outputs(layer, potentials))
            seen += images.shape[0]
            if progbar is not None:
                progbar.update(seen)
    finally:
        # What was learned stays learned, also when a later batch of a stream is refused.
        layer._store("weights", weights.astype(np.int8).reshape(1, 1, fan_in, -1))
        layer._store("threshold_learning", thl.astype(np.int32))
        layer._store("thswap", np.clip(thswap, -2 ** 31, _INT32_MAX).astype(np.int32))
        state.key = model._state_key()
    dtype = np.int32 if not layer.parameters.activation else np.uint8
    if not outputs:
        return np.empty((0, 1, 1, layer.parameters.units), dtype=dtype)
    return np.concatenate(outputs)


# -- the Keras side: a learning layer on a converted model -------------------------------------
def spike_counts(model, x, batch_size: int = 256, engine=None) -> np.ndarray:
    """Non-zero outputs of ``model``'s last layer per sample (its spikes).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model` whose last layer fires.
        x, batch_size, engine: as for ``Model.forward``.

    Returns:
        int64 (samples,) counts.

    Example:
        >>> spike_counts(akida_model, images).shape
        (32,)
    """
    outputs = model.forward(x, batch_size=batch_size, engine=engine)
    return np.count_nonzero(outputs.reshape(outputs.shape[0], -1), axis=1).astype(np.int64)


def add_learning_layer(akida_model, num_classes: int, neurons_per_class: int,
                       num_weights: Optional[int] = None, x=None, *,
                       replace_classifier: bool = False, name: str = "",
                       batch_size: int = 256, engine: Optional[str] = None, **optimizer_args):
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
        batch_size, engine: for the spike measurement, as for ``forward``.
        **optimizer_args: the other :class:`AkidaUnsupervised` arguments
            (``learning_competition``, ``initial_plasticity``, ``min_plasticity``,
            ``plasticity_decay``, ``seed``).

    Returns:
        A compiled :class:`cnn2snn_tfmot.akida.Model`, ready for ``fit``.

    Raises:
        ValueError: the extractor does not fire 1-bit spikes, a classifier is present without
            ``replace_classifier=True``, ``x`` is missing, or the spikes are too few.

    Example:
        >>> from cnn2snn_tfmot.akida import Model, InputConvolutional
        >>> extractor = Model()
        >>> extractor.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=1))
        >>> extractor.layers[0].set_variable("weights", np.ones((3, 3, 1, 4), np.int8))
        >>> extractor.layers[0].set_variable("threshold", np.array([3, 4, 5, 6], np.int32))
        >>> spikes = np.random.default_rng(0).integers(0, 2, (20, 8, 8, 1)).astype(np.uint8)
        >>> learner = add_learning_layer(extractor, 3, 2, x=spikes, seed=0)
        >>> learner.layers[-1].parameters.units, learner.learning.num_weights  # 1.2 x 76.5
        (6, 92)
    """
    from cnn2snn_tfmot.akida.layers import FullyConnected
    from cnn2snn_tfmot.akida.model import Model

    if not isinstance(akida_model, Model):
        raise TypeError(f"add_learning_layer expects a cnn2snn_tfmot.akida.Model, got "
                        f"{type(akida_model).__name__}.")
    num_classes = P.check_int(num_classes, "add_learning_layer: argument 'num_classes'", low=1)
    neurons_per_class = P.check_int(neurons_per_class,
                                    "add_learning_layer: argument 'neurons_per_class'", low=1)
    replace_classifier = P.check_bool(replace_classifier,
                                      "add_learning_layer: argument 'replace_classifier'")
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
    model = Model()
    for layer in layers:
        twin = type(layer)(**layer.constructor_arguments())
        model.add(twin)
        for var in layer.variables:
            twin._store(var, layer._value(var).copy())
    fan_in = math.prod(extractor_last.output_dims)
    if num_weights is None:
        if x is None:
            raise ValueError("add_learning_layer: give num_weights, or samples x to measure "
                             "the extractor's spikes (num_weights = 1.2 x their median count).")
        counts = spike_counts(model, x, batch_size=batch_size, engine=engine)
        if counts.size == 0:
            raise ValueError("add_learning_layer: x has no samples.")
        median = float(np.median(counts))
        if median <= 0:
            raise ValueError(f"add_learning_layer: layer '{extractor_last.name}' fires no "
                             f"spike on most samples of x (median 0): it cannot feed a "
                             f"learning layer; check the input scaling and the extractor.")
        num_weights = min(max(_round_half_away(SPIKE_MARGIN * median), 1), fan_in)
    model.add(FullyConnected(num_classes * neurons_per_class, name=name, weights_bits=1,
                             activation=False))
    model.compile(AkidaUnsupervised(num_weights, num_classes, **optimizer_args))
    return model
