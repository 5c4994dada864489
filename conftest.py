"""Doctest set-up: every docstring example runs in a fresh empty directory.

The examples import and build what they use (the small models and images they share come from
``cnn2snn_tfmot.data.examples.example_models()``); nothing is injected here, so an example
copied from the documentation runs as it is.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _doctest_environment(request, tmp_path, monkeypatch):
    if isinstance(request.node, DoctestItem):
        monkeypatch.chdir(tmp_path)  # examples may write files
    yield
