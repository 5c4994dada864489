"""Interoperability with BrainChip's runtime (the ``akida`` wheel), imported lazily.

``to_akida`` builds the equivalent ``akida.Model`` (layers added, then variables set, which the
runtime requires); ``from_akida`` reads an ``akida.Model`` made of Akida 1.0 layers back into our
model. Variables are copied unchanged: our layers store them exactly as the runtime does.

The runtime names the first spatial axis "x"/"width": its ``kernel_width``, ``stride_x``,
``pooling_width``, ``pooling_stride_x`` and ``input_width`` are the first elements of our tuples
(measured: ``kernel_stride=(2, 1)`` halves the first axis of the input array).

Examples need BrainChip's optional ``akida`` wheel, so they are not run as doctests:

    >>> from cnn2snn_tfmot.akida.interop import to_akida
    >>> from cnn2snn_tfmot.akida import from_akida
    >>> from cnn2snn_tfmot.data.examples import example_models
    >>> model, model_quantized, akida_model, images, labels = example_models()
    >>> runtime_model = to_akida(akida_model)   # doctest: +SKIP
    >>> runtime_model.save("model.fbz")         # doctest: +SKIP
    >>> same = from_akida(runtime_model)        # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import os

from cnn2snn_tfmot.chip.enums import Padding, PoolType
from cnn2snn_tfmot.chip.layers import LAYER_TYPES
from cnn2snn_tfmot.chip.learning import AkidaUnsupervised

__all__ = ["to_akida", "read_into", "import_akida"]

_INSTALL_HINT = ("BrainChip's Akida runtime is not installed: `pip install akida` (or "
                 "`pip install cnn2snn_tfmot[akida]`).")


def import_akida():
    """The ``akida`` module, or an ImportError saying how to install it.

    Example:
        >>> from cnn2snn_tfmot.akida.interop import import_akida
        >>> try:
        ...     akida = import_akida()
        ... except ImportError as err:  # the message says how to install it
        ...     akida = None
    """
    try:
        return importlib.import_module("akida")
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err


def to_akida(model):
    """The equivalent BrainChip runtime model.

    Arguments:
        model: a :class:`cnn2snn_tfmot.akida.Model`.

    Returns:
        An ``akida.Model`` with the same layers, parameters and variables; a model compiled
        for edge learning is compiled with the same ``AkidaUnsupervised`` arguments (but the
        seed) and gets the same connections, ``threshold_learning`` and ``thswap``. The
        round-robin register that picks the connections a learning step moves cannot be set
        on the runtime: it starts at 0 there (as after any ``set_variable``), so the two
        models learn identically when ours is at 0 too (after compile, a variable set, or
        loading a file saved at 0).

    Raises:
        ImportError: the ``akida`` wheel is not installed.

    Example (needs the optional ``akida`` wheel: not run as a doctest):
        >>> from cnn2snn_tfmot.akida.interop import to_akida
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> to_akida(akida_model).forward(images)   # doctest: +SKIP
    """
    akida = import_akida()
    result = akida.Model()
    for layer in model.layers:
        kwargs = {key: _to_runtime_value(akida, value)
                  for key, value in _constructor_values(layer).items()}
        runtime_layer = getattr(akida, layer.layer_type)(name=layer.name, **kwargs)
        result.add(runtime_layer)
        if layer is model.layers[-1] and model.learning is not None:
            # The runtime creates the learning variables when compiling (and draws random
            # connections, replaced just below by ours).
            result.compile(_runtime_optimizer(akida, model.learning))
        for name in layer.variables:
            runtime_layer.set_variable(name, layer.get_variable(name))
    return result


def _runtime_optimizer(akida, optimizer):
    config = optimizer.get_config()
    config.pop("seed")  # the runtime's draws are not seedable; its connections are set after
    return akida.AkidaUnsupervised(**config)


def _our_optimizer(learning) -> AkidaUnsupervised:
    values = {name: getattr(learning, name) for name in (
        "num_weights", "num_classes", "initial_plasticity", "learning_competition",
        "min_plasticity", "plasticity_decay")}
    for name in ("num_weights", "num_classes"):
        values[name] = int(values[name])  # the runtime reports them as floats
    return AkidaUnsupervised(**values)


def _constructor_values(layer) -> dict:
    values = layer.constructor_arguments()
    values.pop("name")
    return values


def _to_runtime_value(akida, value):
    if isinstance(value, Padding):
        return getattr(akida.Padding, value.name)
    if isinstance(value, PoolType):
        return getattr(akida.PoolType, value.name)
    if isinstance(value, list):
        return tuple(value)
    return value


def read_into(model, akida_model) -> None:
    """Fills the empty ``model`` with the layers of a BrainChip runtime model of Akida 1.0 layers
    (used by :func:`cnn2snn_tfmot.akida.from_akida`).

    Layers are added with ``Model.add`` and their variables set with ``Layer.set_variable``:
    a runtime model gets exactly the validation of a model built in code. A runtime model
    compiled for learning gives a compiled model with the same optimizer arguments (seed None),
    connections, ``threshold_learning`` and ``thswap``, and the round-robin register at 0 (the
    runtime's cannot be read; it is 0 after loading a file or setting a variable).

    Arguments:
        model: an empty :class:`cnn2snn_tfmot.akida.Model`.
        akida_model: an ``akida.Model`` (e.g. ``akida.Model("model.fbz")``) whose layers are
            InputData, InputConvolutional, Convolutional, SeparableConvolutional and
            FullyConnected, in a single chain.

    Raises:
        ValueError: a layer type or parameter we do not support (e.g. Akida 2.0 layers, signed
            inputs, ``Padding.SameUpper``), or a value our validation refuses.
        ImportError: the optional ``akida`` wheel is not installed.

    Example (needs the optional ``akida`` wheel: not run as a doctest):
        >>> from cnn2snn_tfmot.akida.interop import read_into
        >>> import akida                                        # doctest: +SKIP
        >>> from cnn2snn_tfmot.akida import Model               # doctest: +SKIP
        >>> model = Model()                                     # doctest: +SKIP
        >>> read_into(model, akida.Model("model.fbz"))          # doctest: +SKIP
    """
    if isinstance(akida_model, (str, bytes, os.PathLike)) or not hasattr(akida_model, "layers"):
        hint = (f" For a BrainChip file: from_akida(akida.Model({os.fsdecode(akida_model)!r})); "
                f"for our .akida files: cnn2snn_tfmot.akida.Model(path)."
                if isinstance(akida_model, (str, bytes, os.PathLike)) else "")
        raise TypeError(f"`akida_model` must be a BrainChip runtime model (an akida.Model), got "
                        f"{type(akida_model).__name__}.{hint}")
    akida = import_akida()
    previous = None
    runtime_layers = akida_model.layers
    for index, runtime_layer in enumerate(runtime_layers):
        layer_type = runtime_layer.parameters.layer_type.name
        if layer_type not in LAYER_TYPES:
            raise ValueError(f"layer '{runtime_layer.name}' has type {layer_type}, not an "
                             f"Akida 1.0 layer; supported: {sorted(LAYER_TYPES)}.")
        inbounds = [inbound.name for inbound in (runtime_layer.inbounds or [])]
        expected = [] if previous is None else [previous]
        if inbounds != expected:
            raise ValueError(f"layer '{runtime_layer.name}' has inbound layers {inbounds}; "
                             f"only sequential models are supported.")
        values = _FROM_RUNTIME[layer_type](akida, runtime_layer.parameters)
        layer = LAYER_TYPES[layer_type](name=runtime_layer.name, **values)
        model.add(layer)
        if index == len(runtime_layers) - 1 and akida_model.learning is not None:
            model.compile(_our_optimizer(akida_model.learning))
        for name in runtime_layer.get_variable_names():
            layer.set_variable(name, runtime_layer.get_variable(name))
        previous = runtime_layer.name


def _pair(params, first: str, second: str) -> tuple:
    return (int(getattr(params, first)), int(getattr(params, second)))


def _enum(akida, runtime_enum, ours, value, what):
    name = runtime_enum(int(value)).name
    if name not in ours.__members__:
        raise ValueError(f"{what} {name} is not supported (Akida 1.0 layers use "
                         f"{', '.join(ours.__members__)}).")
    return ours[name]


def _input_data(akida, params) -> dict:
    if getattr(params, "input_signed", 0):
        raise ValueError("signed InputData is not an Akida 1.0 input.")
    return {"input_shape": (int(params.input_width), int(params.input_height),
                            int(params.input_channels)),
            "input_bits": int(params.input_bits)}


def _neural(params) -> dict:
    return {"weights_bits": int(params.weights_bits), "activation": bool(params.activation),
            "act_bits": int(params.act_bits)}


def _conv(akida, params) -> dict:
    values = {
        "kernel_size": _pair(params, "kernel_width", "kernel_height"),
        "filters": int(params.filters),
        "padding": _enum(akida, akida.Padding, Padding, params.padding, "padding"),
        "kernel_stride": _pair(params, "stride_x", "stride_y"),
        "pool_type": _enum(akida, akida.PoolType, PoolType, params.pool_type, "pool_type"),
        "pool_size": _pair(params, "pooling_width", "pooling_height"),
        "pool_stride": _pair(params, "pooling_stride_x", "pooling_stride_y"),
    }
    values.update(_neural(params))
    return values


def _input_conv(akida, params) -> dict:
    values = _conv(akida, params)
    values["input_shape"] = (int(params.input_width), int(params.input_height),
                             int(params.input_channels))
    values["padding_value"] = int(params.padding_value)
    return values


def _fully_connected(akida, params) -> dict:
    values = {"units": int(params.units)}
    values.update(_neural(params))
    return values


#: Runtime layer type -> reader of its parameters into our constructor arguments.
_FROM_RUNTIME = {
    "InputData": _input_data,
    "InputConvolutional": _input_conv,
    "Convolutional": _conv,
    "SeparableConvolutional": _conv,
    "FullyConnected": _fully_connected,
}
