"""The ``cnn2snn_tfmot`` command: its argument parser, without TensorFlow.

Importing ``cnn2snn_tfmot`` imports TensorFlow (it registers the compiled ops and the Keras
objects), which takes seconds and prints TensorFlow's log lines. This module builds the parser
and answers ``--help`` and ``--version`` without it; only a command that needs TensorFlow
imports the package, after silencing TensorFlow's logs (``--tf-logs`` keeps them). The commands
themselves are in :mod:`cnn2snn_tfmot.cli`.

Example:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    cnn2snn_tfmot ...
    0
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import warnings
from typing import List, Optional

PROG = "cnn2snn_tfmot"
DESCRIPTION = ("Take a Keras CNN to BrainChip's Akida 1.0: check, adapt, quantize, convert, "
               "summarize, evaluate, predict, report, export. Models: Keras files (.h5, "
               "SavedModel directory, .keras; Keras 3 files are rebuilt as tf_keras) or Akida "
               "files (.akida). Errors are one line on stderr with exit status 2; check and "
               "report exit with 1 when the model is not compatible.")
#: The Python warnings of these libraries are hidden with their logs (ours are kept).
QUIET_MODULES = r"(tensorflow|tf_keras|keras|tensorflow_model_optimization|h5py|absl)(\.|$)"
_SCALING_HELP = ("the input scaling (x_akida = SCALE * x_keras + SHIFT; 255 0 for Keras inputs "
                 "img / 255). Default: the one the model remembers (quantize --input-scaling); "
                 "a model that remembers none is refused")


def version() -> str:
    """The installed package's version, read without importing the package.

    Returns:
        The version string ("unknown" if it cannot be found).

    Example:
        >>> version() != "unknown"
        True
    """
    from importlib import metadata

    try:
        return metadata.version(PROG)
    except metadata.PackageNotFoundError:  # run from a source tree
        init = os.path.join(os.path.dirname(os.path.abspath(__file__)), PROG, "__init__.py")
        try:
            with open(init) as handle:
                found = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M)
        except OSError:
            found = None
        return found.group(1) if found else "unknown"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default but None (whose meaning the help text says)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def _command(commands, name: str, help_text: str):
    return commands.add_parser(name, help=help_text, description=help_text,
                               formatter_class=_HelpFormatter)


def _model_argument(command, what: str = "a Keras model file") -> None:
    command.add_argument("model", help=what)


def _scaling_argument(command) -> None:
    command.add_argument("--input-scaling", nargs=2, type=float, default=None,
                         metavar=("SCALE", "SHIFT"), help=_SCALING_HELP)


def _device_argument(command, what: str) -> None:
    command.add_argument("--device", default=None, choices=("AKD1000",),
                         help=f"{what} (this project's mapper; BrainChip's runtime not needed)")


def _sparse_argument(command) -> None:
    command.add_argument("--sparse", action="store_true",
                         help="the Akida model starts with InputData (events) instead of an "
                              "InputConvolutional layer (uint8 images)")


_IMAGES_HELP = ("images: an IDX file (e.g. t10k-images-idx3-ubyte.gz), a .npy / .npz array "
                "(x or images, y or labels) or a folder of PNG / JPEG images (class sub-folders "
                "give labels); resized to the model's input if needed")


def _data_arguments(command, images: str = "images") -> None:
    """IMAGES (positional, or the option ``images``, e.g. --data), labels, batch size, engine,
    input scaling: what every command that runs a model on images takes."""
    if images.startswith("-"):
        command.add_argument(images, dest="images", required=True, metavar="FILE",
                             help=_IMAGES_HELP)
    else:
        command.add_argument(images, help=_IMAGES_HELP)
    command.add_argument("--labels", default=None,
                         help="labels file (IDX, .npy or .npz); default: the labels of the "
                              ".npz or of the class sub-folders")
    command.add_argument("--batch-size", type=int, default=256, help="images per batch")
    command.add_argument("--engine", choices=("custom", "tf"), default=None,
                         help="emulator engine; default: the compiled ops when available")
    _scaling_argument(command)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command (TensorFlow is not imported).

    Returns:
        The argparse parser.

    Example:
        >>> build_parser().parse_args(["summary", "m.akida"]).command
        'summary'
    """
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION,
                                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    parser.add_argument("--tf-logs", action="store_true",
                        help="show TensorFlow's log lines and warnings (hidden by default)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = _command(commands, "check", "check that a quantized Keras model converts to Akida "
                     "(with an input scaling, given or remembered, its registers too)")
    _model_argument(check)
    _scaling_argument(check)
    _sparse_argument(check)
    _device_argument(check, "also require the model to run in hardware on this chip, in one "
                            "sequence: every problem is listed")

    adapt = _command(commands, "adapt", "rewrite a float Keras model for Akida (sanitize + "
                     "architecture changes) and list every change; fine-tune it after")
    _model_argument(adapt, "a float Keras model file (Keras 3 files too)")
    adapt.add_argument("output", help="output: a .h5 file or a SavedModel directory")
    adapt.add_argument("--exact-only", action="store_true",
                       help="only the rewrites that keep the model's outputs (sanitize)")

    quantize = _command(commands, "quantize", "quantize a float Keras model")
    _model_argument(quantize, "a float Keras model file")
    quantize.add_argument("output", help="output: a .h5 file or a SavedModel directory")
    quantize.add_argument("-w", "--weight-bits", type=int, required=True,
                          help="weight bitwidth (2..8; Akida inner layers: 2 or 4)")
    quantize.add_argument("-a", "--activ-bits", type=int, required=True,
                          help="activation bitwidth (Akida: 1, 2 or 4)")
    quantize.add_argument("-i", "--input-weight-bits", type=int, default=None,
                          help="weight bitwidth of the first layer (default: --weight-bits)")
    quantize.add_argument("--input-scaling", nargs=2, type=float, default=None,
                          metavar=("SCALE", "SHIFT"),
                          help="the input scaling the model is meant for, remembered by the "
                               "quantized model so that convert needs no --input-scaling "
                               "(255 0 for Keras inputs img / 255)")

    for name, help_text in (("convert", "convert a quantized Keras model to an Akida model file"),
                            ("export", "convert and write the three artefacts (Keras "
                                       "SavedModel, .akida, emulator SavedModel)")):
        command = _command(commands, name, help_text)
        _model_argument(command, "a quantized Keras model file")
        command.add_argument("output" if name == "convert" else "directory",
                             help="the .akida file" if name == "convert" else
                             "the output directory")
        _scaling_argument(command)
        _sparse_argument(command)
        if name == "convert":
            command.add_argument("--fbz", default=None,
                                 help="also write BrainChip's .fbz (needs pip install akida)")
        else:
            command.add_argument("--engine", choices=("custom", "tf"), default=None,
                                 help="the emulator SavedModel's engine; default: the "
                                      "compiled ops when available")

    summary = _command(commands, "summary", "print an Akida model's layers, or a Keras "
                       "model's blocks and the Akida layers they become")
    _model_argument(summary, "an .akida file or a Keras model file")
    _sparse_argument(summary)
    _device_argument(summary, "also map the model onto this chip: sequences and the NPs of "
                              "each layer")
    summary.add_argument("--mode", default="all_nps", choices=("all_nps", "hw_pr", "minimal"),
                         help="the mapping mode with --device (BrainChip's MapMode)")

    evaluate = _command(commands, "evaluate", "accuracy of an Akida model (or of a quantized "
                        "Keras model, converted, beside its own) on labelled images")
    _model_argument(evaluate, "an .akida file or a quantized Keras model file")
    _data_arguments(evaluate)

    predict = _command(commands, "predict", "the class an Akida model (or a quantized Keras "
                       "model, converted) predicts for each image")
    _model_argument(predict, "an .akida file or a quantized Keras model file")
    _data_arguments(predict)
    predict.add_argument("--output", default=None,
                         help="write every image's outputs: .npy (float32 array) or .csv "
                              "(image, class, score)")
    predict.add_argument("--show", type=int, default=10, help="lines printed (0: none)")

    report = _command(commands, "report", "write an HTML page on a model run on images: "
                      "summaries, compatibility, per-layer statistics, figures, accuracy and "
                      "Keras-vs-Akida agreement when labels are known (needs matplotlib)")
    _model_argument(report, "an .akida file or a quantized Keras model file")
    _data_arguments(report, "--data")
    report.add_argument("--out", required=True, help="the directory to write index.html into")
    _sparse_argument(report)
    report.add_argument("--log", default=None, help="a training log with register margins "
                        "(CSVLogger file or TensorBoard directory): adds the margins figure")
    report.add_argument("--title", default=None, help="the page title (default: the model's "
                        "name)")
    return parser


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ log lines and its Python logs and warnings.

    Called before TensorFlow is imported (the C++ level is read at import); a
    TF_CPP_MIN_LOG_LEVEL set by the user is kept.

    Example:
        >>> quiet_tensorflow()
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=QUIET_MODULES)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:  # absl comes with TensorFlow; nothing to quiet without it
        pass


def silence_native_stderr() -> None:
    """Sends what TensorFlow's C++ code writes to stderr (file descriptor 2) to the null device,
    while Python's ``sys.stderr`` (our messages, warnings, tracebacks) keeps the terminal.

    TensorFlow logs through absl before it reads ``TF_CPP_MIN_LOG_LEVEL``, so its start-up lines
    cannot be turned off otherwise. Only the console script does this (``--tf-logs`` keeps
    them); a process that embeds :func:`main` keeps its file descriptors.

    Example:
        >>> callable(silence_native_stderr)
        True
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
    except (OSError, ValueError):  # no real file descriptor 2: nothing to silence
        return
    sys.stderr = os.fdopen(saved, "w", buffering=1, errors="backslashreplace")


def console_main() -> int:
    """The ``cnn2snn_tfmot`` console script: :func:`main` with TensorFlow's native log lines
    silenced (unless ``--tf-logs``).

    Returns:
        The exit status.

    Example:
        >>> callable(console_main)
        True
    """
    if "--tf-logs" not in sys.argv[1:]:
        silence_native_stderr()
    return main()


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line.

    Arguments:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 for an incompatible model (``check``,
        ``report``), 2 for an error.

    Example:
        >>> main(["--version"])  # doctest: +ELLIPSIS
        cnn2snn_tfmot ...
        0
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version, usage errors
        return int(exit_.code or 0)
    with warnings.catch_warnings():  # the filters last as long as the command
        if not args.tf_logs:
            quiet_tensorflow()
        from cnn2snn_tfmot import cli  # imports TensorFlow: only now that a command runs

        if not args.tf_logs:
            cli.quiet_tensorflow_loggers()
        try:
            return cli.COMMANDS[args.command](args)
        except (ValueError, TypeError, FileNotFoundError, ImportError, OSError) as err:
            lines = [line.strip(" -") for line in str(err).splitlines() if line.strip(" -")]
            message = " ".join(lines[:1] + ["; ".join(lines[1:])] if lines[1:] else lines)
            print(f"{PROG} {args.command}: {message}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(console_main())
