"""The Akida model: an ordered list of Akida layers, run by the emulator engine.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import Model, InputData, FullyConnected
    >>> model = Model()
    >>> model.add(InputData((1, 1, 4), input_bits=4))
    >>> model.add(FullyConnected(2, weights_bits=4, activation=False))
    >>> model.get_layer("Fully_2").set_variable(
    ...     "weights", np.ones((1, 1, 4, 2), np.int8))
    >>> model.forward(np.full((1, 1, 1, 4), 3, np.uint8), engine="tf").ravel().tolist()
    [12, 12]
"""
from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida import params as P
from cnn2snn_tfmot.akida.layers import Layer

__all__ = ["Model"]

DEFAULT_BATCH_SIZE = 256


class Model:
    """A sequential Akida 1.0 model.

    Arguments:
        path: optional path of a model file written by :meth:`save` (our own safe format, see
            :mod:`cnn2snn_tfmot.akida.fileformat`); None creates an empty model.

    Raises:
        AkidaModelFileError: the file is not a valid model file.

    Example:
        >>> model = Model()
        >>> model.add(InputConvolutional((28, 28, 1), (3, 3), 8, weights_bits=8))  # doctest: +SKIP
    """

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self._layers: List[Layer] = []
        self._graph_cache: dict = {}
        if path is not None:
            from cnn2snn_tfmot.akida import fileformat
            fileformat.read_into(self, path)

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Appends ``layer``, computing its input and output shapes.

        The first layer must be ``InputData`` or ``InputConvolutional``; those two cannot come
        later; only the last layer may have ``activation=False`` (the next layer would receive
        signed potentials). A layer with an empty name gets the runtime's style of name
        ("Conv_2"); names must be unique.

        Arguments:
            layer: an Akida layer not yet in a model.

        Raises:
            TypeError: not one of our Akida layers.
            ValueError: wrong order, duplicate name, or a kernel / pooling window that does not
                fit the input.

        Example:
            >>> model.add(Convolutional((3, 3), 16, weights_bits=4, act_bits=4))  # doctest: +SKIP
        """
        if not isinstance(layer, Layer) or type(layer) is Layer:
            hint = (" To use a BrainChip runtime model, convert it with "
                    "cnn2snn_tfmot.akida.from_akida(model).") \
                if type(layer).__module__.startswith("akida") else ""
            raise TypeError(f"Model.add expects a cnn2snn_tfmot.akida layer (InputData, "
                            f"InputConvolutional, Convolutional, SeparableConvolutional, "
                            f"FullyConnected), got {type(layer).__name__}.{hint}")
        if layer._in_model:
            raise ValueError(f"{layer._describe()} already belongs to a model; create a new "
                             f"layer with the same parameters instead.")
        self._check_order(layer)
        original_name = layer._name
        if not layer._name:
            layer._name = self._free_name(layer.name_prefix)
        elif any(other.name == layer._name for other in self._layers):
            raise ValueError(f"cannot add {layer._describe()}: the model already has a layer "
                             f"named {layer._name!r}; layer names must be unique.")
        try:
            if not layer.is_input:
                layer._bind(self._layers[-1].output_dims)
        except ValueError:
            layer._name = original_name
            raise
        layer._in_model = True
        self._layers.append(layer)

    def _check_order(self, layer: Layer) -> None:
        if not self._layers:
            if not layer.is_input:
                raise ValueError(f"cannot add {layer._describe()} first: the first layer of a "
                                 f"model must be InputData or InputConvolutional.")
            return
        if layer.is_input:
            raise ValueError(f"cannot add {layer._describe()}: {layer.layer_type} can only be "
                             f"the first layer of a model (this model starts with "
                             f"{self._layers[0]._describe()}).")
        previous = self._layers[-1]
        if previous.layer_type != "InputData" and not previous.parameters.activation:
            raise ValueError(f"cannot add {layer._describe()} after {previous._describe()}, "
                             f"whose activation is disabled: only the last layer may have "
                             f"activation=False (the next layer needs unsigned levels).")

    def _free_name(self, prefix: str) -> str:
        names = {layer.name for layer in self._layers}
        index = len(self._layers) + 1
        while f"{prefix}_{index}" in names:
            index += 1
        return f"{prefix}_{index}"

    @property
    def layers(self) -> List[Layer]:
        """The layers, in order (a new list)."""
        return list(self._layers)

    def get_layer(self, name: str) -> Layer:
        """The layer called ``name``.

        Arguments:
            name: a layer name.

        Returns:
            The layer.

        Raises:
            ValueError: no layer has that name (the message lists the names).

        Example:
            >>> model.get_layer("conv1").parameters.filters   # doctest: +SKIP
            16
        """
        for layer in self._layers:
            if layer.name == name:
                return layer
        names = ", ".join(repr(layer.name) for layer in self._layers) or "none (empty model)"
        raise ValueError(f"the model has no layer named {name!r}; its layers are: {names}.")

    @property
    def input_shape(self) -> Optional[Tuple[int, int, int]]:
        """(height, width, channels) of the model input, None for an empty model."""
        return self._layers[0].input_dims if self._layers else None

    @property
    def output_shape(self) -> Optional[Tuple[int, int, int]]:
        """(height, width, channels) of the model output, None for an empty model."""
        return self._layers[-1].output_dims if self._layers else None

    def _state_key(self) -> tuple:
        """Changes whenever a layer is added or a variable is set (graph cache key)."""
        return tuple((layer._uid, layer._version) for layer in self._layers)

    def __repr__(self) -> str:
        return (f"<cnn2snn_tfmot.akida.Model: {len(self._layers)} layers, input "
                f"{self.input_shape}, output {self.output_shape}>")

    # -- summary -----------------------------------------------------------------------------
    def summary(self, print_fn: Callable[[str], None] = print) -> None:
        """Prints a table: layer name, type, input and output shapes, kernel shape(s), weight
        bits and activation bits ("-" for int32 potentials; the input bits for InputData).

        Arguments:
            print_fn: called with each line. Defaults to ``print``.

        Example:
            >>> model.summary()   # doctest: +SKIP
        """
        from cnn2snn_tfmot.akida.summary import summary_lines
        for line in summary_lines(self):
            print_fn(line)

    # -- inference ---------------------------------------------------------------------------
    def forward(self, x: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                engine: Optional[str] = None) -> np.ndarray:
        """Runs the model: the last layer's uint8 levels, or int32 potentials when the last
        layer has no activation.

        Arguments:
            x: uint8 numpy array (N, H, W, C) of the model's input shape (values within
                ``2**input_bits - 1`` for an InputData model). Never cast: another dtype is an
                error.
            batch_size: samples per step (memory is bounded by one batch). Defaults to 256.
            verbose: 1 shows a progress bar, 0 (default) is silent.
            engine: None (compiled ops when available, else pure TF), "custom" or "tf".

        Returns:
            numpy array (N,) + output_shape, uint8 or int32.

        Raises:
            TypeError / ValueError: invalid input (message names the argument, what was given
                and what is expected).

        Example:
            >>> model.forward(images, engine="tf").shape   # doctest: +SKIP
            (100, 1, 1, 10)
        """
        return self._run(x, batch_size, verbose, engine, post=None)

    def predict(self, x: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                engine: Optional[str] = None) -> np.ndarray:
        """Dequantized outputs as float32.

        With no activation on the last layer (the usual classifier head) this is
        ``float32(P - threshold) / act_step`` per output channel, computed in float32 with the raw
        act_step, as BrainChip's runtime does (measured bit for bit). With an activation, the
        runtime refuses; we return the levels as float32 instead (so that :meth:`evaluate` works
        on any model).

        Arguments:
            x, batch_size, verbose, engine: as for :meth:`forward`.

        Returns:
            float32 numpy array (N,) + output_shape.

        Example:
            >>> logits = model.predict(images, engine="tf")   # doctest: +SKIP
        """
        last = self._require_layers()[-1]
        if last.parameters.activation:
            post = lambda out: out.astype(np.float32)  # noqa: E731
        else:
            threshold = last._value("threshold").astype(np.int64)
            act_step = last._value("act_step")

            def post(out):
                return (out.astype(np.int64) - threshold).astype(np.float32) / act_step
        return self._run(x, batch_size, verbose, engine, post=post, dtype=np.float32)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE,
                 verbose: int = 0, engine: Optional[str] = None) -> float:
        """Accuracy: fraction of samples whose label equals the argmax of the flattened
        :meth:`predict` output (the dequantized logits, as the runtime's ``evaluate``; ties go to
        the first index).

        Arguments:
            x, batch_size, verbose, engine: as for :meth:`forward`.
            y: integer numpy array (N,) of class labels.

        Returns:
            The accuracy, a float in [0, 1].

        Example:
            >>> model.evaluate(images, labels, engine="tf")   # doctest: +SKIP
            0.98
        """
        if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu":
            raise TypeError(f"y must be an integer numpy array of labels, got "
                            f"{type(y).__name__}" +
                            (f" of dtype {y.dtype}" if isinstance(y, np.ndarray) else "") + ".")
        n = _sample_count(x)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},) (one label per sample of x), got "
                             f"{y.shape}.")
        if n == 0:
            raise ValueError("x has no samples: accuracy is undefined.")
        predictions = self.predict(x, batch_size, verbose, engine)
        guesses = predictions.reshape(n, -1).argmax(axis=1)
        return float(np.mean(guesses == y))

    def _require_layers(self) -> List[Layer]:
        if not self._layers:
            raise ValueError("the model is empty: add layers before running it.")
        return self._layers

    def _run(self, x, batch_size, verbose, engine, post, dtype=None) -> np.ndarray:
        from cnn2snn_tfmot.engine import direct
        layers = self._require_layers()
        x = _check_input(x, layers[0], self.input_shape)
        batch_size = P.check_int(batch_size, "batch_size", low=1)
        verbose = P.check_int(verbose, "verbose", choices=(0, 1, 2))
        # The direct engine (one C call per batch, no TensorFlow dispatch) when it can run the
        # model, else the TensorFlow graph of the chosen back-end.
        run = direct.runner(self, engine) or self._graph_runner(engine)
        last = layers[-1]
        if dtype is None:
            dtype = np.uint8 if last.parameters.activation else np.int32
        n = x.shape[0]
        output = np.empty((n,) + tuple(self.output_shape), dtype=dtype)
        progbar = None
        if verbose:
            from cnn2snn_tfmot._keras import keras
            progbar = keras.utils.Progbar(n, verbose=verbose, unit_name="sample")
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            result = run(x[start:stop])
            output[start:stop] = result if post is None else post(result)
            if progbar is not None:
                progbar.update(stop)
        return output

    def _graph_runner(self, engine):
        from cnn2snn_tfmot._keras import tf
        from cnn2snn_tfmot.engine.graph import model_function
        # The traced concrete function: calling it directly skips tf.function's dispatch, a
        # fifth of the time of a batch-1 call.
        function = model_function(self, engine).get_concrete_function()
        return lambda batch: function(tf.constant(batch)).numpy()

    # -- files and interop ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Writes the model to ``path`` atomically, in our versioned zip format (JSON manifest
        and .npy arrays; nothing is pickled). ``Model(path)`` reads it back bit for bit.

        Arguments:
            path: destination file (replaced atomically if it exists).

        Example:
            >>> model.save("mnist.akida.zip")   # doctest: +SKIP
        """
        from cnn2snn_tfmot.akida import fileformat
        fileformat.save(self, path)

    def to_akida(self):
        """The equivalent BrainChip runtime model (``akida.Model``), needs ``pip install akida``.

        Returns:
            An ``akida.Model`` with the same layers and variables (its ``save("x.fbz")`` works).

        Example:
            >>> model.to_akida().save("model.fbz")   # doctest: +SKIP
        """
        from cnn2snn_tfmot.akida.interop import to_akida
        return to_akida(self)


def _sample_count(x) -> int:
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) < 1:
        raise TypeError(f"x must be a uint8 numpy array (N, H, W, C), got "
                        f"{type(x).__name__}.")
    return int(shape[0])


def _check_input(x, first: Layer, input_shape) -> np.ndarray:
    expected = f"a uint8 numpy array of shape (N, {', '.join(map(str, input_shape))})"
    if not isinstance(x, np.ndarray):
        if hasattr(x, "numpy") and getattr(getattr(x, "dtype", None), "name", "") == "uint8":
            x = x.numpy()  # an eager uint8 tf.Tensor: same values, no cast
        else:
            raise TypeError(f"x must be {expected}, got {type(x).__name__}.")
    if x.dtype != np.uint8:
        raise TypeError(f"x must be {expected}, got dtype {x.dtype}. Akida inputs are unsigned "
                        f"8-bit integers and are never cast silently: quantize the data "
                        f"explicitly (e.g. images in 0..255 with x.astype(np.uint8)).")
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(input_shape):
        hint = " (for one sample, use x[None])" if tuple(x.shape) == tuple(input_shape) else ""
        raise ValueError(f"x must be {expected}, got shape {x.shape}{hint}.")
    if first.layer_type == "InputData" and x.size:
        high = 2 ** first.parameters.input_bits - 1
        found = int(x.max())
        if found > high:
            raise ValueError(f"x has values up to {found} but layer '{first.name}' has "
                             f"input_bits={first.parameters.input_bits}: inputs must be in "
                             f"[0, {high}].")
    return x
