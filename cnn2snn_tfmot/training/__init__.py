"""Training toward the chip: callbacks, hardware-exact training, TensorBoard views."""
