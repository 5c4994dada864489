"""Start-up time of the command line (one JSON line).

``cnn2snn_tfmot --help`` and ``--version`` are answered by the console script's own module
(``cnn2snn_tfmot_cli``) without importing TensorFlow; a command that runs (``summary`` of an
.akida file) imports the package, hence TensorFlow. Each is timed as a fresh process, in
several rounds; the best round is reported (interference from other work on the machine only
ever adds time), with the median, and the ratio of a command to ``--help`` measured side by side.

Run: ``python benchmarks/cli_startup.py [--rounds 5]``
Target: ``--help`` under 1 s.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np

from cnn2snn_tfmot.akida import FullyConnected, InputData, Model


def timed(command, rounds):
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        times.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise SystemExit(f"{command} failed: {result.stderr[-2000:]}")
    return min(times), float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    script = os.path.join(os.path.dirname(sys.executable), "cnn2snn_tfmot")
    with tempfile.TemporaryDirectory() as directory:
        model = Model()
        model.add(InputData((1, 1, 4), input_bits=4))
        model.add(FullyConnected(2, weights_bits=4, activation=False))
        model.layers[-1].set_variable("weights", np.ones((1, 1, 4, 2), np.int8))
        path = os.path.join(directory, "tiny.akida")
        model.save(path)
        figures = {}
        for name, command in (("help", [script, "--help"]), ("version", [script, "--version"]),
                              ("summary", [script, "summary", path])):
            best, median = timed(command, args.rounds)
            figures[f"{name}_s"] = round(best, 3)
            figures[f"{name}_median_s"] = round(median, 3)
    figures["summary_over_help"] = round(figures["summary_s"] / figures["help_s"], 1)
    print(json.dumps({"benchmark": "cli_startup", "rounds": args.rounds,
                      "python": platform.python_version(), "cpus": os.cpu_count(),
                      **figures}))


if __name__ == "__main__":
    main()
