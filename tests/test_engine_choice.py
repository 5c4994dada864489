"""The default back-end's decision (cnn2snn_tfmot/engine/choice.py, Model.default_backend).

The decisions are driven here by stand-in measurements (``choice.race`` patched), so that the
tests check the logic, never the speed of this machine; outputs are compared bit for bit.
"""
import numpy as np
import pytest

from cnn2snn_tfmot.engine import choice, direct, ops

from akida_helpers import MODEL_FACTORIES, random_input, randomize


def fixed_race(direct_seconds, custom_seconds, calls):
    """A stand-in for choice.race: runs each function once, reports the given times."""
    def race(runs, batch, rounds=choice.ROUNDS):
        calls.append(batch.shape[0])
        outputs = [run(batch) for run in runs.values()]
        for output in outputs[1:]:
            np.testing.assert_array_equal(output, outputs[0])
        return ({"direct": [direct_seconds] * rounds, "custom": [custom_seconds] * rounds},
                outputs[-1])
    return race


def test_race_takes_turns(monkeypatch):
    seen = []
    runs = {"a": lambda x: seen.append("a") or x + 1, "b": lambda x: seen.append("b") or x + 1}
    monkeypatch.setattr(choice, "ROUND_SECONDS", 0.0)  # one run a round
    seconds, out = choice.race(runs, np.zeros(2), rounds=3)
    # Warm-up, sizing, then alternating rounds.
    assert seen == ["a", "b", "a", "b", "a", "b", "b", "a", "a", "b"]
    assert set(seconds) == {"a", "b"} and all(len(values) == 3 and min(values) >= 0
                                               for values in seconds.values())
    assert out.tolist() == [1, 1]


@pytest.mark.parametrize("direct_seconds, custom_seconds, expected", [
    ([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], True),
    ([2.0, 2.0, 0.9], [1.0, 1.0, 1.0], False),  # one round disagrees: noise, or a tie
    ([1.05, 1.05], [1.0, 1.0], False),           # within the margin
    ([5.0, 1.05], [1.0, 1.0], False),            # the best times are within the margin
])
def test_graph_is_faster_only_when_every_round_agrees(direct_seconds, custom_seconds, expected):
    assert choice.graph_is_faster({"direct": direct_seconds,
                                   "custom": custom_seconds}) is expected


@pytest.mark.parametrize("direct_seconds, custom_seconds, expected", [
    (2.0, 1.0, "custom"),   # the graph twice as fast
    (1.05, 1.0, "direct"),  # within the margin: the prior stays
    (1.0, 2.0, "direct"),
])
def test_runner_measures_after_enough_work(monkeypatch, direct_seconds, custom_seconds,
                                           expected):
    calls = []
    monkeypatch.setattr(choice, "race", fixed_race(direct_seconds, custom_seconds, calls))
    monkeypatch.setattr(choice, "MEASURE_AFTER_SECONDS", 0.0)
    used = []
    direct_run = lambda x: used.append("direct") or x * 2  # noqa: E731
    graph_run = lambda x: used.append("custom") or x * 2  # noqa: E731
    decisions = choice.BackendChoice()
    run = decisions.runner(4, direct_run, lambda: graph_run)
    assert run(np.ones(3)).tolist() == [2, 2, 2]  # a short batch: never measured on
    assert used == ["direct"] and calls == []
    assert run(np.ones(4)).tolist() == [2] * 4  # a full batch, after enough work: measured
    assert calls == [4] and decisions.chosen(4) == expected
    assert decisions.measured[4] == {"direct": direct_seconds, "custom": custom_seconds}
    used.clear()
    run(np.ones(4))
    assert used == [expected]
    # Another stream of the same size starts on the decision; another size is undecided.
    used.clear()
    decisions.runner(4, direct_run, lambda: graph_run)(np.ones(4))
    assert used == [expected] and decisions.chosen(8) == "direct" and calls == [4]


def test_runner_waits_for_enough_work(monkeypatch):
    calls = []
    monkeypatch.setattr(choice, "race", fixed_race(2.0, 1.0, calls))
    monkeypatch.setattr(choice, "MEASURE_AFTER_SECONDS", 3600.0)
    decisions = choice.BackendChoice()
    run = decisions.runner(2, lambda x: x, lambda: pytest.fail("the graph was built"))
    for _ in range(3):
        run(np.zeros(2))
    assert calls == [] and decisions.chosen(2) == "direct" and decisions.spent(2) > 0


@pytest.fixture
def model_and_data():
    if not ops.is_available():  # pragma: no cover - the op library is built by `make test`
        pytest.skip("the compiled op library is not built")
    model = MODEL_FACTORIES["image_max_model"]()
    rng = np.random.default_rng(3)
    x = random_input(model, rng, 12)
    reference = randomize(model, x, rng)
    return model, x, reference


def test_model_default_backend(monkeypatch, model_and_data):
    model, x, reference = model_and_data
    calls = []
    assert model.default_backend(4) == "direct"
    monkeypatch.setattr(choice, "race", fixed_race(2.0, 1.0, calls))
    assert model.default_backend(4, x=x) == "custom"
    assert model.default_backend(4, x=x) == "custom" and calls == [4]  # measured once
    assert model.default_backend(8) == "direct"
    plan = model.direct_plan()
    monkeypatch.setattr(plan, "run", lambda batch: pytest.fail("the direct engine ran"))
    np.testing.assert_array_equal(model.forward(x, batch_size=4), reference)
    # A change of the model forgets the decisions, with the plan.
    layer = model.layers[-1]
    layer.set_variable("weights", layer.get_variable("weights"))
    assert model.default_backend(4) == "direct"


def test_model_default_backend_without_the_direct_engine(monkeypatch, model_and_data):
    model, x, _ = model_and_data
    monkeypatch.setenv(direct.DIRECT_ENV_VAR, "0")
    assert model.default_backend(4) == "custom"
    with pytest.raises(ValueError, match="batch_size"):
        model.default_backend(0)


def test_model_default_backend_needs_a_full_batch(model_and_data):
    model, x, _ = model_and_data
    with pytest.raises(ValueError, match="at least batch_size=32 images"):
        model.default_backend(32, x=x)
