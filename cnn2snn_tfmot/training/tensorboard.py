"""TensorBoard views of what the chip will receive: integer weights and register margins.

:class:`AkidaTensorBoard` is a training callback, a companion of
:class:`cnn2snn_tfmot.ScaleFactorMonitor`: at each check it computes, with the converter's own
code (:func:`cnn2snn_tfmot.conversion.registers.model_registers`), every layer's integer weights,
thresholds and act_steps from the current weights, and writes into a TensorBoard log:

* ``akida_weights/<layer>`` (``/depthwise`` and ``/pointwise`` for a separable layer):
  histograms of the integer weights, one bucket per integer value, so that the counts are
  exact;
* ``akida_thresholds/<layer>`` and ``akida_act_steps/<layer>``: histograms of the registers;
* ``akida_margin/<layer>``: the scalar margin in bits that ScaleFactorMonitor logs
  (:func:`cnn2snn_tfmot.chip.limits.register_margin`; negative: the layer would not fit).

The summaries are written with TensorFlow alone (``tf.summary.write`` with TensorBoard's
"histograms" and "scalars" plugin metadata), so training does not need the ``tensorboard``
package; viewing the log does (``tensorboard --logdir DIR``). :func:`read_scalars` reads the
scalars of any TensorBoard log back (ours, or Keras's ``TensorBoard`` callback's).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.training.tensorboard import AkidaTensorBoard, read_scalars
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> x, y = (images / 255).astype(np.float32), labels
    >>> model_quantized.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
    >>> _ = model_quantized.fit(x, y, epochs=2, verbose=0,
    ...                         callbacks=[AkidaTensorBoard("logs", input_scaling=(255, 0))])
    >>> sorted(read_scalars("logs"))
    ['akida_margin/conv_0', 'akida_margin/dense', 'akida_margin/separable_1']
    >>> [step for step, _ in read_scalars("logs")["akida_margin/dense"]]
    [0, 1]
"""
from __future__ import annotations

import os
from typing import Dict, List, Tuple, Union

import numpy as np

from cnn2snn_tfmot.chip.rules import check_input_scaling
from cnn2snn_tfmot.conversion.blocks import analyze
from cnn2snn_tfmot.conversion.registers import model_registers
from cnn2snn_tfmot.tfkeras import keras, tf
from cnn2snn_tfmot.training.callbacks import check_frequency, require_convertible
from cnn2snn_tfmot.training.distillation import trained_model

__all__ = ["AkidaTensorBoard", "read_scalars", "RUN_NAME"]

#: The sub-directory of ``log_dir`` that AkidaTensorBoard writes (a run of its own in
#: TensorBoard, next to Keras's "train" and "validation").
RUN_NAME = "akida"
#: Integer ranges up to this many values get one histogram bucket per integer.
_MAX_INTEGER_BUCKETS = 512
_DEFAULT_BUCKETS = 30


def _metadata(plugin: str):
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    return metadata


def histogram_buckets(values: np.ndarray) -> np.ndarray:
    """TensorBoard histogram buckets ``[left, right, count]`` of ``values``.

    Integer values spanning at most 512 integers get one bucket per integer,
    ``[k - 0.5, k + 0.5]``, so that counts are exact; other values get 30 buckets of equal
    width over their range (one bucket when they are all equal).

    Arguments:
        values: a numpy array (any shape) of at least one value.

    Returns:
        A float64 array of shape (buckets, 3).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.training.tensorboard import histogram_buckets
        >>> histogram_buckets(np.array([-1, 1, 1, 0], np.int8)).tolist()
        [[-1.5, -0.5, 1.0], [-0.5, 0.5, 1.0], [0.5, 1.5, 2.0]]
    """
    values = np.asarray(values).ravel()
    low, high = values.min(), values.max()
    if values.dtype.kind in "iu" and int(high) - int(low) < _MAX_INTEGER_BUCKETS:
        low, high = int(low), int(high)
        counts = np.bincount(values.astype(np.int64) - low, minlength=high - low + 1)
        left = np.arange(low, high + 1, dtype=np.float64) - 0.5
        return np.stack([left, left + 1.0, counts.astype(np.float64)], axis=1)
    values = values.astype(np.float64)
    if low == high:
        return np.array([[float(low), float(high), float(values.size)]])
    counts, edges = np.histogram(values, bins=_DEFAULT_BUCKETS)
    return np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)


def _write_histogram(tag: str, values: np.ndarray, step: int) -> None:
    tf.summary.write(tag, tf.constant(histogram_buckets(values), tf.float64), step=step,
                     metadata=_metadata("histograms"))


def _write_scalar(tag: str, value: float, step: int) -> None:
    tf.summary.write(tag, tf.constant(value, tf.float32), step=step,
                     metadata=_metadata("scalars"))


@keras.utils.register_keras_serializable(package="cnn2snn_tfmot")
class AkidaTensorBoard(keras.callbacks.Callback):
    """Writes TensorBoard histograms of the integer weights, thresholds and act_steps that
    ``convert`` would produce now, and each layer's register margin, while the model trains.

    The log goes to ``<log_dir>/akida`` (give the ``log_dir`` of Keras's ``TensorBoard``
    callback to see both together). Steps are epochs (``frequency="epoch"``) or the number of
    training batches seen (``frequency=N``). See :mod:`cnn2snn_tfmot.training.tensorboard` for the
    tags.

    Arguments:
        log_dir: the TensorBoard log directory.
        input_scaling: ``(scale, shift)`` that will be given to ``convert``.
        frequency: "epoch" to write at the end of each epoch, or an int N to write every N
            training batches.
        input_is_sparse: as for ``convert``.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.training.tensorboard import AkidaTensorBoard, read_scalars
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> x, y = (images / 255).astype(np.float32), labels
        >>> board = AkidaTensorBoard("logs", input_scaling=(255, 0), frequency=1)
        >>> model_quantized.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
        >>> _ = model_quantized.fit(x, y, batch_size=16, verbose=0, callbacks=[board])
        >>> [step for step, _ in read_scalars("logs")["akida_margin/conv_0"]]
        [1, 2]
    """

    def __init__(self, log_dir: Union[str, os.PathLike] = "logs", input_scaling=(1.0, 0),
                 frequency: Union[str, int] = "epoch", input_is_sparse: bool = False):
        super().__init__()

        self.log_dir = os.fspath(log_dir)
        self.input_scaling = check_input_scaling(input_scaling, input_is_sparse)
        check_frequency("AkidaTensorBoard", frequency)
        self.frequency = frequency
        self.input_is_sparse = bool(input_is_sparse)
        self._writer = None
        self._batches = 0

    def on_train_begin(self, logs=None):
        require_convertible("AkidaTensorBoard", trained_model(self.model),
                            self.input_is_sparse)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, RUN_NAME))

    def on_train_batch_end(self, batch, logs=None):
        self._batches += 1
        if self.frequency != "epoch" and self._batches % self.frequency == 0:
            self.write(self._batches)

    def on_epoch_end(self, epoch, logs=None):
        if self.frequency == "epoch":
            self.write(epoch)

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.flush()

    def write(self, step: int) -> Dict[str, float]:
        """Writes the summaries of the model's current weights at ``step``.

        Arguments:
            step: the TensorBoard step.

        Returns:
            The margin in bits by layer name.
        """

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, RUN_NAME))
        analysis = analyze(trained_model(self.model), self.input_is_sparse)
        margins = {}
        with self._writer.as_default():
            for registers in model_registers(analysis, self.input_scaling,
                                             self.input_is_sparse):
                name = registers.name
                if registers.weights_pw is None:
                    _write_histogram(f"akida_weights/{name}", registers.weights, step)
                else:
                    _write_histogram(f"akida_weights/{name}/depthwise", registers.weights, step)
                    _write_histogram(f"akida_weights/{name}/pointwise", registers.weights_pw,
                                     step)
                _write_histogram(f"akida_thresholds/{name}", registers.threshold, step)
                _write_histogram(f"akida_act_steps/{name}", registers.act_step, step)
                margins[name] = registers.margin()
                _write_scalar(f"akida_margin/{name}", margins[name], step)
        self._writer.flush()
        return margins

    def get_config(self) -> dict:
        return {"log_dir": self.log_dir, "input_scaling": list(self.input_scaling),
                "frequency": self.frequency, "input_is_sparse": self.input_is_sparse}


def _event_files(log_dir: str) -> List[str]:
    found = []
    for root, _, files in os.walk(log_dir):
        found += [os.path.join(root, name) for name in files if ".tfevents." in name]
    return sorted(found)


def read_scalars(log_dir: Union[str, os.PathLike],
                 prefix: str = "") -> Dict[str, List[Tuple[int, float]]]:
    """The scalar summaries of a TensorBoard log directory (and its sub-directories).

    Reads event files with TensorFlow alone (no ``tensorboard`` package). Both kinds of
    scalars are read: TF2 summaries (tensors, as Keras's TensorBoard callback and
    :class:`AkidaTensorBoard` write) and TF1 ``simple_value`` ones.

    Arguments:
        log_dir: the log directory.
        prefix: keep only the tags that start with it, or that start with ``epoch_`` +
            prefix (Keras's TensorBoard callback prefixes epoch logs with ``epoch_``), which
            is then removed.

    Returns:
        ``{tag: [(step, value), ...]}`` sorted by step.

    Raises:
        FileNotFoundError: ``log_dir`` does not exist or holds no event file.

    Example:
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.training.tensorboard import read_scalars
        >>> writer = tf.summary.create_file_writer("logs")
        >>> with writer.as_default():
        ...     _ = tf.summary.write("epoch_akida_margin/conv_0", 3.5, step=0)
        >>> writer.flush()
        >>> read_scalars("logs", prefix="akida_margin/")
        {'akida_margin/conv_0': [(0, 3.5)]}
    """
    log_dir = os.fspath(log_dir)
    files = _event_files(log_dir) if os.path.isdir(log_dir) else []
    if not files:
        raise FileNotFoundError(f"no TensorBoard event file (events.out.tfevents.*) under "
                                f"{log_dir!r}.")
    scalars: Dict[str, List[Tuple[int, float]]] = {}
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tag = value.tag
                if tag.startswith("epoch_" + prefix) and prefix:
                    tag = tag[len("epoch_"):]
                if not tag.startswith(prefix):
                    continue
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.HasField("tensor"):
                    array = tf.make_ndarray(value.tensor)
                    if array.size != 1 or array.dtype.kind not in "fiu":
                        continue  # not a scalar (a histogram, an image...)
                    number = float(array.reshape(()))
                else:
                    continue
                scalars.setdefault(tag, []).append((int(event.step), number))
    return {tag: sorted(values, key=lambda item: item[0]) for tag, values in scalars.items()}
