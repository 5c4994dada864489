"""Akida 1.0 as measured: the layers and their integer variables, value limits and model rules."""
