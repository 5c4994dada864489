// The C ABI of Akida 1.0 edge learning: BrainChip's AkidaUnsupervised rule applied to a batch of
// spike vectors (cnn2snn_tfmot/engine/learning.py calls it through ctypes). The rule's reference
// definition, and its measurement against BrainChip's runtime, is the NumPy loop
// cnn2snn_tfmot/chip/learning.py:learn; this entry point gives bit-identical results, faster.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_LEARNING_API_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_LEARNING_API_H_

#include <cstdint>

extern "C" {

// Learns the n samples one after the other, updating weights, threshold_learning, thswap and
// *round_robin in place.
//
//   weights             uint8 (inputs, units), 0 / 1 connections (any non-zero is connected;
//                       potentials sum the values), row-major.
//   spikes              uint8 (n, inputs), 0 / 1 (numpy bool).
//   labels              int64 (n,) class of each sample (negative: learned without label), or
//                       null (every neuron competes).
//   per_class           neurons per class: a sample labelled c lets neurons
//                       [c * per_class, (c + 1) * per_class) compete.
//   threshold_learning  int64 (units,).
//   thswap              int64 (units,).
//   round_robin         the round-robin register (>= 0), read and written.
//   threshold_cap, swap_decrement, min_swaps: the optimizer's integers.
//   potentials          int64 (n, units) out: each sample's potentials before its own step.
//
// Returns 0, or -1 with a message in `error` (a label outside the layer, a bad size, no memory),
// in which case the samples before the refused one stay learned.
int32_t cnn2snn_tfmot_learn(uint8_t* weights, int64_t inputs, int64_t units,
                            const uint8_t* spikes, int64_t n, const int64_t* labels,
                            int64_t per_class, int64_t* threshold_learning, int64_t* thswap,
                            int64_t* round_robin, int64_t threshold_cap,
                            int64_t swap_decrement, int64_t min_swaps, int64_t* potentials,
                            char* error, int64_t error_size);

}  // extern "C"

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_LEARNING_API_H_
