"""The IDX reader and the shipped MNIST data."""
import gzip
import hashlib
import os

import numpy as np
import pytest

from cnn2snn_tfmot.data.datasets import (
    DEFAULT_MNIST_DIR,
    IdxFormatError,
    load_mnist,
    mnist_split,
    read_idx,
    stratified_split,
)


def test_shipped_files_are_the_reference_mnist_test_set():
    digests = {"t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
               "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"}
    for name, digest in digests.items():
        with open(os.path.join(DEFAULT_MNIST_DIR, name), "rb") as handle:
            assert hashlib.md5(handle.read()).hexdigest() == digest


def test_load_mnist():
    images, labels = load_mnist()
    assert images.shape == (10000, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the well-known first test digits
    (x_train, y_train), (x_test, y_test) = mnist_split()
    assert len(x_train) == 8000 and len(x_test) == 2000
    np.testing.assert_array_equal(x_test[0], images[8000])


def write(path, payload, compress=False):
    with (gzip.open if compress else open)(path, "wb") as handle:
        handle.write(payload)
    return str(path)


def idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def test_round_trip_of_each_type(tmp_path):
    for dtype, code in [(np.uint8, 0x08), (np.int8, 0x09), (">i2", 0x0B), (">i4", 0x0C),
                        (">f4", 0x0D), (">f8", 0x0E)]:
        array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
        got = read_idx(write(tmp_path / f"a{code}.gz", idx_bytes(array, code), compress=True))
        np.testing.assert_array_equal(got, array)
        assert got.dtype.isnative


@pytest.mark.parametrize("payload,match", [
    (b"", "bad magic"), (b"\x01\x00\x08\x01", "bad magic"), (b"\x00\x00\x07\x01", "type code"),
    (b"\x00\x00\x08\x02\x00\x00", "truncated header"),
    (idx_bytes(np.zeros(10, np.uint8))[:-1], "truncated"),
    (idx_bytes(np.zeros(10, np.uint8)) + b"\x00", "trailing bytes"),
    (b"\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff", "more than"),
])
def test_malformed_files_are_clear_errors(tmp_path, payload, match):
    with pytest.raises(IdxFormatError, match=match):
        read_idx(write(tmp_path / "bad.idx", payload))


def test_missing_directory_says_where_the_files_are(tmp_path):
    with pytest.raises(FileNotFoundError, match="cnn2snn_tfmot/data/mnist"):
        load_mnist(str(tmp_path))


def test_stratified_split_is_proportional_exact_and_seeded():
    labels = np.repeat([0, 1, 2], [50, 30, 20])
    train, held_out = stratified_split(labels, 10, seed=3)
    assert np.bincount(labels[held_out]).tolist() == [5, 3, 2]
    assert len(train) == 90 and not set(train) & set(held_out)
    assert sorted(np.concatenate([train, held_out]).tolist()) == list(range(100))
    assert np.array_equal(stratified_split(labels, 10, seed=3)[1], held_out)
    assert not np.array_equal(stratified_split(labels, 10, seed=4)[1], held_out)
    # Shares that do not divide evenly still add up to the count asked for.
    assert np.bincount(labels[stratified_split(labels, 7, seed=0)[1]]).tolist() == [4, 2, 1]
    for bad in (0, 100, True):
        with pytest.raises(ValueError, match="validation must be between 1 and 99"):
            stratified_split(labels, bad)
