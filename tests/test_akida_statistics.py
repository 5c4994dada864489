"""Model.statistics: each figure against a direct numpy computation from the layers' outputs
(the independent chip reference), streamed over uneven batches, every input kind, the
saturation of 20-bit registers, and the table / dict / pandas views."""
import math
import sys

import numpy as np
import pytest

from cnn2snn_tfmot.akida import FullyConnected, InputData, Model, Statistics
from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.tfkeras import tf

from akida_helpers import MODEL_FACTORIES, random_input, randomize
from chip_reference import SAT_MAX, SAT_MIN, ref_layer, ref_potentials

ENGINES = ["tf"] + (["custom"] if ops.is_available() else [])


def _model(name, seed=0, n=21):
    rng = np.random.default_rng(seed)
    model = MODEL_FACTORIES[name]()
    randomize(model, random_input(model, rng, 9), rng)
    return model, random_input(model, np.random.default_rng(seed + 1), n)


def _log2_headroom(low, high, vmin, vmax):
    """Written out independently of the package's headroom_bits."""
    candidates = []
    if vmax > 0:
        candidates.append(np.log2(high / vmax))
    if vmin < 0:
        candidates.append(np.log2(low / vmin))
    return min(candidates) if candidates else math.inf


def _expected(model, x):
    """Every figure, computed directly from the reference outputs of each layer."""
    expected, current = {}, x
    for layer in model.layers:
        outputs = ref_layer(layer, current)
        events = np.count_nonzero(outputs.reshape(len(x), -1), axis=1)
        figures = {"nonzero_fraction": np.count_nonzero(outputs) / outputs.size,
                   "events_per_image": events.mean(), "max_events_per_image": events.max(),
                   "outputs_per_image": outputs[0].size}
        if layer.output_bits is not None:
            figures["level_counts"] = np.bincount(outputs.ravel(),
                                                  minlength=2 ** layer.output_bits).tolist()
        if layer.layer_type != "InputData":
            p = layer.parameters
            potentials = ref_potentials(layer, current)
            saturating = layer.layer_type == "FullyConnected" or p.pool_type.name != "NoPooling"
            low, high = (SAT_MIN, SAT_MAX) if saturating else (-2 ** 31, 2 ** 31 - 1)
            figures.update(
                potential_min=potentials.min(), potential_max=potentials.max(),
                potential_bits=20 if saturating else 32,
                potential_headroom_bits=_log2_headroom(low, high, potentials.min(),
                                                       potentials.max()),
                saturated_fraction=(np.mean((potentials == SAT_MIN) | (potentials == SAT_MAX))
                                    if saturating else None))
            threshold = layer.get_variable("threshold")
            act_step = layer.get_variable("act_step").astype(np.float64)
            figures.update(threshold_min=threshold.min(), threshold_max=threshold.max(),
                           act_step_min=act_step.min(), act_step_max=act_step.max())
            margins = [np.log2(act_step.min() * 16)]
            if p.activation:
                register = 24 if layer.layer_type == "InputConvolutional" else 20
                margins.append(np.log2(2 ** (register - 4) / act_step.max()))
                margins.append(_log2_headroom(-2 ** (register - 1), 2 ** (register - 1) - 1,
                                              threshold.min(), threshold.max()))
            figures["register_margin_bits"] = min(margins)
        expected[layer.name] = figures
        current = outputs
    return expected


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
def test_every_figure_matches_a_direct_computation(name, engine):
    model, x = _model(name)
    stats = model.statistics(x, batch_size=5, engine=engine)  # 21 images: 5 uneven batches
    assert isinstance(stats, Statistics)
    assert stats.samples == len(x)
    assert stats.input_events_per_image == pytest.approx(
        np.count_nonzero(x.reshape(len(x), -1), axis=1).mean())
    assert [layer.name for layer in stats] == [layer.name for layer in model.layers]
    for layer, figures in _expected(model, x).items():
        found = stats[layer].to_dict()
        for key, value in figures.items():
            if isinstance(value, float) and value is not None:
                assert found[key] == pytest.approx(value, rel=1e-12), (layer, key)
            else:
                assert found[key] == value, (layer, key)


def test_saturated_potentials_have_no_headroom():
    """FullyConnected sums beyond 2**19 saturate: headroom 0, the saturated fraction counted."""
    model = Model()
    model.add(InputData((1, 1, 300), input_bits=4))
    model.add(FullyConnected(2, weights_bits=8, activation=False))
    weights = np.ones((1, 1, 300, 2), np.int8)
    weights[..., 0] = 127          # 300 * 15 * 127 = 571,500 > 2**19 - 1
    weights[..., 1] = -1
    model.layers[1].set_variable("weights", weights)
    x = np.zeros((4, 1, 1, 300), np.uint8)
    x[:3] = 15
    layer = model.statistics(x, engine="tf")["Fully_2"]
    assert layer.potential_max == SAT_MAX and layer.potential_min == -4500
    assert layer.potential_headroom_bits == 0.0
    assert layer.saturated_fraction == pytest.approx(3 / 8)
    assert layer.potential_saturates and layer.potential_bits == 20


def test_inputs_arrays_datasets_and_batches_give_the_same_statistics():
    model, x = _model("image_max_model")
    labels = np.arange(len(x)) % 3
    reference = model.statistics(x, engine="tf").to_dict()
    dataset = tf.data.Dataset.from_tensor_slices((x, labels))
    assert model.statistics(dataset, batch_size=4, engine="tf").to_dict() == reference
    generator = (x[i:i + 6] for i in range(0, len(x), 6))
    assert model.statistics(generator, engine="tf").to_dict() == reference


def test_statistics_follow_new_variables():
    model, x = _model("dense_model")
    before = model.statistics(x, engine="tf")["Fully_2"]
    layer = model.layers[1]
    layer.set_variable("threshold", np.full(layer.parameters.units, 2 ** 18, np.int32))
    after = model.statistics(x, engine="tf")["Fully_2"]
    assert before.nonzero_fraction > 0 and after.nonzero_fraction == 0
    assert after.threshold_max == 2 ** 18


def test_table_dict_and_errors():
    model, x = _model("image_gap_model")
    stats = model.statistics(x, engine="tf")
    text = str(stats)
    assert text == repr(stats)
    lines = text.splitlines()
    assert lines[0].startswith(f"Statistics of 4 layers over {len(x)} images")
    assert lines[2].split()[:4] == ["Layer", "Bits", "Non-zero", "Events/img"]
    for layer in model.layers:
        row = next(line for line in lines if line.startswith(layer.name + " "))
        assert f"{stats[layer.name].events_per_image:.1f}" in row
    assert list(stats.to_dict()) == [layer.name for layer in model.layers]
    assert stats.total_events_per_image == pytest.approx(
        sum(layer.events_per_image for layer in stats))
    with pytest.raises(KeyError, match="layers are"):
        stats["nope"]
    with pytest.raises(ValueError, match="no samples"):
        model.statistics(x[:0], engine="tf")
    with pytest.raises(TypeError, match="uint8"):
        model.statistics(x.astype(np.float32), engine="tf")
    with pytest.raises(ValueError, match="batch_size"):
        model.statistics(x, batch_size=0, engine="tf")


def test_to_pandas_without_pandas_says_how_to_get_it(monkeypatch):
    model, x = _model("dense_model")
    stats = model.statistics(x, engine="tf")
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        stats.to_pandas()


def test_to_pandas():
    pandas = pytest.importorskip("pandas")
    model, x = _model("dense_model")
    stats = model.statistics(x, engine="tf")
    frame = stats.to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.index) == [layer.name for layer in model.layers]
    assert frame.loc["Fully_2", "events_per_image"] == stats["Fully_2"].events_per_image


def test_verbose_shows_a_progress_bar(capsys):
    model, x = _model("dense_model")
    model.statistics(x, batch_size=8, verbose=1, engine="tf")
    assert f"{len(x)}/{len(x)}" in capsys.readouterr().out
    model.statistics(x, engine="tf")
    assert capsys.readouterr().out == ""
