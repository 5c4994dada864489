"""The command line: the commands of ``cnn2snn_tfmot <command> ...``.

The one table of the commands (their help, arguments, and the function that runs each) lives in
the top-level module ``cnn2snn_tfmot_cli`` (the console script), which answers ``--help`` and
``--version`` without importing TensorFlow; each command's work is a function of
:mod:`~cnn2snn_tfmot.cli.commands`, named there as a string and imported when the command runs.
The package never imports ``cnn2snn_tfmot_cli``.
"""
