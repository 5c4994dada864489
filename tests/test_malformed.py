"""Property: every public entry point, given malformed arguments, ends with a documented
exception (ValueError or TypeError, FileNotFoundError / FileExistsError for paths) whose message
names the argument; never an AttributeError / IndexError / KeyError or a bare TypeError from
inside the package, never a NaN result, never a changed input file."""
import hashlib
import os
import re
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnn2snn_tfmot_cli
from cnn2snn_tfmot import (
    IncompatibleModelError,
    check_model_compatibility,
    convert,
    hardware_exact,
    quantize,
)
from cnn2snn_tfmot.data.datafiles import open_dataset
from cnn2snn_tfmot.tfkeras import keras

from helpers import float_cnn, images, set_bn

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

#: Values no argument of the package takes, and some it takes.
JUNK = st.sampled_from([None, "", "25", "255", "x.npy", b"bytes", 3.7, float("nan"),
                        float("inf"), -1, 0, 1 << 40, True, (), (255,), [255], (255, 0, 0),
                        {"a": 1}, object(), np.zeros(2), np.float32(1.5), [[1, 2]]])


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(3)
    model = float_cnn()
    set_bn(model, seed=3)
    quantized = quantize(model, 4, 4, 8)
    return model, quantized, convert(quantized, input_scaling=(255, 0))


def _named(err: BaseException, names) -> bool:
    """Whether the message names one of ``names`` (short ones as a word of their own)."""
    message = str(err)
    return any(name in message if len(name) > 2 else
               re.search(rf"(^|[\s`'(]){re.escape(name)}([\s`':=,.)]|$)", message)
               for name in names)


def _documented(call, names, allowed=(ValueError, TypeError)):
    """Runs ``call``: success, or an allowed exception naming one of ``names``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return call()
        except allowed as err:
            assert _named(err, names), f"{type(err).__name__} names none of {names}: {err}"
            return None


def _one_junk(valid: dict):
    """Valid arguments but one (drawn), replaced by a value drawn from JUNK (some valid)."""
    return st.builds(lambda name, junk: {**valid, name: junk}, st.sampled_from(sorted(valid)),
                     JUNK)


@SETTINGS
@given(arguments=_one_junk({"weight_quantization": 4, "activ_quantization": 4,
                            "input_weight_quantization": 8, "input_scaling": (255, 0)}))
def test_quantize(models, arguments):
    model = models[0]
    result = _documented(lambda: quantize(model, **arguments), list(arguments))
    if result is not None:
        assert all(np.all(np.isfinite(w)) for w in result.get_weights())


@SETTINGS
@given(arguments=_one_junk({"input_scaling": (255, 0), "input_is_sparse": False,
                            "file_path": "m.akida"}))
def test_convert_and_check(models, tmp_path, arguments):
    quantized = models[1]
    names = list(arguments)
    path = arguments["file_path"]
    if isinstance(path, str) and path:
        arguments["file_path"] = path = os.path.join(tmp_path, path)
        names.append(path)  # a path in the way is named itself
    _documented(lambda: check_model_compatibility(
        quantized, arguments["input_is_sparse"], arguments["input_scaling"]), names)
    here = os.getcwd()
    os.chdir(tmp_path)  # a bytes path is written where it says
    try:
        result = _documented(lambda: convert(quantized, **arguments, overwrite=True), names,
                             (ValueError, TypeError, FileExistsError))
    finally:
        os.chdir(here)
    if result is not None:  # events below 16 fit sparse models too
        assert np.all(np.isfinite(result.predict(images(4, seed=1) // 16)))


@SETTINGS
@given(arguments=_one_junk({"device": "AKD1000", "hw_only": False, "mode": "minimal"}))
def test_map_and_device(models, arguments):
    quantized, akida_model = models[1], models[2]
    mapping = _documented(lambda: akida_model.map(**arguments), list(arguments))
    if mapping is not None:
        assert mapping.total_nps > 0

    def check():
        try:
            return check_model_compatibility(quantized, device=arguments["device"])
        except IncompatibleModelError as err:  # a valid device: the verdict, not an argument
            assert "cannot run in hardware on the AKD1000" in str(err)
            return None

    _documented(check, ["device"])


@SETTINGS
@given(arguments=_one_junk({"input_scaling": (255, 0), "input_is_sparse": False}))
def test_hardware_exact(models, arguments):
    result = _documented(lambda: hardware_exact(models[1], **arguments), list(arguments))
    if result is not None:
        x = images(4, seed=2).astype(np.float32) / 255
        assert np.all(np.isfinite(result.predict(x, verbose=0)))


X_JUNK = st.sampled_from([None, "images", 3, [1, 2, 3], [[1]], np.zeros((4, 16, 16, 1)),
                          np.zeros((4, 16, 16, 1), np.int32), np.zeros((16, 16, 1), np.uint8),
                          np.zeros((4, 8, 8, 1), np.uint8), np.zeros((0, 16, 16, 1), np.uint8),
                          np.zeros((4, 16, 16, 1), np.uint8), {"x": 1}])
Y_JUNK = st.sampled_from([None, np.arange(4), np.arange(4) * 1.5, np.zeros((4, 10)), [0, 1],
                          "labels", np.arange(3)])


@SETTINGS
@given(x=X_JUNK, y=Y_JUNK, batch_size=JUNK | st.just(2),
       engine=st.sampled_from([None, "tf", "fast", 3]))
def test_forward_predict_evaluate(models, x, y, batch_size, engine):
    akida_model = models[2]
    names = ["x", "y", "batch_size", "backend", "engine", "batch"]
    for method in (akida_model.forward, akida_model.predict):
        result = _documented(lambda run=method: run(x, batch_size=batch_size, engine=engine),
                             names)
        if result is not None:
            assert np.all(np.isfinite(result))
    accuracy = _documented(lambda: akida_model.evaluate(x, y, batch_size=batch_size,
                                                        engine=engine), names)
    if accuracy is not None:
        assert 0 <= accuracy <= 1


@SETTINGS
@given(arguments=_one_junk({"images": "x.npy", "labels": "y.npy", "tfrecord_labels": True,
                            "input_shape": (16, 16, 1)}),
       images_=st.sampled_from(["x.npy", "missing.npy", "x.csv", "folder", "r.tfrecord"]),
       labels=st.sampled_from([None, "y.npy", "yf.npy", "short.npy"]))
def test_open_dataset(tmp_path_factory, arguments, images_, labels):
    from cnn2snn_tfmot.data.datafiles import DataFileError

    folder = tmp_path_factory.getbasetemp() / "open_dataset"
    if not folder.exists():
        folder.mkdir()
        np.save(folder / "x.npy", images(4, seed=3))
        np.save(folder / "y.npy", np.arange(4))
        np.save(folder / "yf.npy", np.arange(4) / 2)
        np.save(folder / "short.npy", np.arange(3))
        (folder / "x.csv").write_text("1,2\n")
        (folder / "r.tfrecord").write_bytes(b"\x05" * 20)
        (folder / "folder").mkdir()
    arguments = {"images": images_, "labels": labels, **{
        name: value for name, value in arguments.items() if name not in ("images", "labels")
        or not (isinstance(value, str) and value in ("x.npy", "y.npy"))}}
    names = list(arguments) + [str(value) for value in arguments.values()
                               if isinstance(value, str) and value]
    digest = _digests(folder)
    here = os.getcwd()
    os.chdir(folder)
    try:
        _documented(lambda: open_dataset(**arguments), names,
                    (DataFileError, TypeError, ValueError))
    finally:
        os.chdir(here)
    assert _digests(folder) == digest


def _digests(folder):
    return {name: hashlib.sha256(open(os.path.join(root, name), "rb").read()).hexdigest()
            for root, _, names in os.walk(folder) for name in names}


TOKENS = st.sampled_from(["MODEL", "QUANTIZED", "AKIDA", "DATA", "IMAGES", "LABELS", "OUT",
                          "OUT.akida", "OUT.h5", "--batch-size", "0", "-1", "nan", "25",
                          "--input-scaling", "255", "--labels", "--output", "--overwrite",
                          "--sparse", "--backend", "tf", "-w", "4", "-a", "9", "--data",
                          "--out", "--show", "x.zip", "--fbz", "--title", "."])


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory, models):
    folder = tmp_path_factory.mktemp("cli_property")
    model, quantized, akida_model = models
    model.save(str(folder / "float.h5"))
    quantized.save(str(folder / "q.h5"))
    akida_model.save(str(folder / "m.akida"))
    np.savez(folder / "data.npz", x=images(8, seed=4), y=np.arange(8))
    np.save(folder / "images.npy", images(8, seed=4))
    np.save(folder / "labels.npy", np.arange(8))
    return folder


#: A valid argument list of each command, mutated by the property below.
VALID = {"check": ["QUANTIZED"], "adapt": ["MODEL", "OUT.h5"],
         "quantize": ["MODEL", "OUT.h5", "-w", "4", "-a", "4"],
         "convert": ["QUANTIZED", "OUT.akida", "--input-scaling", "255", "0"],
         "export": ["QUANTIZED", "OUT", "--input-scaling", "255", "0", "--backend", "tf"],
         "summary": ["AKIDA"], "evaluate": ["AKIDA", "DATA"],
         "predict": ["AKIDA", "IMAGES", "--output", "OUT.csv", "--show", "2"],
         "report": ["AKIDA", "--data", "DATA", "--out", "OUT", "--backend", "tf"]}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(VALID)))
    tokens = list(VALID[command])
    for _ in range(draw(st.integers(0, 2))):
        position = draw(st.integers(0, len(tokens)))
        token = draw(TOKENS)
        if draw(st.booleans()) and position < len(tokens):
            tokens[position] = token
        else:
            tokens.insert(position, token)
    return command, tokens


@pytest.mark.slow
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(line=command_lines())
def test_every_command_line(cli_files, capsys, line):
    """Any argument list: exit status 0, 1 or 2, one error line (or argparse's usage), the
    inputs unchanged."""
    assert set(VALID) == {command.name for command in cnn2snn_tfmot_cli.COMMANDS}
    command, tokens = line
    paths = {"MODEL": "float.h5", "QUANTIZED": "q.h5", "AKIDA": "m.akida", "DATA": "data.npz",
             "IMAGES": "images.npy", "LABELS": "labels.npy"}
    argv = [command] + [str(cli_files / paths[token]) if token in paths else
                        str(cli_files / "outputs" / token) if token.startswith("OUT") else token
                        for token in tokens]
    inputs = {name: _digest(cli_files / path) for name, path in paths.items()}
    status = cnn2snn_tfmot_cli.main(argv)
    captured = capsys.readouterr()
    assert status in (0, 1, 2), argv
    if status == 2:
        error = captured.err.strip().splitlines()
        assert error and (error[-1].startswith(f"cnn2snn_tfmot {command}: ") and
                          len(error) == 1 or "error:" in error[-1]), (argv, captured.err)
        assert "Traceback" not in captured.err
    assert {name: _digest(cli_files / path) for name, path in paths.items()} == inputs, argv


def _digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()
