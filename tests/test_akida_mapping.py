"""The AKD1000's limits (cnn2snn_tfmot.chip.hardware) and our mapper (Model.map), tested alone
with the figures measured against BrainChip's mapper (akida 2.19.3), and differentially against
that mapper when the ``akida`` wheel is installed: the zoo models and a hypothesis sweep of
random single-branch models built to cross every limit.

Reproduce the sweep's agreement figures: ``pytest -m slow tests/test_akida_mapping.py -k sweep``
(or ``python benchmarks/mapping.py --random 400``).
"""
import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnn2snn_tfmot_cli
from cnn2snn_tfmot import (
    AkidaChipWarning,
    IncompatibleModelError,
    check_model_compatibility,
    convert,
    quantize,
    report,
)
from cnn2snn_tfmot.akida import (
    AkidaMappingError,
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    Mapping,
    Model,
    PoolType,
    SeparableConvolutional,
)
from cnn2snn_tfmot.akida.mapping import MAP_MODES, hardware_layers, map_layers, program_bytes
from cnn2snn_tfmot.chip import hardware as hw
from cnn2snn_tfmot.conversion.compatibility import checked_blocks
from cnn2snn_tfmot.conversion.hardware_check import block_hardware_layers
from cnn2snn_tfmot.tfkeras import keras
from cnn2snn_tfmot_cli import main

from akida_mapping_models import (
    akidanet_akida,
    converted_zoo_model,
    ds_cnn_kws_akida,
    fill_weights,
    mnist_akida,
    random_model,
)
from akida_mapping_oracle import our_mapping, runtime_mapping, same_mapping
from helpers import requires_akida

MODES = ("all_nps", "hw_pr", "minimal")


def _model(*layers):
    model = Model()
    for layer in layers:
        model.add(layer)
    for index, layer in enumerate(model.layers):
        fill_weights(layer, index)
    return model


def _conv(filters=16, **kwargs):
    values = dict(weights_bits=4, act_bits=4)
    values.update(kwargs)
    return Convolutional((3, 3), filters, **values)


# -- the mesh and the published limits -------------------------------------------------------

def test_mesh_has_the_akd1000_neural_processors():
    mesh = hw.akd1000_mesh()
    assert len(mesh) == 78 and len({np_.ident for np_ in mesh}) == 78
    assert all("CNP1" in np_.types for np_ in mesh)
    assert sum("CNP2" in np_.types for np_ in mesh) == 54
    assert hw.fnp_counts() == {"FNP3": 18, "FNP2": 4}


@pytest.mark.parametrize("kernel, channels, limit", [
    (3, 1, 512), (3, 3, 192), (5, 1, 192), (5, 3, 64), (7, 1, 96), (7, 3, 32)])
def test_input_convolution_filters_follow_the_published_table(kernel, channels, limit):
    def problems(filters):
        return hw.input_conv_problems((32, 32, channels), (kernel, kernel), (1, 1), "same",
                                      filters, "none", (1, 1), (1, 1), True)
    assert problems(limit) == []
    assert problems(limit + 1) == [
        f"has {limit + 1} filters: a {kernel}x{kernel} input convolution on {channels} "
        f"channel{'s' if channels > 1 else ''} takes at most {limit} (measured, as "
        f"published); use at most {limit} filters."]


@pytest.mark.parametrize("shape, kernel, stride, padding, pool, expected", [
    ((32, 5, 3), 3, 1, "same", None, None),
    ((32, 4, 3), 3, 1, "same", None, "4 image columns"),
    ((32, 256, 3), 3, 1, "same", None, None),
    ((32, 257, 3), 3, 1, "same", None, "257 image columns"),
    ((4, 32, 3), 3, 1, "same", None, "4 image rows"),
    ((6, 32, 1), 7, 1, "same", None, "6 image rows"),
    ((7, 32, 1), 7, 1, "valid", None, None),
    ((16, 7, 1), 7, 1, "valid", None, "2 output columns"),
    ((16, 10, 1), 7, 3, "valid", None, None),
    ((32, 32, 2), 3, 1, "same", None, "2 input channels"),
    ((32, 32, 3), 1, 1, "same", None, "1x1 kernel"),
    ((32, 32, 3), 3, 4, "same", None, "strides (4, 4)"),
    ((32, 32, 3), 3, 3, "same", None, None),
    ((32, 32, 3), 3, 1, "same", ("max", 3, 3), "3x3 max pooling"),
    ((32, 32, 3), 3, 1, "same", ("max", 2, 1), "strides equal to the pooling size"),
    ((8, 5, 3), 3, 3, "same", ("max", 2, 2), "1 column"),
    ((32, 32, 3), 3, 1, "same", ("global", 1, 1), "cannot pool globally"),
])
def test_input_convolution_rules(shape, kernel, stride, padding, pool, expected):
    kind, size, pool_stride = pool or ("none", 1, 1)
    problems = hw.input_conv_problems(shape, (kernel, kernel), (stride, stride), padding, 8, kind,
                                      (size, size), (pool_stride, pool_stride), True)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0]


def test_input_convolution_needs_its_activation():
    problems = hw.input_conv_problems((32, 32, 3), (3, 3), (1, 1), "same", 8, "none", (1, 1),
                                      (1, 1), False)
    assert problems == ["has no activation: the input convolution maps only with its activation "
                        "on (measured); keep a ReLU after it."]


@pytest.mark.parametrize("kind, kernel, stride, padding, pool, bits, shape, expected", [
    ("conv", 3, 1, "same", None, 4, (16, 16, 8), None),
    ("conv", 1, 1, "same", None, 1, (16, 16, 8), None),
    ("conv", 3, 2, "same", None, 2, (16, 16, 8), None),
    ("conv", 5, 2, "same", None, 4, (16, 16, 8), "stride 2 needs a 3x3 kernel"),
    ("conv", 3, 1, "valid", None, 4, (16, 16, 8), "'valid' padding"),
    ("conv", 9, 1, "same", None, 4, (16, 16, 8), "9x9 kernel"),
    ("conv", 3, 1, "same", None, 8, (16, 16, 8), "8-bit weights"),
    ("separable", 1, 1, "same", None, 4, (16, 16, 8), "1x1 kernel"),
    ("separable", 3, 1, "same", None, 1, (16, 16, 8), "1-bit weights"),
    ("separable", 7, 1, "same", None, 2, (16, 16, 8), None),
    ("conv", 3, 1, "same", ("max", 3, 3), 4, (16, 16, 8), "3x3 max pooling"),
    ("conv", 3, 1, "same", ("max", 2, 1), 4, (16, 16, 8), None),
    ("conv", 1, 1, "same", ("max", 2, 2), 4, (2, 1, 8), "cannot exceed the layer's input"),
    ("conv", 3, 1, "same", ("global", 1, 1), 4, (32, 8, 8), None),
    ("conv", 3, 1, "same", ("global", 1, 1), 4, (33, 8, 8), "input of 33 rows"),
    ("conv", 1, 1, "same", ("global", 1, 1), 4, (8, 2, 8), "map of 2 columns"),
    ("conv", 3, 1, "same", None, 4, (8, 8, 2049), "2049 input channels"),
    ("conv", 7, 1, "same", None, 4, (8, 8, 150), "does not fit a CNP"),
    ("conv", 7, 1, "same", None, 4, (8, 8, 149), None),
    ("conv", 3, 1, "same", None, 4, (8, 8, 448), None),
    ("conv", 3, 1, "same", None, 4, (8, 8, 449), "does not fit a CNP"),
])
def test_convolutional_rules(kind, kernel, stride, padding, pool, bits, shape, expected):
    pool_type, size, pool_stride = pool or ("none", 1, 1)
    layer = hw.HardwareLayer("c", kind, shape, shape, 4, (kernel, kernel), (stride, stride),
                             padding, 8, pool_type, (size, size), (pool_stride, pool_stride),
                             bits)
    problems = hw.cnp_problems(kind, shape, (kernel, kernel), (stride, stride), padding,
                               pool_type, (size, size), (pool_stride, pool_stride), bits,
                               layer.conv_output_shape)
    if expected is None:
        assert problems == []
    else:
        assert len(problems) == 1 and expected in problems[0], problems


@pytest.mark.parametrize("inputs, weights_bits, input_bits, expected", [
    (57334, 4, 4, None), (57335, 4, 4, "57335 inputs"), (10, 8, 4, "8-bit weights"),
    (10, 4, 3, "3-bit inputs"), (10, 1, 1, None)])
def test_fully_connected_rules(inputs, weights_bits, input_bits, expected):
    problems = hw.fnp_problems(inputs, weights_bits, input_bits)
    assert (problems == []) if expected is None else (expected in problems[0])


# -- memories and splits, as BrainChip's mapper decided them ---------------------------------

@pytest.mark.parametrize("kind, kernel, bits, channels, filters, measured", [
    ("conv", 3, 4, 16, 64, 4800), ("conv", 3, 4, 16, 504, 38400), ("conv", 3, 4, 2, 17, 400),
    ("conv", 1, 2, 2, 199, 200), ("conv", 5, 1, 3, 9, 150), ("conv", 7, 4, 2, 57, 4200),
    ("separable", 3, 4, 32, 64, 1400), ("separable", 3, 2, 8, 8, 100),
    ("separable", 5, 4, 13, 504, 3663), ("separable", 7, 4, 512, 64, 41600),
    ("separable", 3, 2, 512, 252, 40000)])
def test_cnp_weight_bytes_are_the_mappers(kind, kernel, bits, channels, filters, measured):
    assert hw.cnp_weight_bytes(kind, kernel, bits, channels, filters) == measured


@pytest.mark.parametrize("kind, kernel, bits, channels, filters, max_filters, measured", [
    ("conv", 3, 4, 16, 64, 31, [22, 22, 20]), ("conv", 3, 4, 16, 64, 7, [7] * 9 + [1]),
    ("conv", 3, 4, 16, 505, 504, [253, 252]), ("conv", 7, 4, 2, 392, 504, [196, 196]),
    ("separable", 3, 2, 512, 504, 504, [252, 252]),
    ("separable", 7, 4, 512, 504, 504, [72] * 7),
    ("separable", 3, 4, 16, 100, 16, [15] * 6 + [10])])
def test_cnp_filter_split_is_the_mappers(kind, kernel, bits, channels, filters, max_filters,
                                         measured):
    assert hw.cnp_filter_split(kind, kernel, bits, channels, filters, max_filters) == measured


@pytest.mark.parametrize("shape, bits, kernel, pool_stride, measured", [
    ((32, 32, 84), 4, 3, (1, 1), (1, 1)), ((32, 32, 85), 4, 3, (1, 1), (2, 1)),
    ((64, 64, 64), 4, 3, (1, 1), (4, 1)), ((32, 32, 141), 4, 7, (1, 1), (1, 2)),
    ((32, 32, 142), 4, 7, (1, 1), (3, 1)), ((64, 64, 100), 4, 7, (1, 1), (4, 2)),
    ((57, 56, 96), 4, 3, (1, 1), (2, 2)), ((59, 56, 96), 4, 3, (1, 1), (5, 1)),
    ((5, 150, 96), 4, 3, (1, 1), (2, 1)), ((300, 150, 96), 4, 1, (1, 1), (11, 5)),
    ((14, 75, 513), 4, 3, (2, 2), (1, 10)), ((150, 257, 8), 2, 3, (2, 2), (5, 2)),
    ((33, 16, 8), 4, 3, (2, 2), (2, 1)), ((32, 300, 16), 1, 3, (1, 1), (1, 2))])
def test_cnp_spatial_split_is_the_mappers(shape, bits, kernel, pool_stride, measured):
    assert hw.cnp_spatial_split(shape, bits, kernel, pool_stride) == measured


def test_cnp_input_rows_pack_columns_by_bytes_and_words():
    assert [hw.cnp_input_row_bytes(x, 3, 4) for x in (1, 3, 5, 9, 13, 17, 31)] == \
        [4, 8, 12, 16, 24, 28, 48]
    assert [hw.cnp_input_row_bytes(x, 8, 1) for x in (5, 9, 17, 31)] == [8, 16, 24, 32]


def test_one_input_channel_needs_even_groups_of_eight_filters_above_16():
    def problems(filters_per_np):
        return hw.cnp_split_problems("conv", (8, 8, 1), 4, (1, 1), "none", (1, 1), (1, 1),
                                     (1, 1), filters_per_np)
    assert problems([16]) == [] and problems([8, 8]) == [] and problems([32]) == []
    assert problems([12, 12]) == []
    assert problems([24]) and problems([8, 8, 8]) and problems([10] * 6 + [4])
    assert hw.cnp_split_problems("separable", (8, 8, 1), 4, (1, 1), "none", (1, 1), (1, 1),
                                 (1, 1), [24]) == []


@pytest.mark.parametrize("inputs, units, bits, kind", [
    (42880, 8, 1, "FNP3"), (42912, 8, 1, "FNP2"), (57312, 1, 4, "FNP3"), (57344, 1, 4, "FNP2"),
    (3136, 10, 4, "FNP3"), (1, 2048, 2, "FNP2"), (32, 1000, 4, "FNP3"), (64, 1000, 4, "FNP2")])
def test_fully_connected_np_type_is_the_mappers(inputs, units, bits, kind):
    assert hw.fnp_type(inputs, units, bits) == kind


# -- our mapper alone ------------------------------------------------------------------------

def test_mnist_cnn_maps_as_brainchip_reports_it():
    model = mnist_akida()
    mapping = model.map()
    assert isinstance(mapping, Mapping) and model.mapping is mapping
    assert mapping.np_counts() == {"conv_0": {"HRC": 1}, "separable_1": {"CNP1": 32},
                                   "separable_2": {"CNP1": 32}, "dense": {"FNP3": 1}}
    assert [s.name for s in mapping.sequences] == ["HW/conv_0-dense"]
    assert mapping.sequences[0].program_bytes == 90412  # the issue's BrainChip figures
    minimal = model.map(mode="minimal")
    assert minimal.total_nps == 3 and minimal.sequences[0].program_bytes == 32252


@pytest.mark.parametrize("size, mode, sequences, counts", [
    (64, "all_nps", ["HW/conv_0-separable_11", "SW/separable_12-separable_13", "HW/dense"],
     {"HRC": 1, "CNP1": 78, "FNP2": 1}),
    (64, "minimal", ["HW/conv_0-separable_11", "SW/separable_12-separable_13", "HW/dense"],
     {"HRC": 1, "CNP1": 11, "FNP2": 1}),
    (128, "all_nps", ["HW/conv_0-dense"], {"HRC": 1, "CNP1": 74, "FNP2": 1}),
    (160, "hw_pr", ["HW/conv_0-dense"], {"HRC": 1, "CNP1": 72, "FNP2": 1}),
    (224, "all_nps", ["HW/conv_0-dense"], {"HRC": 1, "CNP1": 67, "FNP2": 1}),
    (224, "minimal", ["HW/conv_0-dense"], {"HRC": 1, "CNP1": 31, "FNP2": 1}),
])
def test_akidanet_maps_as_brainchip_reports_it(size, mode, sequences, counts):
    mapping = akidanet_akida(size).map(mode=mode)
    assert [s.name for s in mapping.sequences] == sequences
    totals = {}
    for per_type in mapping.np_counts().values():
        for kind, n in per_type.items():
            totals[kind] = totals.get(kind, 0) + n
    assert totals == counts


def test_minimal_mode_uses_the_nps_brainchips_model_zoo_publishes():
    # AkidaNet 0.5 at 224: 32 NPs; DS-CNN keyword spotting: 5 (the HRC not counted).
    assert akidanet_akida(224).map(mode="minimal").total_nps == 32
    assert ds_cnn_kws_akida().map(mode="minimal").total_nps == 5


def test_hw_only_names_each_layer_and_reason():
    model = _model(InputData((16, 16, 8)), _conv(pool_type=PoolType.Max, pool_size=(2, 2)),
                   _conv(weights_bits=8), _conv())
    with pytest.raises(AkidaMappingError) as caught:
        model.map(hw_only=True)
    assert [name for name, _ in caught.value.problems] == ["Conv_2", "Conv_3"]
    message = str(caught.value)
    assert "Layer 'Conv_2' has max pooling and would end a hardware sequence" in message
    assert "Layer 'Conv_3' has 8-bit weights: a convolutional layer takes 1, 2 or 4-bit " \
           "weights (published); quantize its weights to 4 bits." in message
    assert model.mapping is None


def test_without_hw_only_failing_layers_run_in_software():
    model = _model(InputData((16, 16, 8)), _conv(), _conv(pool_type=PoolType.Max,
                                                          pool_size=(2, 2)),
                   _conv(weights_bits=8), _conv(), _conv())
    mapping = model.map(mode="minimal")
    assert [s.name for s in mapping.sequences] == ["HW/Conv_2", "SW/Conv_3-Conv_4",
                                                   "HW/Conv_5-Conv_6"]
    assert mapping.software_layers == ["Conv_3", "Conv_4"]
    assert "InputData_1" not in mapping.np_counts()


def test_max_pooling_before_a_dense_layer_moves_to_software():
    model = _model(InputData((16, 16, 8)), _conv(), _conv(pool_type=PoolType.Max,
                                                          pool_size=(2, 2)),
                   FullyConnected(10, weights_bits=4, act_bits=4))
    assert [s.name for s in model.map().sequences] == ["HW/Conv_2", "SW/Conv_3", "HW/Fully_4"]
    with pytest.raises(AkidaMappingError) as caught:
        model.map(hw_only=True)
    assert [name for name, _ in caught.value.problems] == ["Conv_3", "Fully_4"]


def test_a_new_sequence_starts_when_the_nps_run_out():
    layers = [InputData((128, 128, 32))] + [_conv(32) for _ in range(11)]
    model = _model(*layers)
    mapping = model.map(mode="minimal")
    assert [s.name for s in mapping.sequences] == ["HW/Conv_2-Conv_10", "HW/Conv_11-Conv_12"]
    assert all(n == {"CNP1": 8} for n in mapping.np_counts().values())
    with pytest.raises(AkidaMappingError, match="'Conv_11' needs 8 CNP1 NPs but 6 are left"):
        model.map(mode="minimal", hw_only=True)


def test_fnp2_layers_beyond_four_start_a_new_sequence():
    layers = [InputData((1, 1, 1000))] + [FullyConnected(1000, weights_bits=4, act_bits=4)
                                          for _ in range(5)]
    mapping = _model(*layers).map()
    assert [s.name for s in mapping.sequences] == ["HW/Fully_2-Fully_5", "HW/Fully_6"]
    assert set(map(str, mapping.np_counts().values())) == {"{'FNP2': 1}"}


def test_fnp3_layer_takes_an_fnp2_when_the_cnps_used_every_fnp3():
    # CNPs take the CNP-only, CNP2, FNP3 then FNP2 NPs (measured order): beyond 74 CNPs, a
    # small FC layer gets an FNP2 (as BrainChip's mapper does on these two models).
    def mapped(filters):
        return _model(InputData((8, 8, 32)), SeparableConvolutional((3, 3), filters,
                                                                    weights_bits=4, act_bits=4),
                      FullyConnected(10, weights_bits=1, act_bits=4)).map().np_counts()
    assert mapped(256) == {"SepConv_2": {"CNP1": 64}, "Fully_3": {"FNP3": 1}}
    assert mapped(384) == {"SepConv_2": {"CNP1": 77}, "Fully_3": {"FNP2": 1}}


def test_modes_spread_filters_differently():
    model = mnist_akida()
    assert model.map(mode="all_nps").max_filters == 2
    assert model.map(mode="minimal").max_filters == 504
    assert model.map(mode="hw_pr").np_counts() == model.map(mode="all_nps").np_counts()


def test_mapping_errors_name_the_valid_choices():
    model = mnist_akida()
    with pytest.raises(ValueError, match="unknown mapping mode 'fast'; valid choices are "
                                         "'all_nps', 'hw_pr', 'minimal'"):
        model.map(mode="fast")
    with pytest.raises(ValueError, match="unknown device 'AKD2000'; valid choices are "
                                         "'AKD1000'"):
        model.map("AKD2000")
    with pytest.raises(ValueError, match="the model is empty"):
        Model().map()


def test_mapping_is_forgotten_when_the_model_changes():
    model = mnist_akida()
    model.map()
    layer = model.layers[-1]
    layer.set_variable("threshold", layer.get_variable("threshold"))
    assert model.mapping is None


def test_summary_shows_the_nps_of_each_layer_after_map():
    model = mnist_akida()
    lines = []
    model.summary(print_fn=lines.append)
    assert "NPs" not in lines[2]
    model.map()
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[2].split()[-1] == "NPs"
    assert lines[4].split()[-2:] == ["1", "HRC"] and lines[5].split()[-2:] == ["32", "CNP1"]
    assert lines[-2].startswith("AKD1000 mapping (all_nps): 1 sequence, 1 HRC, 64 CNP1, 1 FNP3")


def test_all_zero_weights_of_the_input_layer_do_not_map():
    model = _model(InputConvolutional((16, 16, 1), (3, 3), 8, weights_bits=8, act_bits=4))
    model.layers[0].set_variable("weights", np.zeros((3, 3, 1, 8), np.int8))
    assert [s.name for s in model.map().sequences] == ["SW/InputConv_1"]


def test_program_bytes_of_a_dense_layer():
    layer = hw.HardwareLayer("fc", "dense", (1, 1, 512), (1, 1, 1000), 4, filters=1000)
    # FNP2: its 400,000 bytes of weights go with the program (BrainChip: 400,728 bytes).
    assert program_bytes([layer], {"fc": map_layers([layer]).sequences[0].nps["fc"]}) == 400728
    assert map_layers([layer]).program_bytes == 400728


# -- against BrainChip's mapper --------------------------------------------------------------

def _compare(model, mode, hw_only):
    ours, theirs = our_mapping(model, mode, hw_only), runtime_mapping(model, mode, hw_only)
    assert same_mapping(ours, theirs), (ours, theirs)
    return ours, theirs


@requires_akida
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hw_only", [False, True])
@pytest.mark.parametrize("factory", ["mnist", "ds_cnn_kws", "akidanet_64", "akidanet_160",
                                     "akidanet_224"])
def test_zoo_like_models_map_as_brainchips(factory, mode, hw_only):
    if factory.startswith("akidanet"):
        model = akidanet_akida(int(factory.split("_")[1]))
    else:
        model = mnist_akida() if factory == "mnist" else ds_cnn_kws_akida()
    ours, theirs = _compare(model, mode, hw_only)
    if ours["error"] is None:
        assert ours["program"] == theirs["program"]


@requires_akida
@pytest.mark.slow
@pytest.mark.parametrize("name, size", [("mnist_cnn", 28), ("cifar_separable_cnn", 32),
                                        ("deep_separable_cnn", 28), ("akidanet_like", 64),
                                        ("akidanet_like", 128), ("akidanet_like", 224)])
def test_converted_zoo_models_map_as_brainchips(name, size):
    model = converted_zoo_model(name, size)
    for mode in MODES:
        for hw_only in (False, True):
            _compare(model, mode, hw_only)


def _choose_with(data):
    return lambda name, options: data.draw(st.sampled_from(options), label=name)


def _sweep(data, mode):
    model = random_model(_choose_with(data))
    if model is None:
        return
    for hw_only in (True, False):
        _compare(model, mode, hw_only)


_QUICK = settings(max_examples=15, deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
_FULL = settings(max_examples=400, deadline=None, derandomize=True,
                 suppress_health_check=list(HealthCheck))


@requires_akida
@pytest.mark.parametrize("mode", MODES)
@_QUICK
@given(data=st.data())
def test_sweep_random_models_map_as_brainchips(mode, data):
    _sweep(data, mode)


@requires_akida
@pytest.mark.slow
@pytest.mark.long
@pytest.mark.parametrize("mode", MODES)
@_FULL
@given(data=st.data())
def test_sweep_400_random_models_map_as_brainchips(mode, data):
    _sweep(data, mode)


# -- the Keras side: check_model_compatibility(device="AKD1000") -----------------------------

def _quantized(*layers, shape=(32, 32, 3), input_scaling=(255, 0)):
    keras.utils.set_random_seed(0)
    float_model = keras.Sequential([keras.Input(shape), *layers])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize(float_model, 4, 4, 8, input_scaling=input_scaling)


def _keras_layers():
    return keras.layers


def test_the_issues_examples_are_refused_for_the_akd1000_with_every_problem():
    L = _keras_layers()
    model = _quantized(L.Conv2D(256, 3, padding="same", name="conv"), L.ReLU(name="relu"),
                       L.Conv2D(16, 5, strides=2, padding="same", name="conv5"),
                       L.ReLU(name="relu5"), L.Flatten(name="flatten"),
                       L.Dense(10, name="dense"), shape=(128, 128, 3))
    with pytest.warns(Warning):
        assert check_model_compatibility(model) is True  # converts: a chip warning only
    with pytest.raises(IncompatibleModelError) as caught:
        check_model_compatibility(model, device="AKD1000")
    message = str(caught.value)
    assert message.startswith("Model 'sequential")
    assert "cannot run in hardware on the AKD1000 in one sequence (3 problems):" in message
    assert "Layer 'conv' has 256 filters: a 3x3 input convolution on 3 channels takes at most " \
           "192" in message
    assert "Layer 'conv5' has a 5x5 kernel with stride 2: stride 2 needs a 3x3 kernel" in message
    assert "Layer 'dense' has 65536 inputs: a fully connected layer takes at most 57334" \
        in message


def test_a_model_that_maps_passes_the_akd1000_check_silently():
    L = _keras_layers()
    model = _quantized(L.Conv2D(16, 3, padding="same", name="conv"), L.ReLU(name="relu"),
                       L.SeparableConv2D(32, 3, padding="same", name="sep"),
                       L.GlobalAveragePooling2D(name="gap"), L.ReLU(name="relu2"),
                       L.Dense(10, name="dense"), input_scaling=None)  # rules, no registers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_model_compatibility(model, device="AKD1000") is True
        assert check_model_compatibility(model) is True


def test_akd1000_warning_without_device_and_unknown_device():
    L = _keras_layers()
    model = _quantized(L.Conv2D(16, 3, padding="same", name="conv"), L.ReLU(name="relu"),
                       L.SeparableConv2D(32, 3, padding="same", name="sep"),
                       L.MaxPool2D(padding="same", name="pool"), L.ReLU(name="relu2"),
                       L.Flatten(name="flatten"), L.Dense(10, name="dense"))
    with pytest.warns(AkidaChipWarning, match="would not run in hardware on the AKD1000 in one "
                                              "sequence: Layer 'sep' has max pooling"):
        check_model_compatibility(model)
    with pytest.raises(ValueError, match="unknown device 'AKD1500'; valid choices are "
                                         "'AKD1000'"):
        check_model_compatibility(model, device="AKD1500")


def test_keras_blocks_describe_the_converted_layers():
    L = _keras_layers()
    model = _quantized(L.Conv2D(16, 3, strides=2, padding="same", name="conv"),
                       L.ReLU(name="relu"),
                       L.SeparableConv2D(32, 3, padding="same", name="sep"),
                       L.MaxPool2D(padding="same", name="pool"), L.ReLU(name="relu2"),
                       L.Conv2D(8, 1, name="pointwise"), L.ReLU(name="relu3"),
                       L.Flatten(name="flatten"), L.Dense(10, name="dense"))
    analysis, registers = checked_blocks(model, False, (255.0, 0))
    assert block_hardware_layers(analysis, False, registers) == \
        hardware_layers(convert(model))


# -- the command line: check --device, summary --device --------------------------------------

def test_command_line_check_and_summary_with_the_device(tmp_path, capsys):
    L = _keras_layers()
    refused = _quantized(L.Conv2D(16, 5, strides=2, padding="same", name="conv"),
                         L.ReLU(name="relu"), L.Conv2D(16, 5, strides=2, padding="same",
                                                       name="conv5"),
                         L.ReLU(name="relu5"), L.Flatten(name="flatten"),
                         L.Dense(10, name="dense"), input_scaling=None)
    refused.save(str(tmp_path / "refused.h5"))
    assert main(["check", str(tmp_path / "refused.h5")]) == 0
    out = capsys.readouterr().out
    assert "warning: Model" in out and "would not run in hardware on the AKD1000" in out
    assert main(["check", str(tmp_path / "refused.h5"), "--device", "AKD1000"]) == 1
    out = capsys.readouterr().out
    assert "cannot run in hardware on the AKD1000 in one sequence (1 problem):" in out
    assert "Layer 'conv5' has a 5x5 kernel with stride 2" in out

    model = mnist_akida()
    model.save(str(tmp_path / "mnist.akida"))
    assert main(["summary", str(tmp_path / "mnist.akida"), "--device", "AKD1000", "--mode",
                 "minimal"]) == 0
    out = capsys.readouterr().out
    assert "1 HRC" in out and "AKD1000 mapping (minimal): 1 sequence, 1 HRC, 2 CNP1, 1 FNP3, " \
        "program 32252 bytes" in out
    assert main(["summary", str(tmp_path / "refused.h5"), "--device", "AKD1000"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert ["Sequence", "Akida", "layer", "NPs"] in rows
    assert ["HW/conv", "conv", "1", "HRC"] in rows and ["SW/conv5", "conv5", "software"] in rows
    assert ["HW/dense", "dense", "1", "FNP3"] in rows
    assert main(["summary", str(tmp_path / "mnist.akida"), "--device", "akd1000"]) == 0
    assert "AKD1000 mapping (all_nps): 1 sequence" in capsys.readouterr().out
    assert main(["summary", str(tmp_path / "mnist.akida"), "--mode", "minimal"]) == 2
    assert "--mode minimal maps the model onto a device: add --device AKD1000." in \
        capsys.readouterr().err


def test_html_report_shows_the_akd1000_mapping(tmp_path):
    pytest.importorskip("matplotlib")
    model = mnist_akida()
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28, 1)).astype(np.uint8)
    result = report(model, images, tmp_path, backend="tf")
    with open(result.path, encoding="utf-8") as handle:
        page = handle.read()
    assert "<h2>AKD1000 mapping</h2>" in page
    assert "Runs in hardware on the AKD1000, in one sequence." in page
    assert "<td>separable_1</td><td>32 CNP1</td>" in page
    with open(tmp_path / "statistics.json", encoding="utf-8") as handle:
        mapping = json.load(handle)["akd1000_mapping"]
    assert [s["name"] for s in mapping["sequences"]] == ["HW/conv_0-dense"]
    assert mapping["sequences"][0]["program_bytes"] == 90412
    assert model.mapping is None  # the report does not keep it on the user's model


def test_command_table_names_the_devices_and_modes_of_the_package():
    # The command table repeats them so that --help does not import TensorFlow.
    assert cnn2snn_tfmot_cli.DEVICES == hw.DEVICES
    assert cnn2snn_tfmot_cli.MAP_MODES == MAP_MODES
    options = {argument.dest: argument.options
               for argument in cnn2snn_tfmot_cli.COMMAND_BY_NAME["summary"].arguments}
    assert options["device"]["choices"] == hw.DEVICES
    assert options["mode"]["choices"] == MAP_MODES
