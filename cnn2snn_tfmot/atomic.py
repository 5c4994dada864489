"""Writing outputs: atomically, with the usual permissions, never over what we did not write.

Every file or folder the package writes goes through this module:

* **Atomic.** The output is written under a temporary name in the destination folder and
  renamed into place once complete (``os.replace`` for a file; for a folder that replaces an
  older one, an atomic exchange of the two names where the system has one, Linux's
  ``renameat2(RENAME_EXCHANGE)``). A process killed at any moment leaves the old output or the
  new one at the path, never a mixture, never nothing (a leftover ``.NAME.tmp-*`` entry beside
  it is harmless and can be deleted).
* **Permissions.** Files and folders get the permissions the user's umask gives (not the
  0600 / 0700 of ``tempfile``), so that another account (a server) can read them.
* **Never over what we did not write.** Each writer says what kind of output it writes
  (:class:`OutputKind`); an existing path is replaced only when it is a previous output of
  that kind (a SavedModel folder, a report folder carrying our marker, an ``.akida`` file of
  our format..., or an empty folder) or when the caller passes ``overwrite=True``
  (``--overwrite`` on the command line). A regular file where a folder goes, an output inside
  a file, an output that is one of the inputs (or a folder holding one) are refused with
  :class:`OutputExistsError`, naming the path and the option.

Example:
    >>> from cnn2snn_tfmot.atomic import atomic_file
    >>> with atomic_file("notes.txt", "w") as handle:
    ...     _ = handle.write("done")
    >>> open("notes.txt").read()
    'done'
    >>> with atomic_file("notes.txt", "w") as handle:  # not a previous output of a known kind
    ...     _ = handle.write("again")
    Traceback (most recent call last):
    ...
    cnn2snn_tfmot.atomic.OutputExistsError: refusing to replace notes.txt: ...
"""
from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import errno
import json
import os
import secrets
import shutil
from typing import Callable, Iterator, Optional, Sequence

__all__ = ["atomic_file", "atomic_directory", "atomic_path", "check_output", "OutputKind",
           "OutputExistsError", "ANY_FILE", "SAVED_MODEL", "is_saved_model", "MARKER_SUFFIX"]

#: What the message says to pass to replace an output that is not ours.
OVERWRITE_HINT = ("choose another path, or pass overwrite=True (--overwrite on the command "
                  "line) to replace it")
#: Marker files (``.cnn2snn_tfmot-<kind>.json``) list what we wrote into a folder.
MARKER_SUFFIX = ".json"
_MARKER_PREFIX = ".cnn2snn_tfmot-"
#: What a SavedModel folder holds (TensorFlow's names); anything else is the user's.
SAVED_MODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets",
                                 "assets.extra", "keras_metadata.pb", "fingerprint.pb"})


class OutputExistsError(FileExistsError):
    """An output path holds something the package did not write, or one of the inputs.

    The message names the path, what is there and the option that allows replacing it
    (``overwrite=True``, ``--overwrite``), when replacing is allowed at all (an output that is
    an input never is).

    Example:
        >>> from cnn2snn_tfmot.atomic import ANY_FILE, OutputExistsError, check_output
        >>> _ = open("thesis.tex", "w").write("chapter 1")
        >>> try:
        ...     check_output("thesis.tex", ANY_FILE)
        ... except OutputExistsError as err:
        ...     print(str(err)[:44])
        refusing to replace thesis.tex: it is a file
    """


@dataclasses.dataclass(frozen=True)
class OutputKind:
    """What a writer writes, and how a previous output of the same kind is recognised.

    Arguments:
        description: how messages name it ("a SavedModel folder").
        directory: whether it is a folder (else a file).
        recognise: ``path -> bool``: whether an existing path is a previous output of this
            kind (and so may be replaced without ``overwrite``). None: nothing is.
        marker: for folders we write ourselves, the name of the marker file listing their
            entries (written by :func:`atomic_directory`; recognised when present and the
            folder holds nothing else), e.g. ``"report"``.

    Example:
        >>> from cnn2snn_tfmot.atomic import OutputKind
        >>> OutputKind("a notes file", directory=False, recognise=None).description
        'a notes file'
    """
    description: str
    directory: bool
    recognise: Optional[Callable[[str], bool]] = None
    marker: Optional[str] = None

    @property
    def marker_name(self) -> Optional[str]:
        """The marker file's name inside the folder, or None."""
        return None if self.marker is None else f"{_MARKER_PREFIX}{self.marker}{MARKER_SUFFIX}"

    def is_previous_output(self, path: str) -> bool:
        """Whether the existing ``path`` is a previous output of this kind."""
        if self.directory != (os.path.isdir(path) and not os.path.islink(path)):
            return False
        if self.directory and not os.listdir(path):
            return True  # an empty folder holds nothing to lose (``mkdir out`` first)
        if self.marker is not None and _marked(path, self.marker_name):
            return True
        if self.recognise is None:
            return False
        try:
            return bool(self.recognise(path))
        except (OSError, ValueError):  # unreadable: not recognisably ours
            return False


def _unlisted(path: str, marker: str) -> Optional[list]:
    """The entries of a folder that its marker does not list (None: no valid marker)."""
    try:
        with open(os.path.join(path, marker), "rb") as handle:
            listed = json.loads(handle.read(1 << 16)).get("entries")
        present = set(os.listdir(path)) - {marker}
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(listed, list):
        return None
    return sorted(present - {str(name) for name in listed})


def _marked(path: str, marker: str) -> bool:
    """A folder holding our marker and nothing but the entries the marker lists."""
    return _unlisted(path, marker) == []


def is_saved_model(path: str) -> bool:
    """Whether ``path`` is a SavedModel folder holding nothing a SavedModel does not hold.

    Arguments:
        path: a folder.

    Returns:
        True when it has ``saved_model.pb`` and only TensorFlow's SavedModel entries.

    Example:
        >>> from cnn2snn_tfmot.atomic import is_saved_model, os
        >>> os.makedirs("notes", exist_ok=True)
        >>> is_saved_model("notes")
        False
    """
    try:
        entries = set(os.listdir(path))
    except OSError:
        return False
    return "saved_model.pb" in entries and entries <= SAVED_MODEL_ENTRIES


#: Any file: nothing is recognised, so an existing file needs ``overwrite=True``.
ANY_FILE = OutputKind("a file this command writes", directory=False)
#: A SavedModel folder (a Keras model's, or the emulator's).
SAVED_MODEL = OutputKind("a SavedModel folder", directory=True, recognise=is_saved_model)


def _described(path: str) -> str:
    if os.path.islink(path):
        return "it is a symbolic link"
    if os.path.isdir(path):
        try:
            entries = sorted(os.listdir(path))
        except OSError:
            return "it is a folder that cannot be listed"
        if not entries:
            return "it is an empty folder"
        shown = ", ".join(repr(name) for name in entries[:3])
        more = f" and {len(entries) - 3} more" if len(entries) > 3 else ""
        return f"it is a folder holding {shown}{more}"
    if os.path.isfile(path):
        return "it is a file"
    return "it exists"


def _contains(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def check_output(path, kind: OutputKind = ANY_FILE, overwrite: bool = False,
                 inputs: Sequence = (), argument: str = "path") -> str:
    """Checks that ``kind`` may be written at ``path``; the one rule of every writer.

    Refused (:class:`OutputExistsError`): ``path`` is one of ``inputs``, lies inside one, or
    is a folder holding one (never allowed); its folder, or a folder above it, is a file; it
    exists and is not a previous output of ``kind`` (a regular file where a folder goes
    included) and ``overwrite`` is False.

    Arguments:
        path: the output path.
        kind: what is written there.
        overwrite: replace whatever is there (never an input).
        inputs: the paths the command reads (files or folders), compared after resolving
            symbolic links.
        argument: how messages name ``path`` when it is not a path at all.

    Returns:
        The absolute path.

    Raises:
        TypeError: ``path`` is not a str or os.PathLike; ValueError: it is empty.

    Example:
        >>> from cnn2snn_tfmot.atomic import ANY_FILE, check_output
        >>> check_output("fresh.akida", ANY_FILE).endswith("fresh.akida")
        True
    """
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"`{argument}` must be an output path (str or os.PathLike), got "
                        f"{type(path).__name__}.")
    shown = os.fsdecode(os.fspath(path))
    if not shown:
        raise ValueError(f"`{argument}` is an empty path; give the file or folder to write.")
    path = os.path.abspath(shown)
    real = os.path.realpath(path)
    for given in inputs:
        if given is None:
            continue
        source = os.path.realpath(os.fsdecode(os.fspath(given)))
        if _contains(real, source) or (os.path.isdir(source) and _contains(source, real)):
            relation = ("is" if source == real else "holds" if _contains(real, source)
                        else "lies inside")
            raise OutputExistsError(
                f"refusing to write {shown}: it {relation} the input {os.fsdecode(given)}, "
                "which writing would destroy; write the output elsewhere.")
    parent = os.path.dirname(path)
    while not os.path.lexists(parent) and os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
    if os.path.lexists(parent) and not os.path.isdir(parent):
        raise OutputExistsError(f"cannot write {shown}: {parent} is a file, not a folder; "
                                "choose an output path in a folder.")
    if os.path.lexists(path) and not overwrite and not kind.is_previous_output(path):
        added = _unlisted(path, kind.marker_name) if kind.marker and os.path.isdir(path) \
            else None
        if added:
            raise OutputExistsError(
                f"refusing to replace {shown}: it is {kind.description} to which files were "
                f"added since ({', '.join(map(repr, added[:3]))}); {OVERWRITE_HINT}.")
        raise OutputExistsError(
            f"refusing to replace {shown}: {_described(path)}, not {kind.description} (what "
            f"is written there); {OVERWRITE_HINT}.")
    return path


def _umask() -> int:
    """The process's umask, read without changing it where the system says it (Linux)."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)  # elsewhere: read by setting (briefly) and restoring
    os.umask(current)
    return current


def _temporary_name(path: str, tag: str) -> str:
    directory, base = os.path.split(path)
    return os.path.join(directory, f".{base}.{tag}-{secrets.token_hex(4)}")


def _make_directory(path: str) -> str:
    """A new, empty folder next to ``path`` with the umask's permissions (mkdtemp's are 0700)."""
    for _ in range(100):
        candidate = _temporary_name(path, "tmp")
        try:
            os.mkdir(candidate, 0o777)  # the umask applies, as for any folder the user makes
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary folder next to {path}.")


def _make_parent(path: str) -> str:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    return directory


@contextlib.contextmanager
def atomic_path(path, kind: OutputKind = ANY_FILE, overwrite: bool = False,
                inputs: Sequence = (), argument: str = "path") -> Iterator[str]:
    """Yields a temporary file path (same folder and suffix) renamed to ``path`` when the
    block succeeds, for writers that take a path (e.g. Keras's ``model.save``).

    Arguments:
        path: the destination file.
        kind: what is written (see :func:`check_output`).
        overwrite: replace a file that is not a previous output of ``kind``.
        inputs: the paths the output must not replace.
        argument: how messages name ``path``.

    Returns:
        A context manager yielding the temporary path (not yet created).

    Raises:
        OutputExistsError: see :func:`check_output`.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.atomic import atomic_path
        >>> with atomic_path("weights.npy") as temporary:
        ...     np.save(temporary, np.zeros(2))
        >>> np.load("weights.npy").tolist()
        [0.0, 0.0]
    """
    path = check_output(path, kind, overwrite, inputs, argument)
    _make_parent(path)
    temporary = _temporary_name(path, "tmp") + os.path.splitext(path)[1]
    try:
        yield temporary
        check_output(path, kind, overwrite, inputs)  # nothing appeared meanwhile
        if os.path.isdir(temporary):
            raise IsADirectoryError(f"the writer of {path} made a folder; a file goes there.")
        os.chmod(temporary, 0o666 & ~_umask())
    except BaseException:
        _remove(temporary)
        raise
    _commit(temporary, path)


def _fsync_directory(directory: str) -> None:
    """Makes the rename durable; best effort (not every platform can open a folder)."""
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
def atomic_file(path, mode: str = "wb", kind: OutputKind = ANY_FILE, overwrite: bool = False,
                inputs: Sequence = (), argument: str = "path"):
    """Opens a temporary file that replaces ``path`` when the block succeeds.

    Arguments:
        path: the destination file.
        mode: "wb" or "w" (text, UTF-8, newline="" as the csv module needs).
        kind, overwrite, inputs, argument: as for :func:`atomic_path`.

    Returns:
        A context manager yielding the open file.

    Raises:
        OutputExistsError: see :func:`check_output`.

    Example:
        >>> from cnn2snn_tfmot.atomic import atomic_file
        >>> with atomic_file("out.bin") as handle:
        ...     _ = handle.write(b"ok")
    """
    with atomic_path(path, kind, overwrite, inputs, argument) as temporary:
        text = {"encoding": "utf-8", "newline": ""} if "b" not in mode else {}
        with open(temporary, mode, **text) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(first: str, second: str) -> bool:
    """Swaps two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                          ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second),
                 _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False  # the file system cannot exchange: the two-rename fallback
    raise OSError(code, os.strerror(code), second)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.remove(path)


def _write_marker(temporary: str, kind: OutputKind) -> None:
    entries = sorted(os.listdir(temporary))
    with open(os.path.join(temporary, kind.marker_name), "w", encoding="utf-8") as handle:
        json.dump({"written_by": "cnn2snn_tfmot", "kind": kind.marker, "entries": entries},
                  handle, indent=1)
        handle.write("\n")


@contextlib.contextmanager
def atomic_directory(path, kind: OutputKind = SAVED_MODEL, overwrite: bool = False,
                     inputs: Sequence = (), argument: str = "path") -> Iterator[str]:
    """Yields a temporary folder that replaces ``path`` when the block succeeds.

    Arguments:
        path: the destination folder: created, or replaced when it is a previous output of
            ``kind`` (or with ``overwrite``).
        kind: what is written (a folder kind; its marker, if any, is added at the end).
        overwrite, inputs, argument: as for :func:`check_output`.

    Returns:
        A context manager yielding the temporary folder's path.

    Raises:
        OutputExistsError: see :func:`check_output`.

    Example:
        >>> from cnn2snn_tfmot.atomic import OutputKind, atomic_directory, os
        >>> notes = OutputKind("a notes folder", directory=True, marker="notes")
        >>> with atomic_directory("saved", notes) as temporary:
        ...     open(os.path.join(temporary, "a.txt"), "w").close()
        >>> sorted(os.listdir("saved"))
        ['.cnn2snn_tfmot-notes.json', 'a.txt']
    """
    if not kind.directory:
        raise ValueError(f"atomic_directory writes folders; {kind.description} is a file.")
    path = check_output(path, kind, overwrite, inputs, argument)
    _make_parent(path)
    temporary = _make_directory(path)
    try:
        yield temporary
        if kind.marker is not None:
            _write_marker(temporary, kind)
        check_output(path, kind, overwrite, inputs)  # nothing appeared meanwhile
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    _commit(temporary, path)


def _commit(temporary: str, path: str) -> None:
    """Puts the complete ``temporary`` at ``path``, atomically, and removes what was there."""
    same_type = os.path.isdir(temporary) == (os.path.isdir(path) and not os.path.islink(path))
    if not os.path.lexists(path) or (same_type and not os.path.isdir(temporary)):
        os.replace(temporary, path)  # a file over a file (or nothing): atomic
    elif _exchange(temporary, path):
        _remove(temporary)  # now the previous output
    else:  # two renames: a process killed between them leaves the previous output aside
        previous = _temporary_name(path, "old")
        os.rename(path, previous)
        os.rename(temporary, path)
        _remove(previous)
    _fsync_directory(os.path.dirname(path))
