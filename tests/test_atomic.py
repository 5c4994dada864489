"""Atomic writes: complete at the path, or the old content untouched."""
import os

import pytest

from cnn2snn_tfmot.atomic import atomic_directory, atomic_file, atomic_path


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_file(str(path), "w") as handle:
            handle.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["out.txt"]
    with atomic_file(str(path), "w") as handle:
        handle.write("new")
    assert path.read_text() == "new" and os.listdir(tmp_path) == ["out.txt"]


def test_atomic_path_keeps_the_suffix_for_path_writers(tmp_path):
    with atomic_path(str(tmp_path / "m.h5")) as temporary:
        assert temporary.endswith(".h5") and not os.path.exists(temporary)
        open(temporary, "w").close()
    assert os.listdir(tmp_path) == ["m.h5"]


def test_directories_are_replaced_whole(tmp_path):
    target = tmp_path / "saved"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_directory(str(target)) as temporary:
            open(os.path.join(temporary, "new.txt"), "w").close()
            raise RuntimeError("interrupted")
    assert os.listdir(target) == ["old.txt"]
    assert os.listdir(tmp_path) == ["saved"]  # no temporary left behind
    with atomic_directory(str(target)) as temporary:
        open(os.path.join(temporary, "new.txt"), "w").close()
    assert os.listdir(target) == ["new.txt"] and os.listdir(tmp_path) == ["saved"]
