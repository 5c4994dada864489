"""The probe graph gives every layer's potentials and levels, equal to the chip reference and,
for the last layer, to the fused ``forward`` bit for bit, on every layer type and both
back-ends."""
import numpy as np
import pytest

from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.tfkeras import tf

from akida_helpers import MODEL_FACTORIES, random_input, randomize
from chip_reference import ref_layer, ref_potentials

ENGINES = ["tf"] + (["custom"] if ops.is_available() else [])


def _model(name, seed=0):
    rng = np.random.default_rng(seed)
    model = MODEL_FACTORIES[name]()
    x = random_input(model, rng, 9)
    randomize(model, x, rng)
    return model, random_input(model, np.random.default_rng(seed + 1), 13)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
def test_probe_matches_the_reference_and_forward(name, engine):
    model, x = _model(name)
    results = model.probe_function(engine)(tf.constant(x))
    assert len(results) == len(model.layers)
    current = x
    for layer, result in zip(model.layers, results):
        if layer.layer_type == "InputData":
            assert result["potentials"] is None
        else:
            potentials = result["potentials"].numpy()
            assert potentials.dtype == np.int32
            np.testing.assert_array_equal(potentials, ref_potentials(layer, current),
                                          err_msg=layer.name)
        expected = ref_layer(layer, current)
        np.testing.assert_array_equal(result["outputs"].numpy(), expected, err_msg=layer.name)
        current = expected
    # Bit for bit against the fused path of the same back-end.
    np.testing.assert_array_equal(results[-1]["outputs"].numpy(),
                                  model.forward(x, engine=engine))


def test_probe_is_rebuilt_when_a_variable_changes():
    model, x = _model("dense_model")
    before = model.probe_function("tf")
    assert model.probe_function("tf") is before  # cached
    layer = model.layers[1]
    layer.set_variable("threshold", np.full(layer.parameters.units, 2 ** 18, np.int32))
    after = model.probe_function("tf")
    assert after is not before
    assert not after(tf.constant(x))[1]["outputs"].numpy().any()


@pytest.mark.parametrize("engine", ENGINES)
def test_statistics_function_reduces_the_probe(engine):
    model, x = _model("image_gap_model")
    probe = model.probe_function(engine)(tf.constant(x))
    figures = model.statistics_function(engine)(tf.constant(x))
    assert len(figures) == len(model.layers) + 1
    np.testing.assert_array_equal(figures[0]["events"], np.count_nonzero(x, axis=(1, 2, 3)))
    for layer, result, figure in zip(model.layers, probe, figures[1:]):
        outputs, potentials = result["outputs"].numpy(), result["potentials"].numpy()
        np.testing.assert_array_equal(figure["events"],
                                      np.count_nonzero(outputs, axis=(1, 2, 3)))
        assert int(figure["potential_min"]) == potentials.min()
        assert int(figure["potential_max"]) == potentials.max()
        np.testing.assert_array_equal(
            figure["level_counts"], np.bincount(outputs.ravel(),
                                                minlength=2 ** layer.output_bits))


def test_build_errors_name_the_layer():
    from cnn2snn_tfmot.akida import Model

    with pytest.raises(ValueError, match="empty"):
        Model().probe_function("tf")
