"""What an Akida model's ``forward``, ``predict`` and ``evaluate`` take, as one stream of batches.

Inputs are uint8 images (N, H, W, C), never cast. They may come as:

* a numpy array (or an eager uint8 ``tf.Tensor``), cut into ``batch_size`` slices;
* a ``tf.data.Dataset`` of images or of ``(images, labels)``: unbatched elements are batched by
  ``batch_size``, batched ones are used as they come;
* any other iterable of batches (a list, a generator, a Keras ``Sequence``...), each an array of
  images or an ``(images, labels)`` pair.

Only one batch is held at a time, so a stream of any length is evaluated in bounded memory.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida.inputs import batches
    >>> stream = batches(np.zeros((5, 2, 2, 1), np.uint8), batch_size=2, input_shape=(2, 2, 1))
    >>> [images.shape[0] for images, _ in stream]
    [2, 2, 1]
"""
from __future__ import annotations

import numbers
import re
from typing import Iterable, Iterator, Optional, Tuple

import numpy as np

__all__ = ["batches", "is_array", "sample_count", "dataset_layout", "stream_error_message"]

Batch = Tuple[np.ndarray, Optional[np.ndarray]]


def is_array(x) -> bool:
    """Whether ``x`` is held in memory (a numpy array or an eager tensor), not a stream.

    Arguments:
        x: the input given to ``forward``, ``predict`` or ``evaluate``.

    Returns:
        True for numpy arrays and eager tensors.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida.inputs import is_array
        >>> is_array(np.zeros((1, 2, 2, 1), np.uint8)), is_array(iter([]))
        (True, False)
    """
    return isinstance(x, np.ndarray) or (hasattr(x, "numpy") and hasattr(x, "shape")
                                         and not _is_dataset(x))


def sample_count(x) -> Optional[int]:
    """The number of samples of an in-memory input, None for a stream.

    Arguments:
        x: the input.

    Returns:
        ``x.shape[0]`` for arrays, else None.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida.inputs import sample_count
        >>> sample_count(np.zeros((3, 2, 2, 1), np.uint8))
        3
    """
    if is_array(x):
        shape = getattr(x, "shape", ())
        return int(shape[0]) if len(shape) else None
    return None


def _is_dataset(x) -> bool:
    # Without importing TensorFlow: a tf.data.Dataset is a DatasetV2 subclass.
    return any(cls.__name__ == "DatasetV2" and cls.__module__.startswith("tensorflow")
               for cls in type(x).__mro__)


def _as_numpy(value, what: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if hasattr(value, "numpy"):  # an eager tensor: same values, no cast
        return value.numpy()
    raise TypeError(f"{what} must be a uint8 numpy array or tensor of images (N, H, W, C), got "
                    f"{type(value).__name__}.")


def check_images(images, input_shape, input_bits: Optional[int] = None,
                 what: str = "x") -> np.ndarray:
    """Returns ``images`` as a uint8 numpy array after checking dtype, shape and value range.

    Arguments:
        images: a batch of images (numpy array or eager tensor).
        input_shape: the model's (H, W, C).
        input_bits: the InputData layer's input bits (values must be below ``2**bits``), or None
            for image models (any uint8).
        what: how messages name the input.

    Returns:
        The uint8 numpy array (never a cast copy).

    Raises:
        TypeError: not uint8 (values are never cast silently).
        ValueError: wrong shape, or values beyond ``2**input_bits - 1``.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida.inputs import check_images
        >>> check_images(np.zeros((2, 4, 4, 1), np.uint8), (4, 4, 1)).shape
        (2, 4, 4, 1)
    """
    expected = f"a uint8 numpy array of shape (N, {', '.join(map(str, input_shape))})"
    array = _as_numpy(images, what)
    if array.dtype != np.uint8:
        raise TypeError(f"{what} must be {expected}, got dtype {array.dtype}. Akida inputs are "
                        f"unsigned 8-bit integers and are never cast silently: quantize the data "
                        f"explicitly (e.g. images in 0..255 with x.astype(np.uint8)).")
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(input_shape):
        hint = " (for one sample, use x[None])" if tuple(array.shape) == tuple(input_shape) \
            else ""
        raise ValueError(f"{what} must be {expected}, got shape {array.shape}{hint}.")
    if input_bits is not None and array.size:
        high = 2 ** input_bits - 1
        found = int(array.max())
        if found > high:
            raise ValueError(f"{what} has values up to {found} but the model's InputData layer "
                             f"has input_bits={input_bits}: inputs must be in [0, {high}].")
    return array


def _check_labels(labels, count: int, what: str) -> np.ndarray:
    array = _as_numpy(labels, what)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integer class labels, got dtype {array.dtype}.")
    if array.shape != (count,):
        raise ValueError(f"{what} must have shape ({count},) (one label per image), got "
                         f"{array.shape}.")
    return array


def _split(item, index: int) -> Tuple[object, Optional[object]]:
    if isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise ValueError(f"batch {index} has {len(item)} parts; a batch is images or an "
                             "(images, labels) pair.")
        return item[0], item[1]
    if isinstance(item, dict):
        raise TypeError(f"batch {index} is a dict; a batch is images or an (images, labels) "
                        "pair (map a dataset of dicts with .map(lambda d: (d['image'], "
                        "d['label'])) first).")
    return item, None


def dataset_layout(dataset) -> Tuple[bool, bool]:
    """Checks a ``tf.data.Dataset`` of images or (images, labels) and says how it is laid out.

    Arguments:
        dataset: the dataset.

    Returns:
        ``(has_labels, batched)``: whether elements are (images, labels) pairs, and whether
        they are batches (N, H, W, C) rather than single images (H, W, C) (True when the rank
        is unknown: each batch is checked as it comes).

    Raises:
        TypeError / ValueError: elements that are not uint8 images (never cast silently) or
            (images, labels) pairs.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida.inputs import dataset_layout
        >>> import tensorflow as tf
        >>> dataset_layout(tf.data.Dataset.from_tensor_slices(np.zeros((4, 2, 2, 1), np.uint8)))
        (False, False)
    """
    spec = dataset.element_spec
    images_spec = spec[0] if isinstance(spec, tuple) else spec
    if isinstance(spec, tuple) and len(spec) != 2:
        raise ValueError(f"the dataset's elements have {len(spec)} parts; they must be images "
                         "or (images, labels).")
    if not hasattr(images_spec, "dtype"):
        raise TypeError(f"the dataset's elements must be image tensors or (images, labels) "
                        f"pairs, got {spec}.")
    if images_spec.dtype.name != "uint8":
        raise TypeError(f"the dataset yields {images_spec.dtype.name} images; Akida inputs are "
                        "uint8 and are never cast silently: add .map(...) with an explicit "
                        "conversion to uint8.")
    if isinstance(spec, tuple) and not (hasattr(spec[1], "dtype") and spec[1].dtype.is_integer):
        raise TypeError(f"the dataset's labels must be integer class labels, got {spec[1]}.")
    if images_spec.shape.rank not in (None, 3, 4):
        raise ValueError(f"the dataset's images have shape {images_spec.shape}; they must be "
                         "(H, W, C) images or (N, H, W, C) batches.")
    return isinstance(spec, tuple), images_spec.shape.rank != 3  # unknown: checked per batch


def stream_error_message(err: BaseException) -> str:
    """The one line that says what went wrong inside a ``tf.data`` pipeline.

    TensorFlow reports an error raised while a dataset is read (a Python exception in a
    generator, a failed assertion, an image that does not decode) as its own error, with the
    Python traceback inside the message; this is the original message (which names the file,
    for the package's readers).

    Arguments:
        err: the error raised by the iterator.

    Returns:
        One line.

    Example:
        >>> from cnn2snn_tfmot.akida.inputs import stream_error_message
        >>> stream_error_message(ValueError("{{function_node x}} ValueError: a.png: corrupt"
        ...                                 "\\nTraceback ...\\nValueError: a.png: corrupt"))
        'a.png: corrupt'
    """
    lines = [line.strip() for line in str(err).replace("\\n", "\n").splitlines()
             if line.strip()]
    for line in reversed(lines):  # a Python exception raised while reading: its own message
        found = re.match(r"^(?:[A-Za-z_][\w.]*)?(?:Error|Exception): (.+)$", line)
        if found:
            return found.group(1)
    first = lines[0] if lines else type(err).__name__
    first = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", first)
    asserted = re.search(r"assertion failed: \[(.*)\]", first)
    if asserted:
        return asserted.group(1).replace('\\"', '"')
    first = re.sub(r"^Error in user-defined function passed to .*?: ", "", first)
    return re.sub(r"\s*\[Op:\w+\].*$", "", first)


def _is_tensorflow_error(err: BaseException) -> bool:
    return type(err).__module__.startswith("tensorflow")


def _dataset_batches(dataset, batch_size: int) -> Iterable:
    if not dataset_layout(dataset)[1]:  # unbatched elements
        dataset = dataset.batch(batch_size)
    iterator = dataset.as_numpy_iterator()
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as err:  # TensorFlow's, wrapping the reader's: re-raised once, plain
            if not _is_tensorflow_error(err):
                raise
            raise ValueError(f"reading the dataset failed: {stream_error_message(err)}"
                             ) from None
        yield item


def batches(x, batch_size: int, input_shape, input_bits: Optional[int] = None,
            y=None) -> Iterator[Batch]:
    """Yields ``(images, labels)`` uint8 batches from any supported input, one at a time.

    Arguments:
        x: images: a numpy array or eager tensor (N, H, W, C), a ``tf.data.Dataset`` of images
            or of (images, labels), or an iterable of batches (arrays or (images, labels)).
        batch_size: samples per batch for arrays and unbatched datasets.
        input_shape: the model's (H, W, C).
        input_bits: the InputData layer's input bits, or None for image models.
        y: labels (N,) for an in-memory ``x``; None otherwise.

    Returns:
        An iterator of ``(images, labels)``; ``labels`` is None when there are none.

    Raises:
        TypeError / ValueError: a batch of the wrong dtype, shape or range, or ``y`` given with
            a stream (name the batch and the expected values).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida.inputs import batches
        >>> images = np.zeros((3, 2, 2, 1), np.uint8)
        >>> [(b.shape[0], l.tolist()) for b, l in batches(images, 2, (2, 2, 1), y=np.arange(3))]
        [(2, [0, 1]), (1, [2])]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
            or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if is_array(x):
        images = check_images(x, input_shape, input_bits)
        labels = None if y is None else _check_labels(y, images.shape[0], "y")
        for start in range(0, images.shape[0], batch_size):
            stop = start + batch_size
            yield images[start:stop], None if labels is None else labels[start:stop]
        return
    if y is not None:
        raise ValueError("y must be None when x is a dataset or an iterable of batches: give "
                         "(images, labels) batches instead.")
    if _is_dataset(x):
        source = _dataset_batches(x, batch_size)
    elif isinstance(x, (str, bytes)) or not isinstance(x, Iterable) or (
            isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, numbers.Number))):
        raise TypeError(f"x must be a uint8 numpy array of images (N, H, W, C), a tf.data "
                        f"Dataset of images or (images, labels), or an iterable of such "
                        f"batches; got {type(x).__name__}.")
    else:
        source = x
    for index, item in enumerate(source):
        images, labels = _split(item, index)
        images = check_images(images, input_shape, input_bits, what=f"batch {index}")
        if labels is not None:
            labels = _check_labels(labels, images.shape[0], f"the labels of batch {index}")
        yield images, labels
