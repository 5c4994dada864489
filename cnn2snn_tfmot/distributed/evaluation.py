"""Sharded evaluation of an Akida model on TensorFlow's distributed machinery.

:func:`evaluate_sharded` runs the emulator of an Akida model (or its exported SavedModel) over a
dataset split across workers, in one of TensorFlow's two ways:

* ``strategy=``: a ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy`` across machines,
  ``MirroredStrategy`` across local devices). The dataset is auto-sharded by tf.data with the
  DATA policy (each worker keeps its part of every global batch); each replica runs the
  emulator on its part; counts are summed and outputs gathered by the strategy's collectives.
  Every worker runs the same call (the same script, as for training) and gets the whole result.
* ``service=``: the tf.data service (``tf.data.experimental.service``): the emulator runs
  inside the input pipeline on the service's workers, statically sharded (the
  ``ShardingPolicy.HINT`` policy: worker k of n keeps images k, k + n, ...), and this process
  receives the outputs. Start a dispatcher and workers with
  :class:`~cnn2snn_tfmot.distributed.service.LocalDataService`, or on other machines with
  ``python -m cnn2snn_tfmot.distributed.service``.

In both ways every worker reads the whole input stream and keeps its share (reading is cheap
next to emulating; give workers a fast source, e.g. TFRecord files on shared storage).

Each image carries its position in the dataset through the pipeline, so the outputs come back
in the dataset's order and the result is checked to cover every image exactly once: it is what
one process computes (``Model.predict`` / ``Model.evaluate``), bit for bit.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot import tf
    >>> from cnn2snn_tfmot.distributed.evaluation import evaluate_sharded
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    >>> result = evaluate_sharded(akida_model, dataset, strategy=tf.distribute.get_strategy())
    >>> result.accuracy == akida_model.evaluate(images, labels)
    True
    >>> np.array_equal(result.outputs, akida_model.predict(images))
    True
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida import Model
from cnn2snn_tfmot.akida.inputs import dataset_layout
from cnn2snn_tfmot.chip import params
from cnn2snn_tfmot.conversion.export import SIGNATURE_KEY, load_saved_model
from cnn2snn_tfmot.distributed.service import LocalDataService
from cnn2snn_tfmot.engine import GRAPH_BACKENDS, resolve_backend
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["evaluate_sharded", "ShardedEvaluation"]


@dataclasses.dataclass
class ShardedEvaluation:
    """The result of :func:`evaluate_sharded`.

    Attributes:
        accuracy: the fraction of images whose label is the argmax of the flattened outputs
            (as ``Model.evaluate``), or None when the dataset has no labels.
        outputs: float32 (N,) + output shape, the dequantized outputs (as ``Model.predict``)
            in the dataset's order, or None when not requested.
        count: the number of images evaluated.
        shards: how many replicas (strategy), or None (tf.data service: as many as it has
            workers).
    """
    accuracy: Optional[float]
    outputs: Optional[np.ndarray]
    count: int
    shards: Optional[int]


def _emulator(model, backend) -> Tuple[Callable, Tuple[int, int, int], Optional[int]]:
    """(function of uint8 images -> float32 outputs, input shape, input bits) of an Akida
    model or of an emulator SavedModel directory."""

    if isinstance(model, Model):

        forward = model.emulator_function(backend)
        post = model.float_outputs(tensorflow=True)
        return (lambda images: post(forward(images))), tuple(model.input_shape), \
            model.input_bits
    if isinstance(model, (str, os.PathLike)):

        path = os.fspath(model)
        nested = os.path.join(path, "emulator_savedmodel")  # a directory written by export()
        if not os.path.exists(os.path.join(path, "saved_model.pb")) and os.path.isdir(nested):
            path = nested
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"`model` path {os.fspath(model)!r} is not an emulator SavedModel "
                             "(no saved_model.pb): give an akida.Model or a directory written "
                             "by export_saved_model() or export().")
        if backend is not None:
            raise ValueError("`backend` applies to an akida.Model; a SavedModel runs the "
                             "back-end it was exported with.")
        signature = load_saved_model(path).signatures.get(SIGNATURE_KEY)
        if signature is None or "float_outputs" not in signature.structured_outputs:
            raise ValueError(f"{path!r} is not an emulator SavedModel written by "
                             "export_saved_model(): it has no 'serving_default' signature with "
                             "'float_outputs'.")
        spec = signature.structured_input_signature[1]["images"]
        return (lambda images: signature(images=images)["float_outputs"],
                tuple(spec.shape[1:]), None)
    raise TypeError(f"`model` must be a cnn2snn_tfmot.akida.Model or the path of its emulator "
                    f"SavedModel; got {type(model).__name__}.")


def _indexed(dataset, input_shape) -> Tuple[object, bool]:
    """The dataset as unbatched ``(index, image, label)`` elements, and whether it has labels.

    The index is the image's position in the dataset: it travels with the image through the
    shards, so that outputs are put back in order whatever the sharding.
    """

    if isinstance(dataset, np.ndarray):
        dataset = tf.data.Dataset.from_tensor_slices(dataset)
    elif isinstance(dataset, tuple) and len(dataset) == 2 and \
            all(isinstance(part, np.ndarray) for part in dataset):
        dataset = tf.data.Dataset.from_tensor_slices(dataset)
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"`dataset` must be a tf.data.Dataset of uint8 images or (images, "
                        f"labels), or numpy arrays images / (images, labels); got "
                        f"{type(dataset).__name__}.")
    has_labels, batched = dataset_layout(dataset)
    spec = dataset.element_spec[0] if has_labels else dataset.element_spec
    if spec.shape.rank is None:
        raise ValueError("the dataset's images have an unknown rank: give them a shape "
                         "(e.g. Dataset.from_generator(..., output_signature=...)).")
    image_shape = tuple(spec.shape[1:] if batched else spec.shape)
    if any(d is not None and d != e for d, e in zip(image_shape, input_shape)) or \
            len(image_shape) != 3:
        raise ValueError(f"the dataset's images have shape {image_shape}; the model takes "
                         f"{input_shape}.")
    if batched:
        dataset = dataset.unbatch()
    if has_labels:
        dataset = dataset.map(lambda image, label: (image, tf.cast(label, tf.int64)))
    else:
        dataset = dataset.map(lambda image: (image, tf.constant(-1, tf.int64)))
    return dataset.enumerate().map(lambda index, element: (index,) + element), has_labels


_BEYOND_INPUT_BITS = "images beyond the input bits"


def _replica_step(emulate, input_bits):
    def step(index, images, labels):
        if input_bits is not None:  # as Model.forward: values beyond the input bits are refused
            tf.debugging.assert_less_equal(
                tf.reduce_max(tf.concat([tf.reshape(images, [-1]), [0]], 0)),
                tf.constant(2 ** input_bits - 1, tf.uint8), message=_BEYOND_INPUT_BITS)
        outputs = emulate(images)
        flat = tf.reshape(outputs, [tf.shape(outputs)[0], -1])
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(flat, axis=1), labels), tf.int64))
        return index, outputs, correct
    return step


def _assemble(chunks, count, has_labels, correct, shards) -> ShardedEvaluation:
    if count == 0:
        raise ValueError("the dataset has no images: accuracy is undefined.")
    outputs = None
    if chunks is not None:
        indices = np.concatenate([index for index, _ in chunks])
        seen = np.bincount(indices, minlength=count)
        if indices.size != count or seen.size != count or np.any(seen != 1):
            raise RuntimeError(f"sharded evaluation lost or repeated images: {indices.size} "
                               f"outputs for {count} images, {int(np.sum(seen[:count] == 0))} "
                               "missing: the workers did not cover the dataset exactly once.")
        outputs = np.empty((count,) + chunks[0][1].shape[1:], np.float32)
        for index, values in chunks:
            outputs[index] = values
    accuracy = correct / count if has_labels else None
    return ShardedEvaluation(accuracy, outputs, count, shards)


def _with_strategy(emulate, input_bits, dataset, has_labels, strategy, batch_size, keep):
    if isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy):
        raise ValueError("`strategy`: ParameterServerStrategy runs functions through a "
                         "ClusterCoordinator; use MultiWorkerMirroredStrategy, MirroredStrategy "
                         "or the tf.data service (`service=`).")
    replicas = strategy.num_replicas_in_sync
    options = tf.data.Options()
    # DATA: every worker reads the stream and keeps its part of each global batch (FILE
    # sharding would need one file per worker and would lose the positions of the images).
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    batched = dataset.batch(batch_size * replicas).with_options(options)
    distributed = strategy.experimental_distribute_dataset(batched)
    replica_step = _replica_step(emulate, input_bits)
    sum_ = tf.distribute.ReduceOp.SUM

    @tf.function
    def step(batch):
        index, outputs, correct = strategy.run(replica_step, args=batch)
        count = strategy.run(lambda i: tf.size(i, tf.int64), args=(index,))
        totals = (strategy.reduce(sum_, correct, axis=None),
                  strategy.reduce(sum_, count, axis=None))
        if keep:
            return totals + (strategy.gather(index, axis=0), strategy.gather(outputs, axis=0))
        return totals

    correct = count = 0
    chunks = [] if keep else None
    for batch in distributed:
        result = step(batch)
        correct += int(result[0])
        count += int(result[1])
        if keep:
            chunks.append((result[2].numpy(), result[3].numpy()))
    return _assemble(chunks, count, has_labels, correct, replicas)


def _with_service(emulate, input_bits, dataset, has_labels, service, batch_size, keep):

    address = service.target if isinstance(service, LocalDataService) else service
    if not isinstance(address, str) or "://" not in address:
        raise ValueError(f"`service` must be the tf.data service dispatcher's address, e.g. "
                         f"'grpc://host:5050', or a LocalDataService; got {service!r}.")
    replica_step = _replica_step(emulate, input_bits)
    # Static sharding: each service worker replaces the hint by (its count, its index) and
    # keeps every n-th image, numbered before the shard, then runs the emulator on its own
    # images only: the pipeline runs on the service's workers. (Dynamic sharding would number
    # each worker's part from 0, losing the images' positions.)
    hint = tf.data.experimental.SHARD_HINT
    evaluated = dataset.shard(hint, hint).batch(batch_size).map(replica_step)
    distributed = evaluated.apply(tf.data.experimental.service.distribute(
        processing_mode=tf.data.experimental.service.ShardingPolicy.HINT, service=address))
    correct = count = 0
    chunks = [] if keep else None
    for index, outputs, batch_correct in distributed.as_numpy_iterator():
        correct += int(batch_correct)
        count += index.size
        if keep:
            chunks.append((index, outputs))
    return _assemble(chunks, count, has_labels, correct, None)


def evaluate_sharded(model, dataset, strategy=None, service=None, batch_size: int = 256,
                     outputs: bool = True, backend: Optional[str] = None, *,
                     engine: Optional[str] = None) -> ShardedEvaluation:
    """Evaluates an Akida model over a dataset sharded across the workers of a
    ``tf.distribute`` strategy or of the tf.data service.

    The result is what one process computes (``model.evaluate`` and ``model.predict``): the
    same accuracy and the same outputs, in the dataset's order (see the module docstring for
    how each way shards the data). With a strategy, every worker of the cluster runs this
    same call and gets the whole result; with the service, the calling process gets it.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`, or the path of its emulator SavedModel
            (written by ``export_saved_model``, or the directory written by ``export``).
        dataset: a ``tf.data.Dataset`` of uint8 images or (images, integer labels), batched
            or not (numpy arrays ``images`` or ``(images, labels)`` are accepted too). It is
            read in a stream: memory is bounded by the batches in flight (and the outputs,
            when kept).
        strategy: a ``tf.distribute.Strategy`` (``MultiWorkerMirroredStrategy``,
            ``MirroredStrategy``, ``OneDeviceStrategy``); None for the current one.
        service: instead of a strategy, the tf.data service: its dispatcher's address
            (``"grpc://host:port"``) or a :class:`LocalDataService`.
        batch_size: images per step of each replica (strategy) or per batch given to a
            service worker.
        outputs: whether to return the outputs (False keeps only counts: constant memory).
        backend: for an Akida model, the graph back-end: None, "custom" or "tf" (service
            workers must import cnn2snn_tfmot to run "custom"; :class:`LocalDataService`
            workers do).
        engine: the former name of ``backend``, still accepted.

    Returns:
        A :class:`ShardedEvaluation` (accuracy, outputs, count, shards).

    Raises:
        TypeError / ValueError: a model, dataset or argument that cannot be evaluated (the
            message names it and what is expected).
        RuntimeError: the workers did not cover the dataset exactly once.

    Example:
        >>> from cnn2snn_tfmot.distributed.evaluation import evaluate_sharded
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.distributed import LocalDataService
        >>> with LocalDataService(num_workers=2) as service:
        ...     result = evaluate_sharded(akida_model, tf.data.Dataset.from_tensor_slices(
        ...         (images, labels)), service=service, batch_size=8)
        >>> result.count, result.accuracy == akida_model.evaluate(images, labels)
        (32, True)
    """

    batch_size = params.check_int(batch_size, "batch_size", low=1)
    if strategy is not None and service is not None:
        raise ValueError("give `strategy` or `service`, not both: the data are sharded either "
                         "across a strategy's workers or across the tf.data service's.")
    if strategy is not None and not isinstance(strategy, tf.distribute.Strategy):
        raise TypeError(f"`strategy` must be a tf.distribute.Strategy; got "
                        f"{type(strategy).__name__}.")
    emulate, input_shape, input_bits = _emulator(
        model, resolve_backend(backend, engine, GRAPH_BACKENDS))
    indexed, has_labels = _indexed(dataset, input_shape)
    try:
        if service is not None:
            return _with_service(emulate, input_bits, indexed, has_labels, service, batch_size,
                                 bool(outputs))
        return _with_strategy(emulate, input_bits, indexed, has_labels,
                              strategy if strategy is not None else tf.distribute.get_strategy(),
                              batch_size, bool(outputs))
    except tf.errors.InvalidArgumentError as err:
        if _BEYOND_INPUT_BITS not in str(err):
            raise
        raise ValueError(f"the dataset has values beyond the model's InputData layer's "
                         f"input_bits={input_bits}: inputs must be in [0, "
                         f"{2 ** input_bits - 1}].") from None
