"""Training helpers that keep a model within what Akida can run.

``add_gamma_constraint`` is the akida_models helper of the seeds' tutorial: BatchNormalization
gammas that become tiny make folded weights tiny and scale factors huge, beyond the chip's
registers.
"""
from __future__ import annotations

from cnn2snn_tfmot._keras import check_keras_model, keras, tf

__all__ = ["MinValueConstraint", "add_gamma_constraint"]


@keras.utils.register_keras_serializable(package="cnn2snn_tfmot")
class MinValueConstraint(keras.constraints.Constraint):
    """Clips a weight to at least ``min_value`` after each optimizer step.

    Arguments:
        min_value: the smallest value allowed.

    Example:
        >>> keras.layers.BatchNormalization(gamma_constraint=MinValueConstraint(1e-2))
    """

    def __init__(self, min_value: float = 1e-2):
        self.min_value = float(min_value)

    def __call__(self, w):
        return tf.maximum(w, tf.cast(self.min_value, w.dtype))

    def get_config(self) -> dict:
        return {"min_value": self.min_value}


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
        >>> model = add_gamma_constraint(model)
        >>> model.compile("adam", "sparse_categorical_crossentropy"); model.fit(x, y)
    """
    check_keras_model(model)
    if not isinstance(min_value, (int, float)) or not min_value > 0:
        raise ValueError(f"`min_value` must be a positive gamma; got {min_value!r}.")
    clone = keras.models.clone_model(
        model, clone_function=lambda layer: _constrained_clone(layer, min_value))
    clone.set_weights(model.get_weights())
    return clone
