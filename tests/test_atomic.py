"""Writing outputs: complete at the path or the old content untouched, the umask's permissions,
never over what the package did not write, never over an input."""
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from cnn2snn_tfmot.atomic import (
    ANY_FILE,
    SAVED_MODEL,
    OutputExistsError,
    OutputKind,
    atomic_directory,
    atomic_file,
    atomic_path,
    check_output,
)

from helpers import REPO

NOTES = OutputKind("a notes folder", directory=True, marker="notes")


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(str(path), "w", overwrite=True) as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with atomic_file(str(path), "w", overwrite=True) as handle:
        handle.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_an_interrupt_leaves_the_previous_output_and_no_temporary(tmp_path):
    target = tmp_path / "saved"
    with atomic_directory(str(target), NOTES) as temporary:
        open(os.path.join(temporary, "old.txt"), "w").close()
    for writer in (lambda: atomic_directory(str(target), NOTES),
                   lambda: atomic_file(str(tmp_path / "f.txt"), "w")):
        with pytest.raises(KeyboardInterrupt):
            with writer():
                raise KeyboardInterrupt  # Ctrl-C in the middle of a write
    assert sorted(os.listdir(tmp_path)) == ["saved"]
    assert sorted(os.listdir(target)) == [NOTES.marker_name, "old.txt"]


def test_atomic_path_keeps_the_suffix_for_path_writers(tmp_path):
    with atomic_path(str(tmp_path / "m.h5")) as temporary:
        assert temporary.endswith(".h5") and not os.path.exists(temporary)
        open(temporary, "w").close()
    assert os.listdir(tmp_path) == ["m.h5"]


def test_directories_are_replaced_whole(tmp_path):
    target = tmp_path / "saved"
    with atomic_directory(str(target), NOTES) as temporary:
        open(os.path.join(temporary, "old.txt"), "w").close()
    with pytest.raises(RuntimeError):
        with atomic_directory(str(target), NOTES) as temporary:
            open(os.path.join(temporary, "new.txt"), "w").close()
            raise RuntimeError("interrupted")
    assert sorted(os.listdir(target)) == [NOTES.marker_name, "old.txt"]
    assert os.listdir(tmp_path) == ["saved"]  # no temporary left behind
    with atomic_directory(str(target), NOTES) as temporary:
        open(os.path.join(temporary, "new.txt"), "w").close()
    assert sorted(os.listdir(target)) == [NOTES.marker_name, "new.txt"]
    assert os.listdir(tmp_path) == ["saved"]


def test_what_we_did_not_write_is_never_replaced(tmp_path):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "thesis.tex").write_text("chapter 1")
    for kind in (SAVED_MODEL, NOTES):
        with pytest.raises(OutputExistsError, match=r"userdir: it is a folder holding "
                                                    r"'thesis.tex'.*overwrite=True"):
            with atomic_directory(str(user), kind):
                pytest.fail("the block must not run")
    assert os.listdir(user) == ["thesis.tex"]
    notes = tmp_path / "notesfile"
    notes.write_text("mine")
    with pytest.raises(OutputExistsError, match="notesfile: it is a file, not a SavedModel"):
        check_output(str(notes), SAVED_MODEL)
    with pytest.raises(OutputExistsError, match="notesfile: it is a file, not a file this"):
        check_output(str(notes), ANY_FILE)
    # a folder we marked, then the user added a file to: no longer only ours
    with atomic_directory(str(tmp_path / "marked"), NOTES) as temporary:
        open(os.path.join(temporary, "a.txt"), "w").close()
    (tmp_path / "marked" / "user.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="marked"):
        check_output(str(tmp_path / "marked"), NOTES)
    # overwrite=True replaces it, a file by a folder too
    with atomic_directory(str(notes), SAVED_MODEL, overwrite=True) as temporary:
        open(os.path.join(temporary, "saved_model.pb"), "w").close()
    assert os.listdir(notes) == ["saved_model.pb"]
    assert notes.parent.joinpath("thesis.tex").exists() is False


def test_an_input_is_never_an_output_even_with_overwrite(tmp_path):
    model = tmp_path / "float.h5"
    model.write_text("weights")
    for output in (model, tmp_path, tmp_path / "." / "float.h5"):
        with pytest.raises(OutputExistsError, match="input .*float.h5.*destroy"):
            check_output(str(output), SAVED_MODEL, overwrite=True, inputs=[str(model)])
    with pytest.raises(OutputExistsError, match="lies inside the input"):
        check_output(str(tmp_path / "out.akida"), ANY_FILE, inputs=[str(tmp_path)])
    os.symlink(model, tmp_path / "link.h5")
    with pytest.raises(OutputExistsError, match="is the input"):
        check_output(str(tmp_path / "link.h5"), ANY_FILE, overwrite=True, inputs=[str(model)])
    assert model.read_text() == "weights"


def test_a_file_in_the_way_of_the_parent_is_named(tmp_path):
    (tmp_path / "notes").write_text("mine")
    with pytest.raises(OutputExistsError, match=r"notes is a file, not a folder"):
        check_output(str(tmp_path / "notes" / "sub" / "m.akida"), ANY_FILE)


def test_outputs_get_the_umask_permissions(tmp_path):
    previous = os.umask(0o022)
    try:
        with atomic_directory(str(tmp_path / "saved"), NOTES) as temporary:
            with open(os.path.join(temporary, "a.txt"), "w") as handle:
                handle.write("x")
        with atomic_file(str(tmp_path / "f.bin")) as handle:
            handle.write(b"x")
        with atomic_path(str(tmp_path / "g.bin")) as temporary:
            with open(temporary, "wb") as handle:
                handle.write(b"x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(tmp_path / "saved").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "f.bin").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "g.bin").st_mode) == 0o644


#: A writer that rewrites a folder and a file forever, each version whole (10 files of the
#: same number, the file the same number 10 times); the atomic module is loaded alone, so the
#: process starts in a fraction of a second.
WRITER = r"""
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("atomic", sys.argv[1])
atomic = importlib.util.module_from_spec(spec)
sys.modules["atomic"] = atomic
spec.loader.exec_module(atomic)
kind = atomic.OutputKind("a test folder", directory=True, marker="test")
folder, file = sys.argv[2], sys.argv[3]
version = 0
while True:
    version += 1
    with atomic.atomic_directory(folder, kind) as temporary:
        for index in range(10):
            with open(os.path.join(temporary, f"{index}.txt"), "w") as handle:
                handle.write(str(version) * 1000)
    with atomic.atomic_file(file, "w", overwrite=True) as handle:
        handle.write(str(version) * 10000)
    print(version, flush=True)
"""


def _whole(folder, file):
    """The version of the folder and of the file, asserting each is complete."""
    names = sorted(name for name in os.listdir(folder) if not name.startswith("."))
    assert names == [f"{index}.txt" for index in range(10)]
    contents = {open(os.path.join(folder, name)).read() for name in names}
    assert len(contents) == 1
    text = open(file).read()
    assert len(set(text)) <= len(text) and text == text[:len(text) // 10000] * 10000
    return contents.pop(), text


@pytest.mark.processes
def test_a_killed_writer_leaves_the_old_output_or_the_new_one(tmp_path):
    folder, file = str(tmp_path / "out"), str(tmp_path / "out.txt")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    atomic = os.path.join(REPO, "cnn2snn_tfmot", "atomic.py")
    for delay in (0.05, 0.13, 0.21, 0.3, 0.42):
        process = subprocess.Popen([sys.executable, str(script), atomic, folder, file],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline()  # one version complete
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdout.close()
        _whole(folder, file)
    leftovers = [name for name in os.listdir(tmp_path) if name.startswith(".out")]
    assert all(".tmp-" in name for name in leftovers)  # never the old output set aside
