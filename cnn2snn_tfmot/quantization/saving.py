"""Loading quantized Keras models and copying weights between models by layer name.

``load_quantized_model`` reads ``.h5`` files and SavedModel directories of both kinds of
quantized model (``Quantized*`` layers, as BrainChip's cnn2snn makes them, and TFMOT-wrapped
layers) without ``custom_objects``. It never executes code stored in a file: a model with a
``Lambda`` layer (whose function Keras would unmarshal) is refused. Two upstream problems are
handled:

* ``.keras`` archives of TFMOT-wrapped models do not reload (TFMOT's wrapper weights do not
  match what Keras expects): such a file gets a clear error; ``.keras`` files of
  ``Quantized*`` layers load.
* In ``.h5`` files Keras assigns weights by position, and a TFMOT wrapper lists its weights in a
  different order once rebuilt (its trainable quantizer variables move first). ``.h5`` weights
  are therefore assigned here by layer and weight name.

Example:
    >>> from cnn2snn_tfmot import keras, quantize
    >>> from cnn2snn_tfmot.quantization.saving import load_quantized_model, save_model
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense"),
    ...                           keras.layers.ReLU(name="relu")])
    >>> save_model(quantize(model, 4, 4), "quantized.h5")
    >>> [type(layer).__name__ for layer in load_quantized_model("quantized.h5").layers]
    ['QuantizedDense', 'ActivationDiscreteRelu']
"""
from __future__ import annotations

import json
import os
import zipfile
from typing import Callable, Dict, Optional

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.archives import HDF5_SIGNATURE, check_hdf5, check_zip, read_zip_member
from cnn2snn_tfmot.atomic import SAVED_MODEL, OutputKind, atomic_directory, atomic_path
from cnn2snn_tfmot.keras3 import check_keras_model, from_keras3, is_keras3_file, walk_config
from cnn2snn_tfmot.quantization.layers import (
    QuantizedActivation,
    QuantizedLayerMixin,
    expand_networks,
)
from cnn2snn_tfmot.quantization.scheme import quantize_scope
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["load_quantized_model", "load_partial_weights", "save_model", "refuse_code",
           "weight_key", "layer_key", "is_keras_model_file", "KERAS_MODEL_FILE",
           "KERAS_FILE_SUFFIXES"]

#: The suffixes of Keras model files (anything else is a SavedModel folder).
KERAS_FILE_SUFFIXES = (".h5", ".hdf5", ".keras")

_TFMOT_WRAPPERS = ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeAnnotate")
_QuantizeWrapper = tfmot.quantization.keras.QuantizeWrapper


def weight_key(variable) -> str:
    """The short name of a layer's variable, without scope and ``:0``.

    ``"quant_d/kernel_threshold:0"`` becomes ``"kernel_threshold"``.

    Arguments:
        variable: a tf.Variable or its name.

    Returns:
        The name without scope and without the ``:0`` suffix.

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import weight_key
        >>> weight_key("conv2d/kernel:0")
        'kernel'
    """
    name = variable if isinstance(variable, str) else variable.name
    return name.rsplit("/", 1)[-1].split(":", 1)[0]


def layer_key(layer) -> str:
    """The name a layer is matched by: a TFMOT wrapper answers to its wrapped layer's name.

    Arguments:
        layer: a Keras layer.

    Returns:
        The layer's name, or the wrapped layer's name for TFMOT wrappers.

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import layer_key
        >>> from cnn2snn_tfmot import keras
        >>> layer_key(keras.layers.Dense(3, name="dense"))
        'dense'
    """
    inner = getattr(layer, "layer", None)
    if inner is not None and type(layer).__name__ in _TFMOT_WRAPPERS:
        return inner.name
    return layer.name


# Code refusal --------------------------------------------------------------------------

def refuse_code(config, path: str) -> None:
    """Raises ValueError, naming the layer and ``path``, when a Keras config holds a Lambda
    layer or a serialized function: loading it would execute code stored in a file.

    Arguments:
        config: a Keras model config (nested dicts and lists).
        path: where the config comes from, for the message.

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import refuse_code
        >>> refuse_code({"class_name": "Dense", "config": {"name": "d"}}, "model.h5")
    """
    for entry in walk_config(config):
        if entry.get("class_name") == "Lambda" or "function_type" in entry:
            name = (entry.get("config") or {}).get("name", "?") if isinstance(
                entry.get("config"), dict) else "?"
            raise ValueError(
                f"{path}: layer '{name}' is a Lambda layer; loading it would execute Python "
                "code stored in the file, which cnn2snn_tfmot never does. Rebuild the model "
                "in Python and copy the weights with load_partial_weights().")


def _refuse_tfmot_keras_archive(config, path: str) -> None:
    for entry in walk_config(config):
        if entry.get("class_name") in _TFMOT_WRAPPERS:
            raise ValueError(
                f"{path}: this .keras archive holds TFMOT-wrapped layers, which Keras cannot "
                "reload (an upstream TFMOT/Keras limitation). Save the model as .h5 "
                "(model.save('model.h5')) or as a SavedModel directory "
                "(model.save('model_dir')), and load that with load_quantized_model().")


# Loaders, by file kind -----------------------------------------------------------------

def read_keras_archive_config(path: str) -> dict:
    """The model configuration of a ``.keras`` archive, read within the caps of
    :mod:`cnn2snn_tfmot.archives` (every member's declared size is checked first), after
    checking that its weights member, if any, is an HDF5 file.

    Arguments:
        path: the ``.keras`` file.

    Returns:
        The parsed ``config.json``.

    Raises:
        ValueError: not a zip archive, no ``config.json``, invalid JSON, a weights member that
            is not HDF5, or sizes beyond the caps (naming the member).

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import read_keras_archive_config
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> model.save("float.keras")
        >>> read_keras_archive_config("float.keras")["class_name"]
        'Sequential'
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = check_zip(archive, path)
            if "config.json" not in members:
                raise ValueError(f"{path} is not a valid .keras archive: it has no config.json "
                                 f"(members: {sorted(members)[:5]}).")
            config = json.loads(read_zip_member(archive, "config.json", where=path))
            weights = members.get("model.weights.h5")
            if weights is not None:
                with archive.open(weights) as stream:
                    head = stream.read(len(HDF5_SIGNATURE))
                if head != HDF5_SIGNATURE:
                    raise ValueError(
                        f"{path}: its weights member 'model.weights.h5' is not an HDF5 file "
                        "(the archive is corrupt or was not written by Keras); save the model "
                        "again with model.save('model.keras').")
                import h5py  # a TensorFlow dependency; imported here to keep start-up light

                with archive.open(weights) as stream, h5py.File(stream, "r") as handle:
                    check_hdf5(handle, f"{path} (model.weights.h5)")
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a valid .keras archive ({err}).") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: its config.json is not valid JSON ({err}).") from err
    if not isinstance(config, dict):
        raise ValueError(f"{path}: its config.json is not a model configuration.")
    return config


def _load_keras_archive(path: str, compile: bool, custom_objects: dict):
    config = read_keras_archive_config(path)
    refuse_code(config, path)
    _refuse_tfmot_keras_archive(config, path)
    with quantize_scope(custom_objects):
        return keras.models.load_model(path, compile=compile, safe_mode=True)


def _h5_text_attribute(handle, name: str) -> Optional[str]:
    value = handle.attrs.get(name)
    if value is None:
        return None
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _key_in_layer(layer_name: str, name: str) -> str:
    """A weight's name within its top-level layer: ``"net/conv/kernel:0"`` in layer ``net`` is
    ``"conv/kernel"`` (nested layers have weights of the same short name)."""
    if name.startswith(layer_name + "/"):
        return name[len(layer_name) + 1:].split(":", 1)[0]
    return weight_key(name)


def _assign_h5_weights(model, weights_group, path: str) -> None:
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in weights_group:
            raise ValueError(f"{path}: no weights stored for layer '{layer.name}'.")
        group = weights_group[layer.name]
        stored = {}  # datasets, not yet read: shapes are compared first
        for raw_name in group.attrs.get("weight_names", []):
            name = raw_name.decode("utf-8") if isinstance(raw_name, bytes) else str(raw_name)
            stored[_key_in_layer(layer.name, name)] = group[name]
        keys = [_key_in_layer(layer.name, variable.name) for variable in layer.weights]
        if sorted(keys) != sorted(stored):
            raise ValueError(f"{path}: layer '{layer.name}' stores weights {sorted(stored)} but "
                             f"the model defines {sorted(keys)}.")
        for variable, key in zip(layer.weights, keys):
            if tuple(variable.shape) != tuple(stored[key].shape):
                raise ValueError(f"{path}: weight '{key}' of layer '{layer.name}' has shape "
                                 f"{tuple(stored[key].shape)} in the file, "
                                 f"{tuple(variable.shape)} in the model.")
            variable.assign(np.asarray(stored[key]))


def _load_h5(path: str, compile: bool, custom_objects: dict):
    import h5py  # a TensorFlow dependency; imported here to keep start-up light

    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path} is not a readable HDF5 file ({err}).") from err
    with handle:
        check_hdf5(handle, path)  # declared sizes, before anything is read
        model_config = _h5_text_attribute(handle, "model_config")
        if model_config is None:
            raise ValueError(f"{path} holds no model architecture (it was probably written by "
                             "save_weights); build the model in Python and call load_weights.")
        config = json.loads(model_config)
        refuse_code(config, path)
        with quantize_scope(custom_objects):
            model = keras.models.model_from_json(model_config)
        weights_group = handle["model_weights"] if "model_weights" in handle else handle
        _assign_h5_weights(model, weights_group, path)
        training_config = _h5_text_attribute(handle, "training_config")
    if compile and training_config:
        from tf_keras.src.saving.legacy import saving_utils

        with quantize_scope(custom_objects):
            model.compile(**saving_utils.compile_args_from_training_config(
                json.loads(training_config)))
    return model


def _load_saved_model(path: str, compile: bool, custom_objects: dict):
    metadata_path = os.path.join(path, "keras_metadata.pb")
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"{path} is a directory but not a SavedModel (no saved_model.pb).")
    if not os.path.isfile(metadata_path):
        raise ValueError(f"{path} is a SavedModel without Keras metadata (keras_metadata.pb): "
                         "it was not written by a Keras model's save().")
    from tf_keras.protobuf import saved_metadata_pb2

    metadata = saved_metadata_pb2.SavedMetadata()
    with open(metadata_path, "rb") as handle:
        metadata.ParseFromString(handle.read())
    for node in metadata.nodes:
        refuse_code(json.loads(node.metadata), path)
    with quantize_scope(custom_objects):
        return keras.models.load_model(path, compile=compile)


_LOADERS: Dict[str, Callable] = {
    "keras": _load_keras_archive,
    "h5": _load_h5,
    "savedmodel": _load_saved_model,
}


_KERAS_FORMS = "a Keras model file (.h5, .hdf5, .keras) or a SavedModel folder"


def _file_kind(path: str) -> str:
    if os.path.isdir(path):
        return "savedmodel"
    if not os.path.exists(path):
        raise FileNotFoundError(f"No model file or SavedModel folder at {path}.")
    if path.endswith(".keras"):
        return "keras"
    if path.endswith((".h5", ".hdf5")):
        return "h5"
    suffix = os.path.splitext(path)[1]
    if suffix == ".akida":
        raise ValueError(f"'{path}' is an Akida model file, not a Keras model: read it with "
                         f"cnn2snn_tfmot.akida.Model(path); this takes {_KERAS_FORMS}.")
    if suffix.lower() in (".h5", ".hdf5", ".keras"):
        raise ValueError(f"'{path}' is not a Keras model file: suffixes are lower case; rename "
                         f"it to end in {suffix.lower()}.")
    if suffix.lower() == ".fbz":
        raise ValueError(f"'{path}' is a BrainChip runtime file: read it with "
                         "cnn2snn_tfmot.akida.from_akida(akida.Model(path)).")
    raise ValueError(f"'{path}' is not a Keras model file; Akida model files end in .akida. "
                     f"Expected {_KERAS_FORMS} (of a model without TFMOT wrappers for .keras).")


def load_quantized_model(filepath, compile: bool = True, custom_objects: Optional[dict] = None):
    """Loads a quantized Keras model saved as .h5 or as a SavedModel directory.

    Both cnn2snn-style (Quantized* layers) and TFMOT-wrapped models load without
    ``custom_objects``. ``.keras`` archives load too unless they hold TFMOT wrappers, which
    Keras cannot reload: those get an error saying to save as .h5 or SavedModel. A Keras 3
    ``.keras`` or ``.h5`` file is rebuilt as tf_keras (:func:`cnn2snn_tfmot.from_keras3`,
    uncompiled). A model with a Lambda layer is refused (its code would be executed). From .h5
    files the weights are assigned by name and the model is compiled from its training config,
    without the optimizer's state.

    Arguments:
        filepath: path of the .h5 file, SavedModel directory or .keras archive.
        compile: whether to compile the model as it was when saved.
        custom_objects: your own classes (e.g. a custom quantizer), by name.

    Returns:
        The tf_keras model.

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import load_quantized_model
        >>> from cnn2snn_tfmot import keras, quantize
        >>> model = quantize(keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu")]), 4, 4)
        >>> model.save("model.h5")
        >>> [type(layer).__name__ for layer in load_quantized_model("model.h5").layers]
        ['QuantizedConv2D', 'ActivationDiscreteRelu']
    """
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"`filepath` must be a path (str or os.PathLike) to {_KERAS_FORMS}, "
                        f"got {type(filepath).__name__}.")
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(f"`custom_objects` must be a dict {{name: class}}, e.g. "
                        f"{{'MyQuantizer': MyQuantizer}}; got {type(custom_objects).__name__}.")
    path = os.fspath(filepath)
    kind = _file_kind(path)

    if kind != "savedmodel" and is_keras3_file(path):  # rebuilt as tf_keras, never executed
        return from_keras3(path)
    return _LOADERS[kind](path, compile, dict(custom_objects or {}))


def is_keras_model_file(path) -> bool:
    """Whether ``path`` is a Keras model file: an HDF5 file with a model (``.h5``, ``.hdf5``)
    or a ``.keras`` archive (a zip holding ``config.json``).

    Arguments:
        path: a file path.

    Returns:
        True for a Keras model file; False for anything else (a missing file included).

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import is_keras_model_file
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> model.save("float.h5")
        >>> is_keras_model_file("float.h5"), is_keras_model_file("missing.h5")
        (True, False)
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as handle:
        head = handle.read(8)
    if path.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                return "config.json" in archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return False
    if head != HDF5_SIGNATURE:
        return False
    import h5py  # a TensorFlow dependency; imported here to keep start-up light

    try:
        with h5py.File(path, "r") as handle:
            return "model_config" in handle.attrs or "keras_version" in handle.attrs
    except OSError:
        return False


#: A Keras model file: an existing one is replaced, any other file is not (overwrite=True).
KERAS_MODEL_FILE = OutputKind("a Keras model file", directory=False,
                              recognise=is_keras_model_file)


def save_model(model, filepath, overwrite: bool = False) -> None:
    """Saves a Keras model atomically: a ``.h5`` / ``.keras`` file, or a SavedModel folder
    for any other path, written under a temporary name and renamed into place.

    An existing path is replaced only when it is a Keras model file (for a file path) or a
    SavedModel folder holding nothing else (for a folder), unless ``overwrite`` is True.

    Arguments:
        model: the tf_keras model.
        filepath: ``.h5`` / ``.hdf5`` / ``.keras`` file, or a folder (SavedModel).
        overwrite: replace whatever is at ``filepath``.

    Raises:
        cnn2snn_tfmot.atomic.OutputExistsError: ``filepath`` holds something else (a folder of
            other files, a file where the SavedModel folder goes...), naming it.

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import load_quantized_model, save_model
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)], name="tiny")
        >>> save_model(model, "float.h5")
        >>> load_quantized_model("float.h5").name
        'tiny'
    """
    model = check_keras_model(model)
    if not isinstance(filepath, (str, os.PathLike)):
        raise TypeError(f"`filepath` must be a path (str or os.PathLike), got "
                        f"{type(filepath).__name__}.")
    path = os.fspath(filepath)
    if path.endswith(KERAS_FILE_SUFFIXES):
        with atomic_path(path, KERAS_MODEL_FILE, overwrite, argument="filepath") as temporary:
            model.save(temporary)
    else:
        with atomic_directory(path, SAVED_MODEL, overwrite, argument="filepath") as temporary:
            model.save(temporary, save_format="tf")


# Partial weights -----------------------------------------------------------------------

def _extra_keys(layer) -> set:
    """Keys of a layer's quantization variables, which need not exist in the other model."""
    if isinstance(layer, QuantizedActivation):
        return {weight_key(variable) for variable in layer.weights}
    if isinstance(layer, QuantizedLayerMixin):
        return {weight_key(variable) for variables in
                getattr(layer, "_quantizer_variables", {}).values()
                for variable in variables.values()}
    if isinstance(layer, _QuantizeWrapper):
        inner = {weight_key(variable) for variable in layer.layer.weights}
        return {weight_key(variable) for variable in layer.weights} - inner
    return set()


def load_partial_weights(dest_model, src_model) -> None:
    """Copies weights from ``src_model`` into ``dest_model`` by layer name and weight name.

    Layers are matched by name (a TFMOT wrapper by the name of the layer it wraps), so a float
    model, its Quantized* twin and its TFMOT-quantized twin can exchange weights when their
    layers share names; the network of a ``hardware_exact`` model is read as its layers, so
    that what hardware-exact training learned goes back into the quantized model.
    Quantization variables (trainable quantizer thresholds, QuantizedReLU variables, TFMOT
    bookkeeping) that exist on one side only are left as they are; any other weight of a
    matched source layer must find its place.

    Arguments:
        dest_model: the model receiving the weights.
        src_model: the model giving them.

    Raises:
        ValueError: when no layer name is shared, a source weight has no destination, or shapes
            differ; the message names the layer and the weight.

    Example:
        >>> from cnn2snn_tfmot.quantization.saving import load_partial_weights
        >>> import numpy as np
        >>> from cnn2snn_tfmot import keras, quantize
        >>> model = keras.Sequential([keras.Input((8, 8, 1)),
        ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu"),
        ...     keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="dense")])
        >>> model_quantized = quantize(model, 4, 4, 8)
        >>> twin = quantize(model, 4, 4, 8)  # same layer names
        >>> load_partial_weights(twin, model_quantized)
        >>> np.array_equal(twin.get_layer("dense").kernel,
        ...                model_quantized.get_layer("dense").kernel)
        True
    """
    check_keras_model(dest_model, "dest_model", rebuild=False)  # changed in place
    src_model = check_keras_model(src_model, "src_model")
    sources = {layer_key(layer): layer for layer in expand_networks(src_model.layers)
               if layer.weights}
    matched = 0
    for dest_layer in expand_networks(dest_model.layers):
        src_layer = sources.get(layer_key(dest_layer))
        if src_layer is None or not dest_layer.weights:
            continue
        matched += 1
        src_weights = {weight_key(variable): variable for variable in src_layer.weights}
        dest_keys = {weight_key(variable) for variable in dest_layer.weights}
        missing = set(src_weights) - dest_keys - _extra_keys(src_layer)
        if missing:
            raise ValueError(
                f"load_partial_weights: layer '{layer_key(dest_layer)}' of src_model has "
                f"weights {sorted(missing)} that dest_model's layer does not have (it has "
                f"{sorted(dest_keys)}); check use_bias and the layer types.")
        for variable in dest_layer.weights:
            source = src_weights.get(weight_key(variable))
            if source is None:
                continue
            if tuple(source.shape) != tuple(variable.shape):
                raise ValueError(
                    f"load_partial_weights: weight '{weight_key(variable)}' of layer "
                    f"'{layer_key(dest_layer)}' has shape {tuple(source.shape)} in src_model "
                    f"and {tuple(variable.shape)} in dest_model.")
            variable.assign(source)
    if matched == 0:
        raise ValueError("load_partial_weights: dest_model and src_model share no layer name "
                         "with weights; give the layers of both models the same names.")
