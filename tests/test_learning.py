"""Edge learning (cnn2snn_tfmot.akida.learning): the optimizer's arithmetic, compile / fit on our
Akida model, its files and interop, its errors, reproducibility in a fresh process, and the
Keras side (add_learning_layer). Equivalence with BrainChip's runtime is in
tests/test_learning_runtime.py."""
import json
import os
import zipfile

import numpy as np
import pytest

from cnn2snn_tfmot.akida import (
    AkidaModelFileError,
    AkidaUnsupervised,
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    Model,
    add_learning_layer,
)
from cnn2snn_tfmot.chip.learning import DEFAULT_MIN_PLASTICITY, learn, round_robin

from helpers import REPO


def spike_model(inputs=40, units=6, activation=False, act_bits=1, shape=None):
    model = Model()
    model.add(InputData(shape or (1, 1, inputs), input_bits=1))
    model.add(FullyConnected(units, weights_bits=1, activation=activation, act_bits=act_bits))
    return model


def spikes(count, inputs, density, seed, shape=None):
    rng = np.random.default_rng(seed)
    return (rng.random((count,) + (shape or (1, 1, inputs))) < density).astype(np.uint8)


def learning_state(model):
    layer = model.layers[-1]
    return {name: layer.get_variable(name) for name in layer.variables}


def assert_same_state(a, b):
    state_a, state_b = learning_state(a), learning_state(b)
    assert sorted(state_a) == sorted(state_b)
    for name in state_a:
        np.testing.assert_array_equal(state_a[name], state_b[name], err_msg=name)


# -- the optimizer -------------------------------------------------------------------------------
def test_defaults_are_brainchips():
    optimizer = AkidaUnsupervised(12)
    assert optimizer.get_config() == {
        "num_weights": 12, "num_classes": 1, "initial_plasticity": 1.0,
        "learning_competition": 0.0, "min_plasticity": 0.10000000149011612,
        "plasticity_decay": 0.25, "seed": None}
    assert DEFAULT_MIN_PLASTICITY == float(np.float32(0.1))


@pytest.mark.parametrize("args, expected", [
    # (num_weights, initial_plasticity, plasticity_decay, min_plasticity, competition) ->
    # (initial_swaps, swap_decrement, min_swaps, threshold_cap), each measured on the runtime.
    ((20, 1.0, 0.25, DEFAULT_MIN_PLASTICITY, 0.0), (20, 5, 3, 20)),
    ((20, 1.0, 0.5, 0.1, 0.0), (20, 10, 2, 20)),       # an explicit 0.1: ceil(2.0) = 2
    ((37, 0.5, 0.25, 0.1, 0.0), (19, 5, 4, 37)),       # round(18.5) = 19
    ((37, 0.9, 0.33, 0.3, 0.0), (33, 11, 12, 37)),
    ((12, 0.7, 0.5, 0.0, 0.3), (8, 4, 0, 8)),          # cap round(8.4) = 8
    ((15, 1.0, 0.25, 0.1, 0.3), (15, 4, 2, 11)),       # cap round(10.5) = 11
    ((25, 1.0, 0.25, 0.1, 0.9), (25, 7, 3, 2)),        # cap round(2.4999999999999996) = 2
    ((20, 0.05, 0.25, 0.1, 0.0), (1, 1, 2, 20)),       # the floor above the start
])
def test_the_integers_of_the_rule(args, expected):
    num_weights, initial, decay, minimum, competition = args
    optimizer = AkidaUnsupervised(num_weights, initial_plasticity=initial,
                                  plasticity_decay=decay, min_plasticity=minimum,
                                  learning_competition=competition)
    assert (optimizer.initial_swaps, optimizer.swap_decrement, optimizer.min_swaps,
            optimizer.threshold_cap) == expected


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_weights": 0}, ValueError, "'num_weights' must be >= 1"),
    ({"num_weights": 2.5}, TypeError, "'num_weights' must be an integer"),
    ({"num_weights": True}, TypeError, "'num_weights' must be an integer"),
    ({"num_weights": 4, "num_classes": 0}, ValueError, "'num_classes' must be >= 1"),
    ({"num_weights": 4, "initial_plasticity": -0.1}, ValueError, "initial_plasticity.*0, 1"),
    ({"num_weights": 4, "initial_plasticity": float("nan")}, ValueError, "initial_plasticity"),
    ({"num_weights": 4, "learning_competition": 1.5}, ValueError, "learning_competition"),
    ({"num_weights": 4, "min_plasticity": -1}, ValueError, "min_plasticity"),
    ({"num_weights": 4, "plasticity_decay": "0.2"}, TypeError, "plasticity_decay"),
    ({"num_weights": 4, "seed": -1}, ValueError, "'seed' must be >= 0"),
])
def test_optimizer_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        AkidaUnsupervised(**kwargs)


def test_optimizer_round_trips_its_config():
    optimizer = AkidaUnsupervised(7, 3, 0.5, 0.1, 0.2, 0.3, seed=4)
    assert AkidaUnsupervised(**optimizer.get_config()) == optimizer
    assert AkidaUnsupervised(7, 3, seed=5) != optimizer
    assert "num_classes=3" in repr(optimizer)


# -- the round-robin register --------------------------------------------------------------------
@pytest.mark.parametrize("count, k, register, positions, after", [
    (9, 3, 0, [0, 4, 8], 3),        # measured: the first removals after compile
    (10, 3, 3, [3, 5, 9], 3),       # then the additions, from the register left
    (32, 5, 0, [0, 8, 16, 23, 30], 5),
    (32, 5, 5, [5, 13, 15, 22, 29], 4),
    (32, 7, 0, [0, 6, 12, 18, 20, 25, 30], 3),
    (32, 16, 0, [0, 3, 4, 7, 8, 11, 12, 15, 16, 19, 20, 23, 24, 27, 28, 31], 2),
    (8, 3, 1, [1, 5, 7], 2),
    (5, 5, 7, [0, 1, 2, 3, 4], 1),
])
def test_round_robin_picks_what_the_runtime_picks(count, k, register, positions, after):
    got, new = round_robin(count, k, register)
    assert got.tolist() == positions and new == after


def test_round_robin_takes_one_candidate_per_block():
    rng = np.random.default_rng(0)
    for _ in range(500):
        count = int(rng.integers(1, 80))
        k = int(rng.integers(1, count + 1))
        register = int(rng.integers(0, 200))
        got, new = round_robin(count, k, register)
        assert len(set(got.tolist())) == k and got.min() >= 0 and got.max() < count
        assert np.all(np.diff(got) > 0)
        size, big = divmod(count, k)
        blocks = np.minimum(got // (size + 1), big) if big else got // size
        blocks = np.where(got >= big * (size + 1), big + (got - big * (size + 1)) //
                          max(size, 1), blocks)
        assert blocks.tolist() == list(range(k))
        assert 1 <= new <= size + 1


# -- compile ---------------------------------------------------------------------------------------
def test_compile_draws_num_weights_connections_from_the_seed():
    model = spike_model(40, 6)
    model.layers[-1].set_variable("threshold", np.arange(6, dtype=np.int32))
    model.compile(AkidaUnsupervised(7, 2, initial_plasticity=0.5, seed=11))
    layer = model.layers[-1]
    assert layer.variables == ["act_step", "threshold", "threshold_learning", "thswap",
                               "weights"]
    weights = layer.get_variable("weights")
    assert set(np.unique(weights).tolist()) == {0, 1}
    assert weights.sum(axis=(0, 1, 2)).tolist() == [7] * 6
    assert layer.get_variable("threshold_learning").tolist() == [0] * 6
    assert layer.get_variable("thswap").tolist() == [4] * 6           # round(3.5)
    assert layer.get_variable("threshold").tolist() == list(range(6))  # kept
    again = spike_model(40, 6)
    again.compile(AkidaUnsupervised(7, 2, initial_plasticity=0.5, seed=11))
    np.testing.assert_array_equal(again.layers[-1].get_variable("weights"), weights)
    other = spike_model(40, 6)
    other.compile(AkidaUnsupervised(7, 2, initial_plasticity=0.5, seed=12))
    assert not np.array_equal(other.layers[-1].get_variable("weights"), weights)


def test_compile_connections_are_uniform_subsets():
    from scipy import stats
    counts = np.zeros(10)
    for seed in range(300):
        model = spike_model(10, 4)
        model.compile(AkidaUnsupervised(3, seed=seed))
        counts += model.layers[-1].get_variable("weights")[0, 0].sum(axis=1)
    assert stats.chisquare(counts).pvalue > 1e-3
    assert counts.sum() == 300 * 4 * 3


def _conv_then(units=4, weights_bits=1, act_bits=1):
    model = Model()
    model.add(InputConvolutional((6, 6, 1), (3, 3), 4, weights_bits=8, act_bits=act_bits))
    model.add(FullyConnected(units, weights_bits=weights_bits, activation=False))
    return model


@pytest.mark.parametrize("build, optimizer, match", [
    (lambda: Model(), AkidaUnsupervised(2), "cannot compile an empty model"),
    (lambda: (lambda m: (m.add(InputData((1, 1, 8), input_bits=1)), m)[1])(Model()),
     AkidaUnsupervised(2), "InputData layer 'InputData_1' cannot learn: only a "
                           "FullyConnected"),
    (lambda: (lambda m: (m.add(InputData((4, 4, 2), input_bits=1)),
                         m.add(Convolutional((3, 3), 4, name="conv", activation=False)), m)[2])(
        Model()), AkidaUnsupervised(2), "Convolutional layer 'conv' cannot learn"),
    (lambda: _conv_then(weights_bits=2), AkidaUnsupervised(2), "2-bit weights"),
    (lambda: _conv_then(act_bits=2), AkidaUnsupervised(2),
     "inputs are 2-bit \\(layer 'InputConv_1' fires 2-bit activations\\)"),
    (lambda: (lambda m: (m.add(InputData((1, 1, 8), input_bits=4)),
                         m.add(FullyConnected(2, weights_bits=1, activation=False)), m)[2])(
        Model()), AkidaUnsupervised(2), "input_bits=4"),
    (lambda: spike_model(10, 4), AkidaUnsupervised(11), "num_weights=11: it has only 10 "
                                                         "inputs"),
    (lambda: spike_model(10, 4), AkidaUnsupervised(3, 3), "4 units are not a multiple"),
])
def test_compile_refuses_what_cannot_learn(build, optimizer, match):
    model = build()
    with pytest.raises(ValueError, match=match):
        model.compile(optimizer)
    assert model.learning is None


def test_compile_once_and_no_layer_after_it():
    model = spike_model(10, 4)
    with pytest.raises(TypeError, match="AkidaUnsupervised"):
        model.compile("adam")
    model.compile(AkidaUnsupervised(3))
    with pytest.raises(ValueError, match="already compiled"):
        model.compile(AkidaUnsupervised(3))
    with pytest.raises(ValueError, match="compiled for learning.*'Fully_2'"):
        model.add(FullyConnected(2))


def test_fit_needs_compile():
    model = spike_model(10, 4)
    with pytest.raises(ValueError, match="not compiled for learning.*'Fully_2'"):
        model.fit(spikes(2, 10, 0.5, 0))


# -- fit -------------------------------------------------------------------------------------------
def test_learn_follows_the_rule_by_hand():
    """Two neurons, 6 inputs; every number below follows docs/akida-v1.md section 9."""
    weights = np.zeros((6, 2), np.uint8)
    weights[[0, 1, 2], 0] = 1      # neuron 0: inputs 0, 1, 2
    weights[[3, 4, 5], 1] = 1      # neuron 1: inputs 3, 4, 5
    thl = np.zeros(2, np.int64)
    thswap = np.full(2, 2, np.int64)
    optimizer = AkidaUnsupervised(3, initial_plasticity=2 / 3)   # 2 swaps, decrement 1, floor 1
    sample = np.array([[1, 0, 0, 1, 1, 0]], bool)
    potentials, register = learn(weights, sample, None, thl, thswap, 0, optimizer)
    assert potentials.tolist() == [[1, 2]]
    # Winner 1 (P 2 > 0); k = min(2, R=1 (input 5), F=1 (input 0)) = 1: input 5 -> input 0.
    assert np.flatnonzero(weights[:, 1]).tolist() == [0, 3, 4]
    assert thl.tolist() == [0, 2] and thswap.tolist() == [2, 1] and register == 1
    # Same sample again: neuron 1 has P 3 > 2 but nothing to move: threshold kept, budget
    # decays to its floor.
    potentials, register = learn(weights, sample, None, thl, thswap, register, optimizer)
    assert potentials.tolist() == [[1, 3]] and thl.tolist() == [0, 2]
    assert thswap.tolist() == [2, 1] and register == 1
    # A sample neuron 1 matches less than its threshold: neuron 0 (P 1 > 0) wins.
    sample = np.array([[1, 1, 0, 0, 0, 1]], bool)
    learn(weights, sample, None, thl, thswap, register, optimizer)
    assert np.flatnonzero(weights[:, 0]).tolist() == [0, 1, 5]
    assert thl.tolist() == [2, 2] and thswap.tolist() == [1, 1]


def test_labels_choose_the_class_block_and_negative_labels_are_unlabelled():
    model = spike_model(30, 6)
    model.compile(AkidaUnsupervised(5, 3, seed=0))
    x = spikes(1, 30, 0.5, 1)
    before = learning_state(model)
    model.fit(x, np.array([2]))
    changed = np.flatnonzero(learning_state(model)["threshold_learning"]
                             != before["threshold_learning"])
    assert set(changed.tolist()) <= {4, 5} and changed.size == 1
    unlabelled = spike_model(30, 6)
    unlabelled.compile(AkidaUnsupervised(5, 3, seed=0))
    labelled_minus = spike_model(30, 6)
    labelled_minus.compile(AkidaUnsupervised(5, 3, seed=0))
    y = spikes(4, 30, 0.4, 2)
    unlabelled_out = unlabelled.fit(y)
    minus_out = labelled_minus.fit(y, np.array([-1, -1, -5, -1]))
    np.testing.assert_array_equal(unlabelled_out, minus_out)
    assert_same_state(unlabelled, labelled_minus)


def test_a_bad_label_is_refused_before_anything_is_learned():
    model = spike_model(30, 6)
    model.compile(AkidaUnsupervised(5, 3, seed=0))
    before = learning_state(model)
    with pytest.raises(ValueError, match="label 3 but the model learns 3 classes"):
        model.fit(spikes(3, 30, 0.5, 0), np.array([0, 1, 3]))
    for name, value in learning_state(model).items():
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(TypeError, match="integer class labels"):
        model.fit(spikes(3, 30, 0.5, 0), np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="one label per sample"):
        model.fit(spikes(3, 30, 0.5, 0), np.array([0, 1]))


def test_one_class_ignores_labels_and_a_scalar_labels_every_sample():
    a, b = spike_model(30, 4), spike_model(30, 4)
    a.compile(AkidaUnsupervised(5, seed=3))
    b.compile(AkidaUnsupervised(5, seed=3))
    x = spikes(5, 30, 0.4, 0)
    np.testing.assert_array_equal(a.fit(x, np.array([0, 7, 100, 2, 1])), b.fit(x))
    assert_same_state(a, b)
    c, d = spike_model(30, 4), spike_model(30, 4)
    c.compile(AkidaUnsupervised(5, 2, seed=3))
    d.compile(AkidaUnsupervised(5, 2, seed=3))
    c.fit(x, 1)
    d.fit(x, np.ones(5, np.int64))
    assert_same_state(c, d)


@pytest.mark.parametrize("activation", [False, True])
def test_fit_returns_the_outputs_before_each_step(activation):
    model = spike_model(30, 4, activation=activation, act_bits=2)
    model.layers[-1].set_variable("threshold", np.array([1, 2, 0, 3], np.int32))
    model.compile(AkidaUnsupervised(6, 2, seed=0))
    x = spikes(6, 30, 0.4, 5)
    y = np.array([0, 1, 1, 0, 1, 0])
    outputs = []
    replay = spike_model(30, 4, activation=activation, act_bits=2)
    replay.layers[-1].set_variable("threshold", np.array([1, 2, 0, 3], np.int32))
    replay.compile(AkidaUnsupervised(6, 2, seed=0))
    for index in range(6):
        outputs.append(replay.forward(x[index:index + 1]))
        replay.fit(x[index:index + 1], y[index:index + 1])
    got = model.fit(x, y)
    assert got.dtype == (np.uint8 if activation else np.int32)
    np.testing.assert_array_equal(got, np.concatenate(outputs))
    assert_same_state(model, replay)


def test_batches_and_streams_learn_the_same():
    import tensorflow as tf
    x = spikes(23, 30, 0.35, 0)
    y = np.random.default_rng(1).integers(0, 3, 23)
    reference = spike_model(30, 6)
    reference.compile(AkidaUnsupervised(6, 3, seed=2))
    expected = reference.fit(x, y, batch_size=23)
    runs = [
        lambda m: m.fit(x, y, batch_size=1),
        lambda m: m.fit(x, y, batch_size=5),
        lambda m: m.fit(tf.data.Dataset.from_tensor_slices((x, y)), batch_size=4),
        lambda m: m.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(6)),
        lambda m: m.fit((x[i:i + 7], y[i:i + 7]) for i in range(0, 23, 7)),
    ]
    for run in runs:
        model = spike_model(30, 6)
        model.compile(AkidaUnsupervised(6, 3, seed=2))
        np.testing.assert_array_equal(run(model), expected)
        assert_same_state(model, reference)


def test_a_stream_with_a_bad_label_stops_at_that_batch():
    model = spike_model(30, 6)
    model.compile(AkidaUnsupervised(6, 3, seed=2))
    x = spikes(4, 30, 0.4, 0)
    with pytest.raises(ValueError, match="the labels of batch 1 has label 5"):
        model.fit([(x[:2], np.array([0, 1])), (x[2:], np.array([0, 5]))])
    first_only = spike_model(30, 6)
    first_only.compile(AkidaUnsupervised(6, 3, seed=2))
    first_only.fit(x[:2], np.array([0, 1]))
    assert_same_state(model, first_only)  # batch 0 stays learned, as on the runtime
    np.testing.assert_array_equal(model.fit(x[2:], np.array([0, 2])),
                                  first_only.fit(x[2:], np.array([0, 2])))
    with pytest.raises(ValueError, match="y must be None"):
        model.fit([x], np.array([0, 1, 2, 0]))


def test_inputs_must_be_binary_spikes():
    model = spike_model(30, 6)
    model.compile(AkidaUnsupervised(6, seed=2))
    with pytest.raises(ValueError, match="input_bits=1"):
        model.fit(spikes(2, 30, 0.5, 0) * 2)
    with pytest.raises(TypeError, match="uint8"):
        model.fit(spikes(2, 30, 0.5, 0).astype(np.int32))


def _probe_model():
    """Two neurons connected to inputs 0..8 and 20; input 20..30 active (measured set-up)."""
    model = spike_model(40, 2)
    model.compile(AkidaUnsupervised(10, 2, seed=0))
    weights = np.zeros((1, 1, 40, 2), np.int8)
    weights[0, 0, list(range(9)) + [20], :] = 1
    model.layers[-1].set_variable("weights", weights)
    model.layers[-1].set_variable("thswap", np.array([2, 3], np.int32))
    x = np.zeros((1, 1, 1, 40), np.uint8)
    x[..., 20:31] = 1
    return model, x


@pytest.mark.parametrize("reset", [None, "learning layer", "threshold", "save"])
def test_the_register_carries_over_and_set_variable_resets_it(reset, tmp_path):
    """Measured on the runtime: after neuron 0 moves 2 connections (register 4), neuron 1 moves
    inputs 1, 5, 6 to 22, 27, 28; after any set_variable (or a reload of its .fbz: ours keeps
    the register in .akida files) it moves 0, 4, 8 to 24, 26, 30, as right after compile."""
    model, x = _probe_model()
    model.fit(x, np.array([0]))
    if reset == "learning layer":
        model.layers[-1].set_variable("thswap", model.layers[-1].get_variable("thswap"))
    elif reset == "threshold":
        model.layers[-1].set_variable("threshold", model.layers[-1].get_variable("threshold"))
    elif reset == "save":
        model.save(tmp_path / "m.akida")
        model = Model(tmp_path / "m.akida")
    model.fit(x, np.array([1]))
    column = model.layers[-1].get_variable("weights")[0, 0, :, 1]
    removed = [i for i in range(9) if not column[i]]
    added = [i for i in range(21, 31) if column[i]]
    if reset in ("learning layer", "threshold"):
        assert (removed, added) == ([0, 4, 8], [24, 26, 30])
    else:
        assert (removed, added) == ([1, 5, 6], [22, 27, 28])


def test_forward_predict_and_classes_after_learning():
    model = spike_model(60, 6)
    model.compile(AkidaUnsupervised(12, 3, seed=0))
    prototypes = spikes(3, 60, 0.3, 7)
    model.fit(prototypes, np.array([0, 1, 2]))
    potentials = model.forward(prototypes)[:, 0, 0, :]
    np.testing.assert_array_equal(
        potentials, prototypes[:, 0, 0, :].astype(np.int64) @
        model.layers[-1].get_variable("weights")[0, 0].astype(np.int64))
    classes = model.predict_classes(prototypes)
    assert classes.tolist() == (potentials.argmax(axis=1) // 2).tolist()
    assert model.predict_classes(prototypes, 0).tolist() == potentials.argmax(axis=1).tolist()
    assert model.evaluate(prototypes, classes) == 1.0
    with pytest.raises(ValueError, match="does not divide"):
        model.predict_classes(prototypes, 4)


# -- files, interop, reproducibility -------------------------------------------------------------
def test_a_saved_model_learns_on_exactly(tmp_path):
    model = spike_model(50, 6)
    model.compile(AkidaUnsupervised(8, 3, learning_competition=0.2, seed=3))
    x = spikes(10, 50, 0.3, 0)
    y = np.random.default_rng(0).integers(0, 3, 10)
    model.fit(x[:5], y[:5])
    model.save(tmp_path / "m.akida")
    manifest = json.loads(zipfile.ZipFile(tmp_path / "m.akida").read("manifest.json"))
    assert manifest["format_version"] == 3
    assert manifest["learning"]["optimizer"] == model.learning.get_config()
    reloaded = Model(tmp_path / "m.akida")
    assert reloaded.learning == model.learning
    assert_same_state(reloaded, model)
    np.testing.assert_array_equal(reloaded.fit(x[5:], y[5:]), model.fit(x[5:], y[5:]))
    assert_same_state(reloaded, model)
    # A model that does not learn is still written as version 1.
    plain = spike_model(50, 6)
    plain.save(tmp_path / "p.akida")
    assert json.loads(zipfile.ZipFile(tmp_path / "p.akida").read("manifest.json"))[
        "format_version"] == 1



def test_class_names_and_learning_state_share_format_version_3(tmp_path):
    model = spike_model(20, 4)
    model.class_names = ["a0", "a1", "b0", "b1"]
    model.compile(AkidaUnsupervised(5, 2, seed=1))
    model.fit(spikes(3, 20, 0.4, 1), [0, 1, 1])
    model.save(tmp_path / "m.akida")
    manifest = json.loads(zipfile.ZipFile(tmp_path / "m.akida").read("manifest.json"))
    assert manifest["format_version"] == 3
    reloaded = Model(tmp_path / "m.akida")
    assert reloaded.class_names == ("a0", "a1", "b0", "b1")
    assert reloaded.learning == model.learning and reloaded.learning_register == \
        model.learning_register
    assert_same_state(reloaded, model)


def test_a_learning_model_names_its_classes_or_its_outputs(tmp_path):
    model = spike_model(20, 6)
    with pytest.raises(ValueError, match="6 outputs: give one name per output.$"):
        model.class_names = ["cat", "dog", "bird"]
    model.compile(AkidaUnsupervised(5, 3, seed=0))
    model.class_names = ["cat", "dog", "bird"]  # predict_classes' classes, 2 neurons each
    model.save(tmp_path / "m.akida")
    assert Model(tmp_path / "m.akida").class_names == ("cat", "dog", "bird")
    model.class_names = [f"neuron {i}" for i in range(6)]  # one per output still works
    with pytest.raises(ValueError, match="or one per learned class \\(3\\)"):
        model.class_names = ["cat", "dog"]

def _rewrite_manifest(path, edit):
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    manifest = json.loads(members["manifest.json"])
    edit(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


@pytest.mark.parametrize("edit, match", [
    (lambda m: m.update(format_version=1), "unknown key.*learning"),
    (lambda m: m.update(format_version=2), "unknown key.*learning"),
    (lambda m: m["learning"].update(register=-1), "register must be an integer"),
    (lambda m: m["learning"].update(register=1.5), "register must be an integer"),
    (lambda m: m["learning"].update(extra=1), "unknown key"),
    (lambda m: m["learning"]["optimizer"].update(num_weights=0), "num_weights"),
    (lambda m: m["learning"]["optimizer"].update(num_weights=99), "num_weights=99"),
    (lambda m: m["learning"]["optimizer"].update(lr=0.1), "unknown key"),
    (lambda m: m["learning"].pop("optimizer"), "lacks key"),
    (lambda m: m["layers"][1]["variables"].pop("thswap"), "unexpected member.*thswap"),
    (lambda m: m["learning"]["optimizer"].update(num_classes=3), "not a multiple"),
    (lambda m: m.pop("learning"), "variables .* do not match"),
])
def test_corrupted_learning_entries_are_refused(tmp_path, edit, match):
    model = spike_model(20, 4)
    model.compile(AkidaUnsupervised(5, 2, seed=0))
    path = tmp_path / "m.akida"
    model.save(path)
    _rewrite_manifest(path, edit)
    with pytest.raises(AkidaModelFileError, match=match):
        Model(path)


_FRESH_PROCESS = """
import hashlib, sys
import numpy as np
from cnn2snn_tfmot.akida import AkidaUnsupervised, FullyConnected, InputConvolutional, Model
rng = np.random.default_rng(0)
model = Model()
model.add(InputConvolutional((10, 10, 1), (3, 3), 6, weights_bits=4, act_bits=1))
model.add(FullyConnected(8, weights_bits=1, activation=False))
model.layers[0].set_variable("weights", rng.integers(-7, 8, (3, 3, 1, 6)).astype(np.int8))
model.layers[0].set_variable("threshold", rng.integers(0, 300, 6).astype(np.int32))
model.compile(AkidaUnsupervised(30, 4, learning_competition=0.1, seed=123))
x = rng.integers(0, 256, (40, 10, 10, 1)).astype(np.uint8)
outputs = model.fit(x, rng.integers(0, 4, 40), batch_size=9)
digest = hashlib.sha256()
for name in model.layers[-1].variables:
    digest.update(model.layers[-1].get_variable(name).tobytes())
digest.update(outputs.tobytes())
print(digest.hexdigest())
"""


def test_seeded_learning_is_bit_identical_in_a_fresh_process(python_runner):
    first = python_runner(_FRESH_PROCESS)
    assert first.returncode == 0, first.stderr[-2000:]
    second = python_runner(_FRESH_PROCESS)
    assert second.returncode == 0, second.stderr[-2000:]
    namespace = {}
    import contextlib
    import io
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        exec(_FRESH_PROCESS, namespace)  # our own test code, run here too
    digest = first.stdout.strip().splitlines()[-1]
    assert second.stdout.strip().splitlines()[-1] == digest
    assert buffer.getvalue().strip() == digest


# -- the Keras side ------------------------------------------------------------------------------
def _extractor(act_bits=1, classifier=False):
    rng = np.random.default_rng(0)
    model = Model()
    model.add(InputConvolutional((8, 8, 1), (3, 3), 6, weights_bits=8, act_bits=act_bits,
                                 name="conv"))
    model.layers[0].set_variable("weights", rng.integers(-20, 21, (3, 3, 1, 6)).astype(np.int8))
    model.layers[0].set_variable("threshold", rng.integers(-100, 900, 6).astype(np.int32))
    if classifier:
        model.add(FullyConnected(3, weights_bits=4, activation=False, name="classifier"))
    return model


def test_add_learning_layer_measures_num_weights_from_the_spikes():
    extractor = _extractor()
    x = np.random.default_rng(1).integers(0, 256, (50, 8, 8, 1)).astype(np.uint8)
    learner = add_learning_layer(extractor, 4, 3, x=x, seed=0, learning_competition=0.1,
                                 name="learn")
    counts = np.count_nonzero(extractor.forward(x).reshape(50, -1), axis=1)
    expected = int(np.floor(1.2 * np.median(counts) + 0.5))
    assert learner.learning.num_weights == expected
    assert learner.learning.num_classes == 4 and learner.learning.learning_competition == 0.1
    layer = learner.get_layer("learn")
    assert layer.parameters.units == 12 and layer.parameters.weights_bits == 1
    assert not layer.parameters.activation
    assert len(extractor.layers) == 1  # not modified
    np.testing.assert_array_equal(learner.layers[0].get_variable("weights"),
                                  extractor.layers[0].get_variable("weights"))
    learner.fit(x[:12], np.arange(12) % 4)
    assert add_learning_layer(extractor, 2, 1, num_weights=5).learning.num_weights == 5


def test_add_learning_layer_errors():
    x = np.random.default_rng(1).integers(0, 256, (5, 8, 8, 1)).astype(np.uint8)
    with pytest.raises(ValueError, match="'classifier' has no activation.*replace_classifier"):
        add_learning_layer(_extractor(classifier=True), 2, 2, num_weights=4)
    replaced = add_learning_layer(_extractor(classifier=True), 2, 2, num_weights=4,
                                  replace_classifier=True)
    assert [layer.name for layer in replaced.layers][0] == "conv"
    assert len(replaced.layers) == 2
    with pytest.raises(ValueError, match="'conv' outputs 2-bit values.*quantize_layer"):
        add_learning_layer(_extractor(act_bits=2), 2, 2, num_weights=4)
    with pytest.raises(ValueError, match="give num_weights, or samples x"):
        add_learning_layer(_extractor(), 2, 2)
    silent = _extractor()
    silent.layers[0].set_variable("threshold", np.full(6, 10 ** 6, np.int32))
    with pytest.raises(ValueError, match="fires no spike"):
        add_learning_layer(silent, 2, 2, x=x)
    with pytest.raises(TypeError, match="cnn2snn_tfmot.akida.Model"):
        add_learning_layer("model", 2, 2, num_weights=3)


def test_public_names():
    import cnn2snn_tfmot
    assert cnn2snn_tfmot.AkidaUnsupervised is AkidaUnsupervised
    assert cnn2snn_tfmot.add_learning_layer is add_learning_layer
    assert os.path.isfile(os.path.join(REPO, "docs/akida-v1.md"))


def test_summary_shows_the_learning_layer():
    model = spike_model(40, 6)
    model.compile(AkidaUnsupervised(7, 3, seed=0))
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[-1] == ("Learning: layer 'Fully_2', 40 inputs, 7 connections per neuron, "
                         "3 class(es) x 2 neurons.")
    plain = []
    spike_model(40, 6).summary(print_fn=plain.append)
    assert not plain[-1].startswith("Learning")
