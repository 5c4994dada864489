"""From a quantized Keras model to an Akida model: blocks, registers, compatibility, convert, export."""
