"""Our model file: bit-exact round trip, atomic writes, and a reader that refuses every invalid
or hostile file with AkidaModelFileError (hypothesis fuzzing included)."""
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnn2snn_tfmot.akida import AkidaModelFileError, Model

from akida_helpers import MODEL_FACTORIES, random_input, randomize


def _prepared(name="image_gap_model", seed=0):
    rng = np.random.default_rng(seed)
    model = MODEL_FACTORIES[name]()
    x = random_input(model, rng, 6)
    randomize(model, x, rng)
    return model, x


def _assert_same_model(a, b):
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for la, lb in zip(a.layers, b.layers):
        assert la.layer_type == lb.layer_type and la.parameters == lb.parameters
        assert la.variables == lb.variables
        for var in la.variables:
            va, vb = la.get_variable(var), lb.get_variable(var)
            assert va.dtype == vb.dtype and va.shape == vb.shape
            assert va.tobytes() == vb.tobytes()  # bit-exact, float32 included


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    model, x = _prepared()
    path = tmp_path_factory.mktemp("valid") / "model.akida.zip"
    model.save(path)
    return model, x, path.read_bytes()


def _members(data: bytes) -> dict:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(members, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, payload in members:
            archive.writestr(name, payload)
    return buffer.getvalue()


def _with_manifest(data: bytes, change) -> bytes:
    members = _members(data)
    manifest = json.loads(members["manifest.json"])
    change(manifest)
    members["manifest.json"] = json.dumps(manifest).encode()
    return _zip(members.items())


def _npy(array, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, **kwargs)
    return buffer.getvalue()


def _load_bytes(tmp_path, data: bytes, name="candidate.zip"):
    path = tmp_path / name
    path.write_bytes(data)
    return Model(path)


# -- round trip and atomic writes ------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
def test_round_trip_is_bit_exact(tmp_path, name):
    model, x = _prepared(name, seed=1)
    path = tmp_path / "m.akida.zip"
    model.save(path)
    loaded = Model(path)
    _assert_same_model(model, loaded)
    np.testing.assert_array_equal(loaded.forward(x, engine="tf"), model.forward(x, engine="tf"))


def test_saving_is_deterministic_and_replaces(tmp_path):
    model, _ = _prepared()
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    model.save(first)
    model.save(second)
    assert first.read_bytes() == second.read_bytes()
    model.layers[-1].set_variable("threshold", model.layers[-1].get_variable("threshold") + 1)
    model.save(first)
    assert first.read_bytes() != second.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["a.zip", "b.zip"]


def test_manifest_content(valid):
    manifest = json.loads(_members(valid[2])["manifest.json"])
    assert manifest["format"] == "cnn2snn_tfmot.akida-model"
    assert manifest["format_version"] == 1
    layer = manifest["layers"][1]
    assert layer["type"] == "SeparableConvolutional"
    assert layer["parameters"]["pool_type"] == "Max"
    assert layer["variables"]["weights_pw"]["dtype"] == "int8"
    assert layer["variables"]["weights_pw"]["shape"] == [1, 1, 6, 12]


def test_failed_save_leaves_no_partial_file(tmp_path, monkeypatch, valid):
    model = valid[0]
    path = tmp_path / "model.zip"
    model.save(path)
    previous = path.read_bytes()
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full (simulated)")
        return original(*args, **kwargs)

    original = np.lib.format.write_array
    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == previous
    assert os.listdir(tmp_path) == ["model.zip"]


def test_only_akida_model_files_are_replaced(tmp_path, valid):
    model = valid[0]
    path = tmp_path / "notes.akida"
    path.write_bytes(b"my notes")
    with pytest.raises(FileExistsError, match=r"notes.akida: it is a file, not an Akida model "
                                              r"file.*overwrite=True"):
        model.save(path)
    assert path.read_bytes() == b"my notes"
    model.save(path, overwrite=True)
    model.save(path)  # now a model file of ours: replaced without overwrite
    assert len(Model(path).layers) == len(model.layers)


def test_empty_model_round_trip(tmp_path):
    Model().save(tmp_path / "empty.zip")
    assert Model(tmp_path / "empty.zip").layers == []


# -- invalid files -----------------------------------------------------------------------------
def test_missing_path_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Model(tmp_path / "nope.zip")


def test_not_a_zip(tmp_path):
    with pytest.raises(AkidaModelFileError, match="not a zip archive.*akida.Model"):
        _load_bytes(tmp_path, b"\x00\x01fbz flatbuffer")
    with pytest.raises(AkidaModelFileError):
        _load_bytes(tmp_path, b"")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9, 0.99])
def test_truncated(tmp_path, valid, fraction):
    data = valid[2]
    with pytest.raises(AkidaModelFileError):
        _load_bytes(tmp_path, data[:int(len(data) * fraction)])


def _set(path, value):
    def change(manifest):
        target = manifest
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


@pytest.mark.parametrize("change, match", [
    (_set(["format"], "keras"), "format 'keras'"),
    (_set(["format_version"], 4), "format_version 4.*newer"),
    (_set(["class_names"], ["a"]), "unknown key.*class_names"),
    (_set(["format_version"], "1"), "integer format_version"),
    (_set(["extra"], 1), "unknown key"),
    (_set(["layers"], {}), "'layers' must be a list"),
    (_set(["layers", 1, "type"], "Conv2D"), "unknown type 'Conv2D'"),
    (_set(["layers", 1, "parameters", "kernel_size"], [2, 2]), "layer 1.*odd"),
    (_set(["layers", 1, "parameters", "filters"], 12.0), "layer 1.*integer"),
    (_set(["layers", 1, "parameters", "bias"], True), "parameters .* do not match"),
    (_set(["layers", 1, "variables", "threshold", "dtype"], "float64"), "dtype 'float64'"),
    (_set(["layers", 1, "variables", "threshold", "dtype"], "int8"), "expected 'int32'"),
    (_set(["layers", 1, "variables", "threshold", "shape"], [13]), r"shape \(13,\).*\(12,\)"),
    (_set(["layers", 1, "parameters", "filters"], 13), r"shape \(12,\).*\(13,\)"),
    (_set(["layers", 1, "variables", "threshold", "file"], "../../etc/passwd"),
     "invalid file name"),
    (_set(["layers", 1, "variables", "threshold", "file"], "0002_weights.npy"),
     "declared twice"),
    (_set(["layers", 1, "variables", "threshold", "file"], "9999_missing.npy"),
     "missing"),
    (_set(["layers", 0, "name"], 5), "name must be a string"),
    (_set(["layers", 1, "name"], "InputConv_1"), "inconsistent model.*unique"),
    (_set(["layers", 0, "type"], "FullyConnected"), "parameters"),
    (lambda m: m["layers"].reverse(), "first layer of a model must be"),
    (lambda m: m["layers"][1]["variables"].update(
        bias=m["layers"][1]["variables"].pop("weights_pw")), "do not match"),
])
def test_invalid_manifests(tmp_path, valid, change, match):
    with pytest.raises(AkidaModelFileError, match=match):
        _load_bytes(tmp_path, _with_manifest(valid[2], change))


def test_json_nan_and_duplicate_keys_are_refused(tmp_path, valid):
    members = _members(valid[2])
    text = members["manifest.json"].decode()
    members["manifest.json"] = text.replace('"format_version": 1', '"format_version": NaN') \
        .encode()
    with pytest.raises(AkidaModelFileError, match="NaN"):
        _load_bytes(tmp_path, _zip(members.items()))
    members["manifest.json"] = text.replace('"format_version": 1',
                                            '"format_version": 1, "format_version": 1').encode()
    with pytest.raises(AkidaModelFileError, match="twice"):
        _load_bytes(tmp_path, _zip(members.items()))
    members["manifest.json"] = b"\xff\xfe not utf-8"
    with pytest.raises(AkidaModelFileError, match="UTF-8 JSON"):
        _load_bytes(tmp_path, _zip(members.items()))


@pytest.mark.parametrize("member, payload, match", [
    ("0001_threshold.npy", _npy(np.zeros(6, np.float64)), "array dtype float64"),
    ("0001_threshold.npy", _npy(np.zeros(6, ">i4")), "array dtype >i4"),
    ("0001_threshold.npy", _npy(np.zeros(7, np.int32)), r"array shape \(7,\)"),
    ("0000_weights.npy", _npy(np.asfortranarray(np.zeros((5, 5, 1, 6), np.int8))),
     "Fortran"),
    ("0000_weights.npy", _npy(np.full((5, 5, 1, 6), 8, np.int8)), r"within \[-7, 7\]"),
    ("0001_act_step.npy", _npy(np.zeros(12, np.float32)), "act_step"),
    ("0001_threshold.npy", b"\x93NUMPY garbage", "invalid .npy header"),
    ("0001_threshold.npy", _npy(np.zeros(12, np.int32)) + b"extra", "data bytes"),
    ("0001_threshold.npy", _npy(np.zeros(12, np.int32))[:-4], "data bytes"),
])
def test_invalid_arrays(tmp_path, valid, member, payload, match):
    members = _members(valid[2])
    assert member in members
    members[member] = payload
    with pytest.raises(AkidaModelFileError, match=match):
        _load_bytes(tmp_path, _zip(members.items()))


_UNPICKLED = []


def _mark_unpickled():
    _UNPICKLED.append(True)
    return 0


class _Payload:
    def __reduce__(self):
        return (_mark_unpickled, ())


def test_object_arrays_are_never_unpickled(tmp_path, valid):
    members = _members(valid[2])
    hostile = np.empty(6, dtype=object)
    hostile[:] = [_Payload() for _ in range(6)]
    members["0001_threshold.npy"] = _npy(hostile, allow_pickle=True)
    pickle.loads(pickle.dumps(_Payload()))  # the payload does run when unpickled...
    assert _UNPICKLED == [True]
    with pytest.raises(AkidaModelFileError, match="dtype object"):
        _load_bytes(tmp_path, _zip(members.items()))
    assert _UNPICKLED == [True]  # ...but reading the file never unpickled it


@pytest.mark.parametrize("mutate, match", [
    (lambda m: m.append(("../evil.npy", b"x")), "invalid member name '../evil.npy'"),
    (lambda m: m.append(("/abs.npy", b"x")), "invalid member name"),
    (lambda m: m.append(("extra.npy", _npy(np.zeros(1, np.int8)))), "unexpected member"),
    (lambda m: m.append(("notes.txt", b"hello")), "invalid member name"),
    (lambda m: m.append(m[0]), "duplicate member name 'manifest.json'"),
    (lambda m: m.append(m[3]), "duplicate member name"),
    (lambda m: m.pop(0), "no manifest.json"),
    (lambda m: m.pop(3), "missing"),
])
def test_hostile_members(tmp_path, valid, mutate, match):
    members = list(_members(valid[2]).items())
    mutate(members)
    with pytest.warns(UserWarning) if any(
            n == members[-1][0] for n, _ in members[:-1]) else _no_warning():
        data = _zip(members)
    with pytest.raises(AkidaModelFileError, match=match):
        _load_bytes(tmp_path, data)


class _no_warning:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_huge_declared_sizes_are_refused_before_reading(tmp_path, valid):
    members = _members(valid[2])
    # A deflate "bomb": 64 MiB of zeros compresses to ~64 KiB.
    members["0001_weights.npy"] = b"\x00" * (64 << 20)
    data = _zip(members.items())
    assert len(data) < 1 << 20
    with pytest.raises(AkidaModelFileError, match="declares 64.0 MiB, more than"):
        _load_bytes(tmp_path, data)
    members = _members(valid[2])
    members["manifest.json"] = b" " * (2 << 20)
    with pytest.raises(AkidaModelFileError, match="manifest.json' declares"):
        _load_bytes(tmp_path, _zip(members.items()))


def test_lying_size_in_zip_header_is_refused(tmp_path, valid):
    data = bytearray(_zip(_members(valid[2]).items(), compression=zipfile.ZIP_STORED))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
        info = archive.getinfo("0001_threshold.npy")
    # Patch the uncompressed size (offset 24) in the central directory entry of that member.
    central = bytes(data).rfind(b"PK\x01\x02", 0, bytes(data).find(b"PK\x05\x06"))
    while True:
        name_length = int.from_bytes(data[central + 28:central + 30], "little")
        if data[central + 46:central + 46 + name_length] == b"0001_threshold.npy":
            break
        central = bytes(data).rfind(b"PK\x01\x02", 0, central)
    data[central + 24:central + 28] = (info.file_size - 8).to_bytes(4, "little")
    with pytest.raises(AkidaModelFileError):
        _load_bytes(tmp_path, bytes(data))


def test_layer_count_and_hostile_shapes(tmp_path, valid):
    bad = _with_manifest(valid[2], _set(["layers", 1, "variables", "threshold", "shape"],
                                        [2 ** 50]))
    with pytest.raises(AkidaModelFileError, match="invalid shape"):
        _load_bytes(tmp_path, bad)
    # A huge layer declared by its parameters: refused by size, never allocated.
    huge = _with_manifest(valid[2], lambda m: (
        m["layers"][1]["parameters"].update(filters=2 ** 34),
        m["layers"][1]["variables"]["threshold"].update(shape=[2 ** 34])))
    with pytest.raises(AkidaModelFileError):
        _load_bytes(tmp_path, huge)


# -- fuzzing -------------------------------------------------------------------------------------
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


def _load_or_file_error(tmp_path, data, original=None):
    """Loading raises AkidaModelFileError or gives a valid model (equal to ``original`` when
    given: byte-level damage cannot go unnoticed, the CRCs protect every member)."""
    try:
        loaded = _load_bytes(tmp_path, data, "fuzz.zip")
    except AkidaModelFileError:
        return
    if original is not None:
        _assert_same_model(loaded, original)
    for layer in loaded.layers:  # a model that loads is fully consistent
        for var in layer.variables:
            assert layer.get_variable(var).shape == layer.variable_spec(var).shape


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10 ** 9), st.integers(1, 255)), min_size=1,
                      max_size=4))
def test_fuzz_byte_flips(tmp_path, valid, flips):
    data = bytearray(valid[2])
    for position, xor in flips:
        data[position % len(data)] ^= xor
    _load_or_file_error(tmp_path, bytes(data), valid[0])


@FUZZ
@given(length=st.integers(0, 10 ** 9), tail=st.binary(max_size=64))
def test_fuzz_truncation(tmp_path, valid, length, tail):
    data = valid[2]
    _load_or_file_error(tmp_path, data[:length % len(data)] + tail, valid[0])


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) |
    st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) |
    st.dictionaries(st.text(max_size=10), children, max_size=4), max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, prefix + (index,))


@FUZZ
@given(data=st.data())
def test_fuzz_manifests(tmp_path, valid, data):
    members = _members(valid[2])
    manifest = json.loads(members["manifest.json"])
    paths = list(_paths(manifest))
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        replacement = data.draw(_JSON)
        if not path:
            manifest = replacement
            break
        target = manifest
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = replacement
        except (KeyError, IndexError, TypeError):
            pass
    members["manifest.json"] = json.dumps(manifest).encode()
    _load_or_file_error(tmp_path, _zip(members.items()))  # may still be a valid model


@FUZZ
@given(manifest=_JSON, extra=st.dictionaries(st.from_regex(r"[A-Za-z0-9_./-]{1,12}",
                                                           fullmatch=True),
                                             st.binary(max_size=200), max_size=3))
def test_fuzz_random_archives(tmp_path, valid, manifest, extra):
    members = [("manifest.json", json.dumps(manifest).encode())] + sorted(extra.items())
    try:
        _load_bytes(tmp_path, _zip(members), "fuzz.zip")
    except AkidaModelFileError:
        return
    raise AssertionError("a random archive was accepted")


# -- class names -----------------------------------------------------------------------------------
def test_class_names_round_trip_in_format_version_2(tmp_path):
    model, x = _prepared("dense_model")
    units = int(np.prod(model.output_shape))
    plain = tmp_path / "plain.akida"
    model.save(plain)
    assert json.loads(_members(plain.read_bytes())["manifest.json"])["format_version"] == 1
    model.class_names = [f"class {i}" for i in range(units)]
    named = tmp_path / "named.akida"
    model.save(named)
    manifest = json.loads(_members(named.read_bytes())["manifest.json"])
    assert manifest["format_version"] == 2 and len(manifest["class_names"]) == units
    reloaded = Model(named)
    assert reloaded.class_names == model.class_names
    assert Model(plain).class_names is None
    _assert_same_model(model, reloaded)


@pytest.mark.parametrize("names, error, match", [
    ("abc", TypeError, "list of strings"),
    (["a"], ValueError, "1 names but the model has"),
    ([""], TypeError, "non-empty strings"),
    ([1], TypeError, "non-empty strings"),
])
def test_class_names_are_checked(names, error, match):
    model, _ = _prepared("dense_model")
    with pytest.raises(error, match=match):
        model.class_names = names
    units = int(np.prod(model.output_shape))
    with pytest.raises(ValueError, match="unique"):
        model.class_names = ["same"] * units


def test_invalid_class_names_in_a_file_are_refused(tmp_path):
    model, _ = _prepared("dense_model")
    units = int(np.prod(model.output_shape))
    model.class_names = [str(i) for i in range(units)]
    path = tmp_path / "named.akida"
    model.save(path)
    members = _members(path.read_bytes())
    manifest = json.loads(members["manifest.json"])
    for bad, match in (([7] * units, "class_names must be a list of strings"),
                       (["a"] * units, "invalid class_names.*unique")):
        manifest["class_names"] = bad
        members["manifest.json"] = json.dumps(manifest).encode()
        with pytest.raises(AkidaModelFileError, match=match):
            _load_bytes(tmp_path, _zip(members.items()))
