"""Quantization-aware training under tf.distribute (cnn2snn_tfmot.distributed.training, and the
callbacks under strategies).

The end-to-end tests train the same models on the same global batches on one device, under
MirroredStrategy (2 logical CPU devices) and under MultiWorkerMirroredStrategy (2 worker
processes), each in fresh processes (tests/distributed_worker.py), and compare. Figures measured
here (20 steps of Adam(1e-4), global batch 64, MNIST CNN 8/4/4):

* no BatchNormalization statistics trained (quantize(), create_trainable_quantizer_model,
  hardware_exact): largest weight difference 1.2e-7 (tolerance 1e-6); the Akida models give
  the same argmax on all 2,000 MNIST test images (a few thresholds may be floored one apart);
* a TFMOT model training BatchNormalization statistics, synchronized: after the first step its
  moving statistics agree with one device within 1.6e-6 (relative; 5e-3 unsynchronized); over
  more steps its weights drift apart (1e-3 after 20 steps, agreement 99.45%), exactly as two
  single-device runs do whose float rounding differs (oneDNN on vs off: 1.2e-3, 99.45%):
  batch-statistics QAT amplifies rounding. The test bounds that drift.
"""
import json
import os

import numpy as np
import pytest

from cnn2snn_tfmot import (
    ChiefOnly,
    GammaClipping,
    ScaleFactorMonitor,
    keras,
    quantize,
    synchronize_batchnorm,
    tf,
)
from cnn2snn_tfmot.distributed import run_local_workers, unsynchronized_batchnorms

from helpers import REPO, float_cnn, make_qat_model, run_python

WORKER = os.path.join(REPO, "tests", "distributed_worker.py")
STEPS = 10
#: Models whose forward pass does not depend on the batch: float tolerance.
EXACT_KINDS = ("quantize", "trainable", "hardware_exact")
WEIGHT_TOLERANCE = 1e-6
AGREEMENT = 0.999


# Unit tests -----------------------------------------------------------------------------------

def test_synchronize_batchnorm_copies_the_model_with_global_statistics():
    model = float_cnn()
    copy = synchronize_batchnorm(model)
    assert unsynchronized_batchnorms(model) == ["bn0", "bn1", "bn2"]  # the input is untouched
    assert unsynchronized_batchnorms(copy) == []
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    for ours, theirs in zip(copy.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    x = np.random.default_rng(0).random((4, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(copy(x, training=False), model(x, training=False),  # unfused
                               rtol=1e-6)
    h = np.random.default_rng(1).normal(3, 2, (4, 16, 16, 8)).astype(np.float32)
    np.testing.assert_allclose(copy.get_layer("bn0")(h, training=True),  # one replica: the
                               model.get_layer("bn0")(h, training=True), atol=1e-5)  # same


def test_synchronize_batchnorm_keeps_tfmot_wrappers_and_the_model_converts(tmp_path):
    from tensorflow_model_optimization.quantization.keras import quantize_annotate_layer

    from cnn2snn_tfmot import (
        ActivationQuantizer,
        Conv2DQuantizeConfig,
        MaxPerAxisQuantizer,
        ReLUQuantizeConfig,
        convert,
        quantize_scope,
    )

    keras.utils.set_random_seed(0)
    layers = keras.layers
    annotated = keras.Sequential([
        keras.Input((8, 8, 1)),
        quantize_annotate_layer(layers.Conv2D(4, 3, name="conv"),
                                Conv2DQuantizeConfig(MaxPerAxisQuantizer(8))),
        layers.BatchNormalization(name="bn"),
        quantize_annotate_layer(layers.ReLU(name="relu"), ReLUQuantizeConfig(
            quantizer=ActivationQuantizer(4, trainable=True))),
        layers.Flatten(name="flatten"), quantize_annotate_layer(layers.Dense(3, name="dense"))])
    model = make_qat_model(annotated)
    copy = synchronize_batchnorm(model)
    assert unsynchronized_batchnorms(copy) == []
    assert type(copy.layers[0]).__name__ == type(model.layers[0]).__name__ == "QuantizeWrapperV2"
    x = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-6)
    # The inner layers of its TFMOT wrappers were never called (a clone): the converter reads
    # the model all the same, and gives the same Akida model.
    a, b = convert(copy, input_scaling=(255, 0)), convert(model, input_scaling=(255, 0))
    for ours, theirs in zip(a.layers, b.layers):
        for name in ours.variables:
            np.testing.assert_array_equal(ours.get_variable(name), theirs.get_variable(name))
    copy.save(tmp_path / "synchronized.h5")
    with quantize_scope():
        reloaded = keras.models.load_model(tmp_path / "synchronized.h5")
    assert unsynchronized_batchnorms(reloaded) == []


def test_synchronize_batchnorm_refuses_subclassed_models():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.bn = keras.layers.BatchNormalization()

        def call(self, x):
            return self.bn(x)

    net = Net()
    net(np.zeros((1, 2), np.float32))
    with pytest.raises(TypeError, match="subclassed Net: build its BatchNormalization"):
        synchronize_batchnorm(net)


def test_chief_only_forwards_every_event_on_one_process(tmp_path):
    logger = ChiefOnly(keras.callbacks.CSVLogger(str(tmp_path / "log.csv")))
    model = quantize(float_cnn(), 4, 4, 8)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy())
    x = np.random.default_rng(0).random((8, 16, 16, 1)).astype(np.float32)
    model.fit(x, np.arange(8) % 10, epochs=3, verbose=0, callbacks=[logger])
    assert logger.active is True
    assert len((tmp_path / "log.csv").read_text().splitlines()) == 4  # header + 3 epochs
    with pytest.raises(TypeError, match="wraps a tf_keras Callback"):
        ChiefOnly(lambda logs: None)


def test_monitor_reads_mirrored_variables_of_trainable_quantizers():
    """Under MirroredStrategy the QuantizedReLU thresholds and steps of a
    create_trainable_quantizer_model are MirroredVariables, which have no float(): the
    monitor's fit failed at once. (One device is enough to make them mirrored.)"""
    from cnn2snn_tfmot import create_trainable_quantizer_model

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        model = create_trainable_quantizer_model(quantize(float_cnn(), 4, 4, 8))
        model.compile(keras.optimizers.Adam(1e-4),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert type(model.get_layer("r0").threshold).__name__ == "MirroredVariable"
    monitor = ScaleFactorMonitor((255, 0), frequency=1)
    rng = np.random.default_rng(0)
    model.fit(rng.random((32, 16, 16, 1), np.float32), rng.integers(0, 10, 32), batch_size=16,
              verbose=0, callbacks=[GammaClipping(), monitor])
    assert sorted(monitor.margins) == ["c0", "c2", "d", "s1"]


# End to end: one device vs 2 devices vs 2 workers -----------------------------------------------

def _worker(out, command, *options, timeout=900):
    result = run_python([WORKER, command, out, *options], timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def _report(stdout):
    line = [line for line in stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The float model all runs start from, and single-device QAT of every model kind."""
    out = str(tmp_path_factory.mktemp("distributed_qat"))
    _worker(out, "prepare")
    report = _report(_worker(out, "train", "--strategy", "single", "--steps", str(STEPS),
                             "--kinds", "quantize", "tfmot", "trainable", "hardware_exact"))
    return out, report


def _compare(out, strategy, kinds):
    """{kind: (largest weight difference, Akida argmax agreement, identical integers)}."""
    from cnn2snn_tfmot.akida import Model
    from cnn2snn_tfmot.data.datasets import mnist_split

    _, (images, _) = mnist_split()
    figures = {}
    for kind in kinds:
        # The unsynchronized model's reference: the same model on one device (its layers see
        # the whole batch either way); only its Akida model is compared.
        reference = "tfmot" if kind == "tfmot_unsynchronized" else kind
        difference = None
        if reference == kind:
            single = np.load(os.path.join(out, "single", f"{kind}.npz"))
            other = np.load(os.path.join(out, strategy, f"{kind}.npz"))
            assert sorted(single.files) == sorted(other.files)
            difference = max(float(np.max(np.abs(single[key] - other[key])))
                             for key in single.files if not key.startswith("step1/"))
        a = Model(os.path.join(out, "single", f"{reference}.akida"))
        b = Model(os.path.join(out, strategy, f"{kind}.akida"))
        agreement = float(np.mean(a.predict(images).reshape(len(images), -1).argmax(1)
                                  == b.predict(images).reshape(len(images), -1).argmax(1)))
        same = all(np.array_equal(x.get_variable(name), y.get_variable(name))
                   for x, y in zip(a.layers, b.layers) for name in x.variables)
        figures[kind] = (difference, agreement, same)
    print(f"{strategy} vs one device (largest weight difference, Akida argmax agreement, "
          f"same integers): {figures}")  # the figures of the module docstring (pytest -s)
    return figures


def _step1_statistics_difference(out, strategy, kind):
    """Relative difference of the moving statistics after the first step, from one device's
    (whose BatchNormalization layers see the whole batch, synchronized or not)."""
    single = np.load(os.path.join(out, "single", "tfmot.npz"))
    other = np.load(os.path.join(out, strategy, f"{kind}.npz"))
    keys = [key for key in single.files if key.startswith("step1/")]
    assert keys
    return max(float(np.max(np.abs(single[key] - other[key]) / np.abs(single[key])))
               for key in keys)


def _check_callbacks(report, single_report, kinds):
    for kind in kinds:
        reference = "tfmot" if kind == "tfmot_unsynchronized" else kind
        seen, expected = report["kinds"][kind], single_report["kinds"][reference]
        # The monitor read the synchronized weights: the margins of one device.
        assert seen["margins"].keys() == expected["margins"].keys()
        if kind in EXACT_KINDS:
            for name, margin in seen["margins"].items():
                assert margin == pytest.approx(expected["margins"][name], abs=1e-3), (kind, name)
        # GammaClipping lifted the gammas set to -1 on every local replica.
        assert seen["replicas_equal"], kind
        for name, minima in seen["gamma_min"].items():
            assert len(minima) == report["local_replicas"], (kind, name)
            assert min(minima) >= 0.5 - 1e-7, (kind, name, minima)


@pytest.mark.slow
def test_mirrored_strategy_trains_as_one_device(reference):
    out, single_report = reference
    kinds = ("quantize", "tfmot", "tfmot_unsynchronized", "trainable", "hardware_exact")
    report = _report(_worker(out, "train", "--strategy", "mirrored", "--steps", str(STEPS),
                             "--kinds", *kinds))
    assert report["replicas"] == 2 and report["local_replicas"] == 2
    figures = _compare(out, "mirrored", kinds)
    for kind in EXACT_KINDS:
        difference, agreement, _ = figures[kind]
        assert difference <= WEIGHT_TOLERANCE, (kind, figures[kind])
        assert agreement >= AGREEMENT, (kind, figures[kind])
    # Synchronized batch statistics: the first step's moving statistics are one device's.
    synchronized = _step1_statistics_difference(out, "mirrored", "tfmot")
    unsynchronized = _step1_statistics_difference(out, "mirrored", "tfmot_unsynchronized")
    print(f"first-step moving statistics, relative difference from one device: synchronized "
          f"{synchronized:.2g}, unsynchronized {unsynchronized:.2g}")
    assert synchronized <= 1e-4 < 1e-3 <= unsynchronized, (synchronized, unsynchronized)
    # Then batch-statistics QAT amplifies rounding (see the module docstring): bounded drift.
    difference, agreement, _ = figures["tfmot"]
    assert difference <= 1e-2 and agreement >= 0.99, figures["tfmot"]
    _check_callbacks(report, single_report, kinds)


@pytest.mark.slow
def test_multi_worker_strategy_trains_as_one_device_and_only_the_chief_writes(reference):
    out, single_report = reference
    kinds = ("quantize", "tfmot", "trainable", "hardware_exact")
    results = run_local_workers([WORKER, "train", out, "--strategy", "multiworker", "--steps",
                                 str(STEPS), "--kinds", *kinds], num_workers=2, timeout=900,
                                env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    reports = [_report(result.stdout) for result in results]
    assert [report["chief"] for report in reports] == [True, False]
    assert all(report["replicas"] == 2 and report["local_replicas"] == 1 for report in reports)
    figures = _compare(out, "multiworker", kinds)
    for kind in EXACT_KINDS:
        difference, agreement, _ = figures[kind]
        assert difference <= WEIGHT_TOLERANCE, (kind, figures[kind])
        assert agreement >= AGREEMENT, (kind, figures[kind])
    assert _step1_statistics_difference(out, "multiworker", "tfmot") <= 1e-4
    difference, agreement, _ = figures["tfmot"]
    assert difference <= 1e-2 and agreement >= 0.99, figures["tfmot"]
    for report in reports:
        _check_callbacks(report, single_report, kinds)
    # Both workers computed the same margins from the same weights; only the chief logs.
    chief, other = (report["kinds"] for report in reports)
    for kind in kinds:
        assert chief[kind]["margins"] == other[kind]["margins"], kind
        assert (chief[kind]["logger_active"], other[kind]["logger_active"]) == (True, False)
    # One CSV log per model, written by the chief alone: a header and one row.
    for kind in kinds:
        rows = open(os.path.join(out, "multiworker", f"{kind}.csv")).read().splitlines()
        assert len(rows) == 2 and rows[0].startswith("epoch,"), (kind, rows)


@pytest.mark.processes
def test_multi_worker_callbacks_decide_alike_and_the_chief_reports(tmp_path):
    """A short MultiWorkerMirroredStrategy QAT (test-fast runs it too): 2 workers, a few steps,
    with the package's callbacks."""
    code = """
import json, os
import numpy as np
import cnn2snn_tfmot
from cnn2snn_tfmot import (ChiefOnly, GammaClipping, ScaleFactorMonitor, is_chief, keras,
                           create_trainable_quantizer_model, quantize, tf)
import sys
sys.path.insert(0, "tests")
from helpers import float_cnn
strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = create_trainable_quantizer_model(quantize(float_cnn(), 4, 4, 8))
    model.compile(keras.optimizers.Adam(1e-4),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
rng = np.random.default_rng(0)
data = tf.data.Dataset.from_tensor_slices((rng.random((128, 16, 16, 1), np.float32),
                                           rng.integers(0, 10, 128))).batch(32)
monitor = ScaleFactorMonitor((255, 0), frequency=2)
model.fit(data, epochs=1, verbose=0, callbacks=[
    GammaClipping(), monitor, ChiefOnly(keras.callbacks.CSVLogger(sys.argv[1]))])
margins = dict(monitor.margins)
# Tiny weights: huge scale factors and act_steps. Every worker sees it; the chief warns.
layer = model.get_layer("s1")
layer.pointwise_kernel.assign(layer.pointwise_kernel * 1e-6)
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    model.fit(data, epochs=1, verbose=0, callbacks=[monitor])
print(json.dumps({"chief": is_chief(strategy), "margins": margins,
                  "violation": monitor.margins["s1"], "problems": len(monitor.problems),
                  "warnings": sum("would not fit" in str(w.message) for w in caught),
                  "weights": float(sum(np.sum(w) for w in model.get_weights()))}))
"""
    log = str(tmp_path / "log.csv")
    results = run_local_workers(["-c", code, log], num_workers=2, timeout=300,
                                env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    seen = [json.loads(result.stdout.strip().splitlines()[-1]) for result in results]
    assert [s["chief"] for s in seen] == [True, False]
    assert seen[0]["margins"] == seen[1]["margins"] and seen[0]["margins"]
    assert seen[0]["weights"] == seen[1]["weights"]  # one model, held by both workers
    assert len(open(log).read().splitlines()) == 2  # the chief's header and epoch
    # The same violation found by both workers (the same decisions), reported by the chief.
    assert seen[0]["violation"] == seen[1]["violation"] < 0
    assert seen[0]["problems"] == seen[1]["problems"] > 0
    assert seen[0]["warnings"] == 2 and seen[1]["warnings"] == 0
