"""Seeing inside: Keras-vs-Akida comparison, plots, the HTML report."""
