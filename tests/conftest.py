"""Shared test set-up: quiet TensorFlow, Keras 2, and fixtures (helpers live in helpers.py)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest

import cnn2snn_tfmot  # noqa: F401  (selects tf_keras before anything imports TensorFlow)

from helpers import AKIDA, run_python


@pytest.fixture
def python_runner():
    return run_python


@pytest.fixture
def akida_runtime():
    """BrainChip's ``akida`` module; the test is skipped when it is not installed."""
    if AKIDA is None:
        pytest.skip("BrainChip's akida runtime is not installed")
    return AKIDA


def pytest_collection_modifyitems(items):
    # A test that starts a fresh interpreter costs seconds of TensorFlow import: the fast loop
    # (make test-fast) leaves such tests to make test.
    for item in items:
        if "python_runner" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.processes)
