"""Training helpers that keep a model within what Akida can run.

BatchNormalization gammas that become tiny make folded weights tiny and scale factors huge,
beyond the chip's threshold and act_step registers (docs/akida-v1.md section 6). Three tools:

* ``add_gamma_constraint(model)``: the akida_models helper of BrainChip's cnn2snn tutorial, a gamma
  constraint on every BatchNormalization of a model you build;
* ``GammaClipping``: a callback doing the same for models built elsewhere;
* ``ScaleFactorMonitor``: a callback computing, from the current weights, the registers that
  ``convert`` would produce (with the converter's own code) and logging each layer's margin,
  so that a model that will not fit is caught while it trains.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot import keras, quantize
    >>> from cnn2snn_tfmot.training.callbacks import GammaClipping, ScaleFactorMonitor
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> x, y = (images / 255).astype(np.float32), labels
    >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> quantized = quantize(model, 4, 4, 8, input_scaling=(255, 0))  # remembers its scaling
    >>> quantized.compile(keras.optimizers.Adam(1e-4), loss)
    >>> history = quantized.fit(x, y, verbose=0, callbacks=[
    ...     GammaClipping(), ScaleFactorMonitor(), keras.callbacks.CSVLogger("log.csv")])
    >>> sorted(history.history)[:2]
    ['akida_margin/conv_0', 'akida_margin/dense']
"""
from __future__ import annotations

import warnings
from typing import Dict, List, Tuple, Union

from cnn2snn_tfmot.chip.rules import check_input_scaling, register_problems
from cnn2snn_tfmot.conversion.blocks import analyze
from cnn2snn_tfmot.conversion.registers import model_registers
from cnn2snn_tfmot.distributed.cluster import is_chief
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization.input_scaling import (
    input_scaling_of,
    remember_input_scaling,
    resolve_input_scaling,
)
from cnn2snn_tfmot.tfkeras import keras, tf
from cnn2snn_tfmot.training.distillation import trained_model

__all__ = ["MinValueConstraint", "add_gamma_constraint", "GammaClipping", "ScaleFactorMonitor",
           "AkidaRegisterWarning"]


@keras.utils.register_keras_serializable(package="cnn2snn_tfmot")
class MinValueConstraint(keras.constraints.Constraint):
    """Clips a weight to at least ``min_value`` after each optimizer step.

    Arguments:
        min_value: the smallest value allowed.

    Example:
        >>> from cnn2snn_tfmot import keras, tf
        >>> from cnn2snn_tfmot.training.callbacks import MinValueConstraint
        >>> bn = keras.layers.BatchNormalization(gamma_constraint=MinValueConstraint(1e-2))
        >>> MinValueConstraint(1e-2)(tf.constant([-1.0, 0.5])).numpy()
        array([0.01, 0.5 ], dtype=float32)
    """

    def __init__(self, min_value: float = 1e-2):
        self.min_value = float(min_value)

    def __call__(self, w):
        return tf.maximum(w, tf.cast(self.min_value, w.dtype))

    def get_config(self) -> dict:
        return {"min_value": self.min_value}


# A layer's config names its constraint by class name only, and Keras's .h5 loader looks it
# up by that name: register it under it too, so plain keras.models.load_model reloads it.
keras.utils.get_custom_objects()[MinValueConstraint.__name__] = MinValueConstraint


def _constrained_clone(layer, min_value: float):
    config = layer.get_config()
    if isinstance(layer, keras.layers.BatchNormalization):
        config["gamma_constraint"] = keras.utils.serialize_keras_object(
            MinValueConstraint(min_value))
    return type(layer).from_config(config)


def add_gamma_constraint(model, min_value: float = 1e-2):
    """Returns a copy of the model whose BatchNormalization gammas are kept >= ``min_value``.

    Apply it to the float (or quantized) model before BatchNormalization layers are folded,
    then train the returned model with ``compile()`` and ``fit()``. The copy has the same
    layers, names and weights; the input model is not modified. (A constraint must be given
    when a layer is built: Keras ignores one set on a built layer.)

    Arguments:
        model: a Sequential or Functional tf_keras model.
        min_value: the smallest gamma allowed (default 1e-2, as akida_models).

    Returns:
        A new model with constrained BatchNormalization layers and the same weights.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.training.callbacks import add_gamma_constraint
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> x, y = (images / 255).astype(np.float32), labels
        >>> constrained = add_gamma_constraint(model)
        >>> constrained.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
        >>> constrained.get_layer("conv_0_bn").gamma.assign([-1.0] * 8)
        <...>
        >>> _ = constrained.fit(x, y, verbose=0)
        >>> constrained.get_layer("conv_0_bn").gamma.numpy()  # clipped after the update
        array([0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01], dtype=float32)
    """
    model = check_keras_model(model)
    if not isinstance(min_value, (int, float)) or not min_value > 0:
        raise ValueError(f"`min_value` must be a positive gamma; got {min_value!r}.")
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: _constrained_clone(layer, min_value))
    clone.set_weights(model.get_weights())
    return clone


def _batchnorm_gammas(model) -> List[tf.Variable]:
    """Every BatchNormalization gamma of the model, nested layers and models included."""
    return [layer.gamma for layer in model.submodules
            if isinstance(layer, keras.layers.BatchNormalization) and layer.gamma is not None]


@keras.utils.register_keras_serializable(package="cnn2snn_tfmot")
class GammaClipping(keras.callbacks.Callback):
    """Clips every BatchNormalization gamma to at least ``min_value`` after each training batch.

    For models built elsewhere (where ``add_gamma_constraint`` cannot be applied before
    building); the effect is that of the constraint.

    Arguments:
        min_value: the smallest gamma allowed (default 1e-2).

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.training.callbacks import GammaClipping
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> x, y = (images / 255).astype(np.float32), labels
        >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        >>> model.get_layer("conv_0_bn").gamma.assign([-1.0] * 8)
        <...>
        >>> _ = model.fit(x, y, verbose=0, callbacks=[GammaClipping(1e-2)])
        >>> bool(np.all(model.get_layer("conv_0_bn").gamma.numpy() >= np.float32(1e-2)))
        True
    """

    def __init__(self, min_value: float = 1e-2):
        super().__init__()
        if not isinstance(min_value, (int, float)) or not min_value > 0:
            raise ValueError(f"GammaClipping: `min_value` must be a positive number; got "
                             f"{min_value!r}.")
        self.min_value = float(min_value)
        self._gammas: List[tf.Variable] = []

    def on_train_begin(self, logs=None):
        # A Distiller's teacher is not the user's to change: only the student is clipped.
        self._gammas = _batchnorm_gammas(trained_model(self.model))
        self._clip()

    def on_train_batch_end(self, batch, logs=None):
        self._clip()

    def _clip(self):
        for gamma in self._gammas:
            gamma.assign(tf.maximum(gamma, self.min_value))

    def get_config(self) -> dict:
        return {"min_value": self.min_value}


class AkidaRegisterWarning(UserWarning):
    """A layer's thresholds or act_steps would not fit Akida 1.0's registers if converted now.

    :class:`ScaleFactorMonitor` emits it (``on_violation="warn"`` or ``"stop"``).

    Example:
        >>> from cnn2snn_tfmot.training.callbacks import AkidaRegisterWarning
        >>> import warnings
        >>> warnings.simplefilter("error", AkidaRegisterWarning)  # turn it into an exception
        >>> warnings.resetwarnings()
    """


_VIOLATION_MODES = ("warn", "stop", "raise")


def check_frequency(owner: str, frequency) -> None:
    """Raises ValueError, naming ``owner``, unless ``frequency`` is "epoch" or a positive int."""
    if frequency != "epoch" and (isinstance(frequency, bool) or
                                 not isinstance(frequency, int) or frequency < 1):
        raise ValueError(f"{owner}: `frequency` must be 'epoch' or a positive number of "
                         f"batches; got {frequency!r}.")


def require_convertible(owner: str, model, input_is_sparse: bool) -> None:
    """Raises ValueError, naming ``owner`` and every broken rule, unless ``model``'s blocks
    follow the Akida rules (a model convert() accepts)."""

    analysis = analyze(model, input_is_sparse)
    if analysis.violations:
        raise ValueError(f"{owner} needs a model that convert() accepts; this one breaks Akida "
                         "rules:\n  - " + "\n  - ".join(analysis.violations))


class ScaleFactorMonitor(keras.callbacks.Callback):
    """Predicts during training whether ``convert`` will fit the model in Akida's registers.

    At each check it computes, from the current weights and with the converter's own code
    (:func:`cnn2snn_tfmot.conversion.registers.block_registers`), every layer's thresholds and
    act_steps, and writes into the Keras ``logs`` each layer's margin in bits,
    ``akida_margin/<layer>``: the smallest headroom, ``log2(limit / value)``, of its act_steps
    (above 1/16 and below the 20- or 24-bit register) and thresholds (within the signed
    register). A negative margin means the layer does not fit. Put the monitor before
    ``CSVLogger`` / ``TensorBoard`` in the callbacks list so that they record the margins.
    Under ``tf.distribute`` it reads the weights every replica holds and acts on every worker
    alike; only the chief warns (see :mod:`cnn2snn_tfmot.distributed`).

    Arguments:
        input_scaling: ``(scale, shift)`` that will be given to ``convert``, or None (default):
            the one the model remembers (``quantize(..., input_scaling=...)``); a model that
            remembers none is then an error. An explicit pair must agree with the remembered
            one. A model that remembers none is made to remember the given pair when training
            begins (it is kept in the first quantized layer's config, so it is saved with the
            model, and a line says so): ``convert`` and the command line then use it.
        frequency: "epoch" to check at the end of each epoch, or an int N to check every N
            training batches.
        on_violation: "warn" (an :class:`AkidaRegisterWarning`), "stop" (warn and stop
            training) or "raise" (a ValueError) when a layer would not fit; the message names
            the layer, the value, the limit and the fix.
        input_is_sparse: as for ``convert``.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot import keras, quantize
        >>> from cnn2snn_tfmot.training.callbacks import ScaleFactorMonitor
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> x, y = (images / 255).astype(np.float32), labels
        >>> quantized = quantize(model, 4, 4, 8)            # remembers no input scaling
        >>> monitor = ScaleFactorMonitor((255, 0), on_violation="stop")
        >>> quantized.compile("adam", keras.losses.SparseCategoricalCrossentropy(True))
        >>> _ = quantized.fit(x, y, epochs=2, verbose=0, callbacks=[
        ...     monitor, keras.callbacks.CSVLogger("train.csv")])
        ScaleFactorMonitor: model 'doctest_cnn' now remembers input_scaling=(255.0, 0) (in layer \
'conv_0'); convert() and the command line use it.
        >>> monitor.problems, sorted(monitor.margins)
        ([], ['conv_0', 'dense', 'separable_1'])
    """

    def __init__(self, input_scaling=None, frequency: Union[str, int] = "epoch",
                 on_violation: str = "warn", input_is_sparse: bool = False):
        super().__init__()

        self.input_scaling = (None if input_scaling is None
                              else check_input_scaling(input_scaling, input_is_sparse))
        check_frequency("ScaleFactorMonitor", frequency)
        if on_violation not in _VIOLATION_MODES:
            raise ValueError(f"ScaleFactorMonitor: `on_violation` must be one of "
                             f"{', '.join(map(repr, _VIOLATION_MODES))}; got {on_violation!r}.")
        self.frequency = frequency
        self.on_violation = on_violation
        self.input_is_sparse = bool(input_is_sparse)
        self.margins: Dict[str, float] = {}
        self.problems: List[str] = []

    @property
    def _monitored(self):
        """The model whose registers are monitored (a Distiller's student)."""
        return trained_model(self.model)

    def on_train_begin(self, logs=None):
        require_convertible("ScaleFactorMonitor", self._monitored, self.input_is_sparse)
        scaling, source = self._scaling()
        if source == "given":

            if input_scaling_of(self._monitored) is None:  # remembered from now on, reported
                layer = remember_input_scaling(self._monitored, scaling)
                print(
                    f"ScaleFactorMonitor: model '{self._monitored.name}' now remembers "
                    f"input_scaling={scaling} (in layer '{layer}'); convert() and the command "
                    "line use it.")

    def _scaling(self):
        """The monitor's input scaling (given, else the model's) and where it came from."""

        scaling, source = resolve_input_scaling(self._monitored, self.input_scaling,
                                                self.input_is_sparse)
        if scaling is None:
            raise ValueError(
                f"ScaleFactorMonitor: model '{self._monitored.name}' does not remember an input "
                "scaling and none was given: pass ScaleFactorMonitor(input_scaling=(255, 0)) "
                "(for Keras inputs img / 255), or quantize the model with "
                "quantize(..., input_scaling=(255, 0)) so that it remembers it.")
        return scaling, source

    def on_train_batch_end(self, batch, logs=None):
        if self.frequency != "epoch" and (batch + 1) % self.frequency == 0:
            self._check(logs, f"batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        if self.frequency == "epoch":
            self._check(logs, f"epoch {epoch + 1}")

    def check(self) -> Tuple[Dict[str, float], List[str]]:
        """Computes the margins and problems of the model's current weights.

        Returns:
            ``(margins, problems)``: margin in bits by layer name, and the messages of the
            layers that do not fit (empty when all fit).
        """

        analysis = analyze(self._monitored, self.input_is_sparse)
        if analysis.violations:  # e.g. weights that turned NaN while training
            return {}, list(analysis.violations)
        margins, problems = {}, []
        scaling, _ = self._scaling()
        for registers in model_registers(analysis, scaling, self.input_is_sparse):
            margins[registers.name] = registers.margin()
            problems += register_problems(registers)
        return margins, problems

    def _check(self, logs, when: str):
        self.margins, self.problems = self.check()
        if logs is not None:
            for name, margin in self.margins.items():
                logs[f"akida_margin/{name}"] = margin
        if not self.problems:
            return
        message = (f"ScaleFactorMonitor ({when}): the model would not fit Akida 1.0's "
                   "registers if converted now:\n  - " + "\n  - ".join(self.problems))
        if self.on_violation == "raise":
            raise ValueError(message)
        if _reports(self.model):
            warnings.warn(message, AkidaRegisterWarning, stacklevel=2)
        if self.on_violation == "stop":
            self.model.stop_training = True

    def get_config(self) -> dict:
        scaling = None if self.input_scaling is None else list(self.input_scaling)
        return {"input_scaling": scaling, "frequency": self.frequency,
                "on_violation": self.on_violation, "input_is_sparse": self.input_is_sparse}


def _reports(model) -> bool:
    """Whether this process reports (prints, writes): the chief of a multi-worker job. Every
    worker computes the same margins from the synchronized weights and takes the same
    decision (a worker stopping alone would leave the others waiting); one of them speaks."""

    return model is None or is_chief(model.distribute_strategy)
