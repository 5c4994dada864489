#include "pack.h"

#include <algorithm>
#include <cstdlib>

namespace akida_ops {

PackedB PackWeights(const int8_t* weights, int64_t k, int64_t f, const PackingFormat& format,
                    std::vector<uint8_t>* storage) {
  const int64_t group = format.group;
  const int64_t kgroups = (k + group - 1) / group;
  const int64_t fp = (f + format.lanes - 1) / format.lanes * format.lanes;
  storage->assign(static_cast<size_t>(kgroups * group * fp * format.elem_bytes), 0);
  int8_t* out8 = reinterpret_cast<int8_t*>(storage->data());
  int16_t* out16 = reinterpret_cast<int16_t*>(storage->data());
  for (int64_t p0 = 0; p0 < fp; p0 += format.nr) {
    const int64_t width = std::min<int64_t>(format.nr, fp - p0);
    const int64_t panel = p0 * kgroups * group;
    for (int64_t kg = 0; kg < kgroups; ++kg) {
      for (int64_t ch = 0; ch < width && p0 + ch < f; ++ch) {
        for (int64_t g = 0; g < group && kg * group + g < k; ++g) {
          const int8_t w = weights[(kg * group + g) * f + p0 + ch];
          const int64_t index = panel + (kg * width + ch) * group + g;
          if (format.elem_bytes == 1) {
            out8[index] = w;
          } else {
            out16[index] = w;
          }
        }
      }
    }
  }
  return PackedB{storage->data(), kgroups, f, fp, format.nr};
}

std::vector<int8_t> SegmentRows(const int8_t* w, int64_t kh, int64_t span, int64_t f,
                                int64_t padded_span) {
  std::vector<int8_t> out(static_cast<size_t>(kh * padded_span * f), 0);
  for (int64_t ky = 0; ky < kh; ++ky) {
    std::copy(w + ky * span * f, w + (ky + 1) * span * f, out.begin() + ky * padded_span * f);
  }
  return out;
}

int64_t MaxAbsColumnSum(const int8_t* weights, int64_t k, int64_t f, const int64_t* input_max) {
  std::vector<int64_t> sums(static_cast<size_t>(f), 0);
  for (int64_t kk = 0; kk < k; ++kk) {
    const int64_t scale = input_max == nullptr ? 1 : input_max[kk];
    for (int64_t j = 0; j < f; ++j) sums[j] += std::abs(int64_t{weights[kk * f + j]}) * scale;
  }
  return sums.empty() ? 0 : *std::max_element(sums.begin(), sums.end());
}

std::vector<int64_t> DepthwiseBounds(const int8_t* dw, int64_t taps, int64_t c, int64_t xmax) {
  std::vector<int64_t> bound(static_cast<size_t>(c), 0);
  for (int64_t t = 0; t < taps; ++t) {
    for (int64_t ch = 0; ch < c; ++ch) bound[ch] += std::abs(int64_t{dw[t * c + ch]}) * xmax;
  }
  return bound;
}

}  // namespace akida_ops
