"""The pretrained models shipped in the package: what pretrained() returns is consistent (the
Akida model is the conversion of the quantized model, the figures are reproducible), the
package data stays small and ships with the wheel, and a damaged folder is refused clearly."""
import configparser
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from cnn2snn_tfmot import convert, keras, quantize, zoo
from cnn2snn_tfmot.atomic import OutputExistsError
from cnn2snn_tfmot.data.datasets import mnist_split, stratified_split
from cnn2snn_tfmot.data.examples import example_models
from cnn2snn_tfmot.data.image_files import ImageSource, list_class_folders
from cnn2snn_tfmot.data.zoo.pretrained import (
    WEIGHTS_DIR,
    PretrainedModelError,
    load_pretrained,
    save_pretrained,
)

from helpers import CIFAR10_DATA, REPO


@pytest.fixture(scope="module")
def mnist():
    return zoo.pretrained("mnist")


def test_names_list_the_shipped_folders():
    assert "mnist" in zoo.pretrained_names()
    assert zoo.pretrained_names() == sorted(os.listdir(WEIGHTS_DIR))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(PretrainedModelError, match="no pretrained model named 'x'.*mnist"):
        zoo.pretrained("x")
    with pytest.raises(PretrainedModelError, match="no pretrained model named 3"):
        zoo.pretrained(3)


def test_mnist_models_agree_with_their_figures(mnist):
    assert mnist.input_scaling == (255.0, 0)
    assert mnist.class_names == tuple(str(digit) for digit in range(10))
    assert mnist.akida_model.class_names == mnist.class_names
    assert zoo.pretrained("mnist").float_model is not mnist.float_model  # fresh each call
    _, (images, labels) = mnist_split()
    x = images / np.float32(255)
    metrics = mnist.metrics
    float_outputs = mnist.float_model.predict(x, batch_size=500, verbose=0)
    assert round(float(np.mean(float_outputs.argmax(1) == labels)), 4) == \
        metrics["float_accuracy"]
    assert round(mnist.akida_model.evaluate(images, labels), 4) == metrics["akida_accuracy"]
    assert metrics["akida_accuracy"] >= 0.98
    assert "examples/train_pretrained.py mnist" in mnist.command


@pytest.mark.parametrize("name", zoo.pretrained_names())
def test_the_akida_model_is_the_conversion_of_the_quantized_model(name):
    model = zoo.pretrained(name)
    converted = convert(model.quantized_model)  # the remembered input scaling
    assert len(converted.layers) == len(model.akida_model.layers)
    for ours, shipped in zip(converted.layers, model.akida_model.layers):
        for variable in ours.variables:
            np.testing.assert_array_equal(ours.get_variable(variable),
                                          shipped.get_variable(variable))
    # The command that made it, from a training script of the repository: the low-bit models
    # come from the low-bit benchmark (its --save-pretrained), the others from the recipes.
    script = "benchmarks/low_bit_cifar.py" if name.endswith("bit") else \
        f"examples/train_pretrained.py {name}"
    assert script in model.command
    assert os.path.isfile(os.path.join(REPO, script.split()[0]))


CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")


@pytest.mark.skipif("cifar10" not in zoo.pretrained_names(), reason="not shipped yet")
def test_cifar10_is_what_its_recipe_says():
    cifar10 = zoo.pretrained("cifar10")
    assert cifar10.class_names == CIFAR10_CLASSES
    assert cifar10.akida_model.class_names == CIFAR10_CLASSES
    assert cifar10.input_scaling == (255.0, 0)
    assert cifar10.akida_model.input_shape == (32, 32, 3)
    assert cifar10.metrics["hardware_exact_agreement"] == 1.0
    assert cifar10.metrics["akida_accuracy"] >= cifar10.metrics["float_accuracy"] - 0.01


@pytest.mark.slow
@pytest.mark.skipif("cifar10" not in zoo.pretrained_names() or not os.path.isdir(CIFAR10_DATA),
                    reason="needs the shipped model and the CIFAR-10 JPEG folders")
def test_cifar10_figures_are_reproduced_on_its_validation_split():
    """The 5,000 held-out training images, decoded as examples/cifar10.py decodes them."""
    cifar10 = zoo.pretrained("cifar10")
    folders = list_class_folders(CIFAR10_DATA)
    _, held_out = stratified_split(folders.labels, 5000, seed=0)
    source = ImageSource(CIFAR10_DATA, (32, 32, 3), files=[folders.files[i] for i in held_out],
                         labels=folders.labels[held_out])
    images = np.concatenate(list(source.batches(1000)))
    accuracy = cifar10.akida_model.evaluate(images, source.labels)
    assert round(accuracy, 4) == cifar10.metrics["akida_accuracy"]


def test_package_data_is_small_and_declared():
    total = sum(os.path.getsize(os.path.join(root, name))
                for root, _, names in os.walk(WEIGHTS_DIR) for name in names)
    assert total < 10 * 2 ** 20, f"pretrained models weigh {total} bytes"
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    declared = config["options.package_data"]["cnn2snn_tfmot.data.zoo"]
    for pattern in ("weights/*/manifest.json", "weights/*/*.npz", "weights/*/*.akida"):
        assert pattern in declared
    for name in zoo.pretrained_names():
        files = ["float.npz", "manifest.json", "model.akida", "quantized.npz"]
        with open(os.path.join(WEIGHTS_DIR, name, "manifest.json")) as handle:
            if "float_weights_from" in json.load(handle):
                files.remove("float.npz")  # read from the model it names
        assert sorted(os.listdir(os.path.join(WEIGHTS_DIR, name))) == files


@pytest.fixture
def folder(tmp_path):
    model, _, akida_model, _, _ = example_models()
    remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    return save_pretrained(tmp_path / "tiny", "tiny", "an example", model, remembering,
                           akida_model, [f"c{i}" for i in range(10)], {"acc": 1.0}, "none")


def test_save_and_load_round_trip(folder):
    model, _, akida_model, images, _ = example_models()
    loaded = load_pretrained(folder)
    assert loaded.name == "tiny" and loaded.metrics == {"acc": 1.0}
    np.testing.assert_array_equal(loaded.float_model.predict(images / 255, verbose=0),
                                  model.predict(images / 255, verbose=0))
    np.testing.assert_array_equal(loaded.akida_model.forward(images),
                                  akida_model.forward(images))


def test_float16_float_weights(tmp_path):
    model, _, akida_model, images, _ = example_models()
    remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    path = save_pretrained(tmp_path / "half", "half", "", model, remembering, akida_model,
                           [str(i) for i in range(10)], {}, "none", float_dtype="float16")
    loaded = load_pretrained(path)
    for weight, original in zip(loaded.float_model.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(weight, original.astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match="float_dtype must be one of"):
        save_pretrained(tmp_path / "x", "x", "", model, remembering, akida_model,
                        [str(i) for i in range(10)], {}, "none", float_dtype="int8")


def test_quantized_kernels_may_be_stored_as_their_levels(tmp_path):
    from cnn2snn_tfmot import quantize_scope

    model, _, akida_model, images, _ = example_models()
    remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    original = [weight.copy() for weight in remembering.get_weights()]
    names = [str(i) for i in range(10)]
    plain = save_pretrained(tmp_path / "plain", "plain", "", model, remembering, akida_model,
                            names, {}, "none")
    path = save_pretrained(tmp_path / "levels", "levels", "", model, remembering, akida_model,
                           names, {}, "none", quantized_levels=True)
    for weight, before in zip(remembering.get_weights(), original):  # the model is not changed
        np.testing.assert_array_equal(weight, before)
    loaded = load_pretrained(path)
    kernel = loaded.quantized_model.get_layer("dense").kernel.numpy()
    assert kernel.shape[1] == 10 and all(len(np.unique(kernel[:, unit])) <= 16
                                         for unit in range(10))  # 4-bit: 15 levels and 0
    assert not np.array_equal(kernel, remembering.get_layer("dense").kernel.numpy())
    x = images[:64] / 255
    np.testing.assert_array_equal(loaded.quantized_model.predict(x, verbose=0),
                                  remembering.predict(x, verbose=0))
    np.testing.assert_array_equal(convert(loaded.quantized_model).forward(images[:64]),
                                  akida_model.forward(images[:64]))
    assert (os.path.getsize(os.path.join(path, "quantized.npz"))
            < 0.6 * os.path.getsize(os.path.join(plain, "quantized.npz")))
    # A quantizer whose scale depends on the weights' spread would not give its values back.
    config = json.loads(remembering.to_json())
    for layer in config["config"]["layers"]:
        if layer["config"]["name"] == "dense":
            layer["config"]["quantizer"].update(
                class_name="StdWeightQuantizer", registered_name="cnn2snn_tfmot>StdWeightQuantizer",
                config={"threshold": 1.5, "bitwidth": 4})
    with quantize_scope():
        spread = keras.models.model_from_json(json.dumps(config))
    spread.set_weights(remembering.get_weights())
    with pytest.raises(ValueError, match="layer 'dense' \\(kernel\\): its quantizer does not"):
        save_pretrained(tmp_path / "x", "x", "", model, spread, akida_model, names, {}, "none",
                        quantized_levels=True)
    assert not os.path.exists(tmp_path / "x")


def test_save_never_replaces_what_it_did_not_write(tmp_path, folder):
    model, model_quantized, akida_model, _, _ = example_models()
    remembering = quantize(model, 4, 4, 8, input_scaling=(255, 0))
    names = [str(i) for i in range(10)]
    user = tmp_path / "thesis"
    user.mkdir()
    (user / "thesis.tex").write_text("mine")
    with pytest.raises(OutputExistsError, match="thesis"):
        save_pretrained(user, "x", "", model, remembering, akida_model, names, {}, "none")
    assert sorted(os.listdir(user)) == ["thesis.tex"]
    assert (user / "thesis.tex").read_text() == "mine"
    save_pretrained(folder, "again", "", model, remembering, akida_model, names, {}, "none")
    assert load_pretrained(folder).name == "again"  # a previous output of ours is replaced
    (Path(folder) / "notes.txt").write_text("mine")  # ours no longer: it holds a user file
    with pytest.raises(OutputExistsError, match="notes.txt|overwrite"):
        save_pretrained(folder, "third", "", model, remembering, akida_model, names, {}, "none")
    assert (Path(folder) / "notes.txt").read_text() == "mine"
    with pytest.raises(ValueError, match="remembers no input scaling"):
        save_pretrained(tmp_path / "y", "y", "", model, model_quantized, akida_model, names,
                        {}, "none")


def _edit_manifest(folder, change):
    path = os.path.join(folder, "manifest.json")
    with open(path) as handle:
        manifest = json.load(handle)
    change(manifest)
    with open(path, "w") as handle:
        json.dump(manifest, handle)


def test_damaged_folders_are_refused(folder, tmp_path):
    def copy(name):
        target = str(tmp_path / name)
        shutil.copytree(folder, target)
        return target

    missing = copy("missing")
    os.remove(os.path.join(missing, "quantized.npz"))
    with pytest.raises(PretrainedModelError, match="quantized.npz is missing"):
        load_pretrained(missing)

    version = copy("version")
    _edit_manifest(version, lambda m: m.update(format_version=9))
    with pytest.raises(PretrainedModelError, match="format_version 9"):
        load_pretrained(version)

    code = copy("code")
    _edit_manifest(code, lambda m: m["float_model"]["config"]["layers"].append(
        {"class_name": "Lambda", "config": {"name": "evil", "function": "x"}}))
    with pytest.raises(PretrainedModelError, match="'evil' is a Lambda layer"):
        load_pretrained(code)

    shapes = copy("shapes")
    np.savez(os.path.join(shapes, "float.npz"), w0=np.zeros(3, np.float32))
    with pytest.raises(PretrainedModelError, match="holds 1 arrays; the model has"):
        load_pretrained(shapes)

    nan = copy("nan")
    model = keras.models.clone_model(example_models().model)
    weights = model.get_weights()
    weights[0][0, 0, 0, 0] = np.nan
    np.savez(os.path.join(nan, "float.npz"),
             **{f"w{i}": weight for i, weight in enumerate(weights)})
    with pytest.raises(PretrainedModelError, match="w0.npy holds non-finite values"):
        load_pretrained(nan)

    names = copy("names")
    _edit_manifest(names, lambda m: m.update(class_names=["a"] * 10))
    with pytest.raises(PretrainedModelError, match="class names"):
        load_pretrained(names)


def test_a_model_may_share_the_float_model_of_another(folder, tmp_path):
    """Two quantizations of one float network ship its float weights once."""
    model, _, akida_model, images, _ = example_models()
    names = [f"c{i}" for i in range(10)]
    low_bit = quantize(model, 2, 2, 8, input_scaling=(255, 0))
    parent = os.path.dirname(folder)
    path = save_pretrained(os.path.join(parent, "tiny_2bit"), "tiny_2bit", "", model, low_bit,
                           akida_model, names, {}, "none", float_weights_from="tiny")
    assert sorted(os.listdir(path)) == ["manifest.json", "model.akida", "quantized.npz"]
    loaded = load_pretrained(path)
    np.testing.assert_array_equal(loaded.float_model.predict(images / 255, verbose=0),
                                  model.predict(images / 255, verbose=0))
    np.testing.assert_array_equal(loaded.quantized_model.predict(images / 255, verbose=0),
                                  low_bit.predict(images / 255, verbose=0))

    other = keras.models.clone_model(model)  # same network, other weights
    with pytest.raises(ValueError, match="float weights differ"):
        save_pretrained(os.path.join(parent, "x"), "x", "", other, low_bit, akida_model, names,
                        {}, "none", float_weights_from="tiny")
    with pytest.raises(ValueError, match="float_dtype differs"):
        save_pretrained(os.path.join(parent, "x"), "x", "", model, low_bit, akida_model, names,
                        {}, "none", float_dtype="float16", float_weights_from="tiny")
    with pytest.raises(ValueError, match="cannot read that model"):
        save_pretrained(os.path.join(parent, "x"), "x", "", model, low_bit, akida_model, names,
                        {}, "none", float_weights_from="nothing")
    for bad in ("../tiny", ".."):
        with pytest.raises(ValueError, match="must be a pretrained model's name"):
            save_pretrained(os.path.join(parent, "x"), "x", "", model, low_bit, akida_model,
                            names, {}, "none", float_weights_from=bad)
    assert not os.path.exists(os.path.join(parent, "x"))

    _edit_manifest(path, lambda m: m.update(float_weights_from="../tiny"))
    with pytest.raises(PretrainedModelError, match="float_weights_from must be the name"):
        load_pretrained(path)
    _edit_manifest(path, lambda m: m.update(float_weights_from="tiny", float_dtype="float16"))
    with pytest.raises(PretrainedModelError, match="float_dtype differs from that of 'tiny'"):
        load_pretrained(path)
    shutil.rmtree(folder)
    _edit_manifest(path, lambda m: m.update(float_dtype="float32"))
    with pytest.raises(PretrainedModelError, match="tiny/manifest.json is missing"):
        load_pretrained(path)


def test_the_readme_lists_every_shipped_model_with_its_figures():
    with open(os.path.join(REPO, "README.md"), encoding="utf-8") as handle:
        rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[1:-1]]
                for line in handle if line.startswith("| `")}
    for name in zoo.pretrained_names():
        assert f"`{name}`" in rows, f"README: no row for the pretrained model {name!r}"
        metrics = zoo.pretrained(name).metrics
        assert rows[f"`{name}`"][2:6] == [f"{metrics[key]:.2%}" for key in (
            "float_accuracy", "quantized_accuracy", "akida_accuracy", "agreement")]
        assert rows[f"`{name}`"][6] == metrics["evaluated_on"]
