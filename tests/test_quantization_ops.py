"""Weight quantizers and the activation formula against independent numpy formulas."""
import numpy as np
import pytest

from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras, tf

BITWIDTHS = range(2, 9)


def np_quantize(w, sf, kmax):
    """docs/akida-v1.md section 1, in numpy float32 (np.round rounds half to even)."""
    w = np.asarray(w, np.float32)
    sf = np.asarray(sf, np.float32)
    return (np.clip(np.round(w * sf), -kmax, kmax) / sf).astype(np.float32)


def random_weights(shape, seed=0, scale=0.1):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


@pytest.mark.parametrize("bitwidth", BITWIDTHS)
def test_max_quantizer_matches_numpy(bitwidth):
    w = random_weights((3, 3, 4, 6), seed=bitwidth)
    kmax = 2 ** (bitwidth - 1) - 1
    quantizer = qops.MaxQuantizer(bitwidth=bitwidth)
    sf = np.float32(kmax) / np.max(np.abs(w))
    assert quantizer.kmax_ == kmax
    np.testing.assert_array_equal(quantizer.scale_factor(tf.constant(w)).numpy(), sf)
    np.testing.assert_array_equal(quantizer.quantize(tf.constant(w)).numpy(),
                                  np_quantize(w, sf, kmax))


@pytest.mark.parametrize("bitwidth", BITWIDTHS)
def test_max_per_axis_quantizer_matches_numpy(bitwidth):
    w = random_weights((3, 3, 4, 6), seed=10 + bitwidth)
    w[..., 2] *= 20  # channels of very different ranges
    kmax = 2 ** (bitwidth - 1) - 1
    sf = np.float32(kmax) / np.max(np.abs(w), axis=(0, 1, 2))
    quantizer = qops.MaxPerAxisQuantizer(bitwidth=bitwidth)
    got_sf = quantizer.scale_factor(tf.constant(w)).numpy()
    assert got_sf.shape == (6,)
    np.testing.assert_array_equal(got_sf, sf)
    np.testing.assert_array_equal(quantizer.quantize(tf.constant(w)).numpy(),
                                  np_quantize(w, sf, kmax))
    # Each channel reaches its own +-kmax.
    levels = np.round(quantizer.quantize(tf.constant(w)).numpy() * sf)
    np.testing.assert_array_equal(np.max(np.abs(levels), axis=(0, 1, 2)), kmax)


@pytest.mark.parametrize("quantizer_class", [qops.StdWeightQuantizer,
                                             qops.TrainableStdWeightQuantizer])
@pytest.mark.parametrize("bitwidth", BITWIDTHS)
def test_std_quantizers_match_numpy_and_saturate(quantizer_class, bitwidth):
    w = random_weights((64, 10), seed=20 + bitwidth)
    w[:2, :] = 0.9  # outliers beyond 3 standard deviations
    kmax = 2 ** (bitwidth - 1) - 1
    quantizer = quantizer_class(threshold=3, bitwidth=bitwidth)
    sf = quantizer.scale_factor(tf.constant(w)).numpy()
    np.testing.assert_allclose(sf, kmax / (3 * np.std(w.astype(np.float64))), rtol=1e-5)
    wq = quantizer.quantize(tf.constant(w)).numpy()
    np.testing.assert_array_equal(wq, np_quantize(w, sf, kmax))
    np.testing.assert_array_equal(np.round(wq[:2] * sf), kmax)  # saturated outliers


@pytest.mark.parametrize("bitwidth", BITWIDTHS)
def test_round_half_to_even_ties(bitwidth):
    kmax = 2 ** (bitwidth - 1) - 1
    ties = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 3.5, 4.5], np.float32)
    ties = ties[np.abs(ties) < kmax]
    w = np.concatenate([[kmax], ties]).astype(np.float32)  # max |w| = kmax -> sf = 1
    wq = qops.MaxQuantizer(bitwidth=bitwidth).quantize(tf.constant(w)).numpy()
    expected = {0.5: 0, -0.5: 0, 1.5: 2, -1.5: -2, 2.5: 2, -2.5: -2, 3.5: 4, 4.5: 4}
    np.testing.assert_array_equal(wq[1:], [expected[float(t)] for t in ties])


@pytest.mark.parametrize("quantizer", [qops.MaxQuantizer(4), qops.MaxPerAxisQuantizer(4),
                                       qops.StdWeightQuantizer(3, 4),
                                       qops.TrainableStdWeightQuantizer(3, 4)],
                         ids=lambda q: type(q).__name__)
def test_zero_weights_give_finite_output(quantizer):
    w = random_weights((3, 3, 2, 4), seed=3)
    w[..., 1] = 0.0  # a dead channel
    for weights in (w, np.zeros_like(w)):
        sf = quantizer.scale_factor(tf.constant(weights)).numpy()
        wq = quantizer.quantize(tf.constant(weights)).numpy()
        assert np.all(np.isfinite(sf)) and np.all(np.isfinite(wq))
    np.testing.assert_array_equal(quantizer.quantize(tf.constant(w)).numpy()[..., 1], 0.0)


@pytest.mark.parametrize("bad", [0, 1, 9, -4, 2.5, True, "4", None])
@pytest.mark.parametrize("quantizer_class", [qops.MaxQuantizer, qops.MaxPerAxisQuantizer,
                                             qops.StdWeightQuantizer,
                                             qops.TrainableStdWeightQuantizer])
def test_bitwidth_out_of_range_names_valid_range(quantizer_class, bad):
    with pytest.raises(ValueError, match=r"2\.\.8"):
        quantizer_class(bitwidth=bad)


def test_weight_float_is_identity_and_only_bitwidth_zero():
    w = random_weights((5, 5))
    quantizer = qops.WeightFloat()
    assert quantizer.bitwidth == 0 and quantizer.kmax_ is None
    np.testing.assert_array_equal(quantizer.quantize(tf.constant(w)).numpy(), w)
    assert float(quantizer.scale_factor(tf.constant(w))) == 1.0
    with pytest.raises(ValueError, match="bitwidth"):
        qops.WeightFloat(bitwidth=4)


def test_aliases():
    assert qops.WeightQuantizer is qops.StdWeightQuantizer
    assert qops.TrainableWeightQuantizer is qops.TrainableStdWeightQuantizer


@pytest.mark.parametrize("quantizer", [qops.MaxQuantizer(3), qops.MaxPerAxisQuantizer(8),
                                       qops.StdWeightQuantizer(2.5, 5),
                                       qops.TrainableStdWeightQuantizer(4, 2), qops.WeightFloat()],
                         ids=lambda q: type(q).__name__)
def test_config_round_trip_and_keras_serialization(quantizer):
    clone = type(quantizer).from_config(quantizer.get_config())
    assert clone == quantizer and clone is not quantizer
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(quantizer))
    assert type(restored) is type(quantizer) and restored.get_config() == quantizer.get_config()


@pytest.mark.parametrize("quantizer", [qops.MaxQuantizer(4), qops.MaxPerAxisQuantizer(4),
                                       qops.StdWeightQuantizer(1, 4),
                                       qops.TrainableStdWeightQuantizer(1, 4),
                                       qops.WeightFloat()],
                         ids=lambda q: type(q).__name__)
def test_straight_through_gradient_is_identity(quantizer):
    # threshold 1 std: many weights are clipped, and still pass their gradient unchanged.
    w = tf.Variable(random_weights((16, 8), seed=5))
    upstream = random_weights((16, 8), seed=6, scale=1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(quantizer.quantize(w) * upstream)
    np.testing.assert_allclose(tape.gradient(loss, w).numpy(), upstream, rtol=1e-6)


def test_trainable_threshold_gradient_matches_analytic_value():
    layer = keras.layers.Layer()
    quantizer = qops.TrainableStdWeightQuantizer(threshold=2.0, bitwidth=4)
    variables = quantizer.build((32, 4), "kernel", layer)
    threshold = variables["threshold"]
    assert threshold.trainable and threshold.name.startswith("kernel_threshold")
    w = random_weights((32, 4), seed=7)
    upstream = random_weights((32, 4), seed=8, scale=1.0)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(quantizer(tf.constant(w), True, variables) * upstream)
    grad = tape.gradient(loss, threshold).numpy()
    # wq = (x + sg(q - x)) / sf, x = w sf, sf = kmax / (t std): d wq / d t = -(x - q) / (sf t)
    sf = quantizer.scale_factor(tf.constant(w)).numpy().astype(np.float64)
    x = w.astype(np.float64) * sf
    q = np.clip(np.round(x), -7, 7)
    expected = np.sum(upstream * -(x - q) / (sf * 2.0))
    np.testing.assert_allclose(grad, expected, rtol=1e-4)
    assert grad != 0.0


def test_trainable_quantizer_serves_one_weight():
    quantizer = qops.TrainableStdWeightQuantizer()
    quantizer.build((3, 3), "kernel", keras.layers.Layer())
    with pytest.raises(ValueError, match="one weight of one layer"):
        quantizer.build((3, 3), "kernel", keras.layers.Layer(name="second"))


# Activations ------------------------------------------------------------------------------

@pytest.mark.parametrize("bitwidth,threshold,step", [(1, 0.5, 1.0), (2, 0.5, 1.0),
                                                     (4, 0.2, 0.4), (8, 3 / 255, 6 / 255)])
def test_discrete_relu_parameters(bitwidth, threshold, step):
    got_threshold, got_step = qops.discrete_relu_parameters(bitwidth)
    assert got_threshold == pytest.approx(threshold) and got_step == pytest.approx(step)


@pytest.mark.parametrize("bitwidth", range(1, 9))
def test_activation_levels_at_boundaries(bitwidth):
    threshold, step = qops.discrete_relu_parameters(bitwidth)
    levels = 2 ** bitwidth - 1
    k = np.arange(0, levels + 1, dtype=np.float64)
    delta = step * 1e-3
    below = (threshold + k * step - delta).astype(np.float32)
    above = (threshold + k * step + delta).astype(np.float32)
    out_below = qops.quantized_activation(below, threshold, step, step, levels).numpy()
    out_above = qops.quantized_activation(above, threshold, step, step, levels).numpy()
    np.testing.assert_allclose(out_below / step, k, atol=1e-4)  # up to the boundary: level k
    np.testing.assert_allclose(out_above / step, np.minimum(k + 1, levels), atol=1e-4)


@pytest.mark.parametrize("bitwidth", [1, 2])
def test_activation_exact_boundaries_with_unit_step(bitwidth):
    # Step 1 and threshold 0.5 are exact in float32: x = 0.5 + k gives exactly level k.
    levels = 2 ** bitwidth - 1
    x = np.array([-1.0, 0.0, 0.5] + [0.5 + k for k in range(1, levels + 2)], np.float32)
    out = qops.quantized_activation(x, 0.5, 1.0, 1.0, levels).numpy()
    expected = np.array([0, 0, 0] + [min(k, levels) for k in range(1, levels + 2)], np.float32)
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("bitwidth", [1, 2, 4, 8])
def test_activation_matches_numpy_formula(bitwidth):
    threshold, step = qops.discrete_relu_parameters(bitwidth)
    levels = 2 ** bitwidth - 1
    x = np.linspace(-2, 8, 4001, dtype=np.float32)
    t32, s32 = np.float32(threshold), np.float32(step)
    expected = s32 * np.clip(np.ceil((x - t32) / s32), 0, levels)
    np.testing.assert_array_equal(
        qops.quantized_activation(x, threshold, step, step, levels).numpy(), expected)


def test_activation_gradient_is_clipped_linear():
    threshold, step, levels = 0.2, 0.4, 15
    x = tf.Variable(np.array([-1.0, 0.1, 0.3, 3.0, 6.1, 6.3, 9.0], np.float32))
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(qops.quantized_activation(x, threshold, step, step, levels))
    # 1 strictly inside (0.2, 6.2), 0 outside.
    np.testing.assert_array_equal(tape.gradient(y, x).numpy(), [0, 0, 1, 1, 1, 0, 0])


def test_activation_parameters_get_gradients():
    t, s = tf.Variable(0.2), tf.Variable(0.4)
    x = tf.constant([0.5, 1.7, 9.0])
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(qops.quantized_activation(x, t, s, s, 15))
    dt, ds = tape.gradient(y, [t, s])
    # y = s * (z + sg(level - z)) with z = (x - t) / s inside the range.
    # dy/dt = -1 per inside point (2 of them); dy/ds = level - (x - t)/s per inside point
    # + level for the saturated one.
    assert float(dt) == pytest.approx(-2.0)
    z = (np.array([0.5, 1.7]) - 0.2) / 0.4
    assert float(ds) == pytest.approx(np.sum(np.ceil(z) - z) + 15, rel=1e-5)


@pytest.mark.parametrize("bad", [0, 9, 3.0, False])
def test_activation_bitwidth_errors(bad):
    with pytest.raises(ValueError, match=r"1\.\.8"):
        qops.check_activation_bitwidth(bad)


def test_trainable_quantizers_are_never_merged_by_keras_serialization(tmp_path):
    """Keras's SavedModel loader shares objects it can hash; a trainable quantizer owns a
    variable, so two of the same configuration must stay two (regression test)."""
    from cnn2snn_tfmot.quantization import layers as qlayers
    from cnn2snn_tfmot.tfkeras import keras

    model = keras.Sequential([
        keras.Input((6, 6, 2)),
        qlayers.QuantizedSeparableConv2D(
            3, 3, quantizer=qops.TrainableStdWeightQuantizer(2.5, 4),
            quantizer_dw=qops.TrainableStdWeightQuantizer(2.5, 4), name="sep")])
    model.save(str(tmp_path / "saved"))
    layer = keras.models.load_model(str(tmp_path / "saved")).get_layer("sep")
    assert layer.quantizer is not layer.quantizer_dw
    assert layer.quantizer == layer.quantizer_dw  # same configuration
    with pytest.raises(TypeError):
        hash(layer.quantizer)
