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

For ``ours`` on the direct engine it also reports, per layer kind (input convolution,
convolution, separable, dense; ``machine_peak.py``), the multiply-adds per image, the share of
the time and the multiply-adds per second of one thread, from a separate round with the
engine's per-layer timing on (``DirectPlan.set_profiling``: the timed rounds run without it),
and the fraction of one core's int8 peak; and the whole network's multiply-adds per second
against this machine's peak (``machine_peak.int8_peak``: cores x clock x multiply-adds per cycle
of the kernel set found; the assumptions are in that module's docstring).

Each engine runs in its own worker process, so that its peak resident memory (VmHWM) is its own
(``imports_peak_rss_mb``: the same after its imports, before any model: TensorFlow's share);
the engines take turns over ``--passes`` passes (in alternating order), so that a slow spell of
other work on the machine does not fall on one engine only. A round times consecutive calls for
at least ``--round-seconds``; each figure is the best round (interference only ever slows a
round) and the median of all rounds. Ratios are ours over the other engine, best over best and
median over median.

Run: ``python benchmarks/tflite_anchor.py [--sizes 64 128 160 224] [--rounds 5] [--passes 2]``
Targets (issue #23): ours >= 1.5 x tflite_int8 at every size and at batches 1 and 32 (issue #14
asked for 1.0); ours' peak resident memory not above the README's figure before issue #23's
work (``BASELINE_PEAK_RSS_MB``: ``peak_rss_over_baseline`` <= 1).
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
from machine_peak import against_peak, int8_peak, profile_by_kind

ENGINES = ("ours", "tflite_int8", "keras_float", "akida_runtime")
BATCHES = (1, 32)
TFLITE_THREADS = 2
CALIBRATION_IMAGES = 32
#: ours over tflite_int8 asked for by issue #23, at every size and batch.
TARGET_OVER_TFLITE = 1.5
#: Peak resident memory of ``forward()`` in the README's table before issue #23's work (654 to
#: 667 MB over the sizes 64 to 224): the largest, the figure not to exceed.
BASELINE_PEAK_RSS_MB = 667.0


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
                 "algorithms": plan.algorithms, "threads": direct.default_threads(),
                 "_plan": plan}
    else:
        facts = {"path": "tensorflow graph"}
    return (lambda x: akida_model.forward(x, batch_size=len(x))), facts


def worker(engine, directory, rounds, round_seconds):
    import numpy as np

    images = np.load(os.path.join(directory, "images.npy"))
    if engine != "tflite_int8":
        import cnn2snn_tfmot  # noqa: F401 - imports TensorFlow
    # What the imports alone take (TensorFlow: most of every engine's peak), before any model.
    result = {"imports_peak_rss_mb": _peak_rss_mb()}
    for batch in BATCHES:
        run, facts = _runner(engine, directory, batch)
        plan = facts.pop("_plan", None)
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
        if plan is not None:
            # After the timed rounds: the timing of each work item costs a little.
            result[f"profile_batch_{batch}"] = profile_by_kind(plan, run, batches[0],
                                                               round_seconds)
            result["layer_macs"] = plan.layer_macs
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


def _add_peak_figures(result):
    """ours' multiply-adds per second per layer kind and for the network against this
    machine's int8 peak, and each engine's peak memory against the README's figure before."""
    ours = result["engines"].get("ours", {})
    for engine in result["engines"].values():
        if "peak_rss_mb" in engine:
            engine["peak_rss_over_baseline"] = round(engine["peak_rss_mb"] /
                                                     BASELINE_PEAK_RSS_MB, 3)
    result["baseline_peak_rss_mb"] = BASELINE_PEAK_RSS_MB
    if "kernel_set" not in ours or "layer_macs" not in ours:
        return
    peak = int8_peak(ours["kernel_set"])
    result["int8_peak"] = peak
    macs = sum(ours["layer_macs"])
    result["macs_per_image"] = macs
    for batch in BATCHES:
        profile = ours.get(f"profile_batch_{batch}")
        if profile is not None:
            ours[f"profile_batch_{batch}"] = {
                "algorithms": profile["algorithms"],
                **against_peak(profile["kinds"], peak, ours[f"batch_{batch}"]["best"], macs)}


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
               if not key.startswith(("batch_", "profile_")) and "rss" not in key}
    for batch in BATCHES:
        rates = [rate for run in passes for rate in run[f"batch_{batch}"]]
        summary[f"batch_{batch}"] = {"best": round(max(rates), 1),
                                     "median": round(statistics.median(rates), 1),
                                     "rounds": len(rates)}
        profiles = [run[f"profile_batch_{batch}"] for run in passes
                    if f"profile_batch_{batch}" in run]
        if profiles:
            summary[f"profile_batch_{batch}"] = _merge_profiles(profiles)
    summary["peak_rss_mb"] = max(run["peak_rss_mb"] for run in passes)
    summary["imports_peak_rss_mb"] = max(run["imports_peak_rss_mb"] for run in passes)
    return summary


def _merge_profiles(profiles):
    """One profile per batch: per kind, the best rate over the passes (as for images/s) and
    the median share of the time; the last pass's algorithms."""
    kinds = {}
    for kind in profiles[0]["kinds"]:
        entries = [p["kinds"][kind] for p in profiles if kind in p["kinds"]]
        rates = [e["gmacs_per_thread_second"] for e in entries
                 if e["gmacs_per_thread_second"] is not None]
        kinds[kind] = {"layers": entries[0]["layers"],
                       "macs_per_image": entries[0]["macs_per_image"],
                       "share_of_time": round(statistics.median(
                           e["share_of_time"] for e in entries), 3),
                       "gmacs_per_thread_second": max(rates) if rates else None}
    return {"algorithms": profiles[-1]["algorithms"], "kinds": kinds}


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
            load_before = _load_average()
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
            result["targets_vs_tflite_int8"] = {
                key: None if value is None else {
                    **value, "target": TARGET_OVER_TFLITE,
                    "met_best": value["best"] >= TARGET_OVER_TFLITE,
                    "met_median": value["median"] >= TARGET_OVER_TFLITE}
                for key, value in ((f"batch_{b}", versus.get(f"batch_{b}")) for b in BATCHES)}
            _add_peak_figures(result)
            result.update({"cpus": os.cpu_count(), "machine": platform.machine(),
                           "passes": args.passes, "round_seconds": args.round_seconds,
                           "load_average_before": load_before,
                           "load_average_after": _load_average()})
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
