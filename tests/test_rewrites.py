"""The change records and the chain that sanitize and adapt edit."""
from cnn2snn_tfmot import Change, Changes
from cnn2snn_tfmot.rewriting.chain import Chain
from cnn2snn_tfmot.tfkeras import keras

L = keras.layers


def test_changes_print_one_line_each_and_say_whether_the_function_is_kept():
    changes = Changes([Change("a", "removed", "an identity"),
                       Change("b", "moved", "Akida pools first", exact=False)])
    assert str(changes) == ("- a: removed (an identity)\n"
                            "- b: moved (Akida pools first) [changes the function]")
    assert not changes.function_kept and Changes().function_kept
    assert changes[0] == Change("a", "removed", "an identity", True)


def test_the_chain_follows_the_shapes_through_edits():
    model = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, name="c"),
                              L.Flatten(name="f"), L.Dense(2, name="d")])
    chain = Chain(model, "test")
    assert chain.input_shape(1) == (None, 6, 6, 4) and chain.output_shape(2) == (None, 2)
    chain.specs[0] = chain.specs[0].replace(config={**chain.specs[0].config,
                                                    "padding": "same"})
    chain.refresh()
    assert chain.input_shape(1) == (None, 8, 8, 4)
    assert chain.free_name("c") == "c_1" and chain.free_name("x") == "x"
    chain.specs[2].weights = {}  # a new Dense, initialized
    assert chain.build().output_shape == (None, 2)
