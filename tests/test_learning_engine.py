"""Edge learning in the compiled library (cnn2snn_tfmot.engine.learning) against the rule's NumPy
definition (cnn2snn_tfmot.chip.learning.learn): bit for bit over random layers, spikes, labels,
learning states and successive calls; in place on the caller's arrays; Model.fit's choice
between the two and its fallback when the library does not load."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn2snn_tfmot.akida import AkidaUnsupervised, FullyConnected, InputData, Model
from cnn2snn_tfmot.chip import learning as reference
from cnn2snn_tfmot.engine import learning as compiled
from cnn2snn_tfmot.engine import ops

pytestmark = pytest.mark.skipif(not ops.is_available(),
                                reason="the compiled op library does not load")

_UNIT = st.sampled_from([0.0, 0.05, 0.1, 0.25, 0.33, 0.5, 0.7, 0.9, 1.0])


@st.composite
def _cases(draw):
    inputs = draw(st.integers(1, 700))
    classes = draw(st.sampled_from([1, 1, 2, 3, 5, 7]))
    per_class = draw(st.integers(1, 6))
    return {
        "inputs": inputs, "classes": classes, "per_class": per_class,
        "optimizer": AkidaUnsupervised(
            draw(st.integers(1, inputs)), classes, initial_plasticity=draw(_UNIT),
            learning_competition=draw(_UNIT), min_plasticity=draw(_UNIT),
            plasticity_decay=draw(_UNIT)),
        # "subsets": num_weights connections per neuron, as compile draws them; "any": any 0/1
        # weights; "wide": values up to 3 (not a layer's, but the rule is defined for them).
        "weights": draw(st.sampled_from(["subsets", "subsets", "any", "wide"])),
        # Learning thresholds and swap budgets after compile (0, initial_swaps) or anything.
        "fresh": draw(st.booleans()),
        "register": draw(st.sampled_from([0, 1, 7, 2 ** 31 - 1])),
        "labels": draw(st.sampled_from(["none", "labelled", "negative"])),
        # One (samples, density) per call: each call starts from the previous one's state.
        "calls": draw(st.lists(st.tuples(st.integers(0, 40), st.floats(0.0, 1.0)),
                               min_size=1, max_size=4)),
        "seed": draw(st.integers(0, 2 ** 32 - 1)),
    }


def _initial_state(case, rng):
    inputs, optimizer = case["inputs"], case["optimizer"]
    units = case["classes"] * case["per_class"]
    if case["weights"] == "subsets":
        weights = np.zeros((inputs, units), np.uint8)
        for unit in range(units):
            weights[rng.choice(inputs, optimizer.num_weights, replace=False), unit] = 1
    else:
        high = 4 if case["weights"] == "wide" else 2
        weights = rng.integers(0, high, (inputs, units)).astype(np.uint8)
    if case["fresh"]:
        thresholds = np.zeros(units, np.int64)
        swaps = np.full(units, optimizer.initial_swaps, np.int64)
    else:
        thresholds = rng.integers(0, inputs + 2, units).astype(np.int64)
        swaps = rng.integers(-3, inputs + 2, units).astype(np.int64)
    return [weights, thresholds, swaps]


def _labels(case, count, rng):
    if case["labels"] == "none":
        return None
    if case["labels"] == "negative":
        return np.full(count, -1, np.int64)
    return rng.integers(-1, case["classes"], count).astype(np.int64)


# A thousand cases take a few seconds: no need for a slow variant.
@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_cases())
def test_the_compiled_rule_is_the_numpy_rule_bit_for_bit(case):
    rng = np.random.default_rng(case["seed"])
    ours = _initial_state(case, rng)
    theirs = [array.copy() for array in ours]
    register_ours = register_theirs = case["register"]
    for count, density in case["calls"]:
        spikes = rng.random((count, case["inputs"])) < density
        labels = _labels(case, count, rng)
        potentials_ours, register_ours = compiled.learn(
            ours[0], spikes, labels, ours[1], ours[2], register_ours, case["optimizer"])
        potentials_theirs, register_theirs = reference.learn(
            theirs[0], spikes, labels, theirs[1], theirs[2], register_theirs,
            case["optimizer"])
        assert potentials_ours.dtype == potentials_theirs.dtype
        np.testing.assert_array_equal(potentials_ours, potentials_theirs)
        for name, got, expected in zip(("weights", "threshold_learning", "thswap"), ours,
                                       theirs):
            assert got.dtype == expected.dtype, name
            np.testing.assert_array_equal(got, expected, err_msg=name)
        assert register_ours == register_theirs


def _big_state(inputs=2048, units=40, num_weights=300, seed=0):
    rng = np.random.default_rng(seed)
    weights = np.zeros((inputs, units), np.uint8)
    for unit in range(units):
        weights[rng.choice(inputs, num_weights, replace=False), unit] = 1
    return weights, np.zeros(units, np.int64), np.full(units, num_weights, np.int64)


def test_many_moves_and_dense_spikes():
    """Steps that move more than 32 connections (the NumPy rule's vectorised round robin) and
    spikes on more than 255 inputs (the compiled potentials' uint8 lanes are flushed)."""
    rng = np.random.default_rng(1)
    optimizer = AkidaUnsupervised(300, 4, learning_competition=0.2)
    ours = list(_big_state())
    theirs = [array.copy() for array in ours]
    spikes = rng.random((30, 2048)) < np.repeat([0.4, 0.95], 15)[:, None]
    labels = rng.integers(-1, 4, 30)
    got = compiled.learn(ours[0], spikes, labels, ours[1], ours[2], 5, optimizer)
    expected = reference.learn(theirs[0], spikes, labels, theirs[1], theirs[2], 5, optimizer)
    np.testing.assert_array_equal(got[0], expected[0])
    assert got[1] == expected[1]
    assert got[0].max() > 255
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    moved = np.count_nonzero(ours[0] != _big_state()[0], axis=0)
    assert moved.max() > 2 * 32


def test_arrays_are_updated_in_place_whatever_their_layout():
    """Arrays the C code cannot write directly (a transposed view, int32) are still updated."""
    optimizer = AkidaUnsupervised(3)
    weights = np.zeros((2, 8), np.uint8)  # (units, inputs): the rule sees its transpose
    weights[:, :3] = 1
    thresholds, swaps = np.zeros(2, np.int32), np.full(2, 3, np.int32)
    spikes = np.zeros((1, 8), bool)
    spikes[0, 2:6] = True
    potentials, register = compiled.learn(weights.T, spikes, None, thresholds, swaps, 0,
                                          optimizer)
    assert potentials.tolist() == [[1, 1]]
    # Neuron 0 won (first of equal maxima): 0 and 1 removed, 4 and 5 of the free 3, 4, 5 added
    # (round_robin(2, 2, 0) = [0, 1], register 1; round_robin(3, 2, 1) = [1, 2], register 1).
    assert weights[0].tolist() == [0, 0, 1, 0, 1, 1, 0, 0]
    assert weights[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert (thresholds.tolist(), swaps.tolist(), register) == ([1, 0], [2, 3], 1)


def test_bad_shapes_and_labels_are_refused():
    optimizer = AkidaUnsupervised(2, 2)
    weights, thresholds, swaps = np.zeros((6, 4), np.uint8), np.zeros(4, np.int64), \
        np.full(4, 2, np.int64)
    with pytest.raises(ValueError, match=r"spikes \(samples, 6\)"):
        compiled.learn(weights, np.zeros((1, 5), bool), None, thresholds, swaps, 0, optimizer)
    with pytest.raises(ValueError, match="labels"):
        compiled.learn(weights, np.zeros((2, 6), bool), np.zeros(3, np.int64), thresholds,
                       swaps, 0, optimizer)
    # Model.fit checks labels first; the entry point refuses them too rather than read past
    # the layer, keeping the samples before the bad one learned.
    spikes = np.ones((2, 6), bool)
    with pytest.raises(ValueError, match="sample 1 has label 2, beyond the 2 classes"):
        compiled.learn(weights, spikes, np.array([0, 2]), thresholds, swaps, 0, optimizer)


def _spike_model(seed=0):
    model = Model()
    model.add(InputData((1, 1, 64), input_bits=1))
    model.add(FullyConnected(12, weights_bits=1, activation=False))
    model.compile(AkidaUnsupervised(10, 3, learning_competition=0.1, seed=seed))
    return model


def _fit_state(model, x, y):
    outputs = model.fit(x, y, batch_size=7)
    layer = model.layers[-1]
    return [outputs, model.learning_register] + [layer.get_variable(name)
                                                 for name in layer.variables]


def test_fit_uses_the_compiled_rule_and_falls_back_to_numpy(monkeypatch):
    rng = np.random.default_rng(0)
    x = (rng.random((40, 1, 1, 64)) < 0.3).astype(np.uint8)
    y = rng.integers(-1, 3, 40)
    assert compiled.learning_rule() is compiled.learn
    calls = []

    def counting(*args):
        calls.append(args[1].shape[0])
        return compiled.learn(*args)

    monkeypatch.setattr("cnn2snn_tfmot.akida.model.learning_rule", lambda: counting)
    fast = _fit_state(_spike_model(), x, y)
    assert sum(calls) == 40
    monkeypatch.undo()

    monkeypatch.setenv(compiled.COMPILED_LEARNING_ENV_VAR, "0")
    assert compiled.learning_rule() is reference.learn
    numpy_rule = _fit_state(_spike_model(), x, y)
    monkeypatch.delenv(compiled.COMPILED_LEARNING_ENV_VAR)
    # Without the library (not built, or built for another TensorFlow): the NumPy loop.
    def missing():
        raise ops.OpLibraryUnavailable("the op library was not built")

    monkeypatch.setattr(ops, "load_library", missing)
    assert compiled.learning_rule() is reference.learn
    without_library = _fit_state(_spike_model(), x, y)
    for a, b, c in zip(fast, numpy_rule, without_library):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_a_library_built_before_the_entry_point_falls_back(monkeypatch):
    """An op library built from older sources loads but lacks cnn2snn_tfmot_learn: fit must
    then take the NumPy rule, not fail."""
    class OldLibrary:
        pass

    ops.load_library()
    monkeypatch.setitem(ops._STATE, "cdll", OldLibrary())  # the shared ctypes handle
    assert not compiled.is_enabled()
    assert compiled.learning_rule() is reference.learn
    with pytest.raises(ops.OpLibraryUnavailable, match="no entry point cnn2snn_tfmot_learn"):
        compiled.learn(np.zeros((2, 1), np.uint8), np.zeros((1, 2), bool), None,
                       np.zeros(1, np.int64), np.zeros(1, np.int64), 0, AkidaUnsupervised(1))
    model = _spike_model()
    model.fit(np.ones((2, 1, 1, 64), np.uint8), np.array([0, 1]))
    assert model.layers[-1].get_variable("thswap").min() < 10  # it learned, in NumPy

