"""Scaling out on TensorFlow's distributed runtime.

* Training (:mod:`~cnn2snn_tfmot.distributed.training`): quantization-aware training runs under
  ``tf.distribute.MirroredStrategy`` (several devices) and ``MultiWorkerMirroredStrategy``
  (several machines, ``TF_CONFIG``) as on one device; :func:`synchronize_batchnorm` for models
  that still train BatchNormalization, :class:`ChiefOnly` for callbacks that write files.
* Evaluation (:mod:`~cnn2snn_tfmot.distributed.evaluation`): :func:`evaluate_sharded` runs an
  Akida model over a dataset sharded across the workers of a strategy or of the tf.data service
  (:class:`LocalDataService`, :mod:`~cnn2snn_tfmot.distributed.service`), and returns what one
  process computes.
* Clusters (:mod:`~cnn2snn_tfmot.distributed.cluster`): :func:`tf_config`, :func:`is_chief`, and
  :func:`run_local_workers`, which starts N workers of one job on this machine.

Example:
    >>> from cnn2snn_tfmot.distributed import is_chief
    >>> is_chief()
    True
"""
from cnn2snn_tfmot.distributed.cluster import (
                                               WorkerError,
                                               WorkerResult,
                                               free_ports,
                                               is_chief,
                                               run_local_workers,
                                               tf_config,
)
from cnn2snn_tfmot.distributed.evaluation import ShardedEvaluation, evaluate_sharded
from cnn2snn_tfmot.distributed.service import LocalDataService
from cnn2snn_tfmot.distributed.training import (
                                               ChiefOnly,
                                               synchronize_batchnorm,
                                               unsynchronized_batchnorms,
)

__all__ = ["evaluate_sharded", "ShardedEvaluation", "LocalDataService", "synchronize_batchnorm",
           "unsynchronized_batchnorms", "ChiefOnly", "is_chief", "tf_config", "free_ports",
           "run_local_workers", "WorkerResult", "WorkerError"]
