"""CIFAR-10 from image folders to the chip: float VGG -> 8/4/4 quantized -> QAT -> hardware-exact
QAT -> Akida model.

Reads ``DATA/<class>/<image>.jpg`` (BrainChip users' layout) with the package's image-folder
reader (``cnn2snn_tfmot.data.image_files``: the classes are the sorted folder names, as keras'
``image_dataset_from_directory`` and ``cnn2snn_tfmot evaluate`` give them), holds out a
stratified validation split (``--validation`` images, ``--seed``), decodes every JPEG once into
memory (uint8, a parallel ``tf.data`` pipeline), and trains ``cnn2snn_tfmot.zoo.cifar_vgg`` with a
``tf.data`` pipeline that augments on the fly (random translation by up to 4 pixels with
reflected borders, horizontal flips, and a 9 x 9 cutout, ``--cutout``):

1. float training: SGD with Nesterov momentum, batch 512, label smoothing, weight decay on the
   kernels only, bfloat16 mixed precision on CPUs that have it (``--precision``), by one of two
   recipes (``--recipe``): ``onecycle`` (the default, the shipped model's: a one-cycle learning
   rate, linear warm-up then linear decay to 0, BatchNorm gammas kept >= 1e-2), or ``airbench``
   (Jordan 2024, "94% on CIFAR-10 in 3.29 seconds on a single GPU", in layers the converter
   takes: the input convolution frozen at the principal directions of the images' 3x3 patches
   and their negatives (whitening), the other convolutions started as identities, BatchNorm
   gammas frozen at 1 and betas learning 64 times faster, the dense layer learning as if its
   logits were scaled by 1/9, a triangular learning rate and weight averaging);
2. quantization: 8-bit input-layer weights, 4-bit weights, 4-bit activations (``--bits``), for
   Keras inputs ``img / 255`` (``input_scaling=(255, 0)``);
3. quantization-aware training with the standard quantizers (Adam, cosine decay), then
   hardware-exact training (``hardware_exact``: the model computes the chip's integers);
   ``--learned-steps lsq+`` trains the quantizers' steps too (``learned_steps``), ``--distill
   ALPHA`` teaches with the float model (``distill``);
4. conversion, and the Akida model's accuracy on the uint8 validation images.

It prints and writes (``--output-dir``, JSON lines log and ``summary.json``) the float,
post-training quantized, QAT Keras and Akida accuracies, the Keras-vs-Akida argmax agreement,
the time of every epoch (wall and process CPU seconds, and the load average, since other jobs
may share the cores) and the total time. With ``--output-dir`` the trained models are written
there too (``float.h5``, ``quantized.h5``, ``model.akida`` with the class names); the folder is
created and must not exist yet or be empty, so that nothing of the user's is overwritten.
``python examples/train_pretrained.py cifar10 --from-run DIR`` makes the package's pretrained
"cifar10" model of such a folder (``train_pretrained.py cifar10`` alone runs this training).

The defaults are the recipe of the shipped model's float training (85 float epochs at widths
64 192 192, 9 x 9 cutout, ``--recipe onecycle``; about 70 minutes on 2 cores, depending on what
else runs). The shipped quantized model then comes from 8 hardware-exact epochs of learned
steps, distilled from that float model: ``--float-model DIR/float.h5 --learned-steps lsq+
--distill 0.9 --qat-epochs 0 --exact-epochs 8 --qat-steps 250 --qat-batch-size 128 --exact-lr
2e-4 --cutout 0`` (about 12 minutes; the README compares it with the standard quantizers).
``--quick`` runs the whole pipeline on 600 images with one epoch per stage (CI).

Run: ``python examples/cifar10.py [--data DIR] [--output-dir DIR] [--epochs N] [--quick]``
"""
import argparse
import json
import os
import resource
import time

import numpy as np

import cnn2snn_tfmot
from cnn2snn_tfmot import (
    ScaleFactorMonitor,
    add_gamma_constraint,
    check_model_compatibility,
    convert,
    distill,
    hardware_exact,
    learned_steps,
    load_partial_weights,
    quantize,
)
from cnn2snn_tfmot.data.datasets import stratified_split
from cnn2snn_tfmot.data.image_files import ImageSource, list_class_folders
from cnn2snn_tfmot.data.zoo import cifar_vgg
from cnn2snn_tfmot.tfkeras import keras, tf

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                            "shared", "data", "cifar10", "train")
SHAPE = (32, 32, 3)
PAD = 4
BETA_RATE = 64.0  # airbench: the BatchNorm betas' learning rate, times the others'
LOGIT_SCALE = 1 / 9  # airbench: the dense layer learns as if its logits were multiplied by this
#: The command-line options whose defaults a recipe gives (the summary records them).
RECIPE_OPTIONS = ("lr", "momentum", "warmup", "weight_decay")
#: The float training recipes (--recipe): the defaults of RECIPE_OPTIONS, the BatchNorm
#: momentum, and whether airbench's parametrisation is used. "onecycle" is the shipped
#: model's; "airbench" (Jordan 2024) reaches more in a short schedule, less in a long one
#: (README, "Real images").
RECIPES = {
    "onecycle": dict(lr=0.4, momentum=0.9, warmup=0.2, weight_decay=5e-3, bn_momentum=0.9,
                     airbench=False),
    "airbench": dict(lr=0.75, momentum=0.85, warmup=0.23, weight_decay=0.01, bn_momentum=0.6,
                     airbench=True),
}


def step(message):
    print(f"\n== {message}", flush=True)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class EpochTimer(keras.callbacks.Callback):
    """Logs each epoch's wall and CPU seconds, the load average and the metrics (JSON lines).

    An epoch's time runs from the end of the one before (or the start of ``fit``), so that
    whatever Keras does between epochs counts too."""

    def __init__(self, stage, log):
        super().__init__()
        self.stage, self.log = stage, log

    def on_train_begin(self, logs=None):
        self.wall, self.cpu = time.time(), cpu_seconds()

    def on_epoch_end(self, epoch, logs=None):
        wall, cpu = time.time(), cpu_seconds()
        record = {"stage": self.stage, "epoch": epoch + 1,
                  "wall_s": round(wall - self.wall, 1),
                  "cpu_s": round(cpu - self.cpu, 1),
                  "load": round(os.getloadavg()[0], 2),
                  **{k: round(float(v), 5) for k, v in (logs or {}).items()}}
        self.wall, self.cpu = wall, cpu
        self.log(record)


def augmented(images, labels, batch_size, seed, cutout=0):
    """Random translations (reflected borders), horizontal flips and, with ``cutout`` > 0, one
    ``cutout`` x ``cutout`` square per image set to black (DeVries & Taylor 2017; its centre may
    lie near a border, so less may be cut), computed per batch."""
    def augment(x, y):
        n = tf.shape(x)[0]
        x = tf.pad(x, [[0, 0], [PAD, PAD], [PAD, PAD], [0, 0]], mode="REFLECT")
        offsets = tf.random.uniform((n, 2), 0, 2 * PAD + 1, dtype=tf.int32)
        span = tf.range(SHAPE[0])
        x = tf.gather(x, offsets[:, :1] + span, axis=1, batch_dims=1)
        x = tf.gather(x, offsets[:, 1:] + span, axis=2, batch_dims=1)
        flip = tf.random.uniform((n, 1, 1, 1)) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[2]), x)
        if cutout:
            centres = tf.random.uniform((n, 2), 0, SHAPE[0], dtype=tf.int32)
            rows = tf.abs(span[None, :] - centres[:, :1]) <= (cutout - 1) // 2
            cols = tf.abs(span[None, :] - centres[:, 1:]) <= (cutout - 1) // 2
            keep = ~(rows[:, :, None] & cols[:, None, :])
            x = x * tf.cast(keep[..., None], x.dtype)
        return tf.cast(x, tf.float32) / 255, y

    return (tf.data.Dataset.from_tensor_slices((images, labels))
            .shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
            .batch(batch_size, drop_remainder=True)
            .map(augment, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(2))


class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from peak / 10 to ``peak`` over ``warmup`` steps, then linear to 0."""

    def __init__(self, peak, warmup, total):
        self.peak, self.warmup, self.total = float(peak), int(warmup), int(total)

    def __call__(self, step_index):
        step_index = tf.cast(step_index, tf.float32)
        up = self.peak * (0.1 + 0.9 * step_index / max(self.warmup, 1))
        down = self.peak * (self.total - step_index) / max(self.total - self.warmup, 1)
        return tf.maximum(tf.where(step_index < self.warmup, up, down), 0.0)

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "total": self.total}


class Triangle(keras.optimizers.schedules.LearningRateSchedule):
    """The learning rate: linear from peak / 5 up to ``peak`` at ``warmup`` steps, then linear
    down to 7% of the peak at ``total`` steps (airbench's shape: Jordan 2024, "94% on CIFAR-10
    in 3.29 seconds on a single GPU"; the weight averaging below does the rest of the
    annealing)."""

    def __init__(self, peak, warmup, total):
        self.peak, self.warmup, self.total = float(peak), int(warmup), int(total)

    def __call__(self, step_index):
        step_index = tf.cast(step_index, tf.float32)
        up = 0.2 + 0.8 * step_index / max(self.warmup, 1)
        down = 1 - 0.93 * (step_index - self.warmup) / max(self.total - self.warmup, 1)
        return self.peak * tf.where(step_index < self.warmup, up, down)

    def get_config(self):
        return {"peak": self.peak, "warmup": self.warmup, "total": self.total}


class Lookahead(keras.callbacks.Callback):
    """Weight averaging as airbench does it: from the ``start``-th epoch, every ``every`` steps
    the average moves towards the weights (BatchNorm statistics included) and the weights are
    set to the average; its decay grows as (step / total) ** 3, so training moves fast first
    and averages strongly at the end."""

    def __init__(self, model, total, start=3, every=5, decay=0.95):
        super().__init__()
        self.target, self.total, self.start, self.every = model, total, start, every
        self.decay = decay ** every

    def on_train_begin(self, logs=None):
        self.steps, self.epoch, self.average = 0, 0, None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.epoch < self.start or self.steps % self.every:
            return
        if self.average is None:
            self.average = [tf.Variable(weight) for weight in self.target.weights]
            return
        rho = self.decay * (self.steps / self.total) ** 3
        for average, weight in zip(self.average, self.target.weights):
            average.assign(rho * average + (1 - rho) * weight)
            weight.assign(average)

    def on_train_end(self, logs=None):
        if self.average is not None:  # training ends on the average
            for average, weight in zip(self.average, self.target.weights):
                weight.assign(average)


class FloatTrainer(keras.Model):
    """The float training step: frozen variables get no update (the whitening input convolution,
    the BatchNorm gammas, kept at 1), the BatchNorm betas learn ``BETA_RATE`` times faster, and
    the dense layer as if its logits were scaled by ``LOGIT_SCALE`` (its gradients times the
    scale squared; its weights start scaled): airbench's parametrisation, in layers the
    converter takes as they are."""

    def setup(self, model, frozen):
        frozen = {id(variable) for variable in frozen}
        betas = {id(layer.beta) for layer in model.layers
                 if isinstance(layer, keras.layers.BatchNormalization)}
        dense = {id(variable) for variable in model.get_layer("dense").trainable_weights}
        self.update = [v for v in self.trainable_variables if id(v) not in frozen]
        self.factors = [BETA_RATE if id(v) in betas else LOGIT_SCALE ** 2 if id(v) in dense
                        else 1.0 for v in self.update]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            logits = self(x, training=True)
            loss = self.compiled_loss(y, logits)
        gradients = tape.gradient(loss, self.update)
        self.optimizer.apply_gradients([(g * f if f != 1.0 else g, v) for g, v, f
                                        in zip(gradients, self.update, self.factors)])
        self.compiled_metrics.update_state(y, logits)
        return {metric.name: metric.result() for metric in self.metrics}


def initialise(model, images, stem):
    """airbench's initialisation, in place: the input convolution's filters are the top
    ``stem / 2`` principal directions of the training images' 3x3 patches and their negatives
    (frozen: returned), every other convolution starts as an identity on its first channels
    (dirac), and the dense layer's weights are scaled by ``LOGIT_SCALE``."""
    patches = [tf.image.extract_patches(images[i:i + 500].astype(np.float32) / 255,
                                        [1, 3, 3, 1], [1, 1, 1, 1], [1, 1, 1, 1], "VALID")
               .numpy().reshape(-1, 27) for i in range(0, min(len(images), 5000), 500)]
    covariance = sum(p.T @ p for p in patches) / sum(len(p) for p in patches)
    directions = np.linalg.eigh(covariance)[1][:, ::-1][:, :stem // 2]
    kernel = np.concatenate([directions, -directions], axis=1)
    first = model.get_layer("conv_0")
    kernel = np.concatenate([kernel, first.kernel.numpy().reshape(27, -1)[:, kernel.shape[1]:]],
                            axis=1)  # an odd stem keeps one random filter
    first.kernel.assign(kernel.reshape(first.kernel.shape).astype(np.float32))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer is not first:
            weights = layer.kernel.numpy()
            n = min(weights.shape[2:])
            weights[:, :, :, :n] = 0
            weights[1, 1, np.arange(n), np.arange(n)] = 1
            layer.kernel.assign(weights)
    dense = model.get_layer("dense")
    dense.kernel.assign(dense.kernel * LOGIT_SCALE)
    return [first.kernel]


def logits_of(model, x, batch_size=500):
    return model.predict(x.astype(np.float32) / 255, batch_size=batch_size, verbose=0)


def accuracy(labels, outputs):
    return float(np.mean(np.argmax(outputs.reshape(len(labels), -1), axis=1) == labels))


def float32_copy(model, args):
    """The float model rebuilt in float32 (quantize() takes float32 layers) with its weights."""
    keras.mixed_precision.set_global_policy("float32")
    copy = build(args)
    copy.set_weights(model.get_weights())
    return copy


def build(args):
    return add_gamma_constraint(cifar_vgg(SHAPE, widths=args.widths, stem=args.stem,
                                          classes=10,
                                          momentum=RECIPES[args.recipe]["bn_momentum"]))


def train_float(args, data, validation, steps, precision, log, images):
    """Float training (Nesterov SGD, label smoothing; ``--recipe``: a one-cycle learning rate,
    or airbench's parametrisation, triangular rate and weight averaging); returns the float32
    model."""
    if precision == "bfloat16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = build(args)
    inputs = keras.Input(SHAPE)
    outputs = tf.cast(model(inputs), tf.float32)  # float32 loss
    total = steps * args.epochs
    if RECIPES[args.recipe]["airbench"]:
        frozen = initialise(model, images, args.stem)
        frozen += [layer.gamma for layer in model.layers
                   if isinstance(layer, keras.layers.BatchNormalization)]
        trainer = FloatTrainer(inputs, outputs)
        trainer.setup(model, frozen)
        schedule, callbacks = Triangle(args.lr, args.warmup * total, total), [
            Lookahead(model, total)]
    else:
        trainer = keras.Model(inputs, outputs)
        schedule, callbacks = OneCycle(args.lr, args.warmup * total, total), []
    optimizer = keras.optimizers.SGD(schedule, momentum=args.momentum, nesterov=True,
                                     weight_decay=args.weight_decay)
    optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    smooth_loss = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                       label_smoothing=args.label_smoothing)

    def loss(y, logits):
        return smooth_loss(tf.one_hot(tf.cast(tf.reshape(y, [-1]), tf.int32), 10), logits)

    trainer.compile(optimizer, loss, metrics=["accuracy"])
    # One iterator for the whole fit (repeat + steps_per_epoch): Keras otherwise makes a new
    # one each epoch, and destroying the old one waited, idle, 25 to 40 s an epoch here (for
    # one of tf.data's background threads), a third of the float training's time.
    trainer.fit(data.repeat(), epochs=args.epochs, steps_per_epoch=steps, verbose=2,
                validation_data=validation, callbacks=[EpochTimer("float", log)] + callbacks)
    return float32_copy(model, args)


def output_folder(path):
    """Creates ``path`` (or accepts an empty folder): never writes over files we did not write."""
    if os.path.exists(path) and (not os.path.isdir(path) or os.listdir(path)):
        raise SystemExit(f"--output-dir {path}: exists and is not an empty folder; give a new "
                         "folder (nothing is overwritten).")
    os.makedirs(path, exist_ok=True)
    return path


def parse_args(argv=None):
    """The command line (``argv``: a list of arguments, None for sys.argv)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DEFAULT_DATA,
                        help="folder of class folders of 32x32 RGB images")
    parser.add_argument("--output-dir", default=None,
                        help="new folder for the log, summary and trained models")
    parser.add_argument("--validation", type=int, default=5000, help="held-out images")
    parser.add_argument("--epochs", type=int, default=85, help="float epochs")
    parser.add_argument("--qat-epochs", type=int, default=2, help="standard QAT epochs")
    parser.add_argument("--exact-epochs", type=int, default=1, help="hardware-exact epochs")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="onecycle",
                        help="float training recipe (its hyperparameters are the defaults of "
                             "the four below)")
    parser.add_argument("--lr", type=float, default=None, help="peak SGD learning rate")
    parser.add_argument("--momentum", type=float, default=None, help="Nesterov momentum")
    parser.add_argument("--warmup", type=float, default=None,
                        help="fraction of the float training before the peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=None,
                        help="decoupled weight decay of the kernels (times the learning rate)")
    parser.add_argument("--label-smoothing", type=float, default=0.2)
    parser.add_argument("--cutout", type=int, default=9,
                        help="side in pixels of the square cut out of each training image "
                             "(odd; 0: none)")
    parser.add_argument("--learned-steps", choices=("lsq", "lsq+"), default=None,
                        help="train the quantizers' steps too (cnn2snn_tfmot.learned_steps, "
                             "initialised from --calibration training images; default: the "
                             "fixed steps of quantize())")
    parser.add_argument("--calibration", type=int, default=512,
                        help="training images that initialise the learned steps")
    parser.add_argument("--qat-batch-size", type=int, default=None,
                        help="batch of the QAT and hardware-exact epochs (default: "
                             "--batch-size)")
    parser.add_argument("--qat-steps", type=int, default=None,
                        help="steps per QAT and hardware-exact epoch (default: the whole "
                             "training split)")
    parser.add_argument("--qat-lr", type=float, default=2e-4, help="standard QAT Adam rate")
    parser.add_argument("--exact-lr", type=float, default=5e-5, help="hardware-exact Adam rate")
    parser.add_argument("--distill", type=float, default=0.0, metavar="ALPHA",
                        help="weight of distillation from the float model in QAT and "
                             "hardware-exact training (0: none; cnn2snn_tfmot.distill)")
    parser.add_argument("--temperature", type=float, default=4.0,
                        help="distillation temperature")
    parser.add_argument("--bits", type=int, nargs=3, default=(4, 4, 8),
                        metavar=("WEIGHTS", "ACTIVATIONS", "INPUT_WEIGHTS"))
    parser.add_argument("--widths", type=int, nargs="+", default=(64, 192, 192))
    parser.add_argument("--stem", type=int, default=32)
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default="auto",
                        help="float training precision (auto: bfloat16 when the CPU has "
                             "AVX-512 BF16)")
    parser.add_argument("--float-model", default=None,
                        help="start from this trained float model's weights (.h5 of the same "
                             "network) instead of training one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="600 images, one epoch per stage (CI)")
    args = parser.parse_args(argv)
    for key in RECIPE_OPTIONS:
        if getattr(args, key) is None:
            setattr(args, key, RECIPES[args.recipe][key])
    if args.cutout < 0 or (args.cutout and args.cutout % 2 == 0) or args.cutout > SHAPE[0]:
        parser.error(f"--cutout {args.cutout}: give 0 (none) or an odd side of at most "
                     f"{SHAPE[0]} pixels (the square is centred on a pixel).")
    if args.quick:
        args.validation, args.epochs, args.qat_epochs, args.exact_epochs = 200, 1, 1, 1
        args.batch_size, args.calibration = 100, min(args.calibration, 64)
    return args


def changed_options(args):
    """``{option: value}`` of the parsed ``args`` that differ from the defaults (no
    ``--output-dir``, ``--data``: where the run read and wrote, not how it trained)."""
    def plain(value):  # nargs options: a tuple by default, a list when given
        return list(value) if isinstance(value, tuple) else value

    defaults = vars(parse_args([]))
    return {key: plain(value) for key, value in vars(args).items()
            if key not in ("output_dir", "data") and plain(value) != plain(defaults[key])}


def load_data(args, log=print, validation_only=False):
    """The training and validation splits, decoded: ``(x_train, y_train), (x_val, y_val),
    class_names`` (uint8 images; x_train and y_train None when ``validation_only``)."""
    if not os.path.isdir(args.data):
        raise SystemExit(f"--data {args.data}: no such folder; give the folder holding one "
                         "sub-folder of 32x32 images per class (e.g. the CIFAR-10 training "
                         "set as JPEG files).")
    folders = list_class_folders(args.data)
    if folders.labels is None:
        raise SystemExit(f"--data {args.data}: no class sub-folders; put each class's images "
                         f"in {args.data}/<class name>/.")
    files, labels = folders.files, folders.labels
    if args.quick:  # 60 images per class: 40 train, 20 validation
        rng = np.random.default_rng(args.seed)
        keep = np.sort(np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:60]
                                       for c in range(len(folders.class_names))]))
        files, labels = [files[i] for i in keep], labels[keep]
    train, held_out = stratified_split(labels, args.validation, args.seed)
    decoded_at = time.time()

    def decoded(indices):
        source = ImageSource(args.data, SHAPE, files=[files[i] for i in indices],
                             labels=labels[indices], class_names=folders.class_names)
        for note in folders.notes + source.notes:
            print(f"note: {note}")
        return np.concatenate(list(source.batches(1000))), source.labels

    validation = decoded(held_out)
    training = (None, None) if validation_only else decoded(train)
    log({"stage": "data", "classes": folders.class_names, "train": len(train),
         "validation": len(held_out), "decode_s": round(time.time() - decoded_at, 1)})
    return training, validation, folders.class_names


def train(args, log=print):
    """The whole pipeline; returns a dict of the models (float, quantized, hardware-exact,
    Akida), the validation data and the figures."""
    started, started_cpu = time.time(), cpu_seconds()
    records = []

    def logged(record):
        records.append(record)
        log(record)

    keras.utils.set_random_seed(args.seed)
    step(f"Data: {os.path.abspath(args.data)}")
    (x_train, y_train), (x_val, y_val), class_names = load_data(args, logged)
    steps = len(x_train) // args.batch_size
    qat_batch = args.qat_batch_size or args.batch_size
    qat_full = len(x_train) // qat_batch
    qat_steps = min(args.qat_steps or qat_full, qat_full)

    def dataset(seed, batch_size=args.batch_size):
        return augmented(x_train, y_train, batch_size, seed, args.cutout)

    precision = args.precision
    if precision == "auto":
        with open("/proc/cpuinfo") as handle:
            precision = "bfloat16" if "avx512_bf16" in handle.read() else "float32"
    float_started = time.time()
    if args.float_model:
        step(f"Float model: the weights of {args.float_model} (no float training)")
        model = build(args)
        model.load_weights(args.float_model)
    else:
        step(f"Float training: {args.epochs} epochs of {steps} steps, {precision}")
        model = train_float(args, dataset(args.seed), (x_val.astype(np.float32) / 255, y_val),
                            steps, precision, logged, x_train)
    float_seconds = time.time() - float_started
    float_accuracy = accuracy(y_val, logits_of(model, x_val))
    logged({"stage": "float done", "float_accuracy": float_accuracy,
            "seconds": round(float_seconds, 1)})

    weight_bits, activation_bits, input_bits = args.bits
    step(f"Quantize: {input_bits}-bit input weights, {weight_bits}-bit weights, "
         f"{activation_bits}-bit activations")
    model_float = model
    quantized = quantize(model, weight_bits, activation_bits, input_bits, input_scaling=(255, 0))
    ptq_accuracy = accuracy(y_val, logits_of(quantized, x_val))
    logged({"stage": "post-training quantized", "ptq_accuracy": ptq_accuracy})
    if args.learned_steps:
        # Random training images (the split is ordered by class) start the steps.
        pick = np.random.default_rng(args.seed).permutation(len(x_train))[:args.calibration]
        step(f"Learned steps ({args.learned_steps}), started from {len(pick)} training images")
        quantized = learned_steps(quantized, x_train[pick].astype(np.float32) / 255,
                                  method=args.learned_steps)
        logged({"stage": "learned steps", "start_accuracy": accuracy(
            y_val, logits_of(quantized, x_val))})

    def fine_tune(model, stage, rate, epochs, seed):
        """Adam with cosine decay over the stage's steps, register margins watched; with
        ``--distill``, the float model teaches."""
        if epochs:
            trainer = (distill(model, model_float, args.temperature, args.distill)
                       if args.distill else model)
            trainer.compile(keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(
                rate, qat_steps * epochs)),
                keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
            trainer.fit(dataset(seed, qat_batch).repeat(), epochs=epochs, verbose=2,
                      steps_per_epoch=qat_steps,
                      callbacks=[EpochTimer(stage, logged),
                                 ScaleFactorMonitor(on_violation="warn")])

    step(f"Quantization-aware training, standard quantizers: {args.qat_epochs} epochs")
    qat_started = time.time()
    fine_tune(quantized, "qat", args.qat_lr, args.qat_epochs, args.seed + 1)
    qat_seconds = time.time() - qat_started
    qat_accuracy = accuracy(y_val, logits_of(quantized, x_val))
    logged({"stage": "qat done", "qat_accuracy": qat_accuracy,
            "seconds": round(qat_seconds, 1)})

    step(f"Hardware-exact training: {args.exact_epochs} epochs (the chip's integers)")
    exact_started = time.time()
    exact = hardware_exact(quantized)
    fine_tune(exact, "exact", args.exact_lr, args.exact_epochs, args.seed + 2)
    exact_seconds = time.time() - exact_started
    keras_outputs = logits_of(exact, x_val)
    keras_accuracy = accuracy(y_val, keras_outputs)
    # The quantized Keras model takes what the hardware-exact training learned: the model saved
    # and shipped.
    load_partial_weights(quantized, exact)
    final_quantized_accuracy = accuracy(y_val, logits_of(quantized, x_val))

    step("Check compatibility, convert, evaluate the Akida model on the uint8 images")
    check_model_compatibility(exact)
    convert_started = time.time()
    akida_model = convert(exact, class_names=class_names)
    akida_outputs = akida_model.predict(x_val)
    akida_seconds = time.time() - convert_started
    akida_accuracy = accuracy(y_val, akida_outputs)
    agreement = float(np.mean(np.argmax(akida_outputs.reshape(len(y_val), -1), 1)
                              == np.argmax(keras_outputs, 1)))
    akida_model.summary()

    summary = {
        "network": f"cifar_vgg(widths={list(args.widths)}, stem={args.stem})",
        "bits (weights, activations, input weights)": list(args.bits),
        "train_images": len(x_train), "validation_images": len(x_val),
        "epochs": [args.epochs, args.qat_epochs, args.exact_epochs], "precision": precision,
        "recipe": {key: getattr(args, key) for key in ("recipe",) + RECIPE_OPTIONS},
        "distill (alpha, temperature)": [args.distill, args.temperature],
        "float_model": args.float_model, "steps_per_epoch": [steps, qat_steps, qat_steps],
        "qat_batch_size": qat_batch, "learned_steps": args.learned_steps,
        # The command line's options that differ from the defaults: the run's command.
        "options": changed_options(args),
        "float_accuracy": float_accuracy, "ptq_accuracy": ptq_accuracy,
        "qat_accuracy": qat_accuracy, "exact_keras_accuracy": keras_accuracy,
        "final_quantized_keras_accuracy": final_quantized_accuracy,
        "akida_accuracy": akida_accuracy, "keras_akida_agreement": agreement,
        "float_seconds": round(float_seconds, 1), "qat_seconds": round(qat_seconds, 1),
        "exact_seconds": round(exact_seconds, 1), "akida_eval_seconds": round(akida_seconds, 1),
        "total_seconds": round(time.time() - started, 1),
        "total_cpu_seconds": round(cpu_seconds() - started_cpu, 1),
        "cores": os.cpu_count(),
    }
    for stage in ("float", "qat", "exact"):
        epochs = [r for r in records if r.get("stage") == stage and "wall_s" in r]
        if epochs:
            summary[f"{stage}_epoch_wall_s"] = round(np.median([r["wall_s"] for r in epochs]), 1)
            summary[f"{stage}_epoch_cpu_s"] = round(np.median([r["cpu_s"] for r in epochs]), 1)
            per_epoch = steps if stage == "float" else qat_steps
            summary[f"{stage}_step_ms"] = round(1000 * summary[f"{stage}_epoch_wall_s"]
                                                / per_epoch, 1)
            summary[f"{stage}_step_cpu_ms"] = round(1000 * summary[f"{stage}_epoch_cpu_s"]
                                                    / per_epoch, 1)
    return dict(float_model=model, quantized_model=quantized, exact_model=exact,
                akida_model=akida_model, class_names=class_names, validation=(x_val, y_val),
                summary=summary)


def main(argv=None):
    args = parse_args(argv)
    out = output_folder(args.output_dir) if args.output_dir else None

    def log(record):
        print(json.dumps(record), flush=True)
        if out:
            with open(os.path.join(out, "log.jsonl"), "a") as handle:
                handle.write(json.dumps(record) + "\n")

    result = train(args, log)
    summary = result["summary"]
    log({"stage": "summary", **summary})
    if out:
        result["float_model"].save(os.path.join(out, "float.h5"), include_optimizer=False)
        result["quantized_model"].save(os.path.join(out, "quantized.h5"),
                                       include_optimizer=False)
        result["akida_model"].save(os.path.join(out, "model.akida"))
        with open(os.path.join(out, "summary.json"), "w") as handle:
            json.dump(summary, handle, indent=2)

    print("\n| model | validation accuracy |\n|---|---|")
    for name, key in [("float Keras", "float_accuracy"),
                      ("quantized Keras, post-training", "ptq_accuracy"),
                      ("quantized Keras, standard QAT", "qat_accuracy"),
                      ("hardware-exact Keras (the chip's integers)", "exact_keras_accuracy"),
                      ("quantized Keras, final weights", "final_quantized_keras_accuracy"),
                      ("Akida", "akida_accuracy"),
                      ("Keras-vs-Akida argmax agreement", "keras_akida_agreement")]:
        print(f"| {name} | {summary[key]:.2%} |")
    print(f"\nDone in {summary['total_seconds']} s ({summary['total_cpu_seconds']} CPU s on "
          f"{os.cpu_count()} cores).")
    return 0


if __name__ == "__main__":
    cnn2snn_tfmot.tfkeras  # noqa: B018 - imported first: tensorflow.keras is Keras 2
    raise SystemExit(main())
