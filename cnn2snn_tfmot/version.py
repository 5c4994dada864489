"""The package's version, in one place: the package, its file formats and its reports say it.

Example:
    >>> from cnn2snn_tfmot.version import __version__
    >>> __version__.count(".")
    2
"""
__version__ = "0.2.0"
