"""The blocks of a Keras model and the Akida layers they become."""
from cnn2snn_tfmot import quantize
from cnn2snn_tfmot.conversion.block_summary import block_summary_lines
from cnn2snn_tfmot.tfkeras import keras

from helpers import float_cnn, set_bn

L = keras.layers


def test_a_quantized_model_shows_each_block_and_its_akida_layer():
    model = float_cnn()
    set_bn(model, seed=6)
    lines = block_summary_lines(quantize(model, 4, 4, 8, input_scaling=(255, 0)))
    assert lines[0].endswith("quantized; input (16, 16, 1); input scaling: (255.0, 0) "
                             "(remembered)")
    rows = [line.split("  ") for line in lines if line.startswith(("c0 ", "s1 ", "c2 ", "d "))]
    table = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    assert table == [
        ["c0", "InputConvolutional", "c0, p0, r0", "(8, 8, 8)", "8", "4"],
        ["s1", "SeparableConvolutional", "s1, r1", "(8, 8, 16)", "4", "4"],
        ["c2", "Convolutional", "c2, r2", "(3, 3, 16)", "4", "4"],
        ["d", "FullyConnected", "d", "(10,)", "4", "-"]]


def test_a_float_model_is_previewed_and_problems_are_listed():
    model = float_cnn()
    lines = block_summary_lines(model)
    assert "float, shown as quantize(model, 4, 4, 8) would make it" in lines[0]
    assert any("InputConvolutional" in line for line in lines)
    broken = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="c"),
                               L.ReLU(name="r"), L.Conv2D(4, 3, name="c2"), L.Flatten(),
                               L.Dense(2, name="d")])
    lines = block_summary_lines(quantize(broken, 4, 4, 8))
    assert any(line.startswith("1 problem(s)") for line in lines)
    assert any("'c2'" in line and "no quantized activation" in line for line in lines)


def test_a_model_quantize_refuses_says_to_adapt():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="c"),
                              L.LeakyReLU(name="leaky"), L.Flatten(), L.Dense(2)])
    lines = block_summary_lines(model)
    assert "quantize() refuses it" in lines[0]
    assert any("adapt(model)" in line for line in lines)
