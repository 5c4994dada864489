"""Pretrained models shipped inside the package: float, quantized and Akida, with their figures.

A user starts from a model that works: ``pretrained("mnist")`` gives the trained float Keras
model, its quantized Keras model (after quantization-aware training), the converted Akida model,
the input scaling they are meant for, the class names and what the training measured, with the
command that reproduces it. Nothing is downloaded: each model is a folder of
``cnn2snn_tfmot/data/zoo/weights/`` that the wheel carries::

    <name>/manifest.json   {"format": "cnn2snn_tfmot.pretrained", "format_version": 1,
                            "name": ..., "description": ..., "float_model": <Keras config>,
                            "quantized_model": <Keras config>, "input_scaling": [255, 0],
                            "class_names": [...], "metrics": {...}, "command": "..."}
    <name>/float.npz       the float model's weights ("w0", "w1"... in get_weights() order;
                           float32, or float16 where the manifest says so); absent when the
                           manifest says "float_weights_from": <another model's name>, whose
                           float model (same network, same weights) it shares
    <name>/quantized.npz   the quantized model's weights (float32; where the manifest says
                           "quantized_weights": "levels", each quantized kernel holds the
                           values its quantizer gives it, which compress well)
    <name>/model.akida     the Akida model (its class names included)

Reading trusts nothing: the manifest is size-capped JSON, the Keras configs are deserialized
within :func:`cnn2snn_tfmot.quantize_scope` and a Lambda layer (whose code Keras would run) is
refused, the ``.npz`` archives are read without pickles after their declared sizes are checked,
and every array must match the shape of the weight it fills. :func:`save_pretrained` writes such
a folder atomically (the training scripts of ``examples/`` use it).

Example:
    >>> from cnn2snn_tfmot.data.zoo import pretrained, pretrained_names
    >>> "mnist" in pretrained_names()
    True
    >>> mnist = pretrained("mnist")
    >>> mnist.input_scaling, mnist.class_names[:3]
    ((255.0, 0), ('0', '1', '2'))
    >>> [layer.layer_type for layer in mnist.akida_model.layers]
    ['InputConvolutional', 'SeparableConvolutional', 'SeparableConvolutional', 'FullyConnected']
"""
from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import zipfile
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.atomic import OutputKind, atomic_directory, check_output
from cnn2snn_tfmot.quantization import quantize_scope
from cnn2snn_tfmot.quantization.input_scaling import input_scaling_of
from cnn2snn_tfmot.quantization.saving import refuse_code
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["Pretrained", "PretrainedModelError", "pretrained", "pretrained_names",
           "save_pretrained", "WEIGHTS_DIR", "FORMAT_NAME"]

#: Where the shipped models live (package data).
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
FORMAT_NAME = "cnn2snn_tfmot.pretrained"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
_FILES = {"float": "float.npz", "quantized": "quantized.npz", "akida": "model.akida"}
#: Reader caps: a manifest, one array, all the arrays of an archive.
MAX_MANIFEST_BYTES = 4 << 20
MAX_ARRAY_BYTES = 256 << 20
MAX_ARCHIVE_BYTES = 512 << 20
_FLOAT_DTYPES = ("float32", "float16")
_NAME = re.compile(r"[A-Za-z0-9_.-]+")
class PretrainedModelError(ValueError):
    """A pretrained model's folder is missing, incomplete, corrupted or inconsistent.

    Example:
        >>> from cnn2snn_tfmot.data.zoo import PretrainedModelError, pretrained
        >>> try:
        ...     pretrained("imagenet")
        ... except PretrainedModelError as err:
        ...     print(str(err)[:44])
        no pretrained model named 'imagenet'; the pa
    """


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A pretrained model: the float, quantized and Akida models and what they are meant for.

    Each call of :func:`pretrained` builds new Keras models (fine-tune them freely) and reads the
    Akida model from its file.

    Arguments:
        name: the model's name (see :func:`pretrained_names`).
        description: what the model is: network, data, bitwidths.
        float_model: the trained float tf_keras model (inputs ``image / scale``...).
        quantized_model: the quantized tf_keras model after quantization-aware training; it
            remembers its input scaling.
        akida_model: the converted :class:`cnn2snn_tfmot.akida.Model` (uint8 inputs).
        input_scaling: ``(scale, shift)``: Akida input = scale * Keras input + shift.
        class_names: the classes the outputs score, in output order.
        metrics: what the training measured (accuracies on its evaluation split, agreement,
            the split, the time it took).
        command: the command that trains the model again and writes its folder.

    Example:
        >>> from cnn2snn_tfmot.data.zoo import pretrained
        >>> mnist = pretrained("mnist")
        >>> sorted(mnist.metrics)[:3]
        ['agreement', 'akida_accuracy', 'evaluated_on']
    """
    name: str
    description: str
    float_model: object
    quantized_model: object
    akida_model: Model
    input_scaling: Tuple[float, int]
    class_names: Tuple[str, ...]
    metrics: Dict[str, object]
    command: str


def pretrained_names() -> List[str]:
    """The names of the pretrained models the package ships, sorted.

    Returns:
        A list of names for :func:`pretrained`.

    Example:
        >>> from cnn2snn_tfmot.data.zoo import pretrained_names
        >>> "mnist" in pretrained_names()
        True
    """
    if not os.path.isdir(WEIGHTS_DIR):
        return []
    return sorted(name for name in os.listdir(WEIGHTS_DIR)
                  if os.path.isfile(os.path.join(WEIGHTS_DIR, name, MANIFEST)))


def pretrained(name: str) -> Pretrained:
    """A pretrained model shipped in the package: float, quantized and Akida models.

    Arguments:
        name: one of :func:`pretrained_names` (e.g. "mnist").

    Returns:
        A :class:`Pretrained`.

    Raises:
        PretrainedModelError: an unknown name (the message lists the known ones), or a folder
            that is incomplete or inconsistent.

    Example:
        >>> from cnn2snn_tfmot.data.datasets import mnist_split
        >>> from cnn2snn_tfmot.data.zoo import pretrained
        >>> mnist = pretrained("mnist")
        >>> _, (images, labels) = mnist_split()   # the 2,000 images the training left out
        >>> round(mnist.akida_model.evaluate(images, labels), 4) == mnist.metrics[
        ...     "akida_accuracy"]
        True
    """
    names = pretrained_names()
    if not isinstance(name, str) or name not in names:
        raise PretrainedModelError(f"no pretrained model named {name!r}; the package ships: "
                                   f"{', '.join(names) or 'none'}.")
    return load_pretrained(os.path.join(WEIGHTS_DIR, name))


def load_pretrained(directory) -> Pretrained:
    """Reads a pretrained model's folder (as written by :func:`save_pretrained`).

    Arguments:
        directory: the folder.

    Returns:
        A :class:`Pretrained`.

    Raises:
        PretrainedModelError: a missing file, a manifest of another format or version, a
            Lambda layer, an array that does not fit its weight, or an oversized archive.

    Example:
        >>> from cnn2snn_tfmot.data.zoo.pretrained import WEIGHTS_DIR, load_pretrained
        >>> load_pretrained(WEIGHTS_DIR + "/mnist").name
        'mnist'
    """
    directory = os.fspath(directory)
    manifest = _read_manifest(directory)
    where = os.path.join(directory, MANIFEST)
    scaling = manifest["input_scaling"]
    with quantize_scope():
        float_model = _model(manifest["float_model"], where, "float_model")
        quantized_model = _model(manifest["quantized_model"], where, "quantized_model")
    _fill(float_model, _float_weights_path(directory, manifest))
    _fill(quantized_model, os.path.join(directory, _FILES["quantized"]))
    akida_path = os.path.join(directory, _FILES["akida"])
    if not os.path.isfile(akida_path):
        raise PretrainedModelError(f"{akida_path} is missing.")
    akida_model = Model(akida_path)
    names = tuple(manifest["class_names"])
    if akida_model.class_names != names:
        raise PretrainedModelError(f"{akida_path}: its class names {akida_model.class_names} "
                                   f"differ from the manifest's {names}.")
    return Pretrained(manifest["name"], manifest["description"], float_model, quantized_model,
                      akida_model, (float(scaling[0]), int(scaling[1])), names,
                      dict(manifest["metrics"]), manifest["command"])


def _is_pretrained_folder(path: str) -> bool:
    """A folder of a manifest and our weight files only."""
    entries = set(os.listdir(path))
    return MANIFEST in entries and entries <= {MANIFEST, *_FILES.values()}


#: What :func:`save_pretrained` writes: a folder of our files only, replaced without
#: ``overwrite`` only while it holds nothing else (no marker file: the folders ship as they are).
PRETRAINED_FOLDER = OutputKind("a pretrained model's folder", directory=True,
                               recognise=_is_pretrained_folder)


def save_pretrained(directory, name: str, description: str, float_model, quantized_model,
                    akida_model: Model, class_names: Sequence[str], metrics: Dict[str, object],
                    command: str, float_dtype: str = "float32", overwrite: bool = False,
                    float_weights_from: Optional[str] = None,
                    quantized_levels: bool = False) -> str:
    """Writes a pretrained model's folder atomically (what :func:`load_pretrained` reads).

    Arguments:
        directory: the folder to write. An existing pretrained model's folder (holding
            nothing else) or an empty folder is replaced; anything else only with
            ``overwrite``.
        name: the model's name.
        description: what the model is.
        float_model: the float tf_keras model.
        quantized_model: the quantized tf_keras model; it must remember its input scaling
            (``quantize(..., input_scaling=...)``).
        akida_model: the converted Akida model; it gets ``class_names``.
        class_names: one name per output.
        metrics: JSON-serialisable figures of the training.
        command: the command that reproduces the folder.
        float_dtype: "float32" or "float16" (halves the float weights' size; the metrics
            must then be measured on the model as reloaded).
        overwrite: replace whatever is at ``directory``.
        float_weights_from: the name of another pretrained model, in the same parent folder,
            whose float model this one shares (e.g. two quantizations of one float network):
            its ``float.npz`` is read instead of writing one. It must hold the same network
            and the same weights, at ``float_dtype``.
        quantized_levels: write each quantized kernel as the values its quantizer gives it
            (``step * level``) instead of its float training weights: the reloaded model
            computes the same and converts to the same Akida model, and a 4-bit kernel of
            16 values per channel compresses about 5 times. ``quantized_model`` is not
            changed; a quantizer that would not give its own values back is refused.

    Returns:
        The folder's absolute path.

    Raises:
        cnn2snn_tfmot.atomic.OutputExistsError: ``directory`` holds something else (a folder
            of other files, a file), naming it.
        ValueError: a quantized model that remembers no input scaling; a bad dtype; a
            ``float_weights_from`` model that is missing or holds another float model; with
            ``quantized_levels``, a kernel whose quantizer does not give its values back.

    Example:
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> from cnn2snn_tfmot.data.zoo.pretrained import load_pretrained, save_pretrained
        >>> from cnn2snn_tfmot import quantize
        >>> model, _, akida_model, images, labels = example_models()
        >>> remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
        >>> path = save_pretrained("tiny", "tiny", "an example", model, remembering,
        ...                        akida_model, [str(i) for i in range(10)], {}, "none")
        >>> load_pretrained(path).input_scaling
        (255.0, 0)
    """
    if float_dtype not in _FLOAT_DTYPES:
        raise ValueError(f"float_dtype must be one of {_FLOAT_DTYPES}; got {float_dtype!r}.")
    scaling = input_scaling_of(quantized_model)
    if scaling is None:
        raise ValueError("save_pretrained: the quantized model remembers no input scaling; "
                         "quantize it with input_scaling=(scale, shift).")
    path = check_output(directory, PRETRAINED_FOLDER, overwrite, argument="directory")
    if float_weights_from is not None:
        _check_shared_float(path, float_weights_from, float_model, float_dtype)
    quantized_weights = (_quantized_levels(quantized_model) if quantized_levels
                         else quantized_model.get_weights())
    akida_model.class_names = list(class_names)
    manifest = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "name": name,
                "description": description,
                "float_model": json.loads(float_model.to_json()),
                "quantized_model": json.loads(quantized_model.to_json()),
                "float_dtype": float_dtype, "input_scaling": [float(scaling[0]), int(scaling[1])],
                "class_names": list(class_names), "metrics": metrics, "command": command}
    if float_weights_from is not None:
        manifest["float_weights_from"] = float_weights_from
    if quantized_levels:
        manifest["quantized_weights"] = "levels"
    with atomic_directory(path, PRETRAINED_FOLDER, overwrite, argument="directory") as temporary:
        with open(os.path.join(temporary, MANIFEST), "w") as handle:
            json.dump(manifest, handle, indent=1)
        if float_weights_from is None:
            _write_weights(os.path.join(temporary, _FILES["float"]), float_model.get_weights(),
                           float_dtype)
        _write_weights(os.path.join(temporary, _FILES["quantized"]), quantized_weights,
                       "float32")
        akida_model.save(os.path.join(temporary, _FILES["akida"]))
    return path


# -- reading ------------------------------------------------------------------------------------
def _read_manifest(directory: str) -> dict:
    path = os.path.join(directory, MANIFEST)
    if not os.path.isfile(path):
        raise PretrainedModelError(f"{path} is missing: not a pretrained model's folder.")
    if os.path.getsize(path) > MAX_MANIFEST_BYTES:
        raise PretrainedModelError(f"{path} is larger than {MAX_MANIFEST_BYTES} bytes.")
    try:
        with open(path, encoding="utf-8") as handle:
            manifest = json.load(handle, parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError) as err:
        raise PretrainedModelError(f"{path}: not valid JSON ({err}).") from None
    required = {"format", "format_version", "name", "description", "float_model",
                "quantized_model", "float_dtype", "input_scaling", "class_names", "metrics",
                "command"}
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise PretrainedModelError(f"{path}: not a {FORMAT_NAME} manifest.")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise PretrainedModelError(f"{path}: format_version {manifest.get('format_version')!r}"
                                   f"; this reader reads version {FORMAT_VERSION}.")
    missing = required - set(manifest)
    if missing:
        raise PretrainedModelError(f"{path} lacks {sorted(missing)}.")
    for key in ("float_model", "quantized_model"):
        try:
            refuse_code(manifest[key], f"{path} ({key})")
        except ValueError as err:
            raise PretrainedModelError(str(err)) from None
    if manifest["float_dtype"] not in _FLOAT_DTYPES:
        raise PretrainedModelError(f"{path}: float_dtype must be one of {_FLOAT_DTYPES}.")
    return manifest


def _float_weights_path(directory: str, manifest: dict) -> str:
    """The float.npz a model reads: its own, or that of the model it shares it with."""
    shared = manifest.get("float_weights_from")
    if shared is None:
        return os.path.join(directory, _FILES["float"])
    where = os.path.join(directory, MANIFEST)
    if not isinstance(shared, str) or not _NAME.fullmatch(shared) or shared in (".", ".."):
        raise PretrainedModelError(f"{where}: float_weights_from must be the name of another "
                                   f"pretrained model (letters, digits, '_', '-', '.'); got "
                                   f"{shared!r}.")
    other = os.path.join(os.path.dirname(os.path.abspath(directory)), shared)
    other_manifest = _read_manifest(other)
    if "float_weights_from" in other_manifest:
        raise PretrainedModelError(f"{where}: float_weights_from {shared!r} shares its own "
                                   "float model in turn; name the model that holds float.npz.")
    for key in ("float_model", "float_dtype"):
        if other_manifest[key] != manifest[key]:
            raise PretrainedModelError(f"{where}: its {key} differs from that of {shared!r}, "
                                       "whose float weights it reads.")
    return os.path.join(other, _FILES["float"])


def _check_shared_float(path: str, shared: str, float_model, float_dtype: str) -> None:
    """Refuses to write a model sharing a float model that is not the same."""
    if not isinstance(shared, str) or not _NAME.fullmatch(shared) or shared in (".", ".."):
        raise ValueError(f"float_weights_from must be a pretrained model's name; got "
                         f"{shared!r}.")
    try:
        other = load_pretrained(os.path.join(os.path.dirname(path), shared))
    except PretrainedModelError as err:
        raise ValueError(f"float_weights_from={shared!r}: cannot read that model ({err}).") \
            from None
    if other.float_model.to_json() != float_model.to_json() or _read_manifest(os.path.join(
            os.path.dirname(path), shared))["float_dtype"] != float_dtype:
        raise ValueError(f"float_weights_from={shared!r}: that model's float network or "
                         "float_dtype differs from this one's.")
    for ours, theirs in zip(float_model.get_weights(), other.float_model.get_weights()):
        if not np.array_equal(np.asarray(ours, float_dtype).astype(np.float32), theirs):
            raise ValueError(f"float_weights_from={shared!r}: that model's float weights "
                             "differ from this one's; share only the same float model.")


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def _model(config: dict, where: str, key: str):
    try:
        return keras.models.model_from_json(json.dumps(config))
    except (ValueError, TypeError, KeyError) as err:
        raise PretrainedModelError(f"{where}: {key} is not a Keras model config the package "
                                   f"can build ({err}).") from None


def _fill(model, path: str) -> None:
    """Sets ``model``'s weights from the .npz at ``path``, checking everything first."""
    if not os.path.isfile(path):
        raise PretrainedModelError(f"{path} is missing.")
    expected = model.get_weights()
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {info.filename: info for info in archive.infolist()}
            names = [f"w{index}.npy" for index in range(len(expected))]
            if sorted(infos) != sorted(names):
                raise PretrainedModelError(f"{path} holds {len(infos)} arrays; the model has "
                                           f"{len(expected)} weights.")
            if sum(info.file_size for info in infos.values()) > MAX_ARCHIVE_BYTES or any(
                    info.file_size > MAX_ARRAY_BYTES for info in infos.values()):
                raise PretrainedModelError(f"{path}: arrays larger than the reader's caps.")
            arrays = []
            for member, target in zip(names, expected):
                array = np.load(io.BytesIO(archive.read(member)), allow_pickle=False)
                if array.shape != target.shape or array.dtype.name not in _FLOAT_DTYPES:
                    raise PretrainedModelError(
                        f"{path}: {member} has shape {array.shape} and dtype {array.dtype}; "
                        f"its weight needs {target.shape} float32.")
                if not np.all(np.isfinite(array)):
                    raise PretrainedModelError(f"{path}: {member} holds non-finite values.")
                arrays.append(array.astype(np.float32))
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        if isinstance(err, PretrainedModelError):
            raise
        raise PretrainedModelError(f"{path}: corrupted weights archive ({err}).") from None
    model.set_weights(arrays)


# -- writing ------------------------------------------------------------------------------------
def _write_weights(path: str, weights: List[np.ndarray], dtype: str) -> None:
    arrays = {f"w{index}": np.asarray(weight, dtype=dtype) for index, weight in enumerate(weights)}
    np.savez_compressed(path, **arrays)


def _quantized_levels(model) -> List[np.ndarray]:
    """``model.get_weights()`` with every quantized kernel replaced by its quantized values,
    checked on a copy: quantizing those values again must give them back, else the reloaded
    model would compute something else."""
    def quantized_layers(keras_model):
        return [layer for layer in keras_model.submodules if hasattr(layer, "quantized_weights")]

    layers = quantized_layers(model)
    levels = [{attribute: np.asarray(value) for attribute, value
               in layer.quantized_weights().items()} for layer in layers]
    position = {id(variable): index for index, variable in enumerate(model.weights)}
    weights = model.get_weights()
    for layer, values in zip(layers, levels):
        for attribute, value in values.items():
            weights[position[id(getattr(layer, attribute))]] = value
    with quantize_scope():
        copy = keras.models.clone_model(model)
    copy.set_weights(weights)
    for layer, values, again in zip(layers, levels, quantized_layers(copy)):
        for attribute, value in again.quantized_weights().items():
            if not np.array_equal(values[attribute], np.asarray(value)):
                raise ValueError(f"save_pretrained(quantized_levels=True): layer "
                                 f"'{layer.name}' ({attribute}): its quantizer does not give "
                                 "its own values back; save without quantized_levels.")
    return weights
