"""Our Akida model file: a versioned zip of a JSON manifest and .npy arrays, never unpickled.

Layout (format ``cnn2snn_tfmot.akida-model``, version 1; version 2 adds the optional
``"class_names"``, a list of one string per output (or per learned class, see
``Model.class_names``), and is written only when it is set; version 3 adds the edge-learning
state, see below)::

    manifest.json        {"format": "cnn2snn_tfmot.akida-model", "format_version": 1,
                          "producer": "...", "layers": [
                            {"type": "Convolutional", "name": "conv1",
                             "parameters": {"kernel_size": [3, 3], "padding": "Same", ...},
                             "variables": {"weights": {"file": "0001_weights.npy",
                                                       "dtype": "int8", "shape": [3, 3, 8, 16]},
                                           ...}}, ...]}
    0001_weights.npy     little-endian, C order, .npy format 1.0
    ...

Version 3 (written only for a model compiled for edge learning; version 1 and 2 files still
load) adds ``"learning": {"optimizer": {"num_weights": ..., "num_classes": ..., ..., "seed": ...},
"register": 0}`` to the manifest: the :class:`~cnn2snn_tfmot.akida.AkidaUnsupervised`
arguments and the round-robin register (``Model.learning_register``); the learning layer's
``threshold_learning`` and ``thswap`` are stored as its other variables. Reloaded, the model
learns on exactly as the saved one would have.

Writing is atomic (temporary file in the destination directory, fsync, ``os.replace``); no
partial file is left on error. Reading trusts nothing: the manifest is size-capped strict JSON
(no duplicate keys, no NaN), member names must be plain and declared exactly once, every array's
dtype and shape must match both the manifest and the layer (computed from the parameters), sizes
are checked before anything is read or allocated, the .npy header is parsed without
``allow_pickle`` and object dtypes are refused. Any problem raises :class:`AkidaModelFileError`
(a ValueError) naming it; only a missing or unreadable path raises the usual OSError.
"""
from __future__ import annotations

import inspect
import io
import json
import math
import os
import re
import struct
import zipfile
import zlib
from typing import Dict

import numpy as np

from cnn2snn_tfmot.archives import ArchiveLimitError, check_zip, read_zip_member
from cnn2snn_tfmot.atomic import OutputKind, atomic_file
from cnn2snn_tfmot.chip.layers import LAYER_TYPES
from cnn2snn_tfmot.chip.learning import INT32_MAX, AkidaUnsupervised
from cnn2snn_tfmot.version import __version__

__all__ = ["AkidaModelFileError", "save", "read_into", "FORMAT_NAME", "FORMAT_VERSION",
           "is_akida_model_file", "AKIDA_MODEL_FILE", "SUFFIX"]

FORMAT_NAME = "cnn2snn_tfmot.akida-model"
#: The newest version this module reads and writes. A file is written with the lowest version
#: that holds it: 1, 2 with class names, 3 with edge-learning state.
FORMAT_VERSION = 3
#: The versions this reader reads.
READABLE_VERSIONS = (1, 2, 3)
CLASS_NAMES_VERSION = 2
LEARNING_VERSION = 3
MAX_CLASS_NAME = 256
MANIFEST = "manifest.json"
#: The suffix of Akida model files (the command line reads and writes only these).
SUFFIX = ".akida"

#: Reader caps (protection against hostile files).
MAX_MANIFEST_BYTES = 1 << 20
MAX_LAYERS = 4096
MAX_ARRAY_BYTES = 1 << 31
MAX_NPY_HEADER = 4096
_MEMBER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\.npy$")
_DTYPES = {"int8": np.dtype("<i1"), "int32": np.dtype("<i4"), "float32": np.dtype("<f4")}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: identical models give identical files
# What a corrupted zip or deflate stream can raise from the standard library.
_CORRUPTION = (zipfile.BadZipFile, zlib.error, EOFError, struct.error, OverflowError,
               UnicodeDecodeError, NotImplementedError, RuntimeError, ValueError, KeyError,
               IndexError, TypeError, RecursionError, OSError)


class AkidaModelFileError(ValueError):
    """A model file is truncated, corrupted, of another format or version, or inconsistent.

    Example:
        >>> from cnn2snn_tfmot.akida.fileformat import AkidaModelFileError
        >>> from cnn2snn_tfmot.akida import Model
        >>> _ = open("not_a_model.txt", "w").write("text")
        >>> try:
        ...     Model("not_a_model.txt")
        ... except AkidaModelFileError as err:
        ...     print(err)
        not_a_model.txt: not a cnn2snn_tfmot model file (not a zip archive). ...
    """


def is_akida_model_file(path) -> bool:
    """Whether ``path`` is a model file of our format (a zip whose manifest names it).

    Only the manifest is read (size-capped); the arrays are not checked.

    Arguments:
        path: a file path.

    Returns:
        True for a file :func:`save` wrote; False otherwise (a missing file included).

    Example:
        >>> from cnn2snn_tfmot.akida.fileformat import is_akida_model_file, save
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> save(akida_model, "model.akida")
        >>> is_akida_model_file("model.akida"), is_akida_model_file("missing.akida")
        (True, False)
    """
    try:
        with zipfile.ZipFile(os.fspath(path)) as archive:
            info = archive.getinfo(MANIFEST)
            manifest = json.loads(_read_capped(archive, info, MAX_MANIFEST_BYTES))
    except (OSError, KeyError, ValueError, *_CORRUPTION):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME


#: An Akida model file of our format: an existing one is replaced, any other file is not.
AKIDA_MODEL_FILE = OutputKind("an Akida model file (cnn2snn_tfmot format)", directory=False,
                              recognise=is_akida_model_file)


# -- writing -------------------------------------------------------------------------------------
def save(model, path, overwrite: bool = False) -> None:
    """Writes ``model`` to ``path`` atomically (see the module docstring for the format).

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.
        path: destination path; an existing model file of this format is replaced only once
            the new one is complete; any other file is refused unless ``overwrite``.
        overwrite: replace whatever file is at ``path``.

    Raises:
        cnn2snn_tfmot.atomic.OutputExistsError: ``path`` holds something else.

    Example:
        >>> from cnn2snn_tfmot.akida.fileformat import save, zipfile
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> save(akida_model, "model.akida")
        >>> sorted(zipfile.ZipFile("model.akida").namelist())[-1]
        'manifest.json'
    """
    path = os.fspath(path)
    layers, arrays = [], {}
    for index, layer in enumerate(model.layers):
        variables = {}
        for var in layer.variables:
            value = layer.variable(var)
            member = f"{index:04d}_{var}.npy"
            arrays[member] = np.ascontiguousarray(value, dtype=_DTYPES[value.dtype.name])
            variables[var] = {"file": member, "dtype": value.dtype.name,
                              "shape": list(value.shape)}
        parameters = layer.parameters.to_dict()
        parameters.pop("layer_type")
        layers.append({"type": layer.layer_type, "name": layer.name,
                       "parameters": parameters, "variables": variables})
    manifest = {"format": FORMAT_NAME, "format_version": 1,
                "producer": f"cnn2snn_tfmot {__version__}", "layers": layers}
    if model.class_names is not None:  # version 2: files without names stay readable by 1
        manifest.update(format_version=CLASS_NAMES_VERSION,
                        class_names=list(model.class_names))
    if model.learning is not None:
        manifest["format_version"] = LEARNING_VERSION
        manifest["learning"] = {"optimizer": model.learning.get_config(),
                                "register": model.learning_register}
    with atomic_file(path, kind=AKIDA_MODEL_FILE, overwrite=overwrite) as handle:
        with zipfile.ZipFile(handle, "w") as archive:
            _write_member(archive, MANIFEST,
                          json.dumps(manifest, indent=1, sort_keys=False).encode("utf-8"))
            for member, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, array, version=(1, 0), allow_pickle=False)
                _write_member(archive, member, buffer.getvalue())


def _write_member(archive, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


# -- reading -------------------------------------------------------------------------------------
def read_into(model, path) -> None:
    """Fills the empty ``model`` with the layers of the file at ``path`` (used by ``Model``).

    Layers are added with ``Model.add`` and their variables set with ``Layer.set_variable``:
    a file gets exactly the validation of a model built in code.

    Arguments:
        model: an empty :class:`cnn2snn_tfmot.akida.Model`.
        path: a file written by :func:`save`.

    Raises:
        AkidaModelFileError: the file is invalid.
        OSError: the path cannot be opened.

    Example:
        >>> from cnn2snn_tfmot.akida.fileformat import read_into
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.akida import Model
        >>> akida_model.save("model.akida")
        >>> empty = Model()
        >>> read_into(empty, "model.akida")
        >>> len(empty.layers)
        3
    """
    path = os.fspath(path)
    if model.layers:
        raise ValueError("read_into() fills an empty model; this one has layers.")
    with open(path, "rb") as handle:
        try:
            _read(handle, model)
        except AkidaModelFileError as err:
            raise AkidaModelFileError(f"{path}: {err}") from None
        except _CORRUPTION as err:
            raise AkidaModelFileError(
                f"{path}: corrupted model file ({type(err).__name__}: {err})") from None
        except MemoryError:
            raise AkidaModelFileError(f"{path}: corrupted model file (declares more data "
                                      f"than fits in memory)") from None


def _read(handle, model):
    head = handle.read(4)
    handle.seek(0)
    if head[:2] != b"PK":
        raise AkidaModelFileError(
            "not a cnn2snn_tfmot model file (not a zip archive). A BrainChip .fbz file is read "
            "with akida.Model(path), then cnn2snn_tfmot.akida.from_akida(model).")
    with zipfile.ZipFile(handle) as archive:
        infos = _check_members(archive)
        manifest = _read_manifest(archive, infos)
        layers = _check_manifest(manifest)
        declared = {MANIFEST}
        for entry in layers:
            for var in entry["variables"].values():
                if var["file"] in declared:
                    raise AkidaModelFileError(f"member {var['file']!r} is declared twice in "
                                              f"the manifest.")
                declared.add(var["file"])
        missing = sorted(declared - set(infos))
        if missing:
            raise AkidaModelFileError(f"member(s) {missing[:5]} declared in the manifest are "
                                      f"missing (truncated file?).")
        extra = sorted(set(infos) - declared)
        if extra:
            raise AkidaModelFileError(f"unexpected member(s) {extra[:5]} not declared in the "
                                      f"manifest.")
        learning = _check_learning(manifest.get("learning"))
        if learning is not None and not layers:
            raise AkidaModelFileError("'learning' is given for a model without layers.")
        total = 0
        for index, entry in enumerate(layers):
            layer = _build_layer(index, entry)
            where = f"layer {index} ({entry['type']} {entry['name']!r})"
            try:
                model.add(layer)
                if learning is not None and index == len(layers) - 1:
                    model.compile(learning[0])  # gives the layer its learning variables
            except (ValueError, TypeError) as err:
                raise AkidaModelFileError(f"{where}: inconsistent model: {err}") from None
            if set(entry["variables"]) != set(layer.variables):
                raise AkidaModelFileError(
                    f"{where}: variables {sorted(entry['variables'])} do not match the layer "
                    f"type's {layer.variables}.")
            for name in layer.variables:
                declared_var = entry["variables"][name]
                spec = layer.variable_spec(name)
                if declared_var["dtype"] != spec.dtype.name:
                    raise AkidaModelFileError(
                        f"{where}: variable {name!r} has dtype {declared_var['dtype']!r}, "
                        f"expected {spec.dtype.name!r}.")
                if tuple(declared_var["shape"]) != spec.shape:
                    raise AkidaModelFileError(
                        f"{where}: variable {name!r} has shape {tuple(declared_var['shape'])}, "
                        f"but the layer parameters give {spec.shape}.")
                total += math.prod(spec.shape) * spec.dtype.itemsize
                if total > MAX_ARRAY_BYTES:
                    raise AkidaModelFileError(f"the arrays total more than {MAX_ARRAY_BYTES} "
                                              f"bytes; refusing to read them.")
                array = _read_array(archive, infos[declared_var["file"]], spec, where, name)
                try:
                    layer.set_variable(name, array)
                except (ValueError, TypeError) as err:
                    raise AkidaModelFileError(f"{where}: invalid variable: {err}") from None
        if "class_names" in manifest:
            try:
                model.class_names = manifest["class_names"]
            except (ValueError, TypeError) as err:
                raise AkidaModelFileError(f"{MANIFEST}: invalid class_names: {err}") from None
        if learning is not None:
            model.learning_register = learning[1]  # after the variables, which reset it


def _check_learning(learning):
    """(optimizer, register) of the manifest's "learning" entry, or None."""
    if learning is None:
        return None
    if not isinstance(learning, dict):
        raise AkidaModelFileError("'learning' must be a JSON object.")
    _expect_keys(learning, {"optimizer", "register"}, set(), "'learning'")
    config, register = learning["optimizer"], learning["register"]
    if not isinstance(config, dict):
        raise AkidaModelFileError("'learning' optimizer must be a JSON object.")
    accepted = set(inspect.signature(AkidaUnsupervised.__init__).parameters) - {"self"}
    _expect_keys(config, {"num_weights"}, accepted - {"num_weights"}, "'learning' optimizer")
    try:
        optimizer = AkidaUnsupervised(**config)
    except (ValueError, TypeError) as err:
        raise AkidaModelFileError(f"'learning' optimizer: {err}") from None
    if type(register) is not int or not 0 <= register <= INT32_MAX:
        raise AkidaModelFileError(f"'learning' register must be an integer in [0, 2**31), got "
                                  f"{register!r}.")
    return optimizer, register


def _check_members(archive) -> Dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > 1 + 4 * MAX_LAYERS:
        raise AkidaModelFileError(f"too many members ({len(infos)}).")
    try:
        check_zip(archive, "model file")  # the caps every reader shares
    except ArchiveLimitError as err:
        raise AkidaModelFileError(str(err).split(": ", 1)[1]) from None
    by_name = {}
    for info in infos:
        name = info.filename
        if name in by_name:
            raise AkidaModelFileError(f"duplicate member name {name!r}.")
        if name != MANIFEST and not _MEMBER_RE.match(name):
            raise AkidaModelFileError(f"invalid member name {name!r} (only plain names "
                                      f"like '0001_weights.npy' are allowed).")
        if info.flag_bits & 0x1:
            raise AkidaModelFileError(f"member {name!r} is encrypted.")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise AkidaModelFileError(f"member {name!r} uses an unsupported compression "
                                      f"method ({info.compress_type}).")
        by_name[name] = info
    if MANIFEST not in by_name:
        raise AkidaModelFileError(f"no {MANIFEST} member (not a cnn2snn_tfmot model file, "
                                  f"or truncated).")
    return by_name


def _read_capped(archive, info: zipfile.ZipInfo, cap: int) -> bytes:
    try:
        return read_zip_member(archive, info, cap, where="model file")
    except ArchiveLimitError as err:
        raise AkidaModelFileError(str(err).split(": ", 1)[1]) from None


def _reject_constant(value):
    raise AkidaModelFileError(f"manifest contains the non-standard JSON value {value}.")


def _no_duplicate_keys(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise AkidaModelFileError(f"manifest has the key {key!r} twice in one object.")
        result[key] = value
    return result


def _read_manifest(archive, infos) -> dict:
    raw = _read_capped(archive, infos[MANIFEST], MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant,
                              object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise AkidaModelFileError(f"{MANIFEST} is not valid UTF-8 JSON ({err}).") from None
    if not isinstance(manifest, dict):
        raise AkidaModelFileError(f"{MANIFEST} must be a JSON object.")
    if manifest.get("format") != FORMAT_NAME:
        raise AkidaModelFileError(f"{MANIFEST} has format {manifest.get('format')!r}, expected "
                                  f"{FORMAT_NAME!r}.")
    version = manifest.get("format_version")
    if type(version) is not int:
        raise AkidaModelFileError(f"{MANIFEST} has no integer format_version.")
    if version not in READABLE_VERSIONS:
        newer = " (written by a newer cnn2snn_tfmot: upgrade)" if version > FORMAT_VERSION \
            else ""
        raise AkidaModelFileError(f"unsupported format_version {version}{newer}; this reader "
                                  f"reads versions {', '.join(map(str, READABLE_VERSIONS))}.")
    optional = {"producer"}
    if version >= CLASS_NAMES_VERSION:
        optional.add("class_names")
    if version >= LEARNING_VERSION:
        optional.add("learning")
    _expect_keys(manifest, {"format", "format_version", "layers"}, optional, MANIFEST)
    names = manifest.get("class_names")
    if names is not None and (not isinstance(names, list) or not all(
            isinstance(name, str) and 0 < len(name) <= MAX_CLASS_NAME for name in names)):
        raise AkidaModelFileError(f"{MANIFEST}: class_names must be a list of strings of 1 to "
                                  f"{MAX_CLASS_NAME} characters.")
    return manifest


def _expect_keys(obj: dict, required: set, optional: set, where: str) -> None:
    keys = set(obj)
    if not required <= keys:
        raise AkidaModelFileError(f"{where} lacks key(s) {sorted(required - keys)}.")
    if not keys <= required | optional:
        raise AkidaModelFileError(f"{where} has unknown key(s) "
                                  f"{sorted(keys - required - optional)[:5]}.")


def _check_manifest(manifest: dict) -> list:
    layers = manifest["layers"]
    if not isinstance(layers, list) or len(layers) > MAX_LAYERS:
        raise AkidaModelFileError(f"'layers' must be a list of at most {MAX_LAYERS} layers.")
    for index, entry in enumerate(layers):
        where = f"layer {index}"
        if not isinstance(entry, dict):
            raise AkidaModelFileError(f"{where} must be a JSON object.")
        _expect_keys(entry, {"type", "name", "parameters", "variables"}, set(), where)
        if not isinstance(entry["type"], str) or entry["type"] not in LAYER_TYPES:
            raise AkidaModelFileError(f"{where} has unknown type {entry['type']!r}; known "
                                      f"types: {sorted(LAYER_TYPES)}.")
        if not isinstance(entry["name"], str):
            raise AkidaModelFileError(f"{where} name must be a string.")
        if not isinstance(entry["parameters"], dict):
            raise AkidaModelFileError(f"{where} parameters must be a JSON object.")
        variables = entry["variables"]
        if not isinstance(variables, dict):
            raise AkidaModelFileError(f"{where} variables must be a JSON object.")
        for var_name, var in variables.items():
            what = f"{where} variable {var_name!r}"
            if not isinstance(var, dict):
                raise AkidaModelFileError(f"{what} must be a JSON object.")
            _expect_keys(var, {"file", "dtype", "shape"}, set(), what)
            if not isinstance(var["file"], str) or not _MEMBER_RE.match(var["file"]):
                raise AkidaModelFileError(f"{what} has an invalid file name {var['file']!r}.")
            if var["dtype"] not in _DTYPES:
                raise AkidaModelFileError(f"{what} has dtype {var['dtype']!r}; allowed: "
                                          f"{sorted(_DTYPES)}.")
            shape = var["shape"]
            if not isinstance(shape, list) or len(shape) > 8 or \
                    not all(type(d) is int and 0 <= d < 2 ** 40 for d in shape):
                raise AkidaModelFileError(f"{what} has an invalid shape {shape!r}.")
    return layers


def _build_layer(index: int, entry: dict):
    cls = LAYER_TYPES[entry["type"]]
    where = f"layer {index} ({entry['type']} {entry['name']!r})"
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self",
                                                                                   "name")]
    parameters = entry["parameters"]
    if set(parameters) != set(accepted):
        raise AkidaModelFileError(
            f"{where}: parameters {sorted(parameters)} do not match {cls.__name__}'s "
            f"{sorted(accepted)}.")
    try:
        return cls(name=entry["name"], **parameters)
    except (ValueError, TypeError) as err:
        raise AkidaModelFileError(f"{where}: invalid parameters: {err}") from None


def _read_array(archive, info, spec, where: str, name: str) -> np.ndarray:
    dtype = _DTYPES[spec.dtype.name]
    count = math.prod(spec.shape)
    data = _read_capped(archive, info, count * dtype.itemsize + MAX_NPY_HEADER)
    buffer = io.BytesIO(data)
    what = f"{where}: variable {name!r} ({info.filename})"
    try:
        version = np.lib.format.read_magic(buffer)
        if version == (1, 0):
            shape, fortran, file_dtype = np.lib.format.read_array_header_1_0(
                buffer, max_header_size=MAX_NPY_HEADER)
        elif version == (2, 0):
            shape, fortran, file_dtype = np.lib.format.read_array_header_2_0(
                buffer, max_header_size=MAX_NPY_HEADER)
        else:
            raise AkidaModelFileError(f"{what}: unsupported .npy version {version}.")
    except (ValueError, SyntaxError, TypeError) as err:
        raise AkidaModelFileError(f"{what}: invalid .npy header ({err}).") from None
    if file_dtype != dtype or file_dtype.hasobject:
        raise AkidaModelFileError(f"{what}: array dtype {file_dtype} differs from the expected "
                                  f"{dtype} ({spec.dtype.name}, little-endian).")
    if tuple(shape) != spec.shape or fortran:
        raise AkidaModelFileError(f"{what}: array shape {tuple(shape)}"
                                  f"{' (Fortran order)' if fortran else ''} differs from the "
                                  f"expected C-order {spec.shape}.")
    offset = buffer.tell()
    if len(data) - offset != count * dtype.itemsize:
        raise AkidaModelFileError(f"{what}: holds {len(data) - offset} data bytes, expected "
                                  f"{count * dtype.itemsize}.")
    array = np.frombuffer(data, dtype=dtype, count=count, offset=offset).reshape(spec.shape)
    return array.astype(spec.dtype, copy=True)
