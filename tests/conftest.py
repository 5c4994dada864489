"""Shared test set-up: quiet TensorFlow, Keras 2, and a few small helpers."""
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cnn2snn_tfmot  # noqa: E402,F401  (selects tf_keras before anything imports TensorFlow)
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code_or_args, timeout=600, cwd=None):
    """Runs Python in a fresh process; returns the CompletedProcess (stdout+stderr text)."""
    args = ["-c", code_or_args] if isinstance(code_or_args, str) else list(code_or_args)
    # Not inherited: importing cnn2snn_tfmot set it in this process, and a child must show
    # what happens on a user's machine, where it is not set.
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd or REPO, env=env)


@pytest.fixture
def python_runner():
    return run_python
