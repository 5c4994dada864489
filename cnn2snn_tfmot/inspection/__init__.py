"""Seeing inside: Keras-vs-Akida comparison, figures, and one HTML report.

:mod:`~cnn2snn_tfmot.inspection.comparison` measures how often the converted model decides as the
Keras model does; :mod:`~cnn2snn_tfmot.inspection.plots` draws quantization and activity figures
(matplotlib, the ``plot`` extra); :func:`report` puts them on one page. The Akida model's own
per-layer statistics are :meth:`cnn2snn_tfmot.akida.Model.statistics`.

Example:
    >>> from cnn2snn_tfmot.inspection import report
    >>> report.__name__
    'report'
"""
from cnn2snn_tfmot.inspection import comparison, plots
from cnn2snn_tfmot.inspection.html_report import Report, report

__all__ = ["report", "Report", "comparison", "plots"]
