"""Atomic writes: a file or a directory appears complete at its path, or not at all.

Everything the package writes goes to a temporary name in the destination directory and is
renamed into place (``os.replace``) once complete, so that an interrupted write never leaves a
half-written model where a good one was.

Example:
    >>> with atomic_file("notes.txt", "w") as handle:
    ...     _ = handle.write("done")
    >>> open("notes.txt").read()
    'done'
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from typing import Iterator

__all__ = ["atomic_file", "atomic_directory", "atomic_path"]


@contextlib.contextmanager
def atomic_path(path) -> Iterator[str]:
    """Yields a temporary file path (same directory and suffix) renamed to ``path`` when the
    block succeeds, for writers that take a path (e.g. Keras's ``model.save``).

    Arguments:
        path: the destination file.

    Returns:
        A context manager yielding the temporary path.

    Example:
        >>> with atomic_path("weights.npy") as temporary:
        ...     np.save(temporary, np.zeros(2))
        >>> np.load("weights.npy").tolist()
        [0.0, 0.0]
    """
    path = os.path.abspath(os.fspath(path))
    directory, base = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    suffix = os.path.splitext(base)[1]
    fd, temporary = tempfile.mkstemp(prefix=f".{base}.tmp-", suffix=suffix, dir=directory)
    os.close(fd)
    os.remove(temporary)  # the writer creates it
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Makes the rename durable; best effort (not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(path, mode: str = "wb"):
    """Opens a temporary file that replaces ``path`` when the block succeeds.

    Arguments:
        path: the destination file.
        mode: "wb" or "w" (text, UTF-8, newline="" as the csv module needs).

    Returns:
        A context manager yielding the open file.

    Example:
        >>> with atomic_file("out.bin") as handle:
        ...     _ = handle.write(b"ok")
    """
    with atomic_path(path) as temporary:
        text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with open(temporary, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


@contextlib.contextmanager
def atomic_directory(path) -> Iterator[str]:
    """Yields a temporary directory that replaces ``path`` when the block succeeds.

    Arguments:
        path: the destination directory (an existing one is replaced).

    Returns:
        A context manager yielding the temporary directory's path.

    Example:
        >>> with atomic_directory("saved") as temporary:
        ...     open(os.path.join(temporary, "a.txt"), "w").close()
        >>> os.listdir("saved")
        ['a.txt']
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    temporary = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
    try:
        yield temporary
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    previous = None
    if os.path.lexists(path):
        previous = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=parent)
        os.rmdir(previous)
        os.replace(path, previous)
    os.replace(temporary, path)
    if previous is not None:
        if os.path.isdir(previous) and not os.path.islink(previous):
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.remove(previous)
