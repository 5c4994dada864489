"""cnn2snn_tfmot.inspection.plots: every figure renders with the Agg backend, and what it draws
(axes, bars, lines) is checked against the numbers it shows, computed directly."""
import sys

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg

from cnn2snn_tfmot import ActivationDiscreteRelu, MaxQuantizer, ScaleFactorMonitor, keras
from cnn2snn_tfmot.inspection import plots
from cnn2snn_tfmot.inspection.comparison import compare

from helpers import annotated_and_seed_models, converted_cnn, make_qat_model


@pytest.fixture(scope="module")
def converted():
    return converted_cnn()


def rendered(fig):
    """Draws the figure with Agg (fails on any drawing error) and returns it."""
    FigureCanvasAgg(fig).draw()
    return fig


def bar_heights(ax):
    return [patch.get_height() for patch in ax.patches]


def bar_centres(ax):
    return [patch.get_x() + patch.get_width() / 2 for patch in ax.patches]


def test_weight_histograms_of_the_akida_model_count_every_integer(converted):
    _, akida_model, _, _ = converted
    fig = rendered(plots.weight_histograms(akida_model))
    assert [ax.get_title() for ax in fig.axes] == [
        "c0 (8-bit)", "s1 depthwise (4-bit)", "s1 pointwise (4-bit)", "c2 (4-bit)", "d (4-bit)"]
    kernels = [akida_model.get_layer("c0").get_variable("weights"),
               akida_model.get_layer("s1").get_variable("weights"),
               akida_model.get_layer("s1").get_variable("weights_pw"),
               akida_model.get_layer("c2").get_variable("weights"),
               akida_model.get_layer("d").get_variable("weights")]
    for ax, kernel, (low, high) in zip(fig.axes, kernels, [(-128, 127)] + [(-7, 7)] * 4):
        assert bar_centres(ax) == pytest.approx(list(range(low, high + 1)))
        expected = np.bincount(kernel.astype(np.int64).ravel() - low, minlength=high - low + 1)
        assert bar_heights(ax) == expected.tolist()


def test_weight_histograms_of_the_keras_model_show_the_converter_integers(converted):
    model_q, akida_model, _, _ = converted
    keras_fig = rendered(plots.weight_histograms(model_q))
    akida_fig = plots.weight_histograms(akida_model)
    assert [ax.get_title() for ax in keras_fig.axes] == [ax.get_title() for ax in akida_fig.axes]
    for keras_ax, akida_ax in zip(keras_fig.axes, akida_fig.axes):
        assert bar_heights(keras_ax) == bar_heights(akida_ax)


def test_weight_histograms_select_layers_and_name_unknown_ones(converted):
    _, akida_model, _, _ = converted
    fig = plots.weight_histograms(akida_model, layers=["s1"])
    assert [ax.get_title() for ax in fig.axes] == ["s1 depthwise (4-bit)",
                                                   "s1 pointwise (4-bit)"]
    with pytest.raises(ValueError, match="no layer named 'nope'.*'c0', 's1'"):
        plots.weight_histograms(akida_model, layers=["nope"])


def test_discretized_weights_draw_the_quantized_values():
    w = np.random.default_rng(1).normal(0, 0.05, (64, 10)).astype(np.float32)
    w[:5] = 0.5  # the tutorial's outliers
    quantizer = MaxQuantizer(bitwidth=4)
    fig = rendered(plots.discretized_weights(w, quantizer))
    original, discretized = fig.axes
    assert sum(bar_heights(original)) == w.size
    values, counts = np.unique(quantizer.quantize(w).numpy(), return_counts=True)
    assert bar_centres(discretized) == pytest.approx(values.tolist())
    assert bar_heights(discretized) == counts.tolist()
    with pytest.raises(ValueError, match="needs the weight quantizer"):
        plots.discretized_weights(w)


def test_discretized_weights_of_a_layer_one_row_per_kernel(converted):
    model_q, _, _, _ = converted
    fig = rendered(plots.discretized_weights(model_q.get_layer("s1")))
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == [
        "s1 depthwise", "s1 depthwise", "s1 pointwise", "s1 pointwise"]
    with pytest.raises(ValueError, match="not a quantized neural layer"):
        plots.discretized_weights(model_q.get_layer("flat"))


def test_transfer_curves_are_the_activations_own_outputs(converted):
    model_q, _, _, _ = converted
    fig = rendered(plots.transfer_curves(model_q))
    assert [ax.get_title().split()[0] for ax in fig.axes] == ["r0", "r1", "r2"]
    for ax in fig.axes:
        layer = model_q.get_layer(ax.get_title().split()[0])
        quantized, linear = ax.get_lines()
        assert (quantized.get_label(), linear.get_label()) == ("quantized", "clipped linear")
        x = quantized.get_xdata().astype(np.float32)
        np.testing.assert_array_equal(quantized.get_ydata(), layer(x).numpy())
        assert len(np.unique(quantized.get_ydata())) == 2 ** layer.bitwidth
        assert max(linear.get_ydata()) == pytest.approx(float(layer.step_height) * 15)


@pytest.mark.slow
def test_transfer_curves_of_a_hardware_exact_model(converted):
    from cnn2snn_tfmot import hardware_exact

    model_q, _, _, _ = converted
    exact = hardware_exact(model_q, input_scaling=(255, 0))
    fig = plots.transfer_curves(exact)
    assert [ax.get_title().split()[0] for ax in fig.axes] == ["r0", "r1", "r2"]
    reference = plots.transfer_curves(model_q)
    for exact_ax, ax in zip(fig.axes, reference.axes):
        np.testing.assert_array_equal(exact_ax.get_lines()[0].get_ydata(),
                                      ax.get_lines()[0].get_ydata())


def test_transfer_curves_read_tfmot_activations_like_seed_ones():
    annotated, seed = annotated_and_seed_models()
    tfmot_fig = plots.transfer_curves(make_qat_model(annotated))
    seed_fig = plots.transfer_curves(seed)
    assert len(tfmot_fig.axes) == len(seed_fig.axes) == 3
    for tfmot_ax, seed_ax in zip(tfmot_fig.axes, seed_fig.axes):
        np.testing.assert_allclose(tfmot_ax.get_lines()[0].get_ydata(),
                                   seed_ax.get_lines()[0].get_ydata())
    with pytest.raises(ValueError, match="no quantized activation"):
        plots.transfer_curves(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    single = plots.transfer_curves(ActivationDiscreteRelu(2, name="act"))
    assert len(single.axes) == 1


def test_activation_histograms_and_layer_activity_show_the_statistics(converted):
    _, akida_model, images, _ = converted
    stats = akida_model.statistics(images, engine="tf")
    fig = rendered(plots.activation_histograms(stats))
    assert [ax.get_title().split()[0] for ax in fig.axes] == ["c0", "s1", "c2"]
    for ax in fig.axes:
        assert bar_heights(ax) == stats[ax.get_title().split()[0]].level_counts
    direct = plots.activation_histograms(akida_model, images, layers=["c2"], engine="tf")
    assert bar_heights(direct.axes[0]) == stats["c2"].level_counts
    activity = rendered(plots.layer_activity(stats))
    events, nonzero = activity.axes
    assert bar_heights(events) == [layer.events_per_image for layer in stats]
    assert bar_heights(nonzero) == pytest.approx([100 * layer.nonzero_fraction
                                                  for layer in stats])
    assert [label.get_text() for label in events.get_xticklabels()] == ["c0", "s1", "c2", "d"]
    with pytest.raises(ValueError, match="give the images"):
        plots.layer_activity(akida_model)
    with pytest.raises(TypeError, match="Statistics"):
        plots.activation_histograms([1, 2])


def test_margins_from_a_csv_log_of_a_real_training(converted, tmp_path):
    model_q, _, images, labels = converted
    model_q = keras.models.clone_model(model_q)
    model_q.set_weights(converted[0].get_weights())
    model_q.compile("adam", keras.losses.SparseCategoricalCrossentropy())
    monitor = ScaleFactorMonitor((255, 0))
    path = tmp_path / "train.csv"
    history = model_q.fit(images / 255, labels, epochs=2, verbose=0,
                          callbacks=[monitor, keras.callbacks.CSVLogger(str(path))])
    for log in (path, history, history.history):
        fig = rendered(plots.margins(log))
        lines = fig.axes[0].get_lines()
        assert sorted(line.get_label() for line in lines[:-1]) == ["c0", "c2", "d", "s1"]
        assert lines[-1].get_label() == "limit"
        for line in lines[:-1]:
            assert list(line.get_xdata()) == [0, 1]
            assert line.get_ydata()[-1] == pytest.approx(monitor.margins[line.get_label()])
        assert list(lines[-1].get_ydata()) == [0, 0]
    assert [line.get_label() for line in plots.margins(path, layers="d").axes[0].get_lines()] \
        == ["d", "limit"]


def test_margins_say_how_to_log_them(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("epoch,loss\n0,1.0\n")
    with pytest.raises(ValueError, match="ScaleFactorMonitor placed before CSVLogger"):
        plots.margins(path)
    with pytest.raises(FileNotFoundError, match="no training log"):
        plots.margins(tmp_path / "missing.csv")


def test_agreement_per_class(converted):
    model_q, akida_model, images, labels = converted
    result = compare(model_q, akida_model, images, labels, input_scaling=(255, 0),
                     engine="tf")
    fig = rendered(plots.agreement(model_q, akida_model, images, labels, input_scaling=(255, 0),
                                   engine="tf"))
    ax = fig.axes[0]
    assert [c.get_label() for c in ax.containers] == ["Keras accuracy", "Akida accuracy",
                                                      "agreement"]
    for container, key in zip(ax.containers, ("keras_accuracy", "akida_accuracy",
                                              "agreement")):
        assert [bar.get_height() for bar in container] == pytest.approx(
            [100 * result.per_class[c][key] for c in result.classes])
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(c) for c in result.classes]
    unlabelled = plots.agreement(model_q, akida_model, images, input_scaling=(255, 0),
                                 engine="tf")
    assert [c.get_label() for c in unlabelled.axes[0].containers] == ["agreement"]


def test_a_missing_matplotlib_names_the_extra(converted, monkeypatch):
    _, akida_model, _, _ = converted
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"cnn2snn_tfmot\[plot\]"):
        plots.weight_histograms(akida_model)
