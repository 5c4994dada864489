"""AkidaTensorBoard: the event file is read back, and each histogram and margin equals what the
converter's own code computes from the trained weights."""
import glob
import os

import numpy as np
import pytest

from cnn2snn_tfmot import AkidaTensorBoard, keras, tf
from cnn2snn_tfmot.conversion.compatibility import checked_blocks
from cnn2snn_tfmot.training.tensorboard import RUN_NAME, histogram_buckets, read_scalars

from helpers import converted_cnn


def read_events(log_dir):
    """{tag: {step: (plugin name, numpy value)}} of every summary under ``log_dir``."""
    found = {}
    for path in glob.glob(os.path.join(log_dir, "**", "*.tfevents.*"), recursive=True):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, {})[event.step] = (
                    value.metadata.plugin_data.plugin_name, tf.make_ndarray(value.tensor))
    return found


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model_q, _, images, labels = converted_cnn()
    log_dir = str(tmp_path_factory.mktemp("logs"))
    model_q.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy())
    model_q.fit(images / 255, labels, epochs=2, verbose=0,
                callbacks=[AkidaTensorBoard(log_dir, input_scaling=(255, 0))])
    return model_q, log_dir


def test_histograms_and_margins_equal_the_converter_registers(trained):
    model_q, log_dir = trained
    events = read_events(log_dir)
    assert os.path.isdir(os.path.join(log_dir, RUN_NAME))
    _, registers = checked_blocks(model_q, input_scaling=(255, 0))  # the final weights
    expected_tags = set()
    for block in registers:
        kernels = {f"akida_weights/{block.name}": block.weights} if block.weights_pw is None \
            else {f"akida_weights/{block.name}/depthwise": block.weights,
                  f"akida_weights/{block.name}/pointwise": block.weights_pw}
        for tag, kernel in kernels.items():
            plugin, buckets = events[tag][1]
            assert plugin == "histograms"
            values = kernel.astype(np.int64).ravel()
            # one bucket per integer from the smallest to the largest weight, exact counts
            np.testing.assert_array_equal(buckets[:, 0] + 0.5,
                                          np.arange(values.min(), values.max() + 1))
            np.testing.assert_array_equal(buckets[:, 2], np.bincount(values - values.min()))
        plugin, buckets = events[f"akida_thresholds/{block.name}"][1]
        assert plugin == "histograms" and buckets[:, 2].sum() == block.threshold.size
        assert buckets[0, 0] <= block.threshold.min() and buckets[-1, 1] >= block.threshold.max()
        plugin, margin = events[f"akida_margin/{block.name}"][1]
        assert plugin == "scalars"
        assert float(margin) == pytest.approx(block.margin(), abs=1e-5)
        assert sorted(events[f"akida_margin/{block.name}"]) == [0, 1]
        expected_tags |= set(kernels) | {f"akida_{kind}/{block.name}" for kind in
                                         ("thresholds", "act_steps", "margin")}
    assert set(events) == expected_tags


def test_read_scalars_reads_our_margins_and_keras_epoch_tags(trained, tmp_path):
    _, log_dir = trained
    scalars = read_scalars(log_dir, prefix="akida_margin/")
    assert sorted(scalars) == ["akida_margin/c0", "akida_margin/c2", "akida_margin/d",
                               "akida_margin/s1"]
    assert [step for step, _ in scalars["akida_margin/d"]] == [0, 1]
    writer = tf.summary.create_file_writer(str(tmp_path / "train"))
    with writer.as_default():
        tf.summary.write("epoch_akida_margin/c0", 4.0, step=3)
        tf.summary.write("epoch_loss", 1.0, step=3)
    writer.flush()
    assert read_scalars(tmp_path, prefix="akida_margin/") == {"akida_margin/c0": [(3, 4.0)]}
    with pytest.raises(FileNotFoundError, match="no TensorBoard event file"):
        read_scalars(tmp_path / "nothing")


def test_batch_frequency_steps_are_batches_seen(trained, tmp_path):
    """The Keras callback protocol, driven by hand: 6 batches over two epochs, every 2."""
    model_q, _ = trained
    board = AkidaTensorBoard(tmp_path, input_scaling=(255, 0), frequency=2)
    board.set_model(model_q)
    board.on_train_begin()
    for epoch in range(2):
        for batch in range(3):
            board.on_train_batch_end(batch)
        board.on_epoch_end(epoch)
    board.on_train_end()
    scalars = read_scalars(tmp_path, prefix="akida_margin/")
    assert [step for step, _ in scalars["akida_margin/c0"]] == [2, 4, 6]


def test_arguments_config_and_refusals(tmp_path):
    with pytest.raises(ValueError, match="frequency"):
        AkidaTensorBoard(tmp_path, frequency=0)
    with pytest.raises(ValueError):
        AkidaTensorBoard(tmp_path, input_scaling=(0, 0))
    board = AkidaTensorBoard(tmp_path, input_scaling=(255, 0), frequency=3)
    clone = AkidaTensorBoard(**board.get_config())
    assert clone.get_config() == board.get_config()
    float_model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Conv2D(2, 3),
                                    keras.layers.Flatten(), keras.layers.Dense(2)])
    float_model.compile("adam", "mse")
    with pytest.raises(ValueError, match="AkidaTensorBoard needs a model that convert"):
        float_model.fit(np.zeros((2, 4, 4, 1)), np.zeros((2, 2)), verbose=0,
                        callbacks=[AkidaTensorBoard(tmp_path)])


def test_histogram_buckets():
    np.testing.assert_array_equal(histogram_buckets(np.array([5, 5], np.int32)),
                                  [[4.5, 5.5, 2.0]])
    floats = histogram_buckets(np.linspace(0, 1, 100, dtype=np.float32))
    assert floats.shape == (30, 3) and floats[:, 2].sum() == 100
    assert histogram_buckets(np.full(3, 0.25, np.float32)).tolist() == [[0.25, 0.25, 3.0]]
    wide = histogram_buckets(np.array([0, 10 ** 6], np.int64))
    assert wide.shape == (30, 3)


def test_tensorboard_itself_reads_the_histograms(trained):
    """With the tensorboard package installed, its own loader reads our histograms."""
    accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    _, log_dir = trained
    loader = accumulator.EventAccumulator(os.path.join(log_dir, RUN_NAME),
                                          size_guidance={accumulator.TENSORS: 0})
    loader.Reload()
    tags = loader.Tags()["tensors"]
    assert "akida_weights/c0" in tags and "akida_margin/c0" in tags
    event = loader.Tensors("akida_weights/c0")[-1]
    assert tf.make_ndarray(event.tensor_proto).shape[1] == 3
    assert loader.SummaryMetadata("akida_weights/c0").plugin_data.plugin_name == "histograms"
