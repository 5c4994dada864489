"""The one table of the Keras layer types cnn2snn_tfmot supports (as TFMOT's quantize registry).

Every supported *neural* layer type has one :class:`NeuralType` row: its quantized class and its
TFMOT ``QuantizeConfig``, both carrying the same
:class:`~cnn2snn_tfmot.quantization.kernels.KernelDescription` (the float Keras class, the
kernels it quantizes and the Akida kind it becomes) as class data. Every other supported layer
type has a *role* (pooling, BatchNormalization, flatten, ...). The functions that go from a float
layer type to its quantized one, or that need a layer's role, derive their lists from this table:
``quantize()``, the TFMOT scheme, the rewrites, the block reader of the converter and the messages
that list what is supported. The quantized layers themselves never consult it: they call, save
and reload from their own class data.

A new layer type is one :meth:`LayerRegistry.register` call (in a copy of the table, made
current with :func:`use`, or in the default one).

Example:
    >>> from cnn2snn_tfmot.quantization import layer_table
    >>> from cnn2snn_tfmot.tfkeras import keras
    >>> entry = layer_table.current().neural(keras.layers.SeparableConv2D)
    >>> [kernel.attribute for kernel in entry.kernels], entry.akida_kind
    (['depthwise_kernel', 'pointwise_kernel'], 'separable')
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Callable, Dict, Iterator, Optional, Tuple, Union

from cnn2snn_tfmot.quantization import configs, layers
from cnn2snn_tfmot.quantization.input_scaling import InputScaling
from cnn2snn_tfmot.quantization.kernels import AKIDA_KINDS, Kernel, KernelDescription
from cnn2snn_tfmot.tfkeras import keras

__all__ = ["Kernel", "KernelDescription", "NeuralType", "LayerRegistry", "current", "use",
           "AKIDA_KINDS", "ROLES"]

L = keras.layers

#: Roles of the other layer types, as the block reader and quantize() treat them.
ROLES = {
    "max_pool": "max pooling of the block's potentials",
    "global_pool": "global average pooling of the block's potentials",
    "batchnorm": "BatchNormalization, folded or absorbed into thresholds",
    "relu": "a ReLU, replaced by a quantized activation",
    "identity": "an inference-time identity (Dropout and other noise layers, linear Activation, "
                "Identity), removed",
    "flatten": "Flatten before a dense layer",
    "reshape": "Reshape between (N,) and (1, 1, N)",
    "final": "a final Softmax / Activation, absorbed",
    "input_scaling": "the input scaling the model is meant for (InputScaling): an identity, kept",
}


@dataclasses.dataclass(frozen=True)
class NeuralType:
    """One supported neural layer type: its quantized class and its TFMOT QuantizeConfig.

    Both carry the same ``kernel_description`` (class data); the row's other attributes are
    read from it.

    Arguments:
        quantized_class: its quantized Keras layer class (a QuantizedLayerMixin subclass).
        quantize_config: its TFMOT QuantizeConfig class (a NeuralQuantizeConfig subclass).

    Raises:
        TypeError: a class without a ``kernel_description``, or two different ones.

    Example:
        >>> from cnn2snn_tfmot.quantization.layer_table import NeuralType
        >>> from cnn2snn_tfmot import DenseQuantizeConfig, QuantizedDense
        >>> NeuralType(QuantizedDense, DenseQuantizeConfig).keras_class.__name__
        'Dense'
    """
    quantized_class: type
    quantize_config: type

    def __post_init__(self):
        descriptions = [getattr(cls, "kernel_description", None)
                        for cls in (self.quantized_class, self.quantize_config)]
        for cls, description in zip((self.quantized_class, self.quantize_config), descriptions):
            if not isinstance(description, KernelDescription):
                raise TypeError(f"NeuralType: {getattr(cls, '__name__', cls)!r} has no "
                                "`kernel_description` class attribute (a KernelDescription).")
        if descriptions[0] != descriptions[1]:
            raise TypeError(f"NeuralType: {self.quantized_class.__name__} and "
                            f"{self.quantize_config.__name__} describe different kernels: "
                            f"{descriptions[0]} and {descriptions[1]}.")

    @property
    def description(self) -> KernelDescription:
        """The KernelDescription both classes carry."""
        return self.quantized_class.kernel_description

    @property
    def keras_class(self) -> type:
        """The float Keras layer class."""
        return self.description.keras_class

    @property
    def kernels(self) -> Tuple[Kernel, ...]:
        """The quantized kernels, in order (the last is the output kernel)."""
        return self.description.kernels

    @property
    def akida_kind(self) -> str:
        """One of :data:`AKIDA_KINDS`."""
        return self.description.akida_kind

    @property
    def output_kernel(self) -> Kernel:
        """The kernel whose output channels are the layer's (scaled by BatchNorm folding)."""
        return self.description.output_kernel

    @property
    def classes(self) -> Tuple[type, type]:
        """The float and the quantized class."""
        return (self.keras_class, self.quantized_class)


def _through_bases(table: Dict[type, "NeuralType"], cls: type) -> Optional["NeuralType"]:
    """The row of ``cls`` or of its nearest base in ``table``, or None."""
    for klass in cls.__mro__:
        found = table.get(klass)
        if found is not None:
            return found
    return None


def _activation_role(config: dict) -> str:
    activation = config.get("activation")
    if activation == "relu":
        return "relu"
    return "identity" if activation == "linear" else "final"


#: A role, or a function of the layer's config that returns it.
RoleRule = Union[str, Callable[[dict], str]]


class LayerRegistry:
    """The table: neural layer types by class, and the roles of the other layer types.

    Arguments:
        neural_types: the :class:`NeuralType` rows.
        roles: ``{layer class: role}``, a role being a key of :data:`ROLES` or a function of
            the layer's config returning one.

    Example:
        >>> from cnn2snn_tfmot.quantization.layer_table import current
        >>> from cnn2snn_tfmot import keras
        >>> mine = current().copy()
        >>> mine.neural(keras.layers.Conv2D).akida_kind
        'conv'
    """

    def __init__(self, neural_types=(), roles: Optional[Dict[type, RoleRule]] = None):
        self._neural: Dict[type, NeuralType] = {}
        self._by_quantized: Dict[type, NeuralType] = {}
        self._by_config: Dict[type, NeuralType] = {}
        self._roles: Dict[type, RoleRule] = dict(roles or {})
        for neural_type in neural_types:
            self.register(neural_type)

    def register(self, neural_type: NeuralType) -> None:
        """Adds (or replaces) a neural layer type.

        Arguments:
            neural_type: the row to add.

        Example:
            >>> from cnn2snn_tfmot.quantization.layer_table import current
            >>> from cnn2snn_tfmot import keras
            >>> current().copy().register(current().neural(keras.layers.Dense))
        """
        if not isinstance(neural_type, NeuralType):
            raise TypeError(f"register() takes a NeuralType; got {type(neural_type).__name__}.")
        self._neural[neural_type.keras_class] = neural_type
        self._by_quantized[neural_type.quantized_class] = neural_type
        self._by_config[neural_type.quantize_config] = neural_type

    def copy(self) -> "LayerRegistry":
        """An independent copy (register types in it without changing this one).

        Returns:
            A new LayerRegistry with the same rows.

        Example:
            >>> from cnn2snn_tfmot.quantization.layer_table import current
            >>> current().copy() is not current()
            True
        """
        return LayerRegistry(self._neural.values(), self._roles)

    # -- look-ups -------------------------------------------------------------------------------
    def neural_types(self) -> Tuple[NeuralType, ...]:
        """Every neural layer type, in registration order."""
        return tuple(self._neural.values())

    def neural(self, cls: type) -> Optional[NeuralType]:
        """The row of a float or quantized layer class, or None.

        Float classes match exactly (a Conv2DTranspose is not a Conv2D for Akida); a quantized
        class matches through its bases, so subclasses of the Quantized* layers are read as
        their parent.

        Arguments:
            cls: a layer class.

        Returns:
            The NeuralType, or None when the class is not a supported neural layer.

        Example:
            >>> from cnn2snn_tfmot.quantization.layer_table import current
            >>> from cnn2snn_tfmot import keras
            >>> current().neural(keras.layers.Conv2DTranspose) is None
            True
        """
        found = self._neural.get(cls)
        if found is not None:
            return found
        return self.for_quantized(cls)

    def for_quantized(self, cls: type) -> Optional[NeuralType]:
        """The row whose quantized class is ``cls`` or one of its bases, or None."""
        return _through_bases(self._by_quantized, cls)

    def for_config(self, cls: type) -> Optional[NeuralType]:
        """The row whose QuantizeConfig class is ``cls`` or one of its bases, or None."""
        return _through_bases(self._by_config, cls)

    def is_quantized(self, cls: type) -> bool:
        """Whether ``cls`` is a registered quantized class (or a subclass of one)."""
        return self.for_quantized(cls) is not None

    def role(self, cls: type, config: dict) -> Optional[str]:
        """The role of a non-neural layer class with this config, or None if unsupported.

        Arguments:
            cls: the layer class (matched exactly).
            config: the layer's ``get_config()``.

        Returns:
            A key of :data:`ROLES`, or None.

        Example:
            >>> from cnn2snn_tfmot.quantization.layer_table import current
            >>> from cnn2snn_tfmot import keras
            >>> current().role(keras.layers.Activation, {"activation": "softmax"})
            'final'
        """
        rule = self._roles.get(cls)
        if rule is None:
            return None
        return rule(config) if callable(rule) else rule

    def role_classes(self) -> Tuple[type, ...]:
        """The supported non-neural layer classes."""
        return tuple(self._roles)

    def supported_names(self) -> str:
        """The supported Keras layer class names, for messages.

        Example:
            >>> from cnn2snn_tfmot.quantization.layer_table import current
            >>> "SeparableConv2D" in current().supported_names()
            True
        """
        names = []
        for neural_type in self._neural.values():
            names += [neural_type.keras_class.__name__, neural_type.quantized_class.__name__]
        names += [cls.__name__ for cls in self._roles]
        return ", ".join(names)


_DEFAULT = LayerRegistry(
    neural_types=[
        NeuralType(layers.QuantizedConv2D, configs.Conv2DQuantizeConfig),
        NeuralType(layers.QuantizedDepthwiseConv2D, configs.DepthwiseConv2DQuantizeConfig),
        NeuralType(layers.QuantizedSeparableConv2D, configs.SeparableConv2DQuantizeConfig),
        NeuralType(layers.QuantizedDense, configs.DenseQuantizeConfig),
    ],
    roles={
        L.MaxPooling2D: "max_pool", L.GlobalAveragePooling2D: "global_pool",
        L.BatchNormalization: "batchnorm", L.ReLU: "relu", L.Dropout: "identity",
        # Other layers that compute nothing at inference (noise, regularization).
        L.SpatialDropout2D: "identity", L.GaussianNoise: "identity",
        L.GaussianDropout: "identity", L.AlphaDropout: "identity",
        L.ActivityRegularization: "identity", L.Identity: "identity",
        L.Flatten: "flatten", L.Reshape: "reshape", L.Softmax: "final",
        L.Activation: _activation_role, InputScaling: "input_scaling",
    })
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("cnn2snn_tfmot_registry",
                                                           default=None)


def current() -> LayerRegistry:
    """The registry in use: the default one, or the one made current by :func:`use`.

    Returns:
        A LayerRegistry.

    Example:
        >>> from cnn2snn_tfmot.quantization.layer_table import current
        >>> from cnn2snn_tfmot import keras
        >>> current().neural(keras.layers.Conv2D).akida_kind
        'conv'
    """
    active = _CURRENT.get()
    return _DEFAULT if active is None else active


@contextlib.contextmanager
def use(registry: LayerRegistry) -> Iterator[LayerRegistry]:
    """Makes ``registry`` the current one inside a ``with`` block.

    Arguments:
        registry: a LayerRegistry, typically ``current().copy()`` with extra types.

    Returns:
        A context manager yielding the registry.

    Example:
        >>> from cnn2snn_tfmot.quantization.layer_table import current, use
        >>> with use(current().copy()) as mine:
        ...     mine is current()
        True
    """
    if not isinstance(registry, LayerRegistry):
        raise TypeError(f"use() takes a LayerRegistry; got {type(registry).__name__}.")
    token = _CURRENT.set(registry)
    try:
        yield registry
    finally:
        _CURRENT.reset(token)
