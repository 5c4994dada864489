"""Command line: the commands of ``cnn2snn_tfmot <command> ...``.

The parser lives in the top-level module ``cnn2snn_tfmot_cli`` (the console script), so that
``--help`` and ``--version`` answer without importing TensorFlow; ``python -m
cnn2snn_tfmot.cli`` runs the same command line.

Commands:
  check     MODEL [--input-scaling S Z] [--sparse] [--device AKD1000]
                                                     Akida compatibility of a quantized model
  adapt     MODEL OUTPUT [--exact-only]              rewrite a float model for Akida
  quantize  MODEL OUTPUT -w BITS -a BITS [-i BITS] [--input-scaling S Z]
  convert   MODEL OUTPUT [--input-scaling S Z] [--sparse] [--fbz FILE]
  summary   MODEL [--device AKD1000 [--mode M]]      Akida layers, or a Keras model's blocks
  evaluate  MODEL IMAGES [--labels FILE]             accuracy on IDX / .npy / .npz / folders
  predict   MODEL IMAGES [--output FILE]             the predicted class of each image
  report    MODEL --data IMAGES --out DIR [--log LOG] an HTML page: statistics, figures
  export    MODEL DIRECTORY [--input-scaling S Z] [--sparse] [--engine custom|tf]

Keras models are read with load_quantized_model (.h5, SavedModel, .keras; Keras 3 files are
rebuilt as tf_keras). convert, export, evaluate, predict and report of a Keras model need its
input scaling: the one it remembers (``quantize --input-scaling``) or ``--input-scaling``;
without either they refuse, saying so. Errors are one line on stderr and exit status 2;
``check`` and ``report`` exit with 1 when the model is not compatible.

Example:
    $ cnn2snn_tfmot quantize float.h5 q.h5 -w 4 -a 4 -i 8 --input-scaling 255 0
    $ cnn2snn_tfmot convert q.h5 model.akida
    $ cnn2snn_tfmot evaluate model.akida t10k-images-idx3-ubyte.gz \\
          --labels t10k-labels-idx1-ubyte.gz
"""
from __future__ import annotations

import csv
import logging
import os
import warnings
from typing import Callable, Dict, List, Optional

import numpy as np

__all__ = ["COMMANDS", "main", "quiet_tensorflow_loggers", "MissingInputScalingError"]


class MissingInputScalingError(ValueError):
    """A command needs a Keras model's input scaling, and neither the model nor the command
    line gives it.

    Example:
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


def quiet_tensorflow_loggers() -> None:
    """Sets TensorFlow's Python logger to errors only (its C++ logs are set before import).

    Example:
        >>> quiet_tensorflow_loggers()
    """
    from cnn2snn_tfmot.tfkeras import tf

    tf.get_logger().setLevel(logging.ERROR)


def _is_akida_file(path: str) -> bool:
    return os.path.isfile(path) and path.endswith(".akida")


def _load(path: str):
    from cnn2snn_tfmot.saving import load_quantized_model

    return load_quantized_model(path, compile=False)


def _save(model, path: str) -> None:
    from cnn2snn_tfmot.saving import save_model

    save_model(model, path)


def _scaling(args, model) -> tuple:
    """The input scaling of a Keras model: given or remembered (they must agree), else refuse."""
    from cnn2snn_tfmot.input_scaling import resolve_input_scaling

    scaling, source = resolve_input_scaling(model, args.input_scaling,
                                            getattr(args, "sparse", False))
    if scaling is None:
        raise MissingInputScalingError(args.model)
    origin = "given" if source == "given" else "remembered by the model"
    print(f"input scaling {scaling} ({origin})")
    return scaling


def _convert_keras(args, model):
    from cnn2snn_tfmot.converter import convert

    return convert(model, input_scaling=_scaling(args, model),
                   input_is_sparse=getattr(args, "sparse", False))


# Commands -------------------------------------------------------------------------------------

def _check(args) -> int:
    from cnn2snn_tfmot.compatibility import check_model_compatibility
    from cnn2snn_tfmot.input_scaling import resolve_input_scaling
    from cnn2snn_tfmot.rules import IncompatibleModelError

    model = _load(args.model)
    scaling, source = resolve_input_scaling(model, args.input_scaling, args.sparse)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not getattr(args, "tf_logs", False):
            from cnn2snn_tfmot_cli import QUIET_MODULES

            warnings.filterwarnings("ignore", module=QUIET_MODULES)
        try:
            check_model_compatibility(model, input_is_sparse=args.sparse, input_scaling=scaling,
                                      device=getattr(args, "device", None))
        except IncompatibleModelError as err:
            print(err)
            return 1
    for warning in caught:
        print(f"warning: {warning.message}")
    registers = (f"registers checked for input scaling {scaling} ({source})" if scaling else
                 "rules only: registers not checked (no input scaling given or remembered)")
    device = getattr(args, "device", None)
    runs = f"; runs in hardware on the {device}" if device else ""
    print(f"{args.model}: compatible with Akida{runs}; {registers}")
    return 0


def _adapt(args) -> int:
    from cnn2snn_tfmot.adapting import adapt
    from cnn2snn_tfmot.sanitizing import sanitize

    model = _load(args.model)
    rewritten, changes = (sanitize if args.exact_only else adapt)(model)
    print(f"{len(changes)} change(s):")
    print(changes)
    _save(rewritten, args.output)
    print(f"model written to {args.output}")
    if not changes.function_kept:
        print("Some changes alter the model's function: fine-tune it before quantizing.")
    return 0


def _quantize(args) -> int:
    from cnn2snn_tfmot.input_scaling import input_scaling_of
    from cnn2snn_tfmot.quantization import quantize

    model = quantize(_load(args.model), args.weight_bits, args.activ_bits,
                     args.input_weight_bits, input_scaling=args.input_scaling)
    _save(model, args.output)
    print(f"quantized model written to {args.output}")
    scaling = input_scaling_of(model)
    if scaling is None:
        print("It does not remember an input scaling: convert will need --input-scaling "
              "(or quantize again with --input-scaling).")
    else:
        print(f"It remembers input scaling {scaling}: convert uses it.")
    return 0


def _convert(args) -> int:
    akida_model = _convert_keras(args, _load(args.model))
    akida_model.save(args.output)
    akida_model.summary()
    print(f"Akida model written to {args.output}")
    if args.fbz:
        akida_model.to_akida().save(args.fbz)
        print(f"BrainChip runtime model written to {args.fbz}")
    return 0


def _summary(args) -> int:
    device = getattr(args, "device", None)
    if _is_akida_file(args.model):
        from cnn2snn_tfmot.akida import Model

        akida_model = Model(args.model)
        if device:
            akida_model.map(device, mode=args.mode)  # the summary then shows the NPs
        akida_model.summary()
        return 0
    from cnn2snn_tfmot.block_summary import block_summary_lines

    model = _load(args.model)
    for line in block_summary_lines(model, args.sparse):
        print(line)
    if device:
        for line in _keras_mapping_lines(model, args.sparse, device, args.mode):
            print(line)
    return 0


def _keras_mapping_lines(model, sparse: bool, device: str, mode: str) -> List[str]:
    """The mapping of the Akida model a Keras model converts to (its structure: no registers)."""
    from cnn2snn_tfmot.akida.mapping import map_layers
    from cnn2snn_tfmot.blocks import analyze
    from cnn2snn_tfmot.hardware_check import block_hardware_layers

    mapping = map_layers(block_hardware_layers(analyze(model, sparse), sparse), device,
                         mode=mode)
    counts = mapping.np_counts()
    lines = mapping.summary_lines()
    for name in [n for s in mapping.sequences for n in s.layers]:
        nps = ", ".join(f"{n} {kind}" for kind, n in counts[name].items()) \
            if name in counts else "software"
        lines.append(f"    {name}: {nps}")
    return lines


def _export(args) -> int:
    from cnn2snn_tfmot.engine.export import export

    model = _load(args.model)
    akida_model = _convert_keras(args, model)
    for name, path in export(model, akida_model, args.directory, engine=args.engine).items():
        print(f"{name:9s} {path}")
    return 0


def _model_and_scaling(args):
    """(Akida model, None) for an .akida file, else (Keras model, its input scaling)."""
    if _is_akida_file(args.model):
        if args.input_scaling is not None:
            raise ValueError("--input-scaling applies to Keras models; an .akida model takes "
                             "uint8 images as they are.")
        from cnn2snn_tfmot.akida import Model

        return Model(args.model), None
    model = _load(args.model)
    return model, _scaling(args, model)


def _models(args):
    """(akida model, keras model or None, input scaling or None) of the MODEL argument."""
    model, scaling = _model_and_scaling(args)
    if scaling is None:
        return model, None, None
    from cnn2snn_tfmot.converter import convert

    return convert(model, input_scaling=scaling), model, scaling


def _run(args, need_labels: bool):
    """Runs the model(s) on the images: (source, Akida outputs, Keras outputs or None)."""
    from cnn2snn_tfmot.image_files import open_images
    from cnn2snn_tfmot.tfkeras import keras

    if isinstance(args.batch_size, bool) or args.batch_size < 1:
        raise ValueError(f"--batch-size must be a positive integer; got {args.batch_size}.")
    akida_model, keras_model, scaling = _models(args)
    source = open_images(args.images, akida_model.input_shape, args.labels)
    if need_labels and source.labels is None:
        raise ValueError(f"{args.images} has no labels: give --labels FILE (IDX, .npy, .npz), "
                         "a .npz with y / labels, or a folder with one sub-folder per class.")
    progress = keras.utils.Progbar(len(source), unit_name="image")
    akida_outputs, keras_outputs = [], []
    for batch in source.batches(args.batch_size):
        akida_outputs.append(akida_model.predict(batch, batch_size=args.batch_size,
                                                 engine=args.engine).reshape(len(batch), -1))
        if keras_model is not None:
            inputs = (batch.astype(np.float32) - scaling[1]) / np.float32(scaling[0])
            keras_outputs.append(np.asarray(keras_model(inputs, training=False)).reshape(
                len(batch), -1))
        progress.add(len(batch))
    for note in source.notes:
        print(f"note: {note}")
    return (source, np.concatenate(akida_outputs),
            np.concatenate(keras_outputs) if keras_model is not None else None)


def _evaluate(args) -> int:
    source, akida_outputs, keras_outputs = _run(args, need_labels=True)
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


def _write_predictions(path: str, names: List[str], outputs: np.ndarray) -> None:
    from cnn2snn_tfmot.atomic import atomic_file

    if path.endswith(".npy"):
        with atomic_file(path) as handle:
            np.save(handle, outputs)
    else:
        with atomic_file(path, "w") as handle:
            writer = csv.writer(handle)
            writer.writerow(["image", "class", "score"])
            for name, row in zip(names, outputs):
                writer.writerow([name, int(row.argmax()), f"{float(row.max()):.6g}"])


def _predict(args) -> int:
    if args.output is not None and not args.output.endswith((".npy", ".csv")):
        raise ValueError(f"--output {args.output}: write predictions to a .npy or a .csv file.")
    source, outputs, _ = _run(args, need_labels=False)
    names = source.names()
    classes = outputs.argmax(axis=1)
    labels = source.class_names
    for name, guess, row in list(zip(names, classes, outputs))[:max(args.show, 0)]:
        label = f" ({labels[guess]})" if labels and guess < len(labels) else ""
        print(f"{name}: class {guess}{label}, score {float(row[guess]):.4g}")
    if len(names) > args.show > 0:
        print(f"... {len(names) - args.show} more")
    if args.output:
        _write_predictions(args.output, names, outputs)
        print(f"predictions written to {args.output}")
    return 0


def _report(args) -> int:
    from cnn2snn_tfmot.html_report import report
    from cnn2snn_tfmot.image_files import open_images

    model, scaling = _model_and_scaling(args)
    input_shape = model.input_shape if scaling is None else model.input_shape[1:]
    source = open_images(args.images, input_shape, args.labels)
    for note in source.notes:
        print(f"note: {note}")
    # the report reads the images several times: an array (the command line's data are small)
    images = np.concatenate(list(source.batches(args.batch_size)))
    result = report(model, images, args.out, y=source.labels, input_scaling=scaling,
                    input_is_sparse=args.sparse, log=args.log, title=args.title,
                    batch_size=args.batch_size, engine=args.engine)
    if not result.compatible:
        print("the model is not compatible with Akida 1.0:\n  - " +
              "\n  - ".join(result.problems))
    print(f"report written to {result.path}")
    return 0 if result.compatible else 1


#: Command name -> function(args) -> exit status (the parser is cnn2snn_tfmot_cli's).
COMMANDS: Dict[str, Callable] = {"check": _check, "adapt": _adapt, "quantize": _quantize,
                                 "convert": _convert, "summary": _summary, "export": _export,
                                 "evaluate": _evaluate, "predict": _predict,
                                 "report": _report}


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line (the same as the ``cnn2snn_tfmot`` console script).

    Arguments:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 for an incompatible model (``check``,
        ``report``), 2 for an error.

    Example:
        >>> akida_model.save("model.akida")
        >>> main(["summary", "model.akida"])
        Model: 3 layers, input (16, 16, 1), output (1, 1, 10)
        ...
        0
    """
    from cnn2snn_tfmot_cli import main as run

    return run(argv)


if __name__ == "__main__":
    from cnn2snn_tfmot_cli import console_main

    raise SystemExit(console_main())
