"""The one table of the Keras layer types cnn2snn_tfmot supports (as TFMOT's quantize registry).

Every supported *neural* layer type has one :class:`NeuralType` row: the Keras class, the
seed-style quantized class, the TFMOT ``QuantizeConfig``, the kernels it quantizes (attribute,
quantizer argument, role in an Akida block, default per-axis or per-tensor quantizer) and the
Akida layer kind it becomes. Every other supported layer type has a *role* (pooling,
BatchNormalization, flatten, ...). Everything else in the package derives its lists from this
table: ``quantize()`` (which classes become which), the TFMOT registry and configs, the
transforms (which kernel folds a BatchNormalization), the block reader of the converter and
the messages that list what is supported.

A new layer type is one :meth:`LayerRegistry.register` call (in a copy of the registry, made
current with :func:`use`, or in the default one).

Example:
    >>> from cnn2snn_tfmot.quantization import layer_table as registry
    >>> entry = registry.current().neural(keras.layers.SeparableConv2D)
    >>> [kernel.attribute for kernel in entry.kernels], entry.akida_kind
    (['depthwise_kernel', 'pointwise_kernel'], 'separable')
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Callable, Dict, Iterator, Optional, Tuple, Union

from cnn2snn_tfmot.tfkeras import keras

__all__ = ["Kernel", "NeuralType", "LayerRegistry", "current", "use", "AKIDA_KINDS", "ROLES"]

L = keras.layers

#: Akida kinds of neural layers: "depthwise" is only convertible merged with a 1x1 convolution
#: into a separable one.
AKIDA_KINDS = ("conv", "depthwise", "separable", "dense")

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
class Kernel:
    """One quantized kernel of a neural layer type.

    Arguments:
        attribute: the weight attribute of the Keras layer ("kernel", "depthwise_kernel"...).
        quantizer: the constructor argument (quantized layer and QuantizeConfig) holding its
            weight quantizer ("quantizer" or "quantizer_dw").
        role: its role in an Akida block: "kernel", "depthwise" or "pointwise".
        per_axis: whether ``quantize()`` gives it a per-output-channel quantizer
            (MaxPerAxisQuantizer) or a per-tensor one (MaxQuantizer, required for depthwise
            kernels).

    Example:
        >>> Kernel("kernel", "quantizer", "kernel", per_axis=True).role
        'kernel'
    """
    attribute: str
    quantizer: str
    role: str
    per_axis: bool


@dataclasses.dataclass(frozen=True)
class NeuralType:
    """One supported neural layer type.

    Arguments:
        keras_class: the float Keras layer class.
        quantized_class: its seed-style quantized class (a QuantizedLayerMixin subclass).
        quantize_config: its TFMOT QuantizeConfig class.
        kernels: the quantized kernels, in order; the last one is the output kernel, which a
            folded BatchNormalization scales.
        akida_kind: one of :data:`AKIDA_KINDS`.

    Example:
        >>> current().neural(keras.layers.Dense).quantized_class.__name__
        'QuantizedDense'
    """
    keras_class: type
    quantized_class: type
    quantize_config: type
    kernels: Tuple[Kernel, ...]
    akida_kind: str

    def __post_init__(self):
        if self.akida_kind not in AKIDA_KINDS:
            raise ValueError(f"NeuralType {self.keras_class.__name__}: `akida_kind` must be one "
                             f"of {AKIDA_KINDS}; got {self.akida_kind!r}.")

    @property
    def output_kernel(self) -> Kernel:
        """The kernel whose output channels are the layer's (scaled by BatchNorm folding)."""
        return self.kernels[-1]

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
            >>> "SeparableConv2D" in current().supported_names()
            True
        """
        names = []
        for neural_type in self._neural.values():
            names += [neural_type.keras_class.__name__, neural_type.quantized_class.__name__]
        names += [cls.__name__ for cls in self._roles]
        return ", ".join(names)


def _default_registry() -> LayerRegistry:
    # The quantized classes and configs import this module; importing them here, when the
    # table is first used, keeps the import graph acyclic.
    from cnn2snn_tfmot.quantization import layers as q
    from cnn2snn_tfmot.quantization import tfmot as c
    from cnn2snn_tfmot.quantization.input_scaling import InputScaling

    kernel = Kernel("kernel", "quantizer", "kernel", per_axis=True)
    return LayerRegistry(
        neural_types=[
            NeuralType(L.Conv2D, q.QuantizedConv2D, c.Conv2DQuantizeConfig, (kernel,), "conv"),
            NeuralType(L.DepthwiseConv2D, q.QuantizedDepthwiseConv2D,
                       c.DepthwiseConv2DQuantizeConfig,
                       (Kernel("depthwise_kernel", "quantizer", "depthwise", per_axis=False),),
                       "depthwise"),
            NeuralType(L.SeparableConv2D, q.QuantizedSeparableConv2D,
                       c.SeparableConv2DQuantizeConfig,
                       (Kernel("depthwise_kernel", "quantizer_dw", "depthwise", per_axis=False),
                        Kernel("pointwise_kernel", "quantizer", "pointwise", per_axis=True)),
                       "separable"),
            NeuralType(L.Dense, q.QuantizedDense, c.DenseQuantizeConfig, (kernel,), "dense"),
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


_DEFAULT: Dict[str, LayerRegistry] = {}
_CURRENT: contextvars.ContextVar = contextvars.ContextVar("cnn2snn_tfmot_registry",
                                                           default=None)


def current() -> LayerRegistry:
    """The registry in use: the default one, or the one made current by :func:`use`.

    Returns:
        A LayerRegistry.

    Example:
        >>> current().neural(keras.layers.Conv2D).akida_kind
        'conv'
    """
    active = _CURRENT.get()
    if active is not None:
        return active
    if "registry" not in _DEFAULT:
        _DEFAULT["registry"] = _default_registry()
    return _DEFAULT["registry"]


@contextlib.contextmanager
def use(registry: LayerRegistry) -> Iterator[LayerRegistry]:
    """Makes ``registry`` the current one inside a ``with`` block.

    Arguments:
        registry: a LayerRegistry, typically ``current().copy()`` with extra types.

    Returns:
        A context manager yielding the registry.

    Example:
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
