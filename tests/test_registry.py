"""The layer registry is the one table: a type registered in a copy of it is quantized by
quantize(), configured by the Akida TFMOT scheme, read by the block reader and converted."""
import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot import (
    AkidaQuantizeScheme,
    check_model_compatibility,
    convert,
    quantize,
    quantize_scope,
)
from cnn2snn_tfmot.conversion.blocks import analyze
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.quantization.configs import NeuralQuantizeConfig
from cnn2snn_tfmot.quantization.layers import QuantizedLayerMixin, as_weight_quantizer
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


class ScaledConv2D(L.Conv2D):
    """A user's own convolution class (unknown to the default registry)."""


SCALED_CONV2D = registry.KernelDescription(
    ScaledConv2D, (registry.Kernel("kernel", "quantizer", "kernel", per_axis=True),), "conv")


class QuantizedScaledConv2D(QuantizedLayerMixin, ScaledConv2D):
    kernel_description = SCALED_CONV2D

    def __init__(self, filters, kernel_size, *args, quantizer=None, **kwargs):
        super().__init__(filters, kernel_size, *args, **kwargs)
        self.quantizer = as_weight_quantizer(quantizer, "quantizer", self.name)


class ScaledConv2DQuantizeConfig(NeuralQuantizeConfig):
    """The TFMOT config of ScaledConv2D."""

    kernel_description = SCALED_CONV2D


ENTRY = registry.NeuralType(QuantizedScaledConv2D, ScaledConv2DQuantizeConfig)


def float_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([
        keras.Input((10, 10, 1)),
        ScaledConv2D(4, 3, padding="same", name="scaled"), L.BatchNormalization(name="bn"),
        L.ReLU(name="relu"), L.Flatten(name="flat"), L.Dense(3, name="dense")])


@pytest.fixture
def extended():
    table = registry.current().copy()
    table.register(ENTRY)
    with registry.use(table):
        yield table


def test_copy_leaves_the_default_registry_unchanged(extended):
    assert registry.current() is extended
    with registry.use(registry.LayerRegistry()):
        assert registry.current().neural(L.Conv2D) is None
    assert extended.neural(ScaledConv2D) is ENTRY


def test_unregistered_type_is_refused_naming_it():
    with pytest.raises(ValueError, match="'scaled' of type ScaledConv2D is not supported"):
        quantize(float_model(), 4, 4, 8)


def test_quantize_the_scheme_and_the_block_reader_follow_the_registry(extended):
    model = float_model()
    quantized = quantize(model, 4, 4, 8)
    first = quantized.get_layer("scaled")
    assert type(first) is QuantizedScaledConv2D and first.quantizer.bitwidth == 8
    x = np.random.default_rng(0).uniform(size=(5, 10, 10, 1)).astype(np.float32)
    assert np.isfinite(quantized(x).numpy()).all()

    # The Akida TFMOT scheme gives the registered config by default.
    config = AkidaQuantizeScheme(4, 4).get_quantize_registry().get_quantize_config(
        model.get_layer("scaled"))
    assert type(config) is ScaledConv2DQuantizeConfig

    # The block reader reads it as a convolution; check and convert accept it.
    analysis = analyze(quantized)
    assert analysis.violations == []
    assert [block.neural.kind for block in analysis.blocks] == ["conv", "dense"]
    assert check_model_compatibility(quantized, input_scaling=(255, 0))
    akida_model = convert(quantized, input_scaling=(255, 0))
    assert [layer.layer_type for layer in akida_model.layers] == ["InputConvolutional",
                                                                  "FullyConnected"]


def test_tfmot_annotated_registered_type_converts_like_its_seed_twin(extended):
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    model = float_model()
    seed = quantize(model, 4, 4, 8)
    annotated = keras.Sequential([keras.Input((10, 10, 1)),
                                  annotate(ScaledConv2D(4, 3, padding="same", use_bias=True,
                                                        name="scaled")),
                                  annotate(L.ReLU(name="relu")), L.Flatten(name="flat"),
                                  annotate(L.Dense(3, name="dense"))])
    with quantize_scope({"ScaledConv2D": ScaledConv2D,
                         "ScaledConv2DQuantizeConfig": ScaledConv2DQuantizeConfig}):
        tfmot_model = tfmot.quantization.keras.quantize_apply(annotated,
                                                              AkidaQuantizeScheme(4, 4))
    from cnn2snn_tfmot import load_partial_weights

    load_partial_weights(tfmot_model, seed)
    x = np.random.default_rng(1).uniform(size=(5, 10, 10, 1)).astype(np.float32)
    # The default scheme quantizes the first layer with 4 bits like the others.
    seed_4bit = quantize(model, 4, 4, 4)
    np.testing.assert_allclose(tfmot_model(x).numpy(), seed_4bit(x).numpy(), atol=1e-5)
    assert [block.neural.kind for block in analyze(tfmot_model).blocks] == ["conv", "dense"]


def test_registered_type_calls_saves_and_reloads_outside_the_table_that_knew_it(tmp_path):
    """The quantized layers carry their kernel description as class data: once built, a model of
    a type registered only in a copy of the table runs, saves and reloads after that copy is no
    longer current (the table is consulted when quantizing, never when calling)."""
    table = registry.current().copy()
    table.register(ENTRY)
    with registry.use(table):
        quantized = quantize(float_model(), 4, 4, 8)
    assert registry.current().neural(ScaledConv2D) is None  # the copy is gone
    x = np.random.default_rng(2).uniform(size=(4, 10, 10, 1)).astype(np.float32)
    expected = quantized(x).numpy()
    path = str(tmp_path / "scaled.h5")
    quantized.save(path)
    with quantize_scope({"QuantizedScaledConv2D": QuantizedScaledConv2D}):
        reloaded = keras.models.load_model(path)
    assert type(reloaded.get_layer("scaled")) is QuantizedScaledConv2D
    np.testing.assert_array_equal(reloaded(x).numpy(), expected)


def test_quantized_layer_without_kernel_description_is_refused_naming_it():
    class Bare(QuantizedLayerMixin, L.Conv2D):
        pass

    with pytest.raises(TypeError, match="Bare derives from QuantizedLayerMixin without a "
                                        "`kernel_description`"):
        Bare(2, 3)
    with pytest.raises(TypeError, match="'Bare' has no `kernel_description`|Bare"):
        registry.NeuralType(Bare, ScaledConv2DQuantizeConfig)
