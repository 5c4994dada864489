"""The emulator against TensorFlow Lite's int8 kernels: one JSON line per input size.

The network is the zoo's AkidaNet-like model (``cnn2snn_tfmot.data.zoo.akidanet_like``, width 0.5,
1000 classes) with random weights, BatchNormalization calibrated on the input batch, quantized
4/4/8 and converted (``input_scaling=(255, 0)``). Inputs are random uint8 images (no ImageNet
data here). For each size (64, 128, 160, 224 by default) and batch (1 and 32) it measures
images/s of:

* ``ours``: ``Model.forward(x, batch_size=len(x))``, the call a user makes (the default engine);
* ``tflite_int8``: TensorFlow Lite with XNNPACK, 2 threads, on the full-integer post-training
  quantization of the same float model (representative dataset: the calibration images; uint8
  input), including ``set_tensor`` / ``invoke`` / ``get_tensor``. The interpreter is
  ``ai_edge_litert``'s when installed (``pip install .[bench]``), else ``tf.lite``'s;
* ``keras_float``: the float tf_keras model (traced ``model(x, training=False)``);
* ``akida_runtime``: BrainChip's runtime ``forward``, when the ``akida`` wheel is installed.

Each engine runs in its own worker process, so that its peak resident memory (VmHWM) is its own;
the engines take turns over ``--passes`` passes (in alternating order), so that a slow spell of
other work on the machine does not fall on one engine only. A round times consecutive calls for
at least ``--round-seconds``; each figure is the best round (interference only ever slows a
round) and the median of all rounds. Ratios are ours over the other engine, best over best and
median over median.

Run: ``python benchmarks/tflite_anchor.py [--sizes 64 128 160 224] [--rounds 5] [--passes 2]``
Targets (issue #14): ours >= 1.0 x tflite_int8 at batch 32 at every size, and at batch 1 from
128x128 up.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from emulator import _peak_rss_mb, sparsity  # this script's folder is on sys.path

ENGINES = ("ours", "tflite_int8", "keras_float", "akida_runtime")
BATCHES = (1, 32)
TFLITE_THREADS = 2
CALIBRATION_IMAGES = 32


# Worker: one engine, in its own process --------------------------------------------------------

def _tflite_interpreter_class():
    """ai_edge_litert's Interpreter when installed, else tf.lite's; and its description."""
    try:
        from importlib.metadata import version

        from ai_edge_litert.interpreter import Interpreter
        return Interpreter, f"ai_edge_litert {version('ai-edge-litert')}"
    except ImportError:
        import warnings

        import tensorflow as tf
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
        return tf.lite.Interpreter, f"tensorflow.lite {tf.__version__}"


def _runner(engine, directory, batch):
    """A function of a uint8 batch for `engine`, and facts about it."""
    import numpy as np

    if engine == "tflite_int8":
        interpreter_class, description = _tflite_interpreter_class()
        interpreter = interpreter_class(model_path=os.path.join(directory, "int8.tflite"),
                                        num_threads=TFLITE_THREADS)
        source = interpreter.get_input_details()[0]
        shape = [batch] + list(source["shape"][1:])
        interpreter.resize_tensor_input(source["index"], shape)
        interpreter.allocate_tensors()
        source = interpreter.get_input_details()[0]
        target = interpreter.get_output_details()[0]

        def run(x):
            interpreter.set_tensor(source["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(target["index"])

        return run, {"interpreter": description, "threads": TFLITE_THREADS,
                     "input_dtype": np.dtype(source["dtype"]).name}

    import cnn2snn_tfmot  # noqa: F401
    from cnn2snn_tfmot.tfkeras import keras, tf

    if engine == "keras_float":
        model = keras.models.load_model(os.path.join(directory, "float.h5"), compile=False)
        function = tf.function(lambda x: model(x, training=False), input_signature=[
            tf.TensorSpec([None] + list(model.inputs[0].shape[1:]), tf.float32)])
        concrete = function.get_concrete_function()
        return (lambda x: concrete(tf.constant(x.astype(np.float32) / 255)).numpy()), {}
    from cnn2snn_tfmot.akida import Model

    akida_model = Model(os.path.join(directory, "model.akida"))
    if engine == "akida_runtime":
        return akida_model.to_akida().forward, {}
    from cnn2snn_tfmot.engine import direct

    try:
        plan = akida_model.direct_plan() if direct.is_enabled() else None
    except direct.DirectUnsupported:
        plan = None
    if plan is not None:
        facts = {"path": "direct", "kernel_set": plan.kernel_set,
                 "algorithms": plan.algorithms, "threads": direct.default_threads()}
    else:
        facts = {"path": "tensorflow graph"}
    return (lambda x: akida_model.forward(x, batch_size=len(x))), facts


def worker(engine, directory, rounds, round_seconds):
    import numpy as np

    images = np.load(os.path.join(directory, "images.npy"))
    result = {}
    for batch in BATCHES:
        run, facts = _runner(engine, directory, batch)
        result.update(facts)
        batches = [images[i:i + batch] for i in range(0, len(images) - batch + 1, batch)]
        for b in batches[:2]:
            run(b)  # trace, allocate, warm the caches
        rates = []
        for _ in range(rounds):
            calls = 0
            started = time.perf_counter()
            while True:
                run(batches[calls % len(batches)])
                calls += 1
                elapsed = time.perf_counter() - started
                if elapsed >= round_seconds:
                    break
            rates.append(calls * batch / elapsed)
        result[f"batch_{batch}"] = [round(rate, 2) for rate in rates]
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


# Orchestrator ------------------------------------------------------------------------------------

def prepare(size, width, directory, seed=0):
    """Builds, calibrates, quantizes and converts the network; writes what the workers load.

    Returns facts about the converted model (its layers, zero activations, exactness).
    """
    import numpy as np

    import cnn2snn_tfmot  # noqa: F401
    from cnn2snn_tfmot import convert, quantize
    from cnn2snn_tfmot.data.zoo import akidanet_like, calibrate_batchnorm
    from cnn2snn_tfmot.tfkeras import keras, tf

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (64, size, size, 3)).astype(np.uint8)
    calibration = images[:CALIBRATION_IMAGES].astype(np.float32) / 255
    model = akidanet_like((size, size, 3), width=width, classes=1000)
    # BatchNormalization statistics from the inputs, as a trained model would have them.
    calibrate_batchnorm(model, calibration)
    model.save(os.path.join(directory, "float.h5"))
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    akida_model.save(os.path.join(directory, "model.akida"))
    np.save(os.path.join(directory, "images.npy"), images)

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([calibration[i:i + 1]]
                                                for i in range(CALIBRATION_IMAGES))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    with open(os.path.join(directory, "int8.tflite"), "wb") as handle:
        handle.write(converter.convert())

    facts = {"layers": [layer.layer_type for layer in akida_model.layers],
             "zero_activation_fraction": sparsity(akida_model, images[:8])}
    try:
        runtime = akida_model.to_akida()
        facts["bit_exact_vs_akida_runtime"] = bool(np.array_equal(
            akida_model.forward(images[:2]), runtime.forward(images[:2])))
    except ImportError:
        facts["bit_exact_vs_akida_runtime"] = None
    return facts


def _load_average():
    """The 1-minute load average: other work on the machine slows every engine."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not available
        return None


def _run_worker(engine, directory, args):
    process = subprocess.run(
        [sys.executable, __file__, "--worker", engine, "--directory", directory,
         "--rounds", str(args.rounds if engine != "akida_runtime" else args.slow_rounds),
         "--round-seconds", str(args.round_seconds)],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
    lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
    if process.returncode != 0 or not lines:
        error = (process.stderr.strip().splitlines() or ["failed"])[-1][:300]
        return {"error": error}
    return json.loads(lines[-1])


def summarize(passes):
    """Best and median per batch over every round of every pass; peak memory the largest."""
    if any("error" in run for run in passes):
        return {"error": next(run["error"] for run in passes if "error" in run)}
    summary = {key: value for key, value in passes[0].items()
               if not key.startswith("batch_") and key != "peak_rss_mb"}
    for batch in BATCHES:
        rates = [rate for run in passes for rate in run[f"batch_{batch}"]]
        summary[f"batch_{batch}"] = {"best": round(max(rates), 1),
                                     "median": round(statistics.median(rates), 1),
                                     "rounds": len(rates)}
    summary["peak_rss_mb"] = max(run["peak_rss_mb"] for run in passes)
    return summary


def ratios(engines, other):
    ours = engines.get("ours", {})
    theirs = engines.get(other, {})
    out = {}
    for batch in BATCHES:
        key = f"batch_{batch}"
        if key in ours and key in theirs:
            out[key] = {stat: round(ours[key][stat] / theirs[key][stat], 2)
                        for stat in ("best", "median")}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[64, 128, 160, 224])
    parser.add_argument("--width", type=float, default=0.5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--slow-rounds", type=int, default=2,
                        help="rounds per pass of BrainChip's runtime (slow on this network)")
    parser.add_argument("--passes", type=int, default=2)
    parser.add_argument("--round-seconds", type=float, default=0.5)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.directory, args.rounds, args.round_seconds)
        return
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as directory:
            facts = prepare(size, args.width, directory)
            runs = {engine: [] for engine in args.engines}
            for index in range(args.passes):
                order = args.engines if index % 2 == 0 else list(reversed(args.engines))
                for engine in order:
                    runs[engine].append(_run_worker(engine, directory, args))
            engines = {engine: summarize(passes) for engine, passes in runs.items()}
            result = {"benchmark": "tflite_anchor", "model": "akidanet_like",
                      "width": args.width, "input_shape": [size, size, 3], **facts,
                      "engines": engines,
                      "ours_over": {other: ratios(engines, other)
                                    for other in args.engines if other != "ours"}}
            versus = result["ours_over"].get("tflite_int8", {})
            targets = {"batch_32": versus.get("batch_32")}
            if size >= 128:
                targets["batch_1"] = versus.get("batch_1")
            result["targets_vs_tflite_int8"] = {
                key: None if value is None else {**value, "target": 1.0,
                                                 "met_best": value["best"] >= 1.0,
                                                 "met_median": value["median"] >= 1.0}
                for key, value in targets.items()}
            result.update({"cpus": os.cpu_count(), "machine": platform.machine(),
                           "passes": args.passes, "round_seconds": args.round_seconds,
                           "load_average_after": _load_average()})
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
