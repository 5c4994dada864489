"""The command line: the commands of ``cnn2snn_tfmot <command>``."""
