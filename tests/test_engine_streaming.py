"""forward/predict stream their input through the engine one batch at a time."""
import numpy as np
import pytest

from cnn2snn_tfmot.conversion.converter import convert
from cnn2snn_tfmot.rewriting.quantizing import quantize

from helpers import float_cnn, images


@pytest.mark.parametrize("method", ["forward", "predict"])
def test_engine_sees_at_most_one_batch(monkeypatch, method):
    akida_model = convert(quantize(float_cnn(), 4, 4, 8), input_scaling=(255, 0))
    x = images(1000, seed=30)
    reference = getattr(akida_model, method)(x, batch_size=1000, engine="tf")
    seen = []
    original = akida_model.emulator_function

    class Spy:
        def __init__(self, function):
            self.concrete = function.get_concrete_function()

        def get_concrete_function(self):
            def run(batch):
                seen.append(int(batch.shape[0]))
                return self.concrete(batch)
            return run

    def spying(engine=None):
        return Spy(original(engine))

    monkeypatch.setattr(akida_model, "emulator_function", spying)
    result = getattr(akida_model, method)(x, batch_size=96, engine="tf")
    assert max(seen) == 96 and sum(seen) == 1000 and len(seen) == 11
    np.testing.assert_array_equal(result, reference)
