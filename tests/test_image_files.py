"""Images from IDX, .npy / .npz files and folders of PNG / JPEG, as uint8 batches."""
import os

import numpy as np
import pytest

from cnn2snn_tfmot.data.image_files import (
    decode_image_file,
    list_class_folders,
    open_images,
    read_labels,
)
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
    assert source.notes == ["6 of 6 images resized from (28, 28) to (64, 64) with TensorFlow "
                            "(bilinear)", "6 of 6 images converted from grey to RGB"]
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
    assert source.notes == ["6 of 6 images resized from (20, 24) to (16, 16) with TensorFlow "
                            "(bilinear)", "6 of 6 images converted from RGB to grey"]


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
    with pytest.raises(ValueError, match="integer class indices, got dtype float64"):
        read_labels(str(tmp_path / "f.npy"))
    np.save(str(tmp_path / "obj.npy"), np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy: the array holds Python objects.*never unp"):
        open_images(str(tmp_path / "obj.npy"), (8, 8, 1))


def _write_png(path, image):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(image).numpy())


def test_folders_are_labelled_as_keras_labels_them(tmp_path):
    """Hidden folders are not classes (Keras's image_dataset_from_directory skips them), class
    folders are read recursively in Keras's order: the labels are Keras's."""
    from cnn2snn_tfmot.tfkeras import keras

    rng = np.random.default_rng(6)
    root = tmp_path / "data"
    for name in ["b_cat", "a_dog", ".ipynb_checkpoints"]:
        for index in range(2):
            image = rng.integers(0, 256, (8, 8, 1)).astype(np.uint8)
            _write_png(root / name / f"{index}.png", image)
    _write_png(root / "a_dog" / "nested" / "deep.png", np.zeros((8, 8, 1), np.uint8))
    _write_png(root / "a_dog" / ".hidden.png", np.zeros((8, 8, 1), np.uint8))
    source = open_images(str(root), (8, 8, 1))
    assert source.class_names == ["a_dog", "b_cat"]
    expected = keras.utils.image_dataset_from_directory(
        str(root), image_size=(8, 8), color_mode="grayscale", shuffle=False, batch_size=None)
    assert expected.class_names == source.class_names
    keras_files = [os.path.relpath(f, root) for f in expected.file_paths
                   if not os.path.basename(f).startswith(".")]
    assert source.names() == keras_files  # Keras also reads hidden files inside a class
    keras_labels = dict(zip((os.path.relpath(f, root) for f in expected.file_paths),
                            (int(label) for _, label in expected)))
    assert source.labels.tolist() == [keras_labels[name] for name in source.names()]
    assert source.notes == ["skipped hidden entries (names starting with '.', as Keras does): "
                            "'.ipynb_checkpoints'; 1 inside the class folders"]


def test_resizing_and_conversion_are_counted_before_any_batch(tmp_path):
    _write_png(tmp_path / "d" / "a" / "0.png", np.zeros((8, 8, 1), np.uint8))
    _write_png(tmp_path / "d" / "a" / "1.png", np.zeros((6, 8, 3), np.uint8))
    _write_png(tmp_path / "d" / "b" / "2.png", np.zeros((8, 8, 3), np.uint8))
    source = open_images(str(tmp_path / "d"), (8, 8, 1))
    assert source.notes == ["1 of 3 images resized from (6, 8) to (8, 8) with TensorFlow "
                            "(bilinear)", "2 of 3 images converted from RGB to grey"]
    assert all_images(source).shape == (3, 8, 8, 1)
    (tmp_path / "d" / "b" / "3.png").write_bytes(b"\x89PNG but not an image")
    with pytest.raises(ValueError, match="3.png: cannot be decoded as an image"):
        open_images(str(tmp_path / "d"), (8, 8, 1))  # at open, before any batch


@pytest.mark.parametrize("kind", ["npz", "labels_file"])
def test_float_labels_are_refused_and_one_hot_labels_converted(tmp_path, kind):
    x = images(4, seed=7)
    floats = np.array([0.0, 1.7, 2.0, 3.0], np.float32)
    one_hot = np.eye(5, dtype=np.float32)[[1, 0, 4, 2]]

    def opened(y):
        if kind == "npz":
            np.savez(str(tmp_path / "d.npz"), x=x, y=y)
            return open_images(str(tmp_path / "d.npz"), (16, 16, 1))
        np.save(str(tmp_path / "x.npy"), x)
        np.save(str(tmp_path / "y.npy"), y)
        return open_images(str(tmp_path / "x.npy"), (16, 16, 1), labels=str(tmp_path / "y.npy"))

    with pytest.raises(ValueError, match=r"labels must be integer class indices, got dtype "
                                         r"float32, e\.g\. 1\.7: they are never truncated"):
        opened(floats)
    source = opened(one_hot)
    assert source.labels.tolist() == [1, 0, 4, 2]
    assert any("one-hot labels (4, 5) converted to class indices" in n for n in source.notes)
    with pytest.raises(ValueError, match="neither class indices"):
        opened(one_hot * 2)


def test_list_class_folders_is_the_rule_open_images_follows(tmp_path):
    root = tmp_path / "data"
    for name in ["zebra", "ant", ".cache"]:
        for index in range(2):
            _write_png(root / name / f"{index}.png", np.zeros((8, 8, 1), np.uint8))
    (root / "ant" / "notes.txt").write_text("not an image")
    _write_png(root / "readme.png", np.zeros((8, 8, 1), np.uint8))  # at the top: not a class
    folders = list_class_folders(root)
    assert folders.class_names == ["ant", "zebra"] and folders.labels.tolist() == [0, 0, 1, 1]
    assert [os.path.relpath(f, root) for f in folders.files] == [
        "ant/0.png", "ant/1.png", "zebra/0.png", "zebra/1.png"]
    assert folders.notes == ["skipped hidden entries (names starting with '.', as Keras does): "
                             "'.cache'"]
    source = open_images(root, (8, 8, 1))
    assert source.files == folders.files and source.labels.tolist() == [0, 0, 1, 1]
    with pytest.raises(FileNotFoundError, match="missing: no such folder"):
        list_class_folders(tmp_path / "missing")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="empty: no BMP/GIF/JPG/PNG images found"):
        list_class_folders(tmp_path / "empty")


def test_folders_decode_in_parallel_as_one_by_one(tmp_path):
    """The tf.data pipeline and the one-file decoding give the same pixels (resized or not),
    and both are the file's own pixels when its size is the model's."""
    rng = np.random.default_rng(7)
    files = []
    for index, size in enumerate([(8, 8), (11, 9), (8, 8)]):
        image = rng.integers(0, 256, size + (3,)).astype(np.uint8)
        _write_png(tmp_path / "d" / f"{index}.png", image)
        files.append(image)
    source = open_images(tmp_path / "d", (8, 8, 3))
    together = all_images(source, batch_size=3)
    one_by_one = np.stack([decode_image_file(str(tmp_path / "d" / f"{i}.png"), (8, 8, 3))
                           for i in range(3)])
    np.testing.assert_array_equal(together, one_by_one)
    np.testing.assert_array_equal(together[0], files[0])
    np.testing.assert_array_equal(together[2], files[2])
    expected = tf.cast(tf.clip_by_value(tf.round(tf.image.resize(
        tf.cast(files[1], tf.float32), (8, 8))), 0, 255), tf.uint8).numpy()
    np.testing.assert_array_equal(together[1], expected)
    (tmp_path / "d" / "1.png").write_bytes((tmp_path / "d" / "0.png").read_bytes()[:40])
    with pytest.raises(ValueError, match="1.png: cannot be decoded"):
        all_images(open_images(tmp_path / "d", (8, 8, 3)), batch_size=3)
