"""Training callbacks that enforce Akida constraints."""
import csv
import math
import warnings

import numpy as np
import pytest

from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras
from cnn2snn_tfmot.training.callbacks import (
    AkidaRegisterWarning,
    GammaClipping,
    MinValueConstraint,
    ScaleFactorMonitor,
    add_gamma_constraint,
)

L = keras.layers


def model_with_tiny_gammas(seed=0):
    """An inner layer whose BatchNormalization gammas (1e-5) blow its registers up."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        qlayers.QuantizedConv2D(8, 3, quantizer=qops.MaxPerAxisQuantizer(8), name="conv_in"),
        qlayers.ActivationDiscreteRelu(4, name="relu_in"),
        qlayers.QuantizedConv2D(8, 3, quantizer=qops.MaxPerAxisQuantizer(4), name="conv"),
        L.BatchNormalization(name="bn"), qlayers.ActivationDiscreteRelu(4, name="relu"),
        L.Flatten(name="flat"),
        qlayers.QuantizedDense(4, quantizer=qops.MaxPerAxisQuantizer(4), name="out")])
    model.get_layer("bn").gamma.assign(np.full(8, 1e-5, np.float32))
    model.compile(keras.optimizers.SGD(1e-4), "mse")
    return model


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 12, 12, 1)).astype(np.float32), rng.random((n, 4)).astype(np.float32)


def test_monitor_catches_tiny_gammas_before_convert_fails_and_clipping_fixes_them(tmp_path):
    x, y = data()
    model = model_with_tiny_gammas()
    log_path = str(tmp_path / "log.csv")
    monitor = ScaleFactorMonitor((255, 0), on_violation="stop")
    with pytest.warns(AkidaRegisterWarning, match=r"(?s)Layer 'conv': .* does not fit .*"
                                                  r"add_gamma_constraint"):
        history = model.fit(x, y, epochs=3, batch_size=16, verbose=0,
                            callbacks=[monitor, keras.callbacks.CSVLogger(log_path)])
    assert len(history.history["loss"]) == 1  # stopped after the first epoch
    assert history.history["akida_margin/conv"][0] < 0 < history.history["akida_margin/out"][0]
    with open(log_path) as handle:
        assert "akida_margin/conv" in next(csv.reader(handle))
    with pytest.raises(ValueError, match="(?s)Layer 'conv'.*does not fit"):
        convert(model, input_scaling=(255, 0))

    clipped = model_with_tiny_gammas()
    monitor = ScaleFactorMonitor((255, 0), on_violation="raise")
    clipped.fit(x, y, epochs=2, batch_size=16, verbose=0,
                callbacks=[GammaClipping(1e-2), monitor])
    assert np.all(clipped.get_layer("bn").gamma.numpy() >= 1e-2)
    assert min(monitor.margins.values()) > 0
    convert(clipped, input_scaling=(255, 0))  # fits


def test_monitor_raise_and_batch_frequency():
    x, y = data()
    with pytest.raises(ValueError, match=r"(?s)ScaleFactorMonitor \(batch 2\).*Layer 'conv'"):
        model_with_tiny_gammas().fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[
            ScaleFactorMonitor((255, 0), frequency=2, on_violation="raise")])


def test_monitor_margins_are_the_converter_registers():
    model = model_with_tiny_gammas()
    model.get_layer("bn").gamma.assign(np.ones(8, np.float32))
    monitor = ScaleFactorMonitor((255, 0))
    monitor.set_model(model)
    margins, problems = monitor.check()
    assert problems == [] and set(margins) == {"conv_in", "conv", "out"}
    akida_model = convert(model, input_scaling=(255, 0))
    act_step = akida_model.get_layer("conv").get_variable("act_step").astype(np.float64)
    threshold = akida_model.get_layer("conv").get_variable("threshold").astype(np.float64)
    expected = min([math.log2(act_step.min() * 16), math.log2(2 ** 16 / act_step.max())]
                   + ([math.log2((2 ** 19 - 1) / threshold.max())] if threshold.max() > 0 else [])
                   + ([math.log2(-2 ** 19 / threshold.min())] if threshold.min() < 0 else []))
    assert margins["conv"] == pytest.approx(expected)


def test_monitor_warn_mode_keeps_training():
    x, y = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model_with_tiny_gammas().fit(x, y, epochs=2, batch_size=32, verbose=0,
                                                callbacks=[ScaleFactorMonitor((255, 0))])
    assert len(history.history["loss"]) == 2
    assert sum(issubclass(w.category, AkidaRegisterWarning) for w in caught) == 2


def test_monitor_refuses_incompatible_models():
    model = keras.Sequential([keras.Input((4,)), L.Dense(2, name="float_dense")])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="(?s)'float_dense'.*not quantized"):
        model.fit(np.zeros((4, 4)), np.zeros((4, 2)), verbose=0,
                  callbacks=[ScaleFactorMonitor()])


@pytest.mark.parametrize("arguments,match", [
    ({"frequency": 0}, "frequency"), ({"frequency": "batch"}, "frequency"),
    ({"on_violation": "ignore"}, "'warn', 'stop', 'raise'"),
    ({"input_scaling": (0, 0)}, "positive")])
def test_monitor_argument_errors(arguments, match):
    with pytest.raises(ValueError, match=match):
        ScaleFactorMonitor(**arguments)


def test_callbacks_config_round_trip():
    monitor = ScaleFactorMonitor((255, 3), frequency=10, on_violation="stop")
    clone = ScaleFactorMonitor(**monitor.get_config())
    assert clone.get_config() == monitor.get_config() == {
        "input_scaling": [255.0, 3], "frequency": 10, "on_violation": "stop",
        "input_is_sparse": False}
    assert GammaClipping(**GammaClipping(0.05).get_config()).min_value == 0.05
    assert MinValueConstraint.from_config(MinValueConstraint(0.1).get_config()).min_value == 0.1
    with pytest.raises(ValueError, match="min_value"):
        GammaClipping(0)


def test_gamma_clipping_clips_after_each_batch():
    x, y = data()
    model = model_with_tiny_gammas()
    model.compile(keras.optimizers.SGD(10.0), "mse")  # big steps push gammas around
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[GammaClipping(0.02)])
    assert np.all(model.get_layer("bn").gamma.numpy() >= 0.02)


def test_add_gamma_constraint():
    model = model_with_tiny_gammas()
    constrained = add_gamma_constraint(model, min_value=1e-2)
    assert constrained is not model
    assert isinstance(constrained.get_layer("bn").gamma.constraint, MinValueConstraint)
    np.testing.assert_array_equal(constrained.get_layer("bn").gamma.numpy(), np.float32(1e-5))
    x, y = data()
    constrained.compile(keras.optimizers.SGD(1e-4), "mse")
    constrained.fit(x, y, epochs=1, batch_size=16, verbose=0)
    assert np.all(constrained.get_layer("bn").gamma.numpy() >= 1e-2)
    assert np.all(model.get_layer("bn").gamma.numpy() == np.float32(1e-5))  # input untouched
    with pytest.raises(ValueError, match="min_value"):
        add_gamma_constraint(model, min_value=-1)
