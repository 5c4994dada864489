"""The one place cnn2snn_tfmot gets TensorFlow and Keras from.

TensorFlow Model Optimization (TFMOT) works with Keras 2, the ``tf_keras`` package. TensorFlow
routes ``tf.keras`` to ``tf_keras`` only when ``TF_USE_LEGACY_KERAS=1`` is set before TensorFlow
is imported. Importing this module sets it and, when TensorFlow was imported earlier, re-routes
``tensorflow.keras`` the same way TensorFlow itself does under that flag, as long as nothing has
loaded Keras 3 through ``tf.keras`` yet. Every other module of the package does
``from cnn2snn_tfmot.tfkeras import keras, tf``.
"""
import importlib
import os
import sys
import warnings

os.environ["TF_USE_LEGACY_KERAS"] = "1"

import tensorflow as tf
import tf_keras as keras

__all__ = ["tf", "keras", "check_keras_model", "is_keras3_object"]

_KERAS3_ADVICE = (
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
            "models built with it will be refused. " + _KERAS3_ADVICE, stacklevel=3)
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


def is_keras3_object(obj) -> bool:
    """Whether ``obj``, an instance of some class, comes from the Keras 3 package."""
    for cls in type(obj).__mro__:
        module = cls.__module__ or ""
        if module == "keras" or module.startswith("keras."):
            return True
    return False


def check_keras_model(model, argument: str = "model", rebuild: bool = True):
    """The tf_keras model a public function works on: the model itself, or a Keras 3 model
    rebuilt as tf_keras.

    The one gate of every public function that takes a model: a tf_keras model passes
    unchanged, a Keras 3 Sequential or Functional model is rebuilt as tf_keras with the same
    outputs (:func:`cnn2snn_tfmot.from_keras3`), anything else is a TypeError.

    Arguments:
        model: the object a public function received.
        argument: the argument's name, used in the messages.
        rebuild: False for functions that change the model in place, where a rebuilt copy
            would not be the user's model: a Keras 3 model is then a TypeError with the fix.

    Returns:
        The tf_keras model.

    Example:
        >>> check_keras_model(keras.Sequential([keras.layers.Dense(1, input_shape=(2,))]))
        <tf_keras.src.engine.sequential.Sequential object at ...>
    """
    if isinstance(model, keras.Model):
        return model
    if is_keras3_object(model) and isinstance(getattr(model, "layers", None), list):
        if not rebuild:
            raise TypeError(
                f"`{argument}` is a Keras 3 model ({type(model).__module__}."
                f"{type(model).__name__}), which this function would change in place. Rebuild "
                "it as tf_keras first with cnn2snn_tfmot.from_keras3(model) and use that one. "
                + _KERAS3_ADVICE)
        from cnn2snn_tfmot.keras3 import from_keras3

        return from_keras3(model)
    raise TypeError(f"`{argument}` must be a tf_keras Model (keras.Model, Sequential or "
                    f"Functional) or a Keras 3 one, got {type(model).__name__}.")


_route_tensorflow_keras()
