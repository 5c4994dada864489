"""Trains a pretrained model of the zoo and writes its folder (cnn2snn_tfmot.zoo.pretrained).

Each recipe is seeded and measures its models on data it did not train on; the figures go into
the folder's manifest with this command. The shipped folders were written by:

    python examples/train_pretrained.py mnist --overwrite      # about 4 minutes here
    python examples/train_pretrained.py cifar10 --overwrite    # 1 to 2 hours on 2 cores

and ``cnn2snn_tfmot.zoo.pretrained(name)`` reads them back. The "cifar10" recipe is
examples/cifar10.py with its defaults (it reads the CIFAR-10 training set as JPEG class
folders, ``--data``); ``--from-run DIR`` makes the folder of the models an earlier
``examples/cifar10.py --output-dir DIR`` wrote (float.h5, quantized.h5, summary.json) instead of
training again, measuring them on the same validation split.

Run: ``python examples/train_pretrained.py NAME [--output DIR] [--overwrite] [--data DIR]
[--from-run DIR]``; the default output is the package's own weights folder
(cnn2snn_tfmot/data/zoo/weights/NAME).
"""
import argparse
import json
import os
import time

import cifar10  # examples/cifar10.py, next to this script
import numpy as np

from cnn2snn_tfmot import (
    GammaClipping,
    ScaleFactorMonitor,
    add_gamma_constraint,
    convert,
    hardware_exact,
    load_partial_weights,
    load_quantized_model,
    quantize,
)
from cnn2snn_tfmot.data.datasets import mnist_split
from cnn2snn_tfmot.data.zoo import mnist_cnn
from cnn2snn_tfmot.data.zoo.pretrained import WEIGHTS_DIR, load_pretrained, save_pretrained
from cnn2snn_tfmot.tfkeras import keras


def _accuracy(labels, outputs) -> float:
    return float(np.mean(np.argmax(outputs.reshape(len(labels), -1), axis=1) == labels))


def _agreement(akida_outputs, keras_outputs) -> float:
    count = len(akida_outputs)
    return round(float(np.mean(np.argmax(akida_outputs.reshape(count, -1), 1)
                               == np.argmax(keras_outputs.reshape(count, -1), 1))), 4)


def train_mnist(args):
    """The demo's CNN (examples/mnist_end_to_end.py): 6 float epochs, quantized 8/4/4, 2 epochs
    of QAT, then one of hardware-exact QAT, on the first 8,000 images of the MNIST test set
    shipped in the package; measured on the last 2,000."""
    keras.utils.set_random_seed(args.seed)
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
        float_model=model, quantized_model=quantized, network="`mnist_cnn`, 8/4/4",
        class_names=[str(digit) for digit in range(10)],
        evaluation=(x_test, images_test, y_test),
        evaluated_on="MNIST test set images 8000-9999 (the training used images 0-7999)")


def train_cifar10(args):
    """examples/cifar10.py with its defaults (its docstring gives the recipe: cifar_vgg, float
    training, quantized 8/4/4, QAT then hardware-exact QAT), on 45,000 of the 50,000 CIFAR-10
    training images; measured on the other 5,000 (stratified, seed 0). The float weights are
    shipped as float16 (the figures are those of the model as shipped)."""
    recipe = cifar10.parse_args(["--data", args.data, "--seed", str(args.seed)])
    if args.from_run:
        with open(os.path.join(args.from_run, "summary.json")) as handle:
            summary = json.load(handle)
        float_model = load_quantized_model(os.path.join(args.from_run, "float.h5"),
                                           compile=False)
        quantized = load_quantized_model(os.path.join(args.from_run, "quantized.h5"),
                                         compile=False)
        _, (images_val, y_val), class_names = cifar10.load_data(recipe, validation_only=True)
        seconds, made = summary.get("total_seconds"), _run_command(args.from_run, summary)
        if summary.get("float_model"):  # its float model came from an earlier run's folder
            earlier = os.path.dirname(os.path.abspath(summary["float_model"]))
            with open(os.path.join(earlier, "summary.json")) as handle:
                first = json.load(handle)
            seconds = round(seconds + first["float_seconds"], 1)
            made = f"{_run_command(earlier, first)}, then {made}"
    else:
        trained = cifar10.train(recipe)
        float_model, quantized = trained["float_model"], trained["quantized_model"]
        images_val, y_val = trained["validation"]
        class_names, summary, seconds = trained["class_names"], trained["summary"], None
        made = None
    # Described from the trained model itself (a --from-run folder may hold other widths).
    filters = [layer.filters for layer in float_model.layers
               if isinstance(layer, keras.layers.Conv2D)]
    stem = "" if filters[0] == 32 else f", stem={filters[0]}"
    network = f"cifar_vgg(widths={tuple(filters[1::2])}{stem})"
    steps = summary.get("learned_steps")
    how = f", learned steps ({steps.upper()})" if steps else ""
    return dict(
        description=f"CIFAR-10 VGG-like CNN (zoo.{network}: {len(filters)} convolutions, "
                    f"dense 10), 8-bit input weights, 4-bit weights and activations{how}",
        float_model=float_model, quantized_model=quantized, class_names=class_names,
        network=f"`{network}`, 8/4/4{how}",
        evaluation=(images_val / np.float32(255), images_val, y_val),
        evaluated_on=f"{len(y_val)} CIFAR-10 training images held out (stratified, seed "
                     f"{args.seed}; the training used the other {summary['train_images']})",
        float_dtype="float16", quantized_levels=True, training_seconds=seconds, made=made,
        timing={key: summary[key] for key in (
            "float_epoch_wall_s", "float_step_ms", "qat_epoch_wall_s", "qat_step_ms",
            "exact_epoch_wall_s", "exact_step_ms", "total_seconds", "cores", "epochs")
            if key in summary})


def _run_command(folder, summary):
    """The examples/cifar10.py command that wrote a run's folder, from its summary (the options
    it was given that differ from the defaults: its "options", or, in summaries written before
    it had them, the figures it recorded)."""
    options = summary.get("options")
    if options is None:
        options = _legacy_options(summary)
    words = []
    for key, value in options.items():
        if key == "float_model":  # the earlier run's folder, as it sits beside this one
            value = f"{os.path.basename(os.path.dirname(os.path.abspath(value)))}/float.h5"
        flag = f"--{key.replace('_', '-')}"
        if value is True:
            words.append(flag)
        elif isinstance(value, list):
            words.append(" ".join([flag, *map(str, value)]))
        else:
            words.append(f"{flag} {value}")
    return (f"python examples/cifar10.py {' '.join(words + [''])}--output-dir "
            f"{os.path.basename(os.path.normpath(folder))}")


def _legacy_options(summary):
    """The options of a summary that has no "options" (older runs), read from its figures."""
    defaults = cifar10.parse_args([])
    epochs = dict(zip(("epochs", "qat_epochs", "exact_epochs"), summary["epochs"]))
    options = {key: value for key, value in epochs.items()
               if value != getattr(defaults, key) and not (key == "epochs"
                                                           and summary.get("float_model"))}
    options.update({key: value for key, value in summary.get("recipe", {}).items()
                    if value != getattr(defaults, key)})
    alpha = summary.get("distill (alpha, temperature)", [0.0])[0]
    if alpha:
        options["distill"] = alpha
    if summary.get("float_model"):
        options["float_model"] = summary["float_model"]
    # Older summaries record the widths in the network's name only.
    widths = [int(w) for w in summary["network"].split("widths=[")[1].split("]")[0].split(",")]
    if tuple(widths) != tuple(defaults.widths):
        options["widths"] = widths
    return options


#: Name -> recipe (of the parsed arguments) returning the models and the evaluation data.
RECIPES = {"mnist": train_mnist, "cifar10": train_cifar10}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--output", help="the folder to write (default: the package's)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing pretrained model's folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default=cifar10.DEFAULT_DATA,
                        help="cifar10: the CIFAR-10 training set's class folders")
    parser.add_argument("--from-run", default=None,
                        help="cifar10: the --output-dir of an earlier examples/cifar10.py run "
                             "whose models to ship (no training)")
    args = parser.parse_args()
    if args.from_run and args.name != "cifar10":
        parser.error("--from-run applies to the cifar10 recipe only")
    output = args.output or os.path.join(WEIGHTS_DIR, args.name)
    started = time.time()
    trained = RECIPES[args.name](args)
    akida_model = convert(trained["quantized_model"])
    command = f"python examples/train_pretrained.py {args.name} --overwrite"
    seconds = trained.get("training_seconds") or round(time.time() - started, 1)
    float_dtype = trained.get("float_dtype", "float32")
    levels = trained.get("quantized_levels", False)
    path = save_pretrained(output, args.name, trained["description"], trained["float_model"],
                           trained["quantized_model"], akida_model, trained["class_names"],
                           {}, command, float_dtype=float_dtype, overwrite=args.overwrite,
                           quantized_levels=levels)
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
        "agreement": _agreement(akida_outputs, keras_outputs),
        # the quantized model computed with the chip's integers (hardware_exact): the Keras
        # model whose argmax the Akida model's must equal
        "hardware_exact_agreement": _agreement(akida_outputs, hardware_exact(
            shipped.quantized_model).predict(x_test, batch_size=500, verbose=0)),
        "evaluated_on": trained["evaluated_on"], "training_seconds": seconds}
    if "timing" in trained:
        metrics["timing"] = trained["timing"]
    if trained.get("made"):
        metrics["made_from_run"] = (
            f"{trained['made']}; then python examples/train_pretrained.py cifar10 --from-run "
            f"{os.path.basename(os.path.normpath(args.from_run))} --overwrite, which measured "
            "them again here as shipped")
    save_pretrained(path, args.name, trained["description"], shipped.float_model,
                    shipped.quantized_model, shipped.akida_model, shipped.class_names, metrics,
                    command, float_dtype=float_dtype, overwrite=True, quantized_levels=levels)
    print(f"{path}: {metrics}")
    print("README row (Pretrained models):")
    print(readme_row(args.name, trained["network"], metrics))


def readme_row(name: str, network: str, metrics: dict) -> str:
    """The model's row of the README's table of pretrained models (tests/test_pretrained.py
    checks the README's figures against the shipped manifests)."""
    figures = " | ".join(f"{metrics[key]:.2%}" for key in (
        "float_accuracy", "quantized_accuracy", "akida_accuracy", "agreement"))
    minutes = metrics["training_seconds"] / 60
    return (f"| `{name}` | {network} | {figures} | {metrics['evaluated_on']} | "
            f"{minutes:.0f} min |")


if __name__ == "__main__":
    main()
