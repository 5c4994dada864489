"""Command line: the function that runs each command of ``cnn2snn_tfmot <command> ...``.

The commands, their help and their arguments are one table, ``COMMANDS`` in the top-level
module ``cnn2snn_tfmot_cli`` (the console script), which answers ``--help`` and ``--version``
without importing TensorFlow and names the function of this module that runs each command
(``"cnn2snn_tfmot.cli.commands:convert"``). Each function takes the parsed arguments and returns
the exit status. Before one runs, the paths it writes are checked (:func:`check_paths`): never
an input, never something that is not a previous output of the same kind unless
``--overwrite``.

Keras models are read with load_quantized_model (.h5, SavedModel, .keras; Keras 3 files are
rebuilt as tf_keras). convert, export, evaluate, predict and report of a Keras model need its
input scaling: the one it remembers (``quantize --input-scaling``) or ``--input-scaling``;
without either they refuse, saying so.

Example:
    $ cnn2snn_tfmot quantize float.h5 q.h5 -w 4 -a 4 -i 8 --input-scaling 255 0
    $ cnn2snn_tfmot convert q.h5 model.akida
    $ cnn2snn_tfmot evaluate model.akida t10k-images-idx3-ubyte.gz \\
          --labels t10k-labels-idx1-ubyte.gz
"""
from __future__ import annotations

import csv
import functools
import os
import warnings
from typing import Callable, Dict, List, Tuple

import numpy as np

from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.akida.fileformat import AKIDA_MODEL_FILE
from cnn2snn_tfmot.akida.fileformat import SUFFIX as AKIDA_SUFFIX
from cnn2snn_tfmot.atomic import (
    SAVED_MODEL,
    OutputExistsError,
    OutputKind,
    atomic_file,
    atomic_path,
    check_output,
)
from cnn2snn_tfmot.chip.rules import IncompatibleModelError
from cnn2snn_tfmot.conversion.block_summary import block_summary_lines
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning, check_model_compatibility
from cnn2snn_tfmot.conversion.converter import convert as convert_model
from cnn2snn_tfmot.conversion.export import export as export_model
from cnn2snn_tfmot.data.image_files import open_images
from cnn2snn_tfmot.inspection.html_report import REPORT_FOLDER
from cnn2snn_tfmot.inspection.html_report import report as write_report
from cnn2snn_tfmot.quantization.input_scaling import input_scaling_of, resolve_input_scaling
from cnn2snn_tfmot.quantization.saving import (
    KERAS_FILE_SUFFIXES,
    KERAS_MODEL_FILE,
    load_quantized_model,
    save_model,
)
from cnn2snn_tfmot.rewriting.adapting import adapt as adapt_model
from cnn2snn_tfmot.rewriting.quantizing import quantize as quantize_model
from cnn2snn_tfmot.rewriting.sanitizing import sanitize
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["check", "adapt", "quantize", "convert", "export", "summary", "evaluate",
           "predict", "report", "check_paths", "MissingInputScalingError", "PREDICTIONS_FILE"]


class MissingInputScalingError(ValueError):
    """A command needs a Keras model's input scaling, and neither the model nor the command
    line gives it.

    Example:
        >>> from cnn2snn_tfmot.cli.commands import MissingInputScalingError
        >>> str(MissingInputScalingError("q.h5")).startswith("q.h5 does not remember")
        True
    """

    def __init__(self, path: str):
        super().__init__(
            f"{path} does not remember the input scaling it is meant for and --input-scaling "
            "was not given: a wrong scaling gives a model that runs and is wrong. Pass "
            "--input-scaling SCALE SHIFT (x_akida = SCALE * x_keras + SHIFT: 255 0 for a Keras "
            "model trained on img / 255, 1 0 if it takes the uint8 values themselves), or "
            "quantize with --input-scaling so that the model remembers it.")


# Outputs -----------------------------------------------------------------------------------

_PREDICTIONS_HEADER = "image,class,score"


def _is_predictions_csv(path: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.readline().strip() == _PREDICTIONS_HEADER


#: A predictions file: a .csv written by predict is replaced; a .npy (which cannot say who
#: wrote it) or any other file needs --overwrite.
PREDICTIONS_FILE = OutputKind("a predictions .csv written by predict", directory=False,
                              recognise=lambda path: path.endswith(".csv") and
                              _is_predictions_csv(path))
_FBZ_FILE = OutputKind("a file this command writes (BrainChip's .fbz files cannot be told "
                       "apart)", directory=False)


def _suffixed(path: str, suffixes: Tuple[str, ...], option: str, what: str) -> str:
    if not path.endswith(suffixes):
        raise ValueError(f"{option} {path}: {what} must end in {' or '.join(suffixes)}.")
    return path


#: How the table's output kinds are written: path -> [(path written, kind)].
_OUTPUTS: Dict[str, Callable[[str], List[Tuple[str, OutputKind]]]] = {
    "model": lambda path: [(path, KERAS_MODEL_FILE if path.endswith(KERAS_FILE_SUFFIXES)
                            else SAVED_MODEL)],
    "akida": lambda path: [(_suffixed(path, (AKIDA_SUFFIX,), "OUTPUT", "an Akida model file"),
                            AKIDA_MODEL_FILE)],
    "fbz": lambda path: [(_suffixed(path, (".fbz",), "--fbz", "a BrainChip model file"),
                          _FBZ_FILE)],
    "export": lambda folder: [(os.path.join(folder, "keras_savedmodel"), SAVED_MODEL),
                              (os.path.join(folder, "model.akida"), AKIDA_MODEL_FILE),
                              (os.path.join(folder, "emulator_savedmodel"), SAVED_MODEL)],
    "predictions": lambda path: [(_suffixed(path, (".npy", ".csv"), "--output",
                                            "predictions"), PREDICTIONS_FILE)],
    "report": lambda path: [(path, REPORT_FOLDER)],
}


def check_paths(args) -> None:
    """Checks every output of a command before it runs (the table of ``cnn2snn_tfmot_cli``
    gives ``args.inputs`` and ``args.outputs``): suffix, never an input or inside one, never
    something else than a previous output of its kind unless ``--overwrite``, two outputs
    never at one path.

    Arguments:
        args: the parsed arguments, with ``inputs`` (paths) and ``outputs`` ((path, kind)).

    Raises:
        ValueError: a wrong suffix; OutputExistsError: see
            :func:`cnn2snn_tfmot.atomic.check_output`.

    Example:
        >>> from cnn2snn_tfmot.cli.commands import check_paths
        >>> import argparse
        >>> check_paths(argparse.Namespace(inputs=["q.h5"], outputs=[("m.akida", "akida")]))
    """
    seen = {}
    for path, kind in getattr(args, "outputs", []):
        for target, output_kind in _OUTPUTS[kind](path):
            absolute = check_output(target, output_kind, getattr(args, "overwrite", False),
                                    getattr(args, "inputs", []))
            if absolute in seen:
                raise OutputExistsError(f"{target} is given as two outputs ({seen[absolute]} "
                                        f"and {kind}); give each its own path.")
            seen[absolute] = kind


def _command(function: Callable) -> Callable:
    """A command's function: its outputs are checked before it runs."""

    @functools.wraps(function)
    def run(args) -> int:
        check_paths(args)
        return function(args)

    return run


# Models ------------------------------------------------------------------------------------

def _is_akida_path(path: str) -> bool:
    return path.endswith(AKIDA_SUFFIX)


def _load(args):
    if _is_akida_path(args.model):
        raise ValueError(f"{args.model} is an Akida model file; {args.command} takes a Keras "
                         "model file (.h5, .hdf5, .keras) or a SavedModel folder (summary, "
                         "evaluate, predict and report take .akida files).")
    return load_quantized_model(args.model, compile=False)


def _scaling(args, model) -> tuple:
    """The input scaling of a Keras model: given or remembered (they must agree), else refuse."""
    scaling, source = resolve_input_scaling(model, args.input_scaling,
                                            getattr(args, "sparse", False))
    if scaling is None:
        raise MissingInputScalingError(args.model)
    origin = "given" if source == "given" else "remembered by the model"
    print(f"input scaling {scaling} ({origin})")
    return scaling


def _convert_keras(args, model):
    return convert_model(model, input_scaling=_scaling(args, model),
                         input_is_sparse=getattr(args, "sparse", False))


def _model_and_scaling(args):
    """(Akida model, None) for an .akida file, else (Keras model, its input scaling)."""
    if _is_akida_path(args.model):
        if args.input_scaling is not None:
            raise ValueError("--input-scaling applies to Keras models; an .akida model takes "
                             "uint8 images as they are.")
        return Model(args.model), None
    model = _load(args)
    return model, _scaling(args, model)


# Commands ----------------------------------------------------------------------------------

@_command
def check(args) -> int:
    """``check MODEL``: 0 when compatible, 1 with every problem listed otherwise."""
    model = _load(args)
    scaling, source = resolve_input_scaling(model, args.input_scaling, args.sparse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AkidaChipWarning)
        try:
            check_model_compatibility(model, input_is_sparse=args.sparse, input_scaling=scaling,
                                      device=args.device)
        except IncompatibleModelError as err:
            print(err)
            return 1
    for warning in caught:
        if issubclass(warning.category, AkidaChipWarning):
            print(f"warning: {warning.message}")
        else:  # not ours to print: back to the filters in force
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
    registers = (f"registers checked for input scaling {scaling} ({source})" if scaling else
                 "rules only: registers not checked (no input scaling given or remembered)")
    runs = f"; runs in hardware on the {args.device}, in one sequence" if args.device else ""
    print(f"{args.model}: compatible with Akida{runs}; {registers}")
    return 0


@_command
def adapt(args) -> int:
    """``adapt MODEL OUTPUT``: the rewritten model, and every change listed."""
    model = _load(args)
    rewritten, changes = (sanitize if args.exact_only else adapt_model)(model)
    print(f"{len(changes)} change(s):")
    print(changes)
    save_model(rewritten, args.output, args.overwrite)
    print(f"model written to {args.output}")
    if not changes.function_kept:
        print("Some changes alter the model's function: fine-tune it before quantizing.")
    return 0


@_command
def quantize(args) -> int:
    """``quantize MODEL OUTPUT -w -a [-i]``: the quantized model."""
    model = quantize_model(_load(args), args.weight_bits, args.activ_bits,
                           args.input_weight_bits, input_scaling=args.input_scaling)
    save_model(model, args.output, args.overwrite)
    print(f"quantized model written to {args.output}")
    scaling = input_scaling_of(model)
    if scaling is None:
        print("It does not remember an input scaling: convert will need --input-scaling "
              "(or quantize again with --input-scaling).")
    else:
        print(f"It remembers input scaling {scaling}: convert uses it.")
    return 0


@_command
def convert(args) -> int:
    """``convert MODEL OUTPUT.akida [--fbz FILE]``: the Akida model file."""
    akida_model = _convert_keras(args, _load(args))
    akida_model.save(args.output, args.overwrite)
    akida_model.summary()
    print(f"Akida model written to {args.output}")
    if args.fbz:
        runtime_model = akida_model.to_akida()
        with atomic_path(args.fbz, _FBZ_FILE, args.overwrite, args.inputs) as temporary:
            runtime_model.save(temporary)
        print(f"BrainChip runtime model written to {args.fbz}")
    return 0


@_command
def summary(args) -> int:
    """``summary MODEL [--device AKD1000 [--mode M]]``: an Akida model's layers, or a Keras
    model's blocks; with a device, the mapping onto its NPs too."""
    if args.mode is not None and args.device is None:
        raise ValueError(f"--mode {args.mode} maps the model onto a device: add --device "
                         "AKD1000.")
    mode = args.mode or "all_nps"
    if _is_akida_path(args.model):
        akida_model = Model(args.model)
        if args.device:
            akida_model.map(args.device, mode=mode)  # the summary then shows the NPs
        akida_model.summary()
        return 0
    for line in block_summary_lines(_load(args), args.sparse, args.device, mode):
        print(line)
    return 0


@_command
def export(args) -> int:
    """``export MODEL DIRECTORY``: the three artefacts."""
    model = _load(args)
    akida_model = _convert_keras(args, model)
    for name, path in export_model(model, akida_model, args.directory, backend=args.backend,
                                   overwrite=args.overwrite).items():
        print(f"{name:9s} {path}")
    return 0


def _models(args):
    """(akida model, keras model or None, input scaling or None) of the MODEL argument."""
    model, scaling = _model_and_scaling(args)
    if scaling is None:
        return model, None, None
    return convert_model(model, input_scaling=scaling), model, scaling


def _check_batch_size(args) -> None:
    if isinstance(args.batch_size, bool) or args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer; got {args.batch_size}.")


def _open(args, input_shape):
    """The images of the command, their notes printed before any is read."""
    source = open_images(args.images, input_shape, args.labels)
    for note in source.notes:
        print(f"note: {note}")
    return source


def _folder_labels_as_the_model_names_them(args, source, class_names) -> None:
    """A class-folder tree's labels, re-indexed by name to the model's classes (``class_names``)
    when the model has names: the folders may hold some of its classes, or name them in
    another order; a folder that is none of its classes is an error."""
    if not class_names or source.class_names is None or args.labels is not None:
        return
    folders = list(source.class_names)
    if folders == list(class_names):
        return
    unknown = [name for name in folders if name not in class_names]
    if unknown:
        shown = ", ".join(repr(name) for name in unknown[:5])
        raise ValueError(f"{args.images}: class folder(s) {shown} are not classes of the model "
                         f"{args.model}, whose classes are {', '.join(class_names)}; name each "
                         "class folder after one of them.")
    index = np.asarray([class_names.index(name) for name in folders], np.int64)
    source.labels = index[source.labels]
    print(f"note: the {len(folders)} class folders are labelled by the model's class names "
          f"({len(class_names)} classes), not by their sorted order")


def _run(args, need_labels: bool):
    """Runs the model(s) on the images: (source, Akida outputs, Keras outputs or None, the
    Akida model's class names or None)."""
    _check_batch_size(args)
    akida_model, keras_model, scaling = _models(args)
    source = _open(args, akida_model.input_shape)
    if need_labels and source.labels is None:
        raise ValueError(f"{args.images} has no labels: give --labels FILE (IDX, .npy, .npz), "
                         "a .npz with y / labels, or a folder with one sub-folder per class.")
    class_names = akida_model.class_names
    _folder_labels_as_the_model_names_them(args, source, class_names)
    progress = keras.utils.Progbar(len(source), unit_name="image")
    akida_outputs, keras_outputs = [], []
    for batch in source.batches(args.batch_size):
        akida_outputs.append(akida_model.predict(batch, batch_size=args.batch_size,
                                                 backend=args.backend).reshape(len(batch), -1))
        if keras_model is not None:
            inputs = (batch.astype(np.float32) - scaling[1]) / np.float32(scaling[0])
            keras_outputs.append(np.asarray(keras_model(inputs, training=False)).reshape(
                len(batch), -1))
        progress.add(len(batch))
    return (source, np.concatenate(akida_outputs),
            np.concatenate(keras_outputs) if keras_model is not None else None, class_names)


@_command
def evaluate(args) -> int:
    """``evaluate MODEL IMAGES``: the accuracy (and the Keras model's, with the agreement)."""
    source, akida_outputs, keras_outputs, _ = _run(args, need_labels=True)
    labels, count = source.labels, len(source)
    akida_guess = akida_outputs.argmax(axis=1)
    correct = int(np.sum(akida_guess == labels))
    print(f"Akida accuracy: {correct / count:.2%} ({correct:,} / {count:,} images)")
    if keras_outputs is not None:
        keras_guess = keras_outputs.argmax(axis=1)
        keras_correct = int(np.sum(keras_guess == labels))
        agree = float(np.mean(keras_guess == akida_guess))
        print(f"Keras accuracy: {keras_correct / count:.2%} ({keras_correct:,} / {count:,}); "
              f"Keras-vs-Akida agreement: {agree:.2%}")
    return 0


def _write_predictions(args, names: List[str], outputs: np.ndarray) -> None:
    options = dict(kind=PREDICTIONS_FILE, overwrite=args.overwrite, inputs=args.inputs)
    if args.output.endswith(".npy"):
        with atomic_file(args.output, **options) as handle:
            np.save(handle, outputs)
    else:
        with atomic_file(args.output, "w", **options) as handle:
            writer = csv.writer(handle)
            writer.writerow(_PREDICTIONS_HEADER.split(","))
            for name, row in zip(names, outputs):
                writer.writerow([name, int(row.argmax()), f"{float(row.max()):.6g}"])


@_command
def predict(args) -> int:
    """``predict MODEL IMAGES [--output FILE]``: the class of each image."""
    source, outputs, _, class_names = _run(args, need_labels=False)
    names = source.names()
    classes = outputs.argmax(axis=1)
    # the model's own names; else a class-folder tree's (the classes in Keras's order)
    labels = class_names or source.class_names
    for name, guess, row in list(zip(names, classes, outputs))[:max(args.show, 0)]:
        label = f" ({labels[guess]})" if labels and guess < len(labels) else ""
        print(f"{name}: class {guess}{label}, score {float(row[guess]):.4g}")
    if len(names) > args.show > 0:
        print(f"... {len(names) - args.show} more")
    if args.output:
        _write_predictions(args, names, outputs)
        print(f"predictions written to {args.output}")
    return 0


@_command
def report(args) -> int:
    """``report MODEL --data IMAGES --out DIR``: the HTML report; 1 when incompatible."""
    _check_batch_size(args)
    model, scaling = _model_and_scaling(args)
    input_shape = model.input_shape if scaling is None else model.input_shape[1:]
    source = _open(args, input_shape)
    # the report reads the images several times: an array (the command line's data are small)
    images = np.concatenate(list(source.batches(args.batch_size)))
    result = write_report(model, images, args.out, y=source.labels, input_scaling=scaling,
                          input_is_sparse=args.sparse, log=args.log, title=args.title,
                          batch_size=args.batch_size, backend=args.backend,
                          overwrite=args.overwrite)
    if not result.compatible:
        print("the model is not compatible with Akida 1.0:\n  - " +
              "\n  - ".join(result.problems))
    print(f"report written to {result.path}")
    return 0 if result.compatible else 1
