"""The Akida 1.0 model: layers with integer variables stored as BrainChip's runtime stores them,
a sequential ``Model`` run by the emulator engine, our safe model file, runtime interop, and
edge learning of the last layer (``AkidaUnsupervised``, ``Model.compile`` / ``fit``,
``add_learning_layer``).

The ``akida`` wheel is optional: it is imported only by ``to_akida`` / ``from_akida``.

Example:
    >>> from cnn2snn_tfmot.akida import Model, InputConvolutional, FullyConnected, PoolType
    >>> model = Model()
    >>> model.add(InputConvolutional((28, 28, 1), (3, 3), 8, weights_bits=8, act_bits=4,
    ...                              pool_type=PoolType.Max, pool_size=(2, 2)))
    >>> model.add(FullyConnected(10, weights_bits=4, activation=False))
    >>> model.output_shape
    (1, 1, 10)
"""
from cnn2snn_tfmot.akida.fileformat import AkidaModelFileError
from cnn2snn_tfmot.akida.interop import import_akida, to_akida
from cnn2snn_tfmot.akida.learning import add_learning_layer
from cnn2snn_tfmot.akida.mapping import AkidaMappingError, MappedNP, MappedSequence, Mapping
from cnn2snn_tfmot.akida.model import Model, from_akida
from cnn2snn_tfmot.akida.statistics import LayerStatistics, Statistics
from cnn2snn_tfmot.chip.enums import Padding, PoolType
from cnn2snn_tfmot.chip.layers import (
                                        Convolutional,
                                        FullyConnected,
                                        InputConvolutional,
                                        InputData,
                                        Layer,
                                        SeparableConvolutional,
)
from cnn2snn_tfmot.chip.learning import AkidaUnsupervised

__all__ = ["Model", "Layer", "InputData", "InputConvolutional", "Convolutional",
           "SeparableConvolutional", "FullyConnected", "Padding", "PoolType",
           "AkidaModelFileError", "to_akida", "from_akida", "import_akida", "Statistics",
            "LayerStatistics", "AkidaUnsupervised", "add_learning_layer", "Mapping",
           "MappedSequence", "MappedNP", "AkidaMappingError"]
