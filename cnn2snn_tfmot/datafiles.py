"""Image datasets read from files as streams, for ``forward`` / ``predict`` / ``evaluate``, the
command line and :func:`cnn2snn_tfmot.evaluate_sharded`.

:func:`open_dataset` reads, without loading a whole file in memory:

* ``.npy``: uint8 images (N, H, W, C), memory-mapped, read batch by batch; labels from a second
  ``.npy`` file (integers, (N,)), memory-mapped too;
* ``.npz``: arrays ``images`` (or ``x``) and, optionally, ``labels`` (or ``y``) (each array of
  an ``.npz`` is read whole when first used: prefer ``.npy`` for large sets);
* TFRecord files (``.tfrecord``, ``.tfrecords``, a glob or a list of them) of
  ``tf.train.Example`` with an ``image`` feature (PNG, JPEG, BMP or GIF bytes) and, optionally,
  an integer ``label``.

Nothing is unpickled (``allow_pickle=False``) and nothing is cast: images must be uint8.

Example:
    >>> np.save("images.npy", images)
    >>> np.save("labels.npy", labels)
    >>> stream = open_dataset("images.npy", labels="labels.npy")
    >>> akida_model.evaluate(stream) == akida_model.evaluate(images, labels)
    True
"""
from __future__ import annotations

import glob
import os
from typing import Optional, Sequence, Union

import numpy as np

__all__ = ["open_dataset", "DataFileError", "BATCH"]

#: Images per element of the datasets read from arrays (the memory held at a time).
BATCH = 1024
_TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")


class DataFileError(ValueError):
    """A data file cannot be read as images (and labels); the message names it and the fix.

    Example:
        >>> try:
        ...     open_dataset("images.csv")
        ... except DataFileError as err:
        ...     print(str(err).split(":")[0])
        images.csv
    """


def _array(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise DataFileError(f"{path}: cannot read {what} ({err}).") from None


def _check(images: np.ndarray, labels: Optional[np.ndarray], path: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 4:
        raise DataFileError(f"{path}: images must be a uint8 array (N, H, W, C), got "
                            f"{images.dtype} {images.shape}; convert them explicitly (values "
                            "are never cast silently).")
    if labels is not None and (labels.dtype.kind not in "iu" or
                               labels.shape != images.shape[:1]):
        raise DataFileError(f"{path}: labels must be integers of shape ({images.shape[0]},), "
                            f"got {labels.dtype} {labels.shape}.")


def _from_arrays(images: np.ndarray, labels: Optional[np.ndarray]):
    from cnn2snn_tfmot.tfkeras import tf

    def batches():
        for start in range(0, images.shape[0], BATCH):
            chunk = np.asarray(images[start:start + BATCH])
            if labels is None:
                yield chunk
            else:
                yield chunk, np.asarray(labels[start:start + BATCH]).astype(np.int64)

    image_spec = tf.TensorSpec((None,) + tuple(images.shape[1:]), tf.uint8)
    signature = image_spec if labels is None else (image_spec, tf.TensorSpec((None,), tf.int64))
    return tf.data.Dataset.from_generator(batches, output_signature=signature)


def _tfrecord_files(images: Union[str, Sequence[str]]) -> Optional[list]:
    candidates = [images] if isinstance(images, str) else list(images)
    if not all(isinstance(c, str) and (c.endswith(_TFRECORD_SUFFIXES) or glob.has_magic(c))
               for c in candidates):
        return None
    files = sorted(f for c in candidates for f in (glob.glob(c) if glob.has_magic(c) else [c]))
    missing = [f for f in files if not os.path.isfile(f)]
    if not files or missing:
        raise DataFileError(f"{images}: no such TFRecord file{'s' if len(missing) > 1 else ''}"
                            f" {missing or ''}".rstrip() + ".")
    return files


def _from_tfrecords(files: list, has_labels: bool):
    from cnn2snn_tfmot.tfkeras import tf

    features = {"image": tf.io.FixedLenFeature([], tf.string)}
    if has_labels:
        features["label"] = tf.io.FixedLenFeature([], tf.int64)

    def parse(record):
        example = tf.io.parse_single_example(record, features)
        image = tf.io.decode_image(example["image"], expand_animations=False, dtype=tf.uint8)
        return (image, example["label"]) if has_labels else image

    return tf.data.TFRecordDataset(files).map(parse)


def open_dataset(images: Union[str, os.PathLike, Sequence[str]],
                 labels: Optional[Union[str, os.PathLike]] = None,
                 tfrecord_labels: bool = True):
    """A ``tf.data.Dataset`` of uint8 images, or of (images, labels), read from files.

    Arguments:
        images: a ``.npy`` or ``.npz`` file, or TFRecord files (a path ending in ``.tfrecord``
            / ``.tfrecords``, a glob, or a list of them); see the module docstring.
        labels: a ``.npy`` file of integer labels for ``.npy`` images (None: no labels, or
            the ``labels`` / ``y`` array of an ``.npz``).
        tfrecord_labels: whether TFRecord examples have a ``label`` feature.

    Returns:
        A dataset of batches (N, H, W, C) for arrays (or with labels (N,)), of single images
        (H, W, C) for TFRecords: ``Model.forward`` / ``predict`` / ``evaluate`` and
        ``evaluate_sharded`` take it as it is.

    Raises:
        DataFileError: a missing or unreadable file, images that are not uint8 (N, H, W, C),
            labels of the wrong type or count, an unknown file type.

    Example:
        >>> np.savez("test_set.npz", images=images, labels=labels)
        >>> akida_model.predict(open_dataset("test_set.npz")).shape
        (32, 1, 1, 10)
    """
    if isinstance(images, os.PathLike):
        images = os.fspath(images)
    files = _tfrecord_files(images)
    if files is not None:
        if labels is not None:
            raise DataFileError("TFRecord files carry their labels (a 'label' feature): "
                                "`labels` applies to .npy images.")
        return _from_tfrecords(files, tfrecord_labels)
    if not isinstance(images, str):
        raise DataFileError(f"{images!r}: expected a .npy, .npz or TFRecord path.")
    if not os.path.isfile(images):
        raise DataFileError(f"{images}: no such file.")
    if images.endswith(".npz"):
        if labels is not None:
            raise DataFileError(f"{images}: an .npz file carries its labels (array 'labels' "
                                "or 'y'); `labels` applies to .npy images.")
        try:
            archive = np.load(images, allow_pickle=False)
        except (ValueError, OSError) as err:
            raise DataFileError(f"{images}: cannot read it ({err}).") from None
        names = [name for name in ("images", "x") if name in archive.files]
        if not names:
            raise DataFileError(f"{images}: no 'images' (or 'x') array; it has "
                                f"{archive.files}.")
        label_names = [name for name in ("labels", "y") if name in archive.files]
        array = archive[names[0]]
        label_array = archive[label_names[0]] if label_names else None
        _check(array, label_array, images)
        return _from_arrays(array, label_array)
    if images.endswith(".npy"):
        array = _array(images, "images")
        label_array = None
        if labels is not None:
            labels = os.fspath(labels)
            if not os.path.isfile(labels):
                raise DataFileError(f"{labels}: no such file.")
            label_array = _array(labels, "labels")
        _check(array, label_array, images)
        return _from_arrays(array, label_array)
    raise DataFileError(f"{images}: unknown file type; images are read from .npy, .npz or "
                        f"TFRecord ({', '.join(_TFRECORD_SUFFIXES)}) files.")
