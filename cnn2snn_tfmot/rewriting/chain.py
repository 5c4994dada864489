"""The chain of layer specs that every rewrite edits, with the record of each change.

A single-branch Keras model is read into a list of :class:`LayerSpec` (class, config, weights
by name). A :class:`Chain` holds that list with what a rewrite needs to look up: the shape each
layer receives (recomputed from the configurations after an edit), the layer table's role or
Akida kind of each layer, free layer names, and the :class:`Change` records that say what was
done, to which layer and why. :meth:`Chain.build` (or :func:`build_model`) makes a new model of
the same kind (Sequential or Functional) with the same input; the model read is never changed.
``quantize``, ``merge_separable_conv``, ``sanitize`` and ``adapt`` are passes over a chain.

Example:
    >>> from cnn2snn_tfmot import keras
    >>> from cnn2snn_tfmot.rewriting.chain import Chain
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv"),
    ...     keras.layers.Dropout(0.5, name="drop"), keras.layers.Flatten(name="flat"),
    ...     keras.layers.Dense(2, name="dense")])
    >>> chain = Chain(model, "example")
    >>> chain.kind(0), chain.role(1), chain.input_shape(2)
    ('conv', 'identity', (None, 6, 6, 4))
    >>> del chain.specs[1]
    >>> chain.record("drop", "removed", "an identity at inference")
    >>> [layer.name for layer in chain.build().layers]
    ['conv', 'flat', 'dense']
    >>> print(chain.changes)
    - drop: removed (an identity at inference)
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip import rules
from cnn2snn_tfmot.keras3 import check_keras_model
from cnn2snn_tfmot.quantization import layer_table
from cnn2snn_tfmot.quantization.layer_table import NeuralType
from cnn2snn_tfmot.quantization.saving import weight_key
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = [
    "LayerSpec", "single_branch_layers", "model_chain", "build_model", "Change", "Changes",
    "Chain", "spec_neural", "spec_kind", "spec_role", "is_plain_relu", "free_name",
]

L = keras.layers

#: A shape, batch included.
Shape = Tuple[Optional[int], ...]


@dataclasses.dataclass
class LayerSpec:
    """One layer of a chain: its class, its config and its weights by short name.

    Arguments:
        cls: the Keras layer class.
        config: the layer's ``get_config()``.
        weights: ``{weight_key: numpy array}``.
        input_shape: the layer's input shape (batch included), when known.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec
        >>> from cnn2snn_tfmot import keras
        >>> dense = keras.layers.Dense(3, name="dense")
        >>> _ = dense(keras.Input((4,)))
        >>> spec = LayerSpec.of(dense)
        >>> spec.name, sorted(spec.weights), spec.input_shape
        ('dense', ['bias', 'kernel'], (None, 4))
    """
    cls: type
    config: dict
    weights: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    input_shape: Optional[Tuple] = None

    @classmethod
    def of(cls, layer) -> "LayerSpec":
        """The spec of an existing layer (configs and weights are copies).

        Arguments:
            layer: a Keras layer (its input shape is kept when it is known).

        Returns:
            A LayerSpec.
        """
        try:
            input_shape = tuple(layer.input_shape)
        except AttributeError:  # never called in a model: no input shape
            input_shape = None
        return cls(type(layer), layer.get_config(),
                   {weight_key(v): np.array(v.numpy()) for v in layer.weights}, input_shape)

    @property
    def name(self) -> str:
        """The layer's name."""
        return self.config["name"]

    def replace(self, **changes) -> "LayerSpec":
        """A copy with some fields replaced (``config`` and ``weights`` copied shallowly).

        Arguments:
            **changes: new values of fields (``cls``, ``config``, ``weights``, ``input_shape``).

        Returns:
            The new LayerSpec.
        """
        spec = LayerSpec(self.cls, dict(self.config), dict(self.weights), self.input_shape)
        for key, value in changes.items():
            setattr(spec, key, value)
        return spec


# Look-ups through the layer table ------------------------------------------------------------

def spec_neural(spec: LayerSpec) -> Optional[NeuralType]:
    """The layer table's row of a neural layer spec (float or quantized), or None.

    Arguments:
        spec: a layer spec.

    Returns:
        The :class:`~cnn2snn_tfmot.quantization.layer_table.NeuralType`, or None for layers
        without weights to quantize.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec, spec_neural
        >>> from cnn2snn_tfmot import keras
        >>> spec_neural(LayerSpec(keras.layers.Dense, {"name": "d"})).akida_kind
        'dense'
    """
    return layer_table.current().neural(spec.cls)


def spec_kind(spec: LayerSpec) -> Optional[str]:
    """The Akida kind of a neural layer spec ("conv", "depthwise"...), or None.

    Arguments:
        spec: a layer spec.

    Returns:
        The layer table's ``akida_kind``, or None for other layers.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec, spec_kind
        >>> from cnn2snn_tfmot import keras
        >>> spec_kind(LayerSpec(keras.layers.Conv2D, {"name": "c"}))
        'conv'
    """
    entry = spec_neural(spec)
    return None if entry is None else entry.akida_kind


def spec_role(spec: LayerSpec) -> Optional[str]:
    """The layer table's role of a non-neural layer spec ("relu", "batchnorm"...), or None.

    Arguments:
        spec: a layer spec.

    Returns:
        The role, or None (neural or unsupported layers).

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec, spec_role
        >>> from cnn2snn_tfmot import keras
        >>> spec_role(LayerSpec(keras.layers.Dropout, {"name": "d", "rate": 0.1}))
        'identity'
    """
    return layer_table.current().role(spec.cls, spec.config)


def is_plain_relu(spec: LayerSpec) -> bool:
    """Whether the spec is a ReLU that Akida quantizes as it is (any ``max_value``, but no
    slope and no threshold).

    Arguments:
        spec: a layer spec.

    Returns:
        True for a ReLU without slope or threshold, or an ``Activation('relu')``.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import LayerSpec, is_plain_relu
        >>> from cnn2snn_tfmot import keras
        >>> is_plain_relu(LayerSpec(keras.layers.ReLU, {"name": "r", "negative_slope": 0.0}))
        True
        >>> is_plain_relu(LayerSpec(keras.layers.ReLU, {"name": "r", "negative_slope": 0.1}))
        False
    """
    return spec_role(spec) == "relu" and not rules.relu_problems(spec.name, spec.config)


def free_name(name: str, taken: Iterable[str]) -> str:
    """``name``, or ``name_1``, ``name_2``... the first that is not taken.

    Arguments:
        name: the wanted layer name.
        taken: the names in use.

    Returns:
        A name not in ``taken``.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import free_name
        >>> free_name("conv_relu", ["conv", "conv_relu", "conv_relu_1"])
        'conv_relu_2'
    """
    taken = set(taken)
    candidate, number = name, 1
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    return candidate


# Reading and building models -----------------------------------------------------------------

def _chain_error(model, message: str) -> ValueError:
    return ValueError(f"Model '{model.name}': {message}")


def single_branch_layers(model, caller: str = "quantize") -> list:
    """Returns the layers of a single-branch Sequential or Functional model, input excluded.

    Arguments:
        model: a built tf_keras model with one input, one output and no branches.
        caller: the public function's name, for messages.

    Returns:
        The live layers after the input, in order.

    Raises:
        ValueError: for subclassed, nested, multi-branch or unbuilt models, naming the layer
            and the fix.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import single_branch_layers
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="hidden"),
        ...                           keras.layers.Dense(2, name="out")])
        >>> [layer.name for layer in single_branch_layers(model)]
        ['hidden', 'out']
    """
    check_keras_model(model)
    if not isinstance(model, keras.Sequential) and not getattr(model, "_is_graph_network",
                                                               False):
        raise _chain_error(model, f"{caller}() needs a Sequential or Functional model; this is "
                           f"a subclassed model ({type(model).__name__}). Rebuild it with "
                           "keras.Sequential or the functional API.")
    if not model.built or not model.inputs:
        raise _chain_error(model, f"{caller}() needs a built model with a known input shape: "
                           "start it with keras.Input(shape) or call model.build(input_shape).")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise _chain_error(model, f"{caller}() needs one input and one output; the model has "
                           f"{len(model.inputs)} and {len(model.outputs)}.")
    layers = [layer for layer in model.layers if not isinstance(layer, L.InputLayer)]
    previous = model.inputs[0].node.layer
    for layer in layers:
        if isinstance(layer, keras.Model):
            raise _chain_error(model, f"layer '{layer.name}' is a nested model; {caller}() "
                               "needs a flat model. Add the nested model's layers directly.")
        # Only this model's nodes count: a layer can also belong to other models (TFMOT's
        # quantize_apply reuses the layers it does not wrap).
        nodes = [node for index, node in enumerate(layer._inbound_nodes)
                 if f"{layer.name}_ib-{index}" in model._network_nodes]
        inbound = [] if len(nodes) != 1 else tf.nest.flatten(nodes[0].inbound_layers)
        if len(inbound) != 1 or inbound[0] is not previous:
            raise _chain_error(model, f"layer '{layer.name}' does not take the output of the "
                               f"layer before it, or is used twice: {caller}() supports "
                               "single-branch models only.")
        previous = layer
    return layers


def model_chain(model, caller: str = "quantize") -> List[LayerSpec]:
    """Reads a single-branch Sequential or Functional model into a list of LayerSpecs.

    Arguments:
        model: a built tf_keras model with one input, one output and no branches.
        caller: the public function's name, for messages.

    Returns:
        The layers after the input, in order, as LayerSpecs.

    Raises:
        ValueError: for subclassed, nested, multi-branch, unbuilt or channels_first models, each
            naming the layer and the fix.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import model_chain
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
        ...                           keras.layers.ReLU(name="relu")])
        >>> [(spec.cls.__name__, spec.name) for spec in model_chain(model)][1:]
        [('ReLU', 'relu')]
    """
    layers = single_branch_layers(model, caller)
    problems = [problem for layer in layers
                for problem in rules.data_format_problems(layer.name, layer.get_config())]
    if problems:
        raise _chain_error(model, "; ".join(problems))
    return [LayerSpec.of(layer) for layer in layers]


def build_model(model, specs: List[LayerSpec]):
    """Builds a new model of the same kind as ``model`` (same input) from a list of specs.

    Arguments:
        model: the model the specs were read from (gives the input and the model kind).
        specs: the LayerSpecs, in order.

    Returns:
        A new Sequential or Functional model with the specs' layers and weights.

    Raises:
        ValueError: a spec's weight that its layer has no variable for, or of another shape.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import build_model, model_chain
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
        >>> clone = build_model(model, model_chain(model))
        >>> clone is model, clone.layers[0].name
        (False, 'dense')
    """
    source_input = model.inputs[0]
    input_name = model.layers[0].name if isinstance(model.layers[0], L.InputLayer) else None
    inputs = keras.Input(shape=tuple(source_input.shape[1:]), dtype=source_input.dtype,
                         name=input_name)
    layers = [spec.cls.from_config(dict(spec.config)) for spec in specs]
    if isinstance(model, keras.Sequential):
        new_model = keras.Sequential([inputs] + layers, name=model.name)
    else:
        outputs = inputs
        for layer in layers:
            outputs = layer(outputs)
        new_model = keras.Model(inputs, outputs, name=model.name)
    for layer, spec in zip(layers, specs):
        keys = {weight_key(variable): variable for variable in layer.weights}
        unknown = set(spec.weights) - set(keys)
        if unknown:
            raise ValueError(f"Layer '{layer.name}': no variable for weights {sorted(unknown)}.")
        for key, value in spec.weights.items():
            variable = keys[key]
            if tuple(variable.shape) != value.shape:
                raise ValueError(f"Layer '{layer.name}': weight '{key}' has shape {value.shape}, "
                                 f"the layer expects {tuple(variable.shape)}.")
            variable.assign(value)
    return new_model


# Change records ------------------------------------------------------------------------------

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
        >>> from cnn2snn_tfmot.rewriting.chain import Change
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
        >>> from cnn2snn_tfmot.rewriting.chain import Change, Changes
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


# The chain -----------------------------------------------------------------------------------

class Chain:
    """A model's layer specs being rewritten, with the shapes the layers receive and the
    records of the changes made.

    A pass edits ``specs`` in place, calls :meth:`record` for each change and :meth:`refresh`
    after editing; shapes are recomputed from the configurations when next asked for.

    Arguments:
        model: a single-branch Sequential or Functional model (tf_keras, or Keras 3: rebuilt).
        caller: the public function's name, for messages.
        specs: the specs to start from (default: the model's layers, read by
            :func:`model_chain`).
        argument: the name of the public function's model argument, for messages.

    Example:
        >>> from cnn2snn_tfmot.rewriting.chain import Chain
        >>> from cnn2snn_tfmot import keras
        >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
        ...     keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="dense")])
        >>> chain = Chain(model, "example")
        >>> chain.names()[1:], chain.output_shape(0), chain.input_dims(2)
        (['flat', 'dense'], (None, 6, 6, 4), (144,))
    """

    def __init__(self, model, caller: str, specs: Optional[List[LayerSpec]] = None,
                 argument: str = "model"):
        self.model = check_keras_model(model, argument)
        self.caller = caller
        self.specs: List[LayerSpec] = (model_chain(self.model, caller) if specs is None
                                       else list(specs))
        self.changes = Changes()
        self._shapes: Optional[List[Shape]] = None

    # -- shapes -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Says that the specs were edited: shapes are recomputed when next asked for."""
        self._shapes = None

    def _computed_shapes(self) -> List[Shape]:
        if self._shapes is None:
            shape = tf.TensorShape(self.model.inputs[0].shape)
            shapes = []
            for spec in self.specs:
                shapes.append(tuple(shape.as_list()))
                spec.input_shape = tuple(shape.as_list())
                layer = spec.cls.from_config(dict(spec.config))
                shape = tf.TensorShape(layer.compute_output_shape(shape))
            shapes.append(tuple(shape.as_list()))
            self._shapes = shapes
        return self._shapes

    def input_shape(self, index: int) -> Shape:
        """The shape (batch included) layer ``index`` receives."""
        return self._computed_shapes()[index]

    def output_shape(self, index: int) -> Shape:
        """The shape (batch included) layer ``index`` returns."""
        return self._computed_shapes()[index + 1]

    def input_dims(self, index: int) -> Shape:
        """The shape of one sample layer ``index`` receives (batch excluded)."""
        return self.input_shape(index)[1:]

    def output_dims(self, index: int) -> Shape:
        """The shape of one sample layer ``index`` returns (batch excluded)."""
        return self.output_shape(index)[1:]

    # -- look-ups ---------------------------------------------------------------------------
    def names(self) -> List[str]:
        """The layer names, in order."""
        return [spec.name for spec in self.specs]

    def role(self, index: int) -> Optional[str]:
        """The layer table's role of layer ``index`` ("relu", "batchnorm"...), or None."""
        return spec_role(self.specs[index])

    def kind(self, index: int) -> Optional[str]:
        """The Akida kind of a neural layer ("conv", "depthwise"...), or None."""
        return spec_kind(self.specs[index])

    def neural(self, index: int) -> Optional[NeuralType]:
        """The layer table's row of a neural layer, or None."""
        return spec_neural(self.specs[index])

    def following(self, index: int) -> Optional[int]:
        """The index of the next layer, or None at the end."""
        return index + 1 if index + 1 < len(self.specs) else None

    def free_name(self, name: str) -> str:
        """``name``, or ``name_1``, ``name_2``... if a layer already has it (:func:`free_name`)."""
        return free_name(name, self.names())

    # -- records and result -----------------------------------------------------------------
    def record(self, layer: str, what: str, why: str, exact: bool = True) -> None:
        """Appends a :class:`Change` (see its arguments)."""
        self.changes.append(Change(layer, what, why, exact))

    def build(self):
        """The rewritten model (same kind and input as the original).

        Returns:
            A new tf_keras model.
        """
        return build_model(self.model, self.specs)
