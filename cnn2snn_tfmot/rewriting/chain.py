"""What ``sanitize`` and ``adapt`` share: the record of a change, and a chain with shapes.

A rewrite works on the chain of :class:`cnn2snn_tfmot.rewriting.transforms.LayerSpec` of a
single-branch model. :class:`Chain` keeps the specs with the shape each one receives (recomputed
from the layer configurations after every edit) and the list of :class:`Change` records, so that
every pass says what it did, to which layer, and why.

Example:
    >>> print(Change("conv_pad_2", "removed", "its padding moved into 'conv_dw_2'"))
    conv_pad_2: removed (its padding moved into 'conv_dw_2')
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional, Tuple

from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization import layer_table as registry
from cnn2snn_tfmot.rewriting.transforms import LayerSpec, build_model, model_chain
from cnn2snn_tfmot.tfkeras import tf

__all__ = ["Change", "Changes", "Chain", "spec_kind", "spec_role"]


@dataclasses.dataclass(frozen=True)
class Change:
    """One rewrite of a model: which layer, what was done, why, and whether the model still
    computes the same function.

    Arguments:
        layer: the layer's name (or names, "a + b").
        what: what was done.
        why: why it was needed (the Akida rule, or the equivalence that makes it exact).
        exact: True when the outputs are unchanged (up to float rounding); False for
            architecture changes after which the model needs fine-tuning.

    Example:
        >>> print(Change("drop", "removed", "Dropout is an identity at inference"))
        drop: removed (Dropout is an identity at inference)
        >>> print(Change("relu", "moved after 'pool'", "Akida pools before firing", exact=False))
        relu: moved after 'pool' (Akida pools before firing) [changes the function]
    """
    layer: str
    what: str
    why: str
    exact: bool = True

    def __str__(self) -> str:
        suffix = "" if self.exact else " [changes the function]"
        return f"{self.layer}: {self.what} ({self.why}){suffix}"


class Changes(list):
    """The list of :class:`Change` records a rewrite returns; prints one change per line.

    Arguments:
        iterable: the records (optional).

    Example:
        >>> changes = Changes([Change("drop", "removed", "an identity at inference")])
        >>> print(changes)
        - drop: removed (an identity at inference)
        >>> changes.function_kept
        True
    """

    @property
    def function_kept(self) -> bool:
        """Whether every change keeps the model's outputs (no fine-tuning needed)."""
        return all(change.exact for change in self)

    def __str__(self) -> str:
        if not self:
            return "no change"
        return "\n".join(f"- {change}" for change in self)


Shape = Tuple[Optional[int], ...]


def spec_kind(spec: LayerSpec) -> Optional[str]:
    """The Akida kind of a neural layer spec ("conv", "depthwise"...), or None.

    Arguments:
        spec: a layer spec.

    Returns:
        The registry's ``akida_kind``, or None for other layers.

    Example:
        >>> spec_kind(LayerSpec(keras.layers.Conv2D, {"name": "c"}))
        'conv'
    """
    entry = registry.current().neural(spec.cls)
    return None if entry is None else entry.akida_kind


def spec_role(spec: LayerSpec) -> Optional[str]:
    """The registry role of a non-neural layer spec ("relu", "batchnorm"...), or None.

    Arguments:
        spec: a layer spec.

    Returns:
        The role, or None (neural or unsupported layers).

    Example:
        >>> spec_role(LayerSpec(keras.layers.Dropout, {"name": "d", "rate": 0.1}))
        'identity'
    """
    return registry.current().role(spec.cls, spec.config)


class Chain:
    """A model's layer chain being rewritten, with the shapes the layers receive.

    Arguments:
        model: a single-branch Sequential or Functional model (tf_keras or Keras 3).
        caller: the public function's name, for messages.

    Example:
        >>> chain = Chain(model, "sanitize")
        >>> chain.names()[:2], chain.input_shape(0)
        (['conv_0', 'conv_0_bn'], (None, 16, 16, 1))
    """

    def __init__(self, model, caller: str):
        self.model = check_keras_model(model)
        self.caller = caller
        self.specs: List[LayerSpec] = model_chain(self.model, caller)
        self.changes = Changes()
        self._shapes: List[Shape] = []
        self.refresh()

    # -- shapes -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Recomputes every layer's input shape from the configurations (after an edit)."""
        shape = tf.TensorShape(self.model.inputs[0].shape)
        shapes = []
        for spec in self.specs:
            shapes.append(tuple(shape.as_list()))
            spec.input_shape = tuple(shape.as_list())
            layer = spec.cls.from_config(dict(spec.config))
            shape = tf.TensorShape(layer.compute_output_shape(shape))
        shapes.append(tuple(shape.as_list()))
        self._shapes = shapes

    def input_shape(self, index: int) -> Shape:
        """The shape (batch included) layer ``index`` receives."""
        return self._shapes[index]

    def output_shape(self, index: int) -> Shape:
        """The shape (batch included) layer ``index`` returns."""
        return self._shapes[index + 1]

    # -- look-ups ---------------------------------------------------------------------------
    def names(self) -> List[str]:
        """The layer names, in order."""
        return [spec.name for spec in self.specs]

    def role(self, index: int) -> Optional[str]:
        """The registry role of layer ``index`` ("relu", "batchnorm"...), or None."""
        return spec_role(self.specs[index])

    def kind(self, index: int) -> Optional[str]:
        """The Akida kind of a neural layer ("conv", "depthwise"...), or None."""
        return spec_kind(self.specs[index])

    def following(self, index: int) -> Optional[int]:
        """The index of the next layer, or None at the end."""
        return index + 1 if index + 1 < len(self.specs) else None

    def free_name(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``... if a layer already has it."""
        taken = set(self.names())
        candidate, number = name, 1
        while candidate in taken:
            candidate, number = f"{name}_{number}", number + 1
        return candidate

    # -- edits ------------------------------------------------------------------------------
    def record(self, layer: str, what: str, why: str, exact: bool = True) -> None:
        """Appends a :class:`Change`."""
        self.changes.append(Change(layer, what, why, exact))

    def build(self):
        """The rewritten model (same kind and input as the original).

        Returns:
            A new tf_keras model.
        """
        return build_model(self.model, self.specs)
