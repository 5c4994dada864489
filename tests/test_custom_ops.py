"""The compiled Akida ops (custom_ops/) against an independent numpy int64 reference.

The reference (chip_reference.py) follows docs/akida-v1.md section 5 literally (padding,
cross-correlation, max pooling with ignored padding cells, 20-bit saturations, fire as a ceiling
division); the ops
implement it differently (im2col GEMMs in int32 lanes, a fire ladder), so agreement is evidence.
Every comparison is on exact integers.
"""
import zlib

import numpy as np
import pytest

from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.tfkeras import tf

from chip_reference import (
    SAT_MAX,
    SAT_MIN,
    ref_conv,
    ref_depthwise,
    ref_fire,
    ref_global_sum,
    ref_maxpool,
)
from helpers import AKIDA

INT32_MIN, INT32_MAX = np.iinfo(np.int32).min, np.iinfo(np.int32).max
ISA_ENV = ops.ISA_ENV_VAR


@pytest.fixture(scope="module")
def lib():
    return ops.load_library()


# -- the reference (chip_reference.py), in this module's pooling notation ------------------------
def ref_pool(p, pool, padding):
    """pool: None, "global" or ((size), (stride)) pairs."""
    if pool is None:
        return p
    if pool == "global":
        return ref_global_sum(p)
    return np.clip(ref_maxpool(p, pool[0], pool[1], padding), SAT_MIN, SAT_MAX)


# -- helpers -----------------------------------------------------------------------------------
def weights(rng, shape, bits):
    kmax = 2 ** (bits - 1) - 1
    return rng.integers(-kmax, kmax + 1, shape).astype(np.int8)


def fire_params(rng, p, bits):
    """Per-channel threshold and act_step that spread the potentials over all levels."""
    flat = p.reshape(-1, p.shape[-1]).astype(np.float64)
    low, high = np.percentile(flat, 30, axis=0), np.percentile(flat, 95, axis=0)
    threshold = np.floor(low).astype(np.int32) + rng.integers(-2, 3, p.shape[-1]).astype(np.int32)
    span = np.maximum(high - low, 1.0) / (2 ** bits - 1)
    act_step = np.maximum(span * rng.uniform(0.7, 1.3, p.shape[-1]), 1 / 16).astype(np.float32)
    return threshold, act_step


POOL_ATTRS = {None: {}, "global": {"pool_type": "global_sum"}}


def pool_attrs(pool):
    if pool is None or pool == "global":
        return POOL_ATTRS[pool]
    return {"pool_type": "max", "pool_size": list(pool[0]), "pool_strides": list(pool[1])}


def run_block(lib, op, fire_op, args, p_ref, act_bits, rng, **attrs):
    """Runs the potentials op or the fire op; returns (got, expected)."""
    if act_bits is None:
        return op(*args, **attrs).numpy(), p_ref
    threshold, act_step = fire_params(rng, p_ref, act_bits)
    got = fire_op(*args, threshold, act_step, act_bits=act_bits, **attrs).numpy()
    return got, ref_fire(p_ref, threshold, act_step, act_bits)


def assert_same(got, expected):
    assert got.shape == expected.shape, (got.shape, expected.shape)
    mismatches = np.argwhere(got.astype(np.int64) != expected.astype(np.int64))
    assert mismatches.size == 0, (
        f"{len(mismatches)} mismatches, first at {mismatches[0].tolist()}: got "
        f"{got[tuple(mismatches[0])]}, expected {expected[tuple(mismatches[0])]}")


PADDINGS = ("same", "valid")
STRIDES = ((1, 1), (2, 2))
POOLS = (None, ((2, 2), (2, 2)), ((3, 3), (2, 2)), ((3, 2), (1, 2)), "global")
ACT_BITS = (None, 1, 2, 4)


# -- convolution -------------------------------------------------------------------------------
@pytest.mark.parametrize("act_bits", ACT_BITS)
@pytest.mark.parametrize("pool", POOLS, ids=str)
@pytest.mark.parametrize("kernel", ((1, 1), (3, 3), (2, 5)), ids=str)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
def test_conv_block(lib, padding, strides, kernel, pool, act_bits):
    case = zlib.crc32(repr((padding, strides, kernel, pool, act_bits)).encode())
    rng = np.random.default_rng(case)
    # Secondary axes cycle with the case: batch, odd sizes, channels, weight bits, pad value.
    batch = (1, 3)[case % 2]
    height, width = ((13, 11), (12, 15), (17, 17))[case % 3]
    channels, filters = ((1, 8), (3, 17), (5, 32), (20, 70))[case % 4]
    bits = (2, 4, 8)[case % 3 if channels > 3 else 2]  # an input layer has 8-bit weights
    pad_value = (0, 5, 255)[case % 3] if padding == "same" else 0
    xmax = 255 if channels <= 3 else 15
    x = rng.integers(0, xmax + 1, (batch, height, width, channels)).astype(np.uint8)
    w = weights(rng, kernel + (channels, filters), bits)
    attrs = dict(strides=list(strides), padding=padding.upper(), padding_value=pad_value,
                 **pool_attrs(pool))
    p_ref = ref_pool(ref_conv(x, w, strides, padding, pad_value), pool, padding)
    got, expected = run_block(lib, lib.cnn2snn_tfmot_akida_conv, lib.cnn2snn_tfmot_akida_conv_fire,
                              (x, w), p_ref, act_bits, rng, **attrs)
    assert_same(got, expected)


def test_conv_fan_in_beyond_float32(lib):
    # 3x3x64 fan-in, levels 255, weights +-127: sums reach 1.9e7 > 2**24, where a float32
    # accumulation would round; an odd weight makes the exact sum odd.
    rng = np.random.default_rng(1)
    x = np.full((2, 6, 6, 64), 255, np.uint8)
    x[1] = rng.integers(200, 256, (6, 6, 64))
    w = np.full((3, 3, 64, 4), 127, np.int8)
    w[..., 1] = -127
    w[0, 0, 0, 2] = 126
    w[..., 3] = weights(rng, (3, 3, 64), 8)
    got = lib.cnn2snn_tfmot_akida_conv(x, w, padding="VALID").numpy()
    expected = ref_conv(x, w, (1, 1), "valid")
    assert expected[0, 0, 0, 0] == 9 * 64 * 255 * 127 > 2 ** 24
    assert_same(got, expected)
    # Max pooling saturates those potentials to 20 bits (unpooled ones are not).
    pooled = lib.cnn2snn_tfmot_akida_conv(x, w, padding="VALID", pool_type="max", pool_size=[2, 2],
                            pool_strides=[2, 2]).numpy()
    assert pooled[0, 0, 0, :2].tolist() == [SAT_MAX, SAT_MIN]
    assert_same(pooled, ref_pool(expected, ((2, 2), (2, 2)), "valid"))


def test_conv_beyond_int32_bound_is_exact_or_refused(lib):
    # sum |w| * 255 > 2**31: the op takes its int64 path; sums that fit are exact...
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (1, 3, 3, 70000)).astype(np.uint8)
    w = np.zeros((1, 1, 70000, 2), np.int8)
    w[:, :, ::2, 0], w[:, :, 1::2, 0] = 127, -127
    w[..., 1] = 127
    x_small = x.copy()
    x_small[..., 1::2] = x_small[..., ::2]  # channel 0 cancels exactly
    got = lib.cnn2snn_tfmot_akida_conv(x_small, w[..., :1], padding="VALID").numpy()
    assert_same(got, ref_conv(x_small, w[..., :1], (1, 1), "valid"))
    # ...and a potential that does not fit int32 is an error, not a wrapped value.
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not fit int32"):
        lib.cnn2snn_tfmot_akida_conv(np.full((1, 1, 1, 70000), 255, np.uint8), w, padding="VALID")


# -- separable ---------------------------------------------------------------------------------
@pytest.mark.parametrize("act_bits", ACT_BITS)
@pytest.mark.parametrize("pool", POOLS, ids=str)
@pytest.mark.parametrize("kernel", ((3, 3), (1, 3)), ids=str)
@pytest.mark.parametrize("strides", STRIDES, ids=str)
@pytest.mark.parametrize("padding", PADDINGS)
def test_separable_block(lib, padding, strides, kernel, pool, act_bits):
    case = zlib.crc32(repr(("sep", padding, strides, kernel, pool, act_bits)).encode())
    rng = np.random.default_rng(case)
    batch = (1, 2)[case % 2]
    height, width = ((9, 7), (8, 11), (12, 12))[case % 3]
    channels, filters = ((3, 5), (16, 32), (33, 64))[case % 3]
    bits = (2, 4, 8)[(case // 3) % 3]
    x = rng.integers(0, 16, (batch, height, width, channels)).astype(np.uint8)
    dw = weights(rng, kernel + (channels,), bits)
    pw = weights(rng, (channels, filters), bits)
    attrs = dict(strides=list(strides), padding=padding.upper(), **pool_attrs(pool))
    d = ref_depthwise(x, dw, strides, padding)
    p_ref = ref_pool(d @ pw.astype(np.int64), pool, padding)
    got, expected = run_block(lib, lib.cnn2snn_tfmot_akida_separable,
                              lib.cnn2snn_tfmot_akida_separable_fire, (x, dw, pw),
                              p_ref, act_bits, rng, **attrs)
    assert_same(got, expected)


@pytest.mark.parametrize("xmax, kernel, channels", [
    (255, (5, 5), 8),     # depthwise sums beyond int16: int32 sums
    (255, (7, 7), 300),   # pointwise bound beyond int32: the int64 path
    (40, (5, 5), 8),      # beyond int16 at 255, within it at the real input maximum
])
def test_separable_wide_sums(lib, xmax, kernel, channels):
    rng = np.random.default_rng(xmax + channels)
    x = rng.integers(0, xmax + 1, (2, 9, 9, channels)).astype(np.uint8)
    x[0, 0, 0, 0] = xmax
    dw = weights(rng, kernel + (channels,), 8)
    pw = weights(rng, (channels, 20), 8)
    got = lib.cnn2snn_tfmot_akida_separable(x, dw, pw, padding="SAME").numpy()
    assert_same(got, ref_depthwise(x, dw, (1, 1), "same") @ pw.astype(np.int64))


# -- dense -------------------------------------------------------------------------------------
@pytest.mark.parametrize("act_bits", ACT_BITS)
@pytest.mark.parametrize("batch, k, units", [(1, 1, 1), (7, 5, 10), (3, 1568, 10),
                                             (256, 300, 33), (2, 2049, 100)])
@pytest.mark.parametrize("bits", (2, 4, 8))
def test_dense_block(lib, batch, k, units, bits, act_bits):
    rng = np.random.default_rng(batch * 1000 + k + bits)
    x = rng.integers(0, 16, (batch, k)).astype(np.uint8)
    w = weights(rng, (k, units), bits)
    p_ref = np.clip(x.astype(np.int64) @ w.astype(np.int64), SAT_MIN, SAT_MAX)
    got, expected = run_block(lib, lib.cnn2snn_tfmot_akida_dense,
                              lib.cnn2snn_tfmot_akida_dense_fire, (x, w), p_ref,
                              act_bits, rng)
    assert_same(got, expected)


@pytest.mark.parametrize("k", (64, 70000))  # exact int32 lanes; the int64 path (255*127*k > 2**31)
def test_dense_saturation(lib, k):
    x = np.full((2, k), 255, np.uint8)
    x[1, ::2] = 0
    w = np.zeros((k, 4), np.int8)
    w[:, 0], w[:, 1] = 127, -127
    w[::2, 2], w[1::2, 2] = 127, -127  # 0 for x[0]; large for x[1]
    w[:, 3] = 1
    got = lib.cnn2snn_tfmot_akida_dense(x, w).numpy()
    true = x.astype(np.int64) @ w.astype(np.int64)
    assert true[0, 0] == 255 * 127 * k > SAT_MAX
    assert_same(got, np.clip(true, SAT_MIN, SAT_MAX))
    # Saturated at 2**19 - 1, the potential does not reach a threshold of 600,000.
    levels = lib.cnn2snn_tfmot_akida_dense_fire(x, w, np.full(4, 600000, np.int32),
                                                np.ones(4, np.float32), act_bits=4).numpy()
    assert levels[0, 0] == 0
    assert_same(levels, ref_fire(np.clip(true, SAT_MIN, SAT_MAX), np.full(4, 600000),
                                 np.ones(4, np.float32), 4))


# -- fire --------------------------------------------------------------------------------------
FIRE_CASES = [  # (threshold, act_step)
    (0, 1 / 16), (0, 1.0), (-7, 0.3), (12345, 2.5), (3, 1 / 3), (-100, 7.0), (5, 1000.5),
    (0, 1e9), (INT32_MAX - 5, 0.5), (INT32_MIN + 3, 4.0), (INT32_MAX, 1.0), (INT32_MIN, 1.0),
    (-524288, 0.0625), (40, 3.0625),
]


@pytest.mark.parametrize("act_bits", (1, 2, 4))
def test_fire_boundaries(lib, act_bits):
    # Potentials sweep every integer around each threshold: the exact multiples of the step
    # (ceiling boundaries), negative potentials and the int32 extremes.
    threshold = np.array([c[0] for c in FIRE_CASES], np.int32)
    act_step = np.array([c[1] for c in FIRE_CASES], np.float32)
    offsets = np.arange(-70, 200, dtype=np.int64)
    p = np.clip(threshold.astype(np.int64)[None, :] + offsets[:, None], INT32_MIN, INT32_MAX)
    p = np.concatenate([p, np.full((1, len(FIRE_CASES)), INT32_MIN),
                        np.full((1, len(FIRE_CASES)), INT32_MAX)]).astype(np.int32)
    p = p.reshape(2, -1, len(FIRE_CASES))  # rank 3: the op takes (..., F)
    got = lib.cnn2snn_tfmot_akida_fire(p, threshold, act_step, act_bits=act_bits).numpy()
    assert_same(got, ref_fire(p, threshold, act_step, act_bits))
    assert got.max() == 2 ** act_bits - 1 and got.min() == 0


@pytest.mark.parametrize("act_bits", (1, 2, 4))
def test_fused_fire_boundaries(lib, act_bits):
    # A 1x1 identity convolution gives P = x: the fused fire sees every level 0..255.
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    w = np.ones((1, 1, 1, 6), np.int8)
    threshold = np.array([0, 10, 100, -5, 37, 250], np.int32)
    act_step = np.array([1 / 16, 2.5, 1.0, 12.0, 0.3125, 3.0], np.float32)
    got = lib.cnn2snn_tfmot_akida_conv_fire(x, w, threshold, act_step, padding="VALID",
                              act_bits=act_bits).numpy()
    assert_same(got, ref_fire(x.astype(np.int64).repeat(6, axis=-1), threshold, act_step,
                              act_bits))


def test_global_sum_saturates_in_row_major_order(lib):
    # The akida runtime's measured case: +975360 then -960120 gives -435833 (a plain clipped
    # sum would give 15240), then +100 and -50 apply to the saturated value.
    p = np.array([[975360, -960120], [100, -50]], np.int64)
    # A 1x1 convolution over 2 x 4096 channels of weights +1 / -1 produces those potentials.
    x = np.zeros((1, 2, 2, 2 * 4096), np.uint8)
    w = np.zeros((1, 1, 2 * 4096, 2), np.int8)
    w[0, 0, :4096, 0], w[0, 0, 4096:, 0] = 1, -1
    w[..., 1] = -w[..., 0]  # channel 1 sees the negated sequence
    for (i, j), v in np.ndenumerate(p):
        half = slice(0, 4096) if v >= 0 else slice(4096, 8192)
        full, rest = divmod(abs(int(v)), 255)
        x[0, i, j, half][:full] = 255
        x[0, i, j, half][full] = rest
    potentials = ref_conv(x, w, (1, 1), "valid")
    assert potentials[0, :, :, 0].tolist() == p.tolist()
    got = lib.cnn2snn_tfmot_akida_conv(x, w, padding="VALID", pool_type="global_sum").numpy()
    assert got[0, 0, 0].tolist() == [-435833 + 100 - 50, -524288 + 960120 - 100 + 50]
    assert_same(got, ref_pool(potentials, "global", "valid"))


# -- every kernel set (instruction set) of this CPU --------------------------------------------
@pytest.fixture(params=ops.kernel_set()["supported"])
def isa(request, monkeypatch, lib):
    monkeypatch.setenv(ISA_ENV, request.param)
    assert ops.kernel_set()["selected"] == request.param
    return request.param


@pytest.mark.parametrize("channels, filters, kernel, strides", [
    (1, 1, (3, 3), (1, 1)), (3, 17, (3, 3), (2, 2)), (8, 16, (1, 1), (1, 1)),
    (5, 65, (2, 3), (1, 2)), (70, 130, (3, 3), (1, 1))])
def test_every_isa_conv(lib, isa, channels, filters, kernel, strides):
    rng = np.random.default_rng(channels * filters)
    x = rng.integers(0, 256, (2, 11, 13, channels)).astype(np.uint8)
    w = weights(rng, kernel + (channels, filters), 8)
    p = ref_conv(x, w, strides, "same", 7)
    threshold, act_step = fire_params(rng, p, 4)
    got = lib.cnn2snn_tfmot_akida_conv_fire(x, w, threshold, act_step, strides=list(strides),
                                            padding="SAME",
                              padding_value=7, pool_type="max", pool_size=[3, 3],
                              pool_strides=[2, 2], act_bits=4).numpy()
    assert_same(got, ref_fire(ref_pool(p, ((3, 3), (2, 2)), "same"), threshold, act_step, 4))
    assert_same(lib.cnn2snn_tfmot_akida_conv(x, w, strides=list(strides), padding="SAME",
                               padding_value=7).numpy(), p)


@pytest.mark.parametrize("channels, filters, xmax", [(7, 9, 15), (32, 64, 15), (6, 33, 255)])
def test_every_isa_separable(lib, isa, channels, filters, xmax):
    rng = np.random.default_rng(channels + filters)
    x = rng.integers(0, xmax + 1, (2, 10, 9, channels)).astype(np.uint8)
    dw = weights(rng, (3, 3, channels), 8)
    pw = weights(rng, (channels, filters), 4)
    got = lib.cnn2snn_tfmot_akida_separable(x, dw, pw, padding="SAME",
                                            pool_type="global_sum").numpy()
    expected = ref_pool(ref_depthwise(x, dw, (1, 1), "same") @ pw.astype(np.int64), "global",
                        "same")
    assert_same(got, expected)


@pytest.mark.parametrize("k, units", [(1, 3), (1567, 10), (64, 100)])
def test_every_isa_dense(lib, isa, k, units):
    rng = np.random.default_rng(k + units)
    x = rng.integers(0, 256, (13, k)).astype(np.uint8)
    w = weights(rng, (k, units), 8)
    p = np.clip(x.astype(np.int64) @ w.astype(np.int64), SAT_MIN, SAT_MAX)
    threshold, act_step = fire_params(rng, p, 2)
    got = lib.cnn2snn_tfmot_akida_dense_fire(x, w, threshold, act_step, act_bits=2).numpy()
    assert_same(got, ref_fire(p, threshold, act_step, 2))


# -- graphs and shapes -------------------------------------------------------------------------
def test_ops_inside_tf_function_and_static_shapes(lib):
    rng = np.random.default_rng(3)
    w = weights(rng, (3, 3, 3, 6), 8)
    threshold, act_step = np.zeros(6, np.int32), np.full(6, 100.0, np.float32)

    @tf.function
    def block(x):
        return lib.cnn2snn_tfmot_akida_conv_fire(x, w, threshold, act_step, strides=[2, 2],
                                                 padding="SAME",
                                   pool_type="max", pool_size=[2, 2], pool_strides=[2, 2],
                                   act_bits=2)

    spec = block.get_concrete_function(tf.TensorSpec([None, 9, 7, 3], tf.uint8))
    assert spec.structured_outputs.shape.as_list() == [None, 3, 2, 6]  # ceil(ceil(9/2)/2)...
    partial = block.get_concrete_function(tf.TensorSpec([None, None, 7, 3], tf.uint8))
    assert partial.structured_outputs.shape.as_list() == [None, None, 2, 6]
    x = rng.integers(0, 256, (4, 9, 7, 3)).astype(np.uint8)
    expected = ref_fire(ref_pool(ref_conv(x, w, (2, 2), "same"), ((2, 2), (2, 2)), "same"),
                        threshold, act_step, 2)
    assert_same(block(tf.constant(x)).numpy(), expected)


@pytest.mark.parametrize("op, inputs, shape", [
    ("cnn2snn_tfmot_akida_conv", [[None, 8, 8, 4], [3, 3, 4, 5]], [None, 1, 1, 5]),
    ("cnn2snn_tfmot_akida_separable", [[2, 7, 9, 4], [3, 3, 4], [4, 6]], [2, 1, 1, 6]),
    ("cnn2snn_tfmot_akida_dense", [[None, 12], [12, 5]], [None, 5]),
])
def test_shape_functions(lib, op, inputs, shape):
    dtypes = [tf.uint8] + [tf.int8] * (len(inputs) - 1)
    attrs = {} if op == "cnn2snn_tfmot_akida_dense" else {"padding": "VALID",
                                                          "pool_type": "global_sum"}
    fn = tf.function(lambda *a: getattr(lib, op)(*a, **attrs))
    specs = [tf.TensorSpec(s, d) for s, d in zip(inputs, dtypes)]
    assert fn.get_concrete_function(*specs).structured_outputs.shape.as_list() == shape


def test_shape_function_rejects_mismatches(lib):
    fn = tf.function(lambda x, k: lib.cnn2snn_tfmot_akida_conv(x, k, padding="VALID"))
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        fn.get_concrete_function(tf.TensorSpec([None, 8, 8, 3], tf.uint8),
                                 tf.TensorSpec([3, 3, 4, 5], tf.int8))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        fn.get_concrete_function(tf.TensorSpec([None, 2, 8, 4], tf.uint8),
                                 tf.TensorSpec([3, 3, 4, 5], tf.int8))
    fire = tf.function(lambda x, w, t, s: lib.cnn2snn_tfmot_akida_dense_fire(x, w, t, s,
                                                                             act_bits=4))
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        fire.get_concrete_function(tf.TensorSpec([None, 12], tf.uint8),
                                   tf.TensorSpec([12, 5], tf.int8),
                                   tf.TensorSpec([4], tf.int32), tf.TensorSpec([5], tf.float32))


# -- bad inputs --------------------------------------------------------------------------------
X = np.zeros((1, 5, 5, 3), np.uint8)
K = np.zeros((3, 3, 3, 4), np.int8)
TH, ST = np.zeros(4, np.int32), np.ones(4, np.float32)
BAD_CALLS = {
    "x dtype": (lambda lib: lib.cnn2snn_tfmot_akida_conv(tf.constant(X, tf.int32), K,
                                                         padding="SAME"),
                "expected to be a uint8 tensor"),
    "kernel dtype": (lambda lib: lib.cnn2snn_tfmot_akida_dense(
                         X[:, 0, 0], tf.constant(K[0, 0], tf.int32)),
                     "expected to be a int8 tensor"),
    "channels": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X[..., :2], K, padding="SAME"),
                 "kernel has 3 input channels but x has 2"),
    "x rank": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X[0], K, padding="SAME"),
               "x .* must have rank 4"),
    "threshold shape": (lambda lib: lib.cnn2snn_tfmot_akida_conv_fire(X, K, TH[:3], ST,
                                                                      padding="SAME",
                                                        act_bits=4), "threshold must have"),
    "act_step shape": (lambda lib: lib.cnn2snn_tfmot_akida_fire(np.zeros((2, 4), np.int32), TH,
                                                                ST[:1],
                                                  act_bits=1), "act_step must have"),
    "act_step small": (lambda lib: lib.cnn2snn_tfmot_akida_dense_fire(X[:, 0, 0], K[0, 0], TH,
                                                                      ST / 17,
                                                        act_bits=4), "not representable"),
    "act_step nan": (lambda lib: lib.cnn2snn_tfmot_akida_fire(np.zeros((2, 4), np.int32), TH,
                                                              ST * np.nan,
                                                act_bits=2), "not representable"),
    "act_bits": (lambda lib: lib.cnn2snn_tfmot_akida_conv_fire(X, K, TH, ST, padding="SAME",
                                                               act_bits=3),
                 "act_bits must be 1, 2 or 4"),
    "padding_value": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X, K, padding="SAME",
                                                               padding_value=256),
                      "padding_value must be in"),
    "strides": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X, K, padding="SAME", strides=[0, 1]),
                "strides must be two positive"),
    "pool size": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X, K, padding="SAME", pool_type="max",
                                             pool_size=[2], pool_strides=[2, 2]),
                  "pool_size must be two"),
    "valid kernel": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X[:, :2], K, padding="VALID"),
                     "smaller than the 3x3 kernel"),
    "valid pool": (lambda lib: lib.cnn2snn_tfmot_akida_conv(X, K, padding="VALID", pool_type="max",
                                              pool_size=[4, 4], pool_strides=[1, 1]),
                   "max pooling does not fit"),
    "separable channels": (lambda lib: lib.cnn2snn_tfmot_akida_separable(
                               X, K[:, :, :, 0], K[0, 0, :2], padding="SAME"),
                           "must have 3"),
    "dense features": (lambda lib: lib.cnn2snn_tfmot_akida_dense(X[:, 0, 0], K[0, 0, :2]),
                       "weights have 2 rows but x has 3"),
}


@pytest.mark.parametrize("name", list(BAD_CALLS))
def test_bad_inputs_are_invalid_argument(lib, name):
    call, message = BAD_CALLS[name]
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(lib)


def test_unknown_or_unsupported_isa(lib, monkeypatch):
    monkeypatch.setenv(ISA_ENV, "sse9")
    with pytest.raises(tf.errors.InvalidArgumentError, match="not a kernel set"):
        lib.cnn2snn_tfmot_akida_kernel_set()
    monkeypatch.setenv(ISA_ENV, "generic")
    assert ops.kernel_set()["selected"] == "generic"
    assert ops.kernel_set()["supported"][-1] == "generic"


def test_prepared_weights_follow_changes(lib):
    # The kernels cache their packed weights: new values in the same buffer (a variable
    # assigned in place, one kernel instance inside a tf.function) must be seen.
    rng = np.random.default_rng(4)
    x = rng.integers(0, 16, (2, 6, 6, 8)).astype(np.uint8)
    first, second = weights(rng, (3, 3, 8, 5), 4), weights(rng, (3, 3, 8, 5), 4)
    dw, pw = weights(rng, (3, 3, 8), 4), weights(rng, (8, 5), 4)
    conv_w = tf.Variable(first)
    dense_w = tf.Variable(first.reshape(-1, 5))
    sep_pw = tf.Variable(pw)

    @tf.function
    def blocks(x):
        return (lib.cnn2snn_tfmot_akida_conv(x, conv_w, padding="SAME"),
                lib.cnn2snn_tfmot_akida_dense(tf.reshape(x, [2, -1])[:, :72], dense_w),
                lib.cnn2snn_tfmot_akida_separable(x, dw, sep_pw, padding="SAME"))

    for w, p in ((first, pw), (second, -pw), (first, pw)):
        conv_w.assign(w)
        dense_w.assign(w.reshape(-1, 5))
        sep_pw.assign(p)
        conv, dense, sep = (t.numpy() for t in blocks(tf.constant(x)))
        assert_same(conv, ref_conv(x, w, (1, 1), "same"))
        assert_same(dense, x.reshape(2, -1)[:, :72].astype(np.int64) @ w.reshape(-1, 5))
        assert_same(sep, ref_depthwise(x, dw, (1, 1), "same") @ p.astype(np.int64))


def test_empty_batch(lib):
    out = lib.cnn2snn_tfmot_akida_conv_fire(np.zeros((0, 5, 5, 3), np.uint8), K, TH, ST,
                                            padding="SAME",
                              act_bits=4)
    assert out.shape == (0, 5, 5, 4) and out.dtype == tf.uint8


# -- the real runtime --------------------------------------------------------------------------
def runtime_model(layer, variables, input_shape=None):
    model = AKIDA.Model()
    if input_shape is not None:
        model.add(AKIDA.InputData(input_shape, input_bits=4))
    model.add(layer)
    for name, value in variables.items():
        layer.set_variable(name, value)
    return model


def test_runtime_input_convolutional(lib, akida_runtime):
    akida = akida_runtime
    rng = np.random.default_rng(10)
    x = rng.integers(0, 256, (3, 13, 11, 3)).astype(np.uint8)
    w = weights(rng, (3, 3, 3, 8), 8)
    p = ref_pool(ref_conv(x, w, (1, 1), "same", 9), ((3, 3), (2, 2)), "same")
    threshold, act_step = fire_params(rng, p, 4)
    layer = akida.InputConvolutional(
        (13, 11, 3), kernel_size=(3, 3), filters=8, padding=akida.Padding.Same,
        weights_bits=8, pool_type=akida.PoolType.Max, pool_size=(3, 3), pool_stride=(2, 2),
        act_bits=4, padding_value=9)
    model = runtime_model(layer, {"weights": w, "threshold": threshold, "act_step": act_step})
    got = lib.cnn2snn_tfmot_akida_conv_fire(x, w, threshold, act_step, padding="SAME",
                                            padding_value=9,
                              pool_type="max", pool_size=[3, 3], pool_strides=[2, 2],
                              act_bits=4).numpy()
    assert_same(got, model.forward(x))
    assert 0 < got.mean() < 15


@pytest.mark.parametrize("pool", ("max", "global"))
def test_runtime_convolutional(lib, pool, akida_runtime):
    akida = akida_runtime
    rng = np.random.default_rng(11)
    x = rng.integers(0, 16, (3, 9, 9, 16)).astype(np.uint8)
    w = weights(rng, (3, 3, 16, 12), 4)
    if pool == "max":
        pool_kw = dict(pool_type=akida.PoolType.Max, pool_size=(2, 2), pool_stride=(2, 2))
        attrs = dict(pool_type="max", pool_size=[2, 2], pool_strides=[2, 2])
        p = ref_pool(ref_conv(x, w, (1, 1), "valid"), ((2, 2), (2, 2)), "valid")
    else:
        pool_kw, attrs = dict(pool_type=akida.PoolType.Average), dict(pool_type="global_sum")
        p = ref_pool(ref_conv(x, w, (1, 1), "valid"), "global", "valid")
    threshold, act_step = fire_params(rng, p, 2)
    layer = akida.Convolutional(kernel_size=(3, 3), filters=12, padding=akida.Padding.Valid,
                                weights_bits=4, act_bits=2, **pool_kw)
    model = runtime_model(layer, {"weights": w[::-1, ::-1].copy(), "threshold": threshold,
                                  "act_step": act_step}, (9, 9, 16))
    got = lib.cnn2snn_tfmot_akida_conv_fire(x, w, threshold, act_step, padding="VALID", act_bits=2,
                              **attrs).numpy()
    assert_same(got, model.forward(x))


def test_runtime_separable(lib, akida_runtime):
    akida = akida_runtime
    rng = np.random.default_rng(12)
    x = rng.integers(0, 16, (2, 10, 10, 8)).astype(np.uint8)
    dw, pw = weights(rng, (3, 3, 8), 4), weights(rng, (8, 16), 4)
    p = ref_pool(ref_depthwise(x, dw, (1, 1), "same") @ pw.astype(np.int64),
                 ((2, 2), (2, 2)), "same")
    threshold, act_step = fire_params(rng, p, 1)
    layer = akida.SeparableConvolutional(kernel_size=(3, 3), filters=16, weights_bits=4,
                                         pool_type=akida.PoolType.Max, pool_size=(2, 2),
                                         pool_stride=(2, 2), act_bits=1)
    model = runtime_model(layer, {"weights": dw[::-1, ::-1, :, None].copy(),
                                  "weights_pw": pw[None, None], "threshold": threshold,
                                  "act_step": act_step}, (10, 10, 8))
    got = lib.cnn2snn_tfmot_akida_separable_fire(x, dw, pw, threshold, act_step, padding="SAME",
                                   pool_type="max", pool_size=[2, 2], pool_strides=[2, 2],
                                   act_bits=1).numpy()
    assert_same(got, model.forward(x))


@pytest.mark.parametrize("act_bits", (None, 4))
def test_runtime_fully_connected(lib, act_bits, akida_runtime):
    akida = akida_runtime
    rng = np.random.default_rng(13)
    x = rng.integers(0, 16, (4, 5, 8, 130)).astype(np.uint8)
    x[0] = 15  # with the all-positive unit below: 5200 * 15 * 7 > 2**19, saturated
    w = weights(rng, (5 * 8 * 130, 10), 4)
    w[:, 0] = 7
    flat = x.transpose(0, 3, 2, 1).reshape(4, -1)  # the runtime's order h + H*w + H*W*c
    p = np.clip(flat.astype(np.int64) @ w.astype(np.int64), SAT_MIN, SAT_MAX)
    assert p[0, 0] == SAT_MAX
    variables = {"weights": w[None, None]}
    if act_bits is None:
        layer = akida.FullyConnected(units=10, weights_bits=4, activation=False)
        got = lib.cnn2snn_tfmot_akida_dense(flat, w).numpy()
    else:
        threshold, act_step = fire_params(rng, p, act_bits)
        variables.update(threshold=threshold, act_step=act_step)
        layer = akida.FullyConnected(units=10, weights_bits=4, act_bits=act_bits)
        got = lib.cnn2snn_tfmot_akida_dense_fire(flat, w, threshold, act_step,
                                                 act_bits=act_bits).numpy()
    model = runtime_model(layer, variables, (5, 8, 130))
    assert_same(got, model.forward(x).reshape(4, 10))
