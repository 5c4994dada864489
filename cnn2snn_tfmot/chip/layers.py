"""Akida 1.0 layers: ``InputData``, ``InputConvolutional``, ``Convolutional``,
``SeparableConvolutional`` and ``FullyConnected``, with the constructor arguments of BrainChip's
runtime (akida 2.19.3) and its variables stored exactly as the runtime stores them.

Orientation of the stored variables (measured against the runtime):

* InputConvolutional ``weights`` (kh, kw, C, F): cross-correlation orientation (as
  ``tf.nn.conv2d``), NOT flipped.
* Convolutional ``weights`` (kh, kw, C, F) and SeparableConvolutional ``weights`` (kh, kw, C, 1):
  flipped on both spatial axes (the runtime does a true convolution); ``weights_pw`` (1, 1, C, F).
* FullyConnected ``weights`` (1, 1, H*W*C, units), rows in the runtime's column-major order of the
  input: row ``h + H*w + H*W*c`` holds input (h, w, c).
* ``threshold`` int32 (F,), ``act_step`` float32 (F,).

Tuples such as ``kernel_size``, ``kernel_stride``, ``pool_size`` and ``input_shape`` are in the
array's axis order (first spatial axis first), as the runtime uses them (the runtime calls the
first axis "x"/"width", e.g. ``kernel_stride=(2, 1)`` halves the first spatial axis).

A layer's ``input_dims`` (hence its variable shapes) is known once it is added to a
:class:`~cnn2snn_tfmot.akida.Model` (at construction for the two input layers).
"""
from __future__ import annotations

import itertools
import math
from typing import Dict, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.chip import limits
from cnn2snn_tfmot.chip import params as P
from cnn2snn_tfmot.chip.enums import Padding, PoolType
from cnn2snn_tfmot.chip.learning import learning_variable_specs
from cnn2snn_tfmot.chip.shapes import out_size
from cnn2snn_tfmot.chip.variables import VariableSpec

_UIDS = itertools.count(1)

__all__ = ["Layer", "InputData", "InputConvolutional", "Convolutional",
           "SeparableConvolutional", "FullyConnected", "LAYER_TYPES"]


class Layer:
    """Base class of the Akida layers (not instantiated directly).

    Attributes:
        name: the layer name ('' until a model names it).
        layer_type: "InputData", "InputConvolutional", "Convolutional",
            "SeparableConvolutional" or "FullyConnected".
        parameters: read-only :class:`~cnn2snn_tfmot.chip.params.Parameters`.
        input_dims, output_dims: (height, width, channels) tuples, None until known.
        variables: names of the layer's variables.
    """

    layer_type = "Layer"
    #: Prefix of the names the model gives unnamed layers (the runtime's: "Conv_2"...).
    name_prefix = "Layer"
    #: Whether the layer is the model's input (InputData, InputConvolutional).
    is_input = False

    def __init__(self, name: str, values: dict):
        self._name = P.check_name(name, f"{self.layer_type} layer: parameter 'name'")
        self._params = P.Parameters(layer_type=self.layer_type, **values)
        self._uid = next(_UIDS)
        self._version = 0
        self._values: Dict[str, np.ndarray] = {}
        self._input_dims: Optional[Tuple[int, int, int]] = None
        self._output_dims: Optional[Tuple[int, int, int]] = None
        self._in_model = False

    # -- description -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The layer name."""
        return self._name

    @property
    def parameters(self) -> P.Parameters:
        """The layer's parameters (read-only), e.g. ``layer.parameters.kernel_size``."""
        return self._params

    @property
    def input_dims(self) -> Optional[Tuple[int, int, int]]:
        """(height, width, channels) of the layer input, None while unknown."""
        return self._input_dims

    @property
    def output_dims(self) -> Optional[Tuple[int, int, int]]:
        """(height, width, channels) of the layer output, None while unknown."""
        return self._output_dims

    @property
    def output_bits(self) -> Optional[int]:
        """Bitwidth of the values the layer outputs (None: int32 potentials)."""
        if not self._params.activation:
            return None
        return self._params.act_bits

    @property
    def variables(self) -> List[str]:
        """Names of the layer variables (sorted, as the runtime lists them)."""
        return sorted(self._variable_specs(require=False))

    @property
    def label(self) -> str:
        """How messages name the layer: its type and name ("Convolutional layer 'conv'")."""
        return P.layer_prefix(self.layer_type, self._name)

    @property
    def state(self) -> Tuple[int, int]:
        """A token that changes whenever a variable is set: (layer identity, version). A model
        keys what it derives from its layers (lowered layers, compiled functions) on them."""
        return (self._uid, self._version)

    @property
    def in_model(self) -> bool:
        """Whether the layer was added to a model (a layer belongs to one model only)."""
        return self._in_model

    def attach(self, input_dims: Optional[Tuple[int, int, int]], name: str) -> None:
        """Makes the layer a model's: names it ``name`` when it has no name, computes its output
        shape from ``input_dims`` (input layers keep their own) and marks it as taken. Called by
        ``Model.add``, which checks the order and the names first; nothing changes when the
        shapes do not fit.

        Arguments:
            input_dims: the previous layer's output dims, or None for an input layer.
            name: the name the model gives an unnamed layer.

        Raises:
            ValueError: the layer already belongs to a model, or a kernel / pooling window that
                does not fit the input.

        Example:
            >>> from cnn2snn_tfmot.chip import FullyConnected
            >>> layer = FullyConnected(2, weights_bits=4)
            >>> layer.attach((1, 1, 8), "Fully_2")
            >>> layer.name, layer.output_dims, layer.in_model
            ('Fully_2', (1, 1, 2), True)
        """
        if self._in_model:
            raise ValueError(f"{self.label} already belongs to a model; create a new layer "
                             f"with the same parameters instead.")
        if input_dims is not None:
            self._bind(input_dims)
        if not self._name:
            self._name = name
        self._in_model = True

    def constructor_arguments(self) -> dict:
        """The keyword arguments that build a copy of this layer (without its variables).

        Returns:
            ``{"name": ..., <parameter>: <value>, ...}``; padding and pool type as enum members.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> layer = akida_model.layers[1]
            >>> copy = type(layer)(**layer.constructor_arguments())
            >>> copy.parameters == layer.parameters
            True
        """
        names = [key for key in self._params.to_dict() if key != "layer_type"]
        return {"name": self._name, **{key: getattr(self._params, key) for key in names}}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.to_dict().items()
                         if k != "layer_type")
        return f"{self.layer_type}(name={self._name!r}, {args})"

    # -- variables ---------------------------------------------------------------------------
    def get_variable(self, name: str) -> np.ndarray:
        """Returns a copy of variable ``name`` (the runtime's defaults until set: zeros, and
        ones for act_step).

        Arguments:
            name: one of ``layer.variables``.

        Returns:
            A numpy array of the variable's dtype and shape.

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.get_layer("conv_0").get_variable("threshold").dtype
            dtype('int32')
        """
        spec = self.variable_spec(name)
        value = self._values.get(name)
        return spec.default_value() if value is None else value.copy()

    def set_variable(self, name: str, value: np.ndarray) -> None:
        """Sets variable ``name`` after checking its exact dtype, shape and value range.

        Arguments:
            name: one of ``layer.variables``.
            value: a numpy array of exactly the variable's dtype (int8 weights, int32 threshold,
                float32 act_step) and shape; it is copied.

        Raises:
            TypeError: not a numpy array, or another dtype (values are never cast).
            ValueError: unknown name, wrong shape, out-of-range or non-finite values, or a
                layer whose input shape is not known yet (add it to a model first).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import Model, InputData, FullyConnected
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4)))
            >>> model.add(FullyConnected(2, weights_bits=4, act_bits=4))
            >>> model.layers[1].set_variable("threshold", np.array([3, -2], np.int32))
            >>> model.layers[1].get_variable("threshold")
            array([ 3, -2], dtype=int32)
        """
        spec = self.variable_spec(name)
        self._values[name] = spec.validate(value, self.label)
        self._version += 1

    def variable_spec(self, name: str) -> VariableSpec:
        """The exact dtype, shape and value range of variable ``name``.

        Arguments:
            name: one of ``layer.variables``.

        Returns:
            A :class:`~cnn2snn_tfmot.chip.variables.VariableSpec`.

        Raises:
            ValueError: an unknown name (the message lists the layer's variables), or a layer
                whose input shape is not known yet.

        Example:
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4)))
            >>> model.add(FullyConnected(2, weights_bits=4, act_bits=4))
            >>> model.layers[1].variable_spec("weights").shape
            (1, 1, 4, 2)
        """
        specs = self._variable_specs(require=False)
        if name not in specs:
            valid = ", ".join(repr(n) for n in sorted(specs)) or "none"
            raise ValueError(f"{self.label} has no variable {name!r}; its variables are: "
                             f"{valid}.")
        if self._input_dims is None:
            raise ValueError(f"{self.label}: variable {name!r} has no shape yet because "
                             f"the layer's input shape is unknown; add the layer to a Model "
                             f"first.")
        return self._variable_specs(require=True)[name]

    def variable(self, name: str) -> np.ndarray:
        """Variable ``name`` without a copy, read-only (``get_variable`` returns a copy).

        Arguments:
            name: one of ``layer.variables``.

        Returns:
            A read-only numpy array of the variable's dtype and shape.

        Example:
            >>> from cnn2snn_tfmot.akida import Model, InputData, FullyConnected
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4)))
            >>> model.add(FullyConnected(2, weights_bits=4, act_bits=4))
            >>> model.layers[1].variable("act_step").flags.writeable
            False
        """
        value = self._values.get(name)
        value = self.variable_spec(name).default_value() if value is None else value
        view = value.view()
        view.setflags(write=False)
        return view

    def _variable_specs(self, require: bool) -> Dict[str, VariableSpec]:
        """Specs by name; with ``require=False`` shapes may be placeholders (names only)."""
        return {}

    # -- shapes ------------------------------------------------------------------------------
    def _bind(self, input_dims: Tuple[int, int, int]) -> None:
        """Sets the input dims (when added to a model) and computes the output dims."""
        self._output_dims = self._compute_output_dims(tuple(input_dims))
        self._input_dims = tuple(input_dims)

    def _compute_output_dims(self, input_dims):
        raise NotImplementedError

    def kernel_shapes(self) -> List[Tuple[int, ...]]:
        """Shapes of the weight variables (for the summary); empty for InputData."""
        if self._input_dims is None:
            return []
        specs = self._variable_specs(require=True)
        return [specs[n].shape for n in ("weights", "weights_pw") if n in specs]


class InputData(Layer):
    """The input of a model fed with sparse events or low-bitwidth data (any channel count).

    Arguments:
        input_shape: (height, width, channels).
        input_bits: bitwidth of the input values, 1..4 (inputs are uint8 in
            ``[0, 2**input_bits - 1]``; the runtime's inner layers accept at most 4-bit inputs,
            8-bit images go to InputConvolutional). Defaults to 4.
        name: layer name ('' lets the model choose).

    Example:
        >>> from cnn2snn_tfmot.chip.layers import InputData
        >>> InputData((28, 28, 1), input_bits=4).output_dims
        (28, 28, 1)
    """

    layer_type = "InputData"
    name_prefix = "InputData"
    is_input = True

    def __init__(self, input_shape, input_bits: int = 4, name: str = ""):
        what = f"{P.layer_prefix('InputData', name)}: parameter"
        shape = P.check_shape3(input_shape, f"{what} 'input_shape'")
        bits = P.check_int(input_bits, f"{what} 'input_bits'", choices=limits.INPUT_BITS)
        super().__init__(name, {"input_shape": shape, "input_bits": bits})
        self._bind(shape)

    @property
    def output_bits(self) -> int:
        """The input bitwidth."""
        return self._params.input_bits

    def _compute_output_dims(self, input_dims):
        return input_dims


class _Neural(Layer):
    """Shared by the four neural layers: activation, act_bits, weights_bits, fire variables."""

    weights_bits_choices = limits.INNER_WEIGHTS_BITS

    def _check_common(self, name, weights_bits, activation, act_bits) -> dict:
        what = f"{P.layer_prefix(self.layer_type, name)}: parameter"
        return {
            "weights_bits": P.check_int(weights_bits, f"{what} 'weights_bits'",
                                        choices=self.weights_bits_choices),
            "activation": P.check_bool(activation, f"{what} 'activation'"),
            "act_bits": P.check_int(act_bits, f"{what} 'act_bits'", choices=limits.ACT_BITS),
        }

    def _units(self) -> int:
        raise NotImplementedError

    def _weight_spec(self, name, shape, note) -> VariableSpec:
        bits = self._params.weights_bits
        low, high = limits.weight_range(bits)
        return VariableSpec(name, np.dtype(np.int8), shape, low=low, high=high, note=note,
                            range_note=f"weights_bits={bits}")

    def _fire_specs(self, require: bool) -> Dict[str, VariableSpec]:
        units = (self._units(),) if require else (0,)
        if self._params.activation:
            # Among neural layers only InputConvolutional is an input layer (wider registers).
            t_low, t_high = limits.threshold_range(self.is_input)
            s_high = limits.act_step_limit(self.is_input)
            register = "24" if self.is_input else "20"
            t_note = f"the chip's signed {register}-bit threshold register"
            s_note = (f"act_step has 4 fractional bits in a {register}-bit unsigned register; "
                      f"smaller steps are not representable")
        else:
            t_low = t_high = s_high = None
            t_note = ""
            s_note = "act_step has 4 fractional bits; smaller steps are not representable"
        return {
            "threshold": VariableSpec("threshold", np.dtype(np.int32), units, low=t_low,
                                      high=t_high, note="one per output channel",
                                      range_note=t_note),
            "act_step": VariableSpec("act_step", np.dtype(np.float32), units,
                                     low=limits.ACT_STEP_MIN, high=s_high, high_exclusive=True,
                                     default=1.0, note="one per output channel",
                                     range_note=s_note),
        }


class _ConvBase(_Neural):
    """Convolution + optional pooling + optional fire (the three convolutional layers)."""

    def _check_conv(self, name, kernel_size, filters, padding, kernel_stride, pool_size,
                    pool_type, pool_stride) -> dict:
        prefix = P.layer_prefix(self.layer_type, name)
        what = f"{prefix}: parameter"
        pool_type, pool_size, pool_stride = P.check_pooling(pool_type, pool_size, pool_stride,
                                                            prefix)
        values = {
            "kernel_size": P.check_pair(kernel_size, f"{what} 'kernel_size'", low=1, odd=True),
            "filters": P.check_int(filters, f"{what} 'filters'", low=1),
            "padding": Padding.coerce(padding, f"{what} 'padding'"),
            "kernel_stride": P.check_pair(kernel_stride, f"{what} 'kernel_stride'", low=1),
            "pool_size": pool_size,
            "pool_type": pool_type,
            "pool_stride": pool_stride,
        }
        kernel, stride = values["kernel_size"], values["kernel_stride"]
        if not self.is_input and (stride[0] > kernel[0] or stride[1] > kernel[1]):
            # Measured: the runtime refuses it ("Strides > kernel size are not supported") on
            # Convolutional and SeparableConvolutional, not on InputConvolutional.
            raise ValueError(f"{what} 'kernel_stride' {stride} cannot be larger than "
                             f"kernel_size {kernel} on a {self.layer_type} layer.")
        return values

    def _units(self) -> int:
        return self._params.filters

    def _compute_output_dims(self, input_dims):
        p = self._params
        padding = p.padding.tf_name
        dims = []
        for axis in range(2):
            n = out_size(input_dims[axis], p.kernel_size[axis], p.kernel_stride[axis], padding)
            if n < 1:
                raise ValueError(
                    f"{self.label}: kernel_size {p.kernel_size} with padding "
                    f"'{padding}' does not fit its input of shape {tuple(input_dims)}; use "
                    f"padding 'same' or a smaller kernel.")
            if p.pool_type is PoolType.Max:
                n = out_size(n, p.pool_size[axis], p.pool_stride[axis], padding)
                if n < 1:
                    raise ValueError(
                        f"{self.label}: pool_size {p.pool_size} with padding "
                        f"'{padding}' does not fit the convolution output; use a smaller "
                        f"pool_size or padding 'same'.")
            elif p.pool_type is PoolType.Average:
                n = 1
            dims.append(n)
        return (dims[0], dims[1], p.filters)


class InputConvolutional(_ConvBase):
    """The first layer of an image model: convolution of uint8 pixels, pooling, fire.

    Arguments:
        input_shape: (height, width, channels) of the image.
        kernel_size: odd (height, width) of the kernel.
        filters: number of filters.
        name: layer name ('' lets the model choose).
        padding: ``Padding.Same`` (default) or ``Padding.Valid`` (or "same"/"valid"); 'same'
            pads with ``padding_value``.
        kernel_stride: convolution strides. Defaults to (1, 1).
        weights_bits: 1..8 (1 = binary {0, 1}). Defaults to 1.
        pool_size, pool_type, pool_stride: pooling (see :class:`PoolType`); (-1, -1) = unset.
        activation: fire levels (True) or output int32 potentials (False, last layer only).
        act_bits: 1, 2 or 4. Defaults to 1.
        padding_value: 0..255, the input shift used for 'same' padding. Defaults to 0.

    Variables: ``weights`` int8 (kh, kw, C, F) in cross-correlation orientation (not flipped),
    ``threshold`` int32 (F,) within the 24-bit register, ``act_step`` float32 (F,) in
    [1/16, 2**20).

    Example:
        >>> from cnn2snn_tfmot.chip.layers import InputConvolutional
        >>> layer = InputConvolutional((28, 28, 1), (3, 3), 8, weights_bits=8, act_bits=4)
        >>> layer.output_dims
        (28, 28, 8)
    """

    layer_type = "InputConvolutional"
    name_prefix = "InputConv"
    is_input = True
    weights_bits_choices = limits.INPUT_WEIGHTS_BITS

    def __init__(self, input_shape, kernel_size, filters, name: str = "",
                 padding=Padding.Same, kernel_stride=(1, 1), weights_bits: int = 1,
                 pool_size=(-1, -1), pool_type=PoolType.NoPooling, pool_stride=(-1, -1),
                 activation: bool = True, act_bits: int = 1, padding_value: int = 0):
        what = f"{P.layer_prefix('InputConvolutional', name)}: parameter"
        values = {"input_shape": P.check_shape3(input_shape, f"{what} 'input_shape'")}
        values.update(self._check_conv(name, kernel_size, filters, padding, kernel_stride,
                                       pool_size, pool_type, pool_stride))
        values.update(self._check_common(name, weights_bits, activation, act_bits))
        values["padding_value"] = P.check_int(padding_value, f"{what} 'padding_value'", low=0,
                                              high=255)
        super().__init__(name, values)
        self._bind(values["input_shape"])

    def _variable_specs(self, require):
        p = self._params
        shape = p.kernel_size + (p.input_shape[2], p.filters)
        specs = {"weights": self._weight_spec(
            "weights", shape, "kernel_size + (input channels, filters), not flipped")}
        specs.update(self._fire_specs(require))
        return specs


class Convolutional(_ConvBase):
    """Convolution of the previous layer's levels, pooling, fire.

    Arguments:
        kernel_size: odd (height, width) of the kernel.
        filters: number of filters.
        name: layer name ('' lets the model choose).
        padding: ``Padding.Same`` (default, zero padding) or ``Padding.Valid``.
        kernel_stride: convolution strides. Defaults to (1, 1).
        weights_bits: 1, 2, 4 or 8 (1 = binary {0, 1}; 8 is software only). Defaults to 1.
        pool_size, pool_type, pool_stride: pooling (see :class:`PoolType`); (-1, -1) = unset.
        activation: fire levels (True) or output int32 potentials (False, last layer only).
        act_bits: 1, 2 or 4. Defaults to 1.

    Variables: ``weights`` int8 (kh, kw, C, F) FLIPPED on both spatial axes as the runtime stores
    them (``keras_kernel[::-1, ::-1]``), ``threshold`` int32 (F,), ``act_step`` float32 (F,).

    Example:
        >>> from cnn2snn_tfmot.chip.layers import Convolutional
        >>> Convolutional((3, 3), 16, weights_bits=4, act_bits=4).parameters.filters
        16
    """

    layer_type = "Convolutional"
    name_prefix = "Conv"

    def __init__(self, kernel_size, filters, name: str = "", padding=Padding.Same,
                 kernel_stride=(1, 1), weights_bits: int = 1, pool_size=(-1, -1),
                 pool_type=PoolType.NoPooling, pool_stride=(-1, -1), activation: bool = True,
                 act_bits: int = 1):
        values = self._check_conv(name, kernel_size, filters, padding, kernel_stride,
                                  pool_size, pool_type, pool_stride)
        values.update(self._check_common(name, weights_bits, activation, act_bits))
        super().__init__(name, values)

    def _variable_specs(self, require):
        p = self._params
        channels = self._input_dims[2] if require else 0
        specs = {"weights": self._weight_spec(
            "weights", p.kernel_size + (channels, p.filters),
            "kernel_size + (input channels, filters), flipped on both spatial axes")}
        specs.update(self._fire_specs(require))
        return specs


class SeparableConvolutional(_ConvBase):
    """Depthwise then pointwise convolution (exact integers throughout), pooling, fire.

    Arguments:
        kernel_size: odd (height, width) of the depthwise kernel.
        filters: number of pointwise filters.
        name: layer name ('' lets the model choose).
        padding: ``Padding.Same`` (default, zero padding) or ``Padding.Valid``.
        kernel_stride: depthwise strides. Defaults to (1, 1).
        weights_bits: 1, 2, 4 or 8, for both kernels. Defaults to 2.
        pool_size, pool_type, pool_stride: pooling (see :class:`PoolType`); (-1, -1) = unset.
        activation: fire levels (True) or output int32 potentials (False, last layer only).
        act_bits: 1, 2 or 4. Defaults to 1.

    Variables: ``weights`` int8 (kh, kw, C, 1) depthwise kernel FLIPPED on both spatial axes,
    ``weights_pw`` int8 (1, 1, C, F), ``threshold`` int32 (F,), ``act_step`` float32 (F,).

    Example:
        >>> from cnn2snn_tfmot.chip.layers import SeparableConvolutional
        >>> SeparableConvolutional((3, 3), 32, weights_bits=4).parameters.kernel_size
        (3, 3)
    """

    layer_type = "SeparableConvolutional"
    name_prefix = "SepConv"

    def __init__(self, kernel_size, filters, name: str = "", padding=Padding.Same,
                 kernel_stride=(1, 1), weights_bits: int = 2, pool_size=(-1, -1),
                 pool_type=PoolType.NoPooling, pool_stride=(-1, -1), activation: bool = True,
                 act_bits: int = 1):
        values = self._check_conv(name, kernel_size, filters, padding, kernel_stride,
                                  pool_size, pool_type, pool_stride)
        values.update(self._check_common(name, weights_bits, activation, act_bits))
        super().__init__(name, values)

    def _variable_specs(self, require):
        p = self._params
        channels = self._input_dims[2] if require else 0
        specs = {
            "weights": self._weight_spec(
                "weights", p.kernel_size + (channels, 1),
                "kernel_size + (input channels, 1), flipped on both spatial axes"),
            "weights_pw": self._weight_spec(
                "weights_pw", (1, 1, channels, p.filters), "(1, 1, input channels, filters)"),
        }
        specs.update(self._fire_specs(require))
        return specs


class FullyConnected(_Neural):
    """Dense product of the flattened input, 20-bit saturation of the potentials, fire.

    Arguments:
        units: number of units.
        name: layer name ('' lets the model choose).
        weights_bits: 1, 2, 4 or 8 (1 = binary {0, 1}). Defaults to 1.
        activation: fire levels (True) or output int32 potentials (False, last layer only).
        act_bits: 1, 2 or 4. Defaults to 1.

    The input may have any (H, W, C) shape; it is flattened in the runtime's column-major order
    (index ``h + H*w + H*W*c``). Potentials saturate to [-2**19, 2**19 - 1] (measured).
    Output dims are (1, 1, units).

    Variables: ``weights`` int8 (1, 1, H*W*C, units) in that row order, ``threshold`` int32
    (units,), ``act_step`` float32 (units,); once the model is compiled for edge learning
    (:meth:`~cnn2snn_tfmot.akida.Model.compile`), also ``threshold_learning`` and ``thswap``
    int32 (units,) (see :mod:`cnn2snn_tfmot.chip.learning`).

    Example:
        >>> from cnn2snn_tfmot.chip.layers import FullyConnected
        >>> FullyConnected(10, weights_bits=4, activation=False).parameters.units
        10
    """

    layer_type = "FullyConnected"
    name_prefix = "Fully"

    def __init__(self, units, name: str = "", weights_bits: int = 1, activation: bool = True,
                 act_bits: int = 1):
        what = f"{P.layer_prefix('FullyConnected', name)}: parameter"
        values = {"units": P.check_int(units, f"{what} 'units'", low=1)}
        values.update(self._check_common(name, weights_bits, activation, act_bits))
        super().__init__(name, values)
        self._learns = False

    def _units(self) -> int:
        return self._params.units

    # -- edge learning (issue 24; the rule: cnn2snn_tfmot.chip.learning) -------------------------
    @property
    def learns(self) -> bool:
        """Whether the layer has the edge-learning variables (its model was compiled)."""
        return self._learns

    def enable_learning(self) -> None:
        """Gives the layer the two variables of edge learning, ``threshold_learning`` and
        ``thswap`` (zeros until set), as BrainChip's runtime does when it compiles a model.

        Called by :meth:`cnn2snn_tfmot.akida.Model.compile`, which first checks that the layer
        can learn and then sets the variables; nothing else changes (thresholds, act_steps and
        outputs are kept).

        Raises:
            ValueError: the layer's weights are not 1-bit (only binary weights learn).

        Example:
            >>> from cnn2snn_tfmot.chip import FullyConnected
            >>> layer = FullyConnected(2, weights_bits=1, activation=False)
            >>> layer.enable_learning()
            >>> layer.learns, layer.variables
            (True, ['act_step', 'threshold', 'threshold_learning', 'thswap', 'weights'])
        """
        if self._params.weights_bits != 1:
            raise ValueError(f"{self.label} cannot learn: it has "
                             f"{self._params.weights_bits}-bit weights; only binary weights "
                             f"learn (FullyConnected(..., weights_bits=1)).")
        if not self._learns:
            self._learns = True
            self._version += 1

    def _compute_output_dims(self, input_dims):
        return (1, 1, self._params.units)

    def _variable_specs(self, require):
        fan_in = math.prod(self._input_dims) if require else 0
        specs = {"weights": self._weight_spec(
            "weights", (1, 1, fan_in, self._params.units),
            "(1, 1, H*W*C of the input, units), rows in column-major input order "
            "h + H*w + H*W*c")}
        specs.update(self._fire_specs(require))
        if self._learns:
            specs.update(learning_variable_specs(self._params.units if require else 0))
        return specs


#: Layer type name -> class (used by the file reader and the runtime interop).
LAYER_TYPES = {cls.layer_type: cls for cls in (InputData, InputConvolutional, Convolutional,
                                               SeparableConvolutional, FullyConnected)}
