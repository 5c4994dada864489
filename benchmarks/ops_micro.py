"""Micro-benchmark of the compiled Akida ops, one block at a time.

For each configuration (typical Akida layers, batch 1 and 256) prints one JSON line with the
median and best wall time of:

* ``ours``: the fused custom op (convolution / product, pooling, fire) in a ``tf.function``;
* ``tf_float``: the float32 TensorFlow layer of the same shape (conv2d or matmul, ReLU, max
  pooling), what a tf_keras model of that architecture runs (oneDNN on x86);
* ``akida``: BrainChip's runtime (``akida`` package) ``forward`` of the same single layer,
  when the package is installed.

Inputs of inner layers are sparse 4-bit levels (70 % zeros, as Akida activations are); input
layers get 8-bit pixels. Usage: ``python benchmarks/ops_micro.py [--quick]``.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Callable, Dict, Optional

import numpy as np

from cnn2snn_tfmot.akida import import_akida
from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.tfkeras import tf

try:
    akida = import_akida()
except ImportError:  # the runtime column is then left out
    akida = None

CONFIGS = [
    # name, kind, input (H, W, C), kernel, filters, max pooling, first layer
    ("mnist_conv1_3x3x32_pool2", "conv", (28, 28, 1), 3, 32, True, True),
    ("mnist_conv2_3x3x64", "conv", (14, 14, 32), 3, 64, False, False),
    ("cifar_conv1_3x3x32", "conv", (32, 32, 3), 3, 32, False, True),
    ("separable_3x3_16x16x64_to_128", "separable", (16, 16, 64), 3, 128, False, False),
    ("dense_1568_to_10", "dense", (1568,), None, 10, False, False),
]


def timed(fn: Callable[[], object], budget_s: float) -> Dict[str, float]:
    """Median and best time of fn in ms, after one warm-up call."""
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - start < budget_s and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_ms": round(float(np.median(times)) * 1e3, 3),
            "best_ms": round(float(np.min(times)) * 1e3, 3), "runs": len(times)}


def make_inputs(rng, batch, shape, first):
    if first:
        return rng.integers(0, 256, (batch,) + shape).astype(np.uint8)
    levels = rng.integers(1, 16, (batch,) + shape)
    return np.where(rng.random(levels.shape) < 0.7, 0, levels).astype(np.uint8)


def fire_params(filters, fan_in):
    threshold = np.full(filters, fan_in * 4, np.int32)
    return threshold, np.full(filters, max(fan_in / 4, 1.0), np.float32)


def build(kind, shape, k, filters, pool, first, rng):
    """Returns (ours, tf_float, akida_model or None, x) for one configuration."""
    lib = ops.load_library()
    wbits = 8 if first else 4
    kmax = 2 ** (wbits - 1) - 1
    pool_attrs = (dict(pool_type="max", pool_size=[2, 2], pool_strides=[2, 2]) if pool else {})
    if kind == "conv":
        w = rng.integers(-kmax, kmax + 1, (k, k, shape[2], filters)).astype(np.int8)
        th, st = fire_params(filters, k * k * shape[2])
        wc, thc, stc = tf.constant(w), tf.constant(th), tf.constant(st)
        ours = tf.function(lambda x: lib.cnn2snn_tfmot_akida_conv_fire(
            x, wc, thc, stc, padding="SAME", act_bits=4, **pool_attrs))
        wf = tf.constant(w.astype(np.float32))

        def float_layer(x):
            y = tf.nn.relu(tf.nn.conv2d(x, wf, 1, "SAME"))
            return tf.nn.max_pool2d(y, 2, 2, "SAME") if pool else y

        runtime = None
        if akida is not None:
            pool_kw = dict(pool_type=akida.PoolType.Max, pool_size=(2, 2),
                           pool_stride=(2, 2)) if pool else {}
            runtime = akida.Model()
            if first:
                layer = akida.InputConvolutional(shape, kernel_size=(k, k), filters=filters,
                                                 weights_bits=8, act_bits=4, **pool_kw)
                runtime.add(layer)
                layer.set_variable("weights", w)
            else:
                runtime.add(akida.InputData(shape, input_bits=4))
                layer = akida.Convolutional(kernel_size=(k, k), filters=filters,
                                            weights_bits=4, act_bits=4, **pool_kw)
                runtime.add(layer)
                layer.set_variable("weights", w[::-1, ::-1].copy())
    elif kind == "separable":
        dw = rng.integers(-kmax, kmax + 1, (k, k, shape[2])).astype(np.int8)
        pw = rng.integers(-kmax, kmax + 1, (shape[2], filters)).astype(np.int8)
        th, st = fire_params(filters, k * k * shape[2])
        dwc, pwc, thc, stc = (tf.constant(v) for v in (dw, pw, th, st))
        ours = tf.function(lambda x: lib.cnn2snn_tfmot_akida_separable_fire(
            x, dwc, pwc, thc, stc, padding="SAME", act_bits=4))
        dwf = tf.constant(dw[..., None].astype(np.float32))
        pwf = tf.constant(pw[None, None].astype(np.float32))

        def float_layer(x):
            return tf.nn.relu(tf.nn.separable_conv2d(x, dwf, pwf, [1, 1, 1, 1], "SAME"))

        runtime = None
        if akida is not None:
            runtime = akida.Model()
            runtime.add(akida.InputData(shape, input_bits=4))
            layer = akida.SeparableConvolutional(kernel_size=(k, k), filters=filters,
                                                 weights_bits=4, act_bits=4)
            runtime.add(layer)
            layer.set_variable("weights", dw[::-1, ::-1, :, None].copy())
            layer.set_variable("weights_pw", pw[None, None])
    else:
        w = rng.integers(-kmax, kmax + 1, (shape[0], filters)).astype(np.int8)
        wc = tf.constant(w)
        # A last layer: potentials.
        ours = tf.function(lambda x: lib.cnn2snn_tfmot_akida_dense(x, wc))
        wf = tf.constant(w.astype(np.float32))

        def float_layer(x):
            return tf.matmul(x, wf)

        runtime = None
        if akida is not None:
            runtime = akida.Model()
            runtime.add(akida.InputData((1, 1, shape[0]), input_bits=4))
            layer = akida.FullyConnected(units=filters, weights_bits=4, activation=False)
            runtime.add(layer)
            layer.set_variable("weights", w[None, None])
        th = st = None
    if runtime is not None and th is not None:
        layer.set_variable("threshold", th)
        layer.set_variable("act_step", st)
    return ours, tf.function(float_layer), runtime


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter timing budget")
    args = parser.parse_args(argv)
    budget = 0.3 if args.quick else 1.5
    isa = ops.kernel_set()["selected"]
    rng = np.random.default_rng(0)
    for name, kind, shape, k, filters, pool, first in CONFIGS:
        ours, float_layer, runtime = build(kind, shape, k, filters, pool, first, rng)
        for batch in (1, 256):
            x = make_inputs(rng, batch, shape, first)
            xt, xf = tf.constant(x), tf.constant(x.astype(np.float32))
            row = {"config": name, "batch": batch, "isa": isa,
                   "ours": timed(lambda ours=ours, xt=xt: ours(xt).numpy(), budget),
                   "tf_float": timed(lambda layer=float_layer, xf=xf: layer(xf).numpy(),
                                     budget)}
            if runtime is not None:
                xa = x.reshape((batch, 1, 1, -1)) if kind == "dense" else x
                row["akida"] = timed(lambda runtime=runtime, xa=xa: runtime.forward(xa), budget)
            best = row["ours"]["median_ms"]
            row["ours_images_per_s"] = round(batch / best * 1e3, 1)
            row["speedup_vs_tf_float"] = round(row["tf_float"]["median_ms"] / best, 2)
            if "akida" in row:
                row["speedup_vs_akida"] = round(row["akida"]["median_ms"] / best, 2)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
