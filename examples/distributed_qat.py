"""MNIST quantization-aware training on 2 workers (MultiWorkerMirroredStrategy), then convert
and evaluate the Akida model sharded across the same workers.

Run as is, the script starts the workers itself on this machine (``--workers N``, free
localhost ports) and prints the chief's output. Each worker runs this same script with
``--worker`` and its ``TF_CONFIG``; on N machines, run on each::

    TF_CONFIG='{"cluster": {"worker": ["host1:2222", "host2:2222"]},
                "task": {"type": "worker", "index": 0}}' python distributed_qat.py --worker

(index 1 on the second machine, and ``--output-dir`` on storage the chief can write). Each
worker reads the whole (small) MNIST set and keeps its part of every global batch
(tf.data auto-sharding); gradients are summed across workers at each step.

Steps: float CNN (BatchNormalization synchronized across workers, gammas >= 1e-2), quantized
8/4/4, QAT with ScaleFactorMonitor (and the CSV log written by the chief only), converted on
every worker, evaluated with ``evaluate_sharded`` across the workers, checked against a
single-process ``Model.evaluate``; the chief writes ``summary.json``, the logs and the models.

Run: ``python examples/distributed_qat.py [--output-dir DIR] [--workers 2] [--short]``
"""
import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np

from cnn2snn_tfmot import (
    ChiefOnly,
    GammaClipping,
    ScaleFactorMonitor,
    check_model_compatibility,
    convert,
    evaluate_sharded,
    export,
    is_chief,
    keras,
    quantize,
    synchronize_batchnorm,
    tf,
)
from cnn2snn_tfmot.data.datasets import mnist_split
from cnn2snn_tfmot.data.zoo import calibrate_batchnorm, mnist_cnn
from cnn2snn_tfmot.distributed import WorkerError, run_local_workers

GLOBAL_BATCH = 64


def parse_args():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default=os.path.join(here, "output", "distributed"))
    parser.add_argument("--workers", type=int, default=2, help="local workers to start")
    parser.add_argument("--epochs", type=int, default=4, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=2, help="quantization-aware epochs")
    parser.add_argument("--short", action="store_true",
                        help="a quick run for CI (4,096 training images, 2 float epochs, 1 QAT "
                             "epoch)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the workers")
    parser.add_argument("--worker", action="store_true",
                        help="run as one worker of the cluster in TF_CONFIG")
    return parser.parse_args()


def train_dataset(images, labels, seed):
    """Shuffled global batches; every worker builds the same stream and keeps its part."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = tf.data.Dataset.from_tensor_slices((images.astype(np.float32) / 255, labels))
    return dataset.shuffle(len(labels), seed=seed).batch(GLOBAL_BATCH).with_options(options)


def worker(args):
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    chief = is_chief(strategy)
    say = print if chief else (lambda *a, **k: None)
    verbose = 2 if chief else 0
    started = time.time()
    (images_train, y_train), (images_test, y_test) = mnist_split()
    if args.short:
        images_train, y_train = images_train[:4096], y_train[:4096]
    epochs, qat_epochs = (2, 1) if args.short else (args.epochs, args.qat_epochs)
    say(f"== {strategy.num_replicas_in_sync} workers; global batch {GLOBAL_BATCH}, "
        f"{len(y_train)} training images", flush=True)
    os.makedirs(args.output_dir, exist_ok=True)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    say(f"== Float CNN: {epochs} epochs, BatchNormalization synchronized across workers",
        flush=True)
    keras.utils.set_random_seed(0)  # the same initial weights on every worker
    with strategy.scope():
        model = synchronize_batchnorm(mnist_cnn())
        model.compile(keras.optimizers.Adam(1e-3), loss, metrics=["accuracy"])
    model.fit(train_dataset(images_train, y_train, 0), epochs=epochs, verbose=verbose,
              callbacks=[GammaClipping(1e-2)])
    if args.short:  # 128 steps leave the moving averages far behind: measure them instead
        calibrate_batchnorm(model, images_train[:1024].astype(np.float32) / 255)

    say(f"== Quantize (8/4/4) and QAT: {qat_epochs} epochs, registers monitored", flush=True)
    log_path = os.path.join(args.output_dir, "qat_log.csv")
    with strategy.scope():
        quantized = quantize(model, weight_quantization=4, activ_quantization=4,
                             input_weight_quantization=8)
        quantized.compile(keras.optimizers.Adam(1e-4), loss, metrics=["accuracy"])
    monitor = ScaleFactorMonitor(input_scaling=(255, 0), on_violation="stop")
    quantized.fit(train_dataset(images_train, y_train, 1), epochs=qat_epochs, verbose=verbose,
                  callbacks=[monitor, ChiefOnly(keras.callbacks.CSVLogger(log_path))])
    keras_outputs = quantized.predict(images_test.astype(np.float32) / 255, batch_size=500,
                                      verbose=0)

    say("== Convert (every worker: reading weights may need all of them), evaluate sharded "
        "across the workers", flush=True)
    check_model_compatibility(quantized)
    akida_model = convert(quantized, input_scaling=(255, 0))
    test_set = tf.data.Dataset.from_tensor_slices((images_test, y_test))
    sharded = evaluate_sharded(akida_model, test_set, strategy=strategy, batch_size=250)
    single = akida_model.evaluate(images_test, y_test)
    same_outputs = bool(np.array_equal(sharded.outputs, akida_model.predict(images_test)))
    agreement = float(np.mean(sharded.outputs.reshape(len(y_test), -1).argmax(1)
                              == keras_outputs.argmax(1)))

    # Every worker saves (TensorFlow's multi-worker pattern); only the chief's copy is kept.
    target = args.output_dir if chief else tempfile.mkdtemp(prefix="worker-export-")
    export(quantized, akida_model, target)
    if not chief:
        shutil.rmtree(target, ignore_errors=True)
        return 0
    keras_accuracy = float(np.mean(keras_outputs.argmax(1) == y_test))
    summary = {"workers": strategy.num_replicas_in_sync, "short": bool(args.short),
               "keras_accuracy": keras_accuracy, "akida_accuracy": sharded.accuracy,
               "akida_accuracy_single_process": single, "sharded_outputs_identical": same_outputs,
               "argmax_agreement": agreement, "monitor_problems": monitor.problems,
               "total_seconds": round(time.time() - started, 1)}
    print("\n| model | accuracy (2,000 test images) |\n|---|---|")
    print(f"| quantized Keras (8/4/4, QAT on {summary['workers']} workers) | "
          f"{keras_accuracy:.2%} |")
    print(f"| Akida (emulated, sharded over {summary['workers']} workers) | "
          f"{sharded.accuracy:.2%} |")
    print(f"| Akida (emulated, one process) | {single:.2%} |")
    print(f"| Keras-vs-Akida argmax agreement | {agreement:.2%} |")
    print(f"sharded outputs identical to one process: {same_outputs}")
    with open(os.path.join(args.output_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    ok = same_outputs and sharded.accuracy == single and not monitor.problems
    return 0 if ok else 1


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    argv = [os.path.abspath(__file__), "--worker", "--output-dir", args.output_dir,
            "--epochs", str(args.epochs), "--qat-epochs", str(args.qat_epochs)]
    argv += ["--short"] if args.short else []
    print(f"Starting {args.workers} local workers (MultiWorkerMirroredStrategy); the chief's "
          "output follows.", flush=True)
    try:
        run_local_workers(argv, num_workers=args.workers, timeout=args.timeout, echo=True)
    except WorkerError as err:
        print(f"FAILED: {err}")
        return 1
    print(f"\nFigures in {os.path.join(args.output_dir, 'summary.json')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
