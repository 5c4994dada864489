"""Lowering bitwidths step by step during one ``fit``: :class:`BitwidthSchedule`.

BrainChip's low-bit recipes train in stages (float, then 4-bit activations, then 4-bit weights,
then the last activations down to 1 bit), and TFMOT's users are told to lower bitwidths
gradually. ``BitwidthSchedule`` does it inside one ``fit``: at the start of the epochs it is
given, it lowers every activation, every weight (but the input layer's), or named layers, and
logs each change.

How a built model changes bitwidth: a bitwidth is a Python attribute of the quantizers and
quantized activations, not a variable, so that the training graph keeps integer constants (the
chip's levels and ranges) and every variable keeps its shape (a per-channel step stays one
value per channel). The schedule changes the attributes in place
(``set_bitwidth``), re-initialises the learned steps of what changed (weight steps from the
weights, by the quantizer's method; activation steps from ``calibration_data`` when given, else
multiplied by ``sqrt(old levels / new levels)``, LSQ's initial ratio; a ``QuantizedReLU``'s
threshold and step follow the ratio of the default steps), lets a hardware-exact network read
its blocks again, and makes Keras trace the training, evaluation and prediction functions
again. Optimizer state, weights and every other variable are kept. The saved model's config
carries the new bitwidths.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.training.schedule import BitwidthSchedule
    >>> from cnn2snn_tfmot import hardware_exact, keras, quantize
    >>> float_model = keras.Sequential([keras.Input((8, 8, 1)),
    ...     keras.layers.Conv2D(4, 3, name="conv"), keras.layers.ReLU(name="relu"),
    ...     keras.layers.Flatten(), keras.layers.Dense(3, name="dense")])
    >>> exact = hardware_exact(quantize(float_model, 4, 4, 8), input_scaling=(255, 0))
    >>> exact.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> schedule = BitwidthSchedule([{"epoch": 1, "activations": 2},
    ...                              {"epoch": 2, "weights": 2}])
    >>> x = np.random.default_rng(0).integers(0, 256, (16, 8, 8, 1)) / 255
    >>> _ = exact.fit(x, np.arange(16) % 3, epochs=3, verbose=0, callbacks=[schedule])
    BitwidthSchedule, epoch 2: activations 4 -> 2 bits: relu
    BitwidthSchedule, epoch 3: weights 4 -> 2 bits: dense
    >>> [(change["layer"], change["after"]) for change in schedule.changes]
    [('relu', 2), ('dense', 2)]
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
import tensorflow_model_optimization as tfmot

from cnn2snn_tfmot.distributed.cluster import is_chief
from cnn2snn_tfmot.quantization.configs import NeuralQuantizeConfig, ReLUQuantizeConfig
from cnn2snn_tfmot.quantization.layers import QuantizedActivation, QuantizedLayerMixin
from cnn2snn_tfmot.quantization.learned import initialize_steps
from cnn2snn_tfmot.quantization.quantizers import (
    check_activation_bitwidth,
    check_weight_bitwidth,
)
from cnn2snn_tfmot.rewriting.chain import single_branch_layers
from cnn2snn_tfmot.tfkeras import keras
from cnn2snn_tfmot.training.distillation import trained_model
from cnn2snn_tfmot.training.exact import HardwareExactNetwork

__all__ = ["BitwidthSchedule", "BitwidthStage"]

_QuantizeWrapper = tfmot.quantization.keras.QuantizeWrapper


@dataclasses.dataclass(frozen=True)
class BitwidthStage:
    """One step of a :class:`BitwidthSchedule`: the bitwidths set at the start of an epoch.

    Arguments:
        epoch: the epoch it applies at, counted from 0 as Keras counts (``epoch=2`` is the
            third epoch, "Epoch 3/N" in Keras's progress bar).
        activations: the new bitwidth of every quantized activation, or None.
        weights: the new weight bitwidth of every neural layer but the first (the input layer
            keeps its bits, e.g. 8; name it in ``layers`` to change it), or None.
        layers: ``{layer name: bitwidth}``: weight bits for a neural layer, activation bits
            for an activation; applied after ``activations`` and ``weights``.

    Example:
        >>> from cnn2snn_tfmot.training.schedule import BitwidthStage
        >>> BitwidthStage(4, layers={"separable_4_relu": 1}).layers
        {'separable_4_relu': 1}
    """
    epoch: int
    activations: Optional[int] = None
    weights: Optional[int] = None
    layers: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        if isinstance(self.epoch, bool) or not isinstance(self.epoch, (int, np.integer)) \
                or self.epoch < 0:
            raise ValueError(f"BitwidthStage: `epoch` must be a non-negative epoch index "
                             f"(counted from 0); got {self.epoch!r}.")
        if self.activations is not None:
            check_activation_bitwidth(self.activations, "activations")
        if self.weights is not None:
            check_weight_bitwidth(self.weights, "weights")
        if not isinstance(self.layers, Mapping):
            raise ValueError(f"BitwidthStage: `layers` must map layer names to bitwidths; got "
                             f"{self.layers!r}.")
        object.__setattr__(self, "layers", dict(self.layers))


@dataclasses.dataclass
class _Part:
    """A quantized part of a model whose bitwidth the schedule can change."""
    name: str
    kind: str  # "weights" or "activations"
    bits: Callable[[], int]
    change: Callable[[int], None]


def _weight_part(name: str, pairs: list) -> _Part:
    """pairs: (quantizer, kernel variable) of one neural layer."""
    def change(bits: int) -> None:
        check_weight_bitwidth(bits, f"weight bitwidth of layer '{name}'")
        for quantizer, kernel in pairs:
            quantizer.set_bitwidth(bits, kernel)

    return _Part(name, "weights", lambda: max(q.bitwidth for q, _ in pairs), change)


def _parts(model) -> List[_Part]:
    layers = []
    for layer in single_branch_layers(model, "BitwidthSchedule"):
        inner = getattr(layer, "akida_layers", None)
        layers += list(inner) if inner is not None else [layer]
    parts = []
    for layer in layers:
        config = getattr(layer, "quantize_config", None)
        if isinstance(layer, QuantizedLayerMixin):
            pairs = [(getattr(layer, k.quantizer), getattr(layer, k.attribute))
                     for k in layer.quantized_kernels]
        elif isinstance(layer, _QuantizeWrapper) and isinstance(config, NeuralQuantizeConfig):
            pairs = [(getattr(config, k.quantizer), getattr(layer.layer, k.attribute))
                     for k in config.kernel_description.kernels]
            layer = layer.layer
        elif isinstance(layer, QuantizedActivation):
            parts.append(_Part(layer.name, "activations",
                               lambda layer=layer: layer.bitwidth, layer.set_bitwidth))
            continue
        elif isinstance(layer, _QuantizeWrapper) and isinstance(config, ReLUQuantizeConfig):
            quantizer, variables = config.quantizer, layer._output_quantizer_vars
            parts.append(_Part(
                layer.layer.name, "activations", lambda quantizer=quantizer: quantizer.bitwidth,
                lambda bits, quantizer=quantizer, variables=variables:
                    quantizer.set_bitwidth(bits, variables)))
            continue
        else:
            continue
        if any(quantizer.bitwidth for quantizer, _ in pairs):  # float layers have no bits
            parts.append(_weight_part(layer.name, pairs))
    return parts


def _as_stage(stage) -> BitwidthStage:
    if isinstance(stage, BitwidthStage):
        return stage
    if isinstance(stage, Mapping):
        unknown = set(stage) - {"epoch", "activations", "weights", "layers"}
        if unknown or "epoch" not in stage:
            raise ValueError(f"BitwidthSchedule: a stage is a BitwidthStage or a dict with "
                             f"'epoch' and any of 'activations', 'weights', 'layers'; got "
                             f"{dict(stage)!r}.")
        return BitwidthStage(**stage)
    raise TypeError(f"BitwidthSchedule: a stage is a BitwidthStage or a dict; got "
                    f"{type(stage).__name__}.")


class BitwidthSchedule(keras.callbacks.Callback):
    """Lowers bitwidths step by step during one ``fit`` (see the module docstring).

    At the start of each stage's epoch, the stage's bitwidths are set (activations, then
    weights, then named layers), one line per change is printed (by the chief of a
    multi-worker job) and recorded in :attr:`changes`, and the epoch's logs get
    ``act_bits`` and ``weight_bits`` (the mean bitwidths, for CSVLogger / TensorBoard). Each
    stage applies once; a stage whose epoch has passed when training (re)starts applies at
    the first epoch. It works on seed-style and TFMOT-quantized models, on ``hardware_exact``
    models (which check that the chip runs the new bitwidths) and on the student of
    :func:`~cnn2snn_tfmot.training.distillation.distill`.

    Arguments:
        stages: :class:`BitwidthStage` objects or dicts of their arguments, e.g.
            ``[{"epoch": 3, "activations": 2}, {"epoch": 6, "weights": 2},
            {"epoch": 9, "layers": {"separable_4_relu": 1}}]``.
        calibration_data: a batch of inputs from which the learned activation steps
            (``LearnedStepReLU``, ``LearnedActivationQuantizer``) that change restart, as
            ``initialize_steps`` does (a few hundred examples), or None.
        verbose: 1 to print the changes, 0 to keep them silent (still recorded).

    Example:
        >>> from cnn2snn_tfmot.training.schedule import BitwidthSchedule
        >>> BitwidthSchedule([{"epoch": 2, "activations": 2}]).stages[0].activations
        2
    """

    def __init__(self, stages: Sequence[Union[BitwidthStage, dict]], calibration_data=None,
                 verbose: int = 1):
        super().__init__()
        self.stages = sorted((_as_stage(stage) for stage in stages), key=lambda s: s.epoch)
        if not self.stages:
            raise ValueError("BitwidthSchedule: `stages` is empty; give at least one stage.")
        self.calibration_data = calibration_data
        self.verbose = int(verbose)
        #: Every change made: dicts with epoch, layer, kind ("weights"/"activations"), before,
        #: after.
        self.changes: List[Dict[str, object]] = []
        self._applied = [False] * len(self.stages)

    def on_train_begin(self, logs=None):
        parts = _parts(trained_model(self.model))
        names = {part.name for part in parts}
        for stage in self.stages:
            unknown = sorted(set(stage.layers) - names)
            if unknown:
                raise ValueError(f"BitwidthSchedule: the stage of epoch {stage.epoch} names "
                                 f"{unknown}, which are not quantized layers of model "
                                 f"'{trained_model(self.model).name}'; its quantized layers "
                                 f"are {sorted(names)}.")

    def on_epoch_begin(self, epoch, logs=None):
        due = [index for index, stage in enumerate(self.stages)
               if not self._applied[index] and stage.epoch <= epoch]
        if not due:
            return
        model = trained_model(self.model)
        parts = _parts(model)
        changes = []
        for index in due:
            changes += self._apply(self.stages[index], parts, epoch)
            self._applied[index] = True
        if not changes:
            return
        for layer in model.submodules:
            if isinstance(layer, HardwareExactNetwork):
                layer.update_blocks()
        changed = [c["layer"] for c in changes if c["kind"] == "activations"]
        if self.calibration_data is not None and changed:
            initialize_steps(model, self.calibration_data, weights=False, layers=changed)
        # The bitwidths are constants of the traced functions: trace them again.
        self.model.train_function = self.model.make_train_function(force=True)
        self.model.test_function = None
        self.model.predict_function = None
        self.changes += changes
        if self.verbose and is_chief(self.model.distribute_strategy):
            self._print(changes, epoch)

    def _apply(self, stage: BitwidthStage, parts: List[_Part], epoch: int) -> list:
        wanted: Dict[str, int] = {}
        first_neural = next((part.name for part in parts if part.kind == "weights"), None)
        for part in parts:
            if part.kind == "activations" and stage.activations is not None:
                wanted[part.name] = stage.activations
            if part.kind == "weights" and stage.weights is not None \
                    and part.name != first_neural:
                wanted[part.name] = stage.weights
        wanted.update(stage.layers)
        changes = []
        for part in parts:
            if part.name not in wanted or part.bits() == wanted[part.name]:
                continue
            before = part.bits()
            part.change(wanted[part.name])
            changes.append({"epoch": epoch, "layer": part.name, "kind": part.kind,
                            "before": before, "after": wanted[part.name]})
        return changes

    @staticmethod
    def _print(changes: list, epoch: int) -> None:
        groups: Dict[tuple, List[str]] = {}
        for change in changes:
            key = (change["kind"], change["before"], change["after"])
            groups.setdefault(key, []).append(change["layer"])
        for (kind, before, after), names in groups.items():
            print(f"BitwidthSchedule, epoch {epoch + 1}: {kind} {before} -> {after} bits: "
                  f"{', '.join(names)}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        parts = _parts(trained_model(self.model))
        for kind, key in (("activations", "act_bits"), ("weights", "weight_bits")):
            bits = [part.bits() for part in parts if part.kind == kind]
            if bits:
                logs[key] = float(np.mean(bits))

    def get_config(self) -> dict:
        return {"stages": [dataclasses.asdict(stage) for stage in self.stages],
                "verbose": self.verbose}
