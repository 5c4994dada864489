"""Keras models rewritten through one chain of layer specs: quantize, transforms, sanitize, adapt."""
