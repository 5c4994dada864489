"""Command line: ``cnn2snn_tfmot <command> ...`` (also ``python -m cnn2snn_tfmot.cli``).

Commands:
  check     MODEL [--sparse]                      Akida compatibility of a quantized model
  quantize  MODEL OUTPUT -w BITS -a BITS [-i BITS] quantize a float .h5 / SavedModel
  convert   MODEL OUTPUT [--input-scaling S Z] [--sparse] [--fbz FILE]
                                                  convert to our Akida model file
  summary   AKIDA_MODEL                           print an Akida model's layers
  export    MODEL DIRECTORY [--input-scaling S Z] [--sparse] [--engine custom|tf]
                                                  convert and write the three artefacts

Models are read with load_quantized_model (.h5 or SavedModel). Errors are one line on stderr
and exit status 2; ``check`` exits with 1 when the model is not compatible.

Example:
    $ cnn2snn_tfmot convert mnist_q.h5 mnist.akida --input-scaling 255 0
"""
from __future__ import annotations

import argparse
import sys
import warnings
from typing import Callable, Dict, List, Optional


def _load(path: str):
    from cnn2snn_tfmot.saving import load_quantized_model

    return load_quantized_model(path, compile=False)


def _check(args) -> int:
    from cnn2snn_tfmot.compatibility import check_model_compatibility
    from cnn2snn_tfmot.rules import IncompatibleModelError

    model = _load(args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_model_compatibility(model, input_is_sparse=args.sparse)
        except IncompatibleModelError as err:
            print(err)
            return 1
    for warning in caught:
        print(f"warning: {warning.message}")
    print(f"{args.model}: compatible with Akida")
    return 0


def _quantize(args) -> int:
    from cnn2snn_tfmot.quantization import quantize

    model = quantize(_load(args.model), args.weight_bits, args.activ_bits, args.input_weight_bits)
    model.save(args.output)
    print(f"quantized model written to {args.output}")
    return 0


def _convert(args) -> int:
    from cnn2snn_tfmot.converter import convert

    akida_model = convert(_load(args.model), file_path=args.output,
                          input_scaling=tuple(args.input_scaling), input_is_sparse=args.sparse)
    akida_model.summary()
    print(f"Akida model written to {args.output}")
    if args.fbz:
        akida_model.to_akida().save(args.fbz)
        print(f"BrainChip runtime model written to {args.fbz}")
    return 0


def _summary(args) -> int:
    from cnn2snn_tfmot.akida import Model

    Model(args.model).summary()
    return 0


def _export(args) -> int:
    from cnn2snn_tfmot.converter import convert
    from cnn2snn_tfmot.engine.export import export

    model = _load(args.model)
    akida_model = convert(model, input_scaling=tuple(args.input_scaling),
                          input_is_sparse=args.sparse)
    for name, path in export(model, akida_model, args.directory, engine=args.engine).items():
        print(f"{name:9s} {path}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cnn2snn_tfmot", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    check = commands.add_parser("check", help="check Akida compatibility")
    check.add_argument("model")
    check.add_argument("--sparse", action="store_true", help="InputData first (events)")

    quantize = commands.add_parser("quantize", help="quantize a float model")
    quantize.add_argument("model")
    quantize.add_argument("output", help=".h5 file or SavedModel directory")
    quantize.add_argument("-w", "--weight-bits", type=int, required=True)
    quantize.add_argument("-a", "--activ-bits", type=int, required=True)
    quantize.add_argument("-i", "--input-weight-bits", type=int, default=None)

    for name, helptext in (("convert", "convert to an Akida model file"),
                           ("export", "convert and export the three artefacts")):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("model")
        command.add_argument("output" if name == "convert" else "directory")
        command.add_argument("--input-scaling", nargs=2, type=float, default=[1.0, 0.0],
                             metavar=("SCALE", "SHIFT"))
        command.add_argument("--sparse", action="store_true", help="InputData first (events)")
        if name == "convert":
            command.add_argument("--fbz", help="also write BrainChip's .fbz (needs akida)")
        else:
            command.add_argument("--engine", choices=("custom", "tf"), default=None)

    summary = commands.add_parser("summary", help="print an Akida model file's layers")
    summary.add_argument("model")
    return parser


_COMMANDS: Dict[str, Callable] = {"check": _check, "quantize": _quantize, "convert": _convert,
                                  "summary": _summary, "export": _export}


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line.

    Arguments:
        argv: the arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 for an incompatible model (``check``), 2 for an error.

    Example:
        >>> akida_model.save("model.akida")
        >>> main(["summary", "model.akida"])
        Model: 3 layers, input (16, 16, 1), output (1, 1, 10)
        ...
        0
    """
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, OSError) as err:
        print(f"cnn2snn_tfmot {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
