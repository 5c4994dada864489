"""Training under ``tf.distribute``: synchronized BatchNormalization and chief-only callbacks.

Under ``MirroredStrategy`` / ``MultiWorkerMirroredStrategy`` each replica computes its part of
the global batch; gradients are summed across replicas, so a model trains as on one device,
except where a layer looks at the batch itself: BatchNormalization in training mode normalizes
with the statistics of the replica's own slice. :func:`synchronize_batchnorm` makes those
statistics global (Keras's ``BatchNormalization(synchronized=True)``: one all-reduce of the
sums per layer and step), so that the model trains as on one device.

The callbacks of the package run on every worker, as they must: ``GammaClipping`` assigns in
cross-replica context, which updates every replica's copy; ``ScaleFactorMonitor`` reads the
synchronized weights and takes the same decision everywhere (a worker that stopped alone would
leave the others waiting), and only the chief prints its warnings. Callbacks that write files
(``CSVLogger``, your own) go in :class:`ChiefOnly`; Keras's ``ModelCheckpoint`` and
``TensorBoard`` already handle several workers.

Example:
    >>> from cnn2snn_tfmot.distributed.training import synchronize_batchnorm
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> synchronized = synchronize_batchnorm(model)
    >>> synchronized.get_layer("conv_0_bn").synchronized
    True
"""
from __future__ import annotations

from typing import List

from cnn2snn_tfmot.distributed.cluster import is_chief
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.saving import weight_key
from cnn2snn_tfmot.quantization.scheme import quantize_scope
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["synchronize_batchnorm", "unsynchronized_batchnorms", "ChiefOnly"]


def _keep_synchronized_in_config() -> None:
    """tf_keras's ``BatchNormalization.get_config`` leaves ``synchronized`` out: a synchronized
    layer saved (.h5, SavedModel) or cloned came back unsynchronized, silently. The package
    adds the key when it is True (other layers' configs are unchanged; ``from_config`` and
    plain tf_keras take it)."""
    cls = keras.layers.BatchNormalization
    original = cls.get_config
    if getattr(original, "keeps_synchronized", False):
        return

    def get_config(self):
        config = original(self)
        if getattr(self, "synchronized", False):
            config["synchronized"] = True
        return config

    get_config.keeps_synchronized = True
    get_config.__doc__ = original.__doc__
    cls.get_config = get_config


_keep_synchronized_in_config()


def _batchnorms(model) -> List:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _batchnorms(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
    return found


def unsynchronized_batchnorms(model) -> List[str]:
    """The names of the BatchNormalization layers of ``model`` that are not synchronized.

    Under a strategy with several replicas these normalize each replica's slice of the batch
    with its own statistics while training (see :func:`synchronize_batchnorm`).

    Arguments:
        model: a tf_keras model.

    Returns:
        Layer names, in model order (nested models included).

    Example:
        >>> from cnn2snn_tfmot.distributed.training import unsynchronized_batchnorms
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> unsynchronized_batchnorms(model)
        ['conv_0_bn', 'separable_1_bn']
    """
    check_keras_model(model)
    return [layer.name for layer in _batchnorms(model) if not layer.synchronized]


def _synchronized_clone(layer):
    if isinstance(layer, keras.Model):
        return _clone(layer)  # with its weights
    config = layer.get_config()
    if isinstance(layer, keras.layers.BatchNormalization):
        config["synchronized"] = True  # (Keras computes synchronized statistics unfused)
    return type(layer).from_config(config)


def _clone(model):

    with quantize_scope():  # TFMOT wrappers and our layers deserialize
        clone = keras.models.clone_model(model, clone_function=_synchronized_clone)
    # By layer and name: the order of a layer's weights follows the creation of its variables,
    # which differs for the trainable quantizers of a cloned TFMOT wrapper.
    for source, target in zip(model.layers, clone.layers):
        if not isinstance(source, keras.Model):
            values = {weight_key(variable): variable for variable in source.weights}
            for variable in target.weights:
                variable.assign(values[weight_key(variable)])
    return clone


def synchronize_batchnorm(model):
    """Returns a copy of ``model`` whose BatchNormalization layers use global batch statistics
    under ``tf.distribute`` (``synchronized=True``).

    While training with several replicas, each synchronized layer sums its inputs' moments
    across replicas (one all-reduce per layer and step) and normalizes with the statistics of
    the global batch, as one device would: the model's weights and moving statistics stay those
    of single-device training (within float tolerance). Without it, each replica normalizes
    its slice with its own statistics (for a global batch of 64 on 2 replicas: 32 images),
    which trains a different model. Inference, a single device and folded models (``quantize()``
    folds BatchNormalization into the weights) are unaffected. Call it inside
    ``strategy.scope()``, on the model you train (float, cnn2snn-style quantized or
    TFMOT-annotated); the copy has the same layers, names and weights, and saves and reloads
    synchronized (.h5 and SavedModel; the package makes tf_keras keep the setting in the
    layer's config, which tf_keras alone drops). The input model is not modified.

    Arguments:
        model: a Sequential or Functional tf_keras model (nested models included).

    Returns:
        A new model with synchronized BatchNormalization layers and the same weights.

    Example:
        >>> from cnn2snn_tfmot import tf
        >>> from cnn2snn_tfmot.distributed.training import (synchronize_batchnorm,
        ...     unsynchronized_batchnorms)
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> strategy = tf.distribute.get_strategy()   # e.g. MirroredStrategy()
        >>> with strategy.scope():
        ...     synchronized = synchronize_batchnorm(model)
        >>> unsynchronized_batchnorms(synchronized)
        []
    """
    check_keras_model(model)
    if isinstance(model, keras.Sequential) or model._is_graph_network:
        return _clone(model)
    raise TypeError(f"synchronize_batchnorm needs a Sequential or Functional model; "
                    f"'{model.name}' is a subclassed {type(model).__name__}: build its "
                    f"BatchNormalization layers with synchronized=True instead.")


_HOOKS = tuple(f"on_{mode}_{event}" for mode in ("train", "test", "predict")
               for event in ("begin", "end", "batch_begin", "batch_end")) + (
    "on_epoch_begin", "on_epoch_end")


def _forward(hook: str):
    def call(self, *args, **kwargs):
        if self.active:
            getattr(self.callback, hook)(*args, **kwargs)
    call.__name__ = hook
    return call


class ChiefOnly(keras.callbacks.Callback):
    """Runs a Keras callback on the chief only (worker 0 of a multi-worker job).

    For callbacks that write files or print (``CSVLogger``, your own loggers): every worker of
    ``MultiWorkerMirroredStrategy`` runs the same script with the same callbacks, and N
    processes writing one file give a garbled file. On the other workers the wrapped callback
    receives no event. Do not wrap callbacks that change training (``EarlyStopping``,
    ``GammaClipping``, ``ScaleFactorMonitor``): they must act on every worker, or the workers
    would part ways (and wait for each other forever). On one process it is the callback
    itself.

    Arguments:
        callback: a tf_keras Callback.

    Attributes:
        active: whether this process is the chief (known once training starts).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.distributed.training import ChiefOnly
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> x, y = (images / 255).astype(np.float32), labels
        >>> logger = ChiefOnly(keras.callbacks.CSVLogger("train.csv"))
        >>> model_quantized.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
        >>> _ = model_quantized.fit(x, y, verbose=0, callbacks=[logger])
        >>> logger.active, open("train.csv").readline().startswith("epoch,loss")
        (True, True)
    """

    def __init__(self, callback):
        super().__init__()
        if not isinstance(callback, keras.callbacks.Callback):
            raise TypeError(f"ChiefOnly wraps a tf_keras Callback; got "
                            f"{type(callback).__name__}.")
        self.callback = callback
        self.active = None
        self._supports_tf_logs = getattr(callback, "_supports_tf_logs", False)

    def set_model(self, model):
        super().set_model(model)
        self.active = is_chief(model.distribute_strategy)
        self.callback.set_model(model)

    def set_params(self, params):
        super().set_params(params)
        self.callback.set_params(params)

    # Keras skips per-batch work for callbacks without batch hooks: keep the wrapped one's.
    def _implements_train_batch_hooks(self):
        return self.callback._implements_train_batch_hooks()

    def _implements_test_batch_hooks(self):
        return self.callback._implements_test_batch_hooks()

    def _implements_predict_batch_hooks(self):
        return self.callback._implements_predict_batch_hooks()


for _hook in _HOOKS:
    setattr(ChiefOnly, _hook, _forward(_hook))
del _hook
