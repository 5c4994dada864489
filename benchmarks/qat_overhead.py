"""Training-step time of quantization-aware training against float training (one JSON line).

Three versions of the MNIST CNN (cnn2snn_tfmot.data.zoo.mnist_cnn), trained on the same batches in
one run: the float model, the cnn2snn-style quantized model made by quantize(model, 4, 4, 8), and
the TFMOT-annotated model (Akida QuantizeConfigs + quantize_apply, BatchNormalization left as
float layers, as TFMOT users build it). Each is timed over the same number of steps after a
warm-up, in several rounds; ``*_ms_per_step`` and the ratios use the best round (interference
from other work on the machine only ever adds time); the medians are reported too.

Run: ``python benchmarks/qat_overhead.py [--batch-size 64] [--steps 60] [--rounds 7]``
Target: quantized step <= 1.5 x float step.
"""
import argparse
import json
import os
import platform
import statistics
import time

import numpy as np
import tensorflow_model_optimization as tfmot

import cnn2snn_tfmot  # noqa: F401  (first: Keras 2)
from cnn2snn_tfmot import quantization as qc
from cnn2snn_tfmot import quantize
from cnn2snn_tfmot.data.zoo import mnist_cnn
from cnn2snn_tfmot.quantization import quantizers as qops
from cnn2snn_tfmot.tfkeras import keras, tf

L = keras.layers


def tfmot_model(float_model):
    """The float model with every neural layer and ReLU annotated with Akida configs."""
    annotate = tfmot.quantization.keras.quantize_annotate_layer
    first = True

    def clone(layer):
        nonlocal first
        layer = type(layer).from_config(layer.get_config())
        if isinstance(layer, L.Conv2D) and type(layer) is L.Conv2D:
            config = qc.Conv2DQuantizeConfig(qops.MaxPerAxisQuantizer(8 if first else 4))
        elif type(layer) is L.SeparableConv2D:
            config = qc.SeparableConv2DQuantizeConfig(qops.MaxPerAxisQuantizer(4),
                                                      qops.MaxQuantizer(4))
        elif type(layer) is L.Dense:
            config = qc.DenseQuantizeConfig(qops.MaxPerAxisQuantizer(4))
        elif type(layer) is L.ReLU:
            config = qc.ReLUQuantizeConfig(4)
        else:
            return layer
        first = first and not isinstance(config, qc._WeightsQuantizeConfig)
        return annotate(layer, config)

    annotated = keras.models.clone_model(float_model, clone_function=clone)
    with qc.quantize_scope():
        return tfmot.quantization.keras.quantize_apply(annotated, qc.AkidaQuantizeScheme())


def time_per_step(model, dataset, steps, rounds):
    """(best, median) seconds per training step over ``rounds`` timed rounds."""
    model.fit(dataset.take(max(5, steps // 4)), epochs=1, verbose=0)  # trace and warm up
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        model.fit(dataset.take(steps), epochs=1, verbose=0)
        timings.append((time.perf_counter() - started) / steps)
    return min(timings), statistics.median(timings)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    n = args.batch_size * args.steps
    x = rng.random((n, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, n)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(args.batch_size).cache().repeat()
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    float_model = mnist_cnn()
    models = {"float": float_model,
              "quantized": quantize(float_model, 4, 4, 8),
              "tfmot": tfmot_model(float_model)}
    seconds = {}
    for name, model in models.items():
        model.compile(keras.optimizers.Adam(1e-3), loss)
        seconds[name] = time_per_step(model, dataset, args.steps, args.rounds)
    best = {name: value[0] for name, value in seconds.items()}
    result = {
        "benchmark": "qat_overhead", "model": "mnist_cnn", "batch_size": args.batch_size,
        "steps": args.steps, "rounds": args.rounds,
        "float_ms_per_step": round(best["float"] * 1e3, 3),
        "quantized_ms_per_step": round(best["quantized"] * 1e3, 3),
        "tfmot_ms_per_step": round(best["tfmot"] * 1e3, 3),
        "median_ms_per_step": {name: round(value[1] * 1e3, 3) for name, value in seconds.items()},
        "quantized_over_float": round(best["quantized"] / best["float"], 3),
        "tfmot_over_float": round(best["tfmot"] / best["float"], 3),
        "target_quantized_over_float": 1.5,
        "cpus": os.cpu_count(), "tensorflow": tf.__version__, "machine": platform.machine(),
    }
    result["target_met"] = result["quantized_over_float"] <= 1.5
    print(json.dumps(result))


if __name__ == "__main__":
    main()
