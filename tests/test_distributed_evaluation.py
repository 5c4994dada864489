"""Sharded evaluation (cnn2snn_tfmot.distributed.evaluation and .service): over a strategy's
workers or the tf.data service's, the accuracy and the outputs (in order) of one process."""
import json
import os

import numpy as np
import pytest

from cnn2snn_tfmot import evaluate_sharded, export_saved_model, quantize, tf
from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.distributed import LocalDataService, run_local_workers

from helpers import converted_cnn, float_cnn, run_python

COUNT = 203  # not a multiple of any batch: the last batches are partial, some replicas idle


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sharded")
    _, akida_model, x, labels = converted_cnn(seed=5, n=COUNT)
    path = str(directory / "model.akida")
    akida_model.save(path)
    np.save(directory / "images.npy", x)
    np.save(directory / "labels.npy", labels)
    expected = {"accuracy": akida_model.evaluate(x, labels), "outputs": akida_model.predict(x)}
    return akida_model, x, labels, expected, directory


def _check(result, expected, labelled=True):
    assert result.count == COUNT
    assert result.accuracy == (expected["accuracy"] if labelled else None)
    np.testing.assert_array_equal(result.outputs, expected["outputs"])


def test_default_strategy_every_kind_of_dataset(setup):
    model, x, labels, expected, _ = setup
    pairs = tf.data.Dataset.from_tensor_slices((x, labels))
    _check(evaluate_sharded(model, pairs, batch_size=32), expected)
    _check(evaluate_sharded(model, pairs.batch(17), batch_size=32), expected)
    _check(evaluate_sharded(model, (x, labels), batch_size=64), expected)
    _check(evaluate_sharded(model, tf.data.Dataset.from_tensor_slices(x)), expected,
           labelled=False)
    _check(evaluate_sharded(model, x), expected, labelled=False)
    counted = evaluate_sharded(model, pairs, outputs=False, strategy=tf.distribute.
                               OneDeviceStrategy("/cpu:0"))
    assert (counted.accuracy, counted.outputs, counted.count, counted.shards) == (
        expected["accuracy"], None, COUNT, 1)
    labels32 = tf.data.Dataset.from_tensor_slices((x, labels.astype(np.int32)))
    assert evaluate_sharded(model, labels32, engine="tf").accuracy == expected["accuracy"]


def test_exported_saved_model(setup, tmp_path):
    from cnn2snn_tfmot import export

    model, x, labels, expected, _ = setup
    pairs = tf.data.Dataset.from_tensor_slices((x, labels))
    path = export_saved_model(model, str(tmp_path / "emulator"), engine="tf")
    _check(evaluate_sharded(path, pairs, batch_size=50), expected)
    keras_model = quantize(float_cnn(), 4, 4, 8)
    export(keras_model, model, str(tmp_path / "exported"))  # the directory of export()
    _check(evaluate_sharded(str(tmp_path / "exported"), pairs), expected)
    with pytest.raises(ValueError, match="`backend` applies to an akida.Model"):
        evaluate_sharded(path, pairs, engine="tf")


def test_clear_errors(setup, tmp_path):
    model, x, labels, _, _ = setup
    pairs = tf.data.Dataset.from_tensor_slices((x, labels))
    with pytest.raises(ValueError, match="give `strategy` or `service`, not both"):
        evaluate_sharded(model, pairs, strategy=tf.distribute.get_strategy(),
                         service="grpc://localhost:1")
    with pytest.raises(TypeError, match="must be a tf.distribute.Strategy"):
        evaluate_sharded(model, pairs, strategy="mirrored")
    with pytest.raises(TypeError, match="cnn2snn_tfmot.akida.Model or the path"):
        evaluate_sharded(object(), pairs)
    with pytest.raises(ValueError, match="is not an emulator SavedModel"):
        evaluate_sharded(str(tmp_path), pairs)
    with pytest.raises(TypeError, match="uint8 and are never cast silently"):
        evaluate_sharded(model, tf.data.Dataset.from_tensor_slices(x.astype(np.float32)))
    with pytest.raises(ValueError, match=r"images have shape \(8, 8, 1\); the model takes"):
        evaluate_sharded(model, tf.data.Dataset.from_tensor_slices(x[:, :8, :8]))
    with pytest.raises(TypeError, match="labels must be integer class labels"):
        evaluate_sharded(model, tf.data.Dataset.from_tensor_slices((x, labels * 1.0)))
    with pytest.raises(ValueError, match="no images"):
        evaluate_sharded(model, tf.data.Dataset.from_tensor_slices((x[:0], labels[:0])))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_sharded(model, pairs, batch_size=0)
    with pytest.raises(ValueError, match="dispatcher's address"):
        evaluate_sharded(model, pairs, service="localhost:5050")


def test_input_bits_are_checked_in_the_graph():
    from cnn2snn_tfmot.akida import FullyConnected, InputData

    model = Model()
    model.add(InputData((1, 1, 4), input_bits=4))
    model.add(FullyConnected(2, weights_bits=4, activation=False))
    model.get_layer("Fully_2").set_variable("weights", np.ones((1, 1, 4, 2), np.int8))
    fine = np.full((3, 1, 1, 4), 15, np.uint8)
    np.testing.assert_array_equal(evaluate_sharded(model, fine, engine="tf").outputs,
                                  model.predict(fine, engine="tf"))
    with pytest.raises(ValueError, match=r"input_bits=4: inputs must be in \[0, 15\]"):
        evaluate_sharded(model, np.full((3, 1, 1, 4), 16, np.uint8), engine="tf")


def test_tf_data_service_in_process_workers(setup):
    model, x, labels, expected, _ = setup
    pairs = tf.data.Dataset.from_tensor_slices((x, labels))
    with LocalDataService(num_workers=2, processes=False) as service:
        _check(evaluate_sharded(model, pairs, service=service, batch_size=16), expected)
        _check(evaluate_sharded(model, pairs.batch(40), service=service.target), expected)


@pytest.mark.processes
def test_tf_data_service_worker_processes(setup, tmp_path):
    """Two worker processes (python -m cnn2snn_tfmot.distributed.service worker), the Akida
    model and its SavedModel (custom ops: the workers load them)."""
    model, x, labels, expected, _ = setup
    pairs = tf.data.Dataset.from_tensor_slices((x, labels))
    path = export_saved_model(model, str(tmp_path / "emulator"))
    with LocalDataService(num_workers=2) as service:
        processes = list(service._processes)
        _check(evaluate_sharded(model, pairs, service=service, batch_size=16), expected)
        _check(evaluate_sharded(path, pairs, service=service, batch_size=16), expected)
    assert all(process.poll() is not None for process in processes)  # stopped on exit


def test_service_command_line_refuses_a_bad_address(capsys):
    from cnn2snn_tfmot.distributed.service import main

    with pytest.raises(SystemExit) as exit_info:
        main(["worker", "--dispatcher", "localhost:1", "--address", "localhost"])
    assert exit_info.value.code == 2
    assert "--address must be host:port" in capsys.readouterr().err


_WORKER = """
import json, sys
import numpy as np
import cnn2snn_tfmot
from cnn2snn_tfmot import evaluate_sharded, tf
from cnn2snn_tfmot.akida import Model
directory, kind = sys.argv[1], sys.argv[2]
if kind == "mirrored":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
x, labels = np.load(directory + "/images.npy"), np.load(directory + "/labels.npy")
model = Model(directory + "/model.akida")
result = evaluate_sharded(model, tf.data.Dataset.from_tensor_slices((x, labels)),
                          strategy=strategy, batch_size=16)
index = 0 if kind == "mirrored" else strategy.cluster_resolver.task_id
np.save(directory + f"/outputs-{kind}-{index}.npy", result.outputs)
print(json.dumps({"accuracy": result.accuracy, "count": result.count, "shards": result.shards}))
"""


@pytest.mark.processes
def test_mirrored_strategy_two_devices(setup):
    _, _, _, expected, directory = setup
    result = run_python(["-c", _WORKER, str(directory), "mirrored"], timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"accuracy": expected["accuracy"], "count": COUNT, "shards": 2}
    np.testing.assert_array_equal(np.load(directory / "outputs-mirrored-0.npy"),
                                  expected["outputs"])


@pytest.mark.processes
def test_multi_worker_strategy_two_workers(setup):
    _, _, _, expected, directory = setup
    results = run_local_workers(["-c", _WORKER, str(directory), "multiworker"], num_workers=2,
                                timeout=300, env={"TF_CPP_MIN_LOG_LEVEL": "2"})
    for index, result in enumerate(results):
        seen = json.loads(result.stdout.strip().splitlines()[-1])
        assert seen == {"accuracy": expected["accuracy"], "count": COUNT, "shards": 2}
        outputs = np.load(os.path.join(directory, f"outputs-multiworker-{index}.npy"))
        np.testing.assert_array_equal(outputs, expected["outputs"])
