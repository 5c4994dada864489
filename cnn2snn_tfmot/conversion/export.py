"""Exporting the emulator as a SavedModel, and the three artefacts of a model side by side.

The emulator SavedModel has one serving signature, ``serving_default``: ``images`` (uint8
NHWC) in; ``outputs`` (the last layer's uint8 levels or int32 potentials, as ``forward``) and
``float_outputs`` (float32, as ``predict``) out. Exported with ``backend="custom"`` (the default
when the op library loads) it runs the compiled Akida ops: a process must load them before
loading the SavedModel, which ``import cnn2snn_tfmot`` does. Exported with ``backend="tf"`` it
uses stock TensorFlow ops only and runs anywhere TensorFlow runs (TensorFlow Serving included).

Folders are written next to their destination, then renamed into place: a reader never sees a
half-written model. An existing path is replaced only when it is a previous output of the same
kind (a SavedModel folder holding nothing else, an Akida model file of ours), or with
``overwrite=True``.
"""
from __future__ import annotations

import os
from typing import Dict, Optional

from cnn2snn_tfmot.akida.fileformat import AKIDA_MODEL_FILE
from cnn2snn_tfmot.akida.model import Model
from cnn2snn_tfmot.atomic import SAVED_MODEL, atomic_directory, check_output
from cnn2snn_tfmot.engine import GRAPH_BACKENDS, get_backend, ops, resolve_backend
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.saving import save_model
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["export_saved_model", "export", "load_saved_model", "SIGNATURE_KEY",
           "EmulatorLoadError"]

SIGNATURE_KEY = "serving_default"
_README = """This SavedModel is a cnn2snn_tfmot Akida emulator.
Signature '{key}': images (uint8, NHWC {shape}) -> outputs ({dtype}), float_outputs (float32).
Back-end: {backend}. {requirement}
"""
_CUSTOM_REQUIREMENT = ("It uses the compiled ops of cnn2snn_tfmot (op types 'Cnn2snnTfmot>...'): "
                       "`import cnn2snn_tfmot` before tf.saved_model.load() (or use "
                       "cnn2snn_tfmot.load_saved_model).")


class EmulatorLoadError(RuntimeError):
    """An emulator SavedModel could not be loaded; the message says what to import or fix.

    Example:
        >>> from cnn2snn_tfmot.conversion.export import EmulatorLoadError, load_saved_model
        >>> try:
        ...     load_saved_model("emulator_exported_with_custom_ops")
        ... except (EmulatorLoadError, OSError) as err:
        ...     print(type(err).__name__)
        OSError
    """


def export_saved_model(akida_model, path, backend: Optional[str] = None, *,
                       engine: Optional[str] = None, overwrite: bool = False) -> str:
    """Writes the emulator of ``akida_model`` as a SavedModel folder.

    Arguments:
        akida_model: a :class:`cnn2snn_tfmot.akida.Model`.
        path: the SavedModel folder to write; an existing SavedModel folder (holding nothing
            else) is replaced, anything else only with ``overwrite``.
        backend: the graph back-end the SavedModel carries: None (compiled ops when they
            load, else stock TF ops), "custom" or "tf" ("tf" gives a SavedModel that runs in
            any TensorFlow, e.g. TensorFlow Serving).
        engine: the former name of ``backend``, still accepted.
        overwrite: replace whatever is at ``path``.

    Returns:
        The absolute path written.

    Raises:
        cnn2snn_tfmot.atomic.OutputExistsError: ``path`` holds something else (a folder of
            other files, a regular file), naming it.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.conversion.export import export_saved_model, load_saved_model
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> path = export_saved_model(akida_model, "emulator", backend="tf")
        >>> served = load_saved_model(path).signatures["serving_default"]
        >>> outputs = served(images=tf.constant(images[:4]))
        >>> np.array_equal(outputs["float_outputs"].numpy(), akida_model.predict(images[:4]))
        True
    """

    if not isinstance(akida_model, Model):
        raise TypeError(f"`akida_model` must be a cnn2snn_tfmot.akida.Model, got "
                        f"{type(akida_model).__name__}.")
    path = check_output(path, SAVED_MODEL, overwrite, argument="path")  # before the work
    backend = get_backend(resolve_backend(backend, engine, GRAPH_BACKENDS))
    forward = akida_model.emulator_function(backend.name)
    post = akida_model.float_outputs(tensorflow=True)
    height, width, channels = akida_model.input_shape

    module = tf.Module()
    module.forward = forward

    @tf.function(input_signature=[tf.TensorSpec([None, height, width, channels], tf.uint8,
                                                name="images")])
    def serve(images):
        outputs = module.forward(images)
        return {"outputs": outputs, "float_outputs": post(outputs)}

    module.serve = serve
    last_dtype = "uint8 levels" if akida_model.layers[-1].parameters.activation \
        else "int32 potentials"
    with atomic_directory(path, SAVED_MODEL, overwrite) as temporary:
        tf.saved_model.save(module, temporary, signatures={SIGNATURE_KEY: serve})
        extra = os.path.join(temporary, "assets.extra")
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, "README.txt"), "w") as handle:
            handle.write(_README.format(
                key=SIGNATURE_KEY, shape=(None, height, width, channels), dtype=last_dtype,
                backend=backend.name,
                requirement=_CUSTOM_REQUIREMENT if backend.name == "custom" else
                "It uses stock TensorFlow ops only."))
    return path


def load_saved_model(path):
    """Loads an emulator SavedModel, loading the compiled Akida ops first.

    Arguments:
        path: the SavedModel directory.

    Returns:
        The loaded object (``.signatures["serving_default"]``).

    Raises:
        EmulatorLoadError: the SavedModel needs the compiled ops and they cannot be loaded
            here; the message gives the reason and the fix.

    Example:
        >>> from cnn2snn_tfmot.conversion.export import export_saved_model, load_saved_model
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> path = export_saved_model(akida_model, "emulator")
        >>> sorted(load_saved_model(path).signatures)
        ['serving_default']
    """
    reason = None
    try:
        ops.load_library()
    except ops.OpLibraryUnavailable as err:
        reason = str(err)
    try:
        return tf.saved_model.load(os.fspath(path))
    except (tf.errors.NotFoundError, RuntimeError, ValueError) as err:
        if "Op type not registered" not in str(err) or "Cnn2snnTfmot>" not in str(err):
            raise
        raise EmulatorLoadError(
            f"{path} was exported with the compiled Akida ops (engine='custom'), which this "
            f"process cannot load: {reason}. Re-export it with engine='tf' for a SavedModel "
            "that runs anywhere.") from err


def export(keras_model, akida_model, directory, backend: Optional[str] = None, *,
           engine: Optional[str] = None, overwrite: bool = False) -> Dict[str, str]:
    """Writes a model's three artefacts side by side in ``directory``.

    * ``keras_savedmodel/``: the quantized Keras model (SavedModel; reload it with
      :func:`cnn2snn_tfmot.load_quantized_model`);
    * ``model.akida``: the Akida model in our file format (``cnn2snn_tfmot.akida.Model(path)``);
    * ``emulator_savedmodel/``: the emulator SavedModel (see :func:`export_saved_model`).

    Arguments:
        keras_model: the quantized tf_keras model that was converted.
        akida_model: the :class:`cnn2snn_tfmot.akida.Model`.
        directory: the output folder (created if needed; it may hold other files). Previous
            artefacts are replaced; anything else at their three paths is refused unless
            ``overwrite`` (checked for the three before any is written).
        backend: the emulator SavedModel's graph back-end (see :func:`export_saved_model`).
        engine: the former name of ``backend``, still accepted.
        overwrite: replace whatever is at the three paths.

    Returns:
        The written paths, by artefact name ("keras", "akida", "emulator").

    Raises:
        cnn2snn_tfmot.atomic.OutputExistsError: one of the three paths holds something else,
            or ``directory`` is a file.

    Example:
        >>> from cnn2snn_tfmot.conversion.export import export
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> paths = export(model_quantized, akida_model, "exported")
        >>> sorted(paths)
        ['akida', 'emulator', 'keras']
    """

    keras_model = check_keras_model(keras_model, "keras_model")
    if not isinstance(akida_model, Model):
        raise TypeError(f"`akida_model` must be a cnn2snn_tfmot.akida.Model, got "
                        f"{type(akida_model).__name__}.")
    if not isinstance(directory, (str, os.PathLike)):
        raise TypeError(f"`directory` must be a folder path (str or os.PathLike), got "
                        f"{type(directory).__name__}.")
    directory = os.path.abspath(os.fspath(directory))
    paths = {"keras": os.path.join(directory, "keras_savedmodel"),
             "akida": os.path.join(directory, "model.akida"),
             "emulator": os.path.join(directory, "emulator_savedmodel")}
    kinds = {"keras": SAVED_MODEL, "akida": AKIDA_MODEL_FILE, "emulator": SAVED_MODEL}
    for name, path in paths.items():  # all three, before any is written
        check_output(path, kinds[name], overwrite)
    save_model(keras_model, paths["keras"], overwrite)  # a SavedModel folder, atomically
    akida_model.save(paths["akida"], overwrite)
    export_saved_model(akida_model, paths["emulator"], backend, engine=engine,
                       overwrite=overwrite)
    return paths
