"""Trains a pretrained model of the zoo and writes its folder (cnn2snn_tfmot.zoo.pretrained).

Each recipe is seeded and measures its models on data it did not train on; the figures go into
the folder's manifest with this command. The shipped folders were written by:

    python examples/train_pretrained.py mnist --overwrite

and ``cnn2snn_tfmot.zoo.pretrained("mnist")`` reads them back.

Run: ``python examples/train_pretrained.py NAME [--output DIR] [--overwrite]``; the default
output is the package's own weights folder (cnn2snn_tfmot/data/zoo/weights/NAME).
"""
import argparse
import os
import time

import numpy as np

from cnn2snn_tfmot import (
    GammaClipping,
    ScaleFactorMonitor,
    add_gamma_constraint,
    convert,
    hardware_exact,
    load_partial_weights,
    quantize,
)
from cnn2snn_tfmot.data.datasets import mnist_split
from cnn2snn_tfmot.data.zoo import mnist_cnn
from cnn2snn_tfmot.data.zoo.pretrained import WEIGHTS_DIR, load_pretrained, save_pretrained
from cnn2snn_tfmot.tfkeras import keras


def _accuracy(labels, outputs) -> float:
    return float(np.mean(np.argmax(outputs.reshape(len(labels), -1), axis=1) == labels))


def train_mnist(seed: int):
    """The demo's CNN (examples/mnist_end_to_end.py): 6 float epochs, quantized 8/4/4, 2 epochs
    of QAT, then one of hardware-exact QAT, on the first 8,000 images of the MNIST test set
    shipped in the package; measured on the last 2,000."""
    keras.utils.set_random_seed(seed)
    (images_train, y_train), (images_test, y_test) = mnist_split()
    x_train, x_test = images_train / np.float32(255), images_test / np.float32(255)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = add_gamma_constraint(mnist_cnn())
    model.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=6, batch_size=64, verbose=2,
              callbacks=[GammaClipping(1e-2)])
    quantized = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    quantized.compile(keras.optimizers.Adam(1e-4), loss, metrics=["accuracy"])
    quantized.fit(x_train, y_train, epochs=2, batch_size=64, verbose=2,
                  callbacks=[ScaleFactorMonitor(on_violation="stop")])
    exact = hardware_exact(quantized)
    exact.compile(keras.optimizers.Adam(2e-5), loss, metrics=["accuracy"])
    exact.fit(x_train, y_train, epochs=1, batch_size=64, verbose=2)
    load_partial_weights(quantized, exact)  # what the chip-exact epoch learned
    return dict(
        description="MNIST CNN (conv 32 + 2 separable 64, dense 10), 8-bit input weights, "
                    "4-bit weights and activations",
        float_model=model, quantized_model=quantized,
        class_names=[str(digit) for digit in range(10)],
        evaluation=(x_test, images_test, y_test),
        evaluated_on="MNIST test set images 8000-9999 (the training used images 0-7999)")


#: Name -> recipe returning the models and the evaluation data.
RECIPES = {"mnist": train_mnist}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--output", help="the folder to write (default: the package's)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing pretrained model's folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    output = args.output or os.path.join(WEIGHTS_DIR, args.name)
    started = time.time()
    trained = RECIPES[args.name](args.seed)
    akida_model = convert(trained["quantized_model"])
    command = f"python examples/train_pretrained.py {args.name} --overwrite"
    seconds = round(time.time() - started, 1)
    path = save_pretrained(output, args.name, trained["description"], trained["float_model"],
                           trained["quantized_model"], akida_model, trained["class_names"],
                           {}, command, overwrite=args.overwrite)
    # The figures are those of the models as the package ships and reloads them.
    shipped = load_pretrained(path)
    x_test, images_test, y_test = trained["evaluation"]
    keras_outputs = shipped.quantized_model.predict(x_test, batch_size=500, verbose=0)
    akida_outputs = shipped.akida_model.predict(images_test)
    metrics = {
        "float_accuracy": round(_accuracy(y_test, shipped.float_model.predict(
            x_test, batch_size=500, verbose=0)), 4),
        "quantized_accuracy": round(_accuracy(y_test, keras_outputs), 4),
        "akida_accuracy": round(_accuracy(y_test, akida_outputs), 4),
        "agreement": round(float(np.mean(
            np.argmax(akida_outputs.reshape(len(y_test), -1), 1)
            == np.argmax(keras_outputs.reshape(len(y_test), -1), 1))), 4),
        "evaluated_on": trained["evaluated_on"], "training_seconds": seconds}
    save_pretrained(path, args.name, trained["description"], shipped.float_model,
                    shipped.quantized_model, shipped.akida_model, shipped.class_names, metrics,
                    command, overwrite=True)
    print(f"{path}: {metrics}")


if __name__ == "__main__":
    main()
