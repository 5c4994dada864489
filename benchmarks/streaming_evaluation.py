"""Streaming evaluation in bounded memory: one JSON line per way of feeding the Akida model.

An MNIST-size Akida model (the zoo's MNIST CNN, BatchNormalization calibrated on MNIST images,
quantized 8/4/4, converted) evaluates 1,000,000 synthetic 28x28 uint8 images with labels,
generated on the fly (an in-memory array of them would take 784 MB):

* ``dataset``: ``Model.evaluate(tf.data.Dataset)`` of (images, labels) batches;
* ``generator``: ``Model.evaluate(python generator of numpy (images, labels) batches)``;
* ``sharded``: ``evaluate_sharded(model, dataset, outputs=False)`` on the default strategy.

Each runs in its own process. After loading the model and running one batch (TensorFlow and the
traced emulator are then resident), the process resets its peak resident memory
(``/proc/self/clear_refs``) and notes its resident memory; the figure ``peak_rss_growth_mb`` is
the peak during the whole evaluation minus that. Target: < 200 MB. ``images_per_s`` includes
generating the images.

Run: ``python benchmarks/streaming_evaluation.py [--images 1000000] [--batch 1024]``
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

WAYS = ("dataset", "generator", "sharded")


def _memory_mb(field):
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak():
    """Resets VmHWM to the current resident size (Linux >= 4.0); False when not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def worker(way, path, count, batch):
    import numpy as np

    import cnn2snn_tfmot  # noqa: F401
    from cnn2snn_tfmot import evaluate_sharded, tf
    from cnn2snn_tfmot.akida import Model

    model = Model(path)
    steps = count // batch

    def images_of(step):  # deterministic synthetic images and labels, made in the graph
        seed = tf.stack([tf.cast(step, tf.int32), tf.constant(7)])
        images = tf.random.stateless_uniform((batch, 28, 28, 1), seed, maxval=256,
                                             dtype=tf.int32)
        labels = tf.random.stateless_uniform((batch,), seed, maxval=10, dtype=tf.int32)
        return tf.cast(images, tf.uint8), tf.cast(labels, tf.int64)

    dataset = tf.data.Dataset.range(steps).map(images_of).prefetch(2)

    def generator():
        rng = np.random.default_rng(7)
        for _ in range(steps):
            yield (rng.integers(0, 256, (batch, 28, 28, 1), dtype=np.uint8),
                   rng.integers(0, 10, batch))

    def run(stream):
        if way == "sharded":
            return evaluate_sharded(model, stream, outputs=False, batch_size=batch).accuracy
        return model.evaluate(stream, batch_size=batch)

    run(dataset.take(2) if way != "generator" else iter([next(generator())]))  # warm up
    reset = _reset_peak()
    baseline = _memory_mb("VmRSS")
    started = time.perf_counter()
    accuracy = run(generator() if way == "generator" else dataset)
    seconds = time.perf_counter() - started
    peak = _memory_mb("VmHWM")
    print(json.dumps({
        "benchmark": "streaming_evaluation", "way": way, "images": steps * batch,
        "batch": batch, "images_per_s": round(steps * batch / seconds, 1),
        "seconds": round(seconds, 1), "accuracy": round(float(accuracy), 4),
        "baseline_rss_mb": round(baseline, 1), "peak_rss_growth_mb": round(peak - baseline, 1),
        "peak_reset": reset, "in_memory_array_mb": round(steps * batch * 784 / 2 ** 20, 1),
        "target_met": peak - baseline < 200}), flush=True)


def prepare(path):
    import numpy as np

    import cnn2snn_tfmot  # noqa: F401
    from cnn2snn_tfmot import convert, keras, quantize
    from cnn2snn_tfmot.data.datasets import mnist_split
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm, mnist_cnn

    keras.utils.set_random_seed(0)
    (images, _), _ = mnist_split()
    model = mnist_cnn()
    calibrate_batchnorm(model, images[:1024].astype(np.float32) / 255)
    convert(quantize(model, 4, 4, 8), input_scaling=(255, 0)).save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument("--worker", nargs=2, metavar=("WAY", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], args.worker[1], args.images, args.batch)
        return
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "model.akida")
        prepare(path)
        for way in args.ways:
            result = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--images", str(args.images),
                 "--batch", str(args.batch), "--worker", way, path],
                capture_output=True, text=True, env=env)
            if result.returncode != 0:
                sys.stderr.write(result.stderr[-3000:])
                raise SystemExit(f"the {way} worker failed")
            print(result.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
