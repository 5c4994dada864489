"""Non-finite values are never taken: every weight, bias, BatchNormalization statistic
(negative variances too), threshold and step is checked where a model is quantized, checked,
converted or trained into registers, by one rule (chip.rules.value_problems)."""
import warnings

import numpy as np
import pytest

from cnn2snn_tfmot import (
    ActivationDiscreteRelu,
    MaxPerAxisQuantizer,
    QuantizedConv2D,
    QuantizedDense,
    ScaleFactorMonitor,
    check_model_compatibility,
    convert,
    hardware_exact,
    quantize,
)
from cnn2snn_tfmot.chip.rules import IncompatibleModelError, value_problems
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def _float_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)), L.Conv2D(4, 3, padding="same", name="conv"),
        L.BatchNormalization(name="bn"), L.ReLU(name="relu"), L.Flatten(name="flatten"),
        L.Dense(3, name="dense")], name="small")


def _set(model, layer, index, position, value):
    weights = model.get_layer(layer).get_weights()
    weights[index][position] = value
    model.get_layer(layer).set_weights(weights)
    return model


def test_the_rule_counts_and_names_the_variable():
    problems = value_problems("conv", {"kernel": np.array([np.nan, np.inf, 1.0]),
                                       "moving_variance": np.array([-1.0, 2.0, -0.5])})
    assert problems[0].startswith("Layer 'conv': variable 'kernel' has 2 non-finite values "
                                  "(NaN or infinite) of 3; the training diverged")
    assert problems[1].startswith("Layer 'conv': variable 'moving_variance' has 2 negative "
                                  "values of 3, which a variance cannot have")
    assert value_problems("conv", {"kernel": np.ones(3), "bias": None}) == []


@pytest.mark.parametrize("layer, index, position, variable", [
    ("conv", 0, (0, 0, 0, 1), "kernel"), ("dense", 1, 2, "bias"),
    ("bn", 0, 1, "gamma"), ("bn", 3, 0, "moving_variance")])
def test_quantize_refuses_non_finite_float_weights(layer, index, position, variable):
    model = _set(_float_model(), layer, index, position, np.nan)
    with pytest.raises(ValueError, match=rf"quantize\(\): .*'{layer}': variable '{variable}' "
                                         r"has 1 non-finite value"):
        quantize(model, 4, 4, 8)


def test_quantize_refuses_a_negative_moving_variance():
    model = _set(_float_model(), "bn", 3, 0, -1.0)
    with pytest.raises(ValueError, match="BatchNormalization 'bn': variable 'moving_variance' "
                                         "has 1 negative value of 4"):
        quantize(model, 4, 4, 8)


@pytest.fixture(scope="module")
def quantized():
    return quantize(_float_model(), 4, 4, 8)


def _broken(quantized, layer, index, position, value):
    copy = keras.models.clone_model(quantized)
    copy.set_weights(quantized.get_weights())
    return _set(copy, layer, index, position, value)


@pytest.mark.parametrize("index, position, variable", [(0, (0, 0), "kernel"),
                                                       (1, 0, "bias")])
def test_check_convert_and_hardware_exact_refuse_them(quantized, index, position, variable):
    model = _broken(quantized, "dense", index, position, np.inf)
    match = rf"Layer 'dense': variable '{variable}' has 1 non-finite value"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not numpy's "invalid value encountered in cast"
        for call in (lambda: check_model_compatibility(model),
                     lambda: convert(model, input_scaling=(255, 0)),
                     lambda: hardware_exact(model, input_scaling=(255, 0))):
            with pytest.raises(IncompatibleModelError, match=match):
                call()


def test_a_batchnorm_left_in_a_block_is_checked_too():
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        QuantizedConv2D(4, 3, quantizer=MaxPerAxisQuantizer(8), name="conv"),
        L.BatchNormalization(name="bn"), ActivationDiscreteRelu(4, name="act"),
        L.Flatten(), QuantizedDense(3, quantizer=MaxPerAxisQuantizer(4), name="dense")])
    _set(model, "bn", 0, 0, np.nan)  # gamma
    with pytest.raises(IncompatibleModelError, match="BatchNormalization 'bn': variable "
                                                     "'gamma' has 1 non-finite"):
        convert(model, input_scaling=(255, 0))
    _set(model, "bn", 0, 0, 1.0)
    _set(model, "bn", 3, 1, -2.0)  # moving variance
    with pytest.raises(IncompatibleModelError, match="'moving_variance' has 1 negative"):
        check_model_compatibility(model, input_scaling=(255, 0))


def test_the_monitor_reports_weights_that_turn_non_finite(quantized):
    model = _broken(quantized, "conv", 1, 0, np.nan)
    monitor = ScaleFactorMonitor((255, 0))
    monitor.set_model(model)
    margins, problems = monitor.check()
    assert margins == {} and len(problems) == 1
    assert problems[0].startswith("Layer 'conv': variable 'bias' has 1 non-finite value")


def test_an_input_shape_that_is_not_defined_is_named():
    model = keras.Sequential([keras.Input((None, None, 1), name="images"),
                              L.Conv2D(4, 3, name="conv"), L.ReLU(name="relu"),
                              L.GlobalAveragePooling2D(name="pool"), L.Dense(2, name="dense")])
    quantized = quantize(model, 4, 4, 8)
    for call in (check_model_compatibility, lambda m: convert(m, input_scaling=(255, 0))):
        with pytest.raises(IncompatibleModelError, match=r"input shape must be fully defined: "
                                                         r"layer '\w+' has \(None, None, 1\)"):
            call(quantized)
