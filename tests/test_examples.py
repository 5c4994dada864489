"""The runnable examples run, and print what their documents say."""
import os
import re

import pytest

from cnn2snn_tfmot.akida import Model

from helpers import AKIDA, CIFAR10_DATA, REPO


def test_advanced_tutorial(python_runner, tmp_path):
    result = python_runner([os.path.join(REPO, "examples", "advanced_tutorial.py"),
                            "--output-dir", str(tmp_path)])
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Total params (native Keras model): 13,642" in out
    assert "Total params (quantized model): 13,644" in out
    assert "Activation step height: 0.40" in out
    assert "Custom activation step height: 0.20" in out
    max_values = int(re.search(r"MaxQuantizer: small weights discretized on (\d+) values",
                               out).group(1))
    custom_values = int(re.search(r"CustomStdQuantizer: small weights discretized on (\d+) "
                                  r"values", out).group(1))
    assert max_values == 3
    assert custom_values >= 3 * max_values
    figures = sorted(os.listdir(tmp_path))
    assert figures == ["activation_discrete_relu.png", "custom_quantized_activation.png",
                       "custom_std_quantizer_weights.png", "max_quantizer_weights.png"]
    for name in figures:
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_mnist_end_to_end(python_runner, tmp_path):
    import json

    result = python_runner([os.path.join(REPO, "examples", "mnist_end_to_end.py"),
                            "--output-dir", str(tmp_path)], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for row in ("| float Keras |", "| quantized Keras (8/4/4, QAT) |", "| Akida (emulated) |",
                "| Keras-vs-Akida argmax agreement |"):
        assert row in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["akida_accuracy"] >= 0.97
    assert summary["akida_accuracy"] >= summary["float_accuracy"] - 0.01
    assert summary["exported_savedmodel_identical"] is True
    # Cross-checked against BrainChip's runtime when it is installed (the test extra has it).
    assert summary["brainchip_runtime_identical"] is (True if AKIDA else None)
    for name in ("keras_savedmodel", "emulator_savedmodel", "model.akida", "qat_log.csv") + (
            ("model.fbz",) if AKIDA else ()):
        assert (tmp_path / name).exists(), name
    header = (tmp_path / "qat_log.csv").read_text().splitlines()[0]
    assert "akida_margin/conv_0" in header
    assert "Statistics of 4 layers over 2000 images" in out
    assert summary["report"] == str(tmp_path / "report" / "index.html")
    assert {"index.html", "margins.png", "agreement.png"} <= set(os.listdir(tmp_path / "report"))


@pytest.mark.slow
def test_readme_quick_start_runs(python_runner, tmp_path):
    with open(os.path.join(REPO, "README.md")) as handle:
        readme = handle.read()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    result = python_runner(code.replace("epochs=6", "epochs=1").replace("epochs=2", "epochs=1"),
                           cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert float(result.stdout.strip().splitlines()[-1]) > 0.9  # the printed accuracy
    assert sorted(os.listdir(tmp_path / "exported")) == ["emulator_savedmodel",
                                                         "keras_savedmodel", "model.akida"]


def test_distributed_qat_short(python_runner, tmp_path):
    """examples/distributed_qat.py --short: 2 local workers (MultiWorkerMirroredStrategy) train,
    convert, evaluate sharded across themselves; CI runs it."""
    import json

    result = python_runner([os.path.join(REPO, "examples", "distributed_qat.py"), "--short",
                            "--output-dir", str(tmp_path)], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| Akida (emulated, sharded over 2 workers) |" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["workers"] == 2 and summary["short"] is True
    assert summary["sharded_outputs_identical"] is True
    assert summary["akida_accuracy"] == summary["akida_accuracy_single_process"]
    assert summary["akida_accuracy"] >= 0.9 and summary["argmax_agreement"] >= 0.99
    assert summary["monitor_problems"] == []
    rows = (tmp_path / "qat_log.csv").read_text().splitlines()
    assert len(rows) == 2 and "akida_margin/conv_0" in rows[0]  # the chief's log, one epoch
    assert sorted(os.listdir(tmp_path)) == ["emulator_savedmodel", "keras_savedmodel",
                                            "model.akida", "qat_log.csv", "summary.json"]


@pytest.mark.slow
def test_byom_mobilenet_short(python_runner, tmp_path):
    import json

    result = python_runner([os.path.join(REPO, "examples", "byom_mobilenet.py"),
                            "--output-dir", str(tmp_path), "--train-images", "512",
                            "--test-images", "256", "--epochs", "1", "--qat-epochs", "1"],
                           timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for row in ("| float Keras (adapted MobileNet 0.25, 1 epochs) |",
                "| quantized Keras (8/4/4, 1 epochs QAT) |", "| Akida (emulated) |",
                "| Keras-vs-Akida argmax agreement |"):
        assert row in out
    assert "conv_pad_2: removed; 'conv_dw_2' gets padding='same'" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["flavour"] == "keras3" and summary["changes"] > 30
    for key in ("float_accuracy", "quantized_accuracy", "akida_accuracy", "agreement"):
        assert 0.0 <= summary[key] <= 1.0
    assert (tmp_path / "mobilenet.akida").exists()


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir(CIFAR10_DATA), reason="the CIFAR-10 image folders are absent")
def test_edge_learning_quick(python_runner, tmp_path):
    """examples/edge_learning.py --quick: train, quantize (last block 1-bit), convert, learn
    the 2 held-out classes on the emulated chip; the summary has every figure."""
    import json

    result = python_runner([os.path.join(REPO, "examples", "edge_learning.py"), "--quick",
                            "--data", CIFAR10_DATA, "--output-dir", str(tmp_path)], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "| ... then 10 images per new class learned on chip |" in result.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["new_classes"] == ["horse", "truck"] and summary["seeds"] == 2
    for key in ("learned_old_before", "old_after", "new_after", "all_after"):
        assert len(summary[key]["values"]) == 2
        assert 0.0 <= summary[key]["min"] <= summary[key]["max"] <= 1.0
    assert summary["learned_all_before"]["max"] <= 0.8  # the new classes are never guessed
    learner = Model(str(tmp_path / "learner_seed0.akida"))
    assert learner.class_names == tuple(summary["old_classes"] + summary["new_classes"])
    assert learner.learning.num_classes == 10


def _cifar10_example():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "cifar10_example", os.path.join(REPO, "examples", "cifar10.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cifar10_cutout_cuts_one_square_per_image():
    import numpy as np

    example = _cifar10_example()
    images = np.full((64, 32, 32, 3), 200, np.uint8)
    batch, _ = next(iter(example.augmented(images, np.zeros(64), 64, 0, cutout=9)))
    black = (batch.numpy() == 0).all(axis=-1)
    cut = black.sum(axis=(1, 2))
    assert cut.max() == 81 and cut.min() >= 25 and (cut < 81).any()  # borders clip some
    for mask in black:  # one axis-aligned rectangle: its bounding box is all black
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()
        assert mask.sum() == len(rows) * len(cols) and len(rows) <= 9 and len(cols) <= 9
    plain, _ = next(iter(example.augmented(images, np.zeros(64), 64, 0)))
    assert not (plain.numpy() == 0).all(axis=-1).any()
    for bad in ("8", "-1", "33"):
        with pytest.raises(SystemExit):
            example.parse_args(["--cutout", bad])


def test_cifar10_float_recipe_whitens_freezes_and_averages():
    """The float recipe's pieces: the whitening input convolution (orthonormal principal
    directions and their negatives, frozen), identity-started convolutions, the scaled dense
    layer, frozen gammas and faster betas in the training step, the triangular learning rate
    and the weight averaging."""
    import numpy as np

    from cnn2snn_tfmot.tfkeras import keras

    example = _cifar10_example()
    default = example.parse_args([])
    assert (default.recipe, default.lr, default.weight_decay) == ("onecycle", 0.4, 5e-3)
    assert example.parse_args(["--recipe", "airbench", "--lr", "0.5"]).lr == 0.5
    args = example.parse_args(["--recipe", "airbench", "--widths", "8", "16", "--stem", "6"])
    assert (args.lr, args.momentum, args.warmup, args.weight_decay) == (0.75, 0.85, 0.23, 0.01)
    model = example.build(args)
    assert model.get_layer("conv_1_bn").momentum == 0.6
    dense_before = model.get_layer("dense").kernel.numpy()
    images = np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3)).astype(np.uint8)
    frozen = example.initialise(model, images, args.stem)
    kernel = model.get_layer("conv_0").kernel.numpy().reshape(27, 6)
    np.testing.assert_allclose(kernel[:, :3].T @ kernel[:, :3], np.eye(3), atol=1e-5)
    np.testing.assert_array_equal(kernel[:, 3:], -kernel[:, :3])
    conv_1 = model.get_layer("conv_1").kernel.numpy()  # 6 inputs, 8 filters
    assert (conv_1[1, 1, np.arange(6), np.arange(6)] == 1).all()
    assert np.count_nonzero(conv_1[:, :, :, :6]) == 6 and np.count_nonzero(conv_1[..., 6:])
    np.testing.assert_allclose(model.get_layer("dense").kernel.numpy(),
                               dense_before * example.LOGIT_SCALE, rtol=1e-6)
    assert [v.name for v in frozen] == [model.get_layer("conv_0").kernel.name]

    gammas = [layer.gamma for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    inputs = keras.Input(example.SHAPE)
    trainer = example.FloatTrainer(inputs, model(inputs))
    trainer.setup(model, frozen + gammas)
    assert len(trainer.update) == len(trainer.trainable_variables) - 1 - len(gammas)
    assert sorted(set(trainer.factors)) == [example.LOGIT_SCALE ** 2, 1.0, example.BETA_RATE]
    trainer.compile(keras.optimizers.SGD(0.1),
                    keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [v.numpy() for v in trainer.trainable_variables]
    trainer.train_on_batch(images[:8] / 255, np.arange(8))
    frozen_ids = {id(v) for v in frozen + gammas}
    for variable, old in zip(trainer.trainable_variables, before):
        changed = not np.array_equal(variable.numpy(), old)
        assert changed == (id(variable) not in frozen_ids), variable.name

    schedule = example.Triangle(1.0, 20, 100)
    np.testing.assert_allclose([float(schedule(i)) for i in (0, 10, 20, 100)],
                               [0.2, 0.6, 1.0, 0.07], rtol=1e-6)

    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    averaging = example.Lookahead(small, total=10, start=0, every=1, decay=0.5)
    averaging.on_train_begin()
    averaging.on_epoch_begin(0)
    small.set_weights([np.array([[1.0], [1.0]])])
    averaging.on_train_batch_end(0)  # the first step starts the average
    small.set_weights([np.array([[3.0], [5.0]])])
    averaging.on_train_batch_end(1)  # rho = 0.5 * (2 / 10) ** 3 = 0.004
    rho = 0.5 * 0.2 ** 3
    np.testing.assert_allclose(small.get_weights()[0][:, 0],
                               [rho * 1 + (1 - rho) * 3, rho * 1 + (1 - rho) * 5], rtol=1e-6)
    averaged = small.get_weights()[0]
    small.set_weights([np.array([[7.0], [7.0]])])
    averaging.on_train_end()  # training ends on the average
    np.testing.assert_array_equal(small.get_weights()[0], averaged)


def test_cifar10_run_command_gives_the_run_options_back(tmp_path):
    """A run's summary records the options that differ from the defaults; the command
    train_pretrained writes into the manifest from it parses back to the same options."""
    import sys

    example = _cifar10_example()
    given = ["--float-model", str(tmp_path / "w192" / "float.h5"), "--learned-steps", "lsq+",
             "--distill", "0.9", "--qat-epochs", "0", "--exact-epochs", "8",
             "--qat-batch-size", "128", "--widths", "64", "256", "256", "--cutout", "0"]
    args = example.parse_args(given)
    options = example.changed_options(args)
    assert options["widths"] == [64, 256, 256] and options["learned_steps"] == "lsq+"
    assert "output_dir" not in options and "batch_size" not in options
    assert example.changed_options(example.parse_args([])) == {}
    sys.path.insert(0, os.path.join(REPO, "examples"))
    try:
        import train_pretrained
    finally:
        sys.path.remove(os.path.join(REPO, "examples"))
    command = train_pretrained._run_command(str(tmp_path / "run"), {"options": options})
    words = command.split()
    assert words[:2] == ["python", "examples/cifar10.py"] and words[-2:] == ["--output-dir", "run"]
    assert "--float-model w192/float.h5" in command  # as the two runs' folders sit side by side
    again = example.parse_args(words[2:-2])
    assert vars(again) == {**vars(args), "float_model": "w192/float.h5"}


@pytest.mark.slow
@pytest.mark.processes
def test_cifar10_quick(python_runner, tmp_path):
    """The whole CIFAR-10 pipeline on 600 JPEG files of a class-folder tree (about a minute)."""
    import json

    import numpy as np

    from cnn2snn_tfmot.akida import Model
    from cnn2snn_tfmot.tfkeras import keras

    rng = np.random.default_rng(0)
    data = tmp_path / "images"
    names = [f"class_{index}" for index in range(10)]
    for name in names:  # 10 classes of 60 JPEG files, as --quick takes
        os.makedirs(data / name)
        for number in range(60):
            keras.utils.save_img(str(data / name / f"{number:04d}.jpg"),
                                 rng.integers(0, 256, (32, 32, 3)).astype(np.uint8))
    out = tmp_path / "out"
    result = python_runner([os.path.join(REPO, "examples", "cifar10.py"), "--quick",
                            "--data", str(data), "--output-dir", str(out)], timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for row in ("| float Keras |", "| quantized Keras, standard QAT |", "| Akida |",
                "| Keras-vs-Akida argmax agreement |"):
        assert row in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_images"] == 400 and summary["validation_images"] == 200
    # The hardware-exact model computes the chip's integers: its argmax is the Akida model's.
    assert summary["keras_akida_agreement"] == 1.0
    assert summary["exact_keras_accuracy"] == summary["akida_accuracy"]
    assert summary["float_step_ms"] > 0 and summary["exact_step_ms"] > 0
    assert sorted(os.listdir(out)) == ["float.h5", "log.jsonl", "model.akida", "quantized.h5",
                                       "summary.json"]
    assert Model(str(out / "model.akida")).class_names == tuple(names)
    # Never over a user's files: a folder that is not empty is refused.
    again = python_runner([os.path.join(REPO, "examples", "cifar10.py"), "--quick",
                           "--data", str(data), "--output-dir", str(out)], timeout=900)
    assert again.returncode != 0 and "is not an empty folder" in again.stderr
