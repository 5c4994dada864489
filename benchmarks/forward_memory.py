"""Peak memory of ``forward()``, this source tree against another one, side by side: one JSON
line per (tree, network, round).

A speed change must not cost memory (issue #23: "peak memory not higher than today"). Absolute
peaks move with the installed TensorFlow (importing it alone peaked at 655 MB in one
environment and 760 MB in another), so a figure is only comparable with one measured in the
same run: each case runs in a fresh process per tree (``PYTHONPATH`` set to the tree, which
must hold its own built library), trees taking turns. A case converts a zoo network (4/4/8,
``input_scaling=(255, 0)``), reads the peak resident memory (VmHWM), runs ``forward`` 20
times on one batch of random uint8 images, and reads it again: ``added_mb`` is what
``forward`` costs over everything before it, ``peak_mb`` the process's whole peak.

Run: ``python benchmarks/forward_memory.py --against /path/to/other/tree [--rounds 2]``
(make the other tree with ``git worktree add --detach DIR COMMIT`` and build its library with
``PYTHONPATH=. python setup.py build_ext --inplace`` inside it). Without ``--against`` it
measures this tree only.
"""
import argparse
import json
import os
import subprocess
import sys

from emulator import _peak_rss_mb  # this script's folder is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))
TREE = os.path.dirname(HERE)
CASES = (("akidanet_like", 64, 32), ("akidanet_like", 224, 32), ("mnist_cnn", 28, 256),
         ("cifar_separable_cnn", 32, 256))


def _case(name: str, size: int, batch: int) -> dict:
    import numpy as np

    from cnn2snn_tfmot import convert, quantize, zoo
    if name == "akidanet_like":
        keras_model = zoo.akidanet_like((size, size, 3), width=0.5, classes=1000)
    else:
        keras_model = getattr(zoo, name)()
    images = np.random.default_rng(0).integers(0, 256, (batch,) + keras_model.input_shape[1:],
                                               dtype=np.uint8)
    zoo.calibrate_batchnorm(keras_model, images.astype(np.float32) / 255)
    model = convert(quantize(keras_model, 4, 4, 8), input_scaling=(255, 0))
    before = _peak_rss_mb()
    for _ in range(20):
        model.forward(images, batch_size=batch)
    after = _peak_rss_mb()
    return {"before_forward_mb": round(before, 1), "peak_mb": round(after, 1),
            "added_mb": round(after - before, 1)}


def _measure(tree: str, case) -> dict:
    env = dict(os.environ, PYTHONPATH=tree, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, os.path.abspath(__file__), "--worker", *map(str, case)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"the worker for {case} in {tree} failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _commit(tree: str) -> str:
    result = subprocess.run(["git", "-C", tree, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False)
    return result.stdout.strip() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", default=None, help="another source tree, built")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--worker", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, size, batch = args.worker
        print(json.dumps(_case(name, int(size), int(batch))))
        return
    trees = [TREE] + ([os.path.abspath(args.against)] if args.against else [])
    for round_index in range(args.rounds):
        for case in CASES:
            # Alternate which tree goes first, so that neither always meets a warmer cache.
            order = trees if round_index % 2 == 0 else trees[::-1]
            for tree in order:
                line = {"benchmark": "forward_memory", "tree": "this" if tree == TREE else
                        "against", "commit": _commit(tree), "model": case[0], "input": case[1],
                        "batch": case[2], "round": round_index}
                line.update(_measure(tree, case))
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
