"""Cost of Model.statistics next to Model.forward, and its memory on a long stream: one JSON line
per engine.

The MNIST CNN of cnn2snn_tfmot.data.zoo (BatchNormalization calibrated on the data, quantized 8/4/4,
converted; untrained, which changes nothing to the cost) runs on the 2,000 MNIST test images
shipped in the package, batch 256. For each engine ("custom": compiled ops, "tf": pure
TensorFlow) it reports the best of several rounds (after a warm-up) of images/s of ``forward``
(the fused path) and of ``statistics`` (the probe: potentials of every layer materialised, then
reduced in the graph), and their ratio, measured side by side in one process. Memory: the peak
resident size (VmHWM) after statistics on the 2,000 images, then after streaming ten times as
many images from a generator; the difference shows that the pass holds one batch at a time.

Run: ``python benchmarks/akida_statistics.py [--rounds 5]``
"""
import argparse
import json
import time

from emulator import _peak_rss_mb  # this script's folder is on sys.path


def _best_rate(run, images, rounds):
    run(images)  # warm-up: traces the graph
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        run(images)
        rates.append(len(images) / (time.perf_counter() - started))
    return max(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from cnn2snn_tfmot import convert, quantize
    from cnn2snn_tfmot.data.datasets import mnist_split
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm, mnist_cnn
    from cnn2snn_tfmot.engine import ops

    _, (images, _) = mnist_split()
    model = mnist_cnn()
    calibrate_batchnorm(model, images[:512] / 255)
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    for engine in ("custom", "tf"):
        if engine == "custom" and not ops.is_available():
            continue
        forward = _best_rate(lambda x, e=engine: akida_model.forward(x, engine=e), images,
                             args.rounds)
        stats = _best_rate(lambda x, e=engine: akida_model.statistics(x, engine=e), images,
                           args.rounds)
        before = _peak_rss_mb()
        repeats = 10
        stream = (images[i:i + 256] for _ in range(repeats)
                  for i in range(0, len(images), 256))
        summary = akida_model.statistics(stream, engine=engine)
        after = _peak_rss_mb()
        print(json.dumps({
            "benchmark": "statistics", "model": "mnist_cnn 8/4/4", "engine": engine,
            "images": len(images), "batch": 256,
            "forward_images_per_s": round(forward, 1),
            "statistics_images_per_s": round(stats, 1),
            "statistics_over_forward_time": round(forward / stats, 2),
            "streamed_images": summary.samples,
            "peak_rss_mb_after_2k": round(before, 1),
            "peak_rss_growth_mb_streaming_20k": round(after - before, 1),
            "sparsity_per_layer": {layer.name: round(layer.sparsity, 4) for layer in summary},
        }), flush=True)


if __name__ == "__main__":
    main()
