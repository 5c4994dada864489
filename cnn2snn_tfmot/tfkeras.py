"""The one place cnn2snn_tfmot gets TensorFlow and Keras from.

TensorFlow Model Optimization (TFMOT) works with Keras 2, the ``tf_keras`` package. TensorFlow
routes ``tf.keras`` to ``tf_keras`` only when ``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow
is imported. Importing this module sets it and, when TensorFlow was imported earlier, re-routes
``tensorflow.keras`` the same way TensorFlow itself does under that flag, as long as nothing has
loaded Keras 3 through ``tf.keras`` yet. Every other module of the package does
``from cnn2snn_tfmot.tfkeras import keras, tf``; models given by users pass through
:func:`cnn2snn_tfmot.keras3.check_keras_model`, which rebuilds Keras 3 ones as tf_keras.
"""
import importlib
import os
import sys
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf
import tf_keras as keras

__all__ = ["tf", "keras", "KERAS3_ADVICE"]

KERAS3_ADVICE = (
    "cnn2snn_tfmot and TensorFlow Model Optimization work with Keras 2 (the tf_keras package): "
    "public functions rebuild Keras 3 models as tf_keras (cnn2snn_tfmot.from_keras3). To build "
    "tf_keras models directly, use `import tf_keras as keras`, or import cnn2snn_tfmot (or set "
    "the environment variable TF_USE_LEGACY_KERAS=1) before TensorFlow so that `tf.keras` is "
    "tf_keras.")


def _route_tensorflow_keras() -> None:
    """Point ``tensorflow.keras`` at tf_keras when TensorFlow was imported before us."""
    tf_module = sys.modules["tensorflow"]
    imported = sys.modules.get("tensorflow.keras")
    already_keras3 = any(_loaded_as_keras3(candidate)
                         for candidate in (vars(tf_module).get("keras"), imported))
    if already_keras3:
        warnings.warn(
            "`tf.keras` was already loaded as Keras 3 before cnn2snn_tfmot was imported; "
            "models built with it will be refused. " + KERAS3_ADVICE, stacklevel=3)
        return
    if imported is None:
        # Same routing TensorFlow's __init__ applies when the flag is set at its import.
        api = importlib.import_module("tf_keras.api._v2.keras")
        api_dir = os.path.dirname(os.path.dirname(api.__file__))  # .../tf_keras/api/_v2
        path = list(tf_module.__path__)
        if api_dir not in path:
            tf_module.__path__ = [api_dir] + path


def _loaded_as_keras3(module) -> bool:
    """Whether ``tf.keras`` (a lazy loader or the module it became) already means Keras 3.

    Only ``vars()`` is read: any other attribute of an unresolved lazy loader resolves it.
    """
    if module is None:
        return False
    attributes = vars(module)
    if "_tfll_initialized" in attributes and "__name__" not in attributes:
        return bool(attributes["_tfll_initialized"]
                    and attributes.get("_tfll_keras_version") == "keras_3")
    name = attributes.get("__name__", "")
    if name == "tensorflow.keras":  # imported through tensorflow.__path__: its file tells
        tf_keras_dir = os.path.dirname(os.path.abspath(keras.__file__))
        return not os.path.abspath(attributes.get("__file__") or "").startswith(
            tf_keras_dir + os.sep)
    return name == "keras" or name.startswith("keras.")


_route_tensorflow_keras()
