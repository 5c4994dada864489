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
