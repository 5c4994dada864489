"""The command line: the commands of ``cnn2snn_tfmot <command> ...``.

The parser and the list of commands live in the top-level module ``cnn2snn_tfmot_cli`` (the
console script), which answers ``--help`` and ``--version`` without importing TensorFlow; each
command's work is a function of :mod:`~cnn2snn_tfmot.cli.commands`.
"""
