"""Files that expand: every reader checks declared sizes against one set of caps first
(cnn2snn_tfmot.archives), tested with small bombs of each kind."""
import struct
import zipfile

import h5py
import numpy as np
import pytest

from cnn2snn_tfmot import load_quantized_model
from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.archives import (
    MAX_METADATA_BYTES,
    ArchiveLimitError,
    check_npy,
    check_tfrecord,
    check_zip,
)
from cnn2snn_tfmot.data.datafiles import DataFileError, open_dataset
from cnn2snn_tfmot.data.image_files import open_images, read_labels

from helpers import float_cnn


def _zeros_member(archive, name, size):
    """Streams ``size`` bytes of spaces into a deflated member: a few hundred KB on disk."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as stream:
        chunk = b" " * (1 << 20)
        for _ in range(size >> 20):
            stream.write(chunk)


@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "model.keras"
    float_cnn().save(str(path))
    return path


def _rewritten(source, target, replace):
    """A copy of the zip ``source`` whose members in ``replace`` (name -> size or bytes) are
    replaced (deflated)."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(
            target, "w", compression=zipfile.ZIP_DEFLATED) as copy:
        for info in original.infolist():
            if info.filename not in replace:
                copy.writestr(info, original.read(info))
        for name, value in replace.items():
            if isinstance(value, int):
                _zeros_member(copy, name, value)
            else:
                copy.writestr(name, value)
    return target


def test_a_keras_zip_bomb_is_refused_before_inflating(keras_file, tmp_path):
    size = MAX_METADATA_BYTES + (16 << 20)
    bomb = _rewritten(keras_file, tmp_path / "bomb.keras", {"config.json": size})
    assert bomb.stat().st_size < 1 << 20  # under a megabyte on disk
    with pytest.raises(ArchiveLimitError, match=r"bomb.keras: member 'config.json' declares "
                                                r"80.0 MiB, more than the 64.0 MiB"):
        load_quantized_model(str(bomb))


def test_a_keras_archive_whose_weights_are_not_hdf5_is_named(keras_file, tmp_path):
    broken = _rewritten(keras_file, tmp_path / "broken.keras",
                        {"model.weights.h5": b"not an HDF5 file"})
    with pytest.raises(ValueError, match=r"broken.keras: its weights member 'model.weights.h5' "
                                         r"is not an HDF5 file"):
        load_quantized_model(str(broken))


def test_an_h5_file_declaring_a_huge_dataset_is_refused(tmp_path):
    path = tmp_path / "huge.h5"
    model = float_cnn()
    model.save(str(path))
    with h5py.File(path, "a") as handle:  # a terabyte declared, nothing stored
        handle.create_dataset("model_weights/huge", shape=(1 << 38,), dtype="f4",
                              chunks=(1 << 16,), compression="gzip")
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ArchiveLimitError, match=r"huge.h5: dataset '/model_weights/huge' "
                                                r"\(shape \(274877906944,\)\) declares 1024.0 GiB"):
        load_quantized_model(str(path))


def test_an_akida_zip_bomb_is_refused(tmp_path):
    path = tmp_path / "bomb.akida"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _zeros_member(archive, "manifest.json", 2 << 20)
    with pytest.raises(ValueError, match="'manifest.json' declares 2.0 MiB"):
        Model(str(path))


def test_data_file_bombs_are_refused(tmp_path):
    npz = tmp_path / "bomb.npz"
    with zipfile.ZipFile(npz, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        _zeros_member(archive, "x.json", MAX_METADATA_BYTES + (1 << 20))
    assert npz.stat().st_size < 1 << 20
    with pytest.raises(ArchiveLimitError, match="bomb.npz: member 'x.json'"):
        check_zip(npz)
    with pytest.raises(DataFileError, match="bomb.npz: member 'x.json' declares 65.0 MiB"):
        open_dataset(str(npz))
    # an .npy header declaring far more than the file holds
    npy = tmp_path / "lie.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
    header["shape"] = (1 << 40,)
    with open(npy, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
    with pytest.raises(ArchiveLimitError, match=r"lie.npy: the array \(shape \(1099511627776,\)"):
        check_npy(npy)
    with pytest.raises(ValueError, match="lie.npy: the array"):
        read_labels(str(npy))
    header["shape"] = (1 << 20,)
    with open(npy, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
    with pytest.raises(ValueError, match="lie.npy: declares an array .* truncated"):
        open_images(str(npy), None)
    # a TFRecord whose record declares a terabyte
    record = tmp_path / "huge.tfrecord"
    record.write_bytes(struct.pack("<Q", 1 << 40) + b"\0" * 8)
    with pytest.raises(ArchiveLimitError, match="huge.tfrecord: record 0 declares"):
        check_tfrecord(record)
    with pytest.raises(DataFileError, match="huge.tfrecord: record 0 declares 1024.0 GiB"):
        open_dataset(str(record))


def test_keras3_h5_files_are_checked_too(tmp_path):
    path = tmp_path / "k3.h5"
    with h5py.File(path, "w") as handle:
        handle.attrs["keras_version"] = "3.0.0"
        handle.attrs["model_config"] = "{}"
        handle.create_dataset("w", shape=(1 << 38,), dtype="f4", chunks=(1 << 16,),
                              compression="gzip")
    with pytest.raises(ArchiveLimitError, match="k3.h5: dataset '/w'"):
        load_quantized_model(str(path))
