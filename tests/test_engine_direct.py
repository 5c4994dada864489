"""The direct engine (custom_ops/direct_*.cc, cnn2snn_tfmot/engine/direct.py) against the numpy
reference and both TensorFlow engines, bit for bit.

Random models cover every layer kind, padding, stride, pooling, bitwidth and output kind
(tests/akida_helpers.py), run with 1 to 3 threads and batch sizes that exercise every schedule
(whole images per thread, groups of images, one image on all threads, and the mix), on every
kernel set this CPU supports. Dedicated models cover the direct engine's own arithmetic: the
Winograd convolution, pointwise operands with depthwise sums outside int8 (outlier
corrections), the float64 fire form, and the models it leaves to the TensorFlow graph.
"""
import threading

import numpy as np
import pytest

from cnn2snn_tfmot.akida import (
    Convolutional,
    FullyConnected,
    InputConvolutional,
    InputData,
    SeparableConvolutional,
)
from cnn2snn_tfmot.engine import direct, ops

from akida_helpers import MODEL_FACTORIES, _build, random_input, randomize
from chip_reference import ref_forward

if not ops.is_available():  # pragma: no cover - the op library is built by `make test`
    pytest.skip("the compiled op library is not built", allow_module_level=True)

THREADS = (1, 2, 3)
# Multiply-adds per thread sharing an image: the default leaves the small test models on one
# thread per image; "1" makes every thread share each left-over image.
SHARING = ("1", None)
SHARING_ENV_VAR = "CNN2SNN_TFMOT_DIRECT_MACS_PER_THREAD"
# Separable layers: the int8 operands with outlier corrections, the int16 operands, or the
# plan's own choice (None).
OPERANDS = (None, "int8", "int16")
OPERANDS_ENV_VAR = "CNN2SNN_TFMOT_DIRECT_SEPARABLE_OPERANDS"
# Event-driven rows (skipped where the input patch is all zero): forced off or on.
EVENTS_FORCED = ("0", "1")
EVENTS_ENV_VAR = "CNN2SNN_TFMOT_DIRECT_EVENTS"


def _randomized(model, seed, n=9, density=1.0):
    rng = np.random.default_rng(seed)
    x = random_input(model, rng, n)
    return x, randomize(model, x, rng, density)


def assert_direct_exact(model, x, reference):
    """The plan's output equals the reference and both TensorFlow engines, whatever the schedule."""
    plan = direct.DirectPlan(model.lowered(), model.input_shape)
    expected = np.asarray(reference).astype(plan.dtype)
    assert expected.shape == (len(x),) + tuple(model.output_shape)
    for engine in ("custom", "tf"):
        function = model.emulator_function(engine).get_concrete_function()
        np.testing.assert_array_equal(function(x).numpy(), expected, err_msg=engine)
    # The plan's own decisions under both schedules first (forcing a path ends them), then
    # each forced path with images shared by every thread.
    separable = any(layer.kind == "separable" for layer in model.lowered())
    settings = [(sharing, None, None) for sharing in SHARING] + [
        ("1", operands, events) for operands in (OPERANDS[1:] if separable else (None,))
        for events in EVENTS_FORCED]
    with pytest.MonkeyPatch.context() as patch:
        for sharing, operands, events in settings:
            for name, value in ((SHARING_ENV_VAR, sharing), (OPERANDS_ENV_VAR, operands),
                                (EVENTS_ENV_VAR, events)):
                if value is None:
                    patch.delenv(name, raising=False)
                else:
                    patch.setenv(name, value)
            for threads in THREADS:
                for n in sorted({1, 2, 3, 5, len(x)}):
                    out = plan.run(x[:n], threads=threads)
                    assert out.dtype == plan.dtype and out.shape == expected[:n].shape
                    mismatch = np.argwhere(out != expected[:n])
                    assert mismatch.size == 0, (
                        f"sharing={sharing} operands={operands} events={events} "
                        f"threads={threads} n={n}: "
                        f"{len(mismatch)} mismatches, first at {mismatch[0].tolist()}: direct "
                        f"{out[tuple(mismatch[0])]}, expected {expected[:n][tuple(mismatch[0])]}")
            kinds = base_algorithms(plan)
            if operands is not None:
                assert f"separable_{operands}" in kinds or (
                    operands == "int8" and "separable" in kinds)
            if events is not None:
                # Dense layers skip zero inputs where the kernel set has gemm_u8_groups.
                kinds = ("convolution", "separable") + (
                    ("dense",) if plan.kernel_set != "generic" else ())
                assert all(name.endswith("+events") == (events == "1")
                           for name in plan.algorithms if name.startswith(kinds))
    return plan


def base_algorithms(plan):
    """The plan's algorithms without "+events" (the exactness runs force it on and off)."""
    return [name.split("+")[0] for name in plan.algorithms]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("factory", list(MODEL_FACTORIES))
def test_random_models(factory, seed):
    model = MODEL_FACTORIES[factory]()
    x, reference = _randomized(model, seed)
    assert_direct_exact(model, x, reference)


def blank_regions(x, rng, share=0.6):
    """x with about `share` of each image zeroed in rectangles (all channels): inputs whose
    patches are often all zero, as the event-driven rows skip them."""
    x = x.copy()
    height, width = x.shape[1:3]
    for image in x:
        while np.mean(np.all(image == 0, axis=-1)) < share:
            top, left = rng.integers(0, height), rng.integers(0, width)
            image[top:top + rng.integers(1, height + 1), left:left + rng.integers(1, width + 1)] = 0
    return x


@pytest.mark.parametrize("factory", list(MODEL_FACTORIES))
def test_event_driven_rows(factory):
    """Inputs with blank regions: the rows of all-zero patches skipped (forced, and as the plan
    decides), bit for bit; with the fire of potential 0 where it is not level 0."""
    model = MODEL_FACTORIES[factory]()
    rng = np.random.default_rng(43)
    x = random_input(model, rng, 9)
    randomize(model, x, rng)
    x = blank_regions(x, rng)
    assert_direct_exact(model, x, ref_forward(model, x))


def test_event_driven_rows_chosen_from_the_zero_patches(monkeypatch):
    """The plan turns the event-driven rows on where many patches are all zero and a row holds
    enough multiply-adds (4096) to pay for finding them; exact before and after."""
    monkeypatch.delenv(EVENTS_ENV_VAR, raising=False)
    model = _build(InputData((16, 16, 32), input_bits=4),
                   Convolutional((3, 3), 32, weights_bits=8, act_bits=4),   # 9 x 32 x 32 a row
                   SeparableConvolutional((3, 3), 128, weights_bits=4, act_bits=4),  # 32 x 128
                   Convolutional((1, 1), 8, weights_bits=4, act_bits=4),    # 128 x 8: too few
                   FullyConnected(5, weights_bits=4, activation=False))
    rng = np.random.default_rng(47)
    x = random_input(model, rng, 24)
    randomize(model, x, rng)
    for layer in model.layers[1:4]:  # potential 0 never fires: zero regions stay zero
        layer.set_variable("threshold", np.maximum(layer.get_variable("threshold"), 0))
    x[:, 8:] = 0
    reference = ref_forward(model, x)
    plan = direct.DirectPlan(model.lowered(), model.input_shape)
    assert plan.algorithms == ["convolution", "separable", "convolution", "dense"]
    np.testing.assert_array_equal(plan.run(x), reference)
    algorithms = [name.replace("_int16", "") for name in plan.algorithms]  # either operands
    assert algorithms == ["convolution+events", "separable+events", "convolution", "dense"]
    np.testing.assert_array_equal(plan.run(x), reference)


def wide_dense_model():
    """Dense layers wide enough (64+ units) for the plan to consider skipping zero inputs."""
    return _build(InputData((6, 6, 8), input_bits=4),
                  FullyConnected(96, weights_bits=4, act_bits=4),
                  FullyConnected(64, weights_bits=8, act_bits=2),
                  FullyConnected(7, weights_bits=4, activation=False))


@pytest.mark.parametrize("zeros", [0.0, 0.8, 1.0])
def test_event_driven_dense(zeros):
    """Dense layers accumulating only the weight rows of nonzero inputs (forced and as the plan
    decides), bit for bit against the reference, on dense, sparse and all-zero inputs."""
    model = wide_dense_model()
    rng = np.random.default_rng(53)
    x = random_input(model, rng, 9)
    randomize(model, x, rng)
    x[rng.random(x.shape) < zeros] = 0
    assert_direct_exact(model, x, ref_forward(model, x))


def test_event_driven_dense_chosen_from_the_zero_inputs(monkeypatch):
    """The plan skips zero inputs in a dense layer of 64+ units when at least a quarter of the
    input groups (the kernels' packing: 4 or 2 inputs) are zero in every image of a GEMM, and
    not on dense inputs."""
    monkeypatch.delenv(EVENTS_ENV_VAR, raising=False)
    model = wide_dense_model()
    rng = np.random.default_rng(59)
    x = random_input(model, rng, 64)
    randomize(model, x, rng)
    sparse = x.copy()
    sparse[rng.random(x.shape) < 0.9] = 0
    for inputs, expected in ((x, "dense"), (sparse, "dense+events")):
        reference = ref_forward(model, inputs)
        plan = direct.DirectPlan(model.lowered(), model.input_shape)
        if plan.kernel_set == "generic":
            pytest.skip("the generic kernels have no event-driven dense path")
        for i in range(64):  # enough input groups counted to decide (4096: 72+ a run)
            np.testing.assert_array_equal(plan.run(inputs[i:i + 1], threads=1),
                                          reference[i:i + 1])
        assert plan.algorithms[0] == expected
        np.testing.assert_array_equal(plan.run(inputs), reference)


def test_layer_profile():
    """Multiply-adds per layer as a direct convolution count; the per-layer timing is off by
    default, counts only while on, and changes no output."""
    model = _build(InputData((10, 10, 4), input_bits=4),
                   Convolutional((3, 3), 16, weights_bits=4, act_bits=4, padding="valid"),
                   SeparableConvolutional((3, 3), 32, weights_bits=4, act_bits=4),
                   FullyConnected(5, weights_bits=4, activation=False))
    rng = np.random.default_rng(61)
    x = random_input(model, rng, 6)
    reference = randomize(model, x, rng)
    plan = direct.DirectPlan(model.lowered(), model.input_shape)
    assert plan.layer_macs == [8 * 8 * 3 * 3 * 4 * 16, 8 * 8 * 16 * (3 * 3 + 32),
                               8 * 8 * 32 * 5]
    np.testing.assert_array_equal(plan.run(x), reference)
    assert plan.layer_seconds == [0.0, 0.0, 0.0]
    plan.set_profiling(True)
    np.testing.assert_array_equal(plan.run(x), reference)
    profiled = plan.layer_seconds
    assert all(seconds > 0 for seconds in profiled)
    plan.set_profiling(False)
    assert plan.layer_seconds == [0.0, 0.0, 0.0]
    plan.run(x)
    assert plan.layer_seconds == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("factory", list(MODEL_FACTORIES))
def test_sparse_weights(factory):
    model = MODEL_FACTORIES[factory]()
    x, reference = _randomized(model, 5, density=0.3)
    assert_direct_exact(model, x, reference)


@pytest.fixture(params=["generic", "avx2", "avx512bw", "avx512vnni"])
def isa(request, monkeypatch):
    if request.param not in ops.kernel_set()["supported"]:
        pytest.skip(f"this CPU cannot run the {request.param} kernels")
    monkeypatch.setenv(ops.ISA_ENV_VAR, request.param)
    return request.param


@pytest.mark.parametrize("factory", ["image_gap_model", "events_separable_model",
                                     "strided_model"])
def test_every_kernel_set(isa, factory):
    model = MODEL_FACTORIES[factory]()
    x, reference = _randomized(model, 3)
    assert assert_direct_exact(model, x, reference).kernel_set == isa


def winograd_model(padding, pool_type, size, last_activation=True):
    """InputData 4-bit -> 3x3 stride-1 convolutions of 32 and 40 channels (Winograd) with the
    given padding and pooling -> FC."""
    pool = {"none": {}, "max2": dict(pool_type="max", pool_size=(2, 2)),
            "max3s2": dict(pool_type="max", pool_size=(3, 3), pool_stride=(2, 2)),
            "global": dict(pool_type="average")}[pool_type]
    layers = [InputData(size + (32,), input_bits=4),
              Convolutional((3, 3), 40, padding=padding, weights_bits=4, act_bits=4),
              Convolutional((3, 3), 36, padding=padding, weights_bits=2, act_bits=2, **pool)]
    layers.append(FullyConnected(7, weights_bits=4, activation=last_activation, act_bits=4))
    return _build(*layers)


@pytest.mark.parametrize("size", [(9, 7), (10, 12), (7, 8)], ids=str)
@pytest.mark.parametrize("pool_type", ["none", "max2", "max3s2", "global"])
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_winograd(isa, padding, pool_type, size):
    model = winograd_model(padding, pool_type, size)
    x, reference = _randomized(model, 7)
    plan = assert_direct_exact(model, x, reference)
    expected = "winograd" if isa.startswith("avx512") else "convolution"
    assert base_algorithms(plan)[:2] == [expected, expected]


def test_winograd_last_layer_potentials():
    """A Winograd layer without fire: its int32 potentials are the model's output."""
    model = _build(InputData((8, 9, 32), input_bits=2),
                   Convolutional((3, 3), 33, weights_bits=4, activation=False))
    x, reference = _randomized(model, 11)
    plan = assert_direct_exact(model, x, reference)
    assert base_algorithms(plan)[0] in ("winograd", "convolution")


def test_winograd_refused_when_transformed_weights_exceed_int8():
    """8-bit weights: (2G) g (2G)^T leaves int8, the layer is convolved directly (and exactly)."""
    model = _build(InputData((6, 6, 32), input_bits=4),
                   Convolutional((3, 3), 16, weights_bits=8, act_bits=4))
    x, reference = _randomized(model, 13)
    plan = assert_direct_exact(model, x, reference)
    assert base_algorithms(plan) == ["convolution"]


@pytest.mark.parametrize("weights_bits", [2, 4, 8])
def test_separable_depthwise_sums_outside_int8(weights_bits):
    """Depthwise sums beyond [-128, 127] (large 8-bit weights: most of them) are corrected
    exactly; with max pooling and global pooling too."""
    model = _build(
        InputData((11, 10, 40), input_bits=4),
        SeparableConvolutional((3, 3), 24, weights_bits=weights_bits, act_bits=4,
                               pool_type="max", pool_size=(2, 2)),
        # 5x5 x 8-bit x 15 could leave int16 (left to the graph): 3x3 there.
        SeparableConvolutional((3, 3) if weights_bits == 8 else (5, 5), 20,
                               weights_bits=weights_bits, act_bits=4),
        SeparableConvolutional((3, 3), 12, weights_bits=weights_bits, activation=False,
                               pool_type="average"))
    x, reference = _randomized(model, 17)
    if weights_bits == 8:  # every depthwise weight at +-127: every sum of a nonzero input
        for layer in model.layers[1:]:
            depthwise = layer.get_variable("weights")
            layer.set_variable("weights", np.where(depthwise >= 0, 127, -127).astype(np.int8))
        reference = ref_forward(model, x)
    assert_direct_exact(model, x, reference)


def test_separable_operands_chosen_from_the_outliers_counted(monkeypatch):
    """A separable layer whose depthwise sums mostly leave int8 moves to int16 operands after
    the first runs; one whose sums stay within int8 keeps the int8 operands. Exact throughout."""
    monkeypatch.delenv(OPERANDS_ENV_VAR, raising=False)
    model = _build(InputData((12, 12, 32), input_bits=4),
                   SeparableConvolutional((3, 3), 24, weights_bits=8, act_bits=4),
                   SeparableConvolutional((3, 3), 16, weights_bits=2, act_bits=2),
                   FullyConnected(5, weights_bits=4, activation=False))
    x, _ = _randomized(model, 41, n=64)
    first = model.layers[1]
    depthwise = first.get_variable("weights")
    first.set_variable("weights", np.where(depthwise >= 0, 127, -127).astype(np.int8))
    # 2-bit weights on 4-bit inputs, 9 taps: |sum| <= 9 * 15 * 2 = 270, mostly within int8.
    reference = ref_forward(model, x)
    plan = direct.DirectPlan(model.lowered(), model.input_shape)
    assert plan.algorithms[:2] == ["separable", "separable"]
    for start in range(0, len(x), 16):
        np.testing.assert_array_equal(plan.run(x[start:start + 16]), reference[start:start + 16])
    assert plan.algorithms[:2] == ["separable_int16", "separable"]
    np.testing.assert_array_equal(plan.run(x), reference)


@pytest.mark.parametrize("act_step", [3000.0, 40000.0, 2.0 ** 20 - 1])
def test_fire_with_large_steps(act_step):
    """Input-layer steps above 2**15 / 16 use the float64 division form of the fire."""
    model = _build(InputConvolutional((9, 9, 3), (3, 3), 8, weights_bits=8, act_bits=4),
                   FullyConnected(5, weights_bits=4, activation=False))
    rng = np.random.default_rng(19)
    x = random_input(model, rng, 16)
    randomize(model, x, rng)
    conv = model.layers[0]
    steps = np.full(8, act_step, np.float32) * rng.uniform(0.5, 1.0, 8).astype(np.float32)
    conv.set_variable("act_step", np.maximum(steps, 1 / 16).astype(np.float32))
    conv.set_variable("threshold", rng.integers(-20000, 20000, 8).astype(np.int32))
    reference = ref_forward(model, x)
    assert_direct_exact(model, x, reference)


def test_models_the_direct_engine_leaves_to_the_graph():
    """Depthwise sums that may leave int16: DirectUnsupported, and forward uses the graph."""
    model = _build(InputData((9, 9, 8), input_bits=4),
                   SeparableConvolutional((7, 7), 4, weights_bits=8, act_bits=4),
                   FullyConnected(3, weights_bits=4, activation=False))
    x, reference = _randomized(model, 23)
    with pytest.raises(direct.DirectUnsupported, match="depthwise sums that may exceed int16"):
        direct.DirectPlan(model.lowered(), model.input_shape)
    with pytest.raises(direct.DirectUnsupported, match="depthwise sums"):
        model.forward(x, backend="direct")  # asked for explicitly: said why
    np.testing.assert_array_equal(model.forward(x), reference)


def test_forward_and_predict_run_the_direct_engine(monkeypatch):
    model = MODEL_FACTORIES["image_max_model"]()
    x, reference = _randomized(model, 29)
    expected_predict = model.predict(x, engine="tf")

    def no_graph(*args, **kwargs):
        raise AssertionError("the TensorFlow graph was built")

    monkeypatch.setattr(model, "emulator_function", no_graph)
    for backend in (None, "direct"):
        np.testing.assert_array_equal(model.forward(x, batch_size=4, backend=backend),
                                      reference)
        np.testing.assert_array_equal(model.predict(x, backend=backend), expected_predict)
    for backend in ("custom", "tf"):  # the graph back-ends, never the direct one
        with pytest.raises(AssertionError, match="graph was built"):
            model.forward(x, backend=backend)
    monkeypatch.setenv(direct.DIRECT_ENV_VAR, "0")
    with pytest.raises(AssertionError, match="graph was built"):
        model.forward(x)
    np.testing.assert_array_equal(model.forward(x, backend="direct"), reference)


def test_plan_is_cached_and_rebuilt_when_the_model_changes():
    model = MODEL_FACTORIES["events_conv_gap_model"]()
    x, reference = _randomized(model, 31)
    plan = model.direct_plan()
    assert model.direct_plan() is plan
    layer = model.layers[-1]
    layer.set_variable("weights", -layer.get_variable("weights"))
    assert model.direct_plan() is not plan
    out = model.forward(x)
    np.testing.assert_array_equal(out, ref_forward(model, x))
    assert not np.array_equal(out, reference)


def test_model_without_neural_layer():
    model = _build(InputData((2, 2, 1)))
    with pytest.raises(direct.DirectUnsupported, match="no neural layer"):
        direct.DirectPlan(model.lowered(), model.input_shape)
    with pytest.raises(ValueError, match="no neural layer"):
        model.forward(np.zeros((1, 2, 2, 1), np.uint8))


def test_run_arguments():
    model = MODEL_FACTORIES["dense_model"]()
    x, reference = _randomized(model, 37)
    plan = direct.DirectPlan(model.lowered(), model.input_shape)
    with pytest.raises(TypeError, match="uint8 numpy array"):
        plan.run(x.astype(np.int32))
    with pytest.raises(ValueError, match=r"shape \(N,\) \+ \(3, 4, 5\)"):
        plan.run(x[:, :2])
    assert plan.run(x[:0]).shape == (0,) + tuple(model.output_shape)
    np.testing.assert_array_equal(plan.run(np.asfortranarray(x)), reference)  # any layout


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_threads_variable_must_be_a_positive_integer(monkeypatch, value):
    monkeypatch.setenv(direct.THREADS_ENV_VAR, value)
    with pytest.raises(ValueError, match="CNN2SNN_TFMOT_THREADS must be a positive integer"):
        direct.default_threads()
    monkeypatch.setenv(direct.THREADS_ENV_VAR, "3")
    assert direct.default_threads() == 3


def test_concurrent_calls_from_python_threads():
    """One model and two models at once, from four Python threads (the thread pool and each
    plan's buffers are shared)."""
    cases = []
    for seed, factory in enumerate(["image_gap_model", "strided_model"]):
        model = MODEL_FACTORIES[factory]()
        cases.append((model,) + _randomized(model, 41 + seed, n=24))
    results, errors = {}, []

    def work(index):
        model, x, _ = cases[index % 2]
        try:
            for _ in range(5):
                results[index] = model.forward(x, batch_size=5 + index)
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors and len(results) == 4
    for index, out in results.items():
        np.testing.assert_array_equal(out, cases[index % 2][2])


def test_akidanet_like_end_to_end():
    """The zoo's AkidaNet-like network, quantized 4/4/8 and converted: direct == graphs."""
    from cnn2snn_tfmot import convert, quantize
    from cnn2snn_tfmot.data.zoo import akidanet_like, calibrate_batchnorm
    from cnn2snn_tfmot.tfkeras import keras

    keras.utils.set_random_seed(3)
    images = np.random.default_rng(3).integers(0, 256, (8, 64, 64, 3)).astype(np.uint8)
    model = akidanet_like((64, 64, 3), width=0.5, classes=20)
    calibrate_batchnorm(model, images.astype(np.float32) / 255)
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    reference = akida_model.forward(images, engine="tf")
    plan = assert_direct_exact(akida_model, images, reference)
    assert "winograd" in plan.algorithms  # conv_3: 64 -> 64 channels, stride 1


def test_fallback_without_the_op_library(python_runner):
    """CNN2SNN_TFMOT_DISABLE_OPS=1: forward runs the pure-TensorFlow graph, exactly."""
    code = (
        "import os, sys, warnings\n"
        "os.environ['CNN2SNN_TFMOT_DISABLE_OPS'] = '1'\n"
        "sys.path.insert(0, 'tests')\n"
        "import numpy as np\n"
        "from akida_helpers import image_gap_model, random_input, randomize\n"
        "from cnn2snn_tfmot.engine import direct\n"
        "model = image_gap_model()\n"
        "rng = np.random.default_rng(0)\n"
        "x = random_input(model, rng, 6)\n"
        "reference = randomize(model, x, rng)\n"
        "assert not direct.is_enabled()\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    out = model.forward(x)\n"
        "assert np.array_equal(out, reference), 'mismatch'\n"
        "assert any('pure-TensorFlow' in str(w.message) for w in caught)\n"
        "print('OK')\n")
    result = python_runner(code)
    assert result.returncode == 0 and "OK" in result.stdout, result.stderr[-3000:]


POOL_GEMM_ENV_VAR = "CNN2SNN_TFMOT_DIRECT_POOL_GEMM"
# (pool size, pool stride): windows that tile the rows, that overlap (never in the GEMM), of 9
# rows (more than one micro-tile), and of 3 x 2.
POOLS = {"max2": ((2, 2), (2, 2)), "max3s2": ((3, 3), (2, 2)), "max3s3": ((3, 3), (3, 3)),
         "max3x2": ((3, 2), (3, 2))}
# Odd input sizes (partial windows at the edges) large enough for three pooled 'valid' layers,
# per pool stride.
POOL_SIZES = {2: [(29, 31), (36, 41)], 3: [(55, 58), (62, 67)]}


def pooled_model(padding, pool, size):
    """Max pooling in three layers: an input convolution (1 channel, 8-bit weights: the
    float64 fire form), a 4-bit convolution (the division form) and, after an unpooled 2-bit
    separable layer (the ladder), a separable layer without fire (int32 potentials out)."""
    pool_size, pool_stride = POOLS[pool]
    kwargs = dict(padding=padding, pool_type="max", pool_size=pool_size, pool_stride=pool_stride)
    return _build(
        InputConvolutional(size + (1,), (3, 3), 24, weights_bits=8, act_bits=4, **kwargs),
        Convolutional((3, 3), 40, weights_bits=4, act_bits=4, **kwargs),
        SeparableConvolutional((3, 3), 72, padding="same", weights_bits=4, act_bits=2),
        SeparableConvolutional((3, 3), 20, weights_bits=4, activation=False, **kwargs))


@pytest.mark.parametrize("size", [0, 1])
@pytest.mark.parametrize("pool", list(POOLS))
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_pooling_in_the_gemm(isa, padding, pool, size):
    """Max pooling in the GEMM (windows that do not overlap, AVX-512 kernel sets) against the
    tile of conv potentials pooled afterwards (CNN2SNN_TFMOT_DIRECT_POOL_GEMM=0): both equal the
    reference bit for bit, with partial windows at the edges, on both separable operand paths,
    every schedule and every kernel set."""
    pool_size, pool_stride = POOLS[pool]
    model = pooled_model(padding, pool, POOL_SIZES[max(pool_stride)][size])
    rng = np.random.default_rng(23)
    x = random_input(model, rng, 7)
    randomize(model, x, rng)
    # Input-layer steps above 2**15 / 16: the float64 fire form (as in test_fire_with_large_steps).
    conv = model.layers[0]
    steps = rng.uniform(4096, 60000, 24).astype(np.float32)
    conv.set_variable("act_step", steps.astype(np.float32))
    conv.set_variable("threshold", rng.integers(-20000, 20000, 24).astype(np.int32))
    reference = ref_forward(model, x)
    plan = direct.DirectPlan(model.lowered(), model.input_shape)
    assert plan.kernel_set == isa
    fusable = (isa.startswith("avx512")
               and all(s >= k for k, s in zip(pool_size, pool_stride)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(EVENTS_ENV_VAR, "0")
        patch.setenv(SHARING_ENV_VAR, "1")
        for mode in ("0", "1"):
            patch.setenv(POOL_GEMM_ENV_VAR, mode)
            for operands in OPERANDS[1:]:
                patch.setenv(OPERANDS_ENV_VAR, operands)
                for threads in (1, 2):
                    for n in (1, 3, len(x)):
                        np.testing.assert_array_equal(
                            plan.run(x[:n], threads=threads), reference[:n],
                            err_msg=f"pool in GEMM={mode} {operands} threads={threads} n={n}")
            fused = fusable and mode == "1"
            assert plan.pools_in_gemm == [fused, fused, False, fused]
