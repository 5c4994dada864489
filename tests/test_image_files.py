"""Images from IDX, .npy / .npz files and folders of PNG / JPEG, as uint8 batches."""
import os

import numpy as np
import pytest

from cnn2snn_tfmot.data.image_files import open_images, read_labels
from cnn2snn_tfmot.tfkeras import tf

from helpers import images, write_idx


def all_images(source, batch_size=4):
    return np.concatenate(list(source.batches(batch_size)))


def test_idx_images_and_labels(tmp_path):
    x = images(10, (28, 28, 1), seed=1)[..., 0]
    y = np.arange(10, dtype=np.uint8)
    write_idx(str(tmp_path / "images-idx3-ubyte.gz"), x)
    write_idx(str(tmp_path / "labels-idx1-ubyte"), y)
    source = open_images(str(tmp_path / "images-idx3-ubyte.gz"), (28, 28, 1),
                         labels=str(tmp_path / "labels-idx1-ubyte"))
    assert len(source) == 10 and source.notes == []
    np.testing.assert_array_equal(all_images(source), x[..., None])
    np.testing.assert_array_equal(source.labels, y)


def test_npz_with_labels_and_resizing_to_the_model_input(tmp_path):
    x = images(6, (28, 28, 1), seed=2)
    np.savez(str(tmp_path / "d.npz"), x=x, y=np.arange(6))
    source = open_images(str(tmp_path / "d.npz"), (64, 64, 3))
    batch = all_images(source)
    assert batch.shape == (6, 64, 64, 3) and batch.dtype == np.uint8
    expected = tf.image.grayscale_to_rgb(tf.image.resize(x.astype(np.float32), (64, 64)))
    np.testing.assert_array_equal(batch, np.clip(np.round(expected.numpy()), 0, 255))
    assert source.notes == ["images resized from (28, 28, 1) to (64, 64, 3) with TensorFlow "
                            "(bilinear)"]
    assert source.labels.tolist() == list(range(6))


def test_integer_arrays_in_range_are_taken_float_ones_refused(tmp_path):
    np.save(str(tmp_path / "ints.npy"), images(3, seed=3).astype(np.int64))
    assert all_images(open_images(str(tmp_path / "ints.npy"), (16, 16, 1))).dtype == np.uint8
    np.save(str(tmp_path / "big.npy"), images(3, seed=3).astype(np.int64) + 200)
    with pytest.raises(ValueError, match=r"0\.\.255"):
        all_images(open_images(str(tmp_path / "big.npy"), (16, 16, 1)))
    np.save(str(tmp_path / "float.npy"), images(3, seed=3) / 255)
    with pytest.raises(ValueError, match="dtype float64.*never cast"):
        open_images(str(tmp_path / "float.npy"), (16, 16, 1))


def test_a_folder_of_class_subfolders(tmp_path):
    rng = np.random.default_rng(4)
    for name in ["cat", "dog"]:
        os.makedirs(tmp_path / "data" / name)
        for index in range(3):
            image = rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)
            encoded = tf.io.encode_png(image) if index else tf.io.encode_jpeg(image)
            suffix = ".png" if index else ".jpg"
            (tmp_path / "data" / name / f"{index}{suffix}").write_bytes(encoded.numpy())
    source = open_images(str(tmp_path / "data"), (16, 16, 1))
    assert len(source) == 6 and source.class_names == ["cat", "dog"]
    assert source.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert source.names()[3] == os.path.join("dog", "0.jpg")
    batch = all_images(source)
    assert batch.shape == (6, 16, 16, 1) and batch.dtype == np.uint8
    assert "images resized to (16, 16)" in source.notes[0]


def test_a_flat_folder_has_no_labels_and_bad_images_are_named(tmp_path):
    image = np.zeros((8, 8, 1), np.uint8)
    (tmp_path / "a.png").write_bytes(tf.io.encode_png(image).numpy())
    source = open_images(str(tmp_path), (8, 8, 1))
    assert source.labels is None and source.names() == ["a.png"]
    (tmp_path / "b.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="b.png: cannot be decoded"):
        all_images(open_images(str(tmp_path), (8, 8, 1)))


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_images(str(tmp_path / "missing.npy"), (8, 8, 1))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="x.txt: unknown image file"):
        open_images(str(tmp_path / "x.txt"), (8, 8, 1))
    np.save(str(tmp_path / "x.npy"), images(4, seed=5))
    np.save(str(tmp_path / "y.npy"), np.arange(3))
    with pytest.raises(ValueError, match="3 labels for the 4 images"):
        open_images(str(tmp_path / "x.npy"), (16, 16, 1), labels=str(tmp_path / "y.npy"))
    np.save(str(tmp_path / "f.npy"), np.ones(4))
    with pytest.raises(ValueError, match="1-D integer array"):
        read_labels(str(tmp_path / "f.npy"))
    np.save(str(tmp_path / "obj.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy: cannot be read .*nothing is unpickled"):
        open_images(str(tmp_path / "obj.npy"), (8, 8, 1))
