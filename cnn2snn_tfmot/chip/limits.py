"""Value limits of Akida 1.0 layers, as measured against BrainChip's runtime (akida 2.19.3).

Every number here was established by a small experiment against the ``akida`` wheel (which
simulates v1 layers in software) or taken from docs/akida-v1.md section 6 (chip registers).
The Akida model (:mod:`cnn2snn_tfmot.akida`) validates with these tables, and the engine
reproduces the arithmetic the runtime was measured to do.

Measured (akida 2.19.3):

* Weights (``set_variable("weights"...)``), per ``weights_bits``: 1 -> [0, 1] (binary, unsigned);
  2 -> [-1, 1]; 4 -> [-7, 7] (so -8 is refused); 8 -> [-128, 127] (-128 accepted). The same ranges
  apply to ``weights_pw``. Convolutional, SeparableConvolutional and FullyConnected refuse other
  widths ("must be 1, 2, 4 or 8"); InputConvolutional accepts any ``weights_bits`` and then checks
  no range at all: we accept 1..8 there (what int8 storage can hold) and apply the symmetric range
  ``[-(2**(b-1) - 1), 2**(b-1) - 1]`` to the widths the runtime does not check (3, 5, 6, 7).
* ``act_bits``: 1, 2 or 4 on inner layers; InputConvolutional also accepts 3. We accept 1, 2, 4
  everywhere (the converter's activation bitwidths).
* ``input_bits`` of InputData: the runtime constructs any value >= 1, but no layer can follow an
  InputData of more than 4 bits (Convolutional: "only accepts unsigned inputs", Separable and
  FullyConnected: "cannot be added if previous layer's output requires more than 4 bits"), so we
  accept 1..4 (8-bit images go to InputConvolutional). ``forward`` refuses an input value above
  ``2**input_bits - 1`` (RuntimeError "Input values must be in the range (0, 15)"); we refuse it
  too, with a ValueError.
* ``padding_value`` (InputConvolutional): 0..255.
* Kernel sizes must be odd and >= 1 ("kernel_width must be strictly positive and odd").
* Pooling: ``pool_size`` must be (-1, -1) with NoPooling / Average and > 0 with Max;
  ``pool_stride`` (-1, -1) means "equal to pool_size"; a pool_stride larger than pool_size is
  refused.
* Thresholds (int32) and act_steps (float32): the runtime accepts ANY int32 threshold and any
  act_step >= 1/16 (including 2**20, 1e9, inf and even NaN) and computes with the raw values (no
  saturation, no wrap: measured with thresholds beyond 2**19 and act_steps beyond 2**20). It refuses
  act_step < 1/16 ("Unsupported act_step, it should be equal or greater than 1/16").
  The chip's registers cannot hold more (docs/akida-v1.md section 6), so with ``activation=True`` we
  refuse what the chip cannot store: threshold outside the signed 20-bit range (24-bit on
  InputConvolutional) and act_step >= 2**16 (2**20 on InputConvolutional). With
  ``activation=False`` the chip outputs raw potentials and these two variables only serve
  ``predict()`` in software, so only act_step >= 1/16 (and finite) is enforced.
* Saturation of potentials to the signed 20-bit range [-2**19, 2**19 - 1]: FullyConnected
  (after exact summation) and every POOLED potential (Max or Average). Unpooled convolutional
  potentials (InputConvolutional, Convolutional, SeparableConvolutional) are exact int32 (measured
  up to 7.6e8). Max pooling returns the saturated maximum. Global average pooling (PoolType.Average)
  does not divide: it accumulates the exact potentials of the H x W positions in row-major order
  (h outer, w inner) into a 20-bit SATURATING accumulator, i.e. ``acc = clip(acc + P[h, w])`` at
  each step (measured: potentials +975360 then -960120 give -435833, not 15240).
* ``Model.predict`` (last layer without activation) returns
  ``float32(P - threshold) / act_step`` computed in float32 (differs from a float64 division on
  large potentials), with the raw act_step (not truncated to 1/16). The runtime's ``predict``
  refuses a model whose last layer has an activation.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

#: Weight bitwidths BrainChip's runtime accepts on inner layers (Convolutional, Separable,
#: FullyConnected); 1 means binary {0, 1} weights.
INNER_WEIGHTS_BITS = (1, 2, 4, 8)
#: Weight bitwidths accepted on InputConvolutional (the runtime accepts any value).
INPUT_WEIGHTS_BITS = tuple(range(1, 9))
#: Weight bitwidths the Akida 1.0 chip itself maps, per Akida layer kind (docs/akida-v1.md
#: section 6); the runtime accepts more (8-bit inner weights).
CHIP_WEIGHTS_BITS = {"input": (1, 2, 4, 8), "conv": (1, 2, 4), "separable": (2, 4),
                     "dense": (1, 2, 4)}
#: Image widths the chip's input layer takes, and map widths its global average pooling sums
#: (inclusive; docs/akida-v1.md section 6).
CHIP_INPUT_WIDTH = (5, 256)
CHIP_GLOBAL_POOL_WIDTH = (1, 32)
#: Activation bitwidths.
ACT_BITS = (1, 2, 4)
#: InputData input bitwidths (no layer accepts more than 4-bit inputs).
INPUT_BITS = (1, 2, 3, 4)
#: Largest value of an image input (uint8).
IMAGE_MAX = 255

#: Signed 20-bit range of saturated potentials (FullyConnected, pooled potentials).
POTENTIAL_BITS = 20
POTENTIAL_MIN = -(2 ** (POTENTIAL_BITS - 1))
POTENTIAL_MAX = 2 ** (POTENTIAL_BITS - 1) - 1

#: Unpooled convolutional potentials are exact int32 sums (measured up to 7.6e8, no saturation).
ACCUMULATOR_BITS = 32

#: Width of the threshold and act_step registers: 24 bits on the input layer, 20 elsewhere.
INPUT_REGISTER_BITS = 24
REGISTER_BITS = 20
#: act_step is an unsigned fixed-point number with 4 fractional bits.
ACT_STEP_FRACTION_BITS = 4
#: The smallest representable act_step, 1/16.
ACT_STEP_MIN = 1.0 / 2 ** ACT_STEP_FRACTION_BITS


def weight_range(bits: int) -> tuple:
    """Inclusive (low, high) range of integer weights for ``bits`` (see module docstring).

    Arguments:
        bits: the layer's ``weights_bits`` (1..8).

    Returns:
        A tuple ``(low, high)``.

    Example:
        >>> from cnn2snn_tfmot.chip.limits import weight_range
        >>> weight_range(4)
        (-7, 7)
    """
    if bits == 1:
        return (0, 1)
    if bits == 8:
        return (-128, 127)
    kmax = 2 ** (bits - 1) - 1
    return (-kmax, kmax)


def register_bits(is_input_layer: bool) -> int:
    """Width of the threshold and act_step registers of a layer.

    Arguments:
        is_input_layer: True for InputConvolutional, False otherwise.

    Returns:
        24 for the input layer, 20 otherwise.

    Example:
        >>> from cnn2snn_tfmot.chip.limits import register_bits
        >>> register_bits(True)
        24
    """
    return INPUT_REGISTER_BITS if is_input_layer else REGISTER_BITS


def threshold_range(is_input_layer: bool) -> tuple:
    """Inclusive (low, high) threshold range of the chip's signed threshold register.

    Arguments:
        is_input_layer: True for InputConvolutional (24-bit register), False otherwise (20-bit).

    Returns:
        A tuple ``(low, high)``.

    Example:
        >>> from cnn2snn_tfmot.chip.limits import threshold_range
        >>> threshold_range(False)
        (-524288, 524287)
    """
    bits = register_bits(is_input_layer)
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def act_step_limit(is_input_layer: bool) -> float:
    """Exclusive upper bound of act_step (unsigned fixed point, 4 fractional bits).

    Arguments:
        is_input_layer: True for InputConvolutional (24-bit register), False otherwise (20-bit).

    Returns:
        ``2**20`` for the input layer, ``2**16`` otherwise.

    Example:
        >>> from cnn2snn_tfmot.chip.limits import act_step_limit
        >>> act_step_limit(False)
        65536.0
    """
    return float(2 ** (register_bits(is_input_layer) - ACT_STEP_FRACTION_BITS))


def potential_register(layer_type: str, pooled: bool) -> tuple:
    """The register that holds a layer's potentials (what the fire compares with thresholds).

    FullyConnected potentials and pooled potentials (max or global average pooling) saturate to
    the signed 20-bit range; unpooled convolutional potentials (InputConvolutional,
    Convolutional, SeparableConvolutional) are exact sums in a 32-bit accumulator (an error,
    never a wrap, beyond it).

    Arguments:
        layer_type: "InputConvolutional", "Convolutional", "SeparableConvolutional" or
            "FullyConnected".
        pooled: whether the layer pools its potentials.

    Returns:
        ``(bits, low, high, saturates)``: the signed register's width, its inclusive range and
        whether values beyond it saturate to it.

    Example:
        >>> from cnn2snn_tfmot.chip.limits import potential_register
        >>> potential_register("Convolutional", pooled=True)
        (20, -524288, 524287, True)
        >>> potential_register("Convolutional", pooled=False)[0]
        32
    """
    saturates = pooled or layer_type == "FullyConnected"
    bits = POTENTIAL_BITS if saturates else ACCUMULATOR_BITS
    return bits, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1, saturates


def register_margin(threshold: np.ndarray, act_step: np.ndarray, act_bits: Optional[int],
                    is_input_layer: bool) -> float:
    """The smallest headroom, in bits, of a layer's thresholds and act_steps in their registers
    (negative: they do not fit).

    Arguments:
        threshold: integer thresholds (F,).
        act_step: act_steps (F,).
        act_bits: the activation bits, or None for a layer without activation (its thresholds
            and act_steps only dequantize; only the act_step's resolution counts).
        is_input_layer: whether the layer is InputConvolutional (24-bit registers).

    Returns:
        ``min(log2(act_step / (1/16)), log2(limit / act_step), log2(range / |threshold|))``
        over channels; the last two only for layers with an activation; ``-inf`` for a
        non-finite or non-positive act_step.

    Example:
        >>> import numpy as np
        >>> from cnn2snn_tfmot.chip.limits import register_margin
        >>> register_margin(np.array([100]), np.float32([1.0]), act_bits=4,
        ...                 is_input_layer=False)
        4.0
    """
    act_step = np.asarray(act_step, dtype=np.float64)
    if not np.all(np.isfinite(act_step)) or np.any(act_step <= 0):
        return -math.inf
    margins = [math.log2(act_step.min() / ACT_STEP_MIN)]
    if act_bits is not None:
        margins.append(math.log2(act_step_limit(is_input_layer) / act_step.max()))
        low, high = threshold_range(is_input_layer)
        highest, lowest = int(np.max(threshold)), int(np.min(threshold))
        if highest > 0:
            margins.append(math.log2(high / highest))
        if lowest < 0:
            margins.append(math.log2(low / lowest))
    return float(min(margins))
