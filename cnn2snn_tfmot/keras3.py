"""Keras 3 intake: a Keras 3 model (or ``.keras`` / ``.h5`` file) rebuilt as a tf_keras model.

``import keras`` gives Keras 3, which TensorFlow Model Optimization cannot use. A Keras 3
Sequential or Functional model made of the layer types below is rebuilt layer by layer in
tf_keras, with the same configuration and the same weights, so that it computes the same
outputs. One table, :data:`TRANSLATIONS`, says which Keras 3 class becomes which tf_keras class
and how its configuration is translated; every other layer type is refused, naming the layer.

Files are never executed: the configuration of a ``.keras`` archive (or ``.h5`` file) is read
and checked here first (a Lambda layer, a custom class or a serialized function is refused),
and only then handed to Keras 3's loader, in its safe mode.

Example:
    >>> from cnn2snn_tfmot.keras3 import from_keras3
    >>> import keras as keras3                       # Keras 3
    >>> mine = keras3.Sequential([keras3.Input((4,)), keras3.layers.Dense(2, name="dense")])
    >>> rebuilt = from_keras3(mine)
    >>> type(rebuilt).__module__, rebuilt.layers[0].name
    ('tf_keras.src.engine.sequential', 'dense')
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import os
import zipfile
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.archives import check_hdf5, check_zip, read_zip_member
from cnn2snn_tfmot.tfkeras import KERAS3_ADVICE, keras, tf

__all__ = ["from_keras3", "check_keras_model", "is_keras3_object", "Translation", "TRANSLATIONS",
           "is_keras3_file", "Keras3IntakeError", "walk_config"]

L = keras.layers


class Keras3IntakeError(ValueError):
    """A Keras 3 model or file that cannot be rebuilt in tf_keras; the message names the layer.

    Example:
        >>> from cnn2snn_tfmot.keras3 import Keras3IntakeError
        >>> str(Keras3IntakeError("Layer 'x' ..."))
        "Layer 'x' ..."
    """


@dataclasses.dataclass(frozen=True)
class Translation:
    """How one Keras 3 layer class becomes a tf_keras layer.

    Arguments:
        target: the tf_keras layer class.
        weights: Keras 3 weight name -> tf_keras weight name, where they differ.
        config: an optional function ``(config) -> (tf_keras class, config)`` for classes whose
            options need more than the generic translation (run after it).

    Example:
        >>> from cnn2snn_tfmot.keras3 import TRANSLATIONS
        >>> TRANSLATIONS["DepthwiseConv2D"].weights
        {'kernel': 'depthwise_kernel'}
    """
    target: type
    weights: Dict[str, str] = dataclasses.field(default_factory=dict)
    config: Optional[Callable[[dict], Tuple[type, dict]]] = None


def _activation_layer(config: dict) -> Tuple[type, dict]:
    # Akida's bounded activation is a ReLU layer: relu6 is ReLU(max_value=6), exactly.
    if config.get("activation") == "relu6":
        kept = {key: config[key] for key in ("name", "trainable", "dtype") if key in config}
        return L.ReLU, {**kept, "max_value": 6.0}
    return L.Activation, config


#: Keras 3 class name -> its translation. The layer types cnn2snn_tfmot takes to Akida (see
#: :mod:`cnn2snn_tfmot.quantization.layer_table`), the identities and padding that ``sanitize``
#: rewrites.
TRANSLATIONS: Dict[str, Translation] = {
    "Conv2D": Translation(L.Conv2D),
    "DepthwiseConv2D": Translation(L.DepthwiseConv2D, weights={"kernel": "depthwise_kernel"}),
    "SeparableConv2D": Translation(L.SeparableConv2D),
    "Dense": Translation(L.Dense),
    "BatchNormalization": Translation(L.BatchNormalization),
    "ReLU": Translation(L.ReLU),
    "Activation": Translation(L.Activation, config=_activation_layer),
    "Softmax": Translation(L.Softmax),
    "MaxPooling2D": Translation(L.MaxPooling2D),
    "GlobalAveragePooling2D": Translation(L.GlobalAveragePooling2D),
    "Flatten": Translation(L.Flatten),
    "Reshape": Translation(L.Reshape),
    "ZeroPadding2D": Translation(L.ZeroPadding2D),
    "Dropout": Translation(L.Dropout),
    "SpatialDropout2D": Translation(L.SpatialDropout2D),
    "GaussianNoise": Translation(L.GaussianNoise),
    "GaussianDropout": Translation(L.GaussianDropout),
    "AlphaDropout": Translation(L.AlphaDropout),
    "ActivityRegularization": Translation(L.ActivityRegularization),
    "Identity": Translation(L.Identity),
}
#: Keras 3 model classes rebuilt as models.
_MODEL_CLASSES = ("Sequential", "Functional", "Model")
#: Options Keras 3 has and tf_keras has not, that change nothing at inference when left out:
#: None-valued ones (LoRA, quantization, optional inputs off) and the seeds of training noise.
_DROPPED_WHATEVER_THE_VALUE = ("seed",)
_BASE_LAYER_KEYS = {"name", "trainable", "dtype", "dynamic", "input_dim", "input_shape",
                    "batch_input_shape", "batch_size", "weights", "activity_regularizer",
                    "autocast"}


def _keras3():
    try:
        module = importlib.import_module("keras")
    except ImportError as err:  # pragma: no cover - Keras 3 ships with TensorFlow 2.16+
        raise ImportError("Reading a Keras 3 model needs the keras package (Keras 3): "
                          "pip install keras.") from err
    if not str(getattr(module, "__version__", "")).startswith("3."):
        raise ImportError(f"The keras package is version {module.__version__}, not Keras 3.")
    return module


def _supported() -> str:
    return ", ".join(sorted(TRANSLATIONS))


# Config translation ---------------------------------------------------------------------------

def _accepted_keys(cls: type) -> set:
    """The keyword arguments a layer class takes, through the ``**kwargs`` of its bases."""
    accepted = set(_BASE_LAYER_KEYS)
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = inspect.signature(klass.__init__).parameters
        accepted |= {name for name, parameter in parameters.items() if name != "self"
                     and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters.values()) or \
                klass is keras.layers.Layer:
            break
    return accepted


def _dtype(value):
    if isinstance(value, dict):  # a Keras 3 DTypePolicy
        return (value.get("config") or {}).get("name", "float32")
    return value


def _serialized_object(kind: str, value, where: str):
    """A Keras 3 serialized initializer / regularizer / constraint, in tf_keras's form."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict) or "class_name" not in value:
        raise Keras3IntakeError(f"{where}: cannot read its {kind} {value!r}.")
    module = getattr(keras, f"{kind}s")
    target = getattr(module, value["class_name"], None)
    if value.get("registered_name") or target is None:
        if kind == "initializer":
            return None  # weights are copied: the initializer only matters to re-initialize
        raise Keras3IntakeError(
            f"{where}: its {kind} {value['class_name']} has no tf_keras equivalent; rebuild "
            f"the model without it (or with a built-in {kind}).")
    accepted = set(inspect.signature(target.__init__).parameters) - {"self"}
    config = {key: item for key, item in (value.get("config") or {}).items()
              if key in accepted}
    return {"class_name": value["class_name"], "config": config}


def _activation(value, where: str):
    if value is None or isinstance(value, str):
        try:
            keras.activations.get(value)
        except (ValueError, TypeError) as err:
            raise Keras3IntakeError(f"{where}: activation {value!r} has no tf_keras "
                                    "equivalent; use a ReLU or a built-in activation.") from err
        return value
    raise Keras3IntakeError(f"{where}: its activation is a custom object ({value!r}); use a "
                            "built-in activation name.")


def _translated_config(class_name: str, config: dict, translation: Translation,
                       ) -> Tuple[type, dict]:
    where = f"Layer '{config.get('name')}' ({class_name})"
    result = {}
    for key, value in config.items():
        if key == "dtype":
            value = _dtype(value)
        elif key == "activation":
            value = _activation(value, where)
        elif key.endswith(("_initializer", "_regularizer", "_constraint")):
            kind = key.rsplit("_", 1)[1]
            value = _serialized_object(kind, value, where)
            if value is None:
                continue
        result[key] = value
    target = translation.target
    if translation.config is not None:
        target, result = translation.config(result)
    accepted = _accepted_keys(target)
    for key in list(result):
        if key in accepted:
            continue
        value = result.pop(key)
        if value is None or key in _DROPPED_WHATEVER_THE_VALUE:
            continue
        raise Keras3IntakeError(f"{where}: option {key}={value!r} has no tf_keras equivalent; "
                                "rebuild the layer without it.")
    return target, result


def _check_class(layer) -> Translation:
    cls = type(layer)
    translation = TRANSLATIONS.get(cls.__name__)
    keras3 = _keras3()
    if translation is None or getattr(keras3.layers, cls.__name__, None) is not cls:
        raise Keras3IntakeError(
            f"Layer '{layer.name}' ({cls.__module__}.{cls.__name__}) cannot be rebuilt in "
            f"tf_keras: cnn2snn_tfmot takes Keras 3 models made of {_supported()}. Replace the "
            "layer, or build the model with tf_keras (import tf_keras as keras).")
    return translation


def _translate_layer(layer):
    translation = _check_class(layer)
    target, config = _translated_config(type(layer).__name__, layer.get_config(), translation)
    try:
        return target.from_config(config), translation
    except (TypeError, ValueError) as err:
        raise Keras3IntakeError(f"Layer '{layer.name}' ({type(layer).__name__}): tf_keras "
                                f"refuses its configuration ({err}).") from err


def _copy_weights(source, target, translation: Translation) -> None:
    names = [translation.weights.get(variable.name, variable.name) for variable in
             source.weights]
    targets = {variable.name.rsplit("/", 1)[-1].split(":", 1)[0]: variable
               for variable in target.weights}
    if sorted(names) != sorted(targets):
        raise Keras3IntakeError(f"Layer '{source.name}': its Keras 3 weights {sorted(names)} do "
                                f"not match the tf_keras layer's {sorted(targets)}.")
    for name, variable in zip(names, source.weights):
        value = np.asarray(variable.numpy())
        if tuple(targets[name].shape) != value.shape:
            raise Keras3IntakeError(f"Layer '{source.name}': weight '{name}' has shape "
                                    f"{value.shape}, the tf_keras layer expects "
                                    f"{tuple(targets[name].shape)}.")
        targets[name].assign(value)


# Graph rebuild --------------------------------------------------------------------------------

def _input(shape, dtype, name):
    return keras.Input(shape=tuple(shape[1:]), dtype=dtype, name=name)


def _rebuild_sequential(model):
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise Keras3IntakeError(f"Keras 3 model '{model.name}' is not built: start it with "
                                "keras.Input(shape) so that its input shape is known.")
    first = (model.get_config().get("layers") or [{}])[0]
    name = first["config"].get("name") if first.get("class_name") == "InputLayer" else None
    tensor = _input(inputs[0].shape, inputs[0].dtype, name)
    layers, pairs = [], []
    for layer in model.layers:
        rebuilt, translation = _rebuild_layer(layer)
        layers.append(rebuilt)
        pairs.append((layer, rebuilt, translation))
    rebuilt_model = keras.Sequential([tensor] + layers, name=model.name)
    for source, target, translation in pairs:
        if translation is not None:
            _copy_weights(source, target, translation)
    return rebuilt_model


def _rebuild_layer(layer):
    if type(layer).__name__ in _MODEL_CLASSES:  # a nested model: rebuilt whole
        return from_keras3(layer), None
    return _translate_layer(layer)


def _history(value) -> Optional[tuple]:
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return tuple(value["config"]["keras_history"])
    return None


def _node_arguments(node: dict, tensors: dict, where: str) -> list:
    arguments = []
    for argument in node.get("args", []):
        flat = argument if isinstance(argument, (list, tuple)) and not _history(argument) \
            else [argument]
        for item in flat:
            history = _history(item)
            if history is None:
                raise Keras3IntakeError(f"{where} is called with a constant argument "
                                        f"({item!r}); only tensors are supported.")
            arguments.append(tensors[history])
    keywords = {key: value for key, value in (node.get("kwargs") or {}).items()
                if value is not None}
    extra = sorted(key for key, value in keywords.items()
                   if not (key == "training" and isinstance(value, bool)))
    if extra:
        raise Keras3IntakeError(f"{where} is called with arguments {extra}; cnn2snn_tfmot "
                                "rebuilds layers called on one tensor (and `training`).")
    return arguments, keywords


def _layer_ids(entries) -> List[tuple]:
    if entries and isinstance(entries[0], str):  # a single [name, node, tensor]
        entries = [entries]
    return [tuple(entry) for entry in entries]


def _rebuild_functional(model, config: dict):
    tensors: Dict[tuple, object] = {}
    pairs = []
    for entry in config["layers"]:
        layer = model.get_layer(entry.get("name") or entry["config"]["name"])
        if type(layer).__name__ == "InputLayer":
            shape = entry["config"].get("batch_shape") or entry["config"].get("batch_input_shape")
            tensors[(layer.name, 0, 0)] = _input(shape, entry["config"].get("dtype"), layer.name)
            continue
        rebuilt, translation = _rebuild_layer(layer)
        where = f"Layer '{layer.name}' ({type(layer).__name__})"
        for node_index, node in enumerate(entry.get("inbound_nodes", [])):
            arguments, keywords = _node_arguments(node, tensors, where)
            if len(arguments) != 1:
                raise Keras3IntakeError(f"{where} takes {len(arguments)} inputs: "
                                        "cnn2snn_tfmot supports layers of one input.")
            # A fixed `training` (keras.applications call Dropout with training=False) is kept.
            outputs = tf.nest.flatten(rebuilt(arguments[0], **keywords))
            for tensor_index, tensor in enumerate(outputs):
                tensors[(layer.name, node_index, tensor_index)] = tensor
        pairs.append((layer, rebuilt, translation))
    inputs = [tensors[key] for key in _layer_ids(config["input_layers"])]
    outputs = [tensors[key] for key in _layer_ids(config["output_layers"])]
    rebuilt_model = keras.Model(inputs[0] if len(inputs) == 1 else inputs,
                                outputs[0] if len(outputs) == 1 else outputs,
                                name=config.get("name", model.name))
    for source, target, translation in pairs:
        if translation is not None:
            _copy_weights(source, target, translation)
    return rebuilt_model


def _functional_config(model) -> Optional[dict]:
    """The configuration of a Functional model, None for a subclassed one."""
    try:
        config = model.get_config()
    except NotImplementedError:
        return None
    return config if {"layers", "input_layers", "output_layers"} <= set(config or {}) else None


def _rebuild(model):
    name = type(model).__name__
    if name == "Sequential":
        return _rebuild_sequential(model)
    config = _functional_config(model)
    if config is not None:
        return _rebuild_functional(model, config)
    raise Keras3IntakeError(
        f"Keras 3 model '{getattr(model, 'name', '?')}' is a {name}: from_keras3 rebuilds "
        "Sequential and Functional models (subclassed models have no configuration to "
        "rebuild from); build it with keras.Sequential or the functional API.")


# Files ----------------------------------------------------------------------------------------

def walk_config(node) -> Iterator[dict]:
    """Every dict in a nested model configuration (as read from a file's JSON), depth first.

    Used to look for what a file must not hold (Lambda layers, serialized functions, TFMOT
    wrappers) wherever it is nested, before any Keras loader reads the file.

    Arguments:
        node: a configuration: dicts, lists and tuples of them, and plain values.

    Returns:
        An iterator over the dicts, each before the dicts it contains.

    Example:
        >>> from cnn2snn_tfmot.keras3 import walk_config
        >>> config = {"class_name": "Sequential", "config": {"layers": [
        ...     {"class_name": "Dense", "config": {"name": "dense"}}]}}
        >>> [entry["class_name"] for entry in walk_config(config) if "class_name" in entry]
        ['Sequential', 'Dense']
    """
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk_config(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from walk_config(value)


def _layer_entries(model_config: dict) -> Iterator[dict]:
    """Every layer entry of a (possibly nested) Keras 3 model config."""
    for entry in (model_config.get("config") or {}).get("layers", []):
        yield entry
        if entry.get("class_name") in _MODEL_CLASSES:
            yield from _layer_entries(entry)


def check_keras3_config(config: dict, path: str) -> None:
    """Refuses a Keras 3 model configuration that would run code, or that has layers we cannot
    rebuild, before any Keras loader reads it.

    Arguments:
        config: the model's configuration (``config.json`` of a ``.keras`` archive).
        path: the file, for messages.

    Raises:
        Keras3IntakeError: naming the layer.

    Example:
        >>> from cnn2snn_tfmot.keras3 import check_keras3_config
        >>> check_keras3_config({"class_name": "Sequential", "config": {"layers": []}}, "m")
    """
    for entry in walk_config(config):
        if entry.get("class_name") in ("Lambda", "__lambda__") or "function_type" in entry:
            name = (entry.get("config") or {}).get("name", "?") \
                if isinstance(entry.get("config"), dict) else "?"
            raise Keras3IntakeError(
                f"{path}: layer '{name}' holds Python code (a Lambda layer or a serialized "
                "function); loading it would execute code stored in the file, which "
                "cnn2snn_tfmot never does.")
    if config.get("class_name") not in _MODEL_CLASSES:
        raise Keras3IntakeError(f"{path}: holds a {config.get('class_name')}, not a Sequential "
                                "or Functional model.")
    for entry in _layer_entries(config):
        class_name, layer_config = entry.get("class_name"), entry.get("config") or {}
        module = str(entry.get("module") or "")
        known = class_name in TRANSLATIONS or class_name in _MODEL_CLASSES or \
            class_name == "InputLayer"
        foreign = module and not module.startswith("keras")  # .h5 configs name no module
        if entry.get("registered_name") or not known or foreign:
            raise Keras3IntakeError(
                f"{path}: layer '{layer_config.get('name', '?')}' ({class_name}) cannot be "
                f"rebuilt in tf_keras: cnn2snn_tfmot takes Keras 3 models made of "
                f"{_supported()}. Custom layers are refused (their code is not loaded).")


def _keras_archive_version(path: str) -> Optional[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            check_zip(archive, path)
            metadata = json.loads(read_zip_member(archive, "metadata.json", where=path))
            return str(metadata.get("keras_version", ""))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError):
        return None  # not a Keras 3 archive: the tf_keras loader says what it is


def _h5_attributes(path: str) -> Tuple[Optional[str], Optional[str]]:
    import h5py  # a TensorFlow dependency

    try:
        with h5py.File(path, "r") as handle:
            check_hdf5(handle, path)  # declared sizes, before anything is read
            values = []
            for name in ("keras_version", "model_config"):
                value = handle.attrs.get(name)
                values.append(value.decode("utf-8") if isinstance(value, bytes)
                              else None if value is None else str(value))
            return values[0], values[1]
    except OSError:
        return None, None


def is_keras3_file(path) -> bool:
    """Whether ``path`` is a model file written by Keras 3 (a ``.keras`` archive or ``.h5``).

    Arguments:
        path: a file path.

    Returns:
        True for a Keras 3 ``.keras`` archive or ``.h5`` model file.

    Example:
        >>> from cnn2snn_tfmot.keras3 import is_keras3_file
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> model.save("float.keras")         # tf_keras writes Keras 2 archives
        >>> is_keras3_file("float.keras")
        False
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        return False
    if path.endswith(".keras"):
        version = _keras_archive_version(path)
    elif path.endswith((".h5", ".hdf5")):
        version = _h5_attributes(path)[0]
    else:
        return False
    return bool(version) and version.startswith("3.")


def _load_file(path: str):
    keras3 = _keras3()
    if path.endswith(".keras"):
        try:
            with zipfile.ZipFile(path) as archive:
                check_zip(archive, path)
                config = json.loads(read_zip_member(archive, "config.json", where=path))
        except (zipfile.BadZipFile, KeyError, ValueError) as err:
            raise Keras3IntakeError(f"{path} is not a valid .keras archive ({err}).") from err
    else:
        model_config = _h5_attributes(path)[1]
        if model_config is None:
            raise Keras3IntakeError(f"{path} holds no model architecture (written by "
                                    "save_weights?); build the model in Python and load the "
                                    "weights.")
        config = json.loads(model_config)
    check_keras3_config(config, path)
    return keras3.saving.load_model(path, compile=False, safe_mode=True)


def from_keras3(model_or_path):
    """Rebuilds a Keras 3 model, or a Keras 3 model file, as a tf_keras model.

    Every layer becomes its tf_keras twin (:data:`TRANSLATIONS`) with the same name,
    configuration and weights, so the rebuilt model computes the same outputs; nested
    Sequential / Functional models are rebuilt too. Every public function of cnn2snn_tfmot that
    takes a model calls this on Keras 3 models, so calling it yourself is only needed to get
    the tf_keras model (to train it, save it...). Files (``.keras`` archives, ``.h5``) are
    checked before Keras 3 loads them, in safe mode: Lambda layers, serialized functions and
    custom classes are refused, never executed.

    Arguments:
        model_or_path: a Keras 3 Sequential or Functional model, or the path of a Keras 3
            ``.keras`` / ``.h5`` model file. A tf_keras model is returned unchanged.

    Returns:
        The tf_keras model.

    Raises:
        Keras3IntakeError: a layer type or option tf_keras cannot rebuild, naming the layer
            and the supported types; code in a file.

    Example:
        >>> from cnn2snn_tfmot.keras3 import from_keras3
        >>> import keras as keras3
        >>> inputs = keras3.Input((8, 8, 3))
        >>> outputs = keras3.layers.Conv2D(4, 3, activation="relu")(inputs)
        >>> mine = keras3.Model(inputs, keras3.layers.Flatten()(outputs))
        >>> rebuilt = from_keras3(mine)
        >>> import numpy as np
        >>> batch = np.ones((1, 8, 8, 3), np.float32)
        >>> float(np.abs(rebuilt(batch) - np.asarray(mine(batch))).max()) < 1e-5
        True
    """
    if isinstance(model_or_path, (str, os.PathLike)):
        path = os.fspath(model_or_path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No model file at {path}.")
        if not is_keras3_file(path):
            raise Keras3IntakeError(f"{path} is not a Keras 3 model file (.keras archive or "
                                    ".h5 written by Keras 3); load tf_keras files with "
                                    "load_quantized_model().")
        model_or_path = _load_file(path)
    if isinstance(model_or_path, keras.Model):
        return model_or_path
    if not is_keras3_object(model_or_path):
        raise TypeError(f"from_keras3() takes a Keras 3 model or a model file path; got "
                        f"{type(model_or_path).__name__}.")
    return _rebuild(model_or_path)


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
        >>> from cnn2snn_tfmot.keras3 import check_keras_model
        >>> from cnn2snn_tfmot.tfkeras import keras
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
                + KERAS3_ADVICE)
        return from_keras3(model)
    raise TypeError(f"`{argument}` must be a tf_keras Model (keras.Model, Sequential or "
                    f"Functional) or a Keras 3 one, got {type(model).__name__}.")
