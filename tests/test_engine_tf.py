"""The pure-TF back-end against an independent numpy int64 reference, and engine selection."""
import warnings

import numpy as np
import pytest

import cnn2snn_tfmot.engine as engine
from cnn2snn_tfmot.akida import Convolutional, InputData, Model
from cnn2snn_tfmot.chip.lowering import FireSpec, PoolSpec
from cnn2snn_tfmot.engine import tf_backend
from cnn2snn_tfmot.tfkeras import tf

from akida_helpers import MODEL_FACTORIES, random_input, randomize
from chip_reference import (
    SAT_MAX,
    SAT_MIN,
    ref_conv,
    ref_depthwise,
    ref_fire,
    ref_forward,
    ref_global_sum,
    ref_maxpool,
)


def _fire_for(potentials, rng, bits):
    flat = potentials.reshape(-1, potentials.shape[-1])
    threshold = np.percentile(flat, 30, axis=0).astype(np.int32)
    span = np.maximum(np.percentile(flat, 95, axis=0) - threshold, 1)
    act_step = np.maximum(span / (2 ** bits - 1) / 2 ** (4 - bits), 1 / 16)
    act_step = (act_step + rng.choice([0, 0.01, 0.37], act_step.shape)).astype(np.float32)
    return FireSpec(threshold, act_step, bits)


def _pool_ref(p, pool, padding):
    if pool.kind == "max":
        return np.clip(ref_maxpool(p, pool.size, pool.stride, padding), SAT_MIN, SAT_MAX)
    if pool.kind == "global_sum":
        return ref_global_sum(p)
    return p


def _fitting(pool, potentials, padding):
    """The max pool, or a smaller one when its window does not fit a 'valid' map."""
    if pool.kind == "max" and padding == "valid" and (
            pool.size[0] > potentials.shape[1] or pool.size[1] > potentials.shape[2]):
        return PoolSpec("max", (1, 1), (1, 1))
    return pool


POOLS = [PoolSpec(), PoolSpec("max", (2, 2), (2, 2)), PoolSpec("max", (3, 2), (2, 1)),
         PoolSpec("global_sum")]


@pytest.mark.parametrize("case", range(16))
def test_conv_block_matches_reference(case):
    rng = np.random.default_rng(case)
    height, width, channels, filters = (int(v) for v in rng.integers(3, 10, 4))
    kernel_size = tuple(int(v) for v in rng.choice([1, 3, 5], 2))
    strides = tuple(int(v) for v in rng.integers(1, 3, 2))
    padding = ["same", "valid"][case % 2]
    if padding == "valid" and (kernel_size[0] > height or kernel_size[1] > width):
        kernel_size = (1, 1)
    padding_value = int(rng.choice([0, 0, 3, 255]))
    pool = POOLS[case % 4]
    x = rng.integers(0, 256, (4, height, width, channels)).astype(np.uint8)
    kernel = rng.integers(-128, 128, kernel_size + (channels, filters)).astype(np.int8)
    conv = ref_conv(x, kernel, strides, padding, padding_value)
    pool = _fitting(pool, conv, padding)
    potentials = _pool_ref(conv, pool, padding)
    fire = _fire_for(potentials, rng, [1, 2, 4][case % 3]) if case % 5 else None
    out = tf_backend.conv_block(tf.constant(x), kernel, strides=strides, padding=padding,
                                padding_value=padding_value, pool=pool, fire=fire).numpy()
    expected = potentials if fire is None else ref_fire(potentials, fire.threshold,
                                                        fire.act_step, fire.act_bits)
    assert out.dtype == (np.int32 if fire is None else np.uint8)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("case", range(12))
def test_separable_block_matches_reference(case):
    rng = np.random.default_rng(100 + case)
    height, width, channels, filters = (int(v) for v in rng.integers(3, 10, 4))
    kernel_size = tuple(int(v) for v in rng.choice([1, 3, 5], 2))
    strides = [(1, 1), (2, 2), (1, 2), (2, 1)][case % 4]
    strides = tuple(min(s, k) for s, k in zip(strides, kernel_size))
    padding = ["same", "valid"][case % 2]
    if padding == "valid" and (kernel_size[0] > height or kernel_size[1] > width):
        kernel_size, strides = (1, 1), (1, 1)
    pool = POOLS[(case // 2) % 4]
    x = rng.integers(0, 16, (3, height, width, channels)).astype(np.uint8)
    depthwise = rng.integers(-128, 128, kernel_size + (channels,)).astype(np.int8)
    pointwise = rng.integers(-128, 128, (channels, filters)).astype(np.int8)
    potentials = ref_depthwise(x, depthwise, strides, padding) @ pointwise.astype(np.int64)
    pool = _fitting(pool, potentials, padding)
    potentials = _pool_ref(potentials, pool, padding)
    fire = _fire_for(potentials, rng, [4, 2, 1][case % 3]) if case % 3 else None
    out = tf_backend.separable_block(tf.constant(x), depthwise, pointwise, strides=strides,
                                     padding=padding, pool=pool, fire=fire).numpy()
    expected = potentials if fire is None else ref_fire(potentials, fire.threshold,
                                                        fire.act_step, fire.act_bits)
    np.testing.assert_array_equal(out, expected)


def test_dense_block_saturates_and_fires():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 16, (20, 3000)).astype(np.uint8)
    weights = rng.integers(-128, 128, (3000, 6)).astype(np.int8)
    weights[:, 0] = 127   # far above 2**19
    weights[:, 1] = -128  # far below -2**19
    exact = x.astype(np.int64) @ weights.astype(np.int64)
    expected = np.clip(exact, SAT_MIN, SAT_MAX)
    assert expected[:, 0].max() == SAT_MAX and expected[:, 1].min() == SAT_MIN
    out = tf_backend.dense_block(tf.constant(x), weights, fire=None).numpy()
    np.testing.assert_array_equal(out, expected)
    fire = _fire_for(expected, rng, 4)
    levels = tf_backend.dense_block(tf.constant(x), weights, fire=fire).numpy()
    np.testing.assert_array_equal(levels, ref_fire(expected, fire.threshold, fire.act_step, 4))


def test_large_fan_in_is_exact_where_float32_would_round():
    # fan-in 7*7*512 = 25088, inputs 15, weights 127: potentials ~ 4.8e7 > 2**24.
    model = Model()
    model.add(InputData((7, 7, 512), input_bits=4))
    model.add(Convolutional((7, 7), 2, padding="valid", weights_bits=8, activation=False))
    weights = np.full((7, 7, 512, 2), 127, np.int8)
    weights[0, 0, :3, 0] = 1     # odd sums: not representable in float32
    weights[1, 2, :5, 1] = -127
    model.layers[1].set_variable("weights", weights)
    x = np.full((2, 7, 7, 512), 15, np.uint8)
    x[1, 3, 3, :7] = 14
    exact = ref_forward(model, x)
    assert np.abs(exact).max() > 2 ** 24
    assert 25088 * 15 * 127 > 2 ** 24
    out = model.forward(x, engine="tf")
    np.testing.assert_array_equal(out, exact)
    kernel32 = tf.constant(weights[::-1, ::-1].astype(np.float32))
    naive = tf.nn.conv2d(tf.constant(x, tf.float32), kernel32, 1, "VALID").numpy()
    assert not np.array_equal(naive.astype(np.int64), exact)  # float32 would have rounded


def test_global_sum_saturates_sequentially_in_row_major_order():
    # 1x1 kernel over 1024 channels: potentials of +-1e6 that saturate mid-way.
    rng = np.random.default_rng(3)
    kernel = np.zeros((1, 1, 1024, 3), np.int8)
    kernel[0, 0, :512, 0], kernel[0, 0, 512:, 0] = 127, -127
    kernel[0, 0, :, 1] = rng.integers(-128, 128, 1024)
    kernel[0, 0, :, 2] = 1
    x = np.zeros((6, 3, 4, 1024), np.uint8)
    for n in range(6):
        for h in range(3):
            for w in range(4):
                x[n, h, w, :rng.integers(0, 513)] = 15
                x[n, h, w, 512:512 + rng.integers(0, 513)] = 15
    potentials = ref_conv(x, kernel, (1, 1), "same")
    expected = ref_global_sum(potentials)
    plain = np.clip(potentials.sum(axis=(1, 2), keepdims=True), SAT_MIN, SAT_MAX)
    assert not np.array_equal(expected, plain)  # the order matters on this data
    out = tf_backend.conv_block(tf.constant(x), kernel, strides=(1, 1), padding="same",
                                padding_value=0, pool=PoolSpec("global_sum"),
                                fire=None).numpy()
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("threshold, act_step, bits, expected", [
    # step 2.5: P - T = -1 0 1 2 5 10 11 199 -> ceil: 0 0 1 1 2 4 5 (80 ->) 15
    (1, 2.5, 4, [0, 0, 1, 1, 2, 4, 5, 15]),
    # 2 bits: step 2.5 * 4 = 10 -> ceil((P - 1) / 10) clipped to 3
    (1, 2.5, 2, [0, 0, 1, 1, 1, 1, 2, 3]),
    # act_step 0.3 is truncated to 4/16 = 0.25: level = 4 * P (a raw 0.3 would give 7 for P = 2)
    (0, 0.3, 4, [0, 4, 8, 12, 15, 15, 15, 15]),
    # 1 bit: step 2.5 * 8 = 20 -> level 1 iff P > T
    (11, 2.5, 1, [0, 0, 0, 0, 0, 0, 1, 1]),
])
def test_fire_ceiling_is_exact_at_multiples(threshold, act_step, bits, expected):
    x = np.array([0, 1, 2, 3, 6, 11, 12, 200], np.uint8).reshape(1, 1, 8, 1)
    fire = FireSpec(np.array([threshold], np.int32), np.array([act_step], np.float32), bits)
    levels = tf_backend.conv_block(tf.constant(x), np.ones((1, 1, 1, 1), np.int8),
                                   strides=(1, 1), padding="valid", padding_value=0,
                                   pool=PoolSpec(), fire=fire).numpy()
    assert levels.ravel().tolist() == expected
    assert ref_fire(x.astype(np.int64), fire.threshold, fire.act_step, bits).ravel().tolist() \
        == expected


def test_fire_steps_and_their_errors():
    spec = FireSpec(np.zeros(3, np.int32), np.array([1 / 16, 0.3, 2.99], np.float32), 1)
    assert tf_backend.fire_steps(spec).tolist() == [8, 32, 47 * 8]
    with pytest.raises(ValueError, match="act_bits"):
        tf_backend.fire_steps(FireSpec(np.zeros(1, np.int32), np.ones(1, np.float32), 3))
    with pytest.raises(ValueError, match="1/16"):
        tf_backend.fire_steps(FireSpec(np.zeros(1, np.int32), np.full(1, 0.05, np.float32),
                                       4))


def test_one_channel_width_one_output_with_width_stride():
    # Regression: TF 2.21's oneDNN float32 conv2d is wrong on this shape (batch > 1, one
    # channel, output width 1, width stride 2); the back-end must sidestep it.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 9, 3, 1)).astype(np.uint8)
    kernel = rng.integers(-128, 128, (1, 3, 1, 4)).astype(np.int8)
    for padding in ("valid", "same"):
        out = tf_backend.conv_block(tf.constant(x), kernel, strides=(1, 2), padding=padding,
                                    padding_value=0, pool=PoolSpec(), fire=None).numpy()
        np.testing.assert_array_equal(out, ref_conv(x, kernel, (1, 2), padding))


def test_backend_rejects_bad_arguments():
    x = tf.zeros((1, 4, 4, 1), tf.uint8)
    with pytest.raises(TypeError, match="int8"):
        tf_backend.conv_block(x, np.zeros((3, 3, 1, 1), np.int32), strides=(1, 1),
                              padding="same", padding_value=0, pool=PoolSpec(), fire=None)
    with pytest.raises(ValueError, match="padding"):
        tf_backend.conv_block(x, np.zeros((3, 3, 1, 1), np.int8), strides=(1, 1),
                              padding="full", padding_value=0, pool=PoolSpec(), fire=None)
    with pytest.raises(ValueError, match="pool.kind"):
        tf_backend.conv_block(x, np.zeros((3, 3, 1, 1), np.int8), strides=(1, 1),
                              padding="same", padding_value=0, pool=PoolSpec("avg"),
                              fire=None)


@pytest.mark.parametrize("seed", range(4))
def test_whole_models_match_reference(seed):
    rng = np.random.default_rng(seed)
    factory = list(MODEL_FACTORIES.values())[seed]
    model = factory()
    x = random_input(model, rng, 12)
    reference = randomize(model, x, rng)
    np.testing.assert_array_equal(model.forward(x, engine="tf"), reference)


# -- engine selection --------------------------------------------------------------------------
def test_get_backend_tf():
    assert engine.get_backend("tf") is tf_backend
    assert tf_backend.name == "tf"


@pytest.mark.parametrize("value", ["TF", "gpu", 1, ""])
def test_get_backend_rejects_unknown_engines(value):
    with pytest.raises(ValueError, match="backend must be None or one of 'custom', 'tf'"):
        engine.get_backend(value)


def _make_unavailable(monkeypatch):
    def fail():
        raise engine.OpLibraryUnavailable("the op library was not built (test)")
    monkeypatch.setattr(engine.ops, "load_library", fail)
    monkeypatch.setattr(engine, "_WARNED", [])


def test_default_engine_falls_back_with_one_warning(monkeypatch):
    _make_unavailable(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert engine.get_backend() is tf_backend
        assert engine.get_backend(None) is tf_backend
    fallback = [w for w in caught if issubclass(w.category, engine.EngineFallbackWarning)]
    assert len(fallback) == 1
    message = str(fallback[0].message)
    assert "not built (test)" in message and "backend='tf'" in message


def test_explicit_custom_engine_that_cannot_load_raises(monkeypatch):
    _make_unavailable(monkeypatch)
    with pytest.raises(engine.OpLibraryUnavailable, match="backend='custom'.*not built "
                                                          r"\(test\).*backend='tf'"):
        engine.get_backend("custom")


def test_default_engine_uses_custom_backend_when_it_loads(monkeypatch):
    import types
    fake = types.ModuleType("cnn2snn_tfmot.engine.custom_backend")
    fake.name = "custom"
    monkeypatch.setattr(engine.ops, "load_library", lambda: object())
    monkeypatch.setattr(engine, "custom_backend", fake)
    assert engine.get_backend() is fake
    assert engine.get_backend("custom") is fake


def _fire_case(rng, bits, beyond_float32):
    """Steps (in 1/16 units), thresholds and potentials probing every rounding edge."""
    levels = 2 ** bits - 1
    # Steps: small and just below 2**20 (the float32 limit); with beyond_float32 also at and
    # beyond it, and a threshold beyond 2**24.
    parts = [rng.integers(1, 64, 8), 2 ** 20 - rng.integers(1, 9, 4) * 2 ** (4 - bits)]
    if beyond_float32:
        # (2**22 .. 2**23: float32 quotients would flip ceilings, potentials still fit)
        parts += [2 ** 20 + rng.integers(0, 9, 2) * 2 ** (4 - bits),
                  rng.integers(2 ** 22, 2 ** 23, 6), rng.integers(2 ** 24, 2 ** 30, 2)]
    step16 = np.concatenate(parts) // 2 ** (4 - bits) * 2 ** (4 - bits)
    step16 = np.maximum(step16, 2 ** (4 - bits)).astype(np.int64)
    channels = len(step16)
    threshold = rng.integers(-2 ** 20, 2 ** 20, channels)
    if beyond_float32:
        threshold[-1] = 2 ** 24 + 3
    # Potentials: 16 (P - T) = k * step exactly, one unit off either way, and random.
    k = rng.integers(-2, levels + 3, (64, channels))
    around = threshold + (k * step16) // 16 + rng.integers(-1, 2, (64, channels))
    p = np.concatenate([around, rng.integers(-2 ** 24 + 1, 2 ** 24, (64, channels))])
    return step16, threshold, np.clip(p, -2 ** 24 + 1, 2 ** 24 - 1)


@pytest.mark.parametrize("bits", [1, 2, 4])
@pytest.mark.parametrize("dtype", [np.float32, np.int32])
@pytest.mark.parametrize("beyond_float32", [False, True])
def test_fire_levels_equal_the_integer_ceiling_division(bits, dtype, beyond_float32):
    """fire_levels divides in float (float32 for float32 potentials when the registers are in
    its proven range, float64 otherwise): equal to the int64 ceiling division everywhere,
    including quotients exactly on and one unit off each level boundary, steps just below
    2**20 (the float32 limit) and beyond, thresholds beyond 2**24, potentials near +-2**24."""
    rng = np.random.default_rng(bits + 10 * beyond_float32)
    step16, threshold, p = _fire_case(rng, bits, beyond_float32)
    expected = ref_fire(p, threshold, (step16 // 2 ** (4 - bits)) / 16, bits)
    got = tf_backend.fire_levels(tf.constant(p.astype(dtype)), tf.constant(threshold),
                                 tf.constant(step16), bits)
    assert got.dtype == tf.float32
    np.testing.assert_array_equal(got.numpy(), expected.astype(np.float32))
    assert not np.any(np.signbit(got.numpy()))  # no -0.0 levels
    variables = tf.Variable(threshold), tf.Variable(step16)  # not folded as constants
    graph = tf.function(lambda: tf_backend.fire_levels(tf.constant(p.astype(dtype)),
                                                       *variables, bits))()
    np.testing.assert_array_equal(graph.numpy(), expected.astype(np.float32))
