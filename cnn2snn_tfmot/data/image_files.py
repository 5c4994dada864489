"""Images from files, as the uint8 batches an Akida model takes (the command line's
``evaluate`` and ``predict``).

Three sources: an IDX file (MNIST's format, optionally gzip-compressed), a numpy ``.npy`` array
or ``.npz`` archive (images under ``x`` or ``images``, labels under ``y`` or ``labels``), or a
folder of PNG / JPEG images (decoded with TensorFlow; one sub-folder per class gives labels, in
sorted order, as ``keras.utils.image_dataset_from_directory`` does). Images whose size or
channels differ from the model's input are resized with TensorFlow (bilinear) and converted
(grey <-> RGB); the source says so in :attr:`ImageSource.notes`. Values are never cast
silently: integer images must lie in 0..255, float images are refused. ``.npy`` / ``.npz`` files
are read with ``allow_pickle=False``.

Example:
    >>> np.save("images.npy", images)
    >>> source = open_images("images.npy", (16, 16, 1))
    >>> len(source), next(source.batches(8)).shape
    (32, (8, 16, 16, 1))
"""
from __future__ import annotations

import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.data.datasets import read_idx
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["ImageSource", "open_images", "read_labels", "IMAGE_SUFFIXES"]

#: File suffixes read from a folder of images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_IMAGE_KEYS = ("x", "images", "x_test", "arr_0")
_LABEL_KEYS = ("y", "labels", "y_test")


def _is_idx(path: str) -> bool:
    name = os.path.basename(path).lower()
    return name.endswith((".idx", ".gz")) or "-idx" in name or "ubyte" in name


def _load_array(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    try:
        return _read_array(path)
    except (ValueError, OSError, EOFError) as err:
        if str(err).startswith(path):
            raise
        raise ValueError(f"{path}: cannot be read ({err}); numpy files must hold plain arrays "
                         "(nothing is unpickled).") from err


def _read_array(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            images = next((archive[key] for key in _IMAGE_KEYS if key in archive), None)
            if images is None:
                raise ValueError(f"{path}: no images array; name it one of {_IMAGE_KEYS} "
                                 f"(found {sorted(archive.files)}).")
            labels = next((archive[key] for key in _LABEL_KEYS if key in archive), None)
        return images, labels
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False, mmap_mode="r"), None
    if _is_idx(path):
        return read_idx(path), None
    raise ValueError(f"{path}: unknown image file; give an IDX file (e.g. "
                     "t10k-images-idx3-ubyte.gz), a .npy / .npz array or a folder of "
                     f"{'/'.join(s[1:].upper() for s in IMAGE_SUFFIXES)} images.")


def read_labels(path: str) -> np.ndarray:
    """Integer class labels from an IDX file, a ``.npy`` array or a ``.npz`` archive (``y`` or
    ``labels``).

    Arguments:
        path: the file.

    Returns:
        A 1-D integer array.

    Raises:
        ValueError: not a 1-D integer array.

    Example:
        >>> np.save("labels.npy", labels)
        >>> read_labels("labels.npy").shape
        (32,)
    """
    path = os.fspath(path)
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            found = next((archive[key] for key in _LABEL_KEYS if key in archive), None)
            if found is None:
                raise ValueError(f"{path}: no labels array; name it one of {_LABEL_KEYS}.")
            labels = found
    elif path.endswith(".npy"):
        labels = np.load(path, allow_pickle=False)
    else:
        labels = read_idx(path)
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: labels must be a 1-D integer array, got shape "
                         f"{labels.shape} and dtype {labels.dtype}.")
    return labels.astype(np.int64)


def _checked_uint8(images: np.ndarray, where: str) -> np.ndarray:
    if images.dtype == np.uint8:
        return np.asarray(images)
    if images.dtype.kind in "iu":
        if images.size and (images.min() < 0 or images.max() > 255):
            raise ValueError(f"{where}: integer images must lie in 0..255 (Akida inputs are "
                             f"uint8); found {images.min()}..{images.max()}.")
        return np.asarray(images).astype(np.uint8)  # lossless: every value fits
    raise ValueError(f"{where}: images have dtype {images.dtype}; Akida inputs are uint8 "
                     "images (0..255) and are never cast silently: save them as uint8.")


class ImageSource:
    """Images (and labels, when the source has them) to feed an Akida model, batch by batch.

    Arguments:
        path: the file or folder the images come from.
        input_shape: the model's (H, W, C), or None to keep the images' own (arrays only).
        images: an in-memory (or memory-mapped) array of images, or None for a folder.
        files: the image files of a folder, or None.
        labels: integer labels, or None.
        class_names: the folder's class names (sub-folders), or None.

    Example:
        >>> source = ImageSource("x", (16, 16, 1), images=images, labels=labels)
        >>> source.labels.shape, source.notes
        ((32,), [])
    """

    def __init__(self, path: str, input_shape: Optional[Sequence[int]], images=None,
                 files: Optional[List[str]] = None, labels: Optional[np.ndarray] = None,
                 class_names: Optional[List[str]] = None):
        self.path = path
        self.input_shape = None if input_shape is None else tuple(int(d) for d in input_shape)
        self.files = files
        self.labels = labels
        self.class_names = class_names
        self.notes: List[str] = []
        self._images = None
        if images is not None:
            self._images = self._as_nhwc(np.asarray(images) if not isinstance(
                images, np.memmap) else images)
        if labels is not None and len(labels) != len(self):
            raise ValueError(f"{path}: {len(self)} images but {len(labels)} labels.")

    def __len__(self) -> int:
        return len(self.files) if self.files is not None else int(self._images.shape[0])

    def names(self) -> List[str]:
        """A name per image: the file name for a folder, else its index."""
        if self.files is not None:
            return [os.path.relpath(file, self.path) for file in self.files]
        return [str(index) for index in range(len(self))]

    def _as_nhwc(self, images: np.ndarray) -> np.ndarray:
        if images.dtype.kind not in "iu":
            _checked_uint8(images[:0], self.path)  # refuses float images before any work
        if images.ndim == 3:
            images = images[..., np.newaxis]  # (N, H, W): one channel, as MNIST's IDX files
        if images.ndim != 4:
            raise ValueError(f"{self.path}: images must be (N, H, W, C) or (N, H, W); got "
                             f"shape {images.shape}.")
        if self.input_shape is None:
            self.input_shape = tuple(int(d) for d in images.shape[1:])
        if tuple(images.shape[1:]) != self.input_shape:
            self.notes.append(f"images resized from {tuple(images.shape[1:])} to "
                              f"{self.input_shape} with TensorFlow (bilinear)")
        return images

    def _fit(self, batch: np.ndarray) -> np.ndarray:
        """uint8 images of the model's shape: resized and grey <-> RGB converted if needed."""
        batch = _checked_uint8(batch, self.path)
        if tuple(batch.shape[1:]) == self.input_shape:
            return np.ascontiguousarray(batch)

        height, width, channels = self.input_shape
        tensor = tf.image.resize(tf.cast(batch, tf.float32), (height, width))
        if tensor.shape[-1] == 1 and channels == 3:
            tensor = tf.image.grayscale_to_rgb(tensor)
        elif tensor.shape[-1] == 3 and channels == 1:
            tensor = tf.image.rgb_to_grayscale(tensor)
        elif tensor.shape[-1] != channels:
            raise ValueError(f"{self.path}: images have {tensor.shape[-1]} channels, the model "
                             f"takes {channels}.")
        return tf.cast(tf.clip_by_value(tf.round(tensor), 0, 255), tf.uint8).numpy()

    def _decode(self, files: List[str]) -> np.ndarray:

        height, width, channels = self.input_shape
        decoded = []
        for file in files:
            try:
                image = tf.io.decode_image(tf.io.read_file(file), channels=channels,
                                           expand_animations=False)
            except (tf.errors.InvalidArgumentError, ValueError) as err:
                raise ValueError(f"{file}: cannot be decoded as a PNG or JPEG image "
                                 f"({str(err).splitlines()[0]}).") from err
            if tuple(image.shape[:2]) != (height, width):
                if not any(note.startswith("images resized") for note in self.notes):
                    self.notes.append(f"images resized to {(height, width)} with TensorFlow "
                                      "(bilinear), e.g. "
                                      f"{os.path.basename(file)} from {tuple(image.shape[:2])}")
                image = tf.cast(tf.clip_by_value(tf.round(tf.image.resize(
                    tf.cast(image, tf.float32), (height, width))), 0, 255), tf.uint8)
            decoded.append(image.numpy())
        return np.stack(decoded) if decoded else np.zeros((0,) + self.input_shape, np.uint8)

    def check_values(self, chunk: int = 65536) -> None:
        """Checks now, chunk by chunk, that integer images lie in 0..255, rather than when
        their batch is read (inside a ``tf.data`` pipeline, an error would come wrapped in
        TensorFlow's). Free for uint8 images and folders.

        Arguments:
            chunk: images read at a time.

        Raises:
            ValueError: images beyond 0..255 (the message names the file and the range).

        Example:
            >>> ImageSource("x", None, images=images.astype(np.int32)).check_values()
        """
        if self._images is None or self._images.dtype == np.uint8:
            return
        for start in range(0, len(self), chunk):
            _checked_uint8(np.asarray(self._images[start:start + chunk]), self.path)

    def batches(self, batch_size: int = 256) -> Iterator[np.ndarray]:
        """The images, as uint8 arrays of at most ``batch_size`` images of the model's shape.

        Arguments:
            batch_size: images per batch.

        Returns:
            An iterator of uint8 arrays (n, H, W, C).
        """
        for start in range(0, len(self), batch_size):
            stop = min(start + batch_size, len(self))
            if self.files is not None:
                yield self._decode(self.files[start:stop])
            else:
                yield self._fit(np.asarray(self._images[start:stop]))


def _folder(path: str, input_shape) -> ImageSource:
    if input_shape is None:
        raise ValueError(f"{path}: a folder of images needs input_shape (the (H, W, C) the "
                         "images are decoded and resized to).")
    entries = sorted(os.listdir(path))
    subfolders = [name for name in entries if os.path.isdir(os.path.join(path, name))]
    files, labels = [], []
    if subfolders:  # one sub-folder per class
        for label, name in enumerate(subfolders):
            folder = os.path.join(path, name)
            for file in sorted(os.listdir(folder)):
                if file.lower().endswith(IMAGE_SUFFIXES):
                    files.append(os.path.join(folder, file))
                    labels.append(label)
    else:
        files = [os.path.join(path, name) for name in entries
                 if name.lower().endswith(IMAGE_SUFFIXES)]
    if not files:
        raise ValueError(f"{path}: no {'/'.join(s[1:].upper() for s in IMAGE_SUFFIXES)} "
                         "images found (in it or in its class sub-folders).")
    return ImageSource(path, input_shape, files=files,
                       labels=np.asarray(labels, np.int64) if subfolders else None,
                       class_names=subfolders or None)


def open_images(path, input_shape: Optional[Sequence[int]], labels=None) -> ImageSource:
    """Opens images for a model of input ``input_shape``: an IDX file, a ``.npy`` / ``.npz``
    array, or a folder of PNG / JPEG images (class sub-folders give labels).

    Arguments:
        path: the file or folder.
        input_shape: the model's (H, W, C); other sizes are resized (noted in ``notes``).
            None keeps the images' own shape (arrays and IDX files; a folder needs a shape).
        labels: a labels file (IDX, ``.npy`` or ``.npz``), or None to use the source's own.

    Returns:
        An :class:`ImageSource`.

    Raises:
        FileNotFoundError: no such file or folder.
        ValueError: an unreadable file, float images, labels that do not match the images.

    Example:
        >>> np.savez("data.npz", x=images, y=labels)
        >>> source = open_images("data.npz", (16, 16, 1))
        >>> int(source.labels[0]) == int(labels[0])
        True
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No image file or folder at {path}.")
    if os.path.isdir(path):
        source = _folder(path, input_shape)
    else:
        images, found_labels = _load_array(path)
        source = ImageSource(path, input_shape, images=images,
                             labels=None if found_labels is None else np.asarray(
                                 found_labels).astype(np.int64))
    if labels is not None:
        given = read_labels(labels)
        if len(given) != len(source):
            raise ValueError(f"{labels}: {len(given)} labels for the {len(source)} images of "
                             f"{path}.")
        source.labels = given
    return source
