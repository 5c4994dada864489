"""The command line."""
import os

import numpy as np
import pytest

from cnn2snn_tfmot.akida import Model as AkidaModel
from cnn2snn_tfmot.cli import main

from helpers import AKIDA, float_cnn, images, set_bn


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cli")
    model = float_cnn()
    set_bn(model, seed=21)
    model.save(str(directory / "float.h5"))
    return directory


def test_quantize_check_convert_summary_export(files, capsys):
    quantized = str(files / "q.h5")
    assert main(["quantize", str(files / "float.h5"), quantized, "-w", "4", "-a", "4",
                 "-i", "8"]) == 0
    assert main(["check", quantized]) == 0
    assert "compatible with Akida" in capsys.readouterr().out
    output = str(files / "m.akida")
    fbz = str(files / "m.fbz")
    status = main(["convert", quantized, output, "--input-scaling", "255", "0", "--fbz", fbz])
    if AKIDA is not None:
        assert status == 0 and os.path.exists(fbz)
    else:  # BrainChip's runtime writes .fbz files: without it, the fix is named
        assert status == 2 and "pip install akida" in capsys.readouterr().err
    x = images(8, seed=22)
    from cnn2snn_tfmot import load_quantized_model
    from cnn2snn_tfmot.converter import convert
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


def test_check_reports_an_incompatible_model(files, capsys):
    assert main(["check", str(files / "float.h5")]) == 1
    assert "'c0' (Conv2D) is not quantized" in capsys.readouterr().out


def test_errors_are_one_line_and_status_2(files, capsys):
    assert main(["summary", str(files / "missing.akida")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("cnn2snn_tfmot summary: ") and error.count("\n") == 1
    assert main(["quantize", str(files / "float.h5"), str(files / "x.h5"), "-w", "9",
                 "-a", "4"]) == 2
    assert "2..8" in capsys.readouterr().err


def test_console_script_is_installed(python_runner):
    result = python_runner(["-m", "cnn2snn_tfmot.cli", "--help"])
    assert result.returncode == 0 and "convert" in result.stdout
