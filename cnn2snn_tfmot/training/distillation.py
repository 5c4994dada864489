"""Distillation from the float model during quantization-aware training.

``distill(student, teacher, temperature, alpha)`` returns a :class:`Distiller`, a tf_keras model
that trains ``student`` (a quantized model, or its ``hardware_exact`` version) on

    alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))
        + (1 - alpha) * (the compiled loss on the labels)

(Hinton et al. 2015), ``teacher`` being the float model it was quantized from, run in inference
mode and never changed. Compile it as you would compile the student (a loss on logits,
``from_logits=True``) and call ``fit``: Keras's own training step runs, under ``tf.distribute``
as well (create and compile it inside ``strategy.scope()``). The logs show ``loss`` (the label
loss, as without distillation) and ``distillation_loss`` (the KL term, times ``T**2``).
Convert and save the student: the Distiller is a training wrapper (it is not saved itself).

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.training.distillation import distill
    >>> from cnn2snn_tfmot import hardware_exact, keras, quantize
    >>> teacher = keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu"),
    ...     keras.layers.Flatten(), keras.layers.Dense(3, name="dense")])
    >>> student = hardware_exact(quantize(teacher, 4, 2, 8), input_scaling=(255, 0))
    >>> distiller = distill(student, teacher, temperature=4.0, alpha=0.9)
    >>> distiller.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)) / 255
    >>> history = distiller.fit(x, np.arange(16) % 3, epochs=1, verbose=0)
    >>> sorted(history.history)
    ['distillation_loss', 'loss']
"""
from __future__ import annotations

from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = ["Distiller", "distill", "trained_model"]


def _check_number(value, owner: str, argument: str, low: float, high: float,
                  low_open: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            (low < value if low_open else low <= value) and value <= high):
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{owner}: `{argument}` must be a number in {interval}; got "
                         f"{value!r}.")
    return float(value)


class Distiller(keras.Model):
    """A tf_keras model training a student on its labels and on a frozen teacher's outputs.

    Made by :func:`distill` (see the module docstring). Its outputs are the student's; only
    the student's variables train; the teacher runs in inference mode.

    Arguments:
        student: the model that learns (tf_keras, logits out).
        teacher: the model it learns from (tf_keras, the same outputs), not modified.
        temperature: the softmax temperature ``T`` > 0.
        alpha: the weight of the distillation term, in [0, 1].

    Example:
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.training.distillation import Distiller
        >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> distiller = Distiller(student, teacher, temperature=2.0, alpha=0.5)
        >>> len(distiller.trainable_weights)      # the student's kernel and bias
        2
    """

    def __init__(self, student, teacher, temperature: float = 4.0, alpha: float = 0.9,
                 **kwargs):
        kwargs.setdefault("name", f"{student.name}_distiller")
        super().__init__(**kwargs)
        self.student = student
        self.teacher = teacher
        self.temperature = _check_number(temperature, "distill", "temperature", 0.0,
                                         float("inf"), low_open=True)
        self.alpha = _check_number(alpha, "distill", "alpha", 0.0, 1.0, low_open=False)
        self.distillation_tracker = keras.metrics.Mean(name="distillation_loss")

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    @property
    def trainable_weights(self):
        return self.student.trainable_weights

    @property
    def non_trainable_weights(self):
        seen = {id(variable) for variable in self.student.non_trainable_weights}
        return self.student.non_trainable_weights + [
            variable for variable in self.teacher.weights if id(variable) not in seen]

    def distillation_loss(self, x, logits, sample_weight=None):
        """``T**2 * KL(softmax(teacher(x) / T) || softmax(logits / T))``, averaged over the
        global batch (``tf.nn.compute_average_loss``: per replica under ``tf.distribute``).

        Arguments:
            x: the inputs.
            logits: the student's outputs for ``x``.
            sample_weight: per-example weights, or None.

        Returns:
            ``(loss to minimise, per-example values)``.
        """
        teacher = tf.stop_gradient(self.teacher(x, training=False))
        batch = tf.shape(logits)[0]
        student = tf.reshape(tf.cast(logits, tf.float32), [batch, -1]) / self.temperature
        teacher = tf.reshape(tf.cast(teacher, tf.float32), [batch, -1]) / self.temperature
        log_teacher = tf.nn.log_softmax(teacher)
        per_example = self.temperature ** 2 * tf.reduce_sum(
            tf.exp(log_teacher) * (log_teacher - tf.nn.log_softmax(student)), axis=-1)
        return tf.nn.compute_average_loss(per_example, sample_weight=sample_weight), per_example

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):
        labels = self.compiled_loss(y, y_pred, sample_weight,
                                    regularization_losses=self.student.losses)
        soft, per_example = self.distillation_loss(x, y_pred, sample_weight)
        self.distillation_tracker.update_state(per_example, sample_weight=sample_weight)
        if labels is None:
            return soft
        return self.alpha * soft + (1.0 - self.alpha) * labels

    def get_config(self):
        raise NotImplementedError(
            f"Distiller '{self.name}' is a training wrapper and is not saved: save or convert "
            "its student (distiller.student).")


def distill(student, teacher, temperature: float = 4.0, alpha: float = 0.9) -> Distiller:
    """Trains ``student`` on its labels and on the outputs of ``teacher`` (distillation).

    See the module docstring for the loss. The student is typically a quantized model or its
    ``hardware_exact`` version, the teacher the float model it came from (taking the same
    inputs); the callbacks of the package (``ScaleFactorMonitor``, ``GammaClipping``,
    ``BitwidthSchedule``, ``AkidaTensorBoard``) act on the student.

    Arguments:
        student: the model that learns: a tf_keras model with logits out.
        teacher: the model it learns from: a tf_keras model with outputs of the same shape
            (not modified; run with ``training=False``).
        temperature: the softmax temperature ``T`` > 0 (default 4).
        alpha: the weight of the distillation term in [0, 1] (default 0.9); the label loss
            gets ``1 - alpha``.

    Returns:
        A :class:`Distiller` to compile and ``fit``.

    Raises:
        ValueError: outputs of different shapes, or a bad ``temperature`` or ``alpha``.

    Example:
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.training.distillation import distill
        >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> distill(student, teacher, temperature=2.0).alpha
        0.9
    """
    student = check_keras_model(student, "student", rebuild=False)
    teacher = check_keras_model(teacher, "teacher")
    shapes = [tuple(model.outputs[0].shape[1:]) if getattr(model, "outputs", None) else None
              for model in (student, teacher)]
    if None not in shapes and shapes[0] != shapes[1]:
        raise ValueError(f"distill: the student '{student.name}' outputs {shapes[0]} per "
                         f"example and the teacher '{teacher.name}' {shapes[1]}: distillation "
                         "needs the same outputs (logits of the same classes).")
    return Distiller(student, teacher, temperature, alpha)


def trained_model(model):
    """The model a training callback acts on: a Distiller's student, else the model itself.

    Arguments:
        model: the model ``fit`` trains.

    Returns:
        The student of a :class:`Distiller`, or ``model``.

    Example:
        >>> from cnn2snn_tfmot import keras
        >>> from cnn2snn_tfmot.training.distillation import distill, trained_model
        >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        >>> trained_model(distill(student, teacher)) is student
        True
    """
    return model.student if isinstance(model, Distiller) else model
