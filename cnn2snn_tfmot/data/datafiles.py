"""Image datasets read from files as streams, for ``forward`` / ``predict`` / ``evaluate`` and
:func:`cnn2snn_tfmot.evaluate_sharded`.

:func:`open_dataset` reads, without loading a whole file in memory:

* the files of :func:`cnn2snn_tfmot.data.image_files.open_images` (the command line's reader, which
  owns their formats and rules): ``.npy`` images (memory-mapped, read batch by batch), ``.npz``
  archives (``images`` / ``x`` and ``labels`` / ``y``; each array is read whole when first used:
  prefer ``.npy`` for large sets), IDX files, folders of PNG / JPEG images (class sub-folders
  give labels; ``input_shape`` needed), with labels from a second file;
* TFRecord files (``.tfrecord``, ``.tfrecords``, a glob or a list of them) of
  ``tf.train.Example`` with an ``image`` feature (PNG, JPEG, BMP or GIF bytes) and, optionally,
  an integer ``label``.

Nothing is unpickled (``allow_pickle=False``) and nothing is cast silently: integer images must
lie in 0..255, float images are refused.

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
import warnings
from typing import Optional, Sequence, Union

from cnn2snn_tfmot.data.image_files import ImageSource, open_images
from cnn2snn_tfmot.tfkeras import tf

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


def _from_source(source: ImageSource):

    labels = source.labels

    def batches():
        start = 0
        for chunk in source.batches(BATCH):
            stop = start + chunk.shape[0]
            yield chunk if labels is None else (chunk, labels[start:stop])
            start = stop

    image_spec = tf.TensorSpec((None,) + tuple(source.input_shape), tf.uint8)
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
                 tfrecord_labels: bool = True,
                 input_shape: Optional[Sequence[int]] = None):
    """A ``tf.data.Dataset`` of uint8 images, or of (images, labels), read from files.

    Arguments:
        images: a ``.npy`` or ``.npz`` file, an IDX file, a folder of images, or TFRecord files
            (a path ending in ``.tfrecord`` / ``.tfrecords``, a glob, or a list of them); see
            the module docstring.
        labels: a labels file (``.npy``, ``.npz`` or IDX) for images read from arrays (None:
            no labels, or the ``labels`` / ``y`` array of an ``.npz``, or the class
            sub-folders of a folder).
        tfrecord_labels: whether TFRecord examples have a ``label`` feature.
        input_shape: (H, W, C) to resize the images to (TensorFlow, bilinear; a warning says
            so), needed for a folder; None keeps the arrays' own shape.

    Returns:
        A dataset of batches (N, H, W, C) for arrays and folders (or with labels (N,)), of
        single images (H, W, C) for TFRecords: ``Model.forward`` / ``predict`` / ``evaluate``
        and ``evaluate_sharded`` take it as it is.

    Raises:
        DataFileError: a missing or unreadable file, float images or integers beyond 0..255,
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
                                "`labels` applies to images read from arrays.")
        return _from_tfrecords(files, tfrecord_labels)
    if not isinstance(images, str):
        raise DataFileError(f"{images!r}: expected a .npy, .npz, IDX or TFRecord path or a "
                            "folder of images.")
    if not os.path.exists(images):
        raise DataFileError(f"{images}: no such file or folder.")
    if labels is not None and not os.path.isfile(os.fspath(labels)):
        raise DataFileError(f"{os.fspath(labels)}: no such labels file.")
    try:
        source = open_images(images, input_shape, labels)
        source.check_values()
    except ValueError as err:  # the reader's message names the file and the fix
        message = str(err)
        if "unknown image file" in message:
            message += f" open_dataset also reads TFRecord files ({', '.join(_TFRECORD_SUFFIXES)})."
        raise DataFileError(message) from None
    for note in source.notes:  # the images are changed: never silently
        warnings.warn(f"{images}: {note}.", UserWarning, stacklevel=2)
    return _from_source(source)
