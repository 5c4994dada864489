"""Bring your own model: keras.applications.MobileNet (Keras 3) to Akida with no hand edit.

A MobileNet (alpha 0.25, 64x64x3 inputs, no pretrained weights: nothing is downloaded) built
with Keras 3 goes through ``adapt`` (Keras 3 intake, exact rewrites, then the architecture
changes Akida 1.0 needs, each listed), is fine-tuned on MNIST resized to 64x64x3 (the shipped
test set: the first images train, the last 2,000 test), quantized (8-bit input weights, 4-bit
weights and activations, input scaling remembered), retrained a little, checked and converted.
Prints the float, quantized and Akida accuracies as a table and writes ``summary.json``.

Run: ``python examples/byom_mobilenet.py [--train-images N] [--epochs N] [--qat-epochs N]``
"""
import argparse
import json
import os
import time

import numpy as np

from cnn2snn_tfmot import (
    GammaClipping,
    ScaleFactorMonitor,
    adapt,
    add_gamma_constraint,
    check_model_compatibility,
    convert,
    quantize,
)
from cnn2snn_tfmot.data.datasets import mnist_split
from cnn2snn_tfmot.data.zoo import calibrate_batchnorm
from cnn2snn_tfmot.tfkeras import keras, tf

SIZE = 64


def step(message):
    print(f"\n== {message}", flush=True)


def rgb64(images):
    """MNIST digits (N, 28, 28, 1) as uint8 (N, 64, 64, 3) images, resized with TensorFlow."""
    resized = tf.image.resize(images.astype(np.float32), (SIZE, SIZE))
    rgb = tf.image.grayscale_to_rgb(resized)
    return tf.cast(tf.clip_by_value(tf.round(rgb), 0, 255), tf.uint8).numpy()


def accuracy(labels, outputs):
    return float(np.mean(np.argmax(outputs.reshape(len(labels), -1), axis=1) == labels))


def mobilenet(flavour, alpha):
    if flavour == "keras3":
        import keras as keras3  # the user's Keras 3 model: adapt() rebuilds it as tf_keras

        return keras3.applications.MobileNet(alpha=alpha, input_shape=(SIZE, SIZE, 3),
                                             weights=None, classes=10)
    return keras.applications.MobileNet(alpha=alpha, input_shape=(SIZE, SIZE, 3),
                                        weights=None, classes=10)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join(here, "output", "byom"))
    parser.add_argument("--flavour", choices=("keras3", "tf_keras"), default="keras3",
                        help="which Keras builds the MobileNet")
    parser.add_argument("--alpha", type=float, default=0.25)
    parser.add_argument("--train-images", type=int, default=6000)
    parser.add_argument("--test-images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10, help="float fine-tuning epochs")
    parser.add_argument("--qat-epochs", type=int, default=2, help="quantization-aware epochs")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    keras.utils.set_random_seed(args.seed)
    os.makedirs(args.output_dir, exist_ok=True)
    started = time.time()

    step(f"Data: MNIST resized to {SIZE}x{SIZE}x3, {args.train_images} training images, "
         f"{args.test_images} test images")
    (train, y_train), (test, y_test) = mnist_split()
    images_train, y_train = rgb64(train[:args.train_images]), y_train[:args.train_images]
    images_test, y_test = rgb64(test[-args.test_images:]), y_test[-args.test_images:]
    x_train = images_train.astype(np.float32) / 255
    x_test = images_test.astype(np.float32) / 255

    step(f"adapt(): keras.applications.MobileNet (alpha {args.alpha}, {args.flavour})")
    model, changes = adapt(mobilenet(args.flavour, args.alpha))
    exact = sum(change.exact for change in changes)
    print(changes)
    print(f"{len(changes)} changes: {exact} keep the function, {len(changes) - exact} change it "
          "(fine-tuning follows)")

    step(f"Float fine-tuning: {args.epochs} epochs, BatchNormalization gammas kept >= 1e-2")
    model = add_gamma_constraint(model)
    loss = keras.losses.SparseCategoricalCrossentropy()  # the model ends with its softmax
    model.compile(keras.optimizers.Adam(2e-3), loss, metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=64, verbose=2,
              callbacks=[GammaClipping(1e-2)])
    # The moving statistics lag behind a short training: measure them on training images.
    calibrate_batchnorm(model, x_train[:1024])
    float_accuracy = accuracy(y_test, model.predict(x_test, batch_size=256, verbose=0))
    print(f"float accuracy: {float_accuracy:.2%}")

    step("Quantize (8/4/4), remembering input_scaling=(255, 0); quantization-aware training")
    quantized = quantize(model, weight_quantization=4, activ_quantization=4,
                         input_weight_quantization=8, input_scaling=(255, 0))
    ptq_accuracy = accuracy(y_test, quantized.predict(x_test, batch_size=256, verbose=0))
    print(f"quantized accuracy before retraining: {ptq_accuracy:.2%}")
    quantized.compile(keras.optimizers.Adam(2e-4), loss, metrics=["accuracy"])
    quantized.fit(x_train, y_train, epochs=args.qat_epochs, batch_size=64, verbose=2,
                  callbacks=[ScaleFactorMonitor(on_violation="stop")])
    keras_outputs = quantized.predict(x_test, batch_size=256, verbose=0)
    quantized_accuracy = accuracy(y_test, keras_outputs)
    print(f"quantized accuracy: {quantized_accuracy:.2%}")

    step("check_model_compatibility() and convert() (the remembered input scaling)")
    check_model_compatibility(quantized)
    akida_model = convert(quantized, os.path.join(args.output_dir, "mobilenet.akida"))
    akida_model.summary()
    akida_outputs = akida_model.predict(images_test)
    akida_accuracy = accuracy(y_test, akida_outputs)
    agreement = float(np.mean(np.argmax(keras_outputs, 1)
                              == np.argmax(akida_outputs.reshape(len(y_test), -1), 1)))
    quantized.save(os.path.join(args.output_dir, "mobilenet_quantized.h5"))

    summary = {"flavour": args.flavour, "alpha": args.alpha, "train_images": args.train_images,
               "test_images": args.test_images, "epochs": args.epochs,
               "qat_epochs": args.qat_epochs, "changes": len(changes),
               "exact_changes": exact, "float_accuracy": float_accuracy,
               "ptq_accuracy": ptq_accuracy, "quantized_accuracy": quantized_accuracy,
               "akida_accuracy": akida_accuracy, "agreement": agreement,
               "seconds": round(time.time() - started, 1)}
    with open(os.path.join(args.output_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    step("Results")
    print("| model | accuracy |\n|---|---|")
    print(f"| float Keras (adapted MobileNet 0.25, {args.epochs} epochs) | "
          f"{float_accuracy:.2%} |")
    print(f"| quantized Keras (8/4/4, {args.qat_epochs} epochs QAT) | "
          f"{quantized_accuracy:.2%} |")
    print(f"| Akida (emulated) | {akida_accuracy:.2%} |")
    print(f"| Keras-vs-Akida argmax agreement | {agreement:.2%} |")
    print(f"\n{summary['seconds']:.0f} s in all")


if __name__ == "__main__":
    main()
