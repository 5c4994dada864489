"""The model zoo: float networks built to be Akida-compatible, and pretrained models shipped in
the package (nothing is downloaded).

* :mod:`~cnn2snn_tfmot.data.zoo.networks`: the float Keras networks (``mnist_cnn``,
  ``cifar_separable_cnn``, ``cifar_vgg``, ``deep_separable_cnn``, ``akidanet_like``...);
* :mod:`~cnn2snn_tfmot.data.zoo.pretrained`: :func:`pretrained` gives a trained float model,
  its quantized model and the converted Akida model, with the input scaling, the class names
  and what the training measured; :func:`pretrained_names` lists them.

Example:
    >>> from cnn2snn_tfmot import zoo
    >>> "mnist" in zoo.pretrained_names()
    True
    >>> zoo.mnist_cnn().count_params()
    39306
"""
from cnn2snn_tfmot.data.zoo.networks import (
    akidanet_like,
    calibrate_batchnorm,
    cifar_separable_cnn,
    cifar_vgg,
    deep_separable_cnn,
    mnist_cnn,
)
from cnn2snn_tfmot.data.zoo.pretrained import (
    Pretrained,
    PretrainedModelError,
    pretrained,
    pretrained_names,
)

__all__ = ["mnist_cnn", "cifar_separable_cnn", "cifar_vgg", "deep_separable_cnn",
           "akidanet_like", "calibrate_batchnorm", "pretrained", "pretrained_names", "Pretrained",
           "PretrainedModelError"]
