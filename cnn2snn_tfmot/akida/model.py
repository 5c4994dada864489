"""The Akida model: an ordered list of Akida layers, run by the emulator.

The model owns what it derives from its layers, in one cache under one lock, keyed by the state
of its layers (a layer added or a variable set makes a new key): the lowered layers
(:mod:`cnn2snn_tfmot.chip.lowering`), the graph functions of each back-end, the probe and
statistics functions, and the direct back-end's plan.

Example:
    >>> import numpy as np
    >>> from cnn2snn_tfmot.akida import Model, InputData, FullyConnected
    >>> model = Model()
    >>> model.add(InputData((1, 1, 4), input_bits=4))
    >>> model.add(FullyConnected(2, weights_bits=4, activation=False))
    >>> model.get_layer("Fully_2").set_variable(
    ...     "weights", np.ones((1, 1, 4, 2), np.int8))
    >>> model.forward(np.full((1, 1, 1, 4), 3, np.uint8), backend="tf").ravel().tolist()
    [12, 12]
"""
from __future__ import annotations

import os
import threading
from typing import Callable, List, Optional, Tuple

import numpy as np

from cnn2snn_tfmot.akida import fileformat, interop
from cnn2snn_tfmot.akida.inputs import batches, sample_count
from cnn2snn_tfmot.akida.mapping import Mapping, map_model
from cnn2snn_tfmot.akida.statistics import model_statistics
from cnn2snn_tfmot.akida.summary import summary_lines
from cnn2snn_tfmot.chip import params as P
from cnn2snn_tfmot.chip.layers import Layer
from cnn2snn_tfmot.chip.learning import (
    INT32_MAX,
    AkidaUnsupervised,
    Learner,
    check_labels,
    check_learnable,
    initial_learning_variables,
    spike_rows,
)
from cnn2snn_tfmot.chip.lowering import LoweredLayer, lower
from cnn2snn_tfmot.engine import (
    GRAPH_BACKENDS,
    OpLibraryUnavailable,
    direct,
    get_backend,
    graph,
    probe,
    resolve_backend,
)
from cnn2snn_tfmot.engine.choice import BackendChoice
from cnn2snn_tfmot.engine.direct import DirectPlan, DirectUnsupported
from cnn2snn_tfmot.engine.learning import learning_rule
from cnn2snn_tfmot.tfkeras import keras, tf

__all__ = ["Model", "dequantize", "from_akida"]

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
        >>> import numpy as np
        >>> from cnn2snn_tfmot.akida.model import dequantize
        >>> cast = lambda x, dtype: np.asarray(x).astype(dtype)
        >>> dequantize(np.array([7], np.int32), np.array([1]), np.float32([4.0]), cast)
        array([1.5], dtype=float32)
    """
    return cast(cast(outputs, "int64") - threshold, "float32") / act_step


def _numpy_cast(x, dtype: str):
    return np.asarray(x).astype(dtype)


class Model:
    """A sequential Akida 1.0 model: layers with integer weights, thresholds and act_steps,
    run by the emulator exactly as the chip computes.

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
        >>> import numpy as np
        >>> from cnn2snn_tfmot.data.examples import example_models
        >>> model, model_quantized, akida_model, images, labels = example_models()
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
        # What the model derives from its layers: {what: (layers' state, value)}. Reentrant:
        # a graph is built from the lowered layers, which are in the cache too.
        self._cache: dict = {}
        self._cache_lock = threading.RLock()
        self._class_names: Optional[Tuple[str, ...]] = None
        # Edge learning (compile / fit): the optimizer, and the round-robin register with the
        # layers' state it belongs to (a variable set since then resets it, as on the runtime).
        self._optimizer: Optional[AkidaUnsupervised] = None
        self._register: Tuple[Optional[tuple], int] = (None, 0)
        if path is not None:
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
        if layer.in_model:
            raise ValueError(f"{layer.label} already belongs to a model; create a new layer "
                             f"with the same parameters instead.")
        if self._optimizer is not None:
            raise ValueError(f"cannot add {layer.label}: the model is compiled for learning "
                             f"and only its last layer '{self._layers[-1].name}' learns; add "
                             f"every layer before compile().")
        self._check_order(layer)
        if layer.name and any(other.name == layer.name for other in self._layers):
            raise ValueError(f"cannot add {layer.label}: the model already has a layer "
                             f"named {layer.name!r}; layer names must be unique.")
        layer.attach(None if layer.is_input else self._layers[-1].output_dims,
                     self._free_name(layer.name_prefix))
        self._layers.append(layer)

    def _check_order(self, layer: Layer) -> None:
        if not self._layers:
            if not layer.is_input:
                raise ValueError(f"cannot add {layer.label} first: the first layer of a "
                                 f"model must be InputData or InputConvolutional.")
            return
        if layer.is_input:
            raise ValueError(f"cannot add {layer.label}: {layer.layer_type} can only be "
                             f"the first layer of a model (this model starts with "
                             f"{self._layers[0].label}).")
        previous = self._layers[-1]
        if previous.layer_type != "InputData" and not previous.parameters.activation:
            raise ValueError(f"cannot add {layer.label} after {previous.label}, "
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
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
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

    @property
    def class_names(self) -> Optional[Tuple[str, ...]]:
        """The names of the classes the outputs score, in output order, or None.

        Kept by the model file (:meth:`save`), given by ``convert(..., class_names=...)`` and
        by the pretrained models; the command line's ``predict`` prints them. Setting it
        checks that there is one unique, non-empty name per output, or, for a model compiled
        for edge learning (:meth:`compile`), one per class it learns (the classes
        :meth:`predict_classes` returns, ``neurons_per_class`` outputs each).

        Example:
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4), input_bits=4))
            >>> model.add(FullyConnected(2, weights_bits=4, activation=False))
            >>> model.class_names = ["cat", "dog"]
            >>> model.class_names
            ('cat', 'dog')
        """
        return self._class_names

    @class_names.setter
    def class_names(self, names) -> None:
        if names is None:
            self._class_names = None
            return
        if isinstance(names, (str, bytes)) or not hasattr(names, "__iter__"):
            raise TypeError(f"class_names must be a list of strings, one per output; got "
                            f"{type(names).__name__}.")
        names = tuple(names)
        outputs = int(np.prod(self._require_layers()[-1].output_dims))
        bad = [name for name in names if not isinstance(name, str) or not name.strip()]
        if bad:
            raise TypeError(f"class_names must be non-empty strings; got {bad[0]!r}.")
        # A learning layer scores each class with a block of neurons: one name per class.
        classes = None if self._optimizer is None else self._optimizer.num_classes
        if len(names) not in (outputs, classes):
            per_class = "" if classes is None else f" or one per learned class ({classes})"
            raise ValueError(f"class_names has {len(names)} names but the model has {outputs} "
                             f"outputs: give one name per output{per_class}.")
        if len(set(names)) != len(names):
            duplicate = next(name for name in names if names.count(name) > 1)
            raise ValueError(f"class_names must be unique; {duplicate!r} appears twice.")
        self._class_names = names

    @property
    def input_bits(self) -> Optional[int]:
        """The bits of the input values: ``input_bits`` of a first InputData layer, None for
        an InputConvolutional first layer (uint8 images).

        Example:
            >>> from cnn2snn_tfmot.akida import InputData, Model
            >>> model = Model()
            >>> model.add(InputData((4, 4, 1), input_bits=2))
            >>> model.input_bits
            2
        """
        first = self._require_layers()[0]
        return first.parameters.input_bits if first.layer_type == "InputData" else None

    # -- what the model derives from its layers: one cache, one lock ---------------------------
    def _layers_state(self, count: Optional[int] = None) -> tuple:
        """The state of the first ``count`` layers (all by default): it changes when one of
        them has a variable set."""
        return tuple(layer.state for layer in self._layers[:count])

    def _derived(self, what, build: Callable, count: Optional[int] = None):
        """``build()``, kept until a layer is added or a variable is set (errors too); with
        ``count``, until one of the first ``count`` layers changes."""
        state = self._layers_state(count)
        with self._cache_lock:
            cached = self._cache.get(what)
            if cached is None or cached[0] != state:
                try:
                    value = (False, build())
                except DirectUnsupported as err:  # a property of the model, as a value is
                    value = (True, err)
                cached = (state, value)
                self._cache[what] = cached
        failed, value = cached[1]
        if failed:
            raise value
        return value

    def lowered(self) -> Tuple[LoweredLayer, ...]:
        """The layers as the emulator runs them (:mod:`cnn2snn_tfmot.chip.lowering`): kernels in
        cross-correlation orientation, dense rows in NHWC order, pooling and fire.

        Returns:
            One read-only :class:`~cnn2snn_tfmot.chip.lowering.LoweredLayer` per layer.

        Example:
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> [(layer.kind, layer.kernel.shape) for layer in model.lowered()]
            [('conv', (3, 3, 1, 4))]
        """
        return self._derived("lowered", lambda: lower(self._require_layers()))

    def _graph(self, what: str, build: Callable, backend: Optional[str]):
        module = get_backend(resolve_backend(backend, allowed=GRAPH_BACKENDS))
        return self._derived((what, module.name),
                             lambda: build(self.lowered(), self.input_shape, module))

    def emulator_function(self, backend: Optional[str] = None, *, engine: Optional[str] = None):
        """The ``tf.function`` computing this model's output for a uint8 NHWC batch.

        Built by the emulator on first use and kept until a layer is added or a variable is
        set.

        Arguments:
            backend: a graph back-end: None (the compiled ops when they load, else pure TF),
                "custom" or "tf" (see :mod:`cnn2snn_tfmot.engine`).
            engine: the former name of ``backend``, still accepted.

        Returns:
            A ``tf.function`` with input signature ``uint8 [None, H, W, C]`` returning the last
            layer's uint8 levels or int32 potentials, shape ``[None] + output_shape``.

        Example:
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> model.emulator_function("tf").input_signature
            (TensorSpec(shape=(None, 8, 8, 1), dtype=tf.uint8, name=None),)
        """
        return self._graph("function", graph.build_function, resolve_backend(
            backend, engine, GRAPH_BACKENDS))

    def probe_function(self, backend: Optional[str] = None):
        """The ``tf.function`` giving every layer's potentials and outputs for a uint8 batch
        (see :func:`cnn2snn_tfmot.engine.probe.build_probe`), kept like
        :meth:`emulator_function`.

        Arguments:
            backend: a graph back-end: None, "custom" or "tf".

        Returns:
            A ``tf.function`` returning one dict per layer: ``"potentials"`` and ``"outputs"``.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> images = np.zeros((2, 8, 8, 1), np.uint8)
            >>> np.array_equal(model.probe_function("tf")(images)[-1]["outputs"],
            ...                model.forward(images))
            True
        """
        return self._graph("probe", probe.build_probe, backend)

    def statistics_function(self, backend: Optional[str] = None):
        """The ``tf.function`` reducing a uint8 batch to per-layer figures in the graph (see
        :func:`cnn2snn_tfmot.engine.probe.build_statistics`), kept like
        :meth:`emulator_function`; :meth:`statistics` streams data through it.

        Arguments:
            backend: a graph back-end: None, "custom" or "tf".

        Returns:
            A ``tf.function`` returning a list of dicts (the input's, then one per layer).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> figures = model.statistics_function("tf")(np.zeros((2, 8, 8, 1), np.uint8))
            >>> int(figures[1]["level_counts"].numpy().sum())
            512
        """
        return self._graph("statistics", probe.build_statistics, backend)

    def direct_plan(self) -> DirectPlan:
        """The direct back-end's plan of this model, kept until the model changes.

        Returns:
            A :class:`cnn2snn_tfmot.engine.direct.DirectPlan`.

        Raises:
            DirectUnsupported: the direct back-end cannot run this model (the message says
                why; ``backend=None`` then runs the graph of the compiled ops).
            OpLibraryUnavailable: the compiled op library cannot be loaded.

        Example:
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> model.direct_plan().output_shape     # doctest: +SKIP
            (8, 8, 4)
        """
        return self._derived("direct", lambda: DirectPlan(self.lowered(), self.input_shape))

    def default_backend(self, batch_size: int = DEFAULT_BATCH_SIZE, x=None) -> str:
        """The back-end ``backend=None`` runs batches of ``batch_size`` on (see
        :mod:`cnn2snn_tfmot.engine.choice`): the faster of the direct engine and the graph of
        the compiled ops, as measured on this model once it has run long enough, else the
        direct engine when it runs the model; "custom" or "tf" when it cannot.

        Arguments:
            batch_size: the batch size (the choice is made per batch size).
            x: None, or uint8 images (at least ``batch_size`` of them): compare the two engines
                on them now (once per model and batch size) instead of waiting.

        Returns:
            "direct", "custom" or "tf". The decision is kept until the model changes.

        Example:
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> model.default_backend(32) in ("direct", "custom", "tf")
            True
        """
        batch_size = P.check_int(batch_size, "batch_size", low=1)
        plan = self._default_plan()
        if plan is None:
            return get_backend(None).name
        choice = self._derived("backend_choice", BackendChoice)
        if x is not None and batch_size not in choice.measured:
            images = next(batches(x, batch_size, self.input_shape, self.input_bits))[0]
            if images.shape[0] != batch_size:
                raise ValueError(f"x must hold at least batch_size={batch_size} images to "
                                 f"compare the engines on, got {images.shape[0]}.")
            choice.measure(images, plan.run, lambda: self._graph_runner(None))
        return choice.chosen(batch_size)

    def _default_plan(self) -> Optional[DirectPlan]:
        """The direct plan when ``backend=None`` may use it, else None."""
        if not direct.is_enabled():
            return None
        try:
            return self.direct_plan()
        except (DirectUnsupported, OpLibraryUnavailable):
            return None

    def _graph_runner(self, backend: Optional[str]) -> Callable[[np.ndarray], np.ndarray]:
        # The traced concrete function: calling it directly skips tf.function's dispatch, a
        # fifth of the time of a batch-1 call.
        function = self.emulator_function(backend).get_concrete_function()
        return lambda batch: function(tf.constant(batch)).numpy()

    def _runner(self, backend: Optional[str],
                batch_size: int = DEFAULT_BATCH_SIZE) -> Callable[[np.ndarray], np.ndarray]:
        """The function of a uint8 batch that ``backend`` runs this model with."""
        if backend == "direct":
            return self.direct_plan().run
        if backend is None:
            plan = self._default_plan()
            if plan is not None:
                choice = self._derived("backend_choice", BackendChoice)
                return choice.runner(batch_size, plan.run, lambda: self._graph_runner(None))
        return self._graph_runner(backend)

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
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.summary()
            Model: 3 layers, input (16, 16, 1), output (1, 1, 10)
            ...
        """
        for line in summary_lines(self):
            print_fn(line)

    # -- mapping onto a device (cnn2snn_tfmot.akida.mapping) ------------------------------------
    def map(self, device: str = "AKD1000", hw_only: bool = False,
            mode: str = "all_nps") -> Mapping:
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
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> mapping = akida_model.map("AKD1000", mode="minimal")
            >>> mapping.np_counts()["conv_0"]
            {'HRC': 1}
            >>> akida_model.mapping is mapping
            True
        """
        mapping = map_model(self, device, hw_only, mode)
        # Kept in the model's one cache, so that a layer added or a variable set forgets it.
        with self._cache_lock:
            self._cache["mapping"] = (self._layers_state(), (False, mapping))
        return mapping

    @property
    def mapping(self) -> Optional[Mapping]:
        """The :class:`cnn2snn_tfmot.akida.Mapping` of the last :meth:`map`, None before it
        or after the model changed."""
        with self._cache_lock:
            cached = self._cache.get("mapping")
        if cached is None or cached[0] != self._layers_state():
            return None
        return cached[1][1]

    # -- inference ---------------------------------------------------------------------------
    def forward(self, x, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                backend: Optional[str] = None, *, engine: Optional[str] = None) -> np.ndarray:
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
            backend: what runs the model (:mod:`cnn2snn_tfmot.engine`): None (default: the
                faster of the direct back-end and the graph of the compiled ops, see
                :meth:`default_backend`; else pure TF), "direct", "custom" or "tf". All give
                identical outputs.
            engine: the former name of ``backend``, still accepted.

        Returns:
            numpy array (N,) + output_shape, uint8 or int32.

        Raises:
            TypeError / ValueError: invalid input (message names the argument, what was given
                and what is expected).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4))
            >>> images = np.zeros((32, 8, 8, 1), np.uint8)
            >>> model.forward(images, backend="tf").shape
            (32, 8, 8, 4)
            >>> from cnn2snn_tfmot import tf
            >>> dataset = tf.data.Dataset.from_tensor_slices(images)
            >>> model.forward(dataset, batch_size=8, backend="tf").shape
            (32, 8, 8, 4)
        """
        last = self._require_layers()[-1]
        dtype = np.int32 if last.output_bits is None else np.uint8
        return self._collect(x, batch_size, verbose, resolve_backend(backend, engine), None,
                             dtype)

    def predict(self, x, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                backend: Optional[str] = None, *, engine: Optional[str] = None) -> np.ndarray:
        """Dequantized outputs as float32.

        With no activation on the last layer (the usual classifier head) this is
        ``float32(P - threshold) / act_step`` per output channel, computed in float32 with the
        raw act_step, as BrainChip's runtime does (measured bit for bit). With an activation, the
        runtime refuses; we return the levels as float32 instead (so that :meth:`evaluate` works
        on any model).

        Arguments:
            x, batch_size, verbose, backend, engine: as for :meth:`forward`.

        Returns:
            float32 numpy array (N,) + output_shape.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4), input_bits=4))
            >>> model.add(FullyConnected(3, weights_bits=4, activation=False))
            >>> logits = model.predict(np.zeros((5, 1, 1, 4), np.uint8), backend="tf")
            >>> logits.dtype, logits.shape
            (dtype('float32'), (5, 1, 1, 3))
        """
        return self._collect(x, batch_size, verbose, resolve_backend(backend, engine),
                             self.float_outputs(), np.float32)

    def evaluate(self, x, y: Optional[np.ndarray] = None, batch_size: int = DEFAULT_BATCH_SIZE,
                 verbose: int = 0, backend: Optional[str] = None, *,
                 engine: Optional[str] = None) -> float:
        """Accuracy: fraction of samples whose label equals the argmax of the flattened
        :meth:`predict` output (the dequantized logits, as the runtime's ``evaluate``; ties go to
        the first index), divided by the neurons per class for a model compiled to learn
        several classes (:meth:`predict_classes`). Streamed: only the running count is kept.

        Arguments:
            x, batch_size, verbose, backend, engine: as for :meth:`forward`; a stream must
                yield (images, labels) batches.
            y: integer numpy array (N,) of class labels when ``x`` is an array; None when the
                labels come with ``x``.

        Returns:
            The accuracy, a float in [0, 1].

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4), input_bits=4))
            >>> model.add(FullyConnected(3, weights_bits=4, activation=False))
            >>> images, labels = np.zeros((5, 1, 1, 4), np.uint8), np.zeros(5, np.int64)
            >>> model.evaluate(images, labels, backend="tf")   # all-zero logits: class 0
            1.0
            >>> from cnn2snn_tfmot import tf
            >>> dataset = tf.data.Dataset.from_tensor_slices((images, labels))
            >>> model.evaluate(dataset, backend="tf")
            1.0
        """
        backend = resolve_backend(backend, engine)
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
        classes = self._class_count(None)  # a learning model: its classes' neuron blocks
        for outputs, labels in self._stream(x, y, batch_size, verbose, backend,
                                            self.float_outputs()):
            if labels is None:
                raise ValueError("evaluate needs labels: the batches of x have none; give "
                                 "(images, labels) batches, or an array x with y.")
            guesses = outputs.reshape(outputs.shape[0], -1).argmax(axis=1)
            if classes:
                guesses //= outputs[0].size // classes
            correct += int(np.sum(guesses == labels))
            total += outputs.shape[0]
        if total == 0:
            raise ValueError("x has no samples: accuracy is undefined.")
        return correct / total

    def statistics(self, x, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                   backend: Optional[str] = None, *, engine: Optional[str] = None):
        """Per-layer statistics on ``x``, in one streamed pass of the emulator: fraction of
        non-zero outputs, output events per image, potentials' range and their headroom in
        the chip's registers, thresholds' and act_steps' ranges and register margin, output
        level histogram (see :mod:`cnn2snn_tfmot.akida.statistics` for the exact definitions).

        Arguments:
            x, batch_size, verbose: as for :meth:`forward` (labels, if any, are ignored).
                Memory is bounded by one batch.
            backend: a graph back-end (the statistics are computed in the graph): None,
                "custom" or "tf".
            engine: the former name of ``backend``, still accepted.

        Returns:
            A :class:`cnn2snn_tfmot.akida.Statistics`: prints as a table, ``to_dict()``,
            ``to_pandas()`` (when pandas is installed), indexed by layer name.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import InputConvolutional, Model
            >>> model = Model()
            >>> model.add(InputConvolutional((8, 8, 1), (3, 3), 4, weights_bits=8, act_bits=4,
            ...                              name="conv"))
            >>> stats = model.statistics(np.zeros((4, 8, 8, 1), np.uint8), backend="tf")
            >>> stats["conv"].events_per_image <= stats["conv"].outputs_per_image
            True
        """
        self._require_layers()
        return model_statistics(self, x, batch_size, verbose,
                                resolve_backend(backend, engine, GRAPH_BACKENDS))

    def float_outputs(self, tensorflow: bool = False) -> Callable:
        """``predict``'s post-processing of the last layer's outputs: ``float32(P - threshold)
        / act_step`` for a last layer without activation (:func:`dequantize`), the levels as
        float32 otherwise.

        Arguments:
            tensorflow: False for numpy arrays, True for graph tensors (an exported SavedModel
                and sharded evaluation compute it in the graph).

        Returns:
            A function of the outputs returning float32 values.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 2), input_bits=4))
            >>> model.add(FullyConnected(2, weights_bits=4, activation=False))
            >>> model.float_outputs()(np.array([[4, -4]], np.int32)).tolist()
            [[4.0, -4.0]]
        """
        last = self._require_layers()[-1]
        if tensorflow:
            cast, constant = tf.cast, tf.constant
        else:
            cast, constant = _numpy_cast, np.asarray
        if last.parameters.activation:
            return lambda outputs: cast(outputs, "float32")
        threshold = constant(last.variable("threshold").astype(np.int64))
        act_step = constant(last.variable("act_step"))
        return lambda outputs: dequantize(outputs, threshold, act_step, cast)

    def _require_layers(self) -> List[Layer]:
        if not self._layers:
            raise ValueError("the model is empty: add layers before running it.")
        return self._layers

    def _stream(self, x, y, batch_size, verbose, backend, post):
        """Yields (outputs, labels) batch by batch (``post`` applied to the outputs)."""
        self._require_layers()
        batch_size = P.check_int(batch_size, "batch_size", low=1)
        verbose = P.check_int(verbose, "verbose", choices=(0, 1, 2))
        stream = batches(x, batch_size, self.input_shape, self.input_bits, y)
        run = self._runner(backend, batch_size)
        progbar = None
        if verbose:
            progbar = keras.utils.Progbar(sample_count(x), verbose=verbose, unit_name="sample")
        seen = 0
        for images, labels in stream:
            result = run(images)
            yield (result if post is None else post(result)), labels
            seen += images.shape[0]
            if progbar is not None:
                progbar.update(seen)

    def _collect(self, x, batch_size, verbose, backend, post, dtype) -> np.ndarray:
        """The outputs of every batch in one array (preallocated when the size is known)."""
        count = sample_count(x)
        shape = tuple(self.output_shape)
        if count is not None:
            output = np.empty((count,) + shape, dtype=dtype)
            start = 0
            for result, _ in self._stream(x, None, batch_size, verbose, backend, post):
                output[start:start + result.shape[0]] = result
                start += result.shape[0]
            return output
        parts = [result for result, _ in self._stream(x, None, batch_size, verbose, backend,
                                                      post)]
        return np.concatenate(parts) if parts else np.empty((0,) + shape, dtype=dtype)

    # -- edge learning (issue 24; the rule: cnn2snn_tfmot.chip.learning) -----------------------
    @property
    def learning(self) -> Optional[AkidaUnsupervised]:
        """The :class:`~cnn2snn_tfmot.akida.AkidaUnsupervised` the model was compiled with, or
        None (as ``akida.Model.learning``).

        Example:
            >>> from cnn2snn_tfmot.akida import Model
            >>> Model().learning is None
            True
        """
        return self._optimizer

    @property
    def learning_register(self) -> int:
        """The round-robin register that picks the connections the next learning step moves
        (:func:`cnn2snn_tfmot.chip.learning.round_robin`): 0 after :meth:`compile` and after any
        ``set_variable`` on the model's layers, as on BrainChip's runtime. Saved in our model
        files; settable (on a compiled model) to restore a saved state.

        Raises:
            ValueError: setting it on a model not compiled, or a value outside [0, 2**31).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import (AkidaUnsupervised, FullyConnected, InputData,
            ...                                  Model)
            >>> model = Model()
            >>> model.add(InputData((1, 1, 16), input_bits=1))
            >>> model.add(FullyConnected(2, weights_bits=1, activation=False))
            >>> model.compile(AkidaUnsupervised(num_weights=4, seed=0))
            >>> model.learning_register
            0
            >>> _ = model.fit(np.ones((1, 1, 1, 16), np.uint8) * (np.arange(16) < 9))
            >>> model.learning_register > 0
            True
        """
        state, register = self._register
        return register if state == self._layers_state() else 0

    @learning_register.setter
    def learning_register(self, value: int) -> None:
        self._require_learning()
        value = P.check_int(value, "learning_register", low=0, high=INT32_MAX)
        self._register = (self._layers_state(), value)

    def compile(self, optimizer: AkidaUnsupervised) -> None:
        """Prepares the last layer for edge learning, as BrainChip's ``Model.compile``.

        The last layer must be a FullyConnected layer with 1-bit weights whose inputs are 1-bit
        spikes. Each of its neurons gets ``num_weights`` connections (weights of 1) at random
        inputs (drawn from ``optimizer.seed``), ``threshold_learning`` 0 and ``thswap``
        ``round(initial_plasticity * num_weights)``; thresholds and act_steps are kept. A model
        is compiled once; layers cannot be added afterwards.

        Arguments:
            optimizer: a :class:`~cnn2snn_tfmot.akida.AkidaUnsupervised`.

        Raises:
            TypeError: not an AkidaUnsupervised.
            ValueError: a model that cannot learn, naming the layer and why (last layer not
                FullyConnected, weights or inputs not 1-bit, num_weights above the inputs,
                units not a multiple of num_classes, already compiled).

        Example:
            >>> from cnn2snn_tfmot.akida import (Model, InputData, FullyConnected,
            ...                                  AkidaUnsupervised)
            >>> model = Model()
            >>> model.add(InputData((1, 1, 16), input_bits=1))
            >>> model.add(FullyConnected(4, weights_bits=1, activation=False))
            >>> model.compile(AkidaUnsupervised(num_weights=5, num_classes=2, seed=0))
            >>> model.layers[-1].get_variable("weights").sum(axis=2).ravel().tolist()
            [5, 5, 5, 5]
        """
        layer = check_learnable(self._layers, optimizer, self._optimizer)
        values = initial_learning_variables(optimizer, int(np.prod(layer.input_dims)),
                                            layer.parameters.units)
        layer.enable_learning()
        for name, value in values.items():
            layer.set_variable(name, value)
        self._optimizer = optimizer
        self._register = (self._layers_state(), 0)

    def _require_learning(self) -> AkidaUnsupervised:
        if self._optimizer is None:
            last = f" ('{self._layers[-1].name}')" if self._layers else ""
            raise ValueError(f"the model is not compiled for learning: call model.compile("
                             f"AkidaUnsupervised(num_weights, num_classes)) first; its last "
                             f"layer{last} must be a FullyConnected layer with 1-bit weights "
                             f"fed 1-bit spikes.")
        return self._optimizer

    def fit(self, x, y=None, batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
            backend: Optional[str] = None, *, engine: Optional[str] = None) -> np.ndarray:
        """Learns ``x`` one sample after the other, as BrainChip's ``Model.fit`` (bit for bit).

        Labelled mode (``num_classes`` > 1): only the neurons of a sample's class learn it; a
        negative label learns the sample without label. Unlabelled (``num_classes`` 1 or no
        labels): every neuron competes. The rule is in :mod:`cnn2snn_tfmot.chip.learning`;
        the compiled library applies it when it loads (:mod:`cnn2snn_tfmot.engine.learning`,
        bit-identical), else that NumPy loop. Batches only bound memory, they change nothing.

        Arguments:
            x: uint8 inputs as for :meth:`forward` (array, ``tf.data`` dataset or iterable of
                batches, with labels in the batches for streams).
            y: integer labels (N,) or one int for every sample, with an array ``x``; None
                learns without labels.
            batch_size, verbose: as for :meth:`forward`.
            backend: what runs the feature extractor (the layers before the learning one), as
                for :meth:`forward`.
            engine: the former name of ``backend``, still accepted.

        Returns:
            The model's outputs for each sample before its own learning step (as the runtime).

        Raises:
            ValueError: the model is not compiled, or a label is >= num_classes (checked for
                all of an array before learning anything; for a stream, per batch before
                learning it, the earlier batches staying learned).

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import (Model, InputData, FullyConnected,
            ...                                  AkidaUnsupervised)
            >>> model = Model()
            >>> model.add(InputData((1, 1, 16), input_bits=1))
            >>> model.add(FullyConnected(2, weights_bits=1, activation=False))
            >>> model.compile(AkidaUnsupervised(num_weights=4, num_classes=2, seed=1))
            >>> spikes = np.zeros((1, 1, 1, 16), np.uint8); spikes[..., :8] = 1
            >>> before = model.fit(spikes, np.array([0]))
            >>> int(model.forward(spikes)[0, 0, 0, 0]) >= int(before[0, 0, 0, 0])
            True
        """
        optimizer = self._require_learning()
        backend = resolve_backend(backend, engine)
        batch_size = P.check_int(batch_size, "batch_size", low=1)
        verbose = P.check_int(verbose, "verbose", choices=(0, 1, 2))
        count = sample_count(x)
        if y is not None and count is not None:
            y = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
            if y.ndim == 0 and y.dtype.kind in "iu":  # one label for every sample, as the runtime
                y = np.full(count, int(y), dtype=np.int64)
            # Checked before anything is learned (the runtime learns the samples before a bad one).
            y = check_labels(y, count, optimizer.num_classes, "y")
        layer = self._layers[-1]
        learner = Learner(layer, optimizer, self.learning_register, learning_rule())
        progbar = None
        if verbose:
            progbar = keras.utils.Progbar(count, verbose=verbose, unit_name="sample")
        outputs: List[np.ndarray] = []
        seen = 0
        try:
            for index, (images, batch_labels) in enumerate(
                    batches(x, batch_size, self.input_shape, self.input_bits, y)):
                where = "y" if count is not None else f"the labels of batch {index}"
                labels = check_labels(batch_labels, images.shape[0], optimizer.num_classes,
                                      where)
                if images.shape[0] == 0:
                    continue
                outputs.append(learner.learn(self._spikes(images, backend), labels))
                seen += images.shape[0]
                if progbar is not None:
                    progbar.update(seen)
        finally:
            # What was learned stays learned, also when a later batch of a stream is refused.
            learner.store()
            self._register = (self._layers_state(), learner.register)
        if not outputs:
            dtype = np.int32 if layer.output_bits is None else np.uint8
            return np.empty((0, 1, 1, layer.parameters.units), dtype=dtype)
        return np.concatenate(outputs)

    def _spikes(self, images: np.ndarray, backend: Optional[str]) -> np.ndarray:
        """The learning layer's inputs for ``images``, in the runtime's row order."""
        count = len(self._layers) - 1
        if count == 1 and self._layers[0].layer_type == "InputData":
            return spike_rows(images)
        # Kept while the extractor's layers are unchanged (the learning layer changes at every
        # fit call).
        extractor = self._derived("extractor", lambda: self.truncated(count), count)
        return spike_rows(extractor.forward(images, batch_size=max(images.shape[0], 1),
                                            backend=backend))

    def predict_classes(self, x, num_classes: Optional[int] = None,
                        batch_size: int = DEFAULT_BATCH_SIZE, verbose: int = 0,
                        backend: Optional[str] = None, *,
                        engine: Optional[str] = None) -> np.ndarray:
        """Class of each sample: the argmax of :meth:`predict`, divided by the neurons per
        class (as ``akida.Model.predict_classes``).

        Arguments:
            x, batch_size, verbose, backend, engine: as for :meth:`forward`.
            num_classes: classes of the output; None takes the compiled optimizer's when it
                has more than one, else one class per output; 0 is one class per output.

        Returns:
            int64 (N,) classes.

        Raises:
            ValueError: ``num_classes`` does not divide the model's outputs.

        Example:
            >>> import numpy as np
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 2), input_bits=4))
            >>> model.add(FullyConnected(4, weights_bits=4, activation=False))
            >>> model.layers[1].set_variable("weights", np.array(
            ...     [[[[0, 0, 1, 0], [0, 0, 0, 1]]]], np.int8))
            >>> x = np.array([[[[3, 0]]], [[[0, 5]]]], np.uint8)
            >>> model.predict_classes(x).tolist(), model.predict_classes(x, 2).tolist()
            ([2, 3], [1, 1])
        """
        num_classes = self._class_count(num_classes)
        outputs = self.predict(x, batch_size, verbose, backend, engine=engine)
        flat = outputs.reshape(outputs.shape[0], -1)
        guesses = flat.argmax(axis=1).astype(np.int64)
        if num_classes and num_classes != flat.shape[1]:
            guesses //= flat.shape[1] // num_classes
        return guesses

    def _class_count(self, num_classes: Optional[int]) -> int:
        if num_classes is None:
            learning = self._optimizer
            return learning.num_classes if learning is not None and \
                learning.num_classes > 1 else 0
        units = int(np.prod(self._require_layers()[-1].output_dims))
        num_classes = P.check_int(num_classes, "num_classes", low=0)
        if num_classes and units % num_classes:
            raise ValueError(f"num_classes={num_classes} does not divide the model's "
                             f"{units} outputs.")
        return num_classes

    def truncated(self, count: int) -> "Model":
        """A new model of copies of the first ``count`` layers: same names, parameters and
        variables, not compiled for learning (a copied learning layer has no learning
        variables). This model is not changed.

        Arguments:
            count: how many layers, 1..len(layers).

        Returns:
            A new :class:`Model`.

        Raises:
            ValueError: ``count`` out of range.

        Example:
            >>> from cnn2snn_tfmot.akida import FullyConnected, InputData, Model
            >>> model = Model()
            >>> model.add(InputData((1, 1, 4), input_bits=4))
            >>> model.add(FullyConnected(3, weights_bits=4, activation=False))
            >>> [layer.name for layer in model.truncated(1).layers]
            ['InputData_1']
        """
        count = P.check_int(count, "count", low=1, high=len(self._require_layers()))
        copy = Model()
        for layer in self._layers[:count]:
            twin = type(layer)(**layer.constructor_arguments())
            copy.add(twin)
            for name in twin.variables:
                twin.set_variable(name, layer.variable(name))
        return copy

    # -- files and interop ---------------------------------------------------------------------
    def save(self, path: str | os.PathLike, overwrite: bool = False) -> None:
        """Writes the model to ``path`` atomically, in our versioned zip format (JSON manifest
        and .npy arrays; nothing is pickled). ``Model(path)`` reads it back bit for bit.

        Arguments:
            path: destination file; an existing Akida model file is replaced atomically, any
                other file only with ``overwrite=True``.
            overwrite: replace whatever file is at ``path``.

        Raises:
            cnn2snn_tfmot.atomic.OutputExistsError: ``path`` holds something else.

        Example:
            >>> from cnn2snn_tfmot.akida.model import Model
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.save("mnist.akida")
            >>> len(Model("mnist.akida").layers)
            3
        """
        fileformat.save(self, path, overwrite)

    def to_akida(self):
        """The equivalent BrainChip runtime model (``akida.Model``), needs ``pip install akida``.

        (The example needs that optional wheel: it is not run as a doctest.)

        Returns:
            An ``akida.Model`` with the same layers and variables (its ``save("x.fbz")`` works).

        Example:
            >>> from cnn2snn_tfmot.data.examples import example_models
            >>> model, model_quantized, akida_model, images, labels = example_models()
            >>> akida_model.to_akida().save("model.fbz")  # doctest: +SKIP
        """
        return interop.to_akida(self)


def from_akida(akida_model) -> Model:
    """Our model equivalent to a BrainChip runtime model of Akida 1.0 layers.

    Arguments:
        akida_model: an ``akida.Model`` (e.g. ``akida.Model("model.fbz")``) whose layers are
            InputData, InputConvolutional, Convolutional, SeparableConvolutional and
            FullyConnected, in a single chain.

    Returns:
        A :class:`Model`; a runtime model compiled for learning gives a compiled model with
        the same optimizer arguments (seed None), connections, ``threshold_learning`` and
        ``thswap``, and the round-robin register at 0 (see
        :func:`cnn2snn_tfmot.akida.interop.read_into`).

    Raises:
        ValueError: a layer type or parameter we do not support (e.g. Akida 2.0 layers, signed
            inputs, ``Padding.SameUpper``), or a value our validation refuses.
        ImportError: the optional ``akida`` wheel is not installed.

    Example (needs the optional ``akida`` wheel: not run as a doctest):
        >>> import akida                                        # doctest: +SKIP
        >>> from cnn2snn_tfmot.akida import from_akida          # doctest: +SKIP
        >>> model = from_akida(akida.Model("model.fbz"))        # doctest: +SKIP
    """
    model = Model()
    interop.read_into(model, akida_model)
    return model
