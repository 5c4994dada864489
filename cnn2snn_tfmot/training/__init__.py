"""Training toward the chip: callbacks, hardware-exact training, TensorBoard views.

:mod:`~cnn2snn_tfmot.training.callbacks` keeps a model within what Akida can run while it
trains (``GammaClipping``, ``ScaleFactorMonitor``); :mod:`~cnn2snn_tfmot.training.exact` makes a
quantized model compute the chip's integers (``hardware_exact``);
:mod:`~cnn2snn_tfmot.training.tensorboard` shows the integer weights and register margins;
:mod:`~cnn2snn_tfmot.training.schedule` lowers bitwidths during training (``BitwidthSchedule``)
and :mod:`~cnn2snn_tfmot.training.distillation` distills the float model into the quantized one
(``distill``).

Example:
    >>> from cnn2snn_tfmot.training import GammaClipping
    >>> GammaClipping(min_value=0.05).min_value
    0.05
"""
from cnn2snn_tfmot.training.callbacks import (
    AkidaRegisterWarning,
    GammaClipping,
    MinValueConstraint,
    ScaleFactorMonitor,
    add_gamma_constraint,
)
from cnn2snn_tfmot.training.distillation import Distiller, distill
from cnn2snn_tfmot.training.exact import hardware_exact
from cnn2snn_tfmot.training.schedule import BitwidthSchedule, BitwidthStage
from cnn2snn_tfmot.training.tensorboard import AkidaTensorBoard

__all__ = ["GammaClipping", "ScaleFactorMonitor", "MinValueConstraint", "add_gamma_constraint",
           "AkidaRegisterWarning", "AkidaTensorBoard", "hardware_exact", "BitwidthSchedule",
           "BitwidthStage", "distill", "Distiller"]
