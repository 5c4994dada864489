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
from cnn2snn_tfmot.akida.inputs import batches, sample_count
from cnn2snn_tfmot.akida.layers import Layer

__all__ = ["Model", "dequantize"]

DEFAULT_BATCH_SIZE = 256


def dequantize(outputs, threshold, act_step, cast: Callable):
    """``float32(P - threshold) / act_step``: the dequantized output of a last layer without
    activation, as BrainChip's runtime computes it (measured bit for bit).

    One definition for every array library: ``predict`` calls it on numpy arrays, the exported
    SavedModel on graph tensors.

    Arguments:
        outputs: int32 potentials (N, ..., F).
        threshold: int64 thresholds (F,).
        act_step: float32 act_steps (F,), raw (not truncated to 1/16).
        cast: ``cast(x, dtype_name)`` of the array library, e.g. ``tf.cast``.

    Returns:
        float32 values like ``outputs``.

    Example:
        >>> cast = lambda x, dtype: np.asarray(x).astype(dtype)
        >>> dequantize(np.array([7], np.int32), np.array([1]), np.float32([4.0]), cast)
        array([1.5], dtype=float32)
    """
    return cast(cast(outputs, "int64") - threshold, "float32") / act_step


def _numpy_cast(x, dtype: str):
    return np.asarray(x).astype(dtype)


class Model:
    """A sequential Akida 1.0 model: layers with integer weights, thresholds and act_steps,
    run by the emulator engine exactly as the chip computes.

    Build one layer by layer with :meth:`add` (then ``layer.set_variable``), get one from
    ``cnn2snn_tfmot.convert(keras_model)``, or reload a file written by :meth:`save` with
    ``Model(path)``. :meth:`forward` gives the chip's outputs (uint8 levels, or int32
    potentials of a last layer without activation), :meth:`predict` the dequantized outputs,
    :meth:`evaluate` the accuracy; :meth:`to_akida` gives BrainChip's runtime model (``.fbz``).

    Arguments:
        path: optional path of a model file written by :meth:`save` (our own safe format, see
            :mod:`cnn2snn_tfmot.akida.fileformat`); None creates an empty model.

    Raises:
        AkidaModelFileError: the file is not a valid model file (a BrainChip ``.fbz`` is read
            with ``akida.Model(path)`` and :func:`cnn2snn_tfmot.akida.from_akida`).

    Example:
        >>> from cnn2snn_tfmot.akida import Model, InputConvolutional
        >>> built = Model()
        >>> built.add(InputConvolutional((28, 28, 1), (3, 3), 8, weights_bits=8, act_bits=4))
        >>> built.output_shape
        (28, 28, 8)
        >>> akida_model.save("model.akida")
        >>> reloaded = Model("model.akida")
        >>> np.array_equal(reloaded.forward(images), akida_model.forward(images))
        True
    """

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self._layers: List[Layer] = []
        self._functions: dict = {}  # engine name -> (state key, compiled function)
        self._mapping = None  # (state key, Mapping) of the last map()
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
            >>> from cnn2snn_tfmot.akida import Model, InputData, Convolutional
            >>> model = Model()
            >>> model.add(InputData((8, 8, 2), input_bits=4))
            >>> model.add(Convolutional((3, 3), 16, weights_bits=4, act_bits=4))
            >>> [layer.name for layer in model.layers]
            ['InputData_1', 'Conv_2']
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
            >>> akida_model.get_layer("conv_0").parameters.filters
            8
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
            >>> akida_model.summary()
            Model: 3 layers, input (16, 16, 1), output (1, 1, 10)
            ...
        """
        from cnn2snn_tfmot.akida.summary import summary_lines
        for line in summary_lines(self):
            print_fn(line)

    # -- mapping onto a device (cnn2snn_tfmot.akida.mapping) ------------------------------------
    def map(self, device: str = "AKD1000", hw_only: bool = False, mode: str = "all_nps"):
        """Maps the model onto a device's neural processors, as BrainChip's ``model.map``
        does, with this project's mapper (BrainChip's runtime is not needed); the result is
        kept as :attr:`mapping` and shown by :meth:`summary`.

        Arguments:
            device: "AKD1000".
            hw_only: True to require the whole model in one hardware sequence.
            mode: "all_nps" (default: the most NPs in the fewest passes), "hw_pr" (the most
                NPs) or "minimal" (the fewest NPs).

        Returns:
            A :class:`cnn2snn_tfmot.akida.Mapping`: sequences (hardware or software) with their
            passes and layers, the NPs of each layer, program bytes, ``np_counts()``.

        Raises:
            ValueError: an unknown device or mode (the message lists the valid ones).
            AkidaMappingError: with ``hw_only=True``, each layer that keeps the model off one
                hardware sequence, with the reason and a fix.

        Example:
            >>> mapping = akida_model.map("AKD1000", mode="minimal")
            >>> mapping.np_counts()["conv_0"]
            {'HRC': 1}
            >>> akida_model.mapping is mapping
            True
        """
        from cnn2snn_tfmot.akida.mapping import map_model
        mapping = map_model(self, device, hw_only, mode)
        self._mapping = (self._state_key(), mapping)
        return mapping

    @property
    def mapping(self):
        """The :class:`cnn2snn_tfmot.akida.Mapping` of the last :meth:`map`, None before it
        or after the model changed."""
        if self._mapping is None or self._mapping[0] != self._state_key():
            return None
        return self._mapping[1]

    # -- inference ---------------------------------------------------------------------------
    def forward(self, x, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                engine: Optional[str] = None) -> np.ndarray:
        """Runs the model: the last layer's uint8 levels, or int32 potentials when the last
        layer has no activation.

        Arguments:
            x: uint8 images of the model's input shape (N, H, W, C) (values within
                ``2**input_bits - 1`` for an InputData model), never cast: a numpy array, a
                ``tf.data.Dataset`` of images or of (images, labels), or any iterable of such
                batches (see :mod:`cnn2snn_tfmot.akida.inputs`). Streams are read one batch at
                a time.
            batch_size: samples per step for arrays and unbatched datasets (memory is bounded
                by one batch). Defaults to 256.
            verbose: 1 shows a progress bar, 0 (default) is silent.
            engine: None (compiled ops when available, else pure TF), "custom" or "tf".

        Returns:
            numpy array (N,) + output_shape, uint8 or int32.

        Raises:
            TypeError / ValueError: invalid input (message names the argument, what was given
                and what is expected).

        Example:
            >>> akida_model.forward(images, engine="tf").shape
            (32, 1, 1, 10)
            >>> dataset = tf.data.Dataset.from_tensor_slices(images)
            >>> akida_model.forward(dataset, batch_size=8, engine="tf").shape
            (32, 1, 1, 10)
        """
        last = self._require_layers()[-1]
        dtype = np.int32 if last.output_bits is None else np.uint8
        return self._collect(x, batch_size, verbose, engine, None, dtype)

    def predict(self, x, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
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
            >>> logits = akida_model.predict(images, engine="tf")
            >>> logits.dtype, logits.shape
            (dtype('float32'), (32, 1, 1, 10))
        """
        return self._collect(x, batch_size, verbose, engine, self._dequantizer(), np.float32)

    def evaluate(self, x, y: Optional[np.ndarray] = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 verbose: int = 0, engine: Optional[str] = None) -> float:
        """Accuracy: fraction of samples whose label equals the argmax of the flattened
        :meth:`predict` output (the dequantized logits, as the runtime's ``evaluate``; ties go to
        the first index). Streamed: only the running count is kept.

        Arguments:
            x, batch_size, verbose, engine: as for :meth:`forward`; a stream must yield
                (images, labels) batches.
            y: integer numpy array (N,) of class labels when ``x`` is an array; None when the
                labels come with ``x``.

        Returns:
            The accuracy, a float in [0, 1].

        Example:
            >>> accuracy = akida_model.evaluate(images, labels, engine="tf")
            >>> 0.0 <= accuracy <= 1.0
            True
            >>> dataset = tf.data.Dataset.from_tensor_slices((images, labels))
            >>> akida_model.evaluate(dataset, engine="tf") == accuracy
            True
        """
        if sample_count(x) is not None:
            if y is None:
                raise ValueError("evaluate needs labels: pass y (an integer array of shape "
                                 "(N,)) with an array x, or give (images, labels) batches.")
            if not isinstance(y, np.ndarray) or y.dtype.kind not in "iu":
                raise TypeError(f"y must be an integer numpy array of labels, got "
                                f"{type(y).__name__}" +
                                (f" of dtype {y.dtype}" if isinstance(y, np.ndarray) else "")
                                + ".")
        correct = total = 0
        for outputs, labels in self._stream(x, y, batch_size, verbose, engine,
                                            self._dequantizer()):
            if labels is None:
                raise ValueError("evaluate needs labels: the batches of x have none; give "
                                 "(images, labels) batches, or an array x with y.")
            guesses = outputs.reshape(outputs.shape[0], -1).argmax(axis=1)
            correct += int(np.sum(guesses == labels))
            total += outputs.shape[0]
        if total == 0:
            raise ValueError("x has no samples: accuracy is undefined.")
        return correct / total

    def statistics(self, x, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                   engine: Optional[str] = None):
        """Per-layer statistics on ``x``, in one streamed pass of the emulator: fraction of
        non-zero outputs, output events per image, potentials' range and their headroom in
        the chip's registers, thresholds' and act_steps' ranges and register margin, output
        level histogram (see :mod:`cnn2snn_tfmot.akida.statistics` for the exact definitions).

        Arguments:
            x, batch_size, verbose, engine: as for :meth:`forward` (labels, if any, are
                ignored). Memory is bounded by one batch.

        Returns:
            A :class:`cnn2snn_tfmot.akida.Statistics`: prints as a table, ``to_dict()``,
            ``to_pandas()`` (when pandas is installed), indexed by layer name.

        Example:
            >>> stats = akida_model.statistics(images, engine="tf")
            >>> stats["conv_0"].events_per_image <= stats["conv_0"].outputs_per_image
            True
        """
        from cnn2snn_tfmot.akida.statistics import model_statistics

        self._require_layers()
        return model_statistics(self, x, batch_size, verbose, engine)

    def emulator_function(self, engine: Optional[str] = None):
        """The ``tf.function`` computing this model's output for a uint8 NHWC batch.

        Built by the emulator engine on first use and kept until a layer is added or a
        variable is set.

        Arguments:
            engine: None (compiled ops when available, else pure TF), "custom" or "tf".

        Returns:
            A ``tf.function`` with input signature ``uint8 [None, H, W, C]`` returning the last
            layer's uint8 levels or int32 potentials, shape ``[None] + output_shape``.

        Example:
            >>> akida_model.emulator_function("tf").input_signature
            (TensorSpec(shape=(None, 16, 16, 1), dtype=tf.uint8, name=None),)
        """
        from cnn2snn_tfmot.engine import get_backend, graph

        self._require_layers()
        backend = get_backend(engine)
        key = self._state_key()
        cached = self._functions.get(backend.name)
        if cached is None or cached[0] != key:
            cached = (key, graph.build_function(self, backend))
            self._functions[backend.name] = cached
        return cached[1]

    def _require_layers(self) -> List[Layer]:
        if not self._layers:
            raise ValueError("the model is empty: add layers before running it.")
        return self._layers

    def _dequantizer(self) -> Callable[[np.ndarray], np.ndarray]:
        """``predict``'s post-processing of the last layer's outputs."""
        last = self._require_layers()[-1]
        if last.parameters.activation:
            return lambda out: out.astype(np.float32)
        threshold = last._value("threshold").astype(np.int64)
        act_step = last._value("act_step")
        return lambda out: dequantize(out, threshold, act_step, _numpy_cast)

    def _input_bits(self) -> Optional[int]:
        first = self._require_layers()[0]
        return first.parameters.input_bits if first.layer_type == "InputData" else None

    def _stream(self, x, y, batch_size, verbose, engine, post):
        """Yields (outputs, labels) batch by batch (``post`` applied to the outputs)."""
        from cnn2snn_tfmot.engine import direct

        self._require_layers()
        batch_size = P.check_int(batch_size, "batch_size", low=1)
        verbose = P.check_int(verbose, "verbose", choices=(0, 1, 2))
        stream = batches(x, batch_size, self.input_shape, self._input_bits(), y)
        # The direct engine (one C call per batch, no TensorFlow dispatch) when it can run the
        # model, else the TensorFlow graph of the chosen back-end.
        run = direct.runner(self, engine) or self._graph_runner(engine)
        progbar = None
        if verbose:
            from cnn2snn_tfmot.tfkeras import keras
            progbar = keras.utils.Progbar(sample_count(x), verbose=verbose, unit_name="sample")
        seen = 0
        for images, labels in stream:
            result = run(images)
            yield (result if post is None else post(result)), labels
            seen += images.shape[0]
            if progbar is not None:
                progbar.update(seen)

    def _collect(self, x, batch_size, verbose, engine, post, dtype) -> np.ndarray:
        """The outputs of every batch in one array (preallocated when the size is known)."""
        count = sample_count(x)
        shape = tuple(self.output_shape)
        if count is not None:
            output = np.empty((count,) + shape, dtype=dtype)
            start = 0
            for result, _ in self._stream(x, None, batch_size, verbose, engine, post):
                output[start:start + result.shape[0]] = result
                start += result.shape[0]
            return output
        parts = [result for result, _ in self._stream(x, None, batch_size, verbose, engine,
                                                      post)]
        return np.concatenate(parts) if parts else np.empty((0,) + shape, dtype=dtype)

    def _graph_runner(self, engine):
        from cnn2snn_tfmot.tfkeras import tf

        # The traced concrete function: calling it directly skips tf.function's dispatch, a
        # fifth of the time of a batch-1 call.
        function = self.emulator_function(engine).get_concrete_function()
        return lambda batch: function(tf.constant(batch)).numpy()

    # -- files and interop ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Writes the model to ``path`` atomically, in our versioned zip format (JSON manifest
        and .npy arrays; nothing is pickled). ``Model(path)`` reads it back bit for bit.

        Arguments:
            path: destination file (replaced atomically if it exists).

        Example:
            >>> akida_model.save("mnist.akida")
            >>> len(Model("mnist.akida").layers)
            3
        """
        from cnn2snn_tfmot.akida import fileformat
        fileformat.save(self, path)

    def to_akida(self):
        """The equivalent BrainChip runtime model (``akida.Model``), needs ``pip install akida``.

        (The example needs that optional wheel: it is not run as a doctest.)

        Returns:
            An ``akida.Model`` with the same layers and variables (its ``save("x.fbz")`` works).

        Example:
            >>> akida_model.to_akida().save("model.fbz")  # doctest: +SKIP
        """
        from cnn2snn_tfmot.akida.interop import to_akida
        return to_akida(self)
