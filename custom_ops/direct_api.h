// The C ABI of the direct engine: a whole Akida model run from plain buffers, without
// TensorFlow (cnn2snn_tfmot/engine/direct.py calls it through ctypes).
//
// A TensorFlow call costs about 140 microseconds of executor and per-op dispatch before any
// arithmetic, more than the whole arithmetic of a small network at batch 1. The direct engine
// computes the same blocks with the same exact kernels (isa_api.h) from weights prepared once
// per model, on its own small thread pool; its results are bit-identical to the ops'.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_DIRECT_API_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_DIRECT_API_H_

#include <cstdint>

extern "C" {

// One neural layer (InputData is not passed: the first layer's input_max says what it allows).
// Arrays are read during cnn2snn_tfmot_direct_create only (the plan keeps its own copies).
struct AkidaDirectLayer {
  int32_t kind;  // 1 convolution, 2 separable convolution, 3 fully connected
  int32_t in_h, in_w, in_c;
  int32_t kh, kw, sh, sw;  // convolution / depthwise kernel and strides (1 for dense)
  int32_t same;            // 1: SAME padding, 0: VALID
  int32_t padding_value;   // level of SAME padding pixels (InputConvolutional), else 0
  int32_t pool;            // 0 none, 1 max, 2 global sum
  int32_t pool_h, pool_w, pool_sh, pool_sw;
  int32_t filters;
  int32_t act_bits;   // 1, 2 or 4; 0: no fire (last layer only), int32 potentials out
  int32_t input_max;  // largest input level the layer can receive (bounds its sums)
  // Convolution: int8 (kh, kw, in_c, filters), cross-correlation orientation.
  // Separable: depthwise int8 (kh, kw, in_c). Dense: int8 (in_h * in_w * in_c, filters) with
  // rows in NHWC order of the input.
  const int8_t* weights;
  const int8_t* pointwise;    // separable: int8 (in_c, filters); else null
  const int32_t* threshold;   // (filters,) when act_bits > 0
  const float* act_step;      // (filters,) when act_bits > 0
};

// Builds the plan of a model of `count` layers; null on error (message in `error`). The kernel
// set is chosen as the ops choose it (CNN2SNN_TFMOT_OPS_ISA). A model whose sums could leave
// the int32 (or, for depthwise sums, int16) lanes is refused with a message saying so: the
// TensorFlow ops handle it with their wide paths.
void* cnn2snn_tfmot_direct_create(const AkidaDirectLayer* layers, int32_t count, char* error,
                                  int64_t error_size);

// Runs the plan on n images x uint8 (n, in_h, in_w, in_c) into out (n, out_h, out_w, filters),
// uint8 levels or int32 potentials, with `threads` threads (the caller is one), or, for
// threads < 0, with 1 or -threads threads, whichever the plan measured faster for this batch
// size lately (a loaded machine makes one thread faster). Returns 0, or -1 with a message in
// `error`.
int32_t cnn2snn_tfmot_direct_run(void* plan, const uint8_t* x, int64_t n, void* out,
                                 int32_t threads, char* error, int64_t error_size);

// The kernel set the plan uses ("avx512vnni", ...).
const char* cnn2snn_tfmot_direct_kernel_set(void* plan);

// How layer i is computed: "convolution", "winograd", "separable" (int8 operands with outlier
// corrections), "separable_int16" (int16 operands: chosen after the first runs when the
// depthwise sums often leave int8) or "dense", with "+events" when the layer skips the rows of
// all-zero input patches, or for a dense layer the weight rows of zero inputs (chosen after the
// first runs when they are frequent); null when i is out of range.
const char* cnn2snn_tfmot_direct_layer_algorithm(void* plan, int32_t i);

// Whether layer i's max pooling runs in the GEMM (1: only the pooled potentials are made, see
// custom_ops/README.md) or through a tile of conv potentials pooled afterwards (0), as the last
// run left the switch CNN2SNN_TFMOT_DIRECT_POOL_GEMM and the plan's choices; -1: i out of range.
int32_t cnn2snn_tfmot_direct_layer_pools_in_gemm(void* plan, int32_t i);

// Profiling, off by default: on != 0 times every work item into its layer from now on (two
// clock reads per item), 0 stops; both reset the times to 0.
void cnn2snn_tfmot_direct_set_profiling(void* plan, int32_t on);

// Seconds spent in layer i's work items while profiling, summed over threads (-1: i out of
// range).
double cnn2snn_tfmot_direct_layer_seconds(void* plan, int32_t i);

// Multiply-adds of layer i for one image, counted as a direct convolution over the output
// pixels (padding taps included; a separable layer: depthwise plus pointwise); -1: i out of
// range.
int64_t cnn2snn_tfmot_direct_layer_macs(void* plan, int32_t i);

// Runs a chain of dependent one-cycle integer additions (x86-64) and returns their number, so
// that the caller, timing it, finds the clock the core runs at (benchmarks/machine_peak.py);
// 0 where there is no such chain.
int64_t cnn2snn_tfmot_clock_probe(int64_t iterations);

void cnn2snn_tfmot_direct_destroy(void* plan);

}  // extern "C"

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_DIRECT_API_H_
