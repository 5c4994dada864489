"""Data and models: the MNIST test set shipped in the package, image files, the model zoo.

* :mod:`~cnn2snn_tfmot.data.datasets`: the shipped MNIST test set and a strict IDX reader;
* :mod:`~cnn2snn_tfmot.data.image_files` and :mod:`~cnn2snn_tfmot.data.datafiles`: images from
  files (arrays, IDX, TFRecord, image folders) as the uint8 batches an Akida model takes;
* :mod:`~cnn2snn_tfmot.data.zoo`: float Keras models built to be Akida-compatible.

Example:
    >>> from cnn2snn_tfmot.data import datasets
    >>> images, labels = datasets.load_mnist()
    >>> images.shape, images.dtype
    ((10000, 28, 28, 1), dtype('uint8'))
"""
from cnn2snn_tfmot.data import datafiles, datasets, image_files, zoo

__all__ = ["datasets", "image_files", "datafiles", "zoo"]
