"""The two emulator back-ends (compiled ops, pure TensorFlow) give bit-identical blocks.

Every block type, padding, stride, pooling and act_bits (or potentials); each case has one
channel of all-positive and one of all-negative weights so that the 20-bit saturations of max
and global pooling are reached, next to random channels.
"""
import zlib

import numpy as np
import pytest

from cnn2snn_tfmot.chip.lowering import FireSpec, PoolSpec
from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.tfkeras import tf

pytest.importorskip("cnn2snn_tfmot.engine.tf_backend")
if not ops.is_available():  # pragma: no cover - the op library is built by `make test`
    pytest.skip("the compiled op library is not built", allow_module_level=True)

from cnn2snn_tfmot.engine import custom_backend, tf_backend

BACKENDS = (custom_backend, tf_backend)
POOLS = {
    "none": PoolSpec(),
    "max2": PoolSpec("max", (2, 2), (2, 2)),
    "max3s2": PoolSpec("max", (3, 3), (2, 2)),
    "global": PoolSpec("global_sum"),
}


def case_rng(*key):
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def with_extreme_channels(w):
    """Channel 0 all +max, channel 1 all -max: saturating potentials."""
    kmax = int(np.abs(w).max())
    w[..., 0] = kmax
    w[..., 1] = -kmax
    return w


def fire_for(rng, potentials, act_bits):
    if act_bits is None:
        return None
    flat = potentials.reshape(-1, potentials.shape[-1]).astype(np.float64)
    low, high = np.percentile(flat, 25, axis=0), np.percentile(flat, 95, axis=0)
    threshold = np.floor(low).astype(np.int32)
    act_step = np.maximum((high - low) / (2 ** act_bits - 1) * rng.uniform(0.6, 1.4, len(low)),
                          1 / 16).astype(np.float32)
    return FireSpec(threshold, act_step, act_bits)


def assert_backends_agree(call, potentials_call, rng, act_bits):
    """Runs `call(backend, fire)` on both back-ends; fire derived from the potentials."""
    fire = fire_for(rng, potentials_call(custom_backend).numpy(), act_bits)
    outputs = [call(backend, fire).numpy() for backend in BACKENDS]
    assert outputs[0].dtype == outputs[1].dtype == (np.int32 if fire is None else np.uint8)
    assert outputs[0].shape == outputs[1].shape
    mismatch = np.argwhere(outputs[0] != outputs[1])
    assert mismatch.size == 0, (
        f"{len(mismatch)} mismatches, first at {mismatch[0].tolist()}: custom "
        f"{outputs[0][tuple(mismatch[0])]}, tf {outputs[1][tuple(mismatch[0])]}")
    return outputs[0]


@pytest.mark.parametrize("act_bits", (None, 1, 2, 4))
@pytest.mark.parametrize("pool", list(POOLS))
@pytest.mark.parametrize("strides", ((1, 1), (2, 2)), ids=str)
@pytest.mark.parametrize("padding", ("same", "valid"))
@pytest.mark.parametrize("kind", ("input_conv", "conv"))
def test_conv_block(kind, padding, strides, pool, act_bits):
    rng = case_rng(kind, padding, strides, pool, act_bits)
    first = kind == "input_conv"
    channels, bits, xmax = (3, 8, 255) if first else (16, 4, 15)
    x = tf.constant(rng.integers(0, xmax + 1, (2, 13, 11, channels)).astype(np.uint8))
    kmax = 2 ** (bits - 1) - 1
    kernel = with_extreme_channels(
        rng.integers(-kmax, kmax + 1, (3, 3, channels, 12)).astype(np.int8))
    padding_value = 17 if first else 0
    kwargs = dict(strides=strides, padding=padding, padding_value=padding_value,
                  pool=POOLS[pool])
    levels = assert_backends_agree(
        lambda backend, fire: backend.conv_block(x, kernel, fire=fire, **kwargs),
        lambda backend: backend.conv_block(x, kernel, fire=None, **kwargs), rng, act_bits)
    if act_bits is not None:
        assert levels.max() > 0  # the fire is exercised


@pytest.mark.parametrize("act_bits", (None, 1, 2, 4))
@pytest.mark.parametrize("pool", list(POOLS))
@pytest.mark.parametrize("strides", ((1, 1), (2, 2)), ids=str)
@pytest.mark.parametrize("padding", ("same", "valid"))
def test_separable_block(padding, strides, pool, act_bits):
    rng = case_rng("separable", padding, strides, pool, act_bits)
    x = tf.constant(rng.integers(0, 16, (2, 12, 13, 24)).astype(np.uint8))
    depthwise = rng.integers(-7, 8, (3, 3, 24)).astype(np.int8)
    depthwise[..., 0] = 7
    pointwise = with_extreme_channels(rng.integers(-7, 8, (24, 20)).astype(np.int8))
    kwargs = dict(strides=strides, padding=padding, pool=POOLS[pool])
    assert_backends_agree(
        lambda backend, fire: backend.separable_block(x, depthwise, pointwise, fire=fire,
                                                      **kwargs),
        lambda backend: backend.separable_block(x, depthwise, pointwise, fire=None, **kwargs),
        rng, act_bits)


@pytest.mark.parametrize("act_bits", (None, 1, 2, 4))
@pytest.mark.parametrize("features", (10, 1568, 5000))
def test_dense_block(features, act_bits):
    rng = case_rng("dense", features, act_bits)
    x = rng.integers(0, 16, (9, features)).astype(np.uint8)
    x[0] = 15
    x = tf.constant(x)
    weights = with_extreme_channels(rng.integers(-7, 8, (features, 10)).astype(np.int8))
    potentials = assert_backends_agree(
        lambda backend, fire: backend.dense_block(x, weights, fire=fire),
        lambda backend: backend.dense_block(x, weights, fire=None), rng, None)
    if features == 5000:  # 5000 * 15 * 7 > 2**19: the saturation is exercised
        assert potentials[:, 0].max() == 2 ** 19 - 1
    if act_bits is not None:
        assert_backends_agree(
            lambda backend, fire: backend.dense_block(x, weights, fire=fire),
            lambda backend: backend.dense_block(x, weights, fire=None), rng, act_bits)


def test_inside_tf_function_with_unknown_batch():
    rng = case_rng("function")
    kernel = rng.integers(-7, 8, (3, 3, 8, 6)).astype(np.int8)
    fire = FireSpec(np.full(6, 20, np.int32), np.full(6, 3.5, np.float32), 4)
    x = rng.integers(0, 16, (5, 9, 9, 8)).astype(np.uint8)
    outputs = []
    for backend in BACKENDS:
        fn = tf.function(lambda t, b=backend: b.conv_block(
            t, kernel, strides=(1, 1), padding="same", padding_value=0,
            pool=PoolSpec("max", (2, 2), (2, 2)), fire=fire),
            input_signature=[tf.TensorSpec([None, 9, 9, 8], tf.uint8)])
        outputs.append(fn(tf.constant(x)).numpy())
    assert outputs[0].shape == (5, 5, 5, 6)
    np.testing.assert_array_equal(outputs[0], outputs[1])


@pytest.mark.parametrize("backend_name", ["tf", "custom"])
def test_sums_beyond_int32(backend_name):
    """Beyond int32: dense sums saturate exactly; a convolution potential is an error."""
    from cnn2snn_tfmot.chip.lowering import PoolSpec
    from cnn2snn_tfmot.engine import get_backend

    backend = get_backend(backend_name)
    fan_in = 70000  # 70000 x 255 x 127 = 2.27e9 > 2**31
    x = np.full((2, fan_in), 255, np.uint8)
    x[1] = 0
    weights = np.full((fan_in, 2), 127, np.int8)
    weights[:, 1] = -127
    potentials = backend.dense_block(tf.constant(x), weights, fire=None).numpy()
    np.testing.assert_array_equal(potentials, [[2 ** 19 - 1, -2 ** 19], [0, 0]])
    channels = 8000  # 3 x 3 x 8000 x 255 x 127 = 2.33e9
    image = np.full((1, 3, 3, channels), 255, np.uint8)
    kernel = np.full((3, 3, channels, 1), 127, np.int8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="does not fit int32"):
        backend.conv_block(tf.constant(image), kernel, strides=(1, 1), padding="valid",
                           padding_value=0, pool=PoolSpec(), fire=None).numpy()
    image[..., :channels // 2] = 0  # the true sum now fits: both compute it exactly
    exact = 9 * (channels // 2) * 255 * 127
    assert backend.conv_block(tf.constant(image), kernel, strides=(1, 1), padding="valid",
                              padding_value=0, pool=PoolSpec(), fire=None).numpy().item() == exact


def _float32_conv(x, kernel):
    return tf.nn.conv2d(tf.cast(x, tf.float32), tf.constant(kernel, tf.float32), 1,
                        "VALID").numpy()


@pytest.mark.parametrize("block", ["conv", "separable"])
def test_sums_a_float32_path_would_round_are_exact_in_both(block):
    """Potentials beyond 2**24 (float32 loses units there) but within int32."""
    from cnn2snn_tfmot.chip.lowering import PoolSpec
    from cnn2snn_tfmot.engine import get_backend

    rng = np.random.default_rng(7)
    if block == "conv":
        channels = 2048  # 3 x 3 x 2048 x 255 x 127 = 6.0e8
        x = rng.integers(200, 256, (2, 5, 5, channels)).astype(np.uint8)
        kernel = rng.integers(60, 128, (3, 3, channels, 3)).astype(np.int8)
        exact = np.einsum("nhwc,hwcf->nf", x.astype(np.int64)[:, 1:4, 1:4],
                          kernel.astype(np.int64))
        rounded = _float32_conv(x, kernel)[:, 1, 1]
        run = lambda backend: backend.conv_block(  # noqa: E731
            tf.constant(x), kernel, strides=(1, 1), padding="valid", padding_value=0,
            pool=PoolSpec(), fire=None)
        pick = lambda out: out[:, 1, 1]  # noqa: E731
    else:
        channels = 1024  # depthwise 3 x 3 x 255 x 7 = 16065, then x 7 x 1024 = 1.15e8
        x = rng.integers(200, 256, (2, 3, 3, channels)).astype(np.uint8)
        depthwise = rng.integers(4, 8, (3, 3, channels)).astype(np.int8)
        pointwise = rng.integers(4, 8, (channels, 3)).astype(np.int8)
        hidden = np.einsum("nhwc,hwc->nc", x.astype(np.int64), depthwise.astype(np.int64))
        exact = hidden @ pointwise.astype(np.int64)
        rounded = hidden.astype(np.float32) @ pointwise.astype(np.float32)
        run = lambda backend: backend.separable_block(  # noqa: E731
            tf.constant(x), depthwise, pointwise, strides=(1, 1), padding="valid",
            pool=PoolSpec(), fire=None)
        pick = lambda out: out[:, 0, 0]  # noqa: E731
    assert exact.max() > 2 ** 24 and exact.max() < 2 ** 31
    assert not np.array_equal(rounded.astype(np.int64), exact)  # float32 would round them
    for name in ("tf", "custom"):
        np.testing.assert_array_equal(pick(run(get_backend(name)).numpy()), exact, err_msg=name)
