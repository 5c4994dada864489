"""Reading files that expand: sizes are checked against caps before anything is read.

A small file can declare, or inflate to, far more data than it holds: a 0.5 MB ``.keras`` zip
whose ``config.json`` inflates to 300 MB, an ``.h5`` file declaring a terabyte dataset, an
``.npy`` header declaring more than the file holds. Every reader of the package (Keras model
files ``.keras`` / ``.h5``, Akida model files ``.akida``, data files ``.npz`` / ``.npy`` /
IDX / TFRecord) asks this module first, so one set of caps protects them all:

* :data:`MAX_METADATA_BYTES`: a JSON member or text attribute (a model's configuration);
* :data:`MAX_MEMBER_BYTES`: one zip member, HDF5 dataset, array or record;
* :data:`MAX_TOTAL_BYTES`: everything one file expands to;
* :data:`MAX_MEMBERS`: the number of zip members or HDF5 objects.

A file beyond a cap raises :class:`ArchiveLimitError` (a ValueError) naming the file, the
member, its size and the cap; nothing has been allocated.

Example:
    >>> from cnn2snn_tfmot.archives import check_zip
    >>> import zipfile
    >>> with zipfile.ZipFile("small.zip", "w") as archive:
    ...     archive.writestr("config.json", "{}")
    >>> sorted(check_zip("small.zip"))
    ['config.json']
"""
from __future__ import annotations

import math
import os
import struct
import zipfile
from typing import Dict, Optional, Tuple

import numpy as np

__all__ = ["ArchiveLimitError", "check_zip", "read_zip_member", "check_hdf5", "check_npy",
           "check_tfrecord", "MAX_METADATA_BYTES", "MAX_MEMBER_BYTES", "MAX_TOTAL_BYTES",
           "MAX_MEMBERS", "HDF5_SIGNATURE", "member_cap"]

#: A model configuration (JSON member, HDF5 text attribute): far above any real model's.
MAX_METADATA_BYTES = 64 << 20
#: One member, dataset, array or record.
MAX_MEMBER_BYTES = 2 << 30
#: Everything a single file expands to.
MAX_TOTAL_BYTES = 8 << 30
#: Zip members or HDF5 objects in one file.
MAX_MEMBERS = 100_000
#: The first bytes of an HDF5 file.
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_METADATA_SUFFIXES = (".json", ".txt")


class ArchiveLimitError(ValueError):
    """A file declares (or inflates to) more data than the readers accept.

    Example:
        >>> from cnn2snn_tfmot.archives import ArchiveLimitError
        >>> str(ArchiveLimitError("m.keras: member 'config.json' ..."))[:8]
        'm.keras:'
    """


def _size(count: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if count >= 1 << shift:
            return f"{count / (1 << shift):.1f} {unit}"
    return f"{count} bytes"


def _refuse(where: str, what: str, size: int, cap: int, total: bool = False) -> None:
    raise ArchiveLimitError(
        f"{where}: {what} {'total' if total else 'declares'} {_size(size)}, more than the "
        f"{_size(cap)} cnn2snn_tfmot reads (a corrupt or hostile file?); nothing was read.")


def member_cap(name: str) -> int:
    """The cap of a zip member: :data:`MAX_METADATA_BYTES` for JSON / text members, else
    :data:`MAX_MEMBER_BYTES`.

    Arguments:
        name: the member's name.

    Returns:
        The cap in bytes.

    Example:
        >>> from cnn2snn_tfmot.archives import MAX_METADATA_BYTES, member_cap
        >>> member_cap("config.json") == MAX_METADATA_BYTES
        True
    """
    return MAX_METADATA_BYTES if name.lower().endswith(_METADATA_SUFFIXES) else \
        MAX_MEMBER_BYTES


def check_zip(archive, where: Optional[str] = None) -> Dict[str, zipfile.ZipInfo]:
    """Checks a zip archive's declared sizes against the caps, before anything is inflated.

    The declared size is what Python's zip reader reads at most (it stops there and checks the
    CRC), so a member cannot inflate beyond it.

    Arguments:
        archive: a path or an open ``zipfile.ZipFile``.
        where: how messages name the file (default: the path).

    Returns:
        The members' ``ZipInfo`` by name.

    Raises:
        ArchiveLimitError: a member, or the total, beyond its cap; too many members.
        zipfile.BadZipFile: not a zip archive.

    Example:
        >>> from cnn2snn_tfmot.archives import check_zip
        >>> import zipfile
        >>> with zipfile.ZipFile("one.zip", "w") as archive:
        ...     archive.writestr("a.npy", b"0")
        >>> check_zip("one.zip")["a.npy"].file_size
        1
    """
    if not isinstance(archive, zipfile.ZipFile):
        where = where or os.fspath(archive)
        with zipfile.ZipFile(archive) as opened:
            return check_zip(opened, where)
    where = where or str(archive.filename)
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveLimitError(f"{where}: {len(infos)} members, more than the {MAX_MEMBERS} "
                                "cnn2snn_tfmot reads.")
    total = 0
    for info in infos:
        if info.file_size > member_cap(info.filename):
            _refuse(where, f"member {info.filename!r}", info.file_size,
                    member_cap(info.filename))
        total += info.file_size
    if total > MAX_TOTAL_BYTES:
        _refuse(where, "its members", total, MAX_TOTAL_BYTES, total=True)
    return {info.filename: info for info in infos}


def read_zip_member(archive: zipfile.ZipFile, name, cap: Optional[int] = None,
                    where: Optional[str] = None) -> bytes:
    """Reads one zip member, never more than its cap, checking the size it declares.

    Arguments:
        archive: the open archive.
        name: the member's name or ``ZipInfo``.
        cap: the largest size accepted (default: :func:`member_cap`).
        where: how messages name the file.

    Returns:
        The member's bytes.

    Raises:
        ArchiveLimitError: beyond the cap; ValueError: it holds fewer or more bytes than it
            declares.
        KeyError: no such member.

    Example:
        >>> from cnn2snn_tfmot.archives import read_zip_member
        >>> import zipfile
        >>> with zipfile.ZipFile("two.zip", "w") as archive:
        ...     archive.writestr("config.json", "{}")
        >>> read_zip_member(zipfile.ZipFile("two.zip"), "config.json")
        b'{}'
    """
    info = name if isinstance(name, zipfile.ZipInfo) else archive.getinfo(name)
    where = where or str(archive.filename)
    cap = member_cap(info.filename) if cap is None else cap
    if info.file_size > cap:
        _refuse(where, f"member {info.filename!r}", info.file_size, cap)
    with archive.open(info) as stream:
        data = stream.read(cap + 1)  # never more than the cap, whatever the stream holds
    if len(data) != info.file_size:
        raise ValueError(f"{where}: member {info.filename!r} holds {len(data)} bytes but "
                         f"declares {info.file_size} (a corrupt archive).")
    return data


def check_hdf5(handle, where: Optional[str] = None) -> None:
    """Checks an HDF5 file's declared dataset and attribute sizes before anything is read.

    Arguments:
        handle: an open ``h5py.File`` (or group).
        where: how messages name the file.

    Raises:
        ArchiveLimitError: a dataset, an attribute or the total beyond its cap; too many
            objects.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.archives import check_hdf5
        >>> import h5py
        >>> with h5py.File("small.h5", "w") as handle:
        ...     _ = handle.create_dataset("w", data=np.zeros(4))
        >>> with h5py.File("small.h5", "r") as handle:
        ...     check_hdf5(handle)
    """
    import h5py  # a TensorFlow dependency; imported here to keep start-up light

    where = where or str(handle.file.filename)
    found = {"objects": 0, "total": 0}

    def attributes(name, obj):
        for key in obj.attrs:
            attribute = obj.attrs.get_id(key)
            if attribute.dtype.hasobject:
                continue  # variable-length: stored in the file, never expanded beyond it
            size = math.prod(int(d) for d in (attribute.shape or ())) * attribute.dtype.itemsize
            if size > MAX_METADATA_BYTES:
                _refuse(where, f"attribute {key!r} of {obj.name!r}", size, MAX_METADATA_BYTES)

    def visit(name, obj):
        found["objects"] += 1
        if found["objects"] > MAX_MEMBERS:
            raise ArchiveLimitError(f"{where}: more than {MAX_MEMBERS} objects, more than "
                                    "cnn2snn_tfmot reads.")
        attributes(name, obj)
        if isinstance(obj, h5py.Dataset):
            shape = obj.shape or ()
            size = math.prod(int(d) for d in shape) * obj.dtype.itemsize
            if size > MAX_MEMBER_BYTES:
                _refuse(where, f"dataset {obj.name!r} (shape {tuple(shape)})", size,
                        MAX_MEMBER_BYTES)
            found["total"] += size
            if found["total"] > MAX_TOTAL_BYTES:
                _refuse(where, "its datasets", found["total"], MAX_TOTAL_BYTES, total=True)

    attributes("/", handle)
    handle.visititems(visit)


def check_npy(path, where: Optional[str] = None) -> Tuple[Tuple[int, ...], np.dtype]:
    """Reads an ``.npy`` header and checks the array it declares against the caps and the
    file's size, before the array is read.

    Arguments:
        path: the ``.npy`` file.
        where: how messages name the file.

    Returns:
        ``(shape, dtype)`` as declared.

    Raises:
        ArchiveLimitError: beyond :data:`MAX_MEMBER_BYTES`.
        ValueError: not an ``.npy`` file, an object dtype, or fewer bytes than declared.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.archives import check_npy
        >>> np.save("a.npy", np.zeros((2, 3), np.uint8))
        >>> check_npy("a.npy")
        ((2, 3), dtype('uint8'))
    """
    path = os.fspath(path)
    where = where or path
    with open(path, "rb") as handle:
        try:
            version = np.lib.format.read_magic(handle)
            reader = {(1, 0): np.lib.format.read_array_header_1_0,
                      (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if reader is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = reader(handle)
        except (ValueError, SyntaxError, TypeError, struct.error) as err:
            raise ValueError(f"{where}: not a valid .npy file ({err}).") from None
        offset = handle.tell()
    if dtype.hasobject:
        raise ValueError(f"{where}: the array holds Python objects, which cnn2snn_tfmot never "
                         "unpickles; save plain numeric arrays.")
    size = math.prod(int(d) for d in shape) * dtype.itemsize
    if size > MAX_MEMBER_BYTES:
        _refuse(where, f"the array (shape {tuple(shape)}, {dtype})", size, MAX_MEMBER_BYTES)
    if os.path.getsize(path) - offset < size:
        raise ValueError(f"{where}: declares an array of shape {tuple(shape)} ({size} bytes) "
                         f"but holds {os.path.getsize(path) - offset}: the file is truncated.")
    return tuple(int(d) for d in shape), dtype


def check_tfrecord(path, where: Optional[str] = None) -> int:
    """Walks a TFRecord file's record headers (without reading the records) and checks every
    declared length against the caps and the file's size.

    Arguments:
        path: the TFRecord file (uncompressed).
        where: how messages name the file.

    Returns:
        The number of records.

    Raises:
        ArchiveLimitError: a record beyond :data:`MAX_MEMBER_BYTES`.
        ValueError: a record running past the end of the file (truncated or not a TFRecord).

    Example:
        >>> from cnn2snn_tfmot.archives import check_tfrecord
        >>> import tensorflow as tf
        >>> with tf.io.TFRecordWriter("one.tfrecord") as writer:
        ...     writer.write(b"abc")
        >>> check_tfrecord("one.tfrecord")
        1
    """
    path = os.fspath(path)
    where = where or path
    size, offset, count = os.path.getsize(path), 0, 0
    with open(path, "rb") as handle:
        while offset < size:
            header = handle.read(12)
            if len(header) != 12:
                raise ValueError(f"{where}: record {count} is truncated (not a TFRecord file, "
                                 "or a compressed one: cnn2snn_tfmot reads uncompressed "
                                 "TFRecords).")
            length = struct.unpack("<Q", header[:8])[0]
            if length > MAX_MEMBER_BYTES:
                _refuse(where, f"record {count}", length, MAX_MEMBER_BYTES)
            offset += 12 + length + 4
            if offset > size:
                raise ValueError(f"{where}: record {count} declares {length} bytes, past the "
                                 "end of the file (truncated, compressed or not a TFRecord "
                                 "file).")
            handle.seek(offset)
            count += 1
    return count
