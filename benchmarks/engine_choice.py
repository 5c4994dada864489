"""The default engine against both engines it chooses from: one JSON line per network and batch.

``Model.forward(x)`` with ``backend=None`` runs the direct engine (one C call per batch) or the
TensorFlow graph of the compiled ops, whichever measured faster on the model and batch size
(:meth:`cnn2snn_tfmot.akida.Model.default_backend`, :mod:`cnn2snn_tfmot.engine.choice`; the
benchmark asks for the decision first, which a long run reaches by itself). For each network
of a sweep (the zoo's models and small networks from 28 to 224 pixels: convolution / separable /
dense mixes, 2 to 8-bit weights, 1 to 4-bit activations, image and sparse inputs) and each batch
size it measures, in one process, images/s of ``forward(x, batch_size=B)`` with
``backend="direct"``, ``backend="custom"`` and the default, taking turns (one short round of
each engine, then the next round: a slow spell of the shared machine falls on all three), and
reports the medians, the choice, and ``default_over_best``: the default's speed over the
faster engine's (ratios are medians over the rounds of the ratio within a round).
``direct_fixed`` is the direct engine without the choices its plan makes per layer after the
first runs (``algorithms``: int16 separable operands where depthwise sums often leave int8,
event-driven rows where input patches are often all zero); ``direct_over_fixed`` is what they
gain.

Networks are float tf_keras models with BatchNormalization calibrated on the inputs (about half
the activations zero after ReLU), quantized and converted; the inputs are random uint8 images
(image inputs), 4-bit events 80% zero (sparse inputs), or 4-bit events in clusters, blank
rectangles over 70% of each image (``blank_events_32``).

Run: ``python benchmarks/engine_choice.py [--size full|ci] [--rounds 15] [--check 0.85]``
``--size ci`` (a few 28 to 64 pixel networks, batches 1 and 32) is the regression check run by
``make bench-ci``: with ``--check R`` the script exits with status 1 when the default runs at
less than R times the faster engine on some case in each of 3 attempts (a ratio measured side by
side, not a time).
Target (issue #23): default_over_best >= 1 within the noise (0.85 allows for it) on every case.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

# Networks: (name, input shape, layers, (weight, activation, input weight) bits, sparse input).
# A layer: "c32" convolution 3x3, "c32s2" stride 2, "s64" separable 3x3, "d10" dense; a suffix
# "p" adds 2x2 max pooling, "g" global average pooling. The last layer has no activation.
SWEEP = [
    ("issue23_separable", (28, 28, 1), "c32 s64p s64 s128p d10", (4, 4, 8), False),
    ("issue23_conv", (28, 28, 1), "c32p c64p c64 d10", (4, 4, 8), False),
    ("zoo_mnist_cnn", (28, 28, 1), "zoo:mnist_cnn", (4, 4, 8), False),
    ("zoo_cifar_separable_cnn", (32, 32, 3), "zoo:cifar_separable_cnn", (4, 4, 8), False),
    ("zoo_deep_separable_cnn", (28, 28, 1), "zoo:deep_separable_cnn", (4, 4, 8), False),
    ("zoo_akidanet_like_64", (64, 64, 3), "zoo:akidanet_like", (4, 4, 8), False),
    ("dense_mix_28", (28, 28, 1), "c16p d128 d64 d10", (4, 4, 8), False),
    ("binary_28", (28, 28, 1), "c32 s64p s64p d10", (2, 1, 8), False),
    ("two_bit_32", (32, 32, 3), "c32 s64p s128p s128g d10", (2, 2, 8), False),
    ("eight_bit_weights_28", (28, 28, 1), "c32p c64p d10", (8, 4, 8), False),
    ("sparse_events_28", (28, 28, 4), "s32 s64p s64p d10", (4, 4, 4), True),
    ("sparse_conv_32", (32, 32, 8), "c32 c32p c64p d10", (4, 2, 4), True),
    ("sparse_dense_16", (16, 16, 2), "d256 d10", (4, 4, 4), True),
    ("blank_events_32", (32, 32, 16), "c64 s64p s128 d10", (4, 4, 4), "blank"),
    ("wide_conv_56", (56, 56, 3), "c32s2 c64 s128p s128p s256g d10", (4, 4, 8), False),
    ("separable_112", (112, 112, 3), "c16s2 s32p s64p s128p s128g d10", (4, 4, 8), False),
    ("conv_224", (224, 224, 3), "c16s2 c32s2 s64p s128p s128p s256g d100", (4, 4, 8), False),
]
CI_CASES = ("issue23_separable", "issue23_conv", "zoo_mnist_cnn", "sparse_events_28",
            "dense_mix_28", "blank_events_32")
BATCHES = {"full": (1, 32, 256), "ci": (1, 32)}
ENGINES = ("direct", "custom", "default", "direct_fixed")
SPARSE_ZEROS = 0.8
BLANK_SHARE = 0.7
# With --check, a case below the ratio is measured again up to this many times (the shared
# machine's noise: the same engine measured twice differs by up to 1.5x in a short round).
RETRIES = 2
# The direct engine without its per-layer decisions (int8 separable operands, no event-driven
# rows): what they gain.
FIXED_ENV = {"CNN2SNN_TFMOT_DIRECT_SEPARABLE_OPERANDS": "int8", "CNN2SNN_TFMOT_DIRECT_EVENTS": "0"}


def build_float(shape, layers):
    """The float tf_keras model of a sweep entry."""
    from cnn2snn_tfmot.data import zoo
    from cnn2snn_tfmot.tfkeras import keras

    if layers.startswith("zoo:"):
        name = layers[4:]
        if name == "akidanet_like":
            return zoo.akidanet_like(shape, width=0.5, classes=100)
        if name == "deep_separable_cnn":
            return zoo.deep_separable_cnn(shape)
        return getattr(zoo, name)()
    L = keras.layers
    tokens = layers.split()
    out = [keras.Input(shape)]
    for index, token in enumerate(tokens):
        last = index == len(tokens) - 1
        kind, rest = token[0], token[1:]
        pool = rest[-1] if rest[-1] in "pg" else ""
        rest = rest.rstrip("pg")
        filters, _, stride = rest.partition("s")
        filters, stride = int(filters), int(stride or 1)
        if kind == "d":
            if index == 0 or tokens[index - 1][0] != "d":
                out.append(L.Flatten())
            out.append(L.Dense(filters, use_bias=False))
        elif kind == "c":
            out.append(L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False))
        else:
            out.append(L.SeparableConv2D(filters, 3, strides=stride, padding="same",
                                         use_bias=False))
        if last:
            break
        out.append(L.BatchNormalization())
        if pool == "p":
            out.append(L.MaxPool2D(padding="same"))
        elif pool == "g":
            out.append(L.GlobalAveragePooling2D())
        out.append(L.ReLU())
    return keras.Sequential(out)


def prepare(entry, rng):
    """The converted Akida model of a sweep entry and its uint8 inputs (512 images)."""
    import numpy as np

    from cnn2snn_tfmot import convert, quantize
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm
    from cnn2snn_tfmot.tfkeras import keras

    name, shape, layers, (weight_bits, act_bits, input_bits), sparse = entry
    keras.utils.set_random_seed(0)
    if sparse == "blank":  # 4-bit events in clusters: blank rectangles over 70% of the image
        images = rng.integers(1, 16, (512,) + shape).astype(np.uint8)
        for image in images:
            while np.mean(np.all(image == 0, axis=-1)) < BLANK_SHARE:
                top, left = rng.integers(0, shape[0]), rng.integers(0, shape[1])
                image[top:top + rng.integers(1, shape[0] + 1),
                      left:left + rng.integers(1, shape[1] + 1)] = 0
        scale = 15.0
    elif sparse:
        images = rng.integers(1, 16, (512,) + shape).astype(np.uint8)
        images[rng.random(images.shape) < SPARSE_ZEROS] = 0
        scale = 15.0
    else:
        images = rng.integers(0, 256, (512,) + shape).astype(np.uint8)
        scale = 255.0
    model = build_float(shape, layers)
    calibrate_batchnorm(model, images[:256].astype(np.float32) / scale)
    quantized = quantize(model, weight_bits, act_bits, input_bits,
                         input_scaling=None if sparse else (255, 0))
    akida_model = convert(quantized, input_scaling=None if sparse else (255, 0),
                          input_is_sparse=bool(sparse))
    return akida_model, images


def measure(akida_model, images, batch, rounds, round_seconds):
    """Median images/s of each engine through ``forward``: the engines take turns every short
    round (a few batches), so that a slow spell of the shared machine falls on all of them."""
    import numpy as np

    from cnn2snn_tfmot.engine.direct import DirectPlan

    runs = {engine: (lambda x, engine=engine: akida_model.forward(
        x, batch_size=batch, backend=None if engine == "default" else engine))
        for engine in ENGINES if engine != "direct_fixed"}
    fixed = DirectPlan(akida_model.lowered(), akida_model.input_shape)

    def run_fixed(x):
        os.environ.update(FIXED_ENV)
        try:
            return np.concatenate([fixed.run(x[i:i + batch]) for i in range(0, len(x), batch)])
        finally:
            for name in FIXED_ENV:
                del os.environ[name]

    runs["direct_fixed"] = run_fixed
    reference = runs["custom"](images[:batch])
    for engine, run in runs.items():  # trace / warm up, and check the engines agree
        if not np.array_equal(run(images[:batch]), reference):
            raise AssertionError(f"{engine} differs from the graph of the ops")
    # Images per round: enough batches for about round_seconds on the faster engine (a round
    # of a few milliseconds is dominated by the scheduler's time slices on a loaded machine).
    per_batch = []
    for engine in ("custom", "direct"):
        started = time.perf_counter()
        runs[engine](images[:batch])
        per_batch.append(time.perf_counter() - started)
    count = int(min(max(1, round_seconds / max(min(per_batch), 1e-6)), 4096 // batch + 1)) * batch
    x = np.resize(images, (count,) + images.shape[1:])
    speeds = {engine: [] for engine in ENGINES}
    for index in range(rounds):
        order = ENGINES if index % 2 == 0 else ENGINES[::-1]
        for engine in order:
            started = time.perf_counter()
            runs[engine](x)
            speeds[engine].append(count / (time.perf_counter() - started))
    return speeds


def ratio(speeds, a, b):
    """The median over the rounds of a's speed over b's in the same round (a slow spell of the
    machine between rounds cancels out)."""
    return round(statistics.median(x / y for x, y in zip(speeds[a], speeds[b])), 3)


def zero_fraction(akida_model, images):
    """Average fraction of zero levels over the layers with an activation."""
    stats = akida_model.statistics(images[:128])
    zeros = [stats[layer.name].sparsity for layer in akida_model.layers
             if layer.layer_type != "InputData" and layer.parameters.activation]
    return round(sum(zeros) / len(zeros), 3) if zeros else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=("full", "ci"), default="full")
    parser.add_argument("--cases", nargs="+", help="names of the sweep entries to run")
    parser.add_argument("--batches", nargs="+", type=int)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--round-seconds", type=float, default=0.05)
    parser.add_argument("--check", type=float, default=None,
                        help="exit 1 when default / faster engine is below this on a case")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np

    import cnn2snn_tfmot  # noqa: F401

    names = args.cases or (CI_CASES if args.size == "ci" else [e[0] for e in SWEEP])
    entries = [entry for entry in SWEEP if entry[0] in names]
    unknown = set(names) - {entry[0] for entry in entries}
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; choose from {[e[0] for e in SWEEP]}")
    batches = args.batches or BATCHES[args.size]
    worst = None
    for entry in entries:
        rng = np.random.default_rng(0)
        akida_model, images = prepare(entry, rng)
        lowered = akida_model.lowered()
        facts = {"benchmark": "engine_choice", "case": entry[0],
                 "input_shape": list(entry[1]), "layers": [layer.kind for layer in lowered
                                                           if layer.kind != "input"],
                 "bits": list(entry[3]), "sparse_input": entry[4],
                 "zero_activation_fraction": zero_fraction(akida_model, images)}
        for batch in batches:
            # The decision a long run reaches (after MEASURE_AFTER_SECONDS), taken at once.
            choice = akida_model.default_backend(batch, x=np.resize(
                images, (batch,) + images.shape[1:]))
            attempts = 0
            while True:  # a check measures a failing case again: noise passes, a fault stays
                attempts += 1
                rounds = measure(akida_model, images, batch, args.rounds, args.round_seconds)
                speeds = {engine: round(statistics.median(values), 1)
                          for engine, values in rounds.items()}
                best = "direct" if ratio(rounds, "direct", "custom") >= 1 else "custom"
                default_over_best = ratio(rounds, "default", best)
                if (args.check is None or default_over_best >= args.check
                        or attempts == RETRIES + 1):
                    break
            worst = default_over_best if worst is None else min(worst, default_over_best)
            result = dict(facts, batch=batch, images_per_s=speeds,
                          choice=choice,
                          direct_over_custom=ratio(rounds, "direct", "custom"),
                          direct_over_fixed=ratio(rounds, "direct", "direct_fixed"),
                          algorithms=akida_model.direct_plan().algorithms,
                          default_over_best=default_over_best, attempts=attempts,
                          load_average=round(os.getloadavg()[0], 2),
                          cpus=os.cpu_count(), machine=platform.machine())
            print(json.dumps(result), flush=True)
    print(json.dumps({"benchmark": "engine_choice", "summary": True, "size": args.size,
                      "worst_default_over_best": worst, "check": args.check}), flush=True)
    if args.check is not None and worst is not None and worst < args.check:
        sys.exit(1)


if __name__ == "__main__":
    main()
