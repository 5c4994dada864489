// Packing of an int8 (K, F) weight matrix into the panel layout of a GEMM kernel.
#ifndef CNN2SNN_TFMOT_CUSTOM_OPS_PACK_H_
#define CNN2SNN_TFMOT_CUSTOM_OPS_PACK_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "isa_api.h"

namespace akida_ops {

// Returns the packed view of `weights` (row-major (k, f)); the bytes live in *storage.
// Padding rows (k up to a whole group) and columns (f up to a whole vector) are zero, so the
// kernels may read any value in the matching padding of A.
PackedB PackWeights(const int8_t* weights, int64_t k, int64_t f, const PackingFormat& format,
                    std::vector<uint8_t>* storage);

// (kh, kw, C, F) weights as kh segments of span = kw * C rows, each padded with zero rows to
// padded_span (whole groups), so that packed k groups never straddle two kernel rows.
std::vector<int8_t> SegmentRows(const int8_t* w, int64_t kh, int64_t span, int64_t f,
                                int64_t padded_span);

// Weights packed once for a kernel set (cached per op kernel, weight_cache.h).
struct PreparedWeights {
  std::vector<uint8_t> storage;  // packed.data points here
  PackedB packed{};
  bool exact_int32 = false;      // int32 lanes are proven exact (else the int64 path)
};

// max over output channels of sum_k |weights[k, f]| * input_max[k] (input_max null: 1):
// a bound on every partial sum of a channel, used to prove int32 (or int16) accumulation exact.
int64_t MaxAbsColumnSum(const int8_t* weights, int64_t k, int64_t f, const int64_t* input_max);

// Per channel, a bound on |depthwise sum| of (taps, c) weights given the largest input level.
std::vector<int64_t> DepthwiseBounds(const int8_t* dw, int64_t taps, int64_t c, int64_t xmax);

// (taps, c) depthwise weights widened to T, rows of cw >= c elements (zeros beyond c).
template <typename T>
std::vector<T> Widen(const int8_t* dw, int64_t taps, int64_t c, int64_t cw) {
  std::vector<T> out(static_cast<size_t>(taps * cw), 0);
  for (int64_t t = 0; t < taps; ++t) std::copy(dw + t * c, dw + (t + 1) * c, out.begin() + t * cw);
  return out;
}

}  // namespace akida_ops

#endif  // CNN2SNN_TFMOT_CUSTOM_OPS_PACK_H_
