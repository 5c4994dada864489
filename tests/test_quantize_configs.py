"""TFMOT QuantizeConfigs and the Akida scheme: same function as the Quantized* layers."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.quantization.saving import load_partial_weights
from cnn2snn_tfmot.tfkeras import keras

from helpers import annotated_and_seed_models, make_qat_model, randomize_batchnorm

L = keras.layers
annotate = tfmot.quantization.keras.quantize_annotate_layer
quantize_apply = tfmot.quantization.keras.quantize_apply


@pytest.mark.parametrize("seed_value", [0, 1])
def test_tfmot_model_equals_seed_model_before_and_after_fit(seed_value):
    annotated, seed = annotated_and_seed_models(seed_value)
    randomize_batchnorm(annotated, seed_value)
    qat = make_qat_model(annotated)
    load_partial_weights(seed, qat)
    rng = np.random.default_rng(2)
    # Inputs up to 3 keep the 1- and 2-bit activations alive for any seed (checked on 8).
    x = (3 * rng.random((16, 12, 12, 3))).astype(np.float32)
    y = rng.integers(0, 10, 16)
    np.testing.assert_array_equal(qat(x).numpy(), seed(x).numpy())

    before = [w.numpy().copy() for w in qat.trainable_weights]
    qat.compile(keras.optimizers.Adam(1e-2),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = qat.fit(x, y, epochs=3, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, qat.trainable_weights)]
    names = [w.name for w, c in zip(qat.trainable_weights, changed) if not c]
    assert all(changed), f"not trained: {names}"
    # The trained quantizer variables mean the same in both kinds of model.
    load_partial_weights(seed, qat)
    np.testing.assert_array_equal(qat(x).numpy(), seed(x).numpy())


def test_scheme_inserts_no_default_8bit_quantizer():
    annotated, _ = annotated_and_seed_models()
    qat = make_qat_model(annotated)
    assert not any(isinstance(layer, tfmot.quantization.keras.QuantizeWrapper) and
                   type(layer.quantize_config).__module__.startswith("tensorflow_model")
                   for layer in qat.layers)
    assert not any(type(layer).__name__ == "QuantizeLayer" for layer in qat.layers)
    names = [w.name for w in qat.weights]
    assert not any(n.endswith(("_min:0", "_max:0")) for n in names), names
    # Layers that were not annotated stay themselves.
    assert type(qat.get_layer("pool")) is L.MaxPool2D


def test_registry_defaults_for_layers_annotated_without_config():
    model = keras.Sequential([
        keras.Input((8, 8, 1)), annotate(L.Conv2D(4, 3, name="c")), annotate(L.ReLU(name="r")),
        annotate(L.SeparableConv2D(4, 3, name="s")), L.Flatten(), annotate(L.Dense(3, name="d"))])
    with qc.quantize_scope():
        qat = quantize_apply(model, qc.AkidaQuantizeScheme(weight_bits=2, activ_bits=1))
    conv = qat.get_layer("quant_c").quantize_config
    assert conv.quantizer == qops.MaxPerAxisQuantizer(2)
    separable = qat.get_layer("quant_s").quantize_config
    assert separable.quantizer_dw == qops.MaxQuantizer(2)
    assert qat.get_layer("quant_r").quantize_config.quantizer == qc.ActivationQuantizer(1)
    registry = qc.AkidaQuantizeRegistry()
    assert not registry.supports(L.MaxPool2D()) and not registry.supports(L.Activation("softmax"))
    with pytest.raises(ValueError, match="'pool'.*MaxPooling2D"):
        registry.get_quantize_config(L.MaxPool2D(name="pool"))


@pytest.mark.parametrize("layer,config,match", [
    (L.Dense(3, name="d"), qc.Conv2DQuantizeConfig(), r"Conv2D layers; layer 'd' is a Dense"),
    (L.Conv2D(3, 3, activation="relu", name="c"), qc.Conv2DQuantizeConfig(),
     r"'c' has the fused activation 'relu'"),
    (L.ReLU(negative_slope=0.1, name="leaky"), qc.ReLUQuantizeConfig(4), "negative_slope"),
    (L.Activation("sigmoid", name="sig"), qc.ReLUQuantizeConfig(4), "sigmoid"),
])
def test_config_errors_name_the_layer(layer, config, match):
    model = keras.Sequential([keras.Input((6, 6, 2)), annotate(layer, config)])
    with pytest.raises(ValueError, match=match):
        make_qat_model(model)


def test_relu6_is_accepted_for_4_bits():
    # ReLU6 reaches the top 4-bit level (above 5.8), so quantizing its output is exact.
    model = keras.Sequential([keras.Input((4,)),
                              annotate(L.ReLU(max_value=6.0, name="r"), qc.ReLUQuantizeConfig(4))])
    x = np.linspace(-1, 9, 101, dtype=np.float32).reshape(-1, 1).repeat(4, 1)
    np.testing.assert_array_equal(make_qat_model(model)(x).numpy(),
                                  qlayers.ActivationDiscreteRelu(4)(x).numpy())


@pytest.mark.parametrize("config", [
    qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(3)),
    qc.SeparableConv2DQuantizeConfig(qops.MaxPerAxisQuantizer(4), qops.StdWeightQuantizer(2, 4)),
    qc.DenseQuantizeConfig(qops.TrainableStdWeightQuantizer(2.5, 6)),
    qc.ReLUQuantizeConfig(quantizer=qc.ActivationQuantizer(2, trainable=True))],
    ids=lambda c: type(c).__name__)
def test_config_serialization_round_trip(config):
    restored = keras.utils.deserialize_keras_object(keras.utils.serialize_keras_object(config))
    assert restored == config and restored is not config


def test_separable_config_refuses_per_axis_depthwise():
    with pytest.raises(ValueError, match="per tensor"):
        qc.SeparableConv2DQuantizeConfig(qops.MaxPerAxisQuantizer(4))


def test_bounded_relus_keep_their_clip_or_are_reported():
    """A ReLU's max_value is never dropped silently: the scheme's default config keeps it as
    the top level (with a warning naming the layer); an explicit config that differs says so."""
    x = np.linspace(-1, 9, 101, dtype=np.float32).reshape(-1, 1).repeat(4, 1)
    model = keras.Sequential([keras.Input((4,)), annotate(L.ReLU(max_value=3.0, name="r3"))])
    with pytest.warns(UserWarning, match=r"ReLU 'r3' clips at max_value=3.*steps of 0.2"):
        qat = make_qat_model(model)
    assert qat.get_layer("quant_r3").quantize_config.quantizer == qc.ActivationQuantizer(
        4, max_value=3.0)
    np.testing.assert_array_equal(qat(x).numpy(),
                                  qlayers.ActivationDiscreteRelu(4, max_value=3.0)(x).numpy())
    assert qat(x).numpy().max() == np.float32(3.0)
    explicit = keras.Sequential([keras.Input((4,)), annotate(L.ReLU(max_value=3.0, name="r3"),
                                                             qc.ReLUQuantizeConfig(4))])
    with pytest.warns(UserWarning, match=r"'r3' clips at max_value=3.*top level of 6.*replaces"):
        make_qat_model(explicit)
