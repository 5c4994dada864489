"""BitwidthSchedule and distill(): lowering bitwidths during one fit, distilling the float model,
with hardware-exact training, TFMOT models and tf.distribute (2 logical CPU devices)."""
import json
import warnings

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot import (
    BitwidthSchedule,
    BitwidthStage,
    Distiller,
    GammaClipping,
    ScaleFactorMonitor,
    convert,
    distill,
    hardware_exact,
    learned_steps,
    load_quantized_model,
    quantize,
    quantize_scope,
)
from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning
from cnn2snn_tfmot.quantization.learned import (
    LearnedActivationQuantizer,
    LearnedStepQuantizer,
    initial_activation_step,
    initial_weight_step,
)
from cnn2snn_tfmot.tfkeras import keras, tf

from helpers import AKIDA

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.fixture(autouse=True)
def _no_chip_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AkidaChipWarning)
        yield


def float_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((10, 10, 1)),
        L.Conv2D(8, 3, padding="same", name="c0"), L.BatchNormalization(name="c0_bn"),
        L.ReLU(name="c0_relu"), L.MaxPool2D(padding="same", name="c0_pool"),
        L.SeparableConv2D(12, 3, padding="same", name="s1"), L.BatchNormalization(name="s1_bn"),
        L.ReLU(name="s1_relu"),
        L.Conv2D(12, 3, strides=2, name="c2"), L.ReLU(name="c2_relu"),
        L.Flatten(name="flat"), L.Dense(4, name="dense")], name="small")


def data(count=64, seed=1):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (count, 10, 10, 1)).astype(np.uint8)
    return images, (images.astype(np.float32) / 255), rng.integers(0, 4, count)


def lowbit_model(x, method="lsq"):
    model = float_model()
    model(x[:8])
    return learned_steps(quantize(model, 4, 4, 8, input_scaling=(255, 0)), x, method=method)


def assert_exact(exact, images, x):
    akida_model = convert(exact)
    np.testing.assert_array_equal(exact.predict(x, verbose=0).reshape(len(x), -1),
                                  akida_model.predict(images).reshape(len(x), -1))
    if AKIDA is not None:
        runtime = akida_model.to_akida()
        np.testing.assert_array_equal(runtime.predict(images).reshape(len(x), -1),
                                      akida_model.predict(images).reshape(len(x), -1))
    return akida_model


# BitwidthSchedule ----------------------------------------------------------------------------

def test_schedule_lowers_activations_then_weights_then_layers_of_a_hardware_exact_model(
        capsys, tmp_path):
    images, x, y = data()
    exact = hardware_exact(lowbit_model(x))
    network = exact.get_layer("hardware_exact")
    exact.compile(keras.optimizers.Adam(1e-3), LOSS)
    schedule = BitwidthSchedule([
        {"epoch": 1, "activations": 2},
        BitwidthStage(2, weights=2),
        {"epoch": 3, "layers": {"c2_relu": 1}}], calibration_data=x)
    monitor = ScaleFactorMonitor()
    history = exact.fit(x, y, epochs=4, batch_size=16, verbose=0,
                        callbacks=[schedule, monitor])
    printed = capsys.readouterr().out.splitlines()
    assert printed == [
        "BitwidthSchedule, epoch 2: activations 4 -> 2 bits: c0_relu, s1_relu, c2_relu",
        "BitwidthSchedule, epoch 3: weights 4 -> 2 bits: s1, c2, dense",
        "BitwidthSchedule, epoch 4: activations 2 -> 1 bits: c2_relu"]
    assert [(c["epoch"], c["layer"], c["before"], c["after"]) for c in schedule.changes] == [
        (1, "c0_relu", 4, 2), (1, "s1_relu", 4, 2), (1, "c2_relu", 4, 2),
        (2, "s1", 4, 2), (2, "c2", 4, 2), (2, "dense", 4, 2), (3, "c2_relu", 2, 1)]
    assert history.history["act_bits"] == [4.0, 2.0, 2.0, 5 / 3]
    assert history.history["weight_bits"] == [5.0, 5.0, 3.5, 3.5]  # (8 + 4 + 4 + 4) / 4 ...
    layers = {layer.name: layer for layer in network.chain}
    assert layers["c0"].quantizer.bitwidth == 8  # the input layer keeps its bits
    assert [layers[name].bitwidth for name in ("c0_relu", "s1_relu", "c2_relu")] == [2, 2, 1]
    # The activations changed at epoch 2 restarted from the calibration data...
    assert layers["c0_relu"].bitwidth == 2
    # ... the weight steps from the weights (then trained one more epoch).
    # The model is the chip, bit for bit, at its new bitwidths; the Akida model has them.
    akida_model = assert_exact(exact, images, x)
    assert [layer.parameters.act_bits for layer in akida_model.layers[:3]] == [2, 2, 1]
    assert [layer.parameters.weights_bits for layer in akida_model.layers] == [8, 2, 2, 2]
    assert sorted(monitor.margins) == ["c0", "c2", "dense", "s1"]
    # A saved model carries the new bitwidths.
    path = str(tmp_path / "scheduled.h5")
    exact.save(path)
    reloaded = load_quantized_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), exact.predict(x, verbose=0))


def test_schedule_restarts_learned_steps():
    images, x, y = data()
    model = lowbit_model(x)
    exact = hardware_exact(model)
    network = exact.get_layer("hardware_exact")
    layers = {layer.name: layer for layer in network.chain}
    exact.compile(keras.optimizers.SGD(0.0), LOSS)  # nothing learns: only the schedule acts
    before = float(layers["c0_relu"].step_height)
    BitwidthSchedule([{"epoch": 0, "layers": {"c0_relu": 2, "s1": 2}}], verbose=0)
    exact.fit(x, y, epochs=1, verbose=0, callbacks=[
        BitwidthSchedule([{"epoch": 0, "layers": {"c0_relu": 2, "s1": 2}}], verbose=0)])
    # Without calibration data: LSQ's ratio of initial steps, sqrt(15 / 3).
    assert float(layers["c0_relu"].step_height) == pytest.approx(before * 5 ** 0.5, rel=1e-6)
    # Weight steps: the method's formula on the weights.
    np.testing.assert_allclose(
        layers["s1"].quantizer.step_variable.numpy(),
        initial_weight_step(layers["s1"].pointwise_kernel, 2, per_axis=True).numpy(), rtol=1e-6)
    # With calibration data: the step of initialize_steps on that data.
    schedule = BitwidthSchedule([{"epoch": 0, "layers": {"s1_relu": 2}}], calibration_data=x,
                                verbose=0)
    exact.fit(x, y, epochs=1, verbose=0, callbacks=[schedule])
    names = [layer.name for layer in network.chain]
    prefix = keras.Sequential([keras.Input((10, 10, 1))]
                              + network.chain[:names.index("s1_relu")])
    expected, _ = initial_activation_step(prefix(x).numpy(), 2)
    assert float(layers["s1_relu"].step_height) == pytest.approx(expected, rel=1e-5)
    assert_exact(exact, images, x)


def test_schedule_on_a_tfmot_model_and_on_a_plain_quantized_model():
    images, x, y = data()
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    keras.utils.set_random_seed(2)
    annotated = keras.Sequential([
        keras.Input((10, 10, 1)),
        annotate(L.Conv2D(6, 3, name="conv"),
                 qc.Conv2DQuantizeConfig(LearnedStepQuantizer(8, per_axis=True))),
        annotate(L.ReLU(name="relu"), qc.ReLUQuantizeConfig(
            quantizer=LearnedActivationQuantizer(4))),
        annotate(L.Conv2D(6, 3, name="conv2"), qc.Conv2DQuantizeConfig(qc.MaxPerAxisQuantizer(4))),
        annotate(L.ReLU(name="relu2"), qc.ReLUQuantizeConfig(4)),
        L.Flatten(), annotate(L.Dense(4, name="dense"),
                              qc.DenseQuantizeConfig(LearnedStepQuantizer(4)))])
    with quantize_scope():
        model = tfmot.quantization.keras.quantize_apply(annotated, qc.AkidaQuantizeScheme())
    model.compile(keras.optimizers.SGD(0.0), LOSS)  # only the schedule changes the model
    schedule = BitwidthSchedule([{"epoch": 1, "activations": 2, "weights": 2}], verbose=0)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[schedule])
    assert {(c["layer"], c["after"]) for c in schedule.changes} == {
        ("relu", 2), ("relu2", 2), ("conv2", 2), ("dense", 2)}
    akida_model = convert(model, input_scaling=(255, 0))
    assert [layer.parameters.act_bits for layer in akida_model.layers[:2]] == [2, 2]
    assert [layer.parameters.weights_bits for layer in akida_model.layers] == [8, 2, 2]
    # The learned step of the TFMOT activation: LSQ's ratio of initial steps, sqrt(15 / 3).
    step = model.get_layer("quant_relu")._output_quantizer_vars["step"]
    assert float(step) == pytest.approx(0.4 * 5 ** 0.5, rel=1e-6)
    # A plain seed-style model (standard quantizers) too.
    quantized = quantize(float_model(), 4, 4, 8)
    quantized.compile(keras.optimizers.Adam(1e-3), LOSS)
    quantized.fit(x, y, epochs=2, verbose=0, callbacks=[
        BitwidthSchedule([{"epoch": 1, "activations": 2}], verbose=0)])
    assert float(quantized.get_layer("c0_relu").step_height) == 1.0  # 2 bits: steps of 1
    assert convert(quantized, input_scaling=(255, 0)).layers[0].parameters.act_bits == 2


def test_schedule_refuses_what_it_cannot_do():
    images, x, y = data(16)
    exact = hardware_exact(lowbit_model(x))
    exact.compile("sgd", LOSS)
    with pytest.raises(ValueError, match=r"names \['nope'\], which are not quantized layers"):
        exact.fit(x, y, verbose=0, callbacks=[
            BitwidthSchedule([{"epoch": 0, "layers": {"nope": 2}}])])
    with pytest.raises(ValueError, match="HardwareExactNetwork: the layers break Akida rules"):
        exact.fit(x, y, verbose=0, callbacks=[BitwidthSchedule([{"epoch": 0, "activations": 3}],
                                                               verbose=0)])
    with pytest.raises(ValueError, match="`activations` must be an integer activation"):
        BitwidthStage(1, activations=0)
    with pytest.raises(ValueError, match="`epoch` must be a non-negative epoch"):
        BitwidthStage(-1, weights=2)
    with pytest.raises(ValueError, match="a stage is a BitwidthStage or a dict with 'epoch'"):
        BitwidthSchedule([{"weights": 2}])


# Distillation ------------------------------------------------------------------------------------

def test_distillation_loss_is_the_formula_and_only_the_student_learns():
    images, x, y = data()
    teacher = float_model(3)
    teacher(x[:4])
    student = quantize(float_model(4), 4, 4, 8)
    distiller = distill(student, teacher, temperature=3.0, alpha=0.7)
    distiller.compile(keras.optimizers.Adam(1e-3), LOSS)
    logits = student(x, training=False)
    teacher_logits = teacher(x, training=False).numpy().astype(np.float64)
    total = distiller.compute_loss(x, tf.constant(y), logits).numpy()

    def log_softmax(z):
        z = z - z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    t, s = log_softmax(teacher_logits / 3), log_softmax(logits.numpy().astype(np.float64) / 3)
    kl = 9 * np.mean(np.sum(np.exp(t) * (t - s), axis=1))
    labels = -np.mean(log_softmax(logits.numpy().astype(np.float64))[np.arange(len(y)), y])
    assert total == pytest.approx(0.7 * kl + 0.3 * labels, rel=1e-5)
    assert float(distiller.distillation_tracker.result()) == pytest.approx(kl, abs=1e-7)
    teacher_weights = [w.copy() for w in teacher.get_weights()]
    student_weights = [w.copy() for w in student.get_weights()]
    history = distiller.fit(x, y, epochs=2, batch_size=16, verbose=0,
                            validation_data=(x[:16], y[:16]))
    assert sorted(history.history) == ["distillation_loss", "loss", "val_distillation_loss",
                                       "val_loss"]
    for before, after in zip(teacher_weights, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)  # BatchNormalization statistics too
    assert any(not np.array_equal(a, b) for a, b in zip(student_weights, student.get_weights()))
    assert len(distiller.trainable_weights) == len(student.trainable_weights)
    with pytest.raises(NotImplementedError, match="save or convert its student"):
        distiller.get_config()


def test_distill_checks_its_arguments():
    teacher = keras.Sequential([keras.Input((4,)), L.Dense(3)])
    with pytest.raises(ValueError, match="student 'wide' outputs \\(5,\\) .* teacher"):
        distill(keras.Sequential([keras.Input((4,)), L.Dense(5)], name="wide"), teacher)
    student = keras.Sequential([keras.Input((4,)), L.Dense(3)])
    with pytest.raises(ValueError, match="`temperature` must be a number in \\(0, inf\\]"):
        distill(student, teacher, temperature=0)
    with pytest.raises(ValueError, match="`alpha` must be a number in \\[0, 1\\]"):
        distill(student, teacher, alpha=1.5)


def test_distilling_into_a_hardware_exact_model_with_the_callbacks():
    images, x, y = data()
    teacher = float_model(5)
    teacher(x[:4])
    teacher.get_layer("c0_bn").gamma.assign(np.full(8, -1.0, np.float32))
    exact = hardware_exact(lowbit_model(x))
    distiller = distill(exact, teacher)
    distiller.compile(keras.optimizers.Adam(1e-3), LOSS, metrics=["accuracy"])
    monitor = ScaleFactorMonitor()
    schedule = BitwidthSchedule([{"epoch": 1, "activations": 2}], verbose=0)
    history = distiller.fit(x, y, epochs=2, batch_size=16, verbose=0,
                            callbacks=[GammaClipping(0.1), monitor, schedule])
    assert "accuracy" in history.history and "akida_margin/dense" in history.history
    # The callbacks acted on the student only: the teacher's gamma is untouched.
    np.testing.assert_array_equal(teacher.get_layer("c0_bn").gamma.numpy(), -np.ones(8))
    assert len(schedule.changes) == 3
    assert_exact(exact, images, x)
    assert isinstance(distiller, Distiller)


DISTRIBUTED = """
import json, sys
import numpy as np
import cnn2snn_tfmot
from cnn2snn_tfmot import tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from cnn2snn_tfmot import (BitwidthSchedule, convert, distill, hardware_exact, keras,
                           learned_steps, quantize)
sys.path.insert(0, "tests")
from test_lowbit_training import data, float_model

images, x, y = data(64)
teacher_weights = None

def run(strategy):
    with strategy.scope():
        teacher = float_model(7)
        teacher(x[:2])
        student = hardware_exact(learned_steps(
            quantize(float_model(8), 4, 4, 8, input_scaling=(255, 0)), x))
        distiller = distill(student, teacher, temperature=2.0, alpha=0.8)
        distiller.compile(keras.optimizers.Adam(1e-3),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32)
    distiller.fit(dataset, epochs=3, verbose=0, callbacks=[
        BitwidthSchedule([{"epoch": 2, "activations": 2}], verbose=0)])
    weights = [np.asarray(w) for w in student.get_weights()]
    outputs = convert(student).predict(images).reshape(len(x), -1)
    return weights, outputs

single, single_out = run(tf.distribute.OneDeviceStrategy("/cpu:0"))
mirrored_strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
mirrored, mirrored_out = run(mirrored_strategy)
print(json.dumps({
    "replicas": mirrored_strategy.num_replicas_in_sync,
    "difference": max(float(np.max(np.abs(a - b))) for a, b in zip(single, mirrored)),
    "agreement": float(np.mean(single_out.argmax(1) == mirrored_out.argmax(1)))}))
"""


def test_distillation_and_schedule_under_mirrored_strategy(python_runner):
    """Two logical CPU devices: the same global batches give the one-device weights."""
    result = python_runner(DISTRIBUTED, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["difference"] <= 1e-5, report
    assert report["agreement"] >= 0.98, report
