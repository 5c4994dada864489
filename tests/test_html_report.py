"""The HTML report: parsed back, it references only files that exist beside it, nothing remote,
and shows the figures the package computes; the ``report`` command."""
import json
import os
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from cnn2snn_tfmot.inspection.comparison import compare
from cnn2snn_tfmot.inspection.html_report import report
from cnn2snn_tfmot.quantization.input_scaling import InputScalingWarning, remember_input_scaling
from cnn2snn_tfmot_cli import main

from helpers import converted_cnn, float_cnn, write_idx

PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """Every tag with its attributes, the text of table cells, and the style text."""

    def __init__(self, text):
        super().__init__()
        self.tags, self.cells, self.style, self.text = [], [], "", []
        self._in = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        if "style" in self._in:
            self.style += data
        if self._in and self._in[-1] in ("td", "th"):
            self.cells.append(data)
        self.text.append(data)


def assert_self_contained(out_dir, page):
    """No script, no external style sheet, font or image; every image is a PNG beside it."""
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in page.tags:
        for key, value in attrs.items():
            assert not key.startswith("on"), (tag, key)
            if key in ("src", "href", "srcset", "data"):
                assert "//" not in value and ":" not in value, (tag, key, value)
    assert "url(" not in page.style and "@import" not in page.style
    images = [attrs["src"] for tag, attrs in page.tags if tag == "img"]
    assert images
    for src in images:
        path = os.path.join(out_dir, src)
        assert os.path.isfile(path), src
        with open(path, "rb") as handle:
            assert handle.read(8) == PNG, src
    return images


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    model_q, akida_model, images, labels = converted_cnn()
    out_dir = str(tmp_path_factory.mktemp("report"))
    result = report(model_q, images, out_dir, y=labels, input_scaling=(255, 0), engine="tf")
    return model_q, akida_model, images, labels, out_dir, result


def test_the_page_is_self_contained_and_its_images_exist(written):
    *_, out_dir, result = written
    assert result.path == os.path.join(out_dir, "index.html")
    with open(result.path, encoding="utf-8") as handle:
        page = Page(handle.read())
    images = assert_self_contained(out_dir, page)
    assert images == result.figures == ["weights.png", "levels.png", "activity.png",
                                        "activations.png", "agreement.png"]
    hidden = [name for name in os.listdir(out_dir) if name.startswith(".")]
    assert hidden == [".cnn2snn_tfmot-report.json"]  # the marker; no temporary file


def test_the_page_shows_the_statistics_compatibility_and_accuracy(written):
    model_q, akida_model, images, labels, out_dir, result = written
    with open(result.path, encoding="utf-8") as handle:
        page = Page(handle.read())
    text = " ".join(page.text)
    assert "Compatible with Akida 1.0." in text
    stats = akida_model.statistics(images, engine="tf")
    headers, rows = stats.rows()
    for row in [headers] + rows:  # the statistics table, cell by cell
        start = page.cells.index(row[0])
        assert page.cells[start:start + len(row)] == list(row)
    comparison = compare(model_q, akida_model, images, labels, input_scaling=(255, 0),
                         engine="tf")
    for label, value in (("Keras accuracy", comparison.keras_accuracy),
                         ("Akida accuracy (emulated)", comparison.akida_accuracy),
                         ("Keras-vs-Akida argmax agreement", comparison.agreement)):
        assert page.cells[page.cells.index(label) + 1] == f"{100 * value:.2f}%"
    assert "c0 (QuantizedConv2D)" in text and "InputConvolutional" in text  # both summaries
    with open(os.path.join(out_dir, "statistics.json")) as handle:
        saved = json.load(handle)
    assert saved["compatible"] is True and saved["statistics"]["samples"] == len(images)
    for name, figures in stats.to_dict().items():
        for key, value in figures.items():
            expected = str(value) if isinstance(value, float) and np.isinf(value) else value
            assert saved["statistics"]["layers"][name][key] == expected, (name, key)
    assert saved["comparison"]["agreement"] == comparison.agreement


def test_an_incompatible_model_gets_a_report_listing_its_problems(tmp_path):
    model = float_cnn()  # not quantized
    images = np.zeros((4, 16, 16, 1), np.uint8)
    with pytest.warns(InputScalingWarning, match="input_scaling=\\(255, 0\\)"):
        result = report(model, images, tmp_path, engine="tf")  # no scaling: convert's default
    assert not result.compatible and result.problems
    assert result.statistics is None and result.figures == []
    with open(result.path, encoding="utf-8") as handle:
        text = handle.read()
    assert "Not compatible with Akida 1.0" in text
    for problem in result.problems:
        assert problem.replace("'", "&#x27;").replace('"', "&quot;") in text


def test_register_problems_are_reported_too(written, tmp_path):
    model_q, _, images, _, _, _ = written
    result = report(model_q, images, tmp_path, input_scaling=(1e6, 0), engine="tf")
    assert not result.compatible
    assert any("act_step" in problem for problem in result.problems)


def test_the_command_reports_an_akida_model_file_with_labels(written, tmp_path, capsys):
    _, akida_model, images, labels, _, _ = written
    akida_model.save(tmp_path / "model.akida")
    np.savez(tmp_path / "data.npz", images=images, labels=labels)
    assert main(["report", str(tmp_path / "model.akida"), "--data", str(tmp_path / "data.npz"),
                 "--out", str(tmp_path / "out"), "--backend", "tf",
                 "--title", "<MNIST> & co"]) == 0
    assert f"report written to {tmp_path / 'out' / 'index.html'}" in capsys.readouterr().out
    with open(tmp_path / "out" / "index.html", encoding="utf-8") as handle:
        source = handle.read()
    page = Page(source)
    assert "<title>&lt;MNIST&gt; &amp; co</title>" in source  # escaped
    assert_self_contained(str(tmp_path / "out"), page)
    accuracy = akida_model.evaluate(images, labels, engine="tf")
    assert page.cells[page.cells.index("Akida accuracy (emulated)") + 1] == \
        f"{100 * accuracy:.2f}%"


def test_the_command_uses_the_remembered_scaling_and_reads_idx_and_label_files(tmp_path,
                                                                               capsys):
    model_q, akida_model, images, labels = converted_cnn()
    remember_input_scaling(model_q, (255, 0))
    model_q.save(tmp_path / "q.h5")
    write_idx(tmp_path / "images-idx3-ubyte", images[..., 0])
    np.save(tmp_path / "labels.npy", labels)
    assert main(["report", str(tmp_path / "q.h5"), "--data", str(tmp_path / "images-idx3-ubyte"),
                 "--labels", str(tmp_path / "labels.npy"), "--out", str(tmp_path / "out"),
                 "--backend", "tf"]) == 0
    out = capsys.readouterr().out
    assert "input scaling (255.0, 0) (remembered by the model)" in out
    with open(tmp_path / "out" / "statistics.json") as handle:
        saved = json.load(handle)
    assert saved["akida_accuracy"] == akida_model.evaluate(images, labels, engine="tf")


def test_the_command_exits_with_1_for_an_incompatible_model(tmp_path, capsys):
    model = float_cnn()
    model.save(tmp_path / "float.h5")
    np.save(tmp_path / "x.npy", np.zeros((3, 16, 16, 1), np.uint8))
    command = ["report", str(tmp_path / "float.h5"), "--data", str(tmp_path / "x.npy"),
               "--out", str(tmp_path / "out"), "--backend", "tf"]
    assert main(command) == 2  # the command line never guesses a scaling
    assert "does not remember the input scaling" in capsys.readouterr().err
    assert main(command + ["--input-scaling", "255", "0"]) == 1
    out = capsys.readouterr().out
    assert "not compatible" in out and "report written to" in out


def test_errors_are_clear(written, tmp_path, capsys, monkeypatch):
    model_q, _, images, labels, _, _ = written
    with pytest.raises(TypeError, match="not an iterator"):
        report(model_q, (images[i:i + 8] for i in range(0, 48, 8)), tmp_path / "gen",
               input_scaling=(255, 0))
    with pytest.raises(ValueError, match="scale must be a positive number"):
        report(model_q, images, tmp_path / "scale", input_scaling=(0, 0))
    with pytest.raises(TypeError, match="must be a tf_keras Model"):
        report(object(), images, tmp_path / "obj")
    assert main(["report", str(tmp_path / "missing.h5"), "--data",
                 str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.startswith("cnn2snn_tfmot report: ")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"cnn2snn_tfmot\[plot\]"):
        report(model_q, images, tmp_path / "nomatplotlib", input_scaling=(255, 0))
    assert not os.path.exists(tmp_path / "nomatplotlib")


def test_reports_are_replaced_atomically_and_a_log_adds_the_margins(written, tmp_path):
    _, akida_model, images, _, _, _ = written
    first = report(akida_model, images[:8], tmp_path, engine="tf")
    with open(first.path, encoding="utf-8") as handle:
        assert "Over 8 images" in handle.read()
    log = {"akida_margin/c0": [5.0, 4.5], "akida_margin/d": [2.0, 1.0]}
    second = report(akida_model, images[:16], tmp_path, title="second", log=log, engine="tf")
    assert second.figures == ["weights.png", "levels.png", "activity.png", "margins.png"]
    with open(second.path, encoding="utf-8") as handle:
        text = handle.read()
    assert "Over 16 images" in text and "<title>second</title>" in text
    assert sorted(os.listdir(tmp_path)) == sorted(second.figures + [
        "index.html", "statistics.json", ".cnn2snn_tfmot-report.json"])


def test_a_folder_that_is_not_a_report_is_never_replaced(written, tmp_path):
    _, akida_model, images, _, _, _ = written
    user = tmp_path / "user"
    user.mkdir()
    (user / "thesis.tex").write_text("chapter 1")
    with pytest.raises(FileExistsError, match=r"user: it is a folder holding 'thesis.tex', not "
                                              r"a report folder.*overwrite=True"):
        report(akida_model, images[:8], user, engine="tf")
    assert os.listdir(user) == ["thesis.tex"]
    result = report(akida_model, images[:8], tmp_path / "r", engine="tf")
    (tmp_path / "r" / "notes.txt").write_text("mine")  # no longer only ours
    with pytest.raises(FileExistsError, match="files were added since \\('notes.txt'\\)"):
        report(akida_model, images[:8], tmp_path / "r", engine="tf")
    report(akida_model, images[:8], tmp_path / "r", engine="tf", overwrite=True)
    assert "notes.txt" not in os.listdir(tmp_path / "r") and os.path.isfile(result.path)
    assert oct(os.stat(tmp_path / "r").st_mode & 0o777) != oct(0o700)
