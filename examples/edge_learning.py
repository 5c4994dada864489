"""Edge learning on CIFAR-10: new classes learned on the emulated Akida chip from 10 images each.

1. A small CNN (an input convolution and three separable blocks, 4x4x128 features) is trained
   on 8 of the 10 CIFAR-10 classes; its last block gets 1-bit activations (``quantize`` 4/4/8,
   then ``quantize_layer(..., 1)`` on the last ReLU) and a short quantization-aware training;
   it is converted to an Akida model.
2. ``add_learning_layer`` replaces the converted classifier by a learning FullyConnected layer
   (10 classes x ``--neurons`` neurons, 1-bit weights, ``num_weights`` = 1.2 x the median spike
   count of the extractor), which learns the 8 old classes on the chip (``fit`` of
   ``--old-shots`` labelled training images per class), then the 2 held-out classes from
   ``--shots`` images each.
3. Accuracy on a validation split (the last ``--val`` files of each class folder; the CIFAR-10
   test set is not used): the converted 8-class classifier, then the learning layer before and
   after the new classes, on the 10 classes, the 8 old ones (forgetting) and the 2 new ones,
   over ``--seeds`` seeds (each seed draws the layer's initial connections and the shots).

Prints a Markdown table (mean and range over the seeds) and writes ``summary.json`` to
``--output-dir``. ``--quick`` runs a tiny version (a few hundred images, one epoch) for CI.

Run: ``python examples/edge_learning.py [--data DIR] [--quick] [--seeds 5]``
"""
import argparse
import json
import os
import time

import numpy as np

from cnn2snn_tfmot import add_learning_layer, convert, quantize, quantize_layer
from cnn2snn_tfmot.data.image_files import ImageSource, open_images
from cnn2snn_tfmot.data.zoo import calibrate_batchnorm
from cnn2snn_tfmot.tfkeras import keras, tf

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = os.environ.get(
    "CNN2SNN_TFMOT_CIFAR10",
    os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "data", "cifar10", "train"))


def step(message):
    print(f"\n== {message}", flush=True)


def extractor_cnn(classes: int):
    """Conv 32 + pool -> separable 64 + pool -> separable 128 + pool -> separable 128 (the
    spikes, 4x4x128) -> dense; BatchNorm and ReLU in every block."""
    layers = keras.layers
    blocks = [keras.Input((32, 32, 3)),
              layers.Conv2D(32, 3, padding="same", use_bias=False, name="conv_0"),
              layers.BatchNormalization(momentum=0.9, name="conv_0_bn"),
              layers.MaxPool2D(padding="same", name="conv_0_pool"),
              layers.ReLU(name="conv_0_relu")]
    for index, (filters, pool) in enumerate(((64, True), (128, True), (128, False)), start=1):
        blocks += [layers.SeparableConv2D(filters, 3, padding="same", use_bias=False,
                                          name=f"separable_{index}"),
                   layers.BatchNormalization(momentum=0.9,
                                                    name=f"separable_{index}_bn")]
        if pool:
            blocks.append(layers.MaxPool2D(padding="same", name=f"separable_{index}_pool"))
        blocks.append(layers.ReLU(name=f"separable_{index}_relu"))
    blocks += [layers.Flatten(name="flatten"), layers.Dropout(0.3, name="dropout"),
               layers.Dense(classes, name="dense")]
    return keras.Sequential(blocks, name="cifar_extractor")


def load_split(data, train_per_class, val_per_class):
    """uint8 images and labels (0..9, the folders' order): the first ``train_per_class`` files
    of each class folder for training, the last ``val_per_class`` for validation."""
    source = open_images(data, (32, 32, 3))
    train_files, train_labels, val_files, val_labels = [], [], [], []
    for label in range(len(source.class_names)):
        files = [f for f, y in zip(source.files, source.labels) if y == label]
        if len(files) < train_per_class + val_per_class:
            raise ValueError(f"{data}: class '{source.class_names[label]}' has {len(files)} "
                             f"images, fewer than {train_per_class} + {val_per_class}.")
        train_files += files[:train_per_class]
        train_labels += [label] * train_per_class
        val_files += files[-val_per_class:]
        val_labels += [label] * val_per_class

    def decode(files, labels):
        part = ImageSource(data, (32, 32, 3), files=files, labels=np.asarray(labels, np.int64))
        return np.concatenate(list(part.batches(1024))), part.labels

    return decode(train_files, train_labels), decode(val_files, val_labels), source.class_names


def train(model, x, y, epochs, learning_rate, batch_size=64, seed=0):
    """Adam with random horizontal flips; x is uint8, the model sees x / 255."""
    model.compile(keras.optimizers.Adam(learning_rate),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=seed)
    dataset = dataset.map(lambda image, label: (
        tf.image.random_flip_left_right(tf.cast(image, tf.float32) / 255, seed=seed), label))
    model.fit(dataset.batch(batch_size).prefetch(2), epochs=epochs, verbose=2)


def keras_accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x / 255, verbose=0), axis=1) == y))


def class_means(features, labels, shots, val_features):
    """Reference: each validation sample goes to the class whose mean spike vector (over the
    same shots) is the closest in angle."""
    means = np.stack([features[shots][labels[shots] == c].mean(axis=0) for c in range(10)])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    return (val_features @ means.T).argmax(axis=1)


def summarize(values):
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "min": float(values.min()),
            "max": float(values.max()), "values": [float(v) for v in values]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="CIFAR-10 training folder, one sub-folder per class")
    parser.add_argument("--output-dir", default=os.path.join(HERE, "output", "edge_learning"))
    parser.add_argument("--new-classes", default="horse,truck",
                        help="the 2 classes held out of the extractor's training")
    parser.add_argument("--train", type=int, default=2500, help="training images per class")
    parser.add_argument("--val", type=int, default=500, help="validation images per class")
    parser.add_argument("--epochs", type=int, default=12, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=3, help="quantization-aware epochs")
    parser.add_argument("--neurons", type=int, default=10, help="learning neurons per class")
    parser.add_argument("--old-shots", type=int, default=500,
                        help="training images per old class learned on the chip")
    parser.add_argument("--shots", type=int, default=10, help="images per new class")
    parser.add_argument("--competition", type=float, default=0.1,
                        help="learning_competition of AkidaUnsupervised")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true",
                        help="a tiny run for CI: 300 images per class, one epoch each")
    parser.add_argument("--backend", choices=("direct", "custom", "tf"), default=None)
    args = parser.parse_args()
    if args.quick:
        args.train, args.val, args.epochs, args.qat_epochs = 300, 60, 1, 1
        args.old_shots, args.seeds = 60, 2
    keras.utils.set_random_seed(0)
    os.makedirs(args.output_dir, exist_ok=True)
    started = time.time()

    step(f"Data: {args.train} training and {args.val} validation images per class from "
         f"{args.data}")
    (x_train, y_train), (x_val, y_val), names = load_split(args.data, args.train, args.val)
    new = [names.index(name) for name in args.new_classes.split(",")]
    if len(new) != 2 or len(set(new)) != 2:
        raise SystemExit("--new-classes must name 2 different classes.")
    old = [label for label in range(len(names)) if label not in new]
    # Classes as the learning layer sees them: the old ones 0..7, the new ones 8 and 9.
    order = old + new
    remap = np.empty(len(names), np.int64)
    remap[order] = np.arange(len(names))
    y_train, y_val = remap[y_train], remap[y_val]
    old_train = y_train < 8
    old_val, new_val = y_val < 8, y_val >= 8
    print(f"old classes: {', '.join(names[i] for i in old)}; new: "
          f"{', '.join(names[i] for i in new)}")

    step(f"Float training on the 8 old classes ({args.epochs} epochs)")
    model = extractor_cnn(8)
    train(model, x_train[old_train], y_train[old_train], args.epochs, 2e-3)
    float_accuracy = keras_accuracy(model, x_val[old_val], y_val[old_val])
    # BatchNorm folds into the weights: its moving statistics must be those of the data (a
    # short run leaves them behind).
    calibrate_batchnorm(model, x_train[old_train][:2000] / 255)

    step(f"Quantization 4/4/8, last ReLU 1-bit, QAT ({args.qat_epochs} epochs)")
    quantized = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    quantized = quantize_layer(quantized, "separable_3_relu", 1)
    train(quantized, x_train[old_train], y_train[old_train], args.qat_epochs, 2e-4)
    quantized_accuracy = keras_accuracy(quantized, x_val[old_val], y_val[old_val])
    akida_model = convert(quantized, class_names=[names[i] for i in old])
    akida_model.summary()
    akida_model.save(os.path.join(args.output_dir, "converted.akida"))
    classifier = akida_model.predict_classes(x_val, backend=args.backend)
    classifier_old = float(np.mean(classifier[old_val] == y_val[old_val]))
    classifier_all = float(np.mean(classifier == y_val))
    spikes = akida_model.layers[-2].output_dims
    extractor = akida_model.truncated(len(akida_model.layers) - 1)
    features = extractor.forward(x_train, backend=args.backend).reshape(len(x_train), -1)
    val_features = extractor.forward(x_val, backend=args.backend).reshape(len(x_val), -1)
    features, val_features = features.astype(np.float32), val_features.astype(np.float32)

    results = {key: [] for key in ("learned_old_before", "learned_all_before", "old_after",
                                   "new_after", "all_after", "means_old", "means_new",
                                   "means_all", "num_weights", "fit_seconds")}
    for seed in range(args.seeds):
        step(f"Seed {seed}: a learning layer of 10 x {args.neurons} neurons on the chip")
        rng = np.random.default_rng(seed)
        old_shots = np.concatenate([rng.choice(np.flatnonzero(y_train == c), args.old_shots,
                                               replace=False) for c in range(8)])
        rng.shuffle(old_shots)
        new_shots = np.concatenate([rng.choice(np.flatnonzero(y_train == c), args.shots,
                                               replace=False) for c in (8, 9)])
        rng.shuffle(new_shots)
        learner = add_learning_layer(akida_model, 10, args.neurons, x=x_train[old_shots[:500]],
                                     replace_classifier=True, backend=args.backend,
                                     learning_competition=args.competition, seed=seed)
        learner.class_names = [names[i] for i in order]  # one per learned class
        tick = time.time()
        learner.fit(x_train[old_shots], y_train[old_shots], backend=args.backend)
        guesses = learner.predict_classes(x_val, backend=args.backend)
        results["learned_old_before"].append(float(np.mean(guesses[old_val] ==
                                                           y_val[old_val])))
        results["learned_all_before"].append(float(np.mean(guesses == y_val)))
        learner.fit(x_train[new_shots], y_train[new_shots], backend=args.backend)
        results["fit_seconds"].append(time.time() - tick)
        guesses = learner.predict_classes(x_val, backend=args.backend)
        results["old_after"].append(float(np.mean(guesses[old_val] == y_val[old_val])))
        results["new_after"].append(float(np.mean(guesses[new_val] == y_val[new_val])))
        results["all_after"].append(float(np.mean(guesses == y_val)))
        results["num_weights"].append(learner.learning.num_weights)
        guesses = class_means(features, y_train, np.concatenate([old_shots, new_shots]),
                              val_features)
        results["means_old"].append(float(np.mean(guesses[old_val] == y_val[old_val])))
        results["means_new"].append(float(np.mean(guesses[new_val] == y_val[new_val])))
        results["means_all"].append(float(np.mean(guesses == y_val)))
        print({key: round(values[-1], 4) for key, values in results.items()}, flush=True)
        if seed == 0:
            learner.save(os.path.join(args.output_dir, "learner_seed0.akida"))

    step("Accuracy on the validation split (mean [min, max] over the seeds)")

    def cell(values):
        s = summarize(values)
        return f"{100 * s['mean']:.2f}% [{100 * s['min']:.2f}, {100 * s['max']:.2f}]"

    rows = [
        ("float Keras, 8 classes", f"{100 * float_accuracy:.2f}%", "", ""),
        ("quantized Keras (4/4/8, last block 1-bit), 8 classes",
         f"{100 * quantized_accuracy:.2f}%", "", ""),
        ("Akida, converted classifier", f"{100 * classifier_old:.2f}%", "0.00%",
         f"{100 * classifier_all:.2f}%"),
        (f"Akida, learning layer, {args.old_shots} images per old class learned on chip",
         cell(results["learned_old_before"]), "0.00%", cell(results["learned_all_before"])),
        (f"... then {args.shots} images per new class learned on chip",
         cell(results["old_after"]), cell(results["new_after"]), cell(results["all_after"])),
        ("reference: class means of the same spikes and shots (not on chip)",
         cell(results["means_old"]), cell(results["means_new"]), cell(results["means_all"])),
    ]
    print("| model | 8 old classes | 2 new classes | 10 classes |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    summary = {
        "old_classes": [names[i] for i in old], "new_classes": [names[i] for i in new],
        "train_per_class": args.train, "val_per_class": args.val, "epochs": args.epochs,
        "qat_epochs": args.qat_epochs, "neurons_per_class": args.neurons,
        "old_shots": args.old_shots, "shots": args.shots, "seeds": args.seeds,
        "learning_competition": args.competition, "spike_map": list(spikes),
        "float_accuracy_old": float_accuracy, "quantized_accuracy_old": quantized_accuracy,
        "classifier_accuracy_old": classifier_old, "classifier_accuracy_all": classifier_all,
        **{key: summarize(values) for key, values in results.items()},
        "seconds": time.time() - started,
    }
    with open(os.path.join(args.output_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    print(f"\nDone in {summary['seconds']:.0f} s; summary in "
          f"{os.path.join(args.output_dir, 'summary.json')}")


if __name__ == "__main__":
    main()
