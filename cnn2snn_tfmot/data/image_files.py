"""Images from files, as the uint8 batches an Akida model takes (the command line's
``evaluate`` and ``predict``, and :func:`cnn2snn_tfmot.data.datafiles.open_dataset`).

Three sources: an IDX file (MNIST's format, optionally gzip-compressed), a numpy ``.npy`` array
or ``.npz`` archive (images under ``x`` or ``images``, labels under ``y`` or ``labels``), or a
folder of images (BMP, GIF, JPEG, PNG, decoded with TensorFlow). A folder is labelled as
``keras.utils.image_dataset_from_directory`` labels it: its sub-folders are the classes, in
sorted order, each read recursively, names starting with "." skipped (a ``.ipynb_checkpoints``
folder is not a class; unlike Keras, hidden files and folders inside a class are skipped too,
and the notes say how many); a folder without sub-folders gives unlabelled images.

Images whose size or channels differ from the model's input are resized with TensorFlow
(bilinear) and converted (grey <-> RGB). The source says so, with counts, in
:attr:`ImageSource.notes` as soon as it is opened (a folder's image headers are read then; a
file that is not an image is an error naming it, before any batch). Values are never cast
silently: integer images must lie in 0..255, float images are refused. Labels are integer class
indices in every source (:func:`file_labels`): float labels are refused, one-hot labels are
converted (with a note). ``.npy`` / ``.npz`` files are read with ``allow_pickle=False``, after
their declared sizes are checked (:mod:`cnn2snn_tfmot.archives`).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.data.image_files import open_images
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> np.save("images.npy", images)
    >>> source = open_images("images.npy", (16, 16, 1))
    >>> len(source), next(source.batches(8)).shape
    (32, (8, 16, 16, 1))
"""
from __future__ import annotations

import collections
import os
import struct
import zipfile
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.archives import check_npy, check_zip
from cnn2snn_tfmot.data.datasets import read_idx
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["ImageSource", "ClassFolders", "list_class_folders", "decode_image_file", "open_images",
           "read_labels", "file_labels", "image_header", "IMAGE_SUFFIXES"]

#: File suffixes read from a folder of images (Keras's image_dataset_from_directory's).
IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_IMAGE_KEYS = ("x", "images", "x_test", "arr_0")
_LABEL_KEYS = ("y", "labels", "y_test")
_FORMATS = "/".join(s[1:].upper() for s in IMAGE_SUFFIXES if s != ".jpeg")


def _is_idx(path: str) -> bool:
    name = os.path.basename(path).lower()
    return name.endswith((".idx", ".gz")) or "-idx" in name or "ubyte" in name


def _load_array(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    try:
        return _read_array(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
        if str(err).startswith(path):
            raise
        raise ValueError(f"{path}: cannot be read ({err}); numpy files must hold plain arrays "
                         "(nothing is unpickled).") from err


def _load_npy(path: str, mmap: bool) -> np.ndarray:
    check_npy(path)  # the declared size, against the caps and the file's size
    return np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)


def _read_array(path: str) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    if path.endswith(".npz"):
        check_zip(path)  # declared sizes, before anything is inflated
        with np.load(path, allow_pickle=False) as archive:
            images = next((archive[key] for key in _IMAGE_KEYS if key in archive), None)
            if images is None:
                raise ValueError(f"{path}: no images array; name it one of {_IMAGE_KEYS} "
                                 f"(found {sorted(archive.files)}).")
            labels = next((archive[key] for key in _LABEL_KEYS if key in archive), None)
        return images, labels
    if path.endswith(".npy"):
        return _load_npy(path, mmap=True), None
    if _is_idx(path):
        return read_idx(path), None
    raise ValueError(f"{path}: unknown image file; give an IDX file (e.g. "
                     "t10k-images-idx3-ubyte.gz), a .npy / .npz array or a folder of "
                     f"{_FORMATS} images.")


def file_labels(labels, where: str) -> Tuple[np.ndarray, Optional[str]]:
    """Integer class labels read from a file, checked the same way for every source.

    Integer labels (N,) or (N, 1) are taken as they are; one-hot labels (N, K), every row
    holding one 1 and zeros, become class indices (argmax) with a note; float labels are
    refused (a label 2.7 would be truncated to 2), as are negative labels and other shapes.

    Arguments:
        labels: the array read from the file.
        where: how messages name the file.

    Returns:
        ``(labels, note)``: int64 labels (N,), and a note when they were converted (else None).

    Raises:
        ValueError: naming the file, what was found and the fix.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.image_files import file_labels
        >>> file_labels(np.eye(3)[[2, 0]], "y.npy")
        (array([2, 0]), 'y.npy: one-hot labels (2, 3) converted to class indices (argmax)')
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1 and labels.dtype.kind in "iuf":
        rows_ok = np.all((labels == 0) | (labels == 1), axis=1) & (labels.sum(axis=1) == 1)
        if labels.size and bool(np.all(rows_ok)):
            return (labels.argmax(axis=1).astype(np.int64),
                    f"{where}: one-hot labels {labels.shape} converted to class indices "
                    "(argmax)")
        raise ValueError(f"{where}: labels of shape {labels.shape} are neither class indices "
                         "(N,) nor one-hot (every row one 1 and zeros); give integer class "
                         "indices.")
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise ValueError(f"{where}: labels must be a 1-D array of integer class indices, got "
                         f"shape {labels.shape}.")
    if labels.dtype.kind not in "iu":
        example = ""
        if labels.dtype.kind == "f" and labels.size:
            fractional = labels[labels != np.round(labels)]
            example = f", e.g. {fractional[0]:g}" if fractional.size else ""
        raise ValueError(f"{where}: labels must be integer class indices, got dtype "
                         f"{labels.dtype}{example}: they are never truncated silently. Save "
                         "them as integers (e.g. labels.astype(np.int64) when they are whole "
                         "numbers).")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{where}: labels must be class indices >= 0; found {labels.min()}.")
    return labels.astype(np.int64), None


def _read_label_file(path: str) -> np.ndarray:
    if path.endswith(".npz"):
        check_zip(path)
        with np.load(path, allow_pickle=False) as archive:
            found = next((archive[key] for key in _LABEL_KEYS if key in archive), None)
            if found is None:
                raise ValueError(f"{path}: no labels array; name it one of {_LABEL_KEYS}.")
            return found
    if path.endswith(".npy"):
        return _load_npy(path, mmap=False)
    return read_idx(path)


def read_labels(path: str) -> np.ndarray:
    """Integer class labels from an IDX file, a ``.npy`` array or a ``.npz`` archive (``y`` or
    ``labels``), checked by :func:`file_labels` (one-hot labels are converted with a
    ``UserWarning``).

    Arguments:
        path: the file.

    Returns:
        A 1-D int64 array.

    Raises:
        ValueError: an unreadable file, float labels, or not a 1-D (or one-hot) array.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.image_files import read_labels
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> np.save("labels.npy", labels)
        >>> read_labels("labels.npy").shape
        (32,)
    """
    labels, note = _labels_and_note(os.fspath(path))
    if note:
        import warnings  # only when labels are converted

        warnings.warn(note, UserWarning, stacklevel=2)
    return labels


def _labels_and_note(path: str) -> Tuple[np.ndarray, Optional[str]]:
    try:
        raw = _read_label_file(path)
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"{path}: cannot be read ({err}).") from err
    return file_labels(raw, path)


# Image headers ---------------------------------------------------------------------------------

_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_header(handle) -> Optional[Tuple[int, int, int]]:
    handle.seek(2)
    while True:
        if handle.read(1) != b"\xff":
            return None  # not at a marker: corrupt
        marker = handle.read(1)
        while marker == b"\xff":  # fill bytes
            marker = handle.read(1)
        if not marker:
            return None
        code = marker[0]
        if code == 0x01 or 0xD0 <= code <= 0xD8:  # markers without a length
            continue
        raw = handle.read(2)
        if len(raw) != 2:
            return None
        length = struct.unpack(">H", raw)[0]
        if code in _JPEG_SOF:
            segment = handle.read(6)
            if len(segment) != 6:
                return None
            _, height, width, components = struct.unpack(">BHHB", segment)
            return height, width, components
        if code == 0xDA or length < 2:
            return None  # scan data before any frame header
        handle.seek(length - 2, os.SEEK_CUR)


def image_header(path: str) -> Tuple[int, int, int]:
    """The (height, width, channels) an image file declares, read from its header only.

    Arguments:
        path: a PNG, JPEG, BMP or GIF file.

    Returns:
        ``(height, width, channels)`` (a GIF's first frame decodes to 3 channels).

    Raises:
        ValueError: not one of these formats, or a header that cannot be read (naming the
            file).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.data.image_files import image_header
        >>> _ = open("one.png", "wb").write(tf.io.encode_png(np.zeros((4, 6, 1), np.uint8))
        ...                                 .numpy())
        >>> image_header("one.png")
        (4, 6, 1)
    """
    with open(path, "rb") as handle:
        head = handle.read(32)
        found = None
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            found = (height, width, _PNG_CHANNELS.get(head[25]))
        elif head.startswith(b"\xff\xd8"):
            found = _jpeg_header(handle)
        elif head.startswith(b"BM") and len(head) >= 30:
            width, height = struct.unpack("<ii", head[18:26])
            bits = struct.unpack("<H", head[28:30])[0]
            found = (abs(height), width, {8: 1, 24: 3, 32: 4}.get(bits))
        elif head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
            width, height = struct.unpack("<HH", head[6:10])
            found = (height, width, 3)
    if found is None or None in found or min(found[:2]) < 1:
        raise ValueError(f"{path}: cannot be decoded as an image: not a {_FORMATS} file, or "
                         "its header is corrupt; remove it from the folder.")
    return found


def _conversion_notes(shapes: Dict[Tuple[int, int, int], int], input_shape) -> List[str]:
    """The notes saying how many images are resized and converted (grey <-> RGB).

    ``shapes``: how many images there are of each (H, W, C)."""
    height, width, channels = input_shape
    total = sum(shapes.values())
    notes = []
    resized = {shape: count for shape, count in shapes.items()
               if tuple(shape[:2]) != (height, width)}
    if resized:
        sizes = sorted({tuple(shape[:2]) for shape in resized})
        shown = ", ".join(map(str, sizes[:3])) + (" ..." if len(sizes) > 3 else "")
        notes.append(f"{sum(resized.values())} of {total} images resized from {shown} to "
                     f"{(height, width)} with TensorFlow (bilinear)")
    grey = sum(count for shape, count in shapes.items() if shape[2] in (1, 2))
    if channels == 3 and grey:
        notes.append(f"{grey} of {total} images converted from grey to RGB")
    if channels == 1 and total - grey:
        notes.append(f"{total - grey} of {total} images converted from RGB to grey")
    return notes


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
        shapes: the (H, W, C) each file declares (a folder's headers), to count the images
            resized or converted; None to read them now.

    Example:
        >>> from cnn2snn_tfmot.data.image_files import ImageSource
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> source = ImageSource("x", (16, 16, 1), images=images, labels=labels)
        >>> source.labels.shape, source.notes
        ((32,), [])
    """

    def __init__(self, path: str, input_shape: Optional[Sequence[int]], images=None,
                 files: Optional[List[str]] = None, labels: Optional[np.ndarray] = None,
                 class_names: Optional[List[str]] = None,
                 shapes: Optional[List[Tuple[int, int, int]]] = None):
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
        if files is not None:
            if shapes is None:
                shapes = [image_header(file) for file in files]
            self.notes += _conversion_notes(collections.Counter(shapes), self.input_shape)
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
        if images.shape[-1] not in (1, 3) and images.shape[-1] != self.input_shape[-1]:
            raise ValueError(f"{self.path}: images have {images.shape[-1]} channels, the model "
                             f"takes {self.input_shape[-1]}; only grey (1) and RGB (3) images "
                             "are converted.")
        self.notes += _conversion_notes({tuple(images.shape[1:]): int(images.shape[0])},
                                        self.input_shape)
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
        return tf.cast(tf.clip_by_value(tf.round(tensor), 0, 255), tf.uint8).numpy()

    def _decode(self, files: List[str]) -> np.ndarray:
        """Decodes ``files`` in parallel (``tf.data``); on a failure, one by one, to name the
        file that cannot be decoded."""
        if not files:
            return np.zeros((0,) + self.input_shape, np.uint8)
        shape = self.input_shape
        try:
            decoded = tf.data.Dataset.from_tensor_slices(files).map(
                lambda file: decode_image_file(file, shape),
                num_parallel_calls=tf.data.AUTOTUNE).batch(len(files))
            return next(iter(decoded)).numpy()
        except (tf.errors.OpError, ValueError):
            pass  # found again below, by its file
        for file in files:
            try:
                decode_image_file(tf.constant(file), shape)
            except (tf.errors.OpError, ValueError) as err:
                raise ValueError(f"{file}: cannot be decoded as an image "
                                 f"({str(err).splitlines()[0]}); remove or replace it.") from None
        raise ValueError(f"{self.path}: the images {files[0]} .. {files[-1]} cannot be decoded "
                         "together; decode them one by one.")  # not expected: each one decodes

    def check_values(self, chunk: int = 65536) -> None:
        """Checks now, chunk by chunk, that integer images lie in 0..255, rather than when
        their batch is read (inside a ``tf.data`` pipeline, an error would come wrapped in
        TensorFlow's). Free for uint8 images and folders.

        Arguments:
            chunk: images read at a time.

        Raises:
            ValueError: images beyond 0..255 (the message names the file and the range).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.data.image_files import ImageSource
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
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


def decode_image_file(file, input_shape: Sequence[int]):
    """One image file as a uint8 tensor of ``input_shape``: the package's one decoding rule
    (resized with TensorFlow, bilinear and rounded, when its size differs; grey <-> RGB
    converted on decoding). Works eagerly and inside ``tf.data`` pipelines.

    Arguments:
        file: the file's path (a string or a string tensor).
        input_shape: the (H, W, C) wanted.

    Returns:
        A uint8 tensor (H, W, C).

    Raises:
        tf.errors.InvalidArgumentError: a file that is not an image.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.data.image_files import decode_image_file
        >>> _ = open("one.png", "wb").write(tf.io.encode_png(np.zeros((4, 6, 3), np.uint8))
        ...                                 .numpy())
        >>> decode_image_file("one.png", (8, 8, 1)).shape
        TensorShape([8, 8, 1])
    """
    height, width, channels = (int(d) for d in input_shape)
    image = tf.io.decode_image(tf.io.read_file(file), channels=channels,
                               expand_animations=False)

    def resized():
        return tf.cast(tf.clip_by_value(tf.round(tf.image.resize(
            tf.cast(image, tf.float32), (height, width))), 0, 255), tf.uint8)

    same = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
    return tf.reshape(tf.cond(same, lambda: image, resized), (height, width, channels))


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _class_files(folder: str) -> Tuple[List[str], int]:
    """A class folder's image files, as Keras walks it (sorted by folder, then name), without
    hidden files and folders; and how many hidden entries were skipped."""
    files, hidden = [], 0
    walk = sorted(os.walk(folder), key=lambda entry: entry[0])
    for root, directories, names in walk:
        relative = os.path.relpath(root, folder)
        if relative != "." and any(_is_hidden(part) for part in relative.split(os.sep)):
            continue
        hidden += sum(1 for name in directories if _is_hidden(name))
        for name in sorted(names):
            if _is_hidden(name):
                hidden += name.lower().endswith(IMAGE_SUFFIXES)
            elif name.lower().endswith(IMAGE_SUFFIXES):
                files.append(os.path.join(root, name))
    return files, hidden


class ClassFolders(NamedTuple):
    """The images of a folder, labelled by :func:`list_class_folders`.

    Attributes:
        files: the image paths, class by class (Keras's order).
        labels: int64 class indices, one per file; None for a folder without sub-folders.
        class_names: the class sub-folders' names, sorted (label i is ``class_names[i]``);
            None for a folder without sub-folders.
        notes: what was skipped (hidden entries), to tell the user.
    """
    files: List[str]
    labels: Optional[np.ndarray]
    class_names: Optional[List[str]]
    notes: List[str]


def list_class_folders(path) -> ClassFolders:
    """The image files of a folder and their labels, as
    ``keras.utils.image_dataset_from_directory`` labels them: the sub-folders are the classes,
    in sorted order, each read recursively, names starting with "." skipped (hidden files and
    folders inside a class too, unlike Keras); a folder without sub-folders gives unlabelled
    images. Only the names are read (:func:`open_images` reads the headers too).

    Arguments:
        path: the folder.

    Returns:
        A :class:`ClassFolders`.

    Raises:
        FileNotFoundError: ``path`` is not a folder.
        ValueError: no image in it or in its class sub-folders.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.image_files import list_class_folders, os
        >>> from cnn2snn_tfmot import tf
        >>> for name in ("dog", "cat"):
        ...     os.makedirs(os.path.join("pets", name))
        ...     _ = open(os.path.join("pets", name, "0.png"), "wb").write(
        ...         tf.io.encode_png(np.zeros((4, 4, 3), np.uint8)).numpy())
        >>> folders = list_class_folders("pets")
        >>> folders.class_names, folders.labels.tolist()
        (['cat', 'dog'], [0, 1])
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such folder (expected images, or one sub-folder "
                                "of images per class).")
    entries = sorted(os.listdir(path))
    hidden = [name for name in entries if _is_hidden(name)]
    classes = [name for name in entries
               if not _is_hidden(name) and os.path.isdir(os.path.join(path, name))]
    files, labels, skipped = [], [], 0
    if classes:  # one sub-folder per class, as keras.utils.image_dataset_from_directory
        for label, name in enumerate(classes):
            found, hidden_inside = _class_files(os.path.join(path, name))
            files += found
            labels += [label] * len(found)
            skipped += hidden_inside
    else:
        files = [os.path.join(path, name) for name in entries
                 if not _is_hidden(name) and name.lower().endswith(IMAGE_SUFFIXES)]
    if not files:
        raise ValueError(f"{path}: no {_FORMATS} images found (in it or in its class "
                         "sub-folders; names starting with '.' are skipped).")
    notes = []
    if hidden or skipped:
        shown = ", ".join(repr(name) for name in hidden[:3])
        notes.append("skipped hidden entries (names starting with '.', as Keras does)" +
                     (f": {shown}" if shown else "") +
                     (f"; {skipped} inside the class folders" if skipped else ""))
    return ClassFolders(files, np.asarray(labels, np.int64) if classes else None,
                        classes or None, notes)


def _folder(path: str, input_shape) -> ImageSource:
    if input_shape is None:
        raise ValueError(f"{path}: a folder of images needs input_shape (the (H, W, C) the "
                         "images are decoded and resized to).")
    folders = list_class_folders(path)
    source = ImageSource(path, input_shape, files=folders.files, labels=folders.labels,
                         class_names=folders.class_names)
    source.notes[:0] = folders.notes
    return source


def open_images(path, input_shape: Optional[Sequence[int]], labels=None) -> ImageSource:
    """Opens images for a model of input ``input_shape``: an IDX file, a ``.npy`` / ``.npz``
    array, or a folder of images (class sub-folders give labels, as Keras gives them).

    Arguments:
        path: the file or folder.
        input_shape: the model's (H, W, C); other sizes are resized and grey / RGB images
            converted (counted in ``notes``). None keeps the images' own shape (arrays and IDX
            files; a folder needs a shape).
        labels: a labels file (IDX, ``.npy`` or ``.npz``), or None to use the source's own.

    Returns:
        An :class:`ImageSource`; its ``notes`` say what is changed, before any batch is read.

    Raises:
        FileNotFoundError: no such file or folder.
        TypeError: ``path`` or ``labels`` is not a path.
        ValueError: an unreadable file, float images, float labels, labels that do not match
            the images, a file of a folder that is not an image (naming it).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.image_files import open_images
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> np.savez("data.npz", x=images, y=labels)
        >>> source = open_images("data.npz", (16, 16, 1))
        >>> int(source.labels[0]) == int(labels[0])
        True
    """
    for name, value in (("path", path), ("labels", labels)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"`{name}` must be a file or folder path (str or os.PathLike), got "
                            f"{type(value).__name__}.")
    path = os.fspath(path)
    if input_shape is not None:
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(d, (int, np.integer)) and not isinstance(
                d, bool) and d > 0 for d in shape):
            raise ValueError(f"`input_shape` must be (H, W, C) with positive integers, got "
                             f"{input_shape!r}.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"No image file or folder at {path}.")
    notes = []
    if os.path.isdir(path):
        source = _folder(path, input_shape)
    else:
        images, found_labels = _load_array(path)
        if found_labels is not None:
            found_labels, note = file_labels(found_labels, path)
            notes += [note] if note else []
        source = ImageSource(path, input_shape, images=images, labels=found_labels)
    if labels is not None:
        labels = os.fspath(labels)
        given, note = _labels_and_note(labels)
        notes += [note] if note else []
        if len(given) != len(source):
            raise ValueError(f"{labels}: {len(given)} labels for the {len(source)} images of "
                             f"{path}.")
        source.labels = given
    source.notes += notes
    return source
