"""compare(): the Keras and Akida decisions counted against a direct computation, for every
input kind, with and without labels."""
import numpy as np
import pytest

from cnn2snn_tfmot import tf
from cnn2snn_tfmot.inspection.comparison import Comparison, compare

from helpers import converted_cnn


@pytest.fixture(scope="module")
def converted():
    return converted_cnn()


def direct(model_q, akida_model, images):
    keras_decisions = model_q.predict(images / 255, verbose=0).argmax(axis=1)
    akida_decisions = akida_model.predict(images, engine="tf").reshape(len(images), -1)
    return keras_decisions, akida_decisions.argmax(axis=1)


def test_figures_match_a_direct_computation(converted):
    model_q, akida_model, images, labels = converted
    keras_decisions, akida_decisions = direct(model_q, akida_model, images)
    result = compare(model_q, akida_model, images, labels, input_scaling=(255, 0), engine="tf",
                     batch_size=10)
    assert isinstance(result, Comparison)
    assert result.samples == len(images)
    assert result.agreement == pytest.approx(np.mean(keras_decisions == akida_decisions))
    assert result.keras_accuracy == pytest.approx(np.mean(keras_decisions == labels))
    assert result.akida_accuracy == pytest.approx(np.mean(akida_decisions == labels))
    assert result.classes == sorted(set(labels.tolist()))
    for cls in result.classes:
        mask = labels == cls
        row = result.per_class[cls]
        assert row["samples"] == mask.sum()
        assert row["agreement"] == pytest.approx(np.mean(keras_decisions[mask]
                                                         == akida_decisions[mask]))
        assert row["keras_accuracy"] == pytest.approx(np.mean(keras_decisions[mask] == cls))
        assert row["akida_accuracy"] == pytest.approx(np.mean(akida_decisions[mask] == cls))
    assert result.to_dict()["per_class"][result.classes[0]] == result.per_class[
        result.classes[0]]


def test_disagreements_are_counted_per_class(converted):
    model_q, akida_model, images, labels = converted
    last = akida_model.get_layer("d")
    threshold = last.get_variable("threshold")
    changed = threshold.copy()
    changed[3] = -2 ** 20  # class 3 wins every Akida decision
    last.set_variable("threshold", changed)
    try:
        keras_decisions, _ = direct(model_q, akida_model, images)
        result = compare(model_q, akida_model, images, labels, input_scaling=(255, 0),
                         engine="tf")
    finally:
        last.set_variable("threshold", threshold)
    assert 0 < result.agreement < 1
    assert result.agreement == pytest.approx(np.mean(keras_decisions == 3))
    assert result.akida_accuracy == pytest.approx(np.mean(labels == 3))
    for cls in result.classes:
        mask = labels == cls
        assert result.per_class[cls]["agreement"] == pytest.approx(
            np.mean(keras_decisions[mask] == 3))
        assert result.per_class[cls]["akida_accuracy"] == (1.0 if cls == 3 else 0.0)


def test_the_keras_input_is_the_inverse_of_the_input_scaling(converted):
    """With a wrong scaling the Keras model sees other inputs and decides otherwise."""
    model_q, akida_model, images, labels = converted
    right = compare(model_q, akida_model, images, labels, input_scaling=(255, 0), engine="tf")
    wrong = compare(model_q, akida_model, images, labels, input_scaling=(1, 0), engine="tf")
    assert right.agreement > wrong.agreement


def test_datasets_and_batches_give_the_same_result(converted):
    model_q, akida_model, images, labels = converted
    reference = compare(model_q, akida_model, images, labels, input_scaling=(255, 0),
                        engine="tf")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(7)
    assert compare(model_q, akida_model, dataset, input_scaling=(255, 0),
                   engine="tf") == reference
    pairs = [(images[i:i + 16], labels[i:i + 16]) for i in range(0, len(images), 16)]
    assert compare(model_q, akida_model, pairs, input_scaling=(255, 0), engine="tf") == reference


def test_without_labels_classes_are_the_keras_decisions(converted):
    model_q, akida_model, images, _ = converted
    keras_decisions, akida_decisions = direct(model_q, akida_model, images)
    result = compare(model_q, akida_model, images, input_scaling=(255, 0), engine="tf")
    assert result.keras_accuracy is None and result.akida_accuracy is None
    assert result.classes == sorted(set(keras_decisions.tolist()))
    assert sum(row["samples"] for row in result.per_class.values()) == len(images)
    assert result.agreement == pytest.approx(np.mean(keras_decisions == akida_decisions))


def test_errors(converted):
    model_q, akida_model, images, labels = converted
    with pytest.raises(ValueError, match="no samples"):
        compare(model_q, akida_model, images[:0], input_scaling=(255, 0), engine="tf")
    with pytest.raises(ValueError, match="some batches"):
        compare(model_q, akida_model, [(images[:4], labels[:4]), images[4:8]],
                input_scaling=(255, 0), engine="tf")
    with pytest.raises(TypeError, match="keras_model"):
        compare(akida_model, akida_model, images, input_scaling=(255, 0))
    with pytest.raises(TypeError, match="uint8"):
        compare(model_q, akida_model, images / 255, input_scaling=(255, 0))
