"""forward / predict / evaluate take arrays, tf.data datasets and iterables of batches alike."""
import numpy as np
import pytest

from cnn2snn_tfmot.akida.inputs import batches
from cnn2snn_tfmot.tfkeras import tf

from akida_helpers import MODEL_FACTORIES, random_input, randomize


@pytest.fixture(scope="module")
def prepared():
    rng = np.random.default_rng(3)
    model = MODEL_FACTORIES["image_max_model"]()
    x = random_input(model, rng, 30)
    randomize(model, x, rng)
    labels = rng.integers(0, 10, 30).astype(np.int64)
    return model, x, labels


def sources(x, labels):
    """The same 30 images (and labels), as every kind of input."""
    return {
        "dataset_unbatched": tf.data.Dataset.from_tensor_slices(x),
        "dataset_batched": tf.data.Dataset.from_tensor_slices(x).batch(7),
        "generator": (x[i:i + 4] for i in range(0, 30, 4)),
        "list_of_batches": [x[:10], x[10:25], x[25:]],
        "labelled_dataset": tf.data.Dataset.from_tensor_slices((x, labels)).batch(9),
        "labelled_generator": ((x[i:i + 8], labels[i:i + 8]) for i in range(0, 30, 8)),
    }


@pytest.mark.parametrize("kind", sorted(sources(np.zeros((30, 1, 1, 1), np.uint8),
                                                np.zeros(30, np.int64))))
def test_every_kind_of_input_gives_the_array_outputs(prepared, kind):
    model, x, labels = prepared
    np.testing.assert_array_equal(model.forward(sources(x, labels)[kind], batch_size=5,
                                                engine="tf"),
                                  model.forward(x, engine="tf"))
    np.testing.assert_array_equal(model.predict(sources(x, labels)[kind], engine="tf"),
                                  model.predict(x, engine="tf"))


def test_evaluate_streams_labelled_batches(prepared):
    model, x, labels = prepared
    expected = model.evaluate(x, labels, engine="tf")
    for kind in ("labelled_dataset", "labelled_generator"):
        assert model.evaluate(sources(x, labels)[kind], engine="tf") == expected
    with pytest.raises(ValueError, match="evaluate needs labels"):
        model.evaluate(sources(x, labels)["generator"], engine="tf")
    with pytest.raises(ValueError, match="evaluate needs labels"):
        model.evaluate(x, engine="tf")
    with pytest.raises(ValueError, match="y must be None when x is a dataset"):
        model.evaluate(sources(x, labels)["labelled_dataset"], labels, engine="tf")


def test_empty_stream(prepared):
    model, _, _ = prepared
    assert model.forward(iter([]), engine="tf").shape == (0,) + model.output_shape
    with pytest.raises(ValueError, match="no samples"):
        model.evaluate(iter([]), engine="tf")


@pytest.mark.parametrize("make, error, match", [
    (lambda x: tf.data.Dataset.from_tensor_slices(x.astype(np.float32)), TypeError,
     "yields float32 images.*never cast"),
    (lambda x: [x[:3].astype(np.int32)], TypeError, "batch 0 must be .*got dtype int32"),
    (lambda x: [x[:3], x[:2, :4]], ValueError, r"batch 1 must be .*got shape \(2, 4"),
    (lambda x: [(x[:3], np.zeros(2, np.int64))], ValueError,
     r"labels of batch 0 must have shape \(3,\)"),
    (lambda x: [(x[:3], np.zeros(3, np.float32))], TypeError, "labels of batch 0 must be integer"),
    (lambda x: [{"image": x[:3]}], TypeError, "is a dict"),
    (lambda x: [(x[:3], x[:3], x[:3])], ValueError, "has 3 parts"),
    (lambda x: 42, TypeError, "got int"),
    (lambda x: "images.npy", TypeError, "got str"),
])
def test_stream_errors_name_the_batch_and_the_fix(prepared, make, error, match):
    model, x, _ = prepared
    with pytest.raises(error, match=match):
        model.forward(make(x), engine="tf")


def test_only_one_batch_is_read_ahead(prepared):
    """A stream is consumed lazily: each batch is computed before the next one is read."""
    model, x, _ = prepared
    read, computed = [], []
    original = model.emulator_function("tf").get_concrete_function()

    def source():
        for index in range(3):
            read.append(index)
            assert len(computed) == index  # the previous batch was computed already
            yield x[index * 10:(index + 1) * 10]

    def spy(engine=None):
        class Function:
            @staticmethod
            def get_concrete_function():
                def run(batch):
                    computed.append(int(batch.shape[0]))
                    return original(batch)
                return run
        return Function()

    model.emulator_function = spy
    try:
        model.forward(source(), engine="tf")
    finally:
        del model.emulator_function
    assert read == [0, 1, 2] and computed == [10, 10, 10]


def test_batches_validates_batch_size():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        list(batches(np.zeros((2, 1, 1, 1), np.uint8), 0, (1, 1, 1)))
