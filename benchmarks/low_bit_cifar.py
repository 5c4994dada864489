"""Low-bit accuracy on CIFAR-10: standard quantizers, learned steps, and learned steps with a
bitwidth schedule and distillation. One JSON line per (bitwidths, method).

The data is the CIFAR-10 training set as class folders (``--data``, 50,000 JPEGs); the official
test set is not available here, so ``--validation`` images (5,000, stratified, seed 0: the split
of ``examples/cifar10.py``, so that a float model trained there never saw them) are held out and
every figure is measured on them. The float network is ``--network`` of
``cnn2snn_tfmot.data.zoo`` (default ``cifar_vgg`` when the zoo has it, else
``cifar_separable_cnn``), trained here (``--float-epochs``, Adam, cosine decay, flips and
translations) or read from ``--float-model``.

For each bitwidth setting (``--settings``; 8-bit input weights in all):

* ``w4a4``: 4-bit weights, 4-bit activations; ``w4a2``: 4-bit weights, 2-bit activations;
  ``w2a2``: 2-bit weights and activations; ``w2a2_last1``: ``w2a2`` with 1-bit activations in
  the last block (the input edge learning needs);

and each method (``--methods``), the same network, the same epochs (``--qat-epochs``) and the
same optimizer (Adam, ``--lr`` with cosine decay), all trained hardware-exact (the model trains
what the chip computes):

* ``standard``: ``quantize()`` (MaxPerAxisQuantizer, ActivationDiscreteRelu);
* ``lsq``: ``learned_steps(quantize(...), calibration images)`` (LSQ);
* ``lsq_schedule_distill``: learned steps from 4/4, lowered by ``BitwidthSchedule``
  (activations at 1/4 of the epochs, weights at 1/2, the last activation at 3/4), trained by
  ``distill(student, float model, temperature, alpha)``.

Each line: float, the quantized model's before QAT (``start_accuracy``: at 4/4 for the
scheduled method), Keras (the quantized Keras model) and Akida (the converted model, emulated)
accuracies on the validation images, Keras-vs-Akida argmax agreement, and seconds per QAT epoch.

Run (full; see the README for the time it takes here):

    python benchmarks/low_bit_cifar.py --data /work/shared/data/cifar10/train \\
        --out low_bit_cifar.jsonl --cache cifar10_uint8.npz [--float-model float.h5]

``--quick`` runs the whole pipeline on a few hundred images, one epoch each (CI, calibration).
``--save-dir DIR`` keeps every trained model (float, quantized Keras ``.h5``, ``.akida``).
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

import cnn2snn_tfmot  # noqa: F401  (selects tf_keras)
from cnn2snn_tfmot import (
    BitwidthSchedule,
    add_gamma_constraint,
    convert,
    distill,
    hardware_exact,
    keras,
    learned_steps,
    quantize,
    quantize_layer,
    tf,
)
from cnn2snn_tfmot.data import zoo
from cnn2snn_tfmot.data.datasets import stratified_split
from cnn2snn_tfmot.data.image_files import ImageSource, open_images
from cnn2snn_tfmot.data.zoo.pretrained import load_pretrained, save_pretrained

SCALING = (255, 0)
INPUT_SHAPE = (32, 32, 3)
# ../shared beside the repository
CIFAR10_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))), "shared", "data", "cifar10", "train")
SETTINGS = {  # name: (weight bits, activation bits, bits of the last block's activation)
    "w4a4": (4, 4, None), "w4a2": (4, 2, None), "w2a2": (2, 2, None), "w2a2_last1": (2, 2, 1)}
METHODS = ("standard", "lsq", "lsq_schedule_distill")


# Data ------------------------------------------------------------------------------------------

def load_images(args):
    """(uint8 images, labels) of the folder (or of a per-class subset in quick mode), through
    the package's image-folder reader; cached as .npz when ``--cache`` is given."""
    if args.cache and os.path.exists(args.cache) and not args.quick:
        with np.load(args.cache) as archive:
            return archive["x"], archive["y"]
    source = open_images(args.data, INPUT_SHAPE)
    files, labels = source.files, source.labels
    if args.quick:  # the first images of each class
        keep = np.concatenate([np.flatnonzero(labels == c)[:args.quick_per_class]
                               for c in np.unique(labels)])
        source = ImageSource(args.data, INPUT_SHAPE, files=[files[i] for i in keep],
                             labels=labels[keep], class_names=source.class_names)
    images = np.concatenate(list(source.batches(1000)))
    if args.cache and not args.quick:
        np.savez(args.cache, x=images, y=source.labels)
    return images, source.labels


def augmented(images, labels, batch_size, seed):
    """Batches of img / 255 with random horizontal flips and translations of up to 4 pixels."""
    def augment(x, y):
        x = tf.cast(x, tf.float32) / 255.0
        x = tf.image.random_flip_left_right(x)
        x = tf.image.pad_to_bounding_box(x, 4, 4, 40, 40)
        return tf.image.random_crop(x, (32, 32, 3)), y

    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
            .batch(batch_size).prefetch(tf.data.AUTOTUNE))


# Models ----------------------------------------------------------------------------------------

def loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def optimizer(lr, steps):
    return keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(lr, max(steps, 1)))


def network_name(args):
    if args.network:
        return args.network
    return "cifar_vgg" if hasattr(zoo, "cifar_vgg") else "cifar_separable_cnn"


def float_model(args, train, validation, log):
    if args.float_model:
        model = keras.models.load_model(args.float_model, compile=False)
        if args.save_pretrained:  # the folder keeps float16 weights: measure what it ships
            model.set_weights([w.astype(np.float16).astype(np.float32)
                               for w in model.get_weights()])
        return model, {"float_model": args.float_model}
    keras.utils.set_random_seed(args.seed)
    # Gammas kept >= 1e-2: folded weights stay within what the chip's registers hold.
    model = add_gamma_constraint(getattr(zoo, network_name(args))())
    steps = args.float_epochs * int(np.ceil(len(train[0]) / args.batch_size))
    model.compile(optimizer(args.float_lr, steps), loss(), metrics=["accuracy"])
    started = time.perf_counter()
    model.fit(augmented(*train, args.batch_size, args.seed), epochs=args.float_epochs,
              verbose=2 if args.verbose else 0)
    seconds = (time.perf_counter() - started) / max(args.float_epochs, 1)
    log(f"float: {args.float_epochs} epochs, {seconds:.0f} s each")
    if args.quick:  # one epoch leaves the moving statistics behind: set them from a batch
        zoo.calibrate_batchnorm(model, train[0][:512].astype(np.float32) / 255)
    if args.save_dir:
        model.save(os.path.join(args.save_dir, "float.h5"))
    return model, {"float_epochs": args.float_epochs, "float_s_per_epoch": round(seconds, 1)}


def last_activation(model):
    """The name of the last quantized activation of a quantized model."""
    names = [layer.name for layer in model.layers if hasattr(layer, "levels")]
    return names[-1]


def quantized(float_net, weights, activations, last):
    model = quantize(float_net, weights, activations, 8, input_scaling=SCALING)
    if last is not None:
        model = quantize_layer(model, last_activation(model), last)
    return model


def keras_view(exact):
    """The quantized Keras model a hardware-exact model trains: its own layers (trained
    weights, bitwidths after the schedule), computing as the Keras quantized layers do."""
    network = exact.get_layer("hardware_exact")
    return keras.Sequential([keras.Input(INPUT_SHAPE)] + list(network.chain),
                            name=f"{exact.name}_keras")


def schedule(setting, epochs, model):
    """Activations lowered at 1/4 of the epochs, weights at 1/2, the last activation at 3/4
    (all within the epochs: a single epoch starts at the target bitwidths)."""
    weights, activations, last = SETTINGS[setting]

    def at(fraction):
        return min(max(1, round(epochs * fraction)), max(epochs - 1, 0))

    stages = []
    if activations != 4:
        stages.append({"epoch": at(0.25), "activations": activations})
    if weights != 4:
        stages.append({"epoch": at(0.5), "weights": weights})
    if last is not None:
        stages.append({"epoch": at(0.75), "layers": {last_activation(model): last}})
    return stages


def qat_steps(args, train_images):
    """Optimizer steps per QAT epoch: an epoch of the training split, or ``--qat-steps``."""
    full = int(np.ceil(train_images / args.batch_size))
    return min(args.qat_steps, full) if args.qat_steps else full


def predictions(model, x, batch_size=500):
    return np.concatenate([model.predict(x[i:i + batch_size], verbose=0)
                           for i in range(0, len(x), batch_size)]).reshape(len(x), -1)


def run(setting, method, args, float_net, train, validation, calibration, record):
    weights, activations, last = SETTINGS[setting]
    keras.utils.set_random_seed(args.seed + 1)
    if method == "standard":
        model = quantized(float_net, weights, activations, last)
    elif method == "lsq":
        model = learned_steps(quantized(float_net, weights, activations, last),
                              calibration / 255, method=args.lsq_method)
    else:
        model = learned_steps(quantized(float_net, 4, 4, None), calibration / 255,
                              method=args.lsq_method)
    exact = hardware_exact(model)
    trainer, callbacks = exact, []
    if method == "lsq_schedule_distill":
        trainer = distill(exact, float_net, args.temperature, args.alpha)
        stages = schedule(setting, args.qat_epochs, model)
        if stages:
            callbacks.append(BitwidthSchedule(stages, calibration_data=calibration / 255,
                                              verbose=args.verbose))
    images, labels = validation
    start_guess = predictions(exact, images.astype(np.float32) / 255).argmax(1)
    per_epoch = qat_steps(args, len(train[0]))
    trainer.compile(optimizer(args.lr, args.qat_epochs * per_epoch), loss(),
                    metrics=["accuracy"])
    started = time.perf_counter()
    trainer.fit(augmented(*train, args.batch_size, args.seed + 2).repeat(),
                epochs=args.qat_epochs, steps_per_epoch=per_epoch,
                verbose=2 if args.verbose else 0, callbacks=callbacks)
    seconds = (time.perf_counter() - started) / max(args.qat_epochs, 1)
    keras_model = keras_view(exact)
    akida_model = convert(exact)
    keras_guess = predictions(keras_model, images.astype(np.float32) / 255).argmax(1)
    akida_guess = akida_model.predict(images).reshape(len(images), -1).argmax(1)
    result = dict(record, setting=setting, method=method,
                  bits={"weights": weights, "activations": activations, "input_weights": 8,
                        "last_activation": last or activations},
                  start_accuracy=float(np.mean(start_guess == labels)),
                  keras_accuracy=float(np.mean(keras_guess == labels)),
                  akida_accuracy=float(np.mean(akida_guess == labels)),
                  keras_akida_agreement=float(np.mean(keras_guess == akida_guess)),
                  akida_bits=[[layer.parameters.weights_bits, layer.output_bits]
                              for layer in akida_model.layers],
                  qat_epochs=args.qat_epochs, qat_steps_per_epoch=per_epoch,
                  qat_s_per_epoch=round(seconds, 1))
    if args.save_dir:
        stem = os.path.join(args.save_dir, f"{setting}_{method}")
        keras_model.save(stem + ".h5")
        akida_model.save(stem + ".akida")
    return result, keras_model, akida_model


def write_pretrained(args, float_net, keras_model, akida_model, validation, result, seconds):
    """Writes the trained models as a pretrained folder (cnn2snn_tfmot.data.zoo's format),
    measured as the folder reloads them."""
    images, labels = validation
    x = images.astype(np.float32) / 255
    class_names = open_images(args.data, INPUT_SHAPE).class_names
    setting, method = result["setting"], result["method"]
    weights, activations, last = SETTINGS[setting]
    description = (f"CIFAR-10 {float_net.name} ({float_net.count_params()} parameters), "
                   f"8-bit input weights, {weights}-bit weights, {activations}-bit "
                   f"activations" + (f" ({last}-bit in the last block)" if last else "")
                   + f"; {method} quantization-aware training")
    command = result["command"]
    path = save_pretrained(args.save_pretrained, args.pretrained_name, description, float_net,
                           keras_model, akida_model, class_names, {}, command,
                           float_dtype="float16", overwrite=True, quantized_levels=True,
                           float_weights_from=args.float_weights_from)
    shipped = load_pretrained(path)

    def accuracy(outputs):
        return round(float(np.mean(outputs.reshape(len(labels), -1).argmax(1) == labels)), 4)

    keras_outputs = predictions(shipped.quantized_model, x)
    akida_outputs = shipped.akida_model.predict(images).reshape(len(labels), -1)
    metrics = {
        "float_accuracy": accuracy(predictions(shipped.float_model, x)),
        "quantized_accuracy": accuracy(keras_outputs),
        "akida_accuracy": accuracy(akida_outputs),
        "agreement": round(float(np.mean(keras_outputs.argmax(1) == akida_outputs.argmax(1))),
                           4),
        "evaluated_on": f"{len(labels)} CIFAR-10 training images held out (stratified, seed "
                        f"{args.seed}: the split of examples/cifar10.py)",
        "float_model": args.float_model, "qat_epochs": args.qat_epochs,
        "qat_steps_per_epoch": result["qat_steps_per_epoch"], "batch_size": args.batch_size,
        "training_seconds": round(seconds, 1)}
    save_pretrained(path, args.pretrained_name, description, shipped.float_model,
                    shipped.quantized_model, shipped.akida_model, shipped.class_names, metrics,
                    command, float_dtype="float16", overwrite=True, quantized_levels=True,
                    float_weights_from=args.float_weights_from)
    return path, metrics


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=CIFAR10_DATA,
                        help="CIFAR-10 training images, one folder per class")
    parser.add_argument("--out", default="low_bit_cifar.jsonl", help="JSON lines, appended")
    parser.add_argument("--cache", default=None, help="decoded images (.npz), made once")
    parser.add_argument("--validation", type=int, default=5000)
    parser.add_argument("--network", default=None, help="a builder of cnn2snn_tfmot.data.zoo")
    parser.add_argument("--float-model", default=None, help="a trained float model (.h5)")
    parser.add_argument("--float-epochs", type=int, default=35)
    parser.add_argument("--float-lr", type=float, default=2e-3)
    parser.add_argument("--qat-epochs", type=int, default=8)
    parser.add_argument("--qat-steps", type=int, default=None,
                        help="optimizer steps per QAT epoch (default: the whole training split; "
                             "fewer where CPU is scarce: the schedule still has its epochs)")
    parser.add_argument("--lr", type=float, default=2e-4, help="QAT Adam rate (cosine decay)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--lsq-method", default="lsq", choices=("lsq", "lsq+"))
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--calibration", type=int, default=512,
                        help="training images that initialise the learned steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-dir", default=None)
    parser.add_argument("--save-pretrained", default=None,
                        help="write the trained models (one setting, one method) as a "
                             "pretrained folder of cnn2snn_tfmot.data.zoo here")
    parser.add_argument("--pretrained-name", default="cifar10_2bit")
    parser.add_argument("--float-weights-from", default=None,
                        help="with --save-pretrained: the pretrained model beside it whose "
                             "float model (the same as --float-model) it shares")
    parser.add_argument("--quick", action="store_true",
                        help="a few hundred images, one epoch each: the whole pipeline, fast")
    parser.add_argument("--quick-per-class", type=int, default=60)
    parser.add_argument("--verbose", type=int, default=1)
    args = parser.parse_args(argv)
    if args.save_pretrained and (len(args.settings) != 1 or len(args.methods) != 1):
        parser.error("--save-pretrained writes one model: give one --settings and one "
                     "--methods")
    if args.quick:
        args.validation = min(args.validation, 10 * args.quick_per_class // 4)
        args.float_epochs = min(args.float_epochs, 1)
        args.qat_epochs = min(args.qat_epochs, 1)
        args.calibration = min(args.calibration, 64)
    if args.save_dir:
        os.makedirs(args.save_dir, exist_ok=True)

    def log(message):
        if args.verbose:
            print(message, flush=True)

    started = time.perf_counter()
    images, labels = load_images(args)
    train_index, validation_index = stratified_split(labels, args.validation, args.seed)
    train = (images[train_index], labels[train_index])
    validation = (images[validation_index], labels[validation_index])
    calibration = train[0][np.random.default_rng(args.seed).permutation(
        len(train_index))[:args.calibration]].astype(np.float32)
    log(f"data: {len(train_index)} training, {len(validation_index)} validation images "
        f"({time.perf_counter() - started:.0f} s)")
    float_net, float_record = float_model(args, train, validation, log)
    float_guess = predictions(float_net, validation[0].astype(np.float32) / 255).argmax(1)
    float_accuracy = float(np.mean(float_guess == validation[1]))
    log(f"float accuracy {float_accuracy:.4f}")
    record = {"benchmark": "low_bit_cifar", "network": float_net.name,
              "float_accuracy": float_accuracy, "train_images": len(train_index),
              "validation_images": len(validation_index), "quick": args.quick,
              "lr": args.lr, "batch_size": args.batch_size, "lsq_method": args.lsq_method,
              "temperature": args.temperature, "alpha": args.alpha, "seed": args.seed,
              "commit": git_commit(), "machine": platform.machine(), "cpus": os.cpu_count(),
              "command": " ".join([os.path.basename(sys.executable)] + sys.argv), **float_record}
    for setting in args.settings:
        for method in args.methods:
            run_started = time.perf_counter()
            result, keras_model, akida_model = run(setting, method, args, float_net, train,
                                                   validation, calibration, record)
            log(f"{setting} {method}: Keras {result['keras_accuracy']:.4f}, Akida "
                f"{result['akida_accuracy']:.4f}, agreement "
                f"{result['keras_akida_agreement']:.4f} ({result['qat_s_per_epoch']} s/epoch)")
            with open(args.out, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(result) + "\n")
            if args.save_pretrained:
                path, metrics = write_pretrained(args, float_net, keras_model, akida_model,
                                                 validation, result,
                                                 time.perf_counter() - run_started)
                log(f"{path}: {json.dumps(metrics)}")


if __name__ == "__main__":
    main()
