"""BrainChip's cnn2snn "Advanced CNN2SNN tutorial", with cnn2snn replaced by cnn2snn_tfmot.

Differences from the original, all forced by the environment:
* ``import cnn2snn_tfmot`` comes first, so that ``tensorflow.keras`` is Keras 2 (tf_keras), which
  TFMOT needs (the same as setting TF_USE_LEGACY_KERAS=1 before importing TensorFlow);
* figures are written to PNG files (``--output-dir``, default examples/output) instead of shown;
* ``add_gamma_constraint`` comes from cnn2snn_tfmot (the original imports it from akida_models);
* a fixed random seed, and a few printed figures (parameter totals, distinct quantized values)
  so that a test can check what the tutorial shows.

Run: ``python examples/advanced_tutorial.py [--output-dir DIR]``
"""
import argparse
import os

import matplotlib

import cnn2snn_tfmot  # noqa: F401  (first: routes tensorflow.keras to tf_keras)

matplotlib.use("Agg")  # no screen: figures go to files

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--output-dir", default=os.path.join(os.path.dirname(__file__), "output"))
OUTPUT_DIR = parser.parse_args().output_dir
os.makedirs(OUTPUT_DIR, exist_ok=True)


def show(figure_name):
    """Stands for plt.show(): writes the current figure to OUTPUT_DIR/<figure_name>.png."""
    import matplotlib.pyplot as plt

    path = os.path.join(OUTPUT_DIR, figure_name + ".png")
    plt.savefig(path)
    plt.close("all")
    print(f"Figure written to {path}")


######################################################################
# 1. Design a CNN2SNN quantized model
######################################################################

from tensorflow.keras import Input, Sequential, layers
from tensorflow.keras.utils import set_random_seed

set_random_seed(0)

# Create a native Keras toy model
model_keras = Sequential([
    # Input layer
    Input(shape=(28, 28, 1)),
    # Conv + MaxPool + BatchNorm + ReLU
    layers.Conv2D(8, 3),
    layers.MaxPool2D(),
    layers.BatchNormalization(),
    layers.ReLU(),
    # Flatten + Dense + Softmax
    layers.Flatten(),
    layers.Dense(10),
    layers.Softmax()
])

model_keras.summary()
print(f"Total params (native Keras model): {model_keras.count_params():,}")

from cnn2snn_tfmot.quantization import layers as qlayers
from cnn2snn_tfmot.quantization import quantizers as qops

# Prepare weight quantizers
q1 = qops.MaxQuantizer(bitwidth=8)
q2 = qops.MaxQuantizer(bitwidth=4)

# Get layer names to set them in the quantized model
names = [layer.name for layer in model_keras.layers]

# Create a quantized model, equivalent to the native Keras model
model_quantized = Sequential([
    # Input layer
    Input(shape=(28, 28, 1)),
    # Conv + MaxPool + BatchNorm + ReLU
    qlayers.QuantizedConv2D(8, 3, quantizer=q1, name=names[0]),
    layers.MaxPool2D(name=names[1]),
    layers.BatchNormalization(name=names[2]),
    qlayers.QuantizedReLU(bitwidth=4, name=names[3]),
    # Flatten + Dense + Softmax
    layers.Flatten(name=names[4]),
    qlayers.QuantizedDense(10, quantizer=q2, name=names[5]),
    layers.Softmax(name=names[6]),
])

model_quantized.summary()
print(f"Total params (quantized model): {model_quantized.count_params():,}")

from cnn2snn_tfmot import load_partial_weights

load_partial_weights(model_quantized, model_keras)

######################################################################
# 2. Weight Quantizer Details
######################################################################

import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

# Retrieve weights and quantizer of the QuantizedDense layer
dense_name = names[5]
quantizer = model_quantized.get_layer(dense_name).quantizer
w = model_quantized.get_layer(dense_name).get_weights()[0]

# Artificially add outliers
w[:5, :] = 0.5

# Compute discretized weights
wq = quantizer.quantize(tf.constant(w)).numpy()


# Show original and discretized weights histograms
def plot_discretized_weights(w, wq):
    xlim = [-0.095, 0.53]
    fig, (ax1, ax2) = plt.subplots(1, 2)
    ax1.hist(w.flatten(), bins=50)
    ax1.set_xlim(xlim)
    ax1.get_yaxis().set_visible(False)
    ax1.title.set_text("Original weights distribution")

    vals, counts = np.unique(wq, return_counts=True)
    ax2.bar(vals, counts, 0.005)
    ax2.set_xlim(xlim)
    ax2.get_yaxis().set_visible(False)
    ax2.title.set_text("Discretized weights distribution")

    plt.tight_layout()


plot_discretized_weights(w, wq)
show("max_quantizer_weights")
# The "small" weights are all but the five rows of outliers.
max_small_values = len(np.unique(wq[5:, :]))
print(f"MaxQuantizer: small weights discretized on {max_small_values} values")


# Define a custom weight quantizer
class CustomStdQuantizer(qops.LinearWeightQuantizer):
    """This is a custom weight quantizer that defines the scale factor based
    on the standard deviation of the weights.

    The weights in range (-2*std, 2*std) are quantized into (2**bitwidth - 1)
    levels and the weights outside this range are clipped to ±2*std.
    """

    def scale_factor(self, w):
        std_dev = tf.math.reduce_std(w)
        return self.kmax_ / (2 * std_dev)


quantizer_std = CustomStdQuantizer(bitwidth=4)

# Compute discretized weights
wq = quantizer_std.quantize(tf.constant(w)).numpy()

# Show original and discretized weights histograms
plot_discretized_weights(w, wq)
show("custom_std_quantizer_weights")
custom_small_values = len(np.unique(wq[5:, :]))
print(f"CustomStdQuantizer: small weights discretized on {custom_small_values} values")

######################################################################
# 3. Quantized Activation Layer Details
######################################################################

# Create an ActivationDiscreteRelu layer
act_layer = qlayers.ActivationDiscreteRelu(bitwidth=4)
print(f"Activation step height: {act_layer.step_height.numpy():.2f}")

# Compute quantized activations for input potentials between -1 and 7
input_potentials = np.arange(-1, 7, 0.01).astype(np.float32)
activations = act_layer(input_potentials)

# Plot quantized activations
plt.plot(input_potentials, activations.numpy(), '.')
plt.vlines(3, 0, 6, 'k', (0, (1, 5)))
plt.title("Quantized activations with ActivationDiscreteRelu")
plt.tight_layout()
show("activation_discrete_relu")


class CustomQuantizedActivation(qlayers.QuantizedActivation):

    def __init__(self, bitwidth, max_value, **kwargs):
        super().__init__(bitwidth, **kwargs)
        self.max_value = max_value
        self.step_height_ = tf.constant(max_value / self.levels)

    @property
    def step_height(self):
        return self.step_height_

    @property
    def step_width(self):
        return self.step_height_

    @property
    def threshold(self):
        return 0.5 * self.step_height_

    def get_config(self):
        config = super().get_config()
        config.update({'max_value': self.max_value})
        return config


# Create a custom quantized activation layer
custom_act_layer = CustomQuantizedActivation(bitwidth=4, max_value=3)
print(f"Custom activation step height: "
      f"{custom_act_layer.step_height.numpy():.2f}")

# Compute new quantized activations
new_activations = custom_act_layer(input_potentials)

# Plot new quantized activations
plt.plot(input_potentials, activations.numpy(), '.')
plt.plot(input_potentials, new_activations.numpy(), '.')
plt.vlines(3, 0, 6, 'k', (0, (1, 5)))
plt.legend(["ActivationDiscreteRelu", "CustomQuantizedActivation"])
plt.title("Quantized activations with CustomQuantizedActivation")
plt.tight_layout()
show("custom_quantized_activation")

######################################################################
# 4. How to deal with too high scale factors
######################################################################

from cnn2snn_tfmot import add_gamma_constraint

# Add BN gamma constraint on all BN layers of the model
model_keras_with_gamma_constraint = add_gamma_constraint(model_keras)
print("Gamma constraint added to the BatchNormalization layers")
