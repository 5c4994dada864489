"""Speed of edge learning (Model.fit of a compiled Akida model): the rule in the compiled library,
the same rule in NumPy and BrainChip's runtime, side by side in one run: one JSON line per
configuration.

Two kinds of model:

* ``spikes``: InputData (1-bit) -> learning FullyConnected: the learning rule alone, on random
  spikes of the given density, labelled (units = classes x neurons per class);
* ``cnn``: a CIFAR-sized extractor (32x32x3 -> InputConvolutional 3x3x16 + max pool ->
  SeparableConvolutional 3x3x32 + max pool, 1-bit spikes, random integer weights) -> learning
  layer: what ``fit`` costs end to end, the extractor run by the emulator engine.

Ours runs twice: with the compiled rule (``fit``'s default when the op library loads,
cnn2snn_tfmot.engine.learning) and with the NumPy loop (``CNN2SNN_TFMOT_COMPILED_LEARNING=0``,
cnn2snn_tfmot.chip.learning.learn). Both models are compiled by us (seeded) and given to the
runtime with ``to_akida()``, so that all three learn the same thing (the script checks that the
learned weights are identical). Rates are samples/s, best of ``--rounds`` (each round learns the
same samples on a fresh copy of the compiled model); the runtime's ``fit`` runs in the same
process (it needs no TensorFlow).

Run: ``python benchmarks/edge_learning.py [--rounds 3] [--samples 2000]``
"""
import argparse
import functools
import json
import os
import time

import numpy as np


def _spike_model(inputs, classes, per_class, num_weights, seed):
    from cnn2snn_tfmot.akida import AkidaUnsupervised, FullyConnected, InputData, Model
    model = Model()
    model.add(InputData((1, 1, inputs), input_bits=1))
    model.add(FullyConnected(classes * per_class, weights_bits=1, activation=False))
    model.compile(AkidaUnsupervised(num_weights, classes, learning_competition=0.1, seed=seed))
    return model


def _cnn_model(classes, per_class, num_weights, seed):
    from cnn2snn_tfmot.akida import (
        AkidaUnsupervised,
        FullyConnected,
        InputConvolutional,
        Model,
        SeparableConvolutional,
    )
    rng = np.random.default_rng(seed)
    model = Model()
    model.add(InputConvolutional((32, 32, 3), (3, 3), 16, weights_bits=8, act_bits=4,
                                 pool_type="max", pool_size=(2, 2)))
    model.add(SeparableConvolutional((3, 3), 32, weights_bits=4, act_bits=1,
                                     pool_type="max", pool_size=(2, 2)))
    model.add(FullyConnected(classes * per_class, weights_bits=1, activation=False))
    first, second = model.layers[0], model.layers[1]
    first.set_variable("weights", rng.integers(-40, 41, (3, 3, 3, 16)).astype(np.int8))
    first.set_variable("threshold", rng.integers(0, 2000, 16).astype(np.int32))
    first.set_variable("act_step", np.full(16, 400, np.float32))
    second.set_variable("weights", rng.integers(-7, 8, (3, 3, 16, 1)).astype(np.int8))
    second.set_variable("weights_pw", rng.integers(-7, 8, (1, 1, 16, 32)).astype(np.int8))
    second.set_variable("threshold", rng.integers(0, 60, 32).astype(np.int32))
    model.compile(AkidaUnsupervised(num_weights, classes, learning_competition=0.1, seed=seed))
    return model


def _copy(model):
    """A fresh copy of a compiled model (through our file format, in memory on disk)."""
    import tempfile

    from cnn2snn_tfmot.akida import Model
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.akida")
        model.save(path)
        return Model(path)


def _best(run, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times), float(np.median(times))


def _ours(model, x, y, rounds, compiled):
    """Best and median rates of our fit, with the compiled rule or the NumPy one, and the
    learned weights."""
    from cnn2snn_tfmot.engine.learning import COMPILED_LEARNING_ENV_VAR
    before = os.environ.get(COMPILED_LEARNING_ENV_VAR)
    os.environ[COMPILED_LEARNING_ENV_VAR] = "1" if compiled else "0"
    try:
        copies = [_copy(model) for _ in range(rounds + 1)]
        copies[-1].fit(x[:8], y[:8])  # warm-up: builds the extractor's engine plan
        pool = iter(copies[:rounds])
        best, median = _best(lambda: next(pool).fit(x, y), rounds)
    finally:
        if before is None:
            del os.environ[COMPILED_LEARNING_ENV_VAR]
        else:
            os.environ[COMPILED_LEARNING_ENV_VAR] = before
    return len(x) / best, len(x) / median, copies[0].layers[-1].get_variable("weights")


def _measure(name, build, x, y, rounds, runtime_available):
    from cnn2snn_tfmot.engine.learning import is_enabled
    model = build()
    line = {"benchmark": "edge_learning", "model": name, "samples": len(x),
            "inputs": int(np.prod(model.layers[-1].input_dims)),
            "units": model.layers[-1].parameters.units,
            "num_weights": model.learning.num_weights,
            "num_classes": model.learning.num_classes}
    if not is_enabled():
        raise SystemExit("the compiled op library does not load: build it first "
                         "(python setup.py build_ext --inplace)")
    rates, weights = {}, {}
    for key, compiled in (("compiled", True), ("numpy", False)):
        best, median, weights[key] = _ours(model, x, y, rounds, compiled)
        rates[key] = best
        line[f"{key}_samples_per_s"] = round(best, 1)
        line[f"{key}_median_samples_per_s"] = round(median, 1)
    line["compiled_over_numpy"] = round(rates["compiled"] / rates["numpy"], 2)
    same = np.array_equal(weights["compiled"], weights["numpy"])
    if runtime_available:
        runtimes = [model.to_akida() for _ in range(rounds)]
        pool = iter(runtimes)
        best, median = _best(lambda: next(pool).fit(x, y.astype(np.int32)), rounds)
        line["runtime_samples_per_s"] = round(len(x) / best, 1)
        line["runtime_median_samples_per_s"] = round(len(x) / median, 1)
        line["compiled_over_runtime"] = round(rates["compiled"] * best / len(x), 2)
        line["numpy_over_runtime"] = round(rates["numpy"] * best / len(x), 2)
        same = same and np.array_equal(weights["compiled"],
                                       runtimes[0].layers[-1].get_variable("weights"))
    line["identical_weights"] = bool(same)
    print(json.dumps(line), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()

    from cnn2snn_tfmot.akida import import_akida
    try:
        import_akida()
        runtime_available = True
    except ImportError:
        runtime_available = False
    rng = np.random.default_rng(0)
    n = args.samples
    for inputs, classes, per_class, num_weights, density in (
            (256, 10, 5, 40, 0.15), (1024, 33, 10, 120, 0.1), (4096, 10, 10, 400, 0.1)):
        x = (rng.random((n, 1, 1, inputs)) < density).astype(np.uint8)
        y = rng.integers(0, classes, n)
        build = functools.partial(_spike_model, inputs, classes, per_class, num_weights, 0)
        _measure(f"spikes density {density}", build, x, y, args.rounds, runtime_available)
    x = rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8)
    y = rng.integers(0, 10, n)
    _measure("cnn 32x32x3", lambda: _cnn_model(10, 5, 250, 0), x, y, args.rounds,
             runtime_available)


if __name__ == "__main__":
    main()
