"""Local clusters of TensorFlow workers: ``TF_CONFIG``, the chief, and a launcher.

``tf.distribute.MultiWorkerMirroredStrategy`` reads the cluster from the ``TF_CONFIG``
environment variable of each worker process: the addresses of every worker and this process's
own index. The same training script runs unchanged on N machines, each with its ``TF_CONFIG``;
:func:`run_local_workers` starts N such processes on this machine (free localhost ports), for
trying a multi-worker script, for tests and for the examples.

Example:
    >>> from cnn2snn_tfmot.distributed.cluster import tf_config
    >>> config = tf_config(["localhost:12345", "localhost:12346"], index=1)
    >>> config["task"]
    {'type': 'worker', 'index': 1}
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

from cnn2snn_tfmot.tfkeras import tf

__all__ = ["tf_config", "free_ports", "is_chief", "run_local_workers", "WorkerResult",
           "WorkerError", "stop_process_group"]


def tf_config(addresses: Sequence[str], index: int, job: str = "worker") -> dict:
    """The ``TF_CONFIG`` of one worker of a cluster (``json.dumps`` it into the environment).

    Arguments:
        addresses: every worker's ``host:port``, in index order (the same list for all).
        index: this worker's position in ``addresses``; worker 0 is the chief (it writes the
            logs and files, see :func:`is_chief`).
        job: the job name (``"worker"`` for MultiWorkerMirroredStrategy).

    Returns:
        ``{"cluster": {job: addresses}, "task": {"type": job, "index": index}}``.

    Example:
        >>> from cnn2snn_tfmot.distributed.cluster import tf_config
        >>> tf_config(["10.0.0.1:2222", "10.0.0.2:2222"], 0)["cluster"]
        {'worker': ['10.0.0.1:2222', '10.0.0.2:2222']}
    """
    addresses = list(addresses)
    if not addresses or not all(isinstance(a, str) and ":" in a for a in addresses):
        raise ValueError(f"`addresses` must be a non-empty list of 'host:port' strings; got "
                         f"{addresses!r}.")
    if isinstance(index, bool) or not isinstance(index, int) or \
            not 0 <= index < len(addresses):
        raise ValueError(f"`index` must be an int in [0, {len(addresses) - 1}]; got {index!r}.")
    return {"cluster": {job: addresses}, "task": {"type": job, "index": index}}


def free_ports(count: int) -> List[int]:
    """``count`` distinct TCP ports that are free on localhost now.

    Arguments:
        count: how many ports.

    Returns:
        The port numbers (the OS picks them; another program may take one before it is used,
        which :func:`run_local_workers` reports as a worker failure).

    Example:
        >>> from cnn2snn_tfmot.distributed.cluster import free_ports
        >>> len(set(free_ports(3)))
        3
    """
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("localhost", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def is_chief(strategy=None) -> bool:
    """Whether this process is the chief of its cluster: the one that writes logs and files.

    Single-process strategies (and no strategy) are their own chief. In a cluster, the chief is
    the task of type "chief", or worker 0 when there is none (TensorFlow's convention).

    Arguments:
        strategy: a ``tf.distribute.Strategy``; None for the current one.

    Returns:
        True on the chief.

    Example:
        >>> from cnn2snn_tfmot.distributed.cluster import is_chief
        >>> from cnn2snn_tfmot import tf
        >>> is_chief(tf.distribute.get_strategy())
        True
    """

    strategy = strategy if strategy is not None else tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return True
    cluster = resolver.cluster_spec().as_dict()
    task_type, task_id = resolver.task_type, resolver.task_id
    if not cluster or task_type is None:
        return True
    if "chief" in cluster:
        return task_type == "chief"
    return task_type == "worker" and int(task_id or 0) == 0


@dataclass
class WorkerResult:
    """What one worker process did.

    Attributes:
        index: the worker's index (0 is the chief).
        returncode: its exit status.
        stdout: its standard output.
        stderr: its standard error.
    """
    index: int
    returncode: int
    stdout: str
    stderr: str


class WorkerError(RuntimeError):
    """A worker of :func:`run_local_workers` failed or timed out; the message has its output.

    Attributes:
        results: the :class:`WorkerResult` of every worker (killed ones included).

    Example:
        >>> from cnn2snn_tfmot.distributed.cluster import WorkerError
        >>> raise WorkerError("worker 1 exited with status 1", [])
        Traceback (most recent call last):
        ...
        cnn2snn_tfmot.distributed.cluster.WorkerError: worker 1 exited with status 1
    """

    def __init__(self, message: str, results: List[WorkerResult]):
        super().__init__(message)
        self.results = results


def stop_process_group(process: subprocess.Popen) -> None:
    """Stops a process started with ``start_new_session=True`` and everything it started:
    SIGTERM to its group, SIGKILL after 10 s; then reaps it.

    Arguments:
        process: the ``subprocess.Popen`` (nothing happens if it has exited).

    Example:
        >>> from cnn2snn_tfmot.distributed.cluster import stop_process_group
        >>> import subprocess, sys
        >>> process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
        ...                            start_new_session=True)
        >>> stop_process_group(process)
        >>> process.returncode
        -15
    """
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def check_num_workers(num_workers) -> None:
    """Raises ValueError unless ``num_workers`` is a positive int (bools refused)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 1:
        raise ValueError(f"`num_workers` must be a positive int; got {num_workers!r}.")


def run_local_workers(argv: Sequence[str], num_workers: int = 2, timeout: float = 600,
                      env: Optional[Dict[str, str]] = None, echo: bool = False,
                      ) -> List[WorkerResult]:
    """Runs ``python argv...`` as ``num_workers`` workers of one cluster on this machine.

    Each process gets its ``TF_CONFIG`` (localhost, free ports; worker 0 is the chief), so a
    script that creates ``tf.distribute.MultiWorkerMirroredStrategy()`` trains as one job
    across them. On N machines, run the same script on each with its own ``TF_CONFIG``
    (:func:`tf_config`) instead. If any worker fails or the time runs out, every worker is
    stopped (the others would wait for it forever) and :class:`WorkerError` says which and why.

    Arguments:
        argv: the script and its arguments (run with this Python interpreter).
        num_workers: how many worker processes (>= 1).
        timeout: seconds before every worker is stopped.
        env: extra environment variables for every worker.
        echo: print the chief's output as it comes (the others' is kept in the results).

    Returns:
        One :class:`WorkerResult` per worker, in index order.

    Raises:
        WorkerError: a worker exited with a non-zero status, or the time ran out.

    Example:
        >>> from cnn2snn_tfmot.distributed.cluster import run_local_workers
        >>> script = "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task'])"
        >>> results = run_local_workers(["-c", script], num_workers=2)
        >>> [result.stdout.strip() for result in results]
        ["{'type': 'worker', 'index': 0}", "{'type': 'worker', 'index': 1}"]
    """
    check_num_workers(num_workers)
    if isinstance(argv, str):
        raise TypeError("`argv` must be a list of arguments (the script and its options), "
                        "not a string.")
    addresses = [f"localhost:{port}" for port in free_ports(num_workers)]
    processes, logs = [], []
    try:
        for index in range(num_workers):
            environment = dict(os.environ)
            environment.update(env or {})
            environment["TF_CONFIG"] = json.dumps(tf_config(addresses, index))
            out = None if echo and index == 0 else tempfile.TemporaryFile("w+")
            err = tempfile.TemporaryFile("w+")
            logs.append((out, err))
            processes.append(subprocess.Popen(
                [sys.executable, *argv], env=environment, stdout=out, stderr=err,
                stdin=subprocess.DEVNULL, text=True, start_new_session=True))
        deadline = time.monotonic() + timeout
        failed = None
        while any(process.poll() is None for process in processes):
            failed = next((index for index, process in enumerate(processes)
                           if process.poll() not in (None, 0)), None)
            if failed is not None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        timed_out = failed is None and any(process.poll() is None for process in processes)
        if failed is None and not timed_out:
            failed = next((index for index, process in enumerate(processes)
                           if process.returncode != 0), None)
    finally:
        for process in processes:
            stop_process_group(process)
    results = []
    for index, (process, (out, err)) in enumerate(zip(processes, logs)):
        texts = []
        for handle in (out, err):
            if handle is None:
                texts.append("")
                continue
            handle.seek(0)
            texts.append(handle.read())
            handle.close()
        results.append(WorkerResult(index, process.returncode, texts[0], texts[1]))
    if timed_out:
        raise WorkerError(f"the workers did not finish within {timeout} s; all were stopped. "
                          f"Chief's last output:\n{results[0].stderr[-2000:]}", results)
    if failed is not None:
        result = results[failed]
        raise WorkerError(f"worker {failed} exited with status {result.returncode}; all were "
                          f"stopped. Its last output:\n{result.stderr[-3000:]}", results)
    return results
