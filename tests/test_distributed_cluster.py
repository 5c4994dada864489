"""Local clusters (cnn2snn_tfmot.distributed.cluster): TF_CONFIG, the chief, and the launcher
that never leaves a worker behind."""
import json
import os
import time

import pytest

from cnn2snn_tfmot import is_chief, tf
from cnn2snn_tfmot.distributed import WorkerError, free_ports, run_local_workers, tf_config


def test_tf_config():
    assert tf_config(["a:1", "b:2"], 1) == {"cluster": {"worker": ["a:1", "b:2"]},
                                           "task": {"type": "worker", "index": 1}}
    with pytest.raises(ValueError, match=r"`index` must be an int in \[0, 1\]"):
        tf_config(["a:1", "b:2"], 2)
    with pytest.raises(ValueError, match="'host:port' strings"):
        tf_config(["a"], 0)


def test_free_ports_are_distinct_and_bindable():
    import socket

    ports = free_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("localhost", port))


class _Strategy:
    """A strategy as is_chief sees it: its cluster resolver."""

    def __init__(self, cluster, task_type, task_id):
        self.cluster_resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
            tf.train.ClusterSpec(cluster), task_type=task_type, task_id=task_id)


def test_is_chief():
    assert is_chief() and is_chief(tf.distribute.get_strategy())
    workers = {"worker": ["a:1", "b:2"]}
    assert is_chief(_Strategy(workers, "worker", 0))
    assert not is_chief(_Strategy(workers, "worker", 1))
    with_chief = {"chief": ["c:0"], "worker": ["a:1", "b:2"]}
    assert is_chief(_Strategy(with_chief, "chief", 0))
    assert not is_chief(_Strategy(with_chief, "worker", 0))


@pytest.mark.processes
def test_workers_get_their_tf_config_and_results_come_in_order():
    code = ("import json, os, sys; config = json.loads(os.environ['TF_CONFIG']); "
            "print(config['task']['index'], len(config['cluster']['worker']), "
            "os.environ['EXTRA']); sys.stderr.write('err')")
    results = run_local_workers(["-c", code], num_workers=3, env={"EXTRA": "x"}, timeout=60)
    assert [r.index for r in results] == [0, 1, 2]
    assert [r.stdout.split() for r in results] == [["0", "3", "x"], ["1", "3", "x"],
                                                   ["2", "3", "x"]]
    assert all(r.returncode == 0 and r.stderr == "err" for r in results)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.processes
def test_a_failing_worker_stops_the_others_and_is_named(tmp_path):
    # Worker 0 writes its pid and waits for ever (as a worker waits for a dead peer); worker 1
    # fails. Every process is stopped, soon, and the error names worker 1 and shows its output.
    code = ("import json, os, sys, time; index = json.loads(os.environ['TF_CONFIG'])['task']"
            "['index']; open(sys.argv[1] + str(index), 'w').write(str(os.getpid()))\n"
            "if index == 1:\n    time.sleep(1); sys.exit('worker one broke')\n"
            "time.sleep(600)")
    started = time.monotonic()
    with pytest.raises(WorkerError, match="(?s)worker 1 exited with status 1.*worker one broke") \
            as error:
        run_local_workers(["-c", code, str(tmp_path / "pid")], num_workers=2, timeout=120)
    assert time.monotonic() - started < 60
    assert [r.returncode for r in error.value.results][1] == 1
    pid = int((tmp_path / "pid0").read_text())
    assert not _alive(pid)


@pytest.mark.processes
def test_workers_past_the_timeout_are_stopped(tmp_path):
    code = ("import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); "
            "time.sleep(600)")
    with pytest.raises(WorkerError, match="did not finish within 2 s"):
        run_local_workers(["-c", code, str(tmp_path / "pid")], num_workers=1, timeout=2)
    assert not _alive(int((tmp_path / "pid").read_text()))


def test_bad_arguments():
    with pytest.raises(ValueError, match="`num_workers` must be a positive int"):
        run_local_workers(["x.py"], num_workers=0)
    with pytest.raises(TypeError, match="not a string"):
        run_local_workers("x.py")


@pytest.mark.processes
def test_chief_output_can_be_echoed(capfd):
    results = run_local_workers(["-c", "print('hello')"], num_workers=2, echo=True, timeout=60)
    assert "hello" in capfd.readouterr().out
    assert results[0].stdout == "" and results[1].stdout.strip() == "hello"
    assert json.loads(json.dumps([r.index for r in results])) == [0, 1]
