"""Datasets read from files (cnn2snn_tfmot.data.datafiles): .npy (memory-mapped), .npz, TFRecord."""
import numpy as np
import pytest

from cnn2snn_tfmot import convert, evaluate_sharded, quantize, tf
from cnn2snn_tfmot.data.datafiles import DataFileError, open_dataset
from cnn2snn_tfmot.data.zoo import calibrate_batchnorm

from helpers import float_cnn, images

COUNT = 1100  # more than one element of BATCH images


@pytest.fixture(scope="module")
def setup():
    x = images(COUNT, (16, 16, 1), seed=2)
    labels = np.random.default_rng(2).integers(0, 10, COUNT)
    model = float_cnn()
    calibrate_batchnorm(model, x[:256] / 255)
    akida_model = convert(quantize(model, 4, 4, 8), input_scaling=(255, 0))
    return akida_model, x, labels


def test_npy_images_and_labels_stream(setup, tmp_path):
    model, x, labels = setup
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", labels.astype(np.int32))
    stream = open_dataset(tmp_path / "x.npy", labels=str(tmp_path / "y.npy"))
    assert model.evaluate(stream) == model.evaluate(x, labels)
    np.testing.assert_array_equal(model.predict(open_dataset(str(tmp_path / "x.npy"))),
                                  model.predict(x))
    assert evaluate_sharded(model, stream).accuracy == model.evaluate(x, labels)


def test_npz(setup, tmp_path):
    model, x, labels = setup
    np.savez(tmp_path / "set.npz", x=x, y=labels)
    assert model.evaluate(open_dataset(str(tmp_path / "set.npz"))) == model.evaluate(x, labels)
    np.savez(tmp_path / "images_only.npz", images=x)
    np.testing.assert_array_equal(model.forward(open_dataset(str(tmp_path / "images_only.npz"))),
                                  model.forward(x))


def test_tfrecord_files_of_encoded_images(setup, tmp_path):
    model, x, labels = setup
    for part, (start, stop) in enumerate([(0, 600), (600, COUNT)]):
        with tf.io.TFRecordWriter(str(tmp_path / f"part-{part}.tfrecord")) as writer:
            for image, label in zip(x[start:stop], labels[start:stop]):
                example = tf.train.Example(features=tf.train.Features(feature={
                    "image": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[tf.io.encode_png(image).numpy()])),
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(
                        value=[int(label)]))}))
                writer.write(example.SerializeToString())
    stream = open_dataset(str(tmp_path / "part-*.tfrecord"))
    assert model.evaluate(stream) == model.evaluate(x, labels)
    only_images = open_dataset([str(tmp_path / "part-0.tfrecord")], tfrecord_labels=False)
    np.testing.assert_array_equal(model.forward(only_images), model.forward(x[:600]))


def test_clear_errors(setup, tmp_path):
    _, x, labels = setup
    np.save(tmp_path / "float.npy", x.astype(np.float32))
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "short.npy", labels[:5])
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "other.npz", data=x)
    (tmp_path / "x.csv").write_text("0,1\n")
    cases = [
        ((str(tmp_path / "float.npy"),), "images have dtype float32; Akida inputs are uint8"),
        ((str(tmp_path / "x.npy"), str(tmp_path / "short.npy")), r"5 labels for the 1100 "
                                                                 r"images"),
        ((str(tmp_path / "objects.npy"),), "objects.npy: the array holds Python objects"),
        ((str(tmp_path / "other.npz"),), r"no images array; name it one of"),
        ((str(tmp_path / "missing.npy"),), "missing.npy: no such file"),
        ((str(tmp_path / "x.npy"), str(tmp_path / "nolabels.npy")), "nolabels.npy: no such"),
        ((str(tmp_path / "none-*.tfrecord"),), "no such TFRecord file"),
        ((str(tmp_path / "x.csv"),), "unknown image file.*TFRecord"),
        ((str(tmp_path),), "a folder of images needs input_shape"),
    ]
    for arguments, message in cases:
        with pytest.raises(DataFileError, match=message):
            open_dataset(*arguments)


def test_integer_images_idx_files_and_resizing_follow_the_command_line_reader(setup, tmp_path):
    """The rules of image_files (the command line's reader) hold here too: integer images in
    0..255 are taken, beyond are refused, IDX files are read, resizing is announced."""
    from helpers import write_idx

    model, x, labels = setup
    np.save(tmp_path / "wide.npy", x.astype(np.int32))
    np.testing.assert_array_equal(model.forward(open_dataset(str(tmp_path / "wide.npy"))),
                                  model.forward(x))
    np.save(tmp_path / "beyond.npy", x.astype(np.int32) + 256)
    with pytest.raises(DataFileError, match=r"integer images must lie in 0..255"):
        open_dataset(str(tmp_path / "beyond.npy"))
    write_idx(tmp_path / "images-idx3-ubyte", x[..., 0])
    write_idx(tmp_path / "labels-idx1-ubyte", labels.astype(np.uint8))
    stream = open_dataset(str(tmp_path / "images-idx3-ubyte"),
                          labels=str(tmp_path / "labels-idx1-ubyte"))
    assert model.evaluate(stream) == model.evaluate(x, labels)
    np.save(tmp_path / "small.npy", x[:, ::2, ::2])
    with pytest.warns(UserWarning, match=r"1100 of 1100 images resized from \(8, 8\) to "
                                         r"\(16, 16\)"):
        small = open_dataset(str(tmp_path / "small.npy"), input_shape=(16, 16, 1))
    assert model.forward(small).shape == model.forward(x).shape


def _write_records(path, pictures, labels=None, float_labels=False):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for index, image in enumerate(pictures):
            feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[tf.io.encode_png(image).numpy()]))}
            if labels is not None:
                value = np.atleast_1d(labels[index])
                feature["label"] = tf.train.Feature(
                    float_list=tf.train.FloatList(value=value.tolist())) if float_labels else \
                    tf.train.Feature(int64_list=tf.train.Int64List(value=value.tolist()))
            writer.write(tf.train.Example(features=tf.train.Features(
                feature=feature)).SerializeToString())


def test_problems_inside_a_stream_are_one_error_naming_the_file(setup, tmp_path):
    model, x, labels = setup
    mixed = tmp_path / "mixed.tfrecord"
    _write_records(mixed, [x[0], x[1, :8, :8], x[2]], labels[:3])
    with pytest.raises(ValueError, match=r"^reading the dataset failed: .*mixed.tfrecord: an "
                                         r"image has shape \[8 8 1\], the first \[16 16 1\]"):
        model.evaluate(open_dataset(str(mixed)))
    resized = open_dataset(str(mixed), input_shape=(16, 16, 1))
    assert model.forward(resized).shape[0] == 3
    folder = tmp_path / "folder" / "class"
    folder.mkdir(parents=True)
    for index in range(3):
        (folder / f"{index}.png").write_bytes(tf.io.encode_png(x[index]).numpy())
    whole = (folder / "1.png").read_bytes()
    (folder / "1.png").write_bytes(whole[:len(whole) // 2])  # a valid header, truncated data
    stream = open_dataset(str(tmp_path / "folder"), input_shape=(16, 16, 1))
    with pytest.raises(ValueError, match=r"^reading the dataset failed: .*1.png: cannot be "
                                         r"decoded as an image") as caught:
        model.forward(stream)
    assert "Traceback" not in str(caught.value) and "\n" not in str(caught.value)


def test_labels_follow_one_rule_in_every_source(setup, tmp_path):
    model, x, labels = setup
    _write_records(tmp_path / "floats.tfrecord", x[:3], labels[:3] + 0.5, float_labels=True)
    with pytest.raises(DataFileError, match=r"labels must be integer class indices, got dtype "
                                            r"float32, e\.g\. \d\.5"):
        open_dataset(str(tmp_path / "floats.tfrecord"))
    one_hot = np.eye(10, dtype=np.int64)[labels[:3]]
    _write_records(tmp_path / "one_hot.tfrecord", x[:3], one_hot)
    with pytest.warns(UserWarning, match=r"one-hot labels \(10 classes\) converted"):
        stream = open_dataset(str(tmp_path / "one_hot.tfrecord"))
    assert [int(label) for _, label in stream] == labels[:3].tolist()
    np.savez(tmp_path / "floats.npz", x=x[:3], y=labels[:3] + 0.5)
    with pytest.raises(DataFileError, match=r"labels must be integer class indices, got dtype "
                                            r"float64, e\.g\. \d\.5"):
        open_dataset(str(tmp_path / "floats.npz"))
    np.savez(tmp_path / "one_hot.npz", x=x[:3], y=one_hot)
    with pytest.warns(UserWarning, match=r"one-hot labels \(3, 10\) converted"):
        stream = open_dataset(str(tmp_path / "one_hot.npz"))
    assert model.evaluate(stream) == model.evaluate(x[:3], labels[:3])


@pytest.mark.parametrize("images", [42, None, 3.5, b"x.npy", [], [42], {"a": 1}])
def test_arguments_of_the_wrong_type_are_type_errors(images):
    with pytest.raises(TypeError, match="open_dataset: `images` must be a path"):
        open_dataset(images)
