"""The tf.data service for sharded evaluation: a dispatcher and workers.

The tf.data service (``tf.data.experimental.service``) runs input pipelines on worker servers;
:func:`cnn2snn_tfmot.distributed.evaluate_sharded` puts the Akida emulator in the pipeline, so
the service's workers evaluate the model. Each worker process must import cnn2snn_tfmot for the
compiled Akida ops (models run with ``backend="tf"`` need nothing but TensorFlow).

The data are sharded statically (each worker keeps every n-th image, so that the images keep
their positions), which needs the dispatcher to know its workers. On several machines, start
one dispatcher with the list of workers, then each worker::

    python -m cnn2snn_tfmot.distributed.service dispatcher --port 5050 \
        --workers host1:5051 host2:5051
    python -m cnn2snn_tfmot.distributed.service worker --dispatcher host0:5050 \
        --address host1:5051

then pass ``service="grpc://host0:5050"`` to ``evaluate_sharded``. On one machine,
:class:`LocalDataService` starts them for you.

Example:
    >>> from cnn2snn_tfmot.distributed.service import LocalDataService
    >>> with LocalDataService(num_workers=1) as service:
    ...     service.target.startswith("grpc://localhost:")
    True
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from typing import List, Optional, Sequence

from cnn2snn_tfmot.distributed.cluster import check_num_workers, free_ports, stop_process_group
from cnn2snn_tfmot.engine import ops
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["LocalDataService", "main"]


class LocalDataService:
    """A tf.data service on this machine: a dispatcher and ``num_workers`` workers.

    The dispatcher runs in this process; the workers run in their own processes (the default),
    or as servers inside this process (``processes=False``, for a quick try). Use it as a
    context manager, or call :meth:`close`; worker processes are stopped on exit either way.

    Arguments:
        num_workers: how many workers (>= 1).
        processes: run each worker in its own process (True) or in this process (False).
        timeout: seconds to wait for the workers to register with the dispatcher.

    Attributes:
        target: the dispatcher's address, ``"grpc://localhost:<port>"``.

    Example:
        >>> from cnn2snn_tfmot.distributed.service import LocalDataService
        >>> from cnn2snn_tfmot import tf
        >>> with LocalDataService(num_workers=2, processes=False) as service:
        ...     dataset = tf.data.Dataset.range(6).apply(tf.data.experimental.service.distribute(
        ...         "distributed_epoch", service.target))
        ...     sorted(int(value) for value in dataset.as_numpy_iterator())
        [0, 1, 2, 3, 4, 5]
    """

    def __init__(self, num_workers: int = 2, processes: bool = True, timeout: float = 60):

        check_num_workers(num_workers)
        service = tf.data.experimental.service
        port, *worker_ports = free_ports(1 + num_workers)
        addresses = [f"localhost:{worker_port}" for worker_port in worker_ports]
        self._dispatcher = service.DispatchServer(service.DispatcherConfig(
            port=port, worker_addresses=addresses))
        self.target = f"grpc://localhost:{port}"
        self._servers: List[object] = []
        self._processes: List[subprocess.Popen] = []
        self._logs: list = []
        try:
            for worker_port in worker_ports:
                if processes:
                    log = tempfile.TemporaryFile()  # not a pipe: nobody reads it while it runs
                    self._logs.append(log)
                    self._processes.append(subprocess.Popen(
                        [sys.executable, "-m", "cnn2snn_tfmot.distributed.service", "worker",
                         "--dispatcher", f"localhost:{port}",
                         "--address", f"localhost:{worker_port}"],
                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                        start_new_session=True))
                else:
                    self._servers.append(service.WorkerServer(service.WorkerConfig(
                        dispatcher_address=f"localhost:{port}", port=worker_port,
                        worker_address=f"localhost:{worker_port}")))
            self._wait_for_workers(num_workers, timeout)
        except BaseException:
            self.close()
            raise

    def _wait_for_workers(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        registered = getattr(self._dispatcher, "_num_workers", None)
        while registered is not None and registered() < count:
            for process, log in zip(self._processes, self._logs):
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError("a tf.data service worker exited at start: " +
                                       log.read().decode(errors="replace")[-2000:])
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {registered()} of {count} tf.data service workers "
                                   f"registered within {timeout} s.")
            time.sleep(0.1)

    def close(self) -> None:
        """Stops the workers and the dispatcher."""
        for process in self._processes:
            stop_process_group(process)
        for log in self._logs:
            log.close()
        self._processes, self._logs = [], []
        for server in self._servers + [self._dispatcher]:
            stop = getattr(server, "_stop", None)  # in-process servers otherwise live on
            if stop is not None:
                stop()
        self._servers = []

    def __enter__(self) -> "LocalDataService":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Runs a tf.data service dispatcher or worker until it is stopped (see the module doc).

    Arguments:
        argv: command-line arguments (default: ``sys.argv[1:]``).

    Example:
        >>> from cnn2snn_tfmot.distributed.service import main
        >>> main(["--help"])  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        SystemExit: 0
    """
    parser = argparse.ArgumentParser(
        prog="python -m cnn2snn_tfmot.distributed.service",
        description="A tf.data service dispatcher or worker that runs Akida emulators.")
    commands = parser.add_subparsers(dest="command", required=True)
    dispatcher = commands.add_parser("dispatcher", help="run the dispatcher")
    dispatcher.add_argument("--port", type=int, required=True)
    dispatcher.add_argument("--workers", nargs="+", required=True, metavar="HOST:PORT",
                            help="every worker's address, as given to its --address")
    worker = commands.add_parser("worker", help="run a worker")
    worker.add_argument("--dispatcher", required=True, help="the dispatcher's host:port")
    worker.add_argument("--address", required=True, metavar="HOST:PORT",
                        help="this worker's address as the dispatcher lists it; it listens "
                             "on its port")
    args = parser.parse_args(argv)

    ops.is_available()  # registers the compiled Akida ops, which the pipelines may run

    service = tf.data.experimental.service
    if args.command == "dispatcher":
        server = service.DispatchServer(service.DispatcherConfig(
            port=args.port, worker_addresses=args.workers))
    else:
        port = args.address.rsplit(":", 1)[-1]
        if not port.isdigit():
            parser.error(f"--address must be host:port; got {args.address!r}")
        server = service.WorkerServer(service.WorkerConfig(
            dispatcher_address=args.dispatcher, port=int(port), worker_address=args.address))
    server.join()


if __name__ == "__main__":
    main()
