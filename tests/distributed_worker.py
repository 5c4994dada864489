"""QAT of the same models on the same global batches, under one strategy (not a test module).

Run by tests/test_distributed_training.py in fresh processes, one per strategy:

    python tests/distributed_worker.py prepare OUT                 # float MNIST CNN, 1 epoch
    python tests/distributed_worker.py train OUT --strategy single|mirrored|multiworker

``train`` builds every model kind from OUT/float.h5, trains it ``--steps`` steps of global
batch ``--batch`` (the first MNIST training images, in order) with GammaClipping,
ScaleFactorMonitor and ChiefOnly(CSVLogger), and writes (chief only) OUT/<strategy>/<kind>.npz
(the weights, read as the converter reads them) and <kind>.akida (the converted model). Every
worker prints one JSON line, ``RESULT {...}``: what its callbacks saw on its own replicas.
``mirrored`` uses 2 logical CPU devices (configured before TensorFlow initializes them);
``multiworker`` takes its cluster from TF_CONFIG.
"""
import argparse
import json
import os
import warnings

import numpy as np

KINDS = ("quantize", "tfmot", "tfmot_unsynchronized", "trainable", "hardware_exact",
         "violation")
INPUT_SCALING = (255, 0)
MIN_GAMMA = 0.5  # the BatchNormalization gammas set to -1 below are lifted to it


def _strategy(name):
    from cnn2snn_tfmot import tf

    if name == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.OneDeviceStrategy("/cpu:0")


def prepare(out):
    from cnn2snn_tfmot import keras
    from cnn2snn_tfmot.data.datasets import mnist_split
    from cnn2snn_tfmot.data.zoo import calibrate_batchnorm, mnist_cnn

    (images, labels), _ = mnist_split()
    keras.utils.set_random_seed(0)
    model = mnist_cnn()
    model.compile(keras.optimizers.Adam(1e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images / 255, labels, batch_size=64, epochs=1, verbose=0)
    calibrate_batchnorm(model, images[:1024] / 255)  # 125 steps leave the moving averages behind
    model.save(os.path.join(out, "float.h5"))


def _annotated(float_model, synchronized):
    """The float model's layers annotated with the Akida QuantizeConfigs, each pooling moved
    before its ReLU (as Akida blocks are), BatchNormalization kept (it trains)."""
    import tensorflow_model_optimization as tfmot

    from cnn2snn_tfmot import (
        AkidaQuantizeScheme,
        Conv2DQuantizeConfig,
        DenseQuantizeConfig,
        MaxPerAxisQuantizer,
        MaxQuantizer,
        ReLUQuantizeConfig,
        SeparableConv2DQuantizeConfig,
        keras,
        quantize_scope,
        synchronize_batchnorm,
    )

    annotate = tfmot.quantization.keras.quantize_annotate_layer
    configs = {
        keras.layers.SeparableConv2D: lambda: SeparableConv2DQuantizeConfig(
            MaxPerAxisQuantizer(4), MaxQuantizer(4)),
        keras.layers.Conv2D: lambda: Conv2DQuantizeConfig(MaxPerAxisQuantizer(8)),
        keras.layers.Dense: lambda: DenseQuantizeConfig(MaxPerAxisQuantizer(4)),
        keras.layers.ReLU: lambda: ReLUQuantizeConfig(4),
    }
    layers = list(float_model.layers)
    for index in range(len(layers) - 1):  # ReLU -> MaxPool becomes MaxPool -> ReLU
        if isinstance(layers[index], keras.layers.ReLU) and \
                isinstance(layers[index + 1], keras.layers.MaxPool2D):
            layers[index], layers[index + 1] = layers[index + 1], layers[index]
    clones = []
    for layer in layers:
        clone = type(layer).from_config(layer.get_config())
        config = configs.get(type(layer))
        clones.append(clone if config is None else annotate(clone, config()))
    annotated = keras.Sequential([keras.Input(float_model.input_shape[1:])] + clones)
    for layer, clone in zip(layers, clones):
        clone.set_weights(layer.get_weights())
    with quantize_scope():
        model = tfmot.quantization.keras.quantize_apply(annotated, AkidaQuantizeScheme())
    return synchronize_batchnorm(model) if synchronized else model


def _std_quantizers(model):
    """``model`` with StdWeightQuantizers, for create_trainable_quantizer_model to train."""
    from cnn2snn_tfmot import StdWeightQuantizer, keras

    def clone(layer):
        config = layer.get_config()
        for key in ("quantizer", "quantizer_dw"):
            if key in config:
                bits = config[key]["config"]["bitwidth"]
                config[key] = keras.utils.serialize_keras_object(StdWeightQuantizer(3.0, bits))
        return type(layer).from_config(config)

    result = keras.models.clone_model(model, clone_function=clone)
    result.set_weights(model.get_weights())
    return result


def build(kind, float_model):
    from cnn2snn_tfmot import create_trainable_quantizer_model, hardware_exact, quantize

    if kind == "quantize":
        return quantize(float_model, 4, 4, 8)
    if kind in ("tfmot", "tfmot_unsynchronized"):
        model = _annotated(float_model, synchronized=kind == "tfmot")
        # One gamma below the minimum: GammaClipping must lift it on every replica.
        batchnorm = model.get_layer("separable_1_bn")
        gamma = batchnorm.gamma.numpy()
        gamma[:4] = -1.0
        batchnorm.gamma.assign(gamma)
        return model
    if kind == "trainable":
        return create_trainable_quantizer_model(_std_quantizers(quantize(float_model, 4, 4, 8)))
    if kind == "hardware_exact":
        return hardware_exact(create_trainable_quantizer_model(quantize(float_model, 4, 4, 8)),
                              INPUT_SCALING)
    if kind == "violation":  # registers overflow: the monitor warns (on the chief only)
        model = quantize(float_model, 4, 4, 8)
        layer = model.get_layer("separable_2")  # tiny weights: huge scale factors, act_steps
        layer.pointwise_kernel.assign(layer.pointwise_kernel * 1e-6)
        return model
    raise ValueError(kind)


def _replica_values(variable):
    """Every local replica's copy of a variable (one array for a plain variable)."""
    values = getattr(variable, "values", None)
    return [np.array(v.numpy()) for v in values] if values is not None \
        else [np.array(variable.numpy())]


def _gammas(model):
    from cnn2snn_tfmot import keras

    return {layer.name: layer.gamma for layer in model.layers
            if isinstance(layer, keras.layers.BatchNormalization)}


def _first_step_statistics():
    """A callback keeping every BatchNormalization's moving statistics after the first step."""
    from cnn2snn_tfmot import keras

    class FirstStep(keras.callbacks.Callback):
        statistics = {}

        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:  # a synchronized read: every worker runs it
                self.statistics = {
                    f"step1/{layer.name}/{variable}": getattr(layer, variable).numpy()
                    for layer in self.model.layers
                    if isinstance(layer, keras.layers.BatchNormalization)
                    for variable in ("moving_mean", "moving_variance")}

    return FirstStep()


def train(out, strategy_name, steps, batch, kinds, optimizer_name, tag):
    from cnn2snn_tfmot import (
        ChiefOnly,
        GammaClipping,
        ScaleFactorMonitor,
        convert,
        is_chief,
        keras,
        tf,
    )
    from cnn2snn_tfmot.conversion.blocks import analyze
    from cnn2snn_tfmot.data.datasets import mnist_split

    strategy = _strategy(strategy_name)
    chief = is_chief(strategy)
    directory = os.path.join(out, tag or strategy_name)
    if chief:
        os.makedirs(directory, exist_ok=True)
    (images, labels), _ = mnist_split()
    count = steps * batch
    dataset = tf.data.Dataset.from_tensor_slices(
        (images[:count].astype(np.float32) / 255, labels[:count])).batch(batch)
    report = {"strategy": strategy_name, "replicas": strategy.num_replicas_in_sync,
              "local_replicas": len(strategy.extended.worker_devices), "chief": chief,
              "kinds": {}}
    for kind in kinds:
        with strategy.scope():
            keras.utils.set_random_seed(0)
            float_model = keras.models.load_model(os.path.join(out, "float.h5"), compile=False)
            model = build(kind, float_model)
            optimizer = keras.optimizers.Adam(1e-4) if optimizer_name == "adam" else \
                keras.optimizers.SGD(0.01)
            model.compile(optimizer, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        monitor = ScaleFactorMonitor(INPUT_SCALING, frequency=steps // 2 or 1,
                                     on_violation="warn")
        logger = ChiefOnly(keras.callbacks.CSVLogger(os.path.join(directory, f"{kind}.csv")))
        first_step = _first_step_statistics()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(dataset, epochs=1, verbose=0, shuffle=False,
                      callbacks=[GammaClipping(MIN_GAMMA), monitor, first_step, logger])
        gammas = {name: _replica_values(gamma) for name, gamma in _gammas(model).items()}
        seen = {
            "margins": monitor.margins,
            "warnings": sum("would not fit" in str(w.message) for w in caught),
            "logger_active": logger.active,
            "gamma_min": {name: [float(v.min()) for v in values]
                          for name, values in gammas.items()},
            "replicas_equal": all(all(np.array_equal(values[0], v) for v in values)
                                  for values in gammas.values()),
        }
        report["kinds"][kind] = seen
        # Every worker reads: reading a synchronized-on-read variable (BatchNormalization's
        # moving statistics) is a collective operation under MultiWorkerMirroredStrategy.
        weights = {f"{index}/{variable.name}": np.array(variable.numpy())
                   for index, variable in enumerate(model.weights)}
        weights.update(first_step.statistics)
        for block in analyze(model).blocks:
            if block.batchnorm is not None:  # moving statistics, as the converter reads them
                weights[f"{block.name}/moving_mean"] = block.batchnorm.mean
                weights[f"{block.name}/moving_variance"] = block.batchnorm.variance
        akida_model = None if kind == "violation" else convert(model, input_scaling=INPUT_SCALING)
        if chief:
            np.savez(os.path.join(directory, f"{kind}.npz"), **weights)
            if akida_model is not None:
                akida_model.save(os.path.join(directory, f"{kind}.akida"))
    print("RESULT " + json.dumps(report), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=("prepare", "train"))
    parser.add_argument("out")
    parser.add_argument("--strategy", choices=("single", "mirrored", "multiworker"),
                        default="single")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--tag", default=None, help="output folder name (default: strategy)")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.out)
    else:
        train(args.out, args.strategy, args.steps, args.batch, args.kinds, args.optimizer,
              args.tag)


if __name__ == "__main__":
    main()
