// The direct engine's plan of a model: per layer, its geometry, the layout of its input buffer
// (padding built in, so that no band is ever copied), its prepared weights and fire table, and
// how its work is split. Built once per model (direct_plan.cc), run by direct_run.cc.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_DIRECT_PLAN_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_DIRECT_PLAN_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "block.h"
#include "direct_api.h"
#include "fire.h"
#include "isa_api.h"
#include "pack.h"

namespace akida_ops {

enum DirectKind { kDirectConv = 1, kDirectSeparable = 2, kDirectDense = 3 };

// A 64-byte aligned byte buffer with 64 bytes of readable slack after `size`.
class AlignedBytes {
 public:
  void Assign(size_t size, uint8_t fill);
  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  std::unique_ptr<uint8_t[]> storage_;
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct DirectLayer {
  int kind = 0;
  BlockGeometry g{};  // g.n unused
  int64_t f = 0;
  bool fires = false;
  FireLadder fire;
  bool saturate20 = false;  // FullyConnected

  // This layer's input buffer: rows x cols pixels of in_ch bytes, the image at (top, left), the
  // rest filled with pad_value once.
  int64_t in_rows = 0, in_cols = 0, in_ch = 0, in_top = 0, in_left = 0;
  uint8_t pad_value = 0;

  PreparedWeights packed;  // uint8-operand GEMM weights (conv: one segment per kernel row)
  int64_t kps = 0;         // k groups per segment
  int64_t nseg = 1;

  // Separable: widened depthwise weights, raw pointwise weights (outlier corrections), the GEMM
  // bias -128 * sum_c pw[c, f] (the operands are depthwise sums + 128), operand row bytes.
  std::vector<int16_t> dw16;
  int64_t cw = 0;
  std::vector<int8_t> pw;
  std::vector<int32_t> bias;
  int64_t cp = 0;
  // Separable layers whose depthwise sums often leave [-128, 127] (a correction per outlier
  // would cost more than the GEMM) take int16 sums as operands instead: the pointwise weights
  // packed for gemm_s16, cp16 int16 per operand row. `s16` says which path runs; the plan
  // decides it from the outliers counted in the first runs (DirectCounters).
  PreparedWeights packed16;
  int64_t cp16 = 0;
  bool s16 = false;
  bool s16_decided = false;  // d_bound within int8 (no outlier possible) or decided

  // Event-driven rows (convolution and separable layers, not Winograd): an output pixel whose
  // input patch (kh x kw x c, padding included) is all zero has potentials 0 exactly, so its
  // GEMM row is skipped and its potentials set to 0 (levels: zero_levels, the fire of 0). The
  // plan turns it on from the share of zero patches counted in the first runs. Dense layers:
  // the k groups (4 inputs with VNNI, else 2) zero in every image of the GEMM add 0, so only
  // the others are accumulated (the counters count k groups as patches).
  bool events = false;
  bool events_decided = true;  // set false for the layers that may use it
  std::vector<uint8_t> zero_levels;  // [f] when the layer fires

  // Winograd F(2x2, 3x3) (isa_api.h) for stride-1 3x3 convolutions whose transformed weights
  // fit int8: the 16 positions' packed weights and GEMM biases -offset * sum_c U'[p][c][f].
  bool winograd = false;
  std::vector<PreparedWeights> wino;
  std::vector<int32_t> wino_bias;  // [16][fp]
  uint8_t wino_offset = 0;
  int64_t tiles_w = 0;

  // Work split: block output rows (pooled rows; conv rows for a global sum, done in order).
  int64_t rows_out = 0;
  int64_t band = 0;        // output rows per work item on one thread (fits the cache budget)
  int64_t band_align = 1;  // bands are multiples of this (2 for Winograd tiles of 2 rows)
  int64_t panel = 0;       // channel alignment of a split (the kernels' panel width)
  int64_t coop_bands = 1;  // one image on all threads: bands x channel parts work items
  int64_t coop_parts = 1;
};

// What the runs of a plan measure per layer (summed over threads and runs), for the decisions
// the plan takes between runs.
struct DirectCounters {
  std::atomic<int64_t> dw_sums{0};      // separable, int8 operand path: depthwise sums made
  std::atomic<int64_t> dw_outliers{0};  // ... and those outside [-128, 127]
  std::atomic<int64_t> patches{0};      // GEMM rows made before events are decided
  std::atomic<int64_t> zero_patches{0};  // ... and those whose input patch is all zero
  // Profiling (DirectPlan::profile): nanoseconds spent in the layer's work items, summed over
  // threads.
  std::atomic<int64_t> nanos{0};
};

struct ThreadTiming {
  double seconds[2] = {0, 0};
  int64_t runs = 0;
};

// The per-thread activation buffers: one per layer input.
struct DirectContext {
  std::vector<AlignedBytes> buffers;
};

struct DirectPlan {
  const IsaKernels* kernels = nullptr;
  std::vector<DirectLayer> layers;
  int64_t in_h = 0, in_w = 0, in_c = 0;
  int64_t out_h = 0, out_w = 0, out_f = 0;
  bool out_u8 = false;
  int coop_threads = 0;  // the thread count coop_bands / coop_parts were chosen for
  int64_t macs = 0;      // multiply-adds of one image (direct convolution count)
  std::vector<int64_t> layer_macs;  // ... per layer
  // Off by default: when on, each work item is timed into its layer's counters.nanos (two
  // clock reads per item; cnn2snn_tfmot_direct_set_profiling).
  bool profile = false;
  // Batches: each thread runs groups of `group` images; the layers from grouped_from on (small
  // activations, one work item per image) run for the whole group at once, one GEMM over all
  // the images' rows, so that their weights are read once per group.
  int64_t group = 1;
  size_t grouped_from = 0;
  // Max pooling in the GEMM (direct_run.cc FusesPool) where the layer allows it; off only when
  // CNN2SNN_TFMOT_DIRECT_POOL_GEMM=0 (read at every run: the tests compare both paths).
  bool pool_in_gemm = true;

  // Scratch sizes for one work item, max over layers (bytes).
  size_t tile_bytes = 0, operand_bytes = 0, outlier_count = 0, rows_count = 0,
         pool_bytes = 0, gsum_count = 0, wino_bytes = 0;

  std::unique_ptr<DirectCounters[]> counters;  // one per layer
  // Adaptive thread count (direct_run.cc ChooseThreads), per batch size: the recent seconds of
  // a run with one thread [0] and with all of them [1] (0: not timed yet).
  std::map<int64_t, ThreadTiming> thread_timings;

  std::mutex mu;  // one run at a time (the contexts and the thread pool are shared)
  std::vector<std::unique_ptr<DirectContext>> contexts;
};

// Validates `layers` and prepares the plan; InvalidArgument naming the layer and the field.
absl::Status BuildDirectPlan(const AkidaDirectLayer* layers, int32_t count, DirectPlan* plan);

// Whether layer L can skip zero inputs (event-driven rows of a convolution or separable layer
// that is not Winograd; zero k groups of a dense layer where the kernels have gemm_u8_groups).
bool EventsPossible(const DirectPlan& plan, const DirectLayer& L);

// Chooses each layer's cooperative split for `threads` threads.
void SplitForThreads(DirectPlan* plan, int threads);

// Takes the decisions whose counters are now large enough (between runs, under plan->mu).
void DecideFromCounters(DirectPlan* plan);

// The activation buffers of slot i, those of layers from_layer on (created on first use, under
// plan->mu): thread t's image g of a group is slot t * group + g. Only a thread's slot 0 holds
// the buffers of the layers run image by image (before grouped_from).
DirectContext& ContextFor(DirectPlan* plan, int i, size_t from_layer);

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_DIRECT_PLAN_H_
