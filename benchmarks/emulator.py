"""Emulator speed and memory: one JSON line per model.

For each model (the MNIST CNN and a CIFAR-size 4-block separable CNN of cnn2snn_tfmot.data.zoo,
and issue 23's separable CNN: 28x28, a 3x3 convolution of 32 then separable 64, 64, 128 with
max pooling after the first and third, dense 10, trained one epoch on MNIST like the MNIST CNN),
quantized 4/4/8 and converted, it measures images/s at batch 1 and batch 256 of:

* ``custom``: ``Model.forward(x, batch_size=len(x))`` with the default engine (the direct
  engine of the compiled library: one C call per batch);
* ``custom_graph``: the traced TensorFlow function of the compiled ops (the SavedModel's path);
* ``tf``: ``Model.forward`` with ``engine="tf"``, the pure-TensorFlow fallback;
* ``keras_float``: the float tf_keras model of the same architecture (the traced function of
  ``model(x, training=False)``, oneDNN kernels);
* ``akida_runtime``: BrainChip's runtime (``akida`` wheel) ``forward``, when installed.

Each engine runs in its own worker process, so that its peak resident memory (VmHWM) is its
own. Each figure is the best of several timed rounds after a warm-up (interference from other
work only ever slows a round); the medians are reported too. Inputs: the MNIST
test images for MNIST, random uint8 images for CIFAR (no CIFAR data here); the average fraction
of zero activation levels is reported, since it drives event-driven kernels.

For ``custom`` on the direct engine it also reports the multiply-adds per second of each layer
kind against this machine's int8 peak (``machine_peak.py``, as ``tflite_anchor.py`` does).

``pool_in_gemm`` times the direct engine with max pooling in the GEMM against its tile path
(``CNN2SNN_TFMOT_DIRECT_POOL_GEMM=0``), alternating in one process, at batches 1, 32 and 256.

Run: ``python benchmarks/emulator.py [--rounds 5] [--models mnist cifar issue23]
[--engines custom pool_in_gemm ...]``
Targets: custom >= keras_float at batch 256, and custom >= 5 x akida_runtime at batch 256 and
at batch 1; issue #23: custom >= 40 x akida_runtime at batch 256 on the MNIST CNN and issue 23's
separable CNN (``target_issue_23``).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ENGINES = ("custom", "custom_graph", "tf", "keras_float", "akida_runtime", "pool_in_gemm")
BATCHES = (1, 256)
#: Batches of the ``pool_in_gemm`` comparison.
POOL_GEMM_BATCHES = (1, 32, 256)
POOL_GEMM_ENV_VAR = "CNN2SNN_TFMOT_DIRECT_POOL_GEMM"
#: Issue 23's separable CNN in engine_choice.py's notation.
ISSUE23_LAYERS = "c32 s64p s64 s128p d10"
#: custom over akida_runtime at batch 256 asked for by issue #23 (MNIST CNN, issue23).
TARGET_OVER_RUNTIME_256 = 40


# Worker: one engine, in its own process -------------------------------------------------------

def _runner(engine, directory):
    import numpy as np

    import cnn2snn_tfmot  # noqa: F401
    from cnn2snn_tfmot.tfkeras import keras, tf

    if engine == "keras_float":
        model = keras.models.load_model(os.path.join(directory, "float.h5"), compile=False)
        function = tf.function(lambda x: model(x, training=False), input_signature=[
            tf.TensorSpec([None] + list(model.inputs[0].shape[1:]), tf.float32)])
        concrete = function.get_concrete_function()
        return lambda x: concrete(tf.constant(x.astype(np.float32) / 255)).numpy()
    from cnn2snn_tfmot.akida import Model

    akida_model = Model(os.path.join(directory, "model.akida"))
    if engine == "akida_runtime":
        runtime = akida_model.to_akida()
        return runtime.forward
    if engine == "custom_graph":
        concrete = akida_model.emulator_function("custom").get_concrete_function()
        return lambda x: concrete(tf.constant(x)).numpy()
    choice = None if engine == "custom" else engine

    def run(x):
        return akida_model.forward(x, batch_size=len(x), backend=choice)

    if engine == "custom":
        from cnn2snn_tfmot.engine import direct

        try:
            # The model's cached plan, the one forward() runs: its per-layer timing.
            run.plan = akida_model.direct_plan() if direct.is_enabled() else None
        except direct.DirectUnsupported:
            run.plan = None
    return run


def _batches(images, batch):
    """64 images at batch 1, else the whole set (at least 1024 images), in full batches."""
    count = 64 if batch == 1 else max(len(images), 1024)
    batches = [images[(i * batch) % len(images):][:batch] for i in range(count // batch)]
    return [b for b in batches if len(b) == batch]


def pool_gemm_worker(directory, rounds):
    """The direct engine with max pooling in the GEMM (the default) against the tile of conv
    potentials pooled afterwards (``CNN2SNN_TFMOT_DIRECT_POOL_GEMM=0``), side by side in this
    process: the two alternate round by round (the switch is read at every run), and each
    figure is the best round, so that the load of the machine weighs on both alike."""
    import numpy as np

    images = np.load(os.path.join(directory, "images.npy"))
    run = _runner("custom", directory)
    result = {}
    modes = {"0": "tile", "1": "pool_in_gemm"}
    for batch in POOL_GEMM_BATCHES:
        batches = _batches(images, batch)
        best = dict.fromkeys(modes, 0.0)
        outputs = {}
        for mode in modes:
            os.environ[POOL_GEMM_ENV_VAR] = mode
            outputs[mode] = run(batches[0])
            for b in batches[:3]:
                run(b)  # warm up
        for r in range(rounds):
            for mode in modes if r % 2 == 0 else reversed(list(modes)):
                os.environ[POOL_GEMM_ENV_VAR] = mode
                started = time.perf_counter()
                for b in batches:
                    run(b)
                best[mode] = max(best[mode],
                                 len(batches) * batch / (time.perf_counter() - started))
        result[f"batch_{batch}"] = {
            **{f"{name}_images_per_s": round(best[mode], 1) for mode, name in modes.items()},
            "ratio": round(best["1"] / best["0"], 3),
            "identical": bool(np.array_equal(outputs["0"], outputs["1"]))}
    os.environ[POOL_GEMM_ENV_VAR] = "1"
    run(batches[0])
    if run.plan is not None:
        result["pools_in_gemm"] = run.plan.pools_in_gemm
    print(json.dumps(result))


def worker(engine, directory, rounds):
    import numpy as np

    if engine == "pool_in_gemm":
        pool_gemm_worker(directory, rounds)
        return
    images = np.load(os.path.join(directory, "images.npy"))
    run = _runner(engine, directory)
    result = {}
    plan = getattr(run, "plan", None)
    for batch in BATCHES:
        batches = _batches(images, batch)
        for b in batches[:3]:
            run(b)  # trace / warm up
        timings = []
        for _ in range(rounds):
            started = time.perf_counter()
            for b in batches:
                run(b)
            timings.append(len(batches) * batch / (time.perf_counter() - started))
        result[f"batch_{batch}_images_per_s"] = round(max(timings), 1)
        result[f"batch_{batch}_median_images_per_s"] = round(statistics.median(timings), 1)
        if plan is not None:
            # After the timed rounds: the timing of each work item costs a little.
            from machine_peak import against_peak, int8_peak, profile_by_kind

            profile = profile_by_kind(plan, run, batches[0], 0.5)
            result[f"profile_batch_{batch}"] = {
                "algorithms": profile["algorithms"],
                **against_peak(profile["kinds"], int8_peak(plan.kernel_set),
                               result[f"batch_{batch}_images_per_s"], sum(plan.layer_macs))}
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def _peak_rss_mb():
    """Peak resident memory of this process's address space (VmHWM): unlike ru_maxrss, which
    Linux keeps across execve, it does not include the parent's peak before the exec."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


# Orchestrator ---------------------------------------------------------------------------------

def prepare(name, directory):
    """Builds, quantizes and converts the model; writes what the workers load."""
    import numpy as np
    from engine_choice import build_float

    import cnn2snn_tfmot  # noqa: F401
    from cnn2snn_tfmot import convert, quantize
    from cnn2snn_tfmot.data.datasets import mnist_split
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm, cifar_separable_cnn, mnist_cnn
    from cnn2snn_tfmot.tfkeras import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if name in ("mnist", "issue23"):
        (train, labels), (images, _) = mnist_split()
        model = mnist_cnn() if name == "mnist" else build_float((28, 28, 1), ISSUE23_LAYERS)
        model.compile(keras.optimizers.Adam(1e-3),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(train.astype(np.float32) / 255, labels, epochs=1, batch_size=64, verbose=0)
    else:
        images = rng.integers(0, 256, (2048, 32, 32, 3)).astype(np.uint8)
        model = cifar_separable_cnn()
        # BatchNormalization statistics from the inputs, as a trained model would have them.
        calibrate_batchnorm(model, images[:512].astype(np.float32) / 255)
    model.save(os.path.join(directory, "float.h5"))
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    akida_model.save(os.path.join(directory, "model.akida"))
    np.save(os.path.join(directory, "images.npy"), images)
    return akida_model, images


def sparsity(akida_model, images):
    """Average fraction of zero levels over the layers with an activation."""
    stats = akida_model.statistics(images[:256])
    zeros = [stats[layer.name].sparsity for layer in akida_model.layers
             if layer.parameters.activation]
    return round(sum(zeros) / len(zeros), 3) if zeros else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["mnist", "cifar", "issue23"],
                        choices=["mnist", "cifar", "issue23"])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--directory", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.directory, args.rounds)
        return
    import platform

    for name in args.models:
        with tempfile.TemporaryDirectory() as directory:
            akida_model, images = prepare(name, directory)
            result = {"benchmark": "emulator", "model": name,
                      "input_shape": list(akida_model.input_shape),
                      "layers": [layer.layer_type for layer in akida_model.layers],
                      "zero_activation_fraction": sparsity(akida_model, images)}
            for engine in args.engines:
                process = subprocess.run(
                    [sys.executable, __file__, "--worker", engine, "--directory", directory,
                     "--rounds", str(args.rounds)], capture_output=True, text=True,
                    env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
                lines = [line for line in process.stdout.splitlines() if line.startswith("{")]
                if process.returncode != 0 or not lines:
                    result[engine] = {"error": (process.stderr.strip().splitlines() or
                                                ["failed"])[-1][:300]}
                else:
                    result[engine] = json.loads(lines[-1])
            try:  # --engines may leave some out
                custom, keras_float, runtime = (result[e] for e in ("custom", "keras_float",
                                                                    "akida_runtime"))
                result["custom_over_keras_float_batch_256"] = round(
                    custom["batch_256_images_per_s"] / keras_float["batch_256_images_per_s"], 2)
                result["custom_over_akida_runtime_batch_256"] = round(
                    custom["batch_256_images_per_s"] / runtime["batch_256_images_per_s"], 2)
                result["custom_over_akida_runtime_batch_1"] = round(
                    custom["batch_1_images_per_s"] / runtime["batch_1_images_per_s"], 2)
                result["targets_met"] = (result["custom_over_keras_float_batch_256"] >= 1.0
                                         and result["custom_over_akida_runtime_batch_256"] >= 5
                                         and result["custom_over_akida_runtime_batch_1"] >= 5)
                if name in ("mnist", "issue23"):
                    ratio = result["custom_over_akida_runtime_batch_256"]
                    result["target_issue_23"] = {"custom_over_akida_runtime_batch_256": ratio,
                                                 "target": TARGET_OVER_RUNTIME_256,
                                                 "met": ratio >= TARGET_OVER_RUNTIME_256}
            except (KeyError, TypeError, ZeroDivisionError):
                result["targets_met"] = None
            result.update({"cpus": os.cpu_count(), "machine": platform.machine(),
                           "load_average_after": round(os.getloadavg()[0], 2)})
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
