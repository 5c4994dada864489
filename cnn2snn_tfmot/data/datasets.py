"""The MNIST test set shipped inside the package (cnn2snn_tfmot/data/mnist), and a small,
strict IDX reader. Nothing is downloaded.

The IDX format (http://yann.lecun.com/exdb/mnist/) is a 4-byte magic number (two zero bytes,
a type code, the number of dimensions), big-endian uint32 dimensions, then the values. The
reader checks every field and the exact size, so a truncated or foreign file is a clear error.
"""
from __future__ import annotations

import gzip
import math
import os
from typing import Sequence, Tuple

import numpy as np

__all__ = ["IdxFormatError", "read_idx", "load_mnist", "mnist_split", "stratified_split",
           "DEFAULT_MNIST_DIR"]

#: Where the package ships the MNIST test set (package data: present in a wheel too).
DEFAULT_MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mnist")
_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_MAX_BYTES = 1 << 30  # far above MNIST; refuses absurd headers before reading


class IdxFormatError(ValueError):
    """An IDX file is malformed; the message names the file and the problem."""


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (optionally gzip-compressed, by a .gz suffix) into a numpy array.

    Arguments:
        path: the file's path.

    Returns:
        The array, with the file's shape and dtype (multi-byte types in native byte order).

    Raises:
        IdxFormatError: bad magic number, unknown type, or a size that does not match.

    Example:
        >>> from cnn2snn_tfmot.data.datasets import DEFAULT_MNIST_DIR, os, read_idx
        >>> read_idx(os.path.join(DEFAULT_MNIST_DIR, "t10k-labels-idx1-ubyte.gz")).shape
        (10000,)
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(4)
            if len(header) != 4 or header[0] != 0 or header[1] != 0:
                raise IdxFormatError(f"{path}: not an IDX file (bad magic number "
                                     f"{header.hex() or 'empty'}).")
            if header[2] not in _TYPES:
                raise IdxFormatError(f"{path}: unknown IDX type code 0x{header[2]:02x}; known: "
                                     + ", ".join(f"0x{code:02x}" for code in _TYPES) + ".")
            dtype, rank = _TYPES[header[2]], header[3]
            raw_shape = handle.read(4 * rank)
            if len(raw_shape) != 4 * rank:
                raise IdxFormatError(f"{path}: truncated header ({rank} dimensions declared).")
            shape = tuple(int(d) for d in np.frombuffer(raw_shape, ">u4"))
            size = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
            if size > _MAX_BYTES:
                raise IdxFormatError(f"{path}: declares {size} bytes of data, more than the "
                                     f"{_MAX_BYTES} this reader accepts.")
            data = handle.read(size + 1)
    except (OSError, EOFError) as err:
        raise IdxFormatError(f"{path}: cannot be read ({err}).") from err
    if len(data) < size:
        raise IdxFormatError(f"{path}: truncated: {len(data)} bytes of data, shape {shape} "
                             f"needs {size}.")
    if len(data) > size:
        raise IdxFormatError(f"{path}: trailing bytes after the {size} that shape {shape} "
                             "needs.")
    return np.frombuffer(data, dtype).astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def load_mnist(directory: str = DEFAULT_MNIST_DIR) -> Tuple[np.ndarray, np.ndarray]:
    """Loads the MNIST test set: 10,000 images (uint8, (N, 28, 28, 1)) and labels (uint8).

    Arguments:
        directory: where t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz are
            (default: the copy shipped in the package, DEFAULT_MNIST_DIR).

    Returns:
        ``(images, labels)``.

    Example:
        >>> from cnn2snn_tfmot.data.datasets import load_mnist
        >>> images, labels = load_mnist()
    """
    paths = [os.path.join(directory, name) for name in
             ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")]
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"MNIST file {path} not found; pass the directory that holds "
                                    "the two t10k IDX files (the package ships them in "
                                    f"{DEFAULT_MNIST_DIR}).")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise IdxFormatError(f"{directory}: expected images (N, 28, 28) and labels (N,), got "
                             f"{images.shape} and {labels.shape}.")
    return images[..., np.newaxis], labels


def mnist_split(directory: str = DEFAULT_MNIST_DIR, train: int = 8000):
    """The split every example uses: the first ``train`` images to train, the rest to test.

    Arguments:
        directory: see :func:`load_mnist`.
        train: the number of training images (default 8,000, leaving 2,000 to test).

    Returns:
        ``(x_train, y_train), (x_test, y_test)`` with uint8 images of shape (N, 28, 28, 1).

    Example:
        >>> from cnn2snn_tfmot.data.datasets import mnist_split
        >>> (x_train, y_train), (x_test, y_test) = mnist_split()
    """
    images, labels = load_mnist(directory)
    return (images[:train], labels[:train]), (images[train:], labels[train:])


def stratified_split(labels: Sequence[int], validation: int, seed: int = 0
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Splits sample indices into training and validation, each class in proportion.

    Each class gives ``validation * class_count / total`` samples, rounded so that exactly
    ``validation`` are drawn (the largest remainders get the extra ones), chosen by a numpy
    generator seeded with ``seed``: the same labels and seed give the same split everywhere.

    Arguments:
        labels: the class label of each sample.
        validation: how many samples to hold out, 1 .. len(labels) - 1.
        seed: the seed of the draw.

    Returns:
        ``(train_indices, validation_indices)``, sorted int64 arrays.

    Raises:
        ValueError: ``validation`` out of range.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.datasets import stratified_split
        >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
        >>> train, held_out = stratified_split(labels, 4, seed=0)
        >>> len(train), np.bincount(labels[held_out]).tolist()
        (4, [2, 2])
    """
    labels = np.asarray(labels)
    total = len(labels)
    if isinstance(validation, bool) or not 0 < int(validation) < total:
        raise ValueError(f"validation must be between 1 and {total - 1} (the samples minus "
                         f"one), got {validation!r}.")
    classes, counts = np.unique(labels, return_counts=True)
    exact = validation * counts / total
    taken = np.floor(exact).astype(int)
    # Largest remainders first, so that the classes' shares add up to `validation`.
    for index in np.argsort(-(exact - taken), kind="stable")[:validation - taken.sum()]:
        taken[index] += 1
    rng = np.random.default_rng(seed)
    held_out = [rng.permutation(np.flatnonzero(labels == c))[:n] for c, n in zip(classes, taken)]
    held_out = np.sort(np.concatenate(held_out)).astype(np.int64)
    train = np.setdiff1d(np.arange(total, dtype=np.int64), held_out)
    return train, held_out
