"""One HTML page about a model on data: what the chip will do with it, and how faithfully.

:func:`report` writes into a directory ``index.html`` with the model summaries, the
compatibility result (every rule and register problem, and what only the chip refuses), the
mapping onto the AKD1000's neural processors (sequences, NPs per layer, program bytes), the
per-layer statistics of :meth:`cnn2snn_tfmot.akida.Model.statistics`, the Keras and Akida
accuracies and their agreement when labels are given, and the figures of
:mod:`cnn2snn_tfmot.inspection.plots` as PNG files beside it, plus ``statistics.json`` with the
figures. The page is self-contained: inline style, no script, no remote font, style sheet or image,
so it opens offline and can be archived or attached to a CI run. The folder is written whole,
atomically (a temporary folder renamed into place), with a marker file listing what it holds
(``.cnn2snn_tfmot-report.json``): an existing report folder is replaced, any other existing path
is refused unless ``overwrite=True``.

The command line is ``cnn2snn_tfmot report MODEL --data FILE --out DIR`` (data: an IDX file,
a ``.npy`` / ``.npz`` array or a folder of images, as for ``evaluate``).

Example:
    >>> from cnn2snn_tfmot.inspection.html_report import os, report
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> result = report(model_quantized, images, "report", y=labels, input_scaling=(255, 0),
    ...                 backend="tf")
    >>> result.path, result.compatible
    ('report/index.html', True)
    >>> sorted(os.listdir("report"))                       # doctest: +NORMALIZE_WHITESPACE
    ['.cnn2snn_tfmot-report.json', 'activations.png', 'activity.png', 'agreement.png',
     'index.html', 'levels.png', 'statistics.json', 'weights.png']
"""
from __future__ import annotations

import dataclasses
import datetime
import html
import io
import json
import math
import os
import warnings
from typing import Callable, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.akida.inputs import batches, is_array
from cnn2snn_tfmot.akida.mapping import map_model
from cnn2snn_tfmot.atomic import OutputKind, atomic_directory, check_output
from cnn2snn_tfmot.chip.rules import IncompatibleModelError
from cnn2snn_tfmot.conversion.compatibility import AkidaChipWarning, checked_blocks
from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.engine import GRAPH_BACKENDS, resolve_backend
from cnn2snn_tfmot.inspection import plots
from cnn2snn_tfmot.inspection.comparison import compare
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.input_scaling import scaling_for_conversion
from cnn2snn_tfmot.quantization.saving import load_quantized_model
from cnn2snn_tfmot.version import __version__

__all__ = ["report", "Report", "REPORT_FOLDER"]

#: A report folder: recognised by its marker (and nothing else in it), replaced as a whole.
REPORT_FOLDER = OutputKind("a report folder written by cnn2snn_tfmot", directory=True,
                           marker="report")

_STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 72em; color: #222;
       line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #eee; } td:first-child, th:first-child { text-align: left; }
.ok { color: #1a7f37; font-weight: bold; } .bad { color: #b42318; font-weight: bold; }
figure { margin: 1em 0; } figcaption { font-size: 0.9em; color: #555; }
img { max-width: 100%; border: 1px solid #eee; }
"""


@dataclasses.dataclass
class Report:
    """What :func:`report` wrote and found.

    Arguments:
        path: the path of ``index.html``.
        compatible: whether the Keras model converts (True for an Akida model).
        problems: the compatibility problems (empty when compatible).
        chip_warnings: what only the chip refuses (:class:`cnn2snn_tfmot.AkidaChipWarning`).
        statistics: the Akida model's :class:`cnn2snn_tfmot.akida.Statistics`, or None.
        comparison: the Keras-vs-Akida :class:`cnn2snn_tfmot.inspection.comparison.Comparison`, or
        None. akida_accuracy: the Akida model's accuracy, or None without labels.
        figures: the PNG file names written.
        mapping: the Akida model's :class:`cnn2snn_tfmot.akida.Mapping` onto the AKD1000 (this
            project's mapper, mode "all_nps"), or None.

    Example:
        >>> from cnn2snn_tfmot.inspection.html_report import report
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> result = report(akida_model, images, "report", backend="tf")
        >>> result.compatible, result.comparison, result.figures
        (True, None, ['weights.png', 'levels.png', 'activity.png'])
    """
    path: str
    compatible: bool
    problems: List[str]
    chip_warnings: List[str]
    statistics: object = None
    comparison: object = None
    akida_accuracy: Optional[float] = None
    figures: List[str] = dataclasses.field(default_factory=list)
    mapping: object = None


# -- files ----------------------------------------------------------------------------------
def _write(path: str, data: bytes) -> None:
    """A file of the report, inside its temporary folder (renamed into place whole)."""
    with open(path, "wb") as handle:
        handle.write(data)


def _save_figure(fig, path: str) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    _write(path, buffer.getvalue())


def _json_ready(value):
    """inf / nan are not JSON: written as the strings "inf", "-inf", "nan"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    return value


# -- the page -------------------------------------------------------------------------------
def _table(headers, rows) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pre(lines: List[str]) -> str:
    return "<pre>" + html.escape("\n".join(lines)) + "</pre>"


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _load_model(model):

    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if path.endswith(".akida"):
            return Model(path)

        return load_quantized_model(path, compile=False)
    if isinstance(model, Model):
        return model

    return check_keras_model(model)


def _check_replayable(x) -> None:

    if not is_array(x) and iter(x) is x:
        raise TypeError("report reads the data more than once: give an array, a tf.data "
                        "Dataset or a list of batches, not an iterator or a generator.")


def _akida_accuracy(akida_model, x, y, batch_size, backend) -> Optional[float]:

    correct = total = 0
    for images, labels in batches(x, batch_size, akida_model.input_shape,
                                  akida_model.input_bits, y):
        if labels is None:
            return None
        outputs = akida_model.predict(images, backend=backend)
        correct += int(np.sum(outputs.reshape(len(images), -1).argmax(axis=1) == labels))
        total += len(images)
    return correct / total if total else None


def _compatibility(model, input_scaling, input_is_sparse):
    """(akida model or None, problems, chip warnings) of a Keras model."""

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AkidaChipWarning)
        try:
            checked_blocks(model, input_is_sparse, input_scaling)
        except (IncompatibleModelError, ValueError) as err:
            problems = [line.strip()[2:] for line in str(err).splitlines()
                        if line.strip().startswith("- ")] or [str(err)]
            return None, problems, _chip(caught, AkidaChipWarning)
        akida_model = convert(model, input_scaling=input_scaling,
                              input_is_sparse=input_is_sparse)
    return akida_model, [], _chip(caught, AkidaChipWarning)


def _mapping_section(mapping) -> str:
    hardware = not mapping.software_layers and len(mapping.sequences) == 1
    verdict = ('<p class="ok">Runs in hardware on the AKD1000, in one sequence.</p>' if hardware
               else '<p class="bad">Does not run in hardware on the AKD1000 in one sequence: '
                    'see the software layers and the sequences below.</p>')
    return ("<h2>AKD1000 mapping</h2>" + verdict + _pre(mapping.summary_lines()) +
            _table(("sequence", "layer", "NPs"), mapping.layer_rows()) +
            f"<p>Mode {mapping.mode} (BrainChip's MapMode.AllNps), {mapping.total_nps} NPs "
            "(the HRC apart); this project's mapper, measured equal to BrainChip's.</p>")


def _chip(caught, category) -> List[str]:
    return list(dict.fromkeys(str(w.message) for w in caught
                              if issubclass(w.category, category)))


def report(model, x, out_dir, y: Optional[np.ndarray] = None, input_scaling=None,
           input_is_sparse: bool = False, log=None, title: Optional[str] = None,
           batch_size: int = 256, backend: Optional[str] = None, *,
           engine: Optional[str] = None, overwrite: bool = False) -> Report:
    """Writes an HTML report on ``model`` run on ``x`` into ``out_dir`` (see the module
    docstring for its content).

    A Keras model is checked and, when compatible, converted with ``input_scaling``; an
    incompatible model gets a report listing every problem (and the figures that need no
    conversion). An Akida model is reported as it is.

    Arguments:
        model: a quantized tf_keras model, an Akida model, or the path of either (``.akida``:
            an Akida model file; otherwise ``.h5`` or a SavedModel directory).
        x: uint8 images as for ``Model.forward`` (read several times: an array, a
            ``tf.data.Dataset`` or a list of batches, not an iterator).
        out_dir: the folder to write, whole: created, or replaced when it is a previous report
            folder (anything else only with ``overwrite``; never the model or log read).
        y: integer labels for an array ``x`` (accuracy and per-class agreement), or None.
        input_scaling: ``(scale, shift)`` as for ``convert``: Akida input =
            ``scale * Keras input + shift`` (for a Keras model; an Akida model has its own).
            None: the one the model remembers, else ``(1.0, 0)`` with an
            :class:`cnn2snn_tfmot.InputScalingWarning`, as ``convert`` does.
        input_is_sparse: as for ``convert``.
        log: optional training log with register margins (a CSVLogger file, a TensorBoard
            log directory, a Keras History): adds the margins figure.
        title: the page title (default: the model's name).
        batch_size: samples per step.
        backend: the emulator's back-end: None, "custom" or "tf" (the statistics run in
            the graph).
        engine: the former name of ``backend``, still accepted.
        overwrite: replace whatever is at ``out_dir``.

    Returns:
        A :class:`Report` (``path`` is that of ``index.html``).

    Raises:
        TypeError / ValueError: bad model, data or arguments (named in the message).
        cnn2snn_tfmot.atomic.OutputExistsError: ``out_dir`` holds something else, or is an
            input.
        ImportError: matplotlib is missing (``pip install 'cnn2snn_tfmot[plot]'``).

    Example:
        >>> from cnn2snn_tfmot.inspection.html_report import report
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> result = report(model_quantized, images, "out", input_scaling=(255, 0),
        ...                 backend="tf")
        >>> print(result.statistics["conv_0"].outputs_per_image)
        512
    """

    inputs = [path for path in (model, log) if isinstance(path, (str, os.PathLike))]
    if not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"`out_dir` must be a folder path (str or os.PathLike), got "
                        f"{type(out_dir).__name__}.")
    check_output(out_dir, REPORT_FOLDER, overwrite, inputs)  # before any work
    model = _load_model(model)
    if not isinstance(model, Model):  # an argument error, not a problem of the model
        input_scaling = scaling_for_conversion(model, input_scaling, input_is_sparse)
    backend = resolve_backend(backend, engine, GRAPH_BACKENDS)
    _check_replayable(x)
    plots.require_matplotlib()  # before any work: the fix, not a late failure
    out_dir = os.fspath(out_dir)
    is_keras = not isinstance(model, Model)
    name = model.name if is_keras else "Akida model"
    sections: List[str] = []
    figures: List[Tuple[str, str, Callable]] = []
    if is_keras:
        akida_model, problems, chip = _compatibility(model, input_scaling, input_is_sparse)
        lines: List[str] = []
        model.summary(print_fn=lines.append, line_length=100)
        sections.append("<h2>Keras model</h2>" + _pre(lines))
    else:
        akida_model, problems, chip = model, [], []
    compatible = akida_model is not None
    verdict = ('<p class="ok">Compatible with Akida 1.0.</p>' if compatible else
               '<p class="bad">Not compatible with Akida 1.0:</p>')
    if not is_keras:
        verdict = "<p>An Akida model: already converted.</p>"
    items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
    chip_items = "".join(f"<li>{html.escape(w)}</li>" for w in chip)
    sections.append("<h2>Compatibility</h2>" + verdict + (f"<ul>{items}</ul>" if items else "")
                    + (f"<p>Only the chip refuses (the software runtime accepts):</p>"
                       f"<ul>{chip_items}</ul>" if chip_items else ""))
    stats = comparison = accuracy = mapping = None
    if compatible:
        lines = []
        akida_model.summary(print_fn=lines.append)
        sections.append("<h2>Akida model</h2>" + _pre(lines))
        stats = akida_model.statistics(x, batch_size=batch_size, backend=backend)
        if is_keras:
            comparison = compare(model, akida_model, x, y, input_scaling, batch_size, backend)
            accuracy = comparison.akida_accuracy
        else:
            accuracy = _akida_accuracy(akida_model, x, y, batch_size, backend)
        rows = [("images", str(stats.samples))]
        if comparison is not None:
            rows += [("Keras accuracy", _percent(comparison.keras_accuracy)),
                     ("Akida accuracy (emulated)", _percent(comparison.akida_accuracy)),
                     ("Keras-vs-Akida argmax agreement", _percent(comparison.agreement))]
        else:
            rows.append(("Akida accuracy (emulated)", _percent(accuracy)))
        sections.append("<h2>Accuracy</h2>" + _table(("", "value"), rows) +
                        ("" if accuracy is not None else "<p>No labels were given: accuracy "
                         "is not computed.</p>"))
        headers, cells = stats.rows()
        sections.append(
            "<h2>Per-layer statistics</h2>" + _table(headers, cells) +
            f"<p>Over {stats.samples} images; input: {stats.input_events_per_image:.1f} "
            f"events per image, layer outputs: {stats.total_events_per_image:.1f}. Events are "
            f"non-zero values: the chip's work grows with them. Headroom: bits left in the "
            f"register holding the potentials (20-bit, saturating; '*': exact 32-bit "
            f"accumulator). Margin: bits left in the threshold and act_step registers.</p>")
        # This project's mapper, not kept on the model (the report does not change it).
        mapping = map_model(akida_model, "AKD1000")
        sections.append(_mapping_section(mapping))
        figures += [
            ("weights.png", "Integer weights per layer", lambda: plots.weight_histograms(
                akida_model)),
            ("levels.png", "Output levels per layer", lambda: plots.activation_histograms(
                stats)),
            ("activity.png", "Events and non-zero outputs per layer",
             lambda: plots.layer_activity(stats))]
    if is_keras and plots.activation_items(model):
        figures.append(("activations.png", "Quantized activations: float input to levels",
                        lambda: plots.transfer_curves(model)))
    if comparison is not None:
        figures.append(("agreement.png", "Keras vs Akida per class",
                        lambda: plots.comparison_figure(comparison)))
    if log is not None:
        figures.append(("margins.png", "Register margins during training",
                        lambda: plots.margins(log)))
    with atomic_directory(out_dir, REPORT_FOLDER, overwrite, inputs) as folder:
        _write_files(folder, figures, sections, name, compatible, problems, chip, stats,
                     comparison, accuracy, mapping, title)
    return Report(path=os.path.join(out_dir, "index.html"), compatible=compatible,
                  problems=problems, chip_warnings=chip, statistics=stats, comparison=comparison,
                  akida_accuracy=accuracy, figures=[filename for filename, _, _ in figures],
                  mapping=mapping)


def _write_files(folder, figures, sections, name, compatible, problems, chip, stats, comparison,
                 accuracy, mapping, title) -> None:
    """Writes the figures, ``statistics.json`` and ``index.html`` into ``folder``."""
    written = []
    for filename, caption, build in figures:
        _save_figure(build(), os.path.join(folder, filename))
        written.append((filename, caption))
    if written:
        sections.append("<h2>Figures</h2>" + "".join(
            f'<figure><img src="{html.escape(f)}" alt="{html.escape(c)}">'
            f"<figcaption>{html.escape(c)}</figcaption></figure>" for f, c in written))
    summary = {"model": name, "compatible": compatible, "problems": problems,
               "chip_warnings": chip,
               "statistics": None if stats is None else
               {"samples": stats.samples, "input_events_per_image": stats.input_events_per_image,
                "layers": stats.to_dict()},
               "comparison": None if comparison is None else comparison.to_dict(),
               "akida_accuracy": accuracy,
               "akd1000_mapping": None if mapping is None else mapping.to_dict()}
    _write(os.path.join(folder, "statistics.json"),
           json.dumps(_json_ready(summary), indent=1).encode("utf-8"))
    title = title or f"Akida report: {name}"
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p>cnn2snn_tfmot {html.escape(__version__)}, "
            f"{stamp}. Figures as numbers: <code>statistics.json</code>.</p>"
            + "".join(f"<section>{s}</section>" for s in sections) + "</body></html>\n")
    _write(os.path.join(folder, "index.html"), page.encode("utf-8"))
