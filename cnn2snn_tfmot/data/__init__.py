"""Data and models: the shipped MNIST set, image files, the model zoo."""
