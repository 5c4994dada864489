"""Post-training and quantization-aware quantization quality on the shipped MNIST data."""
import numpy as np
import pytest

from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.data.datasets import mnist_split
from cnn2snn_tfmot.data.zoo import mnist_cnn
from cnn2snn_tfmot.rewriting.quantizing import quantize
from cnn2snn_tfmot.tfkeras import keras


def accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=500, verbose=0), 1) == y))


@pytest.mark.slow
def test_quantization_and_conversion_fidelity():
    """Issue figures: float / PTQ / QAT / Akida accuracy and Keras-vs-Akida agreement."""
    keras.utils.set_random_seed(0)
    (x_train, y_train), (images_test, y_test) = mnist_split()
    x_train, x_test = x_train.astype(np.float32) / 255, images_test.astype(np.float32) / 255
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = mnist_cnn()
    model.compile(keras.optimizers.Adam(1e-3), loss)
    model.fit(x_train, y_train, epochs=6, batch_size=64, verbose=0)
    float_accuracy = accuracy(model, x_test, y_test)

    quantized = quantize(model, weight_quantization=4, activ_quantization=4,
                         input_weight_quantization=8)
    ptq_accuracy = accuracy(quantized, x_test, y_test)
    quantized.compile(keras.optimizers.Adam(1e-4), loss)
    quantized.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    qat_accuracy = accuracy(quantized, x_test, y_test)
    akida_model = convert(quantized, input_scaling=(255, 0))
    akida_outputs = akida_model.predict(images_test, engine="tf").reshape(len(y_test), -1)
    akida_accuracy = float(np.mean(np.argmax(akida_outputs, 1) == y_test))
    keras_argmax = np.argmax(quantized.predict(x_test, batch_size=500, verbose=0), 1)
    agreement = float(np.mean(np.argmax(akida_outputs, 1) == keras_argmax))
    print(f"\nMNIST (train 8,000 / test 2,000): float {float_accuracy:.2%}, quantize(8/4/4) "
          f"{ptq_accuracy:.2%}, after 2 epochs of QAT {qat_accuracy:.2%}, Akida "
          f"{akida_accuracy:.2%}, Keras-vs-Akida argmax agreement {agreement:.2%}")
    assert float_accuracy > 0.97
    assert ptq_accuracy > 0.9  # not a broken quantization, before any retraining
    assert qat_accuracy >= float_accuracy - 0.01
    assert akida_accuracy >= float_accuracy - 0.01
    assert agreement >= 0.98
