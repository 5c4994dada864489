"""The command line: commands, input scaling that cannot be silently wrong, help and version
without TensorFlow, quiet output, evaluate / predict on image files."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import cnn2snn_tfmot_cli
from cnn2snn_tfmot.akida import Model as AkidaModel
from cnn2snn_tfmot.tfkeras import keras, tf
from cnn2snn_tfmot_cli import main

from helpers import AKIDA, REPO, float_cnn, images, set_bn, write_idx

L = keras.layers
COMMANDS = ["check", "adapt", "quantize", "convert", "export", "summary", "evaluate", "predict",
            "report"]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli")
    model = float_cnn()
    set_bn(model, seed=21)
    model.save(str(directory / "float.h5"))
    return directory


@pytest.fixture(scope="module")
def quantized(files):
    """q.h5: float.h5 quantized 4/4/8 by the command line, remembering no input scaling (made
    here, so that each test using it also runs alone)."""
    path = str(files / "q.h5")
    assert main(["quantize", str(files / "float.h5"), path, "-w", "4", "-a", "4",
                 "-i", "8"]) == 0
    return path


@pytest.fixture(scope="module")
def remembering(files):
    path = str(files / "remembering.h5")
    assert main(["quantize", str(files / "float.h5"), path, "-w", "4", "-a", "4", "-i", "8",
                 "--input-scaling", "255", "0"]) == 0
    return path


@pytest.fixture(scope="module")
def data(files):
    x, y = images(40, seed=30), np.arange(40) % 10
    np.savez(str(files / "data.npz"), x=x, y=y)
    return x, y


def test_quantize_check_convert_summary_export(files, capsys):
    quantized = str(files / "q.h5")
    assert main(["quantize", str(files / "float.h5"), quantized, "-w", "4", "-a", "4",
                 "-i", "8"]) == 0
    assert "does not remember an input scaling" in capsys.readouterr().out
    assert main(["check", quantized]) == 0
    assert "compatible with Akida; rules only" in capsys.readouterr().out
    output = str(files / "m.akida")
    fbz = str(files / "m.fbz")
    status = main(["convert", quantized, output, "--input-scaling", "255", "0", "--fbz", fbz])
    if AKIDA is not None:
        assert status == 0 and os.path.exists(fbz)
    else:  # BrainChip's runtime writes .fbz files: without it, the fix is named
        assert status == 2 and "pip install akida" in capsys.readouterr().err
    x = images(8, seed=22)
    from cnn2snn_tfmot import load_quantized_model
    from cnn2snn_tfmot.conversion.converter import convert
    expected = convert(load_quantized_model(quantized), input_scaling=(255, 0))
    np.testing.assert_array_equal(AkidaModel(output).forward(x, engine="tf"),
                                  expected.forward(x, engine="tf"))
    capsys.readouterr()
    assert main(["summary", output]) == 0
    assert "InputConvolutional" in capsys.readouterr().out
    assert main(["export", quantized, str(files / "exported"), "--input-scaling", "255", "0",
                 "--engine", "tf"]) == 0
    assert sorted(os.listdir(files / "exported")) == ["emulator_savedmodel",
                                                      "keras_savedmodel", "model.akida"]


def test_convert_without_a_known_scaling_is_refused_with_the_fix(files, capsys):
    quantized = str(files / "plain.h5")
    assert main(["quantize", str(files / "float.h5"), quantized, "-w", "4", "-a", "4"]) == 0
    capsys.readouterr()
    for command in (["convert", quantized, str(files / "x.akida")],
                    ["export", quantized, str(files / "x_export")],
                    ["evaluate", quantized, str(files / "data.npz")]):
        assert main(command) == 2
        error = capsys.readouterr().err
        assert error.count("\n") == 1
        assert "does not remember the input scaling" in error
        assert "--input-scaling SCALE SHIFT" in error and "255 0" in error
    assert not os.path.exists(files / "x.akida") and not os.path.exists(files / "x_export")


def test_a_remembered_scaling_is_used_and_a_contradicting_one_refused(files, remembering,
                                                                      quantized, capsys):
    from cnn2snn_tfmot import input_scaling_of, load_quantized_model
    assert input_scaling_of(load_quantized_model(remembering)) == (255.0, 0)
    output = str(files / "remembered.akida")
    assert main(["convert", remembering, output]) == 0
    assert "input scaling (255.0, 0) (remembered by the model)" in capsys.readouterr().out
    from cnn2snn_tfmot import convert
    x = images(8, seed=23)
    np.testing.assert_array_equal(
        AkidaModel(output).forward(x, engine="tf"),
        convert(load_quantized_model(quantized), input_scaling=(255, 0)).forward(
            x, engine="tf"))
    assert main(["convert", remembering, output, "--input-scaling", "1", "0"]) == 2
    assert "(1.0, 0) contradicts" in capsys.readouterr().err
    assert main(["check", remembering]) == 0
    assert "registers checked for input scaling (255.0, 0) (remembered)" in \
        capsys.readouterr().out


def test_check_of_a_float_model_says_to_quantize_first(files, capsys):
    assert main(["check", str(files / "float.h5")]) == 1
    out = capsys.readouterr().out
    assert "(1 problem)" in out and "Quantize it first" in out


def test_errors_are_one_line_and_status_2(files, capsys):
    assert main(["summary", str(files / "missing.akida")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cnn2snn_tfmot summary: ") and error.count("\n") == 1
    assert main(["quantize", str(files / "float.h5"), str(files / "x.h5"), "-w", "9",
                 "-a", "4"]) == 2
    assert "2..8" in capsys.readouterr().err
    assert main(["convert", str(files / "float.h5"), str(files / "x.akida"),
                 "--input-scaling", "255", "0"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "Quantize it first" in error


def test_summary_of_keras_files_shows_blocks_and_akida_layers(files, remembering, capsys):
    assert main(["summary", remembering]) == 0
    out = capsys.readouterr().out
    assert "input scaling: (255.0, 0) (remembered)" in out
    assert "SeparableConvolutional" in out and "s1, r1" in out
    assert main(["summary", str(files / "float.h5")]) == 0
    assert "float, shown as quantize(model, 4, 4, 8) would make it" in capsys.readouterr().out


def test_evaluate_an_akida_model_and_a_keras_model(files, remembering, data, capsys):
    x, y = data
    akida_path = str(files / "eval.akida")
    assert main(["convert", remembering, akida_path]) == 0
    capsys.readouterr()
    assert main(["evaluate", akida_path, str(files / "data.npz"), "--batch-size", "16"]) == 0
    out = capsys.readouterr().out
    akida_model = AkidaModel(akida_path)
    expected = akida_model.evaluate(x, y)
    correct = int(round(expected * 40))
    assert f"Akida accuracy: {expected:.2%} ({correct:,} / 40 images)" in out
    assert main(["evaluate", remembering, str(files / "data.npz")]) == 0
    out = capsys.readouterr().out
    assert f"Akida accuracy: {expected:.2%}" in out
    assert "Keras accuracy:" in out and "Keras-vs-Akida agreement:" in out
    np.save(str(files / "images.npy"), x)
    assert main(["evaluate", akida_path, str(files / "images.npy")]) == 2
    assert "has no labels" in capsys.readouterr().err


def test_evaluate_idx_files_resized_to_the_model(files, remembering, capsys):
    x = images(12, shape=(20, 20, 1), seed=31)[..., 0]
    write_idx(str(files / "images-idx3-ubyte"), x)
    write_idx(str(files / "labels-idx1-ubyte"), np.arange(12) % 10)
    assert main(["evaluate", remembering, str(files / "images-idx3-ubyte"), "--labels",
                 str(files / "labels-idx1-ubyte")]) == 0
    out = capsys.readouterr().out
    assert "note: 12 of 12 images resized from (20, 20) to (16, 16)" in out
    assert "(12 images)" in out or "/ 12 images" in out


def test_predict_a_folder_of_images(files, remembering, capsys):
    folder = files / "pictures"
    for label in ("a", "b"):
        os.makedirs(folder / label, exist_ok=True)
        for index in range(2):
            image = images(1, shape=(16, 16, 1), seed=40 + index + 2 * (label == "b"))[0]
            (folder / label / f"{index}.png").write_bytes(tf.io.encode_png(image).numpy())
    akida_path = str(files / "predict.akida")
    assert main(["convert", remembering, akida_path]) == 0
    capsys.readouterr()
    csv_path, npy_path = str(files / "predictions.csv"), str(files / "predictions.npy")
    assert main(["predict", akida_path, str(folder), "--output", csv_path, "--show", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count(": class ") == 3 and "... 1 more" in out
    assert main(["predict", akida_path, str(folder), "--output", npy_path, "--show", "0"]) == 0
    outputs = np.load(npy_path)
    stacked = np.stack([tf.io.decode_png((folder / label / f"{index}.png").read_bytes()).numpy()
                        for label in ("a", "b") for index in range(2)])
    np.testing.assert_array_equal(outputs, AkidaModel(akida_path).predict(stacked).reshape(4, -1))
    rows = open(csv_path).read().splitlines()
    assert rows[0] == "image,class,score" and len(rows) == 5
    assert rows[1].startswith(os.path.join("a", "0.png") + f",{outputs[0].argmax()},")
    assert main(["predict", akida_path, str(folder), "--output", str(files / "p.txt")]) == 2
    assert "predictions must end in .npy or .csv" in capsys.readouterr().err


def test_adapt_a_keras3_file(files, capsys):
    keras3 = pytest.importorskip("keras")
    model3 = keras3.Sequential([
        keras3.Input((16, 16, 1)), keras3.layers.ZeroPadding2D(((0, 1), (0, 1)), name="pad"),
        keras3.layers.Conv2D(8, 3, strides=2, name="conv"), keras3.layers.ReLU(6.0, name="relu"),
        keras3.layers.DepthwiseConv2D(3, padding="same", name="dw"),
        keras3.layers.Conv2D(8, 1, name="pw"), keras3.layers.ReLU(name="relu2"),
        keras3.layers.GlobalAveragePooling2D(name="gap"), keras3.layers.Dropout(0.2),
        keras3.layers.Dense(10, activation="softmax", name="dense")])
    model3.save(str(files / "mine.keras"))
    adapted = str(files / "adapted.h5")
    assert main(["adapt", str(files / "mine.keras"), adapted]) == 0
    out = capsys.readouterr().out
    assert "pad: removed; 'conv' gets padding='same'" in out
    assert "gap: moved before the activation 'relu2'" in out
    assert "fine-tune it before quantizing" in out
    quantized = str(files / "adapted_q.h5")
    assert main(["quantize", adapted, quantized, "-w", "4", "-a", "4", "-i", "8",
                 "--input-scaling", "255", "0"]) == 0
    assert main(["check", quantized]) == 0
    assert main(["adapt", str(files / "mine.keras"), str(files / "exact.h5"),
                 "--exact-only"]) == 0
    assert "fine-tune" not in capsys.readouterr().out.split("model written")[-1]


def _tree(path):
    return sorted((os.path.relpath(os.path.join(root, name), path), open(
        os.path.join(root, name), "rb").read()) for root, _, names in os.walk(path)
        for name in names)


def test_outputs_never_destroy_a_users_files(files, quantized, tmp_path, capsys, monkeypatch):
    """Issue 19, point 1: the output '.', a folder of user files, a file where the SavedModel
    folder goes."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "thesis.tex").write_text("chapter 1")
    float_model = str(work / "float.h5")
    with open(files / "float.h5", "rb") as source, open(float_model, "wb") as copy:
        copy.write(source.read())
    (work / "userdir").mkdir()
    (work / "userdir" / "notes.txt").write_text("mine")
    (work / "notesfile").write_text("mine too")
    before = _tree(work)
    monkeypatch.chdir(work)
    for command, match in [
            (["quantize", "float.h5", ".", "-w", "4", "-a", "4", "-i", "8"],
             "refusing to write .: it holds the input float.h5"),
            (["quantize", "float.h5", ".", "-w", "4", "-a", "4", "--overwrite"],
             "refusing to write .: it holds the input float.h5"),
            (["quantize", "float.h5", "userdir", "-w", "4", "-a", "4"],
             "refusing to replace userdir: it is a folder holding 'notes.txt', not a "
             "SavedModel folder .*--overwrite"),
            (["adapt", "float.h5", "notesfile"],
             "refusing to replace notesfile: it is a file, not a SavedModel folder"),
            (["quantize", "float.h5", "float.h5", "-w", "4", "-a", "4"],
             "refusing to write float.h5: it is the input float.h5"),
            (["convert", quantized, "notesfile/m.akida", "--input-scaling", "255", "0"],
             "notesfile is a file, not a folder"),
            (["convert", quantized, "q.h5", "--input-scaling", "255", "0"],
             "OUTPUT q.h5: an Akida model file must end in .akida")]:
        assert main(command) == 2, command
        error = capsys.readouterr().err
        assert error.count("\n") == 1, error
        assert re.search(match, error), (command, error)
    assert _tree(work) == before
    assert main(["adapt", "float.h5", "notesfile", "--overwrite", "--exact-only"]) == 0
    assert os.path.isfile(work / "notesfile" / "saved_model.pb")
    mode = os.stat(work / "notesfile").st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o777 & ~umask  # not mkdtemp's 0700


def test_an_output_is_never_an_input(files, quantized, data, capsys):
    akida_path = str(files / "same.akida")
    assert main(["convert", quantized, akida_path, "--input-scaling", "255", "0"]) == 0
    capsys.readouterr()
    np.save(str(files / "pictures.npy"), data[0])
    before = open(files / "pictures.npy", "rb").read()
    assert main(["predict", akida_path, str(files / "pictures.npy"), "--output",
                 str(files / "pictures.npy")]) == 2
    assert "it is the input" in capsys.readouterr().err
    assert open(files / "pictures.npy", "rb").read() == before
    assert main(["convert", quantized, quantized, "--input-scaling", "255", "0"]) == 2
    assert "must end in .akida" in capsys.readouterr().err
    assert main(["report", akida_path, "--data", str(files / "pictures.npy"), "--out",
                 str(files)]) == 2
    assert "holds the input" in capsys.readouterr().err
    predictions = str(files / "again.npy")
    assert main(["predict", akida_path, str(files / "pictures.npy"), "--output",
                 predictions, "--show", "0"]) == 0
    assert main(["predict", akida_path, str(files / "pictures.npy"), "--output",
                 predictions, "--show", "0"]) == 2  # a .npy cannot say who wrote it
    assert "--overwrite" in capsys.readouterr().err
    assert main(["predict", akida_path, str(files / "pictures.npy"), "--output",
                 predictions, "--show", "0", "--overwrite"]) == 0


def test_messages_name_the_file_and_the_fix(files, quantized, capsys):
    akida_path = str(files / "named.akida")
    assert main(["convert", quantized, akida_path, "--input-scaling", "255", "0"]) == 0
    capsys.readouterr()
    for name in ("m.AKIDA", "m.zip"):
        open(files / name, "wb").write(open(akida_path, "rb").read())
        assert main(["summary", str(files / name)]) == 2
        assert f"'{files / name}' is not a Keras model file; Akida model files end in .akida" \
            in capsys.readouterr().err
    assert main(["check", akida_path]) == 2
    assert "named.akida is an Akida model file; check takes a Keras model file" in \
        capsys.readouterr().err
    assert main(["evaluate", akida_path, str(files / "data.npz"), "--batch-size", "0"]) == 2
    assert "--batch-size must be a positive integer; got 0" in capsys.readouterr().err
    assert main(["convert", quantized, str(files / "n.akida"), "--input-scaling", "nan",
                 "0"]) == 2
    assert "scale must be a positive number; got nan" in capsys.readouterr().err


def test_a_hidden_folder_is_not_a_class(files, remembering, capsys):
    """Issue 19, point 4: .ipynb_checkpoints became class 0 and shifted every label."""
    folder = files / "classes"
    x = images(20, seed=50)
    akida_path = str(files / "classes.akida")
    assert main(["convert", remembering, akida_path]) == 0
    guesses = AkidaModel(akida_path).predict(x).reshape(20, -1).argmax(axis=1)
    for index, (image, guess) in enumerate(zip(x, guesses)):
        os.makedirs(folder / f"class_{guess}", exist_ok=True)
        (folder / f"class_{guess}" / f"{index}.png").write_bytes(
            tf.io.encode_png(image).numpy())
    for digit in range(10):  # every class folder, so that names give the predicted labels
        os.makedirs(folder / f"class_{digit}", exist_ok=True)
    os.makedirs(folder / ".ipynb_checkpoints")
    (folder / ".ipynb_checkpoints" / "0-checkpoint.png").write_bytes(
        tf.io.encode_png(x[0]).numpy())
    capsys.readouterr()
    assert main(["evaluate", akida_path, str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Akida accuracy: 100.00% (20 / 20 images)" in out
    assert "note: skipped hidden entries (names starting with '.', as Keras does): " \
           "'.ipynb_checkpoints'" in out


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_help_shows_the_defaults_and_needs_no_tensorflow(command, capsys):
    assert cnn2snn_tfmot_cli.main(["--help"] if command is None else [command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # help text is wrapped
    assert out.startswith("usage: cnn2snn_tfmot")
    if command in ("evaluate", "predict", "report"):
        assert "images per batch (default: 256)" in out
    if command in ("convert", "export", "evaluate", "predict", "check", "report"):
        assert "Default: the one the model remembers" in out


def test_help_and_version_do_not_import_tensorflow(python_runner):
    result = python_runner(
        "import sys, cnn2snn_tfmot_cli\n"
        "codes = [cnn2snn_tfmot_cli.main(['--help']), cnn2snn_tfmot_cli.main(['--version']),\n"
        "         cnn2snn_tfmot_cli.main(['convert', '--help'])]\n"
        "print(codes, 'tensorflow' in sys.modules, 'cnn2snn_tfmot' in sys.modules)")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[-1] == "[0, 0, 0] False False"
    import cnn2snn_tfmot
    assert f"cnn2snn_tfmot {cnn2snn_tfmot.__version__}" in result.stdout


def console_script():
    script = os.path.join(os.path.dirname(sys.executable), "cnn2snn_tfmot")
    if not os.path.exists(script):
        pytest.skip("the console script is not installed in this environment")
    return script


@pytest.mark.processes
def test_the_console_script_prints_no_tensorflow_log_lines(files, quantized):
    akida_path = str(files / "quiet.akida")
    from cnn2snn_tfmot import convert, load_quantized_model
    convert(load_quantized_model(quantized), input_scaling=(255, 0)).save(akida_path)
    environment = {k: v for k, v in os.environ.items()
                   if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_USE_LEGACY_KERAS")}
    result = subprocess.run([console_script(), "summary", akida_path], capture_output=True,
                            text=True, env=environment, timeout=300)
    assert result.returncode == 0 and "InputConvolutional" in result.stdout
    assert result.stderr == ""
    result = subprocess.run([console_script(), "convert", quantized,
                             str(files / "y.akida")], capture_output=True, text=True,
                            env=environment, timeout=300)
    assert result.returncode == 2
    assert result.stderr.startswith("cnn2snn_tfmot convert: ") and \
        result.stderr.count("\n") == 1
    result = subprocess.run([console_script(), "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("cnn2snn_tfmot ")


def test_python_dash_m_runs_the_same_command_line(python_runner):
    result = python_runner(["-m", "cnn2snn_tfmot_cli", "--help"])
    assert result.returncode == 0 and "evaluate" in result.stdout and "convert" in result.stdout
    assert os.path.isfile(os.path.join(REPO, "cnn2snn_tfmot_cli.py"))


def test_backend_option_matches_the_engine_and_keeps_its_former_name():
    """--backend offers what backend= offers (the parser's copy needs no TensorFlow); --engine,
    its former name, sets the same value; graph commands refuse "direct"."""
    import cnn2snn_tfmot_cli as cli
    from cnn2snn_tfmot.engine import BACKENDS, GRAPH_BACKENDS

    assert (cli.BACKENDS, cli.GRAPH_BACKENDS) == (BACKENDS, GRAPH_BACKENDS)
    parser = cli.build_parser()
    for option in ("--backend", "--engine"):
        args = parser.parse_args(["evaluate", "m.akida", "x.npz", option, "direct"])
        assert args.backend == "direct"
    assert parser.parse_args(["export", "q.h5", "out", "--engine", "tf"]).backend == "tf"
    with pytest.raises(SystemExit):
        parser.parse_args(["export", "q.h5", "out", "--backend", "direct"])


def test_class_folders_are_labelled_by_the_models_class_names(files, remembering, capsys):
    """A model that knows its classes (convert --class-names, pretrained models): the folders
    are matched to them by name, in any order or subset; predict prints the names."""
    x = images(12, seed=60)
    plain = str(files / "plain.akida")
    assert main(["convert", remembering, plain]) == 0
    named_model = AkidaModel(plain)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    named_model.class_names = names
    named = str(files / "named.akida")
    named_model.save(named)
    guesses = named_model.predict(x).reshape(12, -1).argmax(axis=1)
    folder = files / "named_classes"
    for index, (image, guess) in enumerate(zip(x, guesses)):
        os.makedirs(folder / names[guess], exist_ok=True)
        (folder / names[guess] / f"{index}.png").write_bytes(tf.io.encode_png(image).numpy())
    present = sorted(os.listdir(folder))
    for name in names:  # every class: sorted ("eight", "five"...), the order is not the model's
        os.makedirs(folder / name, exist_ok=True)
    capsys.readouterr()
    assert main(["evaluate", named, str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Akida accuracy: 100.00% (12 / 12 images)" in out
    assert "note: the 10 class folders are labelled by the model's class names" in out
    # Without names, the folders' sorted order is the labelling (as Keras's): here wrong.
    assert main(["evaluate", plain, str(folder)]) == 0
    assert "Akida accuracy: 100.00%" not in capsys.readouterr().out

    assert main(["predict", named, str(folder), "--show", "12"]) == 0
    out = capsys.readouterr().out
    first = os.path.join(present[0], sorted(os.listdir(folder / present[0]))[0])
    index = int(os.path.splitext(os.path.basename(first))[0])
    assert f"{first}: class {guesses[index]} ({names[guesses[index]]}), score" in out

    os.makedirs(folder / "zebra")
    (folder / "zebra" / "0.png").write_bytes(tf.io.encode_png(x[0]).numpy())
    assert main(["evaluate", named, str(folder)]) == 2
    err = capsys.readouterr().err
    assert "class folder(s) 'zebra' are not classes of the model" in err
    assert "zero, one, two" in err
