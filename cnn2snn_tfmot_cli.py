"""The ``cnn2snn_tfmot`` command: one table of commands, its parser, without TensorFlow.

:data:`COMMANDS` is the one list of the commands: each names its help, its arguments and the
function that runs it (``"cnn2snn_tfmot.cli.commands:convert"``). The parser, ``--help`` and
the dispatch are made from it. Importing ``cnn2snn_tfmot`` imports TensorFlow (it registers the
compiled ops and the Keras objects), which takes seconds and prints TensorFlow's log lines: this
module answers ``--help`` and ``--version`` without it, and imports the function of a command
only when that command runs, after silencing TensorFlow's logs (``--tf-logs`` keeps them).
``python -m cnn2snn_tfmot_cli`` runs the same command line.

The table also says which arguments are paths the command reads (``role="input"``) and which
are outputs (``role="output:<kind>"``): before a command runs, every output is checked against
every input and against what is already there (:func:`cnn2snn_tfmot.atomic.check_output`;
``--overwrite`` replaces an output that is not a previous one of the same kind, never an input).

Example:
    >>> main(["--version"])  # doctest: +ELLIPSIS
    cnn2snn_tfmot ...
    0
    >>> [command.name for command in COMMANDS][:3]
    ['check', 'adapt', 'quantize']
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
import warnings
from typing import Dict, List, NamedTuple, Optional, Tuple

PROG = "cnn2snn_tfmot"
DESCRIPTION = ("Take a Keras CNN to BrainChip's Akida 1.0: check, adapt, quantize, convert, "
               "summarize, evaluate, predict, report, export. Models: Keras files (.h5, "
               "SavedModel directory, .keras; Keras 3 files are rebuilt as tf_keras) or Akida "
               "files (.akida). Errors are one line on stderr with exit status 2; check and "
               "report exit with 1 when the model is not compatible. Outputs never replace an "
               "input, nor anything the command did not write unless --overwrite.")
#: The Python warnings of these libraries are hidden with their logs (ours are kept).
QUIET_MODULES = r"(tensorflow|tf_keras|keras|tensorflow_model_optimization|h5py|absl)(\.|$)"
_SCALING_HELP = ("the input scaling (x_akida = SCALE * x_keras + SHIFT; 255 0 for Keras inputs "
                 "img / 255). Default: the one the model remembers (quantize --input-scaling); "
                 "a model that remembers none is refused")
_IMAGES_HELP = ("images: an IDX file (e.g. t10k-images-idx3-ubyte.gz), a .npy / .npz array "
                "(x or images, y or labels) or a folder of BMP / GIF / JPEG / PNG images (class "
                "sub-folders give labels, as Keras gives them); resized to the model's input "
                "if needed (counted before the run)")


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
        init = os.path.join(os.path.dirname(os.path.abspath(__file__)), PROG, "version.py")
        try:
            with open(init) as handle:
                found = re.search(r'^__version__ = "([^"]+)"', handle.read(), re.M)
        except OSError:
            found = None
        return found.group(1) if found else "unknown"


# The table --------------------------------------------------------------------------------------

class Argument(NamedTuple):  # (a NamedTuple: dataclasses would add 10 ms to --help)
    """One argument of a command.

    Arguments:
        names: the argparse names (``("model",)``, ``("-w", "--weight-bits")``).
        options: the argparse keywords (help, type, default...).
        role: "input" for a path the command reads, "output:<kind>" for a path it writes
            (kinds: model, akida, fbz, export, predictions, report), else "".

    Example:
        >>> Argument(("model",), {"help": "a model"}, "input").dest
        'model'
    """
    names: Tuple[str, ...]
    options: Dict[str, object]
    role: str = ""

    @property
    def dest(self) -> str:
        """The attribute of the parsed arguments that holds its value."""
        if "dest" in self.options:
            return str(self.options["dest"])
        long = [name for name in self.names if name.startswith("--")]
        return (long or list(self.names))[0].lstrip("-").replace("-", "_")


class Command(NamedTuple):
    """One command: its name, help, arguments and the function that runs it.

    Arguments:
        name: the command's name.
        help: one sentence (the list in ``--help``, the command's own help).
        handler: ``"module:function"``, imported only when the command runs; the function
            takes the parsed arguments and returns the exit status.
        arguments: its :class:`Argument` s, in order.

    Example:
        >>> COMMAND_BY_NAME["convert"].handler
        'cnn2snn_tfmot.cli.commands:convert'
    """
    name: str
    help: str
    handler: str
    arguments: Tuple[Argument, ...]

    @property
    def inputs(self) -> List[str]:
        """The dests of the paths it reads."""
        return [argument.dest for argument in self.arguments if argument.role == "input"]

    @property
    def outputs(self) -> List[Tuple[str, str]]:
        """(dest, kind) of the paths it writes."""
        return [(argument.dest, argument.role.split(":", 1)[1]) for argument in self.arguments
                if argument.role.startswith("output:")]


def _arg(*names: str, role: str = "", **options) -> Argument:
    return Argument(tuple(names), options, role)


def _model(what: str = "a Keras model file") -> Argument:
    return _arg("model", help=what, role="input")


_SCALING = _arg("--input-scaling", nargs=2, type=float, default=None,
                metavar=("SCALE", "SHIFT"), help=_SCALING_HELP)
_SPARSE = _arg("--sparse", action="store_true",
               help="the Akida model starts with InputData (events) instead of an "
                    "InputConvolutional layer (uint8 images)")
_OVERWRITE = _arg("--overwrite", action="store_true",
                  help="replace an existing output that is not a previous output of the same "
                       "kind (a folder of other files, a file of another kind); never an input")
#: ``cnn2snn_tfmot.engine.BACKENDS`` and ``GRAPH_BACKENDS`` (written here so that ``--help``
#: needs no TensorFlow; a test holds them equal).
BACKENDS = ("direct", "custom", "tf")
GRAPH_BACKENDS = ("custom", "tf")
#: The devices and mapping modes, as cnn2snn_tfmot.chip.hardware.DEVICES and
#: cnn2snn_tfmot.akida.mapping.MAP_MODES (written here too: importing them imports TensorFlow;
#: a test keeps them equal).
DEVICES = ("AKD1000",)
MAP_MODES = ("all_nps", "hw_pr", "minimal")


def _device(what: str) -> Argument:
    return _arg("--device", default=None, type=str.upper, choices=DEVICES,
                help=f"{what} (this project's mapper; BrainChip's runtime is not needed)")


def _backend(choices: Tuple[str, ...], what: str) -> Argument:
    """``--backend`` (``--engine``, its former name, still accepted)."""
    return _arg("--backend", "--engine", dest="backend", choices=choices, default=None,
                help=f"{what}: " + ", ".join(choices) + "; default: the fastest that runs the "
                     "model (--engine: its former name)")


_RUN_BACKEND = _backend(BACKENDS, "what runs the Akida model (direct: the compiled whole-model "
                        "engine; custom: a TensorFlow graph of the compiled ops; tf: stock "
                        "TensorFlow ops)")
_GRAPH_BACKEND = _backend(GRAPH_BACKENDS, "the TensorFlow graph's ops (custom: the compiled "
                          "ops; tf: stock TensorFlow ops, runs in any TensorFlow)")


def _data(images: Argument, backend: Argument = _RUN_BACKEND) -> Tuple[Argument, ...]:
    """What every command that runs a model on images takes."""
    return (images,
            _arg("--labels", default=None, role="input",
                 help="labels file (IDX, .npy or .npz; integer class indices, one-hot ones are "
                      "converted); default: the labels of the .npz or of the class sub-folders"),
            _arg("--batch-size", type=int, default=256, help="images per batch"),
            backend, _SCALING)


_HANDLERS = "cnn2snn_tfmot.cli.commands"

#: The commands, in the order ``--help`` lists them.
COMMANDS: Tuple[Command, ...] = (
    Command("check", "check that a quantized Keras model converts to Akida (with an input "
            "scaling, given or remembered, its registers too)", f"{_HANDLERS}:check",
            (_model(), _SCALING, _SPARSE,
             _device("also require the model to run in hardware on this chip, in one sequence: "
                     "every problem is listed"))),
    Command("adapt", "rewrite a float Keras model for Akida (sanitize + architecture changes) "
            "and list every change; fine-tune it after", f"{_HANDLERS}:adapt",
            (_model("a float Keras model file (Keras 3 files too)"),
             _arg("output", role="output:model",
                  help="output: a .h5 / .keras file or a SavedModel folder"),
             _arg("--exact-only", action="store_true",
                  help="only the rewrites that keep the model's outputs (sanitize)"),
             _OVERWRITE)),
    Command("quantize", "quantize a float Keras model", f"{_HANDLERS}:quantize",
            (_model("a float Keras model file"),
             _arg("output", role="output:model",
                  help="output: a .h5 / .keras file or a SavedModel folder"),
             _arg("-w", "--weight-bits", type=int, required=True,
                  help="weight bitwidth (2..8; Akida inner layers: 2 or 4)"),
             _arg("-a", "--activ-bits", type=int, required=True,
                  help="activation bitwidth (Akida: 1, 2 or 4)"),
             _arg("-i", "--input-weight-bits", type=int, default=None,
                  help="weight bitwidth of the first layer (default: --weight-bits)"),
             _arg("--input-scaling", nargs=2, type=float, default=None,
                  metavar=("SCALE", "SHIFT"),
                  help="the input scaling the model is meant for, remembered by the quantized "
                       "model so that convert needs no --input-scaling (255 0 for Keras "
                       "inputs img / 255)"),
             _OVERWRITE)),
    Command("convert", "convert a quantized Keras model to an Akida model file",
            f"{_HANDLERS}:convert",
            (_model("a quantized Keras model file"),
             _arg("output", role="output:akida", help="the Akida model file (.akida)"),
             _SCALING, _SPARSE,
             _arg("--fbz", default=None, role="output:fbz",
                  help="also write BrainChip's .fbz (needs pip install akida)"),
             _OVERWRITE)),
    Command("export", "convert and write the three artefacts (Keras SavedModel, .akida, "
            "emulator SavedModel)", f"{_HANDLERS}:export",
            (_model("a quantized Keras model file"),
             _arg("directory", role="output:export",
                  help="the output folder (it may hold other files: only the three artefacts "
                       "are written)"),
             _SCALING, _SPARSE,
             _GRAPH_BACKEND,
             _OVERWRITE)),
    Command("summary", "print an Akida model's layers, or a Keras model's blocks and the Akida "
            "layers they become", f"{_HANDLERS}:summary",
            (_model("an .akida file or a Keras model file"), _SPARSE,
             _device("also map the model onto this chip: its sequences and the NPs of each "
                     "layer"),
             _arg("--mode", default=None, choices=MAP_MODES,
                  help="the mapping mode with --device (BrainChip's MapMode: AllNps, HwPr, "
                       "Minimal); default: all_nps"))),
    Command("evaluate", "accuracy of an Akida model (or of a quantized Keras model, converted, "
            "beside its own) on labelled images", f"{_HANDLERS}:evaluate",
            (_model("an .akida file or a quantized Keras model file"),
             *_data(_arg("images", help=_IMAGES_HELP, role="input")))),
    Command("predict", "the class an Akida model (or a quantized Keras model, converted) "
            "predicts for each image", f"{_HANDLERS}:predict",
            (_model("an .akida file or a quantized Keras model file"),
             *_data(_arg("images", help=_IMAGES_HELP, role="input")),
             _arg("--output", default=None, role="output:predictions",
                  help="write every image's outputs: .npy (float32 array) or .csv (image, "
                       "class, score)"),
             _arg("--show", type=int, default=10, help="lines printed (0: none)"),
             _OVERWRITE)),
    Command("report", "write an HTML page on a model run on images: summaries, compatibility, "
            "per-layer statistics, figures, accuracy and Keras-vs-Akida agreement when labels "
            "are known (needs matplotlib)", f"{_HANDLERS}:report",
            (_model("an .akida file or a quantized Keras model file"),
             *_data(_arg("--data", dest="images", required=True, metavar="FILE",
                         help=_IMAGES_HELP, role="input"), _GRAPH_BACKEND),
             _arg("--out", required=True, role="output:report",
                  help="the folder to write index.html into (replaced whole when it is a "
                       "previous report)"),
             _SPARSE,
             _arg("--log", default=None, role="input",
                  help="a training log with register margins (CSVLogger file or TensorBoard "
                       "directory): adds the margins figure"),
             _arg("--title", default=None, help="the page title (default: the model's name)"),
             _OVERWRITE)),
)
#: The commands by name.
COMMAND_BY_NAME: Dict[str, Command] = {command.name: command for command in COMMANDS}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every default but None (whose meaning the help text says)."""

    def _get_help_string(self, action):
        if action.default is None or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command, made from :data:`COMMANDS` (TensorFlow is not imported).

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
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help,
                                    formatter_class=_HelpFormatter)
        for argument in command.arguments:
            sub.add_argument(*argument.names, **argument.options)
    return parser


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ log lines and its Python logs and warnings.

    Called before TensorFlow is imported (the C++ level is read at import); a
    TF_CPP_MIN_LOG_LEVEL set by the user is kept.

    Example:
        >>> quiet_tensorflow()
    """
    import logging  # here: only commands that run need it (start-up time of --help)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    warnings.filterwarnings("ignore", module=QUIET_MODULES)
    # TensorFlow's Python logger, by name: it keeps its level when TensorFlow is imported.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
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


def _handler(command: Command):
    module, function = command.handler.split(":")
    # Start-up time: the commands import TensorFlow, only once a command runs.
    return getattr(importlib.import_module(module), function)


def _one_line(message: str) -> str:
    """A multi-line message (a list of problems) as one line; option names keep their dashes."""
    lines = [re.sub(r"^- ", "", line.strip()) for line in message.splitlines() if line.strip()]
    return " ".join(lines[:1] + ["; ".join(lines[1:])] if lines[1:] else lines)


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
    command = COMMAND_BY_NAME[args.command]
    args.inputs = [getattr(args, dest) for dest in command.inputs
                   if getattr(args, dest) is not None]
    args.outputs = [(getattr(args, dest), kind) for dest, kind in command.outputs
                    if getattr(args, dest) is not None]
    with warnings.catch_warnings():  # the filters last as long as the command
        if not args.tf_logs:
            quiet_tensorflow()
        try:
            return _handler(command)(args)
        except (ValueError, TypeError, FileNotFoundError, ImportError, OSError) as err:
            print(f"{PROG} {args.command}: {_one_line(str(err))}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(console_main())
