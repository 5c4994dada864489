"""Property: check_model_compatibility() passes exactly when convert() succeeds.

Random small single-branch quantized models (layer kinds, kernel sizes, paddings, strides,
poolings, BatchNormalizations, activation and weight bitwidths, image or sparse inputs, input
scalings), including many that break a rule. When the check passes, convert() must succeed and
the Akida model must run; when it fails, convert() must fail with the same error.
"""
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn2snn_tfmot import check_model_compatibility, convert
from cnn2snn_tfmot.chip.rules import IncompatibleModelError
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers

KINDS = ("conv", "separable", "dense", "depthwise_pair")

#: Ways to break (or stress) a valid model; each example applies up to three of them.
MUTATIONS = ("even_kernel", "groups", "weight_bits_3", "act_bits_3", "pool_padding",
             "pool_strides", "act_before_pool", "batchnorm_after_act", "negative_gamma",
             "no_flatten", "depthwise_alone", "depthwise_bias", "strides_over_kernel",
             "no_activation", "tiny_weights", "huge_weights", "sparse", "two_channels",
             "global_pool_on_dense", "valid_padding")


@st.composite
def blocks(draw, index, last):
    kind = "conv" if index == 0 else draw(st.sampled_from(KINDS))
    kernel = draw(st.sampled_from([1, 3, 3]))
    pool = "none" if kind == "dense" else draw(st.sampled_from(["none", "max", "global"]))
    size = draw(st.sampled_from([2, 3]))
    return {
        "kind": kind, "filters": draw(st.integers(1, 6)), "kernel": kernel,
        "strides": draw(st.sampled_from([1, min(2, kernel)])), "padding": "same", "groups": 1,
        "bias": draw(st.booleans()), "bits": 8 if index == 0 else 4,
        "pool": pool, "pool_size": size, "pool_strides": draw(st.integers(1, size)),
        "pool_padding": None, "batchnorm": draw(st.sampled_from(["none", "before_pool"])),
        "gamma_sign": 1,
        "act_bits": None if last and draw(st.booleans()) else draw(st.sampled_from([1, 2, 4])),
        "act_before_pool": False, "flatten": True, "weight_scale": 1.0,
    }


def mutate(specs, mutation, which):
    index = which % len(specs)
    if mutation == "groups" and len(specs) > 1:
        # On an inner block, after an even number of channels: only the grouping is wrong.
        index = max(index, 1)
        specs[index - 1]["filters"] = 2 * max(1, specs[index - 1]["filters"] // 2)
    spec = specs[index]
    edits = {
        "even_kernel": {"kernel": 2}, "groups": {"kind": "depthwise_pair", "groups": 2},
        "weight_bits_3": {"bits": 3}, "act_bits_3": {"act_bits": 3},
        "pool_padding": {"pool": "max", "pool_padding": "valid"},
        "pool_strides": {"pool": "max", "pool_size": 2, "pool_strides": 3},
        "act_before_pool": {"act_before_pool": True, "pool": "max"},
        "batchnorm_after_act": {"batchnorm": "after_act"},
        "negative_gamma": {"batchnorm": "before_pool", "gamma_sign": -1},
        "no_flatten": {"kind": "dense", "flatten": False, "pool": "none"},
        "depthwise_alone": {"kind": "depthwise_alone"},
        "depthwise_bias": {"kind": "depthwise_pair", "bias": True},
        "strides_over_kernel": {"kernel": 1, "strides": 2},
        "no_activation": {"act_bits": None}, "tiny_weights": {"weight_scale": 1e-4},
        "huge_weights": {"weight_scale": 1e4}, "global_pool_on_dense": {"pool": "global"},
        "valid_padding": {"padding": "valid"},
    }
    if mutation in edits:
        spec.update(edits[mutation])


@st.composite
def models(draw):
    count = draw(st.integers(1, 3))
    specs = [draw(blocks(i, i == count - 1)) for i in range(count)]
    mutations = draw(st.lists(st.tuples(st.sampled_from(MUTATIONS), st.integers(0, 2)),
                              max_size=3))
    names = [name for name, _ in mutations]
    for name, which in mutations:
        mutate(specs, name, which)
    sparse = "sparse" in names
    channels = 2 if "two_channels" in names else draw(st.sampled_from([1, 3]))
    height = draw(st.integers(5, 9))
    scaling = draw(st.sampled_from([(255, 0), (255, 0), (15, 0), (255, 2)]))
    if sparse:
        scaling = (scaling[0], 0)
    return sparse, (height, height, channels), specs, scaling


def _neural_layers(spec, name):
    kind, bits = spec["kind"], spec["bits"]
    per_axis, per_tensor = qops.MaxPerAxisQuantizer(bits), qops.MaxQuantizer(bits)
    common = dict(padding=spec["padding"], strides=spec["strides"], use_bias=spec["bias"])
    if kind == "conv":
        return [qlayers.QuantizedConv2D(spec["filters"], spec["kernel"], name=name,
                                        quantizer=per_axis, **common)]
    if kind == "separable":
        return [qlayers.QuantizedSeparableConv2D(spec["filters"], spec["kernel"], name=name,
                                                 quantizer=per_axis, quantizer_dw=per_tensor,
                                                 **common)]
    if kind == "dense":
        return ([L.Flatten(name=f"{name}_flat")] if spec["flatten"] else []) + [
            qlayers.QuantizedDense(spec["filters"], name=name, use_bias=spec["bias"],
                                   quantizer=per_axis)]
    depthwise = qlayers.QuantizedDepthwiseConv2D(spec["kernel"], name=name, quantizer=per_tensor,
                                                 **common)
    if kind == "depthwise_alone":
        return [depthwise]
    return [depthwise, qlayers.QuantizedConv2D(spec["filters"] * spec["groups"], 1,
                                               groups=spec["groups"], name=f"{name}_pw",
                                               quantizer=per_axis)]


def build(specs, input_shape, seed):
    rng = np.random.default_rng(seed)
    layers = [keras.Input(input_shape)]
    for index, spec in enumerate(specs):
        name = f"n{index}"
        layers += _neural_layers(spec, name)
        pool = []
        if spec["pool"] == "max":
            pool = [L.MaxPool2D(spec["pool_size"], spec["pool_strides"],
                                padding=spec["pool_padding"] or spec["padding"],
                                name=f"{name}_pool")]
        elif spec["pool"] == "global":
            pool = [L.GlobalAveragePooling2D(name=f"{name}_gap")]
        batchnorm = [L.BatchNormalization(name=f"{name}_bn")]
        activation = ([] if spec["act_bits"] is None else
                      [qlayers.ActivationDiscreteRelu(spec["act_bits"], name=f"{name}_relu")])
        if spec["batchnorm"] == "before_pool":
            layers += batchnorm
        if spec["act_before_pool"]:
            layers += activation + pool
        else:
            layers += pool + activation
        if spec["batchnorm"] == "after_act":
            layers += batchnorm
    model = keras.Sequential(layers)  # may raise: shapes that Keras itself refuses
    for layer, spec in zip(model.layers, _expanded(specs, model)):
        for variable in layer.weights:
            if "gamma" in variable.name:
                values = rng.uniform(0.5, 2, variable.shape) * spec["gamma_sign"]
            elif "variance" in variable.name:
                values = rng.uniform(0.5, 2, variable.shape)
            else:
                values = rng.normal(size=variable.shape) * spec["weight_scale"]
            variable.assign(values.astype(np.float32))
    return model


def _expanded(specs, model):
    """The block spec of each layer of the model, in order (layers are named n<block>...)."""
    return [specs[int(layer.name[1:].split("_")[0])] if layer.name.startswith("n") else specs[0]
            for layer in model.layers]


def outcome(call):
    try:
        return call(), None
    except Exception as err:
        return None, err


OUTCOMES = {"converted": 0, "refused": 0}


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models(), st.integers(0, 2 ** 16))
def _check_iff_convert(drawn, seed):
    sparse, input_shape, specs, scaling = drawn
    try:
        model = build(specs, input_shape, seed)
    except ValueError:
        return  # Keras refuses the shapes itself (e.g. a kernel larger than its input)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AkidaChipWarning)
        checked, check_error = outcome(lambda: check_model_compatibility(
            model, input_is_sparse=sparse, input_scaling=scaling))
        akida_model, convert_error = outcome(lambda: convert(
            model, input_scaling=scaling, input_is_sparse=sparse))
    if check_error is None:
        assert checked is True
        assert convert_error is None, f"check passed but convert failed: {convert_error!r}"
        x = np.zeros((1,) + tuple(akida_model.input_shape), np.uint8)
        assert akida_model.forward(x, engine="tf").shape[0] == 1
        OUTCOMES["converted"] += 1
    else:
        # A refusal is a rule's message, never a crash from inside the analysis.
        assert isinstance(check_error, IncompatibleModelError) or (
            type(check_error) is ValueError
            and "does not fit Akida 1.0's registers" in str(check_error)), repr(check_error)
        assert convert_error is not None, f"check failed ({check_error}) but convert succeeded"
        assert type(convert_error) is type(check_error)
        assert str(convert_error) == str(check_error)
        OUTCOMES["refused"] += 1


def test_check_passes_exactly_when_convert_succeeds():
    OUTCOMES.update(converted=0, refused=0)
    _check_iff_convert()
    # Meaningful only if both outcomes are common among the random models.
    assert OUTCOMES["converted"] >= 25 and OUTCOMES["refused"] >= 25, OUTCOMES


@pytest.mark.parametrize("kind", ["depthwise_pair"])
def test_grouped_pointwise_is_refused_by_both(kind):
    spec = {"kind": kind, "filters": 2, "kernel": 3, "strides": 1, "padding": "same",
            "groups": 2, "bias": False, "bits": 4, "pool": "none", "pool_size": 2,
            "pool_strides": 2, "pool_padding": None, "batchnorm": "none", "gamma_sign": 1,
            "act_bits": 4, "act_before_pool": False, "flatten": True, "weight_scale": 1.0}
    first = dict(spec, kind="conv", bits=8, groups=1)
    model = build([first, spec], (8, 8, 1), 0)
    _, check_error = outcome(lambda: check_model_compatibility(model))
    assert "'n1_pw' has groups=2" in str(check_error)
