"""What a quantized Keras model is made of: quantizers, quantized layers, TFMOT configs, input scaling, the layer table."""
