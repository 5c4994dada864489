"""Akida layers: constructor validation, parameters, variables (dtype, shape, range, defaults)."""
import numpy as np
import pytest

from cnn2snn_tfmot.akida import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    Model,
    Padding,
    PoolType,
    SeparableConvolutional,
)
from cnn2snn_tfmot.chip import limits


def _model(*layers):
    model = Model()
    for layer in layers:
        model.add(layer)
    return model


def _conv_model(layer, input_shape=(8, 8, 4)):
    _model(InputData(input_shape, input_bits=4), layer)
    return layer


# -- enums and parameters --------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("same", Padding.Same), ("SAME", Padding.Same), ("valid", Padding.Valid),
    ("Valid", Padding.Valid), (Padding.Same, Padding.Same)])
def test_padding_accepts_strings_and_members(value, expected):
    assert Convolutional((3, 3), 2, padding=value).parameters.padding is expected


@pytest.mark.parametrize("value, expected", [
    ("none", PoolType.NoPooling), ("max", PoolType.Max), ("average", PoolType.Average),
    ("NoPooling", PoolType.NoPooling), (PoolType.Max, PoolType.Max)])
def test_pool_type_accepts_strings_and_members(value, expected):
    size = (2, 2) if expected is PoolType.Max else (-1, -1)
    layer = Convolutional((3, 3), 2, pool_type=value, pool_size=size)
    assert layer.parameters.pool_type is expected


def test_enum_values_match_the_runtime():
    assert [(m.name, m.value) for m in Padding] == [("Valid", 0), ("Same", 1)]
    assert [(m.name, m.value) for m in PoolType] == [("NoPooling", 0), ("Max", 1),
                                                       ("Average", 2)]


def test_runtime_enum_members_are_accepted(akida_runtime):
    akida = akida_runtime
    layer = Convolutional((3, 3), 2, padding=akida.Padding.Valid, pool_type=akida.PoolType.Max,
                          pool_size=(2, 2))
    assert layer.parameters.padding is Padding.Valid
    assert layer.parameters.pool_type is PoolType.Max


def test_bad_padding_names_layer_parameter_and_choices():
    with pytest.raises(ValueError) as err:
        Convolutional((3, 3), 2, name="conv7", padding="full")
    message = str(err.value)
    for part in ("Convolutional layer 'conv7'", "'padding'", "'full'", "Padding.Same",
                 "'valid'"):
        assert part in message


def test_defaults_and_parameters_are_exposed():
    layer = InputConvolutional((28, 28, 1), (3, 3), 8)
    p = layer.parameters
    assert (p.input_shape, p.kernel_size, p.filters, p.padding, p.kernel_stride) == \
        ((28, 28, 1), (3, 3), 8, Padding.Same, (1, 1))
    assert (p.weights_bits, p.pool_type, p.pool_size, p.pool_stride, p.activation,
            p.act_bits, p.padding_value) == (1, PoolType.NoPooling, (-1, -1), (-1, -1), True,
                                             1, 0)
    assert p.layer_type == layer.layer_type == "InputConvolutional"
    assert layer.input_dims == (28, 28, 1) and layer.output_dims == (28, 28, 8)
    assert SeparableConvolutional((3, 3), 4).parameters.weights_bits == 2
    assert InputData((4, 4, 2)).parameters.input_bits == 4
    fc = FullyConnected(10)
    assert (fc.parameters.units, fc.parameters.weights_bits, fc.parameters.act_bits) == \
        (10, 1, 1)
    assert fc.input_dims is None and fc.output_dims is None


def test_parameters_are_read_only():
    layer = FullyConnected(10)
    with pytest.raises(AttributeError, match="fixed at construction"):
        layer.parameters.units = 3
    with pytest.raises(AttributeError, match="no parameter 'kernel_size'"):
        _ = layer.parameters.kernel_size


def test_max_pool_stride_defaults_to_pool_size():
    layer = Convolutional((3, 3), 2, pool_type="max", pool_size=(3, 2))
    assert layer.parameters.pool_stride == (3, 2)


@pytest.mark.parametrize("make, match", [
    (lambda: Convolutional((2, 3), 4), "odd"),
    (lambda: Convolutional((3, 3), 0), "'filters' must be >= 1"),
    (lambda: Convolutional((3, 3), 4, weights_bits=3), r"'weights_bits' must be one of 1, 2, 4, 8"),
    (lambda: Convolutional((3, 3), 4, act_bits=3), r"'act_bits' must be one of 1, 2, 4"),
    (lambda: Convolutional((1, 1), 4, kernel_stride=2), "cannot be larger than kernel_size"),
    (lambda: SeparableConvolutional((3, 1), 4, kernel_stride=(1, 2)),
     "cannot be larger than kernel_size"),
    (lambda: Convolutional((3, 3), 4, pool_type="max"), "'pool_size' must be positive"),
    (lambda: Convolutional((3, 3), 4, pool_size=(2, 2)), r"must be \(-1, -1\) with "
                                                         r"PoolType.NoPooling"),
    (lambda: Convolutional((3, 3), 4, pool_type="average", pool_size=(2, 2)),
     r"must be \(-1, -1\) with PoolType.Average"),
    (lambda: Convolutional((3, 3), 4, pool_type="max", pool_size=(2, 2), pool_stride=(3, 3)),
     "cannot be larger than pool_size"),
    (lambda: InputConvolutional((8, 8, 1), (3, 3), 4, padding_value=256),
     "'padding_value' must be <= 255"),
    (lambda: InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=9), "'weights_bits'"),
    (lambda: InputConvolutional((8, 8, 1), (9, 9), 4, padding="valid"), "does not fit"),
    (lambda: InputData((8, 8, 1), input_bits=5), r"'input_bits' must be one of 1, 2, 3, 4"),
    (lambda: InputData((8, 0, 1)), "positive"),
    (lambda: FullyConnected(0), "'units' must be >= 1"),
])
def test_invalid_parameters_raise_value_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make", [
    lambda: Convolutional((3, 3), 4.0),
    lambda: Convolutional((3, 3), True),
    lambda: FullyConnected(4, activation=1),
    lambda: InputData("8x8"),
    lambda: Convolutional("3x3", 4),
])
def test_wrong_parameter_types_raise_type_error(make):
    with pytest.raises(TypeError):
        make()


def test_input_convolutional_accepts_unusual_weight_bits_like_the_runtime():
    # The runtime builds InputConvolutional with any weights_bits; int8 storage caps us at 8.
    assert InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=3).parameters.weights_bits == 3


# -- variables ---------------------------------------------------------------------------------
def test_variable_names_shapes_and_defaults():
    conv = _conv_model(Convolutional((3, 5), 6, weights_bits=4))
    assert conv.variables == ["act_step", "threshold", "weights"]
    assert conv.get_variable("weights").shape == (3, 5, 4, 6)
    assert conv.get_variable("weights").dtype == np.int8
    assert conv.get_variable("threshold").tolist() == [0] * 6
    assert conv.get_variable("act_step").tolist() == [1.0] * 6
    assert conv.get_variable("act_step").dtype == np.float32
    sep = _conv_model(SeparableConvolutional((3, 3), 5, weights_bits=4))
    assert sep.variables == ["act_step", "threshold", "weights", "weights_pw"]
    assert sep.get_variable("weights").shape == (3, 3, 4, 1)
    assert sep.get_variable("weights_pw").shape == (1, 1, 4, 5)
    fc = _conv_model(FullyConnected(7, weights_bits=4), input_shape=(2, 3, 4))
    assert fc.get_variable("weights").shape == (1, 1, 24, 7)
    assert InputData((4, 4, 1)).variables == []


def test_set_and_get_variable_copy_values():
    conv = _conv_model(Convolutional((3, 3), 2, weights_bits=4))
    weights = np.full((3, 3, 4, 2), -7, np.int8)
    conv.set_variable("weights", weights)
    weights[...] = 0
    stored = conv.get_variable("weights")
    assert stored.min() == stored.max() == -7
    stored[...] = 1
    assert conv.get_variable("weights").max() == -7


def test_set_variable_before_add_is_explained():
    with pytest.raises(ValueError, match="add the layer to a Model first"):
        Convolutional((3, 3), 2).set_variable("threshold", np.zeros(2, np.int32))
    # The input layers know their shape at construction.
    layer = InputConvolutional((8, 8, 1), (3, 3), 2, weights_bits=8)
    layer.set_variable("threshold", np.array([1, 2], np.int32))
    assert layer.get_variable("threshold").tolist() == [1, 2]


def test_unknown_variable():
    conv = _conv_model(Convolutional((3, 3), 2))
    with pytest.raises(ValueError, match="has no variable 'bias'.*'act_step', 'threshold', "
                                         "'weights'"):
        conv.set_variable("bias", np.zeros(2, np.int32))


@pytest.mark.parametrize("name, value, error, match", [
    ("threshold", np.zeros(3, np.float64), TypeError, "dtype int32, got float64"),
    ("threshold", np.zeros(3, np.int64), TypeError, "dtype int32, got int64"),
    ("threshold", [0, 0, 0], TypeError, "numpy array"),
    ("act_step", np.ones(3, np.float64), TypeError, "dtype float32"),
    ("weights", np.zeros((3, 3, 4, 3), np.int32), TypeError, "dtype int8"),
    ("weights", np.zeros((3, 3, 4, 3), np.uint8), TypeError, "dtype int8"),
    ("weights", np.zeros((3, 3, 3, 4), np.int8), ValueError, r"shape \(3, 3, 4, 3\)"),
    ("threshold", np.zeros(4, np.int32), ValueError, r"shape \(3,\)"),
    ("act_step", np.array([1, 1, 1 / 32], np.float32), ValueError, r"\[0.0625, 65536.0\)"),
    ("act_step", np.array([1, np.nan, 1], np.float32), ValueError, "finite"),
    ("act_step", np.array([1, 2 ** 16, 1], np.float32), ValueError, "20-bit"),
    ("threshold", np.array([0, 2 ** 19, 0], np.int32), ValueError, r"\[-524288, 524287\]"),
    ("threshold", np.array([0, -2 ** 19 - 1, 0], np.int32), ValueError, "threshold register"),
])
def test_variable_validation_errors(name, value, error, match):
    conv = _conv_model(Convolutional((3, 3), 3, weights_bits=4, name="c1"))
    with pytest.raises(error, match=match) as info:
        conv.set_variable(name, value)
    assert "Convolutional layer 'c1'" in str(info.value)


def test_register_limits_of_the_input_layer_are_wider():
    layer = InputConvolutional((8, 8, 1), (3, 3), 2, weights_bits=8)
    layer.set_variable("threshold", np.array([2 ** 23 - 1, -2 ** 23], np.int32))
    layer.set_variable("act_step", np.array([2 ** 20 - 1, 1 / 16], np.float32))
    with pytest.raises(ValueError, match="24-bit"):
        layer.set_variable("threshold", np.array([2 ** 23, 0], np.int32))
    with pytest.raises(ValueError, match="1048576"):
        layer.set_variable("act_step", np.array([2 ** 20, 1], np.float32))


def test_without_activation_only_the_act_step_minimum_applies():
    conv = _conv_model(Convolutional((3, 3), 2, activation=False))
    conv.set_variable("threshold", np.array([2 ** 31 - 1, -2 ** 31], np.int32))
    conv.set_variable("act_step", np.array([1e9, 1 / 16], np.float32))
    with pytest.raises(ValueError, match="0.0625"):
        conv.set_variable("act_step", np.array([0.05, 1], np.float32))


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_weight_ranges_per_bitwidth(bits):
    low, high = limits.weight_range(bits)
    assert (low, high) == {1: (0, 1), 2: (-1, 1), 4: (-7, 7), 8: (-128, 127)}[bits]
    conv = _conv_model(Convolutional((1, 1), 2, weights_bits=bits))
    sep = _conv_model(SeparableConvolutional((1, 1), 2, weights_bits=bits))
    for layer, name in ((conv, "weights"), (sep, "weights"), (sep, "weights_pw")):
        shape = layer.get_variable(name).shape
        layer.set_variable(name, np.full(shape, low, np.int8))
        layer.set_variable(name, np.full(shape, high, np.int8))
        for bad in (low - 1, high + 1):
            if -128 <= bad <= 127:
                value = np.zeros(shape, np.int8)
                value.flat[-1] = bad
                with pytest.raises(ValueError, match=f"weights_bits={bits}"):
                    layer.set_variable(name, value)


@pytest.mark.parametrize("layer_type", ["InputConvolutional", "Convolutional",
                                        "SeparableConvolutional", "FullyConnected"])
@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_weight_ranges_match_the_runtime(layer_type, bits, akida_runtime):
    akida = akida_runtime
    if layer_type == "InputConvolutional":
        ours = InputConvolutional((4, 4, 1), (1, 1), 1, weights_bits=bits)
        runtime = akida.InputConvolutional(input_shape=(4, 4, 1), kernel_size=(1, 1),
                                           filters=1, weights_bits=bits)
        runtime_model = akida.Model()
        runtime_model.add(runtime)
    else:
        cls = {"Convolutional": Convolutional, "SeparableConvolutional":
               SeparableConvolutional}.get(layer_type)
        ours = (cls((1, 1), 1, weights_bits=bits) if cls else
                FullyConnected(1, weights_bits=bits))
        _model(InputData((1, 1, 1), input_bits=4), ours)
        runtime = getattr(akida, layer_type)(
            **({"kernel_size": (1, 1), "filters": 1} if cls else {"units": 1}),
            weights_bits=bits)
        runtime_model = akida.Model()
        runtime_model.add(akida.InputData((1, 1, 1), input_bits=4))
        runtime_model.add(runtime)
    for value in range(-128, 128):
        array = np.full(ours.get_variable("weights").shape, value, np.int8)
        try:
            runtime.set_variable("weights", array)
            runtime_ok = True
        except ValueError:
            runtime_ok = False
        try:
            ours.set_variable("weights", array)
            ours_ok = True
        except ValueError:
            ours_ok = False
        assert ours_ok == runtime_ok, (layer_type, bits, value)


@pytest.mark.parametrize("case", range(12))
def test_output_dims_match_the_runtime(case, akida_runtime):
    akida = akida_runtime
    rng = np.random.default_rng(case)
    height, width = (int(v) for v in rng.integers(5, 14, 2))
    kernel = tuple(int(v) for v in rng.choice([1, 3, 5], 2))
    stride = tuple(int(rng.integers(1, k + 1)) for k in kernel)
    padding = ["same", "valid"][case % 2]
    pool = [{}, {"pool_type": "max", "pool_size": (2, 2)},
            {"pool_type": "max", "pool_size": (3, 2), "pool_stride": (2, 1)},
            {"pool_type": "average"}][case % 4]
    ours = Convolutional(kernel, 3, padding=padding, kernel_stride=stride, weights_bits=4,
                         **pool)
    _model(InputData((height, width, 2)), ours)
    runtime_model = akida.Model()
    runtime_model.add(akida.InputData((height, width, 2)))
    runtime_pool = {key: (getattr(akida.PoolType, {"max": "Max", "average": "Average"}[value])
                          if key == "pool_type" else value) for key, value in pool.items()}
    runtime = akida.Convolutional(kernel_size=kernel, filters=3, kernel_stride=stride,
                                  padding=getattr(akida.Padding, padding.capitalize()),
                                  weights_bits=4, **runtime_pool)
    runtime_model.add(runtime)
    assert ours.output_dims == tuple(runtime.output_dims)


def test_repr_names_type_and_parameters():
    text = repr(Convolutional((3, 3), 4, name="c", pool_type="max", pool_size=2))
    assert text.startswith("Convolutional(name='c'") and "pool_type='Max'" in text


def test_constructor_arguments_rebuild_an_equal_layer():
    from cnn2snn_tfmot.akida import Convolutional, PoolType

    layer = Convolutional((3, 5), 7, name="c", kernel_stride=(1, 2), weights_bits=4,
                          pool_type=PoolType.Max, pool_size=(2, 2), act_bits=2)
    arguments = layer.constructor_arguments()
    assert arguments["name"] == "c" and arguments["pool_type"] is PoolType.Max
    copy = type(layer)(**arguments)
    assert copy.parameters == layer.parameters and copy.name == layer.name
