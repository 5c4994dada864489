"""Image datasets read from files as streams, for ``forward`` / ``predict`` / ``evaluate`` and
:func:`cnn2snn_tfmot.evaluate_sharded`.

:func:`open_dataset` reads, without loading a whole file in memory:

* the files of :func:`cnn2snn_tfmot.data.image_files.open_images` (the command line's reader, which
  owns their formats and rules): ``.npy`` images (memory-mapped, read batch by batch), ``.npz``
  archives (``images`` / ``x`` and ``labels`` / ``y``; each array is read whole when first used:
  prefer ``.npy`` for large sets), IDX files, folders of BMP / GIF / JPEG / PNG images (class
  sub-folders give labels, as ``keras.utils.image_dataset_from_directory`` gives them;
  ``input_shape`` needed), with labels from a second file;
* TFRecord files (``.tfrecord``, ``.tfrecords``, a glob or a list of them) of
  ``tf.train.Example`` with an ``image`` feature (PNG, JPEG, BMP or GIF bytes) and, optionally,
  an integer ``label``.

Nothing is unpickled (``allow_pickle=False``) and nothing is cast silently: integer images must
lie in 0..255, float images are refused, labels are integer class indices in every source (float
labels refused, one-hot labels converted with a warning). Declared sizes are checked against the
caps of :mod:`cnn2snn_tfmot.archives` before anything is read.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.data.datafiles import open_dataset
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
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

import numpy as np

from cnn2snn_tfmot.archives import ArchiveLimitError, check_tfrecord
from cnn2snn_tfmot.data.image_files import ImageSource, file_labels, open_images
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["open_dataset", "DataFileError", "BATCH"]

#: Images per element of the datasets read from arrays (the memory held at a time).
BATCH = 1024
_TFRECORD_SUFFIXES = (".tfrecord", ".tfrecords")


class DataFileError(ValueError):
    """A data file cannot be read as images (and labels); the message names it and the fix.

    Example:
        >>> from cnn2snn_tfmot.data.datafiles import DataFileError, open_dataset
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


_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8", b"GIF8", b"BM")


def _first_example(files: list):
    """The first example of the first non-empty file, and that file (None if all are empty)."""
    for file in files:
        for record in tf.data.TFRecordDataset(file).take(1):
            example = tf.train.Example()
            try:
                example.ParseFromString(record.numpy())
            except Exception as err:  # protobuf's DecodeError: no common base to name
                raise DataFileError(f"{file}: its records are not tf.train.Example messages "
                                    f"({type(err).__name__}).") from None
            return example, file
    return None, None


def _label_rule(example, file: str, has_labels: bool) -> int:
    """The number of values of the ``label`` feature (1, or K for one-hot), after the label
    rules of :func:`cnn2snn_tfmot.data.image_files.file_labels`."""
    features = example.features.feature
    if "image" not in features or not features["image"].bytes_list.value:
        raise DataFileError(f"{file}: its examples have no 'image' feature of encoded image "
                            f"bytes (features: {sorted(features)}).")
    if not has_labels:
        return 0
    if "label" not in features:
        raise DataFileError(f"{file}: its examples have no 'label' feature (features: "
                            f"{sorted(features)}); pass tfrecord_labels=False for images only.")
    label = features["label"]
    if label.float_list.value:
        values = np.asarray(label.float_list.value)
        try:
            file_labels(values[None] if values.size > 1 else values, file)
        except ValueError as err:
            raise DataFileError(f"{err} (the 'label' feature holds floats)") from None
    if not label.int64_list.value:
        raise DataFileError(f"{file}: its 'label' feature is empty or not an int64 list; "
                            "labels are integer class indices.")
    return len(label.int64_list.value)


def _from_tfrecords(files: list, has_labels: bool, input_shape):
    for file in files:
        check_tfrecord(file)  # declared record sizes, before anything is read
    example, first = _first_example(files)
    if example is None:
        raise DataFileError(f"{files}: the TFRecord files hold no record.")
    width = _label_rule(example, first, has_labels)
    first_image = tf.io.decode_image(example.features.feature["image"].bytes_list.value[0],
                                     expand_animations=False)
    expected = tuple(int(d) for d in first_image.shape) if input_shape is None \
        else tuple(int(d) for d in input_shape)
    if width > 1:
        warnings.warn(f"{first}: one-hot labels ({width} classes) converted to class indices "
                      "(argmax).", UserWarning, stacklevel=3)
    if input_shape is not None and tuple(first_image.shape) != expected:
        warnings.warn(f"{first}: TFRecord images of another size or channels than "
                      f"input_shape {expected} are resized with TensorFlow (bilinear) and "
                      f"converted (the first is {tuple(first_image.shape)}).", UserWarning,
                      stacklevel=3)
    features = {"image": tf.io.FixedLenFeature([], tf.string)}
    if has_labels:
        features["label"] = tf.io.FixedLenFeature([width], tf.int64)

    def checked(condition, file, message):
        text = tf.strings.join([file, ": ", message])
        return tf.debugging.Assert(condition, [text])

    def parse(record, file):
        example = tf.io.parse_single_example(record, features)
        data = example["image"]
        known = tf.reduce_any([tf.strings.substr(data, 0, len(m)) == m for m in _IMAGE_MAGIC])
        with tf.control_dependencies([checked(known, file, "an example's 'image' is not a "
                                              "PNG, JPEG, BMP or GIF image")]):
            image = tf.io.decode_image(data, channels=expected[-1] if input_shape else 0,
                                       expand_animations=False, dtype=tf.uint8)
        if input_shape is not None:
            resized = tf.image.resize(tf.cast(image, tf.float32), expected[:2])
            image = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
            image = tf.ensure_shape(image, expected)
        else:
            same = tf.reduce_all(tf.shape(image) == tf.constant(expected, tf.int32))
            with tf.control_dependencies([checked(same, file, tf.strings.format(
                    "an image has shape {}, the first {}: pass input_shape to resize them",
                    (tf.shape(image), list(expected))))]):
                image = tf.ensure_shape(tf.identity(image), expected)
        if not has_labels:
            return image
        label = example["label"]
        if width > 1:
            one_hot = tf.reduce_all((label == 0) | (label == 1)) & \
                (tf.reduce_sum(label) == 1)
            with tf.control_dependencies([checked(one_hot, file, "a 'label' is neither a "
                                                  "class index nor one-hot")]):
                return image, tf.argmax(label, output_type=tf.int64)
        return image, label[0]

    names = tf.data.Dataset.from_tensor_slices(files)
    return names.flat_map(
        lambda file: tf.data.TFRecordDataset(file).map(lambda record: (record, file))
    ).map(parse)


def open_dataset(images: Union[str, os.PathLike, Sequence[str]],
                 labels: Optional[Union[str, os.PathLike]] = None,
                 tfrecord_labels: bool = True,
                 input_shape: Optional[Sequence[int]] = None):
    """A ``tf.data.Dataset`` of uint8 images, or of (images, labels), read from files.

    What changes the images (resizing, grey <-> RGB) is announced with a ``UserWarning`` when
    the dataset is opened, with counts for arrays and folders; a file that cannot be read is an
    error then, or, for a problem only found while streaming (a corrupt image inside a
    TFRecord), one ``ValueError`` naming the file when the stream reaches it (from
    ``forward`` / ``predict`` / ``evaluate``).

    Arguments:
        images: a ``.npy`` or ``.npz`` file, an IDX file, a folder of images, or TFRecord files
            (a path ending in ``.tfrecord`` / ``.tfrecords``, a glob, or a list of them); see
            the module docstring.
        labels: a labels file (``.npy``, ``.npz`` or IDX) for images read from arrays (None:
            no labels, or the ``labels`` / ``y`` array of an ``.npz``, or the class
            sub-folders of a folder). Labels are integer class indices everywhere: float
            labels are refused, one-hot labels converted (with a warning).
        tfrecord_labels: whether TFRecord examples have a ``label`` feature.
        input_shape: (H, W, C) to resize the images to (TensorFlow, bilinear; a warning says
            so), needed for a folder; None keeps the images' own shape (TFRecord images must
            then all have the first one's).

    Returns:
        A dataset of batches (N, H, W, C) for arrays and folders (or with labels (N,)), of
        single images (H, W, C) for TFRecords: ``Model.forward`` / ``predict`` / ``evaluate``
        and ``evaluate_sharded`` take it as it is.

    Raises:
        TypeError: ``images`` or ``labels`` of the wrong type (naming it and the valid ones).
        DataFileError: a missing or unreadable file, float images or integers beyond 0..255,
            labels of the wrong type or count, an unknown file type, sizes beyond the caps of
            :mod:`cnn2snn_tfmot.archives`.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.datafiles import open_dataset
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> np.savez("test_set.npz", images=images, labels=labels)
        >>> akida_model.predict(open_dataset("test_set.npz")).shape
        (32, 1, 1, 10)
    """
    if isinstance(images, os.PathLike):
        images = os.fspath(images)
    if isinstance(images, (list, tuple)):
        images = [os.fspath(item) if isinstance(item, os.PathLike) else item for item in images]
    valid = (isinstance(images, str) and images != "") or (
        isinstance(images, list) and images and all(isinstance(item, str) and item
                                                    for item in images))
    if not valid:
        raise TypeError(f"open_dataset: `images` must be a path (str or os.PathLike) to a .npy, "
                        f".npz, IDX or TFRecord file or a folder of images, or a non-empty "
                        f"list of TFRecord paths; got {type(images).__name__} {images!r:.60}.")
    if labels is not None and not isinstance(labels, (str, os.PathLike)):
        raise TypeError(f"open_dataset: `labels` must be a path (str or os.PathLike) to a "
                        f".npy, .npz or IDX file, or None; got {type(labels).__name__}.")
    if not isinstance(tfrecord_labels, bool):
        raise TypeError(f"open_dataset: `tfrecord_labels` must be True or False; got "
                        f"{tfrecord_labels!r}.")
    files = _tfrecord_files(images)
    if files is not None:
        if labels is not None:
            raise DataFileError("TFRecord files carry their labels (a 'label' feature): "
                                "`labels` applies to images read from arrays.")
        try:
            return _from_tfrecords(files, tfrecord_labels, _checked_shape(input_shape))
        except (ArchiveLimitError, tf.errors.OpError) as err:
            raise DataFileError(str(err).splitlines()[0]) from None
        except ValueError as err:
            if isinstance(err, DataFileError):
                raise
            raise DataFileError(f"{files}: {err}") from None
    if not isinstance(images, str):
        raise DataFileError(f"{images!r}: a list is read as TFRecord files; give one .npy, "
                            ".npz, IDX file or folder as a single path.")
    if not os.path.exists(images):
        raise DataFileError(f"{images}: no such file or folder.")
    if labels is not None and not os.path.isfile(os.fspath(labels)):
        raise DataFileError(f"{os.fspath(labels)}: no such labels file.")
    try:
        source = open_images(images, _checked_shape(input_shape), labels)
        source.check_values()
    except ValueError as err:  # the reader's message names the file and the fix
        message = str(err)
        if "unknown image file" in message:
            message += f" open_dataset also reads TFRecord files ({', '.join(_TFRECORD_SUFFIXES)})."
        raise DataFileError(message) from None
    for note in source.notes:  # the images are changed: never silently
        warnings.warn(f"{images}: {note}.", UserWarning, stacklevel=2)
    return _from_source(source)


def _checked_shape(input_shape) -> Optional[tuple]:
    if input_shape is None:
        return None
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = ()
    if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                                  and d > 0 for d in shape):
        raise DataFileError(f"open_dataset: `input_shape` must be (H, W, C) with positive "
                            f"integers, or None; got {input_shape!r}.")
    return tuple(int(d) for d in shape)
