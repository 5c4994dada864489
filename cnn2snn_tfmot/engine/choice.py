"""Which back-end ``backend=None`` runs a model with: the faster of the direct engine and the
TensorFlow graph of the compiled ops, decided per model and batch size.

The decision is modelled first, then measured:

* modelled: the direct engine, whenever it runs the model. A TensorFlow call costs about 140 µs
  of dispatch before any arithmetic, so at small batches the direct engine wins by 4 to 10x
  (``benchmarks/engine_choice.py``); at large batches the two are within tens of percent, and
  either may win depending on the machine and its load.
* measured: once a model has spent :data:`MEASURE_AFTER_SECONDS` running batches of one size on
  the direct engine (summed over calls), the next full batch of that size runs on each engine
  in :data:`ROUNDS` rounds of :data:`ROUND_SECONDS` or more, taking turns, and the graph is
  kept for that batch size
  only when it was faster in every round and its best time is below the direct engine's by
  :data:`MARGIN`. Other work on the machine only ever slows a run, and in bursts: a single
  comparison of medians picked the graph 3x slower once under a load of 6 on 2 cores, so a
  switch needs every round to agree (a wrong switch costs more than a missed one: the direct
  engine stays the prior). The measurement costs the graph's tracing once, at most a few
  seconds, against at least :data:`MEASURE_AFTER_SECONDS` of work already done.

The decisions live in a :class:`BackendChoice` kept in the Akida model's cache
(:meth:`cnn2snn_tfmot.akida.Model.default_backend`): a change of the model forgets them, with the
plan they were measured for. Every back-end gives the same outputs, bit for bit, so the choice
only ever changes the speed.

Example:
    >>> from cnn2snn_tfmot.engine.choice import BackendChoice
    >>> import numpy as np
    >>> choice = BackendChoice()
    >>> run = choice.runner(4, lambda x: x + 1, lambda: (lambda x: x + 1))
    >>> run(np.zeros(4, np.uint8)).tolist(), choice.chosen(4)
    ([1, 1, 1, 1], 'direct')
"""
from __future__ import annotations

import statistics
import threading
import time
from typing import Callable, Dict, Optional

import numpy as np

__all__ = ["BackendChoice", "race", "graph_is_faster", "MEASURE_AFTER_SECONDS", "ROUNDS",
           "ROUND_SECONDS", "MARGIN"]

#: Seconds of direct-engine batches of one size before the two engines are compared on it.
MEASURE_AFTER_SECONDS = 3.0
#: Rounds of each engine in a comparison (alternating).
ROUNDS = 5
#: Seconds a round lasts at least on the faster engine (the batch runs several times in a
#: round): rounds of a few milliseconds are decided by the scheduler's time slices on a loaded
#: machine (a graph 1.8x slower than the direct engine won 5 rounds of one batch of 32 under a
#: load of 7 on 2 cores).
ROUND_SECONDS = 0.05
#: The graph is chosen only when the direct engine's best time is above the graph's times this.
MARGIN = 1.1

Runner = Callable[[np.ndarray], np.ndarray]


def race(runs: Dict[str, Runner], batch: np.ndarray, rounds: int = ROUNDS):
    """Seconds of each runner on ``batch``, round by round, the runners taking turns.

    Arguments:
        runs: name -> function of a batch (functions giving the same outputs).
        batch: the batch they all run.
        rounds: rounds of each function (after two untimed runs: the first traces a graph, the
            second sizes the rounds); a round runs the batch enough times to last about
            :data:`ROUND_SECONDS` on the faster function (at most 64).

    Returns:
        ``(seconds, output)``: name -> list of the seconds per run of each round, and the
        output of the last run.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.engine.choice import race
        >>> seconds, out = race({"a": np.negative, "b": np.negative}, np.ones(3), rounds=2)
        >>> sorted(seconds), len(seconds["a"]), out.tolist()
        (['a', 'b'], 2, [-1.0, -1.0, -1.0])
    """
    output = None
    for run in runs.values():  # warm-up (a graph is traced)
        output = run(batch)
    once = []
    for run in runs.values():
        started = time.perf_counter()
        output = run(batch)
        once.append(time.perf_counter() - started)
    repeats = int(min(max(1, ROUND_SECONDS // max(min(once), 1e-6)), 64))
    times = {name: [] for name in runs}
    for index in range(rounds):
        names = list(runs) if index % 2 == 0 else list(runs)[::-1]
        for name in names:
            started = time.perf_counter()
            for _ in range(repeats):
                output = runs[name](batch)
            times[name].append((time.perf_counter() - started) / repeats)
    return times, output


def graph_is_faster(seconds: Dict[str, list]) -> bool:
    """Whether a race (:func:`race` of "direct" and "custom") shows the graph faster: in every
    round, and by :data:`MARGIN` between the best times.

    Arguments:
        seconds: "direct" and "custom" -> the seconds of each round.

    Returns:
        True to run the graph.

    Example:
        >>> from cnn2snn_tfmot.engine.choice import graph_is_faster
        >>> graph_is_faster({"direct": [2.0, 2.1], "custom": [1.0, 2.5]})
        False
    """
    direct, custom = seconds["direct"], seconds["custom"]
    return (all(c < d for c, d in zip(custom, direct)) and
            min(direct) > MARGIN * min(custom))


class BackendChoice:
    """The default back-end's decisions for one model (by batch size), and what they rest on.

    Example:
        >>> from cnn2snn_tfmot.engine.choice import BackendChoice
        >>> choice = BackendChoice()
        >>> choice.chosen(256)
        'direct'
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._choices: Dict[int, str] = {}
        self._spent: Dict[int, float] = {}
        #: Batch size -> median seconds per batch of each engine, when measured.
        self.measured: Dict[int, Dict[str, float]] = {}

    def chosen(self, batch_size: int) -> str:
        """The back-end batches of ``batch_size`` run on: "direct" until measured otherwise.

        Arguments:
            batch_size: the batch size.

        Returns:
            "direct" or "custom".
        """
        with self._lock:
            return self._choices.get(batch_size, "direct")

    def measure(self, batch: np.ndarray, direct_run: Runner,
                make_graph_run: Callable[[], Runner]) -> np.ndarray:
        """Compares the two engines on ``batch`` and keeps the choice for its size.

        Arguments:
            batch: a full batch.
            direct_run: the direct engine's function of a batch.
            make_graph_run: builds the graph's function of a batch (traced on first use).

        Returns:
            The outputs of ``batch`` (every engine gives the same).
        """
        seconds, output = race({"direct": direct_run, "custom": make_graph_run()}, batch)
        chosen = "custom" if graph_is_faster(seconds) else "direct"
        with self._lock:
            self._choices[batch.shape[0]] = chosen
            self.measured[batch.shape[0]] = {name: statistics.median(values)
                                              for name, values in seconds.items()}
        return output

    def runner(self, batch_size: int, direct_run: Runner,
               make_graph_run: Callable[[], Runner]) -> Runner:
        """The function of a batch for a stream of batches of ``batch_size``: the engine chosen
        for that size, or the direct engine, which measures the two once it has run long
        enough (see the module's docstring).

        Arguments:
            batch_size: the stream's batch size (its last batch may be smaller).
            direct_run: the direct engine's function of a batch.
            make_graph_run: builds the graph's function of a batch.

        Returns:
            A function of a uint8 batch giving its outputs.
        """
        with self._lock:
            decided = self._choices.get(batch_size)
        if decided == "custom":
            return make_graph_run()
        if decided == "direct":
            return direct_run
        current: list = []  # the engine once decided during this stream

        def run(images: np.ndarray) -> np.ndarray:
            if current:
                return current[0](images)
            with self._lock:
                due = self._spent.get(batch_size, 0.0) >= MEASURE_AFTER_SECONDS
            if due and images.shape[0] == batch_size:
                output = self.measure(images, direct_run, make_graph_run)
                current.append(make_graph_run() if self.chosen(batch_size) == "custom"
                               else direct_run)
                return output
            started = time.perf_counter()
            output = direct_run(images)
            with self._lock:
                self._spent[batch_size] = (self._spent.get(batch_size, 0.0) +
                                           time.perf_counter() - started)
            return output

        return run

    def spent(self, batch_size: int) -> Optional[float]:
        """Seconds the direct engine ran batches of ``batch_size`` before a decision."""
        with self._lock:
            return self._spent.get(batch_size)
