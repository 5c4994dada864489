"""The Akida 1.0 model rules, each written once (docs/akida-v1.md sections 3 to 6).

Every rule is a function of plain values (layer names, Keras configs, bitwidths, shapes) that
returns the messages of what breaks it, each naming the layer, the rule and the fix; an empty
list means the rule holds. ``quantize()`` and the transforms raise the messages of the rules
they need, ``merge_separable_conv`` asks :func:`separable_merge_problems` which pairs merge, and
the block reader behind ``check_model_compatibility()`` and ``convert()`` collects every
message at once. So what the check accepts, convert converts.

Example:
    >>> from cnn2snn_tfmot.chip.rules import layer_parameter_problems
    >>> layer_parameter_problems("conv", {"kernel_size": (2, 2), "groups": 2}, "conv")
    ["Layer 'conv' has groups=2: Akida convolutions are not grouped; use groups=1.", \
"Layer 'conv' has kernel_size=(2, 2): Akida kernels have odd sizes."]
"""
from __future__ import annotations

import math
import numbers
from typing import List, Optional, Sequence, Tuple

import numpy as np

from cnn2snn_tfmot.chip import limits

__all__ = [
    "IncompatibleModelError", "CONVERTIBLE_INNER_WEIGHT_BITS", "check_input_scaling",
    "data_format_problems", "layer_parameter_problems", "fused_activation_problems",
    "relu_problems",
    "activation_bits_problems", "batchnorm_problems", "pool_problems",
    "is_separable_merge_candidate", "separable_merge_problems", "lone_depthwise_problem",
    "quantizer_problems", "weight_bits_problems", "stride_problems", "dense_input_problems",
    "chip_size_warnings", "max_pool_swap_problems", "register_problems", "float_model_problem",
    "value_problems", "input_shape_problems", "NONNEGATIVE_VARIABLES",
]

#: Integer weight bitwidths of the quantizers (docs/akida-v1.md section 1).
QUANTIZER_WEIGHT_BITS = tuple(range(2, 9))
#: What a converted inner layer can have: the runtime's inner weights_bits that a quantizer
#: produces (1-bit weights are {0, 1}, which no symmetric quantizer gives).
CONVERTIBLE_INNER_WEIGHT_BITS = tuple(bits for bits in limits.INNER_WEIGHTS_BITS
                                      if bits in QUANTIZER_WEIGHT_BITS)


class IncompatibleModelError(ValueError):
    """The Keras model breaks Akida rules; the message lists every violation.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import IncompatibleModelError
        >>> str(IncompatibleModelError("Layer 'x' ..."))
        "Layer 'x' ..."
    """


def _pair(value) -> Tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, (int, np.integer)):
        return (int(value), int(value))
    return tuple(int(v) for v in value)


# Input ------------------------------------------------------------------------------------

_SCALING_FORM = ("a pair of numbers (scale, shift), e.g. (255, 0) for Keras inputs img / 255 "
                 "(x_akida = scale * x_keras + shift; --input-scaling 255 0 on the command "
                 "line)")


def _real(value) -> bool:
    return isinstance(value, (numbers.Real, np.number)) and not isinstance(value, (bool, np.bool_))


def check_input_scaling(input_scaling, input_is_sparse: bool) -> Tuple[float, int]:
    """Validates ``input_scaling = (scale, shift)``: the one parser of every entry point
    (``quantize``, ``convert``, ``check_model_compatibility``, ``hardware_exact``,
    ``ScaleFactorMonitor``, the command line).

    A tuple, list or 1-D array of exactly two real numbers: a finite scale > 0 and an integer
    shift (in 0..255, 0 for sparse inputs). A string (``"25"`` is not (2, 5)), a single number
    and any other length are refused with the expected form.

    Arguments:
        input_scaling: the pair given to convert(): ``x_akida = scale * x_keras + shift``.
        input_is_sparse: sparse inputs need shift 0; image inputs a shift in 0..255.

    Returns:
        ``(scale, shift)`` as (float, int).

    Raises:
        ValueError: naming the argument, what was given and the expected form.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import check_input_scaling
        >>> check_input_scaling((255, 0), False)
        (255.0, 0)
        >>> check_input_scaling("25", False)
        Traceback (most recent call last):
        ...
        ValueError: `input_scaling` must be a pair of numbers (scale, shift), ...; got the \
string '25'.
    """
    if isinstance(input_scaling, (str, bytes)):
        raise ValueError(f"`input_scaling` must be {_SCALING_FORM}; got the string "
                         f"{input_scaling!r}.")
    if isinstance(input_scaling, np.ndarray) and input_scaling.ndim == 1:
        input_scaling = input_scaling.tolist()
    if not isinstance(input_scaling, (tuple, list)):
        raise ValueError(f"`input_scaling` must be {_SCALING_FORM}; got "
                         f"{type(input_scaling).__name__} {input_scaling!r:.60}.")
    if len(input_scaling) != 2:
        raise ValueError(f"`input_scaling` must be {_SCALING_FORM}; got {len(input_scaling)} "
                         f"value{'s' if len(input_scaling) != 1 else ''}: {input_scaling!r:.60}.")
    scale, shift = input_scaling
    if not _real(scale) or not math.isfinite(float(scale)) or float(scale) <= 0:
        raise ValueError(f"`input_scaling` scale must be a positive number; got {scale!r}. "
                         f"Expected {_SCALING_FORM}.")
    if not _real(shift) or not math.isfinite(float(shift)) or not float(shift).is_integer():
        raise ValueError(f"`input_scaling` shift must be an integer; got {shift!r}. Expected "
                         f"{_SCALING_FORM}.")
    scale, shift = float(scale), int(shift)
    if input_is_sparse and shift != 0:
        raise ValueError(f"`input_scaling` shift must be 0 for sparse inputs "
                         f"(input_is_sparse=True); got {shift}.")
    if not 0 <= shift <= 255:
        raise ValueError(f"`input_scaling` shift must be in 0..255 (it pads the input image); "
                         f"got {shift}.")
    return scale, shift


# Values ------------------------------------------------------------------------------------

#: Variables that are variances: a negative value is as corrupt as a NaN.
NONNEGATIVE_VARIABLES = ("moving_variance", "variance")
_FIX_NONFINITE = ("the training diverged or the weights are corrupt: restore them from a "
                  "checkpoint, or retrain (e.g. with a lower learning rate); quantizing or "
                  "converting them would turn them into arbitrary integers")
_FIX_NEGATIVE = ("its moving statistics are corrupt: recompute them (a few training steps, or "
                 "cnn2snn_tfmot.data.zoo.calibrate_batchnorm) or restore them from a checkpoint")


def value_problems(layer: str, variables, what: str = "Layer") -> List[str]:
    """Every non-finite (NaN, infinite) value of a layer's variables, and every negative
    variance: the one check of weights, biases, BatchNormalization statistics, thresholds and
    steps wherever a model is quantized, checked, converted or trained into registers.

    Arguments:
        layer: the layer's name.
        variables: ``{variable name: array or number}``; a name in
            :data:`NONNEGATIVE_VARIABLES` must also be >= 0.
        what: how messages name the layer ("Layer", "BatchNormalization"...).

    Returns:
        One message per variable that breaks the rule: the layer, the variable, how many
        values and the fix.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.rules import value_problems
        >>> value_problems("dense", {"kernel": np.ones(3), "bias": np.array([1, np.nan])})
        ["Layer 'dense': variable 'bias' has 1 non-finite value (NaN or infinite) of 2; the \
training diverged or the weights are corrupt: restore them from a checkpoint, or retrain (e.g. \
with a lower learning rate); quantizing or converting them would turn them into arbitrary \
integers."]
    """
    problems = []
    for name, value in variables.items():
        if value is None:
            continue
        array = np.asarray(value, dtype=np.float64) if not hasattr(value, "numpy") else \
            np.asarray(value.numpy(), dtype=np.float64)
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            problems.append(f"{what} '{layer}': variable '{name}' has {bad} non-finite "
                            f"value{'s' if bad > 1 else ''} (NaN or infinite) of {array.size}; "
                            f"{_FIX_NONFINITE}.")
        elif name in NONNEGATIVE_VARIABLES:
            negative = int(np.count_nonzero(array < 0))
            if negative:
                problems.append(f"{what} '{layer}': variable '{name}' has {negative} negative "
                                f"value{'s' if negative > 1 else ''} of {array.size}, which a "
                                f"variance cannot have; {_FIX_NEGATIVE}.")
    return problems


def input_shape_problems(layer: str, shape: Sequence) -> List[str]:
    """An input shape must be fully defined (batch excluded) to be converted.

    Arguments:
        layer: the input layer's name.
        shape: its shape, batch excluded (None for an unknown dimension).

    Returns:
        The message, or an empty list.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import input_shape_problems
        >>> input_shape_problems("input_1", (None, None, 1))
        ["input shape must be fully defined: layer 'input_1' has (None, None, 1); build the \
model with keras.Input((height, width, channels)) of the images it will take."]
    """
    if all(isinstance(d, (int, np.integer)) and d is not None and d > 0 for d in shape) \
            and len(shape):
        return []
    return [f"input shape must be fully defined: layer '{layer}' has {tuple(shape)}; build the "
            "model with keras.Input((height, width, channels)) of the images it will take."]


def float_model_problem(model_name: str, float_layers: Sequence[str],
                        refused: Sequence[str]) -> str:
    """The one message for a float model: quantize it first (rather than every rule a float
    layer breaks).

    Arguments:
        model_name: the model's name.
        float_layers: the names of its float neural layers.
        refused: "Type 'name'" of the layers ``quantize()`` does not take, if any.

    Returns:
        The message.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import float_model_problem
        >>> float_model_problem("m", ["conv"], [])
        "Model 'm' is a float model: its neural layers ('conv') are not quantized. Quantize \
it first: quantize(model, weight_quantization=4, activ_quantization=4, \
input_weight_quantization=8, input_scaling=(255, 0)) (for inputs img / 255), or on the command \
line cnn2snn_tfmot quantize MODEL OUTPUT -w 4 -a 4 -i 8 --input-scaling 255 0."
    """
    names = ", ".join(f"'{name}'" for name in float_layers)
    message = (f"Model '{model_name}' is a float model: its neural layers ({names}) are not "
               "quantized. Quantize it first: quantize(model, weight_quantization=4, "
               "activ_quantization=4, input_weight_quantization=8, input_scaling=(255, 0)) "
               "(for inputs img / 255), or on the command line cnn2snn_tfmot quantize MODEL "
               "OUTPUT -w 4 -a 4 -i 8 --input-scaling 255 0.")
    if refused:
        message += (f" It also has layers quantize() does not take ({', '.join(refused)}): "
                    "adapt(model) first (cnn2snn_tfmot adapt MODEL OUTPUT), then fine-tune.")
    return message


# Layer parameters ---------------------------------------------------------------------------

def data_format_problems(name: str, config: dict) -> List[str]:
    """Any layer with a data format must be channels_last (Akida tensors are NHWC).

    Arguments:
        name: the layer's name.
        config: its Keras ``get_config()``.

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import data_format_problems
        >>> data_format_problems("p", {"data_format": "channels_last"})
        []
    """
    if config.get("data_format") in (None, "channels_last"):
        return []
    return [f"Layer '{name}' has data_format='channels_first'; Akida needs channels_last "
            "(NHWC): rebuild it with data_format='channels_last'."]


def layer_parameter_problems(name: str, config: dict, kind: str) -> List[str]:
    """What Akida cannot run in a neural layer's parameters (not its weights or quantizers).

    Rules: dilation 1, groups 1, depth multiplier 1, odd kernel sizes (the data format is
    :func:`data_format_problems`, which applies to every layer).

    Arguments:
        name: the layer's name.
        config: its Keras ``get_config()``.
        kind: its Akida kind ("conv", "depthwise", "separable" or "dense").

    Returns:
        The messages (empty when the parameters are fine).

    Example:
        >>> from cnn2snn_tfmot.chip.rules import layer_parameter_problems
        >>> layer_parameter_problems("c", {"dilation_rate": (2, 2)}, "conv")
        ["Layer 'c' has dilation_rate=(2, 2): Akida has no dilated convolution; use \
dilation_rate=1."]
    """
    where = f"Layer '{name}'"
    problems = []
    if kind == "dense":
        return problems
    dilation = _pair(config.get("dilation_rate", (1, 1)))
    if any(d != 1 for d in dilation):
        problems.append(f"{where} has dilation_rate={dilation}: Akida has no dilated "
                        "convolution; use dilation_rate=1.")
    if config.get("groups", 1) != 1:
        problems.append(f"{where} has groups={config['groups']}: Akida convolutions are not "
                        "grouped; use groups=1.")
    if config.get("depth_multiplier", 1) != 1:
        problems.append(f"{where} has depth_multiplier={config['depth_multiplier']}: Akida "
                        "needs 1.")
    kernel_size = _pair(config.get("kernel_size"))
    if any(k % 2 == 0 for k in kernel_size):
        problems.append(f"{where} has kernel_size={kernel_size}: Akida kernels have odd sizes.")
    return problems


def fused_activation_problems(name: str, config: dict) -> List[str]:
    """A neural layer's fused activation (Akida activations are layers of their own).

    ``quantize()`` fixes this by splitting the activation into its own layer.

    Arguments:
        name: the layer's name.
        config: its Keras ``get_config()``.

    Returns:
        The messages (empty without a fused activation).

    Example:
        >>> from cnn2snn_tfmot.chip.rules import fused_activation_problems
        >>> fused_activation_problems("c", {"activation": "linear"})
        []
    """
    activation = config.get("activation")
    if activation in (None, "linear"):
        return []
    return [f"Layer '{name}' has the fused activation '{activation}': Akida activations are "
            "separate layers; build it with activation=None and add a ReLU after it "
            "(quantize() does this)."]


def stride_problems(name: str, config: dict, akida_kind: str) -> List[str]:
    """Strides larger than the kernel, which BrainChip's runtime refuses on inner layers.

    Arguments:
        name: the layer's name.
        config: its Keras ``get_config()``.
        akida_kind: the Akida kind of its block ("input", "conv", "separable", "dense").

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import stride_problems
        >>> stride_problems("c", {"strides": (2, 2), "kernel_size": (1, 1)}, "input")
        []
    """
    if akida_kind not in ("conv", "separable"):
        return []
    strides, kernel_size = _pair(config.get("strides")), _pair(config.get("kernel_size"))
    if any(s > k for s, k in zip(strides, kernel_size)):
        return [f"Layer '{name}' has strides {strides} larger than its kernel_size "
                f"{kernel_size}: BrainChip's runtime needs strides <= kernel_size on layers "
                "other than the input layer."]
    return []


def dense_input_problems(name: str, input_shape: Sequence[int]) -> List[str]:
    """A dense layer's input must be (N,) or (1, 1, N) (Flatten before it otherwise).

    Arguments:
        name: the layer's name.
        input_shape: its input shape, batch excluded.

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import dense_input_problems
        >>> dense_input_problems("d", (1, 1, 8))
        []
    """
    shape = tuple(input_shape)
    if len(shape) == 1 or (len(shape) == 3 and shape[:2] == (1, 1)):
        return []
    return [f"Layer '{name}': a QuantizedDense must have an input of shape (N,) or (1, 1, N), "
            f"not {shape}; add a Flatten before it."]


def chip_size_warnings(name: str, akida_kind: str, input_shape: Sequence[int],
                       global_pool_width: Optional[int]) -> List[str]:
    """Sizes only the chip refuses (the software runtime accepts them): warnings.

    Arguments:
        name: the layer's name.
        akida_kind: its Akida kind.
        input_shape: the model's input shape.
        global_pool_width: the width of the map its global average pooling sums, or None.

    Returns:
        The warning messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import chip_size_warnings
        >>> chip_size_warnings("c", "input", (4, 4, 1), None)
        ["Layer 'c': the chip's input layer takes images 5 to 256 pixels wide, not 4."]
    """
    warnings = []
    low, high = limits.CHIP_INPUT_WIDTH
    if akida_kind == "input" and len(input_shape) == 3 and not low <= input_shape[1] <= high:
        warnings.append(f"Layer '{name}': the chip's input layer takes images {low} to {high} "
                        f"pixels wide, not {input_shape[1]}.")
    low, high = limits.CHIP_GLOBAL_POOL_WIDTH
    if global_pool_width is not None and not low <= global_pool_width <= high:
        warnings.append(f"Layer '{name}': the chip's global average pooling takes maps {low} "
                        f"to {high} wide, not {global_pool_width}.")
    return warnings


# Activations --------------------------------------------------------------------------------

def relu_problems(name: str, config: dict) -> List[str]:
    """What keeps a Keras ReLU from becoming an Akida activation: a slope or a threshold.

    Arguments:
        name: the layer's name.
        config: the ReLU's ``get_config()``.

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import relu_problems
        >>> relu_problems("r", {"negative_slope": 0.1, "threshold": 0.0})
        ["ReLU 'r' has negative_slope=0.1 and threshold=0.0; Akida activations are plain \
ReLUs: use negative_slope=0 and threshold=0."]
    """
    slope, threshold = config.get("negative_slope") or 0.0, config.get("threshold") or 0.0
    if float(slope) == 0.0 and float(threshold) == 0.0:
        return []
    return [f"ReLU '{name}' has negative_slope={slope} and threshold={threshold}; Akida "
            "activations are plain ReLUs: use negative_slope=0 and threshold=0."]


def activation_bits_problems(name: str, bits: int) -> List[str]:
    """Activation bitwidths the chip does not run.

    Arguments:
        name: the activation's name.
        bits: its bitwidth.

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import activation_bits_problems
        >>> activation_bits_problems("relu", 3)
        ["Activation 'relu' has 3 bits: Akida activations have 1, 2, 4 bits."]
    """
    if bits in limits.ACT_BITS:
        return []
    return [f"Activation '{name}' has {bits} bits: Akida activations have "
            f"{', '.join(map(str, limits.ACT_BITS))} bits."]


# BatchNormalization -------------------------------------------------------------------------

#: What a BatchNormalization is used for -> which gammas it refuses, and why.
_GAMMA_RULES = {
    "fold": (lambda gamma: gamma == 0, "zero gamma(s): folding them gives channels of zero "
             "weights, whose scale factors are undefined on Akida"),
    "absorb": (lambda gamma: gamma <= 0, "non-positive gamma(s): a BatchNormalization layer "
               "left in a block cannot have negative or zero gammas"),
}


def batchnorm_problems(name: str, axis, rank: int, gamma: np.ndarray, use: str) -> List[str]:
    """A BatchNormalization's axis (the channel axis) and gammas.

    Arguments:
        name: the layer's name.
        axis: its ``axis`` config (an int or a list).
        rank: the rank of its input, batch included.
        gamma: its gammas.
        use: "fold" (folded into the neural layer before it: zero gammas are refused) or
            "absorb" (left in a block and absorbed into thresholds and steps: non-positive
            gammas are refused).

    Returns:
        The messages.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.rules import batchnorm_problems
        >>> batchnorm_problems("bn", -1, 4, np.ones(3), "fold")
        []
    """
    axes = [int(a) for a in axis] if isinstance(axis, (list, tuple)) else [int(axis)]
    problems = []
    if len(axes) != 1 or axes[0] not in (-1, rank - 1):
        problems.append(f"BatchNormalization '{name}' normalizes axis {axes}: Akida needs the "
                        "last (channel) axis; rebuild it with axis=-1.")
    refused, why = _GAMMA_RULES[use]
    count = int(np.sum(refused(np.asarray(gamma))))
    if count:
        problems.append(f"BatchNormalization '{name}' has {count} {why}. Constrain gammas with "
                        "add_gamma_constraint(model) (gammas >= 1e-2) and retrain.")
    return problems


def max_pool_swap_problems(pool_name: str, batchnorm_name: str,
                           gamma: np.ndarray) -> List[str]:
    """``MaxPool2D -> BatchNormalization`` can be swapped only when every gamma is positive.

    Arguments:
        pool_name: the pooling layer's name.
        batchnorm_name: the BatchNormalization's name.
        gamma: its gammas.

    Returns:
        The messages.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.rules import max_pool_swap_problems
        >>> max_pool_swap_problems("pool", "bn", np.array([1.0, 2.0]))
        []
    """
    count = int(np.sum(np.asarray(gamma) <= 0))
    if not count:
        return []
    return [f"MaxPool2D '{pool_name}' comes before BatchNormalization '{batchnorm_name}', "
            f"which has {count} non-positive gamma(s): the two cannot be swapped (max pooling "
            "only commutes with increasing maps). Put the BatchNormalization before the "
            "pooling and retrain, or constrain gammas with add_gamma_constraint."]


# Pooling ------------------------------------------------------------------------------------

def pool_problems(name: str, kind: str, size: Sequence[int], strides: Sequence[int],
                  padding: str, neural_name: str, neural_kind: str,
                  neural_padding: Optional[str]) -> List[str]:
    """A pooling layer in the block of a neural layer.

    Arguments:
        name: the pooling layer's name.
        kind: "max" or "global".
        size, strides, padding: the max pooling's parameters.
        neural_name, neural_kind, neural_padding: the block's neural layer.

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import pool_problems
        >>> pool_problems("p", "max", (2, 2), (2, 2), "same", "c", "conv", "same")
        []
    """
    label = "GlobalAvgPool2D" if kind == "global" else "MaxPool2D"
    if neural_kind == "dense":
        return [f"{label} '{name}' follows a dense layer: pooling belongs to convolutional "
                "blocks."]
    if kind == "global":
        return []
    problems = []
    if padding != neural_padding:
        problems.append(f"MaxPool2D '{name}' has padding '{padding}' but its processing layer "
                        f"'{neural_name}' has '{neural_padding}': a MaxPool2D must have the "
                        "same padding as its processing layer.")
    if any(s > k for s, k in zip(strides, size)):
        problems.append(f"MaxPool2D '{name}' has strides {tuple(strides)} larger than its "
                        f"pool_size {tuple(size)}: Akida needs strides <= pool_size.")
    return problems


# Separable merge ----------------------------------------------------------------------------

def is_separable_merge_candidate(kind: str, next_kind: Optional[str],
                                 next_config: Optional[dict]) -> bool:
    """Whether a layer and the next one look like a depthwise + pointwise pair.

    Arguments:
        kind: the Akida kind of the first layer.
        next_kind: the Akida kind of the layer right after it (None if not neural).
        next_config: that layer's config.

    Returns:
        True for a depthwise layer followed by a convolution with a 1x1 kernel.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import is_separable_merge_candidate
        >>> is_separable_merge_candidate("depthwise", "conv", {"kernel_size": (1, 1)})
        True
    """
    return (kind == "depthwise" and next_kind == "conv"
            and _pair((next_config or {}).get("kernel_size")) == (1, 1))


def separable_merge_problems(depthwise_name: str, depthwise_config: dict, pointwise_name: str,
                             pointwise_config: dict) -> List[str]:
    """Why a depthwise + 1x1 pair cannot become one separable convolution (empty: it can).

    The pair merges exactly when the depthwise layer has depth multiplier 1 and no fused
    activation, and the pointwise layer has stride 1, dilation 1 and groups 1 (a depthwise
    bias is folded into the pointwise bias).

    Arguments:
        depthwise_name, depthwise_config: the depthwise layer.
        pointwise_name, pointwise_config: the 1x1 convolution right after it.

    Returns:
        The messages, naming both layers.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import separable_merge_problems
        >>> separable_merge_problems("dw", {}, "pw", {"kernel_size": (1, 1), "groups": 2})[0]
        "Layers 'dw' + 'pw' cannot be merged into a separable convolution: 'pw' has groups=2 \
(a separable convolution's pointwise part needs 1)."
    """
    reasons = []
    if depthwise_config.get("depth_multiplier", 1) != 1:
        reasons.append(f"'{depthwise_name}' has depth_multiplier="
                       f"{depthwise_config['depth_multiplier']} (needs 1)")
    if depthwise_config.get("activation") not in (None, "linear"):
        reasons.append(f"'{depthwise_name}' has the fused activation "
                       f"'{depthwise_config['activation']}' between the two convolutions")
    if any(s != 1 for s in _pair(pointwise_config.get("strides", (1, 1)))):
        reasons.append(f"'{pointwise_name}' has strides {_pair(pointwise_config['strides'])} "
                       "(needs 1)")
    if any(d != 1 for d in _pair(pointwise_config.get("dilation_rate", (1, 1)))):
        reasons.append(f"'{pointwise_name}' has dilation_rate "
                       f"{_pair(pointwise_config['dilation_rate'])} (needs 1)")
    if pointwise_config.get("groups", 1) != 1:
        reasons.append(f"'{pointwise_name}' has groups={pointwise_config['groups']} (a "
                       "separable convolution's pointwise part needs 1)")
    return [f"Layers '{depthwise_name}' + '{pointwise_name}' cannot be merged into a separable "
            f"convolution: {reason}." for reason in reasons]


def lone_depthwise_problem(name: str) -> str:
    """The message for a depthwise layer that no 1x1 convolution follows.

    Arguments:
        name: the depthwise layer's name.

    Returns:
        The message.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import lone_depthwise_problem
        >>> lone_depthwise_problem("dw").startswith("Layer 'dw' (depthwise")
        True
    """
    return (f"Layer '{name}' (depthwise convolution): Akida has no depthwise layer; a "
            "DepthwiseConv2D must be followed directly by a 1x1 Conv2D (the two become a "
            "separable convolution, see merge_separable_conv), or use SeparableConv2D.")


# Quantizers and weights ---------------------------------------------------------------------

def quantizer_problems(name: str, kind: str, quantizers: dict) -> List[str]:
    """A neural layer's weight quantizers: quantized at all, and separable constraints.

    Arguments:
        name: the layer's name.
        kind: its Akida kind.
        quantizers: ``{role: weight quantizer}`` ("kernel", or "depthwise" and "pointwise").

    Returns:
        The messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import quantizer_problems
        >>> from cnn2snn_tfmot.quantization.quantizers import MaxQuantizer
        >>> quantizer_problems("c", "conv", {"kernel": MaxQuantizer(4)})
        []
    """
    problems = [f"Layer '{name}': the {role} weights are float (WeightFloat); quantize them "
                "(e.g. quantize(model, 4, 4) or a MaxPerAxisQuantizer)."
                for role, quantizer in quantizers.items() if quantizer.bitwidth == 0]
    if kind == "separable" and not problems:
        depthwise, pointwise = quantizers["depthwise"], quantizers["pointwise"]
        if depthwise.per_axis:
            problems.append(f"Layer '{name}': the depthwise kernel must be quantized per tensor "
                            f"(e.g. MaxQuantizer), not with {type(depthwise).__name__}.")
        if depthwise.bitwidth != pointwise.bitwidth:
            problems.append(f"Layer '{name}': depthwise ({depthwise.bitwidth} bits) and "
                            f"pointwise ({pointwise.bitwidth} bits) weights must have the same "
                            "bitwidth (one weights_bits per Akida layer).")
    return problems


def weight_bits_problems(name: str, akida_kind: str, bits: int) -> Tuple[List[str], List[str]]:
    """Weight bitwidths: what BrainChip's runtime refuses, and what only the chip refuses.

    Arguments:
        name: the layer's name.
        akida_kind: "input", "conv", "separable" or "dense".
        bits: its weights' bitwidth.

    Returns:
        ``(violations, chip_warnings)``.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import weight_bits_problems
        >>> weight_bits_problems("c", "conv", 8)[0]
        []
    """
    violations, warnings = [], []
    if akida_kind != "input" and bits not in CONVERTIBLE_INNER_WEIGHT_BITS:
        violations.append(f"Layer '{name}' has {bits}-bit weights: BrainChip's runtime accepts "
                          f"{', '.join(map(str, CONVERTIBLE_INNER_WEIGHT_BITS))} bits on layers "
                          "other than the input layer.")
    chip = limits.CHIP_WEIGHTS_BITS.get(akida_kind)
    if chip is not None and bits not in chip:
        warnings.append(f"Layer '{name}': the Akida 1.0 chip maps "
                        f"{', '.join(map(str, chip))}-bit weights on this layer type, not "
                        f"{bits} (the software runtime accepts it).")
    return violations, warnings


# Registers ----------------------------------------------------------------------------------

_FIX_TOO_LARGE = ("its scale factors are too high, usually from very small weights after "
                  "BatchNormalization folding: retrain with BatchNormalization gammas kept "
                  ">= 1e-2 (add_gamma_constraint, GammaClipping), or use a smaller input scaling")
_FIX_TOO_SMALL = ("its weights are too large for their input scaling: use a larger input "
                  "scaling, or retrain with smaller weights or larger activation steps")


def register_problems(registers) -> List[str]:
    """The ways a block's registers do not fit Akida 1.0 (docs/akida-v1.md section 6).

    Each message names the layer, the value, the limit and the fix; empty when it fits.

    Arguments:
        registers: a :class:`cnn2snn_tfmot.conversion.registers.BlockRegisters`.

    Returns:
        A list of messages.

    Example:
        >>> from cnn2snn_tfmot.chip.rules import register_problems
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
        >>> from cnn2snn_tfmot.conversion.blocks import analyze
        >>> from cnn2snn_tfmot.conversion.registers import model_registers
        >>> registers = model_registers(analyze(model_quantized), (255, 0), False)
        >>> [register_problems(block) for block in registers]
        [[], [], []]
        >>> register_problems(model_registers(analyze(model_quantized), (1e-6, 0), False)[0])
        ["Layer 'conv_0': act_step ... is below 1/16, the smallest step Akida represents; ..."]
    """
    problems = []
    name, is_input = registers.name, registers.kind == "input"
    act_step = registers.act_step
    infinite = value_problems(name, {"threshold": registers.threshold_float,
                                     "act_step": act_step})
    if infinite:  # from finite weights: scale factors beyond float range
        return [f"{problem[:problem.index(';')]}; {_FIX_TOO_LARGE}." for problem in infinite]
    smallest = int(np.argmin(act_step))
    if act_step[smallest] < limits.ACT_STEP_MIN:
        problems.append(f"Layer '{name}': act_step {act_step[smallest]:.6g} (channel {smallest}) "
                        f"is below 1/16, the smallest step Akida represents; {_FIX_TOO_SMALL}.")
    if registers.act_bits is None:
        return problems  # raw potentials out: thresholds and steps only serve predict()
    bits = limits.register_bits(is_input)
    limit = limits.act_step_limit(is_input)
    largest = int(np.argmax(act_step))
    if act_step[largest] >= limit:
        problems.append(f"Layer '{name}': act_step {act_step[largest]:.6g} (channel {largest}) "
                        f"does not fit the {bits}-bit act_step register ("
                        f"{bits - limits.ACT_STEP_FRACTION_BITS} integer and "
                        f"{limits.ACT_STEP_FRACTION_BITS} fractional bits: limit {limit:g}); "
                        f"{_FIX_TOO_LARGE}.")
    low, high = limits.threshold_range(is_input)
    outside = np.nonzero((registers.threshold < low) | (registers.threshold > high))[0]
    if outside.size:
        channel = int(outside[np.argmax(np.abs(registers.threshold[outside]))])
        problems.append(f"Layer '{name}': threshold {int(registers.threshold[channel])} (channel "
                        f"{channel}) does not fit the signed {bits}-bit threshold register "
                        f"[{low}, {high}]; {_FIX_TOO_LARGE}.")
    return problems
